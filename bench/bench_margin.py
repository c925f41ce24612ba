"""Margin engine: time of portfolio and standard margin for 20- and 100-position accounts.

    .venv/bin/python bench/bench_margin.py [--runs 200] [--json]

Accounts (deterministic, seeded): options, perps and futures on two underlyings (BTC at
70,000 and ETH at 3,500), strikes 0.7-1.3 x spot, expiries 1-180 days, vols 35-110%.

* 20 positions: 16 options, 2 perps, 2 futures.
* 100 positions: 84 options, 8 perps, 8 futures.

Portfolio margin is timed cold (the revaluation memo emptied before every run: each option
is priced in all 26 scenarios plus its mark and delta, 27 Black-Scholes evaluations) and warm
(the memo already holds every option at these marks: another account of the same block
holding the same markets). Also printed: one ``bsm_price`` call, the kernel every cold
revaluation makes 26 of. Medians in microseconds. Timings are for people, never asserted.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable

from strikevm.finance.bsm import NATIVE, bsm_price
from strikevm.finance.margin import (
    FUTURE,
    OPTION,
    PERP,
    MarketSpec,
    PortfolioParams,
    Position,
    UnderlyingMarks,
    portfolio_margin,
    portfolio_pricings,
    standard_margin,
)

W = 10**18
DAY = 86_400
NOW = 1_800_000_000
BTC, ETH = 0xB7C, 0xE7
SPOTS = {BTC: 70_000, ETH: 3_500}


def account(n_options: int, n_perps: int, n_futures: int, seed: int = 7) -> tuple[list, dict]:
    """Positions split evenly over the two underlyings, and their marks."""
    rng = random.Random(seed)
    vols: dict[int, dict[int, int]] = {BTC: {}, ETH: {}}
    positions: list[Position] = []
    mid = 1
    for i in range(n_options + n_perps + n_futures):
        u = BTC if i % 2 == 0 else ETH
        s = SPOTS[u]
        size = rng.randint(-50_000, 50_000) * 10**15 or W
        if i < n_options:
            m = MarketSpec(
                mid,
                OPTION,
                u,
                expiry=NOW + rng.randint(1, 180) * DAY,
                strike=round(s * rng.uniform(0.7, 1.3)) * W,
                is_call=rng.random() < 0.5,
            )
            vols[u][mid] = rng.randint(35, 110) * 10**16
            positions.append(Position(m, size, 0))
        elif i < n_options + n_perps:
            positions.append(Position(MarketSpec(mid, PERP, u), size, size * s))
        else:
            m = MarketSpec(mid, FUTURE, u, expiry=NOW + rng.randint(7, 180) * DAY)
            positions.append(Position(m, size, size * s))
        mid += 1
    marks = {u: UnderlyingMarks(SPOTS[u] * W, 4 * 10**16, vols[u]) for u in (BTC, ETH)}
    return positions, marks


def median_us(
    fn: Callable[[], object], runs: int, before: Callable[[], object] | None = None
) -> float:
    fn()  # warm-up (imports, first-call effects)
    times = []
    for _ in range(runs):
        if before is not None:
            before()
        t = time.perf_counter_ns()
        fn()
        times.append(time.perf_counter_ns() - t)
    return statistics.median(times) / 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    runs = args.runs

    w = 10**18
    kernel = median_us(
        lambda: bsm_price(True, 70_000 * w, 72_000 * w, 6 * 10**17, 30 * DAY, 4 * 10**16, 0),
        runs * 20,
    )
    rows = []
    for label, shape in (("20 positions", (16, 2, 2)), ("100 positions", (84, 8, 8))):
        positions, marks = account(*shape)
        params = PortfolioParams()
        cold = median_us(
            lambda: portfolio_margin(positions, marks, NOW, params),  # noqa: B023
            runs,
            params.memo.clear,
        )
        warm = median_us(lambda: portfolio_margin(positions, marks, NOW, params), runs)  # noqa: B023
        std = median_us(lambda: standard_margin(positions, marks, NOW), runs)  # noqa: B023
        rows.append(
            {
                "account": label,
                "options": shape[0],
                "bs_evaluations_cold": portfolio_pricings(positions, params),
                "pm_cold_us": round(cold, 1),
                "pm_warm_us": round(warm, 1),
                "sm_us": round(std, 1),
            }
        )
    if args.json:
        for r in rows:
            print(json.dumps(r))
        print(json.dumps({"bsm_price_us": round(kernel, 2), "native": NATIVE}))
        return
    print(f"bsm_price (native={NATIVE}): {kernel:.2f} us per call")
    print("| account | options | BS evaluations (cold) | PM cold us | PM warm us | SM us |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['account']} | {r['options']} | {r['bs_evaluations_cold']} | "
            f"{r['pm_cold_us']} | {r['pm_warm_us']} | {r['sm_us']} |"
        )


if __name__ == "__main__":
    main()
