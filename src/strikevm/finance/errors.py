"""Typed errors of the finance math, each with a stable numeric code for ABI mapping.

A precompile maps an exception to a revert by its class ``code`` (stable, never
reused) or its class name (``type(err).__name__``, usable as a Solidity error name).
"""

from __future__ import annotations

from typing import ClassVar


class PricingError(ValueError):
    """Base class of every error raised by ``strikevm.finance`` math."""

    code: ClassVar[int] = 1


class InvalidArgument(PricingError):
    """An argument has the wrong type (only ``int`` is accepted; ``bool`` for flags)."""

    code = 2


class InvalidSpot(PricingError):
    """Spot (or forward) price outside ``[1, MAX_PRICE]`` wad units."""

    code = 3


class InvalidStrike(PricingError):
    """Strike outside ``[1, MAX_PRICE]`` wad units."""

    code = 4


class InvalidVolatility(PricingError):
    """Volatility outside ``[1, MAX_VOLATILITY]`` wad units."""

    code = 5


class InvalidExpiry(PricingError):
    """Time to expiry outside ``[0, MAX_EXPIRY_SECONDS]`` seconds."""

    code = 6


class InvalidRate(PricingError):
    """Interest rate outside ``[-MAX_RATE, MAX_RATE]``."""

    code = 7


class InvalidDividendYield(PricingError):
    """Dividend (carry) yield outside ``[-MAX_RATE, MAX_RATE]``."""

    code = 8


class InvalidPrice(PricingError):
    """An option price given to implied volatility is negative or too large."""

    code = 9


class InvalidSteps(PricingError):
    """Binomial step count below 1."""

    code = 10


class TooManySteps(InvalidSteps):
    """Binomial step count above ``MAX_BINOMIAL_STEPS``."""

    code = 11


class TreeProbabilityOutOfRange(PricingError):
    """The binomial up-move probability is not strictly between 0 and 1.

    Happens when the drift per step exceeds the volatility per step; more steps fix it.
    """

    code = 12


class NoImpliedVolatility(PricingError):
    """No volatility in ``[IV_MIN_VOLATILITY, IV_MAX_VOLATILITY]`` reproduces the price.

    ``evaluations`` is the number of price evaluations the search made before it gave up
    (0 when the input was refused before any), for charging gas by the work done.
    """

    code = 13
    evaluations: int

    def __init__(self, *args: object, evaluations: int = 0) -> None:
        super().__init__(*args)
        self.evaluations = evaluations


class Overflow(PricingError):
    """A result (or an intermediate of bounded size) does not fit in a signed 256-bit word."""

    code = 14


class DomainError(PricingError):
    """Argument outside a function's mathematical domain (``ln(0)``, ``sqrt(-1)``...)."""

    code = 15


class DivisionByZero(PricingError):
    """Fixed-point division by zero."""

    code = 16


class DiscountOutOfRange(PricingError):
    """A discount factor ``e^{-rT}`` or ``e^{-qT}`` above ``e^32``.

    ``-rate * T`` or ``-yield * T`` (T in years) above ``MAX_DISCOUNT_EXPONENT = 32``: there
    the prices and greeks would be magnified by more than ``e^32`` and the Q128 pricing no
    longer meets its accuracy bar (and most such prices do not fit in int256 anyway), so
    these inputs are refused instead of priced inaccurately.
    """

    code = 17


ERRORS_BY_CODE: dict[int, type[PricingError]] = {
    cls.code: cls
    for cls in (
        PricingError,
        InvalidArgument,
        InvalidSpot,
        InvalidStrike,
        InvalidVolatility,
        InvalidExpiry,
        InvalidRate,
        InvalidDividendYield,
        InvalidPrice,
        InvalidSteps,
        TooManySteps,
        TreeProbabilityOutOfRange,
        NoImpliedVolatility,
        Overflow,
        DomainError,
        DivisionByZero,
        DiscountOutOfRange,
    )
}
"""Every error class by its code (codes are unique and stable)."""
