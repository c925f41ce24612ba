"""State backends: the lazy LMDB-backed state with a bounded cache, snapshots and rewind,
historical reads, read recording."""

from __future__ import annotations

import random

import pytest
from test_overlay import ADDRS, SLOTS, apply, make_base, random_ops, view

from strikevm.chain.block import Header
from strikevm.chain.store import ChainStore
from strikevm.state.account import Account
from strikevm.state.backend import BackendState, MemoryBackend, RecordingBackend, TrieBackend
from strikevm.state.commit import StateCommitter, load
from strikevm.state.overlay import OverlayState
from strikevm.state.root import state_root
from strikevm.state.world import WorldState


def _header(number: int) -> object:
    def make(root: bytes) -> Header:
        return Header(
            parent_hash=b"\x00" * 32,
            coinbase=0,
            state_root=root,
            number=number,
            gas_limit=30_000_000,
            gas_used=0,
            timestamp=number,
            base_fee_per_gas=7,
        )

    return make


def _store(tmp_path, base: WorldState, cache: int | None) -> ChainStore:  # noqa: ANN001
    store = ChainStore.open(str(tmp_path / "db"), sync=False, state_cache=cache)
    store.commit_genesis(base, _header(0))  # type: ignore[arg-type]
    return store


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("through_overlay", [False, True])
def test_lazy_lmdb_state_matches_direct(tmp_path, seed: int, through_overlay: bool) -> None:  # noqa: ANN001
    rng = random.Random(seed)
    base = make_base(rng)
    direct = base.copy()
    store = _store(tmp_path, base, cache=6)
    state = store.load_state()
    assert isinstance(state, BackendState)
    for number in range(1, 6):
        txs = random_ops(rng, 3)
        apply(direct, txs)
        if through_overlay:
            work = OverlayState(state)
            apply(work, txs)
            store.commit_block(work, _header(number), [], [])  # type: ignore[arg-type]
            work.commit_to_base(committed=True)
        else:
            apply(state, txs)
            store.commit_block(state, _header(number), [], [])  # type: ignore[arg-type]
        assert store.state_root == state_root(direct)
        assert view(state) == view(direct)
        state.trim_cache()
        assert state.cached_entries <= 6
    # a fresh lazy state and the full loader agree with the direct state
    assert view(store.load_state()) == view(direct)
    assert view(load(store.db, store.state_root, verify=True)) == view(direct)  # type: ignore[arg-type]
    assert state_root(store.load_state()) == store.state_root
    store.close()


def test_dirty_entries_are_never_evicted(tmp_path) -> None:  # noqa: ANN001
    base = WorldState({a: Account(1, a, b"", {1: a}) for a in range(1, 50)})
    store = _store(tmp_path, base, cache=4)
    state = store.load_state()
    for a in range(1, 50):
        state.sstore(a, 2, a + 1)
    state.finalize_transaction()
    state.trim_cache()
    for a in range(1, 50):  # still in memory: not yet committed
        assert dict.get(state.accounts, a) is not None
    store.commit_block(state, _header(1), [], [])  # type: ignore[arg-type]
    state.trim_cache()
    assert state.cached_entries <= 4
    assert state.sload(7, 2) == 8 and state.sload(7, 1) == 7
    store.close()


@pytest.mark.parametrize("seed", range(6))
def test_snapshot_and_rewind(tmp_path, seed: int) -> None:  # noqa: ANN001
    rng = random.Random(100 + seed)
    base = make_base(rng)
    store = _store(tmp_path, base, cache=None)
    state = store.load_state()
    apply(state, random_ops(rng, 3))
    store.commit_block(state, _header(1), [], [])  # type: ignore[arg-type]
    expected = view(state)
    root = store.state_root
    snap = state.copy()
    for number in range(2, 5):
        apply(state, random_ops(rng, 4))
        store.commit_block(state, _header(number), [], [])  # type: ignore[arg-type]
        assert view(snap) == expected
    store.rewind(1, snap)
    assert store.state_root == root
    assert view(snap) == expected
    assert view(load(store.db, root, verify=True)) == expected  # type: ignore[arg-type]
    # the rewound snapshot is a working live state again
    apply(snap, random_ops(rng, 3))
    store.commit_block(snap, _header(2), [], [])  # type: ignore[arg-type]
    assert store.state_root == state_root(load(store.db, store.state_root))  # type: ignore[arg-type]
    store.close()


def test_restart_reads_lazily(tmp_path) -> None:  # noqa: ANN001
    base = WorldState({a: Account(0, a) for a in range(1, 200)})
    store = _store(tmp_path, base, cache=None)
    store.close()
    again = ChainStore.open(str(tmp_path / "db"), sync=False)
    state = again.load_state()
    assert state.cached_entries == 0
    assert state.balance(42) == 42
    assert state.cached_entries == 1
    again.close()


def test_historical_backend_and_recording() -> None:
    rng = random.Random(7)
    base = make_base(rng)
    committer = StateCommitter()
    root = committer.commit_all(base)
    codes = {acct.code_hash: acct.code for acct in base.accounts.values()}
    trie = TrieBackend(committer.store, root, codes.get)
    recording = RecordingBackend(trie)
    state = BackendState(recording)
    assert view(state) == view(base)
    assert recording.read_set()[0] == ADDRS  # first-read order
    assert set(recording.read_set()[1]) <= {(a, s) for a in ADDRS for s in SLOTS}
    with pytest.raises(TypeError):
        list(state.accounts)
    later = base.copy()
    apply(later, random_ops(rng, 3))
    committer.commit(later)
    # still the old root
    assert view(BackendState(TrieBackend(committer.store, root, codes.get))) == view(base)


def test_memory_backend() -> None:
    base = make_base(random.Random(3))
    state = BackendState(MemoryBackend(base.accounts))
    assert view(state) == view(base)
    assert state_root(state) == state_root(base)
