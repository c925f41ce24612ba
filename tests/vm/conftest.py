"""Fixtures of the opcode tests: the ``engine`` parameter runs each test on both engines."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:  # make ``vmhelpers`` importable whatever pytest's import mode
    sys.path.insert(0, _HERE)

from vmhelpers import ENGINES  # noqa: E402


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """Name of the execution engine under test: "reference" or "fast"."""
    return request.param
