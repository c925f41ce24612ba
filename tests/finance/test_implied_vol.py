"""Implied volatility: price -> vol -> price round trips, clean failures, bounded work."""

from __future__ import annotations

import random
from functools import lru_cache

import pytest
from mp_reference import WAD, YEAR, Case, draw_cases

from strikevm.finance.pricing import (
    IV_MAX_ITERATIONS,
    IV_MAX_VOLATILITY,
    InvalidArgument,
    InvalidPrice,
    NoImpliedVolatility,
    black_scholes_greeks,
    black_scholes_price,
    implied_volatility,
    implied_volatility_detail,
)

CHUNKS = 4
# vega / max(S, K) below this is "negligible": a 100-point volatility move changes the
# price by less than 1e-10 of the notional. (Observed failures sit below 2e-15.)
NEGLIGIBLE_VEGA = 10**-10


@lru_cache(maxsize=1)
def grid() -> list[Case]:
    return draw_cases(31_337, 10_000)


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_round_trip_on_grid(chunk: int) -> None:
    solved = 0
    for case in grid()[chunk::CHUNKS]:
        for is_call in (True, False):
            greeks = black_scholes_greeks(is_call, *case.args())
            price = greeks.price
            try:
                vol, evaluations = implied_volatility_detail(
                    is_call, price, case.spot, case.strike, case.expiry, case.rate, case.q
                )
            except NoImpliedVolatility:
                # Only where vega is negligible.
                assert greeks.vega < NEGLIGIBLE_VEGA * max(case.spot, case.strike), case
                continue
            assert evaluations <= IV_MAX_ITERATIONS + 2
            again = black_scholes_price(
                is_call, case.spot, case.strike, vol, case.expiry, case.rate, case.q
            )
            assert abs(again - price) <= price * 10**-12, (case, is_call, price, again, vol)
            solved += 1
    assert solved > 0.3 * 2 * len(grid()) / CHUNKS


def test_recovers_the_volatility_where_vega_is_large() -> None:
    for case in draw_cases(5, 300):
        for is_call in (True, False):
            greeks = black_scholes_greeks(is_call, *case.args())
            if greeks.vega < WAD // 100:
                continue
            vol = implied_volatility(
                is_call, greeks.price, case.spot, case.strike, case.expiry, case.rate, case.q
            )
            # The price is known to half a wad unit: the volatility to that over vega.
            assert abs(vol - case.vol) <= 1 + WAD // (2 * greeks.vega) + 1, (case, vol)


def test_any_price_terminates_cleanly() -> None:
    rng = random.Random(8)
    for case in draw_cases(9, 400):
        for is_call in (True, False):
            upper = case.spot if is_call else case.strike
            for price in (0, 1, rng.randrange(0, upper + 1), upper, upper * 2):
                try:
                    result = implied_volatility_detail(
                        is_call, price, case.spot, case.strike, case.expiry, case.rate, case.q
                    )
                except NoImpliedVolatility:
                    continue
                assert 0 < result.volatility <= IV_MAX_VOLATILITY
                assert result.evaluations <= IV_MAX_ITERATIONS + 2


def test_clear_errors() -> None:
    case = Case(100 * WAD, 100 * WAD, WAD // 5, YEAR, WAD // 20, 0)
    args = (case.spot, case.strike, case.expiry, case.rate, case.q)
    call = black_scholes_price(True, *case.args())
    assert implied_volatility(True, call, *args) == WAD // 5
    with pytest.raises(NoImpliedVolatility, match="lower bound"):
        implied_volatility(True, 0, *args)
    with pytest.raises(NoImpliedVolatility, match="upper bound"):
        implied_volatility(True, 100 * WAD, *args)
    # Below the discounted forward intrinsic value of a deep in-the-money put.
    with pytest.raises(NoImpliedVolatility, match="lower bound"):
        implied_volatility(False, 50 * WAD, 10 * WAD, 100 * WAD, YEAR, 0, 0)
    with pytest.raises(NoImpliedVolatility, match="expiry"):
        implied_volatility(True, call, case.spot, case.strike, 0, case.rate, case.q)
    with pytest.raises(InvalidPrice):
        implied_volatility(True, -1, *args)
    with pytest.raises(InvalidArgument):
        implied_volatility(1, call, *args)  # type: ignore[arg-type]
    assert issubclass(NoImpliedVolatility, ValueError)


def test_no_implied_volatility_counts_its_evaluations() -> None:
    """The exception records the price evaluations made before it (the gas charged)."""
    args = (100 * WAD, 100 * WAD, YEAR, 0, 0)
    expected = [
        ((True, 0, *args), 0, "lower bound"),  # refused before any evaluation
        ((True, 101 * WAD, *args), 0, "upper bound"),
        ((True, WAD, 100 * WAD, 100 * WAD, 0, 0, 0), 0, "expiry"),
        ((True, 1, *args), 1, "minimum volatility"),  # below the price at 1e-6
        ((True, WAD, 100 * WAD, 100 * WAD, 1, 0, 0), 2, "maximum volatility"),
    ]
    for call_args, evaluations, message in expected:
        with pytest.raises(NoImpliedVolatility, match=message) as info:
            implied_volatility_detail(*call_args)
        assert info.value.evaluations == evaluations
    assert NoImpliedVolatility("no volatility").evaluations == 0
    assert NoImpliedVolatility("gave up", evaluations=98).evaluations == 98


def test_an_exhausted_search_reports_every_evaluation(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the cap lowered below what the search needs, the error carries the full count."""
    from strikevm.finance import implied_vol

    monkeypatch.setattr(implied_vol, "IV_MAX_ITERATIONS", 3)
    monkeypatch.setattr(implied_vol, "npdf_q", lambda x: 0)  # bisection only: slow
    case = Case(100 * WAD, 110 * WAD, WAD // 4, YEAR, WAD // 20, 0)
    price = black_scholes_price(True, *case.args())
    with pytest.raises(NoImpliedVolatility, match="converge") as info:
        implied_volatility_detail(True, price, case.spot, case.strike, YEAR, WAD // 20, 0)
    assert info.value.evaluations == 3 + 2


def test_bisection_alone_converges_within_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    """With Newton disabled (vega reported as 0) the bracket alone must still converge
    before the evaluation cap: the cap never decides the outcome."""
    from strikevm.finance import implied_vol

    monkeypatch.setattr(implied_vol, "npdf_q", lambda x: 0)
    worst = 0
    for case in draw_cases(17, 60):
        for is_call in (True, False):
            price = black_scholes_price(is_call, *case.args())
            try:
                vol, evaluations = implied_volatility_detail(
                    is_call, price, case.spot, case.strike, case.expiry, case.rate, case.q
                )
            except NoImpliedVolatility as err:
                assert "converge" not in str(err)
                continue
            worst = max(worst, evaluations)
            again = black_scholes_price(
                is_call, case.spot, case.strike, vol, case.expiry, case.rate, case.q
            )
            assert abs(again - price) <= price * 10**-12
    assert 40 < worst <= IV_MAX_ITERATIONS + 2
