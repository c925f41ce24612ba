"""Internal binary fixed point (Q128): exp, ln, integer sqrt and the normal distribution.

A value ``v`` stands for ``v / 2**128``. Every function here works on plain ``int``
and is exact integer arithmetic, so results are identical on every machine.

Accuracy (checked against 50-digit references in ``tests/finance``):

* ``exp_q``: relative error below ``2**-122`` (absolute ``2**-127`` once the result
  is below 1; results below ``2**-130`` may come back as 0).
* ``ln_q``: absolute error below ``2**-124``.
* ``isqrt``: exact floor square root of any non-negative ``int``.
* ``ncdf_q``: absolute error below ``2**-122``; ``ncdf_q(-x) == ONE - ncdf_q(x)``
  exactly, and ``ncdf_q(0) == ONE // 2``.
* ``npdf_q``: absolute error below ``2**-124``.

Every table is computed at import from integer series at 256 bits, so there is
no unexplained constant in this file.
"""

from __future__ import annotations

from .errors import DomainError, Overflow

FRAC_BITS = 128
ONE = 1 << FRAC_BITS
HALF = ONE >> 1

_GUARD = 256  # working precision (bits) of the import-time computations
_SHIFT = _GUARD - FRAC_BITS


# --------------------------------------------------------------------------------------
# Import-time helpers (slow, exact integer series; never on a hot path)
# --------------------------------------------------------------------------------------


def _round_div(a: int, b: int) -> int:
    """``a / b`` rounded to nearest (ties toward +infinity), for ``b > 0``."""
    return (2 * a + b) // (2 * b)


def _to_q(x_guard: int) -> int:
    """Round a ``2**-_GUARD`` value to Q128."""
    return (x_guard + (1 << (_SHIFT - 1))) >> _SHIFT


def _atanh_recip(n: int, bits: int) -> int:
    """``atanh(1/n) * 2**bits`` (floor, error below 2 units) for an integer ``n >= 2``."""
    extra = 16
    term = (1 << (bits + extra)) // n
    n2 = n * n
    total = 0
    k = 1
    while term:
        total += term // k
        term //= n2
        k += 2
    return total >> extra


def _atan_recip(n: int, bits: int) -> int:
    """``atan(1/n) * 2**bits`` (error below 2 units) for an integer ``n >= 2``."""
    extra = 16
    term = (1 << (bits + extra)) // n
    n2 = n * n
    total = 0
    k = 1
    sign = 1
    while term:
        total += sign * (term // k)
        term //= n2
        k += 2
        sign = -sign
    return total >> extra


_LN2_G = 2 * _atanh_recip(3, _GUARD)  # ln 2 = 2 atanh(1/3)
_PI_G = 16 * _atan_recip(5, _GUARD) - 4 * _atan_recip(239, _GUARD)  # Machin


def _isqrt_slow(n: int) -> int:
    """Exact floor square root by plain Newton iteration from above."""
    if n < 0:
        raise DomainError("square root of a negative number")
    if n < 2:
        return n
    x = 1 << ((n.bit_length() + 1) >> 1)
    while True:
        y = (x + n // x) >> 1
        if y >= x:
            return x
        x = y


def _exp_guard(x: int) -> int:
    """``e**(x / 2**_GUARD) * 2**_GUARD`` for moderate ``|x|`` (import time only)."""
    extra = 48
    p = _GUARD + extra
    one = 1 << p
    halvings = (abs(x) >> _GUARD).bit_length() + 12
    y = (x << extra) >> halvings  # |y| < 2**-12
    total = one
    term = one
    n = 1
    while term not in (0, -1):
        term = ((term * y) >> p) // n
        total += term
        n += 1
    for _ in range(halvings):
        total = (total * total) >> p
    return total >> extra


# --------------------------------------------------------------------------------------
# Public constants (Q128)
# --------------------------------------------------------------------------------------

LN2 = _to_q(_LN2_G)
PI = _to_q(_PI_G)
_SQRT_2PI_G = _isqrt_slow(2 * _PI_G << _GUARD)
INV_SQRT_2PI = _to_q(_round_div(1 << (2 * _GUARD), _SQRT_2PI_G))
"""``1 / sqrt(2 pi)`` in Q128."""


# --------------------------------------------------------------------------------------
# Integer square root
# --------------------------------------------------------------------------------------


def _sqrt_table() -> list[int]:
    """``floor(sqrt(top + 1/2) * 2**16)`` for every 12-bit leading part ``top``."""
    out = []
    r = _isqrt_slow((2 * 1024 + 1) << 31)
    for top in range(1024, 4096):
        n = (2 * top + 1) << 31
        x = r + 2048  # above the root: consecutive roots differ by less than 2**10
        while True:  # Newton from above: decreases to the floor root
            y = (x + n // x) >> 1
            if y >= x:
                break
            x = y
        r = x
        out.append(r)
    return out


# _SQRT_TOP[i] = floor(sqrt(1024 + i + 1/2) * 2**16) for the 12-bit leading part of n.
_SQRT_TOP: list[int] = _sqrt_table()


def isqrt(n: int) -> int:
    """Exact ``floor(sqrt(n))`` of a non-negative ``int``.

    A 12-bit table gives a first guess within ``2**-11.9`` relative; each Newton
    step (which never goes below the floor root) then doubles the correct bits.
    """
    b = n.bit_length()
    if b < 64:
        return _isqrt_slow(n)
    s = (b - 11) & ~1
    x = _SQRT_TOP[(n >> s) - 1024] << ((s >> 1) - 16)
    x = (x + n // x) >> 1
    prec = 24
    need = (b + 1) >> 1
    while prec < need:
        x = (x + n // x) >> 1
        prec <<= 1
    while x * x > n:
        x -= 1
    return x


def sqrt_q(x: int) -> int:
    """Floor of ``sqrt(x)`` in Q128 for ``x >= 0`` (Q128 in, Q128 out)."""
    if x < 0:
        raise DomainError("square root of a negative number")
    return isqrt(x << FRAC_BITS)


# --------------------------------------------------------------------------------------
# exp
# --------------------------------------------------------------------------------------

_EXP_TAB_BITS = 10
_EXP_TAB_SHIFT = FRAC_BITS - _EXP_TAB_BITS
_EXP_TAB_HALF = 1 << (_EXP_TAB_SHIFT - 1)
_EXP_TAB_SIZE = 712  # the reduced argument lies in [0, ln 2] (plus rounding): j <= 710


def _exp_table() -> list[int]:
    """``e**(j / 1024)`` in Q128, by repeated multiplication at 256 bits (the chain adds
    under 2**-246 relative error, far below the Q128 rounding)."""
    step = _exp_guard(1 << (_GUARD - _EXP_TAB_BITS))
    out = []
    v = 1 << _GUARD
    for _ in range(_EXP_TAB_SIZE):
        out.append(_to_q(v))
        v = (v * step) >> _GUARD
    return out


_EXP_TAB: list[int] = _exp_table()


def _factorial(n: int) -> int:
    out = 1
    for k in range(2, n + 1):
        out *= k
    return out


# Taylor coefficients 1/n! for |s| <= 2**-11: the first omitted term is below 2**-131.
_EXP_DEGREE = 9
_EXP_POLY: tuple[int, ...] = tuple(
    _round_div(ONE, _factorial(n)) for n in range(_EXP_DEGREE, -1, -1)
)
_EXP_POLY_HEAD = _EXP_POLY[0]
_EXP_POLY_REST = _EXP_POLY[1:]

_INV_LN2 = (1 << (2 * FRAC_BITS)) // LN2  # floor(2**256 / ln2 / 2**128) in Q128
_LN2_SHIFT = _GUARD - FRAC_BITS
EXP_MAX_ARG = 2048 * ONE
"""Largest argument ``exp_q`` accepts (``e**2048`` is about ``2**2955``)."""
_EXP_MIN_ARG = -(FRAC_BITS + 8) * LN2  # below this e**x < 2**-136: returns 0


def exp_q(x: int) -> int:
    """``e**x`` in Q128 for a Q128 ``x <= EXP_MAX_ARG`` (relative error below 2**-122)."""
    if x < _EXP_MIN_ARG:
        return 0
    if x > EXP_MAX_ARG:
        raise Overflow("exponential argument too large")
    k = (x * _INV_LN2) >> (2 * FRAC_BITS)
    r = x - ((k * _LN2_G) >> _LN2_SHIFT)
    j = (r + _EXP_TAB_HALF) >> _EXP_TAB_SHIFT
    s = r - (j << _EXP_TAB_SHIFT)
    acc = _EXP_POLY_HEAD
    for c in _EXP_POLY_REST:
        acc = ((acc * s) >> FRAC_BITS) + c
    v = (acc * _EXP_TAB[j]) >> FRAC_BITS
    return v << k if k >= 0 else v >> -k


# --------------------------------------------------------------------------------------
# ln
# --------------------------------------------------------------------------------------

_LN_TAB_BITS = 7
_LN_TAB_SHIFT = FRAC_BITS - _LN_TAB_BITS
_LN_TAB_MASK = (1 << _LN_TAB_BITS) - 1
# For m in [1 + j/128, 1 + (j+1)/128): m * _LN_RECIP[j] lies in [1, 1 + 2**-7) (up to
# one unit of rounding), and exactly 1 at m = 1 (so ln(1) == 0).
_LN_RECIP: list[int] = [_round_div(ONE * 128, 128 + j) for j in range(128)]


def _ln_corrections() -> list[int]:
    """``-ln(_LN_RECIP[j] / 2**128)`` in Q128, exact for the integer reciprocal used.

    ``ln((128 + j) / 128)`` chains ``ln((k + 1) / k) = 2 atanh(1 / (2k + 1))``; the
    reciprocal differs from ``128 / (128 + j)`` by a factor ``1 + e`` with
    ``|e| < 2**-128``, whose logarithm is ``e`` to within ``2**-256``.
    """
    out = []
    log_ratio = 0  # ln(k / 128) at 256 bits
    for j, rc in enumerate(_LN_RECIP):
        k = 128 + j
        # e = rc * k / (128 * 2**128) - 1, at 256 bits
        e = _round_div((rc * k - (128 << FRAC_BITS)) << _GUARD, 128 << FRAC_BITS)
        out.append(_to_q(log_ratio - e + ((e * e) >> (_GUARD + 1))))
        log_ratio += 2 * _atanh_recip(2 * k + 1, _GUARD)
    return out


# -ln(_LN_RECIP[j] / 2**128), exact for the integer reciprocal actually used.
_LN_CORR: list[int] = _ln_corrections()
# atanh(z)/z = sum z^(2k) / (2k+1) for |z| <= 2**-8: first omitted term below 2**-140.
_ATANH_TERMS = 8
_ATANH_POLY: tuple[int, ...] = tuple(
    _round_div(ONE, 2 * k + 1) for k in range(_ATANH_TERMS, -1, -1)
)
_ATANH_HEAD = _ATANH_POLY[0]
_ATANH_REST = _ATANH_POLY[1:]


def ln_q(x: int) -> int:
    """Natural logarithm in Q128 of a Q128 ``x > 0`` (absolute error below 2**-124)."""
    if x <= 0:
        raise DomainError("logarithm of a non-positive number")
    e = x.bit_length() - 1 - FRAC_BITS
    m = x >> e if e >= 0 else x << -e
    j = (m >> _LN_TAB_SHIFT) & _LN_TAB_MASK
    y = (m * _LN_RECIP[j]) >> FRAC_BITS
    z = ((y - ONE) << FRAC_BITS) // (y + ONE)
    z2 = (z * z) >> FRAC_BITS
    acc = _ATANH_HEAD
    for c in _ATANH_REST:
        acc = ((acc * z2) >> FRAC_BITS) + c
    return ((e * _LN2_G) >> _LN2_SHIFT) + _LN_CORR[j] + ((z * acc) >> (FRAC_BITS - 1))


# --------------------------------------------------------------------------------------
# Standard normal distribution
# --------------------------------------------------------------------------------------
#
# N(c + t) = N(c) + phi(c) * sum_{n>=1} (-1)**(n-1) He_{n-1}(c) t**n / n!
# (He: probabilists' Hermite polynomials). Centres c_i = i/32; |t| <= 1/64; the
# series of each centre is cut where the remaining terms are below 2**-127.

_NORM_STEP_BITS = 5
_NORM_SHIFT = FRAC_BITS - _NORM_STEP_BITS
_NORM_HALF_STEP = 1 << (_NORM_SHIFT - 1)
_INV_SQRT_2PI_G = _round_div(1 << (2 * _GUARD), _SQRT_2PI_G)


def _build_normal_table() -> tuple[list[int], list[tuple[int, ...]], int]:
    """Taylor coefficients (Q128, Horner order) around each centre, and the cut-off.

    ``phi(c_i)`` is chained as ``phi(c_{i+1}) = phi(c_i) e^{-1/2048} (e^{-1/1024})**i`` and
    ``N(c_{i+1})`` as the full Taylor series at ``t = 1/32`` (every term above 2**-264),
    both at 256 bits; the accumulated error stays below 2**-240.
    """
    one_g = 1 << _GUARD
    step_scale = 1 << _NORM_STEP_BITS  # 32
    scale2 = step_scale * step_scale
    half_bits = _NORM_STEP_BITS + 1  # |t| <= 2**-6 for the stored series
    keep = 1 << (_GUARD - 127)  # stored terms must reach 2**-127 at |t| = 2**-6
    negligible = 1 << 8  # full-step terms below 2**-(G+8) end the chain sum
    a_fac = _exp_guard(-(one_g >> 11))
    b_fac = _exp_guard(-(one_g >> 10))
    phi = _INV_SQRT_2PI_G
    b_pow = one_g
    cdf = one_g >> 1  # N(0)
    heads: list[int] = []
    rests: list[tuple[int, ...]] = []
    i = 0
    while True:
        coeffs = [cdf]
        last = 1
        nxt = cdf
        h_prev, h_cur = 0, 1  # scaled Hermite He_{n-2}, He_{n-1} times 32**(n-1)
        den = 1  # 32**(n-1) * n!
        small = 0
        n = 1
        while small < 2:
            # a_n = phi(c) (-1)**(n-1) He_{n-1}(c) / n!
            a = _round_div(phi * h_cur if n % 2 else -phi * h_cur, den)
            coeffs.append(a)
            if abs(a) >> (half_bits * n) >= keep:
                last = n
            full = _round_div(a, step_scale**n)
            nxt += full
            small = small + 1 if abs(full) < negligible else 0
            h_prev, h_cur = h_cur, i * h_cur - (n - 1) * scale2 * h_prev
            n += 1
            den *= step_scale * n
        horner = tuple(_to_q(c) for c in reversed(coeffs[: last + 1]))
        heads.append(horner[0])
        rests.append(horner[1:])
        cdf = nxt
        phi = (((phi * a_fac) >> _GUARD) * b_pow) >> _GUARD
        b_pow = (b_pow * b_fac) >> _GUARD
        i += 1
        # Stop once 1 - N(c_i - 1/64) < 2**-130: beyond, N is ONE to that accuracy.
        if one_g - cdf < (1 << (_GUARD - 134)):
            break
    limit = (i << _NORM_SHIFT) - _NORM_HALF_STEP
    return heads, rests, limit


_NORM_HEADS, _NORM_RESTS, NCDF_SATURATION = _build_normal_table()
"""For ``|x| >= NCDF_SATURATION`` the CDF is returned as exactly 0 or ONE."""


def ncdf_q(x: int) -> int:
    """Standard normal CDF in Q128 of a Q128 ``x`` (absolute error below 2**-122)."""
    if x >= 0:
        if x >= NCDF_SATURATION:
            return ONE
        i = (x + _NORM_HALF_STEP) >> _NORM_SHIFT
        t = x - (i << _NORM_SHIFT)
        acc = _NORM_HEADS[i]
        for c in _NORM_RESTS[i]:
            acc = ((acc * t) >> FRAC_BITS) + c
        return acc
    if x <= -NCDF_SATURATION:
        return 0
    x = -x
    i = (x + _NORM_HALF_STEP) >> _NORM_SHIFT
    t = x - (i << _NORM_SHIFT)
    acc = _NORM_HEADS[i]
    for c in _NORM_RESTS[i]:
        acc = ((acc * t) >> FRAC_BITS) + c
    return ONE - acc


def npdf_q(x: int) -> int:
    """Standard normal density in Q128 of a Q128 ``x`` (absolute error below 2**-124)."""
    return (INV_SQRT_2PI * exp_q(-((x * x) >> (FRAC_BITS + 1)))) >> FRAC_BITS


# --------------------------------------------------------------------------------------
# Rounding helpers
# --------------------------------------------------------------------------------------


def round_shift(v: int, bits: int) -> int:
    """``v / 2**bits`` rounded to nearest, ties toward +infinity."""
    return (v + (1 << (bits - 1))) >> bits


def round_div(a: int, b: int) -> int:
    """``a / b`` rounded to nearest, ties toward +infinity (``b > 0``)."""
    return (2 * a + b) // (2 * b)
