"""Foundry's forge, viem's test client and ethers v6 against anvil and StrikeVM.

The ``node`` fixture starts each backend once for the module; each test runs a real tool
against it and then checks the outcome through plain JSON-RPC:

- ``forge script --broadcast`` (tests/clients/forge) deploys a contract with ``new C{salt: s}``,
  which forge sends through the deterministic CREATE2 deployer; forge compiles with
  ``tests/clients/solc_wrapper.js`` (solc-js behind solc's ``--standard-json`` command line),
  since it cannot download a solc here.
- ``viem_testclient.mjs``: impersonation, setBalance/Code/StorageAt/Nonce, an OpenZeppelin
  TimelockController call queued, warped across its delay, executed; mine with an interval.
- ``ethers_permit.mjs``: an EIP-2612 permit signed by the node (``eth_signTypedData_v4``)
  and used by the spender.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from devnode import (
    NODE_MODULES,
    ROOT,
    DevNode,
    MissingDependency,
    dev_accounts,
    require_node_packages,
    rpc_call,
)
from eth_abi import encode
from eth_utils import keccak, to_checksum_address

CLIENTS = ROOT / "tests" / "clients"
FORGE_PROJECT = CLIENTS / "forge"
SOLC_WRAPPER = CLIENTS / "solc_wrapper.js"
CREATE2_DEPLOYER = "0x4e59b44847b379578588920cA78FbF26c0B4956C"
SALT = 0x5712


def _require(*packages: str) -> None:
    try:
        require_node_packages(*packages)
    except MissingDependency as exc:
        pytest.fail(str(exc), pytrace=False)


def _run(cmd: list[str], node: DevNode | None = None, **kwargs: Any) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=300, **kwargs)
    if proc.returncode:
        tail = f"\n--- {node.backend} log tail ---\n{node.log_tail()}" if node else ""
        pytest.fail(
            f"{' '.join(cmd[:3])} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n"
            f"{proc.stderr[-4000:]}{tail}",
            pytrace=False,
        )
    return proc.stdout


@pytest.fixture(scope="session")
def oz_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """TimelockController and an ERC20Permit token compiled with solc-js, as a JSON file."""
    _require("solc", "@openzeppelin/contracts")
    path = tmp_path_factory.mktemp("oz") / "artifacts.json"
    path.write_text(_run(["node", str(CLIENTS / "oz_artifacts.mjs")], cwd=ROOT))
    return path


@pytest.fixture(scope="session")
def forge_built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of tests/clients/forge, built once with the solc-js wrapper."""
    _require("solc", "@foundry-rs/forge")
    project = tmp_path_factory.mktemp("forge") / "project"
    shutil.copytree(
        FORGE_PROJECT, project, ignore=shutil.ignore_patterns("out", "cache", "broadcast")
    )
    _run([str(NODE_MODULES / ".bin" / "forge"), "build", "--use", str(SOLC_WRAPPER)], cwd=project)
    return project


def test_forge_script_create2(node: DevNode, forge_built: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(forge_built, project)
    deployer = dev_accounts()[0]
    _run(
        [
            str(NODE_MODULES / ".bin" / "forge"),
            "script",
            "script/Deploy.s.sol:Deploy",
            "--use",
            str(SOLC_WRAPPER),
            "--rpc-url",
            node.http_url,
            "--private-key",
            "0x" + bytes(deployer.key).hex(),
            "--broadcast",
            "--non-interactive",
        ],
        node,
        cwd=project,
        env={**os.environ, "COUNTER_SALT": hex(SALT)},
    )
    run = json.loads(
        (project / "broadcast" / "Deploy.s.sol" / "31337" / "run-latest.json").read_text()
    )
    create, call = run["transactions"]
    assert create["transactionType"] == "CREATE2"
    assert create["transaction"]["to"].lower() == CREATE2_DEPLOYER.lower()

    # The address is CREATE2(deployer, salt, keccak(initcode)) with the artifact's initcode.
    artifact = json.loads((project / "out" / "Counter.sol" / "Counter.json").read_text())
    initcode = bytes.fromhex(artifact["bytecode"]["object"].removeprefix("0x"))
    initcode += encode(["uint256", "address"], [41, deployer.address])
    digest = keccak(
        b"\xff" + bytes.fromhex(CREATE2_DEPLOYER[2:]) + SALT.to_bytes(32, "big") + keccak(initcode)
    )
    counter = to_checksum_address(digest[12:])
    assert to_checksum_address(create["contractAddress"]) == counter

    for tx in (create, call):
        receipt = rpc_call(node.http_url, "eth_getTransactionReceipt", [tx["hash"]])
        assert receipt["status"] == "0x1"
        assert receipt["from"].lower() == deployer.address.lower()
    assert rpc_call(node.http_url, "eth_getCode", [counter, "latest"]) != "0x"
    count = rpc_call(node.http_url, "eth_call", [{"to": counter, "data": "0x06661abd"}, "latest"])
    assert int(count, 16) == 42  # count(): 41 from the constructor, then increment()


def test_viem_test_client_timelock(node: DevNode, oz_artifacts: Path) -> None:
    _require("viem")
    out = _run(
        ["node", str(CLIENTS / "viem_testclient.mjs"), node.http_url, str(oz_artifacts)], node
    )
    summary = json.loads(out.strip().splitlines()[-1])
    assert int(summary["executedAt"]) >= int(summary["readyAt"])
    assert int(summary["mined"]["to"]) - int(summary["mined"]["from"]) == 5
    receipt = rpc_call(node.http_url, "eth_getTransactionReceipt", [summary["execute"]])
    assert receipt["status"] == "0x1"
    block = rpc_call(node.http_url, "eth_getBlockByNumber", [receipt["blockNumber"], False])
    assert int(block["timestamp"], 16) >= int(summary["readyAt"])


def test_ethers_permit_signed_by_node(node: DevNode, oz_artifacts: Path) -> None:
    _require("ethers")
    out = _run(["node", str(CLIENTS / "ethers_permit.mjs"), node.http_url, str(oz_artifacts)], node)
    summary = json.loads(out.strip().splitlines()[-1])
    assert int(summary["allowance"]) == 15 * 10**18
    for key in ("permit", "transferFrom"):
        receipt = rpc_call(node.http_url, "eth_getTransactionReceipt", [summary[key]])
        assert receipt["status"] == "0x1"
        assert receipt["from"].lower() == summary["spender"].lower()


# SLOAD(0)+1 -> SSTORE(0); LOG1(topic TIMESTAMP); return the new count
COUNTER_CODE = "0x600160005401806000554260006000a160005260206000f3"
REVERTER_CODE = "0x60046000fd"  # REVERT with 4 zero bytes


def test_simulate_v1(node: DevNode) -> None:
    """eth_simulateV1: two blocks, state and block overrides, logs, a revert and a halt."""
    counter, reverter = "0x" + "51" * 20, "0x" + "be" * 20
    head = rpc_call(node.http_url, "eth_getBlockByNumber", ["latest", False])
    request = {
        "blockStateCalls": [
            {
                "blockOverrides": {"time": hex(int(head["timestamp"], 16) + 1000)},
                "stateOverrides": {
                    counter: {
                        "code": COUNTER_CODE,
                        "stateDiff": {"0x" + "00" * 32: "0x" + "05".rjust(64, "0")},
                    },
                    reverter: {"code": REVERTER_CODE},
                },
                "calls": [
                    {"from": dev_accounts()[3].address, "to": counter},
                    {"to": reverter},
                    {"to": counter, "gas": hex(21000)},  # out of gas after the intrinsic cost
                ],
            },
            {"calls": [{"to": counter}]},
        ],
    }
    first, second = rpc_call(node.http_url, "eth_simulateV1", [request, "latest"])
    number = int(head["number"], 16)
    assert int(second["number"], 16) == int(first["number"], 16) + 1
    assert int(first["timestamp"], 16) == int(head["timestamp"], 16) + 1000
    assert int(second["timestamp"], 16) == int(first["timestamp"], 16) + 12
    ok, reverted, halted = first["calls"]
    assert (ok["status"], int(ok["returnData"], 16)) == ("0x1", 6)
    [log] = ok["logs"]
    assert log["address"] == counter and int(log["topics"][0], 16) == int(first["timestamp"], 16)
    assert (log["blockHash"], log["blockNumber"]) == (first["hash"], first["number"])
    assert (reverted["status"], reverted["returnData"]) == ("0x0", "0x00000000")
    assert halted["status"] == "0x0" and int(halted["gasUsed"], 16) == 21000
    assert reverted["error"] and halted["error"]
    assert len(first["transactions"]) == 3
    # The second block sees the first one's state.
    assert int(second["calls"][0]["returnData"], 16) == 7
    assert int(second["gasUsed"], 16) == int(second["calls"][0]["gasUsed"], 16)
    if node.backend == "strikevm":  # anvil: numbered from the head, -3200, zero parentHash
        assert int(first["number"], 16) == number + 1
        assert reverted["error"] == {
            "code": 3,
            "message": "execution reverted",
            "data": "0x00000000",
        }
        assert halted["error"] == {"code": -32015, "message": "out of gas"}
        assert second["parentHash"] == first["hash"] and first["parentHash"] == head["hash"]
        assert log["transactionHash"] == first["transactions"][0]
    # Nothing was committed.
    assert rpc_call(node.http_url, "eth_getCode", [counter, "latest"]) == "0x"
    assert rpc_call(node.http_url, "eth_blockNumber") == head["number"]
