"""debug_traceTransaction with geth's struct logger (``structLogs``).

The block is replayed through the block pipeline (``chain.pipeline.BlockBuilder``)
on the parent block's state: its begin steps and earlier transactions with the
node's engine; the traced transaction then runs on the reference
interpreter with a struct logger attached, which records a log entry before
each opcode. ``gasCost`` is the gas
the opcode consumed in its own frame; for calls and creates that is the
static and dynamic cost plus what the callee used (geth shows the gas
handed to the callee instead).

Budgets: at most ``max_logs`` entries are recorded (``--trace-max-logs``,
default 100,000; the ``limit`` option can only lower it) and at most
``max_bytes`` of captured stack, memory, storage and return data, counted as
the hex text the answer will carry (``--trace-max-bytes``, default 64 MiB).
When either is reached the struct logs stop there, as geth's ``limit`` does;
execution goes on to the end so that ``gas``, ``failed`` and
``returnValue`` stay exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from strikevm.chain.node import DevNode, NodeError
from strikevm.chain.pipeline import BlockBuilder
from strikevm.chain.transaction import TransactionError, intrinsic_gas
from strikevm.rpc.errors import InvalidParams, RpcError
from strikevm.vm import interpreter
from strikevm.vm.errors import (
    ExceptionalHalt,
    InvalidJump,
    InvalidOpcode,
    OutOfGas,
    StackOverflow,
    StackUnderflow,
)
from strikevm.vm.frame import Frame
from strikevm.vm.instructions import table as T

__all__ = ["StructLogger", "TraceOptions", "trace_transaction"]

MAX_STRUCT_LOGS = 100_000  # default --trace-max-logs
MAX_CAPTURE_BYTES = 64 * 1024 * 1024  # default --trace-max-bytes
_ENTRY_BYTES = 120  # pc, op, gas, gasCost, depth and the JSON around them


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

    def __init__(
        self,
        options: TraceOptions,
        *,
        max_logs: int = MAX_STRUCT_LOGS,
        max_bytes: int = MAX_CAPTURE_BYTES,
    ) -> None:
        self.options = options
        self.logs: list[dict[str, Any]] = []
        self.storage: dict[int, dict[int, int]] = {}
        cap = options.limit or max_logs
        self.cap = min(cap, max_logs) if max_logs else cap
        self.byte_budget = max_bytes or None
        self.captured = 0  # estimated bytes of the entries recorded so far
        self.full = False
        # (frame, entry) of the opcode each running frame is executing, innermost last
        self._open: list[tuple[Frame, dict[str, Any] | None]] = []

    def _record(self, f: Frame, pc: int, op: int, name: str) -> dict[str, Any] | None:
        if self.full or (self.cap and len(self.logs) >= self.cap):
            return None
        opts = self.options
        budget = self.byte_budget
        if budget is not None:
            size = _ENTRY_BYTES
            if not opts.disable_stack:
                size += 70 * len(f.stack)
            if opts.enable_memory:
                size += 2 * len(f.memory) + 4 * (len(f.memory) // 32)
            if opts.enable_return_data:
                size += 2 * len(f.returndata)
            if not opts.disable_storage and op in (_SLOAD, _SSTORE):
                size += 134 * (len(self.storage.get(f.address, ())) + 1)
            if self.captured + size > budget:
                self.full = True
                return None
            self.captured += size
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

    def step(self, f: Frame, pc: int, op: int) -> None:
        """Before each opcode: close the frame's previous entry, open this one."""
        open_ = self._open
        if open_ and open_[-1][0] is f:
            self._close(open_.pop(), f)
        spec = T.OPCODES[op]
        entry = self._record(f, pc, op, spec.name if spec is not None else f"0x{op:02x}")
        open_.append((f, entry))

    def end(self, f: Frame, error: ExceptionalHalt | None) -> None:
        """When the frame stops: the last opcode's cost, or the error it raised."""
        open_ = self._open
        if not open_ or open_[-1][0] is not f:
            return
        item = open_.pop()
        if error is None:
            self._close(item, f)
        elif item[1] is not None:
            item[1]["error"] = _error_text(error)

    @staticmethod
    def _close(item: tuple[Frame, dict[str, Any] | None], f: Frame) -> None:
        entry = item[1]
        if entry is not None:
            entry["gasCost"] = entry["gas"] - f.gas

    def run(self, f: Frame) -> None:
        """The engine: the reference interpreter with this logger attached."""
        interpreter.run(f, self)


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


def trace_transaction(
    node: DevNode,
    tx_hash: bytes,
    options: TraceOptions,
    *,
    max_logs: int = MAX_STRUCT_LOGS,
    max_bytes: int = MAX_CAPTURE_BYTES,
) -> dict[str, Any]:
    """Re-execute a mined transaction and return geth's struct-log result (within the caps)."""
    found = node.store.tx_location(tx_hash)
    if found is None:
        raise RpcError(-32000, "transaction not found")
    stored, index = found
    parent = node.block(stored.number - 1)
    state = node.store.state_at(parent.header.state_root)
    env = node.block_env(stored.header)
    txs = stored.block.transactions
    builder = BlockBuilder(
        state,
        env,
        system=node.system,
        engine=node.config.engine,
        parent_beacon_block_root=stored.header.parent_beacon_block_root,
    )
    try:
        builder.begin()  # the block's begin steps, as when it was mined
        for tx in txs[:index]:
            builder.add(tx)
        logger = StructLogger(options, max_logs=max_logs, max_bytes=max_bytes)
        builder.engine = logger.run  # type: ignore[assignment]
        result = builder.add(txs[index])
    except TransactionError as exc:
        raise NodeError(f"cannot replay the block: {exc}") from exc
    return {
        "gas": result.gas_used,
        "failed": not result.success,
        "returnValue": result.output.hex(),
        "structLogs": logger.logs,
    }


# ---------------------------------------------------------------- tracers

NATIVE_TRACERS = ("callTracer", "prestateTracer")


def tracer_name(options: dict[str, Any]) -> str | None:
    """The named tracer of a trace config (None: the struct logger); refuse unknown ones."""
    name = options.get("tracer")
    if name in (None, "", "structLogger", "structLogs"):
        return None
    if name not in NATIVE_TRACERS:
        raise RpcError(
            -32000,
            f"tracer {name!r} is not supported; use callTracer, prestateTracer or the "
            "struct logger (JavaScript tracers are not supported)",
        )
    return str(name)


def _tracer_config(options: dict[str, Any]) -> dict[str, Any]:
    cfg = options.get("tracerConfig")
    if cfg is None:
        return {}
    if not isinstance(cfg, dict):
        raise InvalidParams("invalid argument 1: tracerConfig must be an object")
    return cfg


def _is_precompile(address: int) -> bool:
    return 0 < address <= 0x0A


def _run_traced(
    run: Any, state: Any, name: str, config: dict[str, Any], top: dict[str, Any]
) -> Any:
    """Run one transaction (``run(state, engine)`` returns its TxResult) under a tracer."""
    from strikevm.rpc.tracers import CallTracer, PrestateTracer, prestate_diff
    from strikevm.state.overlay import OverlayState

    if name == "callTracer":
        tracer = CallTracer(config)
        result = run(state, tracer.run)
        return tracer.result(
            gas_used=result.gas_used,
            success=result.success,
            output=result.output,
            error=result.error,
            **top,
        )
    pre_tracer = PrestateTracer(config)
    work = OverlayState(state)
    result = run(work, pre_tracer.run)
    pre_tracer.touch(top["sender"])
    if top["to"] is not None:
        pre_tracer.touch(top["to"])
    else:
        from strikevm.vm.instructions.system import create_address

        pre_tracer.touch(create_address(top["sender"], top["nonce"]))
    pre_tracer.touch(top["coinbase"])
    pre = pre_tracer.snapshot(state, _is_precompile)
    if not pre_tracer.diff_mode:
        work.commit_to_base()
        return pre
    post = pre_tracer.snapshot(work, _is_precompile)
    work.commit_to_base()
    return prestate_diff(pre, post)


def trace_block_transactions(
    node: DevNode,
    stored: Any,
    indices: list[int] | None,
    options: dict[str, Any],
    *,
    max_logs: int = MAX_STRUCT_LOGS,
    max_bytes: int = MAX_CAPTURE_BYTES,
) -> list[Any]:
    """Replay ``stored`` and trace its transactions at ``indices`` (None: all), in order."""
    name = tracer_name(options)
    config = _tracer_config(options)
    struct = (
        TraceOptions.parse({k: v for k, v in options.items() if k != "tracer"})
        if (name is None)
        else None
    )
    parent = node.block(stored.number - 1)
    state = node.store.state_at(parent.header.state_root)
    env = node.block_env(stored.header)
    txs = stored.block.transactions
    wanted = set(range(len(txs)) if indices is None else indices)
    last = max(wanted) if wanted else -1
    builder = BlockBuilder(
        state,
        env,
        system=node.system,
        engine=node.config.engine,
        parent_beacon_block_root=stored.header.parent_beacon_block_root,
    )
    out: list[Any] = []
    try:
        builder.begin()
        for i, tx in enumerate(txs[: last + 1]):
            if i not in wanted:
                builder.engine = node.config.engine
                builder.add(tx)
                continue
            if struct is not None:
                logger = StructLogger(struct, max_logs=max_logs, max_bytes=max_bytes)
                builder.engine = logger.run  # type: ignore[assignment]
                result = builder.add(tx)
                out.append(
                    {
                        "gas": result.gas_used,
                        "failed": not result.success,
                        "returnValue": result.output.hex(),
                        "structLogs": logger.logs,
                    }
                )
                continue

            def run(work: Any, engine: Any, tx: Any = tx) -> Any:
                saved = builder.state
                builder.state = work
                builder.engine = engine
                try:
                    return builder.add(tx)
                finally:
                    builder.state = saved

            top = {
                "sender": tx.sender,
                "to": tx.to,
                "value": tx.value,
                "data": tx.data,
                "gas": tx.gas_limit - intrinsic_gas(tx),  # as anvil reports the top call
                "nonce": tx.nonce,
                "coinbase": env.coinbase,
            }
            if name == "callTracer":
                top.pop("coinbase")
            out.append(_run_traced(run, builder.state, name, config, top))
    except TransactionError as exc:
        raise NodeError(f"cannot replay the block: {exc}") from exc
    return out


def trace_call(
    node: DevNode, req: Any, block: Any, options: dict[str, Any], overrides: Any = None
) -> Any:
    """debug_traceCall: trace a call on a scratch state at ``block`` (None: pending)."""
    from strikevm.chain.node import CallRequest, _intrinsic, execute_call

    assert isinstance(req, CallRequest)
    name = tracer_name(options)
    state, env = node.call_state(block, overrides)
    gas = req.gas if req.gas is not None else max(env.gas_limit, node.config.call_gas_cap)
    cap = node.config.call_gas_cap
    gas = min(gas, cap) if cap else gas
    if name is None:
        logger = StructLogger(
            TraceOptions.parse({k: v for k, v in options.items() if k != "tracer"})
        )
        result = execute_call(state, env, req, gas, engine=logger.run, system=node.system)  # type: ignore[arg-type]
        return {
            "gas": result.gas_used,
            "failed": not result.success,
            "returnValue": result.output.hex(),
            "structLogs": logger.logs,
        }

    def run(work: Any, engine: Any) -> Any:
        return execute_call(work, env, req, gas, engine=engine, system=node.system)

    top = {
        "sender": req.sender,
        "to": req.to,
        "value": req.value,
        "data": req.data,
        "gas": gas - _intrinsic(req),
        "nonce": state.nonce(req.sender),
        "coinbase": env.coinbase,
    }
    if name == "callTracer":
        top.pop("coinbase")
    return _run_traced(run, state, name, _tracer_config(options), top)
