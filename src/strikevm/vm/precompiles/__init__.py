"""Cancun precompiled contracts 0x01-0x0a: the address table and the error they raise.

Each entry maps an address (as an int) to ``f(data, gas) -> (gas_used, output)``. A
precompile raises PrecompileError when it runs out of gas or rejects its input; the call
then fails and consumes all the gas it was given.
"""

from __future__ import annotations

from .base import Precompile, PrecompileError
from .blake2f import blake2f_precompile
from .bn254 import ecadd_precompile, ecmul_precompile, ecpairing_precompile
from .ecrecover import ecrecover_precompile
from .hashes import identity_precompile, ripemd160_precompile, sha256_precompile
from .kzg import point_evaluation_precompile
from .modexp import modexp_precompile

PRECOMPILES: dict[int, Precompile] = {
    0x01: ecrecover_precompile,
    0x02: sha256_precompile,
    0x03: ripemd160_precompile,
    0x04: identity_precompile,
    0x05: modexp_precompile,
    0x06: ecadd_precompile,
    0x07: ecmul_precompile,
    0x08: ecpairing_precompile,
    0x09: blake2f_precompile,
    0x0A: point_evaluation_precompile,
}

__all__ = ["PRECOMPILES", "Precompile", "PrecompileError"]
