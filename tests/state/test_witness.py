"""Witnesses: 100 random blocks over a state of thousands of accounts re-execute from
their witness alone to the same root; a witness missing or altering a node is rejected."""

from __future__ import annotations

import random

import pytest

from strikevm.crypto import keccak256
from strikevm.state.account import Account
from strikevm.state.backend import BackendState, RecordingBackend, TrieBackend
from strikevm.state.commit import StateCommitter
from strikevm.state.witness import (
    Witness,
    WitnessIncomplete,
    WitnessState,
    post_state_root,
    record_witness,
)
from strikevm.state.world import WorldState

N_ACCOUNTS = 3000
CONTRACTS = list(range(1, 41))  # contracts with storage
CODES = [bytes([0x60, i, 0x00]) for i in range(1, 6)]
CODE_BY_HASH = {keccak256(c): c for c in CODES}


def make_state(rng: random.Random) -> WorldState:
    state = WorldState()
    for addr in range(1, N_ACCOUNTS + 1):
        acct = Account(rng.randrange(5), rng.randrange(1, 10**18))
        if addr in CONTRACTS:
            acct.set_code(rng.choice(CODES))
            acct.storage = {s: rng.randrange(1, 1000) for s in range(rng.randrange(1, 30))}
        state.accounts[addr] = acct
    return state


def random_block(rng: random.Random, fresh: list[int]) -> list[tuple]:
    ops: list[tuple] = []
    for _ in range(rng.randrange(1, 15)):
        kind = rng.randrange(10)
        if kind <= 2:  # transfer
            ops.append(("transfer", rng.randrange(1, N_ACCOUNTS + 1),
                        rng.randrange(1, N_ACCOUNTS + 1), rng.randrange(1000)))
        elif kind <= 5:  # storage write or deletion
            value = 0 if rng.random() < 0.4 else rng.randrange(1, 1000)
            ops.append(("sstore", rng.choice(CONTRACTS), rng.randrange(40), value))
        elif kind == 6:  # new account
            fresh[0] += 1
            ops.append(("transfer", rng.randrange(1, N_ACCOUNTS + 1), fresh[0], 5))
        elif kind == 7:  # self-destruct, possibly of a contract with storage
            ops.append(("destruct", rng.choice(CONTRACTS + [rng.randrange(1, N_ACCOUNTS + 1)])))
        elif kind == 8:  # contract (re)creation with storage
            addr = rng.choice(CONTRACTS)
            ops.append(("create", addr, rng.choice(CODES), rng.randrange(3)))
        else:  # plain reads
            ops.append(("read", rng.randrange(1, fresh[0] + 1), rng.choice(CONTRACTS),
                        rng.randrange(40)))
    return ops


def run(state: WorldState, ops: list[tuple]) -> None:
    for op in ops:
        state.begin_transaction()
        name = op[0]
        if name == "transfer":
            state.transfer(op[1], op[2], min(op[3], state.balance(op[1])))
        elif name == "sstore":
            state.sstore(op[1], op[2], op[3])
        elif name == "destruct":
            state.mark_destruct(op[1])
        elif name == "create":
            state.create_account(op[1])
            state.set_code(op[1], op[2])
            for slot in range(op[3]):
                state.sstore(op[1], slot, slot + 1)
        else:
            state.balance(op[1])
            state.sload(op[2], op[3])
        state.finalize_transaction()


def test_random_blocks_reexecute_from_witness() -> None:
    rng = random.Random(42)
    direct = make_state(rng)
    committer = StateCommitter()
    committer.commit_all(direct)
    fresh = [N_ACCOUNTS]
    sizes: list[tuple[int, int]] = []
    for _ in range(100):
        pre_root = committer.root
        ops = random_block(rng, fresh)
        reads = RecordingBackend(TrieBackend(committer.store, pre_root, CODE_BY_HASH.get))
        scratch = BackendState(reads)
        run(scratch, ops)
        written = scratch.take_dirty()
        witness, root = record_witness(
            committer.store, pre_root, reads, scratch, written, CODE_BY_HASH.__getitem__
        )
        run(direct, ops)
        expected = committer.commit(direct)
        assert root == expected
        encoded = witness.encode()
        assert Witness.decode(encoded).encode() == encoded  # deterministic round trip
        stateless = WitnessState(Witness.decode(encoded), pre_root)
        run(stateless, ops)
        assert post_state_root(stateless) == expected
        sizes.append((len(encoded), len(reads.accounts)))
    total = sum(s for s, _ in sizes)
    accounts = sum(a for _, a in sizes)
    assert total // accounts < 5000  # bytes per accessed account, sanity only


def _block_and_witness(seed: int) -> tuple[bytes, list[tuple], Witness, bytes]:
    rng = random.Random(seed)
    direct = make_state(rng)
    committer = StateCommitter()
    pre_root = committer.commit_all(direct)
    ops = [("sstore", 3, s, 0) for s in range(5)] + random_block(rng, [N_ACCOUNTS])
    reads = RecordingBackend(TrieBackend(committer.store, pre_root, CODE_BY_HASH.get))
    scratch = BackendState(reads)
    run(scratch, ops)
    witness, root = record_witness(
        committer.store, pre_root, reads, scratch, scratch.take_dirty(), CODE_BY_HASH.__getitem__
    )
    return pre_root, ops, witness, root


def _replay(pre_root: bytes, ops: list[tuple], witness: Witness) -> bytes:
    stateless = WitnessState(witness, pre_root)
    run(stateless, ops)
    return post_state_root(stateless)


@pytest.mark.parametrize("seed", range(3))
def test_witness_missing_or_altered_node_is_rejected(seed: int) -> None:
    pre_root, ops, witness, root = _block_and_witness(seed)
    assert _replay(pre_root, ops, witness) == root
    rng = random.Random(seed)
    for key in rng.sample(sorted(witness.nodes), min(10, len(witness.nodes))):
        missing = Witness({k: v for k, v in witness.nodes.items() if k != key}, witness.codes)
        with pytest.raises(WitnessIncomplete):
            _replay(pre_root, ops, missing)
        altered_nodes = dict(witness.nodes)
        node = bytearray(altered_nodes[key])
        node[-1] ^= 1
        del altered_nodes[key]
        altered = Witness.decode(Witness(altered_nodes, witness.codes).encode())
        altered.nodes[keccak256(bytes(node))] = bytes(node)
        altered = Witness.decode(altered.encode())
        with pytest.raises(WitnessIncomplete):
            _replay(pre_root, ops, altered)


def test_witness_without_code_is_rejected() -> None:
    pre_root, ops, witness, root = _block_and_witness(0)
    assert witness.codes
    stripped = Witness(witness.nodes, {})
    with pytest.raises(WitnessIncomplete):
        _replay(pre_root, ops, stripped)


def test_verify_block_from_a_node(tmp_path) -> None:  # noqa: ANN001
    from strikevm.chain import node as N
    from strikevm.chain.store import ChainStore
    from strikevm.cli import main
    from strikevm.primitives import rlp
    from strikevm.tools.verify_block import export_bundle, verify_bundle

    store = ChainStore.open(str(tmp_path / "db"), sync=False)
    dev = N.DevNode(store, clock=lambda: 1_700_000_000, config=N.NodeConfig())
    for i in range(3):
        sender = dev.accounts[i][0]
        dev.send_transaction(N.CallRequest(sender=sender, to=dev.accounts[9][0], value=10**18))
    number = store.head_number
    assert number is not None and number >= 1
    bundle, witness = export_bundle(store, number, system=dev.system, chain_id=dev.chain_id)
    root = verify_bundle(bundle, system=dev.system, chain_id=dev.chain_id)
    assert root == store.head().header.state_root
    path = tmp_path / "bundle.bin"
    path.write_bytes(bundle)
    # the command line verifies with the dev node's native system contracts
    assert main(["verify-block", str(path), "--chain-id", str(dev.chain_id)]) == 0
    # drop one node: rejected
    item = rlp.decode(bundle)
    nodes = item[2][0]  # type: ignore[index]
    item[2][0] = nodes[1:]  # type: ignore[index]
    with pytest.raises(WitnessIncomplete):
        verify_bundle(rlp.encode(item), system=dev.system, chain_id=dev.chain_id)
    store.close()
