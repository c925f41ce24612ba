"""StrikeClearinghouse: collateral, signed-order trading, margin, funding, settlement, exercise.

Every margin figure asserted is recomputed in the test from the published formulas
(Deribit linear perp / short option standard margin) with plain integers or numpy.
"""

from __future__ import annotations

import numpy as np
import pytest
from chhelpers import (
    ADMIN_KEY,
    AM_PUT_3000,
    CALL_3000,
    ETH_FUT,
    ETH_PERP,
    EXPIRY,
    PUT_3000,
    TRADER_KEYS,
    TRADERS,
    USDC,
    Exchange,
    _a,
    order_tuple,
    reverted,
    selector,
)
from eth_abi import encode as eth_encode
from oraclehelpers import WAD

from strikevm.finance import clearinghouse_layout as L
from strikevm.finance.clearinghouse import EV_FILL, EV_FUNDING
from strikevm.finance.clearinghouse_layout import (
    CLEARINGHOUSE_ADDRESS,
    FLAG_POST_ONLY,
    FLAG_REDUCE_ONLY,
)
from strikevm.finance.dev_tokens import USDC_ADDRESS

ONE = WAD


def perp_im(size: int, spot: int) -> int:
    """Deribit linear perp IM: (2% + |size| x 0.005%) x |size| x spot (wad, rounded up)."""
    pct = 2 * 10**16 + abs(size) * 5 * 10**13 // WAD
    return -(-pct * abs(size) * spot // WAD // WAD)


@pytest.fixture
def ex() -> Exchange:
    e = Exchange()
    e.prices(3000)
    e.fund(0, usdc=100_000 * USDC)
    e.fund(1, usdc=100_000 * USDC)
    return e


def test_deposit_withdraw_and_conservation(ex: Exchange) -> None:
    assert ex.cash(0) == 100_000 * USDC
    assert ex.token_balance(USDC_ADDRESS, CLEARINGHOUSE_ADDRESS) == 200_000 * USDC
    acct = ex.account(0)
    assert acct["collateral"] == 100_000 * WAD and acct["im"] == 0 and acct["equity"] == 100_000 * WAD
    r = ex.ch(TRADER_KEYS[0], "withdraw(uint32,address,uint256)", ["uint32", "address", "uint256"], [0, _a(USDC_ADDRESS), 30_000 * USDC])
    assert r.success, r.output.hex()
    assert ex.cash(0) == 70_000 * USDC
    assert ex.token_balance(USDC_ADDRESS, CLEARINGHOUSE_ADDRESS) == 170_000 * USDC
    too_much = ex.ch(TRADER_KEYS[0], "withdraw(uint32,address,uint256)", ["uint32", "address", "uint256"], [0, _a(USDC_ADDRESS), 70_001 * USDC])
    assert reverted(too_much, "InsufficientCollateral(uint256,uint256)", 70_000 * USDC, 70_001 * USDC)
    # WETH counts at the oracle price less a 10% haircut
    ex.fund(2, weth=2 * WAD)
    assert ex.account(2)["collateral"] == 2 * 3000 * WAD * 9 // 10
    unknown = ex.ch(TRADER_KEYS[0], "deposit(uint32,address,uint256)", ["uint32", "address", "uint256"], [0, _a(0xDEAD), 1])
    assert reverted(unknown, "UnknownToken(address)", 0xDEAD)


def test_perp_fill_margin_and_pnl(ex: Exchange) -> None:
    order = ex.order(0, ETH_PERP, True, 10 * ONE, 3000 * WAD)  # maker buys 10 ETH
    r = ex.fill(1, *order, 4 * ONE)  # taker sells 4
    assert r.success, r.output.hex()
    assert any(log.topics[0] == EV_FILL for log in r.logs)
    assert ex.position(0, ETH_PERP) == (4 * ONE, 4 * 3000 * WAD)
    assert ex.position(1, ETH_PERP) == (-4 * ONE, -4 * 3000 * WAD)
    # fees: maker 2 bps, taker 5 bps of 12,000 notional
    assert ex.cash(0) == 100_000 * USDC - 12_000 * USDC * 2 // 10_000
    assert ex.cash(1) == 100_000 * USDC - 12_000 * USDC * 5 // 10_000
    assert ex.ledger()["fees"] == 12_000 * USDC * 7 // 10_000
    a = ex.account(0)
    assert a["im"] == perp_im(4 * ONE, 3000 * WAD)
    # oracle moves up 100: the long gains 400, the short loses 400 (marks from the oracle only)
    ex.next_block()
    ex.prices(3100)
    a, b = ex.account(0), ex.account(1)
    assert a["pnl"] == 400 * WAD and b["pnl"] == -400 * WAD
    assert a["im"] == perp_im(4 * ONE, 3100 * WAD)
    # the long closes 3 at 3100 against trader 2's bid: realized 300 goes to cash via the pool
    ex.fund(2, usdc=50_000 * USDC)
    bid = ex.order(2, ETH_PERP, True, 3 * ONE, 3100 * WAD)
    cash_before = ex.cash(0)
    index = ex.view("getFunding(uint32)", ["uint32"], [ETH_PERP], ["int256", "int256", "uint256"])[0]
    assert index > 0  # one block of the 0.01%/8 h interest component: longs pay
    r = ex.fill(0, *bid, 3 * ONE)
    assert r.success, r.output.hex()
    fee = 3 * 3100 * USDC * 5 // 10_000
    funding = 4 * ONE * index // WAD // 10**12
    assert ex.cash(0) == cash_before + 300 * USDC - fee - funding
    assert ex.position(0, ETH_PERP) == (ONE, 3000 * WAD)


def test_option_premium_and_short_option_margin(ex: Exchange) -> None:
    ask = ex.order(0, CALL_3000, False, 2 * ONE, 150 * WAD)  # maker sells 2 calls at 150
    r = ex.fill(1, *ask, 2 * ONE)
    assert r.success, r.output.hex()
    fee_maker = 300 * USDC * 2 // 10_000
    assert ex.cash(0) == 100_000 * USDC + 300 * USDC - fee_maker
    a = ex.account(0)
    # short call standard margin (Deribit/Bit.com USD form), recomputed from the option mark
    from strikevm.finance.margin import MarketSpec, UnderlyingMarks, option_mark

    spec = MarketSpec(CALL_3000, 3, L.signed(0, 8), expiry=EXPIRY, strike=3000 * WAD, is_call=True)
    mark = option_mark(spec, UnderlyingMarks(3000 * WAD, 0, {CALL_3000: 6 * WAD // 10}), ex.now)
    u = 3000 * WAD
    otm = 0  # at the money
    im = 2 * (max(15 * u // 100 - otm, u // 10) + mark)
    mm = 2 * (75 * u // 1000 + mark)
    assert abs(a["im"] - im) <= 4 and abs(a["mm"] - mm) <= 4
    assert a["pnl"] == -2 * mark
    # independent float check of the mark itself (Black-Scholes, r = 0)
    from math import erf, log, sqrt

    t = (EXPIRY - ex.now) / (365 * 86400)
    d1 = (log(1.0) + 0.5 * 0.36 * t) / (0.6 * sqrt(t))
    n = lambda x: 0.5 * (1 + erf(x / sqrt(2)))  # noqa: E731
    bs = 3000 * (n(d1) - n(d1 - 0.6 * sqrt(t)))
    assert abs(mark / WAD - bs) < 1e-6 * bs


def test_matching_partial_fills_cancels_and_flags(ex: Exchange) -> None:
    ex.fund(2, usdc=100_000 * USDC)
    maker = ex.order(0, ETH_PERP, False, 5 * ONE, 3000 * WAD)
    taker = ex.order(1, ETH_PERP, True, 2 * ONE, 3010 * WAD)
    assert ex.match(2, maker, taker, 2 * ONE).success  # price = maker's 3000
    assert ex.position(1, ETH_PERP) == (2 * ONE, 6000 * WAD)
    again = ex.match(2, maker, taker, ONE)
    maker_hash = ex.view("orderHash(" + "(address,uint32,uint32,bool,uint256,uint256,uint64,uint64,uint8))",
                         ["(address,uint32,uint32,bool,uint256,uint256,uint64,uint64,uint8)"], [order_tuple(taker[0])], ["bytes32"])[0]
    assert reverted(again, "Overfill(bytes32,uint256,uint256)", int.from_bytes(maker_hash, "big"), 2 * ONE, 2 * ONE)
    # not crossed
    low = ex.order(1, ETH_PERP, True, ONE, 2990 * WAD, nonce=1)
    assert reverted(ex.match(2, maker, low, ONE), "PriceNotCrossed(uint256,uint256)", 3000 * WAD, 2990 * WAD)
    # post-only may not take
    post = ex.order(1, ETH_PERP, True, ONE, 3010 * WAD, nonce=2, flags=FLAG_POST_ONLY)
    assert reverted(ex.match(2, maker, post, ONE), "PostOnlyTaker()")
    # reduce-only may not increase
    ro = ex.order(1, ETH_PERP, True, ONE, 3010 * WAD, nonce=3, flags=FLAG_REDUCE_ONLY)
    assert reverted(ex.match(2, maker, ro, ONE), "ReduceOnlyViolated(address,uint32)", TRADERS[1], 0)
    # cancel-all by nonce floor kills the maker order
    assert ex.ch(TRADER_KEYS[0], "cancelAll(uint32,uint64)", ["uint32", "uint64"], [0, 1]).success
    fresh = ex.order(1, ETH_PERP, True, ONE, 3010 * WAD, nonce=4)
    result = ex.match(2, maker, fresh, ONE)
    assert not result.success and result.output[:4] == selector("OrderCancelled(bytes32)")
    # self trade and wrong side
    own = ex.order(1, ETH_PERP, False, ONE, 3000 * WAD, nonce=5)
    assert reverted(ex.fill(1, *own, ONE), "SelfTrade()")
    bid1 = ex.order(0, ETH_PERP, True, ONE, 3000 * WAD, nonce=9)
    bid2 = ex.order(1, ETH_PERP, True, ONE, 3000 * WAD, nonce=9)
    assert reverted(ex.match(2, bid1, bid2, ONE), "WrongSide()")


def test_signatures_forged_replayed_expired(ex: Exchange) -> None:
    order, sig = ex.order(0, ETH_PERP, True, ONE, 3000 * WAD)
    forged = ex.order(0, ETH_PERP, True, ONE, 3000 * WAD, signer=TRADER_KEYS[3])[1]
    r = ex.fill(1, order, forged, ONE)
    assert reverted(r, "NotAuthorized(address,address)", TRADERS[3], TRADERS[0])
    s = int.from_bytes(sig[32:64], "big")
    from strikevm.finance.oracle_layout import SECP256K1_N

    high = sig[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - sig[64]])
    assert reverted(ex.fill(1, order, high, ONE), "MalleableSignature()")
    assert ex.fill(1, order, sig, ONE).success
    # replay of the same fully filled order
    replay = ex.fill(1, order, sig, ONE)
    assert not replay.success and replay.output[:4] == selector("Overfill(bytes32,uint256,uint256)")
    old = ex.order(0, ETH_PERP, True, ONE, 3000 * WAD, nonce=7, expiry=ex.now - 1)
    assert reverted(ex.fill(1, *old, ONE), "OrderExpired(uint256,uint256)", ex.now - 1, ex.now)
    huge = ex.order(0, ETH_PERP, True, 1 << 120, 3000 * WAD, nonce=8)
    assert not ex.fill(1, *huge, ONE).success
    # a delegate may sign for the owner
    assert ex.ch(TRADER_KEYS[0], "setDelegate(address,bool)", ["address", "bool"], [_a(TRADERS[4]), True]).success
    delegated = ex.order(0, ETH_PERP, True, ONE, 3000 * WAD, nonce=11, signer=TRADER_KEYS[4])
    assert ex.fill(1, *delegated, ONE).success


def test_initial_margin_blocks_risk_but_not_reduction(ex: Exchange) -> None:
    ex.fund(3, usdc=2_000 * USDC)
    big = ex.order(0, ETH_PERP, False, 100 * ONE, 3000 * WAD)
    r = ex.fill(3, *big, 40 * ONE)  # 120,000 notional: IM 2.2% = 2,640 on 2,000 collateral
    assert not r.success and r.output[:4] == selector("BelowInitialMargin(address,uint32,int256,uint256)")
    assert ex.position(3, ETH_PERP) == (0, 0)
    assert ex.fill(3, *big, 5 * ONE // 10).success
    ex.next_block()
    ex.prices(2400)  # the long is now under water but a reducing fill is always allowed
    bid = ex.order(1, ETH_PERP, False, 100 * ONE, 2400 * WAD, nonce=3)
    assert ex.position(3, ETH_PERP)[0] == 5 * ONE // 10
    sell = ex.order(3, ETH_PERP, False, ONE // 10, 2400 * WAD, nonce=1)
    r = ex.fill(0, *sell, ONE // 10)
    assert r.success, r.output.hex()
    assert bid  # unused second order keeps the book two-sided
    # withdrawals below IM are refused
    w = ex.ch(TRADER_KEYS[3], "withdraw(uint32,address,uint256)", ["uint32", "address", "uint256"], [0, _a(USDC_ADDRESS), ex.cash(3)])
    assert not w.success and w.output[:4] == selector("BelowInitialMargin(address,uint32,int256,uint256)")


def test_funding_accrues_from_fill_premium(ex: Exchange) -> None:
    ask = ex.order(0, ETH_PERP, False, 10 * ONE, 3030 * WAD)  # fills 1% above the index
    assert ex.fill(1, *ask, 10 * ONE).success
    for _ in range(30):  # 30 one-minute blocks, the oracle kept fresh
        ex.next_block(60)
        ex.prices(3000)
    events = [log for log in ex.block_logs if log.topics[0] == EV_FUNDING]
    assert events, "the begin-block step emits Funding"
    index = ex.view("getFunding(uint32)", ["uint32"], [ETH_PERP], ["int256", "int256", "uint256"])[0]
    assert index > 0  # longs pay: trades above the index
    # the long's account shows the funding debt, the short's the credit (through the pool)
    a, b = ex.account(1), ex.account(0)
    fee_taker = 30_300 * USDC * 5 // 10_000
    fee_maker = 30_300 * USDC * 2 // 10_000
    scale = 10**12
    owed_long = 10 * ONE * index // WAD
    owed_short = -10 * ONE * index // WAD
    # each touch (the risk engine's round-robin re-check touches accounts every block)
    # settles the funding accrued since the last one, rounded toward zero: at most one unit
    # of rounding per touch, and the pool receives exactly what the accounts pay
    blocks = 31
    assert abs(a["collateral"] - (100_000 * USDC - fee_taker - owed_long // scale) * scale) <= blocks * scale
    assert abs(b["collateral"] - (100_000 * USDC - fee_maker + (-owed_short) // scale) * scale) <= blocks * scale
    # independent recomputation of the funding index: EMA of a 1% premium over 30 one-minute
    # blocks (fills only in the first), F = P + clamp(0.01% - P, +-0.05%), index += F x S x dt / 8 h
    ema = expected = 0
    for block in range(30):
        sample = 10**16 if block == 0 else 0  # only the block after the fill has a VWAP
        ema += (sample - ema) * 60 // 3600
        rate = ema + max(-5 * 10**14, min(5 * 10**14, 10**14 - ema))
        expected += rate * 3000 * WAD // WAD * 60 // 28_800
    assert index == expected
    for i in (1, 0):
        ex.ch(TRADER_KEYS[2], "settleAccount(address,uint32)", ["address", "uint32"], [_a(TRADERS[i]), 0])
    paid = 100_000 * USDC - fee_taker - ex.cash(1)
    received = ex.cash(0) - (100_000 * USDC - fee_maker)
    assert abs(paid - owed_long // scale) <= blocks and abs(received - (-owed_short) // scale) <= blocks
    assert ex.ledger()["pool"] == paid - received


def test_future_and_option_settlement(ex: Exchange) -> None:
    ex.fund(2, usdc=100_000 * USDC)
    fut = ex.order(0, ETH_FUT, True, 2 * ONE, 3000 * WAD)
    assert ex.fill(1, *fut, 2 * ONE).success
    put = ex.order(2, PUT_3000, True, 3 * ONE, 100 * WAD)
    assert ex.fill(1, *put, 3 * ONE).success
    early = ex.ch(TRADER_KEYS[2], "settle(uint32)", ["uint32"], [ETH_FUT])
    assert reverted(early, "MarketNotExpired(uint32,uint256)", ETH_FUT, EXPIRY)
    # walk to expiry with the price at 2800 over the last half hour
    while ex.now < EXPIRY - 1800:
        ex.next_block(min(86_400, EXPIRY - 1800 - ex.now) or 12)
        ex.prices(2800, vol=None, rate=None)
    while ex.now < EXPIRY:
        ex.next_block(300)
        ex.prices(2800, vol=None, rate=None)
    for market in (ETH_FUT, PUT_3000):
        r = ex.ch(TRADER_KEYS[2], "settle(uint32)", ["uint32"], [market])
        assert r.success, r.output.hex()
    price = ex.view("getMarket(uint32)", ["uint32"], [PUT_3000], ["uint8", "bytes32", "uint64", "uint256", "bool", "bool", "uint8", "uint256"])[7]
    assert price == 2800 * WAD
    cash = {i: ex.cash(i) for i in range(3)}
    for i in range(3):
        assert ex.ch(TRADER_KEYS[3], "settleAccount(address,uint32)", ["address", "uint32"], [_a(TRADERS[i]), 0]).success
    # future: long 2 from 3000 settles at 2800 -> -400; the short +400
    assert ex.cash(0) - cash[0] == -400 * USDC
    # put 3000 settles 200 in the money: holder +600, writer -600
    assert ex.cash(2) - cash[2] == 600 * USDC
    assert ex.cash(1) - cash[1] == 400 * USDC - 600 * USDC
    for i in range(3):
        assert ex.account(i)["im"] == 0
    # the pool paid and received the same: it is back to its pre-settlement value
    assert ex.ledger()["pool"] == 0


def test_american_exercise_assigns_shorts_pro_rata(ex: Exchange) -> None:
    for i in (2, 3, 4):
        ex.fund(i, usdc=100_000 * USDC)
    # shorts: trader 1 writes 3, trader 2 writes 1, trader 3 writes 2; trader 0 holds 6
    for writer, size in ((1, 3), (2, 1), (3, 2)):
        bid = ex.order(0, AM_PUT_3000, True, size * ONE, 120 * WAD, nonce=writer)
        r = ex.fill(writer, *bid, size * ONE)
        assert r.success, r.output.hex()
    ex.next_block()
    ex.prices(2700)
    before = {i: ex.cash(i) for i in range(4)}
    r = ex.ch(TRADER_KEYS[0], "exercise(uint32,uint32,uint256)", ["uint32", "uint32", "uint256"], [0, AM_PUT_3000, 4 * ONE])
    assert r.success, r.output.hex()
    # 4 of 6 exercised: shares 3 -> 2, 1 -> 0.666..., 2 -> 1.333... by largest remainder
    shares = [4 * ONE * s // (6 * ONE) * ONE // ONE for s in (3 * ONE, ONE, 2 * ONE)]
    leftover = 4 * ONE - sum(shares)
    assert leftover in (0, 1, 2)
    sizes = [ex.position(i, AM_PUT_3000)[0] for i in (1, 2, 3)]
    assert sum(sizes) == -2 * ONE and ex.position(0, AM_PUT_3000)[0] == 2 * ONE
    assert sizes[0] == -ONE  # 3 short, 2 assigned
    payout = ex.cash(0) - before[0]
    paid = sum(before[i] - ex.cash(i) for i in (1, 2, 3))
    assert payout == paid > 0
    assert abs(payout - 4 * 300 * USDC) <= 3
    otm = ex.ch(TRADER_KEYS[0], "exercise(uint32,uint32,uint256)", ["uint32", "uint32", "uint256"], [0, CALL_3000, ONE])
    assert reverted(otm, "NotAmerican(uint32)", CALL_3000)


def test_portfolio_margin_mode(ex: Exchange) -> None:
    # a conversion: long 1 ETH perp, long 1 put, short 1 call (same strike): almost riskless;
    # standard margin charges the short call in full, portfolio margin sees the hedge
    ex.fund(2, usdc=100_000 * USDC)
    assert ex.fill(2, *ex.order(0, ETH_PERP, False, ONE, 3000 * WAD), ONE).success
    assert ex.fill(2, *ex.order(1, CALL_3000, True, ONE, 150 * WAD), ONE).success
    assert ex.fill(2, *ex.order(0, PUT_3000, False, ONE, 150 * WAD, nonce=1), ONE).success
    standard = ex.account(2)
    r = ex.ch(TRADER_KEYS[2], "setMarginMode(uint32,uint8)", ["uint32", "uint8"], [0, 1])
    assert r.success, r.output.hex()
    portfolio = ex.account(2)
    assert portfolio["mm"] * 2 < standard["mm"] and portfolio["im"] * 2 < standard["im"]
    assert portfolio["equity"] == standard["equity"]
    bad = ex.ch(TRADER_KEYS[2], "setMarginMode(uint32,uint8)", ["uint32", "uint8"], [0, 7])
    assert reverted(bad, "InvalidMarginMode(uint8)", 7)
    assert np.isfinite(float(portfolio["mm"]))


def test_reverted_call_changes_nothing(ex: Exchange) -> None:
    storage = dict(ex.state.accounts[CLEARINGHOUSE_ADDRESS].storage)
    big = ex.order(0, ETH_PERP, False, 10_000 * ONE, 3000 * WAD)
    assert not ex.fill(1, *big, 10_000 * ONE).success
    assert {k: v for k, v in ex.state.accounts[CLEARINGHOUSE_ADDRESS].storage.items() if v} == {k: v for k, v in storage.items() if v}


def test_admin_creates_markets(ex: Exchange) -> None:
    args = [2, (12345).to_bytes(32, "big"), EXPIRY + 86400, 0, False, False, 1, 4]
    types = ["uint8", "bytes32", "uint64", "uint256", "bool", "bool", "uint16", "uint16"]
    sig = "createMarket(uint8,bytes32,uint64,uint256,bool,bool,uint16,uint16)"
    assert reverted(ex.ch(TRADER_KEYS[0], sig, types, args), "NotAdmin(address)", TRADERS[0])
    r = ex.ch(ADMIN_KEY, sig, types, args)
    assert r.success and int.from_bytes(r.output, "big") == 5
    assert ex.view("marketCount()", [], [], ["uint32"])[0] == 6
    bad = ex.ch(ADMIN_KEY, sig, types, [9, *args[1:]])
    assert reverted(bad, "InvalidMarket()")
    _ = eth_encode


def test_off_market_reduction_cannot_move_losses(ex: Exchange) -> None:
    """Closing a position at a worthless price to one's own other subaccount is refused:
    the reducing side's health would fall, and its loss would land on the pool."""
    ex.fund(3, usdc=3_000 * USDC, sub=0)
    ex.fund(3, usdc=10_000 * USDC, sub=1)
    assert ex.fill(3, *ex.order(0, ETH_PERP, False, 10 * ONE, 3000 * WAD), 10 * ONE).success  # sub 0 long 10
    dump = ex.order(3, ETH_PERP, False, 10 * ONE, 1, sub=0, nonce=7)  # sell 10 at 1 wei
    r = ex.fill(3, *dump, 10 * ONE, taker_sub=1)
    assert not r.success and r.output[:4] == selector("BelowInitialMargin(address,uint32,int256,uint256)")
    assert ex.position(3, ETH_PERP, sub=0)[0] == 10 * ONE and ex.cash(3, sub=1) == 10_000 * USDC
    # a reduction near the mark still goes through, even below initial margin
    ex.next_block()
    ex.prices(2750)
    a = ex.account(3)
    assert a["mm"] < a["equity"] < a["im"]
    near = ex.order(3, ETH_PERP, False, 5 * ONE, 2745 * WAD, sub=0, nonce=8)
    r = ex.fill(1, *near, 5 * ONE)
    assert r.success, r.output.hex()
