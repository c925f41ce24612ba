"""CRR binomial tree: equal to a 50-digit tree, converging to Black-Scholes (European) and
to QuantLib's finite-difference American price within the tree's discretisation error."""

from __future__ import annotations

import random

import mpmath
import pytest
from mp_reference import WAD, YEAR, Case, crr_reference, draw_cases, nat

from strikevm.finance.pricing import (
    MAX_BINOMIAL_STEPS,
    InvalidArgument,
    InvalidSteps,
    Overflow,
    TooManySteps,
    TreeProbabilityOutOfRange,
    binomial_price,
    binomial_work,
    black_scholes_price,
)


def _tree(is_call: bool, american: bool, case: Case, steps: int) -> int:
    return binomial_price(is_call, american, *case.args(), steps)


def test_equals_50_digit_tree() -> None:
    rng = random.Random(99)
    checked = 0
    for case in draw_cases(4242, 60):
        steps = rng.choice((1, 2, 3, 5, 8, 13, 30, 64, 100))
        for is_call in (True, False):
            for american in (True, False):
                ref = crr_reference(is_call, american, case, steps)
                if ref is None:
                    with pytest.raises(TreeProbabilityOutOfRange):
                        _tree(is_call, american, case, steps)
                    continue
                ours = _tree(is_call, american, case, steps)
                err = abs(ours - ref * WAD)
                # 1e-12 relative, or the half wad unit of the final rounding.
                assert err <= max(mpmath.mpf("1e-12") * ref * WAD, mpmath.mpf("0.5") + 1e-9), (
                    case,
                    steps,
                    is_call,
                    american,
                    ours,
                    ref * WAD,
                )
                checked += 1
    assert checked > 150


ATM = Case(100 * WAD, 100 * WAD, WAD // 5, YEAR, WAD // 20, 0)


def test_european_converges_to_black_scholes() -> None:
    cases = [
        ATM,
        Case(90 * WAD, 100 * WAD, 3 * WAD // 10, 2 * YEAR, WAD // 10, WAD // 50),
        Case(3 * WAD, 2 * WAD, WAD, YEAR // 4, -WAD // 50, WAD // 10),
    ]
    for case in cases:
        for is_call in (True, False):
            exact = black_scholes_price(is_call, *case.args())
            # CRR errors oscillate with the step count: compare the envelope (the largest
            # error over 8 consecutive step counts) at 25 and 400 steps.
            envelope = [
                max(abs(_tree(is_call, False, case, n + i) - exact) for i in range(8))
                for n in (25, 400)
            ]
            # First order: the error stays within spot * vol * sqrt(T) / (4 * steps),
            # and 16 times the steps cut the envelope more than 5 times.
            bound = nat(case.spot) * nat(case.vol) * mpmath.sqrt(mpmath.mpf(case.expiry) / YEAR)
            for n, err in zip((25, 400), envelope, strict=True):
                assert nat(err) <= bound / (4 * n), (case, is_call, envelope)
            assert envelope[1] * 5 < envelope[0], (case, is_call, envelope)


def test_american_properties() -> None:
    for case in draw_cases(77, 25):
        steps = 40
        try:
            eu_put = _tree(False, False, case, steps)
        except (TreeProbabilityOutOfRange, Overflow):
            continue
        am_put = _tree(False, True, case, steps)
        assert am_put >= eu_put
        assert am_put >= max(case.strike - case.spot, 0)
    # Without a dividend and with a positive rate an American call is never exercised early.
    case = Case(100 * WAD, 120 * WAD, WAD // 3, YEAR, WAD // 20, 0)
    assert _tree(True, True, case, 300) == _tree(True, False, case, 300)


def test_inputs_and_limits() -> None:
    with pytest.raises(InvalidSteps):
        _tree(False, True, ATM, 0)
    with pytest.raises(TooManySteps):
        _tree(False, True, ATM, MAX_BINOMIAL_STEPS + 1)
    with pytest.raises(InvalidArgument):
        binomial_price(False, 1, *ATM.args(), 10)  # type: ignore[arg-type]
    # Drift per step above volatility per step: no risk-neutral probability.
    with pytest.raises(TreeProbabilityOutOfRange):
        _tree(False, True, Case(100 * WAD, 100 * WAD, WAD // 100, YEAR, WAD // 4, 0), 2)
    # Too wide a tree (vol * sqrt(T * steps) > 256).
    with pytest.raises(Overflow):
        _tree(False, True, Case(100 * WAD, 100 * WAD, 5 * WAD, 10 * YEAR, 0, 0), 1000)
    at_expiry = Case(120 * WAD, 100 * WAD, WAD // 5, 0, WAD // 20, 0)
    assert _tree(True, True, at_expiry, 10) == 20 * WAD
    assert _tree(False, True, at_expiry, 10) == 0
    assert binomial_work(1) == 3 and binomial_work(100) == 5151
