"""StrikePricing system contract: ABI, results, gas, errors, batch and call kinds.

Every function is called through the EVM (``EVM.process_message`` to the contract's
address, and from bytecode with STATICCALL, CALL and DELEGATECALL) and compared with the
direct result of ``strikevm.finance.pricing``; the gas left is checked against the
documented formula exactly; every error path must revert with its documented custom
error, charge gas and never raise.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from eth_abi import decode as eth_decode
from eth_abi import encode as eth_encode
from eth_utils import function_signature_to_4byte_selector

from strikevm.finance import abi
from strikevm.finance import pricing as pr
from strikevm.finance import pricing_contract as pc
from strikevm.finance.system import PRICING_ADDRESS, default_registry
from strikevm.state.account import Account
from strikevm.state.world import WorldState
from strikevm.vm.env import BlockEnv, Message, MessageResult, TxEnv
from strikevm.vm.errors import OutOfGas
from strikevm.vm.evm import EVM, Revert
from strikevm.vm.host import Host
from strikevm.vm.precompiles import PRECOMPILES
from strikevm.vm.system import SYSTEM_RANGE_FIRST, SYSTEM_RANGE_LAST

W = 10**18
DAY = 86400
YEAR = 365 * DAY
U256 = 1 << 256
CALLER = 0x1000000000000000000000000000000000000000
PROXY = 0x2000000000000000000000000000000000000002
GAS = 100_000_000
DOCS = Path(__file__).resolve().parents[2] / "docs" / "pricing.md"

F = pc.FUNCTIONS
OPTION = (True, 100 * W, 110 * W, W // 5, 30 * DAY, W // 20, W // 100)
PUT = (False, 100 * W, 90 * W, W // 2, YEAR, W // 20, 0)


def call_data(name: str, args: tuple) -> bytes:
    return abi.encode_call(F[name].signature, args)


def new_evm(accounts: dict[int, Account] | None = None, engine: str = "fast") -> EVM:
    state = WorldState({CALLER: Account(balance=10**20), **(accounts or {})})
    state.prewarm([CALLER, PROXY, PRICING_ADDRESS])
    return EVM(state, BlockEnv(), TxEnv(origin=CALLER), engine=engine, system=default_registry())


def native(data: bytes, gas: int = GAS, value: int = 0, is_static: bool = False) -> MessageResult:
    evm = new_evm()
    msg = Message(
        CALLER, PRICING_ADDRESS, value, data, gas, b"", PRICING_ADDRESS, is_static=is_static
    )
    return evm.process_message(msg)


def err(signature: str, *args: abi.AbiValue) -> bytes:
    return abi.encode_error(signature, args)


def assert_ok(result: MessageResult, gas_charged: int, gas: int = GAS) -> None:
    assert result.success, result.error
    assert result.error is None
    assert result.gas_left == gas - gas_charged


def assert_reverts(result: MessageResult, data: bytes, gas_charged: int, gas: int = GAS) -> None:
    assert not result.success
    assert isinstance(result.error, Revert)
    assert isinstance(result.error, pc.PricingRevert)
    assert result.output == data, pc.decode_error(result.output)
    assert result.gas_left == gas - gas_charged


# ----------------------------------------------------------------------------- the ABI codec


def test_selectors_match_eth_utils() -> None:
    for f in F.values():
        assert f.selector == function_signature_to_4byte_selector(f.signature)
    for sig in pc.ERROR_SIGNATURES:
        assert abi.selector(sig) == function_signature_to_4byte_selector(sig)
    assert len({f.selector for f in F.values()}) == len(F)
    assert len(pc.ERROR_SELECTORS) == len(pc.ERROR_SIGNATURES)


def test_encode_decode_round_trip_against_eth_abi() -> None:
    rng = random.Random(7)
    types = ["bool", "uint256", "int256", "bytes4", "bytes", "uint256", "int256"]
    for _ in range(200):
        values = [
            rng.random() < 0.5,
            rng.choice([0, 1, abi.UINT256_MAX, rng.getrandbits(256)]),
            rng.choice([abi.INT256_MIN, -1, 0, abi.INT256_MAX, rng.getrandbits(255) - (1 << 254)]),
            rng.getrandbits(32).to_bytes(4, "big"),
            rng.randbytes(rng.randrange(0, 100)),
            rng.getrandbits(rng.randrange(1, 257)),
            -rng.getrandbits(rng.randrange(1, 256)),
        ]
        encoded = abi.encode(types, values)
        assert encoded == eth_encode(types, values)
        assert list(abi.decode(types, encoded)) == values
        assert list(abi.decode(types, b"\x99" * 4 + encoded, 4)) == values


def test_tuple_array_and_uint_array_against_eth_abi() -> None:
    rng = random.Random(8)
    items = [
        (rng.random() < 0.5, *(rng.getrandbits(200) for _ in range(4)), -rng.getrandbits(100), 7)
        for _ in range(13)
    ]
    encoded = abi.encode_tuple_array(pc.OPTION_TYPES, items)
    assert encoded == eth_encode([f"{pc.OPTION_TUPLE}[]"], [items])
    count, first = abi.array_head(encoded, 0, len(pc.OPTION_TYPES))
    assert (count, first) == (13, 64)
    prices = [rng.getrandbits(256) for _ in range(9)]
    assert abi.encode_uint_array(prices) == eth_encode(["uint256[]"], [prices])
    assert abi.decode_uint_array(abi.encode_uint_array(prices)) == prices
    assert abi.encode_uint_array([]) == eth_encode(["uint256[]"], [[]])


@pytest.mark.parametrize(
    ("types", "data"),
    [
        (["uint256"], b"\x00" * 31),
        (["bool"], (2).to_bytes(32, "big")),
        (["bool"], abi.UINT256_MAX.to_bytes(32, "big")),
        (["bytes4"], (1).to_bytes(32, "big")),
        (["bytes"], (64).to_bytes(32, "big")),
        (["bytes"], (32).to_bytes(32, "big") + (33).to_bytes(32, "big") + bytes(32)),
    ],
)
def test_decode_rejects_malformed(types: list[str], data: bytes) -> None:
    with pytest.raises(abi.AbiError):
        abi.decode(types, data)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        (64).to_bytes(32, "big"),
        (32).to_bytes(32, "big") + (1).to_bytes(32, "big") + bytes(223),
        (32).to_bytes(32, "big") + abi.UINT256_MAX.to_bytes(32, "big"),
        abi.UINT256_MAX.to_bytes(32, "big") + bytes(64),
    ],
)
def test_array_head_rejects_out_of_range(data: bytes) -> None:
    with pytest.raises(abi.AbiError):
        abi.array_head(data, 0, 7)


@pytest.mark.parametrize(
    ("kind", "value"),
    [("uint256", -1), ("uint256", U256), ("int256", 1 << 255), ("bool", 1), ("bytes4", b"abc")],
)
def test_encode_rejects_out_of_range(kind: str, value: abi.AbiValue) -> None:
    with pytest.raises(abi.AbiError):
        abi.encode([kind], [value])


# ----------------------------------------------------------------------------- the registry


def test_address_is_reserved_and_clear_of_ethereum_precompiles() -> None:
    registry = default_registry()
    # pricing, oracle, clearinghouse, in address order
    assert list(registry) == [PRICING_ADDRESS, 0x53540002, 0x53540003]
    assert PRICING_ADDRESS == 0x53540001
    assert all(SYSTEM_RANGE_FIRST <= a <= SYSTEM_RANGE_LAST for a in registry)
    assert not set(registry) & set(PRECOMPILES)
    assert PRICING_ADDRESS not in PRECOMPILES
    assert all(a <= 0x100 for a in PRECOMPILES)
    assert isinstance(registry[PRICING_ADDRESS], pc.StrikePricing)


# ----------------------------------------------------------------------------- results and gas


def _cases() -> list[tuple]:
    rng = random.Random(11)
    out = [OPTION, PUT, (True, W, W, 1, 1, 0, 0), (False, 10**36, 1, 100 * W, 100 * YEAR, 0, 0)]
    for _ in range(12):
        strike = rng.randrange(10 * W, 5000 * W)
        out.append((
            rng.random() < 0.5,
            strike * rng.randrange(50, 200) // 100,
            strike,
            rng.randrange(W // 20, 2 * W),
            rng.randrange(0, 2 * YEAR),
            rng.randrange(-W // 10, W // 5),
            rng.randrange(-W // 20, W // 10),
        ))  # fmt: skip
    return out


CASES = _cases()


@pytest.mark.parametrize("case", CASES)
def test_black_scholes_price_and_greeks(case: tuple) -> None:
    r = native(call_data("blackScholesPrice", case))
    assert_ok(r, pc.GAS_BS_PRICE)
    assert eth_decode(["uint256"], r.output) == (pr.black_scholes_price(*case),)
    r = native(call_data("blackScholesGreeks", case))
    assert_ok(r, pc.GAS_BS_GREEKS)
    assert eth_decode(["(uint256,int256,int256,int256,int256,int256)"], r.output) == (
        tuple(pr.black_scholes_greeks(*case)),
    )


@pytest.mark.parametrize("case", CASES)
def test_black76_price_and_greeks(case: tuple) -> None:
    args = case[:6]
    r = native(call_data("black76Price", args))
    assert_ok(r, pc.GAS_B76_PRICE)
    assert eth_decode(["uint256"], r.output) == (pr.black76_price(*args),)
    r = native(call_data("black76Greeks", args))
    assert_ok(r, pc.GAS_B76_GREEKS)
    assert eth_decode(["int256"] * 6, r.output) == tuple(pr.black76_greeks(*args))


@pytest.mark.parametrize("case", [c for c in CASES if c[4] > 0][:8])
def test_implied_volatility_charges_its_evaluations(case: tuple) -> None:
    c, s, k, _v, t, rate, q = case
    price = pr.black_scholes_price(*case)
    args = (c, price, s, k, t, rate, q)
    try:
        detail = pr.implied_volatility_detail(*args)
    except pr.NoImpliedVolatility as exc:
        evaluations = exc.evaluations
        r = native(call_data("impliedVolatility", args))
        assert_reverts(
            r,
            err("NoImpliedVolatility()"),
            pc.gas_cost("impliedVolatility", evaluations=evaluations),
        )
        return
    r = native(call_data("impliedVolatility", args))
    assert_ok(r, pc.GAS_IV_BASE + pc.GAS_IV_EVALUATION * detail.evaluations)
    assert eth_decode(["uint256"], r.output) == (detail.volatility,)


def test_implied_volatility_needs_its_maximum_up_front() -> None:
    args = (True, pr.black_scholes_price(*OPTION), *OPTION[1:3], OPTION[4], *OPTION[5:])
    used = pc.GAS_IV_BASE + pc.GAS_IV_EVALUATION * pr.implied_volatility_detail(*args).evaluations
    assert used < pc.GAS_IV_MAX
    r = native(call_data("impliedVolatility", args), gas=pc.GAS_IV_MAX)
    assert_ok(r, used, gas=pc.GAS_IV_MAX)
    r = native(call_data("impliedVolatility", args), gas=pc.GAS_IV_MAX - 1)
    assert not r.success and r.gas_left == 0 and r.output == b""
    assert isinstance(r.error, OutOfGas)


@pytest.mark.parametrize(("american", "steps"), [(True, 1), (True, 50), (False, 120)])
def test_binomial_price(american: bool, steps: int) -> None:
    args = (PUT[0], american, *PUT[1:], steps)
    r = native(call_data("binomialPrice", args))
    assert_ok(r, pc.GAS_BINOMIAL_BASE + pc.GAS_BINOMIAL_NODE * (steps + 1) * (steps + 2) // 2)
    assert eth_decode(["uint256"], r.output) == (pr.binomial_price(*args),)


def test_gas_formula_values() -> None:
    assert pc.gas_cost("blackScholesPrice") == pc.GAS_BS_PRICE
    assert pc.gas_cost("impliedVolatility", evaluations=8) == pc.GAS_IV_BASE + 8 * (
        pc.GAS_IV_EVALUATION
    )
    top = pc.GAS_BINOMIAL_BASE + pc.GAS_BINOMIAL_NODE * 1001 * 1002 // 2
    assert pc.gas_cost("binomialPrice", steps=1000) == top
    assert pc.gas_cost("binomialPrice", steps=1) == pc.GAS_BINOMIAL_BASE + 3 * pc.GAS_BINOMIAL_NODE
    for steps in (0, 1001, 10**70):  # rejected before any node is computed
        assert pc.gas_cost("binomialPrice", steps=steps) == pc.GAS_BINOMIAL_BASE
    assert pc.gas_cost("blackScholesPriceBatch", options=3) == pc.GAS_BATCH_BASE + 3 * (
        pc.GAS_BATCH_OPTION
    )
    assert pc.GAS_IV_MAX == pc.gas_cost("impliedVolatility", evaluations=pr.IV_MAX_ITERATIONS + 2)
    with pytest.raises(KeyError):
        pc.gas_cost("nope")


# ----------------------------------------------------------------------------- batch


def test_batch_equals_singles() -> None:
    rng = random.Random(3)
    options = [rng.choice(CASES) for _ in range(40)]
    data = F["blackScholesPriceBatch"].selector + abi.encode_tuple_array(pc.OPTION_TYPES, options)
    r = native(data)
    assert_ok(r, pc.GAS_BATCH_BASE + 40 * pc.GAS_BATCH_OPTION)
    prices = eth_decode(["uint256[]"], r.output)[0]
    singles = []
    for o in options:
        single = native(call_data("blackScholesPrice", o))
        singles.append(eth_decode(["uint256"], single.output)[0])
    assert list(prices) == singles == [pr.black_scholes_price(*o) for o in options]


def test_batch_encoded_by_eth_abi_and_empty_batch() -> None:
    options = [OPTION, PUT]
    data = F["blackScholesPriceBatch"].selector + eth_encode([f"{pc.OPTION_TUPLE}[]"], [options])
    r = native(data)
    assert_ok(r, pc.GAS_BATCH_BASE + 2 * pc.GAS_BATCH_OPTION)
    assert abi.decode_uint_array(r.output) == [pr.black_scholes_price(*o) for o in options]
    r = native(F["blackScholesPriceBatch"].selector + abi.encode_tuple_array(pc.OPTION_TYPES, []))
    assert_ok(r, pc.GAS_BATCH_BASE)
    assert r.output == abi.encode_uint_array([])


def test_batch_item_error_wraps_the_single_error() -> None:
    bad = (True, 100 * W, 100 * W, 0, DAY, 0, 0)
    options = [OPTION, PUT, bad, OPTION]
    data = F["blackScholesPriceBatch"].selector + abi.encode_tuple_array(pc.OPTION_TYPES, options)
    r = native(data)
    single = native(call_data("blackScholesPrice", bad))
    assert single.output == err("InvalidVolatility(uint256)", 0)
    assert_reverts(
        r,
        err("BatchItemFailed(uint256,bytes)", 2, single.output),
        pc.GAS_BATCH_BASE + 4 * pc.GAS_BATCH_OPTION,
    )
    signature, (index, reason) = pc.decode_error(r.output)
    assert (signature, index, pc.decode_error(reason)) == (
        "BatchItemFailed(uint256,bytes)",
        2,
        ("InvalidVolatility(uint256)", (0,)),
    )


def test_batch_item_with_bad_bool() -> None:
    data = bytearray(
        F["blackScholesPriceBatch"].selector
        + abi.encode_tuple_array(pc.OPTION_TYPES, [OPTION, OPTION])
    )
    data[4 + 64 + 224 + 31] = 2  # the second option's isCall word
    r = native(bytes(data))
    assert_reverts(
        r,
        err("BatchItemFailed(uint256,bytes)", 1, err("MalformedCalldata()")),
        pc.GAS_BATCH_BASE + 2 * pc.GAS_BATCH_OPTION,
    )


# ----------------------------------------------------------------------------- errors

BS = "blackScholesPrice"
MAX_P = pr.MAX_PRICE


def _with(base: tuple, index: int, value: int) -> tuple:
    return base[:index] + (value,) + base[index + 1 :]


def _raw(name: str, args: tuple) -> bytes:
    """Calldata with each argument written as a raw 256-bit word (any uint256 value)."""
    return F[name].selector + b"".join((int(a) % U256).to_bytes(32, "big") for a in args)


ERROR_CASES = [
    # (function, args, expected error signature, error args)
    (BS, _with(OPTION, 3, 0), "InvalidVolatility(uint256)", (0,)),
    (BS, _with(OPTION, 3, U256 - 5 * 10**16), "InvalidVolatility(uint256)", (U256 - 5 * 10**16,)),
    (BS, _with(OPTION, 3, 100 * W + 1), "InvalidVolatility(uint256)", (100 * W + 1,)),
    (BS, _with(OPTION, 1, 0), "InvalidSpot(uint256)", (0,)),
    (BS, _with(OPTION, 1, MAX_P + 1), "InvalidSpot(uint256)", (MAX_P + 1,)),
    (BS, _with(OPTION, 2, 0), "InvalidStrike(uint256)", (0,)),
    (BS, _with(OPTION, 2, U256 - 1), "InvalidStrike(uint256)", (U256 - 1,)),
    (BS, _with(OPTION, 4, 100 * YEAR + 1), "InvalidExpiry(uint256)", (100 * YEAR + 1,)),
    (BS, _with(OPTION, 4, U256 - 1), "InvalidExpiry(uint256)", (U256 - 1,)),
    (BS, _with(OPTION, 5, 4 * W + 1), "InvalidRate(int256)", (4 * W + 1,)),
    (BS, _with(OPTION, 5, -(1 << 255)), "InvalidRate(int256)", (-(1 << 255),)),
    (BS, _with(OPTION, 6, -4 * W - 1), "InvalidDividendYield(int256)", (-4 * W - 1,)),
    (BS, (True, MAX_P, 1, 100 * W, 100 * YEAR, 4 * W, -4 * W), "DiscountOutOfRange()", ()),
    ("blackScholesGreeks", _with(OPTION, 3, 0), "InvalidVolatility(uint256)", (0,)),
    ("blackScholesGreeks", (True, MAX_P, 1, 100 * W, 100 * YEAR, 4 * W, -4 * W), "DiscountOutOfRange()", ()),
    ("black76Price", _with(OPTION[:6], 1, 0), "InvalidSpot(uint256)", (0,)),
    ("black76Greeks", _with(OPTION[:6], 5, 5 * W), "InvalidRate(int256)", (5 * W,)),
    ("black76Price", _with(OPTION[:6], 3, 0), "InvalidVolatility(uint256)", (0,)),
    (
        "binomialPrice",
        (False, True, *PUT[1:], 0),
        "InvalidSteps(uint256)",
        (0,),
    ),
    ("binomialPrice", (False, True, *PUT[1:], 1001), "TooManySteps(uint256)", (1001,)),
    ("binomialPrice", (False, True, *PUT[1:], U256 - 1), "TooManySteps(uint256)", (U256 - 1,)),
    (
        "binomialPrice",
        (True, False, 100 * W, 100 * W, W // 100, YEAR, 2 * W, 0, 2),
        "TreeProbabilityOutOfRange()",
        (),
    ),
    (
        "binomialPrice",
        (True, False, 100 * W, 100 * W, 100 * W, 100 * YEAR, 0, 0, 1000),
        "Overflow()",
        (),
    ),
    ("binomialPrice", (True, False, 0, W, W, YEAR, 0, 0, 10), "InvalidSpot(uint256)", (0,)),
]


@pytest.mark.parametrize(("name", "args", "signature", "values"), ERROR_CASES)
def test_bad_input_reverts_with_documented_error(
    name: str, args: tuple, signature: str, values: tuple
) -> None:
    data = _raw(name, args)
    steps = args[-1] if name == "binomialPrice" else 0
    charge = pc.gas_cost(name, steps=steps)
    r = native(data)
    assert_reverts(r, err(signature, *values), charge)
    assert pc.decode_error(r.output) == (signature, values)
    assert r.error.name == signature.split("(")[0]  # type: ignore[union-attr]
    assert signature in pc.ERROR_SIGNATURES


IV_ERRORS = [
    ((True, MAX_P + 1, 100 * W, 100 * W, YEAR, 0, 0), "InvalidPrice(uint256)", (MAX_P + 1,), 0),
    ((True, W, 0, 100 * W, YEAR, 0, 0), "InvalidSpot(uint256)", (0,), 0),
    ((True, W, 100 * W, 100 * W, YEAR, 9 * W, 0), "InvalidRate(int256)", (9 * W,), 0),
    # expiry 0, the no-arbitrage bounds: refused before any evaluation
    ((True, W, 100 * W, 100 * W, 0, 0, 0), "NoImpliedVolatility()", (), 0),
    ((True, 0, 100 * W, 100 * W, YEAR, 0, 0), "NoImpliedVolatility()", (), 0),
    ((True, 101 * W, 100 * W, 100 * W, YEAR, 0, 0), "NoImpliedVolatility()", (), 0),
    # below the price at the smallest volatility (one evaluation), above the price at the
    # largest (two)
    ((True, 1, 100 * W, 100 * W, YEAR, 0, 0), "NoImpliedVolatility()", (), 1),
    ((True, W, 100 * W, 100 * W, 1, 0, 0), "NoImpliedVolatility()", (), 2),
]


@pytest.mark.parametrize(("args", "signature", "values", "evaluations"), IV_ERRORS)
def test_implied_volatility_errors(
    args: tuple, signature: str, values: tuple, evaluations: int
) -> None:
    if signature == "NoImpliedVolatility()":
        with pytest.raises(pr.NoImpliedVolatility) as info:
            pr.implied_volatility_detail(*args)
        assert info.value.evaluations == evaluations
    r = native(_raw("impliedVolatility", args))
    assert_reverts(
        r, err(signature, *values), pc.gas_cost("impliedVolatility", evaluations=evaluations)
    )


@pytest.mark.parametrize("name", list(F))
def test_short_calldata_is_malformed(name: str) -> None:
    f = F[name]
    data = f.selector + bytes(32 * len(f.params) - 1)  # the batch: no whole offset word
    r = native(data)
    charge = {
        "impliedVolatility": pc.GAS_IV_BASE,
        "binomialPrice": pc.GAS_BINOMIAL_BASE,
        "blackScholesPriceBatch": pc.GAS_BATCH_BASE,
    }.get(name, pc.gas_cost(name))
    assert_reverts(r, err("MalformedCalldata()"), charge)


@pytest.mark.parametrize("name", [n for n in F if n != "blackScholesPriceBatch"])
def test_dirty_bool_is_malformed(name: str) -> None:
    f = F[name]
    data = bytearray(f.selector + bytes(32 * len(f.params)))
    data[4 + 31] = 2
    r = native(bytes(data))
    charge = {"impliedVolatility": pc.GAS_IV_BASE}.get(name, pc.gas_cost(name))
    assert_reverts(r, err("MalformedCalldata()"), charge)


def test_extra_calldata_is_accepted_like_solidity() -> None:
    r = native(call_data(BS, OPTION) + b"\xff" * 40)
    assert_ok(r, pc.GAS_BS_PRICE)
    assert r.output == pr.black_scholes_price(*OPTION).to_bytes(32, "big")


@pytest.mark.parametrize("data", [b"", b"\xdf", b"\xdf\xe6\x6a"])
def test_calldata_shorter_than_a_selector(data: bytes) -> None:
    assert_reverts(native(data), err("MalformedCalldata()"), pc.GAS_BASE)


def test_unknown_selector() -> None:
    r = native(b"\xde\xad\xbe\xef" + bytes(64))
    assert_reverts(r, err("UnknownSelector(bytes4)", b"\xde\xad\xbe\xef"), pc.GAS_BASE)
    assert pc.decode_error(r.output) == ("UnknownSelector(bytes4)", (b"\xde\xad\xbe\xef",))


def test_value_is_refused() -> None:
    r = native(call_data(BS, OPTION), value=5)
    assert_reverts(r, err("ValueNotAccepted(uint256)", 5), pc.GAS_BASE)


@pytest.mark.parametrize(
    ("data", "charge"),
    [
        (call_data(BS, OPTION), pc.GAS_BS_PRICE),
        (call_data("blackScholesGreeks", OPTION), pc.GAS_BS_GREEKS),
        (call_data("black76Price", OPTION[:6]), pc.GAS_B76_PRICE),
        (call_data("black76Greeks", OPTION[:6]), pc.GAS_B76_GREEKS),
        (call_data("binomialPrice", (True, True, *OPTION[1:], 30)), pc.gas_cost(
            "binomialPrice", steps=30)),
        (F["blackScholesPriceBatch"].selector + abi.encode_tuple_array(
            pc.OPTION_TYPES, [OPTION] * 3), pc.gas_cost("blackScholesPriceBatch", options=3)),
        (call_data(BS, _with(OPTION, 3, 0)), pc.GAS_BS_PRICE),
        (b"\xde\xad\xbe\xef", pc.GAS_BASE),
    ],
)  # fmt: skip
def test_out_of_gas_consumes_everything(data: bytes, charge: int) -> None:
    r = native(data, gas=charge - 1)
    assert (r.success, r.gas_left, r.output) == (False, 0, b"")
    assert isinstance(r.error, OutOfGas)
    r = native(data, gas=charge)
    assert r.gas_left == 0 and not isinstance(r.error, OutOfGas)


def test_random_calldata_never_raises() -> None:
    rng = random.Random(99)
    selectors = [f.selector for f in F.values()]
    contract = pc.StrikePricing()
    for i in range(400):
        head = rng.choice(selectors) if i % 4 else rng.randbytes(4)
        words = [
            rng.choice([0, 1, 2, 32, 64, 7, rng.getrandbits(256), rng.getrandbits(70), U256 - 1])
            for _ in range(rng.randrange(0, 12))
        ]
        data = head + b"".join(w.to_bytes(32, "big") for w in words) + rng.randbytes(i % 5)
        msg = Message(CALLER, PRICING_ADDRESS, 0, data, 10**8, b"", PRICING_ADDRESS)
        result = contract(Host.detached(msg))
        assert isinstance(result, MessageResult)
        assert 0 <= result.gas_left <= 10**8
        if not result.success:
            assert result.gas_left == 0 or pc.decode_error(result.output)


# ----------------------------------------------------------------------------- from bytecode


def _proxy(opcode: int, with_value: bool = False) -> bytes:
    """Forward calldata to StrikePricing with ``opcode``; return or revert its output."""
    call = bytes([0x5F, 0x5F, 0x36, 0x5F])  # retSize, retOffset, argsSize, argsOffset
    if with_value:
        call += b"\x34"  # CALLVALUE
    call += b"\x63" + PRICING_ADDRESS.to_bytes(4, "big") + b"\x5a" + bytes([opcode])
    body = b"\x36\x5f\x5f\x37" + call + b"\x3d\x5f\x5f\x3e"
    dest = len(body) + 6
    return body + bytes([0x60, dest, 0x57, 0x3D, 0x5F, 0xFD, 0x5B, 0x3D, 0x5F, 0xF3])


STATICCALL, CALL, DELEGATECALL = 0xFA, 0xF1, 0xF4


@pytest.mark.parametrize("engine", ["fast", "reference"])
@pytest.mark.parametrize("opcode", [STATICCALL, DELEGATECALL, CALL])
@pytest.mark.parametrize("outer_static", [False, True])
def test_from_bytecode(engine: str, opcode: int, outer_static: bool) -> None:
    code = _proxy(opcode, with_value=opcode == CALL)
    evm = new_evm({PROXY: Account(code=code)}, engine)
    for data, expected, ok, charge in (
        (
            call_data(BS, OPTION),
            pr.black_scholes_price(*OPTION).to_bytes(32, "big"),
            True,
            pc.GAS_BS_PRICE,
        ),
        (
            call_data(BS, _with(OPTION, 3, 0)),
            err("InvalidVolatility(uint256)", 0),
            False,
            pc.GAS_BS_PRICE,
        ),
        (
            call_data("blackScholesGreeks", PUT),
            eth_encode(["int256"] * 6, list(pr.black_scholes_greeks(*PUT))),
            True,
            pc.GAS_BS_GREEKS,
        ),
    ):
        msg = Message(CALLER, PROXY, 0, data, 200_000, code, PROXY, is_static=outer_static)
        r = evm.process_message(msg)
        assert (r.success, r.output) == (ok, expected)
        # the proxy spends a few hundred gas of its own around the call
        assert 0 < 200_000 - r.gas_left - charge < 1_000


def test_call_with_value_reverts_and_keeps_the_value() -> None:
    code = _proxy(CALL, with_value=True)
    evm = new_evm({PROXY: Account(code=code, balance=0)})
    msg = Message(CALLER, PROXY, 1000, call_data(BS, OPTION), 200_000, code, PROXY)
    r = evm.process_message(msg)
    assert not r.success
    assert r.output == err("ValueNotAccepted(uint256)", 1000)
    assert evm.state.balance(PRICING_ADDRESS) == 0
    assert evm.state.balance(CALLER) == 10**20


def test_native_call_in_static_context() -> None:
    r = native(call_data(BS, OPTION), is_static=True)
    assert_ok(r, pc.GAS_BS_PRICE)


# ----------------------------------------------------------------------------- documentation


def test_docs_list_every_function_error_and_gas_constant() -> None:
    text = DOCS.read_text()
    for f in F.values():
        assert f"`{f.signature}`" in text, f.signature
    for signature in pc.ERROR_SIGNATURES:
        assert f"`{signature}`" in text, signature
    for name in dir(pc):
        if name.startswith("GAS_") and name != "GAS_IV_MAX":
            value = getattr(pc, name)
            assert re.search(rf"`{name}`\s*\|\s*{value:,}\s*\|", text), name


# ----------------------------------------------------------------------------- output bounds

# A 50-year option at r = q = -400% (and spot 1 wei): delta is a 291-bit integer in Python;
# the contract must revert with Overflow, never answer it wrapped modulo 2**256.
WIDE_BS = (True, 1, 1, 2 * 10**17, 1_261_440_000, 0, -4 * W)
WIDE_B76 = (True, 1, 1, 10 * W, 1_261_440_000, -4 * W)


def test_greeks_outside_int256_raise_a_typed_error_in_python() -> None:
    # these inputs (-yield x T = 40 years x 400%) are past the discount bound: rejected
    # before any greek could leave int256
    with pytest.raises(pr.DiscountOutOfRange):
        pr.black_scholes_greeks(*WIDE_BS)
    with pytest.raises(pr.DiscountOutOfRange):
        pr.black76_greeks(*WIDE_B76)


def test_greeks_outside_int256_revert_with_a_typed_error() -> None:
    r = native(call_data("blackScholesGreeks", WIDE_BS))
    assert_reverts(r, err("DiscountOutOfRange()"), pc.GAS_BS_GREEKS)
    r = native(call_data("black76Greeks", WIDE_B76))
    assert_reverts(r, err("DiscountOutOfRange()"), pc.GAS_B76_GREEKS)


@pytest.mark.parametrize("sign", [1, -1])
def test_greeks_handler_rejects_any_word_outside_its_type(
    monkeypatch: pytest.MonkeyPatch, sign: int
) -> None:
    # whatever the math returns, the handler encodes only in-range words
    def wide(*args: object) -> pr.Greeks:
        return pr.Greeks(1, sign * 2**255, 0, 0, 0, 0)

    handler = pc.StrikePricing._single(F["blackScholesGreeks"], pc.GAS_BS_GREEKS, wide, True)
    r = handler(call_data("blackScholesGreeks", OPTION), GAS)
    expect_ok = sign == -1  # -2**255 is the smallest int256
    assert r.success is expect_ok
    if not expect_ok:
        assert r.output == err("Overflow()")
