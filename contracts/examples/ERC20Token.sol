// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title ERC20Token: OpenZeppelin's ERC20 with a fixed supply minted to the deployer.
/// @notice Used by the client tests and the RPC throughput benchmark: deployed, transferred
/// and queried through real Ethereum clients (web3.py, ethers.js) against a running node.
contract ERC20Token is ERC20 {
    constructor(string memory name_, string memory symbol_, uint256 initialSupply)
        ERC20(name_, symbol_)
    {
        _mint(msg.sender, initialSupply);
    }
}
