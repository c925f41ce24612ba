"""Execution context: the block, the transaction and a message (one call or create)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from strikevm.crypto import keccak256


def fake_block_hash(number: int) -> int:
    """Block hash convention of state-test runners: keccak256 of the decimal number."""
    return int.from_bytes(keccak256(str(number).encode()), "big")


@dataclass(slots=True)
class BlockEnv:
    coinbase: int = 0
    number: int = 0
    timestamp: int = 0
    gas_limit: int = 30_000_000
    prev_randao: int = 0
    base_fee: int = 0
    excess_blob_gas: int = 0
    chain_id: int = 1
    block_hash: Callable[[int], int] = fake_block_hash

    @property
    def blob_base_fee(self) -> int:
        return blob_base_fee(self.excess_blob_gas)


@dataclass(slots=True)
class TxEnv:
    origin: int = 0
    gas_price: int = 0
    blob_hashes: tuple[bytes, ...] = field(default_factory=tuple)


MIN_BLOB_GASPRICE = 1
BLOB_BASE_FEE_UPDATE_FRACTION = 3338477
GAS_PER_BLOB = 1 << 17


def fake_exponential(factor: int, numerator: int, denominator: int) -> int:
    """EIP-4844 integer approximation of factor * e ** (numerator / denominator)."""
    i = 1
    output = 0
    accum = factor * denominator
    while accum > 0:
        output += accum
        accum = (accum * numerator) // (denominator * i)
        i += 1
    return output // denominator


def blob_base_fee(excess_blob_gas: int) -> int:
    return fake_exponential(MIN_BLOB_GASPRICE, excess_blob_gas, BLOB_BASE_FEE_UPDATE_FRACTION)


@dataclass(slots=True)
class Message:
    """One call or contract creation.

    ``target`` is the account whose storage and balance the code acts on;
    ``code_address`` is where the code came from (they differ for
    DELEGATECALL and CALLCODE).
    """

    caller: int
    target: int
    value: int
    data: bytes
    gas: int
    code: bytes
    code_address: int
    depth: int = 0
    is_static: bool = False
    is_create: bool = False
    transfer_value: bool = True


@dataclass(slots=True)
class MessageResult:
    success: bool
    gas_left: int
    output: bytes
    error: Exception | None = None
    created: int | None = None
