"""Hostile callers of StrikeClearinghouse: every attack is refused with its typed error and
leaves the clearinghouse's storage and the tokens' storage exactly as they were.

* a collateral token that re-enters the clearinghouse from ``transferFrom`` and ``transfer``
  (``contracts/ReentrantToken.sol``, compiled with the pinned solc-js, registered as
  collateral in a custom genesis): the re-entry reverts with ``ReentrantCall()``;
* signatures: replayed (after a full fill; on another order), forged (wrong signer,
  malformed length, high s, v out of range), for another chain id or another contract;
* self-trading: one account (``SelfTrade``), two accounts of one owner (allowed; marks come
  from the oracle only and the funding index moves only by the clamped premium sample);
* time: expired orders, expired and settled markets, early settlement, exercise of a
  European option, out-of-the-money and oversized exercise;
* overflow-sized amounts and malformed calldata;
* a STATICCALL of a state-changing entry point, value sent with a call, a DELEGATECALL
  (``contracts/CallProber.sol``).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from chhelpers import (
    ORDER_TUPLE,
    T0,
    TRADER_KEYS,
    TRADERS,
    USDC,
    Exchange,
    _a,
    order_tuple,
    selector,
)
from eth_abi import decode as eth_decode
from eth_abi import encode as eth_encode
from oraclehelpers import CHAIN_ID, WAD, address, key

from strikevm.chain.executor import TxResult
from strikevm.crypto import ecrecover_address
from strikevm.finance import clearinghouse_layout as L
from strikevm.finance.clearinghouse import (
    FUNDING_INTEREST,
    FUNDING_INTEREST_CLAMP,
    FUNDING_PERIOD,
    PREMIUM_CLAMP,
    error,
)
from strikevm.finance.clearinghouse_layout import (
    CLEARINGHOUSE_ADDRESS,
    Order,
    order_digest,
    sign_order,
)
from strikevm.finance.dev_tokens import USDC_ADDRESS, WETH_ADDRESS
from strikevm.finance.oracle_layout import SECP256K1_N
from strikevm.vm.host import ERR_DELEGATE, ERR_REENTRANT, ERR_VALUE, error_selector
from strikevm.vm.instructions.system import create_address

ROOT = Path(__file__).resolve().parents[2]
ONE = WAD
E1 = T0 + 2 * 3600
WINDOW = 600
STRIKE = 3000 * WAD
PERP_M, FUT_M, CALL_M, PUT_M, AM_PUT_M = range(5)
SHORT_MARKETS: list[dict[str, Any]] = [
    {"kind": 1, "underlying": "ETH/USD"},
    {"kind": 2, "underlying": "ETH/USD", "expiry": E1, "settle_window": WINDOW},
    {"kind": 3, "underlying": "ETH/USD", "expiry": E1, "strike": STRIKE, "is_call": 1, "settle_window": WINDOW},
    {"kind": 3, "underlying": "ETH/USD", "expiry": E1, "strike": STRIKE, "is_call": 0, "settle_window": WINDOW},
    {"kind": 3, "underlying": "ETH/USD", "expiry": E1, "strike": STRIKE, "is_call": 0, "american": 1,
     "settle_window": WINDOW},
]  # fmt: skip
DEPLOYER_KEY = key(600)
DEPLOYER = address(DEPLOYER_KEY)
FILL_SIG = f"fill({ORDER_TUPLE},bytes,uint256,uint32)"
DEP = ("deposit(uint32,address,uint256)", ["uint32", "address", "uint256"])
WD = ("withdraw(uint32,address,uint256)", ["uint32", "address", "uint256"])


@cache
def artifacts() -> dict[str, Any]:
    files = ["tests/finance/contracts/ReentrantToken.sol", "tests/finance/contracts/CallProber.sol"]
    proc = subprocess.run(["node", "contracts/compile.js", *files], cwd=ROOT, capture_output=True, text=True,
                          check=False, timeout=300)  # fmt: skip
    if proc.returncode:
        pytest.fail(f"solc failed (run `make test`, which installs solc-js):\n{proc.stderr}")
    out = json.loads(proc.stdout)["contracts"]
    return {name: out[f][name] for f in files for name in out[f]}


def bytecode(name: str) -> bytes:
    return bytes.fromhex(artifacts()[name]["evm"]["bytecode"]["object"])


def watched(ex: Exchange, extra: tuple[int, ...] = ()) -> tuple[dict[int, int], ...]:
    return tuple(ex.storage(a) for a in (CLEARINGHOUSE_ADDRESS, USDC_ADDRESS, WETH_ADDRESS, *extra))


def refused(ex: Exchange, send: Callable[[], TxResult], signature: str | None, *args: int,
            extra: tuple[int, ...] = ()) -> TxResult:  # fmt: skip
    """Run ``send``; it must fail with exactly ``error(signature, *args)`` (just the selector
    when no args are given) and leave the watched storage unchanged."""
    before = watched(ex, extra)
    result = send()
    assert not result.success
    if signature is not None:
        if args:
            assert result.output == error(signature, *args), result.output.hex()
        else:
            assert result.output[:4] == selector(signature), result.output.hex()
    assert watched(ex, extra) == before
    return result


def call_data(signature: str, types: list[str], args: list[Any]) -> bytes:
    return selector(signature) + eth_encode(types, args)


@pytest.fixture
def ex() -> Exchange:
    e = Exchange(markets=SHORT_MARKETS, expiries=[E1])
    e.prices(3000)
    for i in (0, 1, 2):
        e.fund(i, usdc=100_000 * USDC)
    e.fund(0, usdc=100_000 * USDC, sub=1)
    return e


# ------------------------------------------------------------------ re-entrant token


def token_exchange() -> tuple[Exchange, int]:
    token = create_address(DEPLOYER, 0)
    collateral = [
        {"token": f"0x{USDC_ADDRESS:040x}", "decimals": 6},
        {"token": f"0x{token:040x}", "decimals": 18, "haircutBps": 1000, "feed": "ETH/USD"},
    ]
    ex = Exchange(markets=SHORT_MARKETS, expiries=[E1], collateral=collateral, extra_holders=[DEPLOYER])
    deployed = ex.send(DEPLOYER_KEY, None, bytecode("ReentrantToken") + eth_encode(["uint256"], [10**30]))
    assert deployed.success and deployed.contract_address == token
    ex.prices(3000)
    assert ex.send(DEPLOYER_KEY, token, call_data("transfer(address,uint256)", ["address", "uint256"], [_a(TRADERS[0]), 10**24])).success
    assert ex.send(TRADER_KEYS[0], token, call_data("approve(address,uint256)", ["address", "uint256"],
                                                    [_a(CLEARINGHOUSE_ADDRESS), 2**255])).success  # fmt: skip
    return ex, token


def hook(ex: Exchange, token: int, data: bytes, strict: bool) -> None:
    r = ex.send(DEPLOYER_KEY, token, call_data("setHook(address,bytes,bool)", ["address", "bytes", "bool"],
                                               [_a(CLEARINGHOUSE_ADDRESS), data, strict]))  # fmt: skip
    assert r.success


def token_read(ex: Exchange, token: int, signature: str, out: str) -> Any:
    return ex.read(token, signature, [], [], [out])[0]


def test_reentrant_collateral_token_is_locked_out() -> None:
    ex, token = token_exchange()
    acct = L.account_key(TRADERS[0], 0)
    held = lambda: ex.state.sload(CLEARINGHOUSE_ADDRESS, L.balance(acct, 1))  # noqa: E731
    # transferFrom re-enters deposit: the inner deposit reverts ReentrantCall(), the outer one
    # credits exactly once
    hook(ex, token, call_data(*DEP, [0, _a(token), 5 * ONE]), strict=False)
    r = ex.ch(TRADER_KEYS[0], *DEP, [0, _a(token), 7 * ONE])
    assert r.success, r.output.hex()
    assert token_read(ex, token, "hookCalls()", "uint256") == 1
    assert token_read(ex, token, "hookSucceeded()", "bool") is False
    assert token_read(ex, token, "hookResult()", "bytes") == error_selector(ERR_REENTRANT)
    assert held() == 7 * ONE == ex.balance_of(token, CLEARINGHOUSE_ADDRESS)
    # a token that insists (reverts when its callback fails): the deposit fails as a whole
    hook(ex, token, call_data(*DEP, [0, _a(token), 5 * ONE]), strict=True)
    refused(ex, lambda: ex.ch(TRADER_KEYS[0], *DEP, [0, _a(token), 3 * ONE]), "TransferFailed(address)", token, extra=(token,))
    assert held() == 7 * ONE == ex.balance_of(token, CLEARINGHOUSE_ADDRESS)
    # transfer re-enters withdraw (a second withdrawal while the first pays out): locked out
    hook(ex, token, call_data(*WD, [0, _a(token), 4 * ONE]), strict=False)
    r = ex.ch(TRADER_KEYS[0], *WD, [0, _a(token), 4 * ONE])
    assert r.success, r.output.hex()
    assert token_read(ex, token, "hookResult()", "bytes") == error_selector(ERR_REENTRANT)
    assert held() == 3 * ONE == ex.balance_of(token, CLEARINGHOUSE_ADDRESS)
    assert ex.balance_of(token, TRADERS[0]) == 10**24 - 3 * ONE
    # re-entry into a fill from the payout of a withdrawal: locked out as well
    order, sig = ex.order(1, PERP_M, True, ONE, 3000 * WAD)
    hook(ex, token, call_data(FILL_SIG, [ORDER_TUPLE, "bytes", "uint256", "uint32"], [order_tuple(order), sig, ONE, 0]), strict=True)
    refused(ex, lambda: ex.ch(TRADER_KEYS[0], *WD, [0, _a(token), ONE]), "TransferFailed(address)", token, extra=(token,))
    assert held() == 3 * ONE


# ------------------------------------------------------------------ signatures


def recovered(order: Order, sig: bytes) -> int:
    v = sig[64] - 27
    return int.from_bytes(ecrecover_address(order_digest(order, CHAIN_ID), v, int.from_bytes(sig[:32], "big"),
                                            int.from_bytes(sig[32:64], "big")), "big")  # fmt: skip


def test_replayed_and_forged_signatures(ex: Exchange) -> None:
    order, sig = ex.order(0, PERP_M, True, ONE, 3000 * WAD)
    assert ex.fill(1, order, sig, ONE).success
    # replay after a full fill
    h = int.from_bytes(order_digest(order, CHAIN_ID), "big")
    refused(ex, lambda: ex.fill(1, order, sig, ONE), "Overfill(bytes32,uint256,uint256)", h, ONE, ONE)
    refused(ex, lambda: ex.fill(2, order, sig, 1), "Overfill(bytes32,uint256,uint256)", h, ONE, ONE)
    # the same signature on another order (other size, other nonce, other market)
    for other in (Order(**{**_fields(order), "size": 2 * ONE}), Order(**{**_fields(order), "nonce": 1}),
                  Order(**{**_fields(order), "market": FUT_M})):  # fmt: skip
        refused(ex, lambda o=other: ex.fill(1, o, sig, ONE), "NotAuthorized(address,address)", recovered(other, sig), TRADERS[0])
    # wrong signer
    fresh = Order(**{**_fields(order), "nonce": 2})
    wrong = sign_order(fresh, TRADER_KEYS[3], CHAIN_ID)
    refused(ex, lambda: ex.fill(1, fresh, wrong, ONE), "NotAuthorized(address,address)", TRADERS[3], TRADERS[0])
    good = sign_order(fresh, TRADER_KEYS[0], CHAIN_ID)
    # malformed length, r or s zero or >= n, v out of range
    for bad in (good[:64], good + b"\x00", b"", bytes(65), good[:32] + bytes(32) + good[64:],
                (SECP256K1_N).to_bytes(32, "big") + good[32:], good[:64] + bytes([29]), good[:64] + bytes([2]),
                good[:64] + bytes([255])):  # fmt: skip
        refused(ex, lambda b=bad: ex.fill(1, fresh, b, ONE), "InvalidSignature()")
    # high s (the malleable twin of a valid signature)
    s = int.from_bytes(good[32:64], "big")
    high = good[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - good[64]])
    refused(ex, lambda: ex.fill(1, fresh, high, ONE), "MalleableSignature()")
    # signed for another chain id, for another contract address
    for foreign in (sign_order(fresh, TRADER_KEYS[0], CHAIN_ID + 1),
                    sign_order(fresh, TRADER_KEYS[0], CHAIN_ID, 0x53540004)):  # fmt: skip
        refused(ex, lambda f=foreign: ex.fill(1, fresh, f, ONE), "NotAuthorized(address,address)",
                recovered(fresh, foreign), TRADERS[0])  # fmt: skip
    # v as 0/1 is the same signature as 27/28
    assert ex.fill(1, fresh, good[:64] + bytes([good[64] - 27]), ONE).success
    # the taker side of matchOrders is checked the same way
    maker = ex.order(2, PERP_M, False, ONE, 3000 * WAD, nonce=5)
    taker = ex.order(1, PERP_M, True, ONE, 3000 * WAD, nonce=5)
    refused(ex, lambda: ex.match(3, maker, (taker[0], maker[1]), ONE), "NotAuthorized(address,address)",
            recovered(taker[0], maker[1]), TRADERS[1])  # fmt: skip


def _fields(order: Order) -> dict[str, Any]:
    return {name: getattr(order, name) for name in Order.__slots__}


# ------------------------------------------------------------------ self-trading


def test_self_trade_and_same_owner_wash_trade(ex: Exchange) -> None:
    own = ex.order(0, PERP_M, False, ONE, 3000 * WAD)
    refused(ex, lambda: ex.fill(0, *own, ONE), "SelfTrade()")
    refused(ex, lambda: ex.match(2, ex.order(1, PERP_M, False, ONE, 3000 * WAD), ex.order(1, PERP_M, True, ONE, 3000 * WAD, nonce=1), ONE),
            "SelfTrade()")  # fmt: skip
    bystander = ex.account(2)
    index0 = ex.view("getFunding(uint32)", ["uint32"], [PERP_M], ["int256", "int256", "uint256"])
    # subaccount 0 sells 10 to subaccount 1 of the same owner at +50% of the index: allowed
    wash = ex.order(0, PERP_M, False, 10 * ONE, 4500 * WAD, sub=0)
    r = ex.fill(0, *wash, 10 * ONE, taker_sub=1)
    assert r.success, r.output.hex()
    # marks come from the oracle only: the bystander is untouched, each side is marked at 3000
    assert ex.account(2) == bystander
    assert ex.account(0, 0)["pnl"] == -10 * 3000 * WAD + 45_000 * WAD
    assert ex.account(0, 1)["pnl"] == 10 * 3000 * WAD - 45_000 * WAD
    from strikevm.finance.margin import MarketSpec, Position, UnderlyingMarks, standard_margin

    spec = MarketSpec(PERP_M, 1, int.from_bytes(ex.view("getMarket(uint32)", ["uint32"], [PERP_M], ["uint8", "bytes32"] + ["uint256"] * 6)[1], "big"))
    marks = {spec.underlying: UnderlyingMarks(3000 * WAD, 0, {})}
    assert ex.account(0, 1)["im"] == standard_margin([Position(spec, 10 * ONE, 45_000 * WAD)], marks, ex.now).im
    assert index0[0] == 0
    # funding: the next block's premium sample is the fill VWAP's premium clamped to 5%
    ex.next_block(60)
    index, ema, last = ex.view("getFunding(uint32)", ["uint32"], [PERP_M], ["int256", "int256", "uint256"])
    sample = min(PREMIUM_CLAMP, (4500 - 3000) * WAD // 3000)
    assert sample == PREMIUM_CLAMP
    want_ema = sample * 60 // 3600
    rate = want_ema + max(-FUNDING_INTEREST_CLAMP, min(FUNDING_INTEREST_CLAMP, FUNDING_INTEREST - want_ema))
    assert (ema, last) == (want_ema, ex.now)
    assert index == rate * 3000 * WAD // WAD * 60 // FUNDING_PERIOD
    # and the wash trade moved no cash to the owner beyond the two fees
    fees = 45_000 * USDC * (2 + 5) // 10_000
    assert ex.cash(0, 0) + ex.cash(0, 1) == 200_000 * USDC - fees


# ------------------------------------------------------------------ time


def walk_to_expiry(ex: Exchange, price: int) -> None:
    for t in (E1 - WINDOW - 60, E1 - WINDOW // 2, E1):
        ex.next_block(t - ex.now)
        ex.prices(price)


def test_expired_orders_markets_and_exercise(ex: Exchange) -> None:
    assert ex.fill(1, *ex.order(0, PUT_M, True, ONE, 100 * WAD), ONE).success
    assert ex.fill(1, *ex.order(0, AM_PUT_M, True, 2 * ONE, 100 * WAD), 2 * ONE).success
    assert ex.fill(1, *ex.order(0, FUT_M, True, ONE, 3000 * WAD), ONE).success
    stale = ex.order(0, PERP_M, True, ONE, 3000 * WAD, nonce=1, expiry=ex.now - 1)
    refused(ex, lambda: ex.fill(1, *stale, ONE), "OrderExpired(uint256,uint256)", ex.now - 1, ex.now)
    settle = lambda m: ex.ch(TRADER_KEYS[2], "settle(uint32)", ["uint32"], [m])  # noqa: E731
    refused(ex, lambda: settle(FUT_M), "MarketNotExpired(uint32,uint256)", FUT_M, E1)
    refused(ex, lambda: settle(PERP_M), "InvalidMarket()")
    refused(ex, lambda: settle(9), "UnknownMarket(uint32)", 9)
    exercise = lambda i, m, size: ex.ch(TRADER_KEYS[i], "exercise(uint32,uint32,uint256)", ["uint32", "uint32", "uint256"], [0, m, size])  # noqa: E731
    refused(ex, lambda: exercise(0, PUT_M, ONE), "NotAmerican(uint32)", PUT_M)
    refused(ex, lambda: exercise(0, FUT_M, ONE), "NotAmerican(uint32)", FUT_M)
    ex.next_block()
    ex.prices(3100)  # the put is out of the money
    refused(ex, lambda: exercise(0, AM_PUT_M, ONE), "NotInTheMoney(uint32)", AM_PUT_M)
    ex.next_block()
    ex.prices(2900)
    refused(ex, lambda: exercise(0, AM_PUT_M, 3 * ONE), "InsufficientPosition(int256,uint256)", 2 * ONE, 3 * ONE)
    refused(ex, lambda: exercise(1, AM_PUT_M, ONE), "InsufficientPosition(int256,uint256)", -2 * ONE, ONE)  # the writer
    refused(ex, lambda: exercise(0, AM_PUT_M, 0), "ZeroAmount()")
    walk_to_expiry(ex, 2900)
    # expired, not yet settled: no trading, no exercise
    for m in (FUT_M, CALL_M, PUT_M, AM_PUT_M):
        refused(ex, lambda m=m: ex.fill(2, *ex.order(0, m, True, ONE, 100 * WAD, nonce=7), ONE), "MarketExpired(uint32)", m)
    refused(ex, lambda: exercise(0, AM_PUT_M, ONE), "MarketExpired(uint32)", AM_PUT_M)
    assert settle(FUT_M).success and settle(AM_PUT_M).success
    refused(ex, lambda: settle(FUT_M), "MarketSettled(uint32)", FUT_M)
    for m in (FUT_M, AM_PUT_M):
        refused(ex, lambda m=m: ex.fill(2, *ex.order(0, m, True, ONE, 100 * WAD, nonce=8), ONE), "MarketSettled(uint32)", m)
    refused(ex, lambda: exercise(0, AM_PUT_M, ONE), "MarketExpired(uint32)", AM_PUT_M)
    # the perp trades on
    assert ex.fill(2, *ex.order(0, PERP_M, True, ONE, 2900 * WAD, nonce=9), ONE).success


# ------------------------------------------------------------------ sizes and calldata


def test_overflow_sized_amounts(ex: Exchange) -> None:
    big = 1 << 100
    for size, price in ((big, 3000 * WAD), (ONE, big), (2**256 - 1, 3000 * WAD), (ONE, 2**255)):
        o, sig = ex.order(0, PERP_M, True, size, price)
        refused(ex, lambda o=o, sig=sig: ex.fill(1, o, sig, ONE), "AmountTooLarge(uint256)", max(size, price))
    o, sig = ex.order(0, PERP_M, True, ONE, 3000 * WAD)
    for size in (big, 2**255, 2**256 - 1):
        refused(ex, lambda s=size: ex.fill(1, o, sig, s), "AmountTooLarge(uint256)", size)
    refused(ex, lambda: ex.fill(1, o, sig, 0), "ZeroAmount()")
    refused(ex, lambda: ex.fill(1, o, sig, ONE + 1), "Overfill(bytes32,uint256,uint256)",
            int.from_bytes(order_digest(o, CHAIN_ID), "big"), 0, ONE)  # fmt: skip
    other = ex.order(1, PERP_M, False, ONE, 3000 * WAD)
    refused(ex, lambda: ex.match(2, o_sig(o, sig), other, 2**256 - 1), "Overfill(bytes32,uint256,uint256)")
    for amount in (big, 2**255, 2**256 - 1):
        refused(ex, lambda a=amount: ex.ch(TRADER_KEYS[0], *DEP, [0, _a(USDC_ADDRESS), a]), "AmountTooLarge(uint256)", amount)
        refused(ex, lambda a=amount: ex.ch(TRADER_KEYS[0], *WD, [0, _a(USDC_ADDRESS), a]),
                "InsufficientCollateral(uint256,uint256)", 100_000 * USDC, amount)  # fmt: skip
    for token in (USDC_ADDRESS, WETH_ADDRESS):
        refused(ex, lambda t=token: ex.ch(TRADER_KEYS[0], *DEP, [0, _a(t), 0]), "ZeroAmount()")
    # the ledger never saw any of it
    assert ex.cash(0) == 100_000 * USDC and ex.position(0, PERP_M) == (0, 0)


def o_sig(o: Order, sig: bytes) -> tuple[Order, bytes]:
    return o, sig


def raw(ex: Exchange, data: bytes, i: int = 1, value: int = 0) -> TxResult:
    return ex.send(TRADER_KEYS[i], CLEARINGHOUSE_ADDRESS, data, value=value)


def test_malformed_calldata(ex: Exchange) -> None:
    o, sig = ex.order(0, PERP_M, True, ONE, 3000 * WAD)
    good = call_data(FILL_SIG, [ORDER_TUPLE, "bytes", "uint256", "uint32"], [order_tuple(o), sig, ONE, 0])
    head = good[: 4 + 12 * 32]
    word = lambda v: (v % 2**256).to_bytes(32, "big")  # noqa: E731
    bad = {
        "empty": b"",
        "short selector": good[:3],
        "truncated head": good[: 4 + 11 * 32],
        "head only": head,
        "offset past the end": head[: 4 + 9 * 32] + word(2**64) + head[4 + 10 * 32 :] + good[len(head):],
        "offset -1": head[: 4 + 9 * 32] + word(-1) + head[4 + 10 * 32 :] + good[len(head):],
        "length past the end": head + word(2**200) + good[len(head) + 32 :],
        "truncated signature": good[:-40],
        "isBuy = 2": good[:4] + good[4 : 4 + 3 * 32] + word(2) + good[4 + 4 * 32 :],
        "owner above 160 bits": good[:4] + word(1 << 160 | TRADERS[0]) + good[36:],
        "market above 32 bits": good[:4] + good[4:68] + word(1 << 32) + good[100:],
        "expiry above 64 bits": good[:4] + good[4 : 4 + 6 * 32] + word(1 << 64) + good[4 + 7 * 32 :],
        "taker subaccount above 32 bits": head[: 4 + 11 * 32] + word(1 << 32) + good[len(head):],
    }
    for name, data in bad.items():
        r = refused(ex, lambda d=data: raw(ex, d), None)
        assert r.output == error("MalformedCalldata()"), (name, r.output.hex())
    r = refused(ex, lambda: raw(ex, b"\x12\x34\x56\x78" + bytes(64)), None)
    assert r.output == selector("UnknownSelector(bytes4)") + b"\x12\x34\x56\x78" + bytes(28)
    # other entry points: short arguments and out-of-range words
    for data in (selector(DEP[0]) + word(0) + word(USDC_ADDRESS), selector(DEP[0]) + word(2**32) + word(USDC_ADDRESS) + word(1),
                 selector("cancelAll(uint32,uint64)") + word(0) + word(2**64),
                 selector("setDelegate(address,bool)") + word(TRADERS[2]) + word(2),
                 selector("settleAccount(address,uint32)") + word(2**160) + word(0),
                 selector(f"cancelOrder({ORDER_TUPLE})") + good[4 : 4 + 8 * 32]):  # fmt: skip
        r = refused(ex, lambda d=data: raw(ex, d), None)
        assert r.output == error("MalformedCalldata()"), r.output.hex()
    r = refused(ex, lambda: raw(ex, selector(DEP[0]) + word(0) + word(1 << 160 | USDC_ADDRESS) + word(1)), None)
    assert r.output == error("UnknownToken(address)", 1 << 160 | USDC_ADDRESS)
    assert ex.fill(1, o, sig, ONE).success  # the well-formed call still works


# ------------------------------------------------------------------ call kinds


def deploy_prober(ex: Exchange) -> int:
    r = ex.send(TRADER_KEYS[3], None, bytecode("CallProber"))
    assert r.success and r.contract_address
    return r.contract_address


def probe(ex: Exchange, prober: int, kind: str, data: bytes, value: int = 0) -> tuple[bool, bytes]:
    before = watched(ex)
    r = ex.send(TRADER_KEYS[3], prober, call_data(f"{kind}(address,bytes)", ["address", "bytes"],
                                                   [_a(CLEARINGHOUSE_ADDRESS), data]), value=value)  # fmt: skip
    assert r.success, r.output.hex()
    ok, out = eth_decode(["bool", "bytes"], r.output)
    if not ok:
        assert watched(ex) == before
    return ok, out


def test_static_delegate_and_value_calls(ex: Exchange) -> None:
    prober = deploy_prober(ex)
    cash_view = call_data("getCash(address,uint32)", ["address", "uint32"], [_a(TRADERS[0]), 0])
    assert probe(ex, prober, "probeStatic", cash_view) == (True, (100_000 * USDC).to_bytes(32, "big"))
    # state-changing entry points under STATICCALL: the first write halts the frame
    o, sig = ex.order(0, PERP_M, True, ONE, 3000 * WAD)
    writes = [
        call_data("cancelAll(uint32,uint64)", ["uint32", "uint64"], [0, 5]),
        call_data("setMarginMode(uint32,uint8)", ["uint32", "uint8"], [0, 1]),
        call_data("setDelegate(address,bool)", ["address", "bool"], [_a(TRADERS[4]), True]),
        call_data(f"cancelOrder({ORDER_TUPLE})", [ORDER_TUPLE], [order_tuple(o)]),
        call_data(FILL_SIG, [ORDER_TUPLE, "bytes", "uint256", "uint32"], [order_tuple(o), sig, ONE, 0]),
        call_data("settleAccount(address,uint32)", ["address", "uint32"], [_a(TRADERS[0]), 0]),
    ]
    for data in writes:
        want = b""
        if data[:4] == selector(f"cancelOrder({ORDER_TUPLE})"):  # refused before the write: not the owner
            want = error("NotAuthorized(address,address)", prober, TRADERS[0])
        assert probe(ex, prober, "probeStatic", data) == (False, want)
    # DELEGATECALL: refused before any code runs, reads included
    for data in (cash_view, *writes):
        assert probe(ex, prober, "probeDelegate", data) == (False, error_selector(ERR_DELEGATE))
    # value: refused from a contract and from a transaction
    assert probe(ex, prober, "probeCall", cash_view, value=1) == (False, error_selector(ERR_VALUE) + (1).to_bytes(32, "big"))
    before = watched(ex)
    r = raw(ex, writes[0], i=0, value=10**18)
    assert not r.success and r.output == error_selector(ERR_VALUE) + (10**18).to_bytes(32, "big")
    assert watched(ex) == before
    assert ex.state.balance(CLEARINGHOUSE_ADDRESS) == 0
    # plain CALLs from the prober still work: the prober may cancel its own nonces
    assert probe(ex, prober, "probeCall", writes[0]) == (True, b"")
