"""Block witnesses and stateless execution.

A witness holds what a node without the state needs to execute a block and
compute its post-state root: every trie node on the paths of the accounts and
storage slots the block reads or writes (with the sibling nodes that deleting
keys needs to collapse branches), and the code of every account it loads.

Witness encoding (deterministic): ``rlp([nodes, codes])`` with ``nodes`` the
RLP trie nodes sorted by their keccak256 hash and ``codes`` the contract
codes sorted by their keccak256 hash. Decoding recomputes every hash, so a
node altered in transit simply becomes an unknown node.

:func:`record_witness` builds the witness from a pre-state root, the reads a
:class:`~strikevm.state.backend.RecordingBackend` recorded while executing
the block, and the block's writes: it replays those reads and the commitment
of the writes against the full node store and keeps every node fetched.
:class:`WitnessState` executes from a witness alone (a missing node raises
:class:`WitnessIncomplete`) and :func:`post_state_root` commits its writes to
a partial trie to get the post-state root.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from strikevm.crypto import EMPTY_KECCAK, keccak256
from strikevm.primitives import rlp
from strikevm.state.backend import BackendState, RecordingBackend, TrieBackend
from strikevm.state.commit import StateCommitter
from strikevm.state.mpt import MPT, MissingNodeError, NodeStore
from strikevm.state.overlay import Dirty
from strikevm.state.world import WorldState

__all__ = [
    "RecordingNodeStore",
    "Witness",
    "WitnessIncomplete",
    "WitnessNodeStore",
    "WitnessState",
    "post_state_root",
    "record_witness",
]


class WitnessIncomplete(MissingNodeError):
    """Execution needed a trie node or a code that the witness does not hold."""


@dataclass
class Witness:
    """Trie nodes and codes by hash."""

    nodes: dict[bytes, bytes] = field(default_factory=dict)
    codes: dict[bytes, bytes] = field(default_factory=dict)

    def encode(self) -> bytes:
        return rlp.encode(
            [
                [self.nodes[h] for h in sorted(self.nodes)],
                [self.codes[h] for h in sorted(self.codes)],
            ]
        )

    @classmethod
    def decode(cls, data: bytes) -> Witness:
        item = rlp.decode(data)
        if (
            not isinstance(item, list)
            or len(item) != 2
            or not all(isinstance(part, list) for part in item)
            or not all(isinstance(x, bytes) for part in item for x in part)  # type: ignore[union-attr]
        ):
            raise ValueError("a witness is rlp([nodes, codes]) of byte strings")
        nodes, codes = item
        return cls(
            {keccak256(n): n for n in nodes},  # type: ignore[misc, union-attr]
            {keccak256(c): c for c in codes},  # type: ignore[misc, union-attr]
        )

    @property
    def size(self) -> int:
        """Encoded size in bytes."""
        return len(self.encode())


class RecordingNodeStore:
    """A node store that keeps every node read from ``inner``; writes go to a scratch dict."""

    def __init__(self, inner: NodeStore) -> None:
        self.inner = inner
        self.read: dict[bytes, bytes] = {}
        self.written: dict[bytes, bytes] = {}

    def get(self, key: bytes) -> bytes | None:
        node = self.written.get(key)
        if node is not None:
            return node
        node = self.inner.get(key)
        if node is not None:
            self.read[key] = bytes(node)
        return node

    def put(self, key: bytes, value: bytes) -> None:
        self.written[key] = value


class WitnessNodeStore:
    """The nodes of a witness; a missing node raises :class:`WitnessIncomplete`.

    New nodes (the post-state's) are written to a separate dict.
    """

    def __init__(self, nodes: dict[bytes, bytes]) -> None:
        self.nodes = nodes
        self.written: dict[bytes, bytes] = {}
        self.missing: list[bytes] = []

    def get(self, key: bytes) -> bytes | None:
        node = self.nodes.get(key)
        if node is None:
            node = self.written.get(key)
            if node is None:
                self.missing.append(key)
                raise WitnessIncomplete(f"trie node 0x{key.hex()} is not in the witness")
        return node

    def put(self, key: bytes, value: bytes) -> None:
        self.written[key] = value


class _Written:
    """What the committer needs from a state: its writes and its accounts."""

    def __init__(self, state: WorldState, written: Dirty) -> None:
        self.accounts = state.accounts
        self._written = written
        self.dirty_accounts: dict[int, None] = {}
        self.dirty_slots: dict[int, dict[int, None]] = {}
        self.deleted_accounts: dict[int, None] = {}

    def take_dirty(self) -> Dirty:
        return self._written


def record_witness(
    store: NodeStore,
    pre_root: bytes,
    reads: RecordingBackend,
    post: WorldState,
    written: Dirty,
    code: Callable[[bytes], bytes],
) -> tuple[Witness, bytes]:
    """The witness of a block and its post-state root.

    ``reads`` recorded the reads of the block's execution from ``pre_root``
    (``post`` is the state it ran on, ``written`` its ``take_dirty()``);
    ``store`` holds the full pre-state tries. Nothing is written to ``store``.
    """
    recording = RecordingNodeStore(store)
    committer = StateCommitter(None, pre_root, store=recording)
    accounts, slots, code_hashes = reads.read_set()
    roots: dict[int, bytes] = {}
    for address in accounts:
        found = committer.account(address)
        if found is not None:
            roots[address] = found[2]
    for address, slot in slots:
        root = roots.get(address)
        if root is None:
            found = committer.account(address)
            if found is None:
                continue
            root = roots[address] = found[2]
        MPT(recording, root, committer.cache).get(keccak256(slot.to_bytes(32, "big")))
    post_root = committer.commit(_Written(post, written))  # type: ignore[arg-type]
    codes = {h: code(h) for h in code_hashes if h != EMPTY_KECCAK}
    return Witness(dict(recording.read), codes), post_root


class WitnessState(BackendState):
    """A world state at ``pre_root`` that reads only from ``witness``."""

    def __init__(self, witness: Witness, pre_root: bytes) -> None:
        self.witness = witness
        self.pre_root = bytes(pre_root)
        self.node_store = WitnessNodeStore(witness.nodes)
        super().__init__(TrieBackend(self.node_store, self.pre_root, self._code))

    def _code(self, code_hash: bytes) -> bytes:
        code = self.witness.codes.get(code_hash)
        if code is None:
            raise WitnessIncomplete(f"code 0x{code_hash.hex()} is not in the witness")
        return code

    def check_complete(self) -> None:
        """Raise :class:`WitnessIncomplete` if any read missed, even if something caught it."""
        if self.node_store.missing:
            raise WitnessIncomplete(
                f"trie node 0x{self.node_store.missing[0].hex()} is not in the witness"
            )


def post_state_root(state: WitnessState) -> bytes:
    """Commit what ``state`` wrote to the partial trie of its witness; the new state root."""
    committer = StateCommitter(None, state.pre_root, store=state.node_store)
    root = committer.commit(state)
    state.check_complete()
    return root
