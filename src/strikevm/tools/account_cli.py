"""``strikevm account ADDR [--sub N] [--rpc URL]``: a clearinghouse account at a glance.

Prints, from a node's JSON-RPC (through :mod:`strikevm.client` and web3.py), the account's
collateral (USDC cash, WETH), its open positions with size, entry, mark and P&L, and the
margin summary ``getAccount`` returns: collateral value, unrealized P&L, equity, initial
and maintenance margin and health (equity - maintenance margin). Marks are the margin
engine's (oracle spot, forward, Black-Scholes on the oracle smile); a market the oracle
cannot price now shows ``-``, and a summary the oracle cannot give shows the typed error.
"""

from __future__ import annotations

import argparse
import sys
from decimal import Decimal

__all__ = ["add_arguments", "main", "render"]


def _fmt(value: Decimal | None, places: int = 2) -> str:
    if value is None:
        return "-"
    return f"{value.quantize(Decimal(1).scaleb(-places)):,}"


def _money(value: Decimal | None) -> str:
    if value is None:
        return "-"
    text = _fmt(value)
    return f"[red]{text}[/red]" if value < 0 else text


def render(ch: object, owner: str, sub: int) -> tuple[list[object], int]:
    """The rich renderables of an account and the exit status (1 if the summary failed)."""
    from rich.table import Table
    from rich.text import Text

    from strikevm.client import Clearinghouse, StrikeRevert, from_wad

    assert isinstance(ch, Clearinghouse)
    out: list[object] = []
    mode = ch.margin_mode(owner, sub=sub)
    out.append(
        Text.from_markup(
            f"[bold]account[/bold] {owner}  sub {sub}  margin mode [bold]{mode}[/bold]"
        )
    )

    collateral = Table("collateral", "amount", title=None, box=None, pad_edge=False)
    cash = ch.cash(owner, sub=sub)
    collateral.add_row("USDC cash", _money(Decimal(cash).scaleb(-6)))
    weth = ch.collateral("WETH", owner, sub=sub)
    if weth:
        collateral.add_row("WETH", _fmt(from_wad(weth), 6))
    out.append(collateral)

    positions = ch.positions(owner, sub=sub)
    table = Table("market", "size", "entry", "mark", "value / PnL", title="positions")
    for p in positions:
        table.add_row(p.market.name, _fmt(p.size, 4), _fmt(p.entry), _fmt(p.mark, 4), _money(p.pnl))
    if not positions:
        table.add_row("(none)", "", "", "", "")
    out.append(table)

    try:
        state = ch.account(owner, sub=sub)
    except StrikeRevert as exc:
        out.append(Text(f"margin: unavailable ({exc})", style="red"))
        return out, 1
    summary = Table(
        "collateral value", "unrealized PnL", "equity", "IM", "MM", "health", title="margin (USD)"
    )
    summary.add_row(_money(state.collateral_value), _money(state.unrealized_pnl), _money(state.equity),
                    _fmt(state.initial_margin), _fmt(state.maintenance_margin), _money(state.health))  # fmt: skip
    out.append(summary)
    if state.health_wad < 0:
        status = "[red]below maintenance margin: liquidatable[/red]"
    elif state.equity_wad < state.initial_margin_wad:
        status = "[yellow]below initial margin: may only reduce[/yellow]"
    else:
        status = f"[green]healthy[/green], free collateral {_fmt(state.free_collateral)}"
    out.append(Text.from_markup(status))
    return out, 0


def main(args: argparse.Namespace) -> int:
    from rich.console import Console
    from web3 import Web3

    from strikevm.client import Clearinghouse, StrikeRevert

    console = Console()
    try:
        owner = Web3.to_checksum_address(args.address)
    except ValueError:
        print(f"error: {args.address!r} is not an address", file=sys.stderr)
        return 2
    w3 = Web3(Web3.HTTPProvider(args.rpc, request_kwargs={"timeout": 30}))
    try:
        renderables, status = render(Clearinghouse(w3), owner, args.sub)
    except StrikeRevert as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: cannot reach the node at {args.rpc}: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - web3 wraps connection failures in its own types
        if "connect" in str(exc).lower():
            print(f"error: cannot reach the node at {args.rpc}: {exc}", file=sys.stderr)
            return 1
        raise
    for item in renderables:
        console.print(item)
    return status


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("address", help="the account's owner address (0x...)")
    parser.add_argument("--sub", type=int, default=0, help="subaccount (default 0)")
    parser.add_argument("--rpc", default="http://127.0.0.1:8545", help="node JSON-RPC URL")
