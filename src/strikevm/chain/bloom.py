"""The 2048-bit logs bloom filter of receipts and block headers (yellow paper, section 4.3.1).

Each log adds its address (20 bytes) and each of its topics (32 bytes). An
added value sets three bits: from its keccak256 hash, the byte pairs (0, 1),
(2, 3) and (4, 5), each read big-endian and reduced to its low 11 bits, give
bit indices counted from the least significant bit of the filter read as one
2048-bit big-endian number.
"""

from __future__ import annotations

from collections.abc import Iterable

from strikevm.crypto import keccak256
from strikevm.state.world import Log

BLOOM_BYTES = 256
EMPTY_BLOOM = bytes(BLOOM_BYTES)


def _bits(value: bytes) -> int:
    """The three bits that ``value`` sets, as an int mask over the filter."""
    h = keccak256(value)
    mask = 0
    for i in (0, 2, 4):
        mask |= 1 << (((h[i] << 8) | h[i + 1]) & 2047)
    return mask


def _log_bits(log: Log) -> int:
    mask = _bits(log.address.to_bytes(20, "big"))
    for topic in log.topics:
        mask |= _bits(topic.to_bytes(32, "big"))
    return mask


def logs_bloom(logs: Iterable[Log]) -> bytes:
    """The bloom of a sequence of logs (all zero for none)."""
    mask = 0
    for log in logs:
        mask |= _log_bits(log)
    return mask.to_bytes(BLOOM_BYTES, "big")


def bloom_or(*blooms: bytes) -> bytes:
    """Bitwise OR of blooms: a block's bloom is the OR of its receipts' blooms."""
    mask = 0
    for bloom in blooms:
        if len(bloom) != BLOOM_BYTES:
            raise ValueError(f"a bloom is {BLOOM_BYTES} bytes, got {len(bloom)}")
        mask |= int.from_bytes(bloom, "big")
    return mask.to_bytes(BLOOM_BYTES, "big")


def bloom_may_contain(bloom: bytes, value: bytes) -> bool:
    """False if ``value`` (a 20-byte address or 32-byte topic) was surely never added."""
    if len(bloom) != BLOOM_BYTES:
        raise ValueError(f"a bloom is {BLOOM_BYTES} bytes, got {len(bloom)}")
    mask = _bits(bytes(value))
    return int.from_bytes(bloom, "big") & mask == mask
