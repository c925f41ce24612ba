"""ethers.js v6 against a running dev node (``tests/clients/ethers_erc20.mjs``).

The script deploys OpenZeppelin's ERC20, transfers, reads Transfer events with eth_getLogs and
a WebSocket subscription, and checks each step itself; this test runs it per backend and then
checks its transactions independently through plain JSON-RPC.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from devnode import ROOT, DevNode, MissingDependency, dev_accounts, require_node_packages, rpc_call

SCRIPT = ROOT / "tests" / "clients" / "ethers_erc20.mjs"
SUPPLY = 1_000_000 * 10**18


def test_ethers_erc20(node: DevNode, erc20: dict[str, Any], tmp_path: Path) -> None:
    try:
        require_node_packages("ethers")
    except MissingDependency as exc:
        pytest.fail(str(exc), pytrace=False)
    artifact = tmp_path / "ERC20Token.json"
    artifact.write_text(json.dumps(erc20))
    proc = subprocess.run(
        ["node", str(SCRIPT), node.http_url, node.ws_url, str(artifact)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )
    assert proc.returncode == 0, (
        f"ethers script failed ({proc.returncode}):\n{proc.stderr}\n"
        f"--- {node.backend} log tail ---\n{node.log_tail()}"
    )
    summary = json.loads(proc.stdout.strip().splitlines()[-1])

    assert summary["revert"] == "ERC20InsufficientBalance"
    deployer, alice, bob, carol = (a.address for a in dev_accounts()[:4])
    balances = {k: int(v) for k, v in summary["balances"].items()}
    assert balances == {
        deployer: SUPPLY - 250 * 10**18 - 3 * 10**18,
        alice: 210 * 10**18,
        bob: 0,
        carol: 43 * 10**18,
    }

    # The node agrees, read through raw JSON-RPC rather than ethers.
    receipt = rpc_call(node.http_url, "eth_getTransactionReceipt", [summary["transfer"]["hash"]])
    assert int(receipt["status"], 16) == 1
    assert int(receipt["gasUsed"], 16) == int(summary["transfer"]["gasUsed"])
    assert int(receipt["blockNumber"], 16) == summary["transfer"]["blockNumber"]
    assert receipt["to"].lower() == summary["token"].lower()
    ws_receipt = rpc_call(
        node.http_url, "eth_getTransactionReceipt", [summary["wsEvent"]["transactionHash"]]
    )
    assert int(ws_receipt["blockNumber"], 16) == summary["wsEvent"]["blockNumber"]
    code = rpc_call(node.http_url, "eth_getCode", [summary["token"], "latest"])
    assert code == erc20["deployedBytecode"]
