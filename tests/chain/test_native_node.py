"""A stateful native contract inside the dev node, end to end through JSON-RPC methods.

The node runs with a registry holding ``NativeVault`` (tests/vm/native_vault.py): its
storage persists across blocks and is proven by ``eth_getProof`` (checked with the
``trie`` package), its end-of-block step runs in every block and its logs come back
from ``eth_getLogs`` as the block's system receipt. Faults injected into a native
contract, into the executor and into the commit leave the node's state, head and root
exactly as before, in memory and on disk.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import rlp as pyrlp
from eth_abi import decode as eth_decode
from eth_abi import encode as eth_encode
from eth_hash.auto import keccak
from trie import HexaryTrie

from strikevm.chain import executor as X
from strikevm.chain import node as N
from strikevm.chain.store import ChainStore
from strikevm.chain.transaction import sign_transaction
from strikevm.finance.system import default_registry
from strikevm.rpc.methods import Methods
from strikevm.vm.system import marker_code

_HERE = Path(__file__).resolve()
_VM_TESTS = _HERE.parents[1] / "vm"
if str(_VM_TESTS) not in sys.path:
    sys.path.insert(0, str(_VM_TESTS))

from native_vault import (  # noqa: E402
    BLOCK_EVENT,
    BOOM_SIG,
    DEPOSIT_EVENT,
    DEPOSIT_SIG,
    NativeVault,
    balance_slot,
    selector,
)
from test_host import token_artifact  # noqa: E402

CHAIN = 31337
GWEI = 10**9
VAULT = 0x53540100


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000

    def __call__(self) -> int:
        return self.now


def make_node(store: ChainStore, vault: NativeVault | None = None) -> N.DevNode:
    system = default_registry()
    system.register(VAULT, vault if vault is not None else NativeVault())
    return N.DevNode(store, clock=Clock(), config=N.NodeConfig(), system=system)


@pytest.fixture(params=["memory", "lmdb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ChainStore]:
    s = ChainStore() if request.param == "memory" else ChainStore.open(str(tmp_path / "db"))
    yield s
    s.close()


def hexaddr_bytes(value: int) -> bytes:
    return bytes(12) + value.to_bytes(20, "big")


def hexaddr(value: int) -> str:
    return "0x" + value.to_bytes(20, "big").hex()


class Driver:
    """Signs and submits transactions from dev account 0; reads through the RPC methods."""

    def __init__(self, node: N.DevNode) -> None:
        self.node = node
        self.rpc = Methods(node)
        self.sender, self.key = node.accounts[0]

    def send(self, to: int | None, data: bytes, gas: int = 2_000_000) -> Any:
        tx = sign_transaction(
            self.key, tx_type=2, chain_id=CHAIN, nonce=self.node.pending_nonce(self.sender),
            gas_limit=gas, to=to, data=data, max_priority_fee_per_gas=GWEI,
            max_fee_per_gas=100 * GWEI,
        )  # fmt: skip
        self.node.submit(tx)
        return self.node.receipt(tx.hash)

    def call_fn(self, to: int, signature: str, types: list[str], args: list[Any]) -> Any:
        return self.send(to, selector(signature) + eth_encode(types, args))

    def deploy_token(self) -> int:
        code = bytes.fromhex(token_artifact()["evm"]["bytecode"]["object"])
        info = self.send(None, code + eth_encode(["uint256"], [10**30]), gas=3_000_000)
        assert info.receipt.success
        WATCH.append(info.contract_address)
        return info.contract_address


def fingerprint(node: N.DevNode) -> tuple[int, bytes, bytes, bytes]:
    """(head number, head hash, head state root, root of what the live state shows).

    The last item is the head root when every account and slot the tests use reads
    the same from the live state as from the head block's committed trie.
    """
    head = node.head()
    root = head.header.state_root
    committed = node.store.state_at(root)
    watched = [a for a, _ in node.accounts] + [VAULT, *WATCH]
    for address in watched:
        for read in ("nonce", "balance", "code"):
            if getattr(node.state, read)(address) != getattr(committed, read)(address):
                return head.number, head.hash, root, b"live state differs: " + read.encode()
        for slot in WATCH_SLOTS:
            if node.state.sload(address, slot) != committed.sload(address, slot):
                return head.number, head.hash, root, b"live storage differs"
    return head.number, head.hash, root, root


WATCH: list[int] = []  # contracts deployed by a test
WATCH_SLOTS: list[int] = [0, 1, 2, 3]


def test_native_contract_in_the_node(store: ChainStore) -> None:
    node = make_node(store)
    d = Driver(node)
    assert node.code(VAULT) == marker_code(node.system[VAULT])
    token = d.deploy_token()
    assert d.call_fn(token, "approve(address,uint256)", ["address", "uint256"], [hexaddr(VAULT), 10**20]).receipt.success
    info = d.call_fn(VAULT, DEPOSIT_SIG, ["address", "uint256"], [hexaddr(token), 1234])
    assert info.receipt.success
    deposit_block = info.block.number
    # tracing replays the block through the same pipeline and agrees with the receipt
    trace = d.rpc.call("debug_traceTransaction", ["0x" + info.tx.hash.hex(), {}])
    assert trace["gas"] == info.gas_used and trace["failed"] is False

    # storage written in one transaction is read in the next, through eth_call
    out = d.rpc.call("eth_call", [{"to": hexaddr(VAULT), "data": "0x" + (selector("balanceOf(address,address)") + eth_encode(["address", "address"], [hexaddr(d.sender), hexaddr(token)])).hex()}, "latest"])
    assert int(out, 16) == 1234

    # the end-of-block step ran once per block since genesis and logged each time
    head = node.head_number
    assert node.storage(VAULT, 0) == head and node.storage(VAULT, 1) == head
    logs = d.rpc.call("eth_getLogs", [{"fromBlock": "0x1", "toBlock": hex(head), "address": hexaddr(VAULT)}])
    block_steps = [log for log in logs if int(log["topics"][0], 16) == BLOCK_EVENT]
    deposits = [log for log in logs if int(log["topics"][0], 16) == DEPOSIT_EVENT]
    assert len(block_steps) == head
    assert len(deposits) == 1 and int(deposits[0]["blockNumber"], 16) == deposit_block
    system_log = next(log for log in block_steps if int(log["blockNumber"], 16) == deposit_block)
    stored = node.block(deposit_block)
    assert int(system_log["transactionIndex"], 16) == len(stored.block.transactions)
    assert bytes.fromhex(system_log["transactionHash"][2:]) == N.system_receipt_hash(stored.hash)
    assert int(system_log["logIndex"], 16) > int(deposits[0]["logIndex"], 16)

    # eth_getProof proves the vault's balance slot and step counter against the header
    slot = balance_slot(d.sender, token)
    proof = d.rpc.call("eth_getProof", [hexaddr(VAULT), [hex(slot), "0x0"], "latest"])
    root = node.head().header.state_root
    nodes = [pyrlp.decode(bytes.fromhex(p[2:])) for p in proof["accountProof"]]
    account = pyrlp.decode(HexaryTrie.get_from_proof(root, keccak(VAULT.to_bytes(20, "big")), nodes))
    nonce, _balance, storage_hash, code_hash = account
    assert int.from_bytes(nonce, "big") == 1
    assert code_hash == keccak(marker_code(node.system[VAULT]))
    assert "0x" + storage_hash.hex() == proof["storageHash"]
    expected = {slot: 1234, 0: head}
    for entry in proof["storageProof"]:
        key = int(entry["key"], 16)
        nodes = [pyrlp.decode(bytes.fromhex(p[2:])) for p in entry["proof"]]
        raw = HexaryTrie.get_from_proof(storage_hash, keccak(key.to_bytes(32, "big")), nodes)
        assert int.from_bytes(pyrlp.decode(raw), "big") == expected[key] == int(entry["value"], 16)


def test_broken_native_contract_fails_its_transaction_only(store: ChainStore) -> None:
    node = make_node(store)
    d = Driver(node)
    info = d.send(VAULT, selector(BOOM_SIG), gas=100_000)
    assert not info.receipt.success and info.gas_used == 100_000
    assert node.state.sload(VAULT, 0) == node.head_number  # the block step still ran
    assert fingerprint(node)[2] == fingerprint(node)[3]


def test_broken_end_of_block_step_does_not_stop_the_chain(store: ChainStore) -> None:
    node = make_node(store, NativeVault(broken_end_block=True))
    d = Driver(node)
    assert d.send(d.sender, b"").receipt.success
    assert node.head_number == 1 and node.storage(VAULT, 0) == 0
    number, _, root, live = fingerprint(node)
    assert root == live


@pytest.mark.parametrize("where", ["executor", "commit"])
def test_fault_during_mining_leaves_node_as_before(store: ChainStore, where: str, monkeypatch: pytest.MonkeyPatch) -> None:
    node = make_node(store)
    d = Driver(node)
    token = d.deploy_token()
    WATCH_SLOTS.append(int.from_bytes(keccak(hexaddr_bytes(VAULT) + bytes(31) + b"\x00"), "big"))
    before = fingerprint(node)
    assert before[2] == before[3]
    pending = node.pending_nonce(d.sender)

    if where == "executor":
        real = X.apply_transaction

        def broken(state: Any, *args: Any, **kw: Any) -> Any:
            real(state, *args, **kw)  # writes the state, then fails
            raise RuntimeError("injected executor fault")

        monkeypatch.setattr("strikevm.chain.pipeline.apply_transaction", broken)
    else:
        def fail(stage: str) -> None:
            raise RuntimeError(f"injected fault at {stage}")

        node.fault_injector = fail

    with pytest.raises(N.InternalError):
        d.call_fn(token, "transfer(address,uint256)", ["address", "uint256"], [hexaddr(VAULT), 5])
    assert fingerprint(node) == before
    assert node.state.nonce(d.sender) == pending  # no half-applied transaction
    assert node.state.sload(VAULT, 0) == before[0]  # nor a half-run block step

    monkeypatch.undo()
    node.fault_injector = None
    after = d.call_fn(token, "transfer(address,uint256)", ["address", "uint256"], [hexaddr(VAULT), 5])
    assert after.receipt.success
    number, _, root, live = fingerprint(node)
    assert number == before[0] + 1 and root == live
    out = d.rpc.call("eth_call", [{"to": hexaddr(token), "data": "0x" + (selector("balanceOf(address)") + eth_encode(["address"], [hexaddr(VAULT)])).hex()}, "latest"])
    # a transaction that caused the fault is dropped; one caught up in a failed commit
    # stays pending and is mined with the next block
    assert eth_decode(["uint256"], bytes.fromhex(out[2:]))[0] == (5 if where == "executor" else 10)
