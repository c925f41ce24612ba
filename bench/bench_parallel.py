"""Sequential against optimistic parallel block execution, in the same run.

Workloads (one block each, transactions pre-signed, a fresh copy of the state per run):

- ``eth``: independent ETH transfers (distinct senders, distinct fresh recipients);
- ``erc20``: independent ERC-20 transfers (distinct senders and recipients, one token);
- ``swaps``: constant-product swaps on 100 pools, a random pool per transaction;
- ``dependent``: every transaction increments one hot counter (fully dependent);
- ``mix``: 50/50 independent ETH transfers and hot-counter increments;
- ``pricing``: independent calls of the native Black-Scholes contract (StrikePricing),
  the heavy-work independent case.

For each workload and block size: the sequential time, then the parallel time with
each worker count, the speedup (sequential / parallel), the conflict rate (forked
results re-executed) and the mode the decision rule took. Every parallel run's state
effects (every written account and slot) and receipts are checked against the sequential run's.

    .venv/bin/python bench/bench_parallel.py --sizes 100 1000 --workers 1 2

Needs node and solc-js (``npm ci``) to compile tests/chain/contracts/ParallelFixtures.sol.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from strikevm.chain.parallel import ParallelPolicy
from strikevm.chain.pipeline import BlockBuilder
from strikevm.chain.receipt import receipts_root
from strikevm.chain.transaction import Transaction, sign_transaction
from strikevm.crypto import keccak256, private_key_to_address
from strikevm.finance.system import default_registry
from strikevm.state.account import Account
from strikevm.state.world import WorldState
from strikevm.vm.env import BlockEnv

ROOT = Path(__file__).resolve().parents[1]
SOURCE = "tests/chain/contracts/ParallelFixtures.sol"
TOKEN = 0x70C0
COUNTER = 0xC0C0
POOL0 = 0x900000
COINBASE = 0xC0FFEE
PRICING = 0x53540001
SYSTEM = default_registry()
CHAIN_ID = 1


def deployed_code() -> dict[str, bytes]:
    proc = subprocess.run(
        ["node", "contracts/compile.js", SOURCE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    out = json.loads(proc.stdout)["contracts"][SOURCE]
    return {name: bytes.fromhex(c["evm"]["deployedBytecode"]["object"]) for name, c in out.items()}


def mapping_slot(key: int, slot: int) -> int:
    return int.from_bytes(keccak256(key.to_bytes(32, "big") + slot.to_bytes(32, "big")), "big")


def sel(signature: str) -> bytes:
    return keccak256(signature.encode())[:4]


def word(value: int) -> bytes:
    return value.to_bytes(32, "big")


class Workload:
    def __init__(self, n: int, code: dict[str, bytes], seed: int = 1) -> None:
        self.n = n
        self.keys = [(0x1000_0000 + i).to_bytes(32, "big") for i in range(1, n + 1)]
        self.addrs = [int.from_bytes(private_key_to_address(k), "big") for k in self.keys]
        accounts: dict[int, Account] = {a: Account(balance=10**24) for a in self.addrs}
        accounts[COINBASE] = Account(balance=1)
        token = Account(nonce=1, code=code["ParToken"])
        for a in self.addrs:
            token.storage[mapping_slot(a, 0)] = 10**24
        accounts[TOKEN] = token
        accounts[COUNTER] = Account(nonce=1, code=code["ParCounter"])
        reserves = 10**24 | (10**24 << 112)
        for p in range(100):
            pool = Account(nonce=1, code=code["ParPair"], storage={0: reserves})
            for a in self.addrs:
                pool.storage[mapping_slot(a, 1)] = 10**22
                pool.storage[mapping_slot(a, 2)] = 10**22
            accounts[POOL0 + p] = pool
        self.state = WorldState(accounts)
        self.rng = random.Random(seed)

    def tx(
        self, i: int, to: int, data: bytes = b"", value: int = 0, gas: int = 100_000
    ) -> Transaction:
        return sign_transaction(self.keys[i], tx_type=2, chain_id=CHAIN_ID, nonce=0, gas_limit=gas,
                                to=to, data=data, value=value, max_priority_fee_per_gas=1,
                                max_fee_per_gas=100)  # fmt: skip

    def eth(self, i: int) -> Transaction:
        return self.tx(i, 0xBEEF_0000_0000 + i, value=10**15, gas=21_000)

    def erc20(self, i: int) -> Transaction:
        data = sel("transfer(address,uint256)") + word(0xE20_0000_0000 + i) + word(10**18)
        return self.tx(i, TOKEN, data)

    def swap(self, i: int) -> Transaction:
        pool = POOL0 + self.rng.randrange(100)
        data = sel("swap(bool,uint256)") + word(self.rng.randrange(2)) + word(10**18)
        return self.tx(i, pool, data, gas=150_000)

    def pricing(self, i: int) -> Transaction:
        data = sel("blackScholesGreeks(bool,uint256,uint256,uint256,uint256,int256,int256)")
        args = (i & 1, 3000 * 10**18, (2000 + i % 2000) * 10**18, 6 * 10**17,
                30 * 86_400, 5 * 10**16, 0)  # fmt: skip
        data += b"".join(word(a) for a in args)
        return self.tx(i, PRICING, data, gas=1_000_000)

    def counter(self, i: int) -> Transaction:
        return self.tx(i, COUNTER, sel("increment()"))

    def block(self, kind: str) -> list[Transaction]:
        make = {"eth": self.eth, "erc20": self.erc20, "swaps": self.swap,
                "dependent": self.counter, "pricing": self.pricing}  # fmt: skip
        if kind == "mix":
            return [
                self.eth(i) if self.rng.random() < 0.5 else self.counter(i) for i in range(self.n)
            ]
        return [make[kind](i) for i in range(self.n)]


def effects(state: WorldState) -> tuple[Any, ...]:
    """What the block wrote, canonically (the state root of a 2M-slot state takes minutes;
    the pre-state is the same, so equal effects mean equal states)."""
    written, slots, deleted = state.take_dirty()
    out = []
    for addr in sorted(written):
        acct = state.accounts.get(addr)
        if acct is None:
            out.append((addr, None))
            continue
        values = tuple(sorted((k, acct.storage.get(k, 0) or 0) for k in slots.get(addr, ())))
        out.append((addr, acct.nonce, acct.balance, acct.code_hash, values))
    return tuple(out), tuple(sorted(deleted))


def run(
    state: WorldState, txs: list[Transaction], workers: int, **options: Any
) -> tuple[float, Any, Any]:
    env = BlockEnv(number=1, timestamp=1_800_000_000, base_fee=7, chain_id=CHAIN_ID,
                   gas_limit=10**12, coinbase=COINBASE)  # fmt: skip
    builder = BlockBuilder(state, env, system=SYSTEM)
    builder.begin()
    t0 = time.perf_counter()
    if workers == 0:  # the plain sequential loop, with the collector held off as the
        gc.freeze()  # parallel path holds it off, so that neither gains from that
        try:
            for tx in txs:
                builder.add(tx)
        finally:
            gc.unfreeze()
        stats = None
    else:
        stats = builder.add_transactions(txs, workers=workers, clock=time.perf_counter_ns, **options)
    elapsed = time.perf_counter() - t0
    result = builder.finish()
    return elapsed, stats, (receipts_root(result.receipts), result.gas_used)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--kinds", nargs="+", default=["eth", "erc20", "swaps", "dependent", "mix", "pricing"]
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="run the parallel path whatever the gas per transaction (min_gas_per_tx=0)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per cell; the median is kept")
    parser.add_argument(
        "--steady",
        type=int,
        default=0,
        metavar="B",
        help="also run B blocks in a row with one ParallelPolicy (as the node does: "
        "after a block of conflicts the next ones run sequentially) and report their speedup",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    code = deployed_code()
    options: dict[str, Any] = {"min_gas_per_tx": 0, "min_txs": 2} if args.force else {}
    rows = []
    print(
        f"cores {os.cpu_count()}, load average {os.getloadavg()[0]:.2f} at start", file=sys.stderr
    )
    for n in args.sizes:
        work = Workload(n, code)
        for kind in args.kinds:
            txs = work.block(kind)
            state = work.state.copy()
            _, _, receipts = run(state, txs, 0)
            expected = (effects(state), receipts)
            options["gas_used"] = receipts[1]  # what an imported block's header says
            # sequential and parallel runs alternate, so that a drift of the machine's
            # speed hits both; the speedup is the median of the paired ratios
            seq_times: list[float] = []
            par_times: dict[int, list[float]] = {w: [] for w in args.workers}
            last: dict[int, Any] = {}
            for _ in range(args.repeat):
                state = work.state.copy()
                seq_times.append(run(state, txs, 0)[0])
                for workers in args.workers:
                    state = work.state.copy()
                    elapsed, last[workers], receipts = run(state, txs, workers, **options)
                    if (effects(state), receipts) != expected:
                        raise SystemExit(f"{kind} n={n} workers={workers}: result differs")
                    par_times[workers].append(elapsed)
            seq = statistics.median(seq_times)
            for workers in args.workers:
                stats = last[workers]
                par = statistics.median(par_times[workers])
                ratio = statistics.median(
                    a / b for a, b in zip(seq_times, par_times[workers], strict=True)
                )
                steady = None
                if args.steady and workers > 1:
                    policy = ParallelPolicy()
                    seq_total = par_total = 0.0
                    for _ in range(args.steady):
                        seq_total += run(work.state.copy(), txs, 0)[0]
                        par_total += run(work.state.copy(), txs, workers, policy=policy,
                                         **options)[0]  # fmt: skip
                    steady = round(seq_total / par_total, 2)
                gas = receipts[1]
                row = {
                    "workload": kind, "txs": n, "workers": workers,
                    "sequential_ms": round(seq * 1000, 1), "parallel_ms": round(par * 1000, 1),
                    "sequential_mgas_s": round(gas / seq / 1e6, 1),
                    "parallel_mgas_s": round(gas / par / 1e6, 1),
                    "speedup": round(ratio, 2), "mode": stats.mode,
                    "conflict_rate": stats.conflict_permille / 1000,
                    "reexecuted": stats.reexecuted, "optimistic": stats.optimistic,
                    "reason": stats.reason, "steady_speedup": steady,
                }  # fmt: skip
                rows.append(row)
                if not args.json:
                    print(
                        f"{kind:9} {n:6} txs  workers {workers}  seq {row['sequential_ms']:9.1f} ms"
                        f" ({row['sequential_mgas_s']:5.1f} Mgas/s)  par {row['parallel_ms']:9.1f} ms"
                        f" ({row['parallel_mgas_s']:5.1f} Mgas/s)  x{row['speedup']:.2f}  {stats.mode:10}"
                        f"  conflicts {stats.reexecuted}/{stats.optimistic}"
                        f"{f'  early {stats.early_conflicts}/{stats.early_checked}' if stats.early_checked else ''}"
                        f"{f'  steady x{steady:.2f}' if steady is not None else ''}  ({stats.reason})",
                        flush=True,
                    )
    print(f"load average {os.getloadavg()[0]:.2f} at end", file=sys.stderr)
    if args.json:
        print(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
