"""Code analysis, done once per code hash: valid jump destinations and decoded PUSH data."""

from __future__ import annotations


def jumpdests(code: bytes) -> frozenset[int]:
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
