"""Chain database on LMDB: one environment in a data directory.

Named sub-databases hold trie nodes (by hash), contract code (by hash), flat
account and storage tables (the latest state, for fast loading), blocks by
number and hash, receipts per block, a transaction index and metadata (head,
state root). Keys that are numbers are 8-byte big-endian, so tables iterate in
numeric order.

Writes happen in a :meth:`ChainDB.write_batch`: one LMDB write transaction, so
a block commits atomically or not at all. A write outside a batch is its own
batch. Reads inside a batch, in the thread that opened it, see the batch's
writes; other threads read the last committed state. The map grows on demand:
before each batch it keeps at least as much free space as is used, and a batch
that still fills the map is replayed after doubling it. A resize waits until
no read transaction of this process is open (LMDB remaps the file).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import lmdb

from strikevm.primitives import rlp

__all__ = ["ChainDB", "LMDBNodeStore", "StoreError"]

_TABLES = (
    "nodes",  # keccak256(rlp) -> trie node rlp
    "code",  # keccak256(code) -> code
    "accounts",  # address (20) -> rlp([nonce, balance, storage_root, code_hash])
    "storage",  # address (20) + slot (32) -> value (minimal big-endian, never zero)
    "blocks",  # number (8) -> block hash (32) + block rlp
    "block_index",  # block hash (32) -> number (8)
    "receipts",  # number (8) -> rlp list of encoded receipts
    "tx_index",  # tx hash (32) -> number (8) + index in block (4)
    "meta",  # name -> value
)

_HEAD = b"head"
_STATE_ROOT = b"state_root"

_MIN_FREE = 64 << 20  # free map space kept before a batch starts
_REPLAY_LIMIT = 1 << 20  # operations remembered per batch for a replay after MapFullError


class StoreError(RuntimeError):
    """The database cannot do what was asked (closed, read-only, map full...)."""


def _num(value: int) -> bytes:
    return value.to_bytes(8, "big")


class LMDBNodeStore:
    """Trie node store in the ``nodes`` table of a :class:`ChainDB`."""

    __slots__ = ("_db",)

    def __init__(self, db: ChainDB) -> None:
        self._db = db

    def get(self, key: bytes) -> bytes | None:
        return self._db._get("nodes", key)

    def put(self, key: bytes, value: bytes) -> None:
        self._db._put("nodes", key, value)


class _Batch:
    """The open write transaction of a :class:`ChainDB` and what it did."""

    __slots__ = ("txn", "log", "on_abort")

    def __init__(self, txn: lmdb.Transaction) -> None:
        self.txn = txn
        self.log: list[tuple[Any, ...]] | None = []
        self.on_abort: list[Callable[[], None]] = []


class ChainDB:
    """Blocks, receipts, indexes and state of one chain in an LMDB data directory."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        map_size: int = 1 << 30,
        sync: bool = True,
        readonly: bool = False,
    ) -> None:
        self.path = os.fspath(path)
        if not readonly:
            os.makedirs(self.path, exist_ok=True)
        self.readonly = readonly
        self._env = lmdb.open(
            self.path,
            map_size=map_size,
            max_dbs=len(_TABLES) + 4,
            sync=sync,
            readonly=readonly,
            readahead=False,
            meminit=False,
        )
        self._dbs: dict[str, Any] = {}
        if readonly:
            for name in _TABLES:
                self._dbs[name] = self._env.open_db(name.encode(), create=False)
        else:
            with self._env.begin(write=True) as txn:
                for name in _TABLES:
                    self._dbs[name] = self._env.open_db(name.encode(), txn=txn)
        self._local = threading.local()
        self._writer = threading.Lock()
        # read transactions open in this process; the map is only resized at zero
        self._readers = 0
        self._resizing = False
        self._cond = threading.Condition()
        self._pid = os.getpid()
        self.nodes = LMDBNodeStore(self)

    def _in_child(self) -> None:
        """After fork() (a parallel block executor): read through fresh transactions only.

        The child keeps the inherited environment (py-lmdb refuses to open the same
        files twice in one process) but none of the parent's transactions: the
        thread-local read snapshot and write batch are dropped unused (aborting them
        here would release the parent's reader slot), the locks are new, and the
        database is read-only. Each read then takes and frees its own reader slot.
        A child must not be killed while it reads, or its slot stays taken: parallel
        executors are told to stop, never killed (chain.parallel).
        """
        self._pid = os.getpid()
        self.readonly = True
        self._local = threading.local()
        self._writer = threading.Lock()
        self._readers = 0
        self._resizing = False
        self._cond = threading.Condition()

    # ------------------------------------------------------------ lifecycle
    def close(self) -> None:
        self._env.close()

    def __enter__(self) -> ChainDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def map_size(self) -> int:
        return int(self._env.info()["map_size"])

    def used_bytes(self) -> int:
        """Bytes of the map in use (pages up to the last one written)."""
        return (int(self._env.info()["last_pgno"]) + 1) * int(self._env.stat()["psize"])

    def _grow(self, minimum_free: int) -> None:
        size = self.map_size
        used = self.used_bytes()
        new = size
        while new - used < minimum_free:
            new *= 2
        if new != size:
            self._set_mapsize(new)

    def _set_mapsize(self, size: int) -> None:
        """Resize the map once no read transaction is open in this process."""
        with self._cond:
            self._resizing = True
            try:
                while self._readers:
                    self._cond.wait()
                self._env.set_mapsize(size)
            finally:
                self._resizing = False
                self._cond.notify_all()

    def _begin_read(self) -> lmdb.Transaction:
        if self._pid != os.getpid():
            self._in_child()
        with self._cond:
            while self._resizing:
                self._cond.wait()
            self._readers += 1
        try:
            return self._env.begin()
        except BaseException:
            self._end_read(None)
            raise

    def _end_read(self, txn: lmdb.Transaction | None) -> None:
        if txn is not None:
            txn.abort()
        with self._cond:
            self._readers -= 1
            if not self._readers:
                self._cond.notify_all()

    # -------------------------------------------------------------- batches
    @property
    def in_batch(self) -> bool:
        """True when the calling thread has a write batch open."""
        return getattr(self._local, "batch", None) is not None

    @contextmanager
    def write_batch(self) -> Iterator[ChainDB]:
        """One atomic write transaction; nested calls join the outermost batch.

        The batch commits when the outermost ``with`` block ends normally and is
        discarded entirely if it raises; callbacks registered with
        :meth:`on_abort` then run.
        """
        if self.readonly:
            raise StoreError("database opened read-only")
        if self._local.__dict__.get("batch") is not None:
            yield self
            return
        if self._local.__dict__.get("snap") is not None:
            raise StoreError("write_batch() inside snapshot() of the same thread")
        with self._writer:
            self._grow(max(self.used_bytes(), _MIN_FREE))
            batch = _Batch(self._env.begin(write=True))
            self._local.batch = batch
            try:
                yield self
            except BaseException:
                self._local.batch = None
                batch.txn.abort()
                for callback in reversed(batch.on_abort):
                    callback()
                raise
            self._local.batch = None
            while True:
                try:
                    batch.txn.commit()
                    return
                except lmdb.MapFullError:
                    self._replay(batch)

    def on_abort(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` if the current batch is discarded (for in-memory caches)."""
        batch = self._local.__dict__.get("batch")
        if batch is None:
            raise StoreError("on_abort() outside a write batch")
        batch.on_abort.append(callback)

    def _replay(self, batch: _Batch) -> None:
        """After MapFullError: double the map and redo the batch in a new transaction.

        A batch too large to have been logged is discarded instead (its abort
        callbacks run) and :class:`StoreError` raised; the enlarged map lets a
        retry succeed.
        """
        batch.txn.abort()
        self._set_mapsize(self.map_size * 2)
        log = batch.log
        if log is None:
            callbacks = batch.on_abort[::-1]
            batch.on_abort.clear()
            for callback in callbacks:
                callback()
            raise StoreError(
                "LMDB map full in a batch too large to replay: the batch was discarded "
                "and the map enlarged; retry it"
            )
        txn = batch.txn = self._env.begin(write=True)
        for op in log:
            self._apply(txn, op)

    def _write(self, op: tuple[Any, ...]) -> None:
        batch: _Batch | None = self._local.__dict__.get("batch")
        if batch is None:
            with self.write_batch():
                self._write(op)
            return
        log = batch.log
        if log is not None:
            if len(log) < _REPLAY_LIMIT:
                log.append(op)
            else:
                batch.log = None
        try:
            self._apply(batch.txn, op)
        except lmdb.MapFullError:
            self._replay(batch)  # the log holds this operation too

    def _apply(self, txn: lmdb.Transaction, op: tuple[Any, ...]) -> None:
        kind = op[0]
        if kind == "put":
            txn.put(op[2], op[3], db=self._dbs[op[1]])
        elif kind == "delete":
            txn.delete(op[2], db=self._dbs[op[1]])
        elif kind == "prefix":
            self._delete_prefix_in(txn, op[1], op[2])
        else:
            txn.drop(self._dbs[op[1]], delete=False)

    def _delete_prefix_in(self, txn: lmdb.Transaction, table: str, prefix: bytes) -> None:
        cursor = txn.cursor(db=self._dbs[table])
        if cursor.set_range(prefix):
            while cursor.key()[: len(prefix)] == prefix:
                if not cursor.delete():
                    break

    # ------------------------------------------------------- raw table access
    @contextmanager
    def snapshot(self) -> Iterator[ChainDB]:
        """Pin one read transaction for the reads of this thread inside the block.

        A write batch cannot be opened inside it (in the same thread).
        """
        if self.in_batch or self._local.__dict__.get("snap") is not None:
            yield self
            return
        txn = self._begin_read()
        self._local.snap = txn
        try:
            yield self
        finally:
            self._local.snap = None
            self._end_read(txn)

    def _reader(self) -> lmdb.Transaction | None:
        if self._pid != os.getpid():
            self._in_child()
        state = self._local.__dict__
        batch = state.get("batch")
        if batch is not None:
            return batch.txn
        return state.get("snap")

    def _get(self, table: str, key: bytes) -> bytes | None:
        txn = self._reader()
        if txn is not None:
            return txn.get(key, db=self._dbs[table])
        fresh = self._begin_read()
        try:
            return fresh.get(key, db=self._dbs[table])
        finally:
            self._end_read(fresh)

    def _put(self, table: str, key: bytes, value: bytes) -> None:
        self._write(("put", table, key, value))

    def _delete(self, table: str, key: bytes) -> None:
        self._write(("delete", table, key))

    def _iter(self, table: str, prefix: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        txn = self._reader()
        if txn is None:
            with self.snapshot():
                yield from self._iter(table, prefix)
            return
        cursor = txn.cursor(db=self._dbs[table])
        if not cursor.set_range(prefix):
            return
        for key, value in cursor:
            if key[: len(prefix)] != prefix:
                return
            yield key, value

    def count(self, table: str) -> int:
        """Number of entries in ``table``."""
        txn = self._reader()
        if txn is not None:
            return int(txn.stat(self._dbs[table])["entries"])
        fresh = self._begin_read()
        try:
            return int(fresh.stat(self._dbs[table])["entries"])
        finally:
            self._end_read(fresh)

    # ------------------------------------------------------------ trie nodes
    def get_node(self, digest: bytes) -> bytes | None:
        return self._get("nodes", digest)

    def put_node(self, digest: bytes, encoded: bytes) -> None:
        self._put("nodes", digest, encoded)

    # ------------------------------------------------------------------ code
    def get_code(self, code_hash: bytes) -> bytes | None:
        return self._get("code", code_hash)

    def put_code(self, code_hash: bytes, code: bytes) -> None:
        self._put("code", code_hash, code)

    # ------------------------------------------------------------ flat state
    def get_account(self, address: int) -> bytes | None:
        """The account's trie value rlp([nonce, balance, storage_root, code_hash])."""
        return self._get("accounts", address.to_bytes(20, "big"))

    def put_account(self, address: int, encoded: bytes) -> None:
        self._put("accounts", address.to_bytes(20, "big"), encoded)

    def delete_account(self, address: int) -> None:
        """Remove the account and all its storage from the flat tables."""
        key = address.to_bytes(20, "big")
        self._delete("accounts", key)
        self._write(("prefix", "storage", key))

    def get_storage(self, address: int, slot: int) -> int:
        value = self._get("storage", address.to_bytes(20, "big") + slot.to_bytes(32, "big"))
        return int.from_bytes(value, "big") if value is not None else 0

    def put_storage(self, address: int, slot: int, value: int) -> None:
        """Set a slot in the flat table; zero removes it."""
        key = address.to_bytes(20, "big") + slot.to_bytes(32, "big")
        if value:
            self._put("storage", key, rlp.uint_bytes(value))
        else:
            self._delete("storage", key)

    def delete_storage(self, address: int) -> None:
        """Remove every storage slot of ``address`` from the flat table."""
        self._write(("prefix", "storage", address.to_bytes(20, "big")))

    def iter_accounts(self) -> Iterator[tuple[int, bytes]]:
        """(address, account rlp) in address order."""
        for key, value in self._iter("accounts"):
            yield int.from_bytes(key, "big"), value

    def iter_storage(self, address: int | None = None) -> Iterator[tuple[int, int, int]]:
        """(address, slot, value) in (address, slot) order, for one or all accounts."""
        prefix = b"" if address is None else address.to_bytes(20, "big")
        for key, value in self._iter("storage", prefix):
            yield (
                int.from_bytes(key[:20], "big"),
                int.from_bytes(key[20:], "big"),
                int.from_bytes(value, "big"),
            )

    def clear_state(self) -> None:
        """Empty the flat account and storage tables (before a full rewrite)."""
        self._write(("drop", "accounts"))
        self._write(("drop", "storage"))

    def put_many(self, table: str, items: Iterable[tuple[bytes, bytes]]) -> None:
        """Write many entries of ``table`` (bulk loads)."""
        for key, value in items:
            self._put(table, key, value)

    # ---------------------------------------------------------------- blocks
    def put_block(self, number: int, block_hash: bytes, encoded: bytes) -> None:
        """Store a block under its number and hash (replacing any block at that number)."""
        if len(block_hash) != 32:
            raise ValueError("block hash must be 32 bytes")
        old = self.block_hash(number)
        if old is not None and old != block_hash:
            self._delete("block_index", old)
        self._put("blocks", _num(number), block_hash + encoded)
        self._put("block_index", block_hash, _num(number))

    def get_block(self, number: int) -> bytes | None:
        value = self._get("blocks", _num(number))
        return value[32:] if value is not None else None

    def block_hash(self, number: int) -> bytes | None:
        value = self._get("blocks", _num(number))
        return value[:32] if value is not None else None

    def block_number(self, block_hash: bytes) -> int | None:
        value = self._get("block_index", block_hash)
        return int.from_bytes(value, "big") if value is not None else None

    def get_block_by_hash(self, block_hash: bytes) -> bytes | None:
        number = self.block_number(block_hash)
        return self.get_block(number) if number is not None else None

    def put_receipts(self, number: int, receipts: Sequence[bytes]) -> None:
        """The encoded receipts of block ``number``, in transaction order."""
        self._put("receipts", _num(number), rlp.encode([bytes(r) for r in receipts]))

    def get_receipts(self, number: int) -> list[bytes] | None:
        value = self._get("receipts", _num(number))
        if value is None:
            return None
        items = rlp.decode(value)
        if not isinstance(items, list) or not all(isinstance(r, bytes) for r in items):
            raise StoreError(f"corrupt receipts for block {number}")
        return items  # type: ignore[return-value]

    def put_tx_index(self, tx_hash: bytes, number: int, index: int) -> None:
        self._put("tx_index", tx_hash, _num(number) + index.to_bytes(4, "big"))

    def get_tx_location(self, tx_hash: bytes) -> tuple[int, int] | None:
        """(block number, index in block) of a transaction, or None."""
        value = self._get("tx_index", tx_hash)
        if value is None:
            return None
        return int.from_bytes(value[:8], "big"), int.from_bytes(value[8:], "big")

    # -------------------------------------------------------------- metadata
    def get_meta(self, name: bytes) -> bytes | None:
        return self._get("meta", name)

    def put_meta(self, name: bytes, value: bytes) -> None:
        self._put("meta", name, value)

    def set_head(self, number: int, block_hash: bytes) -> None:
        self.put_meta(_HEAD, _num(number) + block_hash)

    def head(self) -> tuple[int, bytes] | None:
        """(number, hash) of the last committed block, or None for a new database."""
        value = self.get_meta(_HEAD)
        if value is None:
            return None
        return int.from_bytes(value[:8], "big"), value[8:]

    def state_root(self) -> bytes | None:
        """Root of the state held in the flat tables (written with each state commit)."""
        return self.get_meta(_STATE_ROOT)

    def set_state_root(self, root: bytes) -> None:
        self.put_meta(_STATE_ROOT, root)
