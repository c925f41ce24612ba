"""Transactions: the official TransactionTests (Cancun verdicts) and unit tests."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from strikevm.chain.transaction import (
    MAX_BLOBS_PER_BLOCK,
    MAX_INITCODE_SIZE,
    SECP256K1_HALF_N,
    FeeCapTooLow,
    FieldOverflow,
    GasCostOverflow,
    InitcodeTooLarge,
    IntrinsicGasTooLow,
    InvalidAccessList,
    InvalidAddress,
    InvalidBlobTransaction,
    InvalidChainId,
    InvalidRLP,
    InvalidSignature,
    NonceTooHigh,
    PriorityFeeTooHigh,
    Transaction,
    TransactionError,
    UnsupportedType,
    decode_transaction,
    effective_gas_price,
    encode_transaction,
    intrinsic_gas,
    sign_transaction,
    signing_hash,
    validate_intrinsic,
    validate_transaction,
)
from strikevm.crypto import SECP256K1_N, private_key_to_address
from strikevm.fixtures import conformance_dir
from strikevm.primitives import rlp

FORK = "Cancun"
CHAIN_ID = 1  # the chain id of the TransactionTests
FORK_ORDER = (
    "Frontier", "Homestead", "EIP150", "EIP158", "Byzantium", "Constantinople",
    "ConstantinopleFix", "Istanbul", "Berlin", "London", "Paris", "Shanghai", "Cancun",
)  # fmt: skip

# expected exception name (without "TransactionException.") -> acceptable error classes
_EXACT: dict[str, tuple[type[TransactionError], ...]] = {
    "ADDRESS_TOO_SHORT": (InvalidAddress,),
    "ADDRESS_TOO_LONG": (InvalidAddress,),
    "INTRINSIC_GAS_TOO_LOW": (IntrinsicGasTooLow,),
    "GASLIMIT_PRICE_PRODUCT_OVERFLOW": (GasCostOverflow,),
    "GASPRICE_OVERFLOW": (FieldOverflow,),
    "PRIORITY_OVERFLOW": (FieldOverflow,),
    "VALUE_OVERFLOW": (FieldOverflow,),
    "NONCE_OVERFLOW": (FieldOverflow,),
    "GASLIMIT_OVERFLOW": (FieldOverflow,),
    "NONCE_TOO_BIG": (NonceTooHigh,),
    "PRIORITY_GREATER_THAN_MAX_FEE_PER_GAS": (PriorityFeeTooHigh,),
    "PRIORITY_GREATER_THAN_MAX_FEE_PER_GAS_2": (PriorityFeeTooHigh,),
    "INITCODE_SIZE_EXCEEDED": (InitcodeTooLarge,),
    "INVALID_SIGNATURE_VRS": (InvalidSignature,),
    "EC_RECOVERY_FAIL": (InvalidSignature,),
    # a legacy v that is neither 27/28 nor >= 35 names no chain; we call it a bad signature
    "INVALID_CHAINID": (InvalidChainId, InvalidSignature),
    # a bare RLP string is not a typed envelope either
    "TYPE_NOT_SUPPORTED": (UnsupportedType, InvalidRLP),
}


def _expected_classes(name: str) -> tuple[type[TransactionError], ...]:
    short = name.removeprefix("TransactionException.")
    if short in _EXACT:
        return _EXACT[short]
    if short.startswith("RLP_INVALID_ACCESS_LIST"):
        return (InvalidAccessList,)
    if short.startswith("RLP_"):
        return (InvalidRLP,)
    raise AssertionError(f"no error class is mapped to {name}")


def _fixture_files() -> list[tuple[str, bool]]:
    """(path below transaction_tests/, has a Cancun result) for every fixture file."""
    root = conformance_dir() / "transaction_tests"
    if not root.is_dir():
        return []
    found = []
    for path in sorted(root.glob("*/*.json")):
        with path.open() as fh:
            tests = json.load(fh)
        has_fork = all(FORK in test["result"] for test in tests.values())
        found.append((path.relative_to(root).as_posix(), has_fork))
    return found


_FILES = _fixture_files()
_CANCUN_FILES = [rel for rel, has in _FILES if has] or ["<fixtures missing>"]
_EARLIER_FILES = [rel for rel, has in _FILES if not has] or ["<fixtures missing>"]


def _load(conformance: Path, rel: str) -> dict[str, Any]:
    with (conformance / "transaction_tests" / rel).open() as fh:
        return json.load(fh)


def _check(raw: bytes) -> tuple[Transaction | None, TransactionError | None]:
    """Decode and statically validate; return the transaction or the rejection."""
    tx: Transaction | None = None
    try:
        tx = decode_transaction(raw, chain_id=CHAIN_ID)
        validate_transaction(tx, chain_id=CHAIN_ID)
    except TransactionError as exc:
        return tx, exc
    return tx, None


def test_fixture_inventory(conformance: Path) -> None:
    assert len(_FILES) == 210
    assert len([rel for rel, has in _FILES if has]) == 149


@pytest.mark.parametrize("rel", _CANCUN_FILES)
def test_cancun_vector(conformance: Path, rel: str) -> None:
    for name, test in _load(conformance, rel).items():
        raw = bytes.fromhex(test["txbytes"][2:])
        expected = test["result"][FORK]
        tx, error = _check(raw)
        exception = expected.get("exception")
        if exception is None:
            assert error is None, f"{name}: rejected a valid transaction: {error!r}"
            assert tx is not None
            assert "0x" + tx.hash.hex() == expected["hash"], name
            assert tx.sender == int(expected["sender"], 16), name
            assert intrinsic_gas(tx) == int(expected["intrinsicGas"], 16), name
            assert encode_transaction(tx) == raw, name
        else:
            assert error is not None, f"{name}: accepted, expected {exception}"
            assert isinstance(error, _expected_classes(exception)), (
                f"{name}: {type(error).__name__} ({error}) for {exception}"
            )
            expected_gas = int(expected["intrinsicGas"], 16)
            if tx is not None and expected_gas:
                assert intrinsic_gas(tx) == expected_gas, name


@pytest.mark.parametrize("rel", _EARLIER_FILES)
def test_vector_without_cancun_result(conformance: Path, rel: str) -> None:
    """These stop at an earlier fork; every fork they list rejects them, and so do we."""
    for name, test in _load(conformance, rel).items():
        results = test["result"]
        last = max(results, key=FORK_ORDER.index)
        assert all("exception" in verdict for verdict in results.values()), name
        _, error = _check(bytes.fromhex(test["txbytes"][2:]))
        assert error is not None, f"{name}: accepted, every listed fork rejects it"
        exception = results[last]["exception"]
        assert isinstance(error, _expected_classes(exception)), (
            f"{name}: {type(error).__name__} ({error}) for {exception}"
        )


# ------------------------------------------------------------ unit tests

KEY = bytes.fromhex("45a915e4d060149eb4365960e6a7a45f334393093061116b197e3240065ff2d8")
SENDER = int.from_bytes(private_key_to_address(KEY), "big")
TO = 0x095E7BAEA6A6C7C4C2DFEB977EFAC326AF552D87
BLOB_HASH = b"\x01" + b"\xab" * 31


def _sign(tx_type: int, **overrides: Any) -> Transaction:
    fields: dict[str, Any] = {
        "tx_type": tx_type,
        "chain_id": CHAIN_ID,
        "nonce": 3,
        "gas_limit": 100_000,
        "to": TO,
        "value": 10**18,
        "data": b"\x00\x01\x02",
    }
    if tx_type in (0, 1):
        fields["gas_price"] = 10**10
    else:
        fields["max_priority_fee_per_gas"] = 2 * 10**9
        fields["max_fee_per_gas"] = 3 * 10**10
    if tx_type in (1, 2, 3):
        fields["access_list"] = [(TO, [0, 1]), (0x1234, [])]
    if tx_type == 3:
        fields["max_fee_per_blob_gas"] = 7
        fields["blob_versioned_hashes"] = [BLOB_HASH]
    fields.update(overrides)
    return sign_transaction(KEY, **fields)


def test_eip155_example() -> None:
    """The worked example of EIP-155."""
    tx = sign_transaction(
        bytes([0x46]) * 32,
        tx_type=0,
        chain_id=1,
        nonce=9,
        gas_price=20 * 10**9,
        gas_limit=21000,
        to=int("35" * 20, 16),
        value=10**18,
    )
    assert signing_hash(tx).hex() == (
        "daf5a779ae972f972197303d7b574746c7ef83eadac0f2791ad23db92e4c8e53"
    )
    assert encode_transaction(tx).hex() == (
        "f86c098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a764000080"
        "25a028ef61340bd939bc2195fe537567866003e1a15d3c71ff63e1590620aa636276a067cbe9d8997f761a"
        "ecb703304b3800ccf555c9f3dc64214b297fb1966a3b6d83"
    )
    assert tx.v == 37 and tx.y_parity == 0


@pytest.mark.parametrize(
    ("tx_type", "chain_id"), [(0, None), (0, 1), (0, 1337), (1, 1), (2, 1), (3, 5)]
)
def test_sign_decode_roundtrip(tx_type: int, chain_id: int | None) -> None:
    tx = _sign(tx_type, chain_id=chain_id)
    assert tx.tx_type == tx_type
    assert tx.chain_id == chain_id
    assert tx.sender == SENDER
    raw = encode_transaction(tx)
    assert (raw[0] >= 0xC0) == (tx_type == 0)
    again = decode_transaction(raw)
    assert again == tx
    assert hash(again) == hash(tx)
    assert tx.s <= SECP256K1_HALF_N
    assert tx.y_parity in (0, 1)
    if chain_id is not None:
        validate_transaction(tx, chain_id=chain_id)


def test_typed_fields_roundtrip() -> None:
    tx = _sign(3)
    assert tx.access_list == ((TO, (0, 1)), (0x1234, ()))
    assert tx.blob_versioned_hashes == (BLOB_HASH,)
    assert tx.max_fee_per_blob_gas == 7
    assert tx.gas_price is None
    assert tx.blob_gas == 2**17
    legacy = _sign(0)
    assert legacy.access_list == () and legacy.max_fee_per_gas is None


def test_contract_creation() -> None:
    tx = _sign(2, to=None, data=b"\x60\x00" * 10)
    assert tx.is_create and tx.to is None
    assert decode_transaction(encode_transaction(tx)).to is None
    with pytest.raises(InvalidBlobTransaction):
        _sign(3, to=None)


def test_signature_tampering() -> None:
    tx = _sign(2)
    raw = bytearray(encode_transaction(tx))
    raw[20] ^= 0xFF  # inside the signed payload: recovers someone else, or nothing
    try:
        other = decode_transaction(bytes(raw))
    except TransactionError:
        pass
    else:
        assert other.sender != tx.sender


def _resign(tx: Transaction, **changes: Any) -> bytes:
    """Wire form of ``tx`` with some signature values replaced (not re-signed)."""
    return encode_transaction(dataclasses.replace(tx, **changes))


@pytest.mark.parametrize("tx_type", [0, 2])
def test_high_s_is_rejected(tx_type: int) -> None:
    tx = _sign(tx_type)
    other_parity = 1 - tx.y_parity  # (r, N - s) recovers the same key with the other id
    assert tx.chain_id is not None
    v = other_parity if tx_type else 35 + 2 * tx.chain_id + other_parity
    raw = _resign(tx, s=SECP256K1_N - tx.s, v=v)
    with pytest.raises(InvalidSignature, match="low s"):
        decode_transaction(raw)


@pytest.mark.parametrize(
    "changes",
    [{"r": 0}, {"s": 0}, {"r": SECP256K1_N}, {"v": 2}],
)
def test_bad_signature_values(changes: dict[str, int]) -> None:
    with pytest.raises(InvalidSignature):
        decode_transaction(_resign(_sign(2), **changes))


def test_legacy_v_values() -> None:
    tx = _sign(0, chain_id=None)
    assert tx.v in (27, 28)
    with pytest.raises(InvalidSignature):
        decode_transaction(_resign(tx, v=29))
    protected = _sign(0, chain_id=5)
    assert protected.v in (45, 46)


def test_chain_id_checks() -> None:
    tx = _sign(2, chain_id=5)
    raw = encode_transaction(tx)
    with pytest.raises(InvalidChainId):
        decode_transaction(raw, chain_id=1)
    assert decode_transaction(raw, chain_id=5) == tx
    with pytest.raises(InvalidChainId):
        validate_transaction(tx, chain_id=1)
    legacy = _sign(0, chain_id=7)
    with pytest.raises(InvalidChainId):
        decode_transaction(encode_transaction(legacy), chain_id=1)
    unprotected = _sign(0, chain_id=None)
    decode_transaction(encode_transaction(unprotected), chain_id=1)
    validate_transaction(unprotected, chain_id=1)


def test_intrinsic_gas() -> None:
    plain = _sign(0, data=b"")
    assert intrinsic_gas(plain) == 21000
    data = _sign(0, data=b"\x00\x00\x01")
    assert intrinsic_gas(data) == 21000 + 4 + 4 + 16
    access = _sign(1, data=b"")  # two addresses, two keys
    assert intrinsic_gas(access) == 21000 + 2 * 2400 + 2 * 1900
    create = _sign(2, to=None, data=b"\x01" * 33, access_list=[])
    assert intrinsic_gas(create) == 21000 + 32000 + 33 * 16 + 2 * 2


def test_validate_intrinsic() -> None:
    exact = _sign(0, data=b"", gas_limit=21000)
    validate_intrinsic(exact)
    short = _sign(0, data=b"", gas_limit=20999)
    with pytest.raises(IntrinsicGasTooLow):
        validate_intrinsic(short)
    with pytest.raises(IntrinsicGasTooLow):
        validate_transaction(short, chain_id=CHAIN_ID)


def test_static_rules() -> None:
    with pytest.raises(NonceTooHigh):
        validate_transaction(_sign(2, nonce=2**64 - 1), chain_id=CHAIN_ID)
    validate_transaction(_sign(2, nonce=2**64 - 2), chain_id=CHAIN_ID)
    with pytest.raises(FieldOverflow):
        _sign(2, nonce=2**64)
    with pytest.raises(PriorityFeeTooHigh):
        validate_transaction(
            _sign(2, max_priority_fee_per_gas=11, max_fee_per_gas=10), chain_id=CHAIN_ID
        )
    with pytest.raises(GasCostOverflow):
        validate_transaction(_sign(0, gas_price=2**255), chain_id=CHAIN_ID)
    big = b"\x00" * (MAX_INITCODE_SIZE + 1)
    with pytest.raises(InitcodeTooLarge):
        validate_transaction(_sign(2, to=None, data=big, gas_limit=10**7), chain_id=CHAIN_ID)
    validate_transaction(_sign(2, to=None, data=big[:-1], gas_limit=10**7), chain_id=CHAIN_ID)
    validate_transaction(_sign(2, data=big, gas_limit=10**7), chain_id=CHAIN_ID)  # not a create


def test_blob_rules() -> None:
    validate_transaction(_sign(3), chain_id=CHAIN_ID)
    with pytest.raises(InvalidBlobTransaction, match="at least one"):
        validate_transaction(_sign(3, blob_versioned_hashes=[]), chain_id=CHAIN_ID)
    bad_version = [b"\x02" + b"\x00" * 31]
    with pytest.raises(InvalidBlobTransaction, match="version"):
        validate_transaction(_sign(3, blob_versioned_hashes=bad_version), chain_id=CHAIN_ID)
    too_many = [BLOB_HASH] * (MAX_BLOBS_PER_BLOCK + 1)
    with pytest.raises(InvalidBlobTransaction, match="blobs"):
        validate_transaction(_sign(3, blob_versioned_hashes=too_many), chain_id=CHAIN_ID)


def test_effective_gas_price() -> None:
    legacy = _sign(0, gas_price=100)
    assert effective_gas_price(legacy, 60) == 100
    with pytest.raises(FeeCapTooLow):
        effective_gas_price(legacy, 101)
    market = _sign(2, max_priority_fee_per_gas=5, max_fee_per_gas=100)
    assert effective_gas_price(market, 60) == 65
    assert effective_gas_price(market, 97) == 100
    assert effective_gas_price(market, 100) == 100
    with pytest.raises(FeeCapTooLow):
        effective_gas_price(market, 101)


def _typed(tx_type: int, fields: list[object]) -> bytes:
    return bytes((tx_type,)) + rlp.encode(fields)


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"", InvalidRLP),
        (b"\x04" + rlp.encode([]), UnsupportedType),
        (b"\x7f\xc0", UnsupportedType),
        (b"\x00\xc0", UnsupportedType),
        (rlp.encode(b"\x01" * 40), InvalidRLP),
        (b"\x02", InvalidRLP),
        (b"\x02" + rlp.encode(b"abc"), InvalidRLP),
        (_typed(2, [1] * 11), InvalidRLP),
        (_typed(3, [[1] * 11, [], [], []]), InvalidRLP),
        (rlp.encode([1] * 8), InvalidRLP),
    ],
)
def test_malformed_envelopes(raw: bytes, error: type[TransactionError]) -> None:
    with pytest.raises(error):
        decode_transaction(raw)


def _typed_with(tx: Transaction, index: int, item: object) -> bytes:
    fields = rlp.decode(encode_transaction(tx)[1:])
    assert isinstance(fields, list)
    fields[index] = item
    return bytes((tx.tx_type,)) + rlp.encode(fields)


@pytest.mark.parametrize(
    ("index", "item", "error"),
    [
        (8, [[b"\x01" * 19, []]], InvalidAccessList),
        (8, [[b"\x01" * 20, [b"\x01" * 31]]], InvalidAccessList),
        (8, [[b"\x01" * 20]], InvalidAccessList),
        (8, [b"\x01" * 20], InvalidAccessList),
        (8, b"", InvalidRLP),
        (5, b"\x01" * 21, InvalidAddress),
        (7, [b""], InvalidRLP),
        (10, [b"\x01" * 31], InvalidBlobTransaction),
        (11, 2, InvalidSignature),
        (0, b"\x00\x01", InvalidRLP),
    ],
)
def test_malformed_fields(index: int, item: object, error: type[TransactionError]) -> None:
    with pytest.raises(error):
        decode_transaction(_typed_with(_sign(3), index, item))


@pytest.mark.parametrize(
    "overrides",
    [
        {"tx_type": 4},
        {"tx_type": 2, "gas_price": 1},
        {"tx_type": 0, "max_fee_per_gas": 1, "max_priority_fee_per_gas": 1},
        {"tx_type": 2, "max_fee_per_gas": None},
        {"tx_type": 2, "max_fee_per_blob_gas": 1},
        {"tx_type": 3, "max_fee_per_blob_gas": None},
        {"tx_type": 2, "chain_id": None},
        {"tx_type": 0, "access_list": [(TO, [])]},
        {"tx_type": 0, "value": -1},
        {"tx_type": 0, "to": 2**160},
    ],
)
def test_sign_transaction_rejects_inconsistent_fields(overrides: dict[str, Any]) -> None:
    tx_type = overrides.pop("tx_type")
    base = 0 if tx_type == 4 else tx_type
    fields: dict[str, Any] = {"chain_id": CHAIN_ID, "nonce": 0, "gas_limit": 21000, "to": TO}
    if base in (0, 1):
        fields["gas_price"] = 1
    else:
        fields.update(max_fee_per_gas=2, max_priority_fee_per_gas=1)
    if base == 3:
        fields.update(max_fee_per_blob_gas=1, blob_versioned_hashes=[BLOB_HASH])
    fields.update(overrides)
    with pytest.raises(TransactionError):
        sign_transaction(KEY, tx_type=tx_type, **fields)


def test_transaction_is_immutable() -> None:
    tx = _sign(2)
    with pytest.raises(AttributeError):
        tx.nonce = 4  # type: ignore[misc]
