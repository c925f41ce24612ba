// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title DevERC20: the dev chain's standard ERC-20 (USDC on the dev chain).
/// @notice Installed by genesis: the runtime code and the storage slots are written straight
/// into the state, no constructor runs there. Every parameter therefore lives in storage (no
/// immutables), and the storage layout below is part of the genesis format
/// (strikevm.finance.dev_tokens): keep it stable, and regenerate the embedded code with
/// `python contracts/tokens/build.py` after any change.
///
///   slot 0  name           string (short strings inline: bytes, length * 2 in the low byte)
///   slot 1  symbol         string
///   slot 2  decimals       uint8
///   slot 3  totalSupply    uint256
///   slot 4  balanceOf      mapping(address => uint256)               keccak(holder . 4)
///   slot 5  allowance      mapping(address => mapping(address => uint256))
///                                                     keccak(spender . keccak(owner . 5))
///   slot 6  minter         address (zero: nobody can mint)
///
/// The constructor exists only so that the same contract can also be deployed by a
/// transaction (tests, other chains); genesis never runs it.
contract DevERC20 {
    string public name;
    string public symbol;
    uint8 public decimals;
    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;
    /// @notice The only account allowed to mint; the zero address disables minting.
    address public minter;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);
    event MinterChanged(address indexed previousMinter, address indexed newMinter);

    // ERC-6093 errors, as OpenZeppelin's ERC20 reports them.
    error ERC20InsufficientBalance(address sender, uint256 balance, uint256 needed);
    error ERC20InsufficientAllowance(address spender, uint256 allowance, uint256 needed);
    error ERC20InvalidSender(address sender);
    error ERC20InvalidReceiver(address receiver);
    error ERC20InvalidApprover(address approver);
    error ERC20InvalidSpender(address spender);
    /// @notice mint or setMinter called by an account other than the minter.
    error NotMinter(address caller);

    constructor(string memory name_, string memory symbol_, uint8 decimals_, address minter_) {
        name = name_;
        symbol = symbol_;
        decimals = decimals_;
        minter = minter_;
    }

    function transfer(address to, uint256 value) external returns (bool) {
        _transfer(msg.sender, to, value);
        return true;
    }

    function approve(address spender, uint256 value) external returns (bool) {
        if (spender == address(0)) revert ERC20InvalidSpender(address(0));
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    /// @notice Spends `value` of `from`'s allowance to the caller; an allowance of
    /// type(uint256).max is infinite and never decreases.
    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed != type(uint256).max) {
            if (allowed < value) revert ERC20InsufficientAllowance(msg.sender, allowed, value);
            unchecked {
                allowance[from][msg.sender] = allowed - value;
            }
        }
        _transfer(from, to, value);
        return true;
    }

    /// @notice Dev convenience: the minter creates `value` new tokens for `to`.
    function mint(address to, uint256 value) external {
        if (msg.sender != minter) revert NotMinter(msg.sender);
        if (to == address(0)) revert ERC20InvalidReceiver(address(0));
        totalSupply += value;
        unchecked {
            balanceOf[to] += value; // bounded by totalSupply
        }
        emit Transfer(address(0), to, value);
    }

    /// @notice The minter hands the role over (the zero address disables minting for good).
    function setMinter(address newMinter) external {
        if (msg.sender != minter) revert NotMinter(msg.sender);
        emit MinterChanged(msg.sender, newMinter);
        minter = newMinter;
    }

    function _transfer(address from, address to, uint256 value) private {
        if (from == address(0)) revert ERC20InvalidSender(address(0));
        if (to == address(0)) revert ERC20InvalidReceiver(address(0));
        uint256 balance = balanceOf[from];
        if (balance < value) revert ERC20InsufficientBalance(from, balance, value);
        unchecked {
            balanceOf[from] = balance - value;
            balanceOf[to] += value; // bounded by totalSupply
        }
        emit Transfer(from, to, value);
    }
}
