"""State-root benchmark: cost of a block's incremental commit as the state grows.

    .venv/bin/python bench/bench_state_root.py                      # 10k, 100k, 1M accounts
    .venv/bin/python bench/bench_state_root.py --sizes 10000,100000 --blocks 50
    .venv/bin/python bench/bench_state_root.py --no-scratch         # skip the full recompute

For each size it builds a world state (one account in a thousand is a contract
with 100 storage slots), commits it in bulk to a fresh LMDB data directory,
then runs blocks that each write about ``--touched`` accounts and slots through
the journaled world-state API (transfers, new accounts, storage writes, some
zeroing). Per block it measures the CPU time of ``StateCommitter.commit`` (the
trie update and the writes into the batch; CPU time, so that other work on the
machine does not blur it) and the wall time of the whole durable write batch
(LMDB commit with fsync), and counts trie nodes read from and written to the store. The cycle
collector is frozen over the loaded state first (``gc.freeze()``), as a
long-running node would do, so that its full passes over millions of
long-lived objects do not land in random blocks. "scratch" recomputes the root
from scratch (``strikevm.state.root.state_root``) once, for comparison; "load"
rebuilds the world state from the flat tables as a restart does. Timings are
for people, never asserted.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from strikevm.crypto import keccak256
from strikevm.state.account import Account
from strikevm.state.commit import StateCommitter, load
from strikevm.state.db import ChainDB, LMDBNodeStore
from strikevm.state.root import state_root
from strikevm.state.world import WorldState

CONTRACT_EVERY = 1000
SLOTS_PER_CONTRACT = 100


class CountingStore:
    """Node store wrapper counting reads and writes."""

    def __init__(self, inner: LMDBNodeStore) -> None:
        self.inner = inner
        self.reads = 0
        self.writes = 0

    def get(self, key: bytes) -> bytes | None:
        self.reads += 1
        return self.inner.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        self.writes += 1
        self.inner.put(key, value)


def _address(i: int) -> int:
    return int.from_bytes(keccak256(i.to_bytes(8, "big"))[:20], "big")


def build_state(size: int, rng: random.Random) -> tuple[WorldState, list[int], list[int]]:
    accounts: dict[int, Account] = {}
    eoas: list[int] = []
    contracts: list[int] = []
    code = bytes.fromhex("6080604052348015600f57600080fd5b50")
    for i in range(size):
        addr = _address(i)
        if i % CONTRACT_EVERY == 0:
            storage = {slot: rng.randrange(1, 2**128) for slot in range(SLOTS_PER_CONTRACT)}
            accounts[addr] = Account(1, rng.randrange(10**18), code, storage)
            contracts.append(addr)
        else:
            accounts[addr] = Account(rng.randrange(100), rng.randrange(10**21))
            eoas.append(addr)
    return WorldState(accounts), eoas, contracts


def run_block(
    state: WorldState, rng: random.Random, eoas: list[int], contracts: list[int], touched: int
) -> None:
    """About ``touched`` written accounts and slots, in transactions of the world API."""
    transfers = touched * 3 // 10  # two accounts each
    fresh = touched // 10
    slot_writes = touched - 2 * transfers - fresh
    for _ in range(transfers):
        state.begin_transaction()
        sender, recipient = rng.choice(eoas), rng.choice(eoas)
        amount = rng.randrange(state.balance(sender) + 1)
        state.increment_nonce(sender)
        state.transfer(sender, recipient, amount)
        state.finalize_transaction()
    state.begin_transaction()
    for _ in range(fresh):
        addr = rng.randrange(2**160)
        state.add_balance(addr, 10**18)
        eoas.append(addr)
    state.finalize_transaction()
    state.begin_transaction()
    for _ in range(slot_writes):
        contract = rng.choice(contracts)
        slot = rng.randrange(SLOTS_PER_CONTRACT * 2)  # half new slots
        value = 0 if rng.random() < 0.2 else rng.randrange(2**256)
        state.sstore(contract, slot, value)
    state.finalize_transaction()


def bench_size(size: int, blocks: int, touched: int, scratch: bool, workdir: Path) -> dict:
    rng = random.Random(size)
    t0 = time.perf_counter()
    state, eoas, contracts = build_state(size, rng)
    t_state = time.perf_counter() - t0
    path = workdir / f"chain-{size}"
    with ChainDB(path, map_size=max(1 << 30, size * 4096)) as db:
        store = CountingStore(db.nodes)
        committer = StateCommitter(db, store=store)
        t0 = time.perf_counter()
        genesis = committer.commit_all(state)
        t_bulk = time.perf_counter() - t0
        commit_ms: list[float] = []
        batch_ms: list[float] = []
        reads: list[int] = []
        writes: list[int] = []
        gc.collect()
        gc.freeze()  # the loaded state is long-lived: keep full collections off it
        for number in range(blocks):
            run_block(state, rng, eoas, contracts, touched)
            store.reads = store.writes = 0
            t0 = time.perf_counter()
            with db.write_batch():
                t1 = time.process_time()
                committer.commit(state)
                commit_ms.append((time.process_time() - t1) * 1e3)
                db.set_head(number, b"\x00" * 32)
            batch_ms.append((time.perf_counter() - t0) * 1e3)
            reads.append(store.reads)
            writes.append(store.writes)
        last = committer.root
        scratch_s = None
        if scratch:
            t0 = time.perf_counter()
            assert state_root(state) == last, "incremental root differs from the reference"
            scratch_s = time.perf_counter() - t0
        disk = sum(f.stat().st_size for f in path.iterdir())
        del state
        gc.unfreeze()
        gc.collect()
        t0 = time.perf_counter()
        loaded = load(db, last)
        load_s = time.perf_counter() - t0
        assert len(loaded.accounts) == size + blocks * (touched // 10)
    return {
        "size": size,
        "state_s": t_state,
        "bulk_s": t_bulk,
        "genesis": genesis,
        "commit_med": statistics.median(commit_ms),
        "commit_max": max(commit_ms),
        "batch_med": statistics.median(batch_ms),
        "reads": statistics.mean(reads),
        "writes": statistics.mean(writes),
        "scratch_s": scratch_s,
        "disk_mb": disk / 2**20,
        "load_s": load_s,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--blocks", type=int, default=50)
    parser.add_argument("--touched", type=int, default=200)
    parser.add_argument("--no-scratch", action="store_true")
    parser.add_argument("--dir", default=None, help="where the data directories go")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for size in sizes:
            print(f"{size} accounts ...", file=sys.stderr, flush=True)
            rows.append(bench_size(size, args.blocks, args.touched, not args.no_scratch, Path(tmp)))
    print(
        f"{args.blocks} blocks per size, ~{args.touched} written accounts+slots per block; "
        "commit CPU time and batch wall time in ms, others in s"
    )
    header = (
        f"{'accounts':>9} | {'bulk build':>10} | {'cpu med':>10} | {'cpu max':>10} | "
        f"{'batch med':>9} | {'nodes rd':>8} | {'nodes wr':>8} | {'scratch':>9} | {'load':>7} | "
        f"{'db MiB':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        scratch = f"{r['scratch_s']:8.1f}s" if r["scratch_s"] is not None else f"{'-':>9}"
        print(
            f"{r['size']:>9} | {r['bulk_s']:9.1f}s | {r['commit_med']:10.1f} | "
            f"{r['commit_max']:10.1f} | {r['batch_med']:9.1f} | {r['reads']:8.0f} | "
            f"{r['writes']:8.0f} | {scratch} | {r['load_s']:6.1f}s | {r['disk_mb']:6.0f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
