"""web3.py against a running dev node: deploy OpenZeppelin's ERC20, transfer, read events.

Each backend (``strikevm node``, anvil) runs as a real process; web3.py talks to it over HTTP
(transactions signed locally from the dev mnemonic, fees filled in by web3.py) and over
WebSocket (``eth_subscribe`` for logs and new heads).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from devnode import CHAIN_ID, DevNode, dev_accounts
from eth_utils import keccak
from web3 import AsyncWeb3, HTTPProvider, Web3, WebSocketProvider
from web3.contract import Contract
from web3.exceptions import ContractCustomError
from web3.middleware import SignAndSendRawMiddlewareBuilder
from web3.types import TxReceipt

NAME, SYMBOL, DECIMALS = "Strike Test Token", "STT", 18
SUPPLY = 1_000_000 * 10**DECIMALS
TRANSFER_TOPIC = "0x" + keccak(text="Transfer(address,address,uint256)").hex()
APPROVAL_TOPIC = "0x" + keccak(text="Approval(address,address,uint256)").hex()
INSUFFICIENT_BALANCE = keccak(text="ERC20InsufficientBalance(address,uint256,uint256)")[:4]
TIMEOUT = 30


def topic_address(address: str) -> str:
    return "0x" + "00" * 12 + address[2:].lower()


def wait(w3: Web3, tx_hash: bytes) -> TxReceipt:
    return w3.eth.wait_for_transaction_receipt(tx_hash, timeout=TIMEOUT, poll_latency=0.05)


@pytest.fixture(scope="module")
def w3(node: DevNode) -> Web3:
    """HTTP web3 that signs locally for all ten dev accounts."""
    web3 = Web3(HTTPProvider(node.http_url, request_kwargs={"timeout": TIMEOUT}))
    web3.middleware_onion.inject(
        SignAndSendRawMiddlewareBuilder.build(list(dev_accounts())), layer=0
    )
    return web3


@pytest.fixture(scope="module")
def token(w3: Web3, erc20: dict[str, Any]) -> Contract:
    deployer = dev_accounts()[0].address
    factory = w3.eth.contract(abi=erc20["abi"], bytecode=erc20["bytecode"])
    receipt = wait(w3, factory.constructor(NAME, SYMBOL, SUPPLY).transact({"from": deployer}))
    assert receipt["status"] == 1, receipt
    assert receipt["contractAddress"], receipt
    return w3.eth.contract(address=receipt["contractAddress"], abi=erc20["abi"])


def test_chain_and_dev_accounts(w3: Web3) -> None:
    assert w3.eth.chain_id == CHAIN_ID
    expected = [a.address for a in dev_accounts()]
    assert w3.eth.accounts == expected
    for address in expected:
        assert w3.eth.get_balance(address) >= 1000 * 10**18
    assert w3.eth.get_block("latest")["number"] >= 0


def test_deploy(w3: Web3, token: Contract, erc20: dict[str, Any]) -> None:
    deployer = dev_accounts()[0].address
    assert "0x" + w3.eth.get_code(token.address).hex() == erc20["deployedBytecode"]
    assert token.functions.name().call() == NAME
    assert token.functions.symbol().call() == SYMBOL
    assert token.functions.decimals().call() == DECIMALS
    assert token.functions.totalSupply().call() == SUPPLY
    assert token.functions.balanceOf(deployer).call() == SUPPLY


def test_transfer_and_get_logs(w3: Web3, token: Contract) -> None:
    sender, recipient = dev_accounts()[0].address, dev_accounts()[1].address
    before = token.functions.balanceOf(sender).call(), token.functions.balanceOf(recipient).call()
    start = w3.eth.block_number
    amount = 1234 * 10**18
    receipt = wait(w3, token.functions.transfer(recipient, amount).transact({"from": sender}))
    assert receipt["status"] == 1
    assert receipt["gasUsed"] > 21000

    events = token.events.Transfer().process_receipt(receipt)
    assert [(e["args"]["from"], e["args"]["to"], e["args"]["value"]) for e in events] == [
        (sender, recipient, amount)
    ]
    assert token.functions.balanceOf(sender).call() == before[0] - amount
    assert token.functions.balanceOf(recipient).call() == before[1] + amount

    # eth_getLogs: by address and topic over a block range, and by an indexed argument.
    logs = w3.eth.get_logs(
        {
            "fromBlock": start + 1,
            "toBlock": "latest",
            "address": token.address,
            "topics": [TRANSFER_TOPIC],
        }
    )
    assert [log["transactionHash"] for log in logs] == [receipt["transactionHash"]]
    log = logs[0]
    assert log["blockNumber"] == receipt["blockNumber"]
    assert log["blockHash"] == receipt["blockHash"]
    assert log["topics"][1].hex() == topic_address(sender)[2:]
    assert log["topics"][2].hex() == topic_address(recipient)[2:]
    assert int.from_bytes(log["data"], "big") == amount

    to_recipient = w3.eth.get_logs(
        {
            "fromBlock": 0,
            "toBlock": "latest",
            "address": token.address,
            "topics": [TRANSFER_TOPIC, None, topic_address(recipient)],
        }
    )
    assert receipt["transactionHash"] in [entry["transactionHash"] for entry in to_recipient]
    assert all(entry["topics"][2].hex() == topic_address(recipient)[2:] for entry in to_recipient)

    by_block_hash = w3.eth.get_logs({"blockHash": receipt["blockHash"], "address": token.address})
    assert [entry["logIndex"] for entry in by_block_hash] == [log["logIndex"]]

    # The same through web3's contract event API (eth_getLogs with the event's topic).
    decoded = token.events.Transfer().get_logs(from_block=start + 1)
    assert [e["args"]["value"] for e in decoded] == [amount]

    # The mined block holds the transaction; the receipt's logs bloom contains the token.
    block = w3.eth.get_block(receipt["blockNumber"])
    assert receipt["transactionHash"] in block["transactions"]
    assert w3.eth.get_transaction(receipt["transactionHash"])["to"] == token.address


def test_approve_and_transfer_from(w3: Web3, token: Contract) -> None:
    owner, spender, recipient = (a.address for a in dev_accounts()[:3])
    allowance = 500 * 10**18
    receipt = wait(w3, token.functions.approve(spender, allowance).transact({"from": owner}))
    assert receipt["status"] == 1
    (approval,) = token.events.Approval().process_receipt(receipt)
    assert approval["args"]["owner"] == owner
    assert approval["args"]["spender"] == spender
    assert approval["args"]["value"] == allowance
    assert receipt["logs"][0]["topics"][0].hex() == APPROVAL_TOPIC[2:]
    assert token.functions.allowance(owner, spender).call() == allowance

    moved = 200 * 10**18
    before = token.functions.balanceOf(recipient).call()
    receipt = wait(
        w3, token.functions.transferFrom(owner, recipient, moved).transact({"from": spender})
    )
    assert receipt["status"] == 1
    (transfer,) = token.events.Transfer().process_receipt(receipt)
    assert transfer["args"]["from"] == owner
    assert transfer["args"]["to"] == recipient
    assert token.functions.allowance(owner, spender).call() == allowance - moved
    assert token.functions.balanceOf(recipient).call() == before + moved


def test_revert_reports_custom_error(w3: Web3, token: Contract) -> None:
    poor, rich = dev_accounts()[5].address, dev_accounts()[0].address
    assert token.functions.balanceOf(poor).call() == 0
    # eth_call / eth_estimateGas return OpenZeppelin's custom error as revert data.
    with pytest.raises(ContractCustomError) as excinfo:
        token.functions.transfer(rich, 1).call({"from": poor})
    data = excinfo.value.data
    assert isinstance(data, str) and bytes.fromhex(data[2:10]) == INSUFFICIENT_BALANCE
    with pytest.raises(ContractCustomError):
        token.functions.transfer(rich, 1).estimate_gas({"from": poor})

    # Mined with an explicit gas limit, the transaction fails: status 0, no logs, no change.
    supply_before = token.functions.balanceOf(rich).call()
    tx_hash = token.functions.transfer(rich, 1).transact({"from": poor, "gas": 100_000})
    receipt = wait(w3, tx_hash)
    assert receipt["status"] == 0
    assert receipt["logs"] == []
    assert 21000 < receipt["gasUsed"] < 100_000
    assert token.functions.balanceOf(rich).call() == supply_before


def test_send_transaction_from_unlocked_dev_account(node: DevNode) -> None:
    """eth_sendTransaction: the node signs with its own dev keys, as anvil does."""
    plain = Web3(HTTPProvider(node.http_url, request_kwargs={"timeout": TIMEOUT}))
    sender, recipient = dev_accounts()[8].address, dev_accounts()[9].address
    before = plain.eth.get_balance(recipient)
    tx_hash = plain.eth.send_transaction({"from": sender, "to": recipient, "value": 10**15})
    receipt = wait(plain, tx_hash)
    assert receipt["status"] == 1
    assert receipt["gasUsed"] == 21000
    assert plain.eth.get_balance(recipient) == before + 10**15


async def _subscribe_and_transfer(
    ws_url: str, token_address: str, abi: list[dict[str, Any]], amount: int
) -> tuple[dict[str, Any], dict[str, Any], TxReceipt]:
    sender, recipient = dev_accounts()[0], dev_accounts()[4]
    async with AsyncWeb3(WebSocketProvider(ws_url)) as aw3:
        assert await aw3.eth.chain_id == CHAIN_ID
        logs_id = await aw3.eth.subscribe(
            "logs", {"address": token_address, "topics": [TRANSFER_TOPIC]}
        )
        heads_id = await aw3.eth.subscribe("newHeads")
        assert logs_id != heads_id

        contract = aw3.eth.contract(address=token_address, abi=abi)
        tx = await contract.functions.transfer(recipient.address, amount).build_transaction(
            {"from": sender.address, "nonce": await aw3.eth.get_transaction_count(sender.address)}
        )
        tx_hash = await aw3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction)

        got: dict[str, dict[str, Any]] = {}
        async for message in aw3.socket.process_subscriptions():
            sub = message["subscription"]
            if sub == logs_id and message["result"]["transactionHash"] == tx_hash:
                got["log"] = dict(message["result"])
            elif sub == heads_id:
                got["head"] = dict(message["result"])
            if "log" in got and "head" in got:
                if got["head"]["number"] >= got["log"]["blockNumber"]:
                    break
        receipt = await aw3.eth.wait_for_transaction_receipt(tx_hash, timeout=TIMEOUT)
        assert await aw3.eth.unsubscribe(logs_id)
        assert await aw3.eth.unsubscribe(heads_id)
    return got["log"], got["head"], receipt


def test_websocket_log_subscription(node: DevNode, token: Contract, erc20: dict[str, Any]) -> None:
    amount = 7 * 10**18
    log, head, receipt = asyncio.run(
        asyncio.wait_for(
            _subscribe_and_transfer(node.ws_url, token.address, erc20["abi"], amount),
            timeout=TIMEOUT,
        )
    )
    assert receipt["status"] == 1
    (mined,) = receipt["logs"]
    assert log["address"] == token.address
    assert log["transactionHash"] == receipt["transactionHash"]
    assert log["blockNumber"] == receipt["blockNumber"]
    assert log["blockHash"] == receipt["blockHash"]
    assert log["logIndex"] == mined["logIndex"]
    assert [t.hex() for t in log["topics"]] == [t.hex() for t in mined["topics"]]
    assert int.from_bytes(log["data"], "big") == amount
    assert log.get("removed", False) is False
    assert head["number"] >= 1 and len(head["hash"]) == 32
