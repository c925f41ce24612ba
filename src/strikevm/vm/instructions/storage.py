"""Persistent (EIP-2929/2200/3529) and transient (EIP-1153) storage instructions."""

from __future__ import annotations

from strikevm.vm import gas as G
from strikevm.vm.errors import OutOfGas, WriteInStaticContext


def sload(f, key: int) -> int:  # noqa: ANN001
    state = f.state
    addr = f.address
    if not state.warm_slot(addr, key):
        g = f.gas - (G.COLD_SLOAD - G.WARM_ACCESS)
        if g < 0:
            raise OutOfGas("SLOAD")
        f.gas = g
    acct = state.accounts.get(addr)
    return acct.storage.get(key, 0) if acct is not None else 0


def sstore(f, key: int, new: int) -> None:  # noqa: ANN001
    """SSTORE; static gas (100) is charged by the caller, the rest here."""
    if f.gas + G.WARM_ACCESS <= G.CALL_STIPEND:
        raise OutOfGas("SSTORE with gas at or below the call stipend")
    state = f.state
    addr = f.address
    cost = 0
    if not state.warm_slot(addr, key):
        cost = G.COLD_SLOAD
    current = state.sload(addr, key)
    if current != new:
        original = state.original_value(addr, key)
        if original == current:
            cost += (G.STORAGE_SET if original == 0 else G.STORAGE_UPDATE - G.COLD_SLOAD) - (
                G.WARM_ACCESS
            )
        refund = 0
        if original != 0:
            if current != 0 and new == 0:
                refund += G.STORAGE_CLEAR_REFUND
            elif current == 0:
                refund -= G.STORAGE_CLEAR_REFUND
        if original == new:
            if original == 0:
                refund += G.STORAGE_SET - G.WARM_ACCESS
            else:
                refund += G.STORAGE_UPDATE - G.COLD_SLOAD - G.WARM_ACCESS
        if cost:
            g = f.gas - cost
            if g < 0:
                raise OutOfGas("SSTORE")
            f.gas = g
        if f.is_static:
            raise WriteInStaticContext("SSTORE")
        if refund:
            state.add_refund(refund)
        state.sstore(addr, key, new)
    else:
        if cost:
            g = f.gas - cost
            if g < 0:
                raise OutOfGas("SSTORE")
            f.gas = g
        if f.is_static:
            raise WriteInStaticContext("SSTORE")


def tload(f, key: int) -> int:  # noqa: ANN001
    return f.state.transient.get((f.address, key), 0)


def tstore(f, key: int, value: int) -> None:  # noqa: ANN001
    if f.is_static:
        raise WriteInStaticContext("TSTORE")
    f.state.tstore(f.address, key, value)
