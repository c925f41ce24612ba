"""``strikevm risk``: the clearinghouse's risk at a glance, from a running node.

Prints the insurance fund, the accounts queued for the next block-end liquidation pass
with their equity, maintenance margin and health (``getAccount``), and the recent
liquidations, bad debts and auto-deleverages (``eth_getLogs`` over the last
``--blocks`` blocks). Tooling, not consensus code.
"""

from __future__ import annotations

import argparse
from decimal import Decimal
from typing import Any

from strikevm.crypto import keccak256
from strikevm.finance.clearinghouse_layout import CLEARINGHOUSE_ADDRESS
from strikevm.finance.liquidation import EV_ADL, EV_BAD_DEBT, EV_FAILED, EV_LIQUIDATION
from strikevm.tools.oracle_cli import Client, RpcFailure

__all__ = ["add_arguments", "main"]

WAD = Decimal(10) ** 18
USDC = Decimal(10) ** 6
_TO = f"0x{CLEARINGHOUSE_ADDRESS:040x}"


def _call(client: Client, signature: str, *args: int) -> list[int]:
    data = keccak256(signature.encode())[:4] + b"".join((a % (1 << 256)).to_bytes(32, "big") for a in args)
    out = bytes.fromhex(client.call("eth_call", {"to": _TO, "data": "0x" + data.hex()}, "latest")[2:])
    return [int.from_bytes(out[i : i + 32], "big") for i in range(0, len(out), 32)]


def _signed(value: int) -> int:
    return value - (1 << 256) if value >> 255 else value


def snapshot(client: Client, blocks: int) -> dict[str, Any]:
    """What ``strikevm risk`` shows, as data (used by the tests)."""
    fund = _signed(_call(client, "insuranceFund()")[0])
    words = _call(client, "atRisk()")
    count = words[2] if len(words) > 2 else 0
    owners = words[3 : 3 + count]
    subs = words[4 + count : 4 + 2 * count]
    accounts = []
    for owner, sub in zip(owners, subs, strict=True):
        collateral, pnl, equity, im, mm, health = _call(client, "getAccount(address,uint32)", owner, sub)
        accounts.append({"owner": owner, "sub": sub, "equity": _signed(equity), "im": im, "mm": mm,
                         "health": _signed(health)})  # fmt: skip
    head = int(client.call("eth_blockNumber"), 16)
    logs = client.call("eth_getLogs", {
        "fromBlock": hex(max(0, head - blocks)), "toBlock": "latest", "address": _TO,
        "topics": [[f"0x{t:064x}" for t in (EV_LIQUIDATION, EV_BAD_DEBT, EV_ADL, EV_FAILED)]],
    })  # fmt: skip
    names = {EV_LIQUIDATION: "liquidation", EV_BAD_DEBT: "bad debt", EV_ADL: "auto-deleverage",
             EV_FAILED: "failed"}  # fmt: skip
    events = [{"block": int(log["blockNumber"], 16), "kind": names[int(log["topics"][0], 16)],
               "owner": int(log["topics"][1], 16), "data": log["data"]} for log in logs]  # fmt: skip
    return {"insurance_fund": fund, "at_risk": accounts, "events": events, "head": head}


def main(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    try:
        data = snapshot(Client(args.rpc), args.blocks)
    except RpcFailure as exc:
        console.print(f"error: {exc.error.get('message')}")
        return 1
    except OSError as exc:
        console.print(f"error: cannot reach the node at {args.rpc}: {exc}")
        return 1
    console.print(f"block {data['head']}  insurance fund {Decimal(data['insurance_fund']) / USDC} USDC")
    table = Table("account", "sub", "equity", "maintenance", "health", title="queued for the next pass")
    for a in data["at_risk"]:
        table.add_row(f"0x{a['owner']:040x}", str(a["sub"]), f"{Decimal(a['equity']) / WAD:.2f}",
                      f"{Decimal(a['mm']) / WAD:.2f}", f"{Decimal(a['health']) / WAD:.2f}")  # fmt: skip
    console.print(table)
    recent = Table("block", "event", "account", title=f"last {args.blocks} blocks")
    for e in data["events"][-20:]:
        recent.add_row(str(e["block"]), e["kind"], f"0x{e['owner']:040x}")
    console.print(recent)
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rpc", default="http://127.0.0.1:8545")
    parser.add_argument("--blocks", type=int, default=1000, help="how far back to look for liquidations")
