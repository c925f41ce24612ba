// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IStrikePricing, STRIKE_PRICING} from "../IStrikePricing.sol";

/// @title CoveredCallVault: an example user of the StrikePricing system contract.
/// @notice The vault holds an amount of the underlying (wad units) and sells European
/// calls on it at one strike and expiry, fully covered. Its premium is the
/// Black-Scholes price of the call, quoted by StrikePricing from the vault's market
/// inputs (spot and volatility, set by the owner in this example where a real vault
/// would read an oracle), and the buyer's limit protects against a moved market.
contract CoveredCallVault {
    uint256 private constant WAD = 1e18;

    address public immutable owner;
    uint256 public immutable strike;
    uint256 public immutable expiryTime;
    int256 public immutable rate;

    uint256 public spot;
    uint256 public volatility;
    uint256 public collateral;
    uint256 public sold;
    uint256 public premiumCollected;

    event MarketSet(uint256 spot, uint256 volatility);
    event CallsSold(address indexed buyer, uint256 amount, uint256 premium);

    error NotOwner();
    error Expired();
    error InsufficientCollateral(uint256 available, uint256 requested);
    error PremiumAboveLimit(uint256 premium, uint256 limit);

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    constructor(uint256 strike_, uint256 expiryTime_, int256 rate_, uint256 spot_, uint256 vol_) {
        owner = msg.sender;
        strike = strike_;
        expiryTime = expiryTime_;
        rate = rate_;
        spot = spot_;
        volatility = vol_;
    }

    function setMarket(uint256 spot_, uint256 volatility_) external onlyOwner {
        spot = spot_;
        volatility = volatility_;
        emit MarketSet(spot_, volatility_);
    }

    function deposit(uint256 amount) external onlyOwner {
        collateral += amount;
    }

    /// @notice Seconds until expiry (0 once expired).
    function timeToExpiry() public view returns (uint256) {
        return expiryTime > block.timestamp ? expiryTime - block.timestamp : 0;
    }

    /// @notice Premium (quote wad) of `amount` calls (wad units of underlying).
    function quotePremium(uint256 amount) public view returns (uint256) {
        uint256 price = STRIKE_PRICING.blackScholesPrice(
            true, spot, strike, volatility, timeToExpiry(), rate, 0
        );
        return (price * amount) / WAD;
    }

    /// @notice Premium of `amount` calls and the delta the buyer receives (wad).
    function quoteWithDelta(uint256 amount) external view returns (uint256 premium, int256 delta) {
        IStrikePricing.Greeks memory g = STRIKE_PRICING.blackScholesGreeks(
            true, spot, strike, volatility, timeToExpiry(), rate, 0
        );
        premium = (g.price * amount) / WAD;
        delta = (g.delta * int256(amount)) / int256(WAD);
    }

    /// @notice The volatility that a market premium per unit implies.
    function impliedVolatilityOf(uint256 premiumPerUnit) external view returns (uint256) {
        return STRIKE_PRICING.impliedVolatility(
            true, premiumPerUnit, spot, strike, timeToExpiry(), rate, 0
        );
    }

    /// @notice Per-unit call premiums at other strikes, priced in one batch call.
    function quoteLadder(uint256[] calldata strikes) external view returns (uint256[] memory) {
        IStrikePricing.Option[] memory options = new IStrikePricing.Option[](strikes.length);
        uint256 t = timeToExpiry();
        for (uint256 i = 0; i < strikes.length; ++i) {
            options[i] = IStrikePricing.Option(true, spot, strikes[i], volatility, t, rate, 0);
        }
        return STRIKE_PRICING.blackScholesPriceBatch(options);
    }

    /// @notice Quote at volatility `vol` without reverting: on failure, the StrikePricing
    /// error's selector and its first argument (0 if none).
    function tryQuote(uint256 vol)
        external
        view
        returns (bool ok, uint256 price, bytes4 errorSelector, uint256 errorArg)
    {
        try STRIKE_PRICING.blackScholesPrice(true, spot, strike, vol, timeToExpiry(), rate, 0)
        returns (uint256 p) {
            return (true, p, bytes4(0), 0);
        } catch (bytes memory reason) {
            errorSelector = bytes4(reason);
            if (reason.length >= 36) {
                assembly {
                    errorArg := mload(add(reason, 36))
                }
            }
        }
    }

    /// @notice Buy `amount` calls for at most `maxPremium`; the vault keeps the premium.
    function buyCalls(uint256 amount, uint256 maxPremium) external returns (uint256 premium) {
        if (block.timestamp >= expiryTime) revert Expired();
        uint256 available = collateral - sold;
        if (amount > available) revert InsufficientCollateral(available, amount);
        premium = quotePremium(amount);
        if (premium > maxPremium) revert PremiumAboveLimit(premium, maxPremium);
        sold += amount;
        premiumCollected += premium;
        emit CallsSold(msg.sender, amount, premium);
    }
}
