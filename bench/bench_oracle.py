"""StrikeOracle: gas and time per relayed update, read gas, and feeds updated per second.

    .venv/bin/python bench/bench_oracle.py [--rounds 40] [--json]

1. Per relayed update, with 1, 3 and 10 publishers on one feed (each transaction carries
   one signed update from every publisher; steady state: every slot already written):
   execution gas of the transaction (gas used minus the 21,000 + calldata intrinsic
   gas) divided by the number of updates, and the median wall time of
   ``apply_transaction`` per update. Goal: at most 3,000 (ECRECOVER) + 5,000 per update.
2. Read gas of ``getPrice``, ``getEmaPrice``, ``getTwap`` and ``getVolatility`` from a
   cold transaction (what a contract pays, the 2,600 cold account access of its CALL
   excluded). Goal: at most 2,000 + 65 x output bytes.
3. Through the dev node (in process, chain in memory, automine): transactions that each
   update 5 feeds x 3 publishers are submitted; aggregated feeds per second is the
   number of feed aggregations divided by the wall time.

Timings are for people, never asserted in tests.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "finance"))

from oraclehelpers import (  # noqa: E402
    CHAIN_ID,
    E8,
    WAD,
    OracleChain,
    address,
    feed_spec,
    key,
    oracle_config,
)

from strikevm.chain.transaction import intrinsic_gas, sign_transaction  # noqa: E402
from strikevm.finance.oracle import encode_bytes_array  # noqa: E402
from strikevm.finance.oracle_layout import (  # noqa: E402
    ORACLE_ADDRESS,
    feed_id,
    price_update,
    volatility_update,
)


def per_update(publishers: int, rounds: int) -> dict[str, Any]:
    keys = [key(100 + i) for i in range(publishers)]
    spec = feed_spec(quorum=max(1, publishers // 2 + 1) if publishers > 1 else 1,
                     publishers=[f"0x{address(k):040x}" for k in keys])  # fmt: skip
    chain = OracleChain(oracle_config(spec))
    feed = feed_id("ETH/USD")
    gas: list[int] = []
    seconds: list[float] = []
    for r in range(rounds):
        ups = [price_update(k, feed, (3000 + r % 7) * E8 + i, E8, chain.now, CHAIN_ID) for i, k in enumerate(keys)]
        from oraclehelpers import RELAYER_KEY

        nonce = chain.nonces.get(RELAYER_KEY, 0)
        data = _sel("updatePrices(bytes[])") + encode_bytes_array(ups)
        tx = sign_transaction(RELAYER_KEY, tx_type=2, chain_id=CHAIN_ID, nonce=nonce, gas_limit=5_000_000,
                              to=ORACLE_ADDRESS, data=data, max_priority_fee_per_gas=1, max_fee_per_gas=10)  # fmt: skip
        chain.nonces[RELAYER_KEY] = nonce + 1
        from strikevm.chain.executor import apply_transaction

        start = time.perf_counter()
        result = apply_transaction(chain.state, chain.block, tx, system=chain.system)
        seconds.append(time.perf_counter() - start)
        assert result.success, result.output
        if r >= 2:  # steady state: all slots exist
            gas.append(result.gas_used - intrinsic_gas(tx))
        chain.next_block()
    exec_gas = statistics.median(gas)
    return {
        "publishers": publishers,
        "exec_gas_per_tx": int(exec_gas),
        "gas_per_update": int(exec_gas / publishers),
        "us_per_update": statistics.median(seconds) / publishers * 1e6,
        "goal_gas_per_update": 8_000,
    }


def _sel(signature: str) -> bytes:
    from strikevm.crypto import keccak256

    return keccak256(signature.encode())[:4]


def read_gas() -> list[dict[str, Any]]:
    chain = OracleChain()
    feed = feed_id("ETH/USD")
    for _ in range(5):
        chain.post({0: (3000 * E8, E8), 1: (3001 * E8, E8), 2: (3002 * E8, E8)})
        chain.next_block()
    expiry = chain.now + 86400
    from oraclehelpers import PUBLISHER_KEYS

    ups = [volatility_update(k, feed, expiry, 6 * WAD // 10, -WAD // 10, WAD // 5, chain.now, CHAIN_ID) for k in PUBLISHER_KEYS]
    chain.relay(*ups)
    chain.post({0: (3000 * E8, E8), 1: (3001 * E8, E8)})
    out = []
    for signature, args, size in (
        ("getPrice(bytes32)", (feed,), 96),
        ("getEmaPrice(bytes32)", (feed,), 96),
        ("getTwap(bytes32,uint256)", (feed, 36), 32),
        ("getVolatility(bytes32,uint256,uint256)", (feed, expiry, 3100 * WAD), 32),
    ):
        result = chain.call(signature, *args, gas=1_000_000)  # a fresh transaction: cold slots
        assert result.success, result.output
        used = 1_000_000 - result.gas_left
        out.append({"read": signature.split("(")[0], "gas": used, "goal": 2_000 + 65 * size})
    return out


def node_throughput(transactions: int) -> dict[str, Any]:
    from strikevm.chain import node as N
    from strikevm.chain.store import ChainStore

    feeds = [f"F{i}/USD" for i in range(20)]
    accounts = N.dev_accounts()
    publishers = [accounts[i] for i in (7, 8, 9)]
    config = {"oracle": oracle_config(*[feed_spec(name, publishers=[f"0x{a:040x}" for a, _ in publishers]) for name in feeds])}
    config["oracle"]["admin"] = f"0x{accounts[0][0]:040x}"
    clock = [1_800_000_000]
    node = N.DevNode(ChainStore(), clock=lambda: clock[0], config=N.NodeConfig(genesis=config))
    relayer_addr, relayer_key = accounts[6]
    aggregations = 0
    start = time.perf_counter()
    for n in range(transactions):
        clock[0] += 1
        ts = node.pending_env().timestamp
        chosen = [feeds[(5 * n + j) % len(feeds)] for j in range(5)]
        ups = [price_update(k, feed_id(name), (100 + n % 9) * E8, E8, ts, node.chain_id)
               for name in chosen for _, k in publishers]  # fmt: skip
        tx = sign_transaction(relayer_key, tx_type=2, chain_id=node.chain_id, nonce=node.pending_nonce(relayer_addr),
                              gas_limit=3_000_000, to=ORACLE_ADDRESS, data=_sel("updatePrices(bytes[])") + encode_bytes_array(ups),
                              max_priority_fee_per_gas=10**9, max_fee_per_gas=10**11)  # fmt: skip
        node.submit(tx)
        receipt = node.receipt(tx.hash)
        assert receipt is not None and receipt.receipt.success
        aggregations += len(chosen)
    elapsed = time.perf_counter() - start
    return {"transactions": transactions, "feeds_per_tx": 5, "publishers": 3,
            "aggregated_feeds_per_second": aggregations / elapsed, "ms_per_tx": elapsed / transactions * 1e3}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--node-txs", type=int, default=60)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = {
        "updates": [per_update(n, args.rounds) for n in (1, 3, 10)],
        "reads": read_gas(),
        "node": node_throughput(args.node_txs),
    }
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print("relayed updates (one transaction carries one update per publisher)")
    print(f"{'publishers':>10} {'exec gas/tx':>12} {'gas/update':>11} {'goal':>6} {'us/update':>10}")
    for row in results["updates"]:
        print(f"{row['publishers']:>10} {row['exec_gas_per_tx']:>12,} {row['gas_per_update']:>11,} "
              f"{row['goal_gas_per_update']:>6,} {row['us_per_update']:>10.1f}")  # fmt: skip
    print("\nreads from a cold transaction")
    for row in results["reads"]:
        print(f"{row['read']:>14} gas {row['gas']:>6,}  goal {row['goal']:>6,}")
    node = results["node"]
    print(f"\nnode (in memory, automine): {node['aggregated_feeds_per_second']:.0f} aggregated feeds/s, "
          f"{node['ms_per_tx']:.1f} ms per transaction of {node['feeds_per_tx']} feeds x {node['publishers']} publishers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
