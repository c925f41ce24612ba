"""The ECRECOVER precompile (0x01): secp256k1 public key recovery to an address."""

from __future__ import annotations

from strikevm.crypto import (
    SECP256K1_N,
    SignatureError,
    public_key_to_address,
    recover_public_key,
)

from .base import charge, read_padded

ECRECOVER_GAS = 3000


def ecrecover_precompile(data: bytes, gas: int) -> tuple[int, bytes]:
    """0x01: input is hash | v | r | s (32 bytes each, right-padded with zeros).

    Any invalid signature succeeds with an empty output; only lack of gas fails.
    """
    used = charge(ECRECOVER_GAS, gas)
    buf = read_padded(data, 0, 128)
    msg_hash = buf[0:32]
    v = int.from_bytes(buf[32:64], "big")
    r = int.from_bytes(buf[64:96], "big")
    s = int.from_bytes(buf[96:128], "big")
    if v not in (27, 28):
        return used, b""
    if not (0 < r < SECP256K1_N and 0 < s < SECP256K1_N):
        return used, b""
    try:
        public_key = recover_public_key(msg_hash, v - 27, r, s)
    except SignatureError:
        return used, b""
    return used, bytes(12) + public_key_to_address(public_key)
