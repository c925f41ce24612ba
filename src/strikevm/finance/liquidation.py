"""The risk engine of StrikeClearinghouse: protocol liquidations at block end, keepers,
the insurance fund, bad debt and auto-deleveraging.

**Index (no scan of every account).** Whenever an entry point changes an account, the
account registers, per underlying it is exposed to, a *down trigger* and an *up trigger*:
the spot levels at which it could fall below maintenance, estimated from its health at
the spot and at ±1% (linear distance, halved as a safety buffer). Triggers are kept in
log-spaced buckets of 1% per underlying (storage: ``clearinghouse_layout``). The
end-of-block pass reads each underlying's oracle spot, compares it with the spot of the
previous pass and re-checks only the accounts whose trigger buckets the move crossed,
plus a queue of accounts already found at risk and a small round-robin sweep of holders
(``SWEEP_PER_BLOCK`` accounts every ``SWEEP_EVERY`` blocks, for what spot does not
capture: volatility, time). Its cost grows with the accounts at
risk, not with all accounts; with nothing at risk it reads one oracle price and one slot
per underlying.

**The pass (end of every block, after the last transaction).** Order: the pending queue
(FIFO), then per underlying in market order the crossed buckets from the previous spot
towards the new one (insertion order within a bucket), then the sweep. Budget per block:
``MAX_CHECKS`` health checks and ``MAX_LIQUIDATIONS`` liquidations; what is left waits in
the queue for the next block. A stale or unusable oracle freezes the pass for that
underlying (nothing is liquidated at a stale price).

**Liquidation.** Partial first: every position is reduced by the same share, the smallest
of 20%, 40%, ..., 100% after which the account meets initial margin again (Paradex's
rule), transferred to the insurance fund (the account (clearinghouse, 1)) at the oracle
mark; the account pays a penalty of ``PENALTY_BPS`` of the notional (|size| × spot) to the
fund. A keeper may liquidate first with ``liquidate``: it takes positions into its own
account at the mark moved in its favour by a Dutch-auction discount that grows from
``AUCTION_START_BPS`` by ``AUCTION_BPS_PER_SECOND`` since the account was first found
below maintenance, up to ``AUCTION_CAP_BPS``; the penalty is split between keeper and fund.

**Bad debt.** An account left with no positions and negative equity has its non-quote
collateral moved to the fund and its quote deficit covered by the fund. If the fund's
cash is then negative, **auto-deleveraging** closes the fund's positions against the
opposite holders ranked by unrealised profit (largest first, then account key) at the mark,
charging each the smaller of its profit on the closed part and the remaining deficit. The
ranking looks at a window of ``ADL_SCAN`` holders, round-robin over the market's holder
lists, so its cost is bounded whatever the number of holders.

**Isolation.** Each liquidation runs inside its own state checkpoint; one that fails
(a reverting token, an unexpected error) is undone, reported with ``LiquidationFailed``
and retried in a later pass; the pass goes on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from strikevm.crypto import keccak256
from strikevm.finance.abi import words as _words

from . import clearinghouse_layout as L
from . import fixedpoint as fp
from .clearinghouse_layout import CLEARINGHOUSE_ADDRESS, OPTION, PERP, WAD

if TYPE_CHECKING:
    from strikevm.vm.host import Host

    from .clearinghouse import _Account, _Ctx, _Market

MAX_CHECKS = 200
MAX_LIQUIDATIONS = 50
MAX_PENDING = 4096
SWEEP_PER_BLOCK = 4
SWEEP_EVERY = 8  # blocks between two sweeps
SWEEP_PROBES = 64  # holder lists a sweep may look at (it resumes where it stopped)
PENALTY_BPS = 50  # 0.5% of the notional (below the 1% maintenance base), to the fund (shared with a keeper)
KEEPER_SHARE_BPS = 5000
AUCTION_START_BPS = 50
AUCTION_BPS_PER_SECOND = 1  # +0.01% a second
AUCTION_CAP_BPS = 500
STEPS = 5  # liquidation shares 20%, 40%, ..., 100%
TRIGGER_BUFFER = 2  # re-check at half the linear distance to maintenance
GAS_CHECK = 2_000  # per health check in the pass (plus the margin computation's own)
GAS_RESERVE = 1_000_000  # the pass stops (queueing the rest) below this much gas left
GAS_ENQUEUE = 70_000  # queueing one account for the next pass
HOOK_GAS = 200_000_000  # the pass's gas budget (a system step: bounds work, nobody pays it)
GAS_PER_CHECK = 6_000_000  # one account's re-check and liquidation (auto-deleveraging included)
MAX_ADL_COUNTERPARTIES = 16  # per liquidation; the fund keeps the rest for a later pass
ADL_SCAN = 256  # holders examined (round-robin over shard lists) to rank ADL counterparties
_BUCKET_OFFSET = 1 << 31
_LN_STEP = fp.ln(101 * 10**16)  # ln(1.01)
_MASK = (1 << 256) - 1


def _sig(text: str) -> int:
    return int.from_bytes(keccak256(text.encode()), "big")


EV_LIQUIDATION = _sig("Liquidation(address,uint32,address,uint256,uint256)")
EV_BAD_DEBT = _sig("BadDebt(address,uint32,uint256)")
EV_ADL = _sig("AutoDeleverage(address,uint32,uint32,int256,uint256,uint256)")
EV_FAILED = _sig("LiquidationFailed(address,uint32,bytes4)")


def bucket_of(price: int) -> int:
    """Log-spaced bucket (1% wide) of a positive wad price."""
    return fp.ln(max(price, 1)) // _LN_STEP


class RiskEngine:
    """Mixed into StrikeClearinghouse: index upkeep, the block-end pass, keeper liquidations."""

    # ------------------------------------------------------------ health
    def _health(self, ctx: _Ctx, acct: _Account) -> tuple[int, int, int]:
        """(equity, IM, MM) at the current oracle marks."""
        collateral_value, result = self._margin(ctx, acct)  # type: ignore[attr-defined]
        return collateral_value + result.value, result.im, result.mm

    def _health_at(self, ctx: _Ctx, acct: _Account, feed: int, spot: int) -> int:
        saved = ctx.spots[feed]
        ctx.spots[feed] = spot
        try:
            equity, _, mm = self._health(ctx, acct)
        finally:
            ctx.spots[feed] = saved
        return equity - mm

    def _feeds_of(self, ctx: _Ctx, acct: _Account) -> list[int]:
        feeds: list[int] = []
        for m in acct.order:
            if acct.positions[m].size:
                feed = self._market(ctx, m).underlying  # type: ignore[attr-defined]
                if feed not in feeds:
                    feeds.append(feed)
        return feeds

    # ------------------------------------------------------------- index
    def _unregister(self, ctx: _Ctx, key: int, feed: int) -> None:
        host = ctx.host
        word = host.sload(L.band(key, feed))
        if not word:
            return
        for side in (0, 1):
            b = (word >> (32 * side) & 0xFFFFFFFF) - _BUCKET_OFFSET
            pos = word >> (64 + 32 * side) & 0xFFFFFFFF
            if pos:
                self._bucket_remove(ctx, feed, side, b, L.index_shard_of(key), pos - 1)
        host.sstore(L.band(key, feed), 0)

    def _bucket_remove(self, ctx: _Ctx, feed: int, side: int, b: int, sh: int, at: int) -> None:
        host = ctx.host
        count = host.sload(L.bucket_count(feed, side, b, sh))
        last = count - 1
        if at != last:
            moved = host.sload(L.bucket_at(feed, side, b, sh, last))
            host.sstore(L.bucket_at(feed, side, b, sh, at), moved)
            word = host.sload(L.band(moved, feed))
            shift = 64 + 32 * side
            word = word & ~(0xFFFFFFFF << shift) | (at + 1) << shift
            host.sstore(L.band(moved, feed), word)
        host.sstore(L.bucket_at(feed, side, b, sh, last), 0)
        host.sstore(L.bucket_count(feed, side, b, sh), last)

    def _bucket_add(self, ctx: _Ctx, feed: int, side: int, b: int, key: int) -> int:
        host = ctx.host
        sh = L.index_shard_of(key)
        count = host.sload(L.bucket_count(feed, side, b, sh))
        host.sstore(L.bucket_at(feed, side, b, sh, count), key)
        host.sstore(L.bucket_count(feed, side, b, sh), count + 1)
        return count + 1

    def _register(self, ctx: _Ctx, acct: _Account, health: int | None = None) -> None:
        """Re-register the account's trigger prices after a change (called by entry points);
        ``health`` (equity - MM at the current marks) when the caller has just computed it."""
        if acct.owner == CLEARINGHOUSE_ADDRESS:
            return  # the insurance fund is never liquidated
        host = ctx.host
        feeds = self._feeds_of(ctx, acct)
        for feed in feeds:
            self._unregister(ctx, acct.key, feed)
        if not feeds:
            host.sstore(L.liquidatable_since(acct.key), 0)
            return
        if health is None:
            equity, _, mm = self._health(ctx, acct)
            health = equity - mm
        h0 = health
        if h0 < 0:
            self._enqueue(ctx, acct.key)
            return
        for feed in feeds:
            spot = ctx.spots[feed]
            last = host.sload(L.risk_spot(feed)) or spot
            down_drop = self._distance(h0, h0 - self._health_at(ctx, acct, feed, spot * 99 // 100))
            up_rise = self._distance(h0, h0 - self._health_at(ctx, acct, feed, spot * 101 // 100))
            low = spot - spot * min(down_drop, 9900) // 10_000 if down_drop is not None else spot * 34 // 100
            high = spot + spot * min(up_rise, 50_000) // 10_000 if up_rise is not None else spot * 6
            if low >= last or high <= last:
                self._enqueue(ctx, acct.key)  # already past the last pass's spot: re-check soon
            down = self._bucket_add(ctx, feed, 0, bucket_of(low), acct.key)
            up = self._bucket_add(ctx, feed, 1, bucket_of(high), acct.key)
            host.sstore(
                L.band(acct.key, feed),
                (bucket_of(low) + _BUCKET_OFFSET) | (bucket_of(high) + _BUCKET_OFFSET) << 32 | down << 64 | up << 96,
            )
        host.sstore(L.liquidatable_since(acct.key), 0)

    @staticmethod
    def _distance(h0: int, loss_per_pct: int) -> int | None:
        """Move in basis points (halved) after which health would reach 0, or None if it rises."""
        if loss_per_pct <= 0:
            return None
        return h0 * 100 // loss_per_pct // TRIGGER_BUFFER

    def _enqueue(self, ctx: _Ctx, key: int) -> None:
        host = ctx.host
        flag = L.pending_flag(key)
        if host.sload(flag):
            return
        count = host.sload(L.RISK_PENDING_COUNT)
        if count < MAX_PENDING:
            host.sstore(L.pending_at(count), key)
            host.sstore(L.RISK_PENDING_COUNT, count + 1)
            host.sstore(flag, 1)

    # -------------------------------------------------------------- pass
    def end_block(self, host: Host) -> bytes:
        """The protocol liquidation pass (see the module docstring)."""
        from .clearinghouse import _Ctx

        ctx = _Ctx(host)
        budget = [MAX_CHECKS, MAX_LIQUIDATIONS]
        queue: list[int] = []
        count = host.sload(L.RISK_PENDING_COUNT)
        for i in range(count):
            key = host.sload(L.pending_at(i))
            queue.append(key)
            host.sstore(L.pending_at(i), 0)
            host.sstore(L.pending_flag(key), 0)
        host.sstore(L.RISK_PENDING_COUNT, 0)
        frozen: set[int] = set()
        for feed in self._underlyings(ctx):
            got = self._oracle(ctx, "getPriceWad(bytes32)", feed)  # type: ignore[attr-defined]
            if got is None:
                frozen.add(feed)  # stale: no liquidation at a stale price
                continue
            spot = got[0]
            ctx.spots[feed] = spot
            last = host.sload(L.risk_spot(feed))
            reached = spot
            if last and last != spot:
                side = 0 if spot < last else 1
                lo, hi = sorted((bucket_of(spot), bucket_of(last)))
                order = range(hi, lo - 1, -1) if side == 0 else range(lo, hi + 1)
                for b in order:
                    if len(queue) >= MAX_CHECKS:  # resume in this bucket at the next pass
                        reached = fp.exp(b * _LN_STEP + _LN_STEP // 2)
                        break
                    for sh in range(L.INDEX_SHARDS):
                        n = host.sload(L.bucket_count(feed, side, b, sh))
                        for i in range(n):
                            queue.append(host.sload(L.bucket_at(feed, side, b, sh, i)))
            host.sstore(L.risk_spot(feed), reached)
        queue.extend(self._sweep(ctx))
        unique: list[int] = []
        seen: set[int] = set()
        for key in queue:
            if key not in seen:
                seen.add(key)
                unique.append(key)
        for at, key in enumerate(unique):
            left = len(unique) - at
            if budget[0] <= 0 or budget[1] <= 0 or host.gas < GAS_RESERVE + GAS_CHECK + left * GAS_ENQUEUE:
                for rest in unique[at:]:  # what the budget cannot reach waits for the next pass
                    self._enqueue(ctx, rest)
                break
            self._check(ctx, key, budget, frozen)
        return b""

    def _underlyings(self, ctx: _Ctx) -> list[int]:
        """Underlying feeds of the markets, in first-listed order (kept by the contract)."""
        host = ctx.host
        return [host.sload(L.underlying_at(i)) for i in range(host.sload(L.UNDERLYING_COUNT))]

    def _sweep(self, ctx: _Ctx) -> list[int]:
        """Up to SWEEP_PER_BLOCK holders, round-robin over (market, shard, index)."""
        host = ctx.host
        markets = self._global(ctx)[1]  # type: ignore[attr-defined]
        if not markets or host.block.number % SWEEP_EVERY:
            return []
        word = host.sload(L.SWEEP)
        m, sh, i = word & 0xFFFFFFFF, word >> 32 & 0xFFFFFFFF, word >> 64
        out: list[int] = []
        for _ in range(min(markets * L.INDEX_SHARDS, SWEEP_PROBES)):
            m %= markets
            n = host.sload(L.holder_count(m, sh))
            while i < n and len(out) < SWEEP_PER_BLOCK:
                out.append(host.sload(L.holder_at(m, sh, i)))
                i += 1
            if len(out) >= SWEEP_PER_BLOCK:
                break
            i = 0
            sh += 1
            if sh == L.INDEX_SHARDS:
                sh, m = 0, m + 1
        host.sstore(L.SWEEP, m % markets | sh << 32 | i << 64)
        return out

    def _load_touched(self, ctx: _Ctx, owner: int, sub: int) -> _Account:
        """Load an account and persist its pending funding/settlement first."""
        acct = self._load(ctx, owner, sub)  # type: ignore[attr-defined]
        self._touch(ctx, acct)  # type: ignore[attr-defined]
        self._store(ctx, acct)  # type: ignore[attr-defined]
        return acct

    def _check(self, ctx: _Ctx, key: int, budget: list[int], frozen: set[int]) -> None:
        """Re-check one account; liquidate it if below maintenance. Runs inside its own
        checkpoint and its own gas allowance (``GAS_PER_CHECK``): anything that fails or
        runs out of that allowance is undone, reported, and queued for a later pass."""
        from strikevm.vm.errors import OutOfGas
        from strikevm.vm.host import NativeRevert

        host = ctx.host
        owner, sub, _, count = L.unpack_account(host.sload(L.account(key)))
        if count == 0 or owner == CLEARINGHOUSE_ADDRESS:
            return
        budget[0] -= 1
        host.charge(GAS_CHECK)
        allowance = min(GAS_PER_CHECK, host.gas - GAS_RESERVE - GAS_ENQUEUE)
        outside = host.gas - allowance
        host.gas = allowance
        checkpoint = host.state.checkpoint()
        try:
            acct = self._load_touched(ctx, owner, sub)
            if any(feed in frozen for feed in self._feeds_of(ctx, acct)):
                self._enqueue(ctx, key)  # a stale feed: wait, never liquidate at a stale price
                return
            equity, _, mm = self._health(ctx, acct)
            if equity >= mm:
                self._register(ctx, acct)
                return
            since_slot = L.liquidatable_since(key)
            if not host.sload(since_slot):
                host.sstore(since_slot, ctx.now)
            budget[1] -= 1
            self._protocol_liquidate(ctx, acct)
        except (NativeRevert, OutOfGas, ArithmeticError, ValueError, LookupError, TypeError) as exc:
            # isolation: undo this account's work, report it, retry in a later pass
            host.state.revert(checkpoint)
            ctx.markets.clear()
            ctx.collaterals = None
            host.gas = 0  # the allowance is spent
            reason = bytes(exc.data[:4]) if isinstance(exc, NativeRevert) else (
                b"\x00\x00\x00\x01" if isinstance(exc, OutOfGas) else b"\xff\xff\xff\xff"
            )  # fmt: skip
            host.gas = outside
            outside = 0
            host.emit([EV_FAILED, owner], _words(sub) + reason.ljust(32, b"\0"))
            self._enqueue(ctx, key)
        finally:
            host.gas += outside

    # ------------------------------------------------------ liquidating
    def _mark(self, ctx: _Ctx, mk: _Market) -> int:
        from .margin import UnderlyingMarks, future_mark, option_mark

        spot = self._spot(ctx, mk.underlying)  # type: ignore[attr-defined]
        kind = mk.word.kind
        if kind == PERP:
            return spot
        rate = self._rate(ctx)  # type: ignore[attr-defined]
        if kind == OPTION:
            vol = self._vol(ctx, mk) if mk.word.expiry > ctx.now else 0  # type: ignore[attr-defined]
            return option_mark(mk.spec(), UnderlyingMarks(spot, rate, {mk.m: vol}), ctx.now)
        return future_mark(mk.spec(), UnderlyingMarks(spot, rate, {}), ctx.now)

    def _transfer(self, ctx: _Ctx, src: _Account, dst: _Account, mk: _Market, qty: int, price: int) -> None:
        """Move ``qty`` (signed, of src's position) from src to dst at ``price``."""
        self._trade(ctx, src, mk, -qty, price)  # type: ignore[attr-defined]
        self._trade(ctx, dst, mk, qty, price)  # type: ignore[attr-defined]
        if mk.word.kind == OPTION:
            amount = abs(qty) * price // WAD // self._quote_scale(ctx)  # type: ignore[attr-defined]
            payer, payee = (dst, src) if qty > 0 else (src, dst)  # the buyer pays
            payer.cash -= amount
            payee.cash += amount

    def _penalty(self, ctx: _Ctx, mk: _Market, qty: int) -> int:
        scale = self._quote_scale(ctx)  # type: ignore[attr-defined]
        return abs(qty) * self._spot(ctx, mk.underlying) // WAD * PENALTY_BPS // 10_000 // scale  # type: ignore[attr-defined]

    def _protocol_liquidate(self, ctx: _Ctx, acct: _Account) -> None:
        """Reduce every position by the smallest share (20% steps) that restores IM."""
        host = ctx.host
        self._load_touched(ctx, CLEARINGHOUSE_ADDRESS, L.INSURANCE_SUB)
        owner, sub = acct.owner, acct.sub
        share = penalty_total = 0
        for step in range(1, STEPS + 1):
            share = step * 10_000 // STEPS
            checkpoint = host.state.checkpoint()
            acct = self._load(ctx, owner, sub)  # type: ignore[attr-defined]
            fund = self._load(ctx, CLEARINGHOUSE_ADDRESS, L.INSURANCE_SUB)  # type: ignore[attr-defined]
            penalty_total = 0
            for m in [m for m in acct.order if acct.positions[m].size]:
                mk = self._market(ctx, m)  # type: ignore[attr-defined]
                size = acct.positions[m].size
                qty = size if share == 10_000 else (size * share // 10_000 if size > 0 else -((-size) * share // 10_000))
                if qty:
                    self._transfer(ctx, acct, fund, mk, qty, self._mark(ctx, mk))
                    penalty_total += self._penalty(ctx, mk, qty)
            acct.cash -= penalty_total
            fund.cash += penalty_total
            self._store(ctx, acct)  # type: ignore[attr-defined]
            self._store(ctx, fund)  # type: ignore[attr-defined]
            equity, im, _ = self._health(ctx, acct)
            if equity >= im or step == STEPS:
                break
            host.state.revert(checkpoint)
        if not any(acct.positions[m].size for m in acct.order):
            self._settle_bad_debt(ctx, acct)
        host.emit([EV_LIQUIDATION, owner], _words(sub, 0, share, penalty_total))
        self._register(ctx, acct)
        fund = self._load(ctx, CLEARINGHOUSE_ADDRESS, L.INSURANCE_SUB)  # type: ignore[attr-defined]

    def keeper_liquidate(self, host: Host, data: bytes) -> bytes:
        """liquidate(owner, subaccount, keeperSubaccount, maxPositions, minDiscountBps)."""
        from .clearinghouse import _Ctx, _word, error

        ctx = _Ctx(host)
        owner, sub, keeper_sub, max_positions, min_discount = (_word(data, i) for i in range(5))
        if owner >> 160 or sub >> 32 or keeper_sub >> 32 or max_positions >> 32:
            host.revert(error("MalformedCalldata()"))
        if owner == host.caller and sub == keeper_sub:
            host.revert(error("SelfTrade()"))
        acct = self._load_touched(ctx, owner, sub)
        equity, im, mm = self._health(ctx, acct)
        if equity >= mm:
            host.revert(error("NotLiquidatable(address,uint32,int256,uint256)", owner, sub, equity, mm))
        since_slot = L.liquidatable_since(acct.key)
        since = host.sload(since_slot) or ctx.now
        host.sstore(since_slot, since)
        discount = min(AUCTION_CAP_BPS, AUCTION_START_BPS + (ctx.now - since) * AUCTION_BPS_PER_SECOND)
        if discount < min_discount:
            host.revert(error("DiscountTooLow(uint256,uint256)", discount, min_discount))
        keeper = self._load_touched(ctx, host.caller, keeper_sub)
        fund = self._load_touched(ctx, CLEARINGHOUSE_ADDRESS, L.INSURANCE_SUB)
        ranked = sorted(
            (m for m in acct.order if acct.positions[m].size),
            key=lambda m: (-abs(acct.positions[m].size) * self._spot(ctx, self._market(ctx, m).underlying), m),  # type: ignore[attr-defined]
        )
        taken = penalty_total = 0
        for m in ranked[: max_positions or len(ranked)]:
            mk = self._market(ctx, m)  # type: ignore[attr-defined]
            qty = acct.positions[m].size
            price = self._mark(ctx, mk)
            adj = price * discount // 10_000
            price = price - adj if qty > 0 else price + adj  # in the keeper's favour
            self._transfer(ctx, acct, keeper, mk, qty, price)
            penalty_total += self._penalty(ctx, mk, qty)
            taken += 1
            self._store(ctx, acct)  # type: ignore[attr-defined]
            if self._health(ctx, acct)[0] >= self._health(ctx, acct)[1]:
                break
        acct.cash -= penalty_total
        keeper_part = penalty_total * KEEPER_SHARE_BPS // 10_000
        keeper.cash += keeper_part
        fund.cash += penalty_total - keeper_part
        self._store(ctx, acct)  # type: ignore[attr-defined]
        self._store(ctx, keeper)  # type: ignore[attr-defined]
        self._store(ctx, fund)  # type: ignore[attr-defined]
        self._require_im(ctx, keeper)  # type: ignore[attr-defined]
        if not any(acct.positions[m].size for m in acct.order):
            self._settle_bad_debt(ctx, acct)
        host.emit([EV_LIQUIDATION, owner], _words(sub, host.caller, taken, penalty_total))
        self._register(ctx, acct)
        self._register(ctx, keeper)
        return _words(taken, penalty_total)

    def _settle_bad_debt(self, ctx: _Ctx, acct: _Account) -> None:
        host = ctx.host
        acct = self._load(ctx, acct.owner, acct.sub)  # type: ignore[attr-defined]
        equity, _, _ = self._health(ctx, acct)
        if equity >= 0:
            return
        fund = self._load(ctx, CLEARINGHOUSE_ADDRESS, L.INSURANCE_SUB)  # type: ignore[attr-defined]
        for i in range(1, len(self._collaterals(ctx))):  # type: ignore[attr-defined]
            slot = L.balance(acct.key, i)
            amount = host.sload(slot)
            if amount:  # non-quote collateral goes to the fund
                host.sstore(slot, 0)
                fund_slot = L.balance(fund.key, i)
                host.sstore(fund_slot, host.sload(fund_slot) + amount)
        deficit = max(-acct.cash, 0)
        acct.cash += deficit
        fund.cash -= deficit
        self._store(ctx, acct)  # type: ignore[attr-defined]
        self._store(ctx, fund)  # type: ignore[attr-defined]
        host.emit([EV_BAD_DEBT, acct.owner], _words(acct.sub, deficit))
        if fund.cash < 0:
            self._deleverage(ctx, fund)

    def _deleverage(self, ctx: _Ctx, fund: _Account) -> None:
        """Close the fund's positions against the most profitable opposite holders."""
        host = ctx.host
        scale = self._quote_scale(ctx)  # type: ignore[attr-defined]
        for m in list(fund.order):
            p = fund.positions.get(m)
            if p is None or p.size == 0 or fund.cash >= 0:
                continue
            mk = self._market(ctx, m)  # type: ignore[attr-defined]
            price = self._mark(ctx, mk)
            cache = ctx.__dict__.setdefault("adl_rank", {})
            ranked = cache.get((m, p.size > 0))
            if ranked is None:  # ranked once per pass and market side; sizes re-read when used
                ranked = []
                # a bounded window of holders, round-robin over the market's shard lists
                start = host.sload(L.adl_cursor(m)) % L.INDEX_SHARDS
                slots: list[int] = []
                shard = start
                for _ in range(L.INDEX_SHARDS):
                    n = host.sload(L.holder_count(m, shard))
                    slots.extend(L.holder_at(m, shard, i) for i in range(min(n, ADL_SCAN - len(slots))))
                    shard = (shard + 1) % L.INDEX_SHARDS
                    if len(slots) >= ADL_SCAN:
                        break
                host.sstore(L.adl_cursor(m), shard)
                for slot in slots:
                    key = host.sload(slot)
                    size, cost = L.unpack_position(host.sload(L.position(key, m)))
                    if key == fund.key or size == 0 or (size > 0) == (p.size > 0):
                        continue
                    profit = size * price // WAD - cost if mk.word.kind != OPTION else size * price // WAD
                    ranked.append((-profit, key))
                ranked.sort()
                cache[(m, p.size > 0)] = ranked
            used = 0
            for negative_profit, key in list(ranked):
                if p.size == 0 or fund.cash >= 0 or used >= MAX_ADL_COUNTERPARTIES:
                    break
                owner, sub, _, _ = L.unpack_account(host.sload(L.account(key)))
                other = self._load_touched(ctx, owner, sub)
                held = other.positions.get(m)
                if held is None or held.size == 0 or (held.size > 0) == (p.size > 0):
                    ranked.remove((negative_profit, key))
                    continue
                used += 1
                before = abs(held.size)
                qty = min(abs(p.size), before) * (1 if p.size > 0 else -1)
                self._transfer(ctx, fund, other, mk, qty, price)
                profit = max(-negative_profit, 0) * abs(qty) // before
                charge = min(-fund.cash, profit // scale)
                other.cash -= charge
                fund.cash += charge
                self._store(ctx, other)  # type: ignore[attr-defined]
                self._store(ctx, fund)  # type: ignore[attr-defined]
                self._register(ctx, other)
                host.emit([EV_ADL, owner], _words(sub, m, qty, price, charge))
            self._store(ctx, fund)  # type: ignore[attr-defined]
