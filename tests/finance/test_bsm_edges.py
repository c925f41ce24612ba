"""Black-Scholes-Merton / Black-76 edge cases: expiry 0, extreme moneyness, domain limits,
typed errors, monotonicity."""

from __future__ import annotations

import itertools
import random

import pytest
from mp_reference import WAD, YEAR

from strikevm.finance import errors
from strikevm.finance.pricing import (
    MAX_DISCOUNT_EXPONENT,
    MAX_EXPIRY_SECONDS,
    MAX_PRICE,
    MAX_RATE,
    MAX_VOLATILITY,
    DiscountOutOfRange,
    InvalidArgument,
    InvalidDividendYield,
    InvalidExpiry,
    InvalidRate,
    InvalidSpot,
    InvalidStrike,
    InvalidVolatility,
    black76_greeks,
    black76_price,
    black_scholes_greeks,
    black_scholes_price,
    discounted_forward_value,
)

INT256_MAX = (1 << 255) - 1


def test_expiry_zero_is_intrinsic() -> None:
    for spot, strike in ((120 * WAD, 100 * WAD), (80 * WAD, 100 * WAD), (100 * WAD, 100 * WAD)):
        args = (spot, strike, WAD // 5, 0, WAD // 20, WAD // 50)
        assert black_scholes_price(True, *args) == max(spot - strike, 0)
        assert black_scholes_price(False, *args) == max(strike - spot, 0)
        assert black76_price(True, *args[:5]) == max(spot - strike, 0)
        call = black_scholes_greeks(True, *args)
        put = black_scholes_greeks(False, *args)
        assert call.gamma == call.vega == call.theta == call.rho == 0
        assert put.gamma == put.vega == put.theta == put.rho == 0
        if spot > strike:
            assert (call.delta, put.delta) == (WAD, 0)
        elif spot < strike:
            assert (call.delta, put.delta) == (0, -WAD)
        else:
            assert (call.delta, put.delta) == (WAD // 2, -(WAD // 2))


def test_one_second_to_expiry() -> None:
    args = (100 * WAD, 100 * WAD, WAD // 2, 1, WAD // 20, 0)
    call = black_scholes_greeks(True, *args)
    assert 0 < call.price < WAD // 100
    assert abs(call.delta - WAD // 2) < WAD // 1000
    assert call.theta < 0


def test_deep_in_and_out_of_the_money() -> None:
    for ratio in (10**-6, 10**-3, 10**3, 10**6):
        strike = 1_000 * WAD
        spot = int(strike * ratio)
        for vol, expiry in ((WAD // 100, 60), (WAD // 5, YEAR), (5 * WAD, 10 * YEAR)):
            args = (spot, strike, vol, expiry, WAD // 10, WAD // 40)
            call = black_scholes_price(True, *args)
            put = black_scholes_price(False, *args)
            forward = discounted_forward_value(spot, strike, expiry, WAD // 10, WAD // 40)
            assert call >= 0 and put >= 0
            assert abs(call - put - forward) <= 1
            if vol == WAD // 100:  # no time value left to the wad
                assert call == max(forward, 0) or put == max(-forward, 0)


def test_domain_extremes_return_or_refuse_the_discount() -> None:
    """Inside the domain every price and greek fits int256 (a discount factor is at most
    e**32); the corners beyond -rate * T = 32 raise DiscountOutOfRange, never Overflow."""
    spots = (1, WAD, MAX_PRICE)
    vols = (1, WAD, MAX_VOLATILITY)
    expiries = (1, YEAR, MAX_EXPIRY_SECONDS)
    rates = (-MAX_RATE, 0, MAX_RATE)
    refused = 0
    for s, k, v, t, r, q in itertools.product(spots, spots, vols, expiries, rates, rates):
        for is_call in (True, False):
            try:
                g = black_scholes_greeks(is_call, s, k, v, t, r, q)
            except DiscountOutOfRange:
                assert min(r, q) * t < -MAX_DISCOUNT_EXPONENT * YEAR
                refused += 1
                continue
            assert all(-INT256_MAX - 1 <= x <= INT256_MAX for x in g)
            assert g.price >= 0
    assert refused > 0


def test_discount_bound_applies_to_every_entry() -> None:
    """-rate * T or -yield * T above 32 is refused by every function, at one wad unit of
    rate past the bound; at the bound itself everything prices."""
    t = 10 * YEAR
    edge = -(MAX_DISCOUNT_EXPONENT * YEAR // t)  # -3.2 wad per year
    assert edge == -32 * WAD // 10
    for r, q in ((edge, 0), (0, edge), (edge, edge)):
        args = (WAD, WAD, WAD // 5, t, r, q)
        black_scholes_price(True, *args)
        black_scholes_greeks(False, *args)
        discounted_forward_value(WAD, WAD, t, r, q)
        bad = (WAD, WAD, WAD // 5, t, r - (r == edge), q - (q == edge))
        for fn in (black_scholes_price, black_scholes_greeks):
            with pytest.raises(DiscountOutOfRange):
                fn(True, *bad)
        with pytest.raises(DiscountOutOfRange):
            discounted_forward_value(WAD, WAD, t, bad[4], bad[5])
    black76_price(True, WAD, WAD, WAD // 5, t, edge)
    black76_greeks(True, WAD, WAD, WAD // 5, t, edge)
    for fn76 in (black76_price, black76_greeks):
        with pytest.raises(DiscountOutOfRange):
            fn76(False, WAD, WAD, WAD // 5, t, edge - 1)
    # positive rates and yields have no such bound: e**-400 is only a small factor
    assert (
        black_scholes_price(True, WAD, WAD, WAD // 5, MAX_EXPIRY_SECONDS, MAX_RATE, MAX_RATE) == 0
    )


def test_typed_errors() -> None:
    good = (100 * WAD, 100 * WAD, WAD // 5, YEAR, WAD // 20, 0)
    cases = [
        (0, InvalidSpot),
        (MAX_PRICE + 1, InvalidSpot),
        (-WAD, InvalidSpot),
    ]
    for value, error in cases:
        with pytest.raises(error):
            black_scholes_price(True, value, *good[1:])
    bad = {
        1: [(0, InvalidStrike), (MAX_PRICE + 1, InvalidStrike)],
        2: [(0, InvalidVolatility), (MAX_VOLATILITY + 1, InvalidVolatility)],
        3: [(-1, InvalidExpiry), (MAX_EXPIRY_SECONDS + 1, InvalidExpiry)],
        4: [(MAX_RATE + 1, InvalidRate), (-MAX_RATE - 1, InvalidRate)],
        5: [(MAX_RATE + 1, InvalidDividendYield)],
    }
    for position, items in bad.items():
        for value, error in items:
            args = list(good)
            args[position] = value
            with pytest.raises(error):
                black_scholes_price(True, *args)
            with pytest.raises(error):
                black_scholes_greeks(False, *args)
    with pytest.raises(InvalidSpot):
        black76_price(True, 0, WAD, WAD, YEAR, 0)
    with pytest.raises(InvalidArgument):
        black_scholes_price(1, *good)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument):
        black_scholes_price(True, 100.0, *good[1:])  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument):
        black76_greeks(True, True, WAD, WAD, YEAR, 0)  # type: ignore[arg-type]


def test_error_codes_are_unique_and_stable() -> None:
    classes = [
        c
        for c in vars(errors).values()
        if isinstance(c, type) and issubclass(c, errors.PricingError)
    ]
    codes = [c.code for c in classes]
    assert len(codes) == len(set(codes))
    assert errors.ERRORS_BY_CODE == {c.code: c for c in classes}
    assert all(issubclass(c, ValueError) for c in classes)
    # Codes are part of the precompile ABI: pinned here.
    assert errors.InvalidVolatility.code == 5
    assert errors.NoImpliedVolatility.code == 13
    assert errors.Overflow.code == 14


def test_monotone_in_volatility_and_strike() -> None:
    rng = random.Random(21)
    for _ in range(200):
        spot = rng.randrange(WAD, 10_000 * WAD)
        strike = rng.randrange(WAD, 10_000 * WAD)
        expiry = rng.randrange(3600, 3 * YEAR)
        vol = rng.randrange(WAD // 100, 2 * WAD)
        rate, q = rng.randrange(0, WAD // 5), rng.randrange(0, WAD // 10)
        for is_call in (True, False):
            low = black_scholes_price(is_call, spot, strike, vol, expiry, rate, q)
            high = black_scholes_price(is_call, spot, strike, vol + WAD // 100, expiry, rate, q)
            assert high >= low
        c1 = black_scholes_price(True, spot, strike, vol, expiry, rate, q)
        c2 = black_scholes_price(True, spot, strike + WAD, vol, expiry, rate, q)
        assert c2 <= c1
