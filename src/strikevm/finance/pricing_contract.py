"""StrikePricing: the option-pricing system contract, callable from EVM bytecode.

One native contract at ``PRICING_ADDRESS`` (``0x...5354_0001``) exposes each function
of :mod:`strikevm.finance.pricing` as a Solidity function with its own selector, so that
``IStrikePricing(0x0000000000000000000000000000000053540001).blackScholesPrice(...)``
works from any contract (``contracts/IStrikePricing.sol``). Inputs and outputs follow
the Solidity ABI; bad input reverts with a Solidity custom error (``ERROR_SIGNATURES``)
after charging gas, and nothing ever raises out of the call.

Gas (``gas_cost`` and the ``GAS_*`` constants) is charged before the inputs are
checked: a fixed amount per function, per option for the batch, per tree node for the
binomial tree and per price evaluation for implied volatility. The constants are
calibrated against the interpreter (see ``docs/pricing.md``). Pricing is pure: the
contract reads and writes no state, so STATICCALL and DELEGATECALL work, and any call
that carries value reverts with ``ValueNotAccepted``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from strikevm.vm.env import MessageResult
from strikevm.vm.errors import NativeRevertError, OutOfGas

from . import abi
from .bsm import bsm_price, bsm_price_words
from .pricing import (
    IV_MAX_ITERATIONS,
    MAX_BINOMIAL_STEPS,
    DiscountOutOfRange,
    DivisionByZero,
    DomainError,
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
    binomial_price,
    binomial_work,
    black76_greeks,
    black_scholes_greeks,
    implied_volatility_detail,
)

if TYPE_CHECKING:
    from strikevm.vm.host import Host

PRICING_ADDRESS = 0x53540001
"""Address of StrikePricing, inside the reserved system range 0x53540000-0x5354ffff."""

# --------------------------------------------------------------------------- gas schedule
# Calibrated so that a unit of gas buys no more CPU time here than it does, on average,
# in the interpreter (docs/pricing.md, "Gas calibration"); re-measure with
# `bench/bench_pricing_precompile.py --calibrate`.

GAS_BASE = 400
"""Any call that is rejected before a function runs (short or unknown selector, value)."""
GAS_BS_PRICE = 600
GAS_BS_GREEKS = 3_200
GAS_B76_PRICE = 550
GAS_B76_GREEKS = 3_100
GAS_IV_BASE = 2_000
GAS_IV_EVALUATION = 1_750
GAS_BINOMIAL_BASE = 10_000
GAS_BINOMIAL_NODE = 36
GAS_BATCH_BASE = 1_000
GAS_BATCH_OPTION = 650

IV_MAX_EVALUATIONS = IV_MAX_ITERATIONS + 2
"""Most price evaluations an implied-volatility search makes (the bracket ends included)."""
GAS_IV_MAX = GAS_IV_BASE + GAS_IV_EVALUATION * IV_MAX_EVALUATIONS
"""Gas an implied-volatility call must be given before it starts (the most it can use)."""

# --------------------------------------------------------------------------- errors

ERR_UNKNOWN_SELECTOR = "UnknownSelector(bytes4)"
ERR_MALFORMED = "MalformedCalldata()"
ERR_VALUE = "ValueNotAccepted(uint256)"
ERR_BATCH_ITEM = "BatchItemFailed(uint256,bytes)"
ERR_PRICING_FAILED = "PricingFailed(uint256)"

# error class -> (Solidity error, role of the argument it reports or None)
_PRICING_ERRORS: dict[type[Exception], tuple[str, str | None]] = {
    InvalidSpot: ("InvalidSpot(uint256)", "spot"),
    InvalidStrike: ("InvalidStrike(uint256)", "strike"),
    InvalidVolatility: ("InvalidVolatility(uint256)", "volatility"),
    InvalidExpiry: ("InvalidExpiry(uint256)", "expiry"),
    InvalidRate: ("InvalidRate(int256)", "rate"),
    InvalidDividendYield: ("InvalidDividendYield(int256)", "dividendYield"),
    InvalidPrice: ("InvalidPrice(uint256)", "price"),
    InvalidSteps: ("InvalidSteps(uint256)", "steps"),
    TooManySteps: ("TooManySteps(uint256)", "steps"),
    TreeProbabilityOutOfRange: ("TreeProbabilityOutOfRange()", None),
    NoImpliedVolatility: ("NoImpliedVolatility()", None),
    Overflow: ("Overflow()", None),
    DomainError: ("DomainError()", None),
    DivisionByZero: ("DivisionByZero()", None),
    DiscountOutOfRange: ("DiscountOutOfRange()", None),
}

ERROR_SIGNATURES: tuple[str, ...] = (
    ERR_UNKNOWN_SELECTOR,
    ERR_MALFORMED,
    ERR_VALUE,
    *(sig for sig, _role in _PRICING_ERRORS.values()),
    ERR_PRICING_FAILED,
    ERR_BATCH_ITEM,
)
"""Every custom error the contract reverts with (declared in IStrikePricing.sol)."""

ERROR_SELECTORS: dict[bytes, str] = {abi.selector(sig): sig for sig in ERROR_SIGNATURES}
"""Error selector -> signature, for decoding revert data."""


class PricingRevert(NativeRevertError):
    """Stored in ``MessageResult.error`` when the contract reverts; ``data`` is the output."""

    errors = ERROR_SELECTORS

    def __str__(self) -> str:
        return f"execution reverted: {self.name}"


def decode_error(data: bytes) -> tuple[str, tuple[abi.AbiValue, ...]]:
    """``(signature, arguments)`` of revert data produced by this contract."""
    signature = ERROR_SELECTORS.get(bytes(data[:4]))
    if signature is None:
        raise abi.AbiError("not a StrikePricing error")
    return signature, abi.decode(abi.signature_types(signature), data, 4)


# --------------------------------------------------------------------------- functions


@dataclass(frozen=True, slots=True)
class PricingFunction:
    """One Solidity function of the contract: name, parameters and return values."""

    name: str
    params: tuple[tuple[str, str], ...]
    """``(type, name)`` pairs; a tuple-array parameter has type ``"(...)[]"``."""
    returns: tuple[tuple[str, str], ...]
    gas: str
    """The gas formula, as documented."""

    @property
    def signature(self) -> str:
        return f"{self.name}({','.join(kind for kind, _ in self.params)})"

    @property
    def selector(self) -> bytes:
        return abi.selector(self.signature)

    @property
    def input_types(self) -> tuple[str, ...]:
        return tuple(kind for kind, _ in self.params)

    @property
    def output_types(self) -> tuple[str, ...]:
        return tuple(kind for kind, _ in self.returns)


_OPTION = (
    ("bool", "isCall"),
    ("uint256", "spot"),
    ("uint256", "strike"),
    ("uint256", "volatility"),
    ("uint256", "expiry"),
    ("int256", "rate"),
    ("int256", "dividendYield"),
)
OPTION_TYPES: tuple[str, ...] = tuple(kind for kind, _ in _OPTION)
"""Fields of ``IStrikePricing.Option`` (the batch item), in order."""
OPTION_TUPLE = f"({','.join(OPTION_TYPES)})"
_B76 = (
    ("bool", "isCall"),
    ("uint256", "forward"),
    ("uint256", "strike"),
    ("uint256", "volatility"),
    ("uint256", "expiry"),
    ("int256", "rate"),
)
_GREEKS = (
    ("uint256", "price"),
    ("int256", "delta"),
    ("int256", "gamma"),
    ("int256", "vega"),
    ("int256", "theta"),
    ("int256", "rho"),
)

FUNCTIONS: dict[str, PricingFunction] = {
    f.name: f
    for f in (
        PricingFunction("blackScholesPrice", _OPTION, (("uint256", "price"),), "GAS_BS_PRICE"),
        PricingFunction("blackScholesGreeks", _OPTION, _GREEKS, "GAS_BS_GREEKS"),
        PricingFunction("black76Price", _B76, (("uint256", "price"),), "GAS_B76_PRICE"),
        PricingFunction("black76Greeks", _B76, _GREEKS, "GAS_B76_GREEKS"),
        PricingFunction(
            "impliedVolatility",
            (
                ("bool", "isCall"),
                ("uint256", "price"),
                ("uint256", "spot"),
                ("uint256", "strike"),
                ("uint256", "expiry"),
                ("int256", "rate"),
                ("int256", "dividendYield"),
            ),
            (("uint256", "volatility"),),
            "GAS_IV_BASE + GAS_IV_EVALUATION * evaluations",
        ),
        PricingFunction(
            "binomialPrice",
            (
                ("bool", "isCall"),
                ("bool", "isAmerican"),
                *_OPTION[1:],
                ("uint256", "steps"),
            ),
            (("uint256", "price"),),
            "GAS_BINOMIAL_BASE + GAS_BINOMIAL_NODE * binomial_work(steps) "
            "(no nodes unless 1 <= steps <= 1000)",
        ),
        PricingFunction(
            "blackScholesPriceBatch",
            ((f"{OPTION_TUPLE}[]", "options"),),
            (("uint256[]", "prices"),),
            "GAS_BATCH_BASE + GAS_BATCH_OPTION * options.length",
        ),
    )
}
"""The contract's functions by name."""


def gas_cost(name: str, *, evaluations: int = 0, steps: int = 0, options: int = 0) -> int:
    """Gas charged by function ``name`` (``evaluations`` for IV, ``steps``, ``options``)."""
    if name == "blackScholesPrice":
        return GAS_BS_PRICE
    if name == "blackScholesGreeks":
        return GAS_BS_GREEKS
    if name == "black76Price":
        return GAS_B76_PRICE
    if name == "black76Greeks":
        return GAS_B76_GREEKS
    if name == "impliedVolatility":
        return GAS_IV_BASE + GAS_IV_EVALUATION * evaluations
    if name == "binomialPrice":
        nodes = binomial_work(steps) if 1 <= steps <= MAX_BINOMIAL_STEPS else 0
        return GAS_BINOMIAL_BASE + GAS_BINOMIAL_NODE * nodes
    if name == "blackScholesPriceBatch":
        return GAS_BATCH_BASE + GAS_BATCH_OPTION * options
    raise KeyError(name)


# --------------------------------------------------------------------------- the contract

_U, _I, _B = 0, 1, 2
_KIND = {"uint256": _U, "int256": _I, "bool": _B}
_SIGN = 1 << 255
_TWO_256 = 1 << 256
_MASK256 = _TWO_256 - 1
_W = abi.WORD


class _Malformed(Exception):
    pass


def _decode_args(data: bytes, start: int, kinds: tuple[int, ...]) -> list:
    """Static words from ``data[start:]``: ints (signed where ``_I``) and bools."""
    if len(data) < start + _W * len(kinds):
        raise _Malformed
    out: list = []
    at = start
    for kind in kinds:
        raw = int.from_bytes(data[at : at + _W], "big")
        at += _W
        if kind == _U:
            out.append(raw)
        elif kind == _I:
            out.append(raw - _TWO_256 if raw & _SIGN else raw)
        elif raw > 1:
            raise _Malformed
        else:
            out.append(raw == 1)
    return out


def _decode_option(data: bytes, at: int) -> tuple[bool, int, int, int, int, int, int]:
    """The 7-word layout ``(bool, uint256 x 4, int256 x 2)`` at ``data[at:]``, unrolled.

    Shared by the option (batch item), blackScholesPrice/Greeks and impliedVolatility;
    the caller has checked that the seven words are there. The four ``uint256`` words are
    read as one integer and split (fewer Python operations than four reads).
    """
    fb = int.from_bytes
    flag = fb(data[at : at + 32])
    if flag > 1:
        raise _Malformed
    w = fb(data[at + 32 : at + 160])
    return (
        flag == 1,
        w >> 768,
        (w >> 512) & _MASK256,
        (w >> 256) & _MASK256,
        w & _MASK256,
        fb(data[at + 160 : at + 192], signed=True),
        fb(data[at + 192 : at + 224], signed=True),
    )


_OPTION_END = 4 + 7 * _W
_B76_END = 4 + 6 * _W


_INT256_MAX = (1 << 255) - 1
_INT256_MIN = -(1 << 255)


def _oog() -> MessageResult:
    return MessageResult(False, 0, b"", OutOfGas("StrikePricing"))


def _revert(gas_left: int, data: bytes) -> MessageResult:
    return MessageResult(False, gas_left, data, PricingRevert(data))


_MALFORMED_DATA = abi.encode_error(ERR_MALFORMED)
_PAD28 = bytes(28)


_SELECTOR_OF: dict[str, bytes] = {sig: abi.selector(sig) for sig in ERROR_SIGNATURES}


def _error_word(signature: str, value: int) -> bytes:
    """Revert data of an error with one ``uint256``/``int256`` argument (fast path)."""
    return _SELECTOR_OF[signature] + (value & abi.UINT256_MAX).to_bytes(_W, "big")


def error_data(exc: Exception, params: tuple[tuple[str, str], ...], args: Sequence[Any]) -> bytes:
    """Revert data for an exception raised while pricing ``args`` of a function."""
    entry = _PRICING_ERRORS.get(type(exc))
    if entry is None:
        code = exc.code if isinstance(exc, PricingError) else 0
        return _error_word(ERR_PRICING_FAILED, code)
    signature, role = entry
    if role is None:
        return _SELECTOR_OF[signature]
    names = [name for _, name in params]
    index = names.index("forward" if role == "spot" and "forward" in names else role)
    # each role has one ABI type in every function, the one its error declares
    return _error_word(signature, args[index])


_Handler = Callable[[bytes, int], MessageResult]


class StrikePricing:
    """The native contract, called through the host API: ``(host) -> MessageResult``.

    Stateless and pure: it reads nothing from the world, so DELEGATECALL and CALLCODE
    may run it (``delegatable``); it is not ``payable``, so the host rejects a non-zero
    (apparent) value with ``ValueNotAccepted(uint256)`` after charging ``base_gas``.
    """

    address = PRICING_ADDRESS
    name = "StrikePricing"
    payable = False
    delegatable = True
    base_gas = GAS_BASE
    revert_type = None  # set below: PricingRevert

    def __init__(self) -> None:
        f = FUNCTIONS
        self._handlers: dict[bytes, _Handler] = {
            f["blackScholesPrice"].selector: self._black_scholes_price,
            f["blackScholesGreeks"].selector: self._single(
                f["blackScholesGreeks"], GAS_BS_GREEKS, black_scholes_greeks, True
            ),
            f["black76Price"].selector: self._black76_price,
            f["black76Greeks"].selector: self._single(
                f["black76Greeks"], GAS_B76_GREEKS, black76_greeks, True
            ),
            f["impliedVolatility"].selector: self._implied_volatility,
            f["binomialPrice"].selector: self._binomial,
            f["blackScholesPriceBatch"].selector: self._batch,
        }

    def __call__(self, host: Host) -> MessageResult:
        gas = host.gas
        data = host.data
        handler = self._handlers.get(data[:4])
        if handler is None:
            if gas < GAS_BASE:
                return _oog()
            if len(data) < 4:
                return _revert(gas - GAS_BASE, _MALFORMED_DATA)
            return _revert(gas - GAS_BASE, _SELECTOR_OF[ERR_UNKNOWN_SELECTOR] + data[:4] + _PAD28)
        return handler(data, gas)

    # ------------------------------------------------------------------ handlers

    @staticmethod
    def _single(spec: PricingFunction, cost: int, fn: Callable[..., Any], greeks: bool) -> _Handler:
        kinds = tuple(_KIND[kind] for kind in spec.input_types)
        params = spec.params
        mask = abi.UINT256_MAX
        option_layout = spec.input_types == OPTION_TYPES

        def handle(data: bytes, gas: int) -> MessageResult:
            if gas < cost:
                return _oog()
            left = gas - cost
            try:
                if option_layout and len(data) >= _OPTION_END:
                    args: Any = _decode_option(data, 4)
                else:
                    args = _decode_args(data, 4, kinds)
            except _Malformed:
                return _revert(left, _MALFORMED_DATA)
            try:
                result = fn(*args)
            except (ValueError, ArithmeticError) as exc:
                return _revert(left, error_data(exc, params, args))
            if greeks:
                # price is a uint256, the greeks int256: anything else is Overflow, never
                # a word wrapped modulo 2**256
                if result[0] < 0 or any(v > _INT256_MAX or v < _INT256_MIN for v in result):
                    return _revert(left, error_data(Overflow("greek does not fit"), params, args))
                output = b"".join([(v & mask).to_bytes(_W, "big") for v in result])
            else:
                output = result.to_bytes(_W, "big")
            return MessageResult(True, left, output)

        return handle

    @staticmethod
    def _black_scholes_price(data: bytes, gas: int) -> MessageResult:
        """blackScholesPrice, the hot path: the words decoded inline and passed straight to
        the kernel (``black_scholes_price`` without its type checks, which the decoder makes
        redundant)."""
        return _price_call(data, gas, black76=False)

    @staticmethod
    def _black76_price(data: bytes, gas: int) -> MessageResult:
        """black76Price, decoded inline like blackScholesPrice."""
        return _price_call(data, gas, black76=True)

    _IV = FUNCTIONS["impliedVolatility"]
    _IV_KINDS = tuple(_KIND[kind] for kind in _IV.input_types)

    def _implied_volatility(self, data: bytes, gas: int) -> MessageResult:
        # The search is bounded: require the most it can cost, charge what it used.
        if gas < GAS_IV_MAX:
            return _oog()
        try:
            args = _decode_args(data, 4, self._IV_KINDS)
        except _Malformed:
            return _revert(gas - GAS_IV_BASE, _MALFORMED_DATA)
        try:
            volatility, evaluations = implied_volatility_detail(*args)
        except (ValueError, ArithmeticError) as exc:
            evaluations = exc.evaluations if isinstance(exc, NoImpliedVolatility) else 0
            left = gas - GAS_IV_BASE - GAS_IV_EVALUATION * evaluations
            return _revert(left, error_data(exc, self._IV.params, args))
        left = gas - GAS_IV_BASE - GAS_IV_EVALUATION * evaluations
        return MessageResult(True, left, volatility.to_bytes(_W, "big"))

    _BIN = FUNCTIONS["binomialPrice"]
    _BIN_KINDS = tuple(_KIND[kind] for kind in _BIN.input_types)

    def _binomial(self, data: bytes, gas: int) -> MessageResult:
        steps_at = 4 + _W * (len(self._BIN_KINDS) - 1)
        if len(data) < steps_at + _W:
            if gas < GAS_BINOMIAL_BASE:
                return _oog()
            return _revert(gas - GAS_BINOMIAL_BASE, _MALFORMED_DATA)
        steps = int.from_bytes(data[steps_at : steps_at + _W], "big")
        cost = gas_cost("binomialPrice", steps=steps)
        if gas < cost:
            return _oog()
        left = gas - cost
        try:
            args = _decode_args(data, 4, self._BIN_KINDS)
        except _Malformed:
            return _revert(left, _MALFORMED_DATA)
        try:
            price = binomial_price(*args)
        except (ValueError, ArithmeticError) as exc:
            return _revert(left, error_data(exc, self._BIN.params, args))
        return MessageResult(True, left, price.to_bytes(_W, "big"))

    _ITEM_SIZE = _W * len(OPTION_TYPES)

    def _batch(self, data: bytes, gas: int) -> MessageResult:
        try:
            count, first = abi.array_head(data, 4, len(OPTION_TYPES))
        except abi.AbiError:
            if gas < GAS_BATCH_BASE:
                return _oog()
            return _revert(gas - GAS_BATCH_BASE, _MALFORMED_DATA)
        cost = GAS_BATCH_BASE + GAS_BATCH_OPTION * count
        if gas < cost:
            return _oog()
        left = gas - cost
        out = [abi.encode_uint(_W), abi.encode_uint(count)]
        append = out.append
        size = self._ITEM_SIZE
        price = bsm_price  # black_scholes_price without its type checks: the decoder's
        fb = int.from_bytes
        mask = _MASK256
        for i in range(count):
            at = first + i * size  # array_head checked that every item is in the calldata
            flag = fb(data[at : at + 32])
            if flag > 1:
                return _revert(left, abi.encode_error(ERR_BATCH_ITEM, (i, _MALFORMED_DATA)))
            w = fb(data[at + 32 : at + 160])
            args = (
                flag == 1,
                w >> 768,
                (w >> 512) & mask,
                (w >> 256) & mask,
                w & mask,
                fb(data[at + 160 : at + 192], signed=True),
                fb(data[at + 192 : at + 224], signed=True),
            )
            try:
                append(price(*args).to_bytes(_W, "big"))
            except (ValueError, ArithmeticError) as exc:
                reason = error_data(exc, _OPTION, args)
                return _revert(left, abi.encode_error(ERR_BATCH_ITEM, (i, reason)))
        return MessageResult(True, left, b"".join(out))


def _price_call(data: bytes, gas: int, *, black76: bool) -> MessageResult:
    """blackScholesPrice / black76Price: charge, decode the words, price, encode."""
    cost = GAS_B76_PRICE if black76 else GAS_BS_PRICE
    if gas < cost:
        return _oog()
    left = gas - cost
    if bsm_price_words is not None:  # the C accelerator: None unless a plain success
        output = bsm_price_words(data, black76)
        if output is not None:
            return MessageResult(True, left, output)
    if len(data) < (_B76_END if black76 else _OPTION_END):
        return _revert(left, _MALFORMED_DATA)
    fb = int.from_bytes
    flag = fb(data[4:36])
    if flag > 1:
        return _revert(left, _MALFORMED_DATA)
    w = fb(data[36:164])
    underlying = w >> 768
    strike = (w >> 512) & _MASK256
    volatility = (w >> 256) & _MASK256
    expiry = w & _MASK256
    rate = fb(data[164:196], signed=True)
    if black76:
        carry = rate
        args: tuple[object, ...] = (flag == 1, underlying, strike, volatility, expiry, rate)
    else:
        carry = fb(data[196:228], signed=True)
        args = (flag == 1, underlying, strike, volatility, expiry, rate, carry)
    try:
        price = bsm_price(flag == 1, underlying, strike, volatility, expiry, rate, carry)
    except (ValueError, ArithmeticError) as exc:
        return _revert(left, error_data(exc, _B76 if black76 else _OPTION, args))
    return MessageResult(True, left, price.to_bytes(_W, "big"))


StrikePricing.revert_type = PricingRevert
