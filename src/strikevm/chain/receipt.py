"""Transaction receipts (post-Byzantium, EIP-2718 typed) and the receipts trie root.

A receipt is ``rlp([status, cumulative_gas_used, logs_bloom, logs])`` with
``status`` 1 for success and 0 (the empty string) for failure, and each log
``[address (20 bytes), [topic (32 bytes), ...], data]``. A legacy (type 0)
receipt is that list; a typed one is the type byte followed by it. The
receipts root is the trie keyed by ``rlp(index)`` over these encodings.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from strikevm.chain.bloom import BLOOM_BYTES, logs_bloom
from strikevm.primitives import rlp
from strikevm.state.trie import trie_root
from strikevm.state.world import Log


class InvalidReceipt(ValueError):
    """A receipt encoding is malformed."""


@dataclass(frozen=True, slots=True)
class Receipt:
    """The consensus part of a receipt; ``bloom`` is the bloom of ``logs``.

    Build one with :meth:`of` to have the bloom computed.
    """

    tx_type: int
    success: bool
    cumulative_gas_used: int
    logs: tuple[Log, ...]
    bloom: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.tx_type < 0x80:
            raise ValueError(f"transaction type {self.tx_type} is outside [0, 0x7f]")
        if len(self.bloom) != BLOOM_BYTES:
            raise ValueError(f"a bloom is {BLOOM_BYTES} bytes, got {len(self.bloom)}")
        if self.cumulative_gas_used < 0:
            raise ValueError("cumulative gas used is negative")

    @classmethod
    def of(
        cls, tx_type: int, success: bool, cumulative_gas_used: int, logs: Iterable[Log]
    ) -> Receipt:
        """A receipt whose bloom is computed from ``logs``."""
        logs = tuple(logs)
        return cls(tx_type, success, cumulative_gas_used, logs, logs_bloom(logs))


def _log_item(log: Log) -> list[object]:
    return [
        log.address.to_bytes(20, "big"),
        [topic.to_bytes(32, "big") for topic in log.topics],
        log.data,
    ]


def encode_receipt(receipt: Receipt) -> bytes:
    """The encoding stored in the receipts trie (and returned by debug_getRawReceipts)."""
    payload = rlp.encode(
        [
            1 if receipt.success else 0,
            receipt.cumulative_gas_used,
            receipt.bloom,
            [_log_item(log) for log in receipt.logs],
        ]
    )
    if receipt.tx_type == 0:
        return payload
    return bytes((receipt.tx_type,)) + payload


def _decode_log(item: rlp.RLPItem) -> Log:
    if not isinstance(item, list) or len(item) != 3:
        raise InvalidReceipt("a log is [address, topics, data]")
    address, topics, data = item
    if not isinstance(address, bytes) or len(address) != 20:
        raise InvalidReceipt("a log address is 20 bytes")
    if not isinstance(topics, list) or not all(
        isinstance(t, bytes) and len(t) == 32 for t in topics
    ):
        raise InvalidReceipt("log topics are a list of 32-byte strings")
    if len(topics) > 4:
        raise InvalidReceipt(f"a log has at most 4 topics, got {len(topics)}")
    if not isinstance(data, bytes):
        raise InvalidReceipt("log data is a byte string")
    return Log(
        int.from_bytes(address, "big"),
        tuple(int.from_bytes(t, "big") for t in topics),
        data,
    )


def decode_receipt(raw: bytes) -> Receipt:
    """Inverse of :func:`encode_receipt`; rejects anything non-canonical."""
    raw = bytes(raw)
    if not raw:
        raise InvalidReceipt("empty receipt")
    tx_type, payload = (0, raw) if raw[0] >= 0xC0 else (raw[0], raw[1:])
    if raw[0] < 0xC0 and not 0 < tx_type < 0x80:
        raise InvalidReceipt("a receipt is an RLP list or a type byte (1-0x7f) followed by one")
    try:
        item = rlp.decode(payload)
        if not isinstance(item, list) or len(item) != 4:
            raise InvalidReceipt("a receipt is [status, cumulative gas, bloom, logs]")
        status, gas, bloom, logs = item
        status_value = rlp.decode_uint(status, 1)
        cumulative = rlp.decode_uint(gas, 8)
    except rlp.RLPError as exc:
        raise InvalidReceipt(str(exc)) from exc
    if status_value > 1:
        raise InvalidReceipt(f"status must be 0 or 1, got {status_value}")
    if not isinstance(bloom, bytes) or len(bloom) != BLOOM_BYTES:
        raise InvalidReceipt(f"the bloom is {BLOOM_BYTES} bytes")
    if not isinstance(logs, list):
        raise InvalidReceipt("logs are a list")
    return Receipt(tx_type, status_value == 1, cumulative, tuple(map(_decode_log, logs)), bloom)


def receipts_root(receipts: Sequence[Receipt]) -> bytes:
    """Root of the trie mapping ``rlp(index)`` to each encoded receipt."""
    return trie_root({rlp.encode(i): encode_receipt(r) for i, r in enumerate(receipts)})
