"""Arithmetic, comparison and bitwise instructions.

Simple instructions are given as expression templates over their operands
(``{0}`` is the top of the stack) so that the block compiler can inline them;
the rest are helper functions of plain ints.
"""

from __future__ import annotations

from strikevm.vm import gas as G
from strikevm.vm.errors import OutOfGas

M = (1 << 256) - 1
S = 1 << 255
CEIL = 1 << 256


def sdiv(a: int, b: int) -> int:
    if not b:
        return 0
    if a & S:
        if b & S:
            return ((CEIL - a) // (CEIL - b)) & M
        return (CEIL - (CEIL - a) // b) & M
    if b & S:
        return (CEIL - a // (CEIL - b)) & M
    return a // b


def smod(a: int, b: int) -> int:
    if not b:
        return 0
    if a & S:
        r = (CEIL - a) % (b if not b & S else CEIL - b)
        return (CEIL - r) & M
    return a % (b if not b & S else CEIL - b)


def signextend(b: int, x: int) -> int:
    if b >= 31:
        return x
    bit = b * 8 + 7
    mask = (1 << bit) - 1
    if x & (1 << bit):
        return (x | ~mask) & M
    return x & mask


def sar(shift: int, value: int) -> int:
    if value & S:
        if shift >= 256:
            return M
        return ((value - CEIL) >> shift) & M
    return value >> shift if shift < 256 else 0


def byte_op(i: int, x: int) -> int:
    return (x >> (248 - i * 8)) & 0xFF if i < 32 else 0


def exp(f, base: int, exponent: int) -> int:  # noqa: ANN001 - frame type is internal
    if exponent:
        cost = G.EXP_BYTE * ((exponent.bit_length() + 7) >> 3)
        g = f.gas - cost
        if g < 0:
            raise OutOfGas("EXP")
        f.gas = g
    return pow(base, exponent, CEIL)


# name -> (opcode, inputs, static gas, expression template)
TEMPLATES: dict[str, tuple[int, int, int, str]] = {
    "ADD": (0x01, 2, G.VERYLOW, "({0} + {1}) & M"),
    "MUL": (0x02, 2, G.LOW, "({0} * {1}) & M"),
    "SUB": (0x03, 2, G.VERYLOW, "({0} - {1}) & M"),
    "DIV": (0x04, 2, G.LOW, "({0} // {1} if {1} else 0)"),
    "SDIV": (0x05, 2, G.LOW, "sdiv({0}, {1})"),
    "MOD": (0x06, 2, G.LOW, "({0} % {1} if {1} else 0)"),
    "SMOD": (0x07, 2, G.LOW, "smod({0}, {1})"),
    "ADDMOD": (0x08, 3, G.MID, "(({0} + {1}) % {2} if {2} else 0)"),
    "MULMOD": (0x09, 3, G.MID, "(({0} * {1}) % {2} if {2} else 0)"),
    "SIGNEXTEND": (0x0B, 2, G.LOW, "signextend({0}, {1})"),
    "LT": (0x10, 2, G.VERYLOW, "(1 if {0} < {1} else 0)"),
    "GT": (0x11, 2, G.VERYLOW, "(1 if {0} > {1} else 0)"),
    "SLT": (0x12, 2, G.VERYLOW, "(1 if ({0} ^ S) < ({1} ^ S) else 0)"),
    "SGT": (0x13, 2, G.VERYLOW, "(1 if ({0} ^ S) > ({1} ^ S) else 0)"),
    "EQ": (0x14, 2, G.VERYLOW, "(1 if {0} == {1} else 0)"),
    "ISZERO": (0x15, 1, G.VERYLOW, "(0 if {0} else 1)"),
    "AND": (0x16, 2, G.VERYLOW, "({0} & {1})"),
    "OR": (0x17, 2, G.VERYLOW, "({0} | {1})"),
    "XOR": (0x18, 2, G.VERYLOW, "({0} ^ {1})"),
    "NOT": (0x19, 1, G.VERYLOW, "(M ^ {0})"),
    "BYTE": (0x1A, 2, G.VERYLOW, "byte_op({0}, {1})"),
    "SHL": (0x1B, 2, G.VERYLOW, "(({1} << {0}) & M if {0} < 256 else 0)"),
    "SHR": (0x1C, 2, G.VERYLOW, "({1} >> {0} if {0} < 256 else 0)"),
    "SAR": (0x1D, 2, G.VERYLOW, "sar({0}, {1})"),
}

# Boolean form of comparison templates, used when a result only feeds JUMPI.
CONDITIONS: dict[str, str] = {
    "LT": "{0} < {1}",
    "GT": "{0} > {1}",
    "SLT": "({0} ^ S) < ({1} ^ S)",
    "SGT": "({0} ^ S) > ({1} ^ S)",
    "EQ": "{0} == {1}",
    "ISZERO": "not {0}",
}

HELPERS = {
    "M": M,
    "S": S,
    "sdiv": sdiv,
    "smod": smod,
    "signextend": signextend,
    "sar": sar,
    "byte_op": byte_op,
}
