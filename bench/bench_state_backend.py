"""State backend benchmark: start-up time, resident memory and block speed of the lazy
LMDB-backed state (bounded cache) against the all-in-memory state.

    .venv/bin/python bench/bench_state_backend.py --accounts 1000000 --blocks 20

Builds a chain database with N accounts (flat tables and account trie written
in bulk) plus one token contract with 10,000 holders, then measures:
``ChainStore.open`` + ``load_state`` + first read; RSS after executing blocks
with the cache bound; and the time per block (200 transactions, each a value
transfer plus two token-balance slot writes, then the commit) on the lazy state
with a warm cache and on the fully loaded in-memory state.
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import time

from strikevm.chain.block import Header
from strikevm.chain.store import ChainStore
from strikevm.crypto import EMPTY_KECCAK, keccak256
from strikevm.state.commit import _encode_account, _slot_key, _uint_item, load
from strikevm.state.db import ChainDB
from strikevm.state.mpt import build
from strikevm.state.trie import EMPTY_TRIE_ROOT
from strikevm.state.world import WorldState

TOKEN = 0xEEEE << 144
HOLDERS = 10_000
TOKEN_CODE = bytes.fromhex("6000")


def rss() -> tuple[int, int]:
    """(VmRSS, RssAnon) in MiB."""
    values = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(("VmRSS:", "RssAnon:")):
                values[line.split(":")[0]] = int(line.split()[1]) // 1024
    return values.get("VmRSS", 0), values.get("RssAnon", 0)


def header(number: int):  # noqa: ANN201
    def make(root: bytes) -> Header:
        return Header(parent_hash=b"\0" * 32, state_root=root, number=number,
                      gas_limit=30_000_000, timestamp=number, base_fee_per_gas=7)

    return make


def build_db(path: str, n: int) -> None:
    """Genesis with ``n`` funded accounts and the token contract, written in bulk."""
    db = ChainDB(path, sync=False, map_size=1 << 34)
    balance = 10**20
    with db.write_batch():
        slots = sorted((_slot_key(h), _uint_item(10**9)) for h in range(1, HOLDERS + 1))
        token_root = build(db.nodes, slots)
        for holder in range(1, HOLDERS + 1):
            db.put_storage(TOKEN, holder, 10**9)
        db.put_code(keccak256(TOKEN_CODE), TOKEN_CODE)
        plain = _encode_account(0, balance, EMPTY_TRIE_ROOT, EMPTY_KECCAK)
        items = []
        for addr in range(1, n + 1):
            db.put_account(addr, plain)
            items.append((keccak256(addr.to_bytes(20, "big")), plain))
        token = _encode_account(1, 0, token_root, keccak256(TOKEN_CODE))
        db.put_account(TOKEN, token)
        items.append((keccak256(TOKEN.to_bytes(20, "big")), token))
        items.sort()
        root = build(db.nodes, items)
        db.set_state_root(root)
    db.close()
    store = ChainStore.open(path, sync=False)
    # block 0 refers to the bulk-written root; the store starts from its head
    with store._batch():
        from strikevm.chain.block import Block

        block = Block(header(0)(root))
        store._put(block, [])
    store.close()


def run_block(state: WorldState, rng: random.Random, n: int) -> None:
    for _ in range(200):
        state.begin_transaction()
        a, b = rng.randrange(1, n + 1), rng.randrange(1, n + 1)
        state.transfer(a, b, 1)
        x, y = rng.randrange(1, HOLDERS + 1), rng.randrange(1, HOLDERS + 1)
        state.sstore(TOKEN, x, state.sload(TOKEN, x) - 1)
        state.sstore(TOKEN, y, state.sload(TOKEN, y) + 1)
        state.finalize_transaction()


def measure(path: str, n: int, blocks: int, cache: int, in_memory: bool) -> None:
    start = time.perf_counter()
    store = ChainStore.open(path, sync=False, state_cache=cache)
    state: WorldState = store.load_state()
    state.balance(n // 2)
    startup = time.perf_counter() - start
    vm0, anon0 = rss()
    print(f"  start-up (open + load_state + first read): {startup * 1000:.1f} ms, "
          f"RSS {vm0} MiB (anon {anon0} MiB)")
    if in_memory:
        start = time.perf_counter()
        state = load(store.db, store.state_root)  # type: ignore[arg-type]
        print(f"  full load into memory: {time.perf_counter() - start:.1f} s")
    rng = random.Random(1)
    number = store.head_number or 0
    for _ in range(3):  # warm-up
        number += 1
        run_block(state, rng, n)
        store.commit_block(state, header(number), [], [])
    start = time.perf_counter()
    for _ in range(blocks):
        number += 1
        run_block(state, rng, n)
        store.commit_block(state, header(number), [], [])
    per_block = (time.perf_counter() - start) / blocks
    vm, anon = rss()
    label = "in-memory" if in_memory else f"lazy LMDB, cache {cache}"
    print(f"  {label}: {per_block * 1000:.1f} ms/block (200 tx), RSS {vm} MiB (anon {anon} MiB)")
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--blocks", type=int, default=20)
    parser.add_argument("--cache", type=int, default=100_000)
    parser.add_argument("--no-memory", action="store_true", help="skip the in-memory run")
    parser.add_argument("--measure", nargs=3, metavar=("DB", "N", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        db, n, mode = args.measure
        measure(db, int(n), args.blocks, args.cache, in_memory=mode == "memory")
        return
    for n in args.accounts:
        tmp = tempfile.mkdtemp(prefix="strikevm-bench-")
        try:
            start = time.perf_counter()
            build_db(tmp + "/db", n)
            print(f"{n} accounts: built in {time.perf_counter() - start:.0f} s")
            shutil.copytree(tmp + "/db", tmp + "/db2")
            # each measurement in a fresh process: its memory is the node's own, not the
            # build's residue
            for db, mode in ((tmp + "/db", "lazy"), (tmp + "/db2", "memory")):
                if mode == "memory" and args.no_memory:
                    continue
                subprocess.run([sys.executable, __file__, "--measure", db, str(n), mode,
                                "--blocks", str(args.blocks), "--cache", str(args.cache)],
                               check=True)  # fmt: skip
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
