"""``strikevm node``: the dev node with JSON-RPC over HTTP and WebSocket.

Prints the dev accounts and their keys like anvil, logs one line per block,
and keeps its chain in an LMDB data directory (default ``~/.strikevm/<chain-id>``)
so that a restart resumes at the last committed block.
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
    from strikevm.rpc.server import RpcServer

    out = out if out is not None else sys.stdout
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=out)
    config = NodeConfig(
        chain_id=args.chain_id,
        gas_limit=args.gas_limit,
        engine=args.engine,
        automine=args.block_time is None,
    )
    lock = None
    if args.ephemeral:
        store = ChainStore()
        where = "memory"
    else:
        datadir = Path(args.datadir) if args.datadir else default_datadir(args.chain_id)
        lock = _lock(datadir)
        store = ChainStore.open(os.fspath(datadir / "chaindata"))
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
        out.flush()

        def on_block(stored: StoredBlock, elapsed_ns: int) -> None:
            if not args.quiet:
                log.info(_block_line(stored, elapsed_ns))

        server = RpcServer(
            node, max_body=args.max_body, block_time=args.block_time, on_block=on_block
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
