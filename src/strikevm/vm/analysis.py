"""Code analysis, done once per code: valid jump destinations, PUSH data and cold blocks.

Two analyses serve both engines:

- ``jumpdests(code)``: the offsets of JUMPDEST bytes not inside PUSH data, as a set-like
  container (``dest in dests``, ``len``, iteration in increasing order). The C extension
  ``_analysis_native`` returns a bitmap (``JumpDests``) built in one pass at C speed, so
  that the first call of a distinct 24 KiB code costs microseconds rather than a Python
  loop over every byte; without it, ``py_jumpdests`` returns a ``frozenset``. Membership
  is the same for every int: False for negative values, values past the code and values
  beyond 64 bits.
- ``block_table(entries, max_ops, stack_limit).decode(code, pc)``: the cold tier's
  decoding of the straight-line block entered at ``pc`` (see ``PyBlockTable.decode``),
  with the block's static gas and stack bounds summed once, so that the interpreter
  checks them once per block instead of once per instruction.

The pure-Python versions are the fallback and the reference; ``tests/vm/test_analysis.py``
holds the native ones equal to them on random and adversarial code.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, Protocol

# Classes of opcode in a block table entry (mirrored in _analysis_native.c).
CLS_OP = 0  # an instruction emitted as its entry's (handler, None) pair
CLS_PUSH = 1  # PUSH0..PUSH32: emitted as (handler, immediate)
CLS_PC = 2  # PC: emitted as (handler, pc)
CLS_JUMPDEST = 3  # charged, not emitted; only a run at the start of a block
CLS_END = 4  # emitted, then the block ends and continues at the next pc
CLS_HALT = 5  # emitted, then the frame halts (RETURN, REVERT, SELFDESTRUCT)
CLS_STOP = 6  # the frame halts
CLS_JUMP = 7
CLS_JUMPI = 8
CLS_INVALID = 9  # the block stops in front of it (also any undefined opcode)

# How a decoded block ends.
TERM_NEXT = 0  # continue at ``next``
TERM_STOP = 1  # the frame halts (``next`` is -1)
TERM_JUMP = 2  # pop the destination and jump (``next`` is the pc after the JUMP)
TERM_JUMPI = 3  # pop destination and condition (``next`` is the fall-through pc)
TERM_INVALID = 4  # invalid opcode at ``next``
TERM_CHUNK = 5  # ``max_ops`` instructions emitted: the straight line goes on at ``next``

Entry = tuple[int, int, int, int, int, Any]  # (cls, gas, n_in, n_out, imm, handler)
Block = tuple[int, int, int, tuple[tuple[Any, Any], ...], int, int]


class BlockTable(Protocol):
    """What ``block_table`` returns (native ``BlockTable`` or ``PyBlockTable``)."""

    def decode(self, code: bytes, pc: int) -> Block:
        """(gas, need, high, ops, term, next) of the block entered at ``pc``."""
        ...


def py_jumpdests(code: bytes) -> frozenset[int]:
    """Offsets of JUMPDEST (0x5b) bytes that are not inside PUSH data."""
    dests = []
    i = 0
    n = len(code)
    while i < n:
        op = code[i]
        if op == 0x5B:
            dests.append(i)
            i += 1
        elif 0x60 <= op <= 0x7F:
            i += op - 0x5E
        else:
            i += 1
    return frozenset(dests)


def push_value(code: bytes, pc: int, size: int) -> int:
    """Immediate of a PUSH at ``pc``, zero-padded on the right when code ends early."""
    raw = code[pc + 1 : pc + 1 + size]
    if len(raw) < size:
        raw = raw + bytes(size - len(raw))
    return int.from_bytes(raw, "big")


class PyBlockTable:
    """Pure-Python block decoder: the fallback and the reference of the native one."""

    def __init__(self, entries: Sequence[Entry | None], max_ops: int, stack_limit: int) -> None:
        if len(entries) != 256:
            raise ValueError("entries must have 256 items")
        if not 1 <= max_ops <= 4096:
            raise ValueError("max_ops must be in 1..4096")
        self.entries = list(entries)
        self.pairs = [(e[5], None) if e is not None else None for e in entries]
        self.max_ops = max_ops
        self.stack_limit = stack_limit

    def decode(self, code: bytes, pc: int) -> Block:
        """(gas, need, high, ops, term, next) of the block entered at ``pc``.

        The block is any run of JUMPDESTs at ``pc`` (charged, not emitted), then the
        instructions up to the first JUMPDEST after them (excluded), the first
        instruction that ends a block (included), an invalid or undefined opcode (the
        block stops in front of it, ``next`` is its pc), the end of the code, or
        ``max_ops`` emitted instructions (``TERM_CHUNK``). ``gas`` is the static gas of all of them,
        ``need`` and ``high`` the least and greatest entry stack heights with which
        none underflows or overflows ``stack_limit``.
        """
        if pc < 0:
            raise ValueError("pc must be non-negative")
        entries = self.entries
        n = len(code)
        ops: list[tuple[Any, Any]] = []
        gas = need = grow = rel = 0
        term = TERM_NEXT
        nxt = -1
        started = False
        i = pc
        while True:
            if i >= n:
                term, nxt = TERM_STOP, -1
                break
            op = code[i]
            e = entries[op]
            cls = e[0] if e is not None else CLS_INVALID
            if cls == CLS_JUMPDEST:
                if started:
                    nxt = i
                    break
                gas += e[1]  # type: ignore[index]
                i += 1
                continue
            if len(ops) == self.max_ops:
                term, nxt = TERM_CHUNK, i
                break
            if cls == CLS_INVALID or e is None:
                term, nxt = TERM_INVALID, i
                break
            started = True
            _, g, n_in, n_out, imm, handler = e
            if n_in - rel > need:
                need = n_in - rel
            rel += n_out - n_in
            if rel > grow:
                grow = rel
            gas += g
            if cls == CLS_OP:
                ops.append(self.pairs[op])  # type: ignore[arg-type]
                i += 1
            elif cls == CLS_PUSH:
                ops.append((handler, push_value(code, i, imm)))
                i += 1 + imm
            elif cls == CLS_PC:
                ops.append((handler, i))
                i += 1
            elif cls == CLS_END:
                ops.append(self.pairs[op])  # type: ignore[arg-type]
                term, nxt = TERM_NEXT, i + 1
                break
            elif cls == CLS_HALT:
                ops.append(self.pairs[op])  # type: ignore[arg-type]
                term, nxt = TERM_STOP, -1
                break
            elif cls == CLS_STOP:
                term, nxt = TERM_STOP, -1
                break
            elif cls == CLS_JUMP:
                term, nxt = TERM_JUMP, i + 1
                break
            else:  # CLS_JUMPI
                term, nxt = TERM_JUMPI, i + 1
                break
        return gas, need, self.stack_limit - grow, tuple(ops), term, nxt


try:
    from strikevm.vm import _analysis_native as _native
except ImportError:  # not built: the pure-Python analysis, same results
    _native = None  # type: ignore[assignment]

NATIVE: bool = _native is not None


def jumpdests(code: bytes) -> Collection[int]:
    """Offsets of JUMPDEST (0x5b) bytes that are not inside PUSH data (set-like)."""
    if _native is not None:
        return _native.jumpdests(code)  # type: ignore[no-any-return]
    return py_jumpdests(code)


def block_table(entries: Sequence[Entry | None], max_ops: int, stack_limit: int) -> BlockTable:
    """A block decoder over ``entries`` (256 items, see ``PyBlockTable``), native if built."""
    if _native is not None:
        return _native.BlockTable(entries, max_ops, stack_limit)  # type: ignore[no-any-return]
    return PyBlockTable(entries, max_ops, stack_limit)
