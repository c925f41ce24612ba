"""Lazily loaded account and storage maps, and :class:`OverlayState`: a block's
scratch state over a base state, merged into the base whole or dropped whole.

The EVM reads state as ``state.accounts.get(addr)`` and
``acct.storage.get(slot, 0)``; :class:`LazyAccounts` and :class:`LazyStorage`
are dict subclasses that answer those reads from a loader on the first miss
and from the dict afterwards, so the interpreter's hot path is unchanged. A
deleted account stays in the map as ``None`` so that it never falls through
to the loader again. The whole state is not in memory. Iterating one (``items()``) reads its whole source, when the source
can be iterated, and raises TypeError otherwise: never a silent partial view.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from strikevm.state.account import Account
from strikevm.state.world import WorldState

__all__ = ["LazyAccounts", "LazyStorage", "OverlayState", "Dirty"]

Dirty = tuple[dict[int, None], dict[int, dict[int, None]], dict[int, None]]

_MISSING: Any = object()
_dget = dict.get
_dset = dict.__setitem__


class LazyStorage(dict):  # type: ignore[type-arg]
    """Storage of one account whose slots are read on demand through ``read(slot)``.

    Read slots are kept (zeros included). ``nonempty()`` tells whether the
    source holds any non-zero slot; :meth:`values` (used by
    ``Account.has_storage``) answers from the loaded slots plus that flag, so
    it stays conservative when every source slot was cleared here.
    """

    __slots__ = ("_read", "_nonempty", "src", "_source_items")

    def __init__(
        self,
        read: Callable[[int], int],
        nonempty: Callable[[], bool],
        src: Any = None,
        source_items: Callable[[], Iterable[tuple[int, int]]] | None = None,
    ) -> None:
        super().__init__()
        self._read = read
        self._nonempty = nonempty
        self.src = src
        self._source_items = source_items

    def get(self, slot: int, default: Any = None) -> Any:
        value = _dget(self, slot, _MISSING)
        if value is _MISSING:
            value = self._read(slot)
            _dset(self, slot, value)
        return value

    def __getitem__(self, slot: int) -> int:
        return self.get(slot)  # type: ignore[no-any-return]

    def __contains__(self, slot: object) -> bool:
        return bool(self.get(slot))  # type: ignore[arg-type]

    def values(self) -> Any:
        loaded = list(dict.values(self))
        return loaded + [1] if self._nonempty() else loaded

    def loaded(self) -> dict[int, int]:
        """The slots read or written so far (a plain copy)."""
        return dict(dict.items(self))

    def __bool__(self) -> bool:
        return bool(dict.__len__(self)) or self._nonempty()

    def items(self) -> Any:  # type: ignore[override]
        """Every slot: the loaded ones, then the source's others (reads the whole source)."""
        if self._source_items is None:
            raise TypeError("this lazily loaded storage cannot be iterated; read slots by key")
        out = list(dict.items(self))
        for slot, value in self._source_items():
            if _dget(self, slot, _MISSING) is _MISSING:
                out.append((slot, value))
        return out

    def keys(self) -> Any:  # type: ignore[override]
        return [slot for slot, _ in self.items()]

    def __iter__(self) -> Any:
        return iter(self.keys())


class LazyAccounts(dict):  # type: ignore[type-arg]
    """Accounts loaded on first access through ``load(addr)``; deletions are remembered.

    ``loads`` counts loader calls (for cache accounting).
    """

    __slots__ = ("_load", "loads", "_source_items")

    def __init__(
        self,
        load: Callable[[int], Account | None],
        source_items: Callable[[], Iterable[tuple[int, Account]]] | None = None,
    ) -> None:
        super().__init__()
        self._load = load
        self.loads = 0
        self._source_items = source_items

    def get(self, addr: int, default: Any = None) -> Any:
        acct = _dget(self, addr, _MISSING)
        if acct is _MISSING:
            acct = self._load(addr)
            self.loads += 1
            _dset(self, addr, acct)
        return default if acct is None else acct

    def __getitem__(self, addr: int) -> Account:
        acct = self.get(addr)
        if acct is None:
            raise KeyError(addr)
        return acct  # type: ignore[no-any-return]

    def __contains__(self, addr: object) -> bool:
        return self.get(addr) is not None  # type: ignore[arg-type]

    def __delitem__(self, addr: int) -> None:
        self.pop(addr)

    def pop(self, addr: int, *default: Any) -> Any:
        acct = self.get(addr)
        _dset(self, addr, None)
        if acct is None:
            if default:
                return default[0]
            raise KeyError(addr)
        return acct

    def cached(self) -> list[tuple[int, Account | None]]:
        """(address, account or None for known-absent) of everything loaded, in load order."""
        return list(dict.items(self))

    def local(self, addr: int) -> Account | None | Any:
        """The cached entry without loading: an Account, None (absent) or ``MISSING``."""
        return _dget(self, addr, _MISSING)

    def items(self) -> Any:  # type: ignore[override]
        """Every account: the loaded ones, then the source's others (not cached).

        Reads the whole source: for checks and full rebuilds, never on a hot path.
        """
        if self._source_items is None:
            raise TypeError("this lazily loaded state cannot be iterated; read by address")
        out = [(a, acct) for a, acct in dict.items(self) if acct is not None]
        for addr, acct in self._source_items():
            if _dget(self, addr, _MISSING) is _MISSING:
                out.append((addr, acct))
        return out

    def keys(self) -> Any:  # type: ignore[override]
        return [addr for addr, _ in self.items()]

    def values(self) -> Any:  # type: ignore[override]
        return [acct for _, acct in self.items()]

    def __iter__(self) -> Any:
        return iter(self.keys())


MISSING = _MISSING


def _merge_dirty(into: Dirty, more: Dirty) -> None:
    written, slots, deleted = into
    written.update(more[0])
    for addr, changed in more[1].items():
        slots.setdefault(addr, {}).update(changed)
    deleted.update(more[2])


def _copy_of(acct: Account) -> Account:
    """An account copy whose storage reads ``acct``'s on demand."""
    copy = Account(acct.nonce, acct.balance, acct.code)
    copy._code_hash = acct._code_hash
    src = acct.storage
    get = src.get

    def read(slot: int) -> int:
        return get(slot, 0) or 0

    copy.storage = LazyStorage(read, acct.has_storage, src, src.items)
    return copy


class OverlayState(WorldState):
    """A world state over ``base``: reads fall through, writes stay here.

    Accounts are copied from ``base`` on first access (without their
    storage); storage slots are read from the base account on demand.
    :meth:`take_dirty` reports exactly what this overlay wrote, so a
    :class:`~strikevm.state.commit.StateCommitter` commits it directly.
    :meth:`commit_to_base` then merges every write into ``base``; dropping
    the overlay instead discards them. ``base`` must not change while the
    overlay is in use. Works over any :class:`WorldState`, lazily loaded ones
    included. Cost: one account copy per account touched, one base read per
    slot touched; nothing is proportional to the size of ``base``.
    """

    def __init__(self, base: WorldState) -> None:
        self.base: WorldState | None = base
        super().__init__(LazyAccounts(self._load, self._source_items))
        # what earlier take_dirty() calls reported, for commit_to_base()
        self._reported: Dirty = ({}, {}, {})

    def _load(self, addr: int) -> Account | None:
        base = self.base
        if base is None:
            raise RuntimeError("the overlay was merged into its base and cannot be used")
        acct = base.accounts.get(addr)
        return None if acct is None else _copy_of(acct)

    def _source_items(self) -> Iterable[tuple[int, Account]]:
        base = self.base
        if base is None:
            raise RuntimeError("the overlay was merged into its base and cannot be used")
        for addr, acct in base.accounts.items():
            yield addr, _copy_of(acct)

    def take_dirty(self) -> Dirty:
        out = super().take_dirty()
        _merge_dirty(self._reported, out)
        return out

    def written(self) -> Dirty:
        """Everything written since the overlay was made (accounts, slots, deleted)."""
        self._collect_dirty()
        self.journal.clear()
        out: Dirty = ({}, {}, {})
        _merge_dirty(out, self._reported)
        _merge_dirty(out, (self.dirty_accounts, self.dirty_slots, self.deleted_accounts))
        return out

    def commit_to_base(self, *, committed: bool = False) -> WorldState:
        """Merge every write into the base state and return it; the overlay is spent.

        Afterwards the base shows what the overlay showed. Unless
        ``committed`` (the overlay's writes were already committed by a
        :class:`~strikevm.state.commit.StateCommitter`), the base's dirty sets
        gain the overlay's, so ``base.take_dirty()`` reports the union. With
        ``committed`` the merged entries count as clean, and a base with a
        bounded cache trims it.
        """
        base = self.base
        if base is None:
            raise RuntimeError("the overlay was already merged")
        written, slots, deleted = self.written()
        accounts = self.accounts
        base_accounts = base.accounts
        replaced: dict[int, None] = {}
        for addr in {**written, **slots, **deleted}:
            acct = accounts.local(addr)
            if acct is MISSING:  # pragma: no cover - a write always loads the account
                continue
            if acct is None:
                base_accounts.pop(addr, None)
                continue
            base_acct = base_accounts.get(addr)
            storage = acct.storage
            if addr not in deleted and base_acct is not None and type(storage) is LazyStorage:
                # loaded from the base account (or from a reload of it after a
                # cache eviction): unread slots are the base's, so write fields
                # and written slots only
                base_acct.nonce = acct.nonce
                base_acct.balance = acct.balance
                if base_acct.code is not acct.code:
                    base_acct.code = acct.code
                    base_acct._code_hash = acct._code_hash
                changed = slots.get(addr)
                if changed:
                    target = base_acct.storage
                    for slot in changed:
                        target[slot] = _dget(storage, slot, 0)
                continue
            if type(storage) is LazyStorage:
                # an account object not made here from the base one: copy it whole
                fresh = Account(acct.nonce, acct.balance, acct.code, storage.loaded())
                fresh._code_hash = acct._code_hash
                acct = fresh
            if base_acct is not None and addr not in deleted:
                replaced[addr] = None
            base_accounts[addr] = acct
        if not committed:
            deleted.update(replaced)
            _merge_dirty((base.dirty_accounts, base.dirty_slots, base.deleted_accounts),
                         (written, slots, deleted))
        else:
            trim = getattr(base, "trim_cache", None)
            if trim is not None:
                trim()
        self.base = None
        return base

    def copy(self) -> OverlayState:
        """An independent overlay over the same base with this one's writes.

        Cost: proportional to what this overlay loaded, not to the base.
        """
        if self.base is None:
            raise RuntimeError("the overlay was merged into its base and cannot be used")
        out = OverlayState(self.base)
        target = out.accounts
        for addr, acct in self.accounts.cached():
            if acct is None:
                _dset(target, addr, None)
                continue
            copy = Account(acct.nonce, acct.balance, acct.code)
            copy._code_hash = acct._code_hash
            storage = acct.storage
            if type(storage) is LazyStorage:
                lazy = LazyStorage(
                    storage._read, storage._nonempty, storage.src, storage._source_items
                )
                for slot, value in dict.items(storage):
                    _dset(lazy, slot, value)
                copy.storage = lazy
            else:
                copy.storage = dict(storage)
            _dset(target, addr, copy)
        self._collect_dirty()
        self.journal.clear()
        _merge_dirty(out._reported, self._reported)
        _merge_dirty(
            (out.dirty_accounts, out.dirty_slots, out.deleted_accounts),
            (self.dirty_accounts, self.dirty_slots, self.deleted_accounts),
        )
        return out
