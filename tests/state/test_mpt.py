"""Persistent Merkle-Patricia trie: roots against the from-scratch trie and py-trie,
reopening from stored roots, bulk build, proofs, buffering and the node cache."""

from __future__ import annotations

import random

import pytest

from strikevm.crypto import keccak256
from strikevm.primitives import rlp
from strikevm.state.mpt import (
    MPT,
    MemoryNodeStore,
    MissingNodeError,
    NodeCache,
    build,
    prove,
)
from strikevm.state.trie import (
    EMPTY_TRIE_ROOT,
    make_proof,
    secure_trie_root,
    trie_root,
    verify_proof,
)

PUPPY = {b"do": b"verb", b"dog": b"puppy", b"doge": b"coin", b"horse": b"stallion"}
PUPPY_ROOT = "5991bb8c6514148a29db676a14ac506cd2cd5775ace63c30a4fe457715e9ac84"


def _key(rng: random.Random, dense: bool) -> bytes:
    if dense:  # tiny alphabet: long shared prefixes, keys that prefix others
        return bytes(rng.randrange(3) for _ in range(rng.randint(0, 5)))
    return rng.randbytes(rng.randint(1, 33))


def _value(rng: random.Random) -> bytes:
    return rng.randbytes(rng.choice((1, 2, 5, 31, 33, 80)))


def _hexary_get(root: bytes, key: bytes, proof: list[bytes]) -> bytes:
    hexary = pytest.importorskip("trie").HexaryTrie
    return hexary.get_from_proof(root, key, [rlp.decode(node) for node in proof])


def test_empty_trie() -> None:
    store = MemoryNodeStore()
    trie = MPT(store)
    assert trie.root_hash() == EMPTY_TRIE_ROOT
    assert trie.commit() == EMPTY_TRIE_ROOT
    assert trie.get(b"x") is None
    assert trie.proof(b"x") == []
    assert verify_proof(EMPTY_TRIE_ROOT, b"x", []) is None
    assert _hexary_get(EMPTY_TRIE_ROOT, b"x", []) == b""
    assert len(store) == 0
    trie.delete(b"x")
    assert not trie.dirty
    assert build(store, []) == EMPTY_TRIE_ROOT


def test_known_root_and_empty_value_deletes() -> None:
    trie = MPT(MemoryNodeStore())
    for key, value in PUPPY.items():
        trie.put(key, value)
    assert trie.root_hash().hex() == PUPPY_ROOT
    trie.put(b"cat", b"meow")
    trie.put(b"cat", b"")
    assert trie.commit().hex() == PUPPY_ROOT
    for key in list(PUPPY):
        trie.delete(key)
    assert trie.commit() == EMPTY_TRIE_ROOT


@pytest.mark.parametrize("dense", [True, False])
@pytest.mark.parametrize("cache_limit", [1, 100_000])
def test_random_updates_match_reference(dense: bool, cache_limit: int) -> None:
    hexary = pytest.importorskip("trie").HexaryTrie
    rng = random.Random(7 + dense + cache_limit)
    for _ in range(40):
        store = MemoryNodeStore()
        cache = NodeCache(cache_limit)
        trie = MPT(store, cache=cache)
        reference: dict[bytes, bytes] = {}
        other = hexary({})
        for _ in range(rng.randint(1, 120)):
            if reference and rng.random() < 0.35:
                key = rng.choice(sorted(reference))
                trie.delete(key)
                del reference[key]
                del other[key]
            else:
                key, value = _key(rng, dense), _value(rng)
                trie.put(key, value)
                reference[key] = value
                other[key] = value
            if rng.random() < 0.25:
                root = trie.commit()
                assert root == trie_root(reference) == other.root_hash
                if rng.random() < 0.5:  # reopen from the store alone
                    trie = MPT(store, root, NodeCache(cache_limit))
        root = trie.commit()
        assert root == trie_root(reference) == other.root_hash
        fresh = MPT(store, root, NodeCache())
        for key, value in reference.items():
            assert fresh.get(key) == value
        assert fresh.get(b"\xff" * 40) is None


def test_secure_keys_insert_and_delete() -> None:
    rng = random.Random(3)
    items = {rng.randbytes(20): rlp.encode(rng.randrange(1, 2**256)) for _ in range(600)}
    store = MemoryNodeStore()
    trie = MPT(store)
    for key, value in items.items():
        trie.put(keccak256(key), value)
    assert trie.commit() == secure_trie_root(items)
    for key in list(items)[::2]:
        trie.delete(keccak256(key))
        del items[key]
    assert trie.commit() == secure_trie_root(items)


def test_insertion_order_does_not_matter() -> None:
    rng = random.Random(11)
    items = [(_key(rng, True), _value(rng)) for _ in range(40)]
    final = dict(items)
    roots = set()
    for _ in range(5):
        trie = MPT(MemoryNodeStore())
        order = list(final.items())
        rng.shuffle(order)
        for key, value in order:
            trie.put(key, value)
        roots.add(trie.commit())
    assert roots == {trie_root(final)}


def test_old_roots_stay_readable() -> None:
    store = MemoryNodeStore()
    trie = MPT(store)
    history: list[tuple[bytes, dict[bytes, bytes]]] = []
    state: dict[bytes, bytes] = {}
    rng = random.Random(5)
    for _ in range(10):
        for _ in range(20):
            key = rng.randbytes(3)
            state[key] = _value(rng)
            trie.put(key, state[key])
        history.append((trie.commit(), dict(state)))
    for root, snapshot in history:
        old = MPT(store, root, NodeCache())
        for key, value in snapshot.items():
            assert old.get(key) == value


def test_updates_are_buffered_until_commit() -> None:
    store = MemoryNodeStore()
    trie = MPT(store)
    for key, value in PUPPY.items():
        trie.put(key, value)
    assert trie.dirty
    root = trie.root_hash()
    assert len(store) == 0  # hashing writes nothing
    assert trie.proof(b"dog")[0] == trie.proof(b"doge")[0]  # proofs see pending nodes
    assert trie.commit() == root
    assert not trie.dirty
    assert len(store) > 0
    assert MPT(store, root, NodeCache()).get(b"doge") == b"coin"


def test_unchanged_put_is_not_dirty() -> None:
    store = MemoryNodeStore()
    trie = MPT(store)
    for key, value in PUPPY.items():
        trie.put(key, value)
    root = trie.commit()
    trie = MPT(store, root)
    trie.put(b"dog", b"puppy")
    trie.delete(b"cat")
    assert not trie.dirty
    assert trie.commit() == root


def test_short_root_is_stored() -> None:
    store = MemoryNodeStore()
    trie = MPT(store)
    trie.put(b"a", b"b")  # the root node is shorter than 32 bytes
    root = trie.commit()
    assert root == trie_root({b"a": b"b"})
    assert MPT(store, root, NodeCache()).get(b"a") == b"b"
    assert verify_proof(root, b"a", trie.proof(b"a")) == b"b"


def test_missing_node() -> None:
    trie = MPT(MemoryNodeStore(), keccak256(b"nothing"))
    with pytest.raises(MissingNodeError):
        trie.get(b"a")
    with pytest.raises(MissingNodeError):
        prove(MemoryNodeStore().get, keccak256(b"nothing"), b"a")
    with pytest.raises(ValueError):
        MPT(MemoryNodeStore(), b"short")


@pytest.mark.parametrize("dense", [True, False])
def test_build_matches_incremental(dense: bool) -> None:
    rng = random.Random(17 + dense)
    for _ in range(40):
        items = {_key(rng, dense): _value(rng) for _ in range(rng.randint(1, 150))}
        store = MemoryNodeStore()
        root = build(store, sorted(items.items()))
        assert root == trie_root(items)
        trie = MPT(MemoryNodeStore())
        for key, value in items.items():
            trie.put(key, value)
        assert trie.commit() == root
        assert trie.store.nodes == store.nodes  # type: ignore[attr-defined]
        loaded = MPT(store, root, NodeCache())
        for key, value in items.items():
            assert loaded.get(key) == value


def test_build_rejects_unsorted() -> None:
    with pytest.raises(ValueError):
        build(MemoryNodeStore(), [(b"b", b"1"), (b"a", b"2")])
    with pytest.raises(ValueError):
        build(MemoryNodeStore(), [(b"a", b"1"), (b"a", b"2")])


@pytest.mark.parametrize("dense", [True, False])
def test_proofs_verify_independently(dense: bool) -> None:
    rng = random.Random(23 + dense)
    for _ in range(30):
        store = MemoryNodeStore()
        trie = MPT(store)
        items: dict[bytes, bytes] = {}
        for _ in range(rng.randint(1, 80)):
            key, value = _key(rng, dense), _value(rng)
            items[key] = value
            trie.put(key, value)
        for key in list(items)[:10]:
            trie.delete(key) if rng.random() < 0.3 else None
            if trie.get(key) is None:
                del items[key]
        root = trie.commit()
        keys = list(items)[:8] + [_key(rng, dense) for _ in range(4)] + [b""]
        for key in keys:
            proof = trie.proof(key)
            assert proof == make_proof(items, key)
            assert proof == prove(store.get, root, key)
            assert verify_proof(root, key, proof) == items.get(key)
            assert _hexary_get(root, key, proof) == items.get(key, b"")
