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
docs/oracle.md for each field. The ``"clearinghouse"`` section (docs/clearinghouse.md)
registers collateral tokens and markets; ``"accounts"`` installs plain accounts (code,
storage, balance: e.g. the dev ERC-20 tokens). :func:`apply_genesis` installs every
registered system contract's account (marker code, never deleted) and writes the storage
its section asks for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from strikevm.state.world import WorldState
from strikevm.vm.system import NativeContract, install_system_accounts

from .clearinghouse import genesis_storage as clearinghouse_storage
from .clearinghouse_layout import CLEARINGHOUSE_ADDRESS
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
    for address, acct in sorted(dict(config.get("accounts", {})).items()):
        state.accounts[address] = acct
    sections = (
        ("oracle", ORACLE_ADDRESS, genesis_storage),
        ("clearinghouse", CLEARINGHOUSE_ADDRESS, clearinghouse_storage),
    )
    for name, address, build in sections:
        section = config.get(name)
        if section is None or address not in registry:
            continue
        acct = state.accounts[address]
        for slot, value in sorted(build(dict(section)).items()):
            if value:
                acct.storage[slot] = value


CREATE2_DEPLOYER = 0x4E59B44847B379578588920CA78FBF26C0B4956C
"""The deterministic deployment proxy (Arachnid), as anvil and Foundry expect it."""
CREATE2_DEPLOYER_CODE = bytes.fromhex(
    "7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe036016000816020823780"
    "35828234f58015156039578182fd5b8082525050506014600cf3"
)


def create2_deployer_account() -> Any:
    """The deterministic CREATE2 deployer's account: its well-known runtime code."""
    from strikevm.state.account import Account

    acct = Account()
    acct.set_code(CREATE2_DEPLOYER_CODE)
    return acct


WEEK = 7 * 86_400
FRIDAY_0800 = 8 * 3600 + 86_400  # 1970-01-02 08:00 UTC was a Friday


def next_friday(after: int) -> int:
    """The first Friday 08:00 UTC at or after ``after`` (Deribit's expiry time)."""
    k = -((FRIDAY_0800 - after) // WEEK)
    return FRIDAY_0800 + max(k, 0) * WEEK


def dev_clearinghouse_config(admin: int, usdc: int, weth: int, now: int) -> dict[str, Any]:
    """Dev markets: ETH and BTC perpetuals, an ETH future and ETH options (one American put)."""
    expiry = next_friday(now + WEEK)
    wad = 10**18
    markets: list[dict[str, Any]] = [
        {"kind": 1, "underlying": "ETH/USD"},
        {"kind": 1, "underlying": "BTC/USD"},
        {"kind": 2, "underlying": "ETH/USD", "expiry": expiry},
    ]
    for strike in (2_500, 3_000, 3_500):
        for is_call in (1, 0):
            markets.append({"kind": 3, "underlying": "ETH/USD", "expiry": expiry,
                            "strike": strike * wad, "is_call": is_call})  # fmt: skip
    markets.append({"kind": 3, "underlying": "ETH/USD", "expiry": expiry, "strike": 3_000 * wad,
                    "is_call": 0, "american": 1})  # fmt: skip
    return {
        "admin": f"0x{admin:040x}",
        "rateFeed": "USD",
        "collateral": [
            {"token": f"0x{usdc:040x}", "decimals": 6},
            {"token": f"0x{weth:040x}", "decimals": 18, "haircutBps": 1000, "feed": "ETH/USD"},
        ],
        "markets": markets,
    }


def dev_genesis(accounts: Sequence[tuple[int, bytes]], now: int, publishers: Sequence[int] = (7, 8, 9)) -> dict[str, Any]:
    """The dev chain: oracle feeds, the dev tokens (each dev account credited) and the
    clearinghouse with its dev markets; dev account 0 administers both."""
    from .dev_tokens import USDC_ADDRESS, WETH_ADDRESS, dev_token_accounts

    if not accounts:
        return {}
    admin = accounts[0][0]
    holders = [address for address, _ in accounts]
    signers = [accounts[i][0] for i in publishers if i < len(accounts)]
    config: dict[str, Any] = {"accounts": dev_token_accounts(holders, minter=admin)}
    config["accounts"][CREATE2_DEPLOYER] = create2_deployer_account()
    if signers:
        config["oracle"] = dev_oracle_config(admin, signers)
        config["clearinghouse"] = dev_clearinghouse_config(admin, USDC_ADDRESS, WETH_ADDRESS, now)
    return config
