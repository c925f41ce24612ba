// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title StrikeOracle: signed multi-publisher price, volatility and rate feeds.
/// @notice Native contract at 0x0000000000000000000000000000000053540002 (the StrikeVM
/// system range). Publishers sign EIP-712 updates off-chain (domain: name "StrikeOracle",
/// version "1", the chain id, verifyingContract = this address); anyone relays them with
/// updatePrices. Every read is a view (STATICCALL-safe) and reverts with a typed error
/// when the feed is unknown, below quorum or stale.
///
/// Units: prices and confidences in the feed's decimals (getFeed); times in seconds
/// (block time); volatility, skew, convexity, strike and rates in wad (1e18 = 1.0,
/// 5e16 = 5% a year). See docs/oracle.md for the aggregation and its guards.
interface IStrikeOracle {
    // --------------------------------------------------------------- updates
    /// @notice Relay signed updates: each item is kind (1 byte) ‖ message words ‖ r ‖ s ‖ v.
    /// 0x01 price (feedId, price, confidence, publishTime), 0x02 volatility (underlying,
    /// expiry, atmVolatility, skew, convexity, publishTime), 0x03 rate (currency, rate,
    /// publishTime). All or nothing: one bad item reverts the call.
    function updatePrices(bytes[] calldata updates) external;

    // ----------------------------------------------------------------- reads
    /// @notice The aggregate: median price, confidence, median publish time.
    function getPrice(bytes32 feedId)
        external view returns (uint256 price, uint256 confidence, uint256 publishTime);

    /// @notice As getPrice, with price and confidence scaled to wad (18 decimals).
    function getPriceWad(bytes32 feedId)
        external view returns (uint256 price, uint256 confidence, uint256 publishTime);

    /// @notice As getPrice, reverting StalePrice when publishTime + age < block.timestamp.
    function getPriceNoOlderThan(bytes32 feedId, uint256 age)
        external view returns (uint256 price, uint256 confidence, uint256 publishTime);

    /// @notice The time-weighted EMA of the aggregate (window emaWindow), with the
    /// aggregate's confidence and publish time.
    function getEmaPrice(bytes32 feedId)
        external view returns (uint256 price, uint256 confidence, uint256 publishTime);

    /// @notice Time-weighted average of the aggregate over the last `window` seconds.
    function getTwap(bytes32 feedId, uint256 window) external view returns (uint256 price);

    /// @notice Time-weighted average of the aggregate over [start, end) (e.g. before expiry).
    function getTwapBetween(bytes32 feedId, uint256 start, uint256 end)
        external view returns (uint256 price);

    /// @notice Volatility (wad) at `strike` (wad) for `expiry`: atm + skew*k + convexity*k^2,
    /// k = ln(strike / spot), floored at 0.1%.
    function getVolatility(bytes32 underlying, uint256 expiry, uint256 strike)
        external view returns (uint256 volatility);

    /// @notice The aggregated smile parameters for `expiry`.
    function getVolatilitySurface(bytes32 underlying, uint256 expiry)
        external view returns (uint256 atmVolatility, int256 skew, int256 convexity);

    /// @notice The aggregated risk-free rate (wad a year) of a rate feed.
    function getRate(bytes32 currency) external view returns (int256 rate);

    function getFeed(bytes32 feedId) external view returns (
        uint8 kind, uint8 quorum, uint8 decimals, uint16 maxDeviationBps, uint32 staleness,
        uint32 emaWindow, uint32 twapCapacity, uint256 publisherCount
    );
    function getPublishers(bytes32 feedId) external view returns (address[] memory);
    function getPublisherPrice(bytes32 feedId, address publisher)
        external view returns (int256 value, uint256 confidence, uint256 publishTime);
    function feedIds() external view returns (bytes32[] memory);
    function admin() external view returns (address);

    // ----------------------------------------------------------------- admin
    function setFeed(
        bytes32 feedId, uint8 kind, uint8 quorum, uint8 decimals, uint16 maxDeviationBps,
        uint32 staleness, uint32 emaWindow, uint32 twapCapacity
    ) external;
    function addPublisher(bytes32 feedId, address publisher) external;
    function removePublisher(bytes32 feedId, address publisher) external;
    function setAdmin(address newAdmin) external;

    // ---------------------------------------------------------------- events
    event AggregateUpdated(bytes32 indexed feedId, uint256 price, uint256 confidence,
                           uint256 publishTime, bool clamped);
    event VolatilityUpdated(bytes32 indexed underlying, uint256 expiry, uint256 atmVolatility,
                            int256 skew, int256 convexity);
    event RateUpdated(bytes32 indexed currency, int256 rate, uint256 publishTime);
    event FeedConfigured(bytes32 indexed feedId);
    event PublisherAdded(bytes32 indexed feedId, address indexed publisher);
    event PublisherRemoved(bytes32 indexed feedId, address indexed publisher);
    event AdminChanged(address indexed previousAdmin, address indexed newAdmin);

    // ---------------------------------------------------------------- errors
    error UnknownSelector(bytes4 selector);
    error MalformedCalldata();
    error MalformedUpdate(uint256 index);
    error InvalidSignature(uint256 index);
    error MalleableSignature(uint256 index);
    error UnknownFeed(bytes32 feedId);
    error WrongFeedKind(bytes32 feedId);
    error UnknownPublisher(bytes32 feedId, address signer);
    error ReplayedUpdate(bytes32 feedId, address publisher, uint256 publishTime);
    error OutOfOrderUpdate(bytes32 feedId, address publisher, uint256 publishTime, uint256 latest);
    error FutureUpdate(uint256 publishTime, uint256 blockTime);
    error StaleUpdate(uint256 publishTime, uint256 blockTime);
    error InvalidValue(uint256 index);
    error TooManyUpdates(uint256 count);
    error QuorumNotMet(bytes32 feedId);
    error StalePrice(bytes32 feedId, uint256 publishTime);
    error NoVolatility(bytes32 underlying, uint256 expiry);
    error TwapWindowTooLong(bytes32 feedId, uint256 oldestObservation);
    error InvalidWindow();
    error NotAdmin(address caller);
    error InvalidConfig();
    error PublisherExists(bytes32 feedId, address publisher);
    error ValueNotAccepted(uint256 value);
    error DelegateCallNotAllowed();
    error ReentrantCall();
}
