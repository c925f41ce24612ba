"""Wad fixed point: exact rounding of mul/div/sqrt, accuracy of exp/ln/pow/normal."""

from __future__ import annotations

import random
from fractions import Fraction

import mpmath
import pytest

from strikevm.finance import fixedpoint as fp
from strikevm.finance.errors import DivisionByZero, DomainError, InvalidArgument, Overflow

mpmath.mp.dps = 60
WAD = fp.WAD


def floor_frac(x: Fraction) -> int:
    return x.numerator // x.denominator


def ceil_frac(x: Fraction) -> int:
    return -((-x.numerator) // x.denominator)


def nearest_frac(x: Fraction) -> int:
    return floor_frac(x + Fraction(1, 2))


def signed_values(rng: random.Random, count: int) -> list[int]:
    out = [0, 1, -1, WAD, -WAD, WAD // 2, -(WAD // 2), 3, -3]
    for _ in range(count):
        v = rng.randrange(0, 1 << rng.randrange(1, 120))
        out.append(v if rng.random() < 0.5 else -v)
    return out


def test_mul_div_rounding_is_exact() -> None:
    rng = random.Random(1)
    vals = signed_values(rng, 300)
    for _ in range(4000):
        a, b = rng.choice(vals), rng.choice(vals)
        prod = Fraction(a * b, WAD)
        assert fp.mul_down(a, b) == floor_frac(prod)
        assert fp.mul_up(a, b) == ceil_frac(prod)
        assert fp.mul(a, b) == nearest_frac(prod)
        if b:
            quo = Fraction(a * WAD, b)
            assert fp.div_down(a, b) == floor_frac(quo)
            assert fp.div_up(a, b) == ceil_frac(quo)
            assert fp.div(a, b) == nearest_frac(quo)
    assert fp.mul(1, WAD // 2) == 1  # tie 0.5 -> up
    assert fp.mul(-1, WAD // 2) == 0  # tie -0.5 -> toward +infinity


def test_errors_and_types() -> None:
    with pytest.raises(DivisionByZero):
        fp.div(1, 0)
    with pytest.raises(DivisionByZero):
        fp.div_up(1, 0)
    with pytest.raises(Overflow):
        fp.mul(fp.INT256_MAX, 2 * WAD)
    with pytest.raises(InvalidArgument):
        fp.mul(True, WAD)
    with pytest.raises(InvalidArgument):
        fp.exp(1.5)  # type: ignore[arg-type]
    with pytest.raises(DomainError):
        fp.ln(0)
    with pytest.raises(DomainError):
        fp.sqrt(-1)
    with pytest.raises(DomainError):
        fp.power(-WAD, WAD)
    with pytest.raises(DomainError):
        fp.power(0, -WAD)
    assert issubclass(DivisionByZero, ValueError)


def test_sqrt_is_correctly_rounded() -> None:
    rng = random.Random(2)
    for _ in range(3000):
        x = rng.randrange(0, 1 << rng.randrange(1, 250))
        r = fp.sqrt(x)
        n = x * WAD
        # r is the nearest integer to sqrt(n): (r - 1/2)^2 < n < (r + 1/2)^2
        assert (2 * r - 1) ** 2 < 4 * n < (2 * r + 1) ** 2 or (n == 0 and r == 0)
    assert fp.sqrt(4 * WAD) == 2 * WAD
    assert fp.sqrt(2 * WAD) == 1_414_213_562_373_095_049


def _nearest(ref: mpmath.mpf) -> int:
    return int(mpmath.floor(ref * WAD + mpmath.mpf(1) / 2))


def test_exp_accuracy_and_range() -> None:
    rng = random.Random(3)
    for _ in range(3000):
        x = rng.randrange(-45 * WAD, 135 * WAD)
        ref = mpmath.exp(mpmath.mpf(x) / WAD)
        ours = fp.exp(x)
        # Correctly rounded while the result is below 2**100 wad units; beyond,
        # the relative error is below 2**-120.
        assert abs(ours - ref * WAD) <= mpmath.mpf(1) / 2 + ref * WAD * mpmath.mpf(2) ** -120
        if ref * WAD < 2**100:
            assert ours == _nearest(ref), x
    assert fp.exp(0) == WAD
    assert fp.exp(WAD) == 2_718_281_828_459_045_235
    assert fp.exp(-100 * WAD) == 0
    assert fp.exp(135 * WAD) > 0
    with pytest.raises(Overflow):
        fp.exp(136 * WAD)
    with pytest.raises(Overflow):
        fp.exp(135_400_000_000_000_000_000)


def test_ln_is_correctly_rounded() -> None:
    rng = random.Random(4)
    for _ in range(3000):
        x = rng.randrange(1, 1 << rng.randrange(1, 250))
        assert fp.ln(x) == _nearest(mpmath.log(mpmath.mpf(x) / WAD)), x
    assert fp.ln(WAD) == 0
    assert fp.ln(1) == -41_446_531_673_892_822_312


def test_power_accuracy() -> None:
    rng = random.Random(5)
    for _ in range(2000):
        x = rng.randrange(1, 1000 * WAD)
        y = rng.randrange(-8 * WAD, 8 * WAD)
        ref = mpmath.power(mpmath.mpf(x) / WAD, mpmath.mpf(y) / WAD)
        if ref * WAD >= 2**250:
            continue
        err = abs(fp.power(x, y) - ref * WAD)
        rel = (1 + abs(mpmath.mpf(y) / WAD)) * mpmath.mpf(2) ** -120
        assert err <= mpmath.mpf(1) / 2 + ref * WAD * rel, (x, y)
    assert fp.power(0, 0) == WAD
    assert fp.power(0, WAD) == 0
    assert fp.power(4 * WAD, WAD // 2) == 2 * WAD
    assert fp.power(2 * WAD, 10 * WAD) == 1024 * WAD


def test_normal_functions_are_correctly_rounded() -> None:
    rng = random.Random(6)
    for _ in range(3000):
        x = rng.randrange(-40 * WAD, 40 * WAD)
        xm = mpmath.mpf(x) / WAD
        assert fp.normal_cdf(x) == _nearest(mpmath.ncdf(xm)), x
        assert fp.normal_pdf(x) == _nearest(mpmath.npdf(xm)), x
        assert fp.normal_cdf(x) + fp.normal_cdf(-x) in (WAD, WAD + 1)
        assert fp.normal_pdf(x) == fp.normal_pdf(-x)
    assert fp.normal_cdf(0) == WAD // 2
    assert fp.normal_cdf(10**30) == WAD
    assert fp.normal_cdf(-(10**30)) == 0
