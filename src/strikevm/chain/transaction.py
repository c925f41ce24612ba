"""Signed transactions (Cancun): decoding, encoding, signing and stateless validation.

Supported types: 0 (legacy, with or without EIP-155 replay protection),
1 (EIP-2930 access list), 2 (EIP-1559 fee market) and 3 (EIP-4844 blob
transaction, without the network wrapper that carries the blobs).

:func:`decode_transaction` accepts only canonical encodings of well-formed
transactions with a valid, recoverable low-s signature.
:func:`validate_transaction` adds the checks that need the chain id but no
state or block: chain id, EIP-2681 nonce limit, fee sanity, EIP-3860 initcode
size, intrinsic gas and the static blob rules. Checks against the state
(nonce, balance, code of the sender) and the block (gas limit, base fee, blob
base fee) belong to the executor; :func:`effective_gas_price` helps with the
base fee.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from strikevm.crypto import (
    SECP256K1_N,
    SignatureError,
    keccak256,
    public_key_to_address,
    recover_public_key,
    sign_hash,
)
from strikevm.primitives import rlp

# Transaction types
LEGACY_TX = 0
ACCESS_LIST_TX = 1
FEE_MARKET_TX = 2
BLOB_TX = 3
SUPPORTED_TYPES = (LEGACY_TX, ACCESS_LIST_TX, FEE_MARKET_TX, BLOB_TX)

# Intrinsic gas (yellow paper G_transaction etc., EIP-2028, EIP-2930, EIP-3860)
TX_BASE_GAS = 21000
TX_CREATE_GAS = 32000
TX_DATA_ZERO_GAS = 4
TX_DATA_NONZERO_GAS = 16
ACCESS_LIST_ADDRESS_GAS = 2400
ACCESS_LIST_STORAGE_KEY_GAS = 1900
INITCODE_WORD_GAS = 2
MAX_INITCODE_SIZE = 49152  # EIP-3860: 2 * MAX_CODE_SIZE

# EIP-4844
GAS_PER_BLOB = 2**17
MAX_BLOB_GAS_PER_BLOCK = 786432
MAX_BLOBS_PER_BLOCK = MAX_BLOB_GAS_PER_BLOCK // GAS_PER_BLOB
VERSIONED_HASH_VERSION_KZG = 0x01

NONCE_LIMIT = 2**64 - 1  # EIP-2681: a transaction nonce must be below this
UINT256_LIMIT = 2**256
SECP256K1_HALF_N = SECP256K1_N // 2

AccessList = tuple[tuple[int, tuple[int, ...]], ...]


# ---------------------------------------------------------------- errors


class TransactionError(ValueError):
    """A transaction is malformed or invalid regardless of the state."""


class InvalidRLP(TransactionError):
    """Not canonical RLP, or not the list shape (field count, kinds) of its type."""


class UnsupportedType(TransactionError):
    """The type byte names a transaction type that this fork does not accept."""


class FieldOverflow(TransactionError):
    """An integer field is wider than its type allows."""


class InvalidAddress(TransactionError):
    """The recipient is neither 20 bytes nor (where allowed) empty."""


class InvalidAccessList(TransactionError):
    """An access-list entry is not [20-byte address, [32-byte key, ...]]."""


class InvalidSignature(TransactionError):
    """v, r or s are out of range, s is high (EIP-2), or nothing recovers."""


class InvalidChainId(TransactionError):
    """The transaction is signed for another chain."""


class NonceTooHigh(TransactionError):
    """The nonce is 2**64 - 1 or more (EIP-2681)."""


class GasCostOverflow(TransactionError):
    """gas_limit * fee cap does not fit in 256 bits."""


class PriorityFeeTooHigh(TransactionError):
    """max_priority_fee_per_gas is above max_fee_per_gas."""


class FeeCapTooLow(TransactionError):
    """The fee cap (gas price or max fee per gas) is below the block's base fee."""


class IntrinsicGasTooLow(TransactionError):
    """The gas limit does not cover the intrinsic gas."""


class InitcodeTooLarge(TransactionError):
    """A creation's initcode is longer than MAX_INITCODE_SIZE (EIP-3860)."""


class InvalidBlobTransaction(TransactionError):
    """A type-3 transaction breaks a static EIP-4844 rule."""


# ----------------------------------------------------------- transaction


@dataclass(frozen=True, slots=True)
class Transaction:
    """A decoded, signature-checked transaction.

    Integer fields are plain ints; ``to`` and ``sender`` are 160-bit ints and
    ``to`` is None for a contract creation. ``hash`` is keccak256 of the wire
    encoding (legacy RLP list, or type byte followed by the RLP payload).
    """

    tx_type: int
    chain_id: int | None
    nonce: int
    gas_price: int | None
    max_priority_fee_per_gas: int | None
    max_fee_per_gas: int | None
    gas_limit: int
    to: int | None
    value: int
    data: bytes
    access_list: AccessList
    max_fee_per_blob_gas: int | None
    blob_versioned_hashes: tuple[bytes, ...]
    v: int
    r: int
    s: int
    sender: int
    hash: bytes

    @property
    def is_create(self) -> bool:
        return self.to is None

    @property
    def fee_cap(self) -> int:
        """Most the sender pays per gas: gas_price, or max_fee_per_gas (types 2, 3)."""
        if self.gas_price is not None:
            return self.gas_price
        assert self.max_fee_per_gas is not None
        return self.max_fee_per_gas

    @property
    def priority_fee_cap(self) -> int:
        """Most the block producer may get per gas above the base fee."""
        if self.max_priority_fee_per_gas is not None:
            return self.max_priority_fee_per_gas
        return self.fee_cap

    @property
    def blob_gas(self) -> int:
        return GAS_PER_BLOB * len(self.blob_versioned_hashes)

    @property
    def y_parity(self) -> int:
        """The signature's recovery id (0 or 1), whatever the type's v convention."""
        if self.tx_type != LEGACY_TX:
            return self.v
        if self.chain_id is None:
            return self.v - 27
        return self.v - 35 - 2 * self.chain_id


# ------------------------------------------------------------- decoding


def _uint(item: rlp.RLPItem, name: str, max_bytes: int = 32) -> int:
    """A canonical unsigned integer field of at most ``max_bytes`` bytes.

    Both faults of an oversized field with leading zeros are errors; which one
    is reported follows geth (64-bit fields: width first, wider ones: zeros first).
    """
    if not isinstance(item, bytes):
        raise InvalidRLP(f"{name} must be a byte string, not a list")
    if max_bytes <= 8 and len(item) > max_bytes:
        raise FieldOverflow(f"{name} is {len(item)} bytes, more than {max_bytes * 8} bits")
    if item[:1] == b"\x00":
        raise InvalidRLP(f"{name} has leading zero bytes")
    if len(item) > max_bytes:
        raise FieldOverflow(f"{name} is {len(item)} bytes, more than {max_bytes * 8} bits")
    return int.from_bytes(item, "big")


def _signature_scalar(item: rlp.RLPItem, name: str) -> int:
    try:
        return _uint(item, name)
    except FieldOverflow as exc:
        raise InvalidSignature(str(exc)) from None


def _bytes(item: rlp.RLPItem, name: str) -> bytes:
    if not isinstance(item, bytes):
        raise InvalidRLP(f"{name} must be a byte string, not a list")
    return item


def _to(item: rlp.RLPItem, allow_create: bool) -> int | None:
    raw = _bytes(item, "to")
    if raw == b"":
        if not allow_create:
            raise InvalidBlobTransaction("a blob transaction cannot create a contract")
        return None
    if len(raw) != 20:
        side = "short" if len(raw) < 20 else "long"
        raise InvalidAddress(f"to is {len(raw)} bytes (too {side}); an address is 20 bytes")
    return int.from_bytes(raw, "big")


def _access_list(item: rlp.RLPItem) -> AccessList:
    if not isinstance(item, list):
        raise InvalidRLP("access list must be a list")
    entries: list[tuple[int, tuple[int, ...]]] = []
    for index, entry in enumerate(item):
        if not isinstance(entry, list) or len(entry) != 2:
            raise InvalidAccessList(f"access list entry {index} is not [address, keys]")
        address, keys = entry
        if not isinstance(address, bytes) or len(address) != 20:
            size = "a list" if not isinstance(address, bytes) else f"{len(address)} bytes"
            raise InvalidAccessList(f"access list entry {index}: address is {size}, not 20 bytes")
        if not isinstance(keys, list):
            raise InvalidAccessList(f"access list entry {index}: storage keys must be a list")
        slots: list[int] = []
        for key in keys:
            if not isinstance(key, bytes) or len(key) != 32:
                size = "a list" if not isinstance(key, bytes) else f"{len(key)} bytes"
                raise InvalidAccessList(
                    f"access list entry {index}: storage key is {size}, not 32 bytes"
                )
            slots.append(int.from_bytes(key, "big"))
        entries.append((int.from_bytes(address, "big"), tuple(slots)))
    return tuple(entries)


def _blob_hashes(item: rlp.RLPItem) -> tuple[bytes, ...]:
    if not isinstance(item, list):
        raise InvalidRLP("blob_versioned_hashes must be a list")
    hashes: list[bytes] = []
    for entry in item:
        if not isinstance(entry, bytes) or len(entry) != 32:
            raise InvalidBlobTransaction("each blob versioned hash must be 32 bytes")
        hashes.append(entry)
    return tuple(hashes)


# field names of each type's payload, signature (v/y_parity, r, s) excluded
_TYPED_FIELDS: dict[int, tuple[str, ...]] = {
    ACCESS_LIST_TX: (
        "chain_id", "nonce", "gas_price", "gas_limit", "to", "value", "data", "access_list",
    ),
    FEE_MARKET_TX: (
        "chain_id", "nonce", "max_priority_fee_per_gas", "max_fee_per_gas", "gas_limit",
        "to", "value", "data", "access_list",
    ),
    BLOB_TX: (
        "chain_id", "nonce", "max_priority_fee_per_gas", "max_fee_per_gas", "gas_limit",
        "to", "value", "data", "access_list", "max_fee_per_blob_gas", "blob_versioned_hashes",
    ),
}  # fmt: skip
_LEGACY_FIELDS = ("nonce", "gas_price", "gas_limit", "to", "value", "data")


def _decode_fields(names: Sequence[str], items: list[rlp.RLPItem], tx_type: int) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name, item in zip(names, items, strict=True):
        if name == "nonce" or name == "gas_limit":
            fields[name] = _uint(item, name, max_bytes=8)
        elif name == "to":
            fields[name] = _to(item, allow_create=tx_type != BLOB_TX)
        elif name == "data":
            fields[name] = _bytes(item, name)
        elif name == "access_list":
            fields[name] = _access_list(item)
        elif name == "blob_versioned_hashes":
            fields[name] = _blob_hashes(item)
        else:
            fields[name] = _uint(item, name)
    return fields


def _decode_list(payload: bytes, what: str) -> list[rlp.RLPItem]:
    try:
        items = rlp.decode(payload)
    except rlp.RLPError as exc:
        raise InvalidRLP(f"{what}: {exc}") from exc
    if not isinstance(items, list):
        raise InvalidRLP(f"{what} must be an RLP list")
    return items


def decode_transaction(raw: bytes, *, chain_id: int | None = None) -> Transaction:
    """Decode a transaction in its wire form and recover its sender.

    Raises a :class:`TransactionError` subclass for anything malformed. With
    ``chain_id``, a transaction signed for another chain is rejected with
    :class:`InvalidChainId` before its signature is checked; without it the
    chain id is left to :func:`validate_transaction`.
    """
    raw = bytes(raw)
    if not raw:
        raise InvalidRLP("empty transaction")
    first = raw[0]
    if first >= 0xC0:
        return _decode_legacy(raw, chain_id)
    if first >= 0x80:
        raise InvalidRLP("a transaction is an RLP list or a type byte followed by one")
    if first not in _TYPED_FIELDS:
        raise UnsupportedType(f"transaction type {first} is not supported")
    return _decode_typed(first, raw, chain_id)


def _check_chain(tx_chain_id: int | None, chain_id: int | None) -> None:
    if chain_id is not None and tx_chain_id is not None and tx_chain_id != chain_id:
        raise InvalidChainId(f"signed for chain {tx_chain_id}, this chain is {chain_id}")


def _decode_legacy(raw: bytes, expected_chain_id: int | None) -> Transaction:
    items = _decode_list(raw, "legacy transaction")
    if len(items) != 9:
        raise InvalidRLP(f"legacy transaction has {len(items)} fields, expected 9")
    fields = _decode_fields(_LEGACY_FIELDS, items[:6], LEGACY_TX)
    v = _uint(items[6], "v")
    r = _signature_scalar(items[7], "r")
    s = _signature_scalar(items[8], "s")
    chain_id: int | None
    if v in (27, 28):
        chain_id, parity = None, v - 27
    elif v >= 35:
        chain_id, parity = (v - 35) >> 1, (v - 35) & 1
    else:
        raise InvalidSignature(f"legacy v must be 27, 28 or chain_id * 2 + 35/36, got {v}")
    _check_chain(chain_id, expected_chain_id)
    return _finish(LEGACY_TX, fields, chain_id, v, parity, r, s, raw)


def _decode_typed(tx_type: int, raw: bytes, expected_chain_id: int | None) -> Transaction:
    what = f"type-{tx_type} transaction"
    items = _decode_list(raw[1:], what)
    names = _TYPED_FIELDS[tx_type]
    if len(items) != len(names) + 3:
        if tx_type == BLOB_TX and len(items) == 4 and isinstance(items[0], list):
            raise InvalidRLP("blob transaction in network form (with blobs) is not accepted")
        raise InvalidRLP(f"{what} has {len(items)} fields, expected {len(names) + 3}")
    fields = _decode_fields(names, items[: len(names)], tx_type)
    chain_id = fields.pop("chain_id")
    y_parity = _uint(items[-3], "y_parity")
    r = _signature_scalar(items[-2], "r")
    s = _signature_scalar(items[-1], "s")
    _check_chain(chain_id, expected_chain_id)
    if y_parity not in (0, 1):
        raise InvalidSignature(f"y_parity must be 0 or 1, got {y_parity}")
    return _finish(tx_type, fields, chain_id, y_parity, y_parity, r, s, raw)


def _finish(
    tx_type: int,
    fields: dict[str, Any],
    chain_id: int | None,
    v: int,
    parity: int,
    r: int,
    s: int,
    raw: bytes,
) -> Transaction:
    if not 0 < r < SECP256K1_N:
        raise InvalidSignature("r is outside [1, secp256k1n - 1]")
    if not 0 < s <= SECP256K1_HALF_N:
        raise InvalidSignature("s is outside [1, secp256k1n / 2] (EIP-2 requires low s)")
    unsigned = Transaction(
        tx_type=tx_type,
        chain_id=chain_id,
        nonce=fields["nonce"],
        gas_price=fields.get("gas_price"),
        max_priority_fee_per_gas=fields.get("max_priority_fee_per_gas"),
        max_fee_per_gas=fields.get("max_fee_per_gas"),
        gas_limit=fields["gas_limit"],
        to=fields["to"],
        value=fields["value"],
        data=fields["data"],
        access_list=fields.get("access_list", ()),
        max_fee_per_blob_gas=fields.get("max_fee_per_blob_gas"),
        blob_versioned_hashes=fields.get("blob_versioned_hashes", ()),
        v=v,
        r=r,
        s=s,
        sender=0,
        hash=b"",
    )
    try:
        public_key = recover_public_key(signing_hash(unsigned), parity, r, s)
    except SignatureError as exc:
        raise InvalidSignature(f"signature does not recover a public key: {exc}") from exc
    sender = int.from_bytes(public_key_to_address(public_key), "big")
    return replace(unsigned, sender=sender, hash=keccak256(raw))


# ------------------------------------------------------------- encoding


def _address_bytes(address: int | None) -> bytes:
    return b"" if address is None else address.to_bytes(20, "big")


def _access_list_items(access_list: AccessList) -> list[list[object]]:
    return [
        [address.to_bytes(20, "big"), [key.to_bytes(32, "big") for key in keys]]
        for address, keys in access_list
    ]


def _payload(tx: Transaction) -> list[object]:
    """The RLP fields of ``tx`` without the signature."""
    to = _address_bytes(tx.to)
    if tx.tx_type == LEGACY_TX:
        return [tx.nonce, tx.gas_price, tx.gas_limit, to, tx.value, tx.data]
    access = _access_list_items(tx.access_list)
    if tx.tx_type == ACCESS_LIST_TX:
        return [tx.chain_id, tx.nonce, tx.gas_price, tx.gas_limit, to, tx.value, tx.data, access]
    fields: list[object] = [
        tx.chain_id,
        tx.nonce,
        tx.max_priority_fee_per_gas,
        tx.max_fee_per_gas,
        tx.gas_limit,
        to,
        tx.value,
        tx.data,
        access,
    ]
    if tx.tx_type == BLOB_TX:
        fields += [tx.max_fee_per_blob_gas, list(tx.blob_versioned_hashes)]
    return fields


def encode_transaction(tx: Transaction) -> bytes:
    """The wire form: legacy RLP list, or type byte followed by the RLP payload."""
    fields = _payload(tx) + [tx.v, tx.r, tx.s]
    if tx.tx_type == LEGACY_TX:
        return rlp.encode(fields)
    return bytes((tx.tx_type,)) + rlp.encode(fields)


def signing_hash(tx: Transaction) -> bytes:
    """The hash the sender signs (EIP-155 for protected legacy, EIP-2718 for typed)."""
    fields = _payload(tx)
    if tx.tx_type == LEGACY_TX:
        if tx.chain_id is not None:
            fields += [tx.chain_id, 0, 0]
        return keccak256(rlp.encode(fields))
    return keccak256(bytes((tx.tx_type,)) + rlp.encode(fields))


def sign_transaction(
    secret_key: bytes,
    *,
    tx_type: int,
    chain_id: int | None,
    nonce: int,
    gas_limit: int,
    to: int | None,
    value: int = 0,
    data: bytes = b"",
    gas_price: int | None = None,
    max_priority_fee_per_gas: int | None = None,
    max_fee_per_gas: int | None = None,
    access_list: Iterable[tuple[int, Iterable[int]]] = (),
    max_fee_per_blob_gas: int | None = None,
    blob_versioned_hashes: Iterable[bytes] = (),
) -> Transaction:
    """Build, sign and return a transaction (decoded back from its wire form).

    Fee fields must match the type: ``gas_price`` for types 0 and 1, the two
    ``max_*_fee_per_gas`` for types 2 and 3, ``max_fee_per_blob_gas`` and the
    versioned hashes for type 3 only. ``chain_id`` None makes a legacy
    transaction without EIP-155 replay protection.
    """
    if tx_type not in SUPPORTED_TYPES:
        raise UnsupportedType(f"transaction type {tx_type} is not supported")
    legacy_fees = tx_type in (LEGACY_TX, ACCESS_LIST_TX)
    if legacy_fees != (gas_price is not None):
        raise TransactionError(f"gas_price is required for type {tx_type} and only for 0 and 1")
    market = (max_priority_fee_per_gas, max_fee_per_gas)
    if legacy_fees != (market == (None, None)) or (not legacy_fees and None in market):
        raise TransactionError("types 2 and 3 take max_priority_fee_per_gas and max_fee_per_gas")
    hashes = tuple(bytes(h) for h in blob_versioned_hashes)
    if tx_type != BLOB_TX and (max_fee_per_blob_gas is not None or hashes):
        raise TransactionError("blob fields are only for type 3")
    if tx_type == BLOB_TX and max_fee_per_blob_gas is None:
        raise TransactionError("a type-3 transaction needs max_fee_per_blob_gas")
    if chain_id is None and tx_type != LEGACY_TX:
        raise TransactionError("typed transactions carry a chain id")
    accesses = tuple((address, tuple(keys)) for address, keys in access_list)
    if accesses and tx_type == LEGACY_TX:
        raise TransactionError("a legacy transaction has no access list")
    draft = Transaction(
        tx_type=tx_type,
        chain_id=chain_id,
        nonce=nonce,
        gas_price=gas_price,
        max_priority_fee_per_gas=max_priority_fee_per_gas,
        max_fee_per_gas=max_fee_per_gas,
        gas_limit=gas_limit,
        to=to,
        value=value,
        data=bytes(data),
        access_list=accesses,
        max_fee_per_blob_gas=max_fee_per_blob_gas,
        blob_versioned_hashes=hashes,
        v=0,
        r=0,
        s=0,
        sender=0,
        hash=b"",
    )
    try:
        parity, r, s = sign_hash(signing_hash(draft), secret_key)
    except (ValueError, TypeError, OverflowError) as exc:
        raise TransactionError(f"cannot sign: {exc}") from exc
    if tx_type != LEGACY_TX:
        v = parity
    elif chain_id is None:
        v = 27 + parity
    else:
        v = 35 + 2 * chain_id + parity
    try:
        wire = encode_transaction(replace(draft, v=v, r=r, s=s))
    except (rlp.RLPError, OverflowError) as exc:
        raise TransactionError(f"cannot encode: {exc}") from exc
    return decode_transaction(wire)


# ------------------------------------------------------------ validation


def intrinsic_gas(tx: Transaction) -> int:
    """Gas charged before execution (Cancun rules)."""
    data = tx.data
    zeros = data.count(0)
    gas = TX_BASE_GAS + TX_DATA_ZERO_GAS * zeros + TX_DATA_NONZERO_GAS * (len(data) - zeros)
    if tx.to is None:
        gas += TX_CREATE_GAS + INITCODE_WORD_GAS * ((len(data) + 31) // 32)
    for _, keys in tx.access_list:
        gas += ACCESS_LIST_ADDRESS_GAS + ACCESS_LIST_STORAGE_KEY_GAS * len(keys)
    return gas


def validate_intrinsic(tx: Transaction) -> None:
    """Raise :class:`IntrinsicGasTooLow` when the gas limit cannot pay the intrinsic gas."""
    needed = intrinsic_gas(tx)
    if needed > tx.gas_limit:
        raise IntrinsicGasTooLow(f"intrinsic gas {needed} exceeds the gas limit {tx.gas_limit}")


def validate_transaction(tx: Transaction, *, chain_id: int) -> None:
    """Every check that needs neither state nor block, for a chain with ``chain_id``.

    Legacy transactions without EIP-155 protection are accepted on any chain.
    """
    _check_chain(tx.chain_id, chain_id)
    if tx.nonce >= NONCE_LIMIT:
        raise NonceTooHigh(f"nonce {tx.nonce} is not below 2**64 - 1 (EIP-2681)")
    if tx.max_priority_fee_per_gas is not None:
        assert tx.max_fee_per_gas is not None
        if tx.max_priority_fee_per_gas > tx.max_fee_per_gas:
            raise PriorityFeeTooHigh(
                f"max_priority_fee_per_gas {tx.max_priority_fee_per_gas} is above "
                f"max_fee_per_gas {tx.max_fee_per_gas}"
            )
    if tx.gas_limit * tx.fee_cap >= UINT256_LIMIT:
        raise GasCostOverflow("gas_limit * fee cap does not fit in 256 bits")
    if tx.to is None and len(tx.data) > MAX_INITCODE_SIZE:
        raise InitcodeTooLarge(
            f"initcode is {len(tx.data)} bytes, the limit is {MAX_INITCODE_SIZE} (EIP-3860)"
        )
    if tx.tx_type == BLOB_TX:
        _validate_blobs(tx)
    validate_intrinsic(tx)


def _validate_blobs(tx: Transaction) -> None:
    count = len(tx.blob_versioned_hashes)
    if count == 0:
        raise InvalidBlobTransaction("a blob transaction needs at least one blob")
    if count > MAX_BLOBS_PER_BLOCK:
        raise InvalidBlobTransaction(
            f"{count} blobs, more than the {MAX_BLOBS_PER_BLOCK} a block can hold"
        )
    for index, versioned in enumerate(tx.blob_versioned_hashes):
        if versioned[0] != VERSIONED_HASH_VERSION_KZG:
            raise InvalidBlobTransaction(
                f"blob versioned hash {index} has version {versioned[0]:#04x}, expected 0x01"
            )


def effective_gas_price(tx: Transaction, base_fee: int) -> int:
    """Price per gas the sender pays in a block with ``base_fee`` (EIP-1559).

    Raises :class:`FeeCapTooLow` when the fee cap is below the base fee.
    """
    if tx.fee_cap < base_fee:
        raise FeeCapTooLow(f"fee cap {tx.fee_cap} is below the base fee {base_fee}")
    if tx.max_priority_fee_per_gas is None:
        return tx.fee_cap
    return min(tx.fee_cap, base_fee + tx.max_priority_fee_per_gas)
