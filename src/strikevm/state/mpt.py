"""Persistent Merkle-Patricia trie over a content-addressed node store.

Nodes are stored by the keccak256 of their RLP encoding (only nodes of 32 bytes
or more, plus the root, which is always stored); shorter nodes live embedded
in their parent, as the yellow paper says. :class:`MPT` loads the nodes it
needs from a :class:`NodeStore` on demand, applies updates to an in-memory
copy-on-write tree and hashes only the nodes an update changed, once, when the
root is asked for: a batch of k updates costs O(k * depth) whatever the size
of the trie. New nodes are buffered until :meth:`MPT.commit` writes them.

:func:`build` creates a trie in one pass from sorted items (initial loads);
:func:`prove` lists the nodes that prove a key's value or absence
(``eth_getProof`` order: root first, embedded nodes inside their parents).
Old nodes are never deleted, so every committed root stays readable.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable
from typing import Protocol

from strikevm.crypto import keccak256
from strikevm.primitives import rlp
from strikevm.state.trie import EMPTY_TRIE_ROOT, decode_hex_prefix, hex_prefix

__all__ = [
    "EMPTY_TRIE_ROOT",
    "MPT",
    "MemoryNodeStore",
    "MissingNodeError",
    "NodeCache",
    "NodeStore",
    "build",
    "prove",
]

_HEX = "0123456789abcdef"
_NIB = {c: i for i, c in enumerate(_HEX)}
_EMPTY_REF = b"\x80"  # RLP of the empty string: an empty child slot


class MissingNodeError(KeyError):
    """A node the trie refers to is not in the node store."""


class NodeStore(Protocol):
    """Where trie nodes live: RLP encodings addressed by their keccak256."""

    def get(self, key: bytes) -> bytes | None: ...

    def put(self, key: bytes, value: bytes) -> None: ...


class MemoryNodeStore:
    """A node store in a dict (tests, scratch tries)."""

    def __init__(self, nodes: dict[bytes, bytes] | None = None) -> None:
        self.nodes: dict[bytes, bytes] = nodes if nodes is not None else {}

    def get(self, key: bytes) -> bytes | None:
        return self.nodes.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        self.nodes[key] = value

    def __len__(self) -> int:
        return len(self.nodes)


# ------------------------------------------------------------------- nodes
#
# A child pointer is None (empty), a 32-byte hash (a stored node, loaded on
# demand) or a node object. ``ref`` is how a parent embeds the node: its RLP
# when shorter than 32 bytes, else 0xa0 + hash; None while the node is dirty.
# Clean nodes may be shared (node cache, old roots) and are never mutated:
# updates copy them. Dirty nodes have a single owner and are updated in place.


class _Leaf:
    __slots__ = ("path", "value", "ref")

    def __init__(self, path: str, value: bytes, ref: bytes | None = None) -> None:
        self.path = path
        self.value = value
        self.ref = ref


class _Ext:
    __slots__ = ("path", "child", "ref")

    def __init__(self, path: str, child: _Ptr, ref: bytes | None = None) -> None:
        self.path = path
        self.child = child
        self.ref = ref


class _Branch:
    __slots__ = ("children", "value", "ref")

    def __init__(self, children: list[_Ptr], value: bytes, ref: bytes | None = None) -> None:
        self.children = children
        self.value = value
        self.ref = ref


_Node = _Leaf | _Ext | _Branch
_Ptr = _Node | bytes | None


class NodeCache:
    """Decoded clean nodes by hash, shared by the tries over one store.

    Emptied whole when it reaches ``limit`` entries (simple and bounded).
    """

    __slots__ = ("nodes", "limit")

    def __init__(self, limit: int = 100_000) -> None:
        self.nodes: dict[bytes, _Node] = {}
        self.limit = limit

    def get(self, key: bytes) -> _Node | None:
        return self.nodes.get(key)

    def put(self, key: bytes, node: _Node) -> None:
        nodes = self.nodes
        if len(nodes) >= self.limit:
            nodes.clear()
        nodes[key] = node


# ------------------------------------------------------------- encoding


def _enc_bytes(data: bytes) -> bytes:
    n = len(data)
    if n == 1 and data[0] < 0x80:
        return data
    if n < 56:
        return bytes((0x80 + n,)) + data
    size = rlp.uint_bytes(n)
    return bytes((0xB7 + len(size),)) + size + data


def _enc_list(payload: bytes) -> bytes:
    n = len(payload)
    if n < 56:
        return bytes((0xC0 + n,)) + payload
    size = rlp.uint_bytes(n)
    return bytes((0xF7 + len(size),)) + size + payload


def _decode_item(item: rlp.RLPItem, ref: bytes) -> _Node:
    """Node object for a decoded RLP node whose parent reference is ``ref``."""
    if not isinstance(item, list):
        raise ValueError("trie node is a string, not a list")
    if len(item) == 17:
        children: list[_Ptr] = [
            child if type(child) is bytes and len(child) == 32 else _decode_child(child)
            for child in item[:16]
        ]
        value = item[16]
        if not isinstance(value, bytes):
            raise ValueError("branch value is not a string")
        return _Branch(children, value, ref)
    if len(item) != 2 or not isinstance(item[0], bytes):
        raise ValueError("malformed trie node")
    path, leaf = decode_hex_prefix(item[0])
    if leaf:
        if not isinstance(item[1], bytes):
            raise ValueError("leaf value is not a string")
        return _Leaf(path, item[1], ref)
    return _Ext(path, _decode_child(item[1]), ref)


def _decode_child(child: rlp.RLPItem) -> _Ptr:
    if isinstance(child, list):
        return _decode_item(child, rlp.encode(child))
    if child == b"":
        return None
    if len(child) != 32:
        raise ValueError(f"child reference of {len(child)} bytes")
    return child


def _split_list(encoded: bytes) -> list[rlp.RLPItem]:
    """Items of a stored node: one flat pass, embedded lists decoded generically."""
    first = encoded[0]
    if first < 0xC0:
        raise ValueError("trie node is a string, not a list")
    if first < 0xF8:
        pos = 1
        end = 1 + first - 0xC0
    else:
        pos = 1 + first - 0xF7
        end = pos + int.from_bytes(encoded[1:pos], "big")
    if end != len(encoded):
        raise ValueError("trie node length mismatch")
    items: list[rlp.RLPItem] = []
    append = items.append
    while pos < end:
        prefix = encoded[pos]
        if prefix == 0xA0:
            append(encoded[pos + 1 : pos + 33])
            pos += 33
        elif prefix < 0x80:
            append(encoded[pos : pos + 1])
            pos += 1
        elif prefix < 0xB8:
            start = pos + 1
            pos = start + prefix - 0x80
            append(encoded[start:pos])
        elif prefix < 0xC0:
            start = pos + 1 + prefix - 0xB7
            pos = start + int.from_bytes(encoded[pos + 1 : start], "big")
            append(encoded[start:pos])
        else:
            start = pos
            if prefix < 0xF8:
                pos += 1 + prefix - 0xC0
            else:
                head = pos + 1 + prefix - 0xF7
                pos = head + int.from_bytes(encoded[pos + 1 : head], "big")
            append(rlp.decode(encoded[start:pos]))
    if pos != end:
        raise ValueError("trie node item runs past its list")
    return items


def _decode_node(encoded: bytes, key: bytes) -> _Node:
    ref = encoded if len(encoded) < 32 else b"\xa0" + key
    return _decode_item(_split_list(encoded), ref)


def _prefix_len(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


# ----------------------------------------------------------------- trie


class MPT:
    """A Merkle-Patricia trie rooted at ``root`` in ``store``.

    Keys and values are raw bytes; an empty value means absent. Updates stay
    in memory until :meth:`root_hash` hashes them and :meth:`commit` writes
    the new nodes to the store.
    """

    __slots__ = ("store", "cache", "_root", "_pending", "_dirty")

    def __init__(
        self, store: NodeStore, root: bytes = EMPTY_TRIE_ROOT, cache: NodeCache | None = None
    ) -> None:
        if len(root) != 32:
            raise ValueError("root must be 32 bytes")
        self.store = store
        self.cache = cache if cache is not None else NodeCache()
        self._root: _Ptr = None if root == EMPTY_TRIE_ROOT else bytes(root)
        self._pending: dict[bytes, bytes] = {}  # hashed, not yet written
        self._dirty = False

    # ------------------------------------------------------------- reading
    def _resolve(self, ptr: _Node | bytes) -> _Node:
        if type(ptr) is not bytes:
            return ptr  # type: ignore[return-value]
        node = self.cache.get(ptr)
        if node is None:
            encoded = self._pending.get(ptr)
            if encoded is None:
                encoded = self.store.get(ptr)
                if encoded is None:
                    raise MissingNodeError(f"trie node 0x{ptr.hex()} is not in the store")
            node = _decode_node(encoded, ptr)
            self.cache.put(ptr, node)
        return node

    def get(self, key: bytes) -> bytes | None:
        """Value stored under ``key``, or None."""
        path = bytes(key).hex()
        end = len(path)
        pos = 0
        ptr = self._root
        while ptr is not None:
            node = self._resolve(ptr)
            kind = type(node)
            if kind is _Branch:
                if pos == end:
                    return node.value or None  # type: ignore[union-attr]
                ptr = node.children[_NIB[path[pos]]]  # type: ignore[union-attr]
                pos += 1
            elif kind is _Leaf:
                return node.value if path[pos:] == node.path else None  # type: ignore[union-attr]
            else:
                if not path.startswith(node.path, pos):
                    return None
                pos += len(node.path)
                ptr = node.child  # type: ignore[union-attr]
        return None

    def __contains__(self, key: bytes) -> bool:
        return self.get(key) is not None

    # ------------------------------------------------------------- writing
    def put(self, key: bytes, value: bytes) -> None:
        """Set ``key`` to ``value``; an empty value deletes the key."""
        if not value:
            self.delete(key)
            return
        new = self._put(self._root, bytes(key).hex(), bytes(value))
        if new is not self._root:
            self._root = new
            self._dirty = True

    def delete(self, key: bytes) -> None:
        """Remove ``key`` (nothing happens if it is absent)."""
        new = self._delete(self._root, bytes(key).hex())
        if new is not self._root:
            self._root = new
            self._dirty = True

    def _put(self, ptr: _Ptr, path: str, value: bytes) -> _Ptr:
        if ptr is None:
            return _Leaf(path, value)
        node = self._resolve(ptr)
        kind = type(node)
        if kind is _Branch:
            if not path:
                if node.value == value:  # type: ignore[union-attr]
                    return ptr
                new = node if node.ref is None else _Branch(list(node.children), value)  # type: ignore[union-attr]
                new.value = value  # type: ignore[union-attr]
                return new
            index = _NIB[path[0]]
            child = node.children[index]  # type: ignore[union-attr]
            new_child = self._put(child, path[1:], value)
            if new_child is child:
                return ptr
            new = node if node.ref is None else _Branch(list(node.children), node.value)  # type: ignore[union-attr]
            new.children[index] = new_child  # type: ignore[union-attr]
            return new
        if kind is _Leaf:
            own = node.path
            if own == path:
                if node.value == value:  # type: ignore[union-attr]
                    return ptr
                if node.ref is None:
                    node.value = value  # type: ignore[union-attr]
                    return node
                return _Leaf(path, value)
            n = _prefix_len(own, path)
            branch = _Branch([None] * 16, b"")
            if len(own) == n:
                branch.value = node.value  # type: ignore[union-attr]
            else:
                branch.children[_NIB[own[n]]] = _Leaf(own[n + 1 :], node.value)  # type: ignore[union-attr]
            if len(path) == n:
                branch.value = value
            else:
                branch.children[_NIB[path[n]]] = _Leaf(path[n + 1 :], value)
            return _Ext(path[:n], branch) if n else branch
        own = node.path
        n = _prefix_len(own, path)
        if n == len(own):
            child = node.child  # type: ignore[union-attr]
            new_child = self._put(child, path[n:], value)
            if new_child is child:
                return ptr
            if node.ref is None:
                node.child = new_child  # type: ignore[union-attr]
                return node
            return _Ext(own, new_child)
        branch = _Branch([None] * 16, b"")
        rest = own[n + 1 :]
        branch.children[_NIB[own[n]]] = _Ext(rest, node.child) if rest else node.child  # type: ignore[union-attr]
        if len(path) == n:
            branch.value = value
        else:
            branch.children[_NIB[path[n]]] = _Leaf(path[n + 1 :], value)
        return _Ext(own[:n], branch) if n else branch

    def _delete(self, ptr: _Ptr, path: str) -> _Ptr:
        if ptr is None:
            return None
        node = self._resolve(ptr)
        kind = type(node)
        if kind is _Leaf:
            return None if node.path == path else ptr
        if kind is _Ext:
            own = node.path
            if not path.startswith(own):
                return ptr
            child = node.child  # type: ignore[union-attr]
            new_child = self._delete(child, path[len(own) :])
            if new_child is child:
                return ptr
            if new_child is None:  # only in a malformed trie
                return None
            return self._join(own, new_child)
        branch: _Branch = node  # type: ignore[assignment]
        if not path:
            if not branch.value:
                return ptr
            new = branch if branch.ref is None else _Branch(list(branch.children), b"")
            new.value = b""
        else:
            index = _NIB[path[0]]
            child = branch.children[index]
            if child is None:
                return ptr
            new_child = self._delete(child, path[1:])
            if new_child is child:
                return ptr
            new = branch if branch.ref is None else _Branch(list(branch.children), branch.value)
            new.children[index] = new_child
        return self._normalize(new)

    def _normalize(self, branch: _Branch) -> _Ptr:
        """A branch left with fewer than two entries becomes a leaf or extension."""
        count = 0
        only = -1
        for index, child in enumerate(branch.children):
            if child is not None:
                count += 1
                if count > 1:
                    return branch
                only = index
        if count == 0:
            return _Leaf("", branch.value) if branch.value else None
        if branch.value:
            return branch
        return self._join(_HEX[only], branch.children[only])  # type: ignore[arg-type]

    def _join(self, prefix: str, ptr: _Node | bytes) -> _Node:
        """The node for ``prefix`` followed by the node at ``ptr``."""
        node = self._resolve(ptr)
        if type(node) is _Leaf:
            return _Leaf(prefix + node.path, node.value)
        if type(node) is _Ext:
            return _Ext(prefix + node.path, node.child)
        return _Ext(prefix, ptr)

    # ------------------------------------------------------------- hashing
    @property
    def dirty(self) -> bool:
        """True while there are updates not yet written by :meth:`commit`."""
        return self._dirty or bool(self._pending)

    def _hash(self, node: _Node) -> bytes:
        """Parent reference of ``node``, hashing its dirty descendants first."""
        ref = node.ref
        if ref is not None:
            return ref
        kind = type(node)
        if kind is _Leaf:
            encoded = _enc_list(
                _enc_bytes(hex_prefix(node.path, True)) + _enc_bytes(node.value)  # type: ignore[union-attr]
            )
        elif kind is _Ext:
            child = node.child  # type: ignore[union-attr]
            if type(child) is bytes:
                child_ref = b"\xa0" + child
            else:
                child_ref = self._hash(child)  # type: ignore[arg-type]
                if len(child_ref) == 33:
                    node.child = child_ref[1:]  # type: ignore[union-attr]
            encoded = _enc_list(_enc_bytes(hex_prefix(node.path, False)) + child_ref)
        else:
            children = node.children  # type: ignore[union-attr]
            parts: list[bytes] = []
            for index in range(16):
                child = children[index]
                if child is None:
                    parts.append(_EMPTY_REF)
                elif type(child) is bytes:
                    parts.append(b"\xa0" + child)
                else:
                    child_ref = self._hash(child)  # type: ignore[arg-type]
                    if len(child_ref) == 33:
                        children[index] = child_ref[1:]  # now in the cache
                    parts.append(child_ref)
            parts.append(_enc_bytes(node.value))
            encoded = _enc_list(b"".join(parts))
        if len(encoded) < 32:
            node.ref = encoded
            return encoded
        digest = keccak256(encoded)
        self._pending[digest] = encoded
        self.cache.put(digest, node)
        node.ref = ref = b"\xa0" + digest
        return ref

    def root_hash(self) -> bytes:
        """Root hash including pending updates (hashes them; writes nothing)."""
        root = self._root
        if root is None:
            return EMPTY_TRIE_ROOT
        if type(root) is bytes:
            return root
        ref = self._hash(root)  # type: ignore[arg-type]
        if len(ref) == 33:
            self._root = ref[1:]
            return ref[1:]
        digest = keccak256(ref)  # a short root is stored under its hash anyway
        self._pending[digest] = ref
        return digest

    def commit(self) -> bytes:
        """Hash the updates, write the new nodes to the store, return the root hash."""
        root = self.root_hash()
        pending = self._pending
        if pending:
            put = self.store.put
            for key, encoded in pending.items():
                put(key, encoded)
            self._pending = {}
        self._dirty = False
        return root

    def proof(self, key: bytes) -> list[bytes]:
        """Proof of ``key`` against :meth:`root_hash` (see :func:`prove`)."""
        root = self.root_hash()
        pending = self._pending
        store = self.store

        def lookup(digest: bytes) -> bytes | None:
            encoded = pending.get(digest)
            return encoded if encoded is not None else store.get(digest)

        return prove(lookup, root, key)


# ------------------------------------------------------------ bulk build


def build(store: NodeStore, items: Iterable[tuple[bytes, bytes]]) -> bytes:
    """Write the trie of ``items`` to ``store`` in one pass; return its root hash.

    ``items`` must be sorted by key with no duplicate keys; empty values are
    skipped. Equivalent to putting every item into an empty :class:`MPT` and
    committing, without holding the tree in memory.
    """
    paths: list[str] = []
    values: list[bytes] = []
    for key, value in items:
        if value:
            path = bytes(key).hex()
            if paths and path <= paths[-1]:
                raise ValueError("build() needs items sorted by key, without duplicates")
            paths.append(path)
            values.append(bytes(value))
    if not paths:
        return EMPTY_TRIE_ROOT
    put = store.put

    def ref(encoded: bytes) -> bytes:
        if len(encoded) < 32:
            return encoded
        digest = keccak256(encoded)
        put(digest, encoded)
        return b"\xa0" + digest

    def node(lo: int, hi: int, depth: int) -> bytes:
        first = paths[lo]
        if hi - lo == 1:
            return _enc_list(_enc_bytes(hex_prefix(first[depth:], True)) + _enc_bytes(values[lo]))
        split = _prefix_len(first, paths[hi - 1])  # sorted: shared by all in between
        if split > depth:
            child = branch(lo, hi, split)
            return _enc_list(_enc_bytes(hex_prefix(first[depth:split], False)) + ref(child))
        return branch(lo, hi, depth)

    def branch(lo: int, hi: int, depth: int) -> bytes:
        value = b""
        if len(paths[lo]) == depth:
            value = values[lo]
            lo += 1
        prefix = paths[lo][:depth]
        parts: list[bytes] = []
        for index in range(16):
            if lo < hi and paths[lo][depth] == _HEX[index]:
                end = hi if index == 15 else bisect_left(paths, prefix + _HEX[index + 1], lo, hi)
                parts.append(ref(node(lo, end, depth + 1)))
                lo = end
            else:
                parts.append(_EMPTY_REF)
        parts.append(_enc_bytes(value))
        return _enc_list(b"".join(parts))

    root = node(0, len(paths), 0)
    digest = keccak256(root)
    put(digest, root)
    return digest


# ---------------------------------------------------------------- proofs


def prove(lookup: Callable[[bytes], bytes | None], root: bytes, key: bytes) -> list[bytes]:
    """RLP nodes from ``root`` towards ``key``: proof of its value or absence.

    ``lookup`` maps a node hash to its encoding (``store.get``). The root is
    always the first element; the proof of anything in an empty trie is [].
    """
    if root == EMPTY_TRIE_ROOT:
        return []
    encoded = lookup(root)
    if encoded is None:
        raise MissingNodeError(f"trie node 0x{root.hex()} is not in the store")
    proof = [encoded]
    item = rlp.decode(encoded)
    path = bytes(key).hex()
    pos = 0
    while True:
        if not isinstance(item, list):
            raise ValueError("trie node is a string, not a list")
        if len(item) == 17:
            if pos == len(path):
                return proof
            child = item[_NIB[path[pos]]]
            pos += 1
        else:
            segment, leaf = decode_hex_prefix(item[0])  # type: ignore[arg-type]
            if leaf or not path.startswith(segment, pos):
                return proof
            pos += len(segment)
            child = item[1]
        if isinstance(child, list):
            item = child
            continue
        if child == b"":
            return proof
        encoded = lookup(child)
        if encoded is None:
            raise MissingNodeError(f"trie node 0x{child.hex()} is not in the store")
        proof.append(encoded)
        item = rlp.decode(encoded)
