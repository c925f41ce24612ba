"""Solidity -> bytecode -> StrikePricing -> result, end to end on the StrikeVM EVM.

``contracts/IStrikePricing.sol`` and the examples are compiled with the solc-js version
pinned in ``package.json`` (``contracts/compile.js``), deployed with signed contract-
creation transactions and called through ``chain.executor.apply_transaction`` with the
finance system registry; every quoted number must equal the direct result of
``strikevm.finance.pricing``. ``make test`` installs solc-js (``npm ci``); without it these
tests fail and say so.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from eth_abi import decode as eth_decode
from eth_abi import encode as eth_encode

from strikevm.chain.executor import TxResult, apply_transaction
from strikevm.chain.transaction import sign_transaction
from strikevm.crypto import private_key_to_address
from strikevm.finance import abi
from strikevm.finance import pricing as pr
from strikevm.finance import pricing_contract as pc
from strikevm.finance.system import default_registry
from strikevm.state.account import Account
from strikevm.state.world import WorldState
from strikevm.vm.env import BlockEnv

ROOT = Path(__file__).resolve().parents[2]
SOURCES = (
    "contracts/IStrikePricing.sol",
    "contracts/examples/CoveredCallVault.sol",
    "contracts/examples/BlackScholesPrecompile.sol",
)
W = 10**18
DAY = 86400
YEAR = 365 * DAY
KEY = (0x5354_0001_0000_0000_0000_0000_0000_0000_0000_0000_0000_0000_0000_0000_0000_0001).to_bytes(
    32, "big"
)
SENDER = int.from_bytes(private_key_to_address(KEY), "big")
NOW = 1_800_000_000


@cache
def compiled() -> dict[str, Any]:
    if shutil.which("node") is None:
        pytest.fail("node is not installed: the Solidity tests compile with solc-js under node")
    if not (ROOT / "node_modules" / "solc").is_dir():
        pytest.fail(
            "solc-js is not installed (node_modules/solc is missing): run `make test`, which "
            "installs it with `npm ci`, or run `npm ci` in the repository root"
        )
    proc = subprocess.run(
        ["node", "contracts/compile.js", *SOURCES],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if proc.returncode:
        pytest.fail(f"solc failed:\n{proc.stderr}")
    return json.loads(proc.stdout)


def artifact(source: str, name: str) -> dict[str, Any]:
    return compiled()["contracts"][source][name]


def selector(signature: str) -> bytes:
    return abi.selector(signature)


class Chain:
    """A world state, a block and a funded sender that sends signed transactions."""

    def __init__(self) -> None:
        self.state = WorldState({SENDER: Account(balance=10**24)})
        self.block = BlockEnv(number=1, timestamp=NOW, base_fee=7, chain_id=1)
        self.system = default_registry()
        self.nonce = 0

    def send(self, to: int | None, data: bytes, gas: int = 5_000_000) -> TxResult:
        tx = sign_transaction(
            KEY,
            tx_type=2,
            chain_id=1,
            nonce=self.nonce,
            gas_limit=gas,
            to=to,
            data=data,
            max_priority_fee_per_gas=1,
            max_fee_per_gas=10,
        )
        self.nonce += 1
        return apply_transaction(self.state, self.block, tx, system=self.system)

    def deploy(self, source: str, name: str, types: list[str], args: list[Any]) -> int:
        code = bytes.fromhex(artifact(source, name)["evm"]["bytecode"]["object"])
        result = self.send(None, code + eth_encode(types, args))
        assert result.success and result.contract_address is not None
        return result.contract_address

    def call(self, to: int, signature: str, types: list[str], args: list[Any]) -> TxResult:
        return self.send(to, selector(signature) + eth_encode(types, args))


# ----------------------------------------------------------------------------- the interface


def test_pinned_compiler() -> None:
    pinned = json.loads((ROOT / "package.json").read_text())["dependencies"]["solc"]
    lock = json.loads((ROOT / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/solc"]["version"] == pinned
    assert compiled()["compiler"].startswith(pinned + "+")


def _abi_type(entry: dict[str, Any]) -> str:
    if entry["type"].startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in entry["components"])
        return f"({inner}){entry['type'][5:]}"
    return entry["type"]


def test_interface_matches_the_contract() -> None:
    interface = artifact("contracts/IStrikePricing.sol", "IStrikePricing")
    ids = interface["evm"]["methodIdentifiers"]
    assert ids == {f.signature: f.selector.hex() for f in pc.FUNCTIONS.values()}
    functions = {e["name"]: e for e in interface["abi"] if e["type"] == "function"}
    for f in pc.FUNCTIONS.values():
        entry = functions[f.name]
        assert entry["stateMutability"] == "pure"
        assert [p["name"] for p in entry["inputs"]] == [n for _, n in f.params]
        outputs = [_abi_type(o) for o in entry["outputs"]]
        expected = list(f.output_types)
        if len(expected) == 6:  # the Greeks struct is one static tuple
            expected = [f"({','.join(expected)})"]
        assert outputs == expected, f.name
    errors = {
        f"{e['name']}({','.join(_abi_type(i) for i in e['inputs'])})"
        for e in interface["abi"]
        if e["type"] == "error"
    }
    assert errors == set(pc.ERROR_SIGNATURES)


# ----------------------------------------------------------------------------- covered-call vault

VAULT = "contracts/examples/CoveredCallVault.sol"
STRIKE = 2_200 * W
EXPIRY = NOW + 45 * DAY
RATE = 4 * W // 100
SPOT = 2_000 * W
VOL = 65 * W // 100


@pytest.fixture(scope="module")
def vault() -> tuple[Chain, int]:
    chain = Chain()
    address = chain.deploy(
        VAULT,
        "CoveredCallVault",
        ["uint256", "uint256", "int256", "uint256", "uint256"],
        [STRIKE, EXPIRY, RATE, SPOT, VOL],
    )
    assert chain.call(address, "deposit(uint256)", ["uint256"], [10 * W]).success
    return chain, address


def _call_price(spot: int = SPOT, vol: int = VOL, strike: int = STRIKE) -> int:
    return pr.black_scholes_price(True, spot, strike, vol, EXPIRY - NOW, RATE, 0)


def test_quote_premium(vault: tuple[Chain, int]) -> None:
    chain, address = vault
    amount = 3 * W // 2
    r = chain.call(address, "quotePremium(uint256)", ["uint256"], [amount])
    assert r.success
    assert eth_decode(["uint256"], r.output) == (_call_price() * amount // W,)


def test_quote_with_delta(vault: tuple[Chain, int]) -> None:
    chain, address = vault
    amount = 2 * W
    r = chain.call(address, "quoteWithDelta(uint256)", ["uint256"], [amount])
    assert r.success
    g = pr.black_scholes_greeks(True, SPOT, STRIKE, VOL, EXPIRY - NOW, RATE, 0)
    assert eth_decode(["uint256", "int256"], r.output) == (
        g.price * amount // W,
        g.delta * amount // W,
    )


def test_implied_volatility_round_trip(vault: tuple[Chain, int]) -> None:
    chain, address = vault
    premium = _call_price()
    r = chain.call(address, "impliedVolatilityOf(uint256)", ["uint256"], [premium])
    assert r.success
    expected = pr.implied_volatility(True, premium, SPOT, STRIKE, EXPIRY - NOW, RATE, 0)
    assert eth_decode(["uint256"], r.output) == (expected,)
    assert abs(expected - VOL) <= 1


def test_quote_ladder_uses_the_batch(vault: tuple[Chain, int]) -> None:
    chain, address = vault
    strikes = [1_500 * W, 2_000 * W, 2_200 * W, 3_000 * W, 10_000 * W]
    r = chain.call(address, "quoteLadder(uint256[])", ["uint256[]"], [strikes])
    assert r.success
    assert eth_decode(["uint256[]"], r.output) == (tuple(_call_price(strike=k) for k in strikes),)


@pytest.mark.parametrize(
    ("vol", "expected"),
    [
        (VOL, None),
        (0, ("InvalidVolatility(uint256)", 0)),
        (101 * W, ("InvalidVolatility(uint256)", 101 * W)),
    ],
)
def test_try_quote_decodes_custom_errors(
    vault: tuple[Chain, int], vol: int, expected: tuple[str, int] | None
) -> None:
    chain, address = vault
    r = chain.call(address, "tryQuote(uint256)", ["uint256"], [vol])
    assert r.success
    ok, price, error_selector, error_arg = eth_decode(
        ["bool", "uint256", "bytes4", "uint256"], r.output
    )
    if expected is None:
        assert (ok, price, error_selector, error_arg) == (True, _call_price(), bytes(4), 0)
    else:
        assert (ok, price, error_selector, error_arg) == (
            False,
            0,
            selector(expected[0]),
            expected[1],
        )


def test_buy_calls_and_errors_bubble_up() -> None:
    chain = Chain()
    address = chain.deploy(
        VAULT,
        "CoveredCallVault",
        ["uint256", "uint256", "int256", "uint256", "uint256"],
        [STRIKE, EXPIRY, RATE, SPOT, VOL],
    )
    assert chain.call(address, "deposit(uint256)", ["uint256"], [5 * W]).success
    amount = 2 * W
    premium = _call_price() * amount // W

    # the limit below the premium: the vault's own error, nothing changes
    r = chain.call(address, "buyCalls(uint256,uint256)", ["uint256", "uint256"], [amount, 1])
    assert not r.success
    assert r.output == selector("PremiumAboveLimit(uint256,uint256)") + eth_encode(
        ["uint256", "uint256"], [premium, 1]
    )

    r = chain.call(address, "buyCalls(uint256,uint256)", ["uint256", "uint256"], [amount, premium])
    assert r.success
    assert eth_decode(["uint256"], r.output) == (premium,)
    assert len(r.logs) == 1 and r.logs[0].address == address
    assert eth_decode(["uint256", "uint256"], r.logs[0].data) == (amount, premium)
    for getter, value in (("premiumCollected()", premium), ("sold()", amount)):
        out = chain.call(address, getter, [], []).output
        assert eth_decode(["uint256"], out) == (value,)

    # a zero volatility: StrikePricing's revert data reaches the transaction unchanged
    assert chain.call(
        address, "setMarket(uint256,uint256)", ["uint256", "uint256"], [SPOT, 0]
    ).success
    r = chain.call(address, "buyCalls(uint256,uint256)", ["uint256", "uint256"], [W, 10**30])
    assert not r.success
    assert r.output == abi.encode_error("InvalidVolatility(uint256)", (0,))
    assert pc.decode_error(r.output) == ("InvalidVolatility(uint256)", (0,))
    out = chain.call(address, "sold()", [], []).output
    assert eth_decode(["uint256"], out) == (amount,)


# ----------------------------------------------------------------------------- the speed workload


def test_black_scholes_example_matches_pricing() -> None:
    chain = Chain()
    address = chain.deploy(
        "contracts/examples/BlackScholesPrecompile.sol", "BlackScholesPrecompile", [], []
    )
    rng = random.Random(5)
    n = 12
    spots = [rng.randrange(50 * W, 150 * W) for _ in range(n)]
    strikes = [rng.randrange(50 * W, 150 * W) for _ in range(n)]
    times = [rng.randrange(W // 20, 3 * W) for _ in range(n)]
    vols = [rng.randrange(W // 10, W) for _ in range(n)]
    rate = 3 * W // 100
    args = [spots, strikes, times, vols, rate]
    types = ["uint256[]"] * 4 + ["uint256"]
    calls = []
    puts = []
    for s, k, t, v in zip(spots, strikes, times, vols, strict=True):
        seconds = t * YEAR // W
        calls.append(pr.black_scholes_price(True, s, k, v, seconds, rate, 0))
        puts.append(pr.black_scholes_price(False, s, k, v, seconds, rate, 0))
    outputs = []
    for name in ("priceBatch", "priceBatchAssembly"):
        r = chain.call(
            address, f"{name}(uint256[],uint256[],uint256[],uint256[],uint256)", types, args
        )
        assert r.success, name
        assert eth_decode(["uint256[]", "uint256[]"], r.output) == (tuple(calls), tuple(puts))
        outputs.append(r.output)
    assert outputs[0] == outputs[1]

    # a bad option: the batch error reaches the caller, wrapped with its index
    vols[4] = 0
    for name in ("priceBatch", "priceBatchAssembly"):
        r = chain.call(
            address, f"{name}(uint256[],uint256[],uint256[],uint256[],uint256)", types, args
        )
        assert not r.success
        assert r.output == abi.encode_error(
            "BatchItemFailed(uint256,bytes)",
            (4, abi.encode_error("InvalidVolatility(uint256)", (0,))),
        )
