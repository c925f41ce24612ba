"""Side by side with anvil: callTracer/prestateTracer, Foundry's cast, CORS and the test helpers.

Both nodes are started by the test (the ``node`` fixture runs each module once per backend;
``pair`` starts one of each). Contracts are hand-assembled bytecode installed with
``anvil_setCode``, so no compiler is needed: a caller that calls a reverting contract, a
factory that CREATEs a child which self-destructs in its constructor, and a nested
CALL -> DELEGATECALL -> STATICCALL chain.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import launch
from devnode import NODE_MODULES, DevNode, dev_accounts, rpc_call
from eth_utils import to_checksum_address

REVERTER = "0x" + "be" * 20
CALLER = "0x" + "c0" * 20
FACTORY = "0x" + "fa" * 20
STORE = "0x" + "5e" * 20
DELEGATOR = "0x" + "de" * 20
# PUSH1 4 PUSH1 0 REVERT: reverts with 4 bytes of zeros (an unknown custom error)
REVERT_CODE = "0x60046000fd"
# CALL(gas, REVERTER, 0, 0, 0, 0, 0); SSTORE(0, success); STOP
CALL_CODE = "0x6000600060006000600073" + "be" * 20 + "5af160005500"
# initcode of the child: SELFDESTRUCT(CALLER) (in the same transaction as its creation)
CHILD_INIT = "73" + "c0" * 20 + "ff"
# MSTORE the child's initcode, CREATE(value 1, offset, size), STOP
FACTORY_CODE = (
    "0x7f" + CHILD_INIT.ljust(64, "0") + "600052" + "6016" + "6000" + "6001" + "f0" + "00"
)
# SLOAD(0) -> MSTORE -> RETURN 32 bytes
STORE_CODE = "0x60005460005260206000f3"
# DELEGATECALL(gas, STORE, 0, 0, 0, 32); STATICCALL(gas, STORE, 0, 0, 0, 0); RETURN memory[0:32]
DELEGATOR_CODE = (
    "0x60206000600060007" + "3" + "5e" * 20 + "5af450"
    "60006000600060007" + "3" + "5e" * 20 + "5afa50"
    "60206000f3"
)
GAS = 300_000


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, DevNode]]:
    nodes = {b: launch(b, tmp_path_factory.mktemp(f"{b}-pair")) for b in ("strikevm", "anvil")}
    try:
        yield nodes
    finally:
        for n in nodes.values():
            n.stop()


def _install(url: str) -> None:
    for address, code in (
        (REVERTER, REVERT_CODE),
        (CALLER, CALL_CODE),
        (FACTORY, FACTORY_CODE),
        (STORE, STORE_CODE),
        (DELEGATOR, DELEGATOR_CODE),
    ):
        rpc_call(url, "anvil_setCode", [address, code])
    rpc_call(url, "anvil_setBalance", [FACTORY, hex(10**18)])
    rpc_call(url, "anvil_setStorageAt", [STORE, "0x0", "0x" + "00" * 31 + "2a"])


def _send(url: str, to: str, nonce: int) -> str:
    acct = dev_accounts()[1]
    tx = acct.sign_transaction(
        {
            "chainId": 31337,
            "nonce": nonce,
            "to": to_checksum_address(to),
            "gas": GAS,
            "maxFeePerGas": 10**11,
            "maxPriorityFeePerGas": 10**9,
            "data": "0x",
        }
    )
    tx_hash = rpc_call(url, "eth_sendRawTransaction", ["0x" + tx.raw_transaction.hex()])
    for _ in range(100):
        if rpc_call(url, "eth_getTransactionReceipt", [tx_hash]) is not None:
            break
    return str(tx_hash)


def _without_coinbase(result: dict[str, Any], coinbase: str) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k != coinbase}


def test_tracers_equal_anvil(pair: dict[str, DevNode]) -> None:
    traces: dict[str, list[Any]] = {}
    for backend, node in pair.items():
        url = node.http_url
        _install(url)
        out: list[Any] = []
        for nonce, target in enumerate((CALLER, FACTORY, DELEGATOR)):
            tx_hash = _send(url, target, nonce)
            call = rpc_call(url, "debug_traceTransaction", [tx_hash, {"tracer": "callTracer"}])
            pre = rpc_call(url, "debug_traceTransaction", [tx_hash, {"tracer": "prestateTracer"}])
            block = rpc_call(url, "eth_getBlockByNumber", ["latest", False])
            pre = _without_coinbase(pre, block["miner"])
            # State edits mine blocks on StrikeVM, so base fees (and the sender's balance)
            # differ between the chains: the sender's balance is checked against the node.
            sender = dev_accounts()[1].address.lower()
            before = hex(int(block["number"], 16) - 1)
            assert pre[sender].pop("balance") == rpc_call(url, "eth_getBalance", [sender, before])
            out.append((call, pre))
        traces[backend] = out
    for (ours_call, ours_pre), (anvil_call, anvil_pre) in zip(
        traces["strikevm"], traces["anvil"], strict=True
    ):
        assert ours_call == anvil_call, json.dumps([ours_call, anvil_call], indent=1)
        assert ours_pre == anvil_pre, json.dumps([ours_pre, anvil_pre], indent=1)


def test_cast_sends_calls_and_reads_storage(node: DevNode) -> None:
    cast = NODE_MODULES / ".bin" / "cast"
    url = node.http_url
    key = "0x" + bytes(dev_accounts()[2].key).hex()

    def run(*args: str) -> str:
        proc = subprocess.run(
            [str(cast), *args, "--rpc-url", url],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    rpc_call(url, "anvil_setCode", [STORE, STORE_CODE])
    rpc_call(url, "anvil_setStorageAt", [STORE, "0x0", "0x" + "00" * 31 + "07"])
    receipt = json.loads(run("send", "--private-key", key, STORE, "--value", "1", "--json"))
    assert receipt["status"] == "0x1"
    assert int(run("call", STORE, "0x"), 16) == 7
    assert int(run("storage", STORE, "0"), 16) == 7
    assert run("code", "0x4e59b44847b379578588920cA78FbF26c0B4956C").endswith("6014600cf3")


def test_cors_preflight_and_header(node: DevNode) -> None:
    request = urllib.request.Request(
        node.http_url,
        method="OPTIONS",
        headers={
            "Origin": "http://example.test",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status in (200, 204)
        assert response.headers["Access-Control-Allow-Origin"] in ("*", "http://example.test")
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
    request = urllib.request.Request(
        node.http_url,
        data=body.encode(),
        headers={"Content-Type": "application/json", "Origin": "http://example.test"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["Access-Control-Allow-Origin"] in ("*", "http://example.test")
