"""Margin engine: published examples (exact), a float64/numpy recomputation of portfolio margin
on random portfolios, and hand-checked properties."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strikevm.finance.bsm import black_scholes_greeks
from strikevm.finance.margin import (
    DEFAULT_PM,
    FUTURE,
    OPTION,
    PERP,
    MarginError,
    MarketSpec,
    PortfolioParams,
    Position,
    UnderlyingMarks,
    default_scenarios,
    future_mark,
    min_delta_risk,
    option_mark,
    portfolio_margin,
    portfolio_pricings,
    short_option_requirements,
    standard_margin,
)

W = 10**18
DAY = 86_400
NOW = 1_800_000_000
BTC, ETH, SOL = 0xB7C, 0xE7, 0x501


def wad(x: float) -> int:
    """The wad of a decimal literal, exactly (via its shortest repr)."""
    return int(Decimal(repr(x)) * W)


def perp(mid: int = 1, u: int = BTC, **kw: int) -> MarketSpec:
    return MarketSpec(mid, PERP, u, **kw)


def opt(mid: int, strike: float, days: float, call: bool = True, u: int = BTC) -> MarketSpec:
    return MarketSpec(
        mid, OPTION, u, expiry=NOW + round(days * DAY), strike=wad(strike), is_call=call
    )


# --------------------------------------------------------------------------- standard margin


def test_deribit_linear_perp_examples() -> None:
    marks = {BTC: UnderlyingMarks(100_000 * W, 0, {})}
    r = standard_margin([Position(perp(), 25 * W, 25 * 100_000 * W)], marks, NOW)
    assert (r.im, r.mm, r.value) == (53_125 * W, 28_125 * W, 0)
    r = standard_margin([Position(perp(), -350 * W, -350 * 100_000 * W)], marks, NOW)
    assert r.im == 1_312_500 * W  # IM% 3.75%
    assert r.im * 10_000 == 375 * 350 * 100_000 * W
    # SOL_USDC: 4% + 0.0005%, MM 2% + 0.0005%, SOL at 200
    sol = MarketSpec(
        7,
        PERP,
        SOL,
        im_base=4 * 10**16,
        im_per_unit=5 * 10**12,
        mm_base=2 * 10**16,
        mm_per_unit=5 * 10**12,
    )
    marks = {SOL: UnderlyingMarks(200 * W, 0, {})}
    r = standard_margin([Position(sol, 25 * W, 0)], marks, NOW)
    assert (r.im, r.mm) == (200_625 * W // 1000, 100_625 * W // 1000)
    r = standard_margin([Position(sol, 6000 * W, 0)], marks, NOW)
    assert r.im == 84_000 * W


def test_option_requirements_derive_vectors_with_deribit_constants() -> None:
    # Derive SRM unit test (test config = Deribit constants), S = 1500, 1 contract short.
    s = 1500 * W
    cases = [  # (strike, call, mark, IM, MM)
        (1400, True, 100, 325, 212.5),
        (400, True, 1100, 1325, 1212.5),
        (1600, True, 0, 150, 112.5),
        (1600, False, 100, 325, 212.5),
        (3000, False, 1500, 1725, 1612.5),
        (1400, False, 0, 150, 112.5),
    ]
    for k, call, mark, im, mm in cases:
        m = MarketSpec(3, OPTION, BTC, expiry=NOW + 91 * DAY, strike=k * W, is_call=call)
        assert short_option_requirements(m, W, s, mark * W) == (wad(im), wad(mm)), (k, call)


def test_option_requirements_deribit_example_usd_form() -> None:
    # short BTC call K 110,000, U 100,000, mark 0.02 BTC = 2,000 USD: IM 0.12 BTC, MM 0.095 BTC
    m = MarketSpec(3, OPTION, BTC, expiry=NOW + 30 * DAY, strike=110_000 * W)
    assert short_option_requirements(m, W, 100_000 * W, 2_000 * W) == (12_000 * W, 9_500 * W)
    assert short_option_requirements(m, 3 * W, 100_000 * W, 2_000 * W) == (36_000 * W, 28_500 * W)


def test_put_mm_mark_branch_and_im_floor() -> None:
    # deep ITM put whose mark is large: MM = max(0.075 U, 0.075 mark) + mark; IM >= MM
    m = MarketSpec(3, OPTION, BTC, expiry=NOW + DAY, strike=10_000 * W, is_call=False)
    im, mm = short_option_requirements(m, W, 1_000 * W, 9_000 * W)
    assert mm == wad(0.075 * 9_000 + 9_000)
    assert im == max(wad(0.15 * 1_000 + 9_000), mm)


def test_standard_margin_with_bs_marks() -> None:
    marks = {BTC: UnderlyingMarks(1500 * W, 0, {3: wad(0.6), 4: wad(0.6)})}
    call = opt(3, 1400, 91)
    put = opt(4, 1400, 91, call=False)
    mc = option_mark(call, marks[BTC], NOW)
    mp = option_mark(put, marks[BTC], NOW)
    r = standard_margin([Position(call, -W, 0), Position(put, 2 * W, 0)], marks, NOW)
    assert r.detail[0].im == wad(225) + mc and r.detail[0].mm == wad(112.5) + mc
    assert r.detail[1].im == r.detail[1].mm == 0  # long: value only
    assert r.value == -mc + 2 * mp
    assert (r.im, r.mm) == (wad(225) + mc, wad(112.5) + mc)


def test_marks() -> None:
    um = UnderlyingMarks(70_000 * W, wad(0.05), {5: wad(0.5)})
    fut = MarketSpec(2, FUTURE, BTC, expiry=NOW + 365 * DAY)
    assert abs(future_mark(fut, um, NOW) - 70_000 * W * math.exp(0.05)) < 10**8
    assert future_mark(perp(), um, NOW) == um.spot
    assert future_mark(fut, um, NOW + 400 * DAY) == um.spot  # after expiry: spot
    c = opt(5, 60_000, 30)
    g = black_scholes_greeks(True, um.spot, c.strike, wad(0.5), 30 * DAY, um.rate, 0)
    assert option_mark(c, um, NOW) == g.price
    assert option_mark(c, um, c.expiry) == 10_000 * W  # intrinsic at expiry
    am = replace(opt(5, 90_000, 30, call=False), american=True)
    assert option_mark(am, um, NOW) >= 20_000 * W
    with pytest.raises(MarginError):
        option_mark(opt(6, 60_000, 30), um, NOW)  # no vol


# --------------------------------------------------------------------------- portfolio margin


def test_default_grid() -> None:
    sc = default_scenarios()
    assert len(sc) == 26
    assert [s.weight for s in sc[:18]] == [W] * 18
    assert [s.weight for s in sc[18:]] == [
        181_818_181_818_181_819,
        363_636_363_636_363_637,
        24 * 10**16,
        12 * 10**16,
        6 * 10**16,
        4 * 10**16,
        3 * 10**16,
        24 * 10**15,
    ]


def test_paradex_min_delta_example() -> None:
    # long 1 BTC-PERP, short 5 calls of delta 0.3, spot 70,000: net -0.5, gross 2.5 -> $1,400
    assert min_delta_risk(-W // 2, 5 * W // 2, 70_000 * W) == 1_400 * W
    assert min_delta_risk(W // 2, 5 * W // 2, 70_000 * W) == 1_400 * W


def test_min_delta_inside_portfolio_margin() -> None:
    c = opt(2, 75_000, 20)
    um = UnderlyingMarks(70_000 * W, wad(0.03), {2: wad(0.55)})
    d = black_scholes_greeks(True, um.spot, c.strike, wad(0.55), 20 * DAY, um.rate, 0).delta
    r = portfolio_margin([Position(perp(), W, 70_000 * W), Position(c, -5 * W, 0)], {BTC: um}, NOW)
    net = W - 5 * d
    gross = W + 5 * d
    assert r.detail[0].min_delta == min_delta_risk(net, gross, um.spot)


def _bs(call: bool, s: np.ndarray, k: float, v: float, t: float, r: float) -> np.ndarray:
    erf = np.vectorize(math.erf)
    sq = v * math.sqrt(t)
    d1 = (np.log(s / k) + (r + v * v / 2) * t) / sq
    d2 = d1 - sq
    n = lambda x: 0.5 * (1 + erf(x / math.sqrt(2)))  # noqa: E731
    if call:
        return s * n(d1) - k * math.exp(-r * t) * n(d2)
    return k * math.exp(-r * t) * n(-d2) - s * n(-d1)


def _float_pm(positions: list[Position], marks: dict, now: int, p: PortfolioParams) -> dict:
    """Independent float64 recomputation: underlying -> (mm, im, scan, min_delta, addon)."""
    shocks = np.array([s.spot_shock / W for s in p.scenarios])
    vshocks = np.array([s.vol_shock / W for s in p.scenarios])
    weights = np.array([s.weight / W for s in p.scenarios])
    out = {}
    for u in sorted({q.market.underlying for q in positions}):
        um = marks[u]
        s0, r = um.spot / W, um.rate / W
        ss = s0 * (1 + shocks)
        pnl = np.zeros(len(shocks))
        net = gross = 0.0
        strike_net: dict = {}
        for q in positions:
            m = q.market
            if m.underlying != u:
                continue
            size = q.size / W
            if m.kind == PERP:
                pnl += size * (ss - s0)
                d = size
            elif m.kind == FUTURE:
                g = math.exp(r * max(m.expiry - now, 0) / (365 * DAY))
                pnl += size * (ss - s0) * g
                d = size
            else:
                k, t_s = m.strike / W, m.expiry - now
                key = (m.expiry, m.strike)
                strike_net[key] = strike_net.get(key, 0.0) + size
                if t_s <= 0:
                    sgn = 1.0 if m.is_call else -1.0
                    pnl += size * (np.maximum(sgn * (ss - k), 0) - max(sgn * (s0 - k), 0.0))
                    dd = 1.0 if s0 > k else 0.5 if s0 == k else 0.0
                    d = size * (dd if m.is_call else dd - 1.0)
                else:
                    t = t_s / (365 * DAY)
                    v = um.vols[m.market_id] / W
                    pw = (p.vol_power_short if t_s < p.vol_power_switch else p.vol_power_long) / W
                    mult = (p.vol_tenor / max(t_s, p.dte_floor)) ** pw
                    vs = np.clip(v * (1 + vshocks * mult), p.min_vol / W, 100.0)
                    price0 = _bs(m.is_call, np.array([s0]), k, v, t, r)[0]
                    shocked = np.array(
                        [
                            _bs(m.is_call, np.array([x]), k, y, t, r)[0]
                            for x, y in zip(ss, vs, strict=True)
                        ]
                    )
                    pnl += size * (shocked - price0)
                    sq = v * math.sqrt(t)
                    d1 = (math.log(s0 / k) + (r + v * v / 2) * t) / sq
                    nd1 = 0.5 * (1 + math.erf(d1 / math.sqrt(2)))
                    d = size * (nd1 if m.is_call else nd1 - 1)
            net += d
            gross += abs(d)
        wl = weights * np.maximum(-pnl, 0)
        scan = float(wl.max())
        md = (p.unhedged_delta / W * abs(net) + p.hedged_delta / W * (gross - abs(net)) / 2) * s0
        addon = p.option_contingency / W * s0 * sum(-x for x in strike_net.values() if x < 0)
        mm = max(scan, md) + addon
        out[u] = (mm, mm * p.im_factor / W, scan, md, addon, pnl)
    return out


def _random_book(rng: random.Random, n_under: int, n_pos: int) -> tuple[list[Position], dict]:
    unders = [BTC, ETH, SOL][:n_under]
    spots = {BTC: 70_000.0, ETH: 3_500.0, SOL: 150.0}
    marks_vols: dict[int, dict[int, int]] = {u: {} for u in unders}
    positions = []
    for i in range(n_pos):
        u = rng.choice(unders)
        s = spots[u]
        kind = rng.choice([OPTION, OPTION, OPTION, PERP, FUTURE])
        size = wad(round(rng.uniform(-20, 20), 3)) or W
        mid = 100 + i
        if kind == PERP:
            positions.append(Position(MarketSpec(mid, PERP, u), size, wad(size / W * s * 0.98)))
        elif kind == FUTURE:
            m = MarketSpec(mid, FUTURE, u, expiry=NOW + rng.randint(-DAY, 200 * DAY))
            positions.append(Position(m, size, 0))
        else:
            days = rng.choice([rng.uniform(0.2, 3), rng.uniform(3, 45), rng.uniform(45, 400), -1])
            m = MarketSpec(
                mid,
                OPTION,
                u,
                expiry=NOW + round(days * DAY),
                strike=wad(round(s * rng.uniform(0.5, 1.6), 2)),
                is_call=rng.random() < 0.5,
            )
            marks_vols[u][mid] = wad(round(rng.uniform(0.15, 1.6), 4))
            positions.append(Position(m, size, 0))
    marks = {
        u: UnderlyingMarks(wad(spots[u]), wad(round(rng.uniform(-0.02, 0.1), 4)), marks_vols[u])
        for u in unders
    }
    return positions, marks


@pytest.mark.parametrize("seed", range(12))
def test_portfolio_margin_matches_float_recomputation(seed: int) -> None:
    rng = random.Random(seed)
    positions, marks = _random_book(rng, 1 + seed % 3, 4 + seed)
    r = portfolio_margin(positions, marks, NOW)
    ref = _float_pm(positions, marks, NOW, DEFAULT_PM)
    assert [d.underlying for d in r.detail] == sorted(ref)
    for d in r.detail:
        mm, im, scan, md, addon, pnl = ref[d.underlying]
        # Bound: float64 error of the reference (prices up to ~6x spot, summed over positions),
        # far above the fixed-point error (a few wad units per position and scenario).
        notional = sum(abs(q.size) for q in positions if q.market.underlying == d.underlying)
        tol = 1e-10 * notional / W * marks[d.underlying].spot / W * 8 + 1e-12
        for a, b in ((d.mm, mm), (d.im, im), (d.scan, scan), (d.min_delta, md), (d.addon, addon)):
            assert abs(a / W - b) <= tol, (seed, d, ref[d.underlying])
        assert np.all(np.abs(np.array(d.pnls) / W - pnl) <= tol)
        assert d.mm == max(d.scan, d.min_delta) + d.addon
        assert d.mm >= 0 and d.im >= d.mm
    assert r.mm == sum(d.mm for d in r.detail) and r.im == sum(d.im for d in r.detail)
    assert r.value == standard_margin(positions, marks, NOW).value


def test_summing_across_underlyings_and_order() -> None:
    rng = random.Random(99)
    positions, marks = _random_book(rng, 3, 18)
    whole = portfolio_margin(positions, marks, NOW)
    parts = [
        portfolio_margin([q for q in positions if q.market.underlying == u], marks, NOW)
        for u in sorted(marks)
    ]
    assert whole.mm == sum(p.mm for p in parts) and whole.im == sum(p.im for p in parts)
    assert whole.value == sum(p.value for p in parts)
    assert whole.detail == tuple(p.detail[0] for p in parts if p.detail)
    shuffled = positions[:]
    rng.shuffle(shuffled)
    assert portfolio_margin(shuffled, marks, NOW) == whole


def test_memo_gives_the_same_integers() -> None:
    rng = random.Random(5)
    positions, marks = _random_book(rng, 2, 14)
    fresh = PortfolioParams()
    a = portfolio_margin(positions, marks, NOW, fresh)
    assert fresh.memo  # filled
    b = portfolio_margin(positions, marks, NOW, fresh)
    c = portfolio_margin(positions, marks, NOW, PortfolioParams())
    assert a == b == c
    n_opt = len({q.market.market_id for q in positions if q.market.kind == OPTION})
    assert portfolio_pricings(positions) == n_opt * 27


def test_delta_hedge_lowers_pm() -> None:
    um = {BTC: UnderlyingMarks(70_000 * W, wad(0.04), {2: wad(0.6)})}
    c = opt(2, 70_000, 30)
    d = black_scholes_greeks(True, 70_000 * W, c.strike, wad(0.6), 30 * DAY, wad(0.04), 0).delta
    naked = portfolio_margin([Position(c, -10 * W, 0)], um, NOW)
    hedged = portfolio_margin(
        [Position(c, -10 * W, 0), Position(perp(), 10 * d, 10 * d * 70_000)], um, NOW
    )
    assert hedged.mm < naked.mm and hedged.im < naked.im
    assert hedged.detail[0].min_delta < naked.detail[0].min_delta


# hypothesis: books drawn from a few parameters
_spot = st.sampled_from([150.0, 3_500.0, 70_000.0])
_vol = st.floats(0.2, 1.5)
_days = st.floats(2, 200)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    _spot,
    _vol,
    _days,
    st.floats(0.85, 1.2),
    st.floats(0.01, 0.1),
    st.booleans(),
    st.floats(0.1, 50),
)
def test_spread_pm_below_standard_and_below_naked(
    s: float, vol: float, days: float, mny: float, width: float, call: bool, n: float
) -> None:
    """A vertical spread (short K1, long K2 further OTM, same size) is a hedged book: its PM IM
    does not exceed its standard IM, nor its PM MM the standard MM when the spread is at most
    5% wide (a wider spread can lose more than standard MM's 7.5% of spot + mark), and buying
    the long leg never raises MM."""
    k1 = s * mny
    k2 = k1 * (1 + width) if call else k1 * (1 - width)
    short = opt(2, round(k1, 2), days, call)
    long_ = opt(3, round(k2, 2), days, call)
    marks = {BTC: UnderlyingMarks(wad(s), wad(0.03), {2: wad(vol), 3: wad(vol)})}
    size = wad(round(n, 3))
    naked = [Position(short, -size, 0)]
    spread = naked + [Position(long_, size, 0)]
    pm_naked = portfolio_margin(naked, marks, NOW)
    pm = portfolio_margin(spread, marks, NOW)
    sm = standard_margin(spread, marks, NOW)
    assert 0 <= pm.im <= sm.im
    if width <= 0.05:
        assert 0 <= pm.mm <= sm.mm
    assert pm.mm <= pm_naked.mm


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_spot, _vol, _days, st.floats(0.7, 1.4), st.booleans(), st.floats(0.1, 50), st.floats(0, 1))
def test_covering_a_short_never_increases_mm(
    s: float, vol: float, days: float, mny: float, call: bool, n: float, frac: float
) -> None:
    """Buying back part of a short option (a long in the same market) never raises its MM."""
    m = opt(2, round(s * mny, 2), days, call)
    marks = {BTC: UnderlyingMarks(wad(s), wad(0.03), {2: wad(vol)})}
    size = wad(round(n, 3))
    buy = size * round(frac * 1000) // 1000
    before = portfolio_margin([Position(m, -size, 0)], marks, NOW)
    after = portfolio_margin([Position(m, -size, 0), Position(m, buy, 0)], marks, NOW)
    assert 0 <= after.mm <= before.mm and after.im <= before.im


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10**6), st.integers(1, 3), st.integers(1, 10))
def test_requirements_non_negative(seed: int, n_under: int, n_pos: int) -> None:
    positions, marks = _random_book(random.Random(seed), n_under, n_pos)
    pm = portfolio_margin(positions, marks, NOW)
    sm = standard_margin(positions, marks, NOW)
    assert pm.mm >= 0 and pm.im >= pm.mm and sm.mm >= 0 and sm.im >= sm.mm
    assert all(d.scan >= 0 and d.min_delta >= 0 and d.addon >= 0 for d in pm.detail)


def test_bad_input() -> None:
    m = opt(2, 70_000, 30)
    with pytest.raises(MarginError):
        portfolio_margin([Position(m, -W, 0)], {}, NOW)
    with pytest.raises(MarginError):
        portfolio_margin([Position(m, -W, 0)], {BTC: UnderlyingMarks(W, 0, {})}, NOW)
    with pytest.raises(MarginError):
        standard_margin(
            [Position(MarketSpec(1, 9, BTC), W, 0)], {BTC: UnderlyingMarks(W, 0, {})}, NOW
        )
