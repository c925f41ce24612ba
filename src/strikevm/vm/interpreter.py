"""Reference interpreter: one opcode at a time, straight from the opcode table.

It is the simple path the block compiler is tested against; it shares the
instruction semantics in ``vm.instructions`` but none of the compiler's
batching of gas and stack checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from strikevm.vm import gas as G
from strikevm.vm.analysis import jumpdests, push_value
from strikevm.vm.errors import (
    ExceptionalHalt,
    InvalidJump,
    InvalidOpcode,
    OutOfGas,
    StackOverflow,
    StackUnderflow,
)
from strikevm.vm.frame import Frame
from strikevm.vm.instructions import arithmetic
from strikevm.vm.instructions import table as T


def _expr_function(spec: T.OpSpec) -> Any:
    args = ", ".join(f"a{i}" for i in range(spec.n_in))
    body = spec.expr.format(*(f"a{i}" for i in range(spec.n_in))) if spec.expr else ""
    params = "f" + (", " + args if args else "")
    return eval(f"lambda {params}: {body}", dict(arithmetic.HELPERS))  # noqa: S307


def _functions(opcodes: Sequence[T.OpSpec | None]) -> list[Any]:
    return [
        (_expr_function(s) if s.kind == T.EXPR else s.fn) if s is not None else None
        for s in opcodes
    ]


# The opcode table and its callables come from the frame's fork spec (EVM.spec);
# callables are built once per fork.
_FUNCS_BY_FORK: dict[str, list[Any]] = {}
_JUMPDEST_CACHE: dict[bytes, frozenset[int]] = {}
_CACHE_LIMIT = 4096


class Tracer(Protocol):
    """Observer of the reference interpreter (used by debug tracing)."""

    def step(self, f: Frame, pc: int, op: int) -> None:
        """Called before each opcode executes."""

    def end(self, f: Frame, error: ExceptionalHalt | None) -> None:
        """Called once when the frame stops, normally or with an exceptional halt."""


def run(f: Frame, tracer: Tracer | None = None) -> None:
    """Execute ``f.code`` until it halts; raise an ExceptionalHalt on failure."""
    if tracer is None:
        _loop(f, None)
        return
    try:
        _loop(f, tracer)
    except ExceptionalHalt as exc:
        tracer.end(f, exc)
        raise
    tracer.end(f, None)


def _loop(f: Frame, tracer: Tracer | None) -> None:
    code = f.code
    dests = _JUMPDEST_CACHE.get(code)
    if dests is None:
        if len(_JUMPDEST_CACHE) >= _CACHE_LIMIT:
            _JUMPDEST_CACHE.clear()
        dests = _JUMPDEST_CACHE[code] = jumpdests(code)
    stack = f.stack
    fork = f.evm.spec
    specs = fork.opcodes
    funcs = _FUNCS_BY_FORK.get(fork.name)
    if funcs is None:
        funcs = _FUNCS_BY_FORK[fork.name] = _functions(specs)
    n = len(code)
    pc = 0
    while pc < n:
        op = code[pc]
        if tracer is not None:
            tracer.step(f, pc, op)
        spec = specs[op]
        if spec is None:
            raise InvalidOpcode(f"0x{op:02x} at pc {pc}")
        depth = len(stack)
        if depth < spec.n_in:
            raise StackUnderflow(spec.name)
        if depth - spec.n_in + spec.n_out > G.STACK_LIMIT:
            raise StackOverflow(spec.name)
        g = f.gas - spec.gas
        if g < 0:
            raise OutOfGas(spec.name)
        f.gas = g
        kind = spec.kind
        if kind == T.PUSH:
            stack.append(push_value(code, pc, spec.arg))
            pc += 1 + spec.arg
            continue
        if kind == T.EXPR or kind == T.FN:
            args = [stack.pop() for _ in range(spec.n_in)]
            result = funcs[op](f, *args)
            if spec.n_out:
                stack.append(result)
        elif kind == T.DUP:
            stack.append(stack[-spec.arg])
        elif kind == T.SWAP:
            i = -1 - spec.arg
            stack[-1], stack[i] = stack[i], stack[-1]
        elif kind == T.POP:
            stack.pop()
        elif kind == T.JUMP:
            dest = stack.pop()
            if dest not in dests:
                raise InvalidJump(str(dest))
            pc = dest
            continue
        elif kind == T.JUMPI:
            dest = stack.pop()
            cond = stack.pop()
            if cond:
                if dest not in dests:
                    raise InvalidJump(str(dest))
                pc = dest
                continue
        elif kind == T.PC:
            stack.append(pc)
        elif kind == T.GAS:
            stack.append(f.gas)
        elif kind == T.JUMPDEST:
            pass
        elif kind == T.STOP:
            return
        elif kind == T.HALT:
            args = [stack.pop() for _ in range(spec.n_in)]
            funcs[op](f, *args)
            return
        else:
            raise InvalidOpcode(f"INVALID at pc {pc}")
        pc += 1
