// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IStrikeOracle} from "../IStrikeOracle.sol";

/// @title OracleConsumer: how a contract reads StrikeOracle.
/// @notice Reads a price no older than a bound, falls back cleanly when the feed is not
/// usable (try/catch on the typed errors), and settles on a TWAP before a deadline.
contract OracleConsumer {
    IStrikeOracle public constant ORACLE =
        IStrikeOracle(0x0000000000000000000000000000000053540002);

    bytes32 public immutable feed;
    uint256 public lastPrice;
    uint256 public settlementPrice;

    constructor(bytes32 feedId) {
        feed = feedId;
    }

    /// @notice The price, reverting (with the oracle's error) unless fresh within `age`.
    function price(uint256 age) external view returns (uint256 value, uint256 confidence) {
        (value, confidence,) = ORACLE.getPriceNoOlderThan(feed, age);
    }

    /// @notice Store the price if usable; report the oracle's error selector otherwise.
    function tryRecord() external returns (bool ok, bytes4 reason) {
        try ORACLE.getPrice(feed) returns (uint256 value, uint256, uint256) {
            lastPrice = value;
            return (true, bytes4(0));
        } catch (bytes memory data) {
            return (false, bytes4(data));
        }
    }

    /// @notice Relay updates and read the fresh price in the same transaction (pull oracle).
    function updateAndRead(bytes[] calldata updates) external returns (uint256 value) {
        ORACLE.updatePrices(updates);
        (value,,) = ORACLE.getPrice(feed);
        lastPrice = value;
    }

    /// @notice Settle on the TWAP of the `window` seconds before `expiry`.
    function settle(uint256 expiry, uint256 window) external returns (uint256) {
        settlementPrice = ORACLE.getTwapBetween(feed, expiry - window, expiry);
        return settlementPrice;
    }
}
