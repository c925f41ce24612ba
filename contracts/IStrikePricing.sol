// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title StrikePricing: option pricing as a StrikeVM system contract.
/// @notice Native contract at 0x0000000000000000000000000000000053540001 (the StrikeVM
/// system range 0x53540000-0x5354ffff; Ethereum's precompiles use 0x01-0x11 and 0x100).
/// Every function is pure: call it through this interface (Solidity uses STATICCALL).
/// The address holds no bytecode; every function returns data, so Solidity >= 0.8.10
/// calls it without the extcodesize check.
///
/// Units: prices, spot, forward and strike in wad (1e18 = one unit of the quote asset);
/// volatility, rate and dividend yield in wad per year (5e16 = 5%), rate and yield may be
/// negative; expiry in whole seconds to expiry (a year is 365 days = 31,536,000 s).
/// Greeks are natural units times 1e18: delta per unit of spot, gamma per unit of spot
/// squared, vega per 1.0 of volatility, theta per year (-dV/dT), rho per 1.0 of rate.
/// Domain: spot/forward/strike in [1, 1e36], volatility in [1, 100e18], expiry in
/// [0, 100 years], rate and yield in [-4e18, 4e18], binomial steps in [1, 1000].
///
/// Gas is charged before the inputs are checked, so a call that reverts with one of the
/// errors below costs what a successful one would (see docs/pricing.md). Sending value
/// reverts with ValueNotAccepted.
interface IStrikePricing {
    /// @notice Price and first-order sensitivities.
    struct Greeks {
        uint256 price;
        int256 delta;
        int256 gamma;
        int256 vega;
        int256 theta;
        int256 rho;
    }

    /// @notice One European option for the batch entry.
    struct Option {
        bool isCall;
        uint256 spot;
        uint256 strike;
        uint256 volatility;
        uint256 expiry;
        int256 rate;
        int256 dividendYield;
    }

    /// @notice The first four bytes of the calldata name no function.
    error UnknownSelector(bytes4 selector);
    /// @notice Calldata shorter than the function's arguments, a bool word that is not 0
    /// or 1, or a batch array whose offset or length points outside the calldata.
    error MalformedCalldata();
    /// @notice The call carried value; pricing is not payable.
    error ValueNotAccepted(uint256 value);
    /// @notice Spot (or forward) outside [1, 1e36].
    error InvalidSpot(uint256 spot);
    /// @notice Strike outside [1, 1e36].
    error InvalidStrike(uint256 strike);
    /// @notice Volatility outside [1, 100e18] (zero included).
    error InvalidVolatility(uint256 volatility);
    /// @notice Expiry above 100 years.
    error InvalidExpiry(uint256 expiry);
    /// @notice Rate outside [-4e18, 4e18].
    error InvalidRate(int256 rate);
    /// @notice Dividend yield outside [-4e18, 4e18].
    error InvalidDividendYield(int256 dividendYield);
    /// @notice Implied volatility: option price above 1e36.
    error InvalidPrice(uint256 price);
    /// @notice Binomial steps below 1.
    error InvalidSteps(uint256 steps);
    /// @notice Binomial steps above 1000.
    error TooManySteps(uint256 steps);
    /// @notice Binomial up-move probability outside (0, 1): use more steps.
    error TreeProbabilityOutOfRange();
    /// @notice No volatility in [1e12, 100e18] reproduces the price (or expiry is 0).
    error NoImpliedVolatility();
    /// @notice A result does not fit in int256 (or the tree is too wide).
    error Overflow();
    /// @notice A mathematical domain error inside the pricing (not expected for valid input).
    error DomainError();
    /// @notice A fixed-point division by zero inside the pricing (not expected).
    error DivisionByZero();
    /// @notice A discount factor e^(-rate*T) or e^(-dividendYield*T) above e^32 (T in
    /// years): -rate*T or -dividendYield*T above 32, where prices lose accuracy.
    error DiscountOutOfRange();
    /// @notice Any other pricing failure, by its stable code (see docs/pricing.md).
    error PricingFailed(uint256 code);
    /// @notice Option `index` of a batch failed; `reason` is the revert data that
    /// blackScholesPrice would have returned for it.
    error BatchItemFailed(uint256 index, bytes reason);

    /// @notice Black-Scholes-Merton price with a continuous dividend (carry) yield.
    function blackScholesPrice(
        bool isCall,
        uint256 spot,
        uint256 strike,
        uint256 volatility,
        uint256 expiry,
        int256 rate,
        int256 dividendYield
    ) external pure returns (uint256 price);

    /// @notice Black-Scholes-Merton price and greeks.
    function blackScholesGreeks(
        bool isCall,
        uint256 spot,
        uint256 strike,
        uint256 volatility,
        uint256 expiry,
        int256 rate,
        int256 dividendYield
    ) external pure returns (Greeks memory greeks);

    /// @notice Black-76 price of an option on a forward or future.
    function black76Price(
        bool isCall,
        uint256 forward,
        uint256 strike,
        uint256 volatility,
        uint256 expiry,
        int256 rate
    ) external pure returns (uint256 price);

    /// @notice Black-76 price and greeks (delta and gamma with respect to the forward).
    function black76Greeks(
        bool isCall,
        uint256 forward,
        uint256 strike,
        uint256 volatility,
        uint256 expiry,
        int256 rate
    ) external pure returns (Greeks memory greeks);

    /// @notice Black-Scholes-Merton implied volatility of an option price. Needs at least
    /// GAS_IV_MAX gas available; charges only the evaluations it made.
    function impliedVolatility(
        bool isCall,
        uint256 price,
        uint256 spot,
        uint256 strike,
        uint256 expiry,
        int256 rate,
        int256 dividendYield
    ) external pure returns (uint256 volatility);

    /// @notice Cox-Ross-Rubinstein tree price, American or European.
    function binomialPrice(
        bool isCall,
        bool isAmerican,
        uint256 spot,
        uint256 strike,
        uint256 volatility,
        uint256 expiry,
        int256 rate,
        int256 dividendYield,
        uint256 steps
    ) external pure returns (uint256 price);

    /// @notice Black-Scholes-Merton prices of many options in one call; equal, item by
    /// item, to blackScholesPrice. Reverts with BatchItemFailed at the first bad option.
    function blackScholesPriceBatch(Option[] calldata options)
        external
        pure
        returns (uint256[] memory prices);
}

/// @dev The StrikePricing system contract.
IStrikePricing constant STRIKE_PRICING =
    IStrikePricing(0x0000000000000000000000000000000053540001);
