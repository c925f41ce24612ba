"""The node's denial-of-service budgets over JSON-RPC: call time limit, gas cap, batch limits,
filter expiry, trace caps, snapshot limit and bounded WebSocket queues.

The time-limit test also shows that an expensive eth_call runs off the block-production
path: while it runs, eth_blockNumber, eth_getBalance and new transactions are answered
quickly (their latencies are printed; the bound asserted is generous).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account as EthAccount
from eth_utils import to_checksum_address

_HERE = Path(__file__).resolve()
if str(_HERE.parent) not in sys.path:
    sys.path.insert(0, str(_HERE.parent))

from rpchelpers import NodeProcess  # noqa: E402

from strikevm.rpc.server import _Socket  # noqa: E402

A0 = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
A2 = "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc"
K1 = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
LOOP = "0x5b600056"  # JUMPDEST PUSH1 0 JUMP: loops until out of gas
LOOP_INIT = "0x635b6000566000526004601cf3"  # deploys LOOP
GAS_RUNTIME = "0x5a60005260206000f3"  # returns the GAS left when it starts
# GAS > 2_000_000_000 ? STOP : INVALID -- succeeds only with more gas than the cap
NEEDS_MORE_THAN_CAP = "0x5a64007735940010600c57fe5b00"
X = "0x00000000000000000000000000000000000c0de1"
GAS_CAP = 2_000_000_000
TIMEOUT = 2.0


@pytest.fixture(scope="module")
def node() -> Iterator[NodeProcess]:
    proc = NodeProcess(
        None,
        "--rpc-evm-timeout",
        str(TIMEOUT),
        "--rpc-gas-cap",
        str(GAS_CAP),
        "--rpc-batch-limit",
        "10",
        "--rpc-batch-response-limit",
        "3000",
        "--rpc-filter-timeout",
        "1",
        "--trace-max-logs",
        "50",
        "--max-snapshots",
        "3",
    ).start()
    yield proc
    proc.stop()


def _loop_call(gas: int) -> list[Any]:
    return [{"from": A0, "to": X, "gas": hex(gas)}, "latest", {X: {"code": LOOP}}]


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * 0.95) - 1)]


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_call_past_the_time_limit_is_aborted_while_cheap_requests_are_served(
    node: NodeProcess,
) -> None:
    done: dict[str, Any] = {}

    def expensive() -> None:
        start = time.monotonic()
        done["answer"] = node.request("eth_call", *_loop_call(GAS_CAP))
        done["seconds"] = time.monotonic() - start

    key = EthAccount.from_key(K1)
    nonce = int(node.call("eth_getTransactionCount", key.address, "latest"), 16)
    block_before = int(node.call("eth_blockNumber"), 16)
    worker = threading.Thread(target=expensive)
    worker.start()
    time.sleep(0.2)  # the call is running on a call thread now
    latency: dict[str, list[float]] = {"eth_blockNumber": [], "eth_getBalance": [], "send": []}
    sent: list[str] = []
    while worker.is_alive():
        t0 = time.perf_counter()
        node.call("eth_blockNumber")
        latency["eth_blockNumber"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        node.call("eth_getBalance", A2, "latest")
        latency["eth_getBalance"].append(time.perf_counter() - t0)
        if len(sent) < 20:
            tx = key.sign_transaction(
                {
                    "chainId": 31337,
                    "nonce": nonce + len(sent),
                    "to": to_checksum_address(A2),
                    "value": 1,
                    "gas": 21000,
                    "maxFeePerGas": 10**10,
                    "maxPriorityFeePerGas": 10**9,
                }
            )
            t0 = time.perf_counter()
            sent.append(node.call("eth_sendRawTransaction", "0x" + tx.raw_transaction.hex()))
            latency["send"].append(time.perf_counter() - t0)
    worker.join()
    answer = done["answer"]
    assert answer["error"] == {
        "code": -32000,
        "message": f"execution aborted (timeout = {TIMEOUT:g}s)",
    }, answer
    assert TIMEOUT <= done["seconds"] < TIMEOUT + 10  # stopped, not run to its gas
    for method, values in latency.items():
        print(
            f"{method}: {len(values)} requests during the call, p50 "
            f"{sorted(values)[len(values) // 2] * 1000:.1f} ms, p95 {_p95(values) * 1000:.1f} ms, "
            f"max {max(values) * 1000:.1f} ms"
        )
    # Requests waiting behind the call would take the whole TIMEOUT; the bound is generous.
    for values in latency.values():
        assert len(values) >= 5
        assert _p95(values) < TIMEOUT / 4
    # Every transfer was mined while the call ran.
    assert int(node.call("eth_blockNumber"), 16) >= block_before + len(sent)
    for tx_hash in sent:
        assert node.call("eth_getTransactionReceipt", tx_hash)["status"] == "0x1"
    # The aborted call stopped consuming CPU.
    assert node.proc is not None
    cpu = _cpu_seconds(node.proc.pid)
    time.sleep(1.0)
    assert _cpu_seconds(node.proc.pid) - cpu < 0.5
    # The node still answers calls normally.
    out = node.call(
        "eth_call", {"to": X, "gas": hex(100_000)}, "latest", {X: {"code": GAS_RUNTIME}}
    )
    assert int(out, 16) > 0


def test_estimate_gas_past_the_time_limit_is_aborted(node: NodeProcess) -> None:
    err = node.error("eth_estimateGas", *_loop_call(GAS_CAP))
    assert err.code == -32000 and err.message == f"execution aborted (timeout = {TIMEOUT:g}s)"


def test_gas_cap_applies_to_calls_and_estimates(node: NodeProcess) -> None:
    override = {X: {"code": GAS_RUNTIME}}
    high = node.call("eth_call", {"to": X, "gas": hex(GAS_CAP * 5)}, "latest", override)
    assert int(high, 16) < GAS_CAP
    default = node.call("eth_call", {"to": X}, "latest", override)
    assert int(default, 16) < GAS_CAP
    small = node.call("eth_call", {"to": X, "gas": hex(100_000)}, "latest", override)
    assert int(small, 16) < 100_000
    greedy = {X: {"code": NEEDS_MORE_THAN_CAP}}
    call = {"from": A0, "to": X, "gas": hex(GAS_CAP * 5)}
    err = node.error("eth_call", call, "latest", greedy)
    assert err.code == -32000 and str(err.message).startswith("invalid opcode")
    err = node.error("eth_estimateGas", call, "latest", greedy)
    assert err.code == -32000 and str(err.message).startswith("invalid opcode")


def test_batch_over_the_limit_is_refused(node: NodeProcess) -> None:
    batch = [{"jsonrpc": "2.0", "id": i, "method": "eth_chainId"} for i in range(11)]
    status, answer = node.post(json.dumps(batch))
    assert status == 200
    assert answer["error"]["code"] == -32600
    assert answer["error"]["message"] == "batch too large: 11 > 10"
    status, answer = node.post(json.dumps(batch[:10]))
    assert [a["result"] for a in answer] == ["0x7a69"] * 10


def test_batch_response_over_the_size_limit(node: NodeProcess) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": i, "method": "eth_getBlockByNumber", "params": ["0x0", False]}
        for i in range(10)
    ]
    status, answer = node.post(json.dumps(batch))
    assert status == 200 and len(answer) == 10
    kept = [a for a in answer if "result" in a]
    refused = [a for a in answer if "error" in a]
    assert kept and refused
    assert answer[: len(kept)] == kept  # the answers that fit come first, in order
    assert all(a["error"] == {"code": -32003, "message": "response too large"} for a in refused)
    assert [a["id"] for a in answer] == list(range(10))


def test_filter_expires_without_polling(node: NodeProcess) -> None:
    kept = node.call("eth_newBlockFilter")
    lost = node.call("eth_newBlockFilter")
    assert node.call("eth_getFilterChanges", lost) == []
    for _ in range(4):
        time.sleep(0.4)
        node.call("eth_getFilterChanges", kept)  # polled more often than the timeout
    err = node.error("eth_getFilterChanges", lost)
    assert err.code == -32000 and err.message == "filter not found"
    assert isinstance(node.call("eth_getFilterChanges", kept), list)
    logs = node.call("eth_newFilter", {"fromBlock": "latest"})
    time.sleep(1.5)
    err = node.error("eth_getFilterLogs", logs)
    assert err.message == "filter not found"


def test_trace_cap_holds(node: NodeProcess) -> None:
    created = node.call("eth_sendTransaction", {"from": A0, "data": LOOP_INIT})
    contract = node.call("eth_getTransactionReceipt", created)["contractAddress"]
    assert node.call("eth_getCode", contract, "latest") == LOOP
    tx = node.call("eth_sendTransaction", {"from": A0, "to": contract, "gas": hex(60_000)})
    assert node.call("eth_getTransactionReceipt", tx)["status"] == "0x0"
    trace = node.call("debug_traceTransaction", tx)
    assert trace["failed"] is True and trace["gas"] == 60_000
    assert len(trace["structLogs"]) == 50  # --trace-max-logs 50; the loop runs ~14000 steps
    assert len(node.call("debug_traceTransaction", tx, {"limit": 7})["structLogs"]) == 7
    assert len(node.call("debug_traceTransaction", tx, {"limit": 500})["structLogs"]) == 50


def test_snapshot_limit_drops_the_oldest(node: NodeProcess) -> None:
    ids = [node.call("evm_snapshot") for _ in range(5)]
    assert node.call("evm_revert", ids[0]) is False
    assert node.call("evm_revert", ids[1]) is False
    assert node.call("evm_revert", ids[2]) is True


# ------------------------------------------------------------ WebSocket queue


class _StuckSocket:
    """A WebSocket whose client never reads: every send waits forever."""

    closed = False

    def __init__(self) -> None:
        self.sent = 0
        self.closed_with: int | None = None

    async def send_str(self, text: str) -> None:
        self.sent += 1
        await asyncio.Event().wait()

    async def close(self, code: int = 1000, message: bytes = b"") -> None:
        self.closed = True
        self.closed_with = code


def test_slow_websocket_subscriber_is_dropped_not_buffered() -> None:
    async def scenario() -> tuple[bool, int, int, list[bool]]:
        overflowed: list[_Socket] = []
        ws = _StuckSocket()
        sock = _Socket(ws, max_messages=100, max_bytes=1 << 20, on_overflow=overflowed.append)
        pump = asyncio.create_task(sock.pump())
        accepted = [sock.offer({"n": i}) for i in range(150)]
        await asyncio.sleep(0)
        pump.cancel()
        return sock.closed, len(sock.pending), len(overflowed), accepted

    closed, pending, overflows, accepted = asyncio.run(scenario())
    assert closed and pending == 0 and overflows == 1
    assert accepted[:100] == [True] * 100 and not any(accepted[101:])


def test_websocket_queue_byte_limit() -> None:
    async def scenario() -> tuple[bool, int]:
        sock = _Socket(_StuckSocket(), max_messages=0, max_bytes=1000)
        for _ in range(10):
            sock.offer("x" * 99)
        before = sock.closed
        sock.offer("y" * 200)
        return before, sock.closed

    assert asyncio.run(scenario()) == (False, True)
