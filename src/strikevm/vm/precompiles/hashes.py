"""The hashing precompiles: SHA2-256 (0x02), RIPEMD-160 (0x03) and identity (0x04)."""

from __future__ import annotations

from strikevm.crypto import ripemd160, sha256

from .base import charge, word_count

SHA256_BASE_GAS = 60
SHA256_WORD_GAS = 12
RIPEMD160_BASE_GAS = 600
RIPEMD160_WORD_GAS = 120
IDENTITY_BASE_GAS = 15
IDENTITY_WORD_GAS = 3


def sha256_precompile(data: bytes, gas: int) -> tuple[int, bytes]:
    """0x02: SHA2-256 of the input, 60 + 12 gas per word."""
    used = charge(SHA256_BASE_GAS + SHA256_WORD_GAS * word_count(len(data)), gas)
    return used, sha256(bytes(data))


def ripemd160_precompile(data: bytes, gas: int) -> tuple[int, bytes]:
    """0x03: RIPEMD-160 of the input, left-padded to 32 bytes; 600 + 120 gas per word."""
    used = charge(RIPEMD160_BASE_GAS + RIPEMD160_WORD_GAS * word_count(len(data)), gas)
    return used, bytes(12) + ripemd160(bytes(data))


def identity_precompile(data: bytes, gas: int) -> tuple[int, bytes]:
    """0x04: returns its input unchanged; 15 + 3 gas per word."""
    used = charge(IDENTITY_BASE_GAS + IDENTITY_WORD_GAS * word_count(len(data)), gas)
    return used, bytes(data)
