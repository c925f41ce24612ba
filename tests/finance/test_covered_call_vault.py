"""ClearinghouseCoveredCallVault (contracts/examples) end to end on the in-process exchange.

The vault is compiled with the pinned solc-js, deployed with a signed creation transaction
and driven by signed transactions only: depositors deposit USDC, the manager moves it into
the vault's clearinghouse account and sells calls into a market maker's signed buy order,
the oracle walks to expiry, anyone closes the round, depositors redeem pro rata. Every
balance is recomputed here from the listed rules (premium = size x price, fees in bps of
the premium notional, settlement = size x max(price - strike, 0), redemption = shares x
assets / total shares) and the short-call margin from ``finance.margin``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from chhelpers import (
    CALL_3000,
    EXPIRY,
    ORDER_TUPLE,
    PUT_3000,
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
from oraclehelpers import WAD

from strikevm.chain.executor import TxResult
from strikevm.finance import clearinghouse_layout as L
from strikevm.finance.clearinghouse_layout import CLEARINGHOUSE_ADDRESS
from strikevm.finance.dev_tokens import USDC_ADDRESS
from strikevm.finance.margin import (
    MarketSpec,
    UnderlyingMarks,
    option_mark,
    short_option_requirements,
)

ROOT = Path(__file__).resolve().parents[2]
SOURCE = "contracts/examples/ClearinghouseCoveredCallVault.sol"
MAKER, MANAGER, KEEPER = 0, 1, 5
DEPOSITS = {2: 10_000 * USDC, 3: 20_000 * USDC, 4: 30_000 * USDC}
SCALE = 10**12  # wad of USD per USDC unit
MAKER_FEE_BPS, TAKER_FEE_BPS = 2, 5
SELL_SIG = f"sellCalls({ORDER_TUPLE},bytes,uint256)"
BELOW_IM = "BelowInitialMargin(address,uint32,int256,uint256)"


@cache
def artifact() -> dict[str, Any]:
    if shutil.which("node") is None or not (ROOT / "node_modules" / "solc").is_dir():
        pytest.fail("solc-js is not installed: run `make test` (it runs `npm ci`) or `npm ci`")
    proc = subprocess.run(
        ["node", "contracts/compile.js", "contracts/IStrikeClearinghouse.sol", SOURCE],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    if proc.returncode:
        pytest.fail(f"solc failed:\n{proc.stderr}")
    return json.loads(proc.stdout)["contracts"][SOURCE]["ClearinghouseCoveredCallVault"]


def vault_error(signature: str, *args: int) -> bytes:
    return selector(signature) + b"".join((a % (1 << 256)).to_bytes(32, "big") for a in args)


class Vault:
    """The deployed vault and the reads the test needs (all through transactions/storage)."""

    def __init__(self, ex: Exchange, market: int = CALL_3000, cap: int = 0) -> None:
        self.ex = ex
        code = bytes.fromhex(artifact()["evm"]["bytecode"]["object"])
        ctor = eth_encode(
            ["address", "uint32", "uint32", "uint256"], [_a(USDC_ADDRESS), market, 0, cap]
        )
        self.created = ex.send(TRADER_KEYS[MANAGER], None, code + ctor, gas=5_000_000)
        self.address = self.created.contract_address or 0

    def call(self, who: int, signature: str, types: list[str], args: list[Any]) -> TxResult:
        return self.ex.send(
            TRADER_KEYS[who], self.address, selector(signature) + eth_encode(types, args)
        )

    def read(self, signature: str, out: str = "uint256") -> Any:
        result = self.call(KEEPER, signature, [], [])
        assert result.success, result.output.hex()
        return eth_decode([out], result.output)[0]

    def deposit(self, who: int, amount: int) -> TxResult:
        approve = selector("approve(address,uint256)") + eth_encode(
            ["address", "uint256"], [_a(self.address), amount]
        )
        assert self.ex.send(TRADER_KEYS[who], USDC_ADDRESS, approve).success
        return self.call(who, "deposit(uint256)", ["uint256"], [amount])

    def sell(self, who: int, order: Any, sig: bytes, size: int) -> TxResult:
        return self.call(
            who, SELL_SIG, [ORDER_TUPLE, "bytes", "uint256"], [order_tuple(order), sig, size]
        )

    # clearinghouse side
    def cash(self) -> int:
        key = L.account_key(self.address, 0)
        return L.signed(self.ex.state.sload(CLEARINGHOUSE_ADDRESS, L.cash(key)), 256)

    def position(self) -> tuple[int, int]:
        return self.ex.view("getPosition(address,uint32,uint32)", ["address", "uint32", "uint32"],
                            [_a(self.address), 0, CALL_3000], ["int256", "int256"])  # fmt: skip

    def account(self) -> dict[str, int]:
        got = self.ex.view("getAccount(address,uint32)", ["address", "uint32"], [_a(self.address), 0],
                           ["int256", "int256", "int256", "uint256", "uint256", "int256"])  # fmt: skip
        return dict(zip(("collateral", "pnl", "equity", "im", "mm", "health"), got, strict=True))


def call_mark(ex: Exchange, spot: int) -> int:
    spec = MarketSpec(CALL_3000, 3, 0, expiry=EXPIRY, strike=3000 * WAD, is_call=True)
    return option_mark(spec, UnderlyingMarks(spot, 0, {CALL_3000: 6 * WAD // 10}), ex.now)


def short_call_im(ex: Exchange, calls: int, spot: int) -> int:
    spec = MarketSpec(CALL_3000, 3, 0, expiry=EXPIRY, strike=3000 * WAD, is_call=True)
    return short_option_requirements(spec, calls, spot, call_mark(ex, spot))[0]


def walk_to_expiry(ex: Exchange, spot: int) -> None:
    """Oracle at ``spot`` all the way, so the 30-minute settlement TWAP is exactly ``spot``."""
    while ex.now < EXPIRY - 1800:
        ex.next_block(min(86_400, EXPIRY - 1800 - ex.now) or 12)
        ex.prices(spot, vol=None, rate=None)
    while ex.now < EXPIRY:
        ex.next_block(300)
        ex.prices(spot, vol=None, rate=None)


@pytest.fixture
def ex() -> Exchange:
    e = Exchange()
    e.prices(3000)
    e.fund(MAKER, usdc=200_000 * USDC)
    return e


@pytest.mark.parametrize("final_spot", [3240, 2800], ids=["in-the-money", "out-of-the-money"])
def test_round_trip_premium_settlement_redemption(ex: Exchange, final_spot: int) -> None:
    vault = Vault(ex)
    assert vault.created.success and vault.address, vault.created.output.hex()
    v = vault.address
    wallet0 = {i: ex.token_balance(USDC_ADDRESS, TRADERS[i]) for i in DEPOSITS}

    # ---- Open: deposits, shares 1:1
    for who, amount in DEPOSITS.items():
        r = vault.deposit(who, amount)
        assert r.success, r.output.hex()
    total = sum(DEPOSITS.values())
    assert vault.read("totalShares()") == total
    assert ex.token_balance(USDC_ADDRESS, v) == total
    assert vault.call(KEEPER, "start()", [], []).output == vault_error("NotManager()")
    sold_early = vault.sell(MANAGER, *ex.order(MAKER, CALL_3000, True, WAD, 150 * WAD), WAD)
    assert sold_early.output == vault_error("WrongPhase(uint8,uint8)", 1, 0)

    # ---- Trading: the pool moves into the vault's clearinghouse account
    ch_before = ex.token_balance(USDC_ADDRESS, CLEARINGHOUSE_ADDRESS)
    r = vault.call(MANAGER, "start()", [], [])
    assert r.success, r.output.hex()
    assert ex.token_balance(USDC_ADDRESS, v) == 0
    assert ex.token_balance(USDC_ADDRESS, CLEARINGHOUSE_ADDRESS) == ch_before + total
    assert vault.cash() == total
    late = vault.deposit(2, USDC)
    assert late.output == vault_error("WrongPhase(uint8,uint8)", 0, 1)

    # the maker bids for up to 500 calls at 150; the vault sells 10 into it
    price = 150 * WAD
    order, sig = ex.order(MAKER, CALL_3000, True, 500 * WAD, price)
    assert vault.sell(KEEPER, order, sig, WAD).output == vault_error("NotManager()")
    ask, ask_sig = ex.order(MAKER, CALL_3000, False, 500 * WAD, price, nonce=1)
    assert vault.sell(MANAGER, ask, ask_sig, WAD).output == vault_error("WrongOrder()")
    maker_cash0 = ex.cash(MAKER)
    r = vault.sell(MANAGER, order, sig, 10 * WAD)
    assert r.success, r.output.hex()
    premium = 10 * 150 * USDC
    notional = 10 * price  # premium notional (wad) on which fees are charged
    taker_fee = notional * TAKER_FEE_BPS // 10_000 // SCALE
    maker_fee = notional * MAKER_FEE_BPS // 10_000 // SCALE
    assert vault.position() == (-10 * WAD, 0)
    assert ex.position(MAKER, CALL_3000) == (10 * WAD, 0)
    assert vault.cash() == total + premium - taker_fee
    assert ex.cash(MAKER) == maker_cash0 - premium - maker_fee
    assert vault.read("callsSold()") == 10 * WAD
    assert vault.read("premiumReceived()") == 10 * price

    # margin of the vault's account: Deribit short-call IM, recomputed
    acct = vault.account()
    spot = 3000 * WAD
    mark = call_mark(ex, spot)
    assert acct["collateral"] == (total + premium - taker_fee) * SCALE
    assert acct["pnl"] == -10 * mark
    assert abs(acct["im"] - short_call_im(ex, 10 * WAD, spot)) <= 1
    assert acct["equity"] > acct["im"]

    # ---- a sale beyond the collateral: the clearinghouse refuses it, nothing changes
    more = 150 * WAD
    storage = {k: x for k, x in ex.state.accounts[CLEARINGHOUSE_ADDRESS].storage.items() if x}
    r = vault.sell(MANAGER, order, sig, more)
    assert not r.success and r.output[:4] == selector(BELOW_IM)
    owner, sub, equity, im = eth_decode(["address", "uint32", "int256", "uint256"], r.output[4:])
    assert int(owner, 16) == v and sub == 0
    cash_after = (
        total
        + premium
        - taker_fee
        + 150 * 150 * USDC
        - (more * price // WAD) * TAKER_FEE_BPS // 10_000 // SCALE
    )
    assert equity == cash_after * SCALE - 160 * mark
    assert abs(im - short_call_im(ex, 160 * WAD, spot)) <= 1
    assert equity < im
    assert {
        k: x for k, x in ex.state.accounts[CLEARINGHOUSE_ADDRESS].storage.items() if x
    } == storage
    assert vault.read("callsSold()") == 10 * WAD and vault.position() == (-10 * WAD, 0)

    # ---- expiry
    assert vault.call(KEEPER, "close()", [], []).output == vault_error("NotExpired(uint64)", EXPIRY)
    walk_to_expiry(ex, final_spot)
    r = vault.call(KEEPER, "close()", [], [])
    assert r.success, r.output.hex()
    settled = ex.view("getMarket(uint32)", ["uint32"], [CALL_3000],
                      ["uint8", "bytes32", "uint64", "uint256", "bool", "bool", "uint8", "uint256"])  # fmt: skip
    assert settled[6] == 1 and settled[7] == final_spot * WAD
    payout = 10 * max(final_spot - 3000, 0) * USDC
    final_assets = total + premium - taker_fee - payout
    assert vault.cash() == 0 and vault.position() == (0, 0)
    assert ex.token_balance(USDC_ADDRESS, v) == final_assets
    assert vault.read("finalAssets()") == final_assets
    # the maker's long calls settle on its next touch: it receives exactly the payout
    maker_cash = ex.cash(MAKER)
    assert ex.ch(
        TRADER_KEYS[KEEPER],
        "settleAccount(address,uint32)",
        ["address", "uint32"],
        [_a(TRADERS[MAKER]), 0],
    ).success
    assert ex.cash(MAKER) - maker_cash == payout
    assert vault.call(KEEPER, "close()", [], []).output == vault_error(
        "WrongPhase(uint8,uint8)", 1, 2
    )

    # ---- redemptions, pro rata
    for who, shares in DEPOSITS.items():
        r = vault.call(who, "redeem()", [], [])
        assert r.success, r.output.hex()
        assert eth_decode(["uint256"], r.output)[0] == shares * final_assets // total
        assert (
            ex.token_balance(USDC_ADDRESS, TRADERS[who])
            == wallet0[who] - shares + shares * final_assets // total
        )
    assert ex.token_balance(USDC_ADDRESS, v) == final_assets - sum(
        s * final_assets // total for s in DEPOSITS.values()
    )
    assert vault.call(2, "redeem()", [], []).output == vault_error("NoShares()")
    # depositors together: + premium - the taker fee - the settlement (this split is exact)
    gain = sum(ex.token_balance(USDC_ADDRESS, TRADERS[i]) - wallet0[i] for i in DEPOSITS)
    assert gain == premium - taker_fee - payout


def test_only_an_unexpired_call_market(ex: Exchange) -> None:
    put = Vault(ex, market=PUT_3000)
    assert not put.created.success
    assert put.created.output == vault_error("NotACall(uint32)", PUT_3000)


def test_strike_secured_cap(ex: Exchange) -> None:
    # at most one call per 3,000 USDC deposited (the strike): 60,000 USDC -> 20 calls
    cap_per_unit = WAD * USDC // (3000 * USDC)
    vault = Vault(ex, cap=cap_per_unit)
    for who, amount in DEPOSITS.items():
        assert vault.deposit(who, amount).success
    assert vault.call(MANAGER, "start()", [], []).success
    order, sig = ex.order(MAKER, CALL_3000, True, 500 * WAD, 150 * WAD)
    cap = sum(DEPOSITS.values()) * cap_per_unit // USDC
    assert vault.sell(MANAGER, order, sig, 15 * WAD).success
    over = vault.sell(MANAGER, order, sig, 6 * WAD)
    assert over.output == vault_error("CapExceeded(uint256,uint256)", 21 * WAD, cap)
    assert vault.sell(MANAGER, order, sig, cap - 15 * WAD).success
    assert vault.position() == (-cap, 0)
