"""Memory opcodes: MLOAD, MSTORE, MSTORE8, MSIZE, MCOPY (EIP-5656, overlapping copies)
and KECCAK256, with exact memory-expansion gas (3 per word + words**2 // 512).
"""

from __future__ import annotations

import pytest
from Crypto.Hash import keccak as pyc_keccak
from vmhelpers import (
    OTHER,
    RET_TOP,
    RET_TOP_GAS,
    M,
    asm,
    mem_cost,
    push,
    ret_words,
    ret_words_gas,
    run,
)

from strikevm.state.account import Account

EMPTY_KECCAK = 0xC5D2460186F7233C927E7DB2DCC703C0E500B653CA82273B7BFAD8045D85A470
ZERO_WORD_KECCAK = 0x290DECD9548B62A8D60345A988386FC84BA6BC95484008F6362F93160EF3E563
SEQ = bytes(range(32))  # 000102...1f


def keccak(data: bytes) -> int:
    return int.from_bytes(pyc_keccak.new(data=data, digest_bits=256).digest(), "big")


# ------------------------------------------------------------------ MSTORE / MLOAD


def test_mstore_mload_round_trip(engine: str) -> None:
    v = 0x0123456789ABCDEF << 128 | 0xFEDCBA
    out = run(engine, asm(v, "PUSH1 0 MSTORE PUSH1 0 MLOAD", RET_TOP))
    assert out.out_word == v
    # PUSH32 3, PUSH1 3, MSTORE 3 + 3 (one word), PUSH1 3, MLOAD 3, epilogue without growth
    assert out.gas_used == 3 + 3 + 6 + 3 + 3 + (RET_TOP_GAS - 3)


def test_mload_of_fresh_memory_is_zero_and_expands(engine: str) -> None:
    out = run(engine, asm("PUSH1 0x20 MLOAD PUSH1 0 MSTORE MSIZE PUSH1 0x20 MSTORE",
                          "PUSH1 0x40 PUSH1 0 RETURN"))
    assert out.out_words == [0, 0x40]
    # PUSH1 3, MLOAD 3 + two words (6), PUSH1 3, MSTORE 3, MSIZE 2, PUSH1 3, MSTORE 3,
    # PUSH1 3, PUSH1 3, RETURN 0
    assert out.gas_used == 3 + 3 + 6 + 3 + 3 + 2 + 3 + 3 + 3 + 3


def test_unaligned_mstore(engine: str) -> None:
    out = run(engine, asm(M, "PUSH1 1 MSTORE MSIZE PUSH1 64 MSTORE PUSH1 96 PUSH1 0 RETURN"))
    data = out.output
    assert data[:1] == b"\x00"
    assert data[1:33] == b"\xff" * 32
    assert data[33:64] == bytes(31)
    assert int.from_bytes(data[64:96], "big") == 64  # 33 bytes round up to two words
    # PUSH32 3, PUSH1 3, MSTORE 3 + 6, MSIZE 2, PUSH1 3, MSTORE 3 + 3, PUSH1 3, PUSH1 3
    assert out.gas_used == 3 + 3 + 9 + 2 + 3 + 6 + 3 + 3


def test_mstore8_writes_low_byte(engine: str) -> None:
    out = run(engine, asm("PUSH2 0x1234 PUSH1 0 MSTORE8 PUSH2 0xFFAB PUSH1 31 MSTORE8",
                          "PUSH1 0 MLOAD", RET_TOP))
    assert out.out_word == (0x34 << 248) | 0xAB
    # PUSH2 3, PUSH1 3, MSTORE8 3 + 3, PUSH2 3, PUSH1 3, MSTORE8 3, PUSH1 3, MLOAD 3
    assert out.gas_used == 3 + 3 + 6 + 3 + 3 + 3 + 3 + 3 + RET_TOP_GAS - 3


@pytest.mark.parametrize(
    "setup,expected",
    [
        ("", 0),
        ("PUSH1 1 PUSH1 32 MSTORE8", 64),
        ("PUSH1 1 PUSH1 31 MSTORE8", 32),
        ("PUSH1 1 PUSH1 0 MSTORE", 32),
        ("PUSH1 1 PUSH1 1 MSTORE", 64),
        ("PUSH1 0x40 MLOAD POP", 96),
        ("PUSH1 0 PUSH2 0xFFFF KECCAK256 POP", 0),  # zero size: no expansion
        ("PUSH1 0 PUSH2 0xFFFF PUSH2 0xFFFF MCOPY", 0),
        ("PUSH1 0 PUSH1 0 PUSH2 0xFFFF CALLDATACOPY", 0),
        ("PUSH1 1 PUSH1 0 PUSH1 100 MCOPY", 128),  # expands to the destination end
        ("PUSH1 1 PUSH1 100 PUSH1 0 MCOPY", 128),  # ... or to the source end
    ],
)
def test_msize(engine: str, setup: str, expected: int) -> None:
    code = asm(setup, "MSIZE", "PUSH2 0x1000 MSTORE PUSH1 32 PUSH2 0x1000 RETURN")
    out = run(engine, code)
    assert out.success
    assert out.out_word == expected


@pytest.mark.parametrize(
    "offset,words",
    [(0, 1), (1, 2), (31, 2), (32, 2), (0x3E0, 32), (32 * 1023, 1024), (0x10000, 2049)],
)
def test_mstore_expansion_gas(engine: str, offset: int, words: int) -> None:
    out = run(engine, asm("PUSH1 0", push(offset), "MSTORE STOP"), gas=10_000_000)
    assert out.success
    assert out.gas_used == 3 + 3 + 3 + mem_cost(words)


def test_expansion_cost_is_incremental(engine: str) -> None:
    # grow to 1024 words, then to 2048: the second MSTORE pays the difference
    code = asm(f"PUSH1 0 PUSH2 {32 * 1023} MSTORE PUSH1 0 PUSH2 {32 * 2047} MSTORE STOP")
    out = run(engine, code, gas=100_000)
    assert out.gas_used == 12 + 6 + mem_cost(1024) + (mem_cost(2048) - mem_cost(1024))
    assert mem_cost(1024) == 5120 and mem_cost(2048) - mem_cost(1024) == 9216


def test_mstore_exact_gas_boundary(engine: str) -> None:
    code = asm("PUSH1 7 PUSH1 0 MSTORE")  # 3 + 3 + 3 + 3 for the first word
    ok = run(engine, code, gas=12)
    assert ok.success and ok.gas_left == 0
    out = run(engine, code, gas=11)  # static gas paid, expansion not affordable
    assert not out.success and out.gas_left == 0


@pytest.mark.parametrize("op", ["MLOAD", "MSTORE", "MSTORE8"])
@pytest.mark.parametrize("offset", [2**32, 2**64, 2**255, M])
def test_huge_offset_runs_out_of_gas(engine: str, op: str, offset: int) -> None:
    value = "PUSH1 1" if op != "MLOAD" else ""
    out = run(engine, asm(value, push(offset, 32), op, "STOP"), gas=30_000_000)
    assert not out.success and out.gas_left == 0


def test_memory_is_per_frame(engine: str) -> None:
    # A fresh frame starts with empty memory even after the caller used memory.
    callee = asm("MSIZE", RET_TOP)
    code = asm("PUSH1 1 PUSH2 0x100 MSTORE",
               "PUSH1 32 PUSH1 0 PUSH1 0 PUSH1 0 PUSH1 0", OTHER, "GAS CALL POP",
               "PUSH1 32 PUSH1 0 RETURN")
    out = run(engine, code, pre={OTHER: Account(code=callee)}, warm=[OTHER])
    assert out.success and out.out_word == 0


# ------------------------------------------------------------------ MCOPY (EIP-5656)


def _mcopy_program(pre: bytes, dst: int, src: int, size: int, ret: int) -> bytes:
    """Store ``pre`` (whole words) at memory 0, MCOPY, return memory[0:ret]."""
    parts: list[str | int | bytes] = []
    for i in range(0, len(pre), 32):
        parts += [push(int.from_bytes(pre[i : i + 32], "big"), 32), push(i), "MSTORE"]
    parts += [push(size), push(src), push(dst), "MCOPY", push(ret), "PUSH1 0 RETURN"]
    return asm(*parts)


MCOPY_CASES = [
    # EIP-5656 test cases: memory before, dst, src, size, memory after
    (bytes(32) + SEQ, 0, 32, 32, SEQ + SEQ),
    (bytes(32) + SEQ, 0, 0, 32, bytes(32) + SEQ),
    (bytes.fromhex("0001020304050607080000") + bytes(21), 1, 0, 8,
     bytes.fromhex("0000010203040506070000") + bytes(21)),
    (bytes.fromhex("0001020304050607080000") + bytes(21), 0, 1, 8,
     bytes.fromhex("0102030405060708080000") + bytes(21)),
    # full-word overlap forward and backward
    (SEQ + bytes(32), 16, 0, 32, SEQ[:16] + SEQ + bytes(16)),
    (SEQ + SEQ, 0, 16, 32, SEQ[16:] + SEQ[:16] + SEQ),
]  # fmt: skip


@pytest.mark.parametrize("pre,dst,src,size,post", MCOPY_CASES)
def test_mcopy_cases(engine: str, pre: bytes, dst: int, src: int, size: int, post: bytes) -> None:
    out = run(engine, _mcopy_program(pre, dst, src, size, len(post)))
    assert out.success
    assert out.output == post
    words = len(pre) // 32
    stores = words * (3 + 3 + 3) + mem_cost(words)
    # three pushes, MCOPY 3 + 3 per copied word (no growth), return pushes
    expected = stores + 9 + 3 + 3 * ((size + 31) // 32) + 6
    assert out.gas_used == expected


def test_mcopy_expands_memory_and_reads_zeros(engine: str) -> None:
    # memory is one word; copy 40 bytes from offset 16 to offset 64
    out = run(engine, _mcopy_program(SEQ, 64, 16, 40, 128))
    assert out.success
    assert out.output == SEQ + bytes(32) + SEQ[16:] + bytes(24) + bytes(24)
    # MSTORE setup 9 + 3; MCOPY: 3 + 3 * 2 words + growth from 1 to 4 words
    assert out.gas_used == 9 + 3 + 9 + 3 + 6 + (mem_cost(4) - mem_cost(1)) + 6


def test_mcopy_zero_size_any_offsets(engine: str) -> None:
    out = run(engine, asm("PUSH1 0", push(M, 32), push(M, 32), "MCOPY MSIZE", RET_TOP))
    assert out.success and out.out_word == 0
    assert out.gas_used == 9 + 3 + 2 + RET_TOP_GAS


@pytest.mark.parametrize("dst,src", [(2**32, 0), (0, 2**32), (M, 0), (0, M)])
def test_mcopy_huge_range_fails(engine: str, dst: int, src: int) -> None:
    out = run(engine, asm("PUSH1 1", push(src, 32), push(dst, 32), "MCOPY STOP"), gas=10**7)
    assert not out.success and out.gas_left == 0


def test_mcopy_huge_size_fails(engine: str) -> None:
    out = run(engine, asm(push(2**40, 32), "PUSH1 0 PUSH1 0 MCOPY STOP"), gas=10**7)
    assert not out.success and out.gas_left == 0


# ------------------------------------------------------------------ KECCAK256


def test_keccak_of_empty(engine: str) -> None:
    out = run(engine, asm("PUSH1 0 PUSH1 0 KECCAK256", RET_TOP))
    assert out.out_word == EMPTY_KECCAK
    assert out.gas_used == 3 + 3 + 30 + RET_TOP_GAS


@pytest.mark.parametrize("offset", [1, 5, 0xFFFF, M])
def test_keccak_of_empty_at_any_offset(engine: str, offset: int) -> None:
    # size 0: nothing is read and memory does not grow, whatever the offset
    out = run(engine, asm("PUSH1 0", push(offset), "KECCAK256 MSIZE", ret_words(2)))
    assert out.success, out.error
    assert out.out_words == [0, EMPTY_KECCAK]  # MSIZE on top, then the hash
    assert out.gas_used == 3 + 3 + 30 + 2 + ret_words_gas(2)


def test_keccak_of_empty_with_size_from_calldata(engine: str) -> None:
    out = run(engine, asm("PUSH1 0 CALLDATALOAD PUSH2 0xFFFF KECCAK256", RET_TOP),
              data=bytes(32))
    assert out.success, out.error
    assert out.out_word == EMPTY_KECCAK
    assert out.gas_used == 6 + 3 + 30 + RET_TOP_GAS


def test_keccak_of_zero_word(engine: str) -> None:
    out = run(engine, asm("PUSH1 32 PUSH1 0 KECCAK256", RET_TOP))
    assert out.out_word == ZERO_WORD_KECCAK
    # 30 + 6 per word + one word of growth; the epilogue then needs no growth
    assert out.gas_used == 3 + 3 + 30 + 6 + 3 + RET_TOP_GAS - 3


@pytest.mark.parametrize("offset,size", [(0, 1), (5, 27), (0, 33), (31, 64), (100, 200)])
def test_keccak_ranges(engine: str, offset: int, size: int) -> None:
    # memory holds 000102...ff (eight words) before hashing
    mem = bytes(range(256))
    parts: list[str | int | bytes] = []
    for i in range(0, 256, 32):
        parts += [push(int.from_bytes(mem[i : i + 32], "big"), 32), push(i), "MSTORE"]
    parts += [push(size), push(offset), "KECCAK256", RET_TOP]
    out = run(engine, asm(*parts))
    padded = mem + bytes(512)
    assert out.out_word == keccak(padded[offset : offset + size])
    end_words = max(8, (offset + size + 31) // 32)
    setup = 8 * 9 + mem_cost(8)
    expected = setup + 6 + 30 + 6 * ((size + 31) // 32) + (mem_cost(end_words) - mem_cost(8))
    assert out.gas_used == expected + RET_TOP_GAS - 3


def test_keccak_huge_range_fails(engine: str) -> None:
    out = run(engine, asm("PUSH1 1", push(2**32, 32), "KECCAK256 STOP"), gas=10**7)
    assert not out.success and out.gas_left == 0
    out = run(engine, asm(push(2**64, 32), "PUSH1 0 KECCAK256 STOP"), gas=10**7)
    assert not out.success and out.gas_left == 0


def test_keccak_uses_calldata_bytes(engine: str) -> None:
    data = b"hello strike"
    code = asm("CALLDATASIZE PUSH1 0 PUSH1 0 CALLDATACOPY CALLDATASIZE PUSH1 0 KECCAK256",
               RET_TOP)
    out = run(engine, code, data=data)
    assert out.out_word == keccak(data)
    # CALLDATASIZE 2, pushes 6, CALLDATACOPY 3 + 3 + growth 3, CALLDATASIZE 2, PUSH1 3,
    # KECCAK256 30 + 6
    assert out.gas_used == 2 + 6 + 9 + 2 + 3 + 36 + RET_TOP_GAS - 3
