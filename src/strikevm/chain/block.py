"""Cancun blocks: headers, bodies, their canonical RLP and hashes, trie roots and fee updates.

Everything here follows what mainnet clients compute, so that block hashes,
transaction roots and receipt roots match those of web3.py, ethers and geth:

* a header is the RLP list of its 20 Cancun fields in canonical order
  (:data:`HEADER_FIELD_NAMES`) and its hash is keccak256 of that encoding;
* a block is ``rlp([header, transactions, ommers, withdrawals])`` where a
  legacy transaction is embedded as its RLP list and a typed one as the byte
  string ``type || payload``; after the merge the ommers list is empty;
* the transactions, receipts and withdrawals roots are tries keyed by
  ``rlp(index)``;
* the base fee follows EIP-1559 and the excess blob gas EIP-4844.

Receipts and blooms live in :mod:`strikevm.chain.receipt` and
:mod:`strikevm.chain.bloom`; their public names are re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from strikevm.chain.bloom import BLOOM_BYTES, EMPTY_BLOOM, bloom_or, logs_bloom
from strikevm.chain.receipt import (
    InvalidReceipt,
    Receipt,
    decode_receipt,
    encode_receipt,
    receipts_root,
)
from strikevm.chain.transaction import (
    LEGACY_TX,
    Transaction,
    TransactionError,
    decode_transaction,
    encode_transaction,
)
from strikevm.crypto import keccak256
from strikevm.primitives import rlp
from strikevm.state.trie import EMPTY_TRIE_ROOT, trie_root
from strikevm.vm.env import BlockEnv, fake_block_hash

__all__ = [
    "BASE_FEE_MAX_CHANGE_DENOMINATOR",
    "BLOOM_BYTES",
    "ELASTICITY_MULTIPLIER",
    "EMPTY_BLOOM",
    "EMPTY_OMMERS_HASH",
    "EMPTY_TRIE_ROOT",
    "HEADER_FIELD_NAMES",
    "TARGET_BLOB_GAS_PER_BLOCK",
    "ZERO_HASH",
    "Block",
    "Header",
    "InvalidBlock",
    "InvalidReceipt",
    "Receipt",
    "Withdrawal",
    "block_env",
    "bloom_or",
    "calc_base_fee",
    "calc_excess_blob_gas",
    "decode_block",
    "decode_header",
    "decode_receipt",
    "encode_receipt",
    "genesis_header",
    "logs_bloom",
    "receipts_root",
    "transactions_root",
    "verify_body",
    "withdrawals_root",
]

ZERO_HASH = bytes(32)
EMPTY_OMMERS_HASH = keccak256(rlp.encode([]))  # 0x1dcc4de8...
ZERO_NONCE = bytes(8)

# EIP-1559
ELASTICITY_MULTIPLIER = 2
BASE_FEE_MAX_CHANGE_DENOMINATOR = 8

# EIP-4844 (Cancun: target 3 blobs of 2**17 gas)
TARGET_BLOB_GAS_PER_BLOCK = 393216

HEADER_FIELD_NAMES = (
    "parent_hash",
    "ommers_hash",
    "coinbase",
    "state_root",
    "transactions_root",
    "receipts_root",
    "logs_bloom",
    "difficulty",
    "number",
    "gas_limit",
    "gas_used",
    "timestamp",
    "extra_data",
    "prev_randao",
    "nonce",
    "base_fee_per_gas",
    "withdrawals_root",
    "blob_gas_used",
    "excess_blob_gas",
    "parent_beacon_block_root",
)

_HASH_FIELDS = (
    "parent_hash",
    "ommers_hash",
    "state_root",
    "transactions_root",
    "receipts_root",
    "prev_randao",
    "withdrawals_root",
    "parent_beacon_block_root",
)
# integer fields and their width in bytes (uint64 where clients use uint64)
_INT_FIELDS = {
    "difficulty": 32,
    "number": 8,
    "gas_limit": 8,
    "gas_used": 8,
    "timestamp": 8,
    "base_fee_per_gas": 32,
    "blob_gas_used": 8,
    "excess_blob_gas": 8,
}


class InvalidBlock(ValueError):
    """A header or block is malformed, or its body does not match its header."""


# ------------------------------------------------------------------ header


@dataclass(frozen=True, kw_only=True)
class Header:
    """A Cancun block header. Hash-like fields are 32-byte strings, the coinbase an int.

    ``prev_randao`` is the field that JSON-RPC calls ``mixHash``.
    """

    parent_hash: bytes
    ommers_hash: bytes = EMPTY_OMMERS_HASH
    coinbase: int = 0
    state_root: bytes
    transactions_root: bytes = EMPTY_TRIE_ROOT
    receipts_root: bytes = EMPTY_TRIE_ROOT
    logs_bloom: bytes = EMPTY_BLOOM
    difficulty: int = 0
    number: int
    gas_limit: int
    gas_used: int = 0
    timestamp: int
    extra_data: bytes = b""
    prev_randao: bytes = ZERO_HASH
    nonce: bytes = ZERO_NONCE
    base_fee_per_gas: int
    withdrawals_root: bytes = EMPTY_TRIE_ROOT
    blob_gas_used: int = 0
    excess_blob_gas: int = 0
    parent_beacon_block_root: bytes = ZERO_HASH

    def __post_init__(self) -> None:
        for name in _HASH_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, bytes) or len(value) != 32:
                raise InvalidBlock(f"{name} must be 32 bytes")
        if not isinstance(self.logs_bloom, bytes) or len(self.logs_bloom) != BLOOM_BYTES:
            raise InvalidBlock(f"logs_bloom must be {BLOOM_BYTES} bytes")
        if not isinstance(self.nonce, bytes) or len(self.nonce) != 8:
            raise InvalidBlock("nonce must be 8 bytes")
        if not isinstance(self.extra_data, bytes):
            raise InvalidBlock("extra_data must be bytes")
        if not 0 <= self.coinbase < 1 << 160:
            raise InvalidBlock("coinbase must be a 160-bit address")
        for name, width in _INT_FIELDS.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise InvalidBlock(f"{name} must be an int")
            if not 0 <= value < 1 << (8 * width):
                raise InvalidBlock(f"{name} does not fit in {8 * width} unsigned bits")

    def fields(self) -> list[bytes | int]:
        """The RLP items in canonical order (the coinbase as 20 bytes)."""
        items: list[bytes | int] = [getattr(self, name) for name in HEADER_FIELD_NAMES]
        items[2] = self.coinbase.to_bytes(20, "big")
        return items

    def encode(self) -> bytes:
        """The canonical RLP encoding, whose keccak256 is the block hash."""
        return rlp.encode(self.fields())

    @cached_property
    def hash(self) -> bytes:
        return keccak256(self.encode())


def _header_from_item(item: rlp.RLPItem) -> Header:
    if not isinstance(item, list):
        raise InvalidBlock("a header is an RLP list")
    if len(item) != len(HEADER_FIELD_NAMES):
        raise InvalidBlock(f"a Cancun header has {len(HEADER_FIELD_NAMES)} fields, got {len(item)}")
    values: dict[str, object] = {}
    for name, value in zip(HEADER_FIELD_NAMES, item, strict=True):
        if not isinstance(value, bytes):
            raise InvalidBlock(f"header field {name} must be a byte string, not a list")
        if name in _INT_FIELDS:
            try:
                values[name] = rlp.decode_uint(value, _INT_FIELDS[name])
            except rlp.RLPError as exc:
                raise InvalidBlock(f"header field {name}: {exc}") from exc
        elif name == "coinbase":
            if len(value) != 20:
                raise InvalidBlock(f"coinbase must be 20 bytes, got {len(value)}")
            values[name] = int.from_bytes(value, "big")
        else:
            values[name] = value
    return Header(**values)  # type: ignore[arg-type]


def decode_header(raw: bytes) -> Header:
    """Decode a canonical RLP Cancun header (exactly 20 fields)."""
    try:
        item = rlp.decode(raw)
    except rlp.RLPError as exc:
        raise InvalidBlock(f"header: {exc}") from exc
    return _header_from_item(item)


# ------------------------------------------------------------- withdrawals


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """An EIP-4895 withdrawal; ``amount`` is in Gwei."""

    index: int
    validator_index: int
    address: int
    amount: int

    def fields(self) -> list[bytes | int]:
        return [self.index, self.validator_index, self.address.to_bytes(20, "big"), self.amount]


def _withdrawal_from_item(item: rlp.RLPItem) -> Withdrawal:
    if not isinstance(item, list) or len(item) != 4:
        raise InvalidBlock("a withdrawal is [index, validator index, address, amount]")
    index, validator, address, amount = item
    if not isinstance(address, bytes) or len(address) != 20:
        raise InvalidBlock("a withdrawal address is 20 bytes")
    try:
        return Withdrawal(
            rlp.decode_uint(index, 8),
            rlp.decode_uint(validator, 8),
            int.from_bytes(address, "big"),
            rlp.decode_uint(amount, 8),
        )
    except rlp.RLPError as exc:
        raise InvalidBlock(f"withdrawal: {exc}") from exc


def withdrawals_root(withdrawals: Sequence[Withdrawal]) -> bytes:
    """Root of the trie mapping ``rlp(index)`` to ``rlp(withdrawal)``."""
    return trie_root({rlp.encode(i): rlp.encode(w.fields()) for i, w in enumerate(withdrawals)})


# ------------------------------------------------------------------ roots


def transactions_root(txs: Sequence[Transaction]) -> bytes:
    """Root of the trie mapping ``rlp(index)`` to each transaction's wire encoding."""
    return trie_root({rlp.encode(i): encode_transaction(tx) for i, tx in enumerate(txs)})


# ------------------------------------------------------------------ block


def _list(payload: bytes) -> bytes:
    """Wrap already-encoded items in an RLP list header."""
    n = len(payload)
    if n < 56:
        return bytes((0xC0 + n,)) + payload
    size = rlp.uint_bytes(n)
    return bytes((0xF7 + len(size),)) + size + payload


def _tx_item(tx: Transaction) -> bytes:
    wire = encode_transaction(tx)
    return wire if tx.tx_type == LEGACY_TX else rlp.encode(wire)


@dataclass(frozen=True)
class Block:
    """A post-merge block: header, transactions and withdrawals (no ommers)."""

    header: Header
    transactions: tuple[Transaction, ...] = ()
    withdrawals: tuple[Withdrawal, ...] = field(default=())

    def encode(self) -> bytes:
        """``rlp([header, transactions, [], withdrawals])``, as on the wire."""
        txs = b"".join(_tx_item(tx) for tx in self.transactions)
        wds = b"".join(rlp.encode(w.fields()) for w in self.withdrawals)
        return _list(self.header.encode() + _list(txs) + _list(b"") + _list(wds))

    @property
    def hash(self) -> bytes:
        return self.header.hash

    @property
    def size(self) -> int:
        """Length of the encoding in bytes (JSON-RPC ``size``)."""
        return len(self.encode())


def decode_block(raw: bytes, *, chain_id: int | None = None) -> Block:
    """Decode a canonical RLP Cancun block; transactions are decoded and signature-checked.

    The body is not checked against the header; see :func:`verify_body`.
    """
    try:
        item = rlp.decode(raw)
    except rlp.RLPError as exc:
        raise InvalidBlock(f"block: {exc}") from exc
    if not isinstance(item, list) or len(item) != 4:
        raise InvalidBlock("a block is [header, transactions, ommers, withdrawals]")
    header_item, tx_items, ommers, wd_items = item
    header = _header_from_item(header_item)
    if not isinstance(tx_items, list) or not isinstance(wd_items, list):
        raise InvalidBlock("transactions and withdrawals are lists")
    if ommers != []:
        raise InvalidBlock("a post-merge block has no ommers")
    txs: list[Transaction] = []
    for index, tx_item in enumerate(tx_items):
        if isinstance(tx_item, list):
            wire = rlp.encode(tx_item)  # canonical input re-encodes to itself
        elif tx_item[:1] and tx_item[0] < 0x80:
            wire = tx_item
        else:
            raise InvalidBlock(f"transaction {index}: a typed transaction starts with its type")
        try:
            txs.append(decode_transaction(wire, chain_id=chain_id))
        except TransactionError as exc:
            raise InvalidBlock(f"transaction {index}: {exc}") from exc
    withdrawals = tuple(_withdrawal_from_item(w) for w in wd_items)
    return Block(header, tuple(txs), withdrawals)


def verify_body(block: Block) -> None:
    """Check the header's transactions root, withdrawals root, ommers hash and blob gas."""
    header = block.header
    if header.ommers_hash != EMPTY_OMMERS_HASH:
        raise InvalidBlock("ommers hash is not that of the empty list")
    if transactions_root(block.transactions) != header.transactions_root:
        raise InvalidBlock("transactions root does not match the transactions")
    if withdrawals_root(block.withdrawals) != header.withdrawals_root:
        raise InvalidBlock("withdrawals root does not match the withdrawals")
    blob_gas = sum(tx.blob_gas for tx in block.transactions)
    if blob_gas != header.blob_gas_used:
        raise InvalidBlock(f"blob gas used is {header.blob_gas_used}, transactions use {blob_gas}")


# ----------------------------------------------------------- fee updates


def calc_base_fee(parent_gas_limit: int, parent_gas_used: int, parent_base_fee: int) -> int:
    """EIP-1559: the base fee of the child of a block with these values."""
    target = parent_gas_limit // ELASTICITY_MULTIPLIER
    if target == 0:
        raise ValueError("parent gas limit is too small to have a gas target")
    if parent_gas_used == target:
        return parent_base_fee
    if parent_gas_used > target:
        delta = parent_base_fee * (parent_gas_used - target) // target
        return parent_base_fee + max(delta // BASE_FEE_MAX_CHANGE_DENOMINATOR, 1)
    delta = parent_base_fee * (target - parent_gas_used) // target
    return parent_base_fee - delta // BASE_FEE_MAX_CHANGE_DENOMINATOR


def calc_excess_blob_gas(parent_excess_blob_gas: int, parent_blob_gas_used: int) -> int:
    """EIP-4844: the excess blob gas of the child of a block with these values."""
    total = parent_excess_blob_gas + parent_blob_gas_used
    return total - TARGET_BLOB_GAS_PER_BLOCK if total >= TARGET_BLOB_GAS_PER_BLOCK else 0


# ------------------------------------------------------------ helpers


def genesis_header(
    state_root: bytes,
    *,
    gas_limit: int,
    timestamp: int,
    base_fee: int,
    coinbase: int = 0,
    extra_data: bytes = b"",
    prev_randao: bytes = ZERO_HASH,
    excess_blob_gas: int = 0,
    parent_beacon_block_root: bytes = ZERO_HASH,
) -> Header:
    """Block 0 of a dev chain: zero parent hash, empty body and receipts, no gas used."""
    return Header(
        parent_hash=ZERO_HASH,
        coinbase=coinbase,
        state_root=state_root,
        number=0,
        gas_limit=gas_limit,
        timestamp=timestamp,
        extra_data=extra_data,
        prev_randao=prev_randao,
        base_fee_per_gas=base_fee,
        excess_blob_gas=excess_blob_gas,
        parent_beacon_block_root=parent_beacon_block_root,
    )


def block_env(
    header: Header,
    *,
    chain_id: int,
    block_hash: Callable[[int], int] = fake_block_hash,
) -> BlockEnv:
    """The execution context (what the block opcodes see) of a header."""
    return BlockEnv(
        coinbase=header.coinbase,
        number=header.number,
        timestamp=header.timestamp,
        gas_limit=header.gas_limit,
        prev_randao=int.from_bytes(header.prev_randao, "big"),
        base_fee=header.base_fee_per_gas,
        excess_blob_gas=header.excess_blob_gas,
        chain_id=chain_id,
        block_hash=block_hash,
    )
