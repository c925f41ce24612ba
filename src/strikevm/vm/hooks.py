"""Begin-block and end-block system steps of native contracts.

A native contract may define ``begin_block(host)`` and/or ``end_block(host)``.
The block pipeline calls :func:`run_block_hooks` once per phase: before the first
transaction (after the EIP-4788 beacon-roots call) and after the last one (after
withdrawals). Each step runs as its own system transaction:

* caller and origin ``SYSTEM_ADDRESS`` (0xff..fe), gas price 0, no gas bought, no
  nonce, the system address is never touched or created;
* a gas budget of :data:`HOOK_GAS` (30,000,000, the EIP-4788 system-call budget) per
  contract per phase, or the contract's own ``begin_block_gas``/``end_block_gas`` when it
  declares one (the clearinghouse's liquidation pass: 200,000,000, bounded further by its
  own per-block check and liquidation budgets), metered by the host exactly as calls
  are; the gas is not counted in the block's ``gasUsed`` (as EIP-4788's call is not);
* contracts run in ascending address order;
* the host policy applies (non-reentrant; the step may call EVM contracts);
* a step that reverts, runs out of gas or raises is reverted alone (its faults are
  reported through the EVM's fault log); it never fails the block;
* the logs of successful steps, begin then end, form the block's *system receipt*.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

from strikevm.state.world import Log, WorldState
from strikevm.vm.env import BlockEnv, Message, TxEnv

if TYPE_CHECKING:
    from strikevm.vm.spec import ForkSpec
    from strikevm.vm.system import NativeContract

Phase = Literal["begin", "end"]


def run_block_hooks(
    state: WorldState,
    env: BlockEnv,
    system: Mapping[int, NativeContract] | None,
    phase: Phase,
    *,
    engine: str = "fast",
    spec: ForkSpec | None = None,
    faults: list[Exception] | None = None,
) -> list[Log]:
    """Run every registered ``<phase>_block`` step; return the logs they emitted.

    Faults (unexpected exceptions inside a step) are appended to ``faults`` when given.
    """
    if not system:
        return []
    from strikevm.vm.evm import EVM
    from strikevm.vm.host import enter
    from strikevm.vm.spec import CANCUN, SYSTEM_ADDRESS

    spec = spec if spec is not None else CANCUN
    attribute = f"{phase}_block"
    out: list[Log] = []
    for address in sorted(system):
        contract = system[address]
        step = getattr(contract, attribute, None)
        if step is None:
            continue
        state.begin_transaction()
        state.prewarm([address, *spec.precompiles, *sorted(system)])
        evm = EVM(
            state, env, TxEnv(origin=SYSTEM_ADDRESS, gas_price=0),
            engine=engine, system=system, spec=spec,
        )  # fmt: skip
        gas = getattr(contract, f"{phase}_block_gas", HOOK_GAS)
        msg = Message(SYSTEM_ADDRESS, address, 0, b"", gas, state.code(address), address)
        checkpoint = state.checkpoint()
        result = enter(evm, contract, msg, step)
        if result.success:
            out.extend(state.logs)
        else:
            state.revert(checkpoint)
        state.finalize_transaction()
        if faults is not None:
            faults.extend(evm.faults)
    return out


HOOK_GAS = 30_000_000
"""Gas budget of one contract's block step (per phase)."""
