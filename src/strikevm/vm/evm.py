"""Message processing: calls, contract creation, precompiles and native contracts.

The EVM owns the block and transaction context and runs each frame's code on
one of two engines: the block compiler (default) or the reference interpreter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from strikevm.state.world import WorldState
from strikevm.vm import gas as G
from strikevm.vm.env import BlockEnv, Message, MessageResult, TxEnv
from strikevm.vm.errors import (
    CodeSizeExceeded,
    ExceptionalHalt,
    InvalidContractPrefix,
    NativeRevertError,
    OutOfGas,
    Revert,
)
from strikevm.vm.frame import Frame
from strikevm.vm.host import NativeFault, enter
from strikevm.vm.precompiles import PrecompileError
from strikevm.vm.spec import CANCUN, ForkSpec
from strikevm.vm.system import NativeContract, empty_registry

__all__ = ["EVM", "REVERT", "NativeFault", "NativeRevertError", "Revert"]

REVERT = Revert("execution reverted")


def _engine(name: str | Callable[[Frame], None]) -> Callable[[Frame], None]:
    if callable(name):  # a custom runner (the debug tracer)
        return name
    if name == "reference":
        from strikevm.vm.interpreter import run

        return run
    if name == "fast":
        from strikevm.vm.compiler import run

        return run
    raise ValueError(f"unknown engine {name!r}: expected 'fast' or 'reference'")


class EVM:
    """Executes messages against a world state in one block/transaction context."""

    def __init__(
        self,
        state: WorldState,
        block: BlockEnv,
        tx: TxEnv,
        *,
        engine: str | Callable[[Frame], None] = "fast",
        system: Mapping[int, NativeContract] | None = None,
        spec: ForkSpec = CANCUN,
    ) -> None:
        self.state = state
        self.spec = spec
        self.block = block
        self.tx = tx
        self.blob_base_fee = block.blob_base_fee
        if self.blob_base_fee >> 256:
            raise ValueError("excess blob gas gives a blob base fee beyond 256 bits")
        self.precompiles = spec.precompiles
        self.system: Mapping[int, NativeContract] = system if system is not None else empty_registry()
        self.run_code = _engine(engine)
        # Native contracts whose frame is live (the reentrancy lock), and the faults
        # (unexpected exceptions) native contracts raised during this EVM's lifetime.
        self.native_active: set[int] = set()
        self.faults: list[NativeFault] = []

    def process_message(self, msg: Message) -> MessageResult:
        """Run a call: touch the target, move value, execute; revert on failure."""
        state = self.state
        checkpoint = state.checkpoint()
        state.touch(msg.target)
        if msg.transfer_value and msg.value:
            state.transfer(msg.caller, msg.target, msg.value)
        result = self._execute(msg)
        if not result.success:
            state.revert(checkpoint)
        return result

    def process_create(self, msg: Message) -> MessageResult:
        """Run initcode at a fresh account and deposit the returned code."""
        state = self.state
        checkpoint = state.checkpoint()
        state.create_account(msg.target)
        state.touch(msg.target)
        if msg.value:
            state.transfer(msg.caller, msg.target, msg.value)
        result = self._execute(msg)
        if result.success:
            code = result.output
            error: ExceptionalHalt | None = None
            if code and code[0] == 0xEF:
                error = InvalidContractPrefix()
            elif len(code) > G.MAX_CODE_SIZE:
                error = CodeSizeExceeded()
            elif result.gas_left < G.CODE_DEPOSIT * len(code):
                error = OutOfGas("code deposit")
            if error is None:
                state.set_code(msg.target, code)
                return MessageResult(
                    True, result.gas_left - G.CODE_DEPOSIT * len(code), b"", None, msg.target
                )
            result = MessageResult(False, 0, b"", error)
        state.revert(checkpoint)
        return result

    def _execute(self, msg: Message) -> MessageResult:
        addr = msg.code_address
        if not msg.is_create:
            pre = self.precompiles.get(addr)
            if pre is not None:
                try:
                    used, out = pre(msg.data, msg.gas)
                except PrecompileError as exc:
                    return MessageResult(False, 0, b"", exc)
                return MessageResult(True, msg.gas - used, out)
            native = self.system.get(addr)
            if native is not None:
                return enter(self, native, msg, native)
        if not msg.code:
            return MessageResult(True, msg.gas, b"")
        frame = Frame(self, msg)
        try:
            self.run_code(frame)
        except ExceptionalHalt as exc:
            return MessageResult(False, 0, b"", exc)
        if frame.reverted:
            return MessageResult(False, frame.gas, frame.output, REVERT)
        return MessageResult(True, frame.gas, frame.output)
