"""Where the shared data lives: conformance fixtures and benchmark workloads.

``STRIKEVM_FIXTURES`` may point at the shared folder (the one holding
``conformance/`` and ``bench-data/``); by default it is ``../shared`` next to
the repository checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_dir() -> Path:
    env = os.environ.get("STRIKEVM_FIXTURES")
    if env:
        return Path(env).expanduser().resolve()
    return (REPO_ROOT.parent / "shared").resolve()


def conformance_dir() -> Path:
    return shared_dir() / "conformance"


def bench_data_dir() -> Path:
    return shared_dir() / "bench-data"
