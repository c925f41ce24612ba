// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title DevWETH: the dev chain's wrapped ether, WETH9's behaviour in Solidity 0.8.
/// @notice deposit() (or a plain ether transfer) wraps native ETH 1:1, withdraw() unwraps it;
/// totalSupply is the contract's ether balance, as in WETH9. Installed by genesis without
/// running a constructor, so name, symbol and decimals live in storage, in WETH9's own
/// layout (strikevm.finance.dev_tokens; regenerate the embedded code with
/// `python contracts/tokens/build.py` after any change):
///
///   slot 0  name        string (short strings inline: bytes, length * 2 in the low byte)
///   slot 1  symbol      string
///   slot 2  decimals    uint8
///   slot 3  balanceOf   mapping(address => uint256)                  keccak(holder . 3)
///   slot 4  allowance   mapping(address => mapping(address => uint256))
///                                                     keccak(spender . keccak(owner . 4))
///
/// Genesis must give the account an ether balance equal to the sum of the balances.
/// Unlike WETH9, withdraw() forwards all gas (a call, not transfer), so contract wallets
/// can unwrap, and the ERC-6093 errors are reported instead of bare reverts.
contract DevWETH {
    string public name;
    string public symbol;
    uint8 public decimals;
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    event Approval(address indexed src, address indexed guy, uint256 wad);
    event Transfer(address indexed src, address indexed dst, uint256 wad);
    event Deposit(address indexed dst, uint256 wad);
    event Withdrawal(address indexed src, uint256 wad);

    error ERC20InsufficientBalance(address sender, uint256 balance, uint256 needed);
    error ERC20InsufficientAllowance(address spender, uint256 allowance, uint256 needed);
    /// @notice The ether of a withdrawal could not be sent to the caller.
    error EtherTransferFailed(address to, uint256 value);

    constructor(string memory name_, string memory symbol_, uint8 decimals_) {
        name = name_;
        symbol = symbol_;
        decimals = decimals_;
    }

    receive() external payable {
        deposit();
    }

    function deposit() public payable {
        balanceOf[msg.sender] += msg.value;
        emit Deposit(msg.sender, msg.value);
    }

    function withdraw(uint256 wad) external {
        uint256 balance = balanceOf[msg.sender];
        if (balance < wad) revert ERC20InsufficientBalance(msg.sender, balance, wad);
        unchecked {
            balanceOf[msg.sender] = balance - wad;
        }
        emit Withdrawal(msg.sender, wad);
        (bool ok,) = msg.sender.call{value: wad}("");
        if (!ok) revert EtherTransferFailed(msg.sender, wad);
    }

    function totalSupply() external view returns (uint256) {
        return address(this).balance;
    }

    function approve(address guy, uint256 wad) external returns (bool) {
        allowance[msg.sender][guy] = wad;
        emit Approval(msg.sender, guy, wad);
        return true;
    }

    function transfer(address dst, uint256 wad) external returns (bool) {
        return transferFrom(msg.sender, dst, wad);
    }

    /// @notice As WETH9: the caller spends its own balance without an allowance, and an
    /// allowance of type(uint256).max is infinite.
    function transferFrom(address src, address dst, uint256 wad) public returns (bool) {
        uint256 balance = balanceOf[src];
        if (balance < wad) revert ERC20InsufficientBalance(src, balance, wad);
        if (src != msg.sender) {
            uint256 allowed = allowance[src][msg.sender];
            if (allowed != type(uint256).max) {
                if (allowed < wad) revert ERC20InsufficientAllowance(msg.sender, allowed, wad);
                unchecked {
                    allowance[src][msg.sender] = allowed - wad;
                }
            }
        }
        unchecked {
            balanceOf[src] = balance - wad;
            balanceOf[dst] += wad; // bounded by the ether held
        }
        emit Transfer(src, dst, wad);
        return true;
    }
}
