"""Determinism: the same state tests in two processes with different hash seeds
give identical post-state roots (and verdicts)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# Categories that exercise storage, logs, creates, self-destructs and calls.
CATEGORIES = ["stSStoreTest", "stCreate2", "stLogTests", "Pyspecs/cancun/eip6780_selfdestruct"]


def _roots(conformance: Path, seed: str) -> list[tuple[str, bool, str]]:
    env = dict(os.environ, PYTHONHASHSEED=seed)
    paths = [str(conformance / "state_tests" / c) for c in CATEGORIES]
    out = subprocess.run(
        [sys.executable, "-m", "strikevm.cli", "statetest", "--json", "-j", "1", *paths],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [(f"{r['file']}::{r['test']}[{r['index']}]", r["passed"], r["root"]) for r in rows]


def test_roots_identical_across_hash_seeds(conformance: Path) -> None:
    a = _roots(conformance, "1")
    b = _roots(conformance, "4242")
    assert len(a) > 300
    assert sum(1 for _, _, root in a if root) > 300
    assert a == b
