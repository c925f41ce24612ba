"""American CRR prices against QuantLib 1.44's finite-difference engine (test-only dependency).

The tree's discretisation error at a step count is measured on the European option of
the same tree against the closed form; the American price must agree with QuantLib
within it (plus the finite-difference engine's own error).
"""

from __future__ import annotations

from functools import cache

import mpmath
import pytest
from mp_reference import WAD, YEAR, Case, nat

from strikevm.finance.pricing import MAX_BINOMIAL_STEPS, binomial_price, black_scholes_price

ql = pytest.importorskip("QuantLib")

ATM = Case(100 * WAD, 100 * WAD, WAD // 5, YEAR, WAD // 20, 0)

# QuantLib 1.44, FdBlackScholesVanillaEngine (Crank-Nicolson, 8000 time steps, 1000
# space points): its own error on these cases is below 2e-4 (against 32000 x 2000).
FD_TIME_STEPS = 8000
FD_SPACE_STEPS = 1000
FD_TOLERANCE = mpmath.mpf("3e-4")


@cache
def quantlib_american(is_call: bool, case: Case) -> float:
    assert case.expiry % 86400 == 0
    today = ql.Date(1, 1, 2030)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()

    def curve(rate: int) -> object:
        return ql.YieldTermStructureHandle(ql.FlatForward(today, rate / WAD, dc))

    process = ql.BlackScholesMertonProcess(
        ql.QuoteHandle(ql.SimpleQuote(case.spot / WAD)),
        curve(case.q),
        curve(case.rate),
        ql.BlackVolTermStructureHandle(
            ql.BlackConstantVol(today, ql.NullCalendar(), case.vol / WAD, dc)
        ),
    )
    option = ql.VanillaOption(
        ql.PlainVanillaPayoff(ql.Option.Call if is_call else ql.Option.Put, case.strike / WAD),
        ql.AmericanExercise(today, today + case.expiry // 86400),
    )
    option.setPricingEngine(
        ql.FdBlackScholesVanillaEngine(
            process, FD_TIME_STEPS, FD_SPACE_STEPS, 10, ql.FdmSchemeDesc.CrankNicolson()
        )
    )
    return option.NPV()


AMERICAN_CASES = [
    (False, ATM),
    (False, Case(90 * WAD, 100 * WAD, WAD // 4, 182 * 86400, WAD // 10, WAD // 50)),
    (False, Case(110 * WAD, 100 * WAD, 3 * WAD // 10, 2 * YEAR, WAD // 20, 0)),
    (True, Case(100 * WAD, 95 * WAD, WAD // 4, YEAR, WAD // 50, WAD // 10)),
]


@pytest.mark.parametrize(("is_call", "case"), AMERICAN_CASES)
def test_american_agrees_with_quantlib(is_call: bool, case: Case) -> None:
    reference = mpmath.mpf(quantlib_american(is_call, case))
    exact_european = black_scholes_price(is_call, *case.args())
    envelopes = []
    for start in (50, 400):
        window = range(start, start + 8)
        american = max(abs(nat(_tree(is_call, True, case, n)) - reference) for n in window)
        # The tree's discretisation error at these step counts, measured on the
        # European option of the same tree against the closed form.
        european = max(abs(nat(_tree(is_call, False, case, n) - exact_european)) for n in window)
        assert american <= 3 * european / 2 + FD_TOLERANCE, (start, american, european)
        envelopes.append(american)
    assert envelopes[1] * 3 < envelopes[0]
    # At the largest step count, the same first-order bound as the European tree's.
    finest = nat(_tree(is_call, True, case, MAX_BINOMIAL_STEPS))
    bound = nat(case.spot) * nat(case.vol) * mpmath.sqrt(mpmath.mpf(case.expiry) / YEAR)
    assert abs(finest - reference) <= bound / (4 * MAX_BINOMIAL_STEPS) + FD_TOLERANCE


def _tree(is_call: bool, american: bool, case: Case, steps: int) -> int:
    return binomial_price(is_call, american, *case.args(), steps)
