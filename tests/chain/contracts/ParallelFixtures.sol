// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title Contracts of the parallel-execution tests and benchmark.
/// @notice Minimal on purpose: a token, a constant-product pair with internal balances,
/// a hot counter, a contract that reverts after writing, and self-destructing contracts.

/// A minimal ERC-20 (transfer, balanceOf, an open mint for test set-up).
contract ParToken {
    mapping(address => uint256) public balanceOf;
    uint256 public totalSupply;

    event Transfer(address indexed from, address indexed to, uint256 value);

    function mint(address to, uint256 amount) external {
        balanceOf[to] += amount;
        totalSupply += amount;
        emit Transfer(address(0), to, amount);
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        uint256 have = balanceOf[msg.sender];
        require(have >= amount, "balance");
        unchecked {
            balanceOf[msg.sender] = have - amount;
        }
        balanceOf[to] += amount;
        emit Transfer(msg.sender, to, amount);
        return true;
    }
}

/// A constant-product pair (x * y = k, 0.3% fee) keeping its traders' balances inside.
contract ParPair {
    uint112 public reserve0;
    uint112 public reserve1;
    mapping(address => uint256) public balance0;
    mapping(address => uint256) public balance1;

    event Swap(address indexed trader, bool zeroForOne, uint256 amountIn, uint256 amountOut);

    constructor() {
        reserve0 = 1e24;
        reserve1 = 1e24;
    }

    function faucet(uint256 a0, uint256 a1) external {
        balance0[msg.sender] += a0;
        balance1[msg.sender] += a1;
    }

    function swap(bool zeroForOne, uint256 amountIn) external returns (uint256 out) {
        (uint256 rIn, uint256 rOut) = zeroForOne ? (uint256(reserve0), uint256(reserve1)) : (uint256(reserve1), uint256(reserve0));
        uint256 inWithFee = amountIn * 997;
        out = (rOut * inWithFee) / (rIn * 1000 + inWithFee);
        require(out > 0, "output");
        if (zeroForOne) {
            balance0[msg.sender] -= amountIn;
            balance1[msg.sender] += out;
            reserve0 = uint112(rIn + amountIn);
            reserve1 = uint112(rOut - out);
        } else {
            balance1[msg.sender] -= amountIn;
            balance0[msg.sender] += out;
            reserve1 = uint112(rIn + amountIn);
            reserve0 = uint112(rOut - out);
        }
        emit Swap(msg.sender, zeroForOne, amountIn, out);
    }
}

/// One hot slot: every call depends on the previous one.
contract ParCounter {
    uint256 public count;
    uint256 public last;

    function increment() external returns (uint256) {
        count += 1;
        last = uint256(keccak256(abi.encode(last, msg.sender)));
        return count;
    }
}

/// Writes, logs, then reverts: a reverted transaction changes only nonce and balances.
contract ParReverter {
    uint256 public value;
    event Noted(uint256 v);

    function fail(uint256 v) external {
        value = v;
        emit Noted(v);
        revert("no");
    }

    function note(uint256 v) external {
        value = v;
        emit Noted(v);
    }
}

/// A contract that can be told to self-destruct (pre-existing: only its balance moves,
/// EIP-6780), and a factory whose children self-destruct in their creating transaction.
contract ParDestructible {
    uint256 public marker = 1;

    receive() external payable {}

    function kill(address payable to) external {
        selfdestruct(to);
    }
}

contract ParFactory {
    uint256 public made;

    function makeAndKill(address payable to) external payable returns (address child) {
        ParDestructible d = new ParDestructible();
        child = address(d);
        made += 1;
        (bool ok,) = child.call{value: msg.value}("");
        require(ok, "fund");
        d.kill(to);
    }

    function make() external returns (address child) {
        child = address(new ParDestructible());
        made += 1;
    }
}
