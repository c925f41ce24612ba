"""The POINT_EVALUATION precompile (0x0a): EIP-4844 KZG proof verification.

Input (exactly 192 bytes): versioned_hash | z | y | commitment (48) | proof (48). It
succeeds when versioned_hash == 0x01 || sha256(commitment)[1:] and the proof shows that the
polynomial committed to evaluates to y at z. The proof is checked by ckzg against the
Ethereum mainnet KZG trusted setup.

Where the trusted setup comes from: the ckzg wheel ships none, so the mainnet setup file
(the c-kzg-4844 ``trusted_setup.txt`` format) is taken from the package data of the
``eth-account`` distribution on PyPI
(``eth_account/typed_transactions/blob_transactions/kzg_trusted_setup.txt``). The
environment variable ``STRIKEVM_KZG_TRUSTED_SETUP`` may name another copy instead. Either
way the file's contents are checked against a pinned fingerprint of the mainnet setup
before use, so a different or damaged setup can never be loaded silently. It is loaded
once, on first use.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from pathlib import Path
from typing import Any

import ckzg

from strikevm.crypto import sha256

from .base import PrecompileError, charge

POINT_EVALUATION_GAS = 50000
POINT_EVALUATION_INPUT_SIZE = 192
VERSIONED_HASH_VERSION_KZG = 0x01
FIELD_ELEMENTS_PER_BLOB = 4096
BLS_MODULUS = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001

POINT_EVALUATION_OUTPUT = FIELD_ELEMENTS_PER_BLOB.to_bytes(32, "big") + BLS_MODULUS.to_bytes(
    32, "big"
)

TRUSTED_SETUP_ENV = "STRIKEVM_KZG_TRUSTED_SETUP"
_PACKAGE_SETUP = ("typed_transactions", "blob_transactions", "kzg_trusted_setup.txt")

# sha256 of the mainnet setup's whitespace-separated tokens joined by single newlines
# (the counts 4096 and 65, then 4096 G1 Lagrange points, 65 G2 monomial points and
# 4096 G1 monomial points, hex without 0x): independent of line endings and trailing space.
MAINNET_SETUP_FINGERPRINT = "e695ba9905a832de98dc3567febe326b760382bfd77a9a6880ca51b602a7d7ff"

_setup_lock = threading.Lock()
_setup: Any = None


def kzg_to_versioned_hash(commitment: bytes) -> bytes:
    """EIP-4844 versioned hash of a 48-byte KZG commitment."""
    return bytes((VERSIONED_HASH_VERSION_KZG,)) + sha256(commitment)[1:]


def setup_fingerprint(text: str) -> str:
    """Fingerprint of a trusted setup file's contents (see MAINNET_SETUP_FINGERPRINT)."""
    return hashlib.sha256("\n".join(text.split()).encode("ascii")).hexdigest()


def trusted_setup_path() -> Path:
    """Locate the mainnet trusted setup file (environment override, else eth-account data)."""
    override = os.environ.get(TRUSTED_SETUP_ENV)
    if override:
        return Path(override)
    spec = importlib.util.find_spec("eth_account")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "KZG trusted setup not found: install eth-account (it ships the mainnet setup) "
            f"or set {TRUSTED_SETUP_ENV} to the path of the mainnet trusted_setup.txt"
        )
    return Path(next(iter(spec.submodule_search_locations))).joinpath(*_PACKAGE_SETUP)


def trusted_setup() -> Any:
    """The loaded ckzg mainnet settings, loaded and checked once on first use."""
    global _setup
    if _setup is None:
        with _setup_lock:
            if _setup is None:
                path = trusted_setup_path()
                text = path.read_text(encoding="ascii")
                if setup_fingerprint(text) != MAINNET_SETUP_FINGERPRINT:
                    raise RuntimeError(f"{path} is not the Ethereum mainnet KZG trusted setup")
                _setup = ckzg.load_trusted_setup(str(path), 0)
    return _setup


def point_evaluation_precompile(data: bytes, gas: int) -> tuple[int, bytes]:
    """0x0a: verify a KZG opening; output FIELD_ELEMENTS_PER_BLOB and BLS_MODULUS."""
    if len(data) != POINT_EVALUATION_INPUT_SIZE:
        raise PrecompileError("point evaluation: input must be exactly 192 bytes")
    used = charge(POINT_EVALUATION_GAS, gas)
    data = bytes(data)
    versioned_hash = data[0:32]
    z = data[32:64]
    y = data[64:96]
    commitment = data[96:144]
    proof = data[144:192]
    if kzg_to_versioned_hash(commitment) != versioned_hash:
        raise PrecompileError("point evaluation: versioned hash does not match commitment")
    settings = trusted_setup()  # a missing setup is a node fault, never a failed call
    try:
        valid = ckzg.verify_kzg_proof(commitment, z, y, proof, settings)
    except (RuntimeError, ValueError) as exc:  # malformed field element or point
        raise PrecompileError(f"point evaluation: {exc}") from exc
    if not valid:
        raise PrecompileError("point evaluation: proof does not verify")
    return used, POINT_EVALUATION_OUTPUT
