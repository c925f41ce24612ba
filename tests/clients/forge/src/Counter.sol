// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// A counter with an owner, deployed by script/Deploy.s.sol through the CREATE2 deployer.
contract Counter {
    uint256 public count;
    address public immutable owner;

    event Incremented(uint256 count);

    constructor(uint256 start, address owner_) {
        count = start;
        owner = owner_;
    }

    function increment() external {
        count += 1;
        emit Incremented(count);
    }
}
