"""Genesis of the finance system contracts: the chain configuration file and its defaults.

A genesis configuration is a JSON object; the section this module reads is::

    {
      "oracle": {
        "admin": "0x...",                 # the only account that may change feeds later
        "feeds": [
          {"name": "ETH/USD", "kind": "price", "decimals": 8, "quorum": 2,
           "staleness": 120, "maxDeviationBps": 1000, "emaWindow": 3600,
           "twapCapacity": 4096, "publishers": ["0x...", "0x...", "0x..."]},
          {"name": "USD", "kind": "rate", "decimals": 18, "quorum": 2, "staleness": 86400,
           "publishers": [...]}
        ]
      }
    }

A feed's id is ``keccak256(name)`` unless ``"id"`` (hex bytes32) is given. See
docs/oracle.md for each field. :func:`apply_genesis` installs every registered system
contract's account (marker code, never deleted) and writes the storage its section asks for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from strikevm.state.account import Account
from strikevm.state.world import WorldState
from strikevm.vm.system import NativeContract, install_system_accounts

from .oracle import genesis_storage
from .oracle_layout import ORACLE_ADDRESS


def dev_oracle_config(admin: int, publishers: Sequence[int]) -> dict[str, Any]:
    """The dev chain's oracle: ETH/USD and BTC/USD with three publishers, and a USD rate."""

    def feed(name: str, **extra: Any) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": name, "kind": "price", "decimals": 8, "quorum": 2, "staleness": 120,
            "maxDeviationBps": 1000, "emaWindow": 3600, "twapCapacity": 4096,
            "publishers": [f"0x{p:040x}" for p in publishers],
        }  # fmt: skip
        out.update(extra)
        return out

    return {
        "admin": f"0x{admin:040x}",
        "feeds": [
            feed("ETH/USD"),
            feed("BTC/USD"),
            feed("USD", kind="rate", decimals=18, staleness=86_400, maxDeviationBps=0,
                 twapCapacity=0),
        ],
    }


def apply_genesis(
    state: WorldState, registry: Mapping[int, NativeContract], config: Mapping[str, Any]
) -> None:
    """Install system accounts and the configured storage of each system contract."""
    install_system_accounts(state, registry)
    oracle = config.get("oracle")
    if oracle is not None and ORACLE_ADDRESS in registry:
        acct = state.accounts.get(ORACLE_ADDRESS)
        if acct is None:  # pragma: no cover - install_system_accounts created it
            acct = state.accounts[ORACLE_ADDRESS] = Account()
        for slot, value in sorted(genesis_storage(dict(oracle)).items()):
            if value:
                acct.storage[slot] = value
