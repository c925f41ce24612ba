"""Cox-Ross-Rubinstein binomial tree for European and American options on wad integers.

With ``n`` steps of length ``dt = T / n``: ``u = exp(s sqrt dt)``, ``d = 1 / u``,
up-probability ``p = (exp((r - q) dt) - d) / (u - d)`` and one-step discount
``exp(-r dt)``. Node values are held as wad x ``2**64`` integers and the result is
rounded once to the nearest wad unit (ties toward +infinity); the rounding of the
node values adds at most ``steps * 2**-64`` wad units.

Cost: the work is ``binomial_work(steps) = (steps + 1) * (steps + 2) // 2`` node
updates (each a few 256-bit multiplications), so a caller charges gas in proportion
to it. ``steps`` is capped at ``MAX_BINOMIAL_STEPS``, and ``s sqrt(T steps)`` (the
log-width of the tree) at 256 so that no node value is much wider than 256 bits
(:class:`Overflow` otherwise). When ``p`` is not strictly
between 0 and 1 (drift per step larger than the volatility per step) the tree is
not arbitrage free and :class:`TreeProbabilityOutOfRange` is raised.
"""

from __future__ import annotations

from .bsm import WAD, YEAR_SECONDS, validate_inputs
from .errors import (
    InvalidArgument,
    InvalidSteps,
    Overflow,
    TooManySteps,
    TreeProbabilityOutOfRange,
)
from .highprec import FRAC_BITS, ONE, exp_q, isqrt

MAX_BINOMIAL_STEPS = 1000
"""Largest step count accepted (about half a million node updates)."""

_F = FRAC_BITS
_VAL_BITS = 64
_PRICE_SHIFT = _F - _VAL_BITS
_INT256_MAX = (1 << 255) - 1
_MAX_SPREAD = 256 * ONE  # bound on s sqrt(T n): keeps the top node below e**256 * spot


def binomial_work(steps: int) -> int:
    """Number of node updates of a tree with ``steps`` steps (the gas-relevant work)."""
    return (steps + 1) * (steps + 2) // 2


def binomial_price(
    is_call: bool,
    is_american: bool,
    spot: int,
    strike: int,
    volatility: int,
    expiry: int,
    rate: int,
    dividend_yield: int,
    steps: int,
) -> int:
    """CRR price (wad) of a call or put, American (early exercise) or European."""
    if type(is_call) is not bool or type(is_american) is not bool or type(steps) is not int:
        raise InvalidArgument("flags must be bool and steps int")
    validate_inputs(spot, strike, volatility, expiry, rate, dividend_yield)
    if steps < 1:
        raise InvalidSteps(f"steps {steps} below 1")
    if steps > MAX_BINOMIAL_STEPS:
        raise TooManySteps(f"steps {steps} above {MAX_BINOMIAL_STEPS}")
    if expiry == 0:
        if is_call:
            return spot - strike if spot > strike else 0
        return strike - spot if strike > spot else 0

    n = steps
    step_den = WAD * YEAR_SECONDS * n
    # s * sqrt(dt), exp(+-s sqrt dt), exp((r - q) dt), exp(-r dt): all Q128.
    sdt = isqrt((volatility * volatility * expiry << (2 * _F)) // (WAD * step_den))
    if sdt * n > _MAX_SPREAD:
        raise Overflow("tree too wide: volatility * sqrt(expiry * steps) above 256")
    u = exp_q(sdt)
    d = exp_q(-sdt)
    growth = exp_q(((rate - dividend_yield) * expiry << _F) // step_den)
    disc = exp_q(-((rate * expiry << _F) // step_den))
    p = ((growth - d) << _F) // (u - d)
    if not 0 < p < ONE:
        raise TreeProbabilityOutOfRange(
            "up-move probability outside (0, 1): use more steps or a higher volatility"
        )
    pu = (disc * p) >> _F
    pd = (disc * (ONE - p)) >> _F

    # Spot at every level k in [-n, n] (node (i, j) sits at k = 2j - i), wad x 2**64.
    ups = [0] * n
    downs = [0] * n
    up = ONE
    down = ONE
    for k in range(n):
        up = (up * u) >> _F
        down = (down * d) >> _F
        ups[k] = up
        downs[k] = down
    levels = [(spot * x) >> _PRICE_SHIFT for x in reversed(downs)]
    levels.append(spot << _VAL_BITS)
    levels.extend((spot * x) >> _PRICE_SHIFT for x in ups)
    strike_v = strike << _VAL_BITS
    if is_call:
        exercise = [s - strike_v for s in levels]
    else:
        exercise = [strike_v - s for s in levels]

    values = [e if e > 0 else 0 for e in exercise[0 : 2 * n + 1 : 2]]
    if is_american:
        for i in range(n - 1, -1, -1):
            values = [
                c if (c := (pu * a + pd * b) >> _F) > e else e
                for a, b, e in zip(
                    values[1:], values, exercise[n - i : n + i + 1 : 2], strict=False
                )
            ]
    else:
        for _ in range(n):
            values = [(pu * a + pd * b) >> _F for a, b in zip(values[1:], values, strict=False)]
    price = (values[0] + (1 << (_VAL_BITS - 1))) >> _VAL_BITS
    if price > _INT256_MAX:
        raise Overflow("result does not fit in int256")
    return price
