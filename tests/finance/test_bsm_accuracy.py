"""Black-Scholes-Merton and Black-76 against a 50-digit mpmath reference on a random grid.

10,000 BSM cases (call and put each) drawn with a fixed seed: strike 0.01..1e6,
spot/strike 0.01x..100x, volatility 1%..500%, expiry 1 minute..10 years, rate and
yield -5%..25%. Requirements: price error at most 1e-14 * max(S, K), and every one of the
20,000 prices exactly the reference rounded half up to the wad unit (correct rounding);
each greek within 1e-12 relative or 1e-16 absolute; put-call parity to one wad unit.
"""

from __future__ import annotations

from functools import lru_cache

import mpmath
import pytest
from mp_reference import WAD, Case, black76_reference, bsm_reference, draw_cases, nat

from strikevm.finance.pricing import (
    black76_greeks,
    black76_price,
    black_scholes_greeks,
    black_scholes_price,
    discounted_forward_value,
)

GRID_SEED = 20_240_501
GRID_SIZE = 10_000
CHUNKS = 10
B76_SEED = 7_607
B76_SIZE = 2_000
PRICE_REL_TOL = mpmath.mpf("1e-14")
GREEK_REL_TOL = mpmath.mpf("1e-12")
GREEK_ABS_TOL = mpmath.mpf("1e-16")
GREEKS = ("delta", "gamma", "vega", "theta", "rho")


@lru_cache(maxsize=1)
def grid() -> list[Case]:
    return draw_cases(GRID_SEED, GRID_SIZE)


def test_grid_covers_the_required_ranges() -> None:
    cases = grid()
    assert len(cases) >= 10_000
    moneyness = [c.spot / c.strike for c in cases]
    assert min(moneyness) < 0.0102 and max(moneyness) > 98
    vols = [c.vol / WAD for c in cases]
    assert min(vols) == 0.01 and max(vols) == 5
    expiries = [c.expiry for c in cases]
    assert min(expiries) == 60 and max(expiries) == 10 * 365 * 86400
    rates = [c.rate / WAD for c in cases]
    assert min(rates) < -0.049 and max(rates) > 0.249


def _check_greek(name: str, ours: int, ref: mpmath.mpf, case: object, side: str) -> None:
    err = abs(nat(ours) - ref)
    assert err <= max(GREEK_REL_TOL * abs(ref), GREEK_ABS_TOL), (
        f"{side} {name}: ours {ours}, reference {ref}, error {err}, case {case}"
    )


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_black_scholes_against_mpmath(chunk: int) -> None:
    for case in grid()[chunk::CHUNKS]:
        ref = bsm_reference(case)
        scale = max(nat(case.spot), nat(case.strike))
        prices = {}
        for is_call, side in ((True, "call"), (False, "put")):
            greeks = black_scholes_greeks(is_call, *case.args())
            price = black_scholes_price(is_call, *case.args())
            assert price == greeks.price
            err = abs(nat(price) - ref[side]["price"])
            assert err <= PRICE_REL_TOL * scale, (side, case, price, ref[side]["price"])
            # exact correct rounding: the reference rounded half up to the wad unit
            exact = int(mpmath.floor(ref[side]["price"] * WAD + mpmath.mpf(1) / 2))
            assert price == exact, (side, case, price, exact)
            assert price >= 0
            for name in GREEKS:
                _check_greek(name, getattr(greeks, name), ref[side][name], case, side)
            prices[side] = price
        # Put-call parity, against the correctly rounded exact forward value.
        forward = int(mpmath.nint(ref["forward"]["value"] * WAD))
        assert abs(prices["call"] - prices["put"] - forward) <= 1, case
        assert (
            abs(
                discounted_forward_value(case.spot, case.strike, case.expiry, case.rate, case.q)
                - forward
            )
            <= 1
        )


@pytest.mark.parametrize("chunk", range(2))
def test_black76_against_mpmath(chunk: int) -> None:
    for case in draw_cases(B76_SEED, B76_SIZE)[chunk::2]:
        args = (case.spot, case.strike, case.vol, case.expiry, case.rate)
        ref = black76_reference(*args)
        scale = max(nat(case.spot), nat(case.strike))
        for is_call, side in ((True, "call"), (False, "put")):
            greeks = black76_greeks(is_call, *args)
            assert black76_price(is_call, *args) == greeks.price
            err = abs(nat(greeks.price) - ref[side]["price"])
            assert err <= PRICE_REL_TOL * scale, (side, case)
            for name in GREEKS:
                _check_greek(name, getattr(greeks, name), ref[side][name], case, side)


def test_black76_is_bsm_with_yield_equal_to_rate() -> None:
    for case in draw_cases(B76_SEED + 1, 200):
        for is_call in (True, False):
            b76 = black76_price(is_call, case.spot, case.strike, case.vol, case.expiry, case.rate)
            bsm = black_scholes_price(
                is_call, case.spot, case.strike, case.vol, case.expiry, case.rate, case.rate
            )
            assert b76 == bsm
