"""Minimal Solidity ABI codec for the finance system contracts.

Covers what the pricing interface needs, strictly and without floating point:

* static words: ``uint256``, ``int256`` (two's complement), ``bool`` (0 or 1 only, as
  Solidity's decoder demands), ``bytes4`` (left-aligned);
* one dynamic ``bytes`` value (the payload of a wrapped error) when encoding or decoding
  a tuple;
* one dynamic array of a static tuple (``(bool,uint256,...)[]``) as the only argument of
  a call, and ``uint256[]`` as the only return value.

Decoding never trusts a length or an offset: every one is checked against the data
before anything is read, so malformed input raises :class:`AbiError` (a ``ValueError``)
after a bounded amount of work. Longer data than the layout needs is accepted, as
Solidity does.
"""

from __future__ import annotations

from collections.abc import Sequence

from strikevm.crypto import keccak256

WORD = 32
UINT256_MAX = (1 << 256) - 1
INT256_MIN = -(1 << 255)
INT256_MAX = (1 << 255) - 1
_SIGN_BIT = 1 << 255
_TWO_256 = 1 << 256

AbiValue = int | bool | bytes
STATIC_TYPES = ("uint256", "int256", "bool", "bytes4")


class AbiError(ValueError):
    """Calldata or return data that does not follow the expected ABI layout."""


_SELECTORS: dict[str, bytes] = {}


def selector(signature: str) -> bytes:
    """First four bytes of ``keccak256(signature)``, e.g. ``selector("f(uint256)")``."""
    found = _SELECTORS.get(signature)
    if found is None:
        found = _SELECTORS[signature] = keccak256(signature.encode("ascii"))[:4]
    return found


def words(*values: int) -> bytes:
    """Static words; a negative value is written as its two's-complement ``int256``."""
    return b"".join((v & UINT256_MAX).to_bytes(WORD, "big") for v in values)


def custom_error(signature: str, *args: int) -> bytes:
    """Revert data of a custom error with static word arguments."""
    return selector(signature) + words(*args)


def signature_types(signature: str) -> tuple[str, ...]:
    """Argument types of a flat signature such as ``"InvalidRate(int256)"``."""
    inner = signature[signature.index("(") + 1 : signature.rindex(")")]
    return tuple(inner.split(",")) if inner else ()


# ----------------------------------------------------------------------------- words


def _word(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset : offset + WORD], "big")


def _decode_word(kind: str, raw: int) -> AbiValue:
    if kind == "uint256":
        return raw
    if kind == "int256":
        return raw - _TWO_256 if raw & _SIGN_BIT else raw
    if kind == "bool":
        if raw > 1:
            raise AbiError(f"bool word is {raw}, not 0 or 1")
        return raw == 1
    if kind == "bytes4":
        if raw & ((1 << 224) - 1):
            raise AbiError("bytes4 word has non-zero padding")
        return (raw >> 224).to_bytes(4, "big")
    raise AbiError(f"unsupported ABI type {kind!r}")


def _encode_word(kind: str, value: AbiValue) -> bytes:
    if kind == "bool":
        if type(value) is not bool:
            raise AbiError("bool value must be a bool")
        return b"\x00" * 31 + (b"\x01" if value else b"\x00")
    if kind == "bytes4":
        if not isinstance(value, bytes) or len(value) != 4:
            raise AbiError("bytes4 value must be 4 bytes")
        return value + 28 * b"\x00"
    if type(value) is not int:
        raise AbiError(f"{kind} value must be an int")
    if kind == "uint256":
        if not 0 <= value <= UINT256_MAX:
            raise AbiError(f"{value} does not fit uint256")
        return value.to_bytes(WORD, "big")
    if kind == "int256":
        if not INT256_MIN <= value <= INT256_MAX:
            raise AbiError(f"{value} does not fit int256")
        return (value & UINT256_MAX).to_bytes(WORD, "big")
    raise AbiError(f"unsupported ABI type {kind!r}")


def encode_uint(value: int) -> bytes:
    """One ``uint256`` word (no range check beyond what ``to_bytes`` enforces)."""
    return value.to_bytes(WORD, "big")


def encode_int(value: int) -> bytes:
    """One ``int256`` word, two's complement."""
    return (value & UINT256_MAX).to_bytes(WORD, "big")


# ----------------------------------------------------------------------------- tuples


def _padded(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % WORD)


def encode(types: Sequence[str], values: Sequence[AbiValue]) -> bytes:
    """ABI-encode a tuple of static words and ``bytes`` values (head/tail layout)."""
    if len(types) != len(values):
        raise AbiError(f"{len(types)} types but {len(values)} values")
    head: list[bytes] = []
    tail: list[bytes] = []
    tail_offset = WORD * len(types)
    for kind, value in zip(types, values, strict=True):
        if kind == "bytes":
            if not isinstance(value, bytes):
                raise AbiError("bytes value must be bytes")
            head.append(encode_uint(tail_offset))
            chunk = encode_uint(len(value)) + _padded(value)
            tail.append(chunk)
            tail_offset += len(chunk)
        else:
            head.append(_encode_word(kind, value))
    return b"".join(head) + b"".join(tail)


def decode(types: Sequence[str], data: bytes, start: int = 0) -> tuple[AbiValue, ...]:
    """Decode a tuple encoded from ``data[start:]``; strict about every word it reads."""
    end = start + WORD * len(types)
    if len(data) < end:
        raise AbiError(f"{len(data) - start} bytes, the layout needs at least {end - start}")
    out: list[AbiValue] = []
    for i, kind in enumerate(types):
        raw = _word(data, start + WORD * i)
        if kind == "bytes":
            if raw > len(data) - start - WORD:
                raise AbiError("bytes offset out of range")
            at = start + raw
            size = _word(data, at)
            if size > len(data) - at - WORD:
                raise AbiError("bytes length out of range")
            out.append(bytes(data[at + WORD : at + WORD + size]))
        else:
            out.append(_decode_word(kind, raw))
    return tuple(out)


# ----------------------------------------------------------------------------- arrays


def encode_uint_array(values: Sequence[int]) -> bytes:
    """``abi.encode(uint256[])``: offset 0x20, length, the items (each must be >= 0)."""
    return b"".join(
        (encode_uint(WORD), encode_uint(len(values)), *(v.to_bytes(WORD, "big") for v in values))
    )


def decode_uint_array(data: bytes) -> list[int]:
    """Inverse of :func:`encode_uint_array` (strict about offset and length)."""
    if len(data) < WORD:
        raise AbiError("no offset word")
    offset = _word(data, 0)
    if offset > len(data) - WORD:
        raise AbiError("array offset out of range")
    count = _word(data, offset)
    first = offset + WORD
    if count > (len(data) - first) // WORD:
        raise AbiError("array length out of range")
    return [_word(data, first + WORD * i) for i in range(count)]


def array_head(data: bytes, start: int, item_words: int) -> tuple[int, int]:
    """Locate the array of the first argument of ``data[start:]``.

    Returns ``(count, first)``: the item count and the offset of the first item. Raises
    :class:`AbiError` unless all ``count * item_words`` words lie inside ``data``.
    """
    if len(data) < start + WORD:
        raise AbiError("no offset word")
    offset = _word(data, start)
    if offset > len(data) - start - WORD:
        raise AbiError("array offset out of range")
    at = start + offset
    count = _word(data, at)
    first = at + WORD
    if count > (len(data) - first) // (WORD * item_words):
        raise AbiError("array length out of range")
    return count, first


def encode_tuple_array(types: Sequence[str], items: Sequence[Sequence[AbiValue]]) -> bytes:
    """``abi.encode(T[])`` for a static tuple ``T`` of ``types`` (as a sole argument)."""
    body = b"".join(b"".join(_encode_word(k, v) for k, v in zip(types, item, strict=True))
                    for item in items)  # fmt: skip
    return encode_uint(WORD) + encode_uint(len(items)) + body


# ----------------------------------------------------------------------------- calls, errors


def encode_call(signature: str, values: Sequence[AbiValue]) -> bytes:
    """Calldata of a function with a flat signature (static words and ``bytes`` only)."""
    return selector(signature) + encode(signature_types(signature), values)


def encode_error(signature: str, values: Sequence[AbiValue] = ()) -> bytes:
    """Revert data of a Solidity custom error, e.g. ``InvalidVolatility(uint256)``."""
    return encode_call(signature, values)
