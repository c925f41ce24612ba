"""debug_traceTransaction with geth's struct logger (``structLogs``).

The block's earlier transactions are re-executed on the parent block's state
with the node's engine; the traced transaction then runs on a tracing copy
of the reference interpreter (one opcode at a time from the shared opcode
table) that records a log entry before each opcode. ``gasCost`` is the gas
the opcode consumed in its own frame; for calls and creates that is the
static and dynamic cost plus what the callee used (geth shows the gas
handed to the callee instead).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from strikevm.chain import executor as X
from strikevm.chain.node import DevNode, NodeError
from strikevm.chain.transaction import TransactionError
from strikevm.rpc.errors import InvalidParams, RpcError
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

__all__ = ["StructLogger", "TraceOptions", "trace_transaction"]

MAX_STRUCT_LOGS = 1_000_000


def _expr_function(spec: T.OpSpec) -> Any:
    names = [f"a{i}" for i in range(spec.n_in)]
    body = spec.expr.format(*names) if spec.expr else ""
    params = ", ".join(["f", *names])
    return eval(f"lambda {params}: {body}", dict(arithmetic.HELPERS))  # noqa: S307


_FUNCS: list[Any] = [
    (_expr_function(s) if s.kind == T.EXPR else s.fn) if s is not None else None for s in T.OPCODES
]
_SLOAD = 0x54
_SSTORE = 0x55


@dataclass(frozen=True)
class TraceOptions:
    disable_stack: bool = False
    disable_storage: bool = False
    enable_memory: bool = False
    enable_return_data: bool = False
    limit: int = 0

    @classmethod
    def parse(cls, options: dict[str, Any]) -> TraceOptions:
        tracer = options.get("tracer")
        if tracer not in (None, "", "structLogger", "structLogs"):
            raise RpcError(-32000, f"tracer {tracer!r} is not supported; use the struct logger")
        cfg = dict(options)
        if isinstance(options.get("tracerConfig"), dict):
            cfg.update(options["tracerConfig"])
        flags = {}
        for key, attr in (
            ("disableStack", "disable_stack"),
            ("disableStorage", "disable_storage"),
            ("enableMemory", "enable_memory"),
            ("enableReturnData", "enable_return_data"),
        ):
            value = cfg.get(key, False)
            if not isinstance(value, bool):
                raise InvalidParams(f"invalid argument 1: {key} must be a boolean")
            flags[attr] = value
        limit = cfg.get("limit", 0)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise InvalidParams("invalid argument 1: limit must be a non-negative integer")
        return cls(limit=limit, **flags)


class StructLogger:
    """A reference interpreter that records geth struct logs."""

    def __init__(self, options: TraceOptions) -> None:
        self.options = options
        self.logs: list[dict[str, Any]] = []
        self.storage: dict[int, dict[int, int]] = {}
        cap = options.limit or MAX_STRUCT_LOGS
        self.cap = min(cap, MAX_STRUCT_LOGS)

    def _record(self, f: Frame, pc: int, op: int, name: str) -> dict[str, Any] | None:
        if len(self.logs) >= self.cap:
            return None
        opts = self.options
        entry: dict[str, Any] = {
            "pc": pc,
            "op": name,
            "gas": f.gas,
            "gasCost": 0,
            "depth": f.depth + 1,
        }
        if not opts.disable_stack:
            entry["stack"] = [hex(v) for v in f.stack]
        if opts.enable_memory:
            mem = f.memory
            entry["memory"] = [mem[i : i + 32].hex() for i in range(0, len(mem), 32)]
        if opts.enable_return_data and f.returndata:
            entry["returnData"] = "0x" + f.returndata.hex()
        refund = f.state.refund
        if refund:
            entry["refund"] = refund
        if not opts.disable_storage and op in (_SLOAD, _SSTORE) and f.stack:
            seen = self.storage.setdefault(f.address, {})
            key = f.stack[-1]
            if op == _SLOAD:
                seen[key] = f.state.sload(f.address, key)
            elif len(f.stack) >= 2:
                seen[key] = f.stack[-2]
            entry["storage"] = {f"{k:064x}": f"{v:064x}" for k, v in sorted(seen.items())}
        self.logs.append(entry)
        return entry

    def run(self, f: Frame) -> None:
        """Execute ``f.code`` like the reference interpreter, logging each opcode."""
        code = f.code
        dests = jumpdests(code)
        stack = f.stack
        specs = T.OPCODES
        funcs = _FUNCS
        n = len(code)
        pc = 0
        entry: dict[str, Any] | None = None
        try:
            while pc < n:
                op = code[pc]
                spec = specs[op]
                entry = self._record(f, pc, op, spec.name if spec is not None else f"0x{op:02x}")
                before = f.gas
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
                next_pc = pc + 1
                if kind == T.PUSH:
                    stack.append(push_value(code, pc, spec.arg))
                    next_pc = pc + 1 + spec.arg
                elif kind == T.EXPR or kind == T.FN:
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
                    next_pc = dest
                elif kind == T.JUMPI:
                    dest = stack.pop()
                    cond = stack.pop()
                    if cond:
                        if dest not in dests:
                            raise InvalidJump(str(dest))
                        next_pc = dest
                elif kind == T.PC:
                    stack.append(pc)
                elif kind == T.GAS:
                    stack.append(f.gas)
                elif kind == T.JUMPDEST:
                    pass
                elif kind == T.STOP:
                    if entry is not None:
                        entry["gasCost"] = before - f.gas
                    return
                elif kind == T.HALT:
                    args = [stack.pop() for _ in range(spec.n_in)]
                    funcs[op](f, *args)
                    if entry is not None:
                        entry["gasCost"] = before - f.gas
                    return
                else:
                    raise InvalidOpcode(f"INVALID at pc {pc}")
                if entry is not None:
                    entry["gasCost"] = before - f.gas
                pc = next_pc
        except ExceptionalHalt as exc:
            if entry is not None:
                entry["error"] = _error_text(exc)
            raise


def _error_text(exc: ExceptionalHalt) -> str:
    names = {
        OutOfGas: "out of gas",
        StackUnderflow: "stack underflow",
        StackOverflow: "stack limit reached 1024",
        InvalidJump: "invalid jump destination",
        InvalidOpcode: "invalid opcode",
    }
    for cls, text in names.items():
        if isinstance(exc, cls):
            return f"{text}: {exc}" if str(exc) else text
    return str(exc) or type(exc).__name__


def trace_transaction(node: DevNode, tx_hash: bytes, options: TraceOptions) -> dict[str, Any]:
    """Re-execute a mined transaction and return geth's struct-log result."""
    found = node.store.tx_location(tx_hash)
    if found is None:
        raise RpcError(-32000, "transaction not found")
    stored, index = found
    parent = node.block(stored.number - 1)
    state = node.store.state_at(parent.header.state_root)
    env = node.block_env(stored.header)
    txs = stored.block.transactions
    try:
        for tx in txs[:index]:
            X.apply_transaction(state, env, tx, engine=node.config.engine, system=node.system)
        logger = StructLogger(options)
        result = X.apply_transaction(
            state,
            env,
            txs[index],
            engine=logger.run,  # type: ignore[arg-type]
            system=node.system,
        )
    except TransactionError as exc:
        raise NodeError(f"cannot replay the block: {exc}") from exc
    return {
        "gas": result.gas_used,
        "failed": not result.success,
        "returnValue": result.output.hex(),
        "structLogs": logger.logs,
    }
