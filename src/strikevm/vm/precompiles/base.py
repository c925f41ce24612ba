"""Shared pieces of the precompiled contracts: the error type, gas helpers, input reads."""

from __future__ import annotations

from collections.abc import Callable

Precompile = Callable[[bytes, int], tuple[int, bytes]]
"""A precompile takes (input data, gas available) and returns (gas used, output)."""


class PrecompileError(Exception):
    """Precompile failed (bad input or out of gas): the call fails and consumes all gas given."""


def word_count(size: int) -> int:
    """Number of 32-byte words needed to hold ``size`` bytes."""
    return (size + 31) // 32


def charge(cost: int, gas: int) -> int:
    """Return ``cost`` if it fits in ``gas``; raise PrecompileError otherwise."""
    if cost > gas:
        raise PrecompileError("out of gas")
    return cost


def read_padded(data: bytes, start: int, size: int) -> bytes:
    """Return ``size`` bytes of ``data`` from ``start``, zero-padded past its end.

    ``start`` may be arbitrarily large (up to 2**256 and beyond): nothing is allocated
    beyond ``size`` bytes, so callers must bound ``size`` themselves.
    """
    if start >= len(data):
        return bytes(size)
    chunk = data[start : start + size]
    if len(chunk) < size:
        chunk += bytes(size - len(chunk))
    return chunk


def read_uint(data: bytes, start: int, size: int = 32) -> int:
    """Read a big-endian unsigned integer of ``size`` bytes, zero-padded past the end."""
    return int.from_bytes(read_padded(data, start, size), "big")
