"""Pricing benchmark: median microseconds per call of the integer option-pricing functions.

    .venv/bin/python bench/bench_pricing.py            # timings
    .venv/bin/python bench/bench_pricing.py --table    # + American put convergence table
                                                       #   (needs QuantLib)

Each operation runs over 64 fixed pseudo-random inputs (spot/strike 0.5x..2x, vol
10%..150%, expiry 1 day..2 years); a batch calls it once per input, and the median
batch time (thread CPU time) divided by 64 is printed. Timings are for people, never
asserted.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable

from strikevm.finance.pricing import (
    binomial_price,
    black76_price,
    black_scholes_greeks,
    black_scholes_price,
    implied_volatility_detail,
)

W = 10**18
DAY = 86400
YEAR = 365 * DAY


def make_inputs(count: int = 64, seed: int = 1) -> list[tuple[bool, int, int, int, int, int, int]]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        strike = int(rng.uniform(50, 5000) * W)
        spot = int(strike * 2 ** rng.uniform(-1, 1))
        vol = int(rng.uniform(0.1, 1.5) * W)
        expiry = int(rng.uniform(1, 730) * DAY)
        rate = int(rng.uniform(0, 0.08) * W)
        q = int(rng.uniform(0, 0.04) * W)
        out.append((i % 2 == 0, spot, strike, vol, expiry, rate, q))
    return out


def median_us(call: Callable[[], object], per_batch: int, budget_s: float) -> tuple[float, int]:
    """Median microseconds of thread CPU time per operation over batches run for about
    ``budget_s`` (CPU time, so that other jobs on the machine disturb it less)."""
    call()  # warm-up
    samples: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(samples) < 5 or (time.perf_counter() < deadline and len(samples) < 500):
        start = time.thread_time_ns()
        call()
        samples.append((time.thread_time_ns() - start) / per_batch / 1e3)
    return statistics.median(samples), len(samples)


def run_timings(budget_s: float) -> None:
    inputs = make_inputs()
    prices = [black_scholes_price(*a) for a in inputs]
    n = len(inputs)

    def bs() -> None:
        for a in inputs:
            black_scholes_price(*a)

    def greeks() -> None:
        for a in inputs:
            black_scholes_greeks(*a)

    def b76() -> None:
        for c, s, k, v, t, r, _q in inputs:
            black76_price(c, s, k, v, t, r)

    def iv() -> None:
        for (c, s, k, _v, t, r, q), p in zip(inputs, prices, strict=True):
            implied_volatility_detail(c, p, s, k, t, r, q)

    def tree(american: bool, steps: int) -> Callable[[], None]:
        def run() -> None:
            for c, s, k, v, t, r, q in inputs[:8]:
                binomial_price(c, american, s, k, v, t, r, q, steps)

        return run

    evals = [
        implied_volatility_detail(c, p, s, k, t, r, q).evaluations
        for (c, s, k, _v, t, r, q), p in zip(inputs, prices, strict=True)
    ]
    rows = [
        ("Black-Scholes price", bs, n),
        ("Black-Scholes price + 5 greeks", greeks, n),
        ("Black-76 price", b76, n),
        (f"implied volatility (mean {statistics.mean(evals):.1f} evaluations)", iv, n),
        ("binomial American, 100 steps", tree(True, 100), 8),
        ("binomial European, 100 steps", tree(False, 100), 8),
    ]
    print(f"Python {sys.version.split()[0]}")
    print(f"{'operation':<48} {'median us':>11} {'batches':>8}")
    for name, fn, per in rows:
        us, batches = median_us(fn, per, budget_s)
        print(f"{name:<48} {us:>11.2f} {batches:>8}")


def convergence_table() -> None:
    """American put S=K=100, vol 20%, r 5%, q 0, T 365 days: CRR vs QuantLib FD."""
    import QuantLib as ql  # test-only dependency

    today = ql.Date(1, 1, 2030)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    process = ql.BlackScholesMertonProcess(
        ql.QuoteHandle(ql.SimpleQuote(100.0)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, 0.0, dc)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, 0.05, dc)),
        ql.BlackVolTermStructureHandle(ql.BlackConstantVol(today, ql.NullCalendar(), 0.2, dc)),
    )
    option = ql.VanillaOption(
        ql.PlainVanillaPayoff(ql.Option.Put, 100.0), ql.AmericanExercise(today, today + 365)
    )
    refs = {}
    for t_steps, x_steps in ((8000, 1000), (16000, 2000), (32000, 2000)):
        option.setPricingEngine(
            ql.FdBlackScholesVanillaEngine(
                process, t_steps, x_steps, 10, ql.FdmSchemeDesc.CrankNicolson()
            )
        )
        refs[(t_steps, x_steps)] = option.NPV()
    ref = refs[(32000, 2000)]
    args = (100 * W, 100 * W, W // 5, YEAR, W // 20, 0)
    european = black_scholes_price(False, *args)
    print(f"QuantLib {ql.__version__} FdBlackScholesVanillaEngine (Crank-Nicolson):")
    for (t_steps, x_steps), v in refs.items():
        print(f"  {t_steps} x {x_steps}: {v:.7f}")
    print(f"Black-Scholes European put: {european / W:.7f}")
    print()
    print("| steps | American put (tree) | tree - QuantLib FD | European tree - BS | ms |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for steps in (25, 50, 100, 200, 400, 800, 1000):
        start = time.perf_counter()
        american = binomial_price(False, True, *args, steps)
        elapsed = (time.perf_counter() - start) * 1e3
        eu_tree = binomial_price(False, False, *args, steps)
        print(
            f"| {steps} | {american / W:.7f} | {american / W - ref:+.7f} | "
            f"{(eu_tree - european) / W:+.7f} | {elapsed:.1f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=1.5, help="seconds per operation")
    parser.add_argument("--table", action="store_true", help="print the convergence table")
    args = parser.parse_args()
    run_timings(args.budget)
    if args.table:
        print()
        convergence_table()


if __name__ == "__main__":
    main()
