"""The native alt_bn128 precompiles (0x06-0x08) against py_ecc, on 10,000 inputs per function.

Every input goes through the precompile twice: with the C extension and with the py_ecc
fallback (``bn254._native`` set to None), or, where py_ecc would take seconds (a G2
subgroup check by scalar multiplication, full pairings), against an answer known by
construction (bilinearity) or a plain-integer reference that is itself checked against
py_ecc on a sample. Outcomes compared: the output bytes, or failure (PrecompileError).
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from py_ecc import optimized_bn128 as ob

from strikevm.vm.precompiles import bn254
from strikevm.vm.precompiles.base import PrecompileError

pytestmark = pytest.mark.skipif(not bn254.NATIVE, reason="_bn254_native not built")

P = ob.field_modulus
R = ob.curve_order
N = 10_000
GAS = 10**9

Outcome = bytes | None  # output, or None when the precompile fails


def outcome(fn: Callable[[bytes, int], tuple[int, bytes]], data: bytes) -> Outcome:
    try:
        return fn(data, GAS)[1]
    except PrecompileError:
        return None


def fallback(
    monkeypatch: pytest.MonkeyPatch, fn: Callable[[bytes, int], tuple[int, bytes]], data: bytes
) -> Outcome:
    native = bn254._native
    monkeypatch.setattr(bn254, "_native", None)
    try:
        return outcome(fn, data)
    finally:
        monkeypatch.setattr(bn254, "_native", native)


def w(x: int) -> bytes:
    return x.to_bytes(32, "big")


# --- plain-integer G1 reference (Jacobian), independent of both back ends ---


def g1_sqrt_point(rng: random.Random) -> tuple[int, int]:
    while True:
        x = rng.randrange(P)
        rhs = (x * x * x + 3) % P
        y = pow(rhs, (P + 1) // 4, P)
        if y * y % P == rhs:
            return x, (y if rng.random() < 0.5 else (P - y) % P)


def _jdbl(p: tuple[int, int, int]) -> tuple[int, int, int]:
    x, y, z = p
    if z == 0 or y == 0:
        return (1, 1, 0)
    a = x * x % P
    b = y * y % P
    c = b * b % P
    d = 2 * ((x + b) * (x + b) - a - c) % P
    e = 3 * a % P
    x3 = (e * e - 2 * d) % P
    return (x3, (e * (d - x3) - 8 * c) % P, 2 * y * z % P)


def _jadd(p: tuple[int, int, int], q: tuple[int, int, int]) -> tuple[int, int, int]:
    if p[2] == 0:
        return q
    if q[2] == 0:
        return p
    z1z1 = p[2] * p[2] % P
    z2z2 = q[2] * q[2] % P
    u1 = p[0] * z2z2 % P
    u2 = q[0] * z1z1 % P
    s1 = p[1] * q[2] * z2z2 % P
    s2 = q[1] * p[2] * z1z1 % P
    if u1 == u2:
        return _jdbl(p) if s1 == s2 else (1, 1, 0)
    h = (u2 - u1) % P
    r = (s2 - s1) % P
    hh = h * h % P
    hhh = h * hh % P
    v = u1 * hh % P
    x3 = (r * r - hhh - 2 * v) % P
    y3 = (r * (v - x3) - s1 * hhh) % P
    return (x3, y3, p[2] * q[2] * h % P)


def ref_mul(x: int, y: int, k: int) -> bytes:
    if x == 0 and y == 0:
        return bytes(64)
    acc = (1, 1, 0)
    base = (x, y, 1)
    for bit in bin(k % R)[2:]:
        acc = _jdbl(acc)
        if bit == "1":
            acc = _jadd(acc, base)
    if acc[2] == 0:
        return bytes(64)
    zi = pow(acc[2], -1, P)
    return w(acc[0] * zi * zi % P) + w(acc[1] * zi * zi * zi % P)


# --- inputs ---


def g1_bytes(rng: random.Random, kind: str) -> bytes:
    if kind == "valid":
        x, y = g1_sqrt_point(rng)
        return w(x) + w(y)
    if kind == "inf":
        return bytes(64)
    if kind == "offcurve":
        x, y = g1_sqrt_point(rng)
        return w(x) + w((y + rng.randrange(1, 5)) % P)
    if kind == "x_ge_p":  # x + p: same point modulo p, still rejected
        x, y = g1_sqrt_point(rng)
        return w(x + P) if x + P < 2**256 else w(P) + w(y)
    if kind == "y_ge_p":
        x, y = g1_sqrt_point(rng)
        return w(x) + (w(y + P) if y + P < 2**256 else w(2**256 - 1))
    if kind == "big":
        return rng.randbytes(64)
    raise AssertionError(kind)


G1_KINDS = ["valid"] * 10 + ["inf", "offcurve", "x_ge_p", "y_ge_p", "big"]


def g2_bytes(q: tuple) -> bytes:
    if ob.is_inf(q):
        return bytes(128)
    x, y = ob.normalize(q)
    return w(x.coeffs[1]) + w(x.coeffs[0]) + w(y.coeffs[1]) + w(y.coeffs[0])


def _fp2_sqrt(a: int, b: int) -> tuple[int, int] | None:
    """A square root of a + b i in Fp2 (p = 3 mod 4), or None."""
    n = pow((a * a + b * b) % P, (P + 1) // 4, P)
    if n * n % P != (a * a + b * b) % P:
        return None
    half = pow(2, -1, P)
    for cand in ((a + n) * half % P, (a - n) * half % P):
        x0 = pow(cand, (P + 1) // 4, P)
        if x0 * x0 % P == cand and x0 != 0:
            x1 = b * pow(2 * x0, -1, P) % P
            return x0, x1
    return None


def g2_outside_subgroup(rng: random.Random) -> bytes:
    """A point on the twist (y^2 = x^3 + 3 / (9 + i)) that is not in the order-r subgroup."""
    b_re, b_im = int(ob.b2.coeffs[0]), int(ob.b2.coeffs[1])
    while True:
        xr, xi = rng.randrange(P), rng.randrange(P)
        x2r, x2i = (xr * xr - xi * xi) % P, 2 * xr * xi % P
        cr = (x2r * xr - x2i * xi + b_re) % P
        ci = (x2r * xi + x2i * xr + b_im) % P
        root = _fp2_sqrt(cr, ci)
        if root is not None:
            return w(xi) + w(xr) + w(root[1]) + w(root[0])


@pytest.fixture(scope="module")
def g2_pool() -> list[tuple[int, bytes]]:
    rng = random.Random(197)
    pool = [(1, g2_bytes(ob.G2))]
    for _ in range(15):
        k = rng.randrange(1, R)
        pool.append((k, g2_bytes(ob.multiply(ob.G2, k))))
    return pool


@pytest.fixture(scope="module")
def bad_g2_pool() -> list[bytes]:
    rng = random.Random(1970)
    return [g2_outside_subgroup(rng) for _ in range(32)]


# --- the tests ---


def test_ecadd_matches_py_ecc(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(6)
    for i in range(N):
        a = g1_bytes(rng, rng.choice(G1_KINDS))
        roll = rng.random()
        if roll < 0.1:
            b = a  # doubling
        elif roll < 0.2 and a != bytes(64):
            b = a[:32] + w((P - int.from_bytes(a[32:], "big")) % P)  # a + (-a)
        else:
            b = g1_bytes(rng, rng.choice(G1_KINDS))
        data = a + b
        if i % 10 == 0:
            data = data[: rng.randrange(0, 129)]  # short: zero-padded
        elif i % 10 == 1:
            data += rng.randbytes(rng.randrange(1, 64))  # long: the tail is ignored
        assert outcome(bn254.ecadd_precompile, data) == fallback(
            monkeypatch, bn254.ecadd_precompile, data
        ), data.hex()


def _scalar(rng: random.Random) -> int:
    roll = rng.random()
    if roll < 0.7:
        return rng.randrange(2**256)
    return rng.choice([0, 1, 2, R - 1, R, R + 1, 2 * R, 2**256 - 1, rng.randrange(1, 2**16)])


def test_ecmul_matches_reference_and_py_ecc(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(7)
    for i in range(N):
        kind = rng.choice(G1_KINDS)
        point = g1_bytes(rng, kind)
        k = _scalar(rng)
        data = point + w(k)
        if i % 20 == 0:
            data = data[: rng.randrange(0, 97)]
        elif i % 20 == 1:
            data += rng.randbytes(rng.randrange(1, 64))
        got = outcome(bn254.ecmul_precompile, data)
        buf = data[:96].ljust(96, b"\0")
        if i % 200 == 0 or not _g1_ok(buf[:64]):  # py_ecc itself: a sample of the slow ones
            assert got == fallback(monkeypatch, bn254.ecmul_precompile, data), data.hex()
        else:
            x, y = int.from_bytes(buf[:32], "big"), int.from_bytes(buf[32:64], "big")
            assert got == ref_mul(x, y, int.from_bytes(buf[64:96], "big")), data.hex()


def test_reference_multiplication_is_py_ecc() -> None:
    rng = random.Random(8)
    for _ in range(40):
        x, y = g1_sqrt_point(rng)
        k = _scalar(rng)
        expected = ob.multiply((ob.FQ(x), ob.FQ(y), ob.FQ.one()), k % R)
        assert ref_mul(x, y, k) == (
            bytes(64)
            if ob.is_inf(expected)
            else b"".join(w(int(c.n)) for c in ob.normalize(expected))
        )


def test_ecpairing_matches_py_ecc(
    monkeypatch: pytest.MonkeyPatch, g2_pool: list[tuple[int, bytes]], bad_g2_pool: list[bytes]
) -> None:
    rng = random.Random(8)
    direct = 0
    cached: dict[bytes, Outcome] = {}
    for i in range(N):
        roll = rng.random()
        if roll < 0.02:
            # valid, answer known by bilinearity: prod e((a k + d) G1, G2) e(-a G1, k G2)
            # is e(G1, G2)^d, one exactly when d = 0
            d = rng.choice([0, 0, 1, R - 1])
            data = b""
            for j in range(rng.randrange(1, 3)):
                k, q = rng.choice(g2_pool)
                a = rng.randrange(1, R)
                pa = ref_mul(1, 2, a)
                neg_pa = pa[:32] + w((P - int.from_bytes(pa[32:], "big")) % P)
                data += ref_mul(1, 2, a * k + (d if j == 0 else 0)) + g2_pool[0][1]
                data += neg_pa + q
            got = outcome(bn254.ecpairing_precompile, data)
            assert got == w(1 if d == 0 else 0)
            if direct < 2:  # py_ecc itself on a few
                direct += 1
                assert got == fallback(monkeypatch, bn254.ecpairing_precompile, data)
            continue
        if roll < 0.04:
            # on the twist, outside the subgroup: fails (py_ecc's check costs seconds)
            g1 = g1_bytes(rng, rng.choice(["valid", "inf"]))
            data = g1 + rng.choice(bad_g2_pool)
            assert outcome(bn254.ecpairing_precompile, data) is None
            if i % 25 == 0:
                assert fallback(monkeypatch, bn254.ecpairing_precompile, data) is None
            continue
        # cheap cases, compared with py_ecc directly: infinities, bad coordinates, bad
        # curve points, bad lengths (the bad element first, so py_ecc stops early)
        g1 = g1_bytes(rng, rng.choice(["inf", "offcurve", "x_ge_p", "y_ge_p", "big", "valid"]))
        g2_kind = rng.choice(["inf", "big", "offcurve", "ge_p", "pool"])
        if g2_kind == "inf":
            g2 = bytes(128)
        elif g2_kind == "big":
            g2 = rng.randbytes(128)
        elif g2_kind == "offcurve":
            g2 = rng.choice(g2_pool)[1]
            g2 = g2[:96] + w((int.from_bytes(g2[96:], "big") + 1) % P)
        elif g2_kind == "ge_p":
            g2 = rng.choice(g2_pool)[1]
            j = rng.randrange(4)
            v = int.from_bytes(g2[32 * j : 32 * j + 32], "big") + P
            g2 = g2[: 32 * j] + w(min(v, 2**256 - 1)) + g2[32 * j + 32 :]
        else:
            g2 = rng.choice(g2_pool)[1]
        data = g1 + g2
        if g1 != bytes(64) and g2_kind == "pool" and _g1_ok(g1):
            data = bytes(64) + g2  # a full pairing would be slow under py_ecc
        if i % 7 == 0:
            data = data[: rng.randrange(0, 192)]
        elif i % 7 == 1:
            data += rng.randbytes(rng.randrange(1, 192))
        elif i % 7 == 2:
            data = b""
        # py_ecc runs a slow subgroup multiplication per G2 point and a final
        # exponentiation even for the empty product: each distinct input once
        if data not in cached:
            cached[data] = fallback(monkeypatch, bn254.ecpairing_precompile, data)
        expected = cached[data]
        assert outcome(bn254.ecpairing_precompile, data) == expected, data.hex()


def _g1_ok(buf: bytes) -> bool:
    try:
        bn254.check_g1(buf)
    except PrecompileError:
        return False
    return True


def test_ecpairing_bilinearity_known_answers(g2_pool: list[tuple[int, bytes]]) -> None:
    rng = random.Random(9)
    for _ in range(60):
        data = b""
        total = 0
        for _ in range(rng.randrange(1, 4)):
            k, q = rng.choice(g2_pool)
            a = rng.randrange(1, R)
            data += ref_mul(1, 2, a) + q  # e(G1, G2)^(a k)
            total += a * k
        # times e(-total G1, G2): one; e(-(total + 1) G1, G2): not one
        tail_ok = ref_mul(1, 2, -total % R) + g2_pool[0][1]
        tail_bad = ref_mul(1, 2, -(total + 1) % R) + g2_pool[0][1]
        assert bn254.ecpairing_precompile(data + tail_ok, GAS)[1] == w(1)
        assert bn254.ecpairing_precompile(data + tail_bad, GAS)[1] == w(0)
        assert bn254.ecpairing_precompile(data, GAS)[1] == w(0)
