"""Stateful property tests of StrikeClearinghouse, and a replay of a full scenario.

A hypothesis ``RuleBasedStateMachine`` drives an in-process exchange (``chhelpers.Exchange``)
through random sequences of deposits and withdrawals (USDC and WETH), signed orders taken
with ``fill`` and crossed with ``matchOrders`` on the perpetual, the future and the options
(European call and put, American put), partial fills, cancels and cancel-all, oracle moves
(large enough to leave accounts under water), blocks (funding accrues in the begin-block
step), oracle staleness, expiry, ``settle`` and ``settleAccount``, American exercise and
margin-mode switches. After every step:

1. **collateral conservation**, to the last unit: the USDC the clearinghouse holds (read
   through the token) equals the sum of every account's cash plus the fee and pool shards
   (read from storage); the WETH it holds equals the sum of the WETH balances;
2. **open interest is zero-sum**: the sizes of every market not yet settled sum to 0 over all
   accounts; in a settled market an account's size only moves toward 0;
3. **margin is never bypassed**: after every successful withdrawal, margin-mode switch, and
   fill that did not only reduce the side's position, the account's equity is at least its
   initial margin, both recomputed here with ``finance.margin`` from the positions read back
   (``getPosition``) at the oracle's marks (``getPrice``, ``getVolatility``, ``getRate``);
   and for every account ``getAccount`` equals that recomputation (collateral, P&L, equity,
   IM, MM), pending funding and pending settlement included;
4. **a reverted call changes nothing**: the clearinghouse's storage and both tokens' storage
   are identical before and after every failing transaction; no call ever ends in a native
   fault.

``make test`` runs ``STRIKEVM_PROPERTY_EXAMPLES`` (default 25) examples of
``STRIKEVM_PROPERTY_STEPS`` (default 30) steps; set them higher for a deeper run.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from chhelpers import (
    ADMIN,
    T0,
    TRADER_KEYS,
    TRADERS,
    USD_FEED,
    USDC,
    Exchange,
    _a,
    selector,
)
from eth_abi import encode as eth_encode
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
)
from oraclehelpers import ETH, WAD

from strikevm.finance import clearinghouse_layout as L
from strikevm.finance import margin as M
from strikevm.finance.clearinghouse import (
    DEFAULT_MARGIN,
    DEFAULT_OPTION_MARGIN,
    ClearinghouseRevert,
)
from strikevm.finance.clearinghouse_layout import (
    CLEARINGHOUSE_ADDRESS,
    FLAG_POST_ONLY,
    FLAG_REDUCE_ONLY,
    Order,
    sign_order,
)
from strikevm.finance.dev_tokens import USDC_ADDRESS, WETH_ADDRESS
from strikevm.finance.oracle_layout import ORACLE_ADDRESS
from strikevm.state.root import state_root
from strikevm.vm.host import NativeFault

EXAMPLES = int(os.environ.get("STRIKEVM_PROPERTY_EXAMPLES", "25"))
STEPS = int(os.environ.get("STRIKEVM_PROPERTY_STEPS", "30"))

ONE = WAD
SCALE = 10**12  # wad per USDC unit
E1 = T0 + 2 * 3600  # expiry of the dated markets
WINDOW = 600  # settlement TWAP window
STRIKE = 3000 * WAD
PERP_M, FUT_M, CALL_M, PUT_M, AM_PUT_M = range(5)
DATED = (FUT_M, CALL_M, PUT_M, AM_PUT_M)
OPTIONS = (CALL_M, PUT_M, AM_PUT_M)
MARKETS: list[dict[str, Any]] = [
    {"kind": 1, "underlying": "ETH/USD"},
    {"kind": 2, "underlying": "ETH/USD", "expiry": E1, "settle_window": WINDOW},
    {"kind": 3, "underlying": "ETH/USD", "expiry": E1, "strike": STRIKE, "is_call": 1, "settle_window": WINDOW},
    {"kind": 3, "underlying": "ETH/USD", "expiry": E1, "strike": STRIKE, "is_call": 0, "settle_window": WINDOW},
    {"kind": 3, "underlying": "ETH/USD", "expiry": E1, "strike": STRIKE, "is_call": 0, "american": 1,
     "settle_window": WINDOW},
]  # fmt: skip
N_TRADERS = 5  # TRADERS[5] is left alone
ACCOUNTS = [(i, sub) for i in range(N_TRADERS) for sub in (0, 1)]
INSURANCE = L.account_key(CLEARINGHOUSE_ADDRESS, L.INSURANCE_SUB)  # the liquidation engine's fund
ALL_KEYS = [L.account_key(TRADERS[i], sub) for i, sub in ACCOUNTS] + [INSURANCE]
DEPOSIT_SIG = "deposit(uint32,address,uint256)"
WITHDRAW_SIG = "withdraw(uint32,address,uint256)"
MARKET_IDS = st.sampled_from([PERP_M, PERP_M, FUT_M, CALL_M, PUT_M, AM_PUT_M, AM_PUT_M])
SIZES = st.sampled_from([ONE // 10, ONE // 2, ONE, 3 * ONE, 10 * ONE, 40 * ONE])
ODD = st.sampled_from([0, 0, 1, 999_999_999_999, 123_456_789])
OFFSETS = st.integers(-60, 60)
NONCES = st.integers(0, 9)
FLAGS = st.sampled_from([0, 0, 0, FLAG_REDUCE_ONLY, FLAG_POST_ONLY])
LIVES = st.sampled_from([3600, 3600, 3600, 24, 0])
ACCOUNT_OUT = ["int256", "int256", "int256", "uint256", "uint256", "int256"]
MARKET_OUT = ["uint8", "bytes32", "uint64", "uint256", "bool", "bool", "uint8", "uint256"]


# ------------------------------------------------------------------ recomputation


class Faults(logging.Handler):
    """Collects native faults (logged at ERROR by the host) during a run."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def oracle_marks(ex: Exchange) -> tuple[int, int, dict[int, int]] | None:
    """(spot wad, rate, {option market: vol}) from StrikeOracle, or None when the price is stale."""
    got = ex.static(ORACLE_ADDRESS, selector("getPrice(bytes32)") + ETH.to_bytes(32, "big"))
    if not got.success:
        return None
    decimals = ex.read(ORACLE_ADDRESS, "getFeed(bytes32)", ["bytes32"], [ETH.to_bytes(32, "big")], ["uint256"] * 8)[2]
    spot = int.from_bytes(got.output[:32], "big") * 10 ** (18 - decimals)
    r = ex.static(ORACLE_ADDRESS, selector("getRate(bytes32)") + USD_FEED.to_bytes(32, "big"))
    rate = int.from_bytes(r.output[:32], "big", signed=True) if r.success else 0
    vols = {}
    for m in OPTIONS:
        if E1 > ex.now:
            v = ex.static(ORACLE_ADDRESS, selector("getVolatility(bytes32,uint256,uint256)")
                          + eth_encode(["bytes32", "uint256", "uint256"], [ETH.to_bytes(32, "big"), E1, STRIKE]))  # fmt: skip
            if not v.success:
                return None
            vols[m] = int.from_bytes(v.output[:32], "big")
    return spot, rate, vols


def market_spec(ex: Exchange, m: int) -> tuple[M.MarketSpec, int, int]:
    """(MarketSpec, status, settlement price) of market ``m`` as ``getMarket`` reports it."""
    kind, underlying, expiry, strike, is_call, american, status, price = ex.read(
        CLEARINGHOUSE_ADDRESS, "getMarket(uint32)", ["uint32"], [m], MARKET_OUT)
    im_b, im_u, mm_b, mm_u = DEFAULT_MARGIN
    a, b, c, d = DEFAULT_OPTION_MARGIN
    spec = M.MarketSpec(m, kind, int.from_bytes(underlying, "big"), expiry, strike, is_call, american,
                        im_b, im_u, mm_b, mm_u, a, b, c, d)  # fmt: skip
    return spec, status, price


def recompute(ex: Exchange, i: int, sub: int, specs: dict[int, tuple[M.MarketSpec, int, int]],
              marks: tuple[int, int, dict[int, int]] | None) -> dict[str, int] | None:  # fmt: skip
    """The account's collateral, P&L, equity, IM and MM from values read back, with pending
    funding and settlement applied as the next touch would; None if it needs a stale mark."""
    owner = TRADERS[i]
    key = L.account_key(owner, sub)
    cash = ex.read(CLEARINGHOUSE_ADDRESS, "getCash(address,uint32)", ["address", "uint32"], [_a(owner), sub], ["int256"])[0]
    mode = ex.read(CLEARINGHOUSE_ADDRESS, "marginMode(address,uint32)", ["address", "uint32"], [_a(owner), sub], ["uint8"])[0]
    weth = ex.read(CLEARINGHOUSE_ADDRESS, "getCollateral(address,uint32,address)", ["address", "uint32", "address"],
                   [_a(owner), sub, _a(WETH_ADDRESS)], ["uint256"])[0]  # fmt: skip
    positions = []
    for m, (spec, status, price) in specs.items():
        size, cost = ex.read(CLEARINGHOUSE_ADDRESS, "getPosition(address,uint32,uint32)", ["address", "uint32", "uint32"],
                             [_a(owner), sub, m], ["int256", "int256"])  # fmt: skip
        if size == 0:
            continue
        if spec.kind == M.PERP:
            index = ex.read(CLEARINGHOUSE_ADDRESS, "getFunding(uint32)", ["uint32"], [m], ["int256", "int256", "uint256"])[0]
            paid = L.unpack_meta(ex.state.sload(CLEARINGHOUSE_ADDRESS, L.position_meta(key, m)))[0]
            owed = size * (index - paid) // WAD
            cash -= owed // SCALE if owed >= 0 else -((-owed) // SCALE)
        elif status == L.SETTLED:
            if spec.kind == M.FUTURE:
                pnl = size * price // WAD - cost
            else:
                intrinsic = max(price - spec.strike, 0) if spec.is_call else max(spec.strike - price, 0)
                pnl = size * intrinsic // WAD
            cash += pnl // SCALE if pnl >= 0 else -((-pnl) // SCALE)
            continue
        positions.append(M.Position(spec, size, cost))
    if marks is None:
        if positions or weth:
            return None
        marks = (1, 0, {})
    spot, rate, vols = marks
    collateral = cash * SCALE + (weth * spot // WAD) * 9000 // 10_000
    if positions:
        um = {ETH: M.UnderlyingMarks(spot, rate, {m: v for m, v in vols.items()})}
        fn = M.portfolio_margin if mode == L.PORTFOLIO else M.standard_margin
        res = fn(positions, um, ex.now)
        value, im, mm = res.value, res.im, res.mm
    else:
        value = im = mm = 0
    return {"collateral": collateral, "pnl": value, "equity": collateral + value, "im": im, "mm": mm,
            "health": collateral + value - mm}  # fmt: skip


# ------------------------------------------------------------------ the machine


class ClearinghouseMachine(RuleBasedStateMachine):
    orders = Bundle("orders")

    def __init__(self) -> None:
        super().__init__()
        self.ex = Exchange(markets=MARKETS, expiries=[E1])
        self.spot = 3000
        self.ex.prices(self.spot)
        self.last_sizes: dict[tuple[int, int], int] = {}
        self.settled: set[int] = set()
        self.faults = Faults()
        logging.getLogger("strikevm.native").addHandler(self.faults)
        self.stats: dict[str, int] = {}
        for i in range(N_TRADERS):
            for token in (USDC_ADDRESS, WETH_ADDRESS):
                data = selector("approve(address,uint256)") + eth_encode(["address", "uint256"], [_a(CLEARINGHOUSE_ADDRESS), 2**255])
                assert self.ex.send(TRADER_KEYS[i], token, data).success

    def teardown(self) -> None:
        logging.getLogger("strikevm.native").removeHandler(self.faults)
        if os.environ.get("STRIKEVM_PROPERTY_STATS"):
            with open(os.environ["STRIKEVM_PROPERTY_STATS"], "a") as out:
                out.write(repr(self.stats) + "\n")

    # ------------------------------------------------------------ plumbing
    def _snapshot(self) -> tuple[dict[int, int], ...]:
        return tuple(self.ex.storage(a) for a in (CLEARINGHOUSE_ADDRESS, USDC_ADDRESS, WETH_ADDRESS))

    def _tx(self, name: str, send: Any) -> Any:
        """Run one transaction; if it fails, nothing of the clearinghouse or the tokens moved."""
        before = self._snapshot()
        result = send()
        assert not isinstance(result.error, NativeFault), result.error
        tag = f"{name}:{'ok' if result.success else ClearinghouseRevert(result.output).name}"
        self.stats[tag] = self.stats.get(tag, 0) + 1
        if not result.success:
            assert self._snapshot() == before, f"{name} reverted but changed state"
        return result

    def _ch(self, i: int, name: str, signature: str, types: list[str], args: list[Any]) -> Any:
        return self._tx(name, lambda: self.ex.ch(TRADER_KEYS[i], signature, types, args))

    def _size(self, i: int, sub: int, m: int) -> int:
        return L.unpack_position(self.ex.state.sload(CLEARINGHOUSE_ADDRESS, L.position(L.account_key(TRADERS[i], sub), m)))[0]

    def _specs(self) -> dict[int, tuple[M.MarketSpec, int, int]]:
        return {m: market_spec(self.ex, m) for m in range(len(MARKETS))}

    def _require_im(self, i: int, sub: int, what: str) -> None:
        got = recompute(self.ex, i, sub, self._specs(), oracle_marks(self.ex))
        assert got is not None, f"{what} succeeded without usable marks"
        assert got["equity"] >= got["im"], f"{what} left ({i}, {sub}) below initial margin: {got}"

    # ------------------------------------------------------------ collateral
    @initialize(amounts=st.lists(st.sampled_from([0, 5_000, 20_000, 100_000]), min_size=len(ACCOUNTS), max_size=len(ACCOUNTS)),
                book=st.lists(st.tuples(st.sampled_from(ACCOUNTS), st.sampled_from(ACCOUNTS), st.sampled_from(range(len(MARKETS))),
                                        st.booleans(), st.integers(1, 8)), min_size=3, max_size=10))  # fmt: skip
    def seed(self, amounts: list[int], book: list[tuple[tuple[int, int], tuple[int, int], int, bool, int]]) -> None:
        """Deposits, then a few opening trades so that every run starts with open interest."""
        for (i, sub), amount in zip(ACCOUNTS, amounts, strict=True):
            if amount:
                r = self._ch(i, "deposit", DEPOSIT_SIG, ["uint32", "address", "uint256"], [sub, _a(USDC_ADDRESS), amount * USDC])
                assert r.success
        for n, (maker, taker, market, is_buy, size) in enumerate(book):
            o, sig = self._sign(maker, market, is_buy, size * ONE // 2, 0, 0, 100 + n, 0, 3600)
            self._fill(o, sig, taker, o.size)

    @rule(acct=st.sampled_from(ACCOUNTS), weth=st.booleans(), amount=st.sampled_from([1, 500, 5_000, 50_000]),
          dust=st.integers(0, 10**6))  # fmt: skip
    def deposit(self, acct: tuple[int, int], weth: bool, amount: int, dust: int) -> None:
        i, sub = acct
        value = amount * 10**15 + dust if weth else amount * USDC + dust
        token = WETH_ADDRESS if weth else USDC_ADDRESS
        self._ch(i, "deposit", DEPOSIT_SIG, ["uint32", "address", "uint256"], [sub, _a(token), value])

    @rule(acct=st.sampled_from(ACCOUNTS), weth=st.booleans(), share=st.sampled_from([1, 10, 50, 90, 100, 101]))
    def withdraw(self, acct: tuple[int, int], weth: bool, share: int) -> None:
        i, sub = acct
        key = L.account_key(TRADERS[i], sub)
        if weth:
            held = self.ex.state.sload(CLEARINGHOUSE_ADDRESS, L.balance(key, 1))
        else:
            held = max(L.signed(self.ex.state.sload(CLEARINGHOUSE_ADDRESS, L.cash(key)), 256), 0)
        amount = max(held * share // 100, 1)
        token = WETH_ADDRESS if weth else USDC_ADDRESS
        r = self._ch(i, "withdraw", WITHDRAW_SIG, ["uint32", "address", "uint256"], [sub, _a(token), amount])
        if r.success:
            self._require_im(i, sub, "withdraw")

    @rule(acct=st.sampled_from(ACCOUNTS), mode=st.sampled_from([0, 1, 1, 2]))
    def margin_mode(self, acct: tuple[int, int], mode: int) -> None:
        i, sub = acct
        r = self._ch(i, "mode", "setMarginMode(uint32,uint8)", ["uint32", "uint8"], [sub, mode])
        if r.success:
            self._require_im(i, sub, "setMarginMode")

    # ------------------------------------------------------------ orders
    def _sign(self, acct: tuple[int, int], market: int, is_buy: bool, size: int, odd: int, offset: int,
              nonce: int, flags: int, life: int) -> tuple[Order, bytes]:  # fmt: skip
        i, sub = acct
        if market in OPTIONS:
            price = (abs(offset) * 10 + 1) * WAD + odd  # premium 1..601
        else:
            price = self.spot * WAD * (1000 + offset) // 1000 + odd
        order = Order(TRADERS[i], sub, market, is_buy, size + odd, price, self.ex.now + life, nonce, flags)
        return order, sign_order(order, TRADER_KEYS[i], self.ex.env.chain_id)

    def _only_reduces(self, before: int, after: int) -> bool:
        return before != 0 and abs(after) <= abs(before) and (after == 0 or (after > 0) == (before > 0))

    def _after_trade(self, m: int, sides: list[tuple[int, int, int]], what: str) -> None:
        for i, sub, before in sides:
            if not self._only_reduces(before, self._size(i, sub, m)):
                self._require_im(i, sub, what)

    def _fill(self, o: Order, sig: bytes, taker: tuple[int, int], size: int) -> None:
        i, sub = taker
        m = o.market
        maker = (TRADERS.index(o.owner), o.subaccount)
        sides = [(*maker, self._size(*maker, m)), (i, sub, self._size(i, sub, m))]
        r = self._tx("fill", lambda: self.ex.fill(i, o, sig, size, sub))
        if r.success:
            self._after_trade(m, sides, "fill")

    def _match(self, maker: tuple[Order, bytes], taker: tuple[Order, bytes], relayer: int, size: int) -> None:
        m = maker[0].market
        accts = [(TRADERS.index(o.owner), o.subaccount) for o in (maker[0], taker[0])]
        sides = [(*a, self._size(*a, m)) for a in accts]
        r = self._tx("match", lambda: self.ex.match(relayer, maker, taker, size))
        if r.success:
            self._after_trade(m, sides, "matchOrders")

    @rule(target=orders, maker=st.sampled_from(ACCOUNTS), taker=st.sampled_from(ACCOUNTS), market=MARKET_IDS,
          is_buy=st.booleans(), size=SIZES, odd=ODD, offset=OFFSETS, nonce=NONCES, flags=FLAGS, life=LIVES,
          share=st.sampled_from([10, 50, 100, 100, 150]))  # fmt: skip
    def trade(self, maker: tuple[int, int], taker: tuple[int, int], market: int, is_buy: bool, size: int, odd: int,
              offset: int, nonce: int, flags: int, life: int, share: int) -> tuple[Order, bytes]:  # fmt: skip
        """A fresh maker order, taken at once (wholly, partly or over-filled)."""
        o, sig = self._sign(maker, market, is_buy, size, odd, offset, nonce, flags, life)
        self._fill(o, sig, taker, max(o.size * share // 100, 1))
        return o, sig

    @rule(target=orders, maker=st.sampled_from(ACCOUNTS), taker=st.sampled_from(ACCOUNTS), market=MARKET_IDS,
          is_buy=st.booleans(), size=SIZES, odd=ODD, offset=OFFSETS, spread=st.integers(-5, 20), nonce=NONCES,
          flags=FLAGS, relayer=st.integers(0, N_TRADERS - 1), share=st.sampled_from([10, 50, 100]))  # fmt: skip
    def cross(self, maker: tuple[int, int], taker: tuple[int, int], market: int, is_buy: bool, size: int, odd: int,
              offset: int, spread: int, nonce: int, flags: int, relayer: int, share: int) -> Any:  # fmt: skip
        """Two fresh orders, crossed (or not) by a relayer with matchOrders."""
        a = self._sign(maker, market, is_buy, size, odd, offset, nonce, 0, 3600)
        b = self._sign(taker, market, not is_buy, size // 2 if share == 10 else size, 0,
                       offset + (spread if not is_buy else -spread), nonce, flags, 3600)  # fmt: skip
        self._match(a, b, relayer, max(min(a[0].size, b[0].size) * share // 100, 1))
        return multiple(a, b)

    @rule(target=orders, maker=st.sampled_from(ACCOUNTS), taker=st.sampled_from(ACCOUNTS), market=MARKET_IDS,
          is_buy=st.booleans(), size=SIZES, offset=st.integers(-20, 20), nonce=NONCES)  # fmt: skip
    def trade_plain(self, maker: tuple[int, int], taker: tuple[int, int], market: int, is_buy: bool, size: int,
                    offset: int, nonce: int) -> tuple[Order, bytes]:  # fmt: skip
        """The common case, weighted up: a fresh plain order near the mark, taken whole."""
        o, sig = self._sign(maker, market, is_buy, size, 0, offset, nonce, 0, 3600)
        self._fill(o, sig, taker, o.size)
        return o, sig

    @rule(order=orders, taker=st.sampled_from(ACCOUNTS), share=st.sampled_from([10, 50, 100, 150]))
    def refill(self, order: tuple[Order, bytes], taker: tuple[int, int], share: int) -> None:
        """An order seen before, taken again (partial fills, replays, cancelled orders)."""
        self._fill(*order, taker, max(order[0].size * share // 100, 1))

    @rule(maker=orders, taker=orders, relayer=st.integers(0, N_TRADERS - 1), share=st.sampled_from([10, 50, 100]))
    def rematch(self, maker: tuple[Order, bytes], taker: tuple[Order, bytes], relayer: int, share: int) -> None:
        self._match(maker, taker, relayer, max(min(maker[0].size, taker[0].size) * share // 100, 1))

    @rule(order=orders, by_owner=st.booleans())
    def cancel(self, order: tuple[Order, bytes], by_owner: bool) -> None:
        o = order[0]
        i = TRADERS.index(o.owner) if by_owner else (TRADERS.index(o.owner) + 1) % N_TRADERS
        from chhelpers import ORDER_TUPLE, order_tuple

        self._ch(i, "cancel", f"cancelOrder({ORDER_TUPLE})", [ORDER_TUPLE], [order_tuple(o)])

    @rule(acct=st.sampled_from(ACCOUNTS), floor=st.integers(0, 3))
    def cancel_all(self, acct: tuple[int, int], floor: int) -> None:
        i, sub = acct
        self._ch(i, "cancelAll", "cancelAll(uint32,uint64)", ["uint32", "uint64"], [sub, floor])

    # ------------------------------------------------------------ oracle and time
    @rule(move=st.sampled_from([-30, -12, -5, -1, 1, 5, 12, 30]))
    def move_oracle(self, move: int) -> None:
        self.spot = max(100, self.spot * (100 + move) // 100)
        self.ex.next_block(1)  # publishers post once per timestamp
        self.ex.prices(self.spot)

    @rule(seconds=st.sampled_from([1, 12, 60, 600, 1800]), post=st.sampled_from([True, True, True, False]))
    def advance(self, seconds: int, post: bool) -> None:
        self.ex.next_block(seconds)
        if post:
            self.ex.prices(self.spot)

    @precondition(lambda self: self.ex.now < E1)
    @rule()
    def expire(self) -> None:
        """Walk to the dated markets' expiry, the oracle fresh through the settlement window."""
        for t in (E1 - WINDOW - 60, E1 - WINDOW // 2, E1):
            if self.ex.now < t:
                self.ex.next_block(t - self.ex.now)
                self.ex.prices(self.spot)

    @rule(market=st.sampled_from([PERP_M, *DATED]), relayer=st.integers(0, N_TRADERS - 1))
    def settle(self, market: int, relayer: int) -> None:
        r = self._ch(relayer, "settle", "settle(uint32)", ["uint32"], [market])
        if r.success:
            self.settled.add(market)

    @rule(acct=st.sampled_from(ACCOUNTS), relayer=st.integers(0, N_TRADERS - 1))
    def settle_account(self, acct: tuple[int, int], relayer: int) -> None:
        i, sub = acct
        self._ch(relayer, "settleAccount", "settleAccount(address,uint32)", ["address", "uint32"], [_a(TRADERS[i]), sub])

    @rule(pick=st.integers(0, len(ACCOUNTS) - 1), share=st.sampled_from([1, 33, 100, 101]),
          market=st.sampled_from([AM_PUT_M, AM_PUT_M, AM_PUT_M, PUT_M]))  # fmt: skip
    def exercise(self, pick: int, share: int, market: int) -> None:
        """A holder of the option (any account when nobody holds it) exercises part of it."""
        holders = [a for a in ACCOUNTS if self._size(*a, market) > 0] or ACCOUNTS
        i, sub = holders[pick % len(holders)]
        size = max(self._size(i, sub, market) * share // 100, 1)
        self._ch(i, "exercise", "exercise(uint32,uint32,uint256)", ["uint32", "uint32", "uint256"], [sub, market, size])

    # ------------------------------------------------------------ invariants
    @invariant()
    def no_native_fault(self) -> None:
        assert not self.faults.records, [r.getMessage() for r in self.faults.records]

    @invariant()
    def conservation(self) -> None:
        ex = self.ex
        cash = sum(L.signed(ex.state.sload(CLEARINGHOUSE_ADDRESS, L.cash(k)), 256) for k in ALL_KEYS)
        weth = sum(ex.state.sload(CLEARINGHOUSE_ADDRESS, L.balance(k, 1)) for k in ALL_KEYS)
        ledger = ex.ledger()
        assert ex.balance_of(USDC_ADDRESS, CLEARINGHOUSE_ADDRESS) == cash + ledger["fees"] + ledger["pool"]
        assert ex.balance_of(WETH_ADDRESS, CLEARINGHOUSE_ADDRESS) == weth

    @invariant()
    def open_interest(self) -> None:
        status = {m: self.ex.read(CLEARINGHOUSE_ADDRESS, "getMarket(uint32)", ["uint32"], [m], MARKET_OUT)[6]
                  for m in range(len(MARKETS))}  # fmt: skip
        for m in range(len(MARKETS)):
            sizes = {key: L.unpack_position(self.ex.state.sload(CLEARINGHOUSE_ADDRESS, L.position(key, m)))[0]
                     for key in ALL_KEYS}  # fmt: skip
            if status[m] == L.SETTLED:
                for key, size in sizes.items():
                    last = self.last_sizes.get((key, m), 0)
                    assert abs(size) <= abs(last) and size * last >= 0, (m, hex(key), last, size)
            else:
                assert sum(sizes.values()) == 0, (m, sizes)
            for key, size in sizes.items():
                self.last_sizes[(key, m)] = size

    @invariant()
    def views_match_recomputation(self) -> None:
        ex = self.ex
        specs = self._specs()
        marks = oracle_marks(ex)
        for i, sub in ACCOUNTS:
            want = recompute(ex, i, sub, specs, marks)
            got = ex.static(CLEARINGHOUSE_ADDRESS, selector("getAccount(address,uint32)")
                            + eth_encode(["address", "uint32"], [_a(TRADERS[i]), sub]))  # fmt: skip
            if want is None:
                assert not got.success and got.output[:4] == selector("OracleUnavailable(bytes32)"), (i, sub)
                continue
            assert got.success, got.output.hex()
            from eth_abi import decode as eth_decode

            names = ("collateral", "pnl", "equity", "im", "mm", "health")
            assert dict(zip(names, eth_decode(ACCOUNT_OUT, got.output), strict=True)) == want, (i, sub)


ClearinghouseMachine.TestCase.settings = settings(
    max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)  # fmt: skip
TestClearinghouseMachine = ClearinghouseMachine.TestCase


# ------------------------------------------------------------------ determinism


def full_scenario() -> Exchange:
    """Deposits, trades on every market type, oracle moves, funding over blocks, expiry,
    settlement and exercise; returns the exchange at the end."""
    from chhelpers import order_tuple  # noqa: F401  (the same helpers the tests use)

    ex = Exchange(markets=MARKETS, expiries=[E1])
    ex.prices(3000)
    for i in range(4):
        ex.fund(i, usdc=(50_000 + 1_111 * i) * USDC, weth=(i + 1) * ONE // 2)
    ex.fund(0, usdc=20_000 * USDC, sub=1)
    assert ex.fill(1, *ex.order(0, PERP_M, False, 5 * ONE, 3010 * WAD), 3 * ONE).success
    assert ex.match(3, ex.order(2, PERP_M, True, 2 * ONE, 3005 * WAD), ex.order(1, PERP_M, False, ONE, 3000 * WAD), ONE).success
    assert ex.fill(2, *ex.order(0, FUT_M, True, 2 * ONE, 3020 * WAD, nonce=1), 2 * ONE).success
    assert ex.fill(3, *ex.order(1, CALL_M, False, 3 * ONE, 90 * WAD, nonce=1), 3 * ONE).success
    assert ex.fill(2, *ex.order(3, PUT_M, True, 2 * ONE, 70 * WAD, nonce=1), 2 * ONE).success
    for writer in (0, 2):
        assert ex.fill(writer, *ex.order(1, AM_PUT_M, True, ONE + writer, 80 * WAD, nonce=2 + writer), ONE + writer).success
    assert ex.ch(TRADER_KEYS[3], "setMarginMode(uint32,uint8)", ["uint32", "uint8"], [0, 1]).success
    for k, px in enumerate((3010, 2980, 2950, 2900, 2870)):
        ex.next_block(60 + k)
        ex.prices(px)
        if k == 2:
            assert ex.fill(0, *ex.order(2, PERP_M, False, ONE, 2960 * WAD, nonce=9), ONE // 2).success
    r = ex.ch(TRADER_KEYS[1], "exercise(uint32,uint32,uint256)", ["uint32", "uint32", "uint256"], [0, AM_PUT_M, ONE])
    assert r.success, r.output.hex()
    for t in (E1 - WINDOW - 60, E1 - 300, E1):
        ex.next_block(t - ex.now)
        ex.prices(2850)
    for m in DATED:
        assert ex.ch(TRADER_KEYS[4], "settle(uint32)", ["uint32"], [m]).success
    for i in range(4):
        assert ex.ch(TRADER_KEYS[4], "settleAccount(address,uint32)", ["address", "uint32"], [_a(TRADERS[i]), 0]).success
    ex.next_block()
    ex.prices(2850)
    assert ex.ch(TRADER_KEYS[2], WITHDRAW_SIG, ["uint32", "address", "uint256"], [0, _a(USDC_ADDRESS), 1_000 * USDC]).success
    ex.next_block()
    return ex


def test_full_scenario_conserves_and_settles() -> None:
    ex = full_scenario()
    keys = [L.account_key(TRADERS[i], sub) for i in range(N_TRADERS) for sub in (0, 1)]
    cash = sum(L.signed(ex.state.sload(CLEARINGHOUSE_ADDRESS, L.cash(k)), 256) for k in keys)
    led = ex.ledger()
    assert ex.balance_of(USDC_ADDRESS, CLEARINGHOUSE_ADDRESS) == cash + led["fees"] + led["pool"]
    for m in DATED:
        assert ex.read(CLEARINGHOUSE_ADDRESS, "getMarket(uint32)", ["uint32"], [m], MARKET_OUT)[6] == L.SETTLED
        assert all(ex.position(i, m)[0] == 0 for i in range(4))
    assert led["fees"] > 0 and ADMIN


_REPLAY = """
import sys
sys.path.insert(0, {here!r})
from test_clearinghouse_properties import full_scenario
from strikevm.state.root import state_root
print(state_root(full_scenario().state).hex())
"""


def test_full_scenario_gives_the_same_root_in_other_processes() -> None:
    here = str(Path(__file__).resolve().parent)
    roots = set()
    for seed in ("0", "4242"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        out = subprocess.run([sys.executable, "-c", _REPLAY.format(here=here)], env=env,
                             capture_output=True, text=True, check=True, timeout=300)  # fmt: skip
        roots.add(out.stdout.strip().splitlines()[-1])
    assert len(roots) == 1
    assert roots == {state_root(full_scenario().state).hex()}
