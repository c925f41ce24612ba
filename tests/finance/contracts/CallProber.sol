// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title CallProber: reaches a contract by STATICCALL, DELEGATECALL or CALL with value.
/// @notice Test fixture: each probe returns whether the inner call succeeded and what it
/// returned, so a test can read the callee's typed error without the outer call failing.
contract CallProber {
    event Probed(bool ok, bytes result);

    function probeStatic(address target, bytes calldata data) external returns (bool ok, bytes memory result) {
        (ok, result) = target.staticcall(data);
        emit Probed(ok, result);
    }

    function probeDelegate(address target, bytes calldata data) external returns (bool ok, bytes memory result) {
        (ok, result) = target.delegatecall(data);
        emit Probed(ok, result);
    }

    function probeCall(address target, bytes calldata data) external payable returns (bool ok, bytes memory result) {
        (ok, result) = target.call{value: msg.value}(data);
        emit Probed(ok, result);
    }
}
