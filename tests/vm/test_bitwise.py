"""Comparison, bitwise and shift opcodes: results (EIP-145 shift vectors included), gas,
and comparisons feeding JUMPI (the fast engine turns those into Python conditions).
"""

from __future__ import annotations

import pytest
from vmhelpers import SIGN, M, asm, op_program, run, signed, word

MODES = ("const", "calldata")
HALF = 1 << 254
MAX_POS = SIGN - 1  # 0x7fff...ff

CASES: list[tuple[str, tuple[int, ...], int]] = [
    # comparisons: operands[0] is the top of the stack (a), a OP b
    ("LT", (1, 2), 1),
    ("LT", (2, 1), 0),
    ("LT", (2, 2), 0),
    ("LT", (0, M), 1),
    ("LT", (M, 0), 0),
    ("GT", (2, 1), 1),
    ("GT", (1, 2), 0),
    ("GT", (M, M), 0),
    ("GT", (M, 0), 1),
    ("SLT", (signed(-1), 0), 1),
    ("SLT", (0, signed(-1)), 0),
    ("SLT", (SIGN, MAX_POS), 1),  # most negative < most positive
    ("SLT", (MAX_POS, SIGN), 0),
    ("SLT", (signed(-2), signed(-1)), 1),
    ("SLT", (5, 5), 0),
    ("SGT", (0, signed(-1)), 1),
    ("SGT", (signed(-1), 0), 0),
    ("SGT", (MAX_POS, SIGN), 1),
    ("SGT", (signed(-1), signed(-2)), 1),
    ("SGT", (SIGN, SIGN), 0),
    ("EQ", (7, 7), 1),
    ("EQ", (7, 8), 0),
    ("EQ", (M, M), 1),
    ("EQ", (0, M), 0),
    ("ISZERO", (0,), 1),
    ("ISZERO", (1,), 0),
    ("ISZERO", (M,), 0),
    # bitwise
    ("AND", (0xF0F0, 0xFF00), 0xF000),
    ("AND", (M, 0x1234), 0x1234),
    ("OR", (0xF0F0, 0x0F00), 0xFFF0),
    ("OR", (0, 0), 0),
    ("XOR", (0xF0F0, 0xFF00), 0x0FF0),
    ("XOR", (M, M), 0),
    ("NOT", (0,), M),
    ("NOT", (M,), 0),
    ("NOT", (0xFF,), M - 0xFF),
    # BYTE: i = 0 is the most significant byte
    ("BYTE", (0, 0xAB << 248), 0xAB),
    ("BYTE", (31, 0x1234), 0x34),
    ("BYTE", (30, 0x1234), 0x12),
    ("BYTE", (1, 0x00CD << 240), 0xCD),
    ("BYTE", (32, M), 0),
    ("BYTE", (M, M), 0),
    ("BYTE", (1 << 255 | 1, M), 0),
    # EIP-145 SHL(shift, value)
    ("SHL", (0x00, 1), 1),
    ("SHL", (0x01, 1), 2),
    ("SHL", (0xFF, 1), SIGN),
    ("SHL", (0x100, 1), 0),
    ("SHL", (0x101, 1), 0),
    ("SHL", (0x00, M), M),
    ("SHL", (0x01, M), M - 1),
    ("SHL", (0xFF, M), SIGN),
    ("SHL", (0x100, M), 0),
    ("SHL", (0x01, 0), 0),
    ("SHL", (0x01, MAX_POS), M - 1),
    ("SHL", (M, M), 0),
    # EIP-145 SHR(shift, value)
    ("SHR", (0x00, 1), 1),
    ("SHR", (0x01, 1), 0),
    ("SHR", (0x01, SIGN), HALF),
    ("SHR", (0xFF, SIGN), 1),
    ("SHR", (0x100, SIGN), 0),
    ("SHR", (0x101, SIGN), 0),
    ("SHR", (0x00, M), M),
    ("SHR", (0x01, M), MAX_POS),
    ("SHR", (0xFF, M), 1),
    ("SHR", (0x100, M), 0),
    ("SHR", (0x01, 0), 0),
    ("SHR", (M, M), 0),
    # EIP-145 SAR(shift, value)
    ("SAR", (0x00, 1), 1),
    ("SAR", (0x01, 1), 0),
    ("SAR", (0x01, SIGN), SIGN | HALF),
    ("SAR", (0xFF, SIGN), M),
    ("SAR", (0x100, SIGN), M),
    ("SAR", (0x101, SIGN), M),
    ("SAR", (0x00, M), M),
    ("SAR", (0x01, M), M),
    ("SAR", (0xFF, M), M),
    ("SAR", (0x100, M), M),
    ("SAR", (0x01, 0), 0),
    ("SAR", (0xFE, HALF), 1),
    ("SAR", (0xF8, MAX_POS), 0x7F),
    ("SAR", (0xFE, MAX_POS), 1),
    ("SAR", (0xFF, MAX_POS), 0),
    ("SAR", (0x100, MAX_POS), 0),
    ("SAR", (M, SIGN), M),
    ("SAR", (M, MAX_POS), 0),
    ("SAR", (4, signed(-17)), signed(-2)),  # rounds toward minus infinity
]

ONE_IN = {"ISZERO", "NOT"}


def _id(case: tuple[str, tuple[int, ...], int]) -> str:
    op, args, _ = case
    return op + "(" + ",".join(hex(a) if a < 1 << 32 else f"~{a.bit_length()}b" for a in args) + ")"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES, ids=_id)
def test_result_and_gas(engine: str, mode: str, case: tuple[str, tuple[int, ...], int]) -> None:
    op, args, expected = case
    code, data, overhead = op_program(op, args, mode)
    out = run(engine, code, data=data)
    assert out.success, out.error
    assert out.out_word == expected
    assert out.gas_used == overhead + 3  # every opcode of this family costs 3


@pytest.mark.parametrize(
    "op", ["LT", "GT", "SLT", "SGT", "EQ", "ISZERO", "AND", "OR", "XOR", "NOT", "BYTE", "SHL",
           "SHR", "SAR"]
)
def test_underflow(engine: str, op: str) -> None:
    n_in = 1 if op in ONE_IN else 2
    out = run(engine, asm(*([1] * (n_in - 1)), op, "STOP"), gas=10_000)
    assert not out.success and out.gas_left == 0


# Comparisons used as JUMPI conditions, possibly negated by ISZERO chains.
COND_PREFIXES = ["", "ISZERO", "ISZERO ISZERO", "ISZERO ISZERO ISZERO"]
COND_CASES = [
    ("LT", 1, 2), ("LT", 2, 1), ("GT", 2, 1), ("GT", 1, 1), ("SLT", signed(-1), 0),
    ("SLT", 0, signed(-1)), ("SGT", 0, signed(-1)), ("SGT", signed(-1), 0), ("EQ", 3, 3),
    ("EQ", 3, 4), ("AND", 2, 1), ("AND", 3, 1), ("SUB", 5, 5), ("SUB", 5, 4),
]  # fmt: skip

PY = {
    "LT": lambda a, b: int(a < b),
    "GT": lambda a, b: int(a > b),
    "SLT": lambda a, b: int((a - (a >> 255 << 256)) < (b - (b >> 255 << 256))),
    "SGT": lambda a, b: int((a - (a >> 255 << 256)) > (b - (b >> 255 << 256))),
    "EQ": lambda a, b: int(a == b),
    "AND": lambda a, b: a & b,
    "SUB": lambda a, b: (a - b) % (1 << 256),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("negations", range(len(COND_PREFIXES)))
@pytest.mark.parametrize("case", COND_CASES, ids=lambda c: f"{c[0]}({c[1]:#x},{c[2]:#x})")
def test_condition_drives_jumpi(
    engine: str, mode: str, negations: int, case: tuple[str, int, int]
) -> None:
    op, a, b = case
    if mode == "const":
        operands: list[str | int | bytes] = [b, a]
        data = b""
    else:
        operands = ["PUSH1 32 CALLDATALOAD PUSH1 0 CALLDATALOAD"]
        data = word(a) + word(b)
    code = asm(
        *operands, op, COND_PREFIXES[negations], "PUSH1 @yes JUMPI",
        "PUSH1 0xAA", "PUSH1 @out JUMP",
        "yes:", "PUSH1 0xBB",
        "out:", "PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN",
    )
    taken = PY[op](a, b) != 0
    if negations % 2:
        taken = not taken
    out = run(engine, code, data=data)
    assert out.success, out.error
    assert out.out_word == (0xBB if taken else 0xAA)
    load = 6 if mode == "const" else 12
    # op 3, ISZEROs 3 each, PUSH1 + JUMPI 13, then either
    # PUSH1 + PUSH1 + JUMP (14) or JUMPDEST + PUSH1 (4); JUMPDEST 1 and the epilogue 15.
    path = 4 if taken else 14
    assert out.gas_used == load + 3 + 3 * negations + 13 + path + 1 + 15


def test_condition_value_also_kept(engine: str) -> None:
    # The comparison result is both jumped on and stored: it must stay a 0/1 word.
    code = asm(
        "PUSH1 0 CALLDATALOAD PUSH1 9 LT DUP1 PUSH1 0 MSTORE PUSH1 @yes JUMPI",
        "PUSH1 32 PUSH1 0 RETURN",
        "yes:", "PUSH1 1 PUSH1 32 MSTORE PUSH1 64 PUSH1 0 RETURN",
    )
    out = run(engine, code, data=word(10))  # 9 < 10
    assert out.success
    assert out.out_words == [1, 1]
    out = run(engine, code, data=word(9))
    assert out.success
    assert out.out_words == [0]
