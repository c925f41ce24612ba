"""Shared test helpers: locating the conformance fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from strikevm.fixtures import bench_data_dir, conformance_dir


def _require(path: Path, what: str) -> Path:
    if not path.is_dir():
        pytest.skip(
            f"{what} not found at {path}: set STRIKEVM_FIXTURES to the shared folder "
            "holding conformance/ and bench-data/"
        )
    return path


@pytest.fixture(scope="session")
def conformance() -> Path:
    return _require(conformance_dir(), "conformance fixtures")


@pytest.fixture(scope="session")
def bench_data() -> Path:
    return _require(bench_data_dir(), "benchmark workloads")
