"""State backends: where a world state's accounts, storage slots and code come from.

One protocol, :class:`StateBackend`, with four implementations:

- :class:`MemoryBackend`: a dict of accounts in memory (today's state);
- :class:`LMDBBackend`: the flat account/storage/code tables of a
  :class:`~strikevm.state.db.ChainDB` (the latest committed state);
- :class:`TrieBackend`: the account and storage tries at one state root, in
  any node store (historical states, snapshots, witnesses);
- :class:`RecordingBackend`: wraps any backend and records every account,
  slot and code read, in first-read order (witnesses, read sets).

:class:`BackendState` is the world state over a backend: accounts and slots
are loaded on first access (the EVM's ``state.accounts.get`` and
``acct.storage.get`` stay plain dict look-ups once loaded) and kept in a
cache bounded by ``cache_size`` entries (accounts plus slots). Clean entries
beyond the bound are evicted after each commit, oldest first (entries written
by the last block move to the back); dirty entries are never evicted.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import Any, Protocol

from strikevm.crypto import EMPTY_KECCAK, keccak256
from strikevm.primitives import rlp
from strikevm.state.account import Account
from strikevm.state.db import ChainDB, StoreError
from strikevm.state.mpt import MPT, NodeCache, NodeStore
from strikevm.state.overlay import MISSING, Dirty, LazyAccounts, LazyStorage
from strikevm.state.trie import EMPTY_TRIE_ROOT
from strikevm.state.world import WorldState

__all__ = [
    "AccountInfo",
    "BackendState",
    "LMDBBackend",
    "MemoryBackend",
    "RecordingBackend",
    "StateBackend",
    "TrieBackend",
    "decode_account",
]

# (nonce, balance, code_hash, has_storage)
AccountInfo = tuple[int, int, bytes, bool]

_dget = dict.get
_dset = dict.__setitem__


def decode_account(encoded: bytes) -> tuple[int, int, bytes, bytes]:
    """(nonce, balance, storage_root, code_hash) of an account trie value."""
    from strikevm.state.commit import _decode_account

    return _decode_account(encoded)


class StateBackend(Protocol):
    """Read access to one state: accounts, storage slots and code by hash."""

    def account(self, address: int) -> AccountInfo | None:
        """(nonce, balance, code_hash, has_storage), or None for an absent account."""
        ...

    def storage(self, address: int, slot: int) -> int:
        """Value of ``slot`` of ``address`` (0 when unset or the account is absent)."""
        ...

    def code(self, code_hash: bytes) -> bytes:
        """The code with hash ``code_hash`` (raises LookupError when unknown)."""
        ...

    def frozen(self) -> StateBackend:
        """A backend that keeps answering for the current contents after they change."""
        ...


# ------------------------------------------------------------------ memory


class MemoryBackend:
    """Accounts held in a dict (a plain :class:`WorldState`'s ``accounts``)."""

    def __init__(self, accounts: dict[int, Account]) -> None:
        self.accounts = accounts
        self._codes: dict[bytes, bytes] = {EMPTY_KECCAK: b""}

    def account(self, address: int) -> AccountInfo | None:
        acct = self.accounts.get(address)
        if acct is None:
            return None
        if acct.code:
            self._codes[acct.code_hash] = acct.code
        return acct.nonce, acct.balance, acct.code_hash, acct.has_storage()

    def storage(self, address: int, slot: int) -> int:
        acct = self.accounts.get(address)
        return (acct.storage.get(slot, 0) or 0) if acct is not None else 0

    def code(self, code_hash: bytes) -> bytes:
        code = self._codes.get(code_hash)
        if code is None:
            raise LookupError(f"code 0x{code_hash.hex()} is unknown")
        return code

    def iter_accounts(self) -> Iterator[tuple[int, AccountInfo]]:
        for address in list(self.accounts):
            info = self.account(address)
            if info is not None:
                yield address, info

    def iter_storage(self, address: int) -> Iterator[tuple[int, int]]:
        acct = self.accounts.get(address)
        if acct is not None:
            yield from list(acct.storage.items())

    def frozen(self) -> MemoryBackend:
        """A deep copy (cost: the whole state)."""
        out = MemoryBackend({a: acct.copy() for a, acct in self.accounts.items()})
        out._codes.update(self._codes)
        return out


# -------------------------------------------------------------------- LMDB


class _CodeCache:
    """A small LRU of code by hash in front of a lookup."""

    def __init__(self, lookup: Callable[[bytes], bytes | None], limit: int = 4096) -> None:
        self._lookup = lookup
        self._limit = limit
        self._codes: OrderedDict[bytes, bytes] = OrderedDict()

    def __call__(self, code_hash: bytes) -> bytes:
        if code_hash == EMPTY_KECCAK:
            return b""
        codes = self._codes
        code = codes.get(code_hash)
        if code is not None:
            codes.move_to_end(code_hash)
            return code
        found = self._lookup(code_hash)
        if found is None:
            raise LookupError(f"code 0x{code_hash.hex()} is not stored")
        code = bytes(found)
        codes[code_hash] = code
        if len(codes) > self._limit:
            codes.popitem(last=False)
        return code


class LMDBBackend:
    """The flat state tables of a :class:`ChainDB`: the last committed state.

    ``committer`` (the :class:`~strikevm.state.commit.StateCommitter` that
    writes the tables) lets :meth:`frozen` keep an undo mark, so that a
    snapshot can later be restored (``ChainStore.rewind``).
    """

    def __init__(self, db: ChainDB, committer: Any = None) -> None:
        self.db = db
        self.committer = committer
        self._code = _CodeCache(db.get_code)

    def account(self, address: int) -> AccountInfo | None:
        encoded = self.db.get_account(address)
        if encoded is None:
            return None
        nonce, balance, storage_root, code_hash = decode_account(encoded)
        return nonce, balance, code_hash, storage_root != EMPTY_TRIE_ROOT

    def storage(self, address: int, slot: int) -> int:
        return self.db.get_storage(address, slot)

    def code(self, code_hash: bytes) -> bytes:
        return self._code(code_hash)

    def iter_accounts(self) -> Iterator[tuple[int, AccountInfo]]:
        """Every account in address order (reads the whole table)."""
        for address, encoded in self.db.iter_accounts():
            nonce, balance, storage_root, code_hash = decode_account(encoded)
            yield address, (nonce, balance, code_hash, storage_root != EMPTY_TRIE_ROOT)

    def iter_storage(self, address: int) -> Iterator[tuple[int, int]]:
        for _, slot, value in self.db.iter_storage(address):
            yield slot, value

    def frozen(self) -> TrieBackend:
        """The tries at the committed root (constant cost); flat tables change, tries do not."""
        db = self.db
        root = db.state_root() or EMPTY_TRIE_ROOT
        cache = self.committer.cache if self.committer is not None else None
        out = TrieBackend(db.nodes, root, db.get_code, cache)
        if self.committer is not None:
            out.undo_mark = self.committer.undo_mark()
            weakref.finalize(out, self.committer.release_undo_mark, out.undo_mark)
        return out


# -------------------------------------------------------------------- tries


class TrieBackend:
    """The account and storage tries at state root ``root`` in ``store``.

    Reads walk the tries, so it answers for any committed root (historical
    states) and for partial node stores (a witness: a missing node raises
    whatever ``store`` raises, or :class:`~strikevm.state.mpt.MissingNodeError`).
    """

    def __init__(
        self,
        store: NodeStore,
        root: bytes,
        code: Callable[[bytes], bytes | None],
        cache: NodeCache | None = None,
    ) -> None:
        self.store = store
        self.root = bytes(root)
        self.cache = cache if cache is not None else NodeCache(10_000)
        self._trie = MPT(store, self.root, self.cache)
        self._storage_roots: dict[int, bytes] = {}
        self._code = _CodeCache(code)
        self.undo_mark: int | None = None

    def account_record(self, address: int) -> tuple[int, int, bytes, bytes] | None:
        encoded = self._trie.get(keccak256(address.to_bytes(20, "big")))
        if encoded is None:
            self._storage_roots[address] = EMPTY_TRIE_ROOT
            return None
        found = decode_account(encoded)
        self._storage_roots[address] = found[2]
        return found

    def account(self, address: int) -> AccountInfo | None:
        found = self.account_record(address)
        if found is None:
            return None
        nonce, balance, storage_root, code_hash = found
        return nonce, balance, code_hash, storage_root != EMPTY_TRIE_ROOT

    def storage(self, address: int, slot: int) -> int:
        root = self._storage_roots.get(address)
        if root is None:
            self.account_record(address)
            root = self._storage_roots[address]
        if root == EMPTY_TRIE_ROOT:
            return 0
        encoded = MPT(self.store, root, self.cache).get(keccak256(slot.to_bytes(32, "big")))
        return rlp.decode_uint(rlp.decode(encoded)) if encoded is not None else 0

    def code(self, code_hash: bytes) -> bytes:
        return self._code(code_hash)

    def frozen(self) -> TrieBackend:
        return self


# ---------------------------------------------------------------- recording


class RecordingBackend:
    """Any backend, with every read recorded in first-read order.

    ``accounts``: addresses read; ``slots``: (address, slot) read; ``codes``:
    code hashes read. Each is a dict used as an insertion-ordered set.
    """

    def __init__(self, inner: StateBackend) -> None:
        self.inner = inner
        self.accounts: dict[int, None] = {}
        self.slots: dict[tuple[int, int], None] = {}
        self.codes: dict[bytes, None] = {}

    def account(self, address: int) -> AccountInfo | None:
        self.accounts[address] = None
        return self.inner.account(address)

    def storage(self, address: int, slot: int) -> int:
        self.slots[(address, slot)] = None
        return self.inner.storage(address, slot)

    def code(self, code_hash: bytes) -> bytes:
        self.codes[code_hash] = None
        return self.inner.code(code_hash)

    def frozen(self) -> StateBackend:
        return self.inner.frozen()

    def read_set(self) -> tuple[list[int], list[tuple[int, int]], list[bytes]]:
        """(accounts, slots, code hashes) read, in first-read order."""
        return list(self.accounts), list(self.slots), list(self.codes)


# ------------------------------------------------------------------- state


class BackendState(WorldState):
    """A world state whose accounts and slots are loaded from ``backend`` on demand.

    ``cache_size`` bounds the loaded entries (accounts plus storage slots)
    kept after a commit (None: unbounded). Writes stay in the loaded
    objects until the committer writes them to the backend's store; the
    state must only be committed by the committer that maintains the
    backend (or be scratch).
    """

    def __init__(self, backend: StateBackend, *, cache_size: int | None = None) -> None:
        self.backend = backend
        self.cache_size = cache_size
        self._loaded = 0  # accounts and lazily read slots held
        self._recent: dict[int, None] = {}
        self._trim_due = False
        super().__init__(LazyAccounts(self._load, self._source_items))

    def _load(self, addr: int) -> Account | None:
        backend = self.backend
        info = backend.account(addr)
        self._loaded += 1
        if info is None:
            return None
        nonce, balance, code_hash, has_storage = info
        code = backend.code(code_hash) if code_hash != EMPTY_KECCAK else b""
        acct = Account(nonce, balance, code)
        acct._code_hash = code_hash
        if has_storage:

            def read(slot: int) -> int:
                self._loaded += 1
                return self.backend.storage(addr, slot)

            acct.storage = LazyStorage(read, _true, None, self._slot_source(addr))
        return acct

    def _slot_source(self, addr: int) -> Callable[[], Iterable[tuple[int, int]]] | None:
        iterate = getattr(self.backend, "iter_storage", None)
        if iterate is None:
            return None
        return lambda: iterate(addr)

    def _source_items(self) -> Iterable[tuple[int, Account]]:
        backend = self.backend
        iterate = getattr(backend, "iter_accounts", None)
        if iterate is None:
            raise TypeError("this state's backend cannot be iterated; read by address")
        for addr, (nonce, balance, code_hash, has_storage) in iterate():
            acct = Account(nonce, balance, backend.code(code_hash))
            acct._code_hash = code_hash
            if has_storage:
                acct.storage = LazyStorage(
                    partial(backend.storage, addr), _true, None, self._slot_source(addr)
                )
            yield addr, acct

    def rebind(self, backend: StateBackend) -> None:
        """Read what is not loaded from ``backend`` (which must hold the same state)."""
        self.backend = backend

    # --------------------------------------------------------------- cache
    def take_dirty(self) -> Dirty:
        if self._trim_due:
            # the previous commit is durable; what this one writes is still dirty
            self.trim_cache(force=True)
        out = super().take_dirty()
        self._recent.update(out[0])
        self._recent.update(out[1])
        return out

    def after_commit(self) -> None:
        """Called by the committer once the written entries are in the backend."""
        self.trim_cache()

    @property
    def cached_entries(self) -> int:
        return self._loaded

    def trim_cache(self, *, force: bool = False) -> None:
        """Evict clean entries, oldest first, until at most ``cache_size`` remain.

        Inside an open write batch of the backend's database (whose commit
        could still fail and hand the written entries back), the trim is
        deferred to the next :meth:`take_dirty`.
        """
        db = getattr(self.backend, "db", None)
        if not force and db is not None and db.in_batch:
            self._trim_due = True
            return
        self._trim_due = False
        accounts: LazyAccounts = self.accounts  # type: ignore[assignment]
        recent, self._recent = self._recent, {}
        for addr in recent:
            entry = accounts.local(addr)
            if entry is not MISSING:
                dict.__delitem__(accounts, addr)
                _dset(accounts, addr, entry)
        limit = self.cache_size
        if limit is None or self._loaded <= limit:
            return
        protected = self.dirty_accounts.keys() | self.dirty_slots.keys()
        protected |= self.deleted_accounts.keys()
        if self.journal:
            return  # mid-transaction: nothing is clean
        victims = []
        loaded = self._loaded
        for addr, acct in dict.items(accounts):
            if loaded <= limit:
                break
            if addr in protected:
                continue
            victims.append(addr)
            loaded -= 1
            if acct is not None and type(acct.storage) is LazyStorage:
                loaded -= dict.__len__(acct.storage)
        for addr in victims:
            dict.__delitem__(accounts, addr)
        if loaded > limit:
            # hot accounts with large storage: drop their clean slots
            for addr, acct in dict.items(accounts):
                if loaded <= limit:
                    break
                if addr in protected or acct is None or type(acct.storage) is not LazyStorage:
                    continue
                loaded -= dict.__len__(acct.storage)
                dict.clear(acct.storage)
        self._loaded = max(loaded, 0)

    # ------------------------------------------------------------ snapshot
    def copy(self) -> BackendState:
        """A snapshot that keeps the current state while this one moves on.

        Constant cost for a clean state (right after a commit): the snapshot
        reads through ``backend.frozen()`` (for LMDB, the tries at the
        committed root, which later commits never change). Entries written
        since the last commit are copied (cost: what was written). Reads
        through the tries cost more than flat-table reads until
        ``ChainStore.rewind`` rebinds the snapshot to the flat tables.
        """
        out = BackendState(self.backend.frozen(), cache_size=self.cache_size)
        self._collect_dirty()
        self.journal.clear()
        written = {**self.dirty_accounts, **self.dirty_slots, **self.deleted_accounts}
        accounts: LazyAccounts = self.accounts  # type: ignore[assignment]
        target = out.accounts
        for addr in written:
            acct = accounts.local(addr)
            if acct is MISSING:
                continue
            if acct is None:
                _dset(target, addr, None)
                continue
            copy = Account(acct.nonce, acct.balance, acct.code)
            copy._code_hash = acct._code_hash
            storage = acct.storage
            if type(storage) is LazyStorage:
                fresh = out.accounts.get(addr)
                lazy = fresh.storage if fresh is not None else None
                if type(lazy) is not LazyStorage:
                    lazy = LazyStorage(lambda slot: 0, _false)
                for slot, value in dict.items(storage):
                    _dset(lazy, slot, value)
                copy.storage = lazy
            else:
                copy.storage = dict(storage)
            _dset(target, addr, copy)
        out.dirty_accounts = dict(self.dirty_accounts)
        out.dirty_slots = {a: dict(s) for a, s in self.dirty_slots.items()}
        out.deleted_accounts = dict(self.deleted_accounts)
        return out


def _true() -> bool:
    return True


def _false() -> bool:
    return False


def check_flat_root(db: ChainDB, root: bytes) -> None:
    """Raise StoreError unless the flat tables of ``db`` hold state ``root``."""
    stored = db.state_root() or EMPTY_TRIE_ROOT
    if stored != root:
        raise StoreError(
            f"the flat state tables hold root 0x{stored.hex()}, not 0x{bytes(root).hex()}"
        )
