// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title StrikeClearinghouse: collateral, markets, signed-order trading, margin, settlement.
/// @notice Native contract at 0x0000000000000000000000000000000053540003 (the StrikeVM
/// system range). Every entry point is non-reentrant and writes its state before it calls
/// out (token transfers). Marks, margin and settlement read prices only from StrikeOracle.
///
/// Units: sizes in wad of the underlying (1e18 = one unit, long > 0); prices, costs,
/// values and margin in wad of the quote currency (USD); cash balances in the smallest
/// unit of the quote token (USDC: 6 decimals); fees in basis points.
/// An account is (owner, subaccount). Margin modes: 0 standard, 1 portfolio.
/// See docs/clearinghouse.md for the storage layout, the margin models and gas.
interface IStrikeClearinghouse {
    /// @notice A signed order (EIP-712 type `Order`, domain "StrikeClearinghouse", version "1").
    /// flags: bit 0 post-only (may only be the maker), bit 1 reduce-only.
    struct Order {
        address owner;
        uint32 subaccount;
        uint32 market;
        bool isBuy;
        uint256 size;
        uint256 limitPrice;
        uint64 expiry;
        uint64 nonce;
        uint8 flags;
    }

    // ---------------------------------------------------------- collateral
    function deposit(uint32 subaccount, address token, uint256 amount) external;
    function withdraw(uint32 subaccount, address token, uint256 amount) external;
    function setMarginMode(uint32 subaccount, uint8 mode) external;
    function setDelegate(address delegate, bool allowed) external;

    // ------------------------------------------------------------- trading
    /// @notice The caller takes `size` of a maker order at its limit price.
    function fill(Order calldata order, bytes calldata signature, uint256 size, uint32 takerSubaccount) external;
    /// @notice Anyone matches two signed orders at the maker's limit price.
    function matchOrders(Order calldata maker, bytes calldata makerSignature,
                         Order calldata taker, bytes calldata takerSignature, uint256 size) external;
    function cancelOrder(Order calldata order) external;
    /// @notice Invalidate every order of the subaccount with a nonce below `nonceFloor`.
    function cancelAll(uint32 subaccount, uint64 nonceFloor) external;

    // --------------------------------------------------- expiry and exercise
    /// @notice After expiry, fix the settlement price (oracle TWAP over the market's window).
    function settle(uint32 market) external;
    /// @notice Apply funding and settled expiries to an account (anyone may call).
    function settleAccount(address owner, uint32 subaccount) external;
    /// @notice Exercise a long American option before expiry at the oracle price; shorts
    /// are assigned pro rata (largest remainder, in holder order).
    function exercise(uint32 subaccount, uint32 market, uint256 size) external;

    // ----------------------------------------------------------- risk engine
    /// @notice Keeper liquidation: take the positions of an account below maintenance into
    /// the caller's subaccount at the oracle mark moved in the keeper's favour by a Dutch-
    /// auction discount (0.5% growing 0.01%/s since the account was found liquidatable, up to
    /// 5%), largest notional first, at most `maxPositions` (0: all), stopping once the account
    /// meets initial margin; reverts DiscountTooLow below `minDiscountBps`. The penalty (0.5% of
    /// the notional) is shared between the keeper and the insurance fund.
    function liquidate(address owner, uint32 subaccount, uint32 keeperSubaccount, uint32 maxPositions,
                       uint256 minDiscountBps) external returns (uint256 positions, uint256 penalty);
    /// @notice Anyone may top up the insurance fund with the quote token.
    function fundInsurance(uint256 amount) external;
    function insuranceFund() external view returns (int256 cash);
    function pendingLiquidations() external view returns (uint256);
    /// @notice Accounts queued for the next block-end pass (found below maintenance, or near).
    function atRisk() external view returns (address[] memory owners, uint32[] memory subaccounts);

    // ---------------------------------------------------------------- admin
    function createMarket(uint8 kind, bytes32 underlying, uint64 expiry, uint256 strike, bool isCall,
                          bool american, uint16 makerFeeBps, uint16 takerFeeBps) external returns (uint32 market);

    // ---------------------------------------------------------------- views
    function getAccount(address owner, uint32 subaccount) external view returns (
        int256 collateralValue, int256 unrealizedPnl, int256 equity, uint256 initialMargin,
        uint256 maintenanceMargin, int256 health
    );
    function getPosition(address owner, uint32 subaccount, uint32 market)
        external view returns (int256 size, int256 cost);
    function getCash(address owner, uint32 subaccount) external view returns (int256 cash);
    function getCollateral(address owner, uint32 subaccount, address token) external view returns (uint256 amount);
    function getMarket(uint32 market) external view returns (
        uint8 kind, bytes32 underlying, uint64 expiry, uint256 strike, bool isCall, bool american,
        uint8 status, uint256 settlementPrice
    );
    function getFunding(uint32 market) external view returns (int256 index, int256 premium, uint256 lastUpdate);
    function marketCount() external view returns (uint32);
    function orderFilled(bytes32 orderHash) external view returns (uint256);
    function orderHash(Order calldata order) external view returns (bytes32);
    function marginMode(address owner, uint32 subaccount) external view returns (uint8);
    function feeBalance() external view returns (int256);

    // --------------------------------------------------------------- events
    event Deposit(address indexed owner, uint32 indexed subaccount, address indexed token, uint256 amount);
    event Withdraw(address indexed owner, uint32 indexed subaccount, address indexed token, uint256 amount);
    event Fill(uint32 indexed market, bytes32 indexed makerOrder, bytes32 indexed takerOrder,
               address maker, address taker, bool takerIsBuy, uint256 size, uint256 price);
    event Funding(uint32 indexed market, int256 index, int256 rate8h, uint256 indexPrice);
    event Settle(uint32 indexed market, uint256 price);
    event Exercise(uint32 indexed market, address indexed owner, uint32 subaccount, uint256 size, uint256 payout);
    event Cancel(bytes32 indexed orderHash);
    event CancelAll(address indexed owner, uint32 indexed subaccount, uint64 nonceFloor);
    event MarketCreated(uint32 indexed market, uint8 kind, bytes32 underlying, uint64 expiry, uint256 strike, bool isCall);
    event MarginModeChanged(address indexed owner, uint32 indexed subaccount, uint8 mode);
    event DelegateChanged(address indexed owner, address indexed delegate, bool allowed);
    event Liquidation(address indexed owner, uint32 subaccount, address liquidator, uint256 shareOrPositions, uint256 penalty);
    event BadDebt(address indexed owner, uint32 subaccount, uint256 amount);
    event AutoDeleverage(address indexed owner, uint32 subaccount, uint32 market, int256 size, uint256 price, uint256 charged);
    event LiquidationFailed(address indexed owner, uint32 subaccount, bytes4 reason);

    // --------------------------------------------------------------- errors
    error UnknownSelector(bytes4 selector);
    error MalformedCalldata();
    error UnknownToken(address token);
    error UnknownMarket(uint32 market);
    error ZeroAmount();
    error AmountTooLarge(uint256 amount);
    error TransferFailed(address token);
    error InsufficientCollateral(uint256 available, uint256 requested);
    error BelowInitialMargin(address owner, uint32 subaccount, int256 equity, uint256 initialMargin);
    error InvalidSignature();
    error MalleableSignature();
    error NotAuthorized(address signer, address owner);
    error OrderExpired(uint256 expiry, uint256 blockTime);
    error OrderCancelled(bytes32 orderHash);
    error Overfill(bytes32 orderHash, uint256 filled, uint256 size);
    error WrongSide();
    error PriceNotCrossed(uint256 makerPrice, uint256 takerLimit);
    error PostOnlyTaker();
    error ReduceOnlyViolated(address owner, uint32 subaccount);
    error SelfTrade();
    error MarketExpired(uint32 market);
    error MarketNotExpired(uint32 market, uint256 expiry);
    error MarketSettled(uint32 market);
    error NotAmerican(uint32 market);
    error NotInTheMoney(uint32 market);
    error InsufficientPosition(int256 size, uint256 requested);
    error OracleUnavailable(bytes32 feed);
    error InvalidMarginMode(uint8 mode);
    error NotAdmin(address caller);
    error InvalidMarket();
    error ValueNotAccepted(uint256 value);
    error DelegateCallNotAllowed();
    error ReentrantCall();
    error NotLiquidatable(address owner, uint32 subaccount, int256 equity, uint256 maintenanceMargin);
    error DiscountTooLow(uint256 discountBps, uint256 minDiscountBps);
}
