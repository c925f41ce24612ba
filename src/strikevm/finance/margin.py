"""Margin engine of StrikeClearinghouse: standard and portfolio margin as pure integer functions.

The clearinghouse reads positions from its storage and marks from StrikeOracle and passes
them here as plain values; nothing here touches storage, the EVM, a clock or floating point.
All amounts are wad (``10**18`` = 1.0); sizes are signed wad of underlying units.

* :func:`standard_margin`: Deribit S:SM, per position, summed, no offsets (Deribit's linear
  perp/futures form, the Deribit/Bit.com USD short-option form).
* :func:`portfolio_margin`: per underlying, a Paradex-style scenario grid (spot x implied
  vol shocks, tail scenarios dampened by ``k / |shock|``), ``MM = max(SCAN, MinDelta) +
  option contingency``, ``IM = MM * im_factor``, summed over underlyings.

Rounding (documented in ``docs/margin.md``): marks (option price, forward) are rounded to
nearest; a position value ``size * mark`` and a scenario P&L are rounded down (toward
-infinity), so losses round up; every requirement (IM, MM, SCAN, MinDelta, add-on) is
rounded up. Within one scenario the P&L of all positions of an underlying is summed exactly
and rounded once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from .bsm import MAX_VOLATILITY, YEAR_SECONDS, bsm_kernel, bsm_price
from .fixedpoint import power as wad_power
from .highprec import FRAC_BITS, ONE, exp_q

WAD = 10**18
DAY = 86_400
PERP, FUTURE, OPTION = 1, 2, 3

_WAD2 = WAD * WAD
_WAD3 = _WAD2 * WAD
_HALF_Q = 1 << (FRAC_BITS - 1)
_F2 = 2 * FRAC_BITS
_HALF_F2 = 1 << (_F2 - 1)
_T_DEN = WAD * YEAR_SECONDS


class MarginError(ValueError):
    """Input the margin engine cannot evaluate (unknown kind, missing mark or vol, bad spot)."""


@dataclass(frozen=True, slots=True)
class MarketSpec:
    """A listed market and its standard-margin parameters (wad fractions).

    ``im_per_unit``/``mm_per_unit`` are per 1.0 (wad) of ``|size|``: Deribit's
    ``IM% = IM_base + |size| * IM_increase``.
    """

    market_id: int
    kind: int  # PERP | FUTURE | OPTION
    underlying: int  # oracle feed id (bytes32 as int); groups positions for portfolio margin
    expiry: int = 0  # unix seconds (FUTURE, OPTION)
    strike: int = 0  # wad (OPTION)
    is_call: bool = True
    american: bool = False
    im_base: int = 2 * 10**16  # 2%
    im_per_unit: int = 5 * 10**13  # 0.005%
    mm_base: int = 10**16  # 1%
    mm_per_unit: int = 5 * 10**13
    opt_im_max: int = 15 * 10**16  # 0.15
    opt_im_min: int = 10**17  # 0.10
    opt_mm: int = 75 * 10**15  # 0.075
    opt_put_mm_mark: int = 75 * 10**15


@dataclass(frozen=True, slots=True)
class Position:
    """A signed position; ``cost`` is the open notional of a PERP/FUTURE (0 for options)."""

    market: MarketSpec
    size: int
    cost: int


@dataclass(frozen=True, slots=True)
class UnderlyingMarks:
    """Oracle marks of one underlying: spot, rate (wad per year) and per-option implied vol."""

    spot: int
    rate: int
    vols: Mapping[int, int]


@dataclass(frozen=True, slots=True)
class MarginResult:
    """Account value and requirements.

    ``detail`` is a tuple of :class:`PositionMargin` (standard margin, one per position in
    input order) or of :class:`UnderlyingRisk` (portfolio margin, one per underlying in
    increasing feed id order).
    """

    value: int
    im: int
    mm: int
    detail: tuple


class PositionMargin(NamedTuple):
    """Standard margin of one position: its value and its IM and MM."""

    market_id: int
    value: int
    im: int
    mm: int


class UnderlyingRisk(NamedTuple):
    """Portfolio margin of one underlying.

    ``worst``: index (into ``PortfolioParams.scenarios``) of the scenario with the largest
    weighted loss, -1 when no scenario loses; ``scan``: that weighted loss; ``min_delta``:
    the Min Delta Risk; ``addon``: the option contingency; ``mm = max(scan, min_delta) +
    addon``; ``im = mm * im_factor``; ``pnls``: the unweighted P&L of every scenario
    (rounded down); ``value``: the current value of the underlying's positions.
    """

    underlying: int
    worst: int
    scan: int
    min_delta: int
    addon: int
    mm: int
    im: int
    pnls: tuple[int, ...]
    value: int


@dataclass(frozen=True, slots=True)
class Scenario:
    """One point of the grid: spot shock and vol shock (wad fractions) and its weight."""

    spot_shock: int  # shocked spot = spot * (1 + spot_shock); must be > -1
    vol_shock: int  # shocked IV = IV * (1 + vol_shock * (tenor / max(floor, DTE)) ** power)
    weight: int = WAD


CORE_SPOT_SHOCKS = tuple(p * 10**16 for p in (-16, -12, -8, -4, 0, 4, 8, 12, 16))
TAIL_SPOT_SHOCKS = tuple(p * 10**16 for p in (-66, -33, 50, 100, 200, 300, 400, 500))
VOL_SHOCK_UP = 40 * 10**16  # Paradex BTC/ETH: +40%
VOL_SHOCK_DOWN = -22 * 10**16  # Paradex BTC/ETH: -22%
TAIL_WEIGHT_K = 12 * 10**16  # Paradex (HEAD): tail weight = 0.12 / |spot shock|


def tail_weight(spot_shock: int, k: int = TAIL_WEIGHT_K) -> int:
    """``k / |spot_shock|`` in wad, rounded up (capped at 1.0)."""
    w = -((-k * WAD) // abs(spot_shock))
    return w if w < WAD else WAD


def default_scenarios() -> tuple[Scenario, ...]:
    """The 26-point default grid: 9 core spot shocks x (vol up, vol down), then 8 tails (vol up)."""
    core = tuple(
        Scenario(s, v, WAD) for s in CORE_SPOT_SHOCKS for v in (VOL_SHOCK_UP, VOL_SHOCK_DOWN)
    )
    tail = tuple(Scenario(s, VOL_SHOCK_UP, tail_weight(s)) for s in TAIL_SPOT_SHOCKS)
    return core + tail


@dataclass(frozen=True, slots=True)
class PortfolioParams:
    """Portfolio-margin parameters (wad unless stated); see ``docs/margin.md`` for sources."""

    scenarios: tuple[Scenario, ...] = field(default_factory=default_scenarios)
    vol_tenor: int = 30 * DAY  # seconds: the "30" of (30 / DTE) ** power
    dte_floor: int = DAY  # seconds: DTE floor of the vol shock
    vol_power_short: int = 30 * 10**16  # power when DTE < vol_power_switch
    vol_power_long: int = 13 * 10**16  # power otherwise
    vol_power_switch: int = 30 * DAY  # seconds
    min_vol: int = 10**16  # floor of every shocked vol (1%)
    min_vol_up: int = 0  # floor of a vol-up shocked vol (Derive PM2 uses 0.4; 0 = off)
    unhedged_delta: int = 2 * 10**16  # Min Delta Risk: 2% of |net delta| * spot
    hedged_delta: int = 10**16  # and 1% of hedged delta * spot
    option_contingency: int = 5 * 10**15  # 0.5% of spot per net short contract per strike
    im_factor: int = 125 * 10**16  # IM = MM * 1.25 (Derive PM1 mFactor)
    # Scenarios grouped by vol shock (computed): ((vol_shock, indices, spot_shocks), ...).
    groups: tuple = field(init=False, repr=False, compare=False, default=())
    # Option revaluations already computed with these parameters, keyed by every input they
    # depend on (a pure function's results: a hit returns the same integers a recomputation
    # would). Bounded by MEMO_LIMIT; cleared whole when full.
    memo: dict = field(init=False, repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        if not self.scenarios:
            raise MarginError("at least one scenario")
        order: list[int] = []
        by_shock: dict[int, list[int]] = {}
        for i, sc in enumerate(self.scenarios):
            if sc.spot_shock <= -WAD or sc.weight < 0:
                raise MarginError(f"scenario {i}: spot shock must be > -1, weight >= 0")
            if sc.vol_shock not in by_shock:
                by_shock[sc.vol_shock] = []
                order.append(sc.vol_shock)
            by_shock[sc.vol_shock].append(i)
        if self.min_vol <= 0 or self.dte_floor <= 0 or self.im_factor < 0:
            raise MarginError("min_vol and dte_floor must be > 0, im_factor >= 0")
        groups = tuple(
            (v, tuple(by_shock[v]), tuple(self.scenarios[i].spot_shock for i in by_shock[v]))
            for v in order
        )
        object.__setattr__(self, "groups", groups)


DEFAULT_PM = PortfolioParams()


# ---------------------------------------------------------------------------------------
# Marks
# ---------------------------------------------------------------------------------------


def _intrinsic(is_call: bool, spot: int, strike: int) -> int:
    if is_call:
        return spot - strike if spot > strike else 0
    return strike - spot if strike > spot else 0


def _growth_q(rate: int, seconds: int) -> int:
    """``exp(rate * seconds / year)`` in Q128."""
    if rate == 0 or seconds <= 0:
        return ONE
    return exp_q((rate * seconds << FRAC_BITS) // _T_DEN)


def _vol(m: MarketSpec, marks: UnderlyingMarks) -> int:
    try:
        vol = marks.vols[m.market_id]
    except KeyError:
        raise MarginError(f"no implied vol for option market {m.market_id}") from None
    if type(vol) is not int or vol <= 0:
        raise MarginError(f"implied vol of market {m.market_id} must be a positive int")
    return vol


def option_mark(m: MarketSpec, marks: UnderlyingMarks, now: int) -> int:
    """Black-Scholes price (no carry) at the oracle spot, vol and rate; intrinsic at expiry.

    An American option is marked at ``max(Black-Scholes, intrinsic)``.
    """
    t = m.expiry - now
    if t <= 0:
        return _intrinsic(m.is_call, marks.spot, m.strike)
    p = bsm_price(m.is_call, marks.spot, m.strike, _vol(m, marks), t, marks.rate, 0)
    if m.american:
        i = _intrinsic(m.is_call, marks.spot, m.strike)
        if i > p:
            return i
    return p


def future_mark(m: MarketSpec, marks: UnderlyingMarks, now: int) -> int:
    """Forward ``S * exp(r * T)`` (T from now to expiry, years of 365 days; 0 after expiry)
    rounded to nearest; for a perpetual the spot."""
    if m.kind == PERP:
        return marks.spot
    return (marks.spot * _growth_q(marks.rate, m.expiry - now) + _HALF_Q) >> FRAC_BITS


def _floor_intrinsic(is_call: bool, strike: int, prices: list[int], spots: list[int]) -> list[int]:
    out = []
    for q, s in zip(prices, spots, strict=True):
        i = _intrinsic(is_call, s, strike)
        out.append(q if q >= i else i)
    return out


def _option_mark_delta(
    is_call: bool, spot: int, strike: int, vol: int, t: int, rate: int
) -> tuple[int, int]:
    """Black-Scholes price and delta (wad, rounded to nearest), as bsm's greeks compute them."""
    if t <= 0:
        if spot > strike:
            delta = WAD if is_call else 0
        elif spot < strike:
            delta = 0 if is_call else -WAD
        else:
            delta = WAD // 2 if is_call else -(WAD // 2)
        return _intrinsic(is_call, spot, strike), delta
    sd, kd, n1, n2, _d1, _v, dq, _dr = bsm_kernel(is_call, spot, strike, vol, t, rate, 0, True)
    if is_call:
        raw = sd * n1 - kd * n2
        delta_raw = dq * n1
    else:
        raw = kd * (ONE - n2) - sd * (ONE - n1)
        delta_raw = -dq * (ONE - n1)
    return (raw + _HALF_F2) >> _F2, (delta_raw * WAD + _HALF_F2) >> _F2


def _marks_of(marks: Mapping[int, UnderlyingMarks], underlying: int) -> UnderlyingMarks:
    try:
        um = marks[underlying]
    except KeyError:
        raise MarginError(f"no marks for underlying {underlying:#x}") from None
    if type(um.spot) is not int or um.spot <= 0 or type(um.rate) is not int:
        raise MarginError(f"underlying {underlying:#x}: spot must be a positive int")
    return um


# ---------------------------------------------------------------------------------------
# Standard margin
# ---------------------------------------------------------------------------------------


def _ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


def linear_requirements(m: MarketSpec, abs_size: int, mark: int) -> tuple[int, int]:
    """Deribit linear form for a PERP/FUTURE: ``(IM, MM)``, each
    ``(base + |size| * per_unit) * |size| * mark``, rounded up."""
    im = _ceil_div((m.im_base * WAD + abs_size * m.im_per_unit) * abs_size * mark, _WAD3)
    mm = _ceil_div((m.mm_base * WAD + abs_size * m.mm_per_unit) * abs_size * mark, _WAD3)
    return im, mm


def short_option_requirements(
    m: MarketSpec, abs_size: int, spot: int, mark: int
) -> tuple[int, int]:
    """Deribit/Bit.com USD form for a short option of ``abs_size`` contracts: ``(IM, MM)``.

    Call: ``IM = |n| (max(a U - OTM, b U) + mark)``, ``MM = |n| (c U + mark)``; put:
    ``MM = |n| (max(c U, d mark) + mark)``, ``IM = max(|n| (max(a U - OTM, b U) + mark), MM)``
    with ``a, b, c, d = opt_im_max, opt_im_min, opt_mm, opt_put_mm_mark``, ``U`` the spot and
    ``OTM = max(K - U, 0)`` (call) or ``max(U - K, 0)`` (put). Rounded up.
    """
    if m.is_call:
        otm = m.strike - spot if m.strike > spot else 0
    else:
        otm = spot - m.strike if spot > m.strike else 0
    hi = m.opt_im_max * spot - otm * WAD  # WAD^2 units
    lo = m.opt_im_min * spot
    im_unit = (hi if hi > lo else lo) + mark * WAD
    if m.is_call:
        mm_unit = m.opt_mm * spot + mark * WAD
    else:
        a = m.opt_mm * spot
        b = m.opt_put_mm_mark * mark
        mm_unit = (a if a > b else b) + mark * WAD
        if mm_unit > im_unit:
            im_unit = mm_unit
    return _ceil_div(abs_size * im_unit, _WAD2), _ceil_div(abs_size * mm_unit, _WAD2)


def _position_mark(m: MarketSpec, um: UnderlyingMarks, now: int) -> int:
    k = m.kind
    if k == OPTION:
        return option_mark(m, um, now)
    if k == PERP or k == FUTURE:
        return future_mark(m, um, now)
    raise MarginError(f"market {m.market_id}: unknown kind {k}")


def standard_margin(
    positions: Sequence[Position], marks: Mapping[int, UnderlyingMarks], now: int
) -> MarginResult:
    """Deribit S:SM: each position's IM and MM separately, summed; no offsets.

    Perps/futures at the forward mark (:func:`linear_requirements`); short options by
    :func:`short_option_requirements`; long options need nothing beyond their value.
    ``detail``: one :class:`PositionMargin` per position, in input order.
    """
    value = im = mm = 0
    detail: list[PositionMargin] = []
    for p in positions:
        m = p.market
        um = _marks_of(marks, m.underlying)
        mark = _position_mark(m, um, now)
        size = p.size
        v = (size * mark) // WAD - p.cost
        abs_size = size if size >= 0 else -size
        if m.kind == OPTION:
            if size < 0:
                pim, pmm = short_option_requirements(m, abs_size, um.spot, mark)
            else:
                pim = pmm = 0
        else:
            pim, pmm = linear_requirements(m, abs_size, mark)
        value += v
        im += pim
        mm += pmm
        detail.append(PositionMargin(m.market_id, v, pim, pmm))
    return MarginResult(value, im, mm, tuple(detail))


# ---------------------------------------------------------------------------------------
# Portfolio margin
# ---------------------------------------------------------------------------------------


def vol_multiplier(seconds: int, params: PortfolioParams = DEFAULT_PM) -> int:
    """``(vol_tenor / max(dte_floor, T)) ** power`` (wad), power by the DTE switch."""
    t = seconds if seconds > params.dte_floor else params.dte_floor
    p = params.vol_power_short if seconds < params.vol_power_switch else params.vol_power_long
    return wad_power(params.vol_tenor * WAD // t, p)


def shocked_vol(vol: int, vol_shock: int, mult: int, params: PortfolioParams = DEFAULT_PM) -> int:
    """``vol * (1 + vol_shock * mult)`` rounded down, floored at ``min_vol`` (and at
    ``min_vol_up`` for an up shock), capped at the pricing kernel's maximum."""
    v = vol * (_WAD2 + vol_shock * mult) // _WAD2
    if vol_shock > 0 and v < params.min_vol_up:
        v = params.min_vol_up
    if v < params.min_vol:
        v = params.min_vol
    return v if v < MAX_VOLATILITY else MAX_VOLATILITY


def _min_delta(abs_net: int, gross: int, spot: int, params: PortfolioParams, den: int) -> int:
    num = 2 * params.unhedged_delta * abs_net + params.hedged_delta * (gross - abs_net)
    return _ceil_div(num * spot, 2 * den)


def min_delta_risk(
    net_delta: int, gross_delta: int, spot: int, params: PortfolioParams = DEFAULT_PM
) -> int:
    """Paradex Min Delta Risk ``(unhedged * |net| + hedged * (gross - |net|) / 2) * spot``
    for deltas in wad units of the underlying, rounded up."""
    abs_net = net_delta if net_delta >= 0 else -net_delta
    return _min_delta(abs_net, gross_delta, spot, params, _WAD2)


def portfolio_pricings(positions: Sequence[Position], params: PortfolioParams = DEFAULT_PM) -> int:
    """Black-Scholes evaluations a portfolio-margin computation makes without the memo:
    ``len(scenarios) + 1`` per distinct option market. A work measure for gas that does not
    depend on what :attr:`PortfolioParams.memo` holds."""
    ids = {p.market.market_id for p in positions if p.market.kind == OPTION}
    return len(ids) * (len(params.scenarios) + 1)


MEMO_LIMIT = 1 << 16
"""Most option revaluations a :class:`PortfolioParams` keeps (then it starts afresh)."""


def _revalue_option(
    key: tuple[bool, bool, int, int, int, int, int],
    g_spots: list[list[int]],
    params: PortfolioParams,
) -> tuple[int, int, tuple[tuple[int, ...], ...]]:
    """Mark, delta and the prices in every scenario (by vol-shock group) of one option."""
    is_call, american, strike, t, rate, spot, vol = key
    mark, delta = _option_mark_delta(is_call, spot, strike, vol, t, rate)
    if american:
        i = _intrinsic(is_call, spot, strike)
        if i > mark:
            mark = i
    out = []
    if t > 0:
        mult = params.memo.get(t)  # vol multipliers share the memo, keyed by seconds (an int)
        if mult is None:
            mult = params.memo[t] = vol_multiplier(t, params)
        price = bsm_price
        for (vshock, _idx, _sh), spots in zip(params.groups, g_spots, strict=True):
            v = shocked_vol(vol, vshock, mult, params)
            prices = [price(is_call, s, strike, v, t, rate, 0) for s in spots]
            if american:
                prices = _floor_intrinsic(is_call, strike, prices, spots)
            out.append(tuple(prices))
    else:
        for spots in g_spots:
            out.append(tuple(_intrinsic(is_call, s, strike) for s in spots))
    return mark, delta, tuple(out)


def _underlying_risk(
    underlying: int,
    items: list[list],
    um: UnderlyingMarks,
    now: int,
    params: PortfolioParams,
) -> UnderlyingRisk:
    spot = um.spot
    rate = um.rate
    scenarios = params.scenarios
    n = len(scenarios)
    groups = params.groups
    g_spots = [[spot * (WAD + s) // WAD for s in shocks] for _v, _idx, shocks in groups]
    g_acc = [[0] * len(shocks) for _v, _idx, shocks in groups]
    base = 0  # sum of size * current mark (WAD^2 units)
    value = 0
    net_delta = 0  # WAD^2 units
    gross_delta = 0
    perp_size = 0
    fut_sizes: dict[int, int] = {}  # expiry -> net size
    strike_net: dict[tuple[int, int], int] = {}  # (expiry, strike) -> net option size
    memo = params.memo
    for m, size, cost in items:
        kind = m.kind
        if kind == PERP:
            perp_size += size
            value += (size * spot) // WAD - cost
            d = size * WAD
        elif kind == FUTURE:
            fut_sizes[m.expiry] = fut_sizes.get(m.expiry, 0) + size
            fwd = future_mark(m, um, now)
            value += (size * fwd) // WAD - cost
            d = size * WAD
        elif kind == OPTION:
            is_call = m.is_call
            strike = m.strike
            t = m.expiry - now
            sk = (m.expiry, strike)
            strike_net[sk] = strike_net.get(sk, 0) + size
            vol = _vol(m, um) if t > 0 else 0
            key = (is_call, m.american, strike, t, rate, spot, vol)
            rv = memo.get(key)
            if rv is None:
                rv = _revalue_option(key, g_spots, params)
                if len(memo) >= MEMO_LIMIT:
                    memo.clear()
                memo[key] = rv
            mark, delta, g_prices = rv
            value += (size * mark) // WAD - cost
            base += size * mark
            d = size * delta
            for gi, prices in enumerate(g_prices):
                g_acc[gi] = [a + size * q for a, q in zip(g_acc[gi], prices, strict=True)]
        else:
            raise MarginError(f"market {m.market_id}: unknown kind {kind}")
        net_delta += d
        gross_delta += d if d >= 0 else -d

    # Scenario P&L: options (accumulated), perps, futures; exact sum, rounded down once.
    num = [0] * n
    for gi, (_v, idx, _sh) in enumerate(groups):
        acc = g_acc[gi]
        spots = g_spots[gi]
        for j, i in enumerate(idx):
            num[i] = acc[j] - base + perp_size * (spots[j] - spot)
    for expiry in sorted(fut_sizes):
        q = fut_sizes[expiry]
        if q == 0:
            continue
        g = _growth_q(rate, expiry - now)
        fwd = (spot * g + _HALF_Q) >> FRAC_BITS
        for gi, (_v, idx, _sh) in enumerate(groups):
            spots = g_spots[gi]
            for j, i in enumerate(idx):
                num[i] += q * (((spots[j] * g + _HALF_Q) >> FRAC_BITS) - fwd)
    pnls = tuple(x // WAD for x in num)

    worst = -1
    scan = 0
    for i, pnl in enumerate(pnls):
        if pnl < 0:
            w = _ceil_div(-pnl * scenarios[i].weight, WAD)
            if w > scan or worst < 0:
                worst, scan = i, w

    abs_net = net_delta if net_delta >= 0 else -net_delta
    min_delta = _min_delta(abs_net, gross_delta, spot, params, _WAD3)
    naked = 0
    for q in strike_net.values():
        if q < 0:
            naked -= q
    addon = _ceil_div(params.option_contingency * spot * naked, _WAD2)
    mm = (scan if scan > min_delta else min_delta) + addon
    im = _ceil_div(mm * params.im_factor, WAD)
    return UnderlyingRisk(underlying, worst, scan, min_delta, addon, mm, im, pnls, value)


def portfolio_margin(
    positions: Sequence[Position],
    marks: Mapping[int, UnderlyingMarks],
    now: int,
    params: PortfolioParams = DEFAULT_PM,
) -> MarginResult:
    """Scenario (portfolio) margin per underlying, summed over underlyings.

    Every position is re-priced in every scenario of ``params.scenarios`` (options by
    Black-Scholes at the shocked spot and vol, futures at the shocked forward, perps at the
    shocked spot); ``SCAN = max_s weight_s * loss_s``; ``MinDelta = (unhedged * |net delta| +
    hedged * (gross - |net|) / 2) * spot``; ``MM = max(SCAN, MinDelta) + option contingency``;
    ``IM = MM * im_factor``. Positions in the same market are netted first. ``detail``: one
    :class:`UnderlyingRisk` per underlying, by increasing feed id.
    """
    by_underlying: dict[int, dict[int, list]] = {}
    for p in positions:
        m = p.market
        per = by_underlying.get(m.underlying)
        if per is None:
            per = by_underlying[m.underlying] = {}
        item = per.get(m.market_id)
        if item is None:
            per[m.market_id] = [m, p.size, p.cost]
        else:
            item[1] += p.size
            item[2] += p.cost
    value = im = mm = 0
    detail: list[UnderlyingRisk] = []
    for u in sorted(by_underlying):
        per = by_underlying[u]
        items = [per[k] for k in sorted(per)]
        r = _underlying_risk(u, items, _marks_of(marks, u), now, params)
        value += r.value
        im += r.im
        mm += r.mm
        detail.append(r)
    return MarginResult(value, im, mm, tuple(detail))
