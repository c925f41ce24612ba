"""The dev chain's genesis tokens: DevERC20 (USDC) and DevWETH, installed without a constructor.

The embedded runtime code must be what the sources in ``contracts/tokens`` compile to
(pinned solc-js through ``contracts/compile.js``) and the genesis storage must follow solc's
storage layout; the tokens are then exercised through the EVM with signed transactions
(``chain.executor.apply_transaction``) in a state built by ``dev_token_accounts``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from eth_abi import decode as eth_decode
from eth_abi import encode as eth_encode

from strikevm.chain.executor import TxResult, apply_transaction
from strikevm.chain.transaction import sign_transaction
from strikevm.crypto import keccak256, private_key_to_address
from strikevm.finance import abi
from strikevm.finance import dev_tokens as dt
from strikevm.finance import dev_tokens_code as code
from strikevm.finance.system import default_registry
from strikevm.state.account import Account
from strikevm.state.root import state_root
from strikevm.state.world import WorldState
from strikevm.vm.env import BlockEnv
from strikevm.vm.system import SYSTEM_RANGE_FIRST, SYSTEM_RANGE_LAST

ROOT = Path(__file__).resolve().parents[2]
KEYS = [(0x5354_DE70 + i).to_bytes(32, "big") for i in range(10)]
HOLDERS = [int.from_bytes(private_key_to_address(k), "big") for k in KEYS]
ETHER = 10**18
GAS_PRICE = 10  # max fee; base fee 7 + priority 1 -> effective 8
USDC = dt.DEV_USDC_PER_ACCOUNT
WETH = dt.DEV_WETH_PER_ACCOUNT
MAX = 2**256 - 1

TRANSFER_TOPIC = int.from_bytes(keccak256(b"Transfer(address,address,uint256)"), "big")
APPROVAL_TOPIC = int.from_bytes(keccak256(b"Approval(address,address,uint256)"), "big")
DEPOSIT_TOPIC = int.from_bytes(keccak256(b"Deposit(address,uint256)"), "big")
WITHDRAWAL_TOPIC = int.from_bytes(keccak256(b"Withdrawal(address,uint256)"), "big")


# ----------------------------------------------------------------------------- the build


@cache
def build() -> ModuleType:
    if shutil.which("node") is None:
        pytest.fail("node is not installed: the dev token tests compile with solc-js under node")
    if not (ROOT / "node_modules" / "solc").is_dir():
        pytest.fail("solc-js is not installed (node_modules/solc): run `npm ci` or `make test`")
    spec = importlib.util.spec_from_file_location(
        "dev_tokens_build", ROOT / "contracts/tokens/build.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@cache
def compiled() -> dict[str, Any]:
    out: dict[str, Any] = build().compile_sources()
    return out


def artifact(name: str) -> dict[str, Any]:
    return compiled()["contracts"][f"contracts/tokens/{name}.sol"][name]


@pytest.mark.parametrize(
    ("name", "runtime", "methods"),
    [
        ("DevERC20", code.DEV_ERC20_RUNTIME, code.DEV_ERC20_METHODS),
        ("DevWETH", code.DEV_WETH_RUNTIME, code.DEV_WETH_METHODS),
    ],
)
def test_embedded_code_is_the_compiled_source(
    name: str, runtime: bytes, methods: dict[str, str]
) -> None:
    evm = artifact(name)["evm"]
    assert runtime == bytes.fromhex(evm["deployedBytecode"]["object"])
    assert methods == evm["methodIdentifiers"]
    assert code.COMPILER == compiled()["compiler"]


def test_embedded_sources_hashes() -> None:
    for source, digest in code.SOURCE_SHA256.items():
        assert hashlib.sha256((ROOT / source).read_bytes()).hexdigest() == digest, source


def test_storage_layout_is_solcs() -> None:
    layouts = build().storage_layouts()
    assert layouts["DEV_ERC20"] == code.DEV_ERC20_STORAGE_LAYOUT
    assert layouts["DEV_WETH"] == code.DEV_WETH_STORAGE_LAYOUT
    for slots, layout in (
        (dt.ERC20_SLOTS, layouts["DEV_ERC20"]),
        (dt.WETH_SLOTS, layouts["DEV_WETH"]),
    ):
        assert {label: slot for label, (slot, _, _) in layout.items()} == dict(slots)
        assert all(offset == 0 for _, offset, _ in layout.values())  # nothing packed


def test_standard_erc20_interface() -> None:
    standard = {
        "name()": "06fdde03", "symbol()": "95d89b41", "decimals()": "313ce567",
        "totalSupply()": "18160ddd", "balanceOf(address)": "70a08231",
        "allowance(address,address)": "dd62ed3e", "approve(address,uint256)": "095ea7b3",
        "transfer(address,uint256)": "a9059cbb",
        "transferFrom(address,address,uint256)": "23b872dd",
    }  # fmt: skip
    for methods in (code.DEV_ERC20_METHODS, code.DEV_WETH_METHODS):
        assert standard.items() <= methods.items()
    assert {"deposit()": "d0e30db0", "withdraw(uint256)": "2e1a7d4d"}.items() <= (
        code.DEV_WETH_METHODS.items()
    )
    # Genesis runs no constructor: no immutables may hide in the runtime code.
    for name in ("DevERC20", "DevWETH"):
        assert not artifact(name)["evm"]["deployedBytecode"].get("immutableReferences")


def test_addresses_outside_the_system_range() -> None:
    for address in (dt.USDC_ADDRESS, dt.WETH_ADDRESS):
        assert not SYSTEM_RANGE_FIRST <= address <= SYSTEM_RANGE_LAST
        assert address < 1 << 160
    assert dt.USDC_ADDRESS not in default_registry()


# ----------------------------------------------------------------------------- storage helpers


def test_string_storage_matches_solidity() -> None:
    assert dt.string_storage(0, "") == {0: 0}
    assert dt.string_storage(1, "USDC") == {
        1: int.from_bytes(b"USDC".ljust(31, b"\0") + b"\x08", "big")
    }
    long = "x" * 40
    storage = dt.string_storage(0, long)
    base = int.from_bytes(keccak256(bytes(32)), "big")
    assert storage == {
        0: 81,
        base: int.from_bytes(b"x" * 32, "big"),
        base + 1: int.from_bytes(b"x" * 8 + bytes(24), "big"),
    }


def test_genesis_validation() -> None:
    with pytest.raises(ValueError):
        dt.token_genesis({1: 2**256}, name="a", symbol="b", decimals=6)
    with pytest.raises(ValueError):
        dt.token_genesis({1: 2**255, 2: 2**255}, name="a", symbol="b", decimals=6)
    with pytest.raises(ValueError):
        dt.token_genesis({}, name="a", symbol="b", decimals=256)
    with pytest.raises(ValueError):
        dt.token_genesis({1 << 160: 1}, name="a", symbol="b", decimals=6)
    with pytest.raises(ValueError):
        dt.dev_token_accounts([1, 1])
    state = WorldState({dt.USDC_ADDRESS: Account(balance=1)})
    with pytest.raises(ValueError):
        dt.install_dev_tokens(state, HOLDERS)


# ----------------------------------------------------------------------------- through the EVM


class Chain:
    """A genesis state holding the dev tokens, and signed transactions from the holders."""

    def __init__(self, minter: int = 0) -> None:
        self.state = WorldState({h: Account(balance=10_000 * ETHER) for h in HOLDERS})
        dt.install_dev_tokens(self.state, HOLDERS, minter=minter)
        self.block = BlockEnv(number=1, timestamp=1_800_000_000, base_fee=7, chain_id=1)
        self.system = default_registry()
        self.nonces = [0] * len(KEYS)

    def send(self, sender: int, to: int | None, data: bytes, value: int = 0) -> TxResult:
        tx = sign_transaction(
            KEYS[sender],
            tx_type=2,
            chain_id=1,
            nonce=self.nonces[sender],
            gas_limit=1_000_000,
            to=to,
            value=value,
            data=data,
            max_priority_fee_per_gas=1,
            max_fee_per_gas=GAS_PRICE,
        )
        self.nonces[sender] += 1
        return apply_transaction(self.state, self.block, tx, system=self.system)

    def call(
        self, token: int, signature: str, types: list[str], args: list[Any], sender: int = 0,
        value: int = 0,
    ) -> TxResult:  # fmt: skip
        args = [
            a.to_bytes(20, "big") if t == "address" else a for t, a in zip(types, args, strict=True)
        ]
        return self.send(sender, token, abi.selector(signature) + eth_encode(types, args), value)

    def read(self, token: int, signature: str, out: str, *args: int) -> Any:
        r = self.call(token, signature, ["address"] * len(args), list(args))
        assert r.success, r.error
        return eth_decode([out], r.output)[0]

    def balance(self, token: int, holder: int) -> int:
        return int(self.read(token, "balanceOf(address)", "uint256", holder))


def _revert_selector(r: TxResult) -> bytes:
    assert not r.success
    return bytes(r.output[:4])


def _error(signature: str) -> bytes:
    return abi.selector(signature)


@pytest.fixture
def chain() -> Chain:
    return Chain(minter=HOLDERS[9])


@pytest.mark.parametrize(
    ("token", "name", "symbol", "decimals", "each"),
    [
        (dt.USDC_ADDRESS, "USD Coin (dev)", "USDC", 6, 1_000_000 * 10**6),
        (dt.WETH_ADDRESS, "Wrapped Ether (dev)", "WETH", 18, 1_000 * 10**18),
    ],
)
def test_genesis_metadata_and_balances(
    chain: Chain, token: int, name: str, symbol: str, decimals: int, each: int
) -> None:
    assert chain.read(token, "name()", "string") == name
    assert chain.read(token, "symbol()", "string") == symbol
    assert chain.read(token, "decimals()", "uint8") == decimals
    assert chain.read(token, "totalSupply()", "uint256") == each * len(HOLDERS)
    for holder in HOLDERS:
        assert chain.balance(token, holder) == each
    assert chain.balance(token, dt.USDC_ADDRESS) == 0
    assert chain.read(token, "allowance(address,address)", "uint256", HOLDERS[0], HOLDERS[1]) == 0


def test_weth_holds_the_ether_it_owes(chain: Chain) -> None:
    assert chain.state.balance(dt.WETH_ADDRESS) == WETH * len(HOLDERS)
    assert chain.state.balance(dt.USDC_ADDRESS) == 0
    assert chain.read(dt.USDC_ADDRESS, "minter()", "address").lower() == f"0x{HOLDERS[9]:040x}"


@pytest.mark.parametrize("token", [dt.USDC_ADDRESS, dt.WETH_ADDRESS])
def test_transfer(chain: Chain, token: int) -> None:
    a, b = HOLDERS[0], HOLDERS[1]
    start = chain.balance(token, a)
    r = chain.call(token, "transfer(address,uint256)", ["address", "uint256"], [b, 1234])
    assert r.success
    assert eth_decode(["bool"], r.output) == (True,)
    assert [(log.address, log.topics, log.data) for log in r.logs] == [
        (token, (TRANSFER_TOPIC, a, b), eth_encode(["uint256"], [1234]))
    ]
    assert chain.balance(token, a) == start - 1234
    assert chain.balance(token, b) == start + 1234
    # to oneself: nothing changes but the event
    r = chain.call(token, "transfer(address,uint256)", ["address", "uint256"], [a, 5])
    assert r.success and chain.balance(token, a) == start - 1234
    # more than the balance: reverts with ERC20InsufficientBalance, nothing moves
    r = chain.call(token, "transfer(address,uint256)", ["address", "uint256"], [b, start])
    assert _revert_selector(r) == _error("ERC20InsufficientBalance(address,uint256,uint256)")
    assert eth_decode(["address", "uint256", "uint256"], r.output[4:])[1:] == (start - 1234, start)
    assert chain.balance(token, b) == start + 1234


@pytest.mark.parametrize("token", [dt.USDC_ADDRESS, dt.WETH_ADDRESS])
def test_approve_and_transfer_from(chain: Chain, token: int) -> None:
    owner, spender, to = HOLDERS[0], HOLDERS[1], HOLDERS[2]
    start = chain.balance(token, owner)
    r = chain.call(token, "approve(address,uint256)", ["address", "uint256"], [spender, 1000])
    assert r.success and eth_decode(["bool"], r.output) == (True,)
    assert [(log.address, log.topics, log.data) for log in r.logs] == [
        (token, (APPROVAL_TOPIC, owner, spender), eth_encode(["uint256"], [1000]))
    ]
    assert chain.read(token, "allowance(address,address)", "uint256", owner, spender) == 1000

    move = ["address", "address", "uint256"]
    r = chain.call(token, "transferFrom(address,address,uint256)", move, [owner, to, 600], sender=1)
    assert r.success and eth_decode(["bool"], r.output) == (True,)
    assert [(log.topics, log.data) for log in r.logs] == [
        ((TRANSFER_TOPIC, owner, to), eth_encode(["uint256"], [600]))
    ]
    assert chain.read(token, "allowance(address,address)", "uint256", owner, spender) == 400
    assert chain.balance(token, owner) == start - 600
    assert chain.balance(token, to) == start + 600

    r = chain.call(token, "transferFrom(address,address,uint256)", move, [owner, to, 401], sender=1)
    assert _revert_selector(r) == _error("ERC20InsufficientAllowance(address,uint256,uint256)")
    assert chain.read(token, "allowance(address,address)", "uint256", owner, spender) == 400

    # an infinite allowance never decreases
    assert chain.call(
        token, "approve(address,uint256)", ["address", "uint256"], [spender, MAX]
    ).success
    r = chain.call(token, "transferFrom(address,address,uint256)", move, [owner, to, 7], sender=1)
    assert r.success
    assert chain.read(token, "allowance(address,address)", "uint256", owner, spender) == MAX


def test_usdc_refuses_the_zero_address(chain: Chain) -> None:
    usdc = dt.USDC_ADDRESS
    r = chain.call(usdc, "transfer(address,uint256)", ["address", "uint256"], [0, 1])
    assert _revert_selector(r) == _error("ERC20InvalidReceiver(address)")
    r = chain.call(usdc, "approve(address,uint256)", ["address", "uint256"], [0, 1])
    assert _revert_selector(r) == _error("ERC20InvalidSpender(address)")


def test_usdc_mint_only_by_the_minter(chain: Chain) -> None:
    usdc, to = dt.USDC_ADDRESS, HOLDERS[3]
    supply = chain.read(usdc, "totalSupply()", "uint256")
    r = chain.call(usdc, "mint(address,uint256)", ["address", "uint256"], [to, 5 * 10**6], sender=0)
    assert _revert_selector(r) == _error("NotMinter(address)")
    r = chain.call(usdc, "mint(address,uint256)", ["address", "uint256"], [to, 5 * 10**6], sender=9)
    assert r.success
    assert [(log.topics, log.data) for log in r.logs] == [
        ((TRANSFER_TOPIC, 0, to), eth_encode(["uint256"], [5 * 10**6]))
    ]
    assert chain.read(usdc, "totalSupply()", "uint256") == supply + 5 * 10**6
    assert chain.balance(usdc, to) == USDC + 5 * 10**6
    # hand the role over; the previous minter is refused afterwards
    assert chain.call(usdc, "setMinter(address)", ["address"], [HOLDERS[4]], sender=9).success
    r = chain.call(usdc, "mint(address,uint256)", ["address", "uint256"], [to, 1], sender=9)
    assert _revert_selector(r) == _error("NotMinter(address)")
    assert chain.call(
        usdc, "mint(address,uint256)", ["address", "uint256"], [to, 1], sender=4
    ).success


def test_usdc_no_minter_by_default() -> None:
    chain = Chain()
    assert chain.read(dt.USDC_ADDRESS, "minter()", "address") == "0x" + "0" * 40
    r = chain.call(
        dt.USDC_ADDRESS, "mint(address,uint256)", ["address", "uint256"], [HOLDERS[0], 1]
    )
    assert _revert_selector(r) == _error("NotMinter(address)")


def _fee(r: TxResult) -> int:
    return r.gas_used * r.effective_gas_price


def test_weth_deposit_and_withdraw_move_ether(chain: Chain) -> None:
    weth, me = dt.WETH_ADDRESS, HOLDERS[5]
    eth0, held0 = chain.state.balance(me), chain.state.balance(weth)

    r = chain.call(weth, "deposit()", [], [], sender=5, value=3 * ETHER)
    assert r.success
    assert [(log.address, log.topics, log.data) for log in r.logs] == [
        (weth, (DEPOSIT_TOPIC, me), eth_encode(["uint256"], [3 * ETHER]))
    ]
    fees = _fee(r)
    assert chain.balance(weth, me) == WETH + 3 * ETHER
    assert chain.state.balance(weth) == held0 + 3 * ETHER
    assert chain.state.balance(me) == eth0 - 3 * ETHER - fees

    # a plain ether transfer wraps too (receive)
    r = chain.send(5, weth, b"", value=ETHER)
    assert r.success and [log.topics for log in r.logs] == [(DEPOSIT_TOPIC, me)]
    fees += _fee(r)
    assert chain.balance(weth, me) == WETH + 4 * ETHER

    r = chain.call(weth, "withdraw(uint256)", ["uint256"], [WETH + ETHER], sender=5)
    assert r.success
    assert [(log.topics, log.data) for log in r.logs] == [
        ((WITHDRAWAL_TOPIC, me), eth_encode(["uint256"], [WETH + ETHER]))
    ]
    fees += _fee(r)
    assert chain.balance(weth, me) == 3 * ETHER
    assert chain.state.balance(me) == eth0 + WETH - 3 * ETHER - fees
    assert chain.state.balance(weth) == held0 - WETH + 3 * ETHER
    assert chain.read(weth, "totalSupply()", "uint256") == chain.state.balance(weth)

    r = chain.call(weth, "withdraw(uint256)", ["uint256"], [3 * ETHER + 1], sender=5)
    assert _revert_selector(r) == _error("ERC20InsufficientBalance(address,uint256,uint256)")
    assert chain.balance(weth, me) == 3 * ETHER


# ----------------------------------------------------------------------------- determinism


def _genesis_root(holders: list[int]) -> bytes:
    state = WorldState({h: Account(balance=10_000 * ETHER) for h in holders})
    dt.install_dev_tokens(state, holders)
    return state_root(state)


def test_genesis_root_is_deterministic() -> None:
    root = _genesis_root(HOLDERS)
    assert root == _genesis_root(HOLDERS)
    assert root == _genesis_root(list(reversed(HOLDERS)))  # the order of the holders is moot
    assert root != _genesis_root(HOLDERS[:9])
    script = (
        "from strikevm.finance.dev_tokens import dev_token_accounts\n"
        "from strikevm.state.root import state_root\n"
        "from strikevm.state.world import WorldState\n"
        f"print(state_root(WorldState(dev_token_accounts({HOLDERS!r}))).hex())\n"
    )
    here = state_root(WorldState(dt.dev_token_accounts(HOLDERS))).hex()
    for seed in ("0", "12345"):
        proc = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PATH": ""},
            timeout=120,
        )
        assert proc.stdout.strip() == here


def test_genesis_equals_a_deployment_by_transactions() -> None:
    """Deploy both sources with their constructors, mint and deposit by transactions: the
    resulting accounts hold exactly the code and storage genesis writes directly."""
    chain = Chain()
    usdc_init = bytes.fromhex(artifact("DevERC20")["evm"]["bytecode"]["object"])
    weth_init = bytes.fromhex(artifact("DevWETH")["evm"]["bytecode"]["object"])
    args = eth_encode(
        ["string", "string", "uint8", "address"],
        ["USD Coin (dev)", "USDC", 6, HOLDERS[0].to_bytes(20, "big")],
    )
    deployed = chain.send(0, None, usdc_init + args)
    assert deployed.success and deployed.contract_address is not None
    usdc = deployed.contract_address
    args = eth_encode(["string", "string", "uint8"], ["Wrapped Ether (dev)", "WETH", 18])
    deployed = chain.send(0, None, weth_init + args)
    assert deployed.success and deployed.contract_address is not None
    weth = deployed.contract_address

    holders = {HOLDERS[1]: 5 * 10**6, HOLDERS[2]: 7, HOLDERS[3]: 10**12}
    for i, (holder, amount) in enumerate(holders.items(), start=1):
        mint = chain.call(usdc, "mint(address,uint256)", ["address", "uint256"], [holder, amount])
        assert mint.success
        assert chain.call(weth, "deposit()", [], [], sender=i, value=amount).success

    expected = dt.token_genesis(
        holders, name="USD Coin (dev)", symbol="USDC", decimals=6, minter=HOLDERS[0]
    )
    got = chain.state.accounts[usdc]
    assert got.code == expected.code
    assert {k: v for k, v in got.storage.items() if v} == expected.storage
    expected = dt.weth_genesis(holders)
    got = chain.state.accounts[weth]
    assert got.code == expected.code
    assert got.balance == expected.balance
    assert {k: v for k, v in got.storage.items() if v} == expected.storage
