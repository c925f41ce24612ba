"""The fixture runners' command line: a missing path is a one-line error and exit status 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from strikevm.cli import main


@pytest.mark.parametrize("command", ["statetest", "blocktest"])
def test_missing_fixture_path_is_a_one_line_error(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "absent"
    assert main([command, str(missing)]) == 2
    err = capsys.readouterr().err
    assert err == f"strikevm {command}: {missing}: no such file or folder\n"
