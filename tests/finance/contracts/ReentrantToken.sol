// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title ReentrantToken: a hostile collateral token for the clearinghouse tests.
/// @notice An ERC-20 whose `transferFrom` and `transfer` call back into a chosen contract
/// (the clearinghouse pulling or pushing it) with chosen calldata. The outcome of the
/// callback is recorded; with `strict` set, a failed callback makes the transfer revert.
contract ReentrantToken {
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;
    uint256 public totalSupply;

    address public hookTarget;
    bytes public hookData;
    bool public strict;
    uint256 public hookCalls;
    bool public hookSucceeded;
    bytes public hookResult;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    constructor(uint256 supply) {
        balanceOf[msg.sender] = supply;
        totalSupply = supply;
        emit Transfer(address(0), msg.sender, supply);
    }

    function setHook(address target, bytes calldata data, bool strict_) external {
        hookTarget = target;
        hookData = data;
        strict = strict_;
    }

    function approve(address spender, uint256 amount) external returns (bool) {
        allowance[msg.sender][spender] = amount;
        emit Approval(msg.sender, spender, amount);
        return true;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        _move(msg.sender, to, amount);
        _hook();
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        require(allowed >= amount, "allowance");
        allowance[from][msg.sender] = allowed - amount;
        _move(from, to, amount);
        _hook();
        return true;
    }

    function _hook() internal {
        if (hookTarget == address(0)) {
            return;
        }
        hookCalls += 1;
        (bool ok, bytes memory result) = hookTarget.call(hookData);
        hookSucceeded = ok;
        hookResult = result;
        if (strict && !ok) {
            assembly {
                revert(add(result, 32), mload(result))
            }
        }
    }

    function _move(address from, address to, uint256 amount) internal {
        require(balanceOf[from] >= amount, "balance");
        balanceOf[from] -= amount;
        balanceOf[to] += amount;
        emit Transfer(from, to, amount);
    }
}
