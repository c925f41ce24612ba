"""Black-Scholes-Merton (with a continuous yield) and Black-76: prices and greeks on wad ints.

Units (all integers, no floating point):

* prices, spot, forward, strike: wad (``10**18`` = 1 unit of the quote asset);
* volatility, rate, dividend (carry) yield: wad per year (``5 * 10**16`` = 5%);
  rates and yields may be negative;
* expiry: whole seconds to expiry, with a year of ``YEAR_SECONDS`` = 365 days.

Every result is computed in Q128 binary fixed point from the exact integer inputs
and rounded once, to the nearest wad unit (ties toward +infinity). Greeks are in
natural units scaled by ``10**18``: delta per unit of spot, gamma per unit of spot
per unit of spot, vega per 1.0 (100 points) of volatility, theta per year of
calendar time (the change of value as time passes, ``-dV/dT``), rho per 1.0 of rate.

At ``expiry == 0`` the price is the intrinsic value and the greeks are those of the
payoff (delta 0, 1 or 1/2 at the money; the others 0).

Every function runs through one straight-line kernel (:func:`bsm_kernel`) over the tables
of :mod:`strikevm.finance.bsm_tables`: in CPython an integer operation costs 20-50 ns
nearly whatever its width, so the kernel is built to use few of them (table range
reduction, short polynomials, no helper calls).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from .bsm_tables import (
    EXP_C1,
    EXP_C2,
    EXP_C3,
    EXP_C4,
    LN2_MULTIPLES,
    LN2_Q,
    LN_A3,
    LN_A5,
    LN_A7,
    LN_A9,
    LN_CORR,
    LN_RECIP,
    NCDF_LIMIT,
    NCDF_ROWS,
    POW2_HI,
    POW2_LO,
    POW2_MID,
    SQRT_SEED,
)
from .errors import (
    DiscountOutOfRange,
    InvalidArgument,
    InvalidDividendYield,
    InvalidExpiry,
    InvalidRate,
    InvalidSpot,
    InvalidStrike,
    InvalidVolatility,
    Overflow,
    PricingError,
)
from .highprec import (
    _GUARD,
    _LN2_G,
    _SHIFT,
    FRAC_BITS,
    ONE,
    exp_q,
    isqrt,
    npdf_q,
)

WAD = 10**18
YEAR_SECONDS = 365 * 24 * 60 * 60
MAX_PRICE = 10**36
"""Largest spot, forward or strike (wad units): 10**18 units of the quote asset."""
MAX_VOLATILITY = 100 * WAD
"""Largest volatility: 10,000% per year."""
MAX_EXPIRY_SECONDS = 100 * YEAR_SECONDS
"""Longest time to expiry: 100 years."""
MAX_RATE = 4 * WAD
"""Largest magnitude of a rate or a yield: 400% per year."""
MAX_DISCOUNT_EXPONENT = 32 * WAD
"""Largest ``-rate * T`` and ``-yield * T`` (wad, T in years): discount factors ``e^{-rT}``,
``e^{-qT}`` at most ``e^32`` (about 7.9e13), else :class:`DiscountOutOfRange`. Every result
carries an absolute error of about ``2**-124`` of ``S e^{-qT} + K e^{-rT}``; up to ``e^32`` it
stays far inside the accuracy bar (``1e-14 * max(S, K)``; greeks 1e-12 relative or 1e-16
absolute on the test grid), beyond about ``e^53`` prices fail it."""
INT256_MAX = (1 << 255) - 1

_F = FRAC_BITS
_F2 = 2 * FRAC_BITS
_F3 = 3 * FRAC_BITS
_HALF_F2 = 1 << (_F2 - 1)
_HALF_F3 = 1 << (_F3 - 1)
_T_DEN = WAD * YEAR_SECONDS
_LN_2POW128 = (FRAC_BITS * _LN2_G + (1 << (_SHIFT - 1))) >> _SHIFT
_WAD2 = WAD * WAD
_MAX_RT = MAX_DISCOUNT_EXPONENT * YEAR_SECONDS  # bound on -rate * expiry (wad x seconds)

# Kernel scalings: rate * expiry * _CY >> _KY is -rate T / ln 2 in Q128 (_CY has 154 bits,
# so the floor is exact to a unit), the exponent of the discount factor in log2 units;
# vol**2 * expiry * _CV >> _KV is (vol sqrt T)**2 in Q256.
_KY = 120
_CY = -((1 << (_KY + _F + _GUARD)) // (_T_DEN * _LN2_G))
_KV = 40
_CV = (1 << (_KV + _F2)) // (_WAD2 * YEAR_SECONDS)
_M104 = (1 << 104) - 1
_M120 = (1 << 120) - 1
_H120 = 1 << 119


class Greeks(NamedTuple):
    """Price and first-order sensitivities (wad; see the module docstring for units)."""

    price: int
    delta: int
    gamma: int
    vega: int
    theta: int
    rho: int


def validate_inputs(
    spot: int,
    strike: int,
    volatility: int,
    expiry: int,
    rate: int,
    dividend_yield: int,
    spot_error: type[PricingError] = InvalidSpot,
) -> None:
    """Raise the typed error of the first argument outside its documented domain."""
    if (
        type(spot) is not int
        or type(strike) is not int
        or type(volatility) is not int
        or type(expiry) is not int
        or type(rate) is not int
        or type(dividend_yield) is not int
    ):
        raise InvalidArgument("pricing arguments must be int")
    if not 0 < spot <= MAX_PRICE:
        raise spot_error(f"spot/forward {spot} outside [1, {MAX_PRICE}]")
    if not 0 < strike <= MAX_PRICE:
        raise InvalidStrike(f"strike {strike} outside [1, {MAX_PRICE}]")
    if not 0 < volatility <= MAX_VOLATILITY:
        raise InvalidVolatility(f"volatility {volatility} outside [1, {MAX_VOLATILITY}]")
    if not 0 <= expiry <= MAX_EXPIRY_SECONDS:
        raise InvalidExpiry(f"expiry {expiry} s outside [0, {MAX_EXPIRY_SECONDS}]")
    if not -MAX_RATE <= rate <= MAX_RATE:
        raise InvalidRate(f"rate {rate} outside [-{MAX_RATE}, {MAX_RATE}]")
    if not -MAX_RATE <= dividend_yield <= MAX_RATE:
        raise InvalidDividendYield(f"yield {dividend_yield} outside [-{MAX_RATE}, {MAX_RATE}]")
    if -rate * expiry > _MAX_RT or -dividend_yield * expiry > _MAX_RT:
        raise DiscountOutOfRange(
            f"-rate * T or -yield * T above {MAX_DISCOUNT_EXPONENT // WAD} "
            f"(rate {rate}, yield {dividend_yield}, expiry {expiry} s)"
        )


def _flag(is_call: bool) -> None:
    if type(is_call) is not bool:
        raise InvalidArgument("option type flag must be bool")


def _fit(v: int) -> int:
    if v > INT256_MAX or v < -INT256_MAX - 1:
        raise Overflow("result does not fit in int256")
    return v


def discount_factor_q(rate: int, expiry: int) -> int:
    """``exp(-rate * expiry / year)`` in Q128 (rate in wad, expiry in seconds)."""
    if rate == 0 or expiry == 0:
        return ONE
    return exp_q(-((rate * expiry << _F) // _T_DEN))


def _pow2(u: int) -> int:
    """2**(u / 2**128) in Q128, for a discount exponent u = -rT / ln 2 (Q128).

    2**(j1/4096) 2**(j2/2**24) e**(g ln 2) with g < 2**-24 and a degree-4
    polynomial; |u| < 1 needs no shift.
    """
    g = u & _M104
    p = ((((((EXP_C4 * g >> 104) + EXP_C3) * g >> 104) + EXP_C2) * g >> 104) + EXP_C1) * g
    if -ONE <= u < ONE:
        return (POW2_MID[(u >> 116) + 4096] * POW2_LO[(u >> 104) & 4095] >> 128) * (
            (p >> 110) + ONE
        ) >> 128
    d = (POW2_HI[(u >> 116) & 4095] * POW2_LO[(u >> 104) & 4095] >> 128) * ((p >> 110) + ONE) >> 128
    k = u >> 128
    return d << k if k >= 0 else d >> -k


def bsm_kernel(
    is_call: bool,
    spot: int,
    strike: int,
    volatility: int,
    expiry: int,
    rate: int,
    dividend_yield: int,
    detail: bool = False,
) -> Any:
    """The price (wad) for arguments of the right types; the kernel of every BSM function.

    Checks the ranges, ``-rate * T`` and ``-yield * T`` included (a failure falls back to
    :func:`validate_inputs` for the typed error; expiry 0 gives the intrinsic value). With ``detail`` it returns
    ``(sd, kd, n1, n2, d1, v, dq, dr)`` instead: ``sd = spot * dq`` and ``kd = strike *
    dr`` (wad x Q128), ``n1 = N(d1)``, ``n2 = N(d2)``, ``v = vol sqrt T`` and the discount
    factors ``dq = e**(-qT)``, ``dr = e**(-rT)``, all Q128.

    Written out as one function, without helper calls, because it is the hot path of the
    pricing contract. Errors (Q128): ``v`` below ``2**-118`` relative plus ``2**-127``;
    ``ln(S/K)`` below ``2**-123``; discount factors ``2**-124`` relative; ``N`` ``2**-124``
    absolute. The price is stationary in ``d1`` (with ``d2 = d1 - v`` exactly), so an
    error of ``d1`` enters it squared.
    """
    q = dividend_yield
    if not (
        0 < spot <= MAX_PRICE
        and 0 < strike <= MAX_PRICE
        and 0 < volatility <= MAX_VOLATILITY
        and 0 < expiry <= MAX_EXPIRY_SECONDS
        and -MAX_RATE <= rate <= MAX_RATE
        and -MAX_RATE <= q <= MAX_RATE
        and -rate * expiry <= _MAX_RT
        and -q * expiry <= _MAX_RT
    ):
        validate_inputs(spot, strike, volatility, expiry, rate, q)
        return _intrinsic(is_call, spot, strike)  # the one valid case left: expiry 0

    # v = vol sqrt(T): n = v**2 in Q256, a 14-bit seed and three Newton steps (v in Q128)
    n = (volatility * volatility * expiry * _CV) >> _KV
    s = (n.bit_length() - 13) & -2
    v = SQRT_SEED[(n >> s) - 4096] << ((s >> 1) - 16)
    v = (v + n // v) >> 1
    v = (v + n // v) >> 1
    v = (v + n // v) >> 1

    # Discount factors 2**u, u = -rT / ln 2 (Q128), see _pow2.
    ec = expiry * _CY
    if rate:
        ur = rate * ec >> _KY
        dr = _pow2(ur)
        kd = strike * dr
    else:
        ur = 0
        dr = ONE
        kd = strike << 128
    if q == rate:
        uq = ur
        dq = dr
        sd = spot * dr
    elif q:
        uq = q * ec >> _KY
        dq = _pow2(uq)
        sd = spot * dq
    else:
        uq = 0
        dq = ONE
        sd = spot << 128

    # ln(S/K): m = S/K * 2**(128 - e) in [2**127, 2**129), y = m / (j / 2048) in
    # [1, 1 + 2**-10), ln y = 2 atanh(z), z = (y - 1) / (y + 1) < 2**-11, series to z**9.
    e = spot.bit_length() - strike.bit_length()
    m = (spot << (128 - e)) // strike
    j = m >> 117
    y = m * LN_RECIP[j] >> 128
    z = ((y - ONE) << 128) // (y + ONE)
    z2 = z * z >> 128
    a = (((((LN_A9 * z2 >> 106) + LN_A7) * z2 >> 106) + LN_A5) * z2 >> 106) + LN_A3
    a = (a * z2 >> 108) + ONE
    num = (
        LN_CORR[j]
        + LN2_MULTIPLES[e]
        + (z * a >> 127)
        + ((uq - ur) * LN2_Q >> 128)  # (r - q) T
        + (n >> 129)  # v**2 / 2
    )
    d1 = (num << 128) // v

    # N(d1), N(d2): Taylor rows about (i + 1/2) / 256, t in [-1/512, 1/512), scales
    # bsm_tables.NCDF_SCALES; N(-x) = 1 - N(x); 1 (or 0) past the last row.
    x = d1 if d1 >= 0 else -d1
    i = x >> 120
    if i < NCDF_LIMIT:
        t = (x & _M120) - _H120
        c10, c9, c8, c7, c6, c5, c4, c3, c2, c1, c0 = NCDF_ROWS[i]
        a = (c10 * t >> 119) + c9
        a = (a * t >> 119) + c8
        a = (a * t >> 119) + c7
        a = (a * t >> 119) + c6
        a = (a * t >> 119) + c5
        a = (a * t >> 119) + c4
        a = (a * t >> 119) + c3
        a = (a * t >> 119) + c2
        a = (a * t >> 122) + c1
        a = (a * t >> 128) + c0
        n1 = a if d1 >= 0 else ONE - a
    else:
        n1 = ONE if d1 >= 0 else 0
    d2 = d1 - v
    x = d2 if d2 >= 0 else -d2
    i = x >> 120
    if i < NCDF_LIMIT:
        t = (x & _M120) - _H120
        c10, c9, c8, c7, c6, c5, c4, c3, c2, c1, c0 = NCDF_ROWS[i]
        a = (c10 * t >> 119) + c9
        a = (a * t >> 119) + c8
        a = (a * t >> 119) + c7
        a = (a * t >> 119) + c6
        a = (a * t >> 119) + c5
        a = (a * t >> 119) + c4
        a = (a * t >> 119) + c3
        a = (a * t >> 119) + c2
        a = (a * t >> 122) + c1
        a = (a * t >> 128) + c0
        n2 = a if d2 >= 0 else ONE - a
    else:
        n2 = ONE if d2 >= 0 else 0

    if detail:
        return sd, kd, n1, n2, d1, v, dq, dr
    if is_call:
        raw = sd * n1 - kd * n2
    else:
        raw = kd * (ONE - n2) - sd * (ONE - n1)
    price = (raw + _HALF_F2) >> _F2
    if price > INT256_MAX:
        raise Overflow("result does not fit in int256")
    return price


# The optional C accelerator (``_bsm_native.c``): the same integers as bsm_kernel for every
# input, faster. It takes every constant and table from here and bsm_tables, and hands any
# input it does not price itself (errors, expiry 0) back to bsm_kernel.
try:
    from . import _bsm_native as _native
except ImportError:  # not built: the Python kernel alone, same results
    _native = None

NATIVE: bool = False
"""Whether the C accelerator is loaded and used by :data:`bsm_price`."""
bsm_price: Callable[[bool, int, int, int, int, int, int], int] = bsm_kernel
"""The price of :func:`bsm_kernel` (same arguments, without ``detail``): the C accelerator
when it is built, else the kernel itself."""
bsm_price_words: Callable[[bytes, bool], bytes | None] | None = None
"""``(calldata, black76) -> 32-byte price or None``: the C accelerator's decoding of a
``blackScholesPrice`` / ``black76Price`` call (``None`` unless it is a plain success), or
``None`` without the accelerator."""

if _native is not None:
    _native.init(
        bsm_kernel,
        (
            _CV,
            _KV,
            _CY,
            _KY,
            EXP_C1,
            EXP_C2,
            EXP_C3,
            EXP_C4,
            LN_A3,
            LN_A5,
            LN_A7,
            LN_A9,
            LN2_Q,
            MAX_PRICE,
            MAX_VOLATILITY,
            MAX_EXPIRY_SECONDS,
            MAX_RATE,
            _MAX_RT,
        ),
        POW2_HI,
        POW2_MID,
        POW2_LO,
        LN_RECIP,
        LN_CORR,
        LN2_MULTIPLES,
        SQRT_SEED,
        NCDF_ROWS,
    )
    NATIVE = True
    bsm_price = _native.price
    bsm_price_words = _native.price_words


def _intrinsic(is_call: bool, spot: int, strike: int) -> int:
    if is_call:
        return spot - strike if spot > strike else 0
    return strike - spot if strike > spot else 0


def black_scholes_price(
    is_call: bool,
    spot: int,
    strike: int,
    volatility: int,
    expiry: int,
    rate: int,
    dividend_yield: int = 0,
) -> int:
    """Black-Scholes-Merton price of a European call (``is_call``) or put, in wad.

    ``C = S e^{-qT} N(d1) - K e^{-rT} N(d2)``, ``P = K e^{-rT} N(-d2) - S e^{-qT} N(-d1)``,
    ``d1 = (ln(S/K) + (r - q + s^2/2) T) / (s sqrt T)``, ``d2 = d1 - s sqrt T``.
    Put-call parity holds to one wad unit: ``C - P - round(S e^{-qT} - K e^{-rT})`` is
    -1, 0 or 1.
    """
    if (
        type(is_call) is not bool
        or type(spot) is not int
        or type(strike) is not int
        or type(volatility) is not int
        or type(expiry) is not int
        or type(rate) is not int
        or type(dividend_yield) is not int
    ):
        _flag(is_call)
        validate_inputs(spot, strike, volatility, expiry, rate, dividend_yield)
    return bsm_price(is_call, spot, strike, volatility, expiry, rate, dividend_yield)


def _expiry_greeks(is_call: bool, spot: int, strike: int) -> Greeks:
    if spot > strike:
        delta = WAD if is_call else 0
    elif spot < strike:
        delta = 0 if is_call else -WAD
    else:
        delta = WAD // 2 if is_call else -(WAD // 2)
    return Greeks(_intrinsic(is_call, spot, strike), delta, 0, 0, 0, 0)


def _greeks(
    is_call: bool,
    spot: int,
    strike: int,
    volatility: int,
    expiry: int,
    rate: int,
    dividend_yield: int,
    black76: bool,
) -> Greeks:
    sd, kd, n1, n2, d1, vst, df_q, _df_r = bsm_kernel(
        is_call, spot, strike, volatility, expiry, rate, dividend_yield, True
    )
    sqrt_t = isqrt((expiry << _F2) // YEAR_SECONDS)
    phi = npdf_q(d1)
    sdp = sd * phi  # S e^{-qT} phi(d1), wad x Q256
    # theta's first term: -S e^{-qT} phi(d1) sigma / (2 sqrt T)
    t1 = -((sdp * volatility << _F) // (2 * WAD * sqrt_t))
    if is_call:
        raw = sd * n1 - kd * n2
        delta_raw = df_q * n1
        carry = (dividend_yield * sd * n1 - rate * kd * n2) // WAD
        rho_raw = (kd * n2 * expiry) // YEAR_SECONDS
    else:
        m1 = ONE - n1
        m2 = ONE - n2
        raw = kd * m2 - sd * m1
        delta_raw = -df_q * m1
        carry = (rate * kd * m2 - dividend_yield * sd * m1) // WAD
        rho_raw = -(kd * m2 * expiry) // YEAR_SECONDS
    if black76:
        rho_raw = -(raw * expiry) // YEAR_SECONDS
    price = (raw + _HALF_F2) >> _F2  # the same integers and rounding as bsm_kernel's price
    delta = (delta_raw * WAD + _HALF_F2) >> _F2
    gamma_num = df_q * phi * _WAD2
    gamma_den = (spot * vst) << _F
    gamma = (2 * gamma_num + gamma_den) // (2 * gamma_den)
    vega = (sdp * sqrt_t + _HALF_F3) >> _F3
    theta = (t1 + carry + _HALF_F2) >> _F2
    rho = (rho_raw + _HALF_F2) >> _F2
    return Greeks(_fit(price), _fit(delta), _fit(gamma), _fit(vega), _fit(theta), _fit(rho))


def black_scholes_greeks(
    is_call: bool,
    spot: int,
    strike: int,
    volatility: int,
    expiry: int,
    rate: int,
    dividend_yield: int = 0,
) -> Greeks:
    """Price, delta, gamma, vega, theta and rho of a European option under BSM."""
    _flag(is_call)
    validate_inputs(spot, strike, volatility, expiry, rate, dividend_yield)
    if expiry == 0:
        return _expiry_greeks(is_call, spot, strike)
    return _greeks(is_call, spot, strike, volatility, expiry, rate, dividend_yield, False)


def black76_price(
    is_call: bool, forward: int, strike: int, volatility: int, expiry: int, rate: int
) -> int:
    """Black-76 price of a European option on a futures/forward price ``forward``.

    ``C = e^{-rT} (F N(d1) - K N(d2))``, ``d1 = (ln(F/K) + s^2 T / 2) / (s sqrt T)``:
    Black-Scholes-Merton with the yield equal to the rate.
    """
    if (
        type(is_call) is not bool
        or type(forward) is not int
        or type(strike) is not int
        or type(volatility) is not int
        or type(expiry) is not int
        or type(rate) is not int
    ):
        _flag(is_call)
        validate_inputs(forward, strike, volatility, expiry, rate, rate, InvalidSpot)
    return bsm_price(is_call, forward, strike, volatility, expiry, rate, rate)


def black76_greeks(
    is_call: bool, forward: int, strike: int, volatility: int, expiry: int, rate: int
) -> Greeks:
    """Black-76 price and greeks; delta and gamma are with respect to the forward and
    rho is ``dV/dr`` with the forward held fixed (``-T * price``)."""
    _flag(is_call)
    validate_inputs(forward, strike, volatility, expiry, rate, rate, InvalidSpot)
    if expiry == 0:
        return _expiry_greeks(is_call, forward, strike)
    return _greeks(is_call, forward, strike, volatility, expiry, rate, rate, True)


def discounted_forward_value(
    spot: int, strike: int, expiry: int, rate: int, dividend_yield: int = 0
) -> int:
    """``S e^{-qT} - K e^{-rT}`` rounded to nearest: the right side of put-call parity."""
    validate_inputs(spot, strike, 1, expiry, rate, dividend_yield)
    raw = spot * discount_factor_q(dividend_yield, expiry) - strike * discount_factor_q(
        rate, expiry
    )
    return _fit((raw + (1 << (_F - 1))) >> _F)
