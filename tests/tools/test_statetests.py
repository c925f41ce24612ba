"""The official Ethereum state tests (Cancun) on the fast engine, one test per category.

Every case must pass. Reads the fixtures from the shared conformance folder
(``STRIKEVM_FIXTURES``), skipping with a clear message when it is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from strikevm.fixtures import conformance_dir
from strikevm.tools.deepstack import run_deep
from strikevm.tools.statetest import collect, run_file


def _categories() -> list[str]:
    root = conformance_dir() / "state_tests"
    if not root.is_dir():
        return ["<absent>"]
    cats = set()
    for f in collect([str(root)]):
        rel = f.relative_to(root).parent
        cats.add(str(rel))
    return sorted(cats)


@pytest.mark.parametrize("category", _categories())
def test_state_tests(conformance: Path, category: str) -> None:
    folder = conformance / "state_tests" / category
    files = sorted(folder.glob("*.json"))
    assert files, f"no fixtures in {folder}"
    results = run_deep(lambda: [r for f in files for r in run_file(f, "fast")])
    assert results, f"no Cancun cases in {folder}"
    failures = [f"{r.name}: {r.reason}" for r in results if not r.passed]
    assert not failures, f"{len(failures)} of {len(results)} failed:\n" + "\n".join(failures[:50])
