"""StrikeClearinghouse: collateral, markets, signed-order trading, margin and settlement.

A native system contract at ``0x…53540003`` (storage layout: :mod:`.clearinghouse_layout`;
interface: ``contracts/IStrikeClearinghouse.sol``; docs: ``docs/clearinghouse.md``).

* **Collateral**: ERC-20 tokens registered in genesis; ``deposit`` credits then pulls with
  ``transferFrom``, ``withdraw`` debits, checks initial margin, then pushes with
  ``transfer`` (state written before every call out; the host's lock makes every entry
  point non-reentrant). The quote token (collateral 0) is the cash of the account, in its
  smallest unit, and may go negative through losses; other tokens count at their oracle
  price less a haircut.
* **Trading**: EIP-712 orders signed by the owner or a delegate; ``fill`` (the caller
  takes a maker order) and ``matchOrders`` (anyone matches two orders) at the maker's
  price; partial fills per order hash, cancels, cancel-all by nonce floor, maker/taker
  fees to a sharded fee account. After a fill each side must meet initial margin, or, if
  the fill only reduced that side's position, at least not have lowered its health
  (equity − maintenance margin): a reduction at an off-market price cannot move losses
  into the clearing pool.
* **Accounting**: perps and futures keep (size, cost); reducing realizes P&L against the
  clearing pool (sharded); options move the premium between the two sides at the fill.
  Funding accrues on a cumulative index per perp market, updated once per block by the
  begin-block step after a block with fills and otherwise at most once a minute
  (premium = EMA of the previous block's fill VWAP over the oracle index, 0 for a block
  without fills, clamped as dYdX/Hyperliquid:
  ``F = P + clamp(i - P, ±0.05%)``, ``|F| <= cap``)
  and applied lazily when an account is touched.
* **Expiry**: ``settle(market)`` after expiry fixes the oracle TWAP over the market's
  window; each account's expired positions are cash-settled against the pool when it is
  next touched (or by ``settleAccount``). American options are exercised by holders at
  the oracle price; shorts are assigned pro rata by largest remainder, in holder order.
* **Margin**: standard or portfolio (``finance.margin``), marks and vol only from
  StrikeOracle (``getPrice``, ``getVolatility``, ``getRate``) through static calls.

Gas (charged before the work; storage through the host as SLOAD/SSTORE; oracle reads as
the static calls they are): ``GAS_CALL`` per call, ``GAS_SIGNATURE`` per order signature,
``GAS_STANDARD_PER_POSITION`` per position in any margin check, plus
``GAS_PORTFOLIO_PER_PRICING`` per option revaluation a portfolio check makes (counted as if
nothing were cached: ``margin.portfolio_pricings``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from strikevm.crypto import SignatureError, ecrecover_address, keccak256
from strikevm.finance.abi import custom_error, selector
from strikevm.finance.abi import words as _words
from strikevm.vm.errors import NativeRevertError

from . import clearinghouse_layout as L
from .clearinghouse_layout import (
    CANCELLED,
    CLEARINGHOUSE_ADDRESS,
    FLAG_POST_ONLY,
    FLAG_REDUCE_ONLY,
    FUTURE,
    OPTION,
    PERP,
    PORTFOLIO,
    SETTLED,
    SIZE_LIMIT,
    STANDARD,
    WAD,
    MarketWord,
    Order,
    order_digest,
)
from .liquidation import HOOK_GAS, RiskEngine
from .oracle_layout import ORACLE_ADDRESS, SECP256K1_N

if TYPE_CHECKING:
    from strikevm.vm.host import Host

    from .margin import MarginResult, MarketSpec

GAS_CALL = 300
GAS_SIGNATURE = 3_110
GAS_STANDARD_PER_POSITION = 300
GAS_PORTFOLIO_PER_PRICING = 500  # one Black-Scholes revaluation (~2.5-4 us) in a scenario
GAS_ASSIGN_PER_SHORT = 200
MAX_POSITIONS = 128
MAX_SHORT_HOLDERS = 512
FUNDING_PERIOD = 8 * 3600  # rates are per 8 hours
FUNDING_EMA_WINDOW = 3600
FUNDING_INTERVAL = 60  # without fills, the index is updated at most once a minute
FUNDING_INTEREST = 10**14  # 0.01% per 8 h (Hyperliquid, Paradex, Aevo)
FUNDING_INTEREST_CLAMP = 5 * 10**14  # ±0.05% (Hyperliquid)
FUNDING_CAP_FACTOR = 6  # |F| <= 600% x (IM base - MM base) per 8 h (dYdX)
PREMIUM_CLAMP = 5 * 10**16  # a single block's premium sample is clamped to ±5%
_W = 32
_MASK = (1 << 256) - 1
_ADDR = (1 << 160) - 1

FUNCTIONS: dict[str, str] = {
    "deposit(uint32,address,uint256)": "_deposit",
    "withdraw(uint32,address,uint256)": "_withdraw",
    "setMarginMode(uint32,uint8)": "_set_margin_mode",
    "setDelegate(address,bool)": "_set_delegate",
    "fill((address,uint32,uint32,bool,uint256,uint256,uint64,uint64,uint8),bytes,uint256,uint32)": "_fill",
    "matchOrders((address,uint32,uint32,bool,uint256,uint256,uint64,uint64,uint8),bytes,"
    "(address,uint32,uint32,bool,uint256,uint256,uint64,uint64,uint8),bytes,uint256)": "_match",
    "cancelOrder((address,uint32,uint32,bool,uint256,uint256,uint64,uint64,uint8))": "_cancel",
    "cancelAll(uint32,uint64)": "_cancel_all",
    "settle(uint32)": "_settle",
    "settleAccount(address,uint32)": "_settle_account",
    "exercise(uint32,uint32,uint256)": "_exercise",
    "createMarket(uint8,bytes32,uint64,uint256,bool,bool,uint16,uint16)": "_create_market",
    "getAccount(address,uint32)": "_get_account",
    "getPosition(address,uint32,uint32)": "_get_position",
    "getCash(address,uint32)": "_get_cash",
    "getCollateral(address,uint32,address)": "_get_collateral",
    "getMarket(uint32)": "_get_market",
    "getFunding(uint32)": "_get_funding",
    "marketCount()": "_market_count",
    "orderFilled(bytes32)": "_order_filled",
    "orderHash((address,uint32,uint32,bool,uint256,uint256,uint64,uint64,uint8))": "_order_hash",
    "marginMode(address,uint32)": "_margin_mode",
    "feeBalance()": "_fee_balance",
    "liquidate(address,uint32,uint32,uint32,uint256)": "keeper_liquidate",
    "insuranceFund()": "_insurance_fund",
    "fundInsurance(uint256)": "_fund_insurance",
    "pendingLiquidations()": "_pending",
    "atRisk()": "_at_risk",
}

ERRORS: tuple[str, ...] = (
    "UnknownSelector(bytes4)", "MalformedCalldata()", "UnknownToken(address)",
    "UnknownMarket(uint32)", "ZeroAmount()", "AmountTooLarge(uint256)", "TransferFailed(address)",
    "InsufficientCollateral(uint256,uint256)", "BelowInitialMargin(address,uint32,int256,uint256)",
    "InvalidSignature()", "MalleableSignature()", "NotAuthorized(address,address)",
    "OrderExpired(uint256,uint256)", "OrderCancelled(bytes32)", "Overfill(bytes32,uint256,uint256)",
    "WrongSide()", "PriceNotCrossed(uint256,uint256)", "PostOnlyTaker()",
    "ReduceOnlyViolated(address,uint32)", "SelfTrade()", "MarketExpired(uint32)",
    "MarketNotExpired(uint32,uint256)", "MarketSettled(uint32)", "NotAmerican(uint32)",
    "NotInTheMoney(uint32)", "InsufficientPosition(int256,uint256)", "OracleUnavailable(bytes32)",
    "InvalidMarginMode(uint8)", "NotAdmin(address)", "InvalidMarket()",
    "NotLiquidatable(address,uint32,int256,uint256)", "DiscountTooLow(uint256,uint256)",
)  # fmt: skip


def _sig_hash(text: str) -> int:
    return int.from_bytes(keccak256(text.encode()), "big")


EV_DEPOSIT = _sig_hash("Deposit(address,uint32,address,uint256)")
EV_WITHDRAW = _sig_hash("Withdraw(address,uint32,address,uint256)")
EV_FILL = _sig_hash("Fill(uint32,bytes32,bytes32,address,address,bool,uint256,uint256)")
EV_FUNDING = _sig_hash("Funding(uint32,int256,int256,uint256)")
EV_SETTLE = _sig_hash("Settle(uint32,uint256)")
EV_EXERCISE = _sig_hash("Exercise(uint32,address,uint32,uint256,uint256)")
EV_CANCEL = _sig_hash("Cancel(bytes32)")
EV_CANCEL_ALL = _sig_hash("CancelAll(address,uint32,uint64)")
EV_MARKET = _sig_hash("MarketCreated(uint32,uint8,bytes32,uint64,uint256,bool)")
EV_MODE = _sig_hash("MarginModeChanged(address,uint32,uint8)")
EV_DELEGATE = _sig_hash("DelegateChanged(address,address,bool)")


_sel = selector
error = custom_error
"""Revert data of one of :data:`ERRORS` (arguments are words; negatives as int256)."""


ERROR_BY_SELECTOR = {_sel(s): s for s in ERRORS}


class ClearinghouseRevert(NativeRevertError):
    """A StrikeClearinghouse revert; ``data`` is the custom error, ``name`` its name."""

    errors = ERROR_BY_SELECTOR


def _word(data: bytes, i: int) -> int:
    return int.from_bytes(data[4 + _W * i : 36 + _W * i], "big")


def _ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


# ------------------------------------------------------------------- state


@dataclass
class _Position:
    market: int
    size: int
    cost: int
    funding_index: int
    list_index: int  # 1-based; 0: not in the list yet
    stored: tuple[int, int, int, int] = (0, 0, 0, 0)  # (size, cost, index, list_index) as read


@dataclass
class _Account:
    key: int
    owner: int
    sub: int
    mode: int
    cash: int
    positions: dict[int, _Position] = field(default_factory=dict)  # market -> position, list order
    order: list[int] = field(default_factory=list)  # market ids in list order
    cash_start: int = 0
    stored_count: int = 0


@dataclass
class _Market:
    m: int
    word: MarketWord
    underlying: int
    strike: int
    margin: tuple[int, int, int, int]
    option_margin: tuple[int, int, int, int]

    def spec(self) -> MarketSpec:
        from .margin import MarketSpec

        w = self.word
        return MarketSpec(
            market_id=self.m, kind=w.kind, underlying=self.underlying, expiry=w.expiry,
            strike=self.strike, is_call=w.is_call, american=w.american,
            im_base=self.margin[0], im_per_unit=self.margin[1], mm_base=self.margin[2],
            mm_per_unit=self.margin[3], opt_im_max=self.option_margin[0],
            opt_im_min=self.option_margin[1], opt_mm=self.option_margin[2],
            opt_put_mm_mark=self.option_margin[3],
        )  # fmt: skip


class _Ctx:
    """Per-call caches: markets, oracle reads, collateral table."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.now = host.block.timestamp
        self.markets: dict[int, _Market] = {}
        self.spots: dict[int, int] = {}
        self.vols: dict[int, int] = {}
        self.rate: int | None = None
        self.collaterals: list[tuple[int, int, int, int]] | None = None  # token, decimals, haircut, feed
        self.global_word: int | None = None
        self.dry = False  # a view: compute pending funding/settlement, write nothing


class StrikeClearinghouse(RiskEngine):
    """The native contract; see the module docstring (and finance.liquidation)."""

    address = CLEARINGHOUSE_ADDRESS
    name = "StrikeClearinghouse"
    payable = False
    delegatable = False
    base_gas = GAS_CALL
    revert_type = ClearinghouseRevert
    end_block_gas = HOOK_GAS  # the liquidation pass (finance.liquidation)

    def __init__(self) -> None:
        self._handlers: dict[bytes, tuple[Callable[[Host, bytes], bytes], int]] = {}
        for signature, attr in FUNCTIONS.items():
            self._handlers[_sel(signature)] = (getattr(self, attr), _head_words(signature))

    def __call__(self, host: Host) -> bytes:
        host.charge(GAS_CALL)
        data = host.data
        entry = self._handlers.get(bytes(data[:4]))
        if entry is None:
            if len(data) < 4:
                host.revert(error("MalformedCalldata()"))
            host.revert(_sel("UnknownSelector(bytes4)") + bytes(data[:4]) + bytes(28))
        handler, words = entry
        if len(data) < 4 + _W * words:
            host.revert(error("MalformedCalldata()"))
        return handler(host, data)

    # =============================================================== reading
    def _global(self, ctx: _Ctx) -> tuple[int, int, int]:
        if ctx.global_word is None:
            ctx.global_word = ctx.host.sload(L.GLOBAL)
        w = ctx.global_word
        return w & _ADDR, w >> 160 & 0xFFFFFFFF, w >> 192 & 0xFFFF

    def _collaterals(self, ctx: _Ctx) -> list[tuple[int, int, int, int]]:
        if ctx.collaterals is None:
            host = ctx.host
            count = self._global(ctx)[2]
            out = []
            for i in range(count):
                w = host.sload(L.collateral(i))
                out.append((w & _ADDR, w >> 160 & 0xFF, w >> 168 & 0xFFFF, host.sload(L.collateral_feed(i))))
            ctx.collaterals = out
        return ctx.collaterals

    def _token(self, ctx: _Ctx, token: int) -> int:
        index = ctx.host.sload(L.token_index(token))
        if index == 0 or token > _ADDR:
            ctx.host.revert(error("UnknownToken(address)", token))
        return index - 1

    def _market(self, ctx: _Ctx, m: int) -> _Market:
        found = ctx.markets.get(m)
        if found is None:
            host = ctx.host
            if m >= self._global(ctx)[1]:
                host.revert(error("UnknownMarket(uint32)", m))
            word = MarketWord.unpack(host.sload(L.market(m)))
            found = _Market(
                m, word, host.sload(L.market_underlying(m)), host.sload(L.market_strike(m)),
                L.unpack4(host.sload(L.market_margin(m))),
                L.unpack4(host.sload(L.market_option_margin(m))),
            )  # fmt: skip
            ctx.markets[m] = found
        return found

    def _load(self, ctx: _Ctx, owner: int, sub: int) -> _Account:
        host = ctx.host
        key = L.account_key(owner, sub)
        _, _, mode, count = L.unpack_account(host.sload(L.account(key)))
        acct = _Account(key, owner, sub, mode, L.signed(host.sload(L.cash(key)), 256))
        acct.cash_start = acct.cash
        acct.stored_count = count
        for k in range(count):
            m = host.sload(L.position_at(key, k))
            size, cost = L.unpack_position(host.sload(L.position(key, m)))
            index, list_index = L.unpack_meta(host.sload(L.position_meta(key, m)))
            acct.positions[m] = _Position(m, size, cost, index, list_index, (size, cost, index, list_index))
            acct.order.append(m)
        return acct

    # =============================================================== writing
    def _store(self, ctx: _Ctx, acct: _Account) -> None:
        """Write what changed: positions (the list compacted in order), count, cash."""
        host = ctx.host
        key = acct.key
        live = [m for m in acct.order if acct.positions[m].size != 0]
        for k, m in enumerate(live):
            p = acct.positions[m]
            if p.list_index != k + 1:
                host.sstore(L.position_at(key, k), m)
                p.list_index = k + 1
        for k in range(len(live), acct.stored_count):
            host.sstore(L.position_at(key, k), 0)
        for m in acct.order:
            p = acct.positions[m]
            if p.size == 0:
                p.list_index = p.funding_index = p.cost = 0
            now = (p.size, p.cost, p.funding_index, p.list_index)
            if now != p.stored:
                if now[:2] != p.stored[:2]:
                    host.sstore(L.position(key, m), L.pack_position(p.size, p.cost))
                if now[2:] != p.stored[2:]:
                    host.sstore(L.position_meta(key, m), L.pack_meta(p.funding_index, p.list_index))
                p.stored = now
        acct.order = live
        acct.positions = {m: acct.positions[m] for m in live}
        host.sstore(L.account(key), L.pack_account(acct.owner, acct.sub, acct.mode, len(live)))
        acct.stored_count = len(live)
        if acct.cash != acct.cash_start:
            host.sstore(L.cash(key), acct.cash & _MASK)
            acct.cash_start = acct.cash

    def _pool(self, ctx: _Ctx, acct: _Account, amount: int) -> None:
        """Move ``amount`` quote units from the account to the clearing pool (signed)."""
        if amount:
            acct.cash -= amount
            if ctx.dry:
                return
            ctx.host.accumulate(L.pool(L.shard_of(acct.key)), amount)

    def _quote_scale(self, ctx: _Ctx) -> int:
        return 10 ** (18 - self._collaterals(ctx)[0][1])

    # ================================================================ oracle
    def _oracle(self, ctx: _Ctx, signature: str, *args: int) -> list[int] | None:
        data = _sel(signature) + _words(*args)
        outcome = ctx.host.staticcall(ORACLE_ADDRESS, data)
        if not outcome.success:
            return None
        out = outcome.output
        return [int.from_bytes(out[i : i + 32], "big") for i in range(0, len(out), 32)]

    def _spot(self, ctx: _Ctx, feed: int) -> int:
        found = ctx.spots.get(feed)
        if found is None:
            got = self._oracle(ctx, "getPriceWad(bytes32)", feed)
            if got is None:
                ctx.host.revert(error("OracleUnavailable(bytes32)", feed))
            found = got[0]
            ctx.spots[feed] = found
        return found

    def _rate(self, ctx: _Ctx) -> int:
        if ctx.rate is None:
            feed = ctx.host.sload(L.RATE_FEED)
            got = self._oracle(ctx, "getRate(bytes32)", feed) if feed else None
            ctx.rate = L.signed(got[0], 256) if got else 0
        return ctx.rate

    def _vol(self, ctx: _Ctx, mk: _Market) -> int:
        found = ctx.vols.get(mk.m)
        if found is None:
            got = self._oracle(ctx, "getVolatility(bytes32,uint256,uint256)", mk.underlying, mk.word.expiry, mk.strike)
            if got is None:
                ctx.host.revert(error("OracleUnavailable(bytes32)", mk.underlying))
            found = ctx.vols[mk.m] = got[0]
        return found

    # ================================================================ margin
    def _margin(self, ctx: _Ctx, acct: _Account) -> tuple[int, MarginResult]:
        """(collateral value in wad, margin result) of the account at oracle marks."""
        from .margin import Position, UnderlyingMarks, portfolio_margin, standard_margin

        host = ctx.host
        scale = self._quote_scale(ctx)
        collateral_value = acct.cash * scale
        for i, (_, decimals, haircut, feed) in enumerate(self._collaterals(ctx)[1:], start=1):
            amount = host.sload(L.balance(acct.key, i))
            if amount:
                price = self._spot(ctx, feed) if feed else WAD
                value = amount * price // 10**decimals
                collateral_value += value * (10_000 - haircut) // 10_000
        positions = []
        vols: dict[int, dict[int, int]] = {}
        for m in acct.order:
            p = acct.positions[m]
            if p.size == 0:
                continue
            mk = self._market(ctx, m)
            positions.append(Position(mk.spec(), p.size, p.cost))
            self._spot(ctx, mk.underlying)
            if mk.word.kind == OPTION:
                vols.setdefault(mk.underlying, {})[m] = self._vol(ctx, mk) if mk.word.expiry > ctx.now else 0
        rate = self._rate(ctx) if positions else 0
        marks = {
            feed: UnderlyingMarks(spot=ctx.spots[feed], rate=rate, vols=vols.get(feed, {}))
            for feed in sorted({p.market.underlying for p in positions})
        }
        host.charge(GAS_STANDARD_PER_POSITION * len(positions))
        if acct.mode == PORTFOLIO:
            from .margin import portfolio_pricings

            host.charge(GAS_PORTFOLIO_PER_PRICING * portfolio_pricings(positions))
            result = portfolio_margin(positions, marks, ctx.now)
        else:
            result = standard_margin(positions, marks, ctx.now)
        return collateral_value, result

    def _require_im(self, ctx: _Ctx, acct: _Account) -> int:
        """Revert unless equity >= IM; return the health (equity - MM) it computed."""
        collateral_value, result = self._margin(ctx, acct)
        equity = collateral_value + result.value
        if equity < result.im:
            ctx.host.revert(error("BelowInitialMargin(address,uint32,int256,uint256)",
                                  acct.owner, acct.sub, equity, result.im))  # fmt: skip
        return equity - result.mm

    # ================================================================= touch
    def _touch(self, ctx: _Ctx, acct: _Account) -> None:
        """Apply accrued funding and the cash settlement of settled markets."""
        host = ctx.host
        scale = self._quote_scale(ctx)
        for m in list(acct.order):
            p = acct.positions[m]
            if p.size == 0:
                continue
            mk = self._market(ctx, m)
            kind = mk.word.kind
            if kind == PERP:
                index = L.unpack_funding(host.sload(L.funding(m)))[0]
                if index != p.funding_index:
                    owed = p.size * (index - p.funding_index) // WAD  # wad quote: longs pay rising index
                    self._pool(ctx, acct, owed // scale if owed >= 0 else -((-owed) // scale))
                    p.funding_index = index
            elif mk.word.status == SETTLED:
                price = host.sload(L.market_settlement(m))
                if kind == FUTURE:
                    pnl = p.size * price // WAD - p.cost
                else:
                    intrinsic = max(price - mk.strike, 0) if mk.word.is_call else max(mk.strike - price, 0)
                    pnl = p.size * intrinsic // WAD
                self._pool(ctx, acct, -(pnl // scale) if pnl >= 0 else (-pnl) // scale)
                self._set_size(ctx, acct, mk, p, 0, 0)

    def _set_size(self, ctx: _Ctx, acct: _Account, mk: _Market, p: _Position, size: int, cost: int) -> None:
        """Change a position, keeping the holder lists (every market; shorts of American options)."""
        if (p.size == 0) != (size == 0) and not ctx.dry:
            m = mk.m
            sh = L.index_shard_of(acct.key)
            self._list_update(ctx, L.holder_count(m, sh), lambda i: L.holder_at(m, sh, i),
                              lambda a: L.holder_index(m, a), acct.key, size != 0)  # fmt: skip
        if mk.word.american and mk.word.kind == OPTION and not ctx.dry:
            was_short, is_short = p.size < 0, size < 0
            if was_short != is_short:
                host = ctx.host
                m = mk.m
                if is_short:
                    count = host.sload(L.short_count(m))
                    if count >= MAX_SHORT_HOLDERS:
                        host.revert(error("InvalidMarket()"))
                    host.sstore(L.short_at(m, count), acct.key)
                    host.sstore(L.short_index(m, acct.key), count + 1)
                    host.sstore(L.short_count(m), count + 1)
                else:
                    count = host.sload(L.short_count(m))
                    at = host.sload(L.short_index(m, acct.key)) - 1
                    last = host.sload(L.short_at(m, count - 1))
                    if at != count - 1:
                        host.sstore(L.short_at(m, at), last)
                        host.sstore(L.short_index(m, last), at + 1)
                    host.sstore(L.short_at(m, count - 1), 0)
                    host.sstore(L.short_index(m, acct.key), 0)
                    host.sstore(L.short_count(m), count - 1)
        p.size = size
        p.cost = cost

    @staticmethod
    def _list_update(
        ctx: _Ctx, count_slot: int, item_slot: Callable[[int], int], index_of: Callable[[int], int],
        key: int, add: bool,
    ) -> None:  # fmt: skip
        """Add ``key`` to (or swap-remove it from) a storage list with an index map."""
        host = ctx.host
        count = host.sload(count_slot)
        if add:
            host.sstore(item_slot(count), key)
            host.sstore(index_of(key), count + 1)
            host.sstore(count_slot, count + 1)
            return
        at = host.sload(index_of(key)) - 1
        if at < 0:
            return
        last_key = host.sload(item_slot(count - 1))
        if at != count - 1:
            host.sstore(item_slot(at), last_key)
            host.sstore(index_of(last_key), at + 1)
        host.sstore(item_slot(count - 1), 0)
        host.sstore(index_of(key), 0)
        host.sstore(count_slot, count - 1)

    def _position(self, ctx: _Ctx, acct: _Account, mk: _Market) -> _Position:
        p = acct.positions.get(mk.m)
        if p is None:
            if len(acct.order) >= MAX_POSITIONS:
                ctx.host.revert(error("InvalidMarket()"))
            index = L.unpack_funding(ctx.host.sload(L.funding(mk.m)))[0] if mk.word.kind == PERP else 0
            p = acct.positions[mk.m] = _Position(mk.m, 0, 0, index, 0)
            acct.order.append(mk.m)
        return p

    def _trade(self, ctx: _Ctx, acct: _Account, mk: _Market, qty: int, price: int) -> None:
        """Apply a signed trade ``qty`` at ``price`` to the account's position."""
        p = self._position(ctx, acct, mk)
        size, cost = p.size, p.cost
        if mk.word.kind == OPTION:
            self._set_size(ctx, acct, mk, p, size + qty, 0)
            return
        scale = self._quote_scale(ctx)
        if size == 0 or (size > 0) == (qty > 0):
            self._set_size(ctx, acct, mk, p, size + qty, cost + qty * price // WAD)
            return
        closing = min(abs(qty), abs(size))
        closed_cost = cost * closing // abs(size) if cost >= 0 else -((-cost) * closing // abs(size))
        direction = 1 if size > 0 else -1
        realized = direction * closing * price // WAD - closed_cost
        self._pool(ctx, acct, -(realized // scale) if realized >= 0 else (-realized) // scale)
        new_size = size + qty
        new_cost = cost - closed_cost
        if abs(qty) > closing:  # flipped: the rest opens at this price
            rest = qty + direction * closing
            new_cost = rest * price // WAD
        self._set_size(ctx, acct, mk, p, new_size, new_cost)

    # ================================================================ orders
    def _decode_order(self, data: bytes, at: int) -> Order:
        w = [_word(data, at + i) for i in range(9)]
        if w[0] > _ADDR or w[1] > 0xFFFFFFFF or w[2] > 0xFFFFFFFF or w[3] > 1 or w[6] >> 64 or w[7] >> 64 or w[8] > 0xFF:
            raise ValueError("order field out of range")
        return Order(w[0], w[1], w[2], bool(w[3]), w[4], w[5], w[6], w[7], w[8])

    def _bytes_at(self, data: bytes, head_word: int) -> bytes:
        offset = _word(data, head_word)
        at = 4 + offset
        if offset > len(data) or at + _W > len(data):
            raise ValueError("bad offset")
        size = int.from_bytes(data[at : at + _W], "big")
        if size > len(data) - at - _W:
            raise ValueError("bad length")
        return bytes(data[at + _W : at + _W + size])

    def _check_order(self, ctx: _Ctx, order: Order, signature: bytes) -> int:
        """Verify signature, expiry, nonce floor; return the order hash (as int)."""
        host = ctx.host
        host.charge(GAS_SIGNATURE)
        digest = order_digest(order, host.block.chain_id, host.address)
        if len(signature) != 65:
            host.revert(error("InvalidSignature()"))
        r = int.from_bytes(signature[:32], "big")
        s = int.from_bytes(signature[32:64], "big")
        v = signature[64] - 27 if signature[64] >= 27 else signature[64]
        if v not in (0, 1) or not 0 < r < SECP256K1_N or not 0 < s < SECP256K1_N:
            host.revert(error("InvalidSignature()"))
        if s > SECP256K1_N // 2:
            host.revert(error("MalleableSignature()"))
        try:
            signer = int.from_bytes(ecrecover_address(digest, v, r, s), "big")
        except SignatureError:
            host.revert(error("InvalidSignature()"))
        if signer != order.owner and not host.sload(L.delegate(order.owner, signer)):
            host.revert(error("NotAuthorized(address,address)", signer, order.owner))
        order_hash = int.from_bytes(digest, "big")
        if order.expiry < ctx.now:
            host.revert(error("OrderExpired(uint256,uint256)", order.expiry, ctx.now))
        if order.nonce < host.sload(L.nonce_floor(order.owner, order.subaccount)):
            host.revert(error("OrderCancelled(bytes32)", order_hash))
        if not 0 < order.size < SIZE_LIMIT or order.limit_price >= SIZE_LIMIT:
            host.revert(error("AmountTooLarge(uint256)", max(order.size, order.limit_price)))
        return order_hash

    def _consume(self, ctx: _Ctx, order: Order, order_hash: int, size: int) -> None:
        host = ctx.host
        slot = L.filled(order_hash)
        done = host.sload(slot)
        if done == CANCELLED:
            host.revert(error("OrderCancelled(bytes32)", order_hash))
        if done + size > order.size:
            host.revert(error("Overfill(bytes32,uint256,uint256)", order_hash, done, order.size))
        host.sstore(slot, done + size)

    def _execute(
        self, ctx: _Ctx, maker: Order, maker_hash: int, taker_owner: int, taker_sub: int,
        taker_is_buy: bool, taker_hash: int, taker_flags: int, size: int,
    ) -> None:  # fmt: skip
        host = ctx.host
        if size == 0:
            host.revert(error("ZeroAmount()"))
        if size >= SIZE_LIMIT:
            host.revert(error("AmountTooLarge(uint256)", size))
        if taker_is_buy == maker.is_buy:
            host.revert(error("WrongSide()"))
        if maker.owner == taker_owner and maker.subaccount == taker_sub:
            host.revert(error("SelfTrade()"))
        if taker_flags & FLAG_POST_ONLY:
            host.revert(error("PostOnlyTaker()"))
        mk = self._market(ctx, maker.market)
        if mk.word.status == SETTLED:
            host.revert(error("MarketSettled(uint32)", mk.m))
        if mk.word.kind != PERP and mk.word.expiry <= ctx.now:
            host.revert(error("MarketExpired(uint32)", mk.m))
        price = maker.limit_price
        if price == 0:
            host.revert(error("ZeroAmount()"))
        self._consume(ctx, maker, maker_hash, size)
        maker_acct = self._load(ctx, maker.owner, maker.subaccount)
        taker_acct = self._load(ctx, taker_owner, taker_sub)
        self._touch(ctx, maker_acct)
        self._touch(ctx, taker_acct)
        sides = ((maker_acct, maker.is_buy, maker.flags), (taker_acct, taker_is_buy, taker_flags))
        reducing: list[int | None] = []  # health before the fill of a side that only reduces
        for acct, is_buy, flags in sides:
            before = acct.positions[mk.m].size if mk.m in acct.positions else 0
            qty = size if is_buy else -size
            after = before + qty
            only_reduces = before != 0 and abs(after) <= abs(before) and (after == 0 or (after > 0) == (before > 0))
            if flags & FLAG_REDUCE_ONLY and not only_reduces:
                host.revert(error("ReduceOnlyViolated(address,uint32)", acct.owner, acct.sub))
            if only_reduces:
                equity, _, mm = self._health(ctx, acct)
                reducing.append(equity - mm)
            else:
                reducing.append(None)
        for (acct, is_buy, _), _ in zip(sides, reducing, strict=True):
            self._trade(ctx, acct, mk, size if is_buy else -size, price)
        # option premium: buyer pays seller, one integer amount
        scale = self._quote_scale(ctx)
        if mk.word.kind == OPTION:
            premium = size * price // WAD // scale
            buyer, seller = (maker_acct, taker_acct) if maker.is_buy else (taker_acct, maker_acct)
            buyer.cash -= premium
            seller.cash += premium
        # fees on notional (premium notional for options), to the sharded fee account
        notional = size * price // WAD
        fee_total = 0
        for acct, bps in ((maker_acct, mk.word.maker_fee_bps), (taker_acct, mk.word.taker_fee_bps)):
            amount = notional * bps // 10_000 // scale
            acct.cash -= amount
            fee_total += amount
        if fee_total:
            host.accumulate(L.fee(L.index_shard_of(taker_acct.key)), fee_total)
        if mk.word.kind == PERP:  # this block's fill VWAP, for the next block's funding step
            host.accumulate(L.fill_size(mk.m, host.block.number), size)
            host.accumulate(L.fill_notional(mk.m, host.block.number), notional)
        self._store(ctx, maker_acct)
        self._store(ctx, taker_acct)
        for acct, health_before in zip((maker_acct, taker_acct), reducing, strict=True):
            if health_before is None:
                health = self._require_im(ctx, acct)
            else:
                # a side that only reduces may stay below initial margin, but never at the
                # cost of its health (equity - maintenance): an off-market price that would
                # hand its losses to the clearing pool is refused
                collateral_value, result = self._margin(ctx, acct)
                equity = collateral_value + result.value
                if equity < result.im and equity - result.mm < health_before:
                    host.revert(error("BelowInitialMargin(address,uint32,int256,uint256)",
                                      acct.owner, acct.sub, equity, result.im))  # fmt: skip
                health = equity - result.mm
            self._register(ctx, acct, health)
        host.emit(
            [EV_FILL, mk.m, maker_hash, taker_hash],
            _words(maker.owner, taker_owner, int(taker_is_buy), size, price),
        )

    def _fill(self, host: Host, data: bytes) -> bytes:
        ctx = _Ctx(host)
        try:
            order = self._decode_order(data, 0)
            signature = self._bytes_at(data, 9)
        except ValueError:
            host.revert(error("MalformedCalldata()"))
        size, taker_sub = _word(data, 10), _word(data, 11)
        if taker_sub > 0xFFFFFFFF:
            host.revert(error("MalformedCalldata()"))
        order_hash = self._check_order(ctx, order, signature)
        self._execute(ctx, order, order_hash, host.caller, taker_sub, not order.is_buy, 0, 0, size)
        return b""

    def _match(self, host: Host, data: bytes) -> bytes:
        ctx = _Ctx(host)
        try:
            maker = self._decode_order(data, 0)
            maker_sig = self._bytes_at(data, 9)
            taker = self._decode_order(data, 10)
            taker_sig = self._bytes_at(data, 19)
        except ValueError:
            host.revert(error("MalformedCalldata()"))
        size = _word(data, 20)
        maker_hash = self._check_order(ctx, maker, maker_sig)
        taker_hash = self._check_order(ctx, taker, taker_sig)
        if taker.market != maker.market:
            host.revert(error("InvalidMarket()"))
        crossed = maker.limit_price <= taker.limit_price if taker.is_buy else maker.limit_price >= taker.limit_price
        if not crossed:
            host.revert(error("PriceNotCrossed(uint256,uint256)", maker.limit_price, taker.limit_price))
        self._consume(ctx, taker, taker_hash, size)
        self._execute(ctx, maker, maker_hash, taker.owner, taker.subaccount, taker.is_buy, taker_hash, taker.flags, size)
        return b""

    def _cancel(self, host: Host, data: bytes) -> bytes:
        try:
            order = self._decode_order(data, 0)
        except ValueError:
            host.revert(error("MalformedCalldata()"))
        caller = host.caller
        if caller != order.owner and not host.sload(L.delegate(order.owner, caller)):
            host.revert(error("NotAuthorized(address,address)", caller, order.owner))
        order_hash = int.from_bytes(order_digest(order, host.block.chain_id, host.address), "big")
        host.sstore(L.filled(order_hash), CANCELLED)
        host.emit([EV_CANCEL, order_hash])
        return b""

    def _cancel_all(self, host: Host, data: bytes) -> bytes:
        sub, floor = _word(data, 0), _word(data, 1)
        if sub > 0xFFFFFFFF or floor >> 64:
            host.revert(error("MalformedCalldata()"))
        slot = L.nonce_floor(host.caller, sub)
        if floor > host.sload(slot):
            host.sstore(slot, floor)
        host.emit([EV_CANCEL_ALL, host.caller, sub], _words(floor))
        return b""

    # ============================================================ collateral
    def _deposit(self, host: Host, data: bytes) -> bytes:
        ctx = _Ctx(host)
        sub, token, amount = _word(data, 0), _word(data, 1), _word(data, 2)
        if sub > 0xFFFFFFFF:
            host.revert(error("MalformedCalldata()"))
        index = self._token(ctx, token)
        if amount == 0:
            host.revert(error("ZeroAmount()"))
        if amount >= SIZE_LIMIT:
            host.revert(error("AmountTooLarge(uint256)", amount))
        acct = self._load(ctx, host.caller, sub)
        self._touch(ctx, acct)
        if index == 0:
            acct.cash += amount
        else:
            slot = L.balance(acct.key, index)
            host.sstore(slot, host.sload(slot) + amount)
        self._store(ctx, acct)
        self._register(ctx, acct)
        pull = _sel("transferFrom(address,address,uint256)") + _words(host.caller, host.address, amount)
        self._token_call(host, token, pull)
        host.emit([EV_DEPOSIT, host.caller, sub, token], _words(amount))
        return b""

    def _withdraw(self, host: Host, data: bytes) -> bytes:
        ctx = _Ctx(host)
        sub, token, amount = _word(data, 0), _word(data, 1), _word(data, 2)
        if sub > 0xFFFFFFFF:
            host.revert(error("MalformedCalldata()"))
        index = self._token(ctx, token)
        if amount == 0:
            host.revert(error("ZeroAmount()"))
        acct = self._load(ctx, host.caller, sub)
        self._touch(ctx, acct)
        if index == 0:
            available = max(acct.cash, 0)
            if amount > available:
                host.revert(error("InsufficientCollateral(uint256,uint256)", available, amount))
            acct.cash -= amount
        else:
            slot = L.balance(acct.key, index)
            available = host.sload(slot)
            if amount > available:
                host.revert(error("InsufficientCollateral(uint256,uint256)", available, amount))
            host.sstore(slot, available - amount)
        self._store(ctx, acct)
        self._register(ctx, acct, self._require_im(ctx, acct))
        push = _sel("transfer(address,uint256)") + _words(host.caller, amount)
        self._token_call(host, token, push)
        host.emit([EV_WITHDRAW, host.caller, sub, token], _words(amount))
        return b""

    @staticmethod
    def _token_call(host: Host, token: int, data: bytes) -> None:
        outcome = host.call(token, data)
        out = outcome.output
        if not outcome.success or (out and (len(out) < 32 or int.from_bytes(out[:32], "big") != 1)):
            host.revert(error("TransferFailed(address)", token))

    def _set_margin_mode(self, host: Host, data: bytes) -> bytes:
        ctx = _Ctx(host)
        sub, mode = _word(data, 0), _word(data, 1)
        if sub > 0xFFFFFFFF:
            host.revert(error("MalformedCalldata()"))
        if mode not in (STANDARD, PORTFOLIO):
            host.revert(error("InvalidMarginMode(uint8)", mode))
        acct = self._load(ctx, host.caller, sub)
        self._touch(ctx, acct)
        acct.mode = mode
        self._store(ctx, acct)
        self._register(ctx, acct, self._require_im(ctx, acct))
        host.emit([EV_MODE, host.caller, sub], _words(mode))
        return b""

    def _set_delegate(self, host: Host, data: bytes) -> bytes:
        who, allowed = _word(data, 0), _word(data, 1)
        if who > _ADDR or allowed > 1:
            host.revert(error("MalformedCalldata()"))
        host.sstore(L.delegate(host.caller, who), allowed)
        host.emit([EV_DELEGATE, host.caller, who], _words(allowed))
        return b""

    # ================================================================ expiry
    def _settle(self, host: Host, data: bytes) -> bytes:
        ctx = _Ctx(host)
        m = _word(data, 0)
        mk = self._market(ctx, m)
        if mk.word.kind == PERP:
            host.revert(error("InvalidMarket()"))
        if mk.word.status == SETTLED:
            host.revert(error("MarketSettled(uint32)", m))
        if ctx.now < mk.word.expiry:
            host.revert(error("MarketNotExpired(uint32,uint256)", m, mk.word.expiry))
        start = mk.word.expiry - mk.word.settle_window
        got = self._oracle(ctx, "getTwapBetween(bytes32,uint256,uint256)", mk.underlying, start, mk.word.expiry)
        cfg = self._oracle(ctx, "getFeed(bytes32)", mk.underlying)
        if got is None or cfg is None:
            host.revert(error("OracleUnavailable(bytes32)", mk.underlying))
        price = got[0] * 10 ** (18 - cfg[2])
        host.sstore(L.market_settlement(m), price)
        word = MarketWord(**{**_fields(mk.word), "status": SETTLED})
        host.sstore(L.market(m), word.pack())
        host.emit([EV_SETTLE, m], _words(price))
        return b""

    def _settle_account(self, host: Host, data: bytes) -> bytes:
        ctx = _Ctx(host)
        owner, sub = _word(data, 0), _word(data, 1)
        if owner > _ADDR or sub > 0xFFFFFFFF:
            host.revert(error("MalformedCalldata()"))
        acct = self._load(ctx, owner, sub)
        self._touch(ctx, acct)
        self._store(ctx, acct)
        self._register(ctx, acct)
        return b""

    def _exercise(self, host: Host, data: bytes) -> bytes:
        ctx = _Ctx(host)
        sub, m, size = _word(data, 0), _word(data, 1), _word(data, 2)
        if sub > 0xFFFFFFFF:
            host.revert(error("MalformedCalldata()"))
        mk = self._market(ctx, m)
        if mk.word.kind != OPTION or not mk.word.american:
            host.revert(error("NotAmerican(uint32)", m))
        if mk.word.expiry <= ctx.now or mk.word.status == SETTLED:
            host.revert(error("MarketExpired(uint32)", m))
        if size == 0:
            host.revert(error("ZeroAmount()"))
        holder = self._load(ctx, host.caller, sub)
        self._touch(ctx, holder)
        p = holder.positions.get(m)
        held = p.size if p is not None else 0
        if held < size:
            host.revert(error("InsufficientPosition(int256,uint256)", held, size))
        spot = self._spot(ctx, mk.underlying)
        intrinsic = max(spot - mk.strike, 0) if mk.word.is_call else max(mk.strike - spot, 0)
        if intrinsic == 0:
            host.revert(error("NotInTheMoney(uint32)", m))
        scale = self._quote_scale(ctx)
        # shorts, in holder order, and their sizes
        count = host.sload(L.short_count(m))
        host.charge(GAS_ASSIGN_PER_SHORT * count)
        keys = [host.sload(L.short_at(m, i)) for i in range(count)]
        shorts: list[tuple[int, int]] = []
        total_short = 0
        for key in keys:
            size_k = L.unpack_position(host.sload(L.position(key, m)))[0]
            shorts.append((key, -size_k))
            total_short += -size_k
        # largest-remainder pro-rata assignment of `size` over the shorts
        shares = [size * s // total_short for _, s in shorts]
        remainders = sorted(range(count), key=lambda i: (-(size * shorts[i][1] % total_short), i))
        for i in remainders[: size - sum(shares)]:
            shares[i] += 1
        payout_total = 0
        self._set_size(ctx, holder, mk, p, held - size, 0)  # type: ignore[arg-type]
        for (key, _), share in zip(shorts, shares, strict=True):
            if share == 0:
                continue
            owner, short_sub, _, _ = L.unpack_account(host.sload(L.account(key)))
            short = self._load(ctx, owner, short_sub)
            self._touch(ctx, short)
            sp = short.positions[m]
            self._set_size(ctx, short, mk, sp, sp.size + share, 0)
            pay = share * intrinsic // WAD // scale
            short.cash -= pay
            payout_total += pay
            self._store(ctx, short)
            self._register(ctx, short)
        holder.cash += payout_total
        self._store(ctx, holder)
        self._register(ctx, holder)
        host.emit([EV_EXERCISE, m, host.caller], _words(sub, size, payout_total))
        return _words(payout_total)

    # ========================================================== block step
    def begin_block(self, host: Host) -> bytes:
        """Accrue funding on every perpetual market (once per block)."""
        ctx = _Ctx(host)
        for i in range(host.sload(L.PERP_COUNT)):
            self._accrue(ctx, self._market(ctx, host.sload(L.perp_at(i))))
        return b""

    def _accrue(self, ctx: _Ctx, mk: _Market) -> None:
        host = ctx.host
        m = mk.m
        index, last = L.unpack_funding(host.sload(L.funding(m)))
        # the previous block's fills, read once and cleared (the slots do not pile up)
        previous = host.block.number - 1
        size = notional = 0
        if previous >= 0:
            size = host.sload(L.fill_size(m, previous))
            notional = host.sload(L.fill_notional(m, previous))
            if size:
                host.sstore(L.fill_size(m, previous), 0)
            if notional:
                host.sstore(L.fill_notional(m, previous), 0)
        now = ctx.now
        if last == 0 or now <= last:
            if last == 0:
                host.sstore(L.funding(m), L.pack_funding(index, now))
            return
        traded = size != 0
        if not traded and now - last < FUNDING_INTERVAL:
            return  # nothing new: the index is brought up to date at most once a minute
        got = self._oracle(ctx, "getPriceWad(bytes32)", mk.underlying)
        if got is None:
            host.sstore(L.funding(m), L.pack_funding(index, now))  # no index, no accrual
            return
        spot = got[0]
        ema, vwap = L.unpack_premium(host.sload(L.funding_premium(m)))
        sample = 0  # a block without fills carries no premium information: the EMA decays
        if size:
            vwap = notional * WAD // size
            sample = max(-PREMIUM_CLAMP, min(PREMIUM_CLAMP, (vwap - spot) * WAD // spot))
        dt = now - last
        ema += (sample - ema) * min(dt, FUNDING_EMA_WINDOW) // FUNDING_EMA_WINDOW
        rate = ema + max(-FUNDING_INTEREST_CLAMP, min(FUNDING_INTEREST_CLAMP, FUNDING_INTEREST - ema))
        cap = FUNDING_CAP_FACTOR * (mk.margin[0] - mk.margin[2])
        rate = max(-cap, min(cap, rate))
        index += rate * spot // WAD * dt // FUNDING_PERIOD
        host.sstore(L.funding(m), L.pack_funding(index, now))
        host.sstore(L.funding_premium(m), L.pack_premium(ema, vwap))
        host.emit([EV_FUNDING, m], _words(index, rate, spot))

    # ================================================================= admin
    def _create_market(self, host: Host, data: bytes) -> bytes:
        ctx = _Ctx(host)
        admin, count, collaterals = self._global(ctx)
        if host.caller != admin:
            host.revert(error("NotAdmin(address)", host.caller))
        kind, underlying, expiry, strike, is_call, american, maker_fee, taker_fee = (_word(data, i) for i in range(8))
        spec = {"kind": kind, "underlying": underlying, "expiry": expiry, "strike": strike,
                "is_call": is_call, "american": american, "maker_fee_bps": maker_fee, "taker_fee_bps": taker_fee}  # fmt: skip
        try:
            writes = market_storage(count, spec)
        except ValueError:
            host.revert(error("InvalidMarket()"))
        for slot, value in writes:
            host.sstore(slot, value)
        host.sstore(L.GLOBAL, admin | (count + 1) << 160 | collaterals << 192)
        if kind == PERP:
            n = host.sload(L.PERP_COUNT)
            host.sstore(L.perp_at(n), count)
            host.sstore(L.PERP_COUNT, n + 1)
        n = host.sload(L.UNDERLYING_COUNT)
        if underlying not in [host.sload(L.underlying_at(i)) for i in range(n)]:
            host.sstore(L.underlying_at(n), underlying)
            host.sstore(L.UNDERLYING_COUNT, n + 1)
        host.emit([EV_MARKET, count], _words(kind, underlying, expiry, strike, is_call))
        return _words(count)

    # ================================================================= views
    def _get_account(self, host: Host, data: bytes) -> bytes:
        ctx = _Ctx(host)
        ctx.dry = True
        owner, sub = _word(data, 0), _word(data, 1)
        acct = self._load(ctx, owner, sub)
        self._touch(ctx, acct)  # pending funding and settlements count (not stored: a view)
        collateral_value, result = self._margin(ctx, acct)
        equity = collateral_value + result.value
        return _words(collateral_value, result.value, equity, result.im, result.mm, equity - result.mm)

    def _get_position(self, host: Host, data: bytes) -> bytes:
        key = L.account_key(_word(data, 0), _word(data, 1))
        size, cost = L.unpack_position(host.sload(L.position(key, _word(data, 2))))
        return _words(size, cost)

    def _get_cash(self, host: Host, data: bytes) -> bytes:
        return _words(L.signed(host.sload(L.cash(L.account_key(_word(data, 0), _word(data, 1)))), 256))

    def _get_collateral(self, host: Host, data: bytes) -> bytes:
        ctx = _Ctx(host)
        key = L.account_key(_word(data, 0), _word(data, 1))
        index = self._token(ctx, _word(data, 2))
        if index == 0:
            return _words(max(L.signed(host.sload(L.cash(key)), 256), 0))
        return _words(host.sload(L.balance(key, index)))

    def _get_market(self, host: Host, data: bytes) -> bytes:
        ctx = _Ctx(host)
        mk = self._market(ctx, _word(data, 0))
        w = mk.word
        return _words(w.kind, mk.underlying, w.expiry, mk.strike, int(w.is_call), int(w.american),
                      w.status, host.sload(L.market_settlement(mk.m)))  # fmt: skip

    def _get_funding(self, host: Host, data: bytes) -> bytes:
        ctx = _Ctx(host)
        mk = self._market(ctx, _word(data, 0))
        index, last = L.unpack_funding(host.sload(L.funding(mk.m)))
        ema, _ = L.unpack_premium(host.sload(L.funding_premium(mk.m)))
        return _words(index, ema, last)

    def _market_count(self, host: Host, data: bytes) -> bytes:
        return _words(self._global(_Ctx(host))[1])

    def _order_filled(self, host: Host, data: bytes) -> bytes:
        return _words(host.sload(L.filled(_word(data, 0))))

    def _order_hash(self, host: Host, data: bytes) -> bytes:
        try:
            order = self._decode_order(data, 0)
        except ValueError:
            host.revert(error("MalformedCalldata()"))
        return order_digest(order, host.block.chain_id, host.address)

    def _margin_mode(self, host: Host, data: bytes) -> bytes:
        key = L.account_key(_word(data, 0), _word(data, 1))
        return _words(L.unpack_account(host.sload(L.account(key)))[2])

    def _fund_insurance(self, host: Host, data: bytes) -> bytes:
        """Anyone may top up the insurance fund with the quote token."""
        ctx = _Ctx(host)
        amount = _word(data, 0)
        if amount == 0:
            host.revert(error("ZeroAmount()"))
        if amount >= SIZE_LIMIT:
            host.revert(error("AmountTooLarge(uint256)", amount))
        fund = self._load(ctx, CLEARINGHOUSE_ADDRESS, L.INSURANCE_SUB)
        fund.cash += amount
        self._store(ctx, fund)
        token = self._collaterals(ctx)[0][0]
        self._token_call(host, token, _sel("transferFrom(address,address,uint256)") + _words(host.caller, host.address, amount))
        host.emit([EV_DEPOSIT, CLEARINGHOUSE_ADDRESS, L.INSURANCE_SUB, token], _words(amount))
        return b""

    def _insurance_fund(self, host: Host, data: bytes) -> bytes:
        key = L.account_key(CLEARINGHOUSE_ADDRESS, L.INSURANCE_SUB)
        return _words(L.signed(host.sload(L.cash(key)), 256))

    def _pending(self, host: Host, data: bytes) -> bytes:
        return _words(host.sload(L.RISK_PENDING_COUNT))

    def _at_risk(self, host: Host, data: bytes) -> bytes:
        """(address[] owners, uint32[] subaccounts) of the accounts queued for the next pass."""
        count = host.sload(L.RISK_PENDING_COUNT)
        owners, subs = [], []
        for i in range(count):
            owner, sub, _, _ = L.unpack_account(host.sload(L.account(host.sload(L.pending_at(i)))))
            owners.append(owner)
            subs.append(sub)
        head = _words(64, 64 + 32 * (count + 1))
        return head + _words(count, *owners) + _words(count, *subs)

    def _fee_balance(self, host: Host, data: bytes) -> bytes:
        return _words(sum(L.signed(host.sload(L.fee(i)), 256) for i in range(L.INDEX_SHARDS)))


def _head_words(signature: str) -> int:
    """Head size in words of a function's arguments (tuples of 9 static words count 9)."""
    inner = signature[signature.index("(") + 1 : -1]
    if not inner:
        return 0
    words = 0
    depth = 0
    token = ""
    for ch in inner + ",":
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            words += 9 if token.startswith("(") else 1
            token = ""
        else:
            token += ch
    return words


def _fields(word: MarketWord) -> dict[str, Any]:
    return {name: getattr(word, name) for name in MarketWord.__slots__}


# ================================================================= genesis

DEFAULT_MARGIN = (2 * 10**16, 5 * 10**13, 10**16, 5 * 10**13)  # Deribit BTC: IM 2% + 0.005%/unit, MM 1% + 0.005%
DEFAULT_OPTION_MARGIN = (15 * 10**16, 10**17, 75 * 10**15, 75 * 10**15)  # Deribit: 0.15, 0.10, 0.075, 0.075
DEFAULT_SETTLE_WINDOW = 1800  # Deribit: TWAP of the 30 minutes before expiry


def market_storage(index: int, spec: dict[str, Any]) -> list[tuple[int, int]]:
    """The slots of market ``index`` from a spec (genesis or createMarket); ValueError if invalid."""
    kind = int(spec["kind"])
    expiry = int(spec.get("expiry", 0))
    strike = int(spec.get("strike", 0))
    maker_fee = int(spec.get("maker_fee_bps", 2))
    taker_fee = int(spec.get("taker_fee_bps", 5))
    margin = tuple(int(v) for v in spec.get("margin", DEFAULT_MARGIN))
    option_margin = tuple(int(v) for v in spec.get("option_margin", DEFAULT_OPTION_MARGIN))
    window = int(spec.get("settle_window", DEFAULT_SETTLE_WINDOW))
    underlying = int(spec["underlying"])
    if (
        kind not in (PERP, FUTURE, OPTION) or not 0 < underlying <= _MASK
        or (kind == PERP and expiry) or (kind != PERP and not 0 < expiry < 1 << 64)
        or (kind == OPTION and not 0 < strike < SIZE_LIMIT) or (kind != OPTION and strike)
        or not 0 <= maker_fee <= 1000 or not 0 <= taker_fee <= 1000
        or len(margin) != 4 or len(option_margin) != 4
        or any(not 0 <= v < 1 << 64 for v in (*margin, *option_margin))
        or margin[2] > margin[0] or not 0 < window < 1 << 32
        or int(spec.get("is_call", 1)) not in (0, 1) or int(spec.get("american", 0)) not in (0, 1)
        or (kind != OPTION and int(spec.get("american", 0)))
    ):  # fmt: skip
        raise ValueError(f"invalid market {spec!r}")
    word = MarketWord(kind, bool(int(spec.get("is_call", 1))), bool(int(spec.get("american", 0))),
                      0, maker_fee, taker_fee, expiry, window)  # fmt: skip
    return [
        (L.market(index), word.pack()),
        (L.market_underlying(index), underlying),
        (L.market_strike(index), strike),
        (L.market_margin(index), L.pack4(*margin)),
        (L.market_option_margin(index), L.pack4(*option_margin)),
    ]


def genesis_storage(config: dict[str, Any]) -> dict[int, int]:
    """Storage of the clearinghouse for a genesis section (docs/clearinghouse.md)."""
    from .oracle_layout import feed_id

    admin = int(str(config["admin"]), 16)
    collaterals = list(config["collateral"])
    markets = list(config.get("markets", []))
    if not collaterals or not 0 <= admin <= _ADDR:
        raise ValueError("clearinghouse genesis needs an admin and at least the quote collateral")
    storage: dict[int, int] = {}
    for i, c in enumerate(collaterals):
        token = int(str(c["token"]), 16)
        decimals = int(c["decimals"])
        haircut = int(c.get("haircutBps", 0))
        feed = c.get("feed")
        if not 0 < token <= _ADDR or not 0 <= decimals <= 18 or not 0 <= haircut < 10_000:
            raise ValueError(f"invalid collateral {c!r}")
        if i == 0 and (feed or haircut):
            raise ValueError("the quote collateral (first) has no feed and no haircut")
        storage[L.collateral(i)] = token | decimals << 160 | haircut << 168
        if feed:
            storage[L.collateral_feed(i)] = feed_id(feed) if not str(feed).startswith("0x") else int(feed, 16)
        storage[L.token_index(token)] = i + 1
    perps: list[int] = []
    underlyings: list[int] = []
    for index, spec in enumerate(markets):
        spec = dict(spec)
        name = spec.get("underlying")
        spec["underlying"] = feed_id(name) if isinstance(name, str) and not name.startswith("0x") else int(str(name), 16)
        for slot, value in market_storage(index, spec):
            storage[slot] = value
        if int(spec["kind"]) == PERP:
            perps.append(index)
        if spec["underlying"] not in underlyings:
            underlyings.append(spec["underlying"])
    for i, m in enumerate(perps):
        storage[L.perp_at(i)] = m
    storage[L.PERP_COUNT] = len(perps)
    for i, feed in enumerate(underlyings):
        storage[L.underlying_at(i)] = feed
    storage[L.UNDERLYING_COUNT] = len(underlyings)
    rate = config.get("rateFeed")
    if rate:
        storage[L.RATE_FEED] = feed_id(rate)
    storage[L.GLOBAL] = admin | len(markets) << 160 | len(collaterals) << 192
    return storage
