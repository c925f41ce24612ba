"""Chain storage for the dev node: blocks, receipts, the transaction index and state.

:class:`ChainStore` keeps one chain either in memory or in an LMDB data
directory (:class:`~strikevm.state.db.ChainDB`). State is committed through a
:class:`~strikevm.state.commit.StateCommitter`, so every block's state root
stays readable for historical queries and proofs. :meth:`ChainStore.commit_block`
writes the state, the block, its receipts, the transaction index and the new
head in one write batch: a block is stored entirely or not at all.

Entries above the head (left behind by a rewind) are never returned: every
read checks the block number against the head and the hash against the block.

Threads: one thread writes (commits, rewinds); other threads may read blocks,
receipts and historical state (:meth:`ChainStore.state_at`) at the same time.
The LMDB tables give each thread its own read transaction and trie nodes are
content-addressed and never removed, so a committed root reads the same from
any thread; the block cache is guarded by a lock.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

from strikevm.chain.block import Block, Header, decode_block
from strikevm.chain.receipt import Receipt, decode_receipt, encode_receipt
from strikevm.crypto import EMPTY_KECCAK, keccak256
from strikevm.primitives import rlp
from strikevm.state.account import Account
from strikevm.state.backend import BackendState, LMDBBackend, TrieBackend, check_flat_root
from strikevm.state.commit import AccountProof, StateCommitter
from strikevm.state.db import ChainDB
from strikevm.state.mpt import MPT
from strikevm.state.overlay import OverlayState
from strikevm.state.trie import EMPTY_TRIE_ROOT
from strikevm.state.world import Log, WorldState

__all__ = ["ChainStore", "HistoricalState", "StoreMismatch", "StoredBlock"]

_CHAIN_ID = b"strikevm.chain_id"
_GENESIS = b"strikevm.genesis"
_BLOCK_CACHE = 256
DEFAULT_STATE_CACHE = 250_000  # accounts plus storage slots kept in memory
# meta key prefix of a block's system receipt (keyed by block hash, so a rewound and
# re-mined height never reads a stale one)
_SYSTEM_RECEIPT = b"strikevm.system_receipt:"


class StoreMismatch(RuntimeError):
    """The data directory holds another chain (different chain id or genesis)."""


@dataclass(frozen=True, slots=True)
class StoredBlock:
    """A block with its receipts, as read back from the store."""

    block: Block
    receipts: tuple[Receipt, ...]
    # Logs of the block's native begin/end-block steps (its "system receipt"); they are
    # in the header's logs bloom and the state root, not in the receipts root.
    system_logs: tuple[Log, ...] = ()

    @property
    def header(self) -> Header:
        return self.block.header

    @property
    def number(self) -> int:
        return self.block.header.number

    @property
    def hash(self) -> bytes:
        return self.block.header.hash


class _MemoryTables:
    """The subset of ChainDB's block tables the store uses, in dicts."""

    def __init__(self) -> None:
        self.blocks: dict[int, tuple[bytes, bytes]] = {}
        self.index: dict[bytes, int] = {}
        self.receipts: dict[int, list[bytes]] = {}
        self.txs: dict[bytes, tuple[int, int]] = {}
        self.meta: dict[bytes, bytes] = {}
        self.code: dict[bytes, bytes] = {EMPTY_KECCAK: b""}
        self._head: tuple[int, bytes] | None = None

    def put_block(self, number: int, block_hash: bytes, encoded: bytes) -> None:
        self.blocks[number] = (block_hash, encoded)
        self.index[block_hash] = number

    def get_block(self, number: int) -> bytes | None:
        entry = self.blocks.get(number)
        return entry[1] if entry is not None else None

    def block_hash(self, number: int) -> bytes | None:
        entry = self.blocks.get(number)
        return entry[0] if entry is not None else None

    def block_number(self, block_hash: bytes) -> int | None:
        return self.index.get(block_hash)

    def put_receipts(self, number: int, receipts: Sequence[bytes]) -> None:
        self.receipts[number] = list(receipts)

    def get_receipts(self, number: int) -> list[bytes] | None:
        return self.receipts.get(number)

    def put_tx_index(self, tx_hash: bytes, number: int, index: int) -> None:
        self.txs[tx_hash] = (number, index)

    def get_tx_location(self, tx_hash: bytes) -> tuple[int, int] | None:
        return self.txs.get(tx_hash)

    def set_head(self, number: int, block_hash: bytes) -> None:
        self._head = (number, block_hash)

    def head(self) -> tuple[int, bytes] | None:
        return self._head

    def get_meta(self, name: bytes) -> bytes | None:
        return self.meta.get(name)

    def put_meta(self, name: bytes, value: bytes) -> None:
        self.meta[name] = value

    def get_code(self, code_hash: bytes) -> bytes | None:
        return self.code.get(code_hash)


class HistoricalState(BackendState):
    """A scratch world state at one state root, read lazily through the tries.

    Writes stay in this object; the stored state is never changed.
    """

    def __init__(self, backend: TrieBackend) -> None:
        super().__init__(backend)


def overlay(base: WorldState) -> OverlayState:
    """A scratch state over ``base``: accounts are copied on first access, slots on first read."""
    return OverlayState(base)


_STORES: weakref.WeakSet[ChainStore] = weakref.WeakSet()


def _reinit_locks() -> None:  # pragma: no cover - runs in a forked child
    # a lock held by another thread of the parent at fork() would stay held in the child
    for store in list(_STORES):
        store._cache_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_locks)


class ChainStore:
    """Blocks, receipts, the transaction index and the state of one chain.

    ``db`` None keeps everything in memory. The live :class:`WorldState` is
    owned by the caller; the store commits it and reads history.
    ``state_cache`` bounds the entries (accounts plus storage slots) that the
    state from :meth:`load_state` keeps in memory (None: unbounded).
    """

    def __init__(
        self, db: ChainDB | None = None, *, state_cache: int | None = DEFAULT_STATE_CACHE
    ) -> None:
        self.db = db
        self.state_cache = state_cache
        self.tables: Any = db if db is not None else _MemoryTables()
        head = self.tables.head()
        root = EMPTY_TRIE_ROOT
        if head is not None:
            root = self._read_block(head[0]).header.state_root  # type: ignore[union-attr]
        self.committer = StateCommitter(db, root)
        self._cache: OrderedDict[int, StoredBlock] = OrderedDict()
        self._cache_lock = threading.Lock()  # readers on other threads share the cache
        _STORES.add(self)
        self._head: tuple[int, bytes] | None = head

    # ------------------------------------------------------------- lifecycle
    @classmethod
    def open(
        cls,
        path: str | None,
        *,
        sync: bool = True,
        state_cache: int | None = DEFAULT_STATE_CACHE,
    ) -> ChainStore:
        """A store in the LMDB data directory ``path``, or in memory for None."""
        return cls(ChainDB(path, sync=sync) if path is not None else None, state_cache=state_cache)

    def close(self) -> None:
        if self.db is not None:
            self.db.close()

    @property
    def persistent(self) -> bool:
        return self.db is not None

    def _batch(self) -> Any:
        return self.db.write_batch() if self.db is not None else nullcontext()

    # ------------------------------------------------------------- metadata
    def check_chain(self, chain_id: int) -> None:
        """Record ``chain_id`` in a new store, or check it against the stored one."""
        stored = self.tables.get_meta(_CHAIN_ID)
        if stored is None:
            with self._batch():
                self.tables.put_meta(_CHAIN_ID, rlp.encode(chain_id))
            return
        if rlp.decode_uint(rlp.decode(stored)) != chain_id:
            raise StoreMismatch(
                f"the data directory holds chain {rlp.decode_uint(rlp.decode(stored))}, "
                f"not {chain_id}"
            )

    def get_meta(self, name: bytes) -> bytes | None:
        return self.tables.get_meta(name)  # type: ignore[no-any-return]

    # ----------------------------------------------------------------- head
    @property
    def head_number(self) -> int | None:
        return self._head[0] if self._head is not None else None

    def head(self) -> StoredBlock:
        if self._head is None:
            raise LookupError("the store has no blocks")
        found = self.block(self._head[0])
        assert found is not None
        return found

    @property
    def state_root(self) -> bytes:
        return self.committer.root

    def load_state(self) -> BackendState:
        """The state at the head block, read on demand from the flat tables.

        Constant cost: nothing is read until accessed, and at most
        :attr:`state_cache` entries stay in memory after each commit.
        (``strikevm.state.commit.load`` still loads everything, for checks.)
        """
        if self.db is None:
            raise LookupError("an in-memory store keeps no state apart from the live one")
        check_flat_root(self.db, self.committer.root)
        return BackendState(LMDBBackend(self.db, self.committer), cache_size=self.state_cache)

    # --------------------------------------------------------------- writes
    def commit_genesis(self, state: WorldState, make_header: Callable[[bytes], Header]) -> Block:
        """Commit the whole genesis state and block 0 atomically."""
        if self._head is not None:
            raise RuntimeError("the store already has a genesis block")
        with self._batch():
            if self.db is None:
                self._remember_code(state.accounts)
            root = self.committer.commit_all(state)
            block = Block(make_header(root))
            self._put(block, [])
            if self.tables.get_meta(_GENESIS) is None:
                self.tables.put_meta(_GENESIS, block.hash)
        self._head = (0, block.hash)
        return block

    def commit_block(
        self,
        state: WorldState,
        make_header: Callable[[bytes], Header],
        transactions: Sequence[Any],
        receipts: Sequence[Receipt],
        *,
        system_logs: Sequence[Log] = (),
    ) -> StoredBlock:
        """Commit what ``state`` wrote, then the block built on its root, in one batch."""
        if self.db is None:
            self._remember_dirty_code(state)
        with self._batch():
            root = self.committer.commit(state)
            block = Block(make_header(root), tuple(transactions))
            self._put(block, receipts)
            if system_logs:
                self.tables.put_meta(
                    _SYSTEM_RECEIPT + block.hash,
                    encode_receipt(Receipt.of(0, True, 0, system_logs)),
                )
        self._head = (block.header.number, block.hash)
        stored = StoredBlock(block, tuple(receipts), tuple(system_logs))
        self._remember(stored)
        return stored

    def rewind(self, number: int, state: WorldState) -> None:
        """Make block ``number`` the head again, with ``state`` its full post-state."""
        stored = self.block(number)
        if stored is None:
            raise LookupError(f"block {number} is not stored")
        backend = getattr(state, "backend", None)
        if (
            self.db is not None
            and isinstance(state, BackendState)
            and isinstance(backend, TrieBackend)
            and backend.undo_mark is not None
            and backend.root == stored.header.state_root
            and not (state.dirty_accounts or state.dirty_slots or state.deleted_accounts)
        ):
            # a snapshot from BackendState.copy(): undo the flat tables, keep the tries
            with self._batch():
                self.committer.rewind_flat(backend.undo_mark, backend.root)
                self.tables.set_head(number, stored.hash)
            state.rebind(LMDBBackend(self.db, self.committer))
            self._head = (number, stored.hash)
            self._forget_above(number)
            return
        with self._batch():
            root = self.committer.commit_all(state)
            if root != stored.header.state_root:
                raise RuntimeError("rewind state does not match the block's state root")
            self.tables.set_head(number, stored.hash)
        self._head = (number, stored.hash)
        self._forget_above(number)

    def _forget_above(self, number: int) -> None:
        with self._cache_lock:
            for n in [n for n in self._cache if n > number]:
                del self._cache[n]

    def _put(self, block: Block, receipts: Sequence[Receipt]) -> None:
        tables = self.tables
        number = block.header.number
        tables.put_block(number, block.hash, block.encode())
        tables.put_receipts(number, [encode_receipt(r) for r in receipts])
        for index, tx in enumerate(block.transactions):
            tables.put_tx_index(tx.hash, number, index)
        tables.set_head(number, block.hash)

    def _remember_code(self, accounts: dict[int, Account]) -> None:
        code = self.tables.code
        for acct in accounts.values():
            if acct.code:
                code[acct.code_hash] = acct.code

    def _remember_dirty_code(self, state: WorldState) -> None:
        code = self.tables.code
        for addr in state.dirty_accounts:
            acct = state.accounts.get(addr)
            if acct is not None and acct.code:
                code[acct.code_hash] = acct.code

    # ---------------------------------------------------------------- reads
    def _remember(self, stored: StoredBlock) -> None:
        cache = self._cache
        with self._cache_lock:
            cache[stored.number] = stored
            cache.move_to_end(stored.number)
            while len(cache) > _BLOCK_CACHE:
                cache.popitem(last=False)

    def _read_block(self, number: int) -> Block | None:
        raw = self.tables.get_block(number)
        return decode_block(raw) if raw is not None else None

    def block(self, number: int) -> StoredBlock | None:
        """Block ``number`` of the canonical chain (at or below the head), or None."""
        if self._head is None or not 0 <= number <= self._head[0]:
            return None
        with self._cache_lock:
            cached = self._cache.get(number)
        if cached is not None:
            return cached
        block = self._read_block(number)
        if block is None:
            return None
        raw = self.tables.get_receipts(number) or []
        system = self.tables.get_meta(_SYSTEM_RECEIPT + block.hash)
        system_logs = decode_receipt(system).logs if system is not None else ()
        stored = StoredBlock(block, tuple(decode_receipt(r) for r in raw), system_logs)
        self._remember(stored)
        return stored

    def block_by_hash(self, block_hash: bytes) -> StoredBlock | None:
        number = self.tables.block_number(bytes(block_hash))
        if number is None:
            return None
        stored = self.block(number)
        return stored if stored is not None and stored.hash == block_hash else None

    def block_hash(self, number: int) -> bytes | None:
        stored = self.block(number)
        return stored.hash if stored is not None else None

    def tx_location(self, tx_hash: bytes) -> tuple[StoredBlock, int] | None:
        """(block, index) of a mined transaction on the canonical chain, or None."""
        found = self.tables.get_tx_location(bytes(tx_hash))
        if found is None:
            return None
        stored = self.block(found[0])
        if stored is None or found[1] >= len(stored.block.transactions):
            return None
        if stored.block.transactions[found[1]].hash != tx_hash:
            return None
        return stored, found[1]

    def iter_blocks(self, first: int, last: int) -> Iterator[StoredBlock]:
        for number in range(first, last + 1):
            stored = self.block(number)
            if stored is not None:
                yield stored

    # ------------------------------------------------------ historical state
    def code(self, code_hash: bytes) -> bytes:
        if code_hash == EMPTY_KECCAK:
            return b""
        code = self.tables.get_code(code_hash)
        if code is None:
            raise LookupError(f"code 0x{code_hash.hex()} is not stored")
        return code  # type: ignore[no-any-return]

    def account_at(self, root: bytes, address: int) -> tuple[int, int, bytes, bytes] | None:
        """(nonce, balance, storage_root, code_hash) at state ``root``, or None."""
        return self.committer.account(address, root)

    def storage_at(self, storage_root: bytes, slot: int) -> int:
        if storage_root == EMPTY_TRIE_ROOT:
            return 0
        trie = MPT(self.committer.store, storage_root, self.committer.cache)
        encoded = trie.get(keccak256(slot.to_bytes(32, "big")))
        return rlp.decode_uint(rlp.decode(encoded)) if encoded is not None else 0

    def state_at(self, root: bytes) -> HistoricalState:
        """A scratch world state at state ``root``, read lazily from the tries."""
        committer = self.committer
        return HistoricalState(
            TrieBackend(committer.store, root, self.tables.get_code, committer.cache)
        )

    def proof(self, address: int, slots: list[int], root: bytes) -> AccountProof:
        return self.committer.get_proof(address, slots, root)

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Pin one database snapshot for a group of reads."""
        if self.db is None:
            yield
            return
        with self.db.snapshot():
            yield
