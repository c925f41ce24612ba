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


def test_blockchain_tests_through_the_parallel_executor(
    conformance: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every block of two or more transactions goes through chain.parallel (two executors,
    the last batch always left to the forked one); single-transaction blocks keep the
    sequential path. All Cancun tests still pass, rejections for the same reasons."""
    from strikevm.chain import parallel, pipeline

    folder = conformance / "blockchain_tests"
    if not folder.is_dir():
        pytest.skip(f"BlockchainTests not found at {folder}")
    monkeypatch.setattr(parallel, "MIN_PARALLEL_TXS", 2)
    monkeypatch.setattr(parallel, "MIN_GAS_PER_TX", 0)
    monkeypatch.setattr(parallel, "DEFAULT_RESERVE", 1)
    runs: list[parallel.ParallelStats] = []
    original = parallel.execute_transactions

    def counted(*args: object, **kwargs: object) -> parallel.ParallelStats:
        try:
            stats = original(*args, **kwargs)  # type: ignore[arg-type]
        except parallel.BlockTransactionError as exc:
            if exc.stats is not None:
                runs.append(exc.stats)
            raise
        runs.append(stats)
        return stats

    monkeypatch.setattr(pipeline, "execute_transactions", counted)
    files = collect([str(folder)])
    results = run_deep(lambda: [r for f in files for r in run_file(f, "fast", workers=2)])
    ran = [r for r in results if not r.skipped]
    failures = [f"{r.name}: {r.reason}" for r in ran if not r.passed]
    assert ran and not failures, f"{len(failures)} of {len(ran)} failed:\n" + "\n".join(failures[:50])
    forked = [r for r in runs if r.mode == "parallel"]
    assert forked and sum(r.optimistic for r in forked) > 0
    single = [r for r in runs if r.transactions == 1]
    assert single and all(r.mode == "sequential" for r in single)
    print(f"{len(forked)} blocks in parallel, {sum(r.committed for r in forked)} forked results "
          f"committed, {sum(r.reexecuted for r in forked)} re-executed")  # fmt: skip
