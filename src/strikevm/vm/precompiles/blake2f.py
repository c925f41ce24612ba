"""The BLAKE2F precompile (0x09): the BLAKE2b compression function F (EIP-152, RFC 7693).

Input (exactly 213 bytes): rounds (4 bytes, big-endian), state h (8 words), message m
(16 words), offset counters t0, t1 (2 words), final-block flag f (1 byte, 0 or 1); the
words are 64-bit little-endian. Output: the new state h, 64 bytes. Gas: 1 per round.
"""

from __future__ import annotations

from .base import PrecompileError, charge

try:  # native compression (Rust), used for speed; the Python version stays as reference
    from blake2b import compress as _native_compress
except ImportError:  # pragma: no cover - the dependency is declared; kept for robustness
    _native_compress = None

BLAKE2F_INPUT_SIZE = 213
BLAKE2F_ROUND_GAS = 1

MASK64 = 0xFFFFFFFFFFFFFFFF

BLAKE2B_IV: tuple[int, ...] = (
    0x6A09E667F3BCC908,
    0xBB67AE8584CAA73B,
    0x3C6EF372FE94F82B,
    0xA54FF53A5F1D36F1,
    0x510E527FADE682D1,
    0x9B05688C2B3E6C1F,
    0x1F83D9ABFB41BD6B,
    0x5BE0CD19137E2179,
)

# Message word schedule, one row per round (round i uses row i mod 10).
SIGMA: tuple[tuple[int, ...], ...] = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
    (14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3),
    (11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4),
    (7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8),
    (9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13),
    (2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9),
    (12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11),
    (13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10),
    (6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5),
    (10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0),
)

# (a, b, c, d) indices of the eight G applications in a round: four columns, four diagonals.
G_LANES: tuple[tuple[int, int, int, int], ...] = (
    (0, 4, 8, 12),
    (1, 5, 9, 13),
    (2, 6, 10, 14),
    (3, 7, 11, 15),
    (0, 5, 10, 15),
    (1, 6, 11, 12),
    (2, 7, 8, 13),
    (3, 4, 9, 14),
)


def compress(rounds: int, h: list[int], m: list[int], t0: int, t1: int, final: bool) -> list[int]:
    """BLAKE2b F: compress message block ``m`` into state ``h``; returns the new state."""
    v = h[:] + list(BLAKE2B_IV)
    v[12] ^= t0
    v[13] ^= t1
    if final:
        v[14] ^= MASK64
    for i in range(rounds):
        s = SIGMA[i % 10]
        for j, (a, b, c, d) in enumerate(G_LANES):
            x = m[s[2 * j]]
            y = m[s[2 * j + 1]]
            va, vb, vc, vd = v[a], v[b], v[c], v[d]
            va = (va + vb + x) & MASK64
            vd ^= va
            vd = ((vd >> 32) | (vd << 32)) & MASK64
            vc = (vc + vd) & MASK64
            vb ^= vc
            vb = ((vb >> 24) | (vb << 40)) & MASK64
            va = (va + vb + y) & MASK64
            vd ^= va
            vd = ((vd >> 16) | (vd << 48)) & MASK64
            vc = (vc + vd) & MASK64
            vb ^= vc
            vb = ((vb >> 63) | (vb << 1)) & MASK64
            v[a], v[b], v[c], v[d] = va, vb, vc, vd
    return [h[i] ^ v[i] ^ v[i + 8] for i in range(8)]


def _words(buf: bytes) -> list[int]:
    return [int.from_bytes(buf[i : i + 8], "little") for i in range(0, len(buf), 8)]


def blake2f_precompile(data: bytes, gas: int) -> tuple[int, bytes]:
    """0x09: run ``rounds`` rounds of BLAKE2b F on the 213-byte input."""
    if len(data) != BLAKE2F_INPUT_SIZE:
        raise PrecompileError("blake2f: input must be exactly 213 bytes")
    rounds = int.from_bytes(data[0:4], "big")
    used = charge(BLAKE2F_ROUND_GAS * rounds, gas)
    flag = data[212]
    if flag not in (0, 1):
        raise PrecompileError("blake2f: final block flag must be 0 or 1")
    h = _words(data[4:68])
    m = _words(data[68:196])
    t0, t1 = _words(data[196:212])
    if _native_compress is not None:
        return used, bytes(_native_compress(rounds, h, m, [t0, t1], flag == 1))
    out = compress(rounds, h, m, t0, t1, flag == 1)
    return used, b"".join(word.to_bytes(8, "little") for word in out)
