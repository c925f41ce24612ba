"""The fork specification as a value: what differs between Ethereum forks.

A :class:`ForkSpec` carries the opcode table, the precompile set, the system
calls run at the start of a block and the accepted transaction types. The block
pipeline, the EVM and the compiler's cache key take it as a value, so a new fork
(Prague) is a new ``ForkSpec`` plus the functions it names, not edits everywhere.
Cancun is the only fork defined today.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from strikevm.vm import gas as G
from strikevm.vm.instructions.table import OPCODES, OpSpec
from strikevm.vm.precompiles import PRECOMPILES, Precompile

# EIP-4788: the beacon-roots contract and the system caller used for system calls.
SYSTEM_ADDRESS = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFE
BEACON_ROOTS_ADDRESS = 0x000F3DF6D732807EF1319FB7B8BB8522D0BEAC02
SYSTEM_CALL_GAS = 30_000_000


@dataclass(frozen=True, slots=True)
class GasSchedule:
    """The gas constants that forks have changed (the rest stay in ``vm.gas``)."""

    cold_account_access: int = G.COLD_ACCOUNT_ACCESS
    cold_sload: int = G.COLD_SLOAD
    warm_access: int = G.WARM_ACCESS
    max_refund_quotient: int = G.MAX_REFUND_QUOTIENT
    max_code_size: int = G.MAX_CODE_SIZE
    max_initcode_size: int = G.MAX_INITCODE_SIZE
    tx_base: int = G.TX_BASE
    tx_create: int = G.TX_CREATE
    tx_data_zero: int = G.TX_DATA_ZERO
    tx_data_nonzero: int = G.TX_DATA_NONZERO
    target_blob_gas_per_block: int = 393_216
    max_blob_gas_per_block: int = 786_432


@dataclass(frozen=True, slots=True)
class ForkSpec:
    """Everything a fork decides, as one immutable value."""

    name: str
    opcodes: tuple[OpSpec | None, ...]
    precompiles: Mapping[int, Precompile]
    tx_types: frozenset[int]
    gas: GasSchedule
    beacon_roots_call: bool  # EIP-4788 system call at the start of each block
    withdrawals: bool  # EIP-4895
    blobs: bool  # EIP-4844 header fields and blob transactions

    @property
    def cache_key(self) -> str:
        """What compiled code is keyed by beside the code hash."""
        return self.name


CANCUN = ForkSpec(
    name="Cancun",
    opcodes=tuple(OPCODES),
    precompiles=PRECOMPILES,
    tx_types=frozenset({0, 1, 2, 3}),
    gas=GasSchedule(),
    beacon_roots_call=True,
    withdrawals=True,
    blobs=True,
)

FORKS: dict[str, ForkSpec] = {CANCUN.name: CANCUN}


def fork(name: str) -> ForkSpec:
    """The spec of fork ``name``; ValueError for a fork this build does not implement."""
    spec = FORKS.get(name)
    if spec is None:
        raise ValueError(f"fork {name!r} is not implemented (known: {', '.join(sorted(FORKS))})")
    return spec
