"""Compare StrikeVM with py-evm 0.12.1b1 on the shared speed workloads, on this machine.

py-evm runs in its own virtualenv (``bench/.venv-pyevm``, created and filled on
first use with ``pip install --pre py-evm==0.12.1b1``) through
``bench/pyevm_worker.py``, a subprocess that prints one JSON line per workload.
StrikeVM is measured in this process with ``strikevm.tools.bench``. Both sides
use the same pre-state and checks (see ``bench-data/README.md``); the result is
a Markdown table on stdout: medians, Mgas/s and the ratio py-evm / StrikeVM,
with the geometric mean of the ratios.

    .venv/bin/python bench/compare_pyevm.py [--repeat N] [--only NAME]...
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from strikevm.fixtures import bench_data_dir
from strikevm.tools import bench
from strikevm.tools.deepstack import run_deep

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv-pyevm"
WORKER = HERE / "pyevm_worker.py"
PYEVM_REQUIREMENT = "py-evm==0.12.1b1"
PYEVM_VERSION = "0.12.1b1"


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _installed_version(python: Path) -> str | None:
    probe = "import importlib.metadata as m; print(m.version('py-evm'))"
    proc = subprocess.run([str(python), "-I", "-c", probe], capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else None


def ensure_pyevm() -> Path:
    """The py-evm virtualenv's interpreter, creating the virtualenv if needed."""
    python = venv_python()
    if python.exists() and _installed_version(python) == PYEVM_VERSION:
        return python
    if not python.exists():
        _log(f"creating {VENV}")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        # Keep the virtualenv out of version control whatever the root .gitignore says.
        (VENV / ".gitignore").write_text("*\n", encoding="utf-8")
    _log(f"installing {PYEVM_REQUIREMENT} into {VENV}")
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--pre", PYEVM_REQUIREMENT],
        check=True,
        stdout=sys.stderr,
    )
    version = _installed_version(python)
    if version != PYEVM_VERSION:
        raise SystemExit(f"py-evm {PYEVM_VERSION} expected in {VENV}, found {version}")
    return python


def run_pyevm(files: list[Path], repeat: int) -> dict[str, dict[str, Any]]:
    """py-evm results by workload name, from the worker in the py-evm virtualenv."""
    python = ensure_pyevm()
    cmd = [str(python), "-I", str(WORKER), "--repeat", str(repeat), *map(str, files)]
    results: dict[str, dict[str, Any]] = {}
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            record = json.loads(line)
            results[record["name"]] = record
            status = "ok" if record["ok"] else "FAIL"
            _log(
                f"py-evm    {record['name']:<16} {record['median_s']:8.3f} s "
                f"({len(record['times'])} runs) {status}"
            )
    if proc.returncode != 0:
        raise SystemExit(f"py-evm worker failed with exit status {proc.returncode}")
    return results


def run_strikevm(
    workloads: list[bench.Workload], engine: str, repeat: int | None, budget: float
) -> dict[str, bench.BenchResult]:
    """StrikeVM results by workload name, measured in this process."""

    def work() -> dict[str, bench.BenchResult]:
        out: dict[str, bench.BenchResult] = {}
        for w in workloads:
            r = bench.bench_workload(w, engine=engine, repeat=repeat, budget=budget)
            out[w.name] = r
            median = r.median_s if r.median_s is not None else float("nan")
            status = "ok" if r.ok else f"FAIL {r.error}"
            _log(f"StrikeVM  {w.name:<16} {median:8.4f} s ({len(r.times)} runs) {status}")
        return out

    return run_deep(work)


@dataclass(slots=True)
class Row:
    name: str
    gas: int
    pyevm_s: float
    pyevm_runs: int
    strike_s: float
    strike_runs: int
    ok: bool

    @property
    def ratio(self) -> float:
        return self.pyevm_s / self.strike_s


def _secs(s: float) -> str:
    return f"{s:.3f} s" if s >= 1 else f"{s * 1e3:.1f} ms"


def cpu_name() -> str:
    """The CPU model, as /proc/cpuinfo names it where there is one."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> str:
    """The 1-minute load average, a hint of how noisy the timings are."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "unknown"


def markdown(
    rows: list[Row], engine: str, pyevm_repeat: int, strike_repeat: int | None, load: str
) -> str:
    lines = [
        "| workload | exec gas | py-evm median | StrikeVM median | ratio (py-evm / StrikeVM) "
        "| py-evm Mgas/s | StrikeVM Mgas/s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        mark = "" if r.ok else " (FAIL)"
        lines.append(
            f"| {r.name}{mark} | {r.gas:,} | {_secs(r.pyevm_s)} (n={r.pyevm_runs}) "
            f"| {_secs(r.strike_s)} (n={r.strike_runs}) | {r.ratio:.1f}x "
            f"| {r.gas / r.pyevm_s / 1e6:.2f} | {r.gas / r.strike_s / 1e6:.2f} |"
        )
    good = [r.ratio for r in rows if r.ok]
    if good:
        geo = math.exp(sum(math.log(x) for x in good) / len(good))
        lines.append(
            f"| **geometric mean** ({len(good)} of {len(rows)}) | | | | **{geo:.1f}x** | | |"
        )
    strike_runs = f"{strike_repeat}" if strike_repeat is not None else f"at least {bench.MIN_RUNS}"
    lines.append("")
    lines.append(
        f"Machine: {cpu_name()}, {os.cpu_count()} logical CPUs, "
        f"Python {platform.python_version()}, load average {load} at start; "
        f"StrikeVM engine `{engine}`. Medians after 1 "
        f"warm-up run; py-evm {pyevm_repeat} timed runs, StrikeVM {strike_runs}. "
        "Execution gas (no intrinsic cost, before refunds); Mgas/s = gas / median; "
        "output and gas checked on both sides."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=None, help="folder of workloads (default: shared bench-data)"
    )
    parser.add_argument(
        "--only", action="append", default=[], metavar="NAME", help="run only this workload"
    )
    parser.add_argument("--repeat", type=int, default=3, help="py-evm timed runs (default 3)")
    parser.add_argument(
        "--strikevm-repeat",
        type=int,
        default=None,
        metavar="N",
        help="StrikeVM timed runs (default: the bench tool's time-budget rule)",
    )
    parser.add_argument("--budget", type=float, default=bench.DEFAULT_BUDGET)
    parser.add_argument("--engine", choices=bench.ENGINES, default="fast")
    args = parser.parse_args(argv)
    if args.repeat < 1 or (args.strikevm_repeat is not None and args.strikevm_repeat < 1):
        parser.error("repeat counts must be at least 1")

    data = args.data if args.data is not None else bench_data_dir()
    files = bench.collect([data])
    if not files:
        parser.error(f"no workloads under {data}")
    workloads = [bench.load_workload(f) for f in files]
    if args.only:
        unknown = set(args.only) - {w.name for w in workloads}
        if unknown:
            parser.error(f"unknown workload(s): {', '.join(sorted(unknown))}")
        workloads = [w for w in workloads if w.name in args.only]

    load = load_average()
    pyevm = run_pyevm([w.path for w in workloads], args.repeat)
    strike = run_strikevm(workloads, args.engine, args.strikevm_repeat, args.budget)

    rows: list[Row] = []
    for w in workloads:
        p, s = pyevm[w.name], strike[w.name]
        if s.median_s is None:
            _log(f"StrikeVM could not run {w.name}: {s.error}")
            return 1
        same_gas = p["gas_used"] == s.gas_used == w.expected_gas
        rows.append(
            Row(
                name=w.name,
                gas=w.expected_gas,
                pyevm_s=p["median_s"],
                pyevm_runs=len(p["times"]),
                strike_s=s.median_s,
                strike_runs=len(s.times),
                ok=bool(p["ok"]) and s.ok and same_gas,
            )
        )
    print(markdown(rows, args.engine, args.repeat, args.strikevm_repeat, load))
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
