"""The finance system contracts and the registry that plugs them into the EVM.

``default_registry()`` returns a :class:`~strikevm.vm.system.SystemRegistry` holding
every finance system contract at its reserved address; pass it as ``system=`` to
``EVM`` or ``chain.executor.apply_transaction``.

| address | contract |
| --- | --- |
| ``0x0000000000000000000000000000000053540001`` | StrikePricing (``pricing_contract``) |
| ``0x0000000000000000000000000000000053540002`` | StrikeOracle (``oracle``) |
| ``0x0000000000000000000000000000000053540003`` | StrikeClearinghouse (``clearinghouse``) |
"""

from __future__ import annotations

from strikevm.vm.system import SystemRegistry, empty_registry

from .clearinghouse import StrikeClearinghouse
from .clearinghouse_layout import CLEARINGHOUSE_ADDRESS
from .oracle import ORACLE_ADDRESS, StrikeOracle
from .pricing_contract import PRICING_ADDRESS, StrikePricing

__all__ = ["CLEARINGHOUSE_ADDRESS", "ORACLE_ADDRESS", "PRICING_ADDRESS", "default_registry"]


def default_registry() -> SystemRegistry:
    """A fresh registry with every finance system contract registered."""
    registry = empty_registry()
    registry.register(PRICING_ADDRESS, StrikePricing())
    registry.register(ORACLE_ADDRESS, StrikeOracle())
    registry.register(CLEARINGHOUSE_ADDRESS, StrikeClearinghouse())
    return registry
