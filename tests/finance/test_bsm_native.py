"""The C accelerator of the Black-Scholes-Merton kernel (``finance/_bsm_native.c``): the same
integers as the Python kernel (``bsm.bsm_kernel``) on the accuracy grids, on random inputs
over the whole domain and its edges, through the pricing contract, and on the golden
vectors."""

from __future__ import annotations

import random
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from mp_reference import WAD, YEAR, draw_cases
from test_bsm_accuracy import B76_SEED, B76_SIZE, GRID_SEED, GRID_SIZE
from test_pricing_golden import GOLDEN, run_vectors

from strikevm.finance import abi, bsm
from strikevm.finance import pricing_contract as pc
from strikevm.finance.errors import DiscountOutOfRange, Overflow, PricingError
from strikevm.vm.env import Message
from strikevm.vm.host import Host

MAX_PRICE = bsm.MAX_PRICE
MAX_VOL = bsm.MAX_VOLATILITY
MAX_EXPIRY = bsm.MAX_EXPIRY_SECONDS
MAX_RATE = bsm.MAX_RATE
MAX_RT = bsm._MAX_RT  # bound on -rate * expiry and -yield * expiry
RANDOM_INPUTS = 100_000


@pytest.fixture(scope="module")
def native() -> ModuleType:
    if bsm._native is None or not bsm.NATIVE:
        pytest.fail(
            "strikevm.finance._bsm_native is not built: run `pip install -e '.[test]'` "
            "(needs a C compiler) or `python setup.py build_ext --inplace`"
        )
    return bsm._native


def test_native_module_is_built_and_used(native: ModuleType) -> None:
    assert bsm.bsm_price is native.price
    assert bsm.bsm_price_words is native.price_words
    assert pc.bsm_price is native.price and pc.bsm_price_words is native.price_words


def _reference(is_call: bool, args: tuple[int, ...]) -> Any:
    try:
        return bsm.bsm_kernel(is_call, *args)
    except PricingError as err:
        return type(err)


def _check(native: ModuleType, is_call: bool, args: tuple[int, ...]) -> bool:
    """The C price equals the Python kernel's; ``False`` where the C code handed it back
    (allowed only where the kernel raises ``Overflow`` or ``DiscountOutOfRange``)."""
    ref = _reference(is_call, args)
    got = native.try_price(is_call, *args)
    if got is None:
        assert ref in (Overflow, DiscountOutOfRange), (is_call, args, ref)
        return False
    assert got == ref, (is_call, args, got, ref)
    return True


def test_accuracy_grid_is_bit_identical(native: ModuleType) -> None:
    for case in draw_cases(GRID_SEED, GRID_SIZE):
        for is_call in (True, False):
            assert _check(native, is_call, case.args())


def test_black76_grid_is_bit_identical(native: ModuleType) -> None:
    for case in draw_cases(B76_SEED, B76_SIZE):
        args = (case.spot, case.strike, case.vol, case.expiry, case.rate, case.rate)
        for is_call in (True, False):
            assert _check(native, is_call, args)


def _edge_args(rng: random.Random) -> tuple[int, int, int, int, int, int]:
    """Random inputs over the whole documented domain, weighted toward its edges."""
    strike = rng.choice(
        [
            1,
            2,
            MAX_PRICE,
            MAX_PRICE - 1,
            WAD,
            rng.randrange(1, MAX_PRICE + 1),
            int(10 ** rng.uniform(-18, 18) * WAD) + 1,
        ]
    )
    spot = rng.choice(
        [
            strike,
            min(strike + 1, MAX_PRICE),
            strike - 1 or 1,
            1,
            MAX_PRICE,
            rng.randrange(1, MAX_PRICE + 1),
            max(1, min(MAX_PRICE, int(strike * 10 ** rng.uniform(-4, 4)))),
        ]
    )
    vol = rng.choice(
        [1, MAX_VOL, rng.randrange(1, MAX_VOL + 1), int(10 ** rng.uniform(-6, 2) * WAD) + 1]
    )
    expiry = rng.choice([1, 2, 60, 86_400, YEAR, MAX_EXPIRY, rng.randrange(1, MAX_EXPIRY + 1)])
    # the most negative rate whose discount factor is accepted (e**32), and one below it
    edge = max(-MAX_RATE, -(MAX_RT // expiry))
    rate = rng.choice(
        [
            0,
            MAX_RATE,
            -MAX_RATE,
            edge,
            edge - 1 if edge > -MAX_RATE else edge,
            rng.randrange(-MAX_RATE, MAX_RATE + 1),
            rng.randrange(-WAD // 5, WAD // 4),
        ]
    )
    dividend = rng.choice(
        [
            0,
            rate,
            -rate,
            edge,
            MAX_RATE,
            -MAX_RATE,
            rng.randrange(-MAX_RATE, MAX_RATE + 1),
            rng.randrange(-WAD // 5, WAD // 4),
        ]
    )
    return spot, strike, vol, expiry, rate, dividend


@pytest.mark.parametrize("chunk", range(4))
def test_random_inputs_over_the_domain_are_bit_identical(native: ModuleType, chunk: int) -> None:
    rng = random.Random(9_000 + chunk)
    priced = refused = 0
    for _ in range(RANDOM_INPUTS // 4):
        args = _edge_args(rng)
        is_call = rng.random() < 0.5
        ok = _check(native, is_call, args)
        priced += ok
        refused += not ok and _reference(is_call, args) is DiscountOutOfRange
    # the hand-back is the rare overflow case, or a discount factor above e**32
    assert priced > RANDOM_INPUTS // 4 * 3 // 5
    assert refused > RANDOM_INPUTS // 4 // 20


def test_discount_bound_is_the_same_in_both_kernels(native: ModuleType) -> None:
    """-rate * T and -yield * T at most 32: priced at the bound by both, refused one wad unit
    of rate beyond it by both, through price() and the contract's price_words()."""
    bs = pc.FUNCTIONS["blackScholesPrice"]
    b76 = pc.FUNCTIONS["black76Price"]
    for expiry in (8 * YEAR + 1, 9 * YEAR, 10 * YEAR, 31 * YEAR + 17, 50 * YEAR, MAX_EXPIRY):
        edge = -(MAX_RT // expiry)
        assert -edge * expiry <= MAX_RT < (1 - edge) * expiry
        for spot, strike, vol in ((WAD, WAD, WAD // 5), (1, MAX_PRICE, 1), (MAX_PRICE, 1, MAX_VOL)):
            for rate, dividend in ((edge, 0), (0, edge), (edge, edge), (MAX_RATE, edge)):
                for is_call in (True, False):
                    args = (spot, strike, vol, expiry, rate, dividend)
                    ref = _reference(is_call, args)
                    assert ref is Overflow or isinstance(ref, int)
                    _check(native, is_call, args)
                    over = (
                        spot,
                        strike,
                        vol,
                        expiry,
                        rate - (rate == edge),
                        dividend - (dividend == edge),
                    )
                    assert _reference(is_call, over) is DiscountOutOfRange
                    assert native.try_price(is_call, *over) is None
                    with pytest.raises(DiscountOutOfRange):
                        native.price(is_call, *over)
                    data = bs.selector + abi.encode(bs.input_types, (is_call, *over))
                    assert native.price_words(data, False) is None
                    if over[4] == over[5]:
                        data = b76.selector + abi.encode(b76.input_types, (is_call, *over[:5]))
                        assert native.price_words(data, True) is None


def test_out_of_domain_and_expiry_zero_go_through_the_python_kernel(native: ModuleType) -> None:
    good = (100 * WAD, 100 * WAD, WAD // 5, YEAR, WAD // 20, 0)
    variants: list[tuple[Any, ...]] = [good]
    for i, bad_values in enumerate(
        [
            (0, -1, MAX_PRICE + 1, 1 << 200, True, -(1 << 300)),
            (0, -5, MAX_PRICE + 1, 1 << 130),
            (0, -1, MAX_VOL + 1, 1 << 64),
            (0, -1, MAX_EXPIRY + 1, 1 << 64, -(1 << 64)),
            (MAX_RATE + 1, -MAX_RATE - 1, 1 << 63, -(1 << 63), 1 << 70),
            (MAX_RATE + 1, -MAX_RATE - 1, 1 << 63, -(1 << 63) - 1),
        ]
    ):
        for value in bad_values:
            args = list(good)
            args[i] = value
            variants.append(tuple(args))
    for args in variants:
        for is_call in (True, False):
            expected = _reference(is_call, args)
            if isinstance(expected, type):
                with pytest.raises(expected):
                    native.price(is_call, *args)
            else:
                assert native.price(is_call, *args) == expected
    # expiry 0: the intrinsic value, from the Python kernel
    assert native.try_price(True, 120 * WAD, 100 * WAD, WAD, 0, 0, 0) is None
    assert native.price(True, 120 * WAD, 100 * WAD, WAD, 0, 0, 0) == 20 * WAD
    assert native.price(False, 90 * WAD, 100 * WAD, WAD, 0, 0, 0) == 10 * WAD


def test_extreme_corners_are_bit_identical(native: ModuleType) -> None:
    prices = (1, 2, WAD, MAX_PRICE - 1, MAX_PRICE)
    for spot in prices:
        for strike in prices:
            for vol in (1, WAD, MAX_VOL):
                for expiry in (1, YEAR, MAX_EXPIRY):
                    for rate in (-MAX_RATE, 0, MAX_RATE):
                        for dividend in (-MAX_RATE, 0, rate, MAX_RATE):
                            args = (spot, strike, vol, expiry, rate, dividend)
                            for is_call in (True, False):
                                _check(native, is_call, args)


def _message(data: bytes) -> Message:
    return Message(0x1234, pc.PRICING_ADDRESS, 0, data, 10**9, b"", pc.PRICING_ADDRESS)


def test_contract_results_are_identical_without_the_accelerator(
    native: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(77)
    contract = pc.StrikePricing()
    bs = pc.FUNCTIONS["blackScholesPrice"]
    b76 = pc.FUNCTIONS["black76Price"]
    batch = pc.FUNCTIONS["blackScholesPriceBatch"]
    calls: list[bytes] = []
    for _ in range(1500):
        args = _edge_args(rng)
        flag = rng.random() < 0.5
        calls.append(bs.selector + abi.encode(bs.input_types, (flag, *args)))
        calls.append(b76.selector + abi.encode(b76.input_types, (flag, *args[:5])))
    for _ in range(20):
        options = [(rng.random() < 0.5, *_edge_args(rng)) for _ in range(10)]
        calls.append(batch.selector + abi.encode_tuple_array(pc.OPTION_TYPES, options))
    good = bs.selector + abi.encode(bs.input_types, (True, WAD, WAD, WAD, YEAR, 0, 0))
    calls += [
        good[:-1],  # short
        good[:4] + (2).to_bytes(32, "big") + good[36:],  # a dirty bool
        good[:164] + (2**256 - 1).to_bytes(32, "big") + good[196:],  # rate -1 wad unit
        good[:164] + (2**255).to_bytes(32, "big") + good[196:],  # rate -2**255
        good[:132] + (0).to_bytes(32, "big") + good[164:],  # expiry 0
        good[:36] + (2**256 - 1).to_bytes(32, "big") + good[68:],  # spot out of range
        good + b"\x00" * 5,  # trailing bytes
    ]
    fast = [contract(Host.detached(_message(data))) for data in calls]
    assert fast[0].success
    monkeypatch.setattr(pc, "bsm_price", bsm.bsm_kernel)
    monkeypatch.setattr(pc, "bsm_price_words", None)
    slow = [contract(Host.detached(_message(data))) for data in calls]
    for a, b in zip(fast, slow, strict=True):
        assert (a.success, a.gas_left, a.output) == (b.success, b.gas_left, b.output)


def test_golden_vectors_with_and_without_the_accelerator(
    native: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run_vectors() == GOLDEN
    monkeypatch.setattr(bsm, "bsm_price", bsm.bsm_kernel)
    assert run_vectors() == GOLDEN


def test_c_source_has_no_floating_point() -> None:
    source = (Path(bsm.__file__).parent / "_bsm_native.c").read_text()
    code = re.sub(r"/\*.*?\*/", "", source, flags=re.S)
    for word in ("float", "double", "math.h", "fenv"):
        assert not re.search(rf"\b{word}\b", code), word
