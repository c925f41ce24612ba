"""Registry of native system contracts at reserved addresses.

A native contract is a callable ``(evm, message) -> MessageResult`` that keeps
its state in the storage of its own account through ``evm.state``, so the
journal, reverts and the state root cover it with no extra code. The
interpreter only knows the registry, never what a contract does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING

from strikevm.vm.env import Message, MessageResult

if TYPE_CHECKING:
    from strikevm.vm.evm import EVM

NativeContract = Callable[["EVM", Message], MessageResult]


class RegistryError(ValueError):
    """An address is outside the reserved range or already taken."""


class SystemRegistry(Mapping[int, NativeContract]):
    """Address -> native contract, restricted to one reserved address range."""

    def __init__(self, first: int, last: int) -> None:
        self.first = first
        self.last = last
        self._contracts: dict[int, NativeContract] = {}

    def register(self, address: int, contract: NativeContract) -> None:
        if not self.first <= address <= self.last:
            raise RegistryError(
                f"0x{address:x} is outside the reserved range 0x{self.first:x}-0x{self.last:x}"
            )
        if address in self._contracts:
            raise RegistryError(f"0x{address:x} is already registered")
        self._contracts[address] = contract

    def __getitem__(self, address: int) -> NativeContract:
        return self._contracts[address]

    def get(self, address: int, default=None):  # noqa: ANN001,ANN201 - Mapping.get fast path
        return self._contracts.get(address, default)

    def __iter__(self) -> Iterator[int]:
        return iter(sorted(self._contracts))

    def __len__(self) -> int:
        return len(self._contracts)


# StrikeVM's native contracts live at 0x...5354_0000 - 0x...5354_ffff ("ST"),
# far from Ethereum's precompiles (0x01-0x11, 0x100).
SYSTEM_RANGE_FIRST = 0x53540000
SYSTEM_RANGE_LAST = 0x5354FFFF


def empty_registry() -> SystemRegistry:
    return SystemRegistry(SYSTEM_RANGE_FIRST, SYSTEM_RANGE_LAST)
