"""The MODEXP precompile (0x05): EIP-198 big-integer modular exponentiation, EIP-2565 pricing.

Input: base length, exponent length, modulus length (32 bytes each, big-endian), then
base, exponent and modulus; all of it zero-padded on the right. The declared lengths can be
as large as 2**256 - 1, so the price is computed from the lengths and the first 32 bytes of
the exponent before any operand is read: an operand is only read once its size is paid for.
"""

from __future__ import annotations

from .base import charge, read_padded, read_uint

MODEXP_MIN_GAS = 200
MODEXP_QUAD_DIVISOR = 3


def multiplication_complexity(base_length: int, modulus_length: int) -> int:
    """EIP-2565: the square of the number of 8-byte words in the longer operand."""
    words = (max(base_length, modulus_length) + 7) // 8
    return words * words


def iteration_count(exponent_length: int, exponent_head: int) -> int:
    """EIP-2565 iteration count, from the exponent length and its first (up to) 32 bytes."""
    if exponent_length <= 32:
        count = exponent_head.bit_length() - 1 if exponent_head else 0
    else:
        count = 8 * (exponent_length - 32)
        if exponent_head:
            count += exponent_head.bit_length() - 1
    return max(count, 1)


def modexp_gas(base_length: int, exponent_length: int, modulus_length: int, head: int) -> int:
    """Gas for one MODEXP call (EIP-2565): at least 200."""
    cost = multiplication_complexity(base_length, modulus_length)
    cost *= iteration_count(exponent_length, head)
    return max(MODEXP_MIN_GAS, cost // MODEXP_QUAD_DIVISOR)


def modexp_precompile(data: bytes, gas: int) -> tuple[int, bytes]:
    """0x05: base ** exponent % modulus, output left-padded to the modulus length."""
    base_length = read_uint(data, 0)
    exponent_length = read_uint(data, 32)
    modulus_length = read_uint(data, 64)
    exponent_start = 96 + base_length
    head = read_uint(data, exponent_start, min(32, exponent_length))
    used = charge(modexp_gas(base_length, exponent_length, modulus_length, head), gas)

    if base_length == 0 and modulus_length == 0:
        return used, b""
    # Paid for: base and modulus lengths are now bounded by the gas given, and so is the
    # exponent length whenever either of them is non-zero.
    base = int.from_bytes(read_padded(data, 96, base_length), "big")
    exponent = int.from_bytes(read_padded(data, exponent_start, exponent_length), "big")
    modulus_start = exponent_start + exponent_length
    modulus = int.from_bytes(read_padded(data, modulus_start, modulus_length), "big")
    if modulus == 0:
        return used, bytes(modulus_length)
    return used, pow(base, exponent, modulus).to_bytes(modulus_length, "big")
