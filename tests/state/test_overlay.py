"""OverlayState: randomized operations on an overlay, merged or dropped, against a direct copy."""

from __future__ import annotations

import random

import pytest

from strikevm.state.account import Account
from strikevm.state.commit import StateCommitter
from strikevm.state.overlay import LazyAccounts, OverlayState
from strikevm.state.root import state_root
from strikevm.state.world import WorldState

ADDRS = list(range(1, 10))
SLOTS = list(range(6))


def make_base(rng: random.Random) -> WorldState:
    state = WorldState()
    for addr in ADDRS:
        if rng.random() < 0.7:
            storage = {s: rng.randrange(1, 5) for s in SLOTS if rng.random() < 0.5}
            code = bytes([0x60, addr]) if rng.random() < 0.4 else b""
            state.accounts[addr] = Account(rng.randrange(3), rng.randrange(100), code, storage)
    return state


def view(state: WorldState) -> dict[int, tuple[int, int, bytes, tuple[tuple[int, int], ...]]]:
    out = {}
    for addr in ADDRS:
        acct = state.accounts.get(addr)
        if acct is not None:
            slots = tuple((s, acct.storage.get(s, 0)) for s in SLOTS if acct.storage.get(s, 0))
            out[addr] = (acct.nonce, acct.balance, acct.code, slots)
    return out


def random_ops(rng: random.Random, n_tx: int) -> list[list[tuple]]:
    txs = []
    for _ in range(n_tx):
        ops: list[tuple] = []
        for _ in range(rng.randrange(1, 8)):
            kind = rng.randrange(9)
            addr = rng.choice(ADDRS)
            if kind == 0:
                ops.append(("set_balance", addr, rng.randrange(50)))
            elif kind == 1:
                ops.append(("increment_nonce", addr))
            elif kind == 2:
                ops.append(("set_code", addr, bytes([rng.randrange(256)])))
            elif kind in (3, 4):
                ops.append(("sstore", addr, rng.choice(SLOTS), rng.choice([0, 0, 1, 7])))
            elif kind == 5:
                ops.append(("create_account", addr))
            elif kind == 6:
                ops.append(("mark_destruct", addr))
            elif kind == 7:
                ops.append(("touch_empty", addr))
            else:
                ops.append(("revert_some",))
        txs.append(ops)
    return txs


def apply(state: WorldState, txs: list[list[tuple]]) -> None:
    for ops in txs:
        state.begin_transaction()
        marks = [state.checkpoint()]
        for op in ops:
            name = op[0]
            if name == "revert_some":
                state.revert(marks.pop() if len(marks) > 1 else marks[0])
                marks.append(state.checkpoint())
                continue
            if name == "touch_empty":
                state.set_balance(op[1], 0)
                state.touch(op[1])
            else:
                getattr(state, name)(*op[1:])
            if len(marks) < 3:
                marks.append(state.checkpoint())
        state.finalize_transaction()


def as_sets(dirty: tuple) -> tuple:
    written, slots, deleted = dirty
    return (set(written), {a: set(s) for a, s in slots.items() if s}, set(deleted))


@pytest.mark.parametrize("seed", range(60))
def test_overlay_merge_equals_direct(seed: int) -> None:
    rng = random.Random(seed)
    base = make_base(rng)
    direct = base.copy()
    txs = random_ops(rng, rng.randrange(1, 6))
    overlay = OverlayState(base)
    apply(overlay, txs)
    apply(direct, txs)
    assert view(overlay) == view(direct)
    expected_dirty = as_sets(direct.take_dirty())
    before = state_root(base)
    assert as_sets(overlay.written()) == expected_dirty
    assert state_root(base) == before  # nothing reached the base yet
    overlay.commit_to_base()
    assert view(base) == view(direct)
    assert state_root(base) == state_root(direct)
    assert as_sets(base.take_dirty()) == expected_dirty


@pytest.mark.parametrize("seed", range(30))
def test_overlay_discard_leaves_base(seed: int) -> None:
    rng = random.Random(1000 + seed)
    base = make_base(rng)
    snapshot = view(base)
    overlay = OverlayState(base)
    apply(overlay, random_ops(rng, 4))
    del overlay
    assert view(base) == snapshot
    assert base.take_dirty() == ({}, {}, {})


@pytest.mark.parametrize("seed", range(30))
def test_commit_overlay_then_merge(seed: int) -> None:
    rng = random.Random(2000 + seed)
    base = make_base(rng)
    direct = base.copy()
    committer_a = StateCommitter()
    committer_b = StateCommitter()
    committer_a.commit_all(base)
    committer_b.commit_all(direct)
    for _ in range(3):  # several blocks, each an overlay committed then merged
        txs = random_ops(rng, 3)
        overlay = OverlayState(base)
        apply(overlay, txs)
        apply(direct, txs)
        root_a = committer_a.commit(overlay)
        root_b = committer_b.commit(direct)
        assert root_a == root_b == state_root(direct)
        overlay.commit_to_base(committed=True)
        assert base.take_dirty() == ({}, {}, {})
        assert state_root(base) == root_b


@pytest.mark.parametrize("seed", range(20))
def test_overlay_over_overlay_and_copy(seed: int) -> None:
    rng = random.Random(3000 + seed)
    base = make_base(rng)
    direct = base.copy()
    mid = OverlayState(base)
    txs1, txs2 = random_ops(rng, 3), random_ops(rng, 3)
    apply(mid, txs1)
    snap = mid.copy()
    top = OverlayState(mid)
    apply(top, txs2)
    apply(direct, txs1 + txs2)
    top.commit_to_base()
    assert view(mid) == view(direct)
    # the copy kept the state after txs1 only (its base has not changed yet)
    again = make_base(random.Random(3000 + seed))
    apply(again, txs1)
    assert view(snap) == view(again)
    mid.commit_to_base()
    assert view(base) == view(direct)
    assert state_root(base) == state_root(direct)


def test_lazy_maps_iterate_their_source() -> None:
    base = WorldState({1: Account(1, 2, b"", {3: 4, 5: 6}), 7: Account(0, 9)})
    overlay = OverlayState(base)
    assert overlay.accounts[1].storage.get(3, 0) == 4
    overlay.sstore(1, 3, 0)
    overlay.set_balance(8, 1)
    overlay.finalize_transaction()
    assert sorted(overlay.accounts) == [1, 7, 8]
    assert sorted(overlay.accounts[1].storage.items()) == [(3, 0), (5, 6)]
    assert isinstance(overlay.accounts, LazyAccounts)
    assert overlay.accounts[1].has_storage()
    assert 2 not in overlay.accounts
    expected = base.copy()
    expected.sstore(1, 3, 0)
    expected.set_balance(8, 1)
    assert state_root(overlay) == state_root(expected)
