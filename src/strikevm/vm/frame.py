"""The execution frame of one message: stack, memory, gas and context."""

from __future__ import annotations

from typing import TYPE_CHECKING

from strikevm.vm.env import Message

if TYPE_CHECKING:
    from strikevm.vm.evm import EVM


class Frame:
    """Mutable state of running code; instruction functions receive it as ``f``."""

    __slots__ = (
        "evm",
        "state",
        "msg",
        "gas",
        "stack",
        "memory",
        "returndata",
        "output",
        "reverted",
        "address",
        "caller",
        "value",
        "data",
        "code",
        "is_static",
        "depth",
    )

    def __init__(self, evm: EVM, msg: Message) -> None:
        self.evm = evm
        self.state = evm.state
        self.msg = msg
        self.gas = msg.gas
        self.stack: list[int] = []
        self.memory = bytearray()
        self.returndata = b""
        self.output = b""
        self.reverted = False
        self.address = msg.target
        self.caller = msg.caller
        self.value = msg.value
        self.data = msg.data
        self.code = msg.code
        self.is_static = msg.is_static
        self.depth = msg.depth
