"""Benchmark runner: ``strikevm bench PATH...`` times the shared speed workloads.

Each workload (a JSON file, see ``bench-data/README.md``) is run from a fresh
pre-state: its runtime code at ``TARGET``, a funded ``CALLER`` calling it with
value 0 and the workload's calldata and gas limit, both accounts warm, Cancun
rules. Every run must return ``expected_output`` and use exactly
``expected_gas`` execution gas (gas consumed by the call, before refunds,
without intrinsic gas). One untimed warm-up run comes first; then at least
``MIN_RUNS`` timed runs, more for fast workloads, within a time budget per
workload (or exactly ``--repeat`` runs). Only ``EVM.process_message`` is timed;
building the state is not. The median time and Mgas/s (gas / median) are
reported per workload, with the geometric mean of Mgas/s.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from strikevm.state.account import Account
from strikevm.state.world import WorldState
from strikevm.tools.deepstack import run_deep
from strikevm.vm.env import BlockEnv, Message, TxEnv
from strikevm.vm.evm import EVM

CALLER = 0x1000000000000000000000000000000000000000
TARGET = 0x2000000000000000000000000000000000000002
CALLER_BALANCE = 10**20

ENGINES = ("fast", "reference")
MIN_RUNS = 5
MAX_RUNS = 200
DEFAULT_BUDGET = 3.0

JSON_KEYS = ("name", "median_s", "gas_used", "mgas_per_s", "ok")


class WorkloadError(ValueError):
    """A workload file cannot be read or parsed; the message starts with its path."""


@dataclass(frozen=True, slots=True)
class Workload:
    name: str
    path: Path
    code: bytes
    calldata: bytes
    gas_limit: int
    expected_output: bytes
    expected_gas: int


def _hex_field(path: Path, body: dict[str, Any], key: str) -> bytes:
    value = body.get(key)
    if not isinstance(value, str):
        raise WorkloadError(f"{path}: field {key!r} missing or not a hex string")
    text = value[2:] if value[:2] in ("0x", "0X") else value
    try:
        return bytes.fromhex(text)
    except ValueError as exc:
        raise WorkloadError(f"{path}: field {key!r} is not valid hex ({exc})") from None


def _int_field(path: Path, body: dict[str, Any], key: str) -> int:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise WorkloadError(f"{path}: field {key!r} missing or not a non-negative integer")
    return value


def load_workload(path: str | Path) -> Workload:
    """Parse one workload file; raises ``WorkloadError`` naming the path."""
    path = Path(path)
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WorkloadError(f"{path}: cannot read workload: {exc}") from None
    if not isinstance(body, dict):
        raise WorkloadError(f"{path}: a workload is a JSON object")
    name = body.get("name", path.stem)
    if not isinstance(name, str) or not name:
        raise WorkloadError(f"{path}: field 'name' is not a non-empty string")
    return Workload(
        name=name,
        path=path,
        code=_hex_field(path, body, "code"),
        calldata=_hex_field(path, body, "calldata"),
        gas_limit=_int_field(path, body, "gas_limit"),
        expected_output=_hex_field(path, body, "expected_output"),
        expected_gas=_int_field(path, body, "expected_gas"),
    )


def collect(paths: Iterable[str | Path]) -> list[Path]:
    """Workload files named by ``paths`` (files, or folders of ``*.json``), in order.

    A path that does not exist is kept, so that loading it reports the error.
    """
    seen: set[Path] = set()
    files: list[Path] = []
    for raw in paths:
        p = Path(raw)
        found = sorted(p.glob("*.json")) if p.is_dir() else [p]
        for f in found:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                files.append(f)
    return files


@dataclass(slots=True)
class Run:
    """One execution of a workload."""

    seconds: float
    success: bool
    output: bytes
    gas_used: int


def run_once(w: Workload, engine: str = "fast") -> Run:
    """Run ``w`` once from a fresh pre-state, timing only ``process_message``.

    Call on a deep-stack thread (``run_deep``), as deep call chains need.
    """
    state = WorldState({TARGET: Account(code=w.code), CALLER: Account(balance=CALLER_BALANCE)})
    state.prewarm([CALLER, TARGET])
    evm = EVM(state, BlockEnv(), TxEnv(origin=CALLER), engine=engine)
    msg = Message(CALLER, TARGET, 0, w.calldata, w.gas_limit, w.code, TARGET)
    process = evm.process_message
    gc.collect()
    start = time.perf_counter()
    result = process(msg)
    seconds = time.perf_counter() - start
    return Run(seconds, result.success, bytes(result.output), w.gas_limit - result.gas_left)


def check(w: Workload, run: Run) -> str:
    """Why ``run`` is wrong for ``w``, or ``""`` when it is right."""
    problems: list[str] = []
    if not run.success:
        problems.append("call failed")
    if run.output != w.expected_output:
        problems.append(
            f"output {_short(run.output.hex())} != expected {_short(w.expected_output.hex())}"
        )
    if run.gas_used != w.expected_gas:
        problems.append(f"gas {run.gas_used:,} != expected {w.expected_gas:,}")
    return "; ".join(problems)


def _short(text: str, keep: int = 16) -> str:
    return text if len(text) <= 2 * keep + 3 else f"{text[:keep]}...{text[-keep:]}"


@dataclass(slots=True)
class BenchResult:
    """Timings and verdict for one workload (or one unreadable workload file)."""

    name: str
    path: str
    gas_used: int | None = None
    times: list[float] = field(default_factory=list)
    ok: bool = False
    error: str = ""

    @property
    def median_s(self) -> float | None:
        return statistics.median(self.times) if self.times else None

    @property
    def mgas_per_s(self) -> float | None:
        median = self.median_s
        if median is None or self.gas_used is None or median <= 0:
            return None
        return self.gas_used / median / 1e6

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` record: exactly the keys in ``JSON_KEYS``."""
        return {
            "name": self.name,
            "median_s": self.median_s,
            "gas_used": self.gas_used,
            "mgas_per_s": self.mgas_per_s,
            "ok": self.ok,
        }


def json_line(result: BenchResult) -> str:
    """One ``--json`` output line."""
    return json.dumps(result.to_json())


def planned_runs(warmup_s: float, repeat: int | None, budget: float) -> int:
    """How many timed runs to expect after a warm-up of ``warmup_s`` seconds."""
    if repeat is not None:
        return repeat
    if warmup_s <= 0:
        return MAX_RUNS
    return max(MIN_RUNS, min(MAX_RUNS, int(budget / warmup_s)))


def bench_workload(
    w: Workload,
    *,
    engine: str = "fast",
    repeat: int | None = None,
    budget: float = DEFAULT_BUDGET,
    on_progress: Callable[[int, int], None] | None = None,
) -> BenchResult:
    """Warm up once, then time ``repeat`` runs (or ``MIN_RUNS``.. within ``budget`` s).

    Every run, warm-up included, is checked against the expected output and
    gas. ``on_progress(done, planned)`` is called after each timed run. Call
    on a deep-stack thread (``run_deep``).
    """
    result = BenchResult(name=w.name, path=str(w.path))
    problems: list[str] = []

    def record(run: Run) -> None:
        result.gas_used = run.gas_used
        reason = check(w, run)
        if reason and reason not in problems:
            problems.append(reason)

    try:
        warm = run_once(w, engine)
        record(warm)
        planned = planned_runs(warm.seconds, repeat, budget)
        if on_progress is not None:
            on_progress(0, planned)
        started = time.perf_counter()
        while True:
            n = len(result.times)
            if repeat is not None:
                if n >= repeat:
                    break
            elif n >= MIN_RUNS:
                elapsed = time.perf_counter() - started
                if n >= MAX_RUNS or elapsed + statistics.median(result.times) > budget:
                    break
            run = run_once(w, engine)
            record(run)
            result.times.append(run.seconds)
            if on_progress is not None:
                planned = max(planned, len(result.times))
                on_progress(len(result.times), planned)
    except Exception as exc:  # an engine bug must not stop the other workloads
        problems.append(f"crashed: {type(exc).__name__}: {exc}")
    result.ok = not problems
    result.error = "; ".join(problems)
    return result


def geometric_mean(values: Iterable[float]) -> float | None:
    vals = [v for v in values if v > 0]
    if not vals:
        return None
    return math.exp(sum(math.log(v) for v in vals) / len(vals))


def _fmt_seconds(s: float | None) -> str:
    if s is None:
        return "-"
    if s >= 1:
        return f"{s:.3f} s"
    return f"{s * 1e3:.2f} ms"


def _fmt_num(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


def results_table(results: list[BenchResult], engine: str) -> Table:
    """The human-readable summary table."""
    table = Table(
        box=box.SIMPLE_HEAD,
        title=f"StrikeVM bench: engine {engine}, Python {platform.python_version()}",
        caption="1 warm-up, then median of timed runs; Mgas/s = gas / median",
    )
    table.add_column("workload", no_wrap=True)
    table.add_column("gas", justify="right", no_wrap=True)
    table.add_column("runs", justify="right", no_wrap=True)
    table.add_column("median", justify="right", no_wrap=True)
    table.add_column("spread", justify="right", no_wrap=True)
    table.add_column("Mgas/s", justify="right", no_wrap=True)
    table.add_column("check", no_wrap=True)
    for r in results:
        spread = None
        median = r.median_s
        if r.times and median:
            spread = (max(r.times) - min(r.times)) / median * 100
        table.add_row(
            escape(r.name),
            "-" if r.gas_used is None else f"{r.gas_used:,}",
            str(len(r.times)),
            _fmt_seconds(median),
            "-" if spread is None else f"{spread:.1f}%",
            _fmt_num(r.mgas_per_s),
            "[green]ok[/]" if r.ok else "[red]FAIL[/]",
        )
    return table


def summary_line(results: list[BenchResult]) -> str:
    """Geometric mean of Mgas/s over the workloads that ran correctly."""
    rates = [r.mgas_per_s for r in results if r.ok and r.mgas_per_s is not None]
    geo = geometric_mean(rates)
    failed = sum(1 for r in results if not r.ok)
    text = f"geometric mean: {_fmt_num(geo)} Mgas/s over {len(rates)} of {len(results)} workloads"
    if failed:
        text += f"; [red]{failed} not ok[/]"
    return text


def _run_all(
    files: list[Path],
    *,
    as_json: bool,
    engine: str,
    repeat: int | None,
    budget: float,
    out: Console,
    err: Console,
) -> list[BenchResult]:
    results: list[BenchResult] = []
    progress = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )
    with progress:
        overall = progress.add_task("workloads", total=len(files))
        for path in files:
            try:
                w = load_workload(path)
            except WorkloadError as exc:
                result = BenchResult(name=str(path), path=str(path), error=str(exc))
                err.print(
                    f"[red]error:[/] {escape(str(exc))}",
                    markup=True,
                    highlight=False,
                    soft_wrap=True,
                )
            else:
                task = progress.add_task(f"{w.name} (warm-up)", total=None)

                def on_progress(done: int, planned: int, task: Any = task, w: Workload = w) -> None:
                    progress.update(task, description=w.name, completed=done, total=planned)

                result = bench_workload(
                    w, engine=engine, repeat=repeat, budget=budget, on_progress=on_progress
                )
                progress.remove_task(task)
                if not result.ok:
                    err.print(
                        f"[red]FAIL[/] {escape(w.name)} ({escape(str(path))}): {escape(result.error)}",
                        markup=True,
                        highlight=False,
                        soft_wrap=True,
                    )
            results.append(result)
            if as_json:
                out.file.write(json_line(result) + "\n")
                out.file.flush()
            progress.advance(overall)
    return results


def main(
    paths: list[str],
    *,
    as_json: bool = False,
    engine: str = "fast",
    repeat: int | None = None,
    budget: float = DEFAULT_BUDGET,
) -> int:
    """Benchmark the workloads under ``paths``; 0 if every one is right, else 1 (2: bad use)."""
    err = Console(stderr=True)
    out = Console()
    if not out.is_terminal:
        out = Console(width=120)
    if engine not in ENGINES:
        err.print(f"error: unknown engine {engine!r}: expected one of {', '.join(ENGINES)}")
        return 2
    if repeat is not None and repeat < 1:
        err.print("error: --repeat must be at least 1")
        return 2
    if not budget > 0:
        err.print("error: --budget must be positive")
        return 2
    files = collect(paths)
    if not files:
        err.print(f"error: no workload files under {' '.join(paths)}", highlight=False)
        return 1
    results = run_deep(
        lambda: _run_all(
            files,
            as_json=as_json,
            engine=engine,
            repeat=repeat,
            budget=budget,
            out=out,
            err=err,
        )
    )
    if not as_json:
        out.print(results_table(results, engine))
        out.print(summary_line(results), highlight=False)
    return 0 if all(r.ok for r in results) else 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``bench`` subcommand's arguments."""
    parser.add_argument("paths", nargs="+", help="workload JSON files or folders of them")
    parser.add_argument(
        "--json", action="store_true", help="one JSON object per workload per line on stdout"
    )
    parser.add_argument("--engine", choices=ENGINES, default="fast")
    parser.add_argument(
        "--repeat",
        type=int,
        default=None,
        metavar="N",
        help=f"exactly N timed runs per workload (default: at least {MIN_RUNS}, "
        f"more within the budget, at most {MAX_RUNS})",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=DEFAULT_BUDGET,
        metavar="S",
        help=f"seconds of timed runs per workload when --repeat is not given "
        f"(default {DEFAULT_BUDGET:g})",
    )


def _cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="strikevm bench", description=__doc__.splitlines()[0] if __doc__ else None
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    return main(
        args.paths,
        as_json=args.json,
        engine=args.engine,
        repeat=args.repeat,
        budget=args.budget,
    )


if __name__ == "__main__":
    sys.exit(_cli())
