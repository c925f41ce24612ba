"""Consensus packages must not use floating point, clocks or randomness.

Scans the Python sources of ``strikevm.{vm,state,finance,chain}`` (those that exist)
with :mod:`tokenize` and fails on: float or complex literals (a NUMBER token with a
``.``, a decimal exponent or a ``j`` suffix), any use of the name ``float``, and
imports of ``math``, ``cmath``, ``random``, ``secrets``, ``time`` or ``datetime``.
``strikevm.finance`` (integer math only) must also not use true division ``/``,
which turns two ints into a float.
"""

from __future__ import annotations

import io
import tokenize
from pathlib import Path

import pytest

import strikevm

PACKAGE_ROOT = Path(strikevm.__file__).resolve().parent
CONSENSUS_PACKAGES = ("vm", "state", "finance", "chain")
NO_TRUE_DIVISION = ("finance",)
FORBIDDEN_MODULES = {"math", "cmath", "random", "secrets", "time", "datetime"}


def _is_float_literal(text: str) -> bool:
    t = text.lower().replace("_", "")
    if t.startswith(("0x", "0o", "0b")):
        return False
    return "." in t or "e" in t or t.endswith("j")


def _statements(source: str) -> list[list[tokenize.TokenInfo]]:
    """Tokens grouped into simple statements (split at NEWLINE and ``;``)."""
    groups: list[list[tokenize.TokenInfo]] = [[]]
    skip = (tokenize.COMMENT, tokenize.NL, tokenize.INDENT, tokenize.DEDENT)
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type in skip:
            continue
        if tok.type in (tokenize.NEWLINE, tokenize.ENDMARKER) or tok.string == ";":
            groups.append([])
        else:
            groups[-1].append(tok)
    return [g for g in groups if g]


def _imported_modules(statement: list[tokenize.TokenInfo]) -> list[str]:
    """Absolute module names an ``import``/``from`` statement loads (else empty)."""
    words = [t.string for t in statement]
    # a compound statement on one line ("if x: import y"): look after the colon
    if ":" in words and words[0] not in ("import", "from"):
        words = words[words.index(":") + 1 :]
    if not words or words[0] not in ("import", "from"):
        return []
    if words[0] == "from":
        module = "".join(words[1 : words.index("import")])
        return [] if module.startswith(".") else [module]
    modules: list[str] = []
    current = ""
    skip_alias = False
    for w in words[1:] + [","]:
        if w == ",":
            modules.append(current)
            current, skip_alias = "", False
        elif w == "as":
            skip_alias = True
        elif not skip_alias and w not in "()":
            current += w
    return modules


def scan_source(source: str, forbid_true_division: bool = False) -> list[str]:
    """Every forbidden construct in ``source``, as ``"line: what"`` strings."""
    problems: list[str] = []
    for statement in _statements(source):
        for tok in statement:
            line = tok.start[0]
            if tok.type == tokenize.NUMBER and _is_float_literal(tok.string):
                problems.append(f"{line}: float literal {tok.string}")
            elif tok.type == tokenize.NAME and tok.string == "float":
                problems.append(f"{line}: use of float")
            elif tok.type == tokenize.OP and tok.string in ("/", "/=") and forbid_true_division:
                problems.append(f"{line}: true division")
        for module in _imported_modules(statement):
            if module.split(".")[0] in FORBIDDEN_MODULES:
                problems.append(f"{statement[0].start[0]}: import of {module}")
    return problems


def consensus_files() -> list[Path]:
    files: list[Path] = []
    for package in CONSENSUS_PACKAGES:
        folder = PACKAGE_ROOT / package
        if folder.is_dir():
            files.extend(sorted(folder.rglob("*.py")))
    return files


def test_consensus_sources_are_float_free() -> None:
    files = consensus_files()
    assert any(f.parent.name == "finance" for f in files)
    problems = []
    for path in files:
        package = path.relative_to(PACKAGE_ROOT).parts[0]
        found = scan_source(path.read_text(), forbid_true_division=package in NO_TRUE_DIVISION)
        problems.extend(f"{path.relative_to(PACKAGE_ROOT)}:{p}" for p in found)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("x = 1.5\n", "float literal"),
        ("x = 1e18\n", "float literal"),
        ("x = 10E3\n", "float literal"),
        ("x = 2j\n", "float literal"),
        ("x = .5\n", "float literal"),
        ("y = float(3)\n", "use of float"),
        ("def f(a: float) -> int: ...\n", "use of float"),
        ("import math\n", "import of math"),
        ("import os, random\n", "import of random"),
        ("from time import monotonic\n", "import of time"),
        ("import datetime as dt\n", "import of datetime"),
        ("from math import isqrt as s\n", "import of math"),
        ("def f():\n    import random\n", "import of random"),
        ("x = 1; import time\n", "import of time"),
        ("if x: import math\n", "import of math"),
        ("import os.path, datetime.tz as z\n", "import of datetime.tz"),
        ("from datetime import (\n    date,\n)\n", "import of datetime"),
        ("x = a / b\n", "true division"),
        ("x /= 2\n", "true division"),
    ],
)
def test_scanner_catches(source: str, expected: str) -> None:
    found = scan_source(source, forbid_true_division=True)
    assert any(expected in p for p in found), found


@pytest.mark.parametrize(
    "source",
    [
        "x = 0xE5 + 0b1 + 0o7 + 1_000\n",
        "x = a // b\n",
        "# 1.5 float math\n",
        "s = 'import math 1.5'\n",
        "from .time_utils import x\n",
        "import mathematics\n",
        "from . import time\n",
        "from os import path as math\n",
        "from strikevm.finance import fixedpoint\n",
    ],
)
def test_scanner_allows(source: str) -> None:
    assert scan_source(source, forbid_true_division=True) == []
