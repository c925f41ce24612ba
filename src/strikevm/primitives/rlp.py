"""Recursive Length Prefix encoding and strict (canonical-only) decoding.

Items are ``bytes`` or (nested) lists of items. Integers are encoded as their
minimal big-endian byte string; decoding never produces integers (callers
convert with :func:`decode_uint`, which rejects leading zeros).
"""

from __future__ import annotations

RLPItem = bytes | list["RLPItem"]

# Lists nested deeper than this are rejected, whatever the interpreter's
# recursion limit, so that acceptance never depends on the process.
MAX_NESTING = 256


class RLPError(ValueError):
    """The input is not canonical RLP, or not the shape the caller expects."""


def _length_prefix(length: int, offset: int) -> bytes:
    if length < 56:
        return bytes((offset + length,))
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((offset + 55 + len(encoded),)) + encoded


def encode(item: object) -> bytes:
    """Encode bytes, ints (non-negative), strings-as-bytes and lists."""
    if isinstance(item, (bytes, bytearray, memoryview)):
        data = bytes(item)
        if len(data) == 1 and data[0] < 0x80:
            return data
        return _length_prefix(len(data), 0x80) + data
    if isinstance(item, bool):
        raise RLPError("booleans are not RLP items")
    if isinstance(item, int):
        if item < 0:
            raise RLPError("negative integers cannot be RLP-encoded")
        return encode(uint_bytes(item))
    if isinstance(item, (list, tuple)):
        payload = b"".join(encode(x) for x in item)
        return _length_prefix(len(payload), 0xC0) + payload
    raise RLPError(f"cannot RLP-encode {type(item).__name__}")


def uint_bytes(value: int) -> bytes:
    """Minimal big-endian encoding of a non-negative integer (0 -> b'')."""
    return value.to_bytes((value.bit_length() + 7) // 8, "big") if value else b""


def decode_uint(data: object, max_bytes: int = 32) -> int:
    """Decode a canonical RLP integer field (no leading zeros)."""
    if not isinstance(data, bytes):
        raise RLPError("expected a byte string for an integer field, got a list")
    if len(data) > max_bytes:
        raise RLPError(f"integer field longer than {max_bytes} bytes")
    if data[:1] == b"\x00":
        raise RLPError("integer field has leading zero bytes")
    return int.from_bytes(data, "big")


def _decode_at(data: bytes, pos: int, depth: int = 0) -> tuple[RLPItem, int]:
    """Decode one item starting at ``pos``; return it and the end position."""
    end = len(data)
    if pos >= end:
        raise RLPError("unexpected end of input")
    prefix = data[pos]
    if prefix < 0x80:
        return data[pos : pos + 1], pos + 1
    if prefix < 0xB8:
        length = prefix - 0x80
        start = pos + 1
        if start + length > end:
            raise RLPError("string runs past the end of input")
        if length == 1 and data[start] < 0x80:
            raise RLPError("single byte below 0x80 must be encoded as itself")
        return data[start : start + length], start + length
    if prefix < 0xC0:
        length, start = _long_length(data, pos, prefix - 0xB7)
        if start + length > end:
            raise RLPError("string runs past the end of input")
        return data[start : start + length], start + length
    if prefix < 0xF8:
        length = prefix - 0xC0
        start = pos + 1
    else:
        length, start = _long_length(data, pos, prefix - 0xF7)
    stop = start + length
    if stop > end:
        raise RLPError("list runs past the end of input")
    if depth >= MAX_NESTING:
        raise RLPError(f"lists nested more than {MAX_NESTING} deep")
    items: list[RLPItem] = []
    cur = start
    while cur < stop:
        item, cur = _decode_at(data, cur, depth + 1)
        items.append(item)
    if cur != stop:
        raise RLPError("list payload length does not match its items")
    return items, stop


def _long_length(data: bytes, pos: int, size: int) -> tuple[int, int]:
    start = pos + 1 + size
    if start > len(data):
        raise RLPError("length prefix runs past the end of input")
    raw = data[pos + 1 : start]
    if raw[0] == 0:
        raise RLPError("length prefix has leading zeros")
    length = int.from_bytes(raw, "big")
    if length < 56:
        raise RLPError("long form used for a length below 56")
    return length, start


def decode(data: bytes) -> RLPItem:
    """Decode exactly one canonical RLP item spanning all of ``data``."""
    data = bytes(data)
    try:
        item, end = _decode_at(data, 0)
    except RecursionError:
        raise RLPError("lists nested too deeply") from None
    if end != len(data):
        raise RLPError(f"{len(data) - end} trailing bytes after the RLP item")
    return item
