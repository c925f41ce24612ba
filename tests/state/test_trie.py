"""Merkle-Patricia trie: known roots, proofs for present and absent keys, tampering."""

from __future__ import annotations

import random

import pytest

from strikevm.crypto import keccak256
from strikevm.primitives import rlp
from strikevm.state.trie import (
    EMPTY_TRIE_ROOT,
    ProofError,
    decode_hex_prefix,
    hex_prefix,
    make_proof,
    secure_trie_root,
    trie_root,
    verify_proof,
)

PUPPY = {b"do": b"verb", b"dog": b"puppy", b"doge": b"coin", b"horse": b"stallion"}
PUPPY_ROOT = "5991bb8c6514148a29db676a14ac506cd2cd5775ace63c30a4fe457715e9ac84"


def _random_items(rng: random.Random, count: int, dense: bool) -> dict[bytes, bytes]:
    """Random tries; ``dense`` uses a tiny alphabet so keys share long prefixes."""
    items: dict[bytes, bytes] = {}
    for _ in range(count):
        if dense:
            key = bytes(rng.randrange(3) for _ in range(rng.randint(0, 6)))
        else:
            key = rng.randbytes(rng.randint(1, 40))
        items[key] = rng.randbytes(rng.choice((1, 2, 5, 31, 33, 80)))
    return items


# ------------------------------------------------------------------ roots


def test_empty_root() -> None:
    assert EMPTY_TRIE_ROOT.hex() == (
        "56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421"
    )
    assert EMPTY_TRIE_ROOT == keccak256(rlp.encode(b""))
    assert trie_root({}) == EMPTY_TRIE_ROOT
    assert secure_trie_root({}) == EMPTY_TRIE_ROOT
    assert trie_root({b"a": b"", b"b": b""}) == EMPTY_TRIE_ROOT


@pytest.mark.parametrize(
    ("items", "root"),
    [
        (
            {b"doe": b"reindeer", b"dog": b"puppy", b"dogglesworth": b"cat"},
            "8aad789dff2f538bca5d8ea56e8abe10f4c7ba3a5dea95fea4cd6e7c3a1168d3",
        ),
        (PUPPY, PUPPY_ROOT),
        ({b"A": b"a" * 50}, "d23786fb4a010da3ce639d66d5e904a11dbc02746d1ce25029e53290cabf28ab"),
    ],
)
def test_known_roots(items: dict[bytes, bytes], root: str) -> None:
    assert trie_root(items).hex() == root


def test_empty_values_are_absent() -> None:
    with_deleted = dict(PUPPY)
    with_deleted[b"ether"] = b""
    with_deleted[b"shaman"] = b""
    assert trie_root(with_deleted).hex() == PUPPY_ROOT


def test_single_key_root_is_hash_of_leaf() -> None:
    leaf = rlp.encode([hex_prefix(b"key".hex(), True), b"v" * 40])
    assert trie_root({b"key": b"v" * 40}) == keccak256(leaf)
    # short root node: still hashed, never embedded
    short = rlp.encode([hex_prefix(b"\x01".hex(), True), b"\x02"])
    assert len(short) < 32
    assert trie_root({b"\x01": b"\x02"}) == keccak256(short)


def test_order_of_insertion_does_not_matter() -> None:
    rng = random.Random(7)
    items = _random_items(rng, 300, dense=False)
    shuffled = list(items.items())
    rng.shuffle(shuffled)
    assert trie_root(dict(shuffled)) == trie_root(items)


def test_secure_root_hashes_keys() -> None:
    items = {bytes([i]) * 20: rlp.encode(i + 1) for i in range(50)}
    assert secure_trie_root(items) == trie_root({keccak256(k): v for k, v in items.items()})
    assert secure_trie_root(items) != trie_root(items)


@pytest.mark.parametrize(
    ("path", "leaf", "encoded"),
    [
        ("", False, "00"),
        ("", True, "20"),
        ("1", False, "11"),
        ("1", True, "31"),
        ("12", False, "0012"),
        ("0f1cb8", True, "200f1cb8"),
        ("f1cb8", True, "3f1cb8"),
    ],
)
def test_hex_prefix(path: str, leaf: bool, encoded: str) -> None:
    assert hex_prefix(path, leaf).hex() == encoded
    assert decode_hex_prefix(bytes.fromhex(encoded)) == (path, leaf)


@pytest.mark.parametrize("bad", ["", "40", "0100", "2f"])
def test_decode_hex_prefix_rejects(bad: str) -> None:
    with pytest.raises(ProofError):
        decode_hex_prefix(bytes.fromhex(bad))


def test_cross_check_with_py_trie() -> None:
    hexary = pytest.importorskip("trie").HexaryTrie
    rng = random.Random(2024)
    for trial in range(60):
        items = _random_items(rng, rng.randint(1, 80), dense=trial % 2 == 0)
        reference = hexary({})
        for key, value in items.items():
            reference[key] = value
        assert trie_root(items) == reference.root_hash
        for key in list(items)[:4] + [rng.randbytes(2)]:
            expected = [rlp.encode(_to_rlp_item(node)) for node in reference.get_proof(key)]
            # eth_getProof lists only hashed nodes (and always the root)
            expected = [n for i, n in enumerate(expected) if i == 0 or len(n) >= 32]
            assert make_proof(items, key) == expected


def _to_rlp_item(node: object) -> object:
    if isinstance(node, (list, tuple)):
        return [_to_rlp_item(x) for x in node]
    return bytes(node)  # type: ignore[arg-type]


def test_large_trie_root_is_stable() -> None:
    rng = random.Random(99)
    items = {rng.randbytes(32): rng.randbytes(40) for _ in range(5000)}
    root = trie_root(items)
    assert root == trie_root(dict(sorted(items.items(), reverse=True)))
    key = next(iter(items))
    assert verify_proof(root, key, make_proof(items, key)) == items[key]


# ----------------------------------------------------------------- proofs


@pytest.mark.parametrize("dense", [False, True])
def test_proof_roundtrip_random(dense: bool) -> None:
    rng = random.Random(12345 + dense)
    for _ in range(40):
        items = _random_items(rng, rng.randint(1, 120), dense)
        root = trie_root(items)
        present = rng.sample(sorted(items), min(6, len(items)))
        for key in present:
            proof = make_proof(items, key)
            assert keccak256(proof[0]) == root
            assert verify_proof(root, key, proof) == items[key]
        for _ in range(6):
            key = (
                bytes(rng.randrange(3) for _ in range(rng.randint(0, 7)))
                if dense
                else rng.randbytes(rng.randint(0, 41))
            )
            if key in items:
                continue
            assert verify_proof(root, key, make_proof(items, key)) is None


def test_proof_of_key_that_is_prefix_of_others() -> None:
    root = trie_root(PUPPY)
    assert verify_proof(root, b"do", make_proof(PUPPY, b"do")) == b"verb"
    assert verify_proof(root, b"d", make_proof(PUPPY, b"d")) is None
    assert verify_proof(root, b"dogecoin", make_proof(PUPPY, b"dogecoin")) is None
    assert verify_proof(root, b"horses", make_proof(PUPPY, b"horses")) is None


def test_proof_in_empty_trie() -> None:
    assert make_proof({}, b"x") == []
    assert verify_proof(EMPTY_TRIE_ROOT, b"x", []) is None
    assert verify_proof(EMPTY_TRIE_ROOT, b"x", [rlp.encode(b"")]) is None


def test_proof_in_single_short_node_trie() -> None:
    items = {b"\x01": b"\x02"}
    proof = make_proof(items, b"\x01")
    assert len(proof) == 1 and len(proof[0]) < 32
    assert verify_proof(trie_root(items), b"\x01", proof) == b"\x02"
    assert verify_proof(trie_root(items), b"\x03", make_proof(items, b"\x03")) is None


def test_secure_proof() -> None:
    accounts = {bytes([i]) * 20: rlp.encode([i, i * 10**18, EMPTY_TRIE_ROOT]) for i in range(30)}
    hashed = {keccak256(k): v for k, v in accounts.items()}
    root = secure_trie_root(accounts)
    address = bytes([7]) * 20
    proof = make_proof(hashed, keccak256(address))
    assert verify_proof(root, keccak256(address), proof) == accounts[address]


def _tamper_cases(rng: random.Random) -> tuple[bytes, bytes, list[bytes], bytes]:
    items = _random_items(rng, 200, dense=False)
    key = sorted(items)[17]
    return trie_root(items), key, make_proof(items, key), items[key]


def test_tampered_node_is_rejected() -> None:
    rng = random.Random(5)
    root, key, proof, value = _tamper_cases(rng)
    assert verify_proof(root, key, proof) == value
    for index in range(len(proof)):
        node = bytearray(proof[index])
        node[len(node) // 2] ^= 0x01
        bad = list(proof)
        bad[index] = bytes(node)
        with pytest.raises(ProofError):
            verify_proof(root, key, bad)


def test_missing_node_is_rejected() -> None:
    rng = random.Random(6)
    root, key, proof, _ = _tamper_cases(rng)
    for index in range(len(proof)):
        with pytest.raises(ProofError):
            verify_proof(root, key, proof[:index] + proof[index + 1 :])


def test_wrong_root_is_rejected() -> None:
    rng = random.Random(8)
    root, key, proof, _ = _tamper_cases(rng)
    with pytest.raises(ProofError):
        verify_proof(keccak256(b"other"), key, proof)
    with pytest.raises(ProofError):
        verify_proof(root[:31], key, proof)


def test_changed_value_in_leaf_is_rejected() -> None:
    items = {b"key-%d" % i: b"value-%d" % i * 5 for i in range(40)}
    root = trie_root(items)
    proof = make_proof(items, b"key-3")
    forged = make_proof({**items, b"key-3": b"forged" * 10}, b"key-3")
    assert forged[-1] != proof[-1]
    with pytest.raises(ProofError):
        verify_proof(root, b"key-3", forged)


def test_malformed_nodes_are_rejected() -> None:
    three_items = rlp.encode([b"a", b"b", b"c"])
    with pytest.raises(ProofError):
        verify_proof(keccak256(three_items), b"a", [three_items])
    string_node = rlp.encode(b"x" * 40)
    with pytest.raises(ProofError):
        verify_proof(keccak256(string_node), b"a", [string_node])
    not_rlp = b"\xf8\xff"
    with pytest.raises(ProofError):
        verify_proof(keccak256(not_rlp), b"a", [not_rlp])
    bad_flag = rlp.encode([b"\x41", b"v" * 40])
    with pytest.raises(ProofError):
        verify_proof(keccak256(bad_flag), b"\x01", [bad_flag])
