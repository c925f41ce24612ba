"""Integer-only 18-decimal ("wad") fixed-point arithmetic with documented rounding.

A wad value ``x`` stands for ``x / 10**18``; values are signed Python ``int`` and
every result must fit a signed 256-bit word (else :class:`Overflow`).

Rounding rules:

* ``mul_down``/``div_down`` round toward -infinity, ``mul_up``/``div_up`` toward
  +infinity, ``mul``/``div`` to nearest with ties toward +infinity. All three are
  exact (the result is the correctly rounded exact quotient).
* ``sqrt`` is correctly rounded to nearest (a tie cannot occur).
* ``exp``, ``ln``, ``power``, ``normal_pdf`` and ``normal_cdf`` round to nearest
  (ties toward +infinity) a value computed in Q128 binary fixed point whose error
  is below ``2**-120`` relative (``exp``, ``power`` when the result is at least 1)
  or absolute (the others, and results below 1). They are therefore correctly rounded
  unless the exact value lies within about ``1e-18`` of a wad unit of a rounding
  boundary, and never more than one wad unit off.

Arguments must be ``int`` (``bool`` is refused) and results are deterministic on
every machine: no floating point is used anywhere.
"""

from __future__ import annotations

from .errors import DivisionByZero, DomainError, InvalidArgument, Overflow
from .highprec import (
    FRAC_BITS,
    exp_q,
    isqrt,
    ln_q,
    ncdf_q,
    npdf_q,
)

WAD = 10**18
HALF_WAD = WAD // 2
INT256_MAX = (1 << 255) - 1
INT256_MIN = -(1 << 255)

_ROUND_Q = 1 << (FRAC_BITS - 1)
# ln(10**18) in Q128 (10**18 = 2**18 * 5**18), from the exact import-time series.
_LN_WAD_Q = ln_q(WAD << FRAC_BITS)
# exp(x) overflows int256 for x > ln((2**255 - 1) / 10**18) ~ 135.306; checked exactly below.
_EXP_ARG_LIMIT = 136 * WAD


def _int(*values: int) -> None:
    for v in values:
        if type(v) is not int:
            raise InvalidArgument(f"expected int, got {type(v).__name__}")


def _fit(v: int) -> int:
    if v > INT256_MAX or v < INT256_MIN:
        raise Overflow("result does not fit in int256")
    return v


def to_q(x: int) -> int:
    """Wad to Q128 (floor)."""
    return (x << FRAC_BITS) // WAD


def from_q(x: int) -> int:
    """Q128 to wad, rounded to nearest (ties toward +infinity)."""
    return (x * WAD + _ROUND_Q) >> FRAC_BITS


def mul_down(a: int, b: int) -> int:
    """``a * b`` rounded toward -infinity."""
    _int(a, b)
    return _fit((a * b) // WAD)


def mul_up(a: int, b: int) -> int:
    """``a * b`` rounded toward +infinity."""
    _int(a, b)
    return _fit(-((-a * b) // WAD))


def mul(a: int, b: int) -> int:
    """``a * b`` rounded to nearest, ties toward +infinity."""
    _int(a, b)
    return _fit((a * b + HALF_WAD) // WAD)


def div_down(a: int, b: int) -> int:
    """``a / b`` rounded toward -infinity."""
    _int(a, b)
    if b == 0:
        raise DivisionByZero("division by zero")
    return _fit((a * WAD) // b)


def div_up(a: int, b: int) -> int:
    """``a / b`` rounded toward +infinity."""
    _int(a, b)
    if b == 0:
        raise DivisionByZero("division by zero")
    return _fit(-((-a * WAD) // b))


def div(a: int, b: int) -> int:
    """``a / b`` rounded to nearest, ties toward +infinity."""
    _int(a, b)
    if b == 0:
        raise DivisionByZero("division by zero")
    return _fit((2 * a * WAD + b) // (2 * b))


def sqrt(x: int) -> int:
    """Square root of ``x >= 0``, correctly rounded to nearest."""
    _int(x)
    if x < 0:
        raise DomainError("square root of a negative number")
    n = x * WAD
    r = isqrt(n)
    if n - r * r > r:
        r += 1
    return r


def exp(x: int) -> int:
    """``e**x``; :class:`Overflow` when the result exceeds int256, 0 below half a unit."""
    _int(x)
    if x > _EXP_ARG_LIMIT:
        raise Overflow("exp result does not fit in int256")
    return _fit(from_q(exp_q(to_q(x))))


def _ln_q_of_wad(x: int) -> int:
    # ln(x / 10**18) = ln(x) - ln(10**18); x << 128 is exact, so no input rounding.
    return ln_q(x << FRAC_BITS) - _LN_WAD_Q


def ln(x: int) -> int:
    """Natural logarithm of ``x > 0``."""
    _int(x)
    if x <= 0:
        raise DomainError("logarithm of a non-positive number")
    return from_q(_ln_q_of_wad(x))


def power(x: int, y: int) -> int:
    """``x ** y`` for ``x > 0`` (any ``y``), or ``x == 0`` with ``y >= 0`` (``0**0 = 1``).

    Computed as ``exp(y * ln x)`` in Q128; the relative error before the final rounding
    is below ``(1 + |y|) * 2**-120``.
    """
    _int(x, y)
    if x < 0:
        raise DomainError("power of a negative base")
    if x == 0:
        if y < 0:
            raise DomainError("zero to a negative power")
        return WAD if y == 0 else 0
    arg = (_ln_q_of_wad(x) * y) // WAD
    if arg > (_EXP_ARG_LIMIT << FRAC_BITS) // WAD:
        raise Overflow("power result does not fit in int256")
    return _fit(from_q(exp_q(arg)))


def normal_pdf(x: int) -> int:
    """Standard normal density ``exp(-x**2/2) / sqrt(2 pi)``."""
    _int(x)
    return from_q(npdf_q(to_q(abs(x))))


def normal_cdf(x: int) -> int:
    """Standard normal cumulative distribution ``P(Z <= x)``.

    Symmetric: ``normal_cdf(x) + normal_cdf(-x) == WAD`` except when the Q128 value
    falls exactly on a half wad unit (then ``WAD + 1``).
    """
    _int(x)
    xq = to_q(x) if x >= 0 else -to_q(-x)
    return from_q(ncdf_q(xq))
