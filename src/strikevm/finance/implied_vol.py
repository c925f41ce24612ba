"""Implied volatility from a Black-Scholes-Merton price: bounded, always-terminating search.

The price is first turned into the price of the out-of-the-money option of the same
strike by put-call parity (exactly, in Q128), which is the better-conditioned one.
Its no-arbitrage range is ``(0, S e^{-qT})`` for a call and ``(0, K e^{-rT})`` for
a put; a price outside it, or one that no volatility in
``[IV_MIN_VOLATILITY, IV_MAX_VOLATILITY]`` reproduces, raises
:class:`NoImpliedVolatility`. This is also what happens where vega is negligible:
a price that equals its lower bound to the wad (deep in or out of the money, or
a tiny volatility times square-root time) has no implied volatility.

The search is Newton's method on ``ln(price(s)) - ln(target)`` (in ``s``; on
``-ln(upper - price)`` for prices above half the upper bound), kept inside a bracket
that every evaluation narrows, with a bisection step (geometric while the bracket is
wide) whenever Newton would leave it. It starts from Corrado and Miller's
approximation, or the small-price asymptote for deep out-of-the-money prices. It stops
when the price is within ``2**-32`` wad units (or ``2**-100 (S + K)``, the accuracy of
a price) of the target, when a Newton step is below ``2**-64`` of the volatility
(quadratic convergence makes the remaining error negligible), or when the bracket is
narrower than ``2**-72`` of it; it never makes more than ``IV_MAX_ITERATIONS``
evaluations plus the two at the bracket ends, so the cost of a call is bounded, and
:func:`implied_volatility_detail` reports how many it made (8 on average, 16 at most on
the test grid); a :class:`NoImpliedVolatility` carries the count made before it was raised
in its ``evaluations`` attribute. The result is rounded to the nearest wad (ties toward
+infinity).
"""

from __future__ import annotations

from typing import NamedTuple

from .bsm import (
    _LN_2POW128,
    _T_DEN,
    MAX_PRICE,
    MAX_VOLATILITY,
    WAD,
    YEAR_SECONDS,
    validate_inputs,
)
from .errors import InvalidArgument, InvalidPrice, NoImpliedVolatility
from .highprec import FRAC_BITS, ONE, PI, exp_q, isqrt, ln_q, ncdf_q, npdf_q

IV_MIN_VOLATILITY = 10**12
"""Smallest volatility searched: 0.0001% per year (wad)."""
IV_MAX_VOLATILITY = MAX_VOLATILITY
"""Largest volatility searched (wad)."""
IV_MAX_ITERATIONS = 96
"""Most price evaluations of the search proper (two more evaluate the bracket ends).

Enough for bisection alone to narrow ``[IV_MIN_VOLATILITY, IV_MAX_VOLATILITY]`` to
``2**-72`` of the volatility (about 80 steps), so the cap is never what stops it."""

_F = FRAC_BITS
_LO_Q = (IV_MIN_VOLATILITY << _F) // WAD
_HI_Q = (IV_MAX_VOLATILITY << _F) // WAD
# sqrt(2 pi) in Q128, for the at-the-money first guess.
_SQRT_2PI_Q = isqrt((2 * PI) << _F)
# Below this log-depth of the price (ln(sqrt(S' K') / price)) the first guess is the
# near-the-money approximation; beyond, the small-price asymptote.
_DEEP = 6 * ONE


class ImpliedVolatility(NamedTuple):
    """Result of :func:`implied_volatility_detail`."""

    volatility: int
    evaluations: int


def implied_volatility_detail(
    is_call: bool,
    price: int,
    spot: int,
    strike: int,
    expiry: int,
    rate: int,
    dividend_yield: int = 0,
) -> ImpliedVolatility:
    """Implied volatility (wad) and the number of price evaluations it took."""
    if type(is_call) is not bool or type(price) is not int:
        raise InvalidArgument("flag must be bool and price int")
    validate_inputs(spot, strike, 1, expiry, rate, dividend_yield)
    if not 0 <= price <= MAX_PRICE:
        raise InvalidPrice(f"price {price} outside [0, {MAX_PRICE}]")
    if expiry == 0:
        raise NoImpliedVolatility(
            "at expiry the price does not depend on volatility", evaluations=0
        )

    sqrt_t = isqrt((expiry << (2 * _F)) // YEAR_SECONDS)
    lnfk = (
        ln_q((spot << (2 * _F)) // strike)
        - _LN_2POW128
        + (((rate - dividend_yield) * expiry << _F) // _T_DEN)
    )
    df_r = exp_q(-((rate * expiry << _F) // _T_DEN)) if rate else ONE
    if dividend_yield == rate:
        df_q = df_r
    elif dividend_yield:
        df_q = exp_q(-((dividend_yield * expiry << _F) // _T_DEN))
    else:
        df_q = ONE
    sd = spot * df_q  # wad x Q128
    kd = strike * df_r
    forward_value = (sd - kd) << _F  # wad x Q256, like the prices below
    target = price << (2 * _F)
    use_call = lnfk <= 0  # the out-of-the-money side
    if use_call and not is_call:
        target += forward_value
    elif not use_call and is_call:
        target -= forward_value
    upper = (sd if use_call else kd) << _F
    if target <= 0:
        raise NoImpliedVolatility("price not above the no-arbitrage lower bound", evaluations=0)
    if target >= upper:
        raise NoImpliedVolatility("price not below the no-arbitrage upper bound", evaluations=0)

    def evaluate(sig: int) -> tuple[int, int]:
        """OTM price (wad x Q256) and vega (same unit per unit volatility) at ``sig``."""
        vst = (sig * sqrt_t) >> _F
        d1 = ((lnfk << _F) // vst) + (vst >> 1)
        d2 = d1 - vst
        if use_call:
            p = sd * ncdf_q(d1) - kd * ncdf_q(d2)
        else:
            p = kd * ncdf_q(-d2) - sd * ncdf_q(-d1)
        return p, (sd * npdf_q(d1) * sqrt_t) >> _F

    lo, hi = _LO_Q, _HI_Q
    p_lo, _ = evaluate(lo)
    if p_lo >= target:
        raise NoImpliedVolatility("price below the value at the minimum volatility", evaluations=1)
    p_hi, _ = evaluate(hi)
    if p_hi <= target:
        raise NoImpliedVolatility("price above the value at the maximum volatility", evaluations=2)

    # First guess. Near the money, Corrado and Miller's quadratic approximation
    # s sqrt(T) ~ sqrt(2 pi) / (S' + K') * (C - D/2 + sqrt((C - D/2)**2 - D**2 / pi)),
    # with S' = S e^{-qT}, K' = K e^{-rT}, D = S' - K' and C the call price. For small
    # prices the asymptote s ~ |ln(F/K)| / sqrt(2 T ln(sqrt(S' K') / price)), which lies
    # below the root, where Newton on the concave log price is monotone.
    t_q = (expiry << _F) // YEAR_SECONDS
    sig = 0
    depth = ln_q((isqrt(sd * kd) << (2 * _F)) // target) if lnfk else 0
    if depth < _DEEP:
        call_q = (target >> _F) + (0 if use_call else sd - kd)  # wad x Q128
        half_gap = call_q - ((sd - kd) >> 1)
        disc = half_gap * half_gap - ((sd - kd) * (sd - kd) << _F) // PI
        root = half_gap + (isqrt(disc) if disc > 0 else 0)
        if root > 0:
            sig = ((_SQRT_2PI_Q * root) // (sd + kd) << _F) // sqrt_t
    if sig == 0 and depth > 0:
        sig = isqrt(((lnfk * lnfk) << _F) // ((2 * depth * t_q) >> _F))
    if not lo < sig < hi:
        sig = isqrt(lo * hi)

    # Prices are known to about 2**-120 of S + K: closer than this (or than 2**-32 wad
    # units) to the target, the volatility is as good as the price determines it.
    tolerance = ((sd + kd) << (_F - 100)) + (1 << (2 * _F - 32))
    high = 2 * target > upper
    target_gap = upper - target
    evaluations = 2
    for _ in range(IV_MAX_ITERATIONS):
        evaluations += 1
        p, vega = evaluate(sig)
        if p > target:
            hi = sig
        elif p < target:
            lo = sig
        if abs(p - target) <= tolerance:
            break
        step = 0
        new = 0
        if vega > 0:
            if high:
                # near the upper bound: Newton on -ln(upper - price)
                gap = upper - p
                if gap > 0:
                    step = (ln_q((target_gap << _F) // gap) * gap) // vega
                    new = sig - step
            elif p > 0:
                step = (ln_q((p << _F) // target) * p) // vega
                new = sig - step
        if not lo < new < hi:
            new = isqrt(lo * hi) if hi > 4 * lo else (lo + hi) >> 1
            step = sig - new
        if abs(step) <= (sig >> 64) or hi - lo <= (hi >> 72):
            sig = new
            break
        sig = new
    else:
        raise NoImpliedVolatility("volatility search did not converge", evaluations=evaluations)
    vol = (sig * WAD + (1 << (_F - 1))) >> _F
    return ImpliedVolatility(vol, evaluations)


def implied_volatility(
    is_call: bool,
    price: int,
    spot: int,
    strike: int,
    expiry: int,
    rate: int,
    dividend_yield: int = 0,
) -> int:
    """Black-Scholes-Merton implied volatility (wad per year) of a European option price."""
    return implied_volatility_detail(
        is_call, price, spot, strike, expiry, rate, dividend_yield
    ).volatility
