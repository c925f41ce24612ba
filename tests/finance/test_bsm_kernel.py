"""The table-driven Black-Scholes-Merton kernel: its tables and intermediates against 60-digit
mpmath, and its prices against a reference built from the Q128 core of ``highprec``."""

from __future__ import annotations

import random

import mpmath
import pytest
from mp_reference import WAD, YEAR, draw_cases

from strikevm.finance import bsm
from strikevm.finance import bsm_tables as bt
from strikevm.finance import highprec as hp
from strikevm.finance.errors import InvalidSpot, InvalidVolatility, Overflow
from strikevm.finance.pricing import (
    black76_price,
    black_scholes_greeks,
    black_scholes_price,
)

mpmath.mp.dps = 60
Q = mpmath.mpf(2) ** 128
T_DEN = WAD * YEAR


def q(x: int) -> mpmath.mpf:
    return mpmath.mpf(x) / Q


def ncdf_row(x: int) -> int:
    """N(x) (Q128) from the rows exactly as the kernel evaluates them."""
    ax = abs(x)
    i = ax >> 120
    if i >= bt.NCDF_LIMIT:
        return hp.ONE if x >= 0 else 0
    t = (ax & ((1 << 120) - 1)) - (1 << 119)
    row = bt.NCDF_ROWS[i]
    scales = bt.NCDF_SCALES
    acc = row[0]
    for k in range(1, len(row)):
        n = bt.NCDF_DEGREE - k  # the coefficient added at this step
        acc = ((acc * t) >> (scales[n + 1] + 128 - scales[n])) + row[k]
    return acc if x >= 0 else hp.ONE - acc


def test_exp_and_ln_tables() -> None:
    rng = random.Random(1)
    for j in [0, 1, 4095, *rng.sample(range(4096), 40)]:
        assert bt.POW2_HI[j] == int(mpmath.nint(mpmath.mpf(2) ** (mpmath.mpf(j) / 4096) * Q))
        assert bt.POW2_LO[j] == int(mpmath.nint(mpmath.mpf(2) ** (mpmath.mpf(j) / 2**24) * Q))
        mid = mpmath.mpf(2) ** (mpmath.mpf(j - 4096) / 4096)
        assert bt.POW2_MID[j] == int(mpmath.nint(mid * Q))
    for n, c in zip(range(1, 5), (bt.EXP_C1, bt.EXP_C2, bt.EXP_C3, bt.EXP_C4), strict=True):
        exact = mpmath.log(2) ** n / mpmath.factorial(n) * mpmath.mpf(2) ** bt.EXP_SCALES[n]
        assert abs(c - exact) <= 1
    for j in [1024, 2048, 4095, *rng.sample(range(1024, 4096), 60)]:
        assert bt.LN_RECIP[j] == int(mpmath.nint(Q * 2048 / j))
        exact = -mpmath.log(mpmath.mpf(bt.LN_RECIP[j]) / Q) * Q
        assert abs(bt.LN_CORR[j] - exact) <= 1
    assert bt.LN_CORR[2048] == 0 and bt.LN_RECIP[2048] == hp.ONE
    for e in (-119, -1, 0, 1, 119):
        assert abs(bt.LN2_MULTIPLES[e] - e * mpmath.log(2) * Q) <= 1


def test_sqrt_seeds_are_within_2_to_minus_13_9() -> None:
    for top in range(4096, 16384, 37):
        seed = bt.SQRT_SEED[top - 4096]
        for part in (top, top + mpmath.mpf(1) / 2, top + 1):
            assert abs(seed / (mpmath.sqrt(part) * 2**16) - 1) < mpmath.mpf(2) ** -13.9


def test_normal_cdf_rows() -> None:
    rng = random.Random(2)
    worst = mpmath.mpf(0)
    step = 1 << 120
    points = [rng.randrange(-14 * hp.ONE, 14 * hp.ONE) for _ in range(1500)]
    points += [rng.randrange(-3 * hp.ONE, 3 * hp.ONE) for _ in range(1500)]
    points += [i * step + d for i in range(0, bt.NCDF_LIMIT, 97) for d in (0, step // 2, step - 1)]
    for x in points:
        worst = max(worst, abs(q(ncdf_row(x)) - mpmath.ncdf(q(x))))
    assert worst < mpmath.mpf(2) ** -124
    last = mpmath.mpf(bt.NCDF_LIMIT) / 2**bt.NCDF_STEP_BITS
    assert 1 - mpmath.ncdf(last) < mpmath.mpf(2) ** -130


def _wide_args(rng: random.Random) -> tuple[int, int, int, int, int, int]:
    strike = int(10 ** rng.uniform(-2, 8) * WAD) + rng.randrange(1000)
    spot = strike if rng.random() < 0.1 else int(strike * 10 ** rng.uniform(-3, 3)) + 1
    vol = int(10 ** rng.uniform(-6, 2) * WAD) + 1
    expiry = rng.choice([1, 60, 86400, YEAR, 100 * YEAR, rng.randrange(1, 100 * YEAR)])
    rate = (
        rng.randrange(-4 * WAD, 4 * WAD)
        if rng.random() < 0.3
        else rng.randrange(-WAD // 5, WAD // 4)
    )
    dividend = rng.choice(
        [0, rate, rng.randrange(-WAD // 5, WAD // 4), rng.randrange(-4 * WAD, 4 * WAD)]
    )
    # stay inside the discount bound (-rate x T and -yield x T at most 32)
    floor = -(bsm._MAX_RT // expiry)
    return spot, strike, vol, expiry, max(rate, floor), max(dividend, floor)


def test_kernel_intermediates_against_mpmath() -> None:
    rng = random.Random(3)
    for _ in range(1500):
        spot, strike, vol, expiry, rate, dividend = args = _wide_args(rng)
        sd, kd, n1, n2, d1, v, dq, dr = bsm.bsm_kernel(True, *args, True)
        t = mpmath.mpf(expiry) / YEAR
        exact_v = mpmath.mpf(vol) / WAD * mpmath.sqrt(t)
        assert abs(q(v) - exact_v) < exact_v * mpmath.mpf(2) ** -118 + mpmath.mpf(2) ** -127
        for df, y in ((dr, rate), (dq, dividend)):
            exact = mpmath.exp(-mpmath.mpf(y) * expiry / T_DEN)
            if exact > mpmath.mpf(2) ** -100:
                assert abs(q(df) / exact - 1) < mpmath.mpf(2) ** -124 + 2 / (exact * Q)
        assert sd == spot * dq and kd == strike * dr
        num = mpmath.log(mpmath.mpf(spot) / strike) + mpmath.mpf(rate - dividend) * expiry / T_DEN
        exact_d1 = num / exact_v + exact_v / 2
        # the error of num over v, plus d1 times the relative error of v
        v_rel = mpmath.mpf(2) ** -117 + mpmath.mpf(2) ** -126 / exact_v
        assert abs(q(d1) - exact_d1) < mpmath.mpf(2) ** -121 / exact_v + abs(exact_d1) * v_rel
        for n, d in ((n1, d1), (n2, d1 - v)):
            assert abs(q(n) - mpmath.ncdf(q(d))) < mpmath.mpf(2) ** -124


def _reference_price(is_call: bool, spot: int, strike: int, vol: int, expiry: int, rate: int,
                     dividend: int) -> int:  # fmt: skip
    """The price from the Q128 core of highprec (ln_q, exp_q, isqrt, ncdf_q), one rounding."""
    f = hp.FRAC_BITS
    sqrt_t = hp.isqrt((expiry << 2 * f) // YEAR)
    vst = vol * sqrt_t // WAD
    num = (
        hp.ln_q((spot << 2 * f) // strike)
        - 128 * hp.LN2
        + (((rate - dividend) * expiry << f) // T_DEN)
        + (vst * vst >> f + 1)
    )
    d1 = (num << f) // vst
    df_r = hp.exp_q(-((rate * expiry << f) // T_DEN))
    df_q = hp.exp_q(-((dividend * expiry << f) // T_DEN))
    n1, n2 = hp.ncdf_q(d1), hp.ncdf_q(d1 - vst)
    sd, kd = spot * df_q, strike * df_r
    raw = sd * n1 - kd * n2 if is_call else kd * (hp.ONE - n2) - sd * (hp.ONE - n1)
    return (raw + (1 << 255)) >> 256


def test_prices_equal_the_highprec_reference() -> None:
    """On inputs where a Q128 pipeline is far more precise than a wad unit, the kernel and
    the highprec reference round to the same integer."""
    rng = random.Random(4)
    cases = [c.args() for c in draw_cases(99, 500)]
    for _ in range(2500):
        strike = int(10 ** rng.uniform(-2, 7) * WAD) + rng.randrange(1000)
        spot = int(strike * 10 ** rng.uniform(-2, 2)) + rng.randrange(1000)
        vol = int(10 ** rng.uniform(-3, 1) * WAD) + 1
        expiry = rng.randrange(1, 20 * YEAR)
        rate = rng.randrange(-WAD // 4, WAD // 2)
        dividend = rng.choice([0, rate, rng.randrange(-WAD // 4, WAD // 2)])
        cases.append((spot, strike, vol, expiry, rate, dividend))
    for args in cases:
        for is_call in (True, False):
            assert black_scholes_price(is_call, *args) == _reference_price(is_call, *args), args


def test_greeks_price_is_the_price_everywhere() -> None:
    rng = random.Random(5)
    for _ in range(1000):
        args = _wide_args(rng)
        for is_call in (True, False):
            try:
                price = black_scholes_price(is_call, *args)
            except Overflow:
                with pytest.raises(Overflow):
                    black_scholes_greeks(is_call, *args)
                continue
            assert black_scholes_greeks(is_call, *args).price == price
            assert bsm.bsm_kernel(is_call, *args) == price


def test_kernel_checks_ranges_like_the_public_function() -> None:
    args = (100 * WAD, 100 * WAD, WAD // 5, YEAR, WAD // 20, 0)
    with pytest.raises(InvalidSpot):
        bsm.bsm_kernel(True, 0, *args[1:])
    with pytest.raises(InvalidVolatility):
        bsm.bsm_kernel(True, *args[:2], 100 * WAD + 1, *args[3:])
    assert bsm.bsm_kernel(False, 90 * WAD, 100 * WAD, WAD, 0, 0, 0) == 10 * WAD
    assert bsm.bsm_kernel(True, *args[:5], args[4]) == black76_price(True, *args[:5])
