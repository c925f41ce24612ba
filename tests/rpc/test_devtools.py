"""The dev-tool methods in process: signing, test helpers, time control, tracers, pool rules."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data

from strikevm.chain.node import DevNode
from strikevm.chain.store import ChainStore
from strikevm.rpc.methods import Methods

T0 = 1_700_000_000
WHALE = "0x" + "ab" * 20


@pytest.fixture
def rpc(tmp_path: Any) -> Methods:
    node = DevNode(ChainStore.open(str(tmp_path / "db")), clock=lambda: T0)
    return Methods(node)


def head_ts(rpc: Methods) -> int:
    return int(rpc.call("eth_getBlockByNumber", ["latest", False])["timestamp"], 16)


def test_personal_sign_eth_sign_and_typed_data(rpc: Methods) -> None:
    a0 = rpc.call("eth_accounts", [])[0]
    sig = rpc.call("personal_sign", ["0x68656c6c6f", a0])
    assert Account.recover_message(encode_defunct(b"hello"), signature=sig).lower() == a0
    assert rpc.call("eth_sign", [a0, "0x68656c6c6f"]) == sig
    typed = {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "chainId", "type": "uint256"},
            ],
            "Permit": [{"name": "owner", "type": "address"}, {"name": "value", "type": "uint256"}],
        },
        "primaryType": "Permit",
        "domain": {"name": "Token", "chainId": 31337},
        "message": {"owner": a0, "value": 5},
    }
    sig = rpc.call("eth_signTypedData_v4", [a0, typed])
    recovered = Account.recover_message(encode_typed_data(full_message=typed), signature=sig)
    assert recovered.lower() == a0
    raw = rpc.call("eth_signTransaction", [{"from": a0, "to": a0, "gas": "0x5208"}])
    assert rpc.call("eth_sendRawTransaction", [raw])


def test_state_edits_are_committed_in_blocks(rpc: Methods) -> None:
    before = int(rpc.call("eth_blockNumber", []), 16)
    assert rpc.call("anvil_setBalance", [WHALE, hex(10**20)]) is None
    assert rpc.call("hardhat_setNonce", [WHALE, "0x7"]) is True
    assert rpc.call("anvil_setStorageAt", [WHALE, "0x1", "0x" + "00" * 31 + "05"]) is True
    assert rpc.call("hardhat_setCode", [WHALE, "0x6001"]) is True
    assert int(rpc.call("eth_blockNumber", []), 16) == before + 4
    assert int(rpc.call("eth_getBalance", [WHALE, "latest"]), 16) == 10**20
    assert rpc.call("eth_getTransactionCount", [WHALE, "latest"]) == "0x7"
    assert int(rpc.call("eth_getStorageAt", [WHALE, "0x1", "latest"]), 16) == 5
    assert rpc.call("eth_getCode", [WHALE, "latest"]) == "0x6001"
    # the state root of the head is the state's: a proof verifies against it
    proof = rpc.call("eth_getProof", [WHALE, ["0x1"], "latest"])
    assert proof["balance"] == hex(10**20)
    dump = rpc.call("anvil_dumpState", [])
    rpc.call("anvil_setBalance", [WHALE, "0x0"])
    assert rpc.call("anvil_loadState", [dump]) is True
    assert int(rpc.call("eth_getBalance", [WHALE, "latest"]), 16) == 10**20


def test_impersonation_persists_the_sender(tmp_path: Any) -> None:
    path = str(tmp_path / "db")
    node = DevNode(ChainStore.open(path), clock=lambda: T0)
    rpc = Methods(node)
    rpc.call("anvil_setBalance", [WHALE, hex(10**20)])
    with pytest.raises(Exception, match="unknown account"):
        rpc.call("eth_sendTransaction", [{"from": WHALE, "to": WHALE}])
    rpc.call("anvil_impersonateAccount", [WHALE])
    tx_hash = rpc.call("eth_sendTransaction", [{"from": WHALE, "to": WHALE, "value": "0x1"}])
    assert rpc.call("eth_getTransactionReceipt", [tx_hash])["from"] == WHALE
    rpc.call("anvil_stopImpersonatingAccount", [WHALE])
    with pytest.raises(Exception, match="unknown account"):
        rpc.call("eth_sendTransaction", [{"from": WHALE, "to": WHALE}])
    other = "0x" + "cd" * 20
    rpc.call("anvil_setBalance", [other, hex(10**20)])
    assert rpc.call("eth_sendUnsignedTransaction", [{"from": other, "to": WHALE}])
    node.store.close()
    again = Methods(DevNode(ChainStore.open(path), clock=lambda: T0))
    assert again.call("eth_getTransactionByHash", [tx_hash])["from"] == WHALE
    trace = again.call("debug_traceTransaction", [tx_hash, {"tracer": "callTracer"}])
    assert trace["from"] == WHALE and trace["value"] == "0x1"


def test_increase_time_after_exact_timestamp_and_many_blocks(rpc: Methods) -> None:
    rpc.call("evm_setNextBlockTimestamp", [hex(T0 + 10_000)])
    rpc.call("evm_mine", [])
    start = head_ts(rpc)
    rpc.call("evm_increaseTime", [61])
    rpc.call("evm_mine", [])
    assert head_ts(rpc) - start == 61
    rpc.call("anvil_mine", [hex(300)])
    start = head_ts(rpc)
    rpc.call("evm_increaseTime", [61])
    rpc.call("evm_mine", [])
    assert head_ts(rpc) - start == 61
    rpc.call("hardhat_mine", ["0x3", "0xc"])
    head = int(rpc.call("eth_blockNumber", []), 16)
    stamps = [
        int(rpc.call("eth_getBlockByNumber", [hex(n), False])["timestamp"], 16)
        for n in range(head - 2, head + 1)
    ]
    assert stamps[1] - stamps[0] == 12 and stamps[2] - stamps[1] == 12


def test_base_fee_gas_limit_and_metadata(rpc: Methods) -> None:
    rpc.call("anvil_setNextBlockBaseFeePerGas", ["0x12345"])
    rpc.call("evm_mine", [])
    assert rpc.call("eth_getBlockByNumber", ["latest", False])["baseFeePerGas"] == "0x12345"
    assert rpc.call("evm_setBlockGasLimit", [hex(40_000_000)]) is True
    rpc.call("evm_mine", [])
    assert rpc.call("eth_getBlockByNumber", ["latest", False])["gasLimit"] == hex(40_000_000)
    meta = rpc.call("hardhat_metadata", [])
    assert meta["chainId"] == 31337 and meta["latestBlockNumber"] == 2
    assert rpc.call("anvil_nodeInfo", [])["hardFork"] == "cancun"


def test_create2_deployer_in_genesis(rpc: Methods) -> None:
    code = rpc.call("eth_getCode", ["0x4e59b44847b379578588920ca78fbf26c0b4956c", "latest"])
    assert code.startswith("0x7fffffff") and code.endswith("6014600cf3")


def test_pool_takes_300_consecutive_transactions_from_one_sender(rpc: Methods) -> None:
    node = rpc.node
    node.config = type(node.config)(**{**node.config.__dict__, "automine": False})
    acct = Account.from_key(node.accounts[0][1])
    for nonce in range(300):
        tx = acct.sign_transaction(
            {
                "chainId": 31337,
                "nonce": nonce,
                "to": acct.address,
                "gas": 21000,
                "maxFeePerGas": 10**10,
                "maxPriorityFeePerGas": 10**9,
            }
        )
        rpc.call("eth_sendRawTransaction", ["0x" + tx.raw_transaction.hex()])
    assert rpc.call("txpool_status", []) == {"pending": hex(300), "queued": "0x0"}
    gapped = acct.sign_transaction(
        {
            "chainId": 31337,
            "nonce": 300 + 64,
            "to": acct.address,
            "gas": 21000,
            "maxFeePerGas": 10**10,
            "maxPriorityFeePerGas": 10**9,
        }
    )
    with pytest.raises(Exception, match="nonce too high"):
        rpc.call("eth_sendRawTransaction", ["0x" + gapped.raw_transaction.hex()])
    content = rpc.call("txpool_content", [])
    assert len(next(iter(content["pending"].values()))) == 300
    assert len(rpc.call("eth_getBlockByNumber", ["pending", False])["transactions"]) == 300
    rpc.call("evm_mine", [])
    assert rpc.call("txpool_status", []) == {"pending": "0x0", "queued": "0x0"}


# Nested calls, a revert and a self-destructing create: 0xc0de.. calls 0xbeef.. which reverts.
REVERTER = "0x" + "be" * 20
CALLER = "0x" + "c0" * 20
# PUSH1 0 PUSH1 0 REVERT
REVERT_CODE = "0x60006000fd"
# CALL(gas, REVERTER, 0, 0, 0, 0, 0) then STOP
CALL_CODE = "0x6000600060006000600073" + "be" * 20 + "5af100"


def test_call_tracer_and_prestate(rpc: Methods) -> None:
    rpc.call("anvil_setCode", [REVERTER, REVERT_CODE])
    rpc.call("anvil_setCode", [CALLER, CALL_CODE])
    a0 = rpc.call("eth_accounts", [])[0]
    tx_hash = rpc.call("eth_sendTransaction", [{"from": a0, "to": CALLER, "gas": hex(100_000)}])
    trace = rpc.call("debug_traceTransaction", [tx_hash, {"tracer": "callTracer"}])
    assert trace["type"] == "CALL" and trace["to"] == CALLER
    assert trace["gas"] == hex(100_000 - 21_000)  # gas limit minus intrinsic, as anvil
    (inner,) = trace["calls"]
    assert inner["type"] == "CALL" and inner["to"] == REVERTER
    assert inner["error"] == "execution reverted"
    pre = rpc.call("debug_traceTransaction", [tx_hash, {"tracer": "prestateTracer"}])
    assert {a0, CALLER, REVERTER} <= set(pre)
    assert pre[CALLER]["code"] == CALL_CODE
    diff = rpc.call(
        "debug_traceTransaction",
        [tx_hash, {"tracer": "prestateTracer", "tracerConfig": {"diffMode": True}}],
    )
    assert diff["post"][a0]["nonce"] == 1
    call = rpc.call(
        "debug_traceCall", [{"from": a0, "to": CALLER}, "latest", {"tracer": "callTracer"}]
    )
    assert call["calls"][0]["error"] == "execution reverted"
    block = rpc.call("debug_traceBlockByNumber", ["latest", {"tracer": "callTracer"}])
    assert block[0]["txHash"] == tx_hash
    parity = rpc.call("trace_transaction", [tx_hash])
    assert [t["traceAddress"] for t in parity] == [[], [0]] and parity[1]["error"] == "Reverted"
    assert rpc.call("ots_traceTransaction", [tx_hash])[1]["depth"] == 1
    access = rpc.call("eth_createAccessList", [{"from": a0, "to": CALLER}])
    assert access["accessList"] == [{"address": REVERTER, "storageKeys": []}]


def test_block_overrides_in_eth_call(rpc: Methods) -> None:
    # TIMESTAMP PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN
    code = "0x4260005260206000f3"
    rpc.call("anvil_setCode", [WHALE, code])
    out = rpc.call("eth_call", [{"to": WHALE}, "latest", None, {"time": "0x1234"}])
    assert int(out, 16) == 0x1234
