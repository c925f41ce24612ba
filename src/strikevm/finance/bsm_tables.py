"""Import-time tables of the Black-Scholes-Merton price kernel in :mod:`strikevm.finance.bsm`.

The price needs ``exp`` twice, ``ln``, one square root and the normal CDF twice, all in
Q128 (``v / 2**128``). In CPython their cost is the number of integer operations, so the
kernel trades memory for operations: table lookups replace most series terms, and every
polynomial is short and evaluated with its own fixed-point scale per coefficient (the
high-order terms need few bits, so their products are small integers).

* ``exp``: ``2**u`` for ``u`` in log2 units is ``2**(j1/4096) * 2**(j2/2**24) * 2**s``
  with ``s < 2**-24`` and a degree-4 polynomial (relative error below ``2**-125``).
* ``ln``: the ratio ``m`` in ``[1/2, 2)`` is multiplied by a reciprocal from a 3,072-entry
  table to ``y`` in ``[1, 1 + 2**-10)``, then ``ln y = 2 atanh((y - 1) / (y + 1))`` to
  ``z**9`` (absolute error below ``2**-125``).
* square root: a 14-bit seed table (relative error below ``2**-13.99``) and three Newton
  steps (below ``2**-118``).
* normal CDF: Taylor rows about the centres ``(i + 1/2) / 256``, Chebyshev-economized
  to degree 10 on ``|t| <= 1/512`` (absolute error below ``2**-124``), up to the
  saturation point where ``1 - N(x) < 2**-130``.

Everything is computed here from exact integer series at 192 bits or more (the helpers of
:mod:`strikevm.finance.highprec`); the file holds no numeric constants beyond the layout.
"""

from __future__ import annotations

from .highprec import (
    _GUARD,
    _INV_SQRT_2PI_G,
    _LN2_G,
    _atanh_recip,
    _exp_guard,
    _isqrt_slow,
    _round_div,
)

F = 128
ONE = 1 << F
_G = _GUARD


def _to_scale(x_g: int, bits: int = F) -> int:
    """Round a ``2**-_G`` value to a ``2**-bits`` value."""
    return (x_g + (1 << (_G - bits - 1))) >> (_G - bits)


def _factorial(n: int) -> int:
    out = 1
    for k in range(2, n + 1):
        out *= k
    return out


# --------------------------------------------------------------------------------------
# exp: 2**u = 2**(j1 / 4096) * 2**(j2 / 2**24) * e**(s ln 2), s < 2**-24 (log2 units)
# --------------------------------------------------------------------------------------

EXP_SCALES = (128, 110, 86, 62, 38)
"""Fixed-point scale (bits) of the polynomial coefficient of ``s**n``, ``n = 0..4``."""


def _pow2_chain(count: int, step_bits: int) -> list[int]:
    """``2**(j * 2**-step_bits)`` at ``_G`` bits for ``j < count`` (chained products)."""
    step = _exp_guard(_LN2_G >> step_bits)
    out = []
    v = 1 << _G
    for _ in range(count):
        out.append(v)
        v = (v * step) >> _G
    return out


_HI_G = _pow2_chain(4096, 12)
POW2_HI: list[int] = [_to_scale(v) for v in _HI_G]
"""``2**(j / 4096)`` in Q128, ``j < 4096``."""
POW2_MID: list[int] = [_to_scale(v >> 1) for v in _HI_G] + POW2_HI
"""``2**((j - 4096) / 4096)`` in Q128, ``j < 8192``: ``2**u`` for ``u`` in ``[-1, 1)``
without a separate power-of-two shift."""
POW2_LO: list[int] = [_to_scale(v) for v in _pow2_chain(4096, 24)]
"""``2**(j / 2**24)`` in Q128, ``j < 4096``."""
del _HI_G

EXP_C1, EXP_C2, EXP_C3, EXP_C4 = (
    _to_scale(((_LN2_G**n) >> (_G * (n - 1))) // _factorial(n), EXP_SCALES[n]) for n in range(1, 5)
)
"""``(ln 2)**n / n!`` at scale ``EXP_SCALES[n]``."""


# --------------------------------------------------------------------------------------
# ln: m in [2**127, 2**129) (Q128), j = m >> 117 in [1024, 4096)
# --------------------------------------------------------------------------------------

LN_SCALES = (128, 108, 86, 64, 42)
"""Fixed-point scale of the coefficient ``1 / (2k + 1)`` of ``z**(2k)``, ``k = 0..4``."""

LN_RECIP: list[int] = [0] * 4096
"""``round(2**128 * 2048 / j)``: moves ``m`` in ``[j, j + 1) * 2**117`` to ``[1, 1 + 1/j)``."""
LN_CORR: list[int] = [0] * 4096
"""``-ln(LN_RECIP[j] / 2**128)`` in Q128, exact for the integer reciprocal used."""


def _ln_tables() -> None:
    # ln(j / 2048) chained from ln(1/2) = -ln 2 with ln((k + 1) / k) = 2 atanh(1 / (2k + 1));
    # the reciprocal differs from 2048 / j by a factor 1 + e, |e| < 2**-128, and
    # ln(1 + e) = e - e**2 / 2 to far below the Q128 rounding.
    log_ratio = -_LN2_G
    for j in range(1024, 4096):
        rc = _round_div(ONE * 2048, j)
        e = _round_div((rc * j - (2048 << F)) << _G, 2048 << F)
        LN_RECIP[j] = rc
        LN_CORR[j] = _to_scale(log_ratio - e + ((e * e) >> (_G + 1)))
        log_ratio += 2 * _atanh_recip(2 * j + 1, _G)


_ln_tables()

LN_A3, LN_A5, LN_A7, LN_A9 = (_round_div(1 << LN_SCALES[k], 2 * k + 1) for k in range(1, 5))
"""``1 / (2k + 1)`` at scale ``LN_SCALES[k]``."""
LN2_Q = _to_scale(_LN2_G)
"""``ln 2`` in Q128."""
LN2_MULTIPLES: list[int] = [_to_scale((k if k < 128 else k - 256) * _LN2_G) for k in range(256)]
"""``e * ln 2`` in Q128 at index ``e`` for ``-128 <= e < 128`` (negative ``e`` indexes from
the end)."""


# --------------------------------------------------------------------------------------
# square root seeds: top = n >> s in [2**12, 2**14)
# --------------------------------------------------------------------------------------


def _sqrt_seeds() -> list[int]:
    """``floor(sqrt(top + 1/2) * 2**16)`` for every 14-bit leading part ``top``."""
    out = []
    r = _isqrt_slow((2 * 4096 + 1) << 31)
    for top in range(4096, 16384):
        n = (2 * top + 1) << 31
        x = r + 1024  # above the root: consecutive roots differ by less than 2**9
        while True:
            y = (x + n // x) >> 1
            if y >= x:
                break
            x = y
        r = x
        out.append(r)
    return out


SQRT_SEED: list[int] = _sqrt_seeds()
"""Seeds for ``isqrt(n)``: ``SQRT_SEED[(n >> s) - 4096] << (s // 2 - 16)`` with ``s`` even
and ``n >> s`` of 13 or 14 bits is within ``2**-13.99`` of ``sqrt(n)`` (relative)."""


# --------------------------------------------------------------------------------------
# normal CDF rows
# --------------------------------------------------------------------------------------

NCDF_STEP_BITS = 8
"""Centres ``(i + 1/2) * 2**-8``; ``|t| <= 2**-9`` within a row."""
NCDF_DEGREE = 10
NCDF_SCALES = tuple(min(128, 140 - 9 * n) for n in range(NCDF_DEGREE + 1))
"""Fixed-point scale of the coefficient of ``t**n``: the term is below ``2**-9n`` times the
coefficient, so ``2**-(140 - 9n)`` absolute is ``2**-140`` of the result."""


def _cheb(k: int) -> list[int]:
    """Integer coefficients of the Chebyshev polynomial ``T_k`` (index = power)."""
    t0, t1 = [1], [0, 1]
    for _ in range(k - 1):
        t0, t1 = t1, [a - b for a, b in zip([0] + [2 * c for c in t1], t0 + [0, 0], strict=True)]
    return t1


def _ncdf_rows() -> list[tuple[int, ...]]:
    """Coefficients (Horner order, at ``NCDF_SCALES``) of ``N(c_i + t)`` for each centre.

    At each centre the Taylor coefficients ``a_n = b_{n-1} / n`` come from those of the
    density, ``b_{n+1} = -(c b_n + b_{n-1}) / (n + 1)``, to degree 13 at 192 bits; the
    degree-13 polynomial is economized to degree 10 (each dropped term ``a_k t**k`` is
    replaced by its Chebyshev remainder, costing ``|a_k| r**k / 2**(k-1)``). ``N(c_i)`` is
    chained through the half-way points: ``N(c_i + r) = N(c_{i+1} - r)``, ``r = 2**-9``,
    both sides summed to degree 13 (terms below ``2**-150``); ``phi`` is chained as
    ``phi(c_{i+1}) = phi(c_i) e**(-(i + 1) h**2)``.
    """
    width = 192  # working bits
    top = 13
    bits = NCDF_STEP_BITS
    r = bits + 1
    one = 1 << width
    down = _G - width
    h2 = _exp_guard(-((1 << _G) >> (2 * bits))) >> down  # e**(-h**2)
    phi = ((_INV_SQRT_2PI_G >> down) * (_exp_guard(-((1 << _G) >> (2 * r + 1))) >> down)) >> width
    h2_pow = one
    # (k, j, T_k[j], shift) for every update of the economization, highest k first
    updates = []
    for k in range(top, NCDF_DEGREE, -1):
        tk = _cheb(k)
        updates.extend((k, j, tk[j], r * (k - j) + k - 1) for j in range(k - 2, -1, -2))
    rounding = [(n, width - NCDF_SCALES[n]) for n in range(NCDF_DEGREE, -1, -1)]
    rounding = [(n, sh, 1 << (sh - 1)) for n, sh in rounding]
    rows: list[tuple[int, ...]] = []
    right = one >> 1  # N(0): the left half-way point of the first centre
    limit = one - (1 << (width - 132))
    i = 0
    while right < limit:
        c2 = 2 * i + 1  # c = c2 * 2**-r
        a = [0, phi]
        b_prev, b_cur = phi, -((c2 * phi) >> r)
        even = 0
        odd = phi >> r
        for n in range(1, top):
            an = b_cur // (n + 1)  # a_{n+1}
            a.append(an)
            if n & 1:
                even += an >> (r * (n + 1))
            else:
                odd += an >> (r * (n + 1))
            b_prev, b_cur = b_cur, -(((c2 * b_cur) >> r) + b_prev) // (n + 1)
        # N(c_i) = N(c_i - r) - sum a_n (-r)**n; N(c_i + r) = N(c_i) + sum a_n r**n
        cdf = right - even + odd
        right = cdf + even + odd
        a[0] = cdf
        for k, j, tkj, sh in updates:
            a[j] -= (a[k] * tkj) >> sh
        rows.append(tuple([(a[n] + half) >> sh for n, sh, half in rounding]))
        i += 1
        h2_pow = (h2_pow * h2) >> width
        phi = (phi * h2_pow) >> width
    return rows


NCDF_ROWS: list[tuple[int, ...]] = _ncdf_rows()
"""``NCDF_ROWS[i]``: ``(a_10, ..., a_0)`` of ``N((i + 1/2) / 256 + t)``; past the last row
``N`` is 1 to within ``2**-130``."""
NCDF_LIMIT = len(NCDF_ROWS)
