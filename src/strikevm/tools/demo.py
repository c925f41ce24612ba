"""``strikevm demo``: a working derivatives market in one command.

Starts an ephemeral dev node (a ``strikevm node`` child process on a free port; ``--rpc``
uses a running one instead), then every ``--interval`` seconds:

* posts oracle updates signed by the dev publishers (accounts 7-9, relayed by 6): a seeded
  random walk of ETH/USD and BTC/USD, the USD rate and the volatility smile of the options'
  expiry;
* two market makers (dev accounts 1 and 2) quote two-sided post-only orders around the
  margin engine's marks on ETH-PERP, BTC-PERP and three ETH options (the 3000 call and put,
  the 3500 call); every tenth round each cancels its older orders on chain (``cancelAll``);
* takers (dev accounts 3, 4 and 5) fill some of those quotes with ``fill``;

and prints a compact live view: marks, the last fills and each maker's equity, margin and
health, until Ctrl-C (or ``--duration`` seconds). Everything goes through JSON-RPC with
web3.py and :mod:`strikevm.client`, as an outside program would. Tooling, not consensus
code: it reads the wall clock and a seeded pseudo-random generator.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

__all__ = ["add_arguments", "main"]

MAKERS = (1, 2)
TAKERS = (3, 4, 5)
RELAYER = 6
PUBLISHERS = (7, 8, 9)
ETH_PERP, BTC_PERP = 0, 1
OPTIONS = (5, 6, 7)  # ETH 3000 call, 3000 put, 3500 call (dev genesis order)
DEPOSIT = 500_000 * 10**6  # USDC units
CENT = 10**16  # wad


class DevNodeProcess:
    """``strikevm node --ephemeral --port 0`` as a child process; the port read from its log."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self, timeout: float = 60) -> DevNodeProcess:
        cmd = [sys.executable, "-m", "strikevm.node_cli", "--port", "0", "--ephemeral", "--quiet"]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                     stdin=subprocess.DEVNULL)  # fmt: skip
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("the dev node exited during startup:\n" + "".join(seen))
            seen.append(line)
            found = re.match(r"Listening on ([^:\s]+):(\d+)", line)
            if found:
                self.url = f"http://127.0.0.1:{found.group(2)}"
                threading.Thread(target=self._drain, daemon=True).start()
                return self
        self.stop()
        raise RuntimeError("the dev node did not start in time:\n" + "".join(seen))

    def _drain(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for _ in self.proc.stdout:
            pass

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)


@dataclass
class Quote:
    maker: int
    signed: Any  # strikevm.client.SignedOrder


@dataclass
class Market:
    """What the demo tracks of the chain: prices, quotes, fills, counters."""

    eth: Decimal
    btc: Decimal
    quotes: dict[int, list[Quote]] = field(default_factory=dict)
    fills: deque[str] = field(default_factory=lambda: deque(maxlen=5))
    fill_count: int = 0
    rejected: int = 0
    rounds: int = 0
    marks: dict[int, Decimal] = field(default_factory=dict)


def _round_price(value: int, up: bool) -> int:
    """A wad price rounded to a cent, away from the mark."""
    return -((-value) // CENT) * CENT if up else value // CENT * CENT


class Demo:
    def __init__(self, url: str, seed: int, out: Any) -> None:
        from web3 import Web3

        from strikevm.client import Clearinghouse, Oracle, dev_account

        self.w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 60}))
        self.rng = random.Random(seed)
        self.out = out
        self.publishers = [dev_account(i) for i in PUBLISHERS]
        self.oracle = Oracle(self.w3, dev_account(RELAYER))
        self.accounts = {i: Clearinghouse(self.w3, dev_account(i)) for i in (*MAKERS, *TAKERS)}
        self.names = {m.id: m.name for m in self.accounts[MAKERS[0]].markets()}
        self.expiry = self.accounts[MAKERS[0]].market(OPTIONS[0]).expiry
        self.state = Market(eth=Decimal(3000), btc=Decimal(60000))

    # -------------------------------------------------------------- setup
    def post_prices(self) -> None:
        self.oracle.publish(
            self.publishers,
            prices={"ETH/USD": self.state.eth, "BTC/USD": self.state.btc},
            rates={"USD": "0.03"},
            smiles=[("ETH/USD", self.expiry, "0.6", "-0.1", "0.2")],
        )

    def setup(self) -> None:
        self.post_prices()
        for ch in self.accounts.values():
            ch.deposit("USDC", DEPOSIT)

    # -------------------------------------------------------------- round
    def walk(self) -> None:
        for name in ("eth", "btc"):
            level: Decimal = getattr(self.state, name)
            step = Decimal(str(round(self.rng.gauss(0.0, 0.002), 6)))
            setattr(self.state, name, (level * (1 + step)).quantize(Decimal("0.01")))

    def quote(self) -> None:
        from strikevm.client import wad

        maker0 = self.accounts[MAKERS[0]]
        marks = {m: maker0.mark(m) for m in (ETH_PERP, BTC_PERP, *OPTIONS)}
        self.state.marks = {m: Decimal(v).scaleb(-18) for m, v in marks.items() if v is not None}
        self.state.quotes = {}
        expiry = int(self.w3.eth.get_block("latest")["timestamp"]) + 600
        for n, i in enumerate(MAKERS):
            ch = self.accounts[i]
            if self.state.rounds % 10 == 9:
                ch.cancel_all()  # the previous quotes are dead on chain too
            for m, mark in marks.items():
                if mark is None:
                    continue
                spread = (
                    mark * (5 + 5 * n) // 10_000
                    if m in (ETH_PERP, BTC_PERP)
                    else mark * (3 + n) // 100
                )
                spread = max(spread, CENT)
                size = {ETH_PERP: wad(2), BTC_PERP: wad("0.1")}.get(m, wad(10))
                bid = _round_price(mark - spread, up=False)
                ask = _round_price(mark + spread, up=True)
                book = self.state.quotes.setdefault(m, [])
                if bid > 0:
                    book.append(Quote(i, ch.place(m, True, size, bid, expiry=expiry, flags=1)))
                book.append(Quote(i, ch.place(m, False, size, ask, expiry=expiry, flags=1)))

    def take(self) -> None:
        from strikevm.client import StrikeRevert, from_wad

        for _ in range(self.rng.randint(1, 3)):
            taker_id = self.rng.choice(TAKERS)
            m = self.rng.choice(sorted(self.state.quotes))
            quote = self.rng.choice(self.state.quotes[m])
            order = quote.signed.order
            size = order.size * self.rng.choice((1, 2, 5)) // 10
            try:
                self.accounts[taker_id].fill(quote.signed, size)
            except StrikeRevert as exc:
                self.state.rejected += 1
                self.state.fills.append(f"rejected {self.names[m]}: {exc.name}")
                continue
            self.state.fill_count += 1
            side = "sells" if order.is_buy else "buys"
            self.state.fills.append(
                f"#{taker_id} {side} {from_wad(size)} {self.names[m]} @ {from_wad(order.limit_price)} from maker #{quote.maker}"
            )

    def round(self) -> None:
        self.walk()
        self.post_prices()
        self.quote()
        self.take()
        self.state.rounds += 1

    # --------------------------------------------------------------- view
    def view_lines(self, elapsed: float) -> list[str]:
        from strikevm.client import StrikeRevert

        s = self.state
        marks = "  ".join(
            f"{self.names[m]} {v.quantize(Decimal('0.01'))}" for m, v in s.marks.items()
        )
        lines = [
            f"[{elapsed:5.1f}s] round {s.rounds}  block {self.w3.eth.block_number}  fills {s.fill_count}"
            f"  rejected {s.rejected}  ETH/USD {s.eth}  BTC/USD {s.btc}",
            f"  marks: {marks}",
        ]
        lines += [f"  fill: {f}" for f in list(s.fills)[-3:]]
        for i in MAKERS:
            try:
                a = self.accounts[i].account()
            except StrikeRevert as exc:
                lines.append(f"  maker #{i}: {exc}")
                continue
            q = Decimal("0.01")
            lines.append(
                f"  maker #{i}: equity {a.equity.quantize(q)}  pnl {a.unrealized_pnl.quantize(q)}"
                f"  IM {a.initial_margin.quantize(q)}  MM {a.maintenance_margin.quantize(q)}"
                f"  health {a.health.quantize(q)}"
            )
        return lines


def run(args: argparse.Namespace) -> int:
    node: DevNodeProcess | None = None
    url = args.rpc
    if url is None:
        print("starting an ephemeral dev node ...", flush=True)
        node = DevNodeProcess().start()
        url = node.url
    started = time.monotonic()
    demo: Demo | None = None
    try:
        demo = Demo(url, args.seed, sys.stdout)
        print(f"dev node at {url}; depositing and posting the first prices ...", flush=True)
        demo.setup()
        started = time.monotonic()
        while True:
            tick = time.monotonic()
            demo.round()
            elapsed = time.monotonic() - started
            print("\n".join(demo.view_lines(elapsed)), flush=True)
            if args.duration and elapsed >= args.duration:
                break
            time.sleep(max(0.0, args.interval - (time.monotonic() - tick)))
    except KeyboardInterrupt:
        pass
    finally:
        if demo is not None:
            s = demo.state
            print(f"demo: {s.fill_count} fills, {s.rejected} rejected, {s.rounds} rounds in "
                  f"{time.monotonic() - started:.1f} s", flush=True)  # fmt: skip
        if node is not None:
            node.stop()
    return 0


def main(args: argparse.Namespace) -> int:
    try:
        return run(args)
    except KeyboardInterrupt:
        return 0
    except (OSError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rpc", default=None, help="use this running dev node instead of starting one"
    )
    parser.add_argument(
        "--duration", type=float, default=0, help="stop after N seconds (0: until Ctrl-C)"
    )
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between rounds")
    parser.add_argument("--seed", type=int, default=1, help="seed of the price walk and the takers")
