"""Exceptional halts of an EVM frame (each consumes all gas of the frame) and REVERT."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar


class ExceptionalHalt(Exception):
    """The frame stops, consumes all its gas and reverts its state changes."""


class OutOfGas(ExceptionalHalt):
    pass


class StackUnderflow(ExceptionalHalt):
    pass


class StackOverflow(ExceptionalHalt):
    pass


class InvalidJump(ExceptionalHalt):
    pass


class InvalidOpcode(ExceptionalHalt):
    pass


class WriteInStaticContext(ExceptionalHalt):
    pass


class ReturnDataOutOfBounds(ExceptionalHalt):
    pass


class InvalidContractPrefix(ExceptionalHalt):
    """EIP-3541: deployed code may not start with 0xEF."""


class CodeSizeExceeded(ExceptionalHalt):
    """EIP-170 deployed code or EIP-3860 initcode too large."""


class Revert(Exception):
    """Marker stored in MessageResult.error for a REVERT (not an exceptional halt)."""


class NativeRevertError(Revert):
    """A native contract reverted its frame with revert data (a custom error).

    A contract's subclass sets ``errors`` (selector -> Solidity signature), which
    gives :attr:`name`.
    """

    errors: ClassVar[Mapping[bytes, str]] = {}

    def __init__(self, data: bytes = b"") -> None:
        super().__init__("execution reverted")
        self.data = data

    @property
    def name(self) -> str:
        """The custom error's Solidity name, e.g. ``"InvalidVolatility"`` (``"unknown"``
        when the data is not one of ``errors``)."""
        return self.errors.get(bytes(self.data[:4]), "unknown(").split("(")[0]
