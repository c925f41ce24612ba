"""Arithmetic opcodes (ADD..SIGNEXTEND, EXP): exact results, static and dynamic gas,
division by zero, signed edge cases, stack underflow, on both engines.

Every operation runs twice: with literal operands (which the fast engine folds at
compile time) and with operands loaded from calldata (computed at run time).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from vmhelpers import RET_TOP_GAS, SIGN, U256, M, asm, op_program, run, signed

MODES = ("const", "calldata")

# (opcode, operands with operands[0] on top of the stack, expected result)
CASES: list[tuple[str, tuple[int, ...], int]] = [
    ("ADD", (1, 2), 3),
    ("ADD", (M, 1), 0),
    ("ADD", (M, M), M - 1),
    ("ADD", (0, 0), 0),
    ("MUL", (3, 4), 12),
    ("MUL", (M, M), 1),
    ("MUL", (1 << 128, 1 << 128), 0),
    ("MUL", (M, 2), M - 1),
    ("MUL", (0, M), 0),
    ("SUB", (5, 3), 2),
    ("SUB", (3, 5), M - 1),
    ("SUB", (0, 1), M),
    ("SUB", (M, M), 0),
    ("DIV", (10, 3), 3),
    ("DIV", (1, 0), 0),
    ("DIV", (M, 2), (1 << 255) - 1),
    ("DIV", (0, 5), 0),
    ("DIV", (M, M), 1),
    ("SDIV", (signed(-10), 3), signed(-3)),
    ("SDIV", (10, signed(-3)), signed(-3)),
    ("SDIV", (signed(-10), signed(-3)), 3),
    ("SDIV", (signed(-1), 2), 0),
    ("SDIV", (SIGN, M), SIGN),  # -2**255 / -1 overflows back to -2**255
    ("SDIV", (SIGN, 1), SIGN),
    ("SDIV", (12345, 0), 0),
    ("SDIV", (SIGN, 0), 0),
    ("MOD", (10, 3), 1),
    ("MOD", (10, 0), 0),
    ("MOD", (M, 1 << 128), (1 << 128) - 1),
    ("MOD", (3, 10), 3),
    ("SMOD", (signed(-10), 3), signed(-1)),  # the sign follows the dividend
    ("SMOD", (10, signed(-3)), 1),
    ("SMOD", (signed(-10), signed(-3)), signed(-1)),
    ("SMOD", (SIGN, M), 0),
    ("SMOD", (12345, 0), 0),
    ("SMOD", (signed(-8), 3), signed(-2)),
    ("ADDMOD", (10, 10, 8), 4),
    ("ADDMOD", (M, 2, 2), 1),  # the sum is not truncated to 256 bits first
    ("ADDMOD", (M, M, M), 0),
    ("ADDMOD", (M, 1, 10), 6),  # 2**256 ends in ...936
    ("ADDMOD", (5, 5, 0), 0),
    ("ADDMOD", (signed(-1), signed(-2), 7), (M + M - 1) % 7),
    ("MULMOD", (10, 10, 8), 4),
    ("MULMOD", (M, M, 12), (M * M) % 12),  # the product is not truncated first
    ("MULMOD", (1 << 255, 2, M), 1),  # 2**256 mod (2**256 - 1)
    ("MULMOD", (5, 5, 0), 0),
    ("MULMOD", (M, M, M - 1), (M * M) % (M - 1)),
    ("SIGNEXTEND", (0, 0xFF), M),
    ("SIGNEXTEND", (0, 0x7F), 0x7F),
    ("SIGNEXTEND", (0, 0x1FF), M),
    ("SIGNEXTEND", (0, 0x180), M - 0x7F),
    ("SIGNEXTEND", (0, 0xFF7F), 0x7F),
    ("SIGNEXTEND", (1, 0x8000), M - 0x7FFF),
    ("SIGNEXTEND", (1, 0xAB7FFF), 0x7FFF),
    ("SIGNEXTEND", (30, 1 << 247), M - ((1 << 247) - 1)),
    ("SIGNEXTEND", (30, (1 << 255) | 0x42), 0x42),
    ("SIGNEXTEND", (31, 0x80), 0x80),
    ("SIGNEXTEND", (31, M), M),
    ("SIGNEXTEND", (32, 0xFF), 0xFF),
    ("SIGNEXTEND", (M, 0xFF), 0xFF),
]

STATIC_GAS = {
    "ADD": 3, "MUL": 5, "SUB": 3, "DIV": 5, "SDIV": 5, "MOD": 5, "SMOD": 5,
    "ADDMOD": 8, "MULMOD": 8, "SIGNEXTEND": 5,
}  # fmt: skip


def _id(case: tuple[str, tuple[int, ...], int]) -> str:
    op, args, _ = case
    return op + "(" + ",".join(hex(a) if a < 1 << 32 else f"~{a.bit_length()}b" for a in args) + ")"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES, ids=_id)
def test_arithmetic_result_and_gas(
    engine: str, mode: str, case: tuple[str, tuple[int, ...], int]
) -> None:
    op, args, expected = case
    code, data, overhead = op_program(op, args, mode)
    out = run(engine, code, data=data)
    assert out.success, out.error
    assert out.out_word == expected
    assert out.gas_used == overhead + STATIC_GAS[op]


# EXP: gas is 10 + 50 per byte of the exponent (EIP-160).
EXP_CASES: list[tuple[int, int, int, int]] = [
    # base, exponent, result, exponent bytes
    (2, 10, 1024, 1),
    (2, 0, 1, 0),
    (0, 0, 1, 0),
    (0, 5, 0, 1),
    (2, 255, 1 << 255, 1),
    (2, 256, 0, 2),
    (3, M, pow(3, M, U256), 32),
    (M, 2, 1, 1),
    (M, 3, M, 1),
    (7, 1 << 248, pow(7, 1 << 248, U256), 32),
    (256, 31, 1 << 248, 1),
    (256, 32, 0, 1),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("base,exponent,result,nbytes", EXP_CASES)
def test_exp(engine: str, mode: str, base: int, exponent: int, result: int, nbytes: int) -> None:
    code, data, overhead = op_program("EXP", (base, exponent), mode)
    out = run(engine, code, data=data)
    assert out.success, out.error
    assert out.out_word == result
    assert out.gas_used == overhead + 10 + 50 * nbytes


@pytest.mark.parametrize("mode", MODES)
def test_exp_dynamic_gas_boundary(engine: str, mode: str) -> None:
    # 2 ** 0x0100: pushes + 10 + 2 * 50; one gas less must run out inside EXP.
    code, data, overhead = op_program("EXP", (2, 0x100), mode)
    need = overhead + 10 + 100
    ok = run(engine, code, data=data, gas=need)
    assert ok.success and ok.gas_left == 0 and ok.out_word == 0
    short = run(engine, code, data=data, gas=need - 1)
    assert not short.success
    assert short.gas_left == 0


@pytest.mark.parametrize(
    "op,n_in", [("ADD", 2), ("MUL", 2), ("SUB", 2), ("DIV", 2), ("SDIV", 2), ("MOD", 2),
                ("SMOD", 2), ("ADDMOD", 3), ("MULMOD", 3), ("EXP", 2), ("SIGNEXTEND", 2)]
)
def test_underflow(engine: str, op: str, n_in: int) -> None:
    code = asm(*([1] * (n_in - 1)), op, "STOP")
    out = run(engine, code, gas=10_000)
    assert not out.success
    assert out.gas_left == 0
    assert out.output == b""
    # with enough operands the same code succeeds
    ok = run(engine, asm(*([1] * n_in), op, "STOP"), gas=10_000)
    assert ok.success


def test_static_gas_boundary(engine: str) -> None:
    # PUSH1, PUSH1, ADD, PUSH1, MUL, STOP = 3 + 3 + 3 + 3 + 5 = 17
    code = asm("PUSH1 1 PUSH1 2 ADD PUSH1 3 MUL STOP")
    ok = run(engine, code, gas=17)
    assert ok.success and ok.gas_left == 0
    short = run(engine, code, gas=16)
    assert not short.success and short.gas_left == 0


def test_chained_arithmetic(engine: str) -> None:
    # ((7 * 6) - 2) / 5 with mixed literals and a calldata value = 8
    code = asm("PUSH1 5 PUSH1 2 PUSH1 0 CALLDATALOAD PUSH1 7 MUL SUB DIV", "PUSH1 0 MSTORE",
               "PUSH1 32 PUSH1 0 RETURN")
    data = (6).to_bytes(32, "big")
    out = run(engine, code, data=data)
    assert out.success
    assert out.out_word == 8
    # 3+3+3+3+3 pushes/CALLDATALOAD, MUL 5, SUB 3, DIV 5, then 15 for the epilogue
    assert out.gas_used == 15 + 5 + 3 + 5 + 15


@pytest.mark.parametrize(
    "step,count,gas_per_step,expected",
    [
        ("PUSH1 1 ADD", 300, 6, lambda x: (x + 300) % U256),
        ("NOT", 301, 3, lambda x: M ^ x),
        ("PUSH1 3 MUL", 150, 8, lambda x: x * pow(3, 150, U256) % U256),
        ("PUSH1 1 SWAP1 SUB", 200, 9, lambda x: (x - 200) % U256),
    ],
)
def test_long_chain_of_operations(
    engine: str, step: str, count: int, gas_per_step: int, expected: Callable[[int], int]
) -> None:
    # A long run of operations each consuming the previous result (one basic block).
    code = asm("PUSH1 0 CALLDATALOAD", f"{step} " * count, "PUSH1 0 MSTORE",
               "PUSH1 32 PUSH1 0 RETURN")
    x = 0x1234567890
    out = run(engine, code, data=x.to_bytes(32, "big"))
    assert out.success, out.error
    assert out.out_word == expected(x)
    assert out.gas_used == 6 + gas_per_step * count + RET_TOP_GAS
