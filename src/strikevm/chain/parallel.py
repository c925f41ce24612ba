"""Optimistic parallel execution of a block's transactions, bit-identical to sequential.

Design (docs/parallel.md): Monad-style *execute optimistically, validate and commit in
order*, with worker processes (CPython's GIL rules out threads), scheduled from both
ends of the block:

1. The block's begin steps run in the main process. The transactions are cut into
   small batches. The main process takes batches from the **front** and executes
   them directly on the committed state (plain :meth:`BlockBuilder.add`: exactly
   sequential execution). Processes forked after the begin steps (sharing the
   pre-block state and the warm code caches copy-on-write) take batches from the
   **back** (:class:`_Claims`: two counters in shared memory).
2. A forked executor runs each batch on a :class:`BatchView` of the pre-block state:
   a journaled world state that records the first value the batch *read* of every
   field and slot (account existence, nonce, balance, code, "has storage", storage
   slots, native contracts' slots included) and returns what it *wrote*: nonce and
   balance as deltas, code and slots as values, deletions, blind balance credits,
   blind storage additions. Results go back over a pipe.
3. Where front and back meet, the main process takes the executors' batches in
   block order and checks every recorded read against the committed state: all
   equal, the write set is applied; otherwise the batch is re-executed through
   :meth:`BlockBuilder.add`. A batch's execution is a function of the values it
   read, so equal reads mean an equal execution: the committed state, receipts,
   logs and gas are the sequential ones.

False conflicts removed (the rules Ethereum semantics allow):

- **Blind balance credits.** A credit to an account the batch never looked at (the
  coinbase's priority fee) is applied at commit as ``+= amount`` and reads nothing.
- **Deltas, not values.** Balance and nonce changes are kept as deltas; a balance is
  a read only when something looked at it.
- **Sender nonce and balance.** The sender's nonce is read as "equals the
  transaction's nonce", the balance check of validation as a minimum.
- **EIP-161 touches.** Each touch is decided at the end of its transaction: without
  reads when the nonce, balance or a blind credit grew, else through the predicate
  "alive", which other transactions' credits do not change.
- **Commutative storage additions.** ``Host.accumulate`` (a flat-priced ``slot +=
  delta`` never read back) on a slot the batch did not read is applied at commit.

Never much slower than sequential: small blocks, cheap transactions and
``workers <= 1`` take the sequential path; executors' results that already conflict
with the committed prefix stop them early; :class:`ParallelPolicy` keeps blocks
sequential for a while after conflicting ones. Metrics (:class:`ParallelStats`)
report what happened. None of these scheduling decisions can change a result.
"""
from __future__ import annotations

import contextlib
import gc
import mmap
import os
import pickle
import select
import signal
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from strikevm.chain.executor import TxResult, apply_transaction
from strikevm.chain.transaction import Transaction, TransactionError
from strikevm.state.account import Account
from strikevm.state.overlay import MISSING, LazyAccounts, LazyStorage
from strikevm.state.world import Log, WorldState
from strikevm.vm.env import GAS_PER_BLOB

if TYPE_CHECKING:
    from strikevm.chain.pipeline import BlockBuilder

__all__ = [
    "ABORT_CONFLICT_PERCENT",
    "MIN_GAS_PER_TX",
    "MIN_PARALLEL_TXS",
    "BlockTransactionError",
    "ParallelPolicy",
    "ParallelStats",
    "BatchView",
    "WriteSet",
    "apply_writes",
    "run_batch",
    "choose_mode",
    "default_workers",
    "execute_transactions",
    "validate_reads",
]

MIN_PARALLEL_TXS = 200  # fewer transactions: the sequential path (the fork does not pay)
ABORT_CONFLICT_PERCENT = 50  # forked results re-executed above this share: finish sequentially
ABORT_MIN_SAMPLES = 8  # forked results seen before the abort rule applies
EARLY_MIN_BATCHES = 2  # executors' batches checked early before they may be stopped
MAX_BATCH = 32
LOCK_TIMEOUT_S = 10  # an executor holding the batch counters longer is presumed dead
WAIT_TIMEOUT_S = 60  # an executor silent this long is presumed stuck (liveness only)
MAX_BACKOFF = 64  # blocks run sequentially at most after a block of conflicts
DEFAULT_RESERVE = 0  # batches left to the forked executors when no ``reserve`` is given
MIN_GAS_PER_TX = 25_000  # less (plain transfers): the recording overhead eats the gain

_NONCE = Account.nonce  # the slot descriptors of the plain account fields
_BALANCE = Account.balance
_CODE = Account.code
_nget = _NONCE.__get__  # type: ignore[attr-defined]
_nset = _NONCE.__set__  # type: ignore[attr-defined]
_bget = _BALANCE.__get__  # type: ignore[attr-defined]
_bset = _BALANCE.__set__  # type: ignore[attr-defined]
_cget = _CODE.__get__  # type: ignore[attr-defined]
_cset = _CODE.__set__  # type: ignore[attr-defined]
_dget = dict.get
_dset = dict.__setitem__

_J_BALANCE = 2  # journal tags of state.world (balance and nonce entries)
_J_NONCE = 1
_J_CREDIT = 100  # a blind credit; WorldState.revert ignores unknown tags, BatchView undoes it
_J_ADD = 101  # a blind storage addition (Host.accumulate), likewise
_WORD = (1 << 256) - 1

# kinds of account writes
W_DELTA = 0  # (addr, W_DELTA, nonce delta, balance delta, new code or None, slots)
W_ABS = 1  # (addr, W_ABS, nonce, balance, code, slots): a fresh account, storage from scratch
W_DEL = 2  # (addr, W_DEL, 0, 0, None, slots): deleted (self-destruct); slots marked dirty
W_CREDIT = 3  # (addr, W_CREDIT, 0, amount, None, ()): blind credit, created when absent
W_ADD = 4  # (addr, W_ADD, 0, 0, None, ((slot, delta), ...)): blind storage additions


def default_workers() -> int:
    """The default executor count: the cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class BlockTransactionError(Exception):
    """Transaction ``index`` of the block was refused (``error``); the block is invalid."""

    def __init__(self, index: int, error: TransactionError) -> None:
        super().__init__(f"transaction {index}: {type(error).__name__}: {error}")
        self.index = index
        self.error = error
        self.stats: ParallelStats | None = None  # what the executor did up to it


# ------------------------------------------------------------------ recording view


class _Tracked(Account):
    """An account copied into a :class:`BatchView`: reads of nonce, balance and code recorded.

    The recorded value is the one the account had when the view loaded it
    (``_n0``, ``_b0``, ``_h0``), whatever the batch wrote since: the batch
    depends on the base value plus its own deltas.
    """

    __slots__ = ("_view", "_addr", "_n0", "_b0", "_h0", "_c0")

    _view: BatchView
    _addr: int
    _n0: int
    _b0: int
    _h0: bytes
    _c0: bytes  # the code when loaded (a change is written whole)

    @property  # type: ignore[override]
    def nonce(self) -> int:
        self._view.r_nonce[self._addr] = self._n0
        return _nget(self)  # type: ignore[no-any-return]

    @nonce.setter
    def nonce(self, value: int) -> None:
        _nset(self, value)

    @property  # type: ignore[override]
    def balance(self) -> int:
        view = self._view
        value: int = _bget(self)
        if view.validating:
            # validation's check "balance >= max cost", as a condition on the base value
            need = view.max_cost - (value - self._b0)
            old = view.r_balance_min.get(self._addr)
            if old is None or need > old:
                view.r_balance_min[self._addr] = need
        else:
            view.r_balance[self._addr] = self._b0
        return value

    @balance.setter
    def balance(self, value: int) -> None:
        _bset(self, value)

    @property  # type: ignore[override]
    def code(self) -> bytes:
        self._view.r_code[self._addr] = self._h0
        return _cget(self)  # type: ignore[no-any-return]

    @code.setter
    def code(self, value: bytes) -> None:
        _cset(self, value)


class BatchView(WorldState):
    """A batch of transactions' world state over ``base``: reads recorded, writes collected.

    The transactions run one after the other on the view, exactly as on a
    :class:`WorldState` (each sees the effects of the earlier ones); call
    :meth:`prepare` before each. Accounts are copied from ``base`` on first
    access as :class:`_Tracked` objects and slots are read from the base
    account on demand; what is recorded is the *first* value the batch saw of
    each field and slot, before its own writes. :meth:`write_set` returns the
    batch's combined writes and reads.

    ``inexact`` is set when the view met a case it does not model exactly (a
    blind addition read back, or weighed by a creation-collision check, in its
    own transaction; an account with pending additions replaced; a credit
    reverted after its account was deleted): the batch's result must then be
    thrown away and the batch run by the committing process.
    """

    def __init__(self, base: WorldState) -> None:
        self.base = base
        self.r_exists: dict[int, bool] = {}
        self.r_nonce: dict[int, int] = {}
        self.r_balance: dict[int, int] = {}
        self.r_balance_min: dict[int, int] = {}
        self.r_code: dict[int, bytes] = {}
        self.r_has_storage: dict[int, bool] = {}
        self.r_slots: dict[tuple[int, int], int] = {}
        self.credits: dict[int, int] = {}  # blind balance credits (never-loaded accounts)
        self.credit_entries: dict[int, int] = {}  # how many credits (a revert removes them)
        self.r_alive: dict[int, bool] = {}  # EIP-161: "exists and is not empty" of the base
        self.slot_adds: dict[tuple[int, int], int] = {}  # blind additions to unread slots
        self.tx_adds: set[tuple[int, int]] = set()  # of those, made by the current transaction
        self.inexact = False
        self.max_cost = 0
        self.validating = False
        super().__init__(LazyAccounts(self._load))  # runs begin_transaction()

    def prepare(self, tx: Transaction) -> None:
        """Set up the next transaction's validation reads (sender nonce and balance)."""
        self.max_cost = _max_cost(tx)
        sender = tx.sender
        acct = self.accounts.get(sender)
        if (
            type(acct) is _Tracked
            and sender not in self.r_nonce
            and _nget(acct) == acct._n0 < tx.nonce
        ):
            # an earlier transaction of this sender runs elsewhere: assume its nonce
            _nset(acct, tx.nonce)
            acct._n0 = tx.nonce
        self.validating = True  # until apply_transaction's begin_transaction()

    def _track(self, addr: int, base_acct: Account) -> _Tracked:
        acct = _Tracked.__new__(_Tracked)
        acct._view = self
        acct._addr = addr
        n = _nget(base_acct)
        b = _bget(base_acct)
        code = _cget(base_acct)
        _nset(acct, n)
        _bset(acct, b)
        _cset(acct, code)
        acct._c0 = code
        acct._n0 = n
        acct._b0 = b
        acct._code_hash = base_acct._code_hash
        acct._h0 = base_acct.code_hash
        src = base_acct.storage
        get = src.get
        slots = self.r_slots

        adds = self.slot_adds

        def read(slot: int) -> int:
            value: int = get(slot, 0) or 0
            key = (addr, slot)
            slots[key] = value
            if adds and key in adds:  # earlier blind additions are part of what is read
                if key in self.tx_adds:  # ... of this transaction: "original" not modelled
                    self.inexact = True
                return (value + adds.pop(key)) & _WORD
            return value

        def nonempty() -> bool:
            if adds and any(k[0] == addr for k in adds):
                self.inexact = True  # pending additions would decide it: not modelled
            found = base_acct.has_storage()
            self.r_has_storage[addr] = found
            return found

        acct.storage = LazyStorage(read, nonempty, src, None)
        return acct

    def _load(self, addr: int) -> Account | None:
        base_acct = self.base.accounts.get(addr)
        self.r_exists[addr] = base_acct is not None
        if addr in self.credits:
            # blind credits of earlier transactions of the batch become part of the
            # loaded account (a credit, even of 0, created an absent account)
            pending = self.credits.pop(addr)
            self.credit_entries.pop(addr, None)
            if base_acct is None:
                return Account(balance=pending)
            acct = self._track(addr, base_acct)
            _bset(acct, _bget(acct) + pending)
            return acct
        if base_acct is None:
            return None
        return self._track(addr, base_acct)

    # -------------------------------------------------- substate
    def begin_transaction(self) -> None:
        self.validating = False
        self.tx_adds = set()
        super().begin_transaction()

    def add_storage(self, addr: int, slot: int, delta: int) -> None:
        acct = _dget(self.accounts, addr, MISSING)
        if type(acct) is _Tracked and _dget(acct.storage, slot, MISSING) is MISSING:
            # a slot the batch never looked at: a blind addition, applied at commit
            key = (addr, slot)
            self.slot_adds[key] = (self.slot_adds.get(key, 0) + delta) & _WORD
            self.tx_adds.add(key)
            self.journal.append((_J_ADD, addr, slot, delta))
            return
        super().add_storage(addr, slot, delta)

    def add_balance(self, addr: int, amount: int) -> None:
        if _dget(self.accounts, addr, MISSING) is MISSING:
            # never looked at: a blind credit (the coinbase's fee), applied at commit
            self.credits[addr] = self.credits.get(addr, 0) + amount
            self.credit_entries[addr] = self.credit_entries.get(addr, 0) + 1
            self.journal.append((_J_CREDIT, addr, amount))
            return
        acct = self._ensure(addr)
        b = _bget(acct)
        self.journal.append((_J_BALANCE, addr, b))
        _bset(acct, b + amount)

    def sub_balance(self, addr: int, amount: int) -> None:
        acct = self._ensure(addr)
        b = _bget(acct)
        self.journal.append((_J_BALANCE, addr, b))
        _bset(acct, b - amount)

    def increment_nonce(self, addr: int) -> None:
        acct = self._ensure(addr)
        n = _nget(acct)
        self.journal.append((_J_NONCE, addr, n))
        _nset(acct, n + 1)

    def revert(self, checkpoint: int) -> None:
        """Undo back to ``checkpoint``, entry by entry in reverse order (the blind
        entries interleaved with the others: a credit folded into an account that was
        replaced afterwards is taken back from that account once it is restored)."""
        journal = self.journal
        credits = self.credits
        base_revert = super().revert
        while len(journal) > checkpoint:
            entry = journal[-1]
            tag = entry[0]
            if tag == _J_ADD:
                journal.pop()
                key = (entry[1], entry[2])
                if key in self.slot_adds:
                    self.slot_adds[key] = (self.slot_adds[key] - entry[3]) & _WORD
                else:  # read since the addition: not modelled
                    self.inexact = True
            elif tag == _J_CREDIT:
                journal.pop()
                addr = entry[1]
                if addr in credits:
                    credits[addr] -= entry[2]
                    self.credit_entries[addr] -= 1
                    if not self.credit_entries[addr]:  # as if never credited
                        del credits[addr], self.credit_entries[addr]
                else:  # loaded since the credit: the credit is in its balance
                    acct = _dget(self.accounts, addr, MISSING)
                    if isinstance(acct, Account):
                        _bset(acct, _bget(acct) - entry[2])
                    else:  # deleted since: not modelled
                        self.inexact = True
            else:
                base_revert(len(journal) - 1)  # this one entry

    def finalize_transaction(self) -> None:
        """Self-destructs and EIP-161 deletions as sequential, reading only what they need."""
        accounts = self.accounts
        dirty = self.dirty_accounts
        deleted = self.deleted_accounts
        for addr in self.destructs:
            accounts.pop(addr, None)
            dirty[addr] = None
            deleted[addr] = None
            self._drop_adds(addr)
        for addr in self.touched:
            acct = _dget(accounts, addr, MISSING)
            if acct is MISSING:  # never loaded: only credited blind, or only touched
                if self.credits.get(addr, 0) > 0:
                    continue  # a positive credit on a non-negative base: not empty
                base_acct = self.base.accounts.get(addr)
                alive = base_acct is not None and (
                    _nget(base_acct) != 0 or _bget(base_acct) != 0 or bool(_cget(base_acct))
                )
                self.r_alive[addr] = alive  # a predicate: the base value itself is not read
                if not alive and (addr in self.credits or base_acct is not None):
                    # sequential execution deletes it here (empty, or made by a 0 credit)
                    self.credits.pop(addr, None)
                    self.credit_entries.pop(addr, None)
                    _dset(accounts, addr, None)
                    dirty[addr] = None
                    deleted[addr] = None
                    self._drop_adds(addr)
                continue
            if acct is not None and self._empty(addr, acct):
                accounts.pop(addr)
                dirty[addr] = None
                deleted[addr] = None
                self._drop_adds(addr)
        for entry in self.journal:  # blind writes that were not reverted are writes
            if entry[0] == _J_ADD:
                dirty[entry[1]] = None
                self.dirty_slots.setdefault(entry[1], {})[entry[2]] = None
            elif entry[0] == _J_CREDIT:
                dirty[entry[1]] = None
        self._collect_dirty()
        self.journal.clear()

    def _drop_adds(self, addr: int) -> None:
        """The account is gone, and its storage with it: its pending additions too."""
        if self.slot_adds:
            for key in [k for k in self.slot_adds if k[0] == addr]:
                del self.slot_adds[key]

    def create_account(self, addr: int) -> None:
        if self.slot_adds and any(k[0] == addr for k in self.slot_adds):
            self.inexact = True  # replacing an account with pending additions: not modelled
        super().create_account(addr)

    def _empty(self, addr: int, acct: Account) -> bool:
        n = _nget(acct)
        b = _bget(acct)
        if type(acct) is _Tracked:
            if n > acct._n0 or b > acct._b0:
                return False  # grown from a non-negative base: not empty, whatever the base
            # the answer depends on the base values: record them
            self.r_nonce[addr] = acct._n0
            self.r_balance[addr] = acct._b0
            self.r_code[addr] = acct._h0
        return n == 0 and b == 0 and not _cget(acct)

    # -------------------------------------------------- results
    def write_set(self) -> WriteSet:
        """What the finished transactions wrote, and what they read."""
        written, slots, deleted = self.take_dirty()
        accounts = self.accounts
        writes: list[tuple[Any, ...]] = []
        for addr in written:
            acct = _dget(accounts, addr, MISSING)
            changed = slots.get(addr)
            if acct is None:  # deleted (slots listed for the dirty sets only)
                writes.append((addr, W_DEL, 0, 0, None, tuple((s, 0) for s in changed or ())))
                continue
            if acct is MISSING:  # pragma: no cover - a write always loads the account
                continue
            storage = acct.storage
            if changed and self.slot_adds:
                adds = self.slot_adds
                blind = tuple((s, adds[(addr, s)]) for s in changed if (addr, s) in adds)
                if blind:
                    writes.append((addr, W_ADD, 0, 0, None, blind))
                    changed = {s: None for s in changed if (addr, s) not in adds}
            sv = tuple((s, _dget(storage, s, 0)) for s in changed) if changed else ()
            if type(acct) is _Tracked:
                code = _cget(acct)
                writes.append((addr, W_DELTA, _nget(acct) - acct._n0, _bget(acct) - acct._b0,
                               None if code is acct._c0 else code, sv))  # fmt: skip
            else:
                writes.append((addr, W_ABS, _nget(acct), _bget(acct), _cget(acct), sv))
        for addr, amount in self.credits.items():
            writes.append((addr, W_CREDIT, 0, amount, None, ()))
        reads = (
            tuple(self.r_exists.items()),
            tuple(self.r_nonce.items()),
            tuple(self.r_balance.items()),
            tuple(self.r_balance_min.items()),
            tuple(self.r_code.items()),
            tuple(self.r_has_storage.items()),
            tuple(self.r_slots.items()),
            tuple(self.r_alive.items()),
        )
        return WriteSet(tuple(writes), tuple(deleted), reads)


def _max_cost(tx: Transaction) -> int:
    """The most the transaction may cost its sender (the balance check of validation)."""
    cost = tx.gas_limit * tx.fee_cap + tx.value
    if tx.tx_type == 3 and tx.max_fee_per_blob_gas is not None:
        cost += len(tx.blob_versioned_hashes) * GAS_PER_BLOB * tx.max_fee_per_blob_gas
    return cost


@dataclass(slots=True)
class WriteSet:
    """A batch's writes (see the ``W_*`` kinds), deletions and reads."""

    writes: tuple[tuple[Any, ...], ...]
    deleted: tuple[int, ...]  # storage starts over (replaced or destroyed accounts)
    reads: tuple[tuple[Any, ...], ...]


def validate_reads(
    state: WorldState, reads: tuple[tuple[Any, ...], ...], *, prefix: bool = False
) -> bool:
    """True when every recorded read gives the same answer in ``state``.

    ``prefix``: ``state`` holds only part of the transactions before the batch (the
    early check): a sender's nonce may still be below the one the batch assumed.
    """
    exists, nonces, balances, minimums, codes, has_storage, slots, alive = reads
    accounts = state.accounts
    get = accounts.get
    for addr, present in exists:
        if (get(addr) is not None) != present:
            return False
    for addr, value in nonces:
        nonce = get(addr).nonce
        if nonce != value and not (prefix and nonce < value):
            return False
    for addr, value in balances:
        if get(addr).balance != value:
            return False
    for addr, value in minimums:
        if get(addr).balance < value:
            return False
    for addr, value in codes:
        if get(addr).code_hash != value:
            return False
    for addr, value in has_storage:
        if get(addr).has_storage() != value:
            return False
    for (addr, slot), value in slots:
        acct = get(addr)
        if (acct.storage.get(slot, 0) or 0) != value:
            return False
    is_alive = state.is_alive
    for addr, value in alive:
        if is_alive(addr) != value:
            return False
    return True


def apply_writes(state: WorldState, ws: WriteSet) -> None:
    """Apply a validated write set to ``state``, with the dirty bookkeeping of sequential."""
    accounts = state.accounts
    dirty = state.dirty_accounts
    dirty_slots = state.dirty_slots
    deleted = state.deleted_accounts
    for addr, kind, a, b, code, slots in ws.writes:
        dirty[addr] = None
        if kind == W_DELTA:
            acct = accounts.get(addr)
            if a:
                acct.nonce += a
            if b:
                acct.balance += b
            if code is not None:
                acct.set_code(code)
            if slots:
                storage = acct.storage
                for slot, value in slots:
                    storage[slot] = value
        elif kind == W_ABS:
            acct = Account(a, b, code, dict(slots))
            accounts[addr] = acct
        elif kind == W_ADD:
            storage = accounts.get(addr).storage
            for slot, delta in slots:
                storage[slot] = ((storage.get(slot, 0) or 0) + delta) & _WORD
        elif kind == W_DEL:
            accounts.pop(addr, None)
        else:  # W_CREDIT
            acct = accounts.get(addr)
            if acct is None:
                acct = accounts[addr] = Account()
            acct.balance += b
        if slots:
            marks = dirty_slots.get(addr)
            if marks is None:
                marks = dirty_slots[addr] = {}
            for slot, _ in slots:
                marks[slot] = None
    for addr in ws.deleted:
        deleted[addr] = None


def run_batch(
    state: WorldState, builder: BlockBuilder, txs: Sequence[Transaction], *, apply: bool = True
) -> tuple[list[TxResult], WriteSet] | None:
    """Run ``txs`` in order on one recording view over ``state``; with ``apply``, apply
    their writes to ``state``.

    Returns the results of the transactions that ran (a refused one ends the
    batch: it and the rest are left to the committing process) and the batch's
    write set, or None when the view could not model the batch exactly.
    """
    view = BatchView(state)
    results: list[TxResult] = []
    env, engine, system = builder.env, builder.engine, builder.system
    for tx in txs:
        view.prepare(tx)
        try:
            results.append(apply_transaction(view, env, tx, engine=engine, system=system))
        except TransactionError:
            break
    if view.inexact:
        return None
    ws = view.write_set()
    if apply:
        apply_writes(state, ws)
    return results, ws


def _pack(item: tuple[list[TxResult], WriteSet] | None) -> tuple[Any, ...] | None:
    """Plain tuples pickle several times faster than dataclasses and slotted objects."""
    if item is None:
        return None
    results, ws = item
    return (
        [
            (r.success, r.gas_used, r.output,
             tuple((log.address, log.topics, log.data) for log in r.logs),
             r.contract_address, r.effective_gas_price, r.blob_gas_used, r.error, r.gas_spent)
            for r in results
        ],
        (ws.writes, ws.deleted, ws.reads),
    )  # fmt: skip


def _unpack(packed: tuple[Any, ...]) -> tuple[list[TxResult], WriteSet]:
    results, ws = packed
    return [
        TxResult(success, gas_used, output, [Log(a, t, d) for a, t, d in logs], created,
                 price, blob_gas, error, spent)
        for success, gas_used, output, logs, created, price, blob_gas, error, spent in results
    ], WriteSet(*ws)  # fmt: skip


# ------------------------------------------------------------------ metrics


@dataclass
class ParallelStats:
    """What the parallel executor did with one block (wall-clock figures are metrics only)."""

    mode: str  # "parallel" or "sequential"
    reason: str  # why the mode was chosen (or why the parallel run stopped)
    workers: int  # executors (the main process included)
    transactions: int
    batch_size: int = 0
    optimistic: int = 0  # results of forked executors examined
    committed: int = 0  # of those, committed without re-execution
    reexecuted: int = 0  # of those, re-executed by the main process
    main_executed: int = 0  # executed directly by the main process (own batches, tail)
    aborted_at: int | None = None  # first transaction run sequentially after an abort
    early_checked: int = 0  # executors' batches checked while the main process ran the front
    early_conflicts: int = 0  # of those, already in conflict with the state committed so far
    # timings (nanoseconds, metrics only; 0 unless a clock is given)
    wall_ns: int = 0
    worker_ns: int = 0  # execution time spent in forked executors
    main_ns: int = 0  # execution time spent in the main process
    conflicts: list[int] = field(default_factory=list)  # indices re-executed

    @property
    def conflict_permille(self) -> int:
        return self.reexecuted * 1000 // self.optimistic if self.optimistic else 0

    @property
    def speedup_permille(self) -> int:
        """Execution work done over wall time, x1000 (1000 on the sequential path)."""
        if self.mode != "parallel" or not self.wall_ns:
            return 1000
        useful = self.main_ns + self.worker_ns
        return useful * 1000 // self.wall_ns if useful else 1000

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "reason": self.reason,
            "workers": self.workers,
            "transactions": self.transactions,
            "batch_size": self.batch_size,
            "optimistic": self.optimistic,
            "committed": self.committed,
            "reexecuted": self.reexecuted,
            "main_executed": self.main_executed,
            "aborted_at": self.aborted_at,
            "early_checked": self.early_checked,
            "early_conflicts": self.early_conflicts,
            "conflict_permille": self.conflict_permille,
            "wall_ns": self.wall_ns,
            "speedup_permille": self.speedup_permille,
        }


# ------------------------------------------------------------------ the executor


@dataclass
class ParallelPolicy:
    """The observed conflict rate, carried from block to block (the node keeps one).

    After a parallel block whose forked results were mostly re-executed (above
    :data:`ABORT_CONFLICT_PERCENT`), the next blocks run sequentially: 1, then 2,
    4, ... up to :data:`MAX_BACKOFF` blocks while conflicts persist; a block that
    runs in parallel with few conflicts resets the backoff. It decides from counts
    only, never from time.
    """

    backoff: int = 0  # blocks still to run sequentially
    penalty: int = 0  # the length of the next backoff

    def decide(self) -> str | None:
        if self.backoff <= 0:
            return None
        self.backoff -= 1
        return f"recent conflicts: sequential ({self.backoff} more block(s) after this one)"

    def observe(self, stats: ParallelStats) -> None:
        if stats.mode != "parallel" or not (stats.optimistic or stats.early_checked):
            return
        late = stats.reexecuted * 100 > ABORT_CONFLICT_PERCENT * stats.optimistic
        early = stats.early_conflicts * 100 > ABORT_CONFLICT_PERCENT * stats.early_checked
        if (stats.optimistic and late) or (stats.early_checked and early):
            self.penalty = min(MAX_BACKOFF, max(1, 2 * self.penalty))
            self.backoff = self.penalty
        else:
            self.penalty = 0



def choose_mode(
    txs: Sequence[Transaction],
    workers: int,
    *,
    min_txs: int = MIN_PARALLEL_TXS,
    min_gas_per_tx: int = MIN_GAS_PER_TX,
    gas_used: int | None = None,
) -> str | None:
    """Why the block runs sequentially, or None to run it in parallel.

    The cost of running a transaction on a forked executor (recording view,
    write set, transfer, validation, commit) is paid per transaction and per
    account and slot touched, whatever the gas: transactions doing little work
    cost more in parallel than in sequence. ``gas_used`` (the header's, when a
    received block is imported) or else the sum of the gas limits gives the
    average work per transaction.
    """
    n = len(txs)
    if workers <= 1:
        return "one executor"
    if n < max(2, min_txs):
        return f"{n} transactions (parallel from {max(2, min_txs)})"
    gas = gas_used if gas_used is not None else sum(tx.gas_limit for tx in txs)
    if gas < min_gas_per_tx * n:
        return f"{gas // n} gas per transaction (parallel from {min_gas_per_tx})"
    return None


def batch_size(n: int, workers: int) -> int:
    """Small batches (early conflict detection, balance), at least 8 per executor round."""
    return max(4, min(MAX_BATCH, n // (workers * 8) or 1))


def _sequential(builder: BlockBuilder, txs: Sequence[Transaction], start: int) -> None:
    add = builder.add
    for index in range(start, len(txs)):
        try:
            add(txs[index])
        except TransactionError as exc:
            raise BlockTransactionError(index, exc) from exc


def execute_transactions(
    builder: BlockBuilder,
    txs: Sequence[Transaction],
    *,
    workers: int,
    min_txs: int | None = None,
    min_gas_per_tx: int | None = None,
    gas_used: int | None = None,
    batch: int | None = None,
    abort_percent: int = ABORT_CONFLICT_PERCENT,
    reserve: int | None = None,
    policy: ParallelPolicy | None = None,
    clock: Callable[[], int] | None = None,
) -> ParallelStats:
    """Include ``txs`` in ``builder``'s block, in order, with up to ``workers`` executors.

    The builder's begin steps must have run. The result (state, receipts, logs,
    gas) is the sequential one; a refused transaction raises
    :class:`BlockTransactionError` with its index, the earlier ones included.
    ``clock`` (nanoseconds, e.g. ``time.perf_counter_ns``) only fills the timing metrics.
    ``reserve`` batches at the end are left to the forked executors whatever their
    speed (tests use it to be sure parallel work happened; 0 balances by itself).
    ``policy`` carries the conflict rate of earlier blocks (see :class:`ParallelPolicy`).
    """
    perf = clock if clock is not None else _no_clock
    t0 = perf()
    n = len(txs)
    reason = choose_mode(
        txs,
        workers,
        min_txs=MIN_PARALLEL_TXS if min_txs is None else min_txs,
        min_gas_per_tx=MIN_GAS_PER_TX if min_gas_per_tx is None else min_gas_per_tx,
        gas_used=gas_used,
    )
    if reason is None and not hasattr(os, "fork"):  # pragma: no cover - not POSIX
        reason = "no fork() on this platform"
    if reason is None and policy is not None:
        reason = policy.decide()
    if reason is not None:
        stats = ParallelStats("sequential", reason, 1, n, main_executed=n)
        try:
            _sequential(builder, txs, 0)
        except BlockTransactionError as exc:
            stats.main_executed = exc.index
            exc.stats = stats
            raise
        stats.wall_ns = perf() - t0
        stats.main_ns = stats.wall_ns
        return stats
    size = batch or batch_size(n, workers)
    batches = [(start, min(start + size, n)) for start in range(0, n, size)]
    stats = ParallelStats("parallel", "parallel", workers, n, batch_size=size)
    _reap(block=len(_UNREAPED) > 64)
    claims = _Claims(len(batches), DEFAULT_RESERVE if reserve is None else reserve)
    # The objects that exist now stay out of the collector's reach until the block is
    # done: a full collection would write to every page the executors share.
    gc.freeze()
    try:
        children = _fork_executors(builder, txs, batches, claims, workers, perf)
        try:
            _run_main(builder, txs, batches, claims, children, stats, abort_percent, perf)
        except BlockTransactionError as exc:
            exc.stats = stats
            stats.reason = f"transaction {exc.index} refused"
            raise
        finally:
            _stop(children, claims)
    finally:
        gc.unfreeze()
        claims.close()
    stats.wall_ns = perf() - t0
    if policy is not None:
        policy.observe(stats)
    return stats


def _no_clock() -> int:
    return 0


class _Claims:
    """Which batches are taken: the main process from the front, executors from the back.

    Two counters in memory shared with the forked executors, under one lock:
    ``front`` (the next batch the main process takes) and ``back`` (one past the
    last batch not yet taken by an executor). Where they meet, the main process
    stops executing and commits the executors' batches. ``reserve`` batches at
    the end are never taken from the front.
    """

    def __init__(self, batches: int, reserve: int = 0) -> None:
        self.shared = mmap.mmap(-1, 16)  # anonymous: shared with the processes forked later
        struct.pack_into("<qq", self.shared, 0, 0, batches)
        # the lock is a token in a pipe: whoever reads the byte holds it
        self.token_r, self.token_w = os.pipe()
        os.set_blocking(self.token_r, False)
        os.write(self.token_w, b"t")
        self.front_limit = batches - min(reserve, batches)  # the main process stops here
        self.broken = False  # the lock stayed held (an executor died holding it)

    def close(self) -> None:
        os.close(self.token_r)
        os.close(self.token_w)
        self.shared.close()

    def _acquire(self) -> bool:
        # a liveness guard only: what is taken by whom never changes a result
        while not self.broken:
            try:
                if os.read(self.token_r, 1):
                    return True
            except BlockingIOError:
                pass
            ready, _, _ = select.select([self.token_r], [], [], LOCK_TIMEOUT_S)
            if not ready:
                self.broken = True
        return False

    def _take(self, from_front: bool) -> int | None:
        if not self._acquire():
            return None
        try:
            front, back = struct.unpack_from("<qq", self.shared, 0)
            if from_front:
                if front >= back or front >= self.front_limit:
                    return None
                struct.pack_into("<q", self.shared, 0, front + 1)
                return int(front)
            if back <= front:
                return None
            struct.pack_into("<q", self.shared, 8, back - 1)
            return int(back - 1)
        finally:
            os.write(self.token_w, b"t")

    def take_front(self) -> int | None:
        return self._take(True)

    def drain(self) -> None:
        """Nothing more is taken, from either end."""
        if not self._acquire():
            return
        try:
            front, back = struct.unpack_from("<qq", self.shared, 0)
            struct.pack_into("<q", self.shared, 0, max(front, back))
        finally:
            os.write(self.token_w, b"t")

    def take_back(self) -> int | None:
        return self._take(False)


@dataclass
class _Child:
    pid: int
    fd: int
    alive: bool = True
    buffer: bytearray = field(default_factory=bytearray)


def _fork_executors(
    builder: BlockBuilder,
    txs: Sequence[Transaction],
    batches: list[tuple[int, int]],
    claims: _Claims,
    workers: int,
    perf: Callable[[], int],
) -> dict[int, _Child]:
    children: dict[int, _Child] = {}
    for w in range(1, workers):
        read_fd, write_fd = os.pipe()
        with contextlib.suppress(OSError, AttributeError):
            import fcntl

            fcntl.fcntl(write_fd, 1031, 1 << 20)  # F_SETPIPE_SZ: 1 MiB
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            os.close(read_fd)
            for other in children.values():
                os.close(other.fd)
            gc.disable()  # short-lived: the collector would only copy shared pages
            _child_main(builder, txs, batches, claims, write_fd, perf)
        os.close(write_fd)
        os.set_blocking(read_fd, False)
        children[w] = _Child(pid, read_fd)
    return children


def _child_main(  # pragma: no cover - runs in the forked executor
    builder: BlockBuilder,
    txs: Sequence[Transaction],
    batches: list[tuple[int, int]],
    claims: _Claims,
    fd: int,
    perf: Callable[[], int],
) -> None:
    """Take batches from the back, run each on a view over the pre-block state, send it."""
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        state = builder.state
        state.journal.clear()
        dumps = pickle.dumps
        while (k := claims.take_back()) is not None:
            start, end = batches[k]
            t = perf()
            try:
                packed = _pack(run_batch(state, builder, txs[start:end], apply=False))
            except Exception:  # noqa: BLE001 - the main process runs the batch itself
                packed = None
            try:
                data = dumps((k, perf() - t, packed), protocol=5)
            except Exception:  # noqa: BLE001 - an unpicklable result: run by the main process
                data = dumps((k, perf() - t, None), protocol=5)
            _write_all(fd, struct.pack("<Q", len(data)) + data)
    except BaseException:  # noqa: BLE001
        code = 1
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)
        os._exit(code)


def _write_all(fd: int, data: bytes) -> None:  # pragma: no cover - runs in the child
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _drain(child: _Child, inbox: dict[int, Any]) -> None:
    """Move the complete messages ``child`` has sent so far into ``inbox`` (no waiting)."""
    buf = child.buffer
    while child.alive:
        try:
            chunk = os.read(child.fd, 1 << 20)
        except BlockingIOError:
            break
        if not chunk:
            child.alive = False
            break
        buf += chunk
    while len(buf) >= 8:
        need = 8 + struct.unpack_from("<Q", buf)[0]
        if len(buf) < need:
            break
        k, elapsed, packed = pickle.loads(bytes(buf[8:need]))
        del buf[:need]
        inbox[k] = (elapsed, packed)


def _wait_for(k: int, children: dict[int, _Child], inbox: dict[int, Any]) -> bool:
    """Wait until batch ``k``'s result is in ``inbox``; False when no executor can send it
    (all gone, or silent for :data:`WAIT_TIMEOUT_S`: a liveness guard, never a result)."""
    while k not in inbox:
        live = [c for c in children.values() if c.alive]
        if not live:
            return False
        ready, _, _ = select.select([c.fd for c in live], [], [], WAIT_TIMEOUT_S)
        if not ready:
            return False
        for child in live:
            _drain(child, inbox)
    return True


_UNREAPED: list[int] = []  # stopped executors not yet reaped (their teardown takes ms)


def _reap(*, block: bool = False) -> None:
    for pid in list(_UNREAPED):
        try:
            done, _ = os.waitpid(pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            _UNREAPED.remove(pid)


def _stop(children: dict[int, _Child], claims: _Claims) -> None:
    """Let the executors take no more batches and stop listening to them; they exit after
    the batch they run, without being waited for. They are not killed: one killed inside
    an LMDB read would leave its reader slot taken (state.db)."""
    claims.drain()
    for child in children.values():
        with contextlib.suppress(OSError):
            os.close(child.fd)  # a result still to come meets a closed pipe: the child ends
        _UNREAPED.append(child.pid)
    children.clear()
    _reap()


def _run_main(
    builder: BlockBuilder,
    txs: Sequence[Transaction],
    batches: list[tuple[int, int]],
    claims: _Claims,
    children: dict[int, _Child],
    stats: ParallelStats,
    abort_percent: int,
    perf: Callable[[], int],
) -> None:
    """Execute from the front until the executors' batches are reached, then commit those."""
    inbox: dict[int, Any] = {}
    state = builder.state
    checked: set[int] = set()  # executors' batches looked at early
    early = [0, 0]  # of those: examined, already in conflict
    t = perf()
    position = 0  # the next batch in block order
    while (k := claims.take_front()) is not None:
        start, end = batches[k]
        for index in range(start, end):
            _add(builder, txs, index)
        stats.main_executed += end - start
        position = k + 1
        for child in children.values():  # keep the executors' pipes flowing
            _drain(child, inbox)
        stop = _early_conflicts(state, inbox, checked, early, abort_percent)
        stats.early_checked, stats.early_conflicts = early
        if stop:
            # The executors' first results already disagree with the state committed so
            # far: they would be re-executed. Stop them now rather than share the cores.
            _stop(children, claims)
            stats.reason = (
                f"early conflicts {early[1]}/{early[0]}: sequential from {batches[position][0]}"
                if position < len(batches) else "early conflicts"
            )  # fmt: skip
            stats.aborted_at = batches[position][0] if position < len(batches) else len(txs)
            break
    stats.main_ns += perf() - t
    # The front has stopped: the executors take every batch from here on.
    first = position
    if claims.broken and stats.aborted_at is None:
        stats.reason = f"executors unresponsive: sequential from {batches[first][0]}"
        stats.aborted_at = batches[first][0] if first < len(batches) else len(txs)
        _stop(children, claims)
    for k in range(first, len(batches)):
        start, end = batches[k]
        if stats.aborted_at is None and not _wait_for(k, children, inbox):
            stats.reason = f"executors stopped: sequential from {start}"
            stats.aborted_at = start
        t = perf()
        if stats.aborted_at is not None:
            for index in range(start, end):
                _add(builder, txs, index)
            stats.main_executed += end - start
            stats.main_ns += perf() - t
            continue
        elapsed, packed = inbox.pop(k)
        stats.worker_ns += elapsed
        stats.optimistic += end - start
        done = start
        if packed is not None:
            results, ws = _unpack(packed)
            stop = start + len(results)
            if validate_reads(state, ws.reads) and _admit_all(builder, txs[start:stop], results):
                apply_writes(state, ws)
                for index, result in zip(range(start, stop), results, strict=True):
                    builder.include(txs[index], result)
                stats.committed += stop - start
                done = stop
        # conflicting, refused in the executor, or not modelled: run here, in order
        for index in range(done, end):
            stats.reexecuted += 1
            stats.conflicts.append(index)
            _add(builder, txs, index)
        stats.main_ns += perf() - t
        if (
            stats.optimistic >= ABORT_MIN_SAMPLES
            and stats.reexecuted * 100 > abort_percent * stats.optimistic
            and k + 1 < len(batches)
        ):
            stats.reason = (
                f"conflict rate {stats.reexecuted}/{stats.optimistic}: sequential from {end}"
            )
            stats.aborted_at = end
            _stop(children, claims)


def _early_conflicts(
    state: WorldState,
    inbox: dict[int, Any],
    checked: set[int],
    early: list[int],
    abort_percent: int,
) -> bool:
    """Check newly arrived results against the state committed so far; True to abort.

    A read that differs from a prefix of the block usually differs from the whole
    prefix too. This only decides whether to keep the executors running: every
    result is validated again, in order, when it is committed.
    """
    for k, (_, packed) in inbox.items():
        if k in checked or packed is None:
            continue
        checked.add(k)
        early[0] += 1
        if not validate_reads(state, packed[1][2], prefix=True):
            early[1] += 1
    return early[0] >= EARLY_MIN_BATCHES and early[1] * 100 > abort_percent * early[0]


def _admit_all(builder: BlockBuilder, txs: Sequence[Transaction], results: list[TxResult]) -> bool:
    """The block checks of :meth:`BlockBuilder.add` pass for each of ``txs`` in turn."""
    gas, blob = builder.gas_used, builder.blob_gas_used
    try:
        for tx, result in zip(txs, results, strict=True):
            builder.admit(tx)
            builder.gas_used += result.gas_used
            builder.blob_gas_used += result.blob_gas_used
    except TransactionError:
        return False
    finally:
        builder.gas_used, builder.blob_gas_used = gas, blob
    return True


def _add(builder: BlockBuilder, txs: Sequence[Transaction], index: int) -> None:
    try:
        builder.add(txs[index])
    except TransactionError as exc:
        raise BlockTransactionError(index, exc) from exc
