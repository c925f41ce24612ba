"""World state with a journal: accounts, storage, transient storage, warm sets,
refunds, logs, self-destructs and touches, with checkpoints and reverts per frame.

Addresses are 160-bit ints and storage slots/values are 256-bit ints throughout
the execution layers; byte forms appear only at the edges (trie, RPC, fixtures).
"""

from __future__ import annotations

from collections.abc import Iterable

from strikevm.crypto import EMPTY_KECCAK
from strikevm.state.account import Account

RIPEMD160_ADDRESS = 3
_WORD = (1 << 256) - 1

# journal entry tags
_ACCOUNT = 0  # (tag, addr, previous Account object or None)
_NONCE = 1  # (tag, addr, old nonce)
_BALANCE = 2  # (tag, addr, old balance)
_CODE = 3  # (tag, addr, old code)
_STORAGE = 4  # (tag, addr, slot, old value)
_TRANSIENT = 5  # (tag, (addr, slot), old value)
_WARM_ADDR = 6  # (tag, addr)
_WARM_SLOT = 7  # (tag, (addr, slot))
_REFUND = 8  # (tag, old refund)
_LOG = 9  # (tag,)
_DESTRUCT = 10  # (tag, addr)
_TOUCH = 11  # (tag, addr)
_CREATED = 12  # (tag, addr)


class Log:
    """One LOG record: emitting address, topics and data."""

    __slots__ = ("address", "topics", "data")

    def __init__(self, address: int, topics: tuple[int, ...], data: bytes) -> None:
        self.address = address
        self.topics = topics
        self.data = data

    def __repr__(self) -> str:
        return f"Log(0x{self.address:040x}, {[hex(t) for t in self.topics]}, 0x{self.data.hex()})"


class WorldState:
    """Accounts plus the per-transaction substate, all journaled."""

    def __init__(self, accounts: dict[int, Account] | None = None) -> None:
        self.accounts: dict[int, Account] = accounts if accounts is not None else {}
        self.journal: list[tuple] = []
        # Accounts and slots written since the last take_dirty(), for incremental
        # commitment; collected from the journal at the end of each transaction.
        self.dirty_accounts: dict[int, None] = {}
        self.dirty_slots: dict[int, dict[int, None]] = {}
        self.deleted_accounts: dict[int, None] = {}
        self.begin_transaction()

    # ----------------------------------------------------------------- tx scope
    def begin_transaction(self) -> None:
        """Reset the per-transaction substate (warm sets, transient storage, ...)."""
        self.journal.clear()
        self.warm_addresses: set[int] = set()
        self.warm_slots: set[tuple[int, int]] = set()
        self.transient: dict[tuple[int, int], int] = {}
        self.original: dict[tuple[int, int], int] = {}
        self.refund = 0
        self.logs: list[Log] = []
        # dicts used as insertion-ordered sets: iteration order is deterministic
        self.destructs: dict[int, None] = {}
        self.touched: dict[int, None] = {}
        self.created: dict[int, None] = {}

    def finalize_transaction(self) -> None:
        """Delete self-destructed accounts and touched empty accounts (EIP-161, EIP-6780)."""
        accounts = self.accounts
        dirty = self.dirty_accounts
        deleted = self.deleted_accounts
        for addr in self.destructs:
            accounts.pop(addr, None)
            dirty[addr] = None
            deleted[addr] = None
        for addr in self.touched:
            acct = accounts.get(addr)
            if acct is not None and acct.nonce == 0 and acct.balance == 0 and not acct.code:
                del accounts[addr]
                dirty[addr] = None
                deleted[addr] = None
        self._collect_dirty()
        self.journal.clear()

    def _collect_dirty(self) -> None:
        dirty = self.dirty_accounts
        slots = self.dirty_slots
        for entry in self.journal:
            tag = entry[0]
            if tag <= _CODE:
                dirty[entry[1]] = None
                if tag == _ACCOUNT and entry[2] is not None:
                    # an existing account was replaced: its storage starts over
                    self.deleted_accounts[entry[1]] = None
            elif tag == _STORAGE:
                dirty[entry[1]] = None
                slots.setdefault(entry[1], {})[entry[2]] = None

    def take_dirty(
        self,
    ) -> tuple[dict[int, None], dict[int, dict[int, None]], dict[int, None]]:
        """Return and reset what changed since the last call, for incremental commitment.

        (accounts written, storage slots written per account, accounts deleted).
        An account that was deleted and possibly recreated since the last call
        must have its storage commitment rebuilt from empty. Maps iterate in the
        order of first write.
        """
        out = (self.dirty_accounts, self.dirty_slots, self.deleted_accounts)
        self.dirty_accounts = {}
        self.dirty_slots = {}
        self.deleted_accounts = {}
        return out

    # -------------------------------------------------------------- checkpoints
    def checkpoint(self) -> int:
        return len(self.journal)

    def revert(self, checkpoint: int) -> None:
        journal = self.journal
        accounts = self.accounts
        while len(journal) > checkpoint:
            entry = journal.pop()
            tag = entry[0]
            if tag == _STORAGE:
                accounts[entry[1]].storage[entry[2]] = entry[3]
            elif tag == _BALANCE:
                accounts[entry[1]].balance = entry[2]
            elif tag == _WARM_SLOT:
                self.warm_slots.discard(entry[1])
            elif tag == _WARM_ADDR:
                self.warm_addresses.discard(entry[1])
            elif tag == _NONCE:
                accounts[entry[1]].nonce = entry[2]
            elif tag == _ACCOUNT:
                if entry[2] is None:
                    accounts.pop(entry[1], None)
                else:
                    accounts[entry[1]] = entry[2]
            elif tag == _CODE:
                accounts[entry[1]].set_code(entry[2])
            elif tag == _TRANSIENT:
                self.transient[entry[1]] = entry[2]
            elif tag == _REFUND:
                self.refund = entry[1]
            elif tag == _LOG:
                self.logs.pop()
            elif tag == _DESTRUCT:
                self.destructs.pop(entry[1], None)
            elif tag == _TOUCH:
                # EIP-161 consensus quirk kept by all clients: a touch of the
                # RIPEMD-160 precompile survives the revert of its frame.
                if entry[1] != RIPEMD160_ADDRESS:
                    self.touched.pop(entry[1], None)
            elif tag == _CREATED:
                self.created.pop(entry[1], None)

    # ----------------------------------------------------------------- accounts
    def get(self, addr: int) -> Account | None:
        return self.accounts.get(addr)

    def exists(self, addr: int) -> bool:
        return addr in self.accounts

    def is_alive(self, addr: int) -> bool:
        """Exists and is not empty (EIP-161)."""
        acct = self.accounts.get(addr)
        return acct is not None and (acct.nonce != 0 or acct.balance != 0 or bool(acct.code))

    def _ensure(self, addr: int) -> Account:
        acct = self.accounts.get(addr)
        if acct is None:
            acct = self.accounts[addr] = Account()
            self.journal.append((_ACCOUNT, addr, None))
        return acct

    def balance(self, addr: int) -> int:
        acct = self.accounts.get(addr)
        return acct.balance if acct is not None else 0

    def nonce(self, addr: int) -> int:
        acct = self.accounts.get(addr)
        return acct.nonce if acct is not None else 0

    def code(self, addr: int) -> bytes:
        acct = self.accounts.get(addr)
        return acct.code if acct is not None else b""

    def code_hash(self, addr: int) -> bytes:
        """Code hash of an existing account; EMPTY_KECCAK when it has no code."""
        acct = self.accounts.get(addr)
        return acct.code_hash if acct is not None else EMPTY_KECCAK

    def set_balance(self, addr: int, value: int) -> None:
        acct = self._ensure(addr)
        self.journal.append((_BALANCE, addr, acct.balance))
        acct.balance = value

    def add_balance(self, addr: int, amount: int) -> None:
        acct = self._ensure(addr)
        self.journal.append((_BALANCE, addr, acct.balance))
        acct.balance += amount

    def sub_balance(self, addr: int, amount: int) -> None:
        acct = self._ensure(addr)
        self.journal.append((_BALANCE, addr, acct.balance))
        acct.balance -= amount

    def transfer(self, sender: int, recipient: int, amount: int) -> None:
        self.sub_balance(sender, amount)
        self.add_balance(recipient, amount)

    def increment_nonce(self, addr: int) -> None:
        acct = self._ensure(addr)
        self.journal.append((_NONCE, addr, acct.nonce))
        acct.nonce += 1

    def set_code(self, addr: int, code: bytes) -> None:
        acct = self._ensure(addr)
        self.journal.append((_CODE, addr, acct.code))
        acct.set_code(code)

    def create_account(self, addr: int) -> None:
        """Fresh contract account at ``addr``, keeping any balance it already held."""
        old = self.accounts.get(addr)
        self.journal.append((_ACCOUNT, addr, old))
        self.accounts[addr] = Account(nonce=1, balance=old.balance if old is not None else 0)
        if addr not in self.created:
            self.created[addr] = None
            self.journal.append((_CREATED, addr))

    def has_code_or_nonce_or_storage(self, addr: int) -> bool:
        """Creation collision test (EIP-684 and EIP-7610)."""
        acct = self.accounts.get(addr)
        return acct is not None and (acct.nonce != 0 or bool(acct.code) or acct.has_storage())

    # ------------------------------------------------------------------ storage
    def sload(self, addr: int, slot: int) -> int:
        acct = self.accounts.get(addr)
        return acct.storage.get(slot, 0) if acct is not None else 0

    def original_value(self, addr: int, slot: int) -> int:
        """Value of the slot at the start of the transaction."""
        key = (addr, slot)
        original = self.original
        if key in original:
            return original[key]
        if addr in self.created:
            return 0
        return self.sload(addr, slot)

    def sstore(self, addr: int, slot: int, value: int) -> None:
        acct = self._ensure(addr)
        storage = acct.storage
        old = storage.get(slot, 0)
        key = (addr, slot)
        if key not in self.original:
            self.original[key] = 0 if addr in self.created else old
        self.journal.append((_STORAGE, addr, slot, old))
        storage[slot] = value

    def add_storage(self, addr: int, slot: int, delta: int) -> None:
        """``slot += delta`` (mod 2**256): a commutative update whose value the caller
        never sees, so a parallel executor may apply it without reading the slot."""
        self.sstore(addr, slot, (self.sload(addr, slot) + delta) & _WORD)

    def tload(self, addr: int, slot: int) -> int:
        return self.transient.get((addr, slot), 0)

    def tstore(self, addr: int, slot: int, value: int) -> None:
        key = (addr, slot)
        self.journal.append((_TRANSIENT, key, self.transient.get(key, 0)))
        self.transient[key] = value

    # ---------------------------------------------------------------- warm sets
    def warm_address(self, addr: int) -> bool:
        """Mark ``addr`` warm; return True when it was already warm."""
        if addr in self.warm_addresses:
            return True
        self.warm_addresses.add(addr)
        self.journal.append((_WARM_ADDR, addr))
        return False

    def warm_slot(self, addr: int, slot: int) -> bool:
        key = (addr, slot)
        if key in self.warm_slots:
            return True
        self.warm_slots.add(key)
        self.journal.append((_WARM_SLOT, key))
        return False

    def prewarm(self, addresses: Iterable[int], slots: Iterable[tuple[int, int]] = ()) -> None:
        """Warm addresses/slots at transaction start (not journaled)."""
        self.warm_addresses.update(addresses)
        self.warm_slots.update(slots)

    # ------------------------------------------------------ refunds, logs, misc
    def add_refund(self, delta: int) -> None:
        self.journal.append((_REFUND, self.refund))
        self.refund += delta

    def add_log(self, log: Log) -> None:
        self.logs.append(log)
        self.journal.append((_LOG,))

    def mark_destruct(self, addr: int) -> None:
        if addr not in self.destructs:
            self.destructs[addr] = None
            self.journal.append((_DESTRUCT, addr))

    def touch(self, addr: int) -> None:
        if addr not in self.touched:
            self.touched[addr] = None
            self.journal.append((_TOUCH, addr))

    # ----------------------------------------------------------------- snapshot
    def copy(self) -> WorldState:
        return WorldState({a: acct.copy() for a, acct in self.accounts.items()})
