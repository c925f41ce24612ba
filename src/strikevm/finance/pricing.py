"""Option pricing on wad integers: the public entry points for the pricing precompiles.

* :func:`black_scholes_price`, :func:`black_scholes_greeks`: Black-Scholes-Merton with a
  continuous dividend/carry yield;
* :func:`black76_price`, :func:`black76_greeks`: Black-76 for options on futures;
* :func:`binomial_price`: Cox-Ross-Rubinstein tree, American or European;
* :func:`implied_volatility`, :func:`implied_volatility_detail`: volatility from a price.

Inputs and outputs are ``int`` (wad = ``10**18``; expiry in whole seconds, year of
365 days); bad input (``-rate * T`` or ``-yield * T`` above
``MAX_DISCOUNT_EXPONENT`` included: :class:`DiscountOutOfRange`) raises a subclass of :class:`PricingError` carrying a stable
``code``. Nothing here uses floating point, randomness, clocks or hashing, so each
result is the same integer on every machine.

Work measures for gas: a Black-Scholes price, greeks or Black-76 call is constant
work; :func:`binomial_work` gives the node count of a tree; an implied volatility
call makes at most ``IV_MAX_ITERATIONS + 2`` price evaluations and reports how many
it made.
"""

from __future__ import annotations

from .binomial import MAX_BINOMIAL_STEPS, binomial_price, binomial_work
from .bsm import (
    MAX_DISCOUNT_EXPONENT,
    MAX_EXPIRY_SECONDS,
    MAX_PRICE,
    MAX_RATE,
    MAX_VOLATILITY,
    WAD,
    YEAR_SECONDS,
    Greeks,
    black76_greeks,
    black76_price,
    black_scholes_greeks,
    black_scholes_price,
    discounted_forward_value,
)
from .errors import (
    ERRORS_BY_CODE,
    DiscountOutOfRange,
    DivisionByZero,
    DomainError,
    InvalidArgument,
    InvalidDividendYield,
    InvalidExpiry,
    InvalidPrice,
    InvalidRate,
    InvalidSpot,
    InvalidSteps,
    InvalidStrike,
    InvalidVolatility,
    NoImpliedVolatility,
    Overflow,
    PricingError,
    TooManySteps,
    TreeProbabilityOutOfRange,
)
from .implied_vol import (
    IV_MAX_ITERATIONS,
    IV_MAX_VOLATILITY,
    IV_MIN_VOLATILITY,
    ImpliedVolatility,
    implied_volatility,
    implied_volatility_detail,
)

__all__ = [
    "ERRORS_BY_CODE",
    "IV_MAX_ITERATIONS",
    "IV_MAX_VOLATILITY",
    "IV_MIN_VOLATILITY",
    "MAX_BINOMIAL_STEPS",
    "MAX_DISCOUNT_EXPONENT",
    "MAX_EXPIRY_SECONDS",
    "MAX_PRICE",
    "MAX_RATE",
    "MAX_VOLATILITY",
    "WAD",
    "YEAR_SECONDS",
    "DiscountOutOfRange",
    "DivisionByZero",
    "DomainError",
    "Greeks",
    "ImpliedVolatility",
    "InvalidArgument",
    "InvalidDividendYield",
    "InvalidExpiry",
    "InvalidPrice",
    "InvalidRate",
    "InvalidSpot",
    "InvalidSteps",
    "InvalidStrike",
    "InvalidVolatility",
    "NoImpliedVolatility",
    "Overflow",
    "PricingError",
    "TooManySteps",
    "TreeProbabilityOutOfRange",
    "binomial_price",
    "binomial_work",
    "black76_greeks",
    "black76_price",
    "black_scholes_greeks",
    "black_scholes_price",
    "discounted_forward_value",
    "implied_volatility",
    "implied_volatility_detail",
]
