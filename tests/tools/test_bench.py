"""The benchmark runner: correctness checks and output format (never timings)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from strikevm.tools import bench
from strikevm.tools.deepstack import run_deep

SMALL = ("black_scholes", "memory_copy")


def _workload(bench_data: Path, name: str) -> bench.Workload:
    path = bench_data / f"{name}.json"
    if not path.is_file():
        pytest.skip(f"workload {name} not found at {path}")
    return bench.load_workload(path)


@pytest.mark.parametrize("name", SMALL)
def test_bench_workload_checks_output_and_gas(bench_data: Path, name: str) -> None:
    w = _workload(bench_data, name)
    result = run_deep(lambda: bench.bench_workload(w, engine="fast", repeat=1))
    assert result.ok, result.error
    assert result.name == name
    assert result.gas_used == w.expected_gas
    assert len(result.times) == 1
    assert result.median_s is not None and result.mgas_per_s is not None


def test_wrong_expectation_is_not_ok(bench_data: Path) -> None:
    w = _workload(bench_data, "black_scholes")
    wrong = bench.Workload(
        name=w.name,
        path=w.path,
        code=w.code,
        calldata=w.calldata,
        gas_limit=w.gas_limit,
        expected_output=w.expected_output,
        expected_gas=w.expected_gas + 1,
    )
    result = run_deep(lambda: bench.bench_workload(wrong, repeat=1))
    assert not result.ok
    assert "gas" in result.error
    assert result.gas_used == w.expected_gas


def test_json_line_keys() -> None:
    result = bench.BenchResult(
        name="x", path="x.json", gas_used=100, times=[0.5, 1.0, 2.0], ok=True
    )
    record = json.loads(bench.json_line(result))
    assert tuple(record) == bench.JSON_KEYS
    assert record == {
        "name": "x",
        "median_s": 1.0,
        "gas_used": 100,
        "mgas_per_s": 100 / 1.0 / 1e6,
        "ok": True,
    }


def test_main_json_output(
    bench_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in SMALL:
        shutil.copy(_workload(bench_data, name).path, tmp_path / f"{name}.json")
    rc = bench.main([str(tmp_path)], as_json=True, engine="fast", repeat=1, budget=1.0)
    lines = capsys.readouterr().out.splitlines()
    assert rc == 0
    assert len(lines) == len(SMALL)
    records = [json.loads(line) for line in lines]
    assert [r["name"] for r in records] == sorted(SMALL)
    for record in records:
        assert set(record) == set(bench.JSON_KEYS)
        assert record["ok"] is True
        assert isinstance(record["gas_used"], int)
        assert isinstance(record["median_s"], float)
        assert isinstance(record["mgas_per_s"], float)


def test_unparsable_workload_reported_with_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "broken.json"
    bad.write_text("{not json", encoding="utf-8")
    rc = bench.main([str(bad)], as_json=True, engine="fast", repeat=1, budget=1.0)
    captured = capsys.readouterr()
    assert rc == 1
    assert str(bad) in captured.err
    (line,) = captured.out.splitlines()
    record = json.loads(line)
    assert set(record) == set(bench.JSON_KEYS)
    assert record["ok"] is False


def test_missing_field_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "w.json"
    path.write_text(json.dumps({"name": "w", "code": "00", "calldata": ""}), encoding="utf-8")
    with pytest.raises(bench.WorkloadError, match="gas_limit"):
        bench.load_workload(path)


def test_planned_runs() -> None:
    assert bench.planned_runs(0.5, 7, 3.0) == 7
    assert bench.planned_runs(10.0, None, 3.0) == bench.MIN_RUNS
    assert bench.planned_runs(1e-6, None, 3.0) == bench.MAX_RUNS
    assert bench.planned_runs(0.1, None, 3.0) == 30
