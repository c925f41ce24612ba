"""Incremental state commitment: the account and storage tries, kept up to date
from what a world state reports as written, with proofs for ``eth_getProof``.

The account trie maps keccak256(address) to rlp([nonce, balance, storage_root,
code_hash]); each account's storage trie maps keccak256(slot as 32 bytes) to
rlp(value). :meth:`StateCommitter.commit` applies ``WorldState.take_dirty()``:
its cost grows with the accounts and slots written, not with the size of the
state. With a :class:`~strikevm.state.db.ChainDB` it also keeps the flat
account/storage/code tables that :func:`load` reads at startup, and writes
everything inside the current write batch (or its own), so that the state of
a block is committed atomically together with the block.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from strikevm.crypto import EMPTY_KECCAK, keccak256
from strikevm.primitives import rlp
from strikevm.state.account import Account
from strikevm.state.db import ChainDB, StoreError
from strikevm.state.mpt import MPT, MemoryNodeStore, NodeCache, NodeStore, build, prove
from strikevm.state.root import state_root
from strikevm.state.trie import EMPTY_TRIE_ROOT
from strikevm.state.world import WorldState

__all__ = ["AccountProof", "StateCommitter", "StorageProof", "load"]


@dataclass
class StorageProof:
    """One slot of an ``eth_getProof`` answer."""

    slot: int
    value: int
    proof: list[bytes]


@dataclass
class AccountProof:
    """An ``eth_getProof`` answer: the account fields and the proofs that bind them."""

    address: int
    nonce: int
    balance: int
    storage_hash: bytes
    code_hash: bytes
    account_proof: list[bytes]
    storage_proof: list[StorageProof] = field(default_factory=list)


@contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cycle collector while millions of acyclic objects are created."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _account_key(address: int) -> bytes:
    return keccak256(address.to_bytes(20, "big"))


def _slot_key(slot: int) -> bytes:
    return keccak256(slot.to_bytes(32, "big"))


def _uint_item(value: int) -> bytes:
    if value < 0x80:
        return bytes((value,)) if value else b"\x80"
    data = value.to_bytes((value.bit_length() + 7) // 8, "big")
    if len(data) > 32:
        raise ValueError("account field above 2**256")
    return bytes((0x80 + len(data),)) + data


def _encode_account(nonce: int, balance: int, storage_root: bytes, code_hash: bytes) -> bytes:
    """rlp([nonce, balance, storage_root, code_hash]), the account trie value."""
    payload = b"".join(
        (_uint_item(nonce), _uint_item(balance), b"\xa0", storage_root, b"\xa0", code_hash)
    )
    return b"\xf8" + bytes((len(payload),)) + payload  # 66 <= len(payload) <= 132


def _read_uint(encoded: bytes, pos: int) -> tuple[int, int]:
    prefix = encoded[pos]
    if prefix < 0x80:
        return prefix, pos + 1
    end = pos + 1 + prefix - 0x80
    return int.from_bytes(encoded[pos + 1 : end], "big"), end


def _decode_account(encoded: bytes) -> tuple[int, int, bytes, bytes]:
    """Inverse of :func:`_encode_account` (fast path for canonical records)."""
    size = len(encoded)
    if size > 2 and encoded[0] == 0xF8 and encoded[1] == size - 2 and encoded[2] <= 0xA0:
        nonce, pos = _read_uint(encoded, 2)
        if encoded[pos] <= 0xA0:
            balance, pos = _read_uint(encoded, pos)
            if pos + 66 == size and encoded[pos] == 0xA0 and encoded[pos + 33] == 0xA0:
                return nonce, balance, encoded[pos + 1 : pos + 33], encoded[pos + 34 :]
    fields = rlp.decode(encoded)
    if not isinstance(fields, list) or len(fields) != 4:
        raise StoreError("malformed account record")
    nonce, balance, storage_root, code_hash = fields
    if not (isinstance(storage_root, bytes) and isinstance(code_hash, bytes)):
        raise StoreError("malformed account record")
    return rlp.decode_uint(nonce), rlp.decode_uint(balance), storage_root, code_hash


class StateCommitter:
    """The account trie and the storage tries of one chain's state.

    ``db`` given: nodes go to its ``nodes`` table and the flat tables follow
    every commit. ``db`` None: nodes go to ``store`` (a fresh in-memory store
    by default) and no flat tables are kept. ``root`` is the committed state
    root to start from.
    """

    def __init__(
        self,
        db: ChainDB | None = None,
        root: bytes = EMPTY_TRIE_ROOT,
        *,
        store: NodeStore | None = None,
        cache_size: int = 100_000,
    ) -> None:
        self.db = db
        if store is None:
            store = db.nodes if db is not None else MemoryNodeStore()
        self.store: NodeStore = store
        self.cache = NodeCache(cache_size)
        self._root = bytes(root)
        self._trie = MPT(store, self._root, self.cache)
        # Undo log of the flat tables, kept while a snapshot holds a mark
        # (see undo_mark): ("account", address, old rlp or None),
        # ("slot", address, slot, old value), ("storage", address, old slots).
        self._undo: list[tuple] = []
        self._undo_base = 0  # absolute position of _undo[0]
        self._marks: dict[int, int] = {}  # mark -> how many holders

    @property
    def root(self) -> bytes:
        """The last committed state root."""
        return self._root

    # ------------------------------------------------------------ commitment
    def commit(self, state: WorldState) -> bytes:
        """Apply what ``state`` wrote since the last commit; return the new state root.

        ``state`` must have been at :attr:`root` at the previous commit and
        changed only through its journaled methods (a state built directly,
        e.g. a genesis, goes through :meth:`commit_all`). If the commit or the
        enclosing write batch fails, the committer returns to the previous
        root and the written accounts are handed back to ``state``, so the
        same commit can be retried.
        """
        taken = state.take_dirty()
        written, slots, deleted = taken
        if not (written or slots or deleted):
            return self._root
        old_root = self._root
        done = False

        def rollback() -> None:
            nonlocal done
            if done:
                return
            done = True
            self._reset(old_root)
            _give_back(state, taken)

        db = self.db
        undo_len = len(self._undo)
        try:
            if db is None:
                root = self._apply(state, written, slots, deleted)
            else:
                with db.write_batch():
                    db.on_abort(rollback)
                    db.on_abort(lambda: self._truncate_undo(undo_len))
                    root = self._apply(state, written, slots, deleted)
                    db.set_state_root(root)
        except BaseException:
            rollback()
            self._truncate_undo(undo_len)
            raise
        self._root = root
        after = getattr(state, "after_commit", None)
        if after is not None:
            after()
        return root

    # -------------------------------------------------------------- undo log
    def undo_mark(self) -> int:
        """Start (or join) recording how to restore the flat tables to the current root.

        Returns a mark for :meth:`rewind_flat`; release it with
        :meth:`release_undo_mark`. While any mark is held, every commit
        remembers the old flat-table entries it overwrites (memory: the
        entries written since the oldest held mark).
        """
        mark = self._undo_base + len(self._undo)
        self._marks[mark] = self._marks.get(mark, 0) + 1
        return mark

    def release_undo_mark(self, mark: int) -> None:
        count = self._marks.get(mark, 0)
        if count <= 1:
            self._marks.pop(mark, None)
        else:
            self._marks[mark] = count - 1
        if not self._marks:
            self._undo_base += len(self._undo)
            self._undo = []

    def _truncate_undo(self, length: int) -> None:
        del self._undo[length:]

    def rewind_flat(self, mark: int, root: bytes) -> None:
        """Put the flat tables (and the committer) back to ``root``, the root at ``mark``.

        Runs inside the caller's write batch (or its own). Cost: the entries
        written since the mark.
        """
        db = self.db
        if db is None:
            raise StoreError("no flat tables to rewind")
        if mark not in self._marks or mark < self._undo_base:
            raise StoreError("the undo log no longer reaches that snapshot")
        start = mark - self._undo_base
        tail = self._undo[start:]
        old_root = self._root
        with db.write_batch():

            def restore() -> None:
                self._undo[start:start] = tail
                self._reset(old_root)

            db.on_abort(restore)
            del self._undo[start:]
            for entry in reversed(tail):
                kind = entry[0]
                address = entry[1]
                if kind == "slot":
                    db.put_storage(address, entry[2], entry[3])
                elif kind == "account":
                    key = address.to_bytes(20, "big")
                    if entry[2] is None:
                        db._delete("accounts", key)
                    else:
                        db._put("accounts", key, entry[2])
                else:
                    db.delete_storage(address)
                    for slot, value in entry[2]:
                        db.put_storage(address, slot, value)
            db.set_state_root(root)
            self._reset(root)

    def _apply(
        self,
        state: WorldState,
        written: dict[int, None],
        slots: dict[int, dict[int, None]],
        deleted: dict[int, None],
    ) -> bytes:
        touched = dict.fromkeys(written)
        touched.update(dict.fromkeys(slots))
        touched.update(deleted)
        accounts = state.accounts
        trie = self._trie
        db = self.db
        undo = self._undo if self._marks and db is not None else None
        for address in sorted(touched):
            key = _account_key(address)
            acct = accounts.get(address)
            if acct is None or address in deleted:
                if db is not None:
                    if undo is not None:
                        undo.append(("account", address, db.get_account(address)))
                        old_slots = [(s, v) for _, s, v in db.iter_storage(address)]
                        undo.append(("storage", address, old_slots))
                    db.delete_account(address)
                if acct is None:
                    trie.delete(key)
                    continue
                storage_root = self._storage_from_scratch(address, acct)
            else:
                old = trie.get(key)
                storage_root = _decode_account(old)[2] if old is not None else EMPTY_TRIE_ROOT
                changed = slots.get(address)
                if changed:
                    storage_root = self._update_storage(address, acct, storage_root, changed)
            self._put_account(trie, address, key, acct, storage_root)
        return trie.commit()

    def _update_storage(
        self, address: int, acct: Account, root: bytes, changed: dict[int, None]
    ) -> bytes:
        trie = MPT(self.store, root, self.cache)
        storage = acct.storage
        db = self.db
        undo = self._undo if self._marks and db is not None else None
        for slot in sorted(changed):
            value = storage.get(slot, 0)
            if value:
                trie.put(_slot_key(slot), _uint_item(value))
            else:
                trie.delete(_slot_key(slot))
            if db is not None:
                if undo is not None:
                    undo.append(("slot", address, slot, db.get_storage(address, slot)))
                db.put_storage(address, slot, value)
        return trie.commit()

    def _storage_from_scratch(self, address: int, acct: Account) -> bytes:
        live = sorted((slot, value) for slot, value in acct.storage.items() if value)
        if self.db is not None:
            for slot, value in live:
                self.db.put_storage(address, slot, value)
        return build(self.store, sorted((_slot_key(s), _uint_item(v)) for s, v in live))

    def _put_account(
        self, trie: MPT, address: int, key: bytes, acct: Account, storage_root: bytes
    ) -> None:
        code_hash = acct.code_hash
        encoded = _encode_account(acct.nonce, acct.balance, storage_root, code_hash)
        trie.put(key, encoded)
        db = self.db
        if db is not None:
            if self._marks:
                self._undo.append(("account", address, db.get_account(address)))
            db.put_account(address, encoded)
            if acct.code and db.get_code(code_hash) is None:
                db.put_code(code_hash, acct.code)

    def commit_all(self, state: WorldState) -> bytes:
        """Commit the whole of ``state`` from scratch, in bulk; return its root.

        For a state that did not come from the journal (genesis, imported
        pre-state); replaces whatever the committer and the flat tables held.
        """
        state.take_dirty()
        old_root = self._root
        # a full rewrite: no snapshot can be restored through the undo log
        self._undo_base += len(self._undo) + 1
        self._undo = []
        self._marks.clear()

        def rollback() -> None:
            self._reset(old_root)

        db = self.db
        try:
            if db is None:
                with _no_gc():
                    root = self._build_all(state)
            else:
                with db.write_batch():
                    db.on_abort(rollback)
                    db.clear_state()
                    with _no_gc():
                        root = self._build_all(state)
                    db.set_state_root(root)
        except BaseException:
            rollback()
            raise
        self._reset(root)
        return root

    def _build_all(self, state: WorldState) -> bytes:
        db = self.db
        store = self.store
        items: list[tuple[bytes, bytes]] = []
        for address in sorted(state.accounts):
            acct = state.accounts[address]
            if acct.storage:
                storage_root = self._storage_from_scratch(address, acct)
            else:
                storage_root = EMPTY_TRIE_ROOT
            code_hash = acct.code_hash
            encoded = _encode_account(acct.nonce, acct.balance, storage_root, code_hash)
            items.append((_account_key(address), encoded))
            if db is not None:
                db.put_account(address, encoded)
                if acct.code:
                    db.put_code(code_hash, acct.code)
        items.sort()
        return build(store, items)

    def _reset(self, root: bytes) -> None:
        self._root = root
        self._trie = MPT(self.store, root, self.cache)

    # ----------------------------------------------------------------- reads
    def account(
        self, address: int, root: bytes | None = None
    ) -> tuple[int, int, bytes, bytes] | None:
        """(nonce, balance, storage_root, code_hash) at ``root`` (default: latest), or None."""
        trie = self._trie if root is None else MPT(self.store, root, self.cache)
        encoded = trie.get(_account_key(address))
        return _decode_account(encoded) if encoded is not None else None

    def account_proof(self, address: int, root: bytes | None = None) -> list[bytes]:
        """Account-trie nodes proving the account (or its absence) at ``root``."""
        return prove(self.store.get, self._root if root is None else root, _account_key(address))

    def storage_proof(self, address: int, slot: int, root: bytes | None = None) -> list[bytes]:
        """Storage-trie nodes proving ``slot`` of ``address`` at state ``root``."""
        found = self.account(address, root)
        storage_root = found[2] if found is not None else EMPTY_TRIE_ROOT
        return prove(self.store.get, storage_root, _slot_key(slot))

    def get_proof(self, address: int, slots: list[int], root: bytes | None = None) -> AccountProof:
        """Everything ``eth_getProof`` returns, at state ``root`` (default: latest)."""
        root = self._root if root is None else root
        found = self.account(address, root)
        if found is None:
            nonce, balance, storage_root, code_hash = 0, 0, EMPTY_TRIE_ROOT, EMPTY_KECCAK
        else:
            nonce, balance, storage_root, code_hash = found
        result = AccountProof(
            address, nonce, balance, storage_root, code_hash, self.account_proof(address, root)
        )
        storage = MPT(self.store, storage_root, self.cache)
        for slot in slots:
            encoded = storage.get(_slot_key(slot))
            value = rlp.decode_uint(rlp.decode(encoded)) if encoded is not None else 0
            proof = prove(self.store.get, storage_root, _slot_key(slot))
            result.storage_proof.append(StorageProof(slot, value, proof))
        return result


def _give_back(
    state: WorldState,
    taken: tuple[dict[int, None], dict[int, dict[int, None]], dict[int, None]],
) -> None:
    """Merge dirty sets taken by a failed commit back into ``state``."""
    written, slots, deleted = taken
    written.update(state.dirty_accounts)
    state.dirty_accounts = written
    for address, more in state.dirty_slots.items():
        slots.setdefault(address, {}).update(more)
    state.dirty_slots = slots
    deleted.update(state.deleted_accounts)
    state.deleted_accounts = deleted


def load(db: ChainDB, root: bytes, *, verify: bool = False) -> WorldState:
    """The world state at ``root``, rebuilt from the flat tables of ``db``.

    The flat tables hold the last committed state only: ``root`` must be it
    (the node passes its head block's state root). ``verify`` recomputes the
    root from scratch and compares.
    """
    stored = db.state_root()
    if stored is None:
        stored = EMPTY_TRIE_ROOT
    if stored != root:
        raise StoreError(
            f"the flat state tables hold root 0x{stored.hex()}, not 0x{bytes(root).hex()}"
        )
    accounts: dict[int, Account] = {}
    codes: dict[bytes, bytes] = {EMPTY_KECCAK: b""}
    with db.snapshot(), _no_gc():
        for address, encoded in db.iter_accounts():
            nonce, balance, _, code_hash = _decode_account(encoded)
            code = codes.get(code_hash)
            if code is None:
                code = db.get_code(code_hash)
                if code is None:
                    raise StoreError(f"code 0x{code_hash.hex()} missing from the database")
                codes[code_hash] = code
            accounts[address] = Account(nonce, balance, code)
        for address, slot, value in db.iter_storage():
            acct = accounts.get(address)
            if acct is None:
                raise StoreError(f"storage of absent account 0x{address:040x}")
            acct.storage[slot] = value
    state = WorldState(accounts)
    if verify:
        computed = state_root(state)
        if computed != root:
            raise StoreError(f"loaded state has root 0x{computed.hex()}, not 0x{root.hex()}")
    return state
