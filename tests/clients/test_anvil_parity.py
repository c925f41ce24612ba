"""Side by side with anvil: one sequence of signed transactions, the same results on both nodes.

The transactions are signed once (fixed nonces, fees and gas limits, chain id 31337) and sent
with ``eth_sendRawTransaction`` to a fresh ``strikevm node`` and a fresh anvil (Cancun). Each
node mines one block per transaction; for every transaction the receipt's status, gasUsed,
cumulativeGasUsed, contractAddress, logs and logsBloom must be equal, and after every block the
same ``eth_call`` queries must return the same words. Reverting calls must return the same
revert data, and ``eth_getLogs`` over the whole chain the same logs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import launch
from devnode import CHAIN_ID, DevNode, dev_accounts, rpc_call, rpc_reply
from eth_abi import encode
from eth_utils import keccak, to_checksum_address

GWEI = 10**9
TOKEN = 10**18
MAX_UINT = 2**256 - 1
SUPPLY = 1_000_000 * TOKEN
ZERO = "0x" + "00" * 20
SHA256_PRECOMPILE = to_checksum_address("0x" + "00" * 19 + "02")
TIMEOUT = 30.0
HISTORICAL = ("totalSupply", "balanceOf(1)", "allowance(1,3)")  # asked again at past blocks


def selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


def calldata(signature: str, types: list[str], args: list[Any]) -> str:
    return "0x" + (selector(signature) + encode(types, args)).hex()


@dataclass(frozen=True)
class Step:
    label: str
    raw: str
    tx_hash: str
    value: int


def _contract_address(sender: str, nonce: int) -> str:
    # RLP([sender, nonce]) for nonce < 0x80, as for the first deployment here.
    assert nonce < 0x80
    body = bytes([0x94]) + bytes.fromhex(sender[2:]) + (bytes([nonce]) if nonce else b"\x80")
    return to_checksum_address(keccak(bytes([0xC0 + len(body)]) + body)[12:])


class Signer:
    """Signs the sequence with local nonces: type 0, 1 and 2 transactions, fixed fees."""

    def __init__(self) -> None:
        self.accounts = dev_accounts()
        self.nonces = [0] * len(self.accounts)
        self.steps: list[Step] = []

    def send(
        self,
        label: str,
        sender: int,
        to: str | None,
        data: str = "0x",
        *,
        value: int = 0,
        gas: int = 200_000,
        tx_type: int = 2,
    ) -> None:
        tx: dict[str, Any] = {
            "chainId": CHAIN_ID,
            "nonce": self.nonces[sender],
            "gas": gas,
            "value": value,
            "data": data,
        }
        if to is not None:
            tx["to"] = to
        if tx_type == 2:
            tx.update(maxFeePerGas=20 * GWEI, maxPriorityFeePerGas=GWEI)
        else:
            tx["gasPrice"] = 10 * GWEI
        if tx_type == 1:
            tx["accessList"] = [{"address": to or ZERO, "storageKeys": ["0x" + "00" * 32]}]
        signed = self.accounts[sender].sign_transaction(tx)
        self.nonces[sender] += 1
        self.steps.append(
            Step(label, "0x" + signed.raw_transaction.hex(), "0x" + signed.hash.hex(), value)
        )


def build_sequence(erc20: dict[str, Any]) -> tuple[list[Step], str]:
    """The signed transactions, and the token's address (account 0's first creation)."""
    s = Signer()
    addr = [a.address for a in s.accounts]
    token = _contract_address(addr[0], 0)
    transfer = "transfer(address,uint256)"
    approve = "approve(address,uint256)"
    transfer_from = "transferFrom(address,address,uint256)"
    ctor = encode(["string", "string", "uint256"], ["Parity Token", "PAR", SUPPLY])
    s.send("deploy", 0, None, erc20["bytecode"] + ctor.hex(), gas=2_000_000)
    s.send("transfer", 0, token, calldata(transfer, ["address", "uint256"], [addr[1], 100 * TOKEN]))
    s.send(
        "transfer (legacy tx)",
        0,
        token,
        calldata(transfer, ["address", "uint256"], [addr[2], 7 * TOKEN]),
        tx_type=0,
    )
    s.send(
        "approve (access-list tx)",
        1,
        token,
        calldata(approve, ["address", "uint256"], [addr[3], 50 * TOKEN]),
        tx_type=1,
    )
    s.send(
        "transferFrom",
        3,
        token,
        calldata(transfer_from, ["address", "address", "uint256"], [addr[1], addr[4], 20 * TOKEN]),
    )
    s.send(
        "transferFrom over allowance (reverts)",
        3,
        token,
        calldata(transfer_from, ["address", "address", "uint256"], [addr[1], addr[4], 31 * TOKEN]),
    )
    s.send(
        "transfer without balance (reverts)",
        5,
        token,
        calldata(transfer, ["address", "uint256"], [addr[0], 1]),
    )
    s.send(
        "transfer to zero address (reverts)",
        0,
        token,
        calldata(transfer, ["address", "uint256"], [ZERO, 1]),
    )
    s.send("transfer of 0", 2, token, calldata(transfer, ["address", "uint256"], [addr[6], 0]))
    s.send("self transfer", 1, token, calldata(transfer, ["address", "uint256"], [addr[1], TOKEN]))
    s.send(
        "approve max",
        2,
        token,
        calldata(approve, ["address", "uint256"], [addr[3], MAX_UINT]),
    )
    s.send(
        "transferFrom with max allowance",
        3,
        token,
        calldata(transfer_from, ["address", "address", "uint256"], [addr[2], addr[3], 2 * TOKEN]),
    )
    s.send(
        "transfer out of gas",
        0,
        token,
        calldata(transfer, ["address", "uint256"], [addr[7], TOKEN]),
        gas=30_000,
    )
    s.send("ether to token (no receive, reverts)", 6, token, value=1)
    s.send("ether transfer", 6, addr[7], value=10**15, gas=21_000)
    s.send("sha256 precompile", 7, SHA256_PRECOMPILE, "0x" + "ab" * 100, gas=50_000)
    s.send("failing creation (INVALID)", 8, None, "0xfe", gas=100_000)
    s.send(
        "creation returning code",
        8,
        None,
        # init code: store runtime 0x60016000f3 (5 bytes) and return it
        "0x6460016000f36000526005601bf3",
        gas=100_000,
    )
    s.send(
        "transfer after failures",
        0,
        token,
        calldata(transfer, ["address", "uint256"], [addr[9], 1]),
    )
    return s.steps, token


def state_calls(token: str) -> list[tuple[str, dict[str, str]]]:
    """eth_call queries run after every block: balances, allowances, supply, metadata."""
    addr = [a.address for a in dev_accounts()]
    calls: list[tuple[str, dict[str, str]]] = [
        ("totalSupply", {"to": token, "data": "0x" + selector("totalSupply()").hex()}),
        ("name", {"to": token, "data": "0x" + selector("name()").hex()}),
        ("symbol", {"to": token, "data": "0x" + selector("symbol()").hex()}),
        ("decimals", {"to": token, "data": "0x" + selector("decimals()").hex()}),
    ]
    for i in range(10):
        data = calldata("balanceOf(address)", ["address"], [addr[i]])
        calls.append((f"balanceOf({i})", {"to": token, "data": data}))
    for owner, spender in ((1, 3), (2, 3), (0, 3)):
        data = calldata(
            "allowance(address,address)", ["address", "address"], [addr[owner], addr[spender]]
        )
        calls.append((f"allowance({owner},{spender})", {"to": token, "data": data}))
    return calls


def reverting_calls(token: str) -> list[tuple[str, dict[str, str]]]:
    addr = [a.address for a in dev_accounts()]
    return [
        (
            "transfer without balance",
            {
                "from": addr[5],
                "to": token,
                "data": calldata("transfer(address,uint256)", ["address", "uint256"], [addr[0], 1]),
            },
        ),
        (
            "transferFrom without allowance",
            {
                "from": addr[9],
                "to": token,
                "data": calldata(
                    "transferFrom(address,address,uint256)",
                    ["address", "address", "uint256"],
                    [addr[0], addr[9], 1],
                ),
            },
        ),
        (
            "approve from zero address",
            {
                "from": ZERO,
                "to": token,
                "data": calldata("approve(address,uint256)", ["address", "uint256"], [addr[1], 1]),
            },
        ),
        ("unknown selector", {"from": addr[0], "to": token, "data": "0xdeadbeef"}),
    ]


def wait_receipt(node: DevNode, tx_hash: str) -> dict[str, Any]:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        receipt = rpc_call(node.http_url, "eth_getTransactionReceipt", [tx_hash])
        if receipt is not None:
            return receipt
        time.sleep(0.02)
    raise AssertionError(f"{node.backend}: no receipt for {tx_hash} after {TIMEOUT:g} s")


def norm_log(log: dict[str, Any]) -> dict[str, Any]:
    return {
        "address": log["address"].lower(),
        "topics": [t.lower() for t in log["topics"]],
        "data": log["data"].lower(),
        "logIndex": int(log["logIndex"], 16),
        "transactionIndex": int(log["transactionIndex"], 16),
        "transactionHash": log["transactionHash"].lower(),
        "blockNumber": int(log["blockNumber"], 16),
        "removed": log.get("removed", False),
    }


def norm_receipt(receipt: dict[str, Any]) -> dict[str, Any]:
    contract = receipt.get("contractAddress")
    return {
        "status": int(receipt["status"], 16),
        "gasUsed": int(receipt["gasUsed"], 16),
        "cumulativeGasUsed": int(receipt["cumulativeGasUsed"], 16),
        "contractAddress": contract.lower() if contract else None,
        "type": int(receipt["type"], 16),
        "from": receipt["from"].lower(),
        "to": receipt["to"].lower() if receipt.get("to") else None,
        "transactionHash": receipt["transactionHash"].lower(),
        "transactionIndex": int(receipt["transactionIndex"], 16),
        "logs": [norm_log(log) for log in receipt["logs"]],
        "logsBloom": receipt["logsBloom"].lower(),
    }


def call_result(node: DevNode, call: dict[str, str], block: str) -> dict[str, Any]:
    """eth_call's return data, or the JSON-RPC error's code and revert data."""
    reply = rpc_reply(node.http_url, "eth_call", [call, block])
    if "error" not in reply:
        return {"result": reply["result"].lower()}
    error = reply["error"]
    data = error.get("data")
    if isinstance(data, dict):  # some nodes nest the revert data
        data = data.get("data")
    if not data or data == "0x":
        # A revert without data: geth answers -32000 "execution reverted", anvil 3 with "0x";
        # both mean the same to clients, so only the fact of the revert is compared.
        return {"error": {"revert data": "0x"}}
    return {"error": {"code": error.get("code"), "data": data.lower()}}


@dataclass
class Transcript:
    head_before: int
    receipts: dict[str, dict[str, Any]]
    calls: dict[str, dict[str, Any]]  # "after <step>: <query>" -> result
    reverts: dict[str, dict[str, Any]]
    historical: dict[str, dict[str, Any]]  # "block <n>: <query>" -> result, asked at the end
    logs: list[dict[str, Any]]
    blocks: list[int]
    effective_gas_prices: dict[str, int]
    headers: dict[int, dict[str, int]]  # block number -> baseFeePerGas, gasUsed, gasLimit
    balances: dict[str, int]
    nonces: dict[str, int]


def run_sequence(node: DevNode, steps: list[Step], token: str) -> Transcript:
    head_before = int(rpc_call(node.http_url, "eth_blockNumber"), 16)
    receipts: dict[str, dict[str, Any]] = {}
    calls: dict[str, dict[str, Any]] = {}
    prices: dict[str, int] = {}
    blocks: list[int] = []
    at_block: dict[tuple[int, str], dict[str, Any]] = {}
    queries = state_calls(token)
    for step in steps:
        returned = rpc_call(node.http_url, "eth_sendRawTransaction", [step.raw])
        assert returned.lower() == step.tx_hash, (node.backend, step.label, returned)
        receipt = wait_receipt(node, step.tx_hash)
        receipts[step.label] = norm_receipt(receipt)
        prices[step.label] = int(receipt["effectiveGasPrice"], 16)
        number = int(receipt["blockNumber"], 16)
        blocks.append(number)
        if receipts["deploy"]["status"] != 1:
            continue
        for name, call in queries:
            result = call_result(node, call, hex(number))
            calls[f"after {step.label}: {name}"] = result
            if name in HISTORICAL:
                at_block[number, name] = result

    # The same queries at past block numbers, now that the chain has moved on.
    by_name = dict(queries)
    then = {f"block {n}: {name}": result for (n, name), result in at_block.items()}
    historical = {
        f"block {n}: {name}": call_result(node, by_name[name], hex(n)) for n, name in at_block
    }
    assert historical == then, f"{node.backend}: eth_call at a past block changed its answer"

    reverts = {name: call_result(node, call, "latest") for name, call in reverting_calls(token)}
    logs = rpc_call(
        node.http_url, "eth_getLogs", [{"fromBlock": "0x0", "toBlock": "latest", "address": token}]
    )
    headers = {}
    for number in [blocks[0] - 1, *blocks]:
        header = rpc_call(node.http_url, "eth_getBlockByNumber", [hex(number), False])
        headers[number] = {k: int(header[k], 16) for k in ("baseFeePerGas", "gasUsed", "gasLimit")}
    addresses = [a.address for a in dev_accounts()]
    balances = {
        a: int(rpc_call(node.http_url, "eth_getBalance", [a, "latest"]), 16) for a in addresses
    }
    nonces = {
        a: int(rpc_call(node.http_url, "eth_getTransactionCount", [a, "latest"]), 16)
        for a in addresses
    }
    return Transcript(
        head_before=head_before,
        receipts=receipts,
        calls=calls,
        reverts=reverts,
        historical=historical,
        logs=[norm_log(log) for log in logs],
        blocks=blocks,
        effective_gas_prices=prices,
        headers=headers,
        balances=balances,
        nonces=nonces,
    )


def diff(name: str, ours: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    lines = []
    for key in list(theirs) + [k for k in ours if k not in theirs]:
        if ours.get(key) != theirs.get(key):
            lines.append(
                f"{name} {key}:\n    strikevm: {ours.get(key)!r}\n    anvil:    {theirs.get(key)!r}"
            )
    return lines


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DevNode, DevNode]]:
    anvil = launch("anvil", tmp_path_factory.mktemp("anvil-parity"))
    try:
        ours = launch("strikevm", tmp_path_factory.mktemp("strikevm-parity"))
    except BaseException:
        anvil.stop()
        raise
    try:
        yield ours, anvil
    finally:
        ours.stop()
        anvil.stop()


@pytest.fixture(scope="module")
def transcripts(
    nodes: tuple[DevNode, DevNode], erc20: dict[str, Any]
) -> tuple[Transcript, Transcript]:
    steps, token = build_sequence(erc20)
    ours, anvil = nodes
    return run_sequence(ours, steps, token), run_sequence(anvil, steps, token)


def test_receipts_equal(transcripts: tuple[Transcript, Transcript]) -> None:
    ours, anvil = transcripts
    assert anvil.receipts["deploy"]["status"] == 1  # the sequence itself is meaningful
    assert [r["status"] for r in anvil.receipts.values()].count(0) == 6
    problems: list[str] = []
    for label, theirs in anvil.receipts.items():
        problems += diff(f"[{label}]", ours.receipts.get(label, {}), theirs)
    assert not problems, "receipts differ from anvil:\n" + "\n".join(problems)


def test_eth_call_results_equal(transcripts: tuple[Transcript, Transcript]) -> None:
    ours, anvil = transcripts
    problems = diff("eth_call", ours.calls, anvil.calls)
    assert not problems, "eth_call results differ from anvil:\n" + "\n".join(problems[:40])


def test_revert_data_equal(transcripts: tuple[Transcript, Transcript]) -> None:
    ours, anvil = transcripts
    assert all("error" in r for r in anvil.reverts.values()), anvil.reverts
    problems = diff("reverting eth_call", ours.reverts, anvil.reverts)
    assert not problems, "revert results differ from anvil:\n" + "\n".join(problems)


def test_historical_eth_call_equal(transcripts: tuple[Transcript, Transcript]) -> None:
    """eth_call with a past block number, asked after the whole sequence."""
    ours, anvil = transcripts
    assert len(anvil.historical) == 3 * len(anvil.blocks)
    problems = diff("eth_call at", ours.historical, anvil.historical)
    assert not problems, "historical eth_call differs from anvil:\n" + "\n".join(problems[:40])


def test_get_logs_equal(transcripts: tuple[Transcript, Transcript]) -> None:
    ours, anvil = transcripts
    assert len(anvil.logs) >= 8
    assert ours.logs == anvil.logs


def test_one_block_per_transaction(transcripts: tuple[Transcript, Transcript]) -> None:
    ours, anvil = transcripts
    for transcript in (ours, anvil):
        start = transcript.head_before + 1
        assert transcript.blocks == list(range(start, start + len(transcript.blocks)))
    assert (ours.head_before, ours.blocks) == (anvil.head_before, anvil.blocks)


def test_nonces_equal(transcripts: tuple[Transcript, Transcript]) -> None:
    ours, anvil = transcripts
    assert ours.nonces == anvil.nonces


def next_base_fee(parent: dict[str, int]) -> int:
    """EIP-1559: the base fee of the child of ``parent`` (elasticity 2, change 1/8)."""
    base, used, target = parent["baseFeePerGas"], parent["gasUsed"], parent["gasLimit"] // 2
    if used > target:
        return base + max(1, base * (used - target) // target // 8)
    return base - base * (target - used) // target // 8


def check_fees(transcript: Transcript, steps: list[Step], backend: str) -> list[str]:
    """Base fees follow EIP-1559, prices follow the fee caps, balances follow receipts."""
    problems = []
    headers = transcript.headers
    # anvil keeps its initial base fee for the first block it mines; strikevm must not.
    checked = transcript.blocks[1:] if backend == "anvil" else transcript.blocks
    for number in checked:
        expected = next_base_fee(headers[number - 1])
        if headers[number]["baseFeePerGas"] != expected:
            problems.append(
                f"{backend} block {number} baseFeePerGas != {expected}: {headers[number]}"
            )
    spent = {a.address.lower(): 0 for a in dev_accounts()}
    for step, number in zip(steps, transcript.blocks, strict=True):
        receipt = transcript.receipts[step.label]
        price = transcript.effective_gas_prices[step.label]
        base = headers[number]["baseFeePerGas"]
        expected_price = 10 * GWEI if receipt["type"] in (0, 1) else min(20 * GWEI, base + GWEI)
        if price != expected_price:
            problems.append(
                f"{backend} [{step.label}] effectiveGasPrice {price} != {expected_price}"
            )
        spent[receipt["from"]] += receipt["gasUsed"] * price
        if receipt["status"] == 1 and step.value:
            spent[receipt["from"]] += step.value
            spent[receipt["to"]] = spent.get(receipt["to"], 0) - step.value
    for address, balance in transcript.balances.items():
        expected_balance = 10_000 * 10**18 - spent[address.lower()]
        if balance != expected_balance:
            problems.append(f"{backend} balance of {address}: {balance} != {expected_balance}")
    return problems


def test_fees_and_balances(
    transcripts: tuple[Transcript, Transcript], erc20: dict[str, Any]
) -> None:
    """Fees are not compared with anvil block by block: anvil gives block 1 the genesis base
    fee (1 gwei) where EIP-1559 (and geth) derive 0.875 gwei from the empty genesis block.
    Each node is checked on its own instead: base fees follow EIP-1559 (anvil from block 2),
    effective gas prices follow the transactions' caps, ether balances follow the receipts."""
    steps, _ = build_sequence(erc20)
    ours, anvil = transcripts
    problems = check_fees(ours, steps, "strikevm") + check_fees(anvil, steps, "anvil")
    assert not problems, "\n".join(problems)
