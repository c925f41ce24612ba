"""Merkle-Patricia trie (Ethereum yellow paper, appendix D): roots and Merkle proofs.

The trie is built bottom-up from the sorted keys in one pass, working on the
hex string of each key as its nibble path; nodes exist only as their RLP
encodings. A node whose encoding is shorter than 32 bytes is embedded in its
parent, any other is referenced by its keccak256 hash, and the root is always
hashed.

Proofs follow ``eth_getProof``: the RLP encodings of the hashed nodes met on
the way from the root towards the key (the root first, embedded nodes inside
their parents), ending at the value or at the node that proves its absence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from strikevm.crypto import keccak256
from strikevm.primitives import rlp

EMPTY_TRIE_ROOT = keccak256(rlp.encode(b""))

_EMPTY_REF = b"\x80"  # RLP of the empty string: an empty child slot
_HEX_DIGITS = "0123456789abcdef"


class ProofError(ValueError):
    """A Merkle proof is malformed or does not match the root it is checked against."""


def hex_prefix(path: str, leaf: bool) -> bytes:
    """Hex-prefix encode a nibble path given as a lowercase hex string."""
    flag = 2 if leaf else 0
    if len(path) % 2:
        return bytes.fromhex(_HEX_DIGITS[flag + 1] + path)
    return bytes.fromhex(_HEX_DIGITS[flag] + "0" + path)


def decode_hex_prefix(encoded: bytes) -> tuple[str, bool]:
    """Inverse of :func:`hex_prefix`: return (nibble path as hex, is_leaf)."""
    if not encoded:
        raise ProofError("empty hex-prefix path")
    flag = encoded[0] >> 4
    if flag > 3:
        raise ProofError(f"invalid hex-prefix flag {flag}")
    text = encoded.hex()
    if flag & 1:
        return text[1:], flag >= 2
    if text[1] != "0":
        raise ProofError("hex-prefix padding nibble is not zero")
    return text[2:], flag >= 2


def _list(payload: bytes) -> bytes:
    """Wrap already-encoded items in an RLP list header."""
    n = len(payload)
    if n < 56:
        return bytes((0xC0 + n,)) + payload
    size = rlp.uint_bytes(n)
    return bytes((0xF7 + len(size),)) + size + payload


def _ref(node: bytes) -> bytes:
    """How a parent refers to a child node: embedded if short, else its hash."""
    if len(node) < 32:
        return node
    return b"\xa0" + keccak256(node)


def _common_prefix(a: str, b: str, start: int) -> int:
    """Index where ``a`` and ``b`` first differ, searching from ``start``."""
    end = min(len(a), len(b))
    i = start
    while i < end and a[i] == b[i]:
        i += 1
    return i


class _Builder:
    """One bottom-up construction over sorted (path, value) pairs.

    With a ``target`` path it also records the nodes on the way to it.
    """

    __slots__ = ("paths", "values", "target", "proof")

    def __init__(self, paths: list[str], values: list[bytes], target: str | None) -> None:
        self.paths = paths
        self.values = values
        self.target = target
        self.proof: list[bytes] = []

    def node(self, lo: int, hi: int, depth: int, on_path: bool) -> bytes:
        """Encoded node for ``paths[lo:hi]`` (all sharing ``depth`` nibbles)."""
        paths = self.paths
        first = paths[lo]
        if hi - lo == 1:
            enc = _list(rlp.encode(hex_prefix(first[depth:], True)) + rlp.encode(self.values[lo]))
        else:
            split = _common_prefix(first, paths[hi - 1], depth)
            if split > depth:
                child_on_path = on_path and self._follows(depth, split, first)
                child = self.branch(lo, hi, split, child_on_path)
                enc = _list(rlp.encode(hex_prefix(first[depth:split], False)) + _ref(child))
            else:
                enc = self.branch(lo, hi, depth, on_path)
                # a branch records itself; an extension records itself below
                return enc
        if on_path and len(enc) >= 32:
            self.proof.append(enc)
        return enc

    def branch(self, lo: int, hi: int, depth: int, on_path: bool) -> bytes:
        paths = self.paths
        value = b""
        if len(paths[lo]) == depth:
            value = self.values[lo]
            lo += 1
        target = self.target
        next_nibble = (
            target[depth] if on_path and target is not None and len(target) > depth else ""
        )
        refs = [_EMPTY_REF] * 16
        i = lo
        while i < hi:
            nibble = paths[i][depth]
            j = i + 1
            while j < hi and paths[j][depth] == nibble:
                j += 1
            child = self.node(i, j, depth + 1, nibble == next_nibble)
            refs[int(nibble, 16)] = _ref(child)
            i = j
        enc = _list(b"".join(refs) + rlp.encode(value))
        if on_path and len(enc) >= 32:
            self.proof.append(enc)
        return enc

    def _follows(self, start: int, end: int, path: str) -> bool:
        target = self.target
        return target is not None and target[start:end] == path[start:end]


def _sorted_items(items: Mapping[bytes, bytes]) -> tuple[list[str], list[bytes]]:
    pairs = sorted((bytes(k).hex(), bytes(v)) for k, v in items.items() if v)
    return [p for p, _ in pairs], [v for _, v in pairs]


def _root_node(items: Mapping[bytes, bytes], target: str | None) -> tuple[bytes, list[bytes]]:
    paths, values = _sorted_items(items)
    if not paths:
        return rlp.encode(b""), []
    builder = _Builder(paths, values, target)
    root = builder.node(0, len(paths), 0, target is not None)
    return root, builder.proof


def trie_root(items: Mapping[bytes, bytes]) -> bytes:
    """Root hash of the trie mapping raw keys to raw values (empty values are absent)."""
    root, _ = _root_node(items, None)
    return keccak256(root)


def secure_trie_root(items: Mapping[bytes, bytes]) -> bytes:
    """Root hash of the trie keyed by ``keccak256(key)`` (state and storage tries)."""
    return trie_root({keccak256(k): v for k, v in items.items()})


def make_proof(items: Mapping[bytes, bytes], key: bytes) -> list[bytes]:
    """Proof of ``key``'s value, or of its absence, in the trie of ``items``.

    Keys are used as given: for a secure trie pass hashed keys in both
    ``items`` and ``key``. The proof for an empty trie is the empty list.
    """
    root, proof = _root_node(items, bytes(key).hex())
    if root == _EMPTY_REF:
        return []  # an empty trie has no nodes; its root alone proves absence
    proof.reverse()  # collected bottom-up
    if not proof or proof[0] != root:
        proof.insert(0, root)  # the root is always an element, however short
    return proof


def _as_node(ref: object, db: Mapping[bytes, bytes]) -> object:
    """Resolve a child reference (hash, embedded node or empty) to a decoded node."""
    if isinstance(ref, list):
        if len(rlp.encode(ref)) >= 32:
            raise ProofError("embedded node of 32 bytes or more")
        return ref
    if not isinstance(ref, bytes):  # pragma: no cover - decode yields bytes or lists
        raise ProofError("malformed node reference")
    if ref == b"":
        return b""
    if len(ref) != 32:
        raise ProofError(f"node reference of {len(ref)} bytes")
    encoded = db.get(ref)
    if encoded is None:
        raise ProofError(f"proof lacks the node with hash 0x{ref.hex()}")
    try:
        return rlp.decode(encoded)
    except rlp.RLPError as exc:
        raise ProofError(f"proof node is not valid RLP: {exc}") from exc


def verify_proof(root: bytes, key: bytes, proof: Sequence[bytes]) -> bytes | None:
    """Check ``proof`` against ``root``; return the value of ``key`` or None if absent.

    Raises :class:`ProofError` when the proof is malformed, lacks a node the
    walk needs, or contradicts the root.
    """
    if len(root) != 32:
        raise ProofError("root must be 32 bytes")
    db = {keccak256(bytes(node)): bytes(node) for node in proof}
    if root == EMPTY_TRIE_ROOT and root not in db:
        return None
    path = bytes(key).hex()
    pos = 0
    node = _as_node(bytes(root), db)
    while True:
        if node == b"":
            return None
        if not isinstance(node, list):
            raise ProofError("trie node is a string, not a list")
        if len(node) == 17:
            if pos == len(path):
                value = node[16]
                if not isinstance(value, bytes):
                    raise ProofError("branch value is not a string")
                return value or None
            node = _as_node(node[int(path[pos], 16)], db)
            pos += 1
            continue
        if len(node) != 2:
            raise ProofError(f"trie node with {len(node)} items")
        encoded_path, payload = node
        if not isinstance(encoded_path, bytes):
            raise ProofError("node path is not a string")
        segment, leaf = decode_hex_prefix(encoded_path)
        if leaf:
            if not isinstance(payload, bytes) or not payload:
                raise ProofError("leaf value must be a non-empty string")
            return payload if path[pos:] == segment else None
        if not segment:
            raise ProofError("extension node with an empty path")
        if path[pos : pos + len(segment)] != segment:
            return None
        pos += len(segment)
        node = _as_node(payload, db)
        if node == b"":
            raise ProofError("extension node points at nothing")
