"""``strikevm oracle``: publish signed oracle updates to a node and show a feed.

``strikevm oracle publish --feed ETH/USD --price 3000.5 --dev`` signs one update per
publisher key (``--dev``: the dev chain's publishers, dev accounts 7-9; or ``--key-file``
with one hex key per line) and relays them in one ``updatePrices`` transaction sent by a
relayer (dev account 6 by default). ``--follow`` posts a deterministic random walk every
``--interval`` seconds so a dev chain has live prices (``--seed`` picks the walk).
``--rate`` posts a rate feed; ``--expiry/--atm/--skew/--convexity`` a volatility smile.

``strikevm oracle show ETH/USD`` prints the feed's configuration, each publisher's
latest value and age, and the aggregate, EMA and TWAP (or the error a read gives).

This is tooling, not consensus code: it reads the wall clock and, in ``--follow``
mode, a seeded pseudo-random walk.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import urllib.request
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from strikevm.chain.transaction import encode_transaction, sign_transaction
from strikevm.crypto import keccak256, private_key_to_address
from strikevm.finance.oracle import ERROR_BY_SELECTOR, encode_bytes_array
from strikevm.finance.oracle_layout import (
    KIND_RATE,
    ORACLE_ADDRESS,
    feed_id,
    price_update,
    rate_update,
    volatility_update,
)

__all__ = ["add_arguments", "main"]

DEV_PUBLISHERS = (7, 8, 9)
DEV_RELAYER = 6


class RpcFailure(RuntimeError):
    """A JSON-RPC call answered with an error."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error.get("message", "error"))
        self.error = error


class Client:
    """A minimal JSON-RPC client over HTTP (standard library only)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._id = 0

    def call(self, method: str, *params: Any) -> Any:
        self._id += 1
        body = json.dumps({"jsonrpc": "2.0", "id": self._id, "method": method, "params": list(params)})
        request = urllib.request.Request(self.url, body.encode(), {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - user-given URL
            answer = json.loads(response.read())
        if "error" in answer:
            raise RpcFailure(answer["error"])
        return answer["result"]

    def eth_call(self, signature: str, *args: int) -> bytes:
        data = keccak256(signature.encode())[:4] + b"".join(
            (a % (1 << 256)).to_bytes(32, "big") for a in args
        )
        out = self.call("eth_call", {"to": f"0x{ORACLE_ADDRESS:040x}", "data": "0x" + data.hex()}, "latest")
        return bytes.fromhex(out[2:])


def _words(raw: bytes) -> list[int]:
    return [int.from_bytes(raw[i : i + 32], "big") for i in range(0, len(raw), 32)]


def _scaled(text: str, decimals: int, what: str) -> int:
    try:
        value = Decimal(text) * (Decimal(10) ** decimals)
    except InvalidOperation:
        raise SystemExit(f"error: {what} {text!r} is not a number") from None
    if value != value.to_integral_value():
        raise SystemExit(f"error: {what} {text} has more than {decimals} decimals")
    return int(value)


def _feed(name: str) -> int:
    if name.startswith("0x") and len(name) == 66:
        return int(name, 16)
    return feed_id(name)


def _keys(args: argparse.Namespace) -> list[bytes]:
    keys: list[bytes] = []
    if args.dev:
        from strikevm.chain.node import dev_accounts

        accounts = dev_accounts()
        keys.extend(accounts[i][1] for i in DEV_PUBLISHERS)
    for path in args.key_file or []:
        for line in Path(path).read_text().split():
            keys.append(bytes.fromhex(line.removeprefix("0x")))
    if not keys:
        raise SystemExit("error: give publisher keys with --dev or --key-file")
    return keys


def _relayer(args: argparse.Namespace) -> bytes:
    if args.relayer_key:
        return bytes.fromhex(args.relayer_key.removeprefix("0x"))
    from strikevm.chain.node import dev_accounts

    return dev_accounts()[args.relayer_dev][1]


def _relay(client: Client, relayer: bytes, updates: list[bytes], chain_id: int) -> dict[str, Any]:
    sender = "0x" + private_key_to_address(relayer).hex()
    data = keccak256(b"updatePrices(bytes[])")[:4] + encode_bytes_array(updates)
    nonce = int(client.call("eth_getTransactionCount", sender, "pending"), 16)
    base = int(client.call("eth_getBlockByNumber", "latest", False)["baseFeePerGas"], 16)
    tx = sign_transaction(
        relayer, tx_type=2, chain_id=chain_id, nonce=nonce, gas_limit=150_000 + 60_000 * len(updates),
        to=ORACLE_ADDRESS, data=data, max_priority_fee_per_gas=10**9, max_fee_per_gas=2 * base + 10**9,
    )  # fmt: skip
    tx_hash = client.call("eth_sendRawTransaction", "0x" + encode_transaction(tx).hex())
    for _ in range(300):
        receipt = client.call("eth_getTransactionReceipt", tx_hash)
        if receipt is not None:
            return receipt  # type: ignore[no-any-return]
        time.sleep(0.1)
    raise SystemExit(f"error: transaction {tx_hash} was not mined")


def _publish_time(client: Client) -> int:
    latest = int(client.call("eth_getBlockByNumber", "latest", False)["timestamp"], 16)
    return max(int(time.time()), latest)


def _explain(exc: RpcFailure) -> str:
    data = exc.error.get("data")
    if isinstance(data, str) and len(data) >= 10:
        name = ERROR_BY_SELECTOR.get(bytes.fromhex(data[2:10]))
        if name:
            return name
    return str(exc.error.get("message"))


def publish(args: argparse.Namespace) -> int:
    client = Client(args.rpc)
    chain_id = int(client.call("eth_chainId"), 16)
    feed = _feed(args.feed)
    try:
        config = _words(client.eth_call("getFeed(bytes32)", feed))
    except RpcFailure as exc:
        raise SystemExit(f"error: feed {args.feed}: {_explain(exc)}") from None
    kind, decimals = config[0], config[2]
    keys = _keys(args)
    relayer = _relayer(args)
    walk = random.Random(args.seed)
    count = 0
    quantum = Decimal(1) / (Decimal(10) ** decimals)
    level = Decimal(args.price) if args.price is not None else None
    last = 0
    while True:
        t = _publish_time(client)
        while t <= last:  # one update per publisher per second: publish times must increase
            time.sleep(0.05)
            t = _publish_time(client)
        last = t
        updates = []
        for i, key in enumerate(keys):
            if args.expiry is not None:
                updates.append(volatility_update(
                    key, feed, args.expiry, _scaled(args.atm, 18, "atm"), _scaled(args.skew, 18, "skew"),
                    _scaled(args.convexity, 18, "convexity"), t, chain_id,
                ))  # fmt: skip
            elif kind == KIND_RATE:
                if args.rate is None:
                    raise SystemExit("error: a rate feed needs --rate")
                updates.append(rate_update(key, feed, _scaled(args.rate, 18, "rate"), t, chain_id))
            else:
                if level is None:
                    raise SystemExit("error: a price feed needs --price")
                jitter = Decimal(1) + Decimal(i - len(keys) // 2) / Decimal(10_000) if args.follow else Decimal(1)
                price = (level * jitter).quantize(quantum)
                updates.append(price_update(
                    key, feed, _scaled(str(price), decimals, "price"), _scaled(args.conf, decimals, "conf"),
                    t, chain_id,
                ))  # fmt: skip
        receipt = _relay(client, relayer, updates, chain_id)
        ok = receipt["status"] == "0x1"
        print(
            f"{args.feed}: {len(updates)} update(s) at {t} in block {int(receipt['blockNumber'], 16)} "
            f"{'ok' if ok else 'REVERTED'}" + (f" price {level}" if level is not None and kind != KIND_RATE else ""),
            flush=True,
        )
        count += 1
        if not args.follow or (args.count and count >= args.count):
            return 0 if ok else 1
        if level is not None:
            step = Decimal(str(round(walk.gauss(0.0, args.step), 8)))
            level = max((level * (Decimal(1) + step)).quantize(quantum), quantum)
        time.sleep(args.interval)


def show(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    client = Client(args.rpc)
    feed = _feed(args.feed)
    console = Console()
    try:
        kind, quorum, decimals, deviation, staleness, ema_window, capacity, count = _words(
            client.eth_call("getFeed(bytes32)", feed)
        )
    except RpcFailure as exc:
        console.print(f"{args.feed}: {_explain(exc)}")
        return 1
    now = int(client.call("eth_getBlockByNumber", "latest", False)["timestamp"], 16)
    unit = Decimal(10) ** (18 if kind == KIND_RATE else decimals)
    console.print(
        f"[bold]{args.feed}[/bold] 0x{feed:064x}\n"
        f"kind {'rate' if kind == KIND_RATE else 'price'}, quorum {quorum} of {count}, decimals {decimals}, "
        f"staleness {staleness} s, max deviation {deviation / 100}% per block, EMA window {ema_window} s, "
        f"TWAP ring {capacity}"
    )
    table = Table("publisher", "value", "confidence", "publish time", "age (s)", "fresh")
    publishers = _words(client.eth_call("getPublishers(bytes32)", feed))[2:]
    for p in publishers:
        value, conf, t = _words(client.eth_call("getPublisherPrice(bytes32,address)", feed, p))
        if value >= 1 << 255:
            value -= 1 << 256
        fresh = bool(t) and t + staleness >= now
        table.add_row(f"0x{p:040x}", str(Decimal(value) / unit), str(Decimal(conf) / unit),
                      str(t), str(now - t) if t else "-", "yes" if fresh else "no")  # fmt: skip
    console.print(table)
    reads = [("aggregate", "getRate(bytes32)" if kind == KIND_RATE else "getPrice(bytes32)", (feed,))]
    if kind != KIND_RATE:
        reads += [("EMA", "getEmaPrice(bytes32)", (feed,)), ("TWAP 5 min", "getTwap(bytes32,uint256)", (feed, 300))]
    for label, signature, call_args in reads:
        try:
            out = _words(client.eth_call(signature, *call_args))
        except RpcFailure as exc:
            console.print(f"{label}: [red]{_explain(exc)}[/red]")
            continue
        value = out[0] - (1 << 256) if out[0] >= 1 << 255 else out[0]
        extra = f" ± {Decimal(out[1]) / unit} at {out[2]}" if len(out) == 3 else ""
        console.print(f"{label}: {Decimal(value) / unit}{extra}")
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="oracle_command", required=True)
    pub = sub.add_parser("publish", help="sign and relay updates for a feed")
    pub.add_argument("--rpc", default="http://127.0.0.1:8545")
    pub.add_argument("--feed", required=True, help="feed name (ETH/USD) or 0x-prefixed id")
    pub.add_argument("--price", help="price in the quote unit (decimal)")
    pub.add_argument("--conf", default="0", help="confidence in the quote unit (decimal)")
    pub.add_argument("--rate", help="rate a year for a rate feed (0.05 = 5%%)")
    pub.add_argument("--expiry", type=int, help="post a volatility smile for this expiry (unix s)")
    pub.add_argument("--atm", default="0.5", help="ATM volatility (0.5 = 50%%)")
    pub.add_argument("--skew", default="0", help="smile skew per unit of log-moneyness")
    pub.add_argument("--convexity", default="0", help="smile convexity")
    pub.add_argument("--dev", action="store_true", help="sign as the dev chain's publishers (dev accounts 7-9)")
    pub.add_argument("--key-file", action="append", help="file with publisher private keys (hex, one per line)")
    pub.add_argument("--relayer-key", help="hex private key that sends the transaction")
    pub.add_argument("--relayer-dev", type=int, default=DEV_RELAYER, help="dev account that relays")
    pub.add_argument("--follow", action="store_true", help="keep posting a random walk")
    pub.add_argument("--interval", type=float, default=2.0, help="seconds between posts with --follow")
    pub.add_argument("--step", type=float, default=0.002, help="random-walk step (relative st. dev.)")
    pub.add_argument("--seed", type=int, default=1, help="random-walk seed")
    pub.add_argument("--count", type=int, default=0, help="stop after N posts (0: never)")
    sh = sub.add_parser("show", help="show a feed's publishers and aggregate")
    sh.add_argument("feed", help="feed name (ETH/USD) or 0x-prefixed id")
    sh.add_argument("--rpc", default="http://127.0.0.1:8545")


def main(args: argparse.Namespace) -> int:
    try:
        if args.oracle_command == "publish":
            return publish(args)
        return show(args)
    except RpcFailure as exc:
        print(f"error: {_explain(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        print(f"error: cannot reach the node at {args.rpc}: {exc}", file=sys.stderr)
        return 1
