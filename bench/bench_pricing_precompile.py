"""StrikePricing system contract: speed from EVM bytecode, and the gas calibration.

    .venv/bin/python bench/bench_pricing_precompile.py               # speed
    .venv/bin/python bench/bench_pricing_precompile.py --calibrate   # gas table + check

Speed (median thread CPU time, so other jobs on the machine disturb it less):

* in process: microseconds per ``black_scholes_price`` (64 mixed inputs) and per
  ``blackScholesPrice`` call of the native contract (ABI decoding and encoding included);
* from EVM bytecode: the ``black_scholes`` workload of ``bench-data`` (100 options, a call
  and a put each: 200 prices, the workload's own calldata) run three ways on StrikeVM:
  the workload's Solidity contract (fixed-point math in bytecode), and
  ``contracts/examples/BlackScholesPrecompile.sol``, which sends the 200 options to
  ``blackScholesPriceBatch`` either in plain Solidity (``priceBatch``) or with the batch
  calldata written in assembly (``priceBatchAssembly``). Each row gives microseconds per
  price, gas, and the largest difference from the workload's expected output (the
  precompile rounds the expiry to whole seconds and is exact to the wad; the Solidity
  workload uses an approximate normal CDF).

Calibration: the interpreter's cost of a unit of gas is measured on the eight
``bench-data`` workloads (fast engine, ns of CPU time per unit of execution gas; their
geometric mean is the reference), in the same rounds as every StrikePricing function is
timed on mixed inputs through the native contract. For each function the table shows the
gas charged, the median and largest time, the gas the time is worth at the reference
rate (``time / ns_per_gas``) and the margin ``charged / worth`` (>= 1 is the rule).

Needs node and solc-js for the Solidity rows (``npm ci`` in the repository root, which
``make test`` runs). Timings are for people, never asserted.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from strikevm.finance import abi
from strikevm.finance import pricing_contract as pc
from strikevm.finance.pricing import (
    black_scholes_price,
    implied_volatility_detail,
)
from strikevm.finance.system import default_registry
from strikevm.fixtures import bench_data_dir
from strikevm.state.account import Account
from strikevm.state.world import WorldState
from strikevm.tools.bench import Workload, collect, load_workload
from strikevm.tools.deepstack import run_deep
from strikevm.vm.env import BlockEnv, Message, TxEnv
from strikevm.vm.evm import EVM
from strikevm.vm.host import Host

ROOT = Path(__file__).resolve().parent.parent
CALLER = 0x1000000000000000000000000000000000000000
TARGET = 0x2000000000000000000000000000000000000002
W = 10**18
DAY = 86400
YEAR = 365 * DAY


# ----------------------------------------------------------------------------- helpers


def cpu_ns(fn: Callable[[], object]) -> int:
    start = time.thread_time_ns()
    fn()
    return time.thread_time_ns() - start


def compile_contracts(*files: str) -> dict[str, Any]:
    """Standard JSON output of ``contracts/compile.js`` (solc-js pinned in package.json)."""
    if not (ROOT / "node_modules" / "solc").is_dir():
        sys.exit("solc-js is missing: run `npm ci` in the repository root (`make test` does)")
    proc = subprocess.run(
        ["node", "contracts/compile.js", *files],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode:
        sys.exit(f"solc failed:\n{proc.stderr}")
    return json.loads(proc.stdout)


def make_inputs(count: int = 64, seed: int = 1) -> list[tuple[bool, int, int, int, int, int, int]]:
    """Mixed options: spot/strike 0.5x-2x, vol 10%-150%, 1 day-2 years, r 0-8%, q 0-4%."""
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


def native_message(data: bytes, gas: int = 10**9) -> Message:
    return Message(CALLER, pc.PRICING_ADDRESS, 0, data, gas, b"", pc.PRICING_ADDRESS)


def fit_line(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares ``y = a + b x``."""
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0
    return my - b * mx, b


def run_call(code: bytes, data: bytes, gas: int) -> tuple[int, bool, bytes, int]:
    """CPU ns, success, output and gas used of one call from a fresh pre-state."""
    state = WorldState({TARGET: Account(code=code), CALLER: Account(balance=10**20)})
    state.prewarm([CALLER, TARGET])
    evm = EVM(state, BlockEnv(), TxEnv(origin=CALLER), engine="fast", system=default_registry())
    msg = Message(CALLER, TARGET, 0, data, gas, code, TARGET)
    gc.collect()
    start = time.thread_time_ns()
    result = evm.process_message(msg)
    ns = time.thread_time_ns() - start
    return ns, result.success, bytes(result.output), gas - result.gas_left


def words(data: bytes) -> list[int]:
    return [int.from_bytes(data[i : i + 32], "big") for i in range(0, len(data), 32)]


# ----------------------------------------------------------------------------- speed


def speed(rounds: int) -> None:
    inputs = make_inputs()
    contract = pc.StrikePricing()
    sig = pc.FUNCTIONS["blackScholesPrice"].signature
    calls = [native_message(abi.encode_call(sig, a)) for a in inputs]

    def direct() -> None:
        for a in inputs:
            black_scholes_price(*a)

    def native() -> None:
        for m in calls:
            contract(Host.detached(m))

    workload = load_workload(bench_data_dir() / "black_scholes.json")
    out = compile_contracts("contracts/examples/BlackScholesPrecompile.sol")
    unit = out["contracts"]["contracts/examples/BlackScholesPrecompile.sol"]
    code = bytes.fromhex(unit["BlackScholesPrecompile"]["evm"]["deployedBytecode"]["object"])
    plain = abi.selector("priceBatch(uint256[],uint256[],uint256[],uint256[],uint256)")
    asm = abi.selector("priceBatchAssembly(uint256[],uint256[],uint256[],uint256[],uint256)")
    assert workload.calldata[:4] == plain
    body = workload.calldata[4:]
    expected = words(workload.expected_output)
    variants = [
        ("Solidity workload (fixed-point math in bytecode)", workload.code, workload.calldata),
        ("precompile batch, plain Solidity caller", code, plain + body),
        ("precompile batch, assembly caller", code, asm + body),
    ]
    prices = len(expected) - 4  # two offsets and two lengths
    # what pricing.py gives for the same options, the expiry truncated to whole seconds
    head = words(body)
    cols = [head[o // 32 + 1 : o // 32 + 1 + head[o // 32]] for o in head[:4]]
    rate = head[4]
    exact_calls, exact_puts = [], []
    for s, k, t, v in zip(*cols, strict=True):
        exact_calls.append(black_scholes_price(True, s, k, v, t * YEAR // W, rate, 0))
        exact_puts.append(black_scholes_price(False, s, k, v, t * YEAR // W, rate, 0))
    exact = expected[:3] + exact_calls + [len(exact_puts)] + exact_puts
    times: dict[str, list[int]] = {name: [] for name, _, _ in variants}
    results: dict[str, tuple[int, float, bool]] = {}
    direct_ns: list[float] = []
    native_ns: list[float] = []
    for _name, c, d in variants:  # warm-up: the block compiler translates hot code once
        run_call(c, d, workload.gas_limit)
    for _ in range(rounds):
        direct_ns.append(cpu_ns(direct) / len(inputs))
        native_ns.append(cpu_ns(native) / len(inputs))
        for name, c, d in variants:
            ns, ok, output, gas = run_call(c, d, workload.gas_limit)
            if not ok:
                sys.exit(f"{name}: call failed")
            got = words(output)
            if got[:3] != expected[:3] or len(got) != len(expected):
                sys.exit(f"{name}: wrong output layout")
            diff = max(abs(a - b) for a, b in zip(got, expected, strict=True)) / W
            times[name].append(ns)
            results[name] = (gas, diff, got == exact)
    workload_row = variants[0][0]
    print(f"Python {sys.version.split()[0]}, median thread CPU time over {rounds} rounds")
    print()
    print("| in process | median us |")
    print("| --- | ---: |")
    print(f"| `black_scholes_price` (64 mixed inputs) | {statistics.median(direct_ns) / 1e3:.1f} |")
    print(
        f"| `blackScholesPrice` through the native contract (ABI included) "
        f"| {statistics.median(native_ns) / 1e3:.1f} |"
    )
    print()
    print(f"`black_scholes` workload, {prices} prices (100 calls + 100 puts), one call:")
    print()
    print(
        "| variant | us per price | total ms | gas | gas per price | max diff vs expected "
        "| = pricing.py |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for name, _, _ in variants:
        med = statistics.median(times[name])
        gas, diff, same = results[name]
        print(
            f"| {name} | {med / prices / 1e3:.1f} | {med / 1e6:.2f} | {gas:,} "
            f"| {gas // prices:,} | {diff:.2e} "
            f"| {'n/a' if name == workload_row else 'yes' if same else 'NO'} |"
        )
    print()
    print(
        "max diff: largest |price - expected| in units of 1.0 (the workload's expected output "
        "is float64-exact to 3.6e-14); = pricing.py: the output equals black_scholes_price "
        "with the expiry truncated to whole seconds, to the wad."
    )


# ----------------------------------------------------------------------------- calibration


def calibrate(rounds: int) -> None:
    workloads: list[Workload] = [load_workload(p) for p in collect([bench_data_dir()])]
    contract = pc.StrikePricing()
    inputs = make_inputs()
    enc = abi.encode_call
    F = pc.FUNCTIONS

    def calls_of(name: str, args: list[tuple]) -> list[Message]:
        return [native_message(enc(F[name].signature, a)) for a in args]

    bs = calls_of("blackScholesPrice", inputs)
    greeks = calls_of("blackScholesGreeks", inputs)
    b76_args = [a[:6] for a in inputs]
    b76 = calls_of("black76Price", b76_args)
    b76g = calls_of("black76Greeks", b76_args)
    iv_args = []
    iv_evals = []
    for c, s, k, v, t, r, q in inputs:
        p = black_scholes_price(c, s, k, v, t, r, q)
        try:
            n = implied_volatility_detail(c, p, s, k, t, r, q).evaluations
        except ValueError:
            continue
        iv_args.append((c, p, s, k, t, r, q))
        iv_evals.append(n)
    iv = calls_of("impliedVolatility", iv_args)
    tree_steps = (10, 25, 50, 100, 200, 400)
    trees = {
        n: calls_of("binomialPrice", [(c, True, s, k, v, t, r, q, n) for c, s, k, v, t, r, q in
                                      inputs[:4]])
        for n in tree_steps
    }  # fmt: skip
    batch_sizes = (1, 10, 50, 200)
    batch_sig = F["blackScholesPriceBatch"].signature
    many = make_inputs(200, seed=2)
    batches = {
        n: native_message(abi.selector(batch_sig) + abi.encode_tuple_array(pc.OPTION_TYPES,
                                                                          many[:n]))
        for n in batch_sizes
    }  # fmt: skip
    rejected = native_message(b"\x12\x34\x56\x78" + bytes(64))

    def each(msgs: list[Message], repeat: int = 3) -> list[float]:
        """Each message's CPU ns per call, after one untimed pass (steady state, as the
        long interpreter runs are)."""
        for m in msgs:
            contract(Host.detached(m))
        out = []
        for m in msgs:
            ns = cpu_ns(lambda m=m: [contract(Host.detached(m)) for _ in range(repeat)])
            out.append(ns / repeat)
        return out

    per_workload: dict[str, list[float]] = {w.name: [] for w in workloads}
    samples: dict[str, list[list[float]]] = {
        k: [] for k in ("bs", "greeks", "b76", "b76g", "iv", "rejected")
    }
    tree_ns: dict[int, list[float]] = {n: [] for n in tree_steps}
    batch_ns: dict[int, list[float]] = {n: [] for n in batch_sizes}
    for w in workloads:  # warm-up
        run_call(w.code, w.calldata, w.gas_limit)
    for r in range(rounds):
        print(f"round {r + 1}/{rounds}", file=sys.stderr)
        for w in workloads:
            ns, ok, _, gas = run_call(w.code, w.calldata, w.gas_limit)
            assert ok and gas == w.expected_gas, w.name
            per_workload[w.name].append(ns / gas)
        each(bs[:1])  # discarded: the first timing after the workloads runs about 2 us slow
        samples["bs"].append(each(bs))
        samples["greeks"].append(each(greeks))
        samples["b76"].append(each(b76))
        samples["b76g"].append(each(b76g))
        samples["iv"].append(each(iv, 1))
        samples["rejected"].append(each([rejected], 20))
        for n in tree_steps:
            tree_ns[n].append(statistics.median(each(trees[n], 1)))
        for n in batch_sizes:
            batch_ns[n].append(each([batches[n]], 3 if n <= 10 else 1)[0])

    ns_gas = {name: statistics.median(v) for name, v in per_workload.items()}
    ref = math.exp(statistics.fmean(math.log(v) for v in ns_gas.values()))
    print(f"Python {sys.version.split()[0]}, thread CPU time, {rounds} rounds")
    print()
    print("| workload | ns per gas | Mgas/s |")
    print("| --- | ---: | ---: |")
    for name, v in ns_gas.items():
        print(f"| {name} | {v:.2f} | {1e3 / v:.0f} |")
    print(f"| geometric mean (reference) | {ref:.2f} | {1e3 / ref:.0f} |")
    print()

    def per_input(key: str) -> list[float]:
        """Median over rounds of each input's time."""
        return [statistics.median(col) for col in zip(*samples[key], strict=True)]

    # (function, gas charged per input, time per input)
    rows: list[tuple[str, list[int], list[float]]] = []
    for key, name, gas in (
        ("rejected", "rejected call (unknown selector)", pc.GAS_BASE),
        ("bs", "blackScholesPrice", pc.GAS_BS_PRICE),
        ("greeks", "blackScholesGreeks", pc.GAS_BS_GREEKS),
        ("b76", "black76Price", pc.GAS_B76_PRICE),
        ("b76g", "black76Greeks", pc.GAS_B76_GREEKS),
    ):
        t = per_input(key)
        rows.append((name, [gas] * len(t), t))
    iv_t = per_input("iv")
    iv_gas = [pc.gas_cost("impliedVolatility", evaluations=n) for n in iv_evals]
    rows.append((
        f"impliedVolatility ({min(iv_evals)}-{max(iv_evals)} evaluations, "
        f"median {statistics.median(iv_evals):g})",
        iv_gas,
        iv_t,
    ))  # fmt: skip
    for n in tree_steps:
        rows.append(
            (
                f"binomialPrice American, {n} steps",
                [pc.gas_cost("binomialPrice", steps=n)],
                [statistics.median(tree_ns[n])],
            )
        )
    for n in batch_sizes:
        rows.append((f"blackScholesPriceBatch, {n} options",
                     [pc.gas_cost("blackScholesPriceBatch", options=n)],
                     [statistics.median(batch_ns[n])]))  # fmt: skip

    print(f"Reference: {ref:.2f} ns per gas; worth = time / reference (gas).")
    print()
    print("| function | gas charged | median us | worth (gas) | charged / worth | lowest |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, gas, t in rows:
        ratios = [g * ref / x for g, x in zip(gas, t, strict=True)]
        med_t = statistics.median(t)
        med_gas = statistics.median(gas)
        print(f"| {name} | {med_gas:,.0f} | {med_t / 1e3:.1f} | {med_t / ref:,.0f} "
              f"| {statistics.median(ratios):.2f} | {min(ratios):.2f} |")  # fmt: skip
    print()
    print("'lowest': the smallest charged / worth over the inputs (each input's median time).")
    a, b = fit_line([float(n) for n in iv_evals], iv_t)
    print(f"impliedVolatility fit: {a / 1e3:.1f} us + {b / 1e3:.2f} us x evaluations "
          f"= {a / ref:,.0f} + {b / ref:,.0f} gas x evaluations")  # fmt: skip
    nodes = [float((n + 1) * (n + 2) // 2) for n in tree_steps]
    a, b = fit_line(nodes, [statistics.median(tree_ns[n]) for n in tree_steps])
    print(f"binomialPrice fit: {a / 1e3:.1f} us + {b:.0f} ns x nodes "
          f"= {a / ref:,.0f} + {b / ref:.1f} gas x nodes")  # fmt: skip
    a, b = fit_line([float(n) for n in batch_sizes],
                    [statistics.median(batch_ns[n]) for n in batch_sizes])  # fmt: skip
    print(f"blackScholesPriceBatch fit: {a / 1e3:.1f} us + {b / 1e3:.2f} us x options "
          f"= {a / ref:,.0f} + {b / ref:,.0f} gas x options")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calibrate", action="store_true", help="gas calibration table")
    parser.add_argument("--rounds", type=int, default=0, help="rounds (default 15; 9 calibrating)")
    args = parser.parse_args(argv)
    if args.calibrate:
        run_deep(lambda: calibrate(args.rounds or 9))
    else:
        run_deep(lambda: speed(args.rounds or 15))
    return 0


if __name__ == "__main__":
    sys.exit(main())
