"""``strikevm oracle publish/show`` against a real dev node, and eth_getProof of a feed value.

The dev genesis ships ETH/USD, BTC/USD and the USD rate with three dev publishers; the
tool signs as them, relays, and the aggregate is then proven from the state root with
the ``trie`` package.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import rlp as pyrlp
from eth_hash.auto import keccak
from trie import HexaryTrie

from strikevm.finance.oracle_layout import (
    ORACLE_ADDRESS,
    aggregate_slot,
    feed_id,
    unpack_aggregate,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "rpc"))
from rpchelpers import NodeProcess  # noqa: E402


@pytest.fixture(scope="module")
def node() -> Iterator[NodeProcess]:
    proc = NodeProcess(None).start()
    yield proc
    proc.stop()


def strikevm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "strikevm.cli", *args], capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip


def test_publish_show_and_prove(node: NodeProcess) -> None:
    out = strikevm("oracle", "publish", "--rpc", node.url, "--feed", "ETH/USD", "--price", "3000.5",
                   "--conf", "0.25", "--dev")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "3 update(s)" in out.stdout and "ok" in out.stdout

    shown = strikevm("oracle", "show", "ETH/USD", "--rpc", node.url)
    assert shown.returncode == 0, shown.stderr
    assert "aggregate: 3000.5" in shown.stdout
    assert "quorum 2 of 3" in shown.stdout

    # prove the aggregate slot against the head's state root
    slot = aggregate_slot(feed_id("ETH/USD"))
    proof = node.call("eth_getProof", f"0x{ORACLE_ADDRESS:040x}", [hex(slot)], "latest")
    block = node.call("eth_getBlockByNumber", "latest", False)
    root = bytes.fromhex(block["stateRoot"][2:])
    nodes = [pyrlp.decode(bytes.fromhex(p[2:])) for p in proof["accountProof"]]
    account = pyrlp.decode(HexaryTrie.get_from_proof(root, keccak(ORACLE_ADDRESS.to_bytes(20, "big")), nodes))
    storage_root = account[2]
    entry = proof["storageProof"][0]
    nodes = [pyrlp.decode(bytes.fromhex(p[2:])) for p in entry["proof"]]
    raw = HexaryTrie.get_from_proof(storage_root, keccak(slot.to_bytes(32, "big")), nodes)
    price, conf, _, _ = unpack_aggregate(int.from_bytes(pyrlp.decode(raw), "big"))
    assert (price, conf) == (300_050_000_000, 25_000_000)


def test_follow_mode_and_rate(node: NodeProcess) -> None:
    out = strikevm("oracle", "publish", "--rpc", node.url, "--feed", "BTC/USD", "--price", "60000",
                   "--dev", "--follow", "--count", "3", "--interval", "0", "--seed", "7")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.count(" ok") == 3
    rate = strikevm("oracle", "publish", "--rpc", node.url, "--feed", "USD", "--rate", "-0.005", "--dev")
    assert rate.returncode == 0, rate.stderr
    shown = strikevm("oracle", "show", "USD", "--rpc", node.url)
    assert "aggregate: -0.005" in shown.stdout


def test_errors_are_named(node: NodeProcess) -> None:
    missing = strikevm("oracle", "show", "DOGE/USD", "--rpc", node.url)
    assert "UnknownFeed" in missing.stdout
    stale = strikevm("oracle", "show", "ETH/USD", "--rpc", "http://127.0.0.1:9")
    assert stale.returncode == 1 and "cannot reach" in stale.stderr
