"""Q128 core (exp, ln, isqrt, normal CDF/PDF, constants) against 50-digit mpmath."""

from __future__ import annotations

import random

import mpmath
import pytest

from strikevm.finance import highprec as hp
from strikevm.finance.errors import DomainError, Overflow

mpmath.mp.dps = 60
Q = mpmath.mpf(2) ** hp.FRAC_BITS


def q(x: int) -> mpmath.mpf:
    return mpmath.mpf(x) / Q


def test_constants_are_correctly_rounded() -> None:
    assert hp.LN2 == int(mpmath.nint(mpmath.log(2) * Q))
    assert hp.PI == int(mpmath.nint(mpmath.pi * Q))
    assert hp.INV_SQRT_2PI == int(mpmath.nint(Q / mpmath.sqrt(2 * mpmath.pi)))


def test_exp_relative_and_absolute_error() -> None:
    rng = random.Random(11)
    for _ in range(3000):
        x = rng.randrange(-95 * hp.ONE, 120 * hp.ONE)
        ref = mpmath.exp(q(x))
        err = abs(q(hp.exp_q(x)) - ref)
        bound = mpmath.mpf(2) ** -122 * (ref if ref > 1 else 1)
        assert err <= bound, x
    assert hp.exp_q(0) == hp.ONE
    assert hp.exp_q(-200 * hp.ONE) == 0
    with pytest.raises(Overflow):
        hp.exp_q(hp.EXP_MAX_ARG + 1)


def test_ln_absolute_error() -> None:
    rng = random.Random(12)
    for _ in range(3000):
        x = rng.randrange(1, 1 << rng.randrange(2, 400))
        err = abs(q(hp.ln_q(x)) - mpmath.log(q(x)))
        assert err <= mpmath.mpf(2) ** -124, x
    assert hp.ln_q(hp.ONE) == 0
    with pytest.raises(DomainError):
        hp.ln_q(0)


def test_isqrt_is_exact_floor() -> None:
    rng = random.Random(13)
    for bits in range(0, 800, 3):
        for _ in range(8):
            n = rng.randrange(0, 1 << bits) if bits else 0
            r = hp.isqrt(n)
            assert r * r <= n < (r + 1) * (r + 1)
    for k in range(1, 2000):
        assert hp.isqrt(k * k) == k and hp.isqrt(k * k - 1) == k - 1
    big = (1 << 300) + 12345
    assert hp.isqrt(big * big) == big and hp.isqrt(big * big - 1) == big - 1
    with pytest.raises(DomainError):
        hp.sqrt_q(-1)


def test_normal_cdf_and_pdf() -> None:
    rng = random.Random(14)
    for _ in range(4000):
        x = rng.randrange(-16 * hp.ONE, 16 * hp.ONE)
        assert abs(q(hp.ncdf_q(x)) - mpmath.ncdf(q(x))) <= mpmath.mpf(2) ** -122, x
        assert abs(q(hp.npdf_q(x)) - mpmath.npdf(q(x))) <= mpmath.mpf(2) ** -124, x
        assert hp.ncdf_q(x) + hp.ncdf_q(-x) == hp.ONE
    assert hp.ncdf_q(0) == hp.ONE // 2
    assert hp.ncdf_q(10**9 * hp.ONE) == hp.ONE
    assert hp.ncdf_q(-(10**9) * hp.ONE) == 0


def test_normal_cdf_near_table_edges() -> None:
    # Points at and around every table centre and the saturation limit.
    step = 1 << (hp.FRAC_BITS - 5)
    for i in range(0, 430):
        for x in (i * step - step // 2, i * step, i * step + step // 2 - 1):
            err = abs(q(hp.ncdf_q(x)) - mpmath.ncdf(q(x)))
            assert err <= mpmath.mpf(2) ** -122, x
    lim = hp.NCDF_SATURATION
    assert 1 - mpmath.ncdf(q(lim)) < mpmath.mpf(2) ** -126
