"""The node over JSON-RPC: a real process, plain HTTP and WebSocket clients, and web3.py."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import rlp as pyrlp
from eth_account import Account as EthAccount
from eth_hash.auto import keccak
from eth_utils import to_checksum_address
from trie import HexaryTrie

# the helper modules beside these tests, whatever pytest's import mode
_HERE = Path(__file__).resolve()
for _dir in (
    _HERE.parent,
    _HERE.parent.parent / "chain",
):
    if str(_dir) not in sys.path:
        sys.path.insert(0, str(_dir))

from nodehelpers import REVERT_TRIGGER, STORE_INITCODE, STORE_RUNTIME, TOPIC, word  # noqa: E402
from rpchelpers import NodeProcess, RpcFailure  # noqa: E402

A0 = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
A1 = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"
K1 = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    proc = NodeProcess(tmp_path_factory.mktemp("rpc") / "data").start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def contract(node: NodeProcess) -> str:
    tx = node.call("eth_sendTransaction", {"from": A0, "data": "0x" + STORE_INITCODE.hex()})
    receipt = node.call("eth_getTransactionReceipt", tx)
    assert receipt["status"] == "0x1"
    return receipt["contractAddress"]  # type: ignore[no-any-return]


def hexword(value: int) -> str:
    return "0x" + word(value).hex()


def test_identity_methods(node: NodeProcess) -> None:
    assert node.call("web3_clientVersion").startswith("StrikeVM/v")
    assert node.call("net_version") == "31337"
    assert node.call("eth_chainId") == "0x7a69"
    accounts = node.call("eth_accounts")
    assert len(accounts) == 10 and accounts[0] == A0 and accounts[1] == A1
    assert int(node.call("eth_getBalance", A1, "earliest"), 16) == 10_000 * 10**18
    assert int(node.call("eth_gasPrice"), 16) > int(node.call("eth_maxPriorityFeePerGas"), 16)


def test_send_transaction_receipt_block_and_tx(node: NodeProcess) -> None:
    before = int(node.call("eth_blockNumber"), 16)
    nonce = int(node.call("eth_getTransactionCount", A0, "latest"), 16)
    tx_hash = node.call("eth_sendTransaction", {"from": A0, "to": A1, "value": "0x3e8"})
    assert int(node.call("eth_blockNumber"), 16) == before + 1
    receipt = node.call("eth_getTransactionReceipt", tx_hash)
    assert receipt["status"] == "0x1" and receipt["gasUsed"] == hex(21000)
    assert receipt["from"] == A0 and receipt["to"] == A1 and receipt["contractAddress"] is None
    assert receipt["type"] == "0x2" and receipt["logs"] == []
    tx = node.call("eth_getTransactionByHash", tx_hash)
    assert tx["nonce"] == hex(nonce) and tx["value"] == "0x3e8"
    assert tx["blockHash"] == receipt["blockHash"]
    block = node.call("eth_getBlockByNumber", receipt["blockNumber"], True)
    assert block["hash"] == receipt["blockHash"]
    assert block["transactions"][0]["hash"] == tx_hash
    assert node.call("eth_getBlockByHash", block["hash"], False)["transactions"] == [tx_hash]
    assert node.call("eth_getTransactionCount", A0, "pending") == hex(nonce + 1)
    assert node.call("eth_getBlockByNumber", "0xffffff", False) is None
    assert node.call("eth_getTransactionReceipt", "0x" + "00" * 32) is None


def test_raw_transaction_hash_matches_the_signer(node: NodeProcess) -> None:
    nonce = int(node.call("eth_getTransactionCount", A1, "pending"), 16)
    signed = EthAccount.sign_transaction(
        {
            "type": 2,
            "chainId": 31337,
            "nonce": nonce,
            "gas": 21000,
            "to": to_checksum_address(A0),
            "value": 1,
            "maxFeePerGas": 10**10,
            "maxPriorityFeePerGas": 10**9,
        },
        K1,
    )
    tx_hash = node.call("eth_sendRawTransaction", "0x" + bytes(signed.raw_transaction).hex())
    assert tx_hash == "0x" + bytes(signed.hash).hex()
    block = node.call("eth_getBlockByNumber", "latest", False)
    assert block["transactions"] == [tx_hash]


def test_contract_code_storage_logs_call_and_estimate(node: NodeProcess, contract: str) -> None:
    assert node.call("eth_getCode", contract, "latest") == "0x" + STORE_RUNTIME.hex()
    tx = node.call("eth_sendTransaction", {"from": A0, "to": contract, "data": hexword(77)})
    receipt = node.call("eth_getTransactionReceipt", tx)
    assert len(receipt["logs"]) == 1
    log = receipt["logs"][0]
    assert log["address"] == contract and log["topics"] == [hexword(TOPIC)]
    assert log["data"] == hexword(77) and log["transactionHash"] == tx
    assert node.call("eth_getStorageAt", contract, "0x0", "latest") == hexword(77)
    logs = node.call(
        "eth_getLogs", {"fromBlock": "0x0", "address": contract, "topics": [hexword(TOPIC)]}
    )
    assert logs[-1] == log
    assert node.call("eth_getLogs", {"blockHash": receipt["blockHash"]}) == [log]
    assert node.call("eth_call", {"to": contract}, "latest") == hexword(77)
    overrides = {contract: {"stateDiff": {hexword(0): hexword(5)}}}
    assert node.call("eth_call", {"to": contract}, "latest", overrides) == hexword(5)
    assert node.call("eth_getStorageAt", contract, "0x0", "latest") == hexword(77)
    gas = int(node.call("eth_estimateGas", {"from": A0, "to": contract, "data": hexword(8)}), 16)
    assert 21000 < gas < 100_000
    failure = node.error("eth_call", {"from": A0, "to": contract, "data": hexword(REVERT_TRIGGER)})
    assert failure.code == 3 and failure.message == "execution reverted: nope"
    assert failure.data.startswith("0x08c379a0")


def test_fee_history(node: NodeProcess) -> None:
    history = node.call("eth_feeHistory", "0x3", "latest", [25, 75])
    assert len(history["baseFeePerGas"]) == 4 and len(history["gasUsedRatio"]) == 3
    assert len(history["reward"]) == 3 and all(len(r) == 2 for r in history["reward"])


def test_get_proof_verifies_against_the_block_state_root(node: NodeProcess, contract: str) -> None:
    block = node.call("eth_getBlockByNumber", "latest", False)
    proof = node.call("eth_getProof", contract, ["0x0", "0x1"], block["number"])
    root = bytes.fromhex(block["stateRoot"][2:])
    nodes = [pyrlp.decode(bytes.fromhex(p[2:])) for p in proof["accountProof"]]
    value = HexaryTrie.get_from_proof(root, keccak(bytes.fromhex(contract[2:])), nodes)
    nonce, balance, storage_hash, code_hash = pyrlp.decode(value)
    assert "0x" + storage_hash.hex() == proof["storageHash"]
    assert "0x" + code_hash.hex() == proof["codeHash"] == "0x" + keccak(STORE_RUNTIME).hex()
    for entry in proof["storageProof"]:
        nodes = [pyrlp.decode(bytes.fromhex(p[2:])) for p in entry["proof"]]
        slot = int(entry["key"], 16).to_bytes(32, "big")
        got = HexaryTrie.get_from_proof(storage_hash, keccak(slot), nodes)
        assert (int.from_bytes(pyrlp.decode(got), "big") if got else 0) == int(entry["value"], 16)


def test_trace_transaction(node: NodeProcess, contract: str) -> None:
    tx = node.call("eth_sendTransaction", {"from": A0, "to": contract, "data": hexword(9)})
    receipt = node.call("eth_getTransactionReceipt", tx)
    trace = node.call("debug_traceTransaction", tx, {})
    assert trace["gas"] == int(receipt["gasUsed"], 16) and trace["failed"] is False
    assert trace["structLogs"][0]["op"] == "CALLDATASIZE"
    assert any(e["op"] == "SSTORE" for e in trace["structLogs"])


def test_batch_and_notifications(node: NodeProcess) -> None:
    body = [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"},
        {"jsonrpc": "2.0", "method": "eth_chainId"},  # notification: no answer
        {"jsonrpc": "2.0", "id": "x", "method": "nope"},
        {"jsonrpc": "2.0", "id": 3, "method": "eth_blockNumber", "params": []},
    ]
    status, answer = node.post(json.dumps(body))
    assert status == 200
    assert [a["id"] for a in answer] == [1, "x", 3]
    assert answer[0]["result"] == "0x7a69" and answer[1]["error"]["code"] == -32601


def test_dev_helpers(node: NodeProcess) -> None:
    start = int(node.call("eth_blockNumber"), 16)
    snap = node.call("evm_snapshot")
    reverted_tx = node.call("eth_sendTransaction", {"from": A0, "to": A1, "value": "0x1"})
    assert node.call("eth_getTransactionReceipt", reverted_tx)["status"] == "0x1"
    assert node.call("evm_mine") == "0x0"
    assert int(node.call("eth_blockNumber"), 16) == start + 2
    assert node.call("evm_revert", snap) is True
    assert int(node.call("eth_blockNumber"), 16) == start
    # the reverted transaction's receipt is gone, from every read path
    assert node.call("eth_getTransactionReceipt", reverted_tx) is None
    assert node.call("eth_getTransactionByHash", reverted_tx) is None
    latest = node.call("eth_getBlockByNumber", "latest", False)
    ts = int(latest["timestamp"], 16) + 500
    assert node.call("evm_setNextBlockTimestamp", hex(ts)) is None
    node.call("evm_mine")
    assert node.call("eth_getBlockByNumber", "latest", False)["timestamp"] == hex(ts)
    assert int(node.call("evm_increaseTime", "0x3c"), 16) >= 60


def test_metrics(node: NodeProcess) -> None:
    import urllib.request

    with urllib.request.urlopen(node.url + "metrics", timeout=30) as resp:
        text = resp.read().decode()
    assert "strikevm_blocks_total" in text and "strikevm_mempool_transactions" in text
    assert 'strikevm_rpc_latency_seconds_bucket{method="eth_chainId"' in text
    assert "strikevm_gas_per_second" in text


def test_websocket_requests_and_subscriptions(node: NodeProcess, contract: str) -> None:
    async def scenario() -> tuple[Any, list[Any], list[Any]]:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"ws://127.0.0.1:{node.port}/") as ws:
                await ws.send_str(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}))
                chain = json.loads((await ws.receive(timeout=30)).data)
                await ws.send_str(
                    json.dumps(
                        {
                            "jsonrpc": "2.0",
                            "id": 2,
                            "method": "eth_subscribe",
                            "params": ["newHeads"],
                        }
                    )
                )
                heads_id = json.loads((await ws.receive(timeout=30)).data)["result"]
                await ws.send_str(
                    json.dumps(
                        {
                            "jsonrpc": "2.0",
                            "id": 3,
                            "method": "eth_subscribe",
                            "params": ["logs", {"address": contract}],
                        }
                    )
                )
                logs_id = json.loads((await ws.receive(timeout=30)).data)["result"]
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(
                    None,
                    lambda: node.call(
                        "eth_sendTransaction", {"from": A0, "to": contract, "data": hexword(123)}
                    ),
                )
                heads: list[Any] = []
                logs: list[Any] = []
                while not heads or not logs:
                    msg = json.loads((await ws.receive(timeout=30)).data)
                    assert msg["method"] == "eth_subscription"
                    sub = msg["params"]["subscription"]
                    (heads if sub == heads_id else logs).append(msg["params"]["result"])
                    assert sub in (heads_id, logs_id)
                await ws.send_str(
                    json.dumps(
                        {
                            "jsonrpc": "2.0",
                            "id": 4,
                            "method": "eth_unsubscribe",
                            "params": [heads_id],
                        }
                    )
                )
                assert json.loads((await ws.receive(timeout=30)).data)["result"] is True
                return chain, heads, logs

    chain, heads, logs = asyncio.run(scenario())
    assert chain["result"] == "0x7a69"
    assert heads[0]["stateRoot"].startswith("0x") and "transactions" not in heads[0]
    assert logs[0]["data"] == hexword(123) and logs[0]["address"] == contract


def test_web3py_client(node: NodeProcess, contract: str) -> None:
    web3 = pytest.importorskip("web3")
    w3 = web3.Web3(web3.Web3.HTTPProvider(node.url))
    assert w3.is_connected() and w3.eth.chain_id == 31337
    sender = to_checksum_address(A0)
    tx_hash = w3.eth.send_transaction({"from": sender, "to": to_checksum_address(A1), "value": 5})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    assert receipt["status"] == 1
    block = w3.eth.get_block(receipt["blockNumber"])
    assert block["hash"] == receipt["blockHash"]
    # the block hash web3 reports is the keccak of the header it describes
    assert block["number"] == receipt["blockNumber"]
    value = w3.eth.call({"to": to_checksum_address(contract)})
    assert len(value) == 32
    with pytest.raises(web3.exceptions.ContractLogicError, match="nope"):
        w3.eth.call({"to": to_checksum_address(contract), "data": hexword(REVERT_TRIGGER)})
    with pytest.raises(web3.exceptions.Web3RPCError, match="nonce too low"):
        w3.eth.send_transaction({"from": sender, "to": sender, "value": 0, "nonce": 0})


def test_restart_resumes_with_the_same_head(tmp_path: Path) -> None:
    datadir = tmp_path / "data"
    first = NodeProcess(datadir).start()
    try:
        first.call("eth_sendTransaction", {"from": A0, "to": A1, "value": "0x1"})
        head = first.call("eth_getBlockByNumber", "latest", False)
    finally:
        first.stop()
    second = NodeProcess(datadir).start()
    try:
        again = second.call("eth_getBlockByNumber", "latest", False)
        assert again["hash"] == head["hash"] and again["stateRoot"] == head["stateRoot"]
        second.call("eth_sendTransaction", {"from": A0, "to": A1, "value": "0x1"})
        assert second.call("eth_blockNumber") == hex(int(head["number"], 16) + 1)
    finally:
        second.stop()


def test_failed_call_errors_are_typed(node: NodeProcess) -> None:
    with pytest.raises(RpcFailure) as info:
        node.call("eth_estimateGas", {"from": A0, "to": A1, "value": hex(10**40)})
    assert info.value.code == -32000
    # a transaction over 128 KiB in a body under the 5 MiB limit
    failure = node.error("eth_sendRawTransaction", "0x02" + "00" * 140_000)
    assert failure.code == -32000 and failure.message.startswith("oversized data")


def test_block_time_mode_mines_on_a_timer() -> None:
    proc = NodeProcess(None, "--block-time", "0.5").start()
    try:
        tx_hash = proc.call("eth_sendTransaction", {"from": A0, "to": A1, "value": "0x1"})
        assert proc.call("eth_getTransactionByHash", tx_hash)["hash"] == tx_hash
        receipt = None
        for _ in range(100):
            receipt = proc.call("eth_getTransactionReceipt", tx_hash)
            if receipt is not None:
                break
            time.sleep(0.1)
        assert receipt is not None and receipt["status"] == "0x1"
        time.sleep(1.2)
        assert int(proc.call("eth_blockNumber"), 16) >= 2  # empty blocks keep coming
    finally:
        proc.stop()
