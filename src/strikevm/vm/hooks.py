"""Begin-block and end-block system steps of native contracts.

A native contract may define ``begin_block(host)`` and/or ``end_block(host)``.
The block pipeline calls :func:`run_block_hooks` once per phase; each step runs
as its own system transaction (caller ``SYSTEM_ADDRESS``, no gas bought, a fixed
gas budget), in ascending address order, and its logs form the block's system
receipt. A step that fails is reverted alone and reported; it never fails the block.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

from strikevm.state.world import Log, WorldState
from strikevm.vm.env import BlockEnv

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
) -> list[Log]:
    """Run every registered ``<phase>_block`` step; return the logs they emitted."""
    return []
