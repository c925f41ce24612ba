"""Fixtures of the opcode tests: the ``engine`` parameter runs each test on every engine.

"fast" is the default tiered fast engine (cold code interpreted, hot code compiled);
"eager" is the same engine with every region compiled on first entry, so one-shot test
programs exercise the trace compiler itself.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:  # make ``vmhelpers`` importable whatever pytest's import mode
    sys.path.insert(0, _HERE)

from vmhelpers import ENGINES  # noqa: E402


@pytest.fixture(params=(*ENGINES, "eager"))
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Name of the execution engine under test: "reference", "fast" or "eager" (the fast
    engine compiling every region on first entry)."""
    if request.param == "eager":
        from strikevm.vm import compiler

        monkeypatch.setattr(compiler, "EAGER", True)
        compiler.clear_cache()
        request.addfinalizer(compiler.clear_cache)
        return "fast"
    return request.param
