// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Counter} from "../src/Counter.sol";

/// The few cheatcodes the script uses (forge-std is not vendored: no network access here).
interface Vm {
    function startBroadcast() external;
    function stopBroadcast() external;
    function envUint(string calldata name) external view returns (uint256);
}

/// `forge script script/Deploy.s.sol --broadcast`: `new Counter{salt: ...}` inside a broadcast
/// is sent as a transaction to the deterministic deployer 0x4e59b448...956C, which CREATE2s
/// the counter; then one call on it.
contract Deploy {
    bool public IS_SCRIPT = true;
    Vm private constant VM = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    function run() external returns (Counter counter) {
        bytes32 salt = bytes32(VM.envUint("COUNTER_SALT"));
        VM.startBroadcast();
        counter = new Counter{salt: salt}(41, msg.sender);
        counter.increment();
        VM.stopBroadcast();
    }
}
