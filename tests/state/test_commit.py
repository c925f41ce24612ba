"""Incremental state commitment: equal to the from-scratch root after random
transaction-like mutations, proofs that verify independently, restart from the
LMDB store in a new process, and atomicity of a block's commit."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from strikevm.crypto import EMPTY_KECCAK, keccak256
from strikevm.primitives import rlp
from strikevm.state.account import Account
from strikevm.state.commit import StateCommitter, load
from strikevm.state.db import ChainDB, StoreError
from strikevm.state.root import account_rlp, state_root, storage_root
from strikevm.state.trie import EMPTY_TRIE_ROOT, verify_proof
from strikevm.state.world import WorldState

POOL = [1, 2, 3, 0xA0, 0xA1, 0xFFFF, 2**159 + 7, 2**160 - 1] + [0x1000 + i for i in range(16)]
SLOTS = [0, 1, 2, 3, 7, 2**255, 2**256 - 1, 0xDEAD] + [0x100 + i for i in range(8)]


def _random_tx(rng: random.Random, state: WorldState) -> None:
    """One transaction of random journaled writes, some in reverted frames."""
    state.begin_transaction()
    for _ in range(rng.randint(1, 8)):
        checkpoint = state.checkpoint() if rng.random() < 0.2 else None
        addr = rng.choice(POOL)
        op = rng.random()
        if op < 0.2:
            state.add_balance(addr, rng.choice((0, 1, rng.randrange(2**96))))
        elif op < 0.27:
            state.sub_balance(addr, rng.randint(0, state.balance(addr)))
        elif op < 0.37:
            state.increment_nonce(addr)
        elif op < 0.42:
            state.set_code(addr, rng.choice((b"", b"\x00", rng.randbytes(rng.randint(1, 60)))))
        elif op < 0.72:
            value = rng.choice((0, 0, 1, 2**256 - 1, rng.randrange(2**256)))
            state.sstore(addr, rng.choice(SLOTS), value)
        elif op < 0.78:
            if state.exists(addr):
                state.mark_destruct(addr)
        elif op < 0.84:
            state.touch(addr)  # deletes the account at the end if it is empty
        elif op < 0.9:
            if not state.has_code_or_nonce_or_storage(addr):
                state.create_account(addr)
        else:
            state.set_balance(addr, 0)
        if checkpoint is not None and rng.random() < 0.6:
            state.revert(checkpoint)
    state.finalize_transaction()


def _random_block(rng: random.Random, state: WorldState) -> None:
    for _ in range(rng.randint(1, 5)):
        _random_tx(rng, state)


def _genesis(rng: random.Random) -> WorldState:
    accounts: dict[int, Account] = {}
    for addr in POOL[::2]:
        storage = {slot: rng.randrange(2**256) for slot in rng.sample(SLOTS, 3)}
        accounts[addr] = Account(rng.randrange(5), rng.randrange(10**20), b"\x60\x01", storage)
    return WorldState(accounts)


def _dump(state: WorldState) -> list[list[object]]:
    out: list[list[object]] = []
    for addr in sorted(state.accounts):
        acct = state.accounts[addr]
        slots = sorted((slot, value) for slot, value in acct.storage.items() if value)
        out.append([addr, acct.nonce, acct.balance, acct.code.hex(), [list(s) for s in slots]])
    return out


def _hexary_get(root: bytes, key: bytes, proof: list[bytes]) -> bytes:
    hexary = pytest.importorskip("trie").HexaryTrie
    return hexary.get_from_proof(root, key, [rlp.decode(node) for node in proof])


def _check_proofs(committer: StateCommitter, state: WorldState, root: bytes) -> None:
    """Account and storage proofs at ``root`` verify against ``state`` twice over."""
    for addr in POOL + [0xBEEF]:
        key = keccak256(addr.to_bytes(20, "big"))
        acct = state.accounts.get(addr)
        expected = account_rlp(acct) if acct is not None else None
        proof = committer.account_proof(addr, root)
        assert verify_proof(root, key, proof) == expected
        assert _hexary_get(root, key, proof) == (expected or b"")
        answer = committer.get_proof(addr, SLOTS[:5] + [0x5555], root)
        assert answer.account_proof == proof
        sroot = storage_root(acct.storage) if acct is not None else EMPTY_TRIE_ROOT
        assert answer.storage_hash == sroot
        assert answer.nonce == (acct.nonce if acct else 0)
        assert answer.balance == (acct.balance if acct else 0)
        assert answer.code_hash == (acct.code_hash if acct else EMPTY_KECCAK)
        for item in answer.storage_proof:
            value = acct.storage.get(item.slot, 0) if acct is not None else 0
            assert item.value == value
            slot_key = keccak256(item.slot.to_bytes(32, "big"))
            assert item.proof == committer.storage_proof(addr, item.slot, root)
            want = rlp.encode(value) if value else None
            assert verify_proof(sroot, slot_key, item.proof) == want
            assert _hexary_get(sroot, slot_key, item.proof) == (want or b"")


@pytest.mark.parametrize("seed", range(4))
def test_commit_matches_reference_in_memory(seed: int) -> None:
    rng = random.Random(seed)
    state = _genesis(rng)
    committer = StateCommitter()
    assert committer.commit_all(state) == state_root(state)
    for _ in range(40):
        _random_block(rng, state)
        assert committer.commit(state) == state_root(state)
    _check_proofs(committer, state, committer.root)


@pytest.mark.parametrize("seed", range(2))
def test_commit_on_lmdb_matches_reference_and_flat_tables(tmp_path: Path, seed: int) -> None:
    rng = random.Random(100 + seed)
    state = _genesis(rng)
    with ChainDB(tmp_path / "chain") as db:
        committer = StateCommitter(db)
        committer.commit_all(state)
        history: list[tuple[bytes, WorldState]] = []
        for number in range(30):
            _random_block(rng, state)
            with db.write_batch():
                root = committer.commit(state)
                db.put_block(number, keccak256(root), b"block")
                db.set_head(number, keccak256(root))
            assert root == state_root(state)
            assert _dump(load(db, root)) == _dump(state)
            history.append((root, state.copy()))
        for root, snapshot in history[::7]:  # proofs against earlier block roots
            _check_proofs(committer, snapshot, root)
        _check_proofs(committer, state, committer.root)


def test_empty_state_and_no_changes() -> None:
    committer = StateCommitter()
    state = WorldState()
    assert committer.commit(state) == EMPTY_TRIE_ROOT
    state.begin_transaction()
    state.add_balance(5, 1)
    state.finalize_transaction()
    root = committer.commit(state)
    assert root == state_root(state)
    assert committer.commit(state) == root  # nothing new
    assert committer.account_proof(6) == committer.account_proof(6, root)


def test_delete_and_recreate_rebuilds_storage() -> None:
    state = WorldState()
    committer = StateCommitter()
    state.begin_transaction()
    for slot in range(20):
        state.sstore(9, slot, slot + 1)
    state.increment_nonce(9)
    state.finalize_transaction()
    committer.commit(state)
    # one block: destroy the account, then recreate it with a single slot
    state.begin_transaction()
    state.mark_destruct(9)
    state.finalize_transaction()
    state.begin_transaction()
    state.sstore(9, 3, 42)
    state.finalize_transaction()
    assert state.accounts[9].storage == {3: 42}
    assert committer.commit(state) == state_root(state)
    # and destroyed for good
    state.begin_transaction()
    state.mark_destruct(9)
    state.finalize_transaction()
    assert committer.commit(state) == state_root(state) == EMPTY_TRIE_ROOT


def test_commit_all_equals_incremental() -> None:
    rng = random.Random(9)
    state = _genesis(rng)
    incremental = StateCommitter()
    incremental.commit_all(state)
    for _ in range(10):
        _random_block(rng, state)
        incremental.commit(state)
    bulk = StateCommitter()
    assert bulk.commit_all(state) == incremental.root == state_root(state)


def test_interrupted_block_keeps_previous_state(tmp_path: Path) -> None:
    rng = random.Random(5)
    state = _genesis(rng)
    with ChainDB(tmp_path / "chain") as db:
        committer = StateCommitter(db)
        committer.commit_all(state)
        _random_block(rng, state)
        previous = committer.commit(state)
        before = _dump(state)
        _random_block(rng, state)
        target = state_root(state)
        with pytest.raises(RuntimeError), db.write_batch():
            assert committer.commit(state) == target
            db.put_block(1, b"\x01" * 32, b"block")
            raise RuntimeError("crash after the state commit, before the block ends")
        assert db.state_root() == previous
        assert committer.root == previous
        assert _dump(load(db, previous)) == before
        assert db.get_block(1) is None
        with pytest.raises(StoreError):
            load(db, target)
        # the written accounts went back to the state: the same commit succeeds now
        assert committer.commit(state) == target
        assert _dump(load(db, target, verify=True)) == _dump(state)


def test_failure_inside_commit_rolls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(6)
    state = _genesis(rng)
    with ChainDB(tmp_path / "chain") as db:
        committer = StateCommitter(db)
        previous = committer.commit_all(state)
        before = _dump(state)
        _random_block(rng, state)
        _random_block(rng, state)
        target = state_root(state)
        calls = {"n": 0}
        real = db.put_account

        def flaky(address: int, encoded: bytes) -> None:
            calls["n"] += 1
            if calls["n"] == 3:
                raise OSError("disk on fire")
            real(address, encoded)

        monkeypatch.setattr(db, "put_account", flaky)
        with pytest.raises(OSError):
            committer.commit(state)
        monkeypatch.setattr(db, "put_account", real)
        assert committer.root == previous == db.state_root()
        assert _dump(load(db, previous)) == before
        assert committer.commit(state) == target


def test_load_checks_root(tmp_path: Path) -> None:
    with ChainDB(tmp_path / "chain") as db:
        assert load(db, EMPTY_TRIE_ROOT).accounts == {}
        with pytest.raises(StoreError):
            load(db, b"\x01" * 32)


_CHILD = """
import json, sys
sys.path.insert(0, sys.argv[2])
from test_commit import _dump, _random_block
import random
from strikevm.state.commit import StateCommitter, load
from strikevm.state.db import ChainDB
from strikevm.state.root import state_root
with ChainDB(sys.argv[1]) as db:
    number, block_hash = db.head()
    root = db.state_root()
    state = load(db, root)
    committer = StateCommitter(db, root)
    out = {"head": number, "root": root.hex(), "scratch": state_root(state).hex(),
           "accounts": _dump(state)}
    _random_block(random.Random(77), state)
    with db.write_batch():
        out["next"] = committer.commit(state).hex()
        db.set_head(number + 1, b"\\x00" * 32)
    out["next_scratch"] = state_root(state).hex()
print(json.dumps(out))
"""


def test_restart_in_new_process(tmp_path: Path) -> None:
    rng = random.Random(8)
    state = _genesis(rng)
    path = tmp_path / "chain"
    with ChainDB(path) as db:
        committer = StateCommitter(db)
        committer.commit_all(state)
        for number in range(12):
            _random_block(rng, state)
            with db.write_batch():
                root = committer.commit(state)
                db.set_head(number, keccak256(root))
    run = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        check=True,
    )
    out = json.loads(run.stdout)
    assert out["head"] == 11
    assert out["root"] == out["scratch"] == root.hex()
    assert out["accounts"] == json.loads(json.dumps(_dump(state)))
    assert out["next"] == out["next_scratch"]
    # and back in this process: the child's block is there
    with ChainDB(path) as db:
        assert db.head() == (12, b"\x00" * 32)
        assert db.state_root().hex() == out["next"]  # type: ignore[union-attr]
        reloaded = load(db, bytes.fromhex(out["next"]), verify=True)
        _check_proofs(StateCommitter(db, bytes.fromhex(out["next"])), reloaded, db.state_root())  # type: ignore[arg-type]
