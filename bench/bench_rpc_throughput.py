"""End-to-end RPC throughput: pre-signed ERC-20 transfers sent and mined, beside anvil.

Each node (``strikevm node`` and anvil, Cancun, chain id 31337) starts fresh on a free port.
Untimed setup: account 0 deploys OpenZeppelin's ERC20 (``contracts/examples/ERC20Token.sol``)
and gives tokens to the other senders. The transfers are signed before any node starts (the
same bytes go to both nodes). Timed: from the first ``eth_sendRawTransaction`` until every
transfer is mined. ``--clients`` HTTP/1.1 keep-alive connections send in parallel, each owning
whole senders so that nonces arrive in order; in ``wait`` mode (default) a client waits for
each receipt before its next send, as a wallet or a script does, in ``flood`` mode it sends
everything and the last receipts are awaited at the end. Afterwards every receipt is checked
(status 1, one Transfer log) and the token balances are compared with the transfers. The
result is transactions per second per node and the ratios to anvil. ``strikevm`` syncs
every block to disk before answering; ``strikevm-memory`` (``--ephemeral``) keeps the chain in
memory, as anvil does by default.

    .venv/bin/python bench/bench_rpc_throughput.py [--txs 2000] [--clients 10] [--senders 10]
        [--mode wait|flood] [--backend strikevm --backend anvil] [--recipients 200]
        [--json] [--workdir DIR]

Needs ``npm ci`` (solc-js, OpenZeppelin, anvil). Timings are for people; nothing asserts them.
anvil 1.7.1 can stop automining under a large flood (thousands of pending transactions): the
run then fails with the pool's status rather than hanging.
"""

from __future__ import annotations

import argparse
import http.client
import json
import platform
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from eth_abi import encode
from eth_utils import keccak, to_checksum_address

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "clients"))

from devnode import (  # noqa: E402
    BENCH_BACKENDS,
    CHAIN_ID,
    BackendUnavailable,
    DevNode,
    MissingDependency,
    check_backend,
    dev_accounts,
    erc20_artifact,
    start_node,
)

GWEI = 10**9
TOKEN = 10**18
SUPPLY = 10**9 * TOKEN
TRANSFER = keccak(text="transfer(address,uint256)")[:4]
TRANSFER_TOPIC = "0x" + keccak(text="Transfer(address,address,uint256)").hex()
BALANCE_OF = keccak(text="balanceOf(address)")[:4]
TRANSFER_GAS = 100_000
MINE_TIMEOUT = 600.0
STALL_S = 10.0


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def token_address() -> str:
    """Account 0's first creation (nonce 0)."""
    sender = bytes.fromhex(dev_accounts()[0].address[2:])
    return to_checksum_address(keccak(bytes([0xD6, 0x94]) + sender + b"\x80")[12:])


def recipient(index: int) -> str:
    return to_checksum_address(keccak(b"strikevm bench recipient" + index.to_bytes(4, "big"))[12:])


def sign(sender: int, nonce: int, to: str | None, data: bytes, gas: int) -> tuple[str, str]:
    tx: dict[str, Any] = {
        "chainId": CHAIN_ID,
        "nonce": nonce,
        "gas": gas,
        "maxFeePerGas": 50 * GWEI,
        "maxPriorityFeePerGas": GWEI,
        "value": 0,
        "data": data,
    }
    if to is not None:
        tx["to"] = to
    signed = dev_accounts()[sender].sign_transaction(tx)
    return "0x" + signed.raw_transaction.hex(), "0x" + signed.hash.hex()


def transfer_data(to: str, amount: int) -> bytes:
    return TRANSFER + encode(["address", "uint256"], [to, amount])


@dataclass
class Workload:
    setup: list[tuple[str, str]]  # (raw, hash), sent one by one before timing
    per_sender: list[list[tuple[str, str]]]  # the timed transfers of each sender, nonce order
    expected: dict[str, int]  # token balance of each recipient afterwards


def build_workload(txs: int, senders: int, recipients: int) -> Workload:
    artifact = erc20_artifact()
    token = token_address()
    ctor = encode(["string", "string", "uint256"], ["Bench Token", "BNCH", SUPPLY])
    deploy_data = bytes.fromhex(artifact["bytecode"][2:]) + ctor
    setup = [sign(0, 0, None, deploy_data, 3_000_000)]
    share = SUPPLY // (2 * senders)
    for i in range(1, senders):
        setup.append(sign(0, i, token, transfer_data(dev_accounts()[i].address, share), 100_000))
    nonces = [senders] + [0] * (senders - 1)
    per_sender: list[list[tuple[str, str]]] = [[] for _ in range(senders)]
    expected: dict[str, int] = {}
    for k in range(txs):
        sender = k % senders
        to = recipient(k % recipients)
        amount = 1 + k % 97
        per_sender[sender].append(
            sign(sender, nonces[sender], token, transfer_data(to, amount), TRANSFER_GAS)
        )
        nonces[sender] += 1
        expected[to] = expected.get(to, 0) + amount
    return Workload(setup, per_sender, expected)


class Rpc:
    """A keep-alive HTTP/1.1 JSON-RPC connection."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.next_id = 0

    def call(self, method: str, params: list[Any]) -> Any:
        self.next_id += 1
        body = json.dumps(
            {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}
        )
        self.conn.request("POST", "/", body, {"Content-Type": "application/json"})
        reply = json.loads(self.conn.getresponse().read())
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def wait_receipt(self, tx_hash: str, deadline: float) -> dict[str, Any]:
        while True:
            receipt = self.call("eth_getTransactionReceipt", [tx_hash])
            if receipt is not None:
                return receipt
            if time.monotonic() > deadline:
                raise RuntimeError(f"transaction {tx_hash} not mined in time")
            time.sleep(0.005)

    def close(self) -> None:
        self.conn.close()


@dataclass
class Result:
    backend: str
    mode: str
    txs: int
    clients: int
    senders: int
    send_s: float
    total_s: float
    tx_per_s: float
    blocks: int
    ok: bool


def _client(port: int, queues: list[list[tuple[str, str]]], wait: bool, errors: list[str]) -> None:
    """Send the queues round-robin; with ``wait``, each transaction waits for its receipt."""
    rpc = Rpc(port)
    deadline = time.monotonic() + MINE_TIMEOUT
    try:
        for round_ in range(max(len(q) for q in queues)):
            for queue in queues:
                if round_ < len(queue):
                    raw, tx_hash = queue[round_]
                    returned = rpc.call("eth_sendRawTransaction", [raw])
                    if returned.lower() != tx_hash:
                        errors.append(f"eth_sendRawTransaction returned {returned}, not {tx_hash}")
                        return
                    if wait:
                        rpc.wait_receipt(tx_hash, deadline)
    except Exception as exc:  # reported with the result, never swallowed
        errors.append(repr(exc))
    finally:
        rpc.close()


def wait_mined(rpc: Rpc, backend: str, hashes: list[str]) -> None:
    """Wait for each receipt; fail if the node mines nothing for STALL_S with receipts missing."""
    last_block, last_change = -1, time.monotonic()
    for tx_hash in hashes:
        while rpc.call("eth_getTransactionReceipt", [tx_hash]) is None:
            block = int(rpc.call("eth_blockNumber", []), 16)
            now = time.monotonic()
            if block != last_block:
                last_block, last_change = block, now
            elif now - last_change > STALL_S:
                pool = rpc.call("txpool_status", []) if backend == "anvil" else "?"
                raise RuntimeError(
                    f"{backend} stopped mining at block {block} with transactions unmined "
                    f"(txpool_status {pool}); try --mode wait or fewer --txs"
                )
            time.sleep(0.005)


def measure(node: DevNode, work: Workload, clients: int, mode: str) -> Result:
    rpc = Rpc(node.port)
    deadline = time.monotonic() + MINE_TIMEOUT
    for raw, tx_hash in work.setup:
        rpc.call("eth_sendRawTransaction", [raw])
        receipt = rpc.wait_receipt(tx_hash, deadline)
        if int(receipt["status"], 16) != 1:
            raise RuntimeError(f"{node.backend}: setup transaction {tx_hash} failed")
    start_block = int(rpc.call("eth_blockNumber", []), 16)

    senders = len(work.per_sender)
    groups = [[work.per_sender[s] for s in range(c, senders, clients)] for c in range(clients)]
    errors: list[str] = []
    threads = [
        threading.Thread(target=_client, args=(node.port, group, mode == "wait", errors))
        for group in groups
        if group
    ]
    t0 = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    t_sent = time.perf_counter()
    if errors:
        raise RuntimeError(f"{node.backend}: sending failed: {errors[0]}")
    wait_mined(rpc, node.backend, [queue[-1][1] for queue in work.per_sender if queue])
    t_end = time.perf_counter()

    # Untimed checks: every transfer succeeded with one Transfer log; balances add up.
    ok = True
    for queue in work.per_sender:
        for _raw, tx_hash in queue:
            receipt = rpc.call("eth_getTransactionReceipt", [tx_hash])
            logs = receipt["logs"] if receipt else []
            if (
                not receipt
                or int(receipt["status"], 16) != 1
                or len(logs) != 1
                or logs[0]["topics"][0] != TRANSFER_TOPIC
            ):
                _log(f"{node.backend}: transfer {tx_hash} failed: {receipt}")
                ok = False
                break
    token = token_address()
    for address, amount in work.expected.items():
        data = "0x" + (BALANCE_OF + encode(["address"], [address])).hex()
        if int(rpc.call("eth_call", [{"to": token, "data": data}, "latest"]), 16) != amount:
            _log(f"{node.backend}: token balance of {address} is not {amount}")
            ok = False
            break
    blocks = int(rpc.call("eth_blockNumber", []), 16) - start_block
    rpc.close()
    total = t_end - t0
    txs = sum(len(q) for q in work.per_sender)
    return Result(
        node.backend, mode, txs, clients, senders, t_sent - t0, total, txs / total, blocks, ok
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--txs", type=int, default=2000, help="timed transfers (default 2000)")
    parser.add_argument("--clients", type=int, default=10, help="parallel HTTP connections")
    parser.add_argument(
        "--mode",
        choices=("wait", "flood"),
        default="wait",
        help="wait: each client waits for a receipt before its next send (default); "
        "flood: send everything, then wait for the last receipts",
    )
    parser.add_argument("--senders", type=int, default=10, help="sending accounts (1-10)")
    parser.add_argument("--recipients", type=int, default=200, help="distinct recipients")
    parser.add_argument(
        "--backend",
        action="append",
        choices=BENCH_BACKENDS,
        help="default: all three (strikevm on disk, strikevm in memory, anvil)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per node on stdout")
    parser.add_argument("--workdir", type=Path, help="keep node logs and data here (default: temp)")
    args = parser.parse_args(argv)
    if not 1 <= args.senders <= 10 or args.txs < 1 or args.clients < 1 or args.recipients < 1:
        parser.error("need 1 <= --senders <= 10 and positive --txs, --clients, --recipients")
    backends = args.backend or list(BENCH_BACKENDS)
    clients = min(args.clients, args.senders)  # a client owns whole senders

    runnable = []
    for backend in backends:
        try:
            check_backend(backend)
            runnable.append(backend)
        except BackendUnavailable as exc:
            _log(f"{backend}: not measured: {exc}")
        except MissingDependency as exc:
            _log(str(exc))
            return 2
    if not runnable:
        return 2

    _log(f"signing {args.txs} transfers from {args.senders} senders ...")
    work = build_workload(args.txs, args.senders, args.recipients)
    results = []
    for backend in runnable:
        _log(f"{backend}: starting")
        workdir = args.workdir / backend if args.workdir else None
        try:
            with start_node(backend, workdir) as node:
                result = measure(node, work, clients, args.mode)
        except RuntimeError as exc:
            _log(f"{backend}: FAILED: {exc}")
            result = Result(backend, args.mode, args.txs, clients, args.senders, 0, 0, 0, 0, False)
        else:
            _log(f"{backend}: {result.tx_per_s:.0f} tx/s ({result.txs} in {result.total_s:.2f} s)")
        results.append(result)

    if args.json:
        for result in results:
            print(json.dumps(asdict(result)))
    else:
        print(
            f"RPC throughput, ERC-20 transfers via eth_sendRawTransaction ({platform.machine()}, "
            f"mode {args.mode}, {clients} clients, {args.senders} senders)"
        )
        print(
            f"{'node':16} {'txs':>6} {'send s':>8} {'total s':>8} {'tx/s':>8} {'blocks':>7}  check"
        )
        for r in results:
            print(
                f"{r.backend:16} {r.txs:6d} {r.send_s:8.2f} {r.total_s:8.2f} {r.tx_per_s:8.0f} "
                f"{r.blocks:7d}  {'ok' if r.ok else 'FAILED'}"
            )
        by_name = {r.backend: r for r in results}
        anvil = by_name.get("anvil")
        for name in ("strikevm", "strikevm-memory"):
            mine = by_name.get(name)
            if anvil is not None and anvil.ok and mine is not None and mine.ok:
                print(f"{name} / anvil: {mine.tx_per_s / anvil.tx_per_s:.2f}x")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
