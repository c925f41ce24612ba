"""The official Ethereum BlockchainTests (Cancun) through the block pipeline.

Every Cancun test must pass, invalid blocks rejected for the reason the fixture
names. Reads the fixtures from the shared conformance folder
(``STRIKEVM_FIXTURES``), skipping with a clear message when it is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from strikevm.tools.blocktest import collect, run_file
from strikevm.tools.deepstack import run_deep


@pytest.mark.parametrize("group", ["ValidBlocks", "InvalidBlocks"])
def test_blockchain_tests(conformance: Path, group: str) -> None:
    folder = conformance / "blockchain_tests" / group
    if not folder.is_dir():
        pytest.skip(f"BlockchainTests not found at {folder}")
    files = collect([str(folder)])
    assert files, f"no fixtures in {folder}"
    results = run_deep(lambda: [r for f in files for r in run_file(f, "fast")])
    ran = [r for r in results if not r.skipped]
    assert ran, f"no Cancun tests in {folder}"
    failures = [f"{r.name}: {r.reason}" for r in ran if not r.passed]
    assert not failures, f"{len(failures)} of {len(ran)} failed:\n" + "\n".join(failures[:50])
