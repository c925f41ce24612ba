#!/usr/bin/env python3
"""Regenerate ``src/strikevm/client_abi.py``: the ABIs of the StrikeVM system contracts.

Compiles ``contracts/IStrikeClearinghouse.sol`` and ``contracts/IStrikeOracle.sol`` with the
pinned solc-js through ``contracts/compile.js`` and writes their ABIs as Python constants,
so :mod:`strikevm.client` needs neither Node.js nor solc at run time. The module also
carries the standard ERC-20 subset the client uses (``approve``, ``allowance``,
``balanceOf``, ``decimals``, ``symbol``).

Usage, from anywhere (it runs in the repository root)::

    python contracts/abi_build.py           # rewrite the generated module
    python contracts/abi_build.py --check   # exit 1 if the module is out of date
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {
    "CLEARINGHOUSE_ABI": ("contracts/IStrikeClearinghouse.sol", "IStrikeClearinghouse"),
    "ORACLE_ABI": ("contracts/IStrikeOracle.sol", "IStrikeOracle"),
}
OUTPUT = ROOT / "src" / "strikevm" / "client_abi.py"


def _fn(
    name: str, inputs: list[tuple[str, str]], outputs: list[str], mutability: str
) -> dict[str, Any]:
    return {
        "type": "function", "name": name, "stateMutability": mutability,
        "inputs": [{"name": n, "type": t, "internalType": t} for n, t in inputs],
        "outputs": [{"name": "", "type": t, "internalType": t} for t in outputs],
    }  # fmt: skip


ERC20_ABI: list[dict[str, Any]] = [
    _fn("approve", [("spender", "address"), ("value", "uint256")], ["bool"], "nonpayable"),
    _fn("allowance", [("owner", "address"), ("spender", "address")], ["uint256"], "view"),
    _fn("balanceOf", [("account", "address")], ["uint256"], "view"),
    _fn("decimals", [], ["uint8"], "view"),
    _fn("symbol", [], ["string"], "view"),
    _fn("transfer", [("to", "address"), ("value", "uint256")], ["bool"], "nonpayable"),
]


def compile_abis() -> dict[str, list[dict[str, Any]]]:
    """The ABI of each interface, from a fresh solc-js compilation (compile.js)."""
    files = sorted({source for source, _ in SOURCES.values()})
    proc = subprocess.run(
        ["node", "contracts/compile.js", *files], cwd=ROOT, capture_output=True, text=True,
        check=False, timeout=600,
    )  # fmt: skip
    if proc.returncode:
        raise SystemExit(f"solc failed:\n{proc.stderr}")
    output = json.loads(proc.stdout)
    return {
        key: output["contracts"][source][name]["abi"] for key, (source, name) in SOURCES.items()
    }


def render(abis: dict[str, list[dict[str, Any]]]) -> str:
    """The generated module: each ABI as JSON, one entry a line, parsed at import."""
    lines = [
        '"""ABIs of StrikeClearinghouse and StrikeOracle (generated: do not edit).',
        "",
        "Written by ``contracts/abi_build.py`` from ``contracts/IStrikeClearinghouse.sol`` and",
        "``contracts/IStrikeOracle.sol`` (solc-js, ``contracts/compile.js``); ``ERC20_ABI`` is the",
        "ERC-20 subset :mod:`strikevm.client` uses. Regenerate with",
        "``python contracts/abi_build.py``.",
        '"""',
        "",
        "import json",
        "from typing import Any",
        "",
        '__all__ = ["CLEARINGHOUSE_ABI", "ERC20_ABI", "ORACLE_ABI"]',
        "",
    ]
    for key in (*SOURCES, "ERC20_ABI"):
        value = abis[key] if key in abis else ERC20_ABI
        entries = ",\n".join(json.dumps(e, sort_keys=True) for e in value)
        lines.append(f'{key}: list[dict[str, Any]] = json.loads(\n    """[\n{entries}\n]"""\n)')
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the module is out of date")
    args = parser.parse_args(argv)
    text = render(compile_abis())
    if args.check:
        current = OUTPUT.read_text() if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT.relative_to(ROOT)} is out of date: run python contracts/abi_build.py")
            return 1
        return 0
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
