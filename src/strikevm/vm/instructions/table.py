"""The Cancun opcode table: stack arity, static gas and semantics of every opcode.

Each entry is either an expression template (pure, inlined by the block
compiler) or a function ``fn(frame, *operands)`` with operands in pop order
(top of stack first) returning the pushed value or None. Control flow
(PUSH/DUP/SWAP/POP, jumps, PC, GAS, halts) has its own kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from strikevm.vm import gas as G
from strikevm.vm.instructions import arithmetic, environment, log, memory, storage, system

# kinds
EXPR = 0
FN = 1
PUSH = 2
DUP = 3
SWAP = 4
POP = 5
JUMP = 6
JUMPI = 7
JUMPDEST = 8
PC = 9
GAS = 10
STOP = 11
HALT = 12  # FN that ends execution: RETURN, REVERT, SELFDESTRUCT
INVALID = 13


@dataclass(frozen=True, slots=True)
class OpSpec:
    opcode: int
    name: str
    kind: int
    n_in: int
    n_out: int
    gas: int
    expr: str | None = None
    fn: Callable[..., Any] | None = None
    ends_block: bool = False
    arg: int = 0  # PUSH size, DUP/SWAP depth


def _build() -> list[OpSpec | None]:
    t: list[OpSpec | None] = [None] * 256

    def add(spec: OpSpec) -> None:
        assert t[spec.opcode] is None, spec.name
        t[spec.opcode] = spec

    for name, (op, n_in, gas, expr) in arithmetic.TEMPLATES.items():
        add(OpSpec(op, name, EXPR, n_in, 1, gas, expr=expr))
    for name, (op, expr) in environment.CONTEXT.items():
        add(OpSpec(op, name, EXPR, 0, 1, G.BASE, expr=expr))

    def fn(op: int, name: str, n_in: int, n_out: int, gas: int, func: Callable[..., Any],
           ends: bool = False) -> None:
        add(OpSpec(op, name, FN, n_in, n_out, gas, fn=func, ends_block=ends))

    fn(0x0A, "EXP", 2, 1, G.EXP, arithmetic.exp)
    fn(0x20, "KECCAK256", 2, 1, G.KECCAK256, memory.keccak)
    fn(0x31, "BALANCE", 1, 1, 0, environment.balance)
    fn(0x35, "CALLDATALOAD", 1, 1, G.VERYLOW, environment.calldataload)
    fn(0x37, "CALLDATACOPY", 3, 0, G.VERYLOW, environment.calldatacopy)
    fn(0x39, "CODECOPY", 3, 0, G.VERYLOW, environment.codecopy)
    fn(0x3B, "EXTCODESIZE", 1, 1, 0, environment.extcodesize)
    fn(0x3C, "EXTCODECOPY", 4, 0, 0, environment.extcodecopy)
    fn(0x3D, "RETURNDATASIZE", 0, 1, G.BASE, environment.returndatasize)
    fn(0x3E, "RETURNDATACOPY", 3, 0, G.VERYLOW, environment.returndatacopy)
    fn(0x3F, "EXTCODEHASH", 1, 1, 0, environment.extcodehash)
    fn(0x40, "BLOCKHASH", 1, 1, G.BLOCKHASH, environment.blockhash)
    fn(0x47, "SELFBALANCE", 0, 1, G.LOW, environment.selfbalance)
    fn(0x49, "BLOBHASH", 1, 1, G.BLOBHASH, environment.blobhash)
    fn(0x51, "MLOAD", 1, 1, G.VERYLOW, memory.mload)
    fn(0x52, "MSTORE", 2, 0, G.VERYLOW, memory.mstore)
    fn(0x53, "MSTORE8", 2, 0, G.VERYLOW, memory.mstore8)
    fn(0x54, "SLOAD", 1, 1, G.WARM_ACCESS, storage.sload)
    fn(0x55, "SSTORE", 2, 0, G.WARM_ACCESS, storage.sstore, ends=True)
    fn(0x59, "MSIZE", 0, 1, G.BASE, memory.msize)
    fn(0x5C, "TLOAD", 1, 1, G.WARM_ACCESS, storage.tload)
    fn(0x5D, "TSTORE", 2, 0, G.WARM_ACCESS, storage.tstore)
    fn(0x5E, "MCOPY", 3, 0, G.VERYLOW, memory.mcopy)
    for i, func in enumerate((log.log0, log.log1, log.log2, log.log3, log.log4)):
        fn(0xA0 + i, f"LOG{i}", 2 + i, 0, G.LOG + G.LOG_TOPIC * i, func)
    fn(0xF0, "CREATE", 3, 1, G.CREATE, system.create, ends=True)
    fn(0xF1, "CALL", 7, 1, 0, system.call, ends=True)
    fn(0xF2, "CALLCODE", 7, 1, 0, system.callcode, ends=True)
    fn(0xF4, "DELEGATECALL", 6, 1, 0, system.delegatecall, ends=True)
    fn(0xF5, "CREATE2", 4, 1, G.CREATE, system.create2, ends=True)
    fn(0xFA, "STATICCALL", 6, 1, 0, system.staticcall, ends=True)
    add(OpSpec(0xF3, "RETURN", HALT, 2, 0, 0, fn=system.return_, ends_block=True))
    add(OpSpec(0xFD, "REVERT", HALT, 2, 0, 0, fn=system.revert, ends_block=True))
    add(OpSpec(0xFF, "SELFDESTRUCT", HALT, 1, 0, G.SELFDESTRUCT, fn=system.selfdestruct,
               ends_block=True))
    add(OpSpec(0x00, "STOP", STOP, 0, 0, 0, ends_block=True))
    add(OpSpec(0xFE, "INVALID", INVALID, 0, 0, 0, ends_block=True))
    add(OpSpec(0x50, "POP", POP, 1, 0, G.BASE))
    add(OpSpec(0x56, "JUMP", JUMP, 1, 0, G.MID, ends_block=True))
    add(OpSpec(0x57, "JUMPI", JUMPI, 2, 0, G.HIGH, ends_block=True))
    add(OpSpec(0x58, "PC", PC, 0, 1, G.BASE))
    add(OpSpec(0x5A, "GAS", GAS, 0, 1, G.BASE, ends_block=True))
    add(OpSpec(0x5B, "JUMPDEST", JUMPDEST, 0, 0, G.JUMPDEST))
    add(OpSpec(0x5F, "PUSH0", PUSH, 0, 1, G.BASE, arg=0))
    for n in range(1, 33):
        add(OpSpec(0x5F + n, f"PUSH{n}", PUSH, 0, 1, G.VERYLOW, arg=n))
    for n in range(1, 17):
        add(OpSpec(0x7F + n, f"DUP{n}", DUP, n, n + 1, G.VERYLOW, arg=n))
        add(OpSpec(0x8F + n, f"SWAP{n}", SWAP, n + 1, n + 1, G.VERYLOW, arg=n))
    return t


OPCODES: list[OpSpec | None] = _build()
BY_NAME: dict[str, OpSpec] = {s.name: s for s in OPCODES if s is not None}
