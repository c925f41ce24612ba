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
"""

from __future__ import annotations

from typing import NamedTuple

from .errors import (
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
    _LN2_G,
    _SHIFT,
    FRAC_BITS,
    ONE,
    exp_q,
    isqrt,
    ln_q,
    ncdf_q,
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
INT256_MAX = (1 << 255) - 1

_F = FRAC_BITS
_F2 = 2 * FRAC_BITS
_F3 = 3 * FRAC_BITS
_HALF_F2 = 1 << (_F2 - 1)
_HALF_F3 = 1 << (_F3 - 1)
_T_DEN = WAD * YEAR_SECONDS
_LN_2POW128 = (FRAC_BITS * _LN2_G + (1 << (_SHIFT - 1))) >> _SHIFT
_WAD2 = WAD * WAD


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


def sqrt_years_q(expiry: int) -> int:
    """``sqrt(expiry / year)`` in Q128 (floor)."""
    return isqrt((expiry << _F2) // YEAR_SECONDS)


def log_moneyness_q(spot: int, strike: int) -> int:
    """``ln(spot / strike)`` in Q128 (the ratio is taken with 256 fractional bits)."""
    return ln_q((spot << _F2) // strike) - _LN_2POW128


def _core(
    spot: int, strike: int, volatility: int, expiry: int, rate: int, dividend_yield: int
) -> tuple[int, int, int, int, int, int, int, int, int]:
    """Shared intermediates for ``expiry > 0``.

    Returns ``(sd, kd, n1, n2, d1, sqrt_t, vst, df_q, df_r)`` where ``sd = spot*df_q``
    and ``kd = strike*df_r`` are wad x Q128, ``n1 = N(d1)``, ``n2 = N(d2)`` and the
    rest Q128.
    """
    sqrt_t = isqrt((expiry << _F2) // YEAR_SECONDS)
    vst = (volatility * sqrt_t) // WAD
    num = (
        ln_q((spot << _F2) // strike)
        - _LN_2POW128
        + (((rate - dividend_yield) * expiry << _F) // _T_DEN)
        + ((vst * vst) >> (_F + 1))
    )
    d1 = (num << _F) // vst
    d2 = d1 - vst
    df_r = exp_q(-((rate * expiry << _F) // _T_DEN)) if rate else ONE
    if dividend_yield == rate:
        df_q = df_r
    elif dividend_yield:
        df_q = exp_q(-((dividend_yield * expiry << _F) // _T_DEN))
    else:
        df_q = ONE
    return spot * df_q, strike * df_r, ncdf_q(d1), ncdf_q(d2), d1, sqrt_t, vst, df_q, df_r


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
    _flag(is_call)
    validate_inputs(spot, strike, volatility, expiry, rate, dividend_yield)
    if expiry == 0:
        return _intrinsic(is_call, spot, strike)
    sd, kd, n1, n2, _d1, _st, _vst, _dq, _dr = _core(
        spot, strike, volatility, expiry, rate, dividend_yield
    )
    if is_call:
        raw = sd * n1 - kd * n2
    else:
        raw = kd * (ONE - n2) - sd * (ONE - n1)
    return _fit((raw + _HALF_F2) >> _F2)


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
    sd, kd, n1, n2, d1, sqrt_t, vst, df_q, _df_r = _core(
        spot, strike, volatility, expiry, rate, dividend_yield
    )
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
    price = (raw + _HALF_F2) >> _F2
    delta = (delta_raw * WAD + _HALF_F2) >> _F2
    gamma_num = df_q * phi * _WAD2
    gamma_den = (spot * vst) << _F
    gamma = (2 * gamma_num + gamma_den) // (2 * gamma_den)
    vega = (sdp * sqrt_t + _HALF_F3) >> _F3
    theta = (t1 + carry + _HALF_F2) >> _F2
    rho = (rho_raw + _HALF_F2) >> _F2
    return Greeks(_fit(price), delta, _fit(gamma), _fit(vega), _fit(theta), _fit(rho))


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
    _flag(is_call)
    validate_inputs(forward, strike, volatility, expiry, rate, rate, InvalidSpot)
    if expiry == 0:
        return _intrinsic(is_call, forward, strike)
    sd, kd, n1, n2, _d1, _st, _vst, _dq, _dr = _core(
        forward, strike, volatility, expiry, rate, rate
    )
    if is_call:
        raw = sd * n1 - kd * n2
    else:
        raw = kd * (ONE - n2) - sd * (ONE - n1)
    return _fit((raw + _HALF_F2) >> _F2)


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
