"""Hash functions and secp256k1 signatures: keccak256, sha256, ripemd160, ecrecover."""

from __future__ import annotations

import hashlib

from Crypto.Hash import RIPEMD160

try:
    from sha3 import keccak_256 as _keccak_256  # safe-pysha3 (C)
except ImportError:  # pragma: no cover - fallback when safe-pysha3 is unavailable
    from Crypto.Hash import keccak as _pyc_keccak

    def _keccak_256(data: bytes = b""):  # type: ignore[no-redef]
        return _pyc_keccak.new(data=data, digest_bits=256)


from coincurve import PrivateKey, PublicKey

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

EMPTY_KECCAK = bytes.fromhex("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")


def keccak256(data: bytes) -> bytes:
    return _keccak_256(data).digest()


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def ripemd160(data: bytes) -> bytes:
    return RIPEMD160.new(data).digest()


class SignatureError(ValueError):
    """A signature is malformed or does not recover to a public key."""


def recover_public_key(msg_hash: bytes, v: int, r: int, s: int) -> bytes:
    """Return the 64-byte uncompressed public key (without 0x04) for a signature.

    ``v`` is the recovery id (0 or 1).
    """
    if v not in (0, 1):
        raise SignatureError(f"recovery id must be 0 or 1, got {v}")
    if not (0 < r < SECP256K1_N and 0 < s < SECP256K1_N):
        raise SignatureError("r or s out of range")
    sig = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes((v,))
    try:
        pub = PublicKey.from_signature_and_message(sig, msg_hash, hasher=None)
    except Exception as exc:  # coincurve raises a plain Exception
        raise SignatureError("signature does not recover to a public key") from exc
    return pub.format(compressed=False)[1:]


def public_key_to_address(pub64: bytes) -> bytes:
    return keccak256(pub64)[12:]


def ecrecover_address(msg_hash: bytes, v: int, r: int, s: int) -> bytes:
    return public_key_to_address(recover_public_key(msg_hash, v, r, s))


def private_key_to_address(secret: bytes) -> bytes:
    return public_key_to_address(PrivateKey(secret).public_key.format(compressed=False)[1:])


def sign_hash(msg_hash: bytes, secret: bytes) -> tuple[int, int, int]:
    """Sign a 32-byte hash; return (recovery id, r, s) with low s."""
    sig = PrivateKey(secret).sign_recoverable(msg_hash, hasher=None)
    return sig[64], int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big")
