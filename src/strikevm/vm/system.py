"""Registry of native system contracts at reserved addresses.

A native contract is a callable ``(host) -> bytes | MessageResult`` (see
:mod:`strikevm.vm.host`) that keeps its state in the storage of its own account
through the host, so the journal, reverts, the state root, proofs and conflict
detection cover it with no extra code. The interpreter only knows the registry,
never what a contract does. Optional attributes of a contract:

* ``name`` (str): shown in its marker code;
* ``payable`` / ``delegatable`` (bool, default False) and ``base_gas`` (int): the
  call policy the host checks before the contract runs;
* ``revert_type``: the ``Revert`` subclass its reverts are reported with;
* ``begin_block(host)`` / ``end_block(host)``: block steps run by the pipeline
  (:mod:`strikevm.vm.hooks`).

**Accounts of system contracts are never deleted.** Each registered address holds
*marker code* in the genesis state (:func:`install_system_accounts`): ``0xFE``
(INVALID) followed by ``"strikevm:" + name``, and nonce 1, as Ethereum's own system
contracts (EIP-4788) hold code. An account with code is not empty, so EIP-161
cleanup never removes it and its storage persists and is provable with
``eth_getProof``; EXTCODESIZE is non-zero, so Solidity's extcodesize check passes.
We chose marker code over an exemption list inside the world state because it
keeps the state rules exactly Ethereum's: no special case in the journal, the
cleanup or the trie. The marker is never executed: calls to a registered address
dispatch to the native contract first; with no registry (another chain's rules) a
call halts on INVALID instead of silently succeeding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING

from strikevm.vm.env import MessageResult

if TYPE_CHECKING:
    from strikevm.state.world import WorldState
    from strikevm.vm.host import Host

NativeContract = Callable[["Host"], "bytes | MessageResult"]


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


def marker_code(contract: object) -> bytes:
    """The code a system contract's account holds: INVALID, then its name."""
    name = getattr(contract, "name", None) or type(contract).__name__
    return b"\xfe" + b"strikevm:" + str(name).encode("ascii")


def install_system_accounts(state: WorldState, registry: Mapping[int, NativeContract]) -> None:
    """Give every registered address its marker code and nonce 1 (genesis, not journaled)."""
    from strikevm.state.account import Account

    for address in sorted(registry):
        acct = state.accounts.get(address)
        if acct is None:
            acct = state.accounts[address] = Account()
        acct.nonce = max(acct.nonce, 1)
        acct.set_code(marker_code(registry[address]))
