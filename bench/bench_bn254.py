"""BN254 precompile benchmark: the native C arithmetic against the py_ecc fallback.

    .venv/bin/python bench/bench_bn254.py             # ECADD, ECMUL, 1/2/4-pair pairings
    .venv/bin/python bench/bench_bn254.py --repeat 9  # more runs per measurement

Each row runs the precompile function (``ecadd_precompile``, ``ecmul_precompile``,
``ecpairing_precompile``: input checks included) on one fixed valid input, median thread
CPU time over the runs, for each back end (py_ecc by setting ``bn254._native`` to None).
Prints microseconds per call, nanoseconds per gas (EIP-1108 prices) and the speed-up.
Timings are for people, never asserted.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from py_ecc import optimized_bn128 as ob

from strikevm.vm.precompiles import bn254

GAS = 10**9


def _w(x: int) -> bytes:
    return int(x).to_bytes(32, "big")


def _g1(k: int) -> bytes:
    x, y = ob.normalize(ob.multiply(ob.G1, k))
    return _w(x.n) + _w(y.n)


def _g2(k: int) -> bytes:
    x, y = ob.normalize(ob.multiply(ob.G2, k))
    return _w(x.coeffs[1]) + _w(x.coeffs[0]) + _w(y.coeffs[1]) + _w(y.coeffs[0])


def _median_us(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.thread_time_ns()
        fn()
        times.append(time.thread_time_ns() - t0)
    return statistics.median(times) / 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    if not bn254.NATIVE:
        raise SystemExit("_bn254_native is not built (pip install -e .)")
    # e(a P, b Q) e(-ab P, Q) = 1: a product the check accepts, pair by pair realistic
    a, b = 0x1234567, 0x89ABCDEF
    pair_ok = _g1(a) + _g2(b) + _g1(ob.curve_order - a * b) + _g2(1)
    rows = [
        ("ECADD", bn254.ecadd_precompile, _g1(3) + _g1(5)),
        ("ECMUL", bn254.ecmul_precompile, _g1(7) + _w(ob.curve_order - 12345)),
        ("ECPAIRING 1 pair", bn254.ecpairing_precompile, _g1(a) + _g2(b)),
        ("ECPAIRING 2 pairs", bn254.ecpairing_precompile, pair_ok),
        ("ECPAIRING 4 pairs", bn254.ecpairing_precompile, pair_ok * 2),
    ]
    native = bn254._native
    print(
        f"{'operation':<20}{'gas':>9}{'native us':>12}{'ns/gas':>9}{'py_ecc us':>13}"
        f"{'ns/gas':>9}{'speed-up':>10}"
    )
    for name, fn, data in rows:
        gas = fn(data, GAS)[0]
        assert fn(data, GAS)[1] is not None
        fast = _median_us(lambda fn=fn, data=data: fn(data, GAS), args.repeat)
        bn254._native = None
        try:
            slow = _median_us(lambda fn=fn, data=data: fn(data, GAS), max(1, args.repeat // 2))
        finally:
            bn254._native = native
        print(
            f"{name:<20}{gas:>9}{fast:>12.1f}{fast * 1000 / gas:>9.1f}{slow:>13.1f}"
            f"{slow * 1000 / gas:>9.1f}{slow / fast:>9.0f}x"
        )


if __name__ == "__main__":
    main()
