"""``strikevm node``: the dev node with JSON-RPC over HTTP and WebSocket.

Prints the dev accounts and their keys like anvil, logs one line per block,
and keeps its chain in an LMDB data directory (default ``~/.strikevm/<chain-id>``)
so that a restart resumes at the last committed block.

The RPC budgets (gas cap, call timeout, batch limits, trace caps, filter
expiry, log ranges, snapshots, WebSocket queues) are flags with geth's
defaults; docs/node.md ("Denial-of-service limits") lists them.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:  # the node's modules load only when it runs: other commands stay fast
    from strikevm.chain.node import DevNode
    from strikevm.chain.store import StoredBlock
    from strikevm.rpc.server import RpcServer

__all__ = ["add_arguments", "main", "run"]

log = logging.getLogger("strikevm.node")

DEFAULT_MAX_BODY = 5 * 1024 * 1024


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8545, help="port (0 picks a free one)")
    parser.add_argument(
        "--datadir", default=None, help="data directory (default ~/.strikevm/<chain-id>)"
    )
    parser.add_argument(
        "--ephemeral", action="store_true", help="keep the chain in memory only (no datadir)"
    )
    parser.add_argument("--chain-id", type=int, default=31337)
    parser.add_argument(
        "--block-time",
        type=float,
        default=None,
        help="mine every N seconds instead of on each transaction",
    )
    parser.add_argument("--gas-limit", type=int, default=30_000_000, help="block gas limit")
    parser.add_argument("--engine", choices=("fast", "reference"), default="fast")
    parser.add_argument(
        "--max-body", type=int, default=DEFAULT_MAX_BODY, help="largest request body in bytes"
    )
    parser.add_argument("--quiet", action="store_true", help="do not log each block")
    parser.add_argument(
        "--cors-origins",
        default="*",
        help="comma-separated origins browsers may call the node from ('*': any, the "
        "default as anvil; '': none)",
    )
    parser.add_argument(
        "--state-cache",
        type=int,
        default=250_000,
        help="accounts plus storage slots of the on-disk state kept in memory (0: unbounded)",
    )
    parser.add_argument(
        "--exec-workers",
        type=_workers,
        default=None,
        help="executors for a block's transactions (chain.parallel: optimistic parallel "
        "execution with the sequential result; default: the cores available, 1 = one by one)",
    )
    limits = parser.add_argument_group("denial-of-service limits (0 disables one)")
    limits.add_argument(
        "--rpc-gas-cap",
        type=_count,
        default=50_000_000,
        help="gas cap of eth_call and eth_estimateGas (default 50000000, as geth)",
    )
    limits.add_argument(
        "--rpc-evm-timeout",
        type=_seconds,
        default=5.0,
        help="seconds an eth_call, estimate or trace may run (default 5, as geth)",
    )
    limits.add_argument(
        "--rpc-batch-limit", type=_count, default=1000, help="requests per batch (default 1000)"
    )
    limits.add_argument(
        "--rpc-batch-response-limit",
        type=_count,
        default=25_000_000,
        help="bytes of a batch answer; later items answer 'response too large' (default 25 MB)",
    )
    limits.add_argument(
        "--rpc-call-workers",
        type=int,
        default=2,
        help="threads running eth_call, estimates and traces (default 2)",
    )
    limits.add_argument(
        "--rpc-filter-timeout",
        type=_seconds,
        default=300.0,
        help="seconds a filter lives without being polled (default 300, as geth)",
    )
    limits.add_argument(
        "--rpc-max-log-blocks",
        type=_count,
        default=10_000,
        help="blocks one eth_getLogs query or filter poll may scan (default 10000)",
    )
    limits.add_argument(
        "--rpc-max-log-results",
        type=_count,
        default=10_000,
        help="logs one eth_getLogs query may return (default 10000)",
    )
    limits.add_argument(
        "--trace-max-logs",
        type=_count,
        default=100_000,
        help="struct-log entries per debug trace (default 100000)",
    )
    limits.add_argument(
        "--trace-max-bytes",
        type=_count,
        default=64 * 1024 * 1024,
        help="captured stack, memory and storage per debug trace, in bytes (default 64 MiB)",
    )
    limits.add_argument(
        "--max-snapshots",
        type=_count,
        default=100,
        help="live evm_snapshot states; one more drops the oldest (default 100)",
    )
    limits.add_argument(
        "--ws-max-queue",
        type=_count,
        default=10_000,
        help="messages waiting for a WebSocket client before it is disconnected (default 10000)",
    )
    limits.add_argument(
        "--ws-max-queue-bytes",
        type=_count,
        default=64 * 1024 * 1024,
        help="bytes waiting for a WebSocket client before it is disconnected (default 64 MiB)",
    )


def _workers(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("at least 1 (1 = sequential)")
    return value


def exec_workers(args: argparse.Namespace) -> int:
    """The ``--exec-workers`` value, the available cores when not given."""
    from strikevm.chain.parallel import default_workers

    given = getattr(args, "exec_workers", None)
    return given if given is not None else default_workers()


def _count(text: str) -> int:
    value = int(text.replace("_", ""))
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError("must be a non-negative number of seconds")
    return value


def default_datadir(chain_id: int) -> Path:
    return Path.home() / ".strikevm" / str(chain_id)


def _lock(datadir: Path) -> IO[str]:
    datadir.mkdir(parents=True, exist_ok=True)
    handle = open(datadir / "LOCK", "a+")  # noqa: SIM115 - held for the process lifetime
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise SystemExit(f"error: data directory {datadir} is in use by another process") from None
    return handle


def _print_accounts(node: DevNode, out: IO[str]) -> None:
    balance = node.config.dev_balance // 10**18
    out.write("\nAvailable Accounts\n==================\n")
    for i, (address, _) in enumerate(node.accounts):
        out.write(f"({i}) 0x{address:040x} ({balance} ETH)\n")
    out.write("\nPrivate Keys\n==================\n")
    for i, (_, key) in enumerate(node.accounts):
        out.write(f"({i}) 0x{key.hex()}\n")
    out.write(f"\nMnemonic:          {node.config.mnemonic}\n")
    out.write("Derivation path:   m/44'/60'/0'/0/\n\n")


def _block_line(stored: StoredBlock, elapsed_ns: int) -> str:
    h = stored.header
    return (
        f"block {h.number} hash 0x{stored.hash.hex()} txs {len(stored.block.transactions)} "
        f"gas {h.gas_used} base_fee {h.base_fee_per_gas} time {h.timestamp} "
        f"took {elapsed_ns / 1e6:.1f}ms"
    )


async def _serve(server: RpcServer, host: str, port: int, out: IO[str]) -> None:
    runner, bound = await server.start(host, port)
    out.write(f"Listening on {host}:{bound}\n")
    out.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def run(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    """Start the node described by parsed ``args``; return the exit status."""
    from strikevm.chain.node import DevNode, NodeConfig
    from strikevm.chain.store import ChainStore, StoreMismatch
    from strikevm.rpc.server import RpcLimits, RpcServer, configure_runtime

    configure_runtime()  # recursion limit and thread stack size, before any thread starts
    out = out if out is not None else sys.stdout
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=out)
    config = NodeConfig(
        chain_id=args.chain_id,
        gas_limit=args.gas_limit,
        engine=args.engine,
        automine=args.block_time is None,
        call_gas_cap=args.rpc_gas_cap,
        max_log_blocks=args.rpc_max_log_blocks,
        max_log_results=args.rpc_max_log_results,
        max_snapshots=args.max_snapshots,
        exec_workers=exec_workers(args),
    )
    limits = RpcLimits(
        batch_items=args.rpc_batch_limit,
        batch_response_bytes=args.rpc_batch_response_limit,
        evm_timeout=args.rpc_evm_timeout,
        filter_timeout=args.rpc_filter_timeout,
        trace_max_logs=args.trace_max_logs,
        trace_max_bytes=args.trace_max_bytes,
        ws_queue_messages=args.ws_max_queue,
        ws_queue_bytes=args.ws_max_queue_bytes,
        call_workers=max(1, args.rpc_call_workers),
    )
    lock = None
    if args.ephemeral:
        store = ChainStore()
        where = "memory"
    else:
        datadir = Path(args.datadir) if args.datadir else default_datadir(args.chain_id)
        lock = _lock(datadir)
        store = ChainStore.open(os.fspath(datadir / "chaindata"), state_cache=args.state_cache or None)
        where = str(datadir)
    try:
        node = DevNode(
            store, clock=lambda: int(time.time()), config=config, ticker=time.perf_counter_ns
        )
    except StoreMismatch as exc:
        store.close()
        out.write(f"error: {exc}\n")
        return 2
    try:
        head = node.head()
        _print_accounts(node, out)
        out.write(f"Chain ID:          {config.chain_id}\n")
        out.write(f"Data directory:    {where}\n")
        out.write(
            f"Head block:        {head.number} (0x{head.hash.hex()}), "
            f"state root 0x{head.header.state_root.hex()}\n"
        )
        mining = f"every {args.block_time}s" if args.block_time else "on each transaction"
        out.write(f"Mining:            {mining}\n")
        out.write(f"Exec workers:      {config.exec_workers} (block execution)\n")
        out.flush()

        def on_block(stored: StoredBlock, elapsed_ns: int) -> None:
            if not args.quiet:
                line = _block_line(stored, elapsed_ns)
                runs = [r for r in node.last_parallel if r.mode == "parallel"]
                if runs:
                    line += (f" parallel {sum(r.committed for r in runs)}/"
                             f"{sum(r.optimistic for r in runs)} forked results committed")  # fmt: skip
                log.info(line)

        server = RpcServer(
            node,
            max_body=args.max_body,
            block_time=args.block_time,
            on_block=on_block,
            limits=limits,
            cors_origins=[o.strip() for o in args.cors_origins.split(",") if o.strip()],
        )
        asyncio.run(_serve(server, args.host, args.port, out))
    finally:
        store.close()
        if lock is not None:
            lock.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="strikevm node", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
