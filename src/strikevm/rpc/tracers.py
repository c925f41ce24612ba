"""geth's native tracers: ``callTracer`` and ``prestateTracer``, for debug_trace*.

Both run the traced transaction on the reference interpreter (as the struct
logger does, see :mod:`strikevm.rpc.trace`) and watch it:

* ``callTracer`` (option ``onlyTopCall``; ``withLog`` is not supported) builds geth's call
  frame tree: ``type``, ``from``, ``to``, ``value``, ``gas``, ``gasUsed``,
  ``input``, ``output``, ``error``, ``revertReason`` and ``calls``. The top frame's ``gas`` is the transaction's gas limit
  and its ``gasUsed`` the receipt's; a subcall's ``gas`` is what the callee
  was given. SELFDESTRUCT is a child frame of type ``SELFDESTRUCT``.
* ``prestateTracer`` (option ``diffMode``) lists every account the
  transaction touched (sender, recipient, coinbase, accounts read by
  BALANCE/EXTCODE*/CALL*/CREATE*/SELFDESTRUCT) with its balance, nonce, code
  and the storage slots read or written, as they were before the
  transaction; with ``diffMode``, ``pre`` and ``post`` of what changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from strikevm.chain.node import revert_message
from strikevm.state.world import WorldState
from strikevm.vm import interpreter
from strikevm.vm.env import Message, MessageResult
from strikevm.vm.errors import (
    CodeSizeExceeded,
    InvalidContractPrefix,
    InvalidJump,
    InvalidOpcode,
    OutOfGas,
    StackOverflow,
    StackUnderflow,
    WriteInStaticContext,
)
from strikevm.vm.frame import Frame
from strikevm.vm.instructions.system import create_address

__all__ = ["CallTracer", "PrestateTracer", "call_error_text"]

_CALL, _CALLCODE, _DELEGATECALL, _STATICCALL = 0xF1, 0xF2, 0xF4, 0xFA
_CREATE, _CREATE2, _SELFDESTRUCT = 0xF0, 0xF5, 0xFF
_BALANCE, _EXTCODESIZE, _EXTCODECOPY, _EXTCODEHASH = 0x31, 0x3B, 0x3C, 0x3F
_SLOAD, _SSTORE = 0x54, 0x55
_NAMES = {
    _CALL: "CALL",
    _CALLCODE: "CALLCODE",
    _DELEGATECALL: "DELEGATECALL",
    _STATICCALL: "STATICCALL",
    _CREATE: "CREATE",
    _CREATE2: "CREATE2",
}


def _addr(value: int) -> str:
    return f"0x{value:040x}"


def call_error_text(error: Exception | None) -> str:
    """geth's error text of a failed frame."""
    if error is None:
        return "execution reverted"
    texts: tuple[tuple[type[Exception], str], ...] = (
        (OutOfGas, "out of gas"),
        (StackUnderflow, "stack underflow"),
        (StackOverflow, "stack limit reached 1024"),
        (InvalidJump, "invalid jump destination"),
        (WriteInStaticContext, "write protection"),
        (CodeSizeExceeded, "max code size exceeded"),
        (InvalidContractPrefix, "invalid code: must not begin with 0xef"),
    )
    if isinstance(error, InvalidOpcode):
        detail = str(error)
        return f"invalid opcode: {detail}" if detail else "invalid opcode"
    for cls, text in texts:
        if isinstance(error, cls):
            return text
    name = type(error).__name__
    if name == "Revert" or name == "_Revert":
        return "execution reverted"
    return str(error) or name


def _is_revert(result: MessageResult) -> bool:
    return not result.success and type(result.error).__name__ in ("Revert", "_Revert", "REVERT")


class _Watcher:
    """Common engine: the reference interpreter with the EVM's message calls wrapped."""

    def __init__(self) -> None:
        self.op_stack: list[int] = []  # the opcode each running frame executes now
        self._patched: set[int] = set()
        self.state: WorldState | None = None

    def run(self, f: Frame) -> None:
        evm = f.evm
        if id(evm) not in self._patched:
            self._patched.add(id(evm))
            self.state = evm.state
            self._wrap(evm)
        self.op_stack.append(0)
        try:
            interpreter.run(f, self)
        finally:
            self.op_stack.pop()

    def _wrap(self, evm: Any) -> None:
        call = evm.process_message
        create = evm.process_create

        def process_message(msg: Message) -> MessageResult:
            op = self.op_stack[-1] if self.op_stack else _CALL
            self.enter(op, msg)
            result = call(msg)
            self.exit(msg, result)
            return result

        def process_create(msg: Message) -> MessageResult:
            op = self.op_stack[-1] if self.op_stack else _CREATE
            self.enter(op, msg)
            result = create(msg)
            self.exit(msg, result)
            return result

        evm.process_message = process_message
        evm.process_create = process_create

    def step(self, f: Frame, pc: int, op: int) -> None:
        self.op_stack[-1] = op
        self.observe(f, op)

    def end(self, f: Frame, error: Exception | None) -> None:
        pass

    def enter(self, op: int, msg: Message) -> None:
        pass

    def exit(self, msg: Message, result: MessageResult) -> None:
        pass

    def observe(self, f: Frame, op: int) -> None:
        pass


class CallTracer(_Watcher):
    """geth's ``callTracer``."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__()
        config = config or {}
        self.only_top = bool(config.get("onlyTopCall", False))
        self.stack: list[dict[str, Any]] = []
        self.top: dict[str, Any] = {"calls": []}

    def _frames(self) -> list[dict[str, Any]]:
        return self.stack[-1]["calls"] if self.stack else self.top["calls"]

    def enter(self, op: int, msg: Message) -> None:
        name = _NAMES.get(op, "CREATE" if msg.is_create else "CALL")
        frame: dict[str, Any] = {
            "from": _addr(msg.caller),
            "gas": hex(msg.gas),
            "gasUsed": "0x0",
            "to": _addr(msg.target if op != _DELEGATECALL else msg.code_address),
            "input": "0x" + (msg.code if msg.is_create else msg.data).hex(),
            "calls": [],
            "type": name,
        }
        if op in (_DELEGATECALL, _CALLCODE):
            frame["to"] = _addr(msg.code_address)
        if op == _DELEGATECALL:
            frame["from"] = _addr(msg.target)  # the delegating contract, as geth shows it
        if op != _STATICCALL:
            frame["value"] = hex(msg.value)
        self.stack.append(frame)

    def exit(self, msg: Message, result: MessageResult) -> None:
        frame = self.stack.pop()
        frame["gasUsed"] = hex(msg.gas - result.gas_left)
        output = result.output
        if msg.is_create and result.success and self.state is not None:
            output = self.state.code(msg.target)
        self._finish(frame, result.success, output, result.error, _is_revert(result))
        if not self.only_top:
            self._frames().append(frame)

    def observe(self, f: Frame, op: int) -> None:
        if op == _SELFDESTRUCT and f.stack and not self.only_top:
            beneficiary = f.stack[-1] & ((1 << 160) - 1)
            self._frames().append(
                {
                    "from": _addr(f.address),
                    "gas": "0x0",
                    "gasUsed": "0x0",
                    "to": _addr(beneficiary),
                    "input": "0x",
                    "value": hex(f.state.balance(f.address)),
                    "type": "SELFDESTRUCT",
                }
            )

    @staticmethod
    def _finish(
        frame: dict[str, Any], success: bool, output: bytes, error: Exception | None, reverted: bool
    ) -> None:
        if output:
            frame["output"] = "0x" + output.hex()
        else:
            frame.pop("output", None)
        if not success:
            if reverted:
                frame["error"] = "execution reverted"
                message = revert_message(output)
                if message != "execution reverted":
                    frame["revertReason"] = message[len("execution reverted: ") :]
            else:
                frame["error"] = call_error_text(error)
                frame["gasUsed"] = frame["gas"]
                frame.pop("output", None)
        if not frame.get("calls"):
            frame.pop("calls", None)

    def result(
        self,
        *,
        sender: int,
        to: int | None,
        value: int,
        data: bytes,
        gas: int,
        gas_used: int,
        success: bool,
        output: bytes,
        error: Exception | None,
        nonce: int,
    ) -> dict[str, Any]:
        """The top frame, with the recorded subcalls under it."""
        reverted = not success and type(error).__name__ in ("Revert", "_Revert")
        target = to if to is not None else create_address(sender, nonce)
        frame: dict[str, Any] = {
            "from": _addr(sender),
            "gas": hex(gas),
            "gasUsed": hex(gas_used),
            "to": _addr(target),
            "input": "0x" + data.hex(),
            "calls": self.top["calls"],
            "value": hex(value),
            "type": "CALL" if to is not None else "CREATE",
        }
        self._finish(frame, success, output, error, reverted)
        if not success and not reverted:
            frame["gasUsed"] = hex(gas_used)
        return _ordered(frame)


def _ordered(frame: dict[str, Any]) -> dict[str, Any]:
    keys = ("from", "gas", "gasUsed", "to", "input", "output", "error", "revertReason")
    out = {k: frame[k] for k in keys if k in frame}
    if "calls" in frame:
        out["calls"] = [_ordered(c) for c in frame["calls"]]
    for k in ("logs", "value", "type"):
        if k in frame:
            out[k] = frame[k]
    return out


class PrestateTracer(_Watcher):
    """geth's ``prestateTracer``: which accounts and slots the transaction touched."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__()
        config = config or {}
        self.diff_mode = bool(config.get("diffMode", False))
        self.accounts: dict[int, set[int]] = {}

    def touch(self, address: int) -> set[int]:
        return self.accounts.setdefault(address & ((1 << 160) - 1), set())

    def enter(self, op: int, msg: Message) -> None:
        self.touch(msg.target)
        self.touch(msg.code_address)

    def observe(self, f: Frame, op: int) -> None:
        stack = f.stack
        if op in (_SLOAD, _SSTORE) and stack:
            self.touch(f.address).add(stack[-1])
        elif op in (_BALANCE, _EXTCODESIZE, _EXTCODECOPY, _EXTCODEHASH, _SELFDESTRUCT) and stack:
            self.touch(stack[-1])
        elif op in (_CALL, _CALLCODE, _DELEGATECALL, _STATICCALL) and len(stack) >= 2:
            self.touch(stack[-2])
        elif op == _CREATE:
            self.touch(create_address(f.address, f.state.nonce(f.address)))

    def snapshot(
        self, state: WorldState, precompiles: Callable[[int], bool]
    ) -> dict[str, dict[str, Any]]:
        """The touched accounts as ``state`` has them (geth's account objects)."""
        out: dict[str, dict[str, Any]] = {}
        for address in sorted(self.accounts):
            if precompiles(address):
                continue
            acct = state.accounts.get(address)
            if acct is None:
                if not self.diff_mode:
                    out[_addr(address)] = {"balance": "0x0"}
                continue
            entry: dict[str, Any] = {"balance": hex(acct.balance)}
            if acct.nonce:
                entry["nonce"] = acct.nonce
            if acct.code:
                entry["code"] = "0x" + acct.code.hex()
            slots = self.accounts[address]
            if slots:
                entry["storage"] = {
                    f"0x{slot:064x}": f"0x{state.sload(address, slot):064x}"
                    for slot in sorted(slots)
                }
            out[_addr(address)] = entry
        return out


def prestate_diff(
    pre: dict[str, dict[str, Any]], post: dict[str, dict[str, Any]]
) -> dict[str, dict[str, dict[str, Any]]]:
    """geth's diffMode: accounts (and fields, and slots) that changed, before and after."""
    out_pre: dict[str, dict[str, Any]] = {}
    out_post: dict[str, dict[str, Any]] = {}
    for address in sorted(set(pre) | set(post)):
        before = pre.get(address)
        after = post.get(address)
        if before == after:
            continue
        if before is not None:
            kept = dict(before)
            if after is not None and "storage" in before:
                changed = {
                    k: v
                    for k, v in before["storage"].items()
                    if after.get("storage", {}).get(k, "0x" + "00" * 32) != v
                }
                if changed:
                    kept["storage"] = changed
                else:
                    kept.pop("storage")
            out_pre[address] = kept
        if after is not None:
            post_entry: dict[str, Any] = {}
            for key in ("balance", "nonce", "code"):
                if key in after and (before is None or before.get(key) != after[key]):
                    post_entry[key] = after[key]
            if "storage" in after:
                changed = {
                    k: v
                    for k, v in after["storage"].items()
                    if (before or {}).get("storage", {}).get(k, "0x" + "00" * 32) != v
                    and int(v, 16) != 0
                }
                if changed:
                    post_entry["storage"] = changed
            out_post[address] = post_entry
    return {"pre": out_pre, "post": out_post}
