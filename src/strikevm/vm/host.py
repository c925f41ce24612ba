"""The host API of native system contracts: everything they may do to the world.

A native contract never sees the interpreter or the raw world state. The EVM hands
it a :class:`Host` for one call (or one begin/end-block step), and every effect goes
through it, metered exactly as the equivalent EVM instructions would be:

| host method | charged like | notes |
| --- | --- | --- |
| ``sload(slot)`` | SLOAD (EIP-2929: 2,100 cold, 100 warm) | the contract's own storage |
| ``sstore(slot, value)`` | SSTORE (EIP-2200/2929/3529, refunds, 2,300-stipend rule) | halts in a static frame |
| ``accumulate(slot, delta)`` | flat 5,000 (a cold SSTORE of a non-zero slot), no refund | ``slot += delta``, never read back: commutes (parallel execution) |
| ``emit(topics, data)`` | LOGn (375 + 375 per topic + 8 per byte) | halts in a static frame |
| ``balance(addr)`` | BALANCE (2,600 cold, 100 warm) | |
| ``call(to, data, value=, gas=)`` | CALL (access, value, new account; 63/64 rule) | a sub-call into any contract |
| ``staticcall(to, data, gas=)`` | STATICCALL | |
| ``charge(gas)`` | the contract's own documented formula | charged before the work |

The call policy is checked in one place, :func:`enter`, before a contract runs:

* **value**: a contract that is not ``payable`` rejects a non-zero ``msg.value`` with
  ``ValueNotAccepted(uint256)``. The apparent value is checked, as Solidity checks
  CALLVALUE, so a DELEGATECALL from a frame that received value is rejected exactly as
  ordinary non-payable code would reject it.
* **delegation**: a contract whose state lives in its own account (``delegatable`` false)
  rejects DELEGATECALL and CALLCODE with ``DelegateCallNotAllowed()``: run in another
  account's context it would write that account's storage.
* **reentrancy**: while a native contract's frame is live, any call back into it reverts
  with ``ReentrantCall()``; every entry point is non-reentrant by construction.
* **static**: writes and logs in a STATICCALL frame halt as SSTORE/LOG do.

Exception boundary: ``Revert`` (via :meth:`Host.revert`) reverts the frame and returns
the data with the gas left; an ``ExceptionalHalt`` (out of gas, static write) consumes
the frame's gas; any other exception is a bug in the contract: the frame is reverted,
consumes its gas, the fault is recorded in ``EVM.faults`` and logged, and execution of
the transaction and the block goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

from strikevm.crypto import keccak256
from strikevm.state.world import Log, WorldState
from strikevm.vm import gas as G
from strikevm.vm.env import BlockEnv, Message, MessageResult, TxEnv
from strikevm.vm.errors import ExceptionalHalt, NativeRevertError, OutOfGas, WriteInStaticContext

if TYPE_CHECKING:
    from strikevm.vm.evm import EVM

log = logging.getLogger("strikevm.native")

_W = 32
_MASK = (1 << 256) - 1
ACCUMULATE_GAS = G.COLD_SLOAD + G.STORAGE_UPDATE - G.COLD_SLOAD  # 5,000: cold SSTORE, non-zero slot


def error_selector(signature: str) -> bytes:
    return keccak256(signature.encode("ascii"))[:4]


ERR_VALUE = "ValueNotAccepted(uint256)"
ERR_DELEGATE = "DelegateCallNotAllowed()"
ERR_REENTRANT = "ReentrantCall()"
ERR_INTERNAL = "NativeFault()"


class NativeRevert(Exception):
    """Raised by a native contract to revert its frame with ``data`` (gas left is kept)."""

    def __init__(self, data: bytes = b"") -> None:
        super().__init__(data)
        self.data = data


class NativeFault(ExceptionalHalt):
    """An unexpected exception inside a native contract; the frame failed."""

    def __init__(self, address: int, cause: BaseException) -> None:
        super().__init__(f"native contract 0x{address:040x} failed: {cause!r}")
        self.address = address
        self.cause = cause


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """What a sub-call returned to the native contract."""

    success: bool
    output: bytes


class Host:
    """One native frame's view of the world: its message, its gas and metered effects."""

    __slots__ = ("evm", "state", "msg", "gas", "address", "caller", "value", "data", "is_static")

    def __init__(self, evm: EVM, msg: Message) -> None:
        self.evm = evm
        self.state: WorldState = evm.state
        self.msg = msg
        self.gas = msg.gas
        self.address = msg.target
        self.caller = msg.caller
        self.value = msg.value
        self.data = msg.data
        self.is_static = msg.is_static

    @classmethod
    def detached(cls, msg: Message) -> Host:
        """A host with no world behind it, for calling a pure contract directly (tests,
        benchmarks); any state access raises."""
        host = cls.__new__(cls)
        host.evm = None  # type: ignore[assignment]
        host.state = None  # type: ignore[assignment]
        host.msg = msg
        host.gas = msg.gas
        host.address = msg.target
        host.caller = msg.caller
        host.value = msg.value
        host.data = msg.data
        host.is_static = msg.is_static
        return host

    # ----------------------------------------------------------------- context
    @property
    def block(self) -> BlockEnv:
        return self.evm.block

    @property
    def tx(self) -> TxEnv:
        return self.evm.tx

    @property
    def depth(self) -> int:
        return self.msg.depth

    # --------------------------------------------------------------------- gas
    def charge(self, amount: int) -> None:
        """Take ``amount`` gas; out of gas consumes the frame's gas and halts it."""
        if amount > self.gas:
            self.gas = 0
            raise OutOfGas("native contract")
        self.gas -= amount

    def revert(self, data: bytes = b"") -> NoReturn:
        """Revert the frame, returning ``data`` (a custom error) and the gas left."""
        raise NativeRevert(data)

    # ----------------------------------------------------------------- storage
    def sload(self, slot: int) -> int:
        """This contract's storage slot, charged as SLOAD."""
        state = self.state
        addr = self.address
        self.charge(G.WARM_ACCESS if state.warm_slot(addr, slot) else G.COLD_SLOAD)
        return state.sload(addr, slot)

    def peek(self, slot: int) -> int:
        """Read a slot already paid for in this transaction (warm) at the warm price."""
        return self.sload(slot)

    def sstore(self, slot: int, value: int) -> None:
        """Write this contract's storage slot, charged (and refunded) as SSTORE."""
        if self.is_static:
            raise WriteInStaticContext("native SSTORE")
        if self.gas <= G.CALL_STIPEND:
            raise OutOfGas("SSTORE with gas at or below the call stipend")
        value &= _MASK
        state = self.state
        addr = self.address
        cost = G.WARM_ACCESS
        if not state.warm_slot(addr, slot):
            cost += G.COLD_SLOAD
        current = state.sload(addr, slot)
        refund = 0
        if current != value:
            original = state.original_value(addr, slot)
            if original == current:
                cost += (G.STORAGE_SET if original == 0 else G.STORAGE_UPDATE - G.COLD_SLOAD) - (
                    G.WARM_ACCESS
                )
            if original != 0:
                if current != 0 and value == 0:
                    refund += G.STORAGE_CLEAR_REFUND
                elif current == 0:
                    refund -= G.STORAGE_CLEAR_REFUND
            if original == value:
                if original == 0:
                    refund += G.STORAGE_SET - G.WARM_ACCESS
                else:
                    refund += G.STORAGE_UPDATE - G.COLD_SLOAD - G.WARM_ACCESS
        self.charge(cost)
        if current != value:
            if refund:
                state.add_refund(refund)
            state.sstore(addr, slot, value)

    def accumulate(self, slot: int, delta: int) -> None:
        """``slot += delta`` (mod 2**256) for a counter this call never reads back.

        Charged a flat :data:`ACCUMULATE_GAS` (a cold SSTORE of a non-zero slot),
        whatever the slot holds, so neither the gas nor the result depends on its
        value: transactions adding to one counter commute, and the parallel
        executor applies the additions without a read (docs/parallel.md). Meant
        for sums read only by other calls (fee and clearing-pool shards, fill
        accumulators); the slots it may create must be bounded by the caller.
        """
        if self.is_static:
            raise WriteInStaticContext("native accumulate")
        if self.gas <= G.CALL_STIPEND:
            raise OutOfGas("accumulate with gas at or below the call stipend")
        self.charge(ACCUMULATE_GAS)
        self.state.warm_slot(self.address, slot)
        if delta & _MASK:
            self.state.add_storage(self.address, slot, delta)

    # -------------------------------------------------------------------- logs
    def emit(self, topics: Sequence[int], data: bytes = b"") -> None:
        """Emit an event from this contract, charged as LOGn."""
        if len(topics) > 4:
            raise ValueError("an event has at most 4 topics")
        if self.is_static:
            raise WriteInStaticContext("native LOG")
        self.charge(G.LOG + G.LOG_TOPIC * len(topics) + G.LOG_DATA * len(data))
        self.state.add_log(Log(self.address, tuple(t & _MASK for t in topics), bytes(data)))

    # ---------------------------------------------------------------- accounts
    def balance(self, addr: int) -> int:
        self.charge(G.WARM_ACCESS if self.state.warm_address(addr) else G.COLD_ACCOUNT_ACCESS)
        return self.state.balance(addr)

    # ------------------------------------------------------------------- calls
    def call(
        self, to: int, data: bytes, *, value: int = 0, gas: int | None = None
    ) -> CallOutcome:
        """CALL ``to`` from this contract, metered as the CALL instruction."""
        return self._call(to, data, value, gas, static=False)

    def staticcall(self, to: int, data: bytes, *, gas: int | None = None) -> CallOutcome:
        """STATICCALL ``to`` from this contract."""
        return self._call(to, data, 0, gas, static=True)

    def _call(self, to: int, data: bytes, value: int, gas: int | None, *, static: bool) -> CallOutcome:
        state = self.state
        if value and (static or self.is_static):
            raise WriteInStaticContext("native CALL with value")
        extra = G.WARM_ACCESS if state.warm_address(to) else G.COLD_ACCOUNT_ACCESS
        stipend = 0
        if value:
            extra += G.CALL_VALUE
            stipend = G.CALL_STIPEND
            if not state.is_alive(to):
                extra += G.NEW_ACCOUNT
        self.charge(extra)
        avail = self.gas
        cap = avail - avail // 64
        child_gas = cap if gas is None else min(gas, cap)
        self.gas = avail - child_gas
        depth = self.msg.depth + 1
        if depth > G.CALL_DEPTH_LIMIT or (value and state.balance(self.address) < value):
            self.gas += child_gas
            return CallOutcome(False, b"")
        msg = Message(
            caller=self.address,
            target=to,
            value=value,
            data=bytes(data),
            gas=child_gas + stipend,
            code=state.code(to),
            code_address=to,
            depth=depth,
            is_static=static or self.is_static,
        )
        result = self.evm.process_message(msg)
        self.gas += result.gas_left
        return CallOutcome(result.success, result.output)


NativeEntry = Callable[[Host], "bytes | MessageResult"]


def _word_error(signature: str, value: int | None = None) -> bytes:
    out = error_selector(signature)
    if value is not None:
        out += (value & _MASK).to_bytes(_W, "big")
    return out


def enter(evm: EVM, contract: object, msg: Message, entry: NativeEntry) -> MessageResult:
    """Run ``entry`` (a native contract's call or block step) under the host policy."""
    addr = msg.target if msg.target == msg.code_address else msg.code_address
    base = getattr(contract, "base_gas", 0)
    if addr in evm.native_active:
        return _policy_revert(contract, msg, base, _word_error(ERR_REENTRANT))
    if msg.target != msg.code_address and not getattr(contract, "delegatable", False):
        return _policy_revert(contract, msg, base, _word_error(ERR_DELEGATE))
    if msg.value and not getattr(contract, "payable", False):
        return _policy_revert(contract, msg, base, _word_error(ERR_VALUE, msg.value))
    host = Host(evm, msg)
    evm.native_active.add(addr)
    try:
        out = entry(host)
    except NativeRevert as exc:
        return MessageResult(False, host.gas, exc.data, _revert_marker(contract, exc.data))
    except ExceptionalHalt as exc:
        return MessageResult(False, 0, b"", exc)
    except Exception as exc:  # noqa: BLE001 - the exception boundary of native code
        fault = NativeFault(addr, exc)
        evm.faults.append(fault)
        log.error("%s", fault)
        return MessageResult(False, 0, b"", fault)
    finally:
        evm.native_active.discard(addr)
    if isinstance(out, MessageResult):
        return out
    return MessageResult(True, host.gas, bytes(out))


def _policy_revert(contract: object, msg: Message, base: int, data: bytes) -> MessageResult:
    if msg.gas < base:
        return MessageResult(False, 0, b"", OutOfGas("native contract"))
    return MessageResult(False, msg.gas - base, data, _revert_marker(contract, data))


def _revert_marker(contract: object, data: bytes) -> Exception:
    kind = getattr(contract, "revert_type", None) or NativeRevertError
    return kind(data)  # type: ignore[no-any-return]
