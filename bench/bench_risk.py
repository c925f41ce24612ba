"""The risk engine's block-end pass: cost with nothing at risk, and after a 10% move.

    .venv/bin/python bench/bench_risk.py [--accounts 10000]

Builds an in-process exchange (tests/finance/chhelpers.py: oracle, dev tokens,
clearinghouse; blocks through the block pipeline) with N trading accounts, each funded
with 1,500 USDC and holding a perp position (1-8 ETH, so leverage varies) and, for every third
account, short puts, all against one market maker. Then it times the block-end system
step (``run_block_hooks(..., "end")``: the whole pass, oracle reads included):

* with no price move (nothing at risk: the index is not crossed);
* after a 10% fall: liquidations in that block's pass, and the following passes until
  the queue is empty (the per-block budget spreads the work).

Timings are CPU seconds of the step (time.process_time), medians where repeated. Goals
(issue): under 1 ms with no account at risk; at least 50 portfolio liquidations per
block within 50 ms. Never asserted in tests.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "finance"))

from chhelpers import ETH_PERP, PUT_3000, USDC, Exchange, selector  # noqa: E402
from eth_abi import encode as eth_encode  # noqa: E402
from oraclehelpers import WAD, address, key  # noqa: E402

from strikevm.finance import clearinghouse_layout as L  # noqa: E402
from strikevm.finance import liquidation as R  # noqa: E402
from strikevm.finance.clearinghouse_layout import CLEARINGHOUSE_ADDRESS, Order, sign_order  # noqa: E402
from strikevm.finance.dev_tokens import USDC_ADDRESS  # noqa: E402
from strikevm.vm.hooks import run_block_hooks  # noqa: E402

PER_MAKER = 200  # trading accounts per market maker (a maker's own margin grows with size)


def build(n: int) -> tuple[Exchange, list[bytes]]:
    makers = -(-n // PER_MAKER)
    keys = [key(10_000 + i) for i in range(n + makers + 1)]  # the last one funds the insurance fund
    holders = [address(k) for k in keys]
    ex = Exchange(holders=holders)
    ex.prices(3000)
    ch = "0x" + CLEARINGHOUSE_ADDRESS.to_bytes(20, "big").hex()
    usdc = "0x" + USDC_ADDRESS.to_bytes(20, "big").hex()
    approve = selector("approve(address,uint256)") + eth_encode(["address", "uint256"], [ch, 2**255])
    deposit = "deposit(uint32,address,uint256)"
    order_t = "(address,uint32,uint32,bool,uint256,uint256,uint64,uint64,uint8)"

    def tup(o: Order) -> tuple:
        w = o.words()
        return ("0x" + w[0].to_bytes(20, "big").hex(), w[1], w[2], bool(w[3]), *w[4:])

    quotes = []
    for j in range(makers):
        mk, maker = keys[n + j], holders[n + j]
        assert ex.send(mk, USDC_ADDRESS, approve).success
        assert ex.ch(mk, deposit, ["uint32", "address", "uint256"], [0, usdc, 990_000 * USDC]).success
        sell = Order(maker, 0, ETH_PERP, False, 10**9 * WAD, 3000 * WAD, ex.now + 10**7, 1)
        buy_put = Order(maker, 0, PUT_3000, True, 10**9 * WAD, 110 * WAD, ex.now + 10**7, 2)
        quotes.append((tup(sell), sign_order(sell, mk, 1337), tup(buy_put), sign_order(buy_put, mk, 1337)))
    for i in range(n):
        k = keys[i]
        sell, sell_sig, put, put_sig = quotes[i // PER_MAKER]
        assert ex.send(k, USDC_ADDRESS, approve).success
        assert ex.ch(k, deposit, ["uint32", "address", "uint256"], [0, usdc, 1_500 * USDC]).success
        size = (1 + i % 8) * WAD
        r = ex.ch(k, f"fill({order_t},bytes,uint256,uint32)", [order_t, "bytes", "uint256", "uint32"], [sell, sell_sig, size, 0])
        assert r.success, r.output.hex()
        if i % 3 == 0 and i % 8 < 3:
            r = ex.ch(k, f"fill({order_t},bytes,uint256,uint32)", [order_t, "bytes", "uint256", "uint32"], [put, put_sig, WAD, 0])
        if i % 10 == 9:
            ex.next_block(1)
            ex.prices(3000)
    # a capitalised insurance fund (auto-deleveraging is exercised in the tests)
    fk = keys[-1]
    assert ex.send(fk, USDC_ADDRESS, approve).success
    assert ex.ch(fk, "fundInsurance(uint256)", ["uint256"], [900_000 * USDC]).success
    ex.next_block(1)
    ex.prices(3000)
    return ex, keys


def step(ex: Exchange) -> tuple[float, int]:
    """Run the block-end step once on the current block; (CPU seconds, liquidations)."""
    logs_before = 0
    start = time.process_time()
    logs = run_block_hooks(ex.state, ex.env, ex.system, "end")
    elapsed = time.process_time() - start
    return elapsed, sum(1 for log in logs if log.topics[0] == R.EV_LIQUIDATION) - logs_before


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    t0 = time.perf_counter()
    ex, _ = build(args.accounts)
    build_s = time.perf_counter() - t0
    quiet = []
    for _ in range(5):  # nothing at risk: same price, the index is not crossed
        ex.next_block(1)
        ex.prices(3000)
        quiet.append(step(ex)[0])
    ex.next_block(1)
    ex.prices(2700)  # -10%
    passes = []
    while True:
        elapsed, liquidated = step(ex)
        passes.append((elapsed, liquidated))
        pending = ex.state.sload(CLEARINGHOUSE_ADDRESS, L.RISK_PENDING_COUNT)
        ex.next_block(1)
        ex.prices(2700)
        if (liquidated == 0 and pending == 0) or len(passes) > 400:
            break
    result = {
        "accounts": args.accounts,
        "build_seconds": build_s,
        "quiet_step_ms": statistics.median(quiet) * 1e3,
        "passes": [{"ms": e * 1e3, "liquidations": n} for e, n in passes],
        "total_liquidations": sum(n for _, n in passes),
        "max_liquidations_per_block": max(n for _, n in passes),
        "budget": {"checks": R.MAX_CHECKS, "liquidations": R.MAX_LIQUIDATIONS},
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{args.accounts} accounts (built in {build_s:.0f} s)")
    print(f"block-end step, nothing at risk: {result['quiet_step_ms']:.2f} ms (median of 5)")
    print(f"after a 10% fall: {result['total_liquidations']} liquidations over {len(passes)} passes")
    for i, p in enumerate(result["passes"][:10]):
        print(f"  pass {i}: {p['liquidations']} liquidations in {p['ms']:.1f} ms")
    busiest = max(result["passes"], key=lambda p: p["liquidations"])
    print(f"busiest pass: {busiest['liquidations']} liquidations in {busiest['ms']:.1f} ms "
          f"({busiest['ms'] / max(busiest['liquidations'], 1):.2f} ms each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
