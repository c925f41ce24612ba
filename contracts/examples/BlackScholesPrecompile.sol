// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IStrikePricing, STRIKE_PRICING} from "../IStrikePricing.sol";

/// @title BlackScholesPrecompile: the `black_scholes` speed workload through StrikePricing.
/// @notice Same function and calldata as the workload's Solidity contract: prices a call
/// and a put for each of n options (spot, strike, time in years as wad, volatility, one
/// rate) and returns the call and put prices, here with one blackScholesPriceBatch call
/// instead of Solidity fixed-point math. Times are converted to whole seconds.
/// `priceBatch` is plain Solidity through the IStrikePricing interface;
/// `priceBatchAssembly` takes the same arguments and writes the batch calldata and its
/// own return data directly in assembly (the time conversion unchecked), to show the
/// cost of the call without Solidity's memory structs and ABI copying.
contract BlackScholesPrecompile {
    uint256 private constant YEAR_SECONDS = 365 days;

    function priceBatch(
        uint256[] calldata spots,
        uint256[] calldata strikes,
        uint256[] calldata times,
        uint256[] calldata vols,
        uint256 rate
    ) external pure returns (uint256[] memory calls, uint256[] memory puts) {
        uint256 n = spots.length;
        IStrikePricing.Option[] memory options = new IStrikePricing.Option[](2 * n);
        for (uint256 i = 0; i < n; ++i) {
            IStrikePricing.Option memory c = options[i];
            c.isCall = true;
            c.spot = spots[i];
            c.strike = strikes[i];
            c.volatility = vols[i];
            c.expiry = (times[i] * YEAR_SECONDS) / 1e18;
            c.rate = int256(rate);
            IStrikePricing.Option memory p = options[n + i];
            p.spot = c.spot;
            p.strike = c.strike;
            p.volatility = c.volatility;
            p.expiry = c.expiry;
            p.rate = c.rate;
        }
        uint256[] memory prices = STRIKE_PRICING.blackScholesPriceBatch(options);
        calls = new uint256[](n);
        puts = new uint256[](n);
        for (uint256 i = 0; i < n; ++i) {
            calls[i] = prices[i];
            puts[i] = prices[n + i];
        }
    }

    function priceBatchAssembly(
        uint256[] calldata spots,
        uint256[] calldata strikes,
        uint256[] calldata times,
        uint256[] calldata vols,
        uint256 rate
    ) external view returns (uint256[] memory, uint256[] memory) {
        uint256 n = spots.length;
        require(strikes.length == n && times.length == n && vols.length == n);
        _priceAndReturn(n, rate);
    }

    /// @dev Builds the batch calldata from the four calldata arrays of priceBatchAssembly,
    /// calls StrikePricing and returns abi.encode(calls, puts) itself (never returns).
    function _priceAndReturn(uint256 n, uint256 rate) private view {
        bytes4 sel = IStrikePricing.blackScholesPriceBatch.selector;
        assembly {
            // the four arrays' first items (checked by the ABI decoder of the caller)
            let spots := add(36, calldataload(4))
            let strikesDelta := sub(add(36, calldataload(36)), spots)
            let timesDelta := sub(add(36, calldataload(68)), spots)
            let volsDelta := sub(add(36, calldataload(100)), spots)
            // calldata: selector, offset 0x20, length 2n, n calls then n puts (7 words each)
            let ptr := mload(0x40)
            mstore(ptr, sel)
            mstore(add(ptr, 4), 0x20)
            mstore(add(ptr, 36), shl(1, n))
            let half := mul(n, 224)
            for { let c := add(ptr, 68) } lt(c, add(add(ptr, 68), half)) { c := add(c, 224) } {
                let p := add(c, half)
                let x := calldataload(spots)
                mstore(add(c, 32), x)
                mstore(add(p, 32), x)
                x := calldataload(add(spots, strikesDelta))
                mstore(add(c, 64), x)
                mstore(add(p, 64), x)
                x := calldataload(add(spots, volsDelta))
                mstore(add(c, 96), x)
                mstore(add(p, 96), x)
                x := div(mul(calldataload(add(spots, timesDelta)), YEAR_SECONDS), 1000000000000000000)
                mstore(add(c, 128), x)
                mstore(add(p, 128), x)
                mstore(c, 1)
                mstore(p, 0)
                mstore(add(c, 160), rate)
                mstore(add(p, 160), rate)
                mstore(add(c, 192), 0)
                mstore(add(p, 192), 0)
                spots := add(spots, 32)
            }
            if iszero(staticcall(gas(), 0x53540001, ptr, add(68, shl(1, half)), 0, 0)) {
                returndatacopy(ptr, 0, returndatasize())
                revert(ptr, returndatasize())
            }
            // return data [0x20][2n][calls][puts] -> abi.encode(calls, puts)
            let words := shl(5, n)
            if iszero(eq(returndatasize(), add(64, shl(1, words)))) { revert(0, 0) }
            mstore(ptr, 0x40)
            mstore(add(ptr, 32), add(0x60, words))
            mstore(add(ptr, 64), n)
            returndatacopy(add(ptr, 96), 64, words)
            let q := add(add(ptr, 96), words)
            mstore(q, n)
            returndatacopy(add(q, 32), add(64, words), words)
            return(ptr, add(128, shl(1, words)))
        }
    }
}
