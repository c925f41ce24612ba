"""Every output of StrikePricing at the extremes of its domain is accurate or a typed error.

A deterministic sweep over rates and yields (+-4e18, zero, and the most negative value whose
discount factor is accepted, ``-rate * T = 32``, with one wad unit beyond it), expiries (60 s
to 100 years), volatilities (1 wad unit to 100e18), spot/strike pairs at the ends of the
domain (ratios 1e-36 to 1e36) and both option types, each called through the contract
(``EVM.process_message``): ``blackScholesPrice`` (the C fast path), ``blackScholesGreeks``,
``black76Price``, ``black76Greeks``, the batch entry, ``impliedVolatility`` and
``binomialPrice``. Each answer is either

* within the accuracy bar of the 50-digit mpmath reference (``mp_reference``): a price within
  ``1e-14 * max(S, K)`` plus one wad unit (the final rounding), as on the accuracy grid; a
  greek within 1e-12 relative or ``1e-16 * max(1, S, K) * max(1, T)`` absolute (the grid's
  1e-16 at its scale, grown with the notional and the time: the error of a Q128 greek is a
  fixed fraction of ``S e^{-qT} + K e^{-rT}`` times ``T`` for rho), plus one wad unit; or
* a typed error: ``DiscountOutOfRange()`` exactly where ``-rate * T`` or ``-yield * T``
  exceeds 32, ``NoImpliedVolatility()`` where vega is too small to determine a volatility,
  ``TreeProbabilityOutOfRange()``/``Overflow()`` for a tree; never ``PricingFailed``,
  ``DomainError`` or ``DivisionByZero``.
"""

from __future__ import annotations

import itertools
import random
from functools import lru_cache

import mpmath
import pytest
from mp_reference import WAD, YEAR, Case, black76_reference, bsm_reference, crr_reference, nat

from strikevm.finance import abi, bsm
from strikevm.finance import pricing as pr
from strikevm.finance import pricing_contract as pc
from strikevm.finance.system import PRICING_ADDRESS, default_registry
from strikevm.state.account import Account
from strikevm.state.world import WorldState
from strikevm.vm.env import BlockEnv, Message, MessageResult, TxEnv
from strikevm.vm.evm import EVM

CALLER = 0xCA11E4
GAS = 100_000_000
MAX_P = pr.MAX_PRICE
MAX_RATE = pr.MAX_RATE
MAX_RT = pr.MAX_DISCOUNT_EXPONENT * YEAR  # bound on -rate * expiry (wad x seconds)
F = pc.FUNCTIONS
SWEEP_SEED = 31_337
SWEEP_SIZE = 4_800  # cases (each priced as a call and a put)
CHUNKS = 4
PRICE_REL_TOL = mpmath.mpf("1e-14")
GREEK_REL_TOL = mpmath.mpf("1e-12")
GREEK_ABS_TOL = mpmath.mpf("1e-16")
UNIT = mpmath.mpf(1) / WAD  # one wad unit
GREEKS = ("delta", "gamma", "vega", "theta", "rho")
EXPIRIES = (60, 86_400, YEAR, 8 * YEAR + 1, 10 * YEAR, 50 * YEAR, 100 * YEAR)
VOLS = (1, 10**12, 10**16, 2 * 10**17, WAD, 100 * WAD)
PAIRS = (
    (1, 1),
    (1, MAX_P),  # spot/strike 1e-36
    (WAD, MAX_P),  # 1e-18
    (100 * WAD, 110 * WAD),
    (WAD, WAD),
    (MAX_P, WAD),  # 1e18
    (MAX_P, 1),  # 1e36
    (MAX_P, MAX_P),
    (2, 1),
)
# the only errors an input inside [validate_inputs]'s domain may produce, per function
PRICE_ERRORS = {"DiscountOutOfRange()"}
IV_ERRORS = {"DiscountOutOfRange()", "NoImpliedVolatility()"}
TREE_ERRORS = {"DiscountOutOfRange()", "TreeProbabilityOutOfRange()", "Overflow()"}


def edge_rate(expiry: int) -> int:
    """The most negative rate (or yield) accepted at this expiry: -rate * T = 32."""
    return max(-MAX_RATE, -(MAX_RT // expiry))


def refused(expiry: int, rate: int, dividend_yield: int) -> bool:
    return -rate * expiry > MAX_RT or -dividend_yield * expiry > MAX_RT


def _rates(expiry: int) -> tuple[int, ...]:
    edge = edge_rate(expiry)
    return tuple(
        sorted(
            {
                -MAX_RATE,
                edge,
                edge - 1 if edge > -MAX_RATE else edge,
                -WAD // 2,
                0,
                WAD // 20,
                MAX_RATE,
            }
        )
    )


@lru_cache(maxsize=1)
def sweep() -> list[Case]:
    every = [
        Case(s, k, v, t, r, q)
        for t in EXPIRIES
        for (s, k), v in itertools.product(PAIRS, VOLS)
        for r in _rates(t)
        for q in (*_rates(t), r)
    ]
    return random.Random(SWEEP_SEED).sample(every, SWEEP_SIZE)


def test_sweep_covers_the_domain_and_the_threshold() -> None:
    cases = sweep()
    assert {c.expiry for c in cases} == set(EXPIRIES)
    assert {c.vol for c in cases} == set(VOLS)
    assert {(c.spot, c.strike) for c in cases} == set(PAIRS)
    rates = {c.rate for c in cases} | {c.q for c in cases}
    assert {-MAX_RATE, 0, MAX_RATE} <= rates
    at_edge = [c for c in cases if edge_rate(c.expiry) in (c.rate, c.q) and c.expiry > 8 * YEAR]
    beyond = [c for c in cases if refused(c.expiry, c.rate, c.q)]
    assert len(at_edge) > 100 and len(beyond) > 300
    assert len(cases) - len(beyond) > SWEEP_SIZE // 2


# ------------------------------------------------------------------------------- the contract


def _evm() -> EVM:
    state = WorldState({CALLER: Account(balance=10**20)})
    state.prewarm([CALLER, PRICING_ADDRESS])
    return EVM(state, BlockEnv(), TxEnv(origin=CALLER), engine="fast", system=default_registry())


def call(evm: EVM, name: str, args: tuple) -> MessageResult:
    if name == "blackScholesPriceBatch":
        data = F[name].selector + abi.encode_tuple_array(pc.OPTION_TYPES, args[0])
    else:
        data = abi.encode_call(F[name].signature, args)
    return evm.process_message(Message(CALLER, PRICING_ADDRESS, 0, data, GAS, b"", PRICING_ADDRESS))


def error_of(result: MessageResult) -> str:
    assert not result.success
    signature, _ = pc.decode_error(result.output)
    return signature


def _price_ok(ours: int, ref: mpmath.mpf, case: Case, what: str) -> None:
    scale = max(nat(case.spot), nat(case.strike))
    err = abs(nat(ours) - ref)
    assert err <= PRICE_REL_TOL * scale + UNIT, (what, case, ours, ref, err)


def _greek_ok(name: str, ours: int, ref: mpmath.mpf, case: Case, what: str) -> None:
    scale = max(1, nat(case.spot), nat(case.strike)) * max(1, mpmath.mpf(case.expiry) / YEAR)
    err = abs(nat(ours) - ref)
    bar = max(GREEK_REL_TOL * abs(ref), GREEK_ABS_TOL * scale) + UNIT
    assert err <= bar, (what, name, case, ours, ref, err)


def _decode_greeks(output: bytes) -> tuple[int, ...]:
    return abi.decode(["uint256", "int256", "int256", "int256", "int256", "int256"], output)


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_black_scholes_and_black76_outputs_are_accurate_or_typed_errors(chunk: int) -> None:
    evm = _evm()
    priced = 0
    for case in sweep()[chunk::CHUNKS]:
        args = case.args()
        b76 = (case.spot, case.strike, case.vol, case.expiry, case.rate)
        out = refused(case.expiry, case.rate, case.q)
        out76 = refused(case.expiry, case.rate, case.rate)
        ref = None if out else bsm_reference(case)
        ref76 = None if out76 else black76_reference(*b76)
        for is_call, side in ((True, "call"), (False, "put")):
            results = {
                "blackScholesPrice": call(evm, "blackScholesPrice", (is_call, *args)),
                "blackScholesGreeks": call(evm, "blackScholesGreeks", (is_call, *args)),
            }
            results76 = {
                "black76Price": call(evm, "black76Price", (is_call, *b76)),
                "black76Greeks": call(evm, "black76Greeks", (is_call, *b76)),
            }
            for what, refs, group in (("BSM", ref, results), ("B76", ref76, results76)):
                for name, result in group.items():
                    if refs is None:
                        assert error_of(result) in PRICE_ERRORS, (name, case)
                        continue
                    assert result.success, (name, case, pc.decode_error(result.output))
                    if name.endswith("Price"):
                        price = int.from_bytes(result.output, "big")
                        _price_ok(price, refs[side]["price"], case, f"{what} {side}")
                        priced += 1
                        continue
                    greeks = _decode_greeks(result.output)
                    assert greeks[0] == price  # the same integer as the price entry
                    for greek, value in zip(GREEKS, greeks[1:], strict=True):
                        _greek_ok(greek, value, refs[side][greek], case, f"{what} {side}")
    assert priced > SWEEP_SIZE // CHUNKS


def test_batch_answers_what_the_single_calls_answer() -> None:
    evm = _evm()
    options = [(i % 2 == 0, *c.args()) for i, c in enumerate(sweep()[:600])]
    for start in range(0, len(options), 20):
        items = options[start : start + 20]
        singles = [call(evm, "blackScholesPrice", item) for item in items]
        result = call(evm, "blackScholesPriceBatch", (items,))
        failed = next((i for i, r in enumerate(singles) if not r.success), None)
        if failed is None:
            assert result.success
            prices = abi.decode_uint_array(result.output)
            assert prices == [int.from_bytes(r.output, "big") for r in singles]
        else:
            assert error_of(result) == pc.ERR_BATCH_ITEM
            _, (index, reason) = pc.decode_error(result.output)
            assert index == failed and reason == singles[failed].output


def test_c_fast_path_and_python_kernel_agree_on_the_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    """``_price_call`` with the C words decoder and with the Python kernel alone: the same
    bytes and gas for every sweep input."""
    if bsm.bsm_price_words is None:
        pytest.fail("the C accelerator is not built")
    cases = sweep()[:800]
    calls = [(c.spot, c.strike, c.vol, c.expiry, c.rate, c.q) for c in cases]
    evm = _evm()
    fast = [call(evm, "blackScholesPrice", (i % 2 == 0, *a)) for i, a in enumerate(calls)]
    fast += [call(evm, "black76Price", (i % 2 == 1, *a[:5])) for i, a in enumerate(calls)]
    monkeypatch.setattr(pc, "bsm_price", bsm.bsm_kernel)
    monkeypatch.setattr(pc, "bsm_price_words", None)
    slow = [call(evm, "blackScholesPrice", (i % 2 == 0, *a)) for i, a in enumerate(calls)]
    slow += [call(evm, "black76Price", (i % 2 == 1, *a[:5])) for i, a in enumerate(calls)]
    for a, b in zip(fast, slow, strict=True):
        assert (a.success, a.gas_left, a.output) == (b.success, b.gas_left, b.output)


def test_implied_volatility_round_trips_or_raises_a_typed_error() -> None:
    """The volatility found reprices the option within the price bar (plus what half a wad
    unit of volatility moves it); otherwise a typed error."""
    evm = _evm()
    solved = 0
    for i, case in enumerate(sweep()[:300]):
        is_call = i % 2 == 0
        if refused(case.expiry, case.rate, case.q):
            r = call(
                evm, "impliedVolatility", (is_call, 10**18, *case.args()[:2], *case.args()[3:])
            )
            assert error_of(r) in IV_ERRORS, case
            continue
        price = pr.black_scholes_price(is_call, *case.args())
        iv_args = (is_call, price, case.spot, case.strike, case.expiry, case.rate, case.q)
        r = call(evm, "impliedVolatility", iv_args)
        if not r.success:
            if price > MAX_P:  # a put worth more than 1e36 (K e^{-rT}, r < 0)
                assert error_of(r) == "InvalidPrice(uint256)", case
                continue
            assert error_of(r) in IV_ERRORS, case
            continue
        vol = int.from_bytes(r.output, "big")
        g = pr.black_scholes_greeks(is_call, case.spot, case.strike, vol, *case.args()[3:])
        slack = PRICE_REL_TOL * max(nat(case.spot), nat(case.strike)) + UNIT
        assert abs(nat(g.price) - nat(price)) <= 2 * slack + abs(nat(g.vega)) * UNIT, case
        solved += 1
    assert solved > 20


def test_binomial_tree_is_accurate_or_a_typed_error() -> None:
    """A short tree (8 steps) against the same tree in 50-digit arithmetic: its discounting
    (``exp(-r dt)`` per step, node values in wad x 2**64) keeps the price bar wherever the
    discount factor is accepted."""
    evm = _evm()
    steps = 8
    checked = 0
    for i, case in enumerate(sweep()[:240]):
        is_call, american = i % 2 == 0, i % 3 == 0
        r = call(evm, "binomialPrice", (is_call, american, *case.args(), steps))
        if refused(case.expiry, case.rate, case.q):
            assert error_of(r) == "DiscountOutOfRange()", case
            continue
        ref = crr_reference(is_call, american, case, steps)
        if not r.success:
            assert error_of(r) in TREE_ERRORS, case
            if error_of(r) == "TreeProbabilityOutOfRange()":
                assert ref is None, case
            continue
        assert ref is not None, case
        _price_ok(int.from_bytes(r.output, "big"), ref, case, "tree")
        checked += 1
    assert checked > 40
