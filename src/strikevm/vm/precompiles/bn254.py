"""The alt_bn128 (BN254) precompiles: ECADD (0x06), ECMUL (0x07) and ECPAIRING (0x08).

EIP-196 / EIP-197 with the EIP-1108 (Istanbul) prices. Field elements are 32-byte
big-endian words and must be below the field modulus; the point at infinity is encoded as
all zeros. An Fp2 element a * i + b is encoded as (a, b): imaginary part first.
Inputs are decoded and checked here, with Python integers, in one order for both
back ends: each coordinate below the field modulus, each point on its curve, each G2 point
of a pairing in the subgroup of order r. The arithmetic on accepted points is done by the
C extension ``_bn254_native`` (Montgomery Fp over 4x64-bit limbs, Jacobian G1/G2, the
reduced ate pairing) when it is built, else by py_ecc's optimized_bn128 (projective
coordinates), the reference that tests/vm/test_bn254_native.py holds it equal to.
"""

from __future__ import annotations

from typing import Any

from py_ecc.optimized_bn128 import (
    FQ,
    FQ2,
    FQ12,
    add,
    b,
    b2,
    curve_order,
    field_modulus,
    final_exponentiate,
    is_inf,
    is_on_curve,
    multiply,
    normalize,
    pairing,
)

from .base import PrecompileError, charge, read_padded

try:
    from . import _bn254_native as _native
except ImportError:  # not built: py_ecc alone, same results
    _native = None

NATIVE: bool = _native is not None
"""Whether the C extension does the arithmetic (else py_ecc)."""

ECADD_GAS = 150
ECMUL_GAS = 6000
ECPAIRING_BASE_GAS = 45000
ECPAIRING_PAIR_GAS = 34000
PAIR_SIZE = 192

# Projective points as py_ecc represents them: (x, y, z), z == 0 at infinity.
G1Point = tuple[Any, Any, Any]
G2Point = tuple[Any, Any, Any]


def _field_element(word: bytes) -> int:
    value = int.from_bytes(word, "big")
    if value >= field_modulus:
        raise PrecompileError("bn254: coordinate not below the field modulus")
    return value


def decode_g1(buf: bytes) -> G1Point:
    """Decode a 64-byte G1 point (x, y); (0, 0) is the point at infinity."""
    x = _field_element(buf[0:32])
    y = _field_element(buf[32:64])
    if x == 0 and y == 0:
        return (FQ.one(), FQ.one(), FQ.zero())
    point = (FQ(x), FQ(y), FQ.one())
    if not is_on_curve(point, b):
        raise PrecompileError("bn254: G1 point not on curve")
    return point


def decode_g2(buf: bytes) -> G2Point:
    """Decode a 128-byte G2 point (x_im, x_re, y_im, y_re); all zeros is infinity.

    The point must be on the twisted curve and in the subgroup of order r.
    """
    x_im = _field_element(buf[0:32])
    x_re = _field_element(buf[32:64])
    y_im = _field_element(buf[64:96])
    y_re = _field_element(buf[96:128])
    if x_im == 0 and x_re == 0 and y_im == 0 and y_re == 0:
        return (FQ2.one(), FQ2.one(), FQ2.zero())
    point = (FQ2([x_re, x_im]), FQ2([y_re, y_im]), FQ2.one())
    if not is_on_curve(point, b2):
        raise PrecompileError("bn254: G2 point not on curve")
    if not is_inf(multiply(point, curve_order)):
        raise PrecompileError("bn254: G2 point not in the subgroup")
    return point


def encode_g1(point: G1Point) -> bytes:
    """Encode a G1 point as 64 bytes (affine x, y); infinity is all zeros."""
    if is_inf(point):
        return bytes(64)
    x, y = normalize(point)
    return int(x.n).to_bytes(32, "big") + int(y.n).to_bytes(32, "big")


_P = field_modulus
# b2 = 3 / (9 + i) as (real, imaginary), the twist's constant term
_B2_RE = int(b2.coeffs[0])
_B2_IM = int(b2.coeffs[1])


def check_g1(buf: bytes) -> bytes:
    """Check a 64-byte G1 encoding as :func:`decode_g1` does; return it unchanged."""
    x = _field_element(buf[0:32])
    y = _field_element(buf[32:64])
    if (x or y) and (y * y - x * x * x - 3) % _P != 0:
        raise PrecompileError("bn254: G1 point not on curve")
    return buf


def check_g2_on_curve(buf: bytes) -> bool:
    """Check a 128-byte G2 encoding's coordinates and curve equation as :func:`decode_g2`
    does; return whether it is a finite point (False for all zeros)."""
    x_im = _field_element(buf[0:32])
    x_re = _field_element(buf[32:64])
    y_im = _field_element(buf[64:96])
    y_re = _field_element(buf[96:128])
    if not (x_im or x_re or y_im or y_re):
        return False
    # (a + b i)^2 = a^2 - b^2 + 2ab i; check y^2 == x^3 + b2 in Fp2 (x3 holds x^3 + b2)
    x2_re = x_re * x_re - x_im * x_im
    x2_im = 2 * x_re * x_im
    x3_re = x2_re * x_re - x2_im * x_im + _B2_RE
    x3_im = x2_re * x_im + x2_im * x_re + _B2_IM
    y2_re = y_re * y_re - y_im * y_im
    y2_im = 2 * y_re * y_im
    if (y2_re - x3_re) % _P != 0 or (y2_im - x3_im) % _P != 0:
        raise PrecompileError("bn254: G2 point not on curve")
    return True


def _ecadd_native(buf: bytes) -> bytes:
    assert _native is not None
    return _native.g1_add(check_g1(buf[0:64]), check_g1(buf[64:128]))


def _ecmul_native(buf: bytes) -> bytes:
    assert _native is not None
    return _native.g1_mul(check_g1(buf[0:64]), buf[64:96])


def _ecpairing_native(data: bytes, pairs: int) -> bool:
    assert _native is not None
    for i in range(pairs):
        offset = i * PAIR_SIZE
        check_g1(data[offset : offset + 64])
        g2 = data[offset + 64 : offset + PAIR_SIZE]
        if check_g2_on_curve(g2) and not _native.g2_in_subgroup(g2):
            raise PrecompileError("bn254: G2 point not in the subgroup")
    return bool(_native.pairing_check(bytes(data)))


def ecadd_precompile(data: bytes, gas: int) -> tuple[int, bytes]:
    """0x06: sum of two G1 points; input right-padded to 128 bytes."""
    used = charge(ECADD_GAS, gas)
    buf = read_padded(data, 0, 128)
    if _native is not None:
        return used, _ecadd_native(buf)
    p1 = decode_g1(buf[0:64])
    p2 = decode_g1(buf[64:128])
    return used, encode_g1(add(p1, p2))


def ecmul_precompile(data: bytes, gas: int) -> tuple[int, bytes]:
    """0x07: a G1 point times a 256-bit scalar; input right-padded to 96 bytes."""
    used = charge(ECMUL_GAS, gas)
    buf = read_padded(data, 0, 96)
    if _native is not None:
        return used, _ecmul_native(buf)
    point = decode_g1(buf[0:64])
    scalar = int.from_bytes(buf[64:96], "big")
    # G1 has prime order r, so reducing the scalar modulo r leaves the product unchanged.
    return used, encode_g1(multiply(point, scalar % curve_order))


def ecpairing_precompile(data: bytes, gas: int) -> tuple[int, bytes]:
    """0x08: 1 if the product of the pairings e(P_i, Q_i) is one, else 0 (32-byte word).

    The input is k pairs of a G1 point (64 bytes) and a G2 point (128 bytes); its length
    must be a multiple of 192. Empty input is the empty product: 1.
    """
    pairs = len(data) // PAIR_SIZE
    used = charge(ECPAIRING_BASE_GAS + ECPAIRING_PAIR_GAS * pairs, gas)
    if len(data) % PAIR_SIZE != 0:
        raise PrecompileError("bn254: pairing input length not a multiple of 192")
    if _native is not None:
        return used, (1 if _ecpairing_native(data, pairs) else 0).to_bytes(32, "big")
    decoded: list[tuple[G1Point, G2Point]] = []
    for i in range(pairs):
        offset = i * PAIR_SIZE
        p = decode_g1(data[offset : offset + 64])
        q = decode_g2(data[offset + 64 : offset + PAIR_SIZE])
        decoded.append((p, q))
    product = FQ12.one()
    for p, q in decoded:
        if is_inf(p) or is_inf(q):
            continue
        product = product * pairing(q, p, final_exponentiate=False)
    ok = final_exponentiate(product) == FQ12.one()
    return used, (1 if ok else 0).to_bytes(32, "big")
