"""``strikevm account`` against a real dev node, and ``strikevm demo --duration 10``.

The account test trades through :mod:`strikevm.client` (a perp and a short put), then checks
that the command prints the positions and the same margin numbers ``getAccount`` gives.
The demo test runs the whole demo (its own ephemeral node, prices, makers, takers) for ten
seconds and checks that it exits cleanly after fills happened.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from web3 import Web3

from strikevm.client import Clearinghouse, Oracle, dev_account, wad

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "rpc"))
from rpchelpers import NodeProcess  # noqa: E402

ENV = dict(os.environ, COLUMNS="160")


@pytest.fixture(scope="module")
def node() -> Iterator[NodeProcess]:
    proc = NodeProcess(None).start()
    yield proc
    proc.stop()


def strikevm(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "strikevm.cli", *args], capture_output=True, text=True,
        timeout=timeout, check=False, env=ENV,
    )  # fmt: skip


def money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')):,}"


def test_account_command(node: NodeProcess) -> None:
    w3 = Web3(Web3.HTTPProvider(node.url))
    maker, taker = Clearinghouse(w3, dev_account(1)), Clearinghouse(w3, dev_account(2))
    expiry = maker.market(2).expiry
    Oracle(w3, dev_account(6)).publish(
        [dev_account(i) for i in (7, 8, 9)], prices={"ETH/USD": "3000", "BTC/USD": "60000"},
        rates={"USD": "0.05"}, smiles=[("ETH/USD", expiry, "0.6", "0", "0")],
    )  # fmt: skip
    maker.deposit("USDC", 100_000 * 10**6)
    maker.deposit("WETH", 10**18)
    taker.deposit("USDC", 100_000 * 10**6)
    taker.fill(maker.place(0, True, wad(2), wad(3001)))  # maker long 2 ETH-PERP at 3001
    taker.fill(maker.place(6, False, wad(3), wad(120)))  # maker short 3 ETH 3000 puts

    out = strikevm("account", maker.address or "", "--rpc", node.url)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    state = maker.account()
    assert f"account {maker.address}  sub 0  margin mode standard" in text
    assert "ETH-PERP" in text and "3,001.00" in text and "3,000.0000" in text and "-2.00" in text
    assert re.search(r"ETH-\d\d[A-Z]{3}\d\d-3000-P\s*│\s*-3\.0000", text), text
    assert "WETH" in text and "1.000000" in text
    for value in (state.collateral_value, state.unrealized_pnl, state.equity, state.initial_margin,
                  state.maintenance_margin, state.health):  # fmt: skip
        assert money(value) in text, (money(value), text)
    assert "healthy" in text

    empty = strikevm("account", dev_account(9).address, "--sub", "3", "--rpc", node.url)
    assert empty.returncode == 0 and "(none)" in empty.stdout

    bad = strikevm("account", "0x1234", "--rpc", node.url)
    assert bad.returncode == 2 and "not an address" in bad.stderr
    down = strikevm("account", maker.address or "", "--rpc", "http://127.0.0.1:9")
    assert down.returncode == 1 and "cannot reach" in down.stderr


def test_demo_runs_a_market() -> None:
    out = strikevm("demo", "--duration", "10", timeout=240)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    found = re.search(r"demo: (\d+) fills, (\d+) rejected, (\d+) rounds", out.stdout)
    assert found, out.stdout[-3000:]
    fills, _, rounds = (int(g) for g in found.groups())
    assert fills > 0 and rounds > 0
    assert "fill: #" in out.stdout and "maker #1: equity" in out.stdout
    assert "ETH-PERP" in out.stdout


def test_the_five_lines_of_the_client_docstring(node: NodeProcess) -> None:
    import strikevm.client

    doc = strikevm.client.__doc__ or ""
    start = doc.index("from web3 import Web3")
    lines = [line.strip() for line in doc[start:].splitlines()[:5]]
    assert lines[-1].startswith("print(ch.account().maintenance_margin)")
    code = "\n".join(lines).replace("http://127.0.0.1:8545", node.url)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    assert Decimal(out.stdout.strip()) >= 0
