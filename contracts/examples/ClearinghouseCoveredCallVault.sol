// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IStrikeClearinghouse} from "../IStrikeClearinghouse.sol";

interface IERC20Minimal {
    function balanceOf(address account) external view returns (uint256);
    function transfer(address to, uint256 amount) external returns (bool);
    function transferFrom(address from, address to, uint256 amount) external returns (bool);
    function approve(address spender, uint256 amount) external returns (bool);
}

/// @title ClearinghouseCoveredCallVault: a one-round call-writing vault on StrikeClearinghouse.
/// @notice Depositors put in the clearinghouse's quote token (USDC); the manager moves the
/// pool into the vault's clearinghouse account and sells European calls of one listed
/// market by filling market makers' signed buy orders (the vault is the taker); after
/// expiry anyone settles the market and the account, pulls the cash back, and each
/// depositor redeems a pro-rata share of what came back: deposits + premium - fees - the
/// cash settlement paid if the calls finish in the money.
///
/// What "covered" means here. StrikeClearinghouse settles options in cash (USDC) and offers
/// no swap, so a vault holding WETH as collateral could not pay an in-the-money settlement
/// out of its WETH: it would end the round with a USDC debt in its account and WETH it may
/// not fully withdraw. This vault is therefore **cash-secured**: the short calls are
/// secured by the pool's USDC at the clearinghouse's initial margin (Deribit standard
/// margin for a short call, about 15% of spot plus the option's mark per call, checked
/// after every fill; a sale beyond it reverts with the clearinghouse's
/// `BelowInitialMargin`, passed through unchanged). `maxCallsPerUnit` optionally caps the
/// calls sold per 1 USDC of deposits tighter than margin: with `strike` wad of USDC per
/// call it is the classic "strike-secured" limit. A short call's loss has no upper bound:
/// above the strike every dollar of spot costs the vault one dollar per call sold, and a
/// loss beyond the deposits leaves nothing to redeem (the clearing pool takes the deficit).
///
/// The manager picks the maker orders, hence the premium: depositors trust it to sell at
/// fair prices (the vault checks only the market and the side of each order).
///
/// Phases: Open (deposits) -> Trading (`start`, `sellCalls`) -> Closed (`close`, `redeem`).
/// Shares are issued 1:1 with the USDC deposited. All external calls follow the
/// checks-effects-interactions order; the clearinghouse's entry points are non-reentrant.
contract ClearinghouseCoveredCallVault {
    IStrikeClearinghouse public constant CLEARINGHOUSE =
        IStrikeClearinghouse(0x0000000000000000000000000000000053540003);
    uint8 private constant OPTION = 3;
    uint8 private constant SETTLED = 1;

    enum Phase {
        Open,
        Trading,
        Closed
    }

    address public immutable manager;
    IERC20Minimal public immutable usdc;
    uint32 public immutable market;
    uint32 public immutable subaccount;
    uint64 public immutable expiry;
    uint256 public immutable strike;
    /// @notice Most calls (wad of underlying) sold per unit (1e6) of deposits; 0: margin only.
    uint256 public immutable maxCallsPerUnit;

    Phase public phase;
    uint256 public totalShares;
    mapping(address => uint256) public sharesOf;
    /// @notice Calls sold (wad of underlying) and premium received (wad of USD, before fees).
    uint256 public callsSold;
    uint256 public premiumReceived;
    /// @notice USDC back from the clearinghouse at close, and the shares it is split over.
    uint256 public finalAssets;
    uint256 public finalShares;

    event Deposited(address indexed depositor, uint256 amount);
    event Started(uint256 deposited);
    event CallsSold(bytes32 indexed makerOrder, uint256 size, uint256 price, uint256 premium);
    event Closed(uint256 assets, int256 cashAtClose);
    event Redeemed(address indexed depositor, uint256 shares, uint256 amount);

    error NotManager();
    error WrongPhase(Phase expected, Phase actual);
    error ZeroAmount();
    error NotACall(uint32 market);
    error WrongOrder();
    error CapExceeded(uint256 callsSold, uint256 cap);
    error NotExpired(uint64 expiry);
    error NoShares();
    error TransferFailed();

    modifier onlyManager() {
        if (msg.sender != manager) revert NotManager();
        _;
    }

    modifier inPhase(Phase expected) {
        if (phase != expected) revert WrongPhase(expected, phase);
        _;
    }

    /// @param usdc_ the clearinghouse's quote collateral (collateral 0)
    /// @param market_ a listed European or American call market that has not expired
    /// @param subaccount_ the vault's clearinghouse subaccount
    /// @param maxCallsPerUnit_ see `maxCallsPerUnit` (0 leaves the limit to margin)
    constructor(address usdc_, uint32 market_, uint32 subaccount_, uint256 maxCallsPerUnit_) {
        (uint8 kind,, uint64 expiry_, uint256 strike_, bool isCall,, uint8 status,) =
            CLEARINGHOUSE.getMarket(market_);
        if (kind != OPTION || !isCall || status == SETTLED || expiry_ <= block.timestamp) {
            revert NotACall(market_);
        }
        manager = msg.sender;
        usdc = IERC20Minimal(usdc_);
        market = market_;
        subaccount = subaccount_;
        expiry = expiry_;
        strike = strike_;
        maxCallsPerUnit = maxCallsPerUnit_;
    }

    // ------------------------------------------------------------------ Open
    /// @notice Deposit `amount` USDC (approve the vault first); shares 1:1.
    function deposit(uint256 amount) external inPhase(Phase.Open) {
        if (amount == 0) revert ZeroAmount();
        sharesOf[msg.sender] += amount;
        totalShares += amount;
        emit Deposited(msg.sender, amount);
        if (!usdc.transferFrom(msg.sender, address(this), amount)) revert TransferFailed();
    }

    /// @notice Move every deposited USDC into the vault's clearinghouse account.
    function start() external onlyManager inPhase(Phase.Open) {
        if (totalShares == 0) revert NoShares();
        uint256 amount = usdc.balanceOf(address(this));
        phase = Phase.Trading;
        emit Started(amount);
        if (!usdc.approve(address(CLEARINGHOUSE), amount)) revert TransferFailed();
        CLEARINGHOUSE.deposit(subaccount, address(usdc), amount);
    }

    // --------------------------------------------------------------- Trading
    /// @notice Sell `size` calls (wad) into a maker's signed buy order at its limit price.
    /// The clearinghouse checks the signature, the order and the vault's initial margin and
    /// reverts the whole sale with its own typed error when any check fails.
    function sellCalls(IStrikeClearinghouse.Order calldata order, bytes calldata signature, uint256 size)
        external
        onlyManager
        inPhase(Phase.Trading)
    {
        if (order.market != market || !order.isBuy) revert WrongOrder();
        if (size == 0) revert ZeroAmount();
        uint256 sold = callsSold + size;
        if (maxCallsPerUnit != 0) {
            uint256 cap = totalShares * maxCallsPerUnit / 1e6;
            if (sold > cap) revert CapExceeded(sold, cap);
        }
        uint256 premium = size * order.limitPrice / 1e18;
        callsSold = sold;
        premiumReceived += premium;
        emit CallsSold(CLEARINGHOUSE.orderHash(order), size, order.limitPrice, premium);
        CLEARINGHOUSE.fill(order, signature, size, subaccount);
    }

    // ---------------------------------------------------------------- Closed
    /// @notice After expiry (anyone): fix the settlement price if nobody has, settle the
    /// vault's account, withdraw its cash and open redemptions.
    function close() external inPhase(Phase.Trading) {
        if (block.timestamp < expiry) revert NotExpired(expiry);
        phase = Phase.Closed;
        (,,,,,, uint8 status,) = CLEARINGHOUSE.getMarket(market);
        if (status != SETTLED) CLEARINGHOUSE.settle(market);
        CLEARINGHOUSE.settleAccount(address(this), subaccount);
        int256 cash = CLEARINGHOUSE.getCash(address(this), subaccount);
        if (cash > 0) CLEARINGHOUSE.withdraw(subaccount, address(usdc), uint256(cash));
        uint256 assets = usdc.balanceOf(address(this));
        finalAssets = assets;
        finalShares = totalShares;
        emit Closed(assets, cash);
    }

    /// @notice Redeem every share of the caller for its pro-rata part of the final assets
    /// (rounded down; the rounding dust stays in the vault).
    function redeem() external inPhase(Phase.Closed) returns (uint256 amount) {
        uint256 shares = sharesOf[msg.sender];
        if (shares == 0) revert NoShares();
        amount = shares * finalAssets / finalShares;
        sharesOf[msg.sender] = 0;
        totalShares -= shares;
        emit Redeemed(msg.sender, shares, amount);
        if (amount != 0 && !usdc.transfer(msg.sender, amount)) revert TransferFailed();
    }

    /// @notice What `shares` would redeem for now (0 before close).
    function previewRedeem(uint256 shares) external view returns (uint256) {
        return phase == Phase.Closed ? shares * finalAssets / finalShares : 0;
    }
}
