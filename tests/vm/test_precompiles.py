"""Tests of the Cancun precompiled contracts 0x01-0x0a against published vectors.

Vectors come from the EIPs (152, 196, 197, 198, 2565, 4844) and from the Ethereum
client test suites (the ecrecover, bn256 and modexp cases that clients share); the KZG
cases also use proofs made here with ckzg and the external c-kzg vectors stored in the
shared conformance fixtures.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import ckzg
import pytest
from py_ecc.optimized_bn128 import (
    FQ2,
    G1,
    G2,
    b2,
    curve_order,
    field_modulus,
    is_inf,
    multiply,
    neg,
    normalize,
)

from strikevm.crypto import SECP256K1_N, private_key_to_address, sign_hash
from strikevm.vm.precompiles import PRECOMPILES, PrecompileError
from strikevm.vm.precompiles import kzg as kzg_module
from strikevm.vm.precompiles.blake2f import BLAKE2B_IV, compress
from strikevm.vm.precompiles.modexp import modexp_gas

SECP256K1_P = 2**256 - 2**32 - 977


def word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def run(address: int, data: bytes, gas: int = 10_000_000) -> tuple[int, bytes]:
    return PRECOMPILES[address](data, gas)


def test_table_has_the_ten_cancun_precompiles() -> None:
    assert sorted(PRECOMPILES) == list(range(1, 11))


# --- 0x01 ECRECOVER -------------------------------------------------------------------------


def ecrecover_input(msg_hash: bytes, v: int, r: int, s: int) -> bytes:
    return msg_hash + word(v) + word(r) + word(s)


def test_ecrecover_known_vector_v27() -> None:
    data = bytes.fromhex(
        "38d18acb67d25c8bb9942764b62f18e17054f66a817bd4295423adf9ed98873e"
        "000000000000000000000000000000000000000000000000000000000000001b"
        "38d18acb67d25c8bb9942764b62f18e17054f66a817bd4295423adf9ed98873e"
        "789d1dd423d25f0772d2748d60f7e4b81bb14d086eba8e8e8efb6dcff8a4ae02"
    )
    used, out = run(0x01, data)
    assert used == 3000
    assert out == bytes(12) + bytes.fromhex("ceaccac640adf55b2028469bd36ba501f28b699d")


def test_ecrecover_known_vector_v28() -> None:
    data = ecrecover_input(
        bytes.fromhex("456e9aea5e197a1f1af7a3e85a3212fa4049a3ba34c2289b4c860fc0b0c64ef3"),
        28,
        0x9242685BF161793CC25603C231BC2F568EB630EA16AA137D2664AC8038825608,
        0x4F8AE3BD7535248D0BD448298CC2E2071E56992D0774DC340C368AE950852ADA,
    )
    assert run(0x01, data) == (
        3000,
        bytes(12) + bytes.fromhex("7156526fbd7a3c72969b54f64e42c10fbb768c8a"),
    )


def test_ecrecover_signed_here_and_high_s() -> None:
    secret = bytes.fromhex("4646464646464646464646464646464646464646464646464646464646464646")
    msg_hash = hashlib.sha256(b"strikevm ecrecover").digest()
    rec_id, r, s = sign_hash(msg_hash, secret)
    expected = bytes(12) + private_key_to_address(secret)
    assert run(0x01, ecrecover_input(msg_hash, 27 + rec_id, r, s)) == (3000, expected)
    # The precompile does not enforce low s: (r, n - s) with the other parity recovers too.
    high = ecrecover_input(msg_hash, 27 + (1 - rec_id), r, SECP256K1_N - s)
    assert run(0x01, high) == (3000, expected)
    # The wrong parity recovers some other key.
    wrong = run(0x01, ecrecover_input(msg_hash, 27 + (1 - rec_id), r, s))[1]
    assert wrong not in (b"", expected)


@pytest.mark.parametrize(
    "v",
    [0, 1, 26, 29, 27 + 2**8, 2**255 + 27, 2**256 - 1],
)
def test_ecrecover_invalid_v_is_empty_success(v: int) -> None:
    secret = bytes(31) + b"\x07"
    msg_hash = hashlib.sha256(b"v").digest()
    _, r, s = sign_hash(msg_hash, secret)
    assert run(0x01, ecrecover_input(msg_hash, v, r, s)) == (3000, b"")


@pytest.mark.parametrize(
    ("r", "s"),
    [(0, 1), (1, 0), (SECP256K1_N, 1), (1, SECP256K1_N), (2**256 - 1, 1), (1, 2**256 - 1)],
)
def test_ecrecover_out_of_range_r_s_is_empty_success(r: int, s: int) -> None:
    assert run(0x01, ecrecover_input(bytes(32), 27, r, s)) == (3000, b"")


def test_ecrecover_r_not_an_x_coordinate_is_empty_success() -> None:
    r = next(x for x in range(1, 100) if pow(x**3 + 7, (SECP256K1_P - 1) // 2, SECP256K1_P) != 1)
    assert run(0x01, ecrecover_input(b"\x11" * 32, 27, r, 1)) == (3000, b"")


def test_ecrecover_short_and_long_input() -> None:
    data = bytes.fromhex(
        "38d18acb67d25c8bb9942764b62f18e17054f66a817bd4295423adf9ed98873e"
        "000000000000000000000000000000000000000000000000000000000000001b"
        "38d18acb67d25c8bb9942764b62f18e17054f66a817bd4295423adf9ed98873e"
        "789d1dd423d25f0772d2748d60f7e4b81bb14d086eba8e8e8efb6dcff8a4ae02"
    )
    assert run(0x01, data + b"\xff" * 40)[1].endswith(
        bytes.fromhex("ceaccac640adf55b2028469bd36ba501f28b699d")
    )
    # Truncated: s is padded with zeros, so s == 0 and the output is empty.
    assert run(0x01, data[:96]) == (3000, b"")
    assert run(0x01, b"") == (3000, b"")


def test_ecrecover_out_of_gas() -> None:
    with pytest.raises(PrecompileError):
        run(0x01, b"", 2999)


# --- 0x02 SHA256, 0x03 RIPEMD160, 0x04 IDENTITY ---------------------------------------------


@pytest.mark.parametrize(
    ("data", "gas", "digest"),
    [
        (b"", 60, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        (b"abc", 72, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (b"a" * 32, 72, hashlib.sha256(b"a" * 32).hexdigest()),
        (b"a" * 33, 84, hashlib.sha256(b"a" * 33).hexdigest()),
    ],
)
def test_sha256(data: bytes, gas: int, digest: str) -> None:
    assert run(0x02, data) == (gas, bytes.fromhex(digest))
    with pytest.raises(PrecompileError):
        run(0x02, data, gas - 1)


@pytest.mark.parametrize(
    ("data", "gas", "digest"),
    [
        (b"", 600, "9c1185a5c5e9fc54612808977ee8f548b2258d31"),
        (b"abc", 720, "8eb208f7e05d987a9b044a8e98c6b087f15a0bfc"),
        (
            b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            840,
            "12a053384a9c0c88e405a06c27dcf49ada62eb2b",
        ),
    ],
)
def test_ripemd160(data: bytes, gas: int, digest: str) -> None:
    assert run(0x03, data) == (gas, bytes(12) + bytes.fromhex(digest))
    with pytest.raises(PrecompileError):
        run(0x03, data, gas - 1)


@pytest.mark.parametrize(
    ("data", "gas"),
    [(b"", 15), (b"\x01", 18), (bytes(range(32)), 18), (bytes(range(33)), 21), (b"x" * 64, 21)],
)
def test_identity(data: bytes, gas: int) -> None:
    assert run(0x04, data) == (gas, data)
    with pytest.raises(PrecompileError):
        run(0x04, data, gas - 1)


# --- 0x05 MODEXP ----------------------------------------------------------------------------

SECP_P_MINUS_1 = "fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2e"
SECP_P = "fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f"

NAGYDANI_1_BASE = (
    "e09ad9675465c53a109fac66a445c91b292d2bb2c5268addb30cd82f80fcb003"
    "3ff97c80a5fc6f39193ae969c6ede6710a6b7ac27078a06d90ef1c72e5c85fb5"
)
NAGYDANI_1_MOD = (
    "fc9e1f6beb81516545975218075ec2af118cd8798df6e08a147c60fd6095ac2b"
    "b02c2908cf4dd7c81f11c289e4bce98f3553768f392a80ce22bf5c4f4a248c6b"
)


def modexp_input(base: str, exponent: str, modulus: str) -> bytes:
    b, e, m = bytes.fromhex(base), bytes.fromhex(exponent), bytes.fromhex(modulus)
    return word(len(b)) + word(len(e)) + word(len(m)) + b + e + m


@pytest.mark.parametrize(
    ("data", "gas", "expected"),
    [
        # EIP-198 example 1: 3 ** (p - 1) mod p == 1 (Fermat), EIP-2565 price 1360.
        (modexp_input("03", SECP_P_MINUS_1, SECP_P), 1360, word(1)),
        # EIP-198 example 2: base length 0, so base is 0.
        (modexp_input("", SECP_P_MINUS_1, SECP_P), 1360, word(0)),
        (
            modexp_input(NAGYDANI_1_BASE, "02", NAGYDANI_1_MOD),
            200,
            bytes.fromhex(
                "60008f1614cc01dcfb6bfb09c625cf90b47d4468db81b5f8b7a39d42f332eab9"
                "b2da8f2d95311648a8f243f4bb13cfb3d8f7f2a3c014122ebb3ed41b02783adc"
            ),
        ),
        (
            modexp_input(NAGYDANI_1_BASE, "03", NAGYDANI_1_MOD),
            200,
            bytes.fromhex(
                "4834a46ba565db27903b1c720c9d593e84e4cbd6ad2e64b31885d944f68cd801"
                "f92225a8961c952ddf2797fa4701b330c85c4b363798100b921a1a22a46a7fec"
            ),
        ),
        (
            modexp_input(NAGYDANI_1_BASE, "010001", NAGYDANI_1_MOD),
            341,
            bytes.fromhex(
                "c36d804180c35d4426b57b50c5bfcca5c01856d104564cd513b461d3c8b84091"
                "28a5573e416d0ebe38f5f736766d9dc27143e4da981dfa4d67f7dc474cbee6d2"
            ),
        ),
    ],
)
def test_modexp_vectors(data: bytes, gas: int, expected: bytes) -> None:
    assert run(0x05, data) == (gas, expected)
    with pytest.raises(PrecompileError):
        run(0x05, data, gas - 1)


@pytest.mark.parametrize(
    ("size", "exponent", "gas"),
    # EIP-2565 prices of the nagydani cases: operand size, exponent, gas.
    [
        (128, "02", 200),
        (128, "010001", 1365),
        (256, "02", 341),
        (256, "03", 341),
        (256, "010001", 5461),
        (512, "02", 1365),
        (512, "010001", 21845),
        (1024, "03", 5461),
        (1024, "010001", 87381),
    ],
)
def test_modexp_eip2565_prices(size: int, exponent: str, gas: int) -> None:
    e = bytes.fromhex(exponent)
    head = int.from_bytes(e, "big")
    assert modexp_gas(size, len(e), size, head) == gas
    base = bytes([0xAB]) * size
    modulus = bytes([0xCD]) * size
    data = word(size) + word(len(e)) + word(size) + base + e + modulus
    used, out = run(0x05, data)
    assert used == gas
    expected = pow(int.from_bytes(base, "big"), head, int.from_bytes(modulus, "big"))
    assert out == expected.to_bytes(size, "big")


def test_modexp_long_exponent_price() -> None:
    # Exponent longer than 32 bytes: 8 * (len - 32) + bit length of the first 32 bytes - 1.
    assert modexp_gas(32, 64, 32, 2**255) == 16 * (8 * 32 + 255) // 3
    assert modexp_gas(32, 64, 32, 0) == 16 * (8 * 32) // 3
    assert modexp_gas(1, 33, 1, 0) == 200


def test_modexp_zero_lengths_with_huge_exponent_length() -> None:
    data = word(0) + word(2**256 - 1) + word(0)
    assert run(0x05, data) == (200, b"")


@pytest.mark.parametrize(
    "lengths",
    [
        (2**256 - 1, 0, 1),
        (1, 0, 2**256 - 1),
        (1, 2**256 - 1, 1),
        (2**64, 2**64, 2**64),
        (0, 2**255, 1),
    ],
)
def test_modexp_huge_declared_lengths_run_out_of_gas(lengths: tuple[int, int, int]) -> None:
    data = b"".join(word(n) for n in lengths) + b"\xff" * 64
    with pytest.raises(PrecompileError):
        run(0x05, data, 30_000_000)


def test_modexp_input_is_zero_padded() -> None:
    # Modulus declared 2 bytes, only 1 given: it reads as 0x0500 = 1280.
    data = word(1) + word(1) + word(2) + bytes([7, 3, 5])
    assert run(0x05, data) == (200, (343 % 1280).to_bytes(2, "big"))
    # Nothing after the lengths: base 0, exponent 0, modulus 0 -> zeros.
    assert run(0x05, word(1) + word(1) + word(3)) == (200, bytes(3))


def test_modexp_edge_results() -> None:
    assert run(0x05, modexp_input("05", "00", "07"))[1] == b"\x01"
    assert run(0x05, modexp_input("00", "00", "07"))[1] == b"\x01"
    assert run(0x05, modexp_input("05", "03", "01"))[1] == b"\x00"
    assert run(0x05, modexp_input("05", "03", "0000"))[1] == b"\x00\x00"
    assert run(0x05, modexp_input("05", "03", "00007d"))[1] == (125 % 125).to_bytes(3, "big")
    # Modulus length 0 with a non-empty base: empty output, still priced.
    assert run(0x05, modexp_input("05", "03", "")) == (200, b"")


# --- 0x06 ECADD, 0x07 ECMUL, 0x08 ECPAIRING -------------------------------------------------

TWO_G1 = (
    "030644e72e131a029b85045b68181585d97816a916871ca8d3c208c16d87cfd3"
    "15ed738c0e0a7c92e7845f96b2ae9c0a68a6a449e3538fc7ff3ebf7a5a18a2c4"
)
G1_HEX = word(1).hex() + word(2).hex()

G2_HEX = (
    "198e9393920d483a7260bfb731fb5d25f1aa493335a9e71297e485b7aef312c2"
    "1800deef121f1e76426a00665e5c4479674322d4f75edadd46debd5cd992f6ed"
    "090689d0585ff075ec9e99ad690c3395bc4b313370b38ef355acdadcd122975b"
    "12c85ea5db8c6deb4aab71808dcb408fe3d1e7690c43d37b4ce6cc0166fa7daa"
)


def encode_g1(point: tuple) -> bytes:
    if is_inf(point):
        return bytes(64)
    x, y = normalize(point)
    return word(int(x)) + word(int(y))


def encode_g2(point: tuple) -> bytes:
    x, y = normalize(point)
    return b"".join(word(int(c)) for c in (x.coeffs[1], x.coeffs[0], y.coeffs[1], y.coeffs[0]))


def test_g2_generator_encoding() -> None:
    assert encode_g2(G2).hex() == G2_HEX


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # chfast1
        (
            "18b18acfb4c2c30276db5411368e7185b311dd124691610c5d3b74034e093dc9"
            "063c909c4720840cb5134cb9f59fa749755796819658d32efc0d288198f37266"
            "07c2b7f58a84bd6145f00c9c2bc0bb1a187f20ff2c92963a88019e7c6a014eed"
            "06614e20c147e940f2d70da3f74c9a17df361706a4485c742bd6788478fa17d7",
            "2243525c5efd4b9c3d3c45ac0ca3fe4dd85e830a4ce6b65fa1eeaee202839703"
            "301d1d33be6da8e509df21cc35964723180eed7532537db9ae5e7d48f195c915",
        ),
        # cdetrio13
        (
            "17c139df0efee0f766bc0204762b774362e4ded88953a39ce849a8a7fa163fa9"
            "01e0559bacb160664764a357af8a9fe70baa9258e0b959273ffc5718c6d4cc7c"
            "039730ea8dff1254c0fee9c0ea777d29a9c710b7e616683f194f18c43b43b869"
            "073a5ffcc6fc7a28c30723d6e58ce577356982d65b833a5a5c15bf9024b43d98",
            "15bf2bb17880144b5d1cd2b1f46eff9d617bffd1ca57c37fb5a49bd84e53cf66"
            "049c797f9ce0d17083deb32b5e36f2ea2a212ee036598dd7624c168993d1355f",
        ),
        # P + (-P) is the point at infinity (cdetrio14).
        (
            "17c139df0efee0f766bc0204762b774362e4ded88953a39ce849a8a7fa163fa9"
            "01e0559bacb160664764a357af8a9fe70baa9258e0b959273ffc5718c6d4cc7c"
            "17c139df0efee0f766bc0204762b774362e4ded88953a39ce849a8a7fa163fa9"
            "2e83f8d734803fc370eba25ed1f6b8768bd6d83887b87165fc2434fe11a830cb",
            "00" * 64,
        ),
        ("", "00" * 64),
        ("00" * 128, "00" * 64),
        (G1_HEX + "00" * 64, G1_HEX),
        ("00" * 64 + G1_HEX, G1_HEX),
        (G1_HEX, G1_HEX),  # second point padded with zeros
        (G1_HEX + G1_HEX, TWO_G1),
        (G1_HEX + G1_HEX + "ff" * 64, TWO_G1),  # input past 128 bytes is ignored
    ],
)
def test_ecadd_vectors(data: str, expected: str) -> None:
    assert run(0x06, bytes.fromhex(data)) == (150, bytes.fromhex(expected))


@pytest.mark.parametrize(
    "data",
    [
        word(1).hex() + word(3).hex(),  # not on the curve
        word(field_modulus).hex() + word(2).hex(),  # x not below the modulus
        word(1).hex() + word(2 + field_modulus).hex(),  # y not below the modulus
        G1_HEX + word(0).hex() + word(1).hex(),  # (0, 1) is not the point at infinity
    ],
)
def test_ecadd_invalid_points(data: str) -> None:
    with pytest.raises(PrecompileError):
        run(0x06, bytes.fromhex(data))


def test_ecadd_out_of_gas() -> None:
    with pytest.raises(PrecompileError):
        run(0x06, bytes.fromhex(G1_HEX * 2), 149)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # chfast1
        (
            "2bd3e6d0f3b142924f5ca7b49ce5b9d54c4703d7ae5648e61d02268b1a0a9fb7"
            "21611ce0a6af85915e2f1d70300909ce2e49dfad4a4619c8390cae66cefdb204"
            "00000000000000000000000000000000000000000000000011138ce750fa15c2",
            "070a8d6a982153cae4be29d434e8faef8a47b274a053f5a4ee2a6c9c13c31e5c"
            "031b8ce914eba3a9ffb989f9cdd5b0f01943074bf4f0f315690ec3cec6981afc",
        ),
        # cdetrio1: scalar 2**256 - 1
        (
            "1a87b0584ce92f4593d161480614f2989035225609f08058ccfa3d0f940febe3"
            "1a2f3c951f6dadcc7ee9007dff81504b0fcd6d7cf59996efdc33d92bf7f9f8f6"
            "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            "2cde5879ba6f13c0b5aa4ef627f159a3347df9722efce88a9afbb20b763b4c41"
            "1aa7e43076f6aee272755a7f9b84832e71559ba0d2e0b17d5f9f01755e5b0d11",
        ),
        # cdetrio4: scalar 9
        (
            "1a87b0584ce92f4593d161480614f2989035225609f08058ccfa3d0f940febe3"
            "1a2f3c951f6dadcc7ee9007dff81504b0fcd6d7cf59996efdc33d92bf7f9f8f6"
            "0000000000000000000000000000000000000000000000000000000000000009",
            "1dbad7d39dbc56379f78fac1bca147dc8e66de1b9d183c7b167351bfe0aeab74"
            "2cd757d51289cd8dbd0acf9e673ad67d0f0a89f912af47ed1be53664f5692575",
        ),
        # cdetrio2: scalar r - 1, giving -P
        (
            "1a87b0584ce92f4593d161480614f2989035225609f08058ccfa3d0f940febe3"
            "1a2f3c951f6dadcc7ee9007dff81504b0fcd6d7cf59996efdc33d92bf7f9f8f6"
            "30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000000",
            "1a87b0584ce92f4593d161480614f2989035225609f08058ccfa3d0f940febe3"
            "163511ddc1c3f25d396745388200081287b3fd1472d8339d5fecb2eae0830451",
        ),
        (G1_HEX + word(2).hex(), TWO_G1),
        (G1_HEX + word(curve_order).hex(), "00" * 64),
        (G1_HEX + word(0).hex(), "00" * 64),
        (G1_HEX, "00" * 64),  # scalar padded with zeros
        ("00" * 64 + word(5).hex(), "00" * 64),
        ("", "00" * 64),
    ],
)
def test_ecmul_vectors(data: str, expected: str) -> None:
    assert run(0x07, bytes.fromhex(data)) == (6000, bytes.fromhex(expected))


def test_ecmul_invalid_and_out_of_gas() -> None:
    with pytest.raises(PrecompileError):
        run(0x07, word(1) + word(3) + word(2))
    with pytest.raises(PrecompileError):
        run(0x07, word(field_modulus) + word(0) + word(0))
    with pytest.raises(PrecompileError):
        run(0x07, bytes.fromhex(G1_HEX) + word(2), 5999)


JEFF1 = (
    "1c76476f4def4bb94541d57ebba1193381ffa7aa76ada664dd31c16024c43f59"
    "3034dd2920f673e204fee2811c678745fc819b55d3e9d294e45c9b03a76aef41"
    "209dd15ebff5d46c4bd888e51a93cf99a7329636c63514396b4a452003a35bf7"
    "04bf11ca01483bfa8b34b43561848d28905960114c8ac04049af4b6315a41678"
    "2bb8324af6cfc93537a2ad1a445cfd0ca2a71acd7ac41fadbf933c2a51be344d"
    "120a2a4cf30c1bf9845f20c6fe39e07ea2cce61f0c9bb048165fe5e4de877550"
    "111e129f1cf1097710d41c4ac70fcdfa5ba2023c6ff1cbeac322de49d1b6df7c"
    "2032c61a830e3c17286de9462bf242fca2883585b93870a73853face6a6bf411" + G2_HEX
)
# jeff6: jeff1 with the second G1 point negated, so the product is no longer one.
JEFF6 = (
    JEFF1[: 7 * 64] + "103188585e2364128fe25c70558f1560f4f9350baf3959e603cc91486e110936" + G2_HEX
)
G2_NEG_Y_HEX = (
    G2_HEX[:128]
    + "275dc4a288d1afb3cbb1ac09187524c7db36395df7be3b99e673b13a075a65ec"
    + "1d9befcd05a5323e6da4d435f3b617cdb3af83285c2df711ef39c01571827f9d"
)


@pytest.mark.parametrize(
    ("data", "result", "gas"),
    [
        (JEFF1, 1, 113000),
        (JEFF6, 0, 113000),
        ("", 1, 45000),
        (G1_HEX + G2_HEX, 0, 79000),  # one_point: e(G1, G2) != 1
        (G1_HEX + G2_HEX + G1_HEX + G2_NEG_Y_HEX, 1, 113000),  # e(G1, G2) e(G1, -G2)
        ("00" * 64 + G2_HEX, 1, 79000),  # infinity in G1
        (G1_HEX + "00" * 128, 1, 79000),  # infinity in G2
    ],
)
def test_ecpairing_vectors(data: str, result: int, gas: int) -> None:
    assert run(0x08, bytes.fromhex(data)) == (gas, word(result))


def test_ecpairing_bilinearity() -> None:
    # e(3 P, 5 Q) * e(-15 P, Q) == 1
    data = (
        encode_g1(multiply(G1, 3))
        + encode_g2(multiply(G2, 5))
        + encode_g1(neg(multiply(G1, 15)))
        + encode_g2(G2)
    )
    assert run(0x08, data) == (113000, word(1))


def _fq2_sqrt(a: FQ2) -> FQ2 | None:
    """A square root in Fp2 for p = 3 mod 4, or None (test helper)."""
    p = field_modulus
    a1 = a ** ((p - 3) // 4)
    alpha = a1 * a1 * a
    x0 = a1 * a
    if alpha == FQ2([p - 1, 0]):
        candidate = FQ2([0, 1]) * x0
    else:
        candidate = (alpha + FQ2.one()) ** ((p - 1) // 2) * x0
    return candidate if candidate * candidate == a else None


def _g2_point_outside_subgroup() -> tuple:
    k = 1
    while True:
        x = FQ2([k, 1])
        y = _fq2_sqrt(x**3 + b2)
        if y is not None:
            point = (x, y, FQ2.one())
            if not is_inf(multiply(point, curve_order)):
                return point
        k += 1


def test_ecpairing_g2_subgroup_check() -> None:
    outside = _g2_point_outside_subgroup()
    with pytest.raises(PrecompileError):
        run(0x08, bytes.fromhex(G1_HEX) + encode_g2(outside))
    # Even paired with infinity in G1, the G2 point must be checked.
    with pytest.raises(PrecompileError):
        run(0x08, bytes(64) + encode_g2(outside))
    # Clearing the cofactor (2p - r) lands in the subgroup, which is accepted.
    inside = multiply(outside, 2 * field_modulus - curve_order)
    assert run(0x08, bytes.fromhex(G1_HEX) + encode_g2(inside)) == (79000, word(0))


@pytest.mark.parametrize(
    "data",
    [
        G1_HEX + G2_HEX[:-2],  # length not a multiple of 192
        G1_HEX + G2_HEX + "00",
        word(1).hex() + word(3).hex() + G2_HEX,  # G1 point not on curve
        G1_HEX + G2_HEX[:-2] + "ab",  # G2 point not on curve
        G1_HEX + word(field_modulus).hex() + G2_HEX[64:],  # coordinate too big
        G1_HEX + G2_HEX[64:128] + G2_HEX[:64] + G2_HEX[128:],  # x parts swapped
    ],
)
def test_ecpairing_invalid_input(data: str) -> None:
    with pytest.raises(PrecompileError):
        run(0x08, bytes.fromhex(data))


def test_ecpairing_out_of_gas() -> None:
    with pytest.raises(PrecompileError):
        run(0x08, bytes.fromhex(JEFF1), 112999)
    with pytest.raises(PrecompileError):
        run(0x08, b"", 44999)


# --- 0x09 BLAKE2F ---------------------------------------------------------------------------

BLAKE2F_BODY = bytes.fromhex(
    "48c9bdf267e6096a3ba7ca8485ae67bb2bf894fe72f36e3cf1361d5f3af54fa5"
    "d182e6ad7f520e511f6c3e2b8c68059b6bbd41fbabd9831f79217e1319cde05b"
    "6162630000000000000000000000000000000000000000000000000000000000"
    + "00" * 96
    + "0300000000000000"
    + "0000000000000000"
)


def blake2f_input(rounds: int, flag: int) -> bytes:
    return rounds.to_bytes(4, "big") + BLAKE2F_BODY + bytes((flag,))


@pytest.mark.parametrize(
    ("rounds", "flag", "expected"),
    [
        (  # EIP-152 vector 4
            0,
            1,
            "08c9bcf367e6096a3ba7ca8485ae67bb2bf894fe72f36e3cf1361d5f3af54fa5"
            "d282e6ad7f520e511f6c3e2b8c68059b9442be0454267ce079217e1319cde05b",
        ),
        (  # EIP-152 vector 5: BLAKE2b-512("abc")
            12,
            1,
            "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1"
            "7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923",
        ),
        (  # EIP-152 vector 6: final flag unset
            12,
            0,
            "75ab69d3190a562c51aef8d88f1c2775876944407270c42c9844252c26d28752"
            "98743e7f6d5ea2f2d3e8d226039cd31b4e426ac4f2d3d666a610c2116fde4735",
        ),
        (  # EIP-152 vector 7: one round
            1,
            1,
            "b63a380cb2897d521994a85234ee2c181b5f844d2c624c002677e9703449d2fb"
            "a551b3a8333bcdf5f2f7e08993d53923de3d64fcc68c034e717b9293fed7a421",
        ),
    ],
)
def test_blake2f_eip152_vectors(rounds: int, flag: int, expected: str) -> None:
    assert run(0x09, blake2f_input(rounds, flag)) == (rounds, bytes.fromhex(expected))


def test_blake2f_eip152_vector8_is_priced_per_round() -> None:
    # Vector 8 asks for 2**32 - 1 rounds: 4294967295 gas; one less is out of gas.
    with pytest.raises(PrecompileError):
        run(0x09, blake2f_input(0xFFFFFFFF, 1), 0xFFFFFFFE)


@pytest.mark.parametrize(
    "data",
    [
        b"",  # EIP-152 vector 0
        blake2f_input(12, 1)[:-1],  # vector 1: 212 bytes
        blake2f_input(12, 1) + b"\x00",  # vector 2: 214 bytes
        blake2f_input(12, 2),  # vector 3: bad final flag
        blake2f_input(12, 0xFF),
    ],
)
def test_blake2f_invalid_input(data: bytes) -> None:
    with pytest.raises(PrecompileError):
        run(0x09, data)


def test_blake2f_out_of_gas() -> None:
    with pytest.raises(PrecompileError):
        run(0x09, blake2f_input(12, 1), 11)


@pytest.mark.parametrize("message", [b"", b"abc", b"\x00" * 127, bytes(range(128))])
def test_blake2f_matches_hashlib_blake2b(message: bytes) -> None:
    h = list(BLAKE2B_IV)
    h[0] ^= 0x01010000 ^ 64  # parameter block: digest length 64, no key, fanout/depth 1
    block = message + bytes(128 - len(message))
    m = [int.from_bytes(block[i : i + 8], "little") for i in range(0, 128, 8)]
    out = compress(12, h, m, len(message), 0, True)
    digest = b"".join(w.to_bytes(8, "little") for w in out)
    assert digest == hashlib.blake2b(message).digest()


# --- 0x0a POINT EVALUATION ------------------------------------------------------------------

BLS_MODULUS = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001
POINT_EVALUATION_OUTPUT = word(4096) + word(BLS_MODULUS)


@pytest.fixture(scope="module")
def kzg_case() -> dict[str, bytes]:
    settings = kzg_module.trusted_setup()
    blob = b"".join(word((i * i + 7) % BLS_MODULUS) for i in range(4096))
    commitment = ckzg.blob_to_kzg_commitment(blob, settings)
    z = word(0x1234567890ABCDEF)
    proof, y = ckzg.compute_kzg_proof(blob, z, settings)
    versioned = b"\x01" + hashlib.sha256(commitment).digest()[1:]
    return {"versioned": versioned, "z": z, "y": y, "commitment": commitment, "proof": proof}


def point_input(case: dict[str, bytes], **changes: bytes) -> bytes:
    fields = {**case, **changes}
    return b"".join(fields[k] for k in ("versioned", "z", "y", "commitment", "proof"))


def test_point_evaluation_valid_proof(kzg_case: dict[str, bytes]) -> None:
    assert run(0x0A, point_input(kzg_case)) == (50000, POINT_EVALUATION_OUTPUT)


def test_point_evaluation_rejects_bad_input(kzg_case: dict[str, bytes]) -> None:
    proof = bytearray(kzg_case["proof"])
    proof[20] ^= 0x01
    y_plus_one = word((int.from_bytes(kzg_case["y"], "big") + 1) % BLS_MODULUS)
    bad_inputs = [
        point_input(kzg_case, proof=bytes(proof)),  # corrupted proof encoding
        point_input(kzg_case, proof=kzg_case["commitment"]),  # valid point, wrong proof
        point_input(kzg_case, y=y_plus_one),  # wrong claimed value
        point_input(kzg_case, z=word(BLS_MODULUS)),  # z not a field element
        point_input(kzg_case, versioned=b"\x02" + kzg_case["versioned"][1:]),  # bad version
        point_input(kzg_case, versioned=bytes(32)),
        point_input(kzg_case)[:-1],  # 191 bytes
        point_input(kzg_case) + b"\x00",  # 193 bytes
        b"",
    ]
    for data in bad_inputs:
        with pytest.raises(PrecompileError):
            run(0x0A, data)


def test_point_evaluation_out_of_gas(kzg_case: dict[str, bytes]) -> None:
    with pytest.raises(PrecompileError):
        run(0x0A, point_input(kzg_case), 49999)


def test_point_evaluation_external_vectors(conformance: Path) -> None:
    """The c-kzg verify_kzg_proof vectors, as the Cancun state tests call 0x0a with them."""
    path = conformance / (
        "state_tests/Pyspecs/cancun/eip4844_blobs/point_evaluation_precompile_external_vectors.json"
    )
    if not path.is_file():
        pytest.skip(f"{path} not found")
    cases = json.loads(path.read_text())
    assert len(cases) > 100
    mismatches = []
    for name, case in cases.items():
        data = bytes.fromhex(case["transaction"]["data"][0][2:])
        should_pass = "case_correct_proof" in name
        try:
            ok = run(0x0A, data) == (50000, POINT_EVALUATION_OUTPUT)
        except PrecompileError:
            ok = False
        if ok != should_pass:
            mismatches.append(name)
    assert mismatches == []


def test_trusted_setup_is_mainnet_and_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = kzg_module.trusted_setup_path().read_text(encoding="ascii")
    assert kzg_module.setup_fingerprint(text) == kzg_module.MAINNET_SETUP_FINGERPRINT
    # [tau]G2, the second G2 point of the mainnet ceremony output.
    assert text.split()[2 + 4096 + 1].startswith("b5bfd7dd8cdeb128843bc287230af389")
    # Formatting differences do not matter; content differences do.
    assert kzg_module.setup_fingerprint(text.replace("\n", "\r\n") + "\n") == (
        kzg_module.MAINNET_SETUP_FINGERPRINT
    )
    forged = tmp_path / "setup.txt"
    tokens = text.split()
    tokens[2] = "b" + tokens[2][1:]
    forged.write_text("\n".join(tokens) + "\n", encoding="ascii")
    monkeypatch.setenv(kzg_module.TRUSTED_SETUP_ENV, str(forged))
    monkeypatch.setattr(kzg_module, "_setup", None)
    with pytest.raises(RuntimeError):
        kzg_module.trusted_setup()


def test_blake2f_native_and_python_reference_agree() -> None:
    """The native compression used for speed equals the Python reference version."""
    import random

    from strikevm.vm.precompiles import blake2f as b

    rng = random.Random(7)
    for rounds in (0, 1, 12, 77):
        for flag in (0, 1):
            h = [rng.getrandbits(64) for _ in range(8)]
            m = [rng.getrandbits(64) for _ in range(16)]
            t0, t1 = rng.getrandbits(64), rng.getrandbits(64)
            ref = b"".join(w.to_bytes(8, "little") for w in b.compress(rounds, h, m, t0, t1, flag == 1))
            data = (
                rounds.to_bytes(4, "big")
                + b"".join(w.to_bytes(8, "little") for w in h + m + [t0, t1])
                + bytes([flag])
            )
            assert b.blake2f_precompile(data, 10**6) == (rounds, ref)
