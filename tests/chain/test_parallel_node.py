"""The dev node produces blocks with the parallel executor (``exec_workers``), on its
in-memory and its LMDB store, with exactly the blocks of one-by-one execution."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_abi import encode as eth_encode

from strikevm.chain import node as N
from strikevm.chain import parallel
from strikevm.chain.store import ChainStore
from strikevm.chain.transaction import Transaction, sign_transaction
from strikevm.crypto import keccak256, private_key_to_address
from strikevm.finance.pricing_contract import PRICING_ADDRESS

GWEI = 10**9
WAD = 10**18


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000

    def __call__(self) -> int:
        return self.now


def block_txs(node: N.DevNode, rng: random.Random, count: int) -> list[Transaction]:
    """Transfers to fresh addresses (looked up in the store) and pricing calls, from the
    dev accounts in turn."""
    nonces = {addr: node.state.nonce(addr) for addr, _ in node.accounts}
    price = sign = keccak256(
        b"blackScholesPrice(bool,uint256,uint256,uint256,uint256,int256,int256)"
    )[:4]
    txs = []
    for i in range(count):
        addr, key = node.accounts[i % len(node.accounts)]
        if i % 2:
            to, value = 0xF5E5_0000_0000 + rng.randrange(1 << 40), rng.randrange(1, 10**15)
            data = b""
        else:
            to, value = PRICING_ADDRESS, 0
            data = price + eth_encode(
                ["bool", "uint256", "uint256", "uint256", "uint256", "int256", "int256"],
                [i % 3 == 0, 3000 * WAD, rng.randrange(2000, 4000) * WAD, 6 * WAD // 10,
                 30 * 86_400, 5 * WAD // 100, 0],
            )  # fmt: skip
        txs.append(sign_transaction(key, tx_type=2, chain_id=node.config.chain_id,
                                    nonce=nonces[addr], gas_limit=200_000, to=to, data=data,
                                    value=value, max_priority_fee_per_gas=GWEI,
                                    max_fee_per_gas=100 * GWEI))  # fmt: skip
        nonces[addr] += 1
    del sign
    return txs


@pytest.fixture(params=["memory", "lmdb"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[ChainStore]]:
    if request.param == "memory":
        pair = [ChainStore(), ChainStore()]
    else:
        pair = [ChainStore.open(str(tmp_path / "one")), ChainStore.open(str(tmp_path / "par"))]
    yield pair
    for s in pair:
        s.close()


def test_parallel_block_production_equals_sequential(
    stores: list[ChainStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parallel, "DEFAULT_RESERVE", 3)  # executors certainly get batches
    monkeypatch.setattr(parallel, "MIN_PARALLEL_TXS", 32)  # blocks of 96 run in parallel
    nodes = [
        N.DevNode(store, clock=Clock(), config=N.NodeConfig(automine=False, exec_workers=w))
        for store, w in zip(stores, (1, 2), strict=True)
    ]
    rng = random.Random(11)
    for _ in range(3):
        txs = block_txs(nodes[0], rng, 96)
        mined = []
        for node in nodes:
            for tx in txs:
                node.submit(tx)
            mined.append(node.mine())
        one, par = mined
        assert len(one.block.transactions) == len(txs)
        assert par.header == one.header and par.hash == one.hash
        runs = nodes[1].last_parallel
        assert [r.mode for r in runs] == ["parallel"]
        assert runs[0].optimistic > 0 and runs[0].committed > 0, runs[0].as_dict()
        assert nodes[0].last_parallel == []


def test_refused_transaction_is_dropped_and_the_rest_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A pooled transaction that fails at execution (an earlier transaction of its sender
    spent the balance it needed) is dropped as in one-by-one production, and the block
    goes on with the transactions after it."""
    monkeypatch.setattr(parallel, "DEFAULT_RESERVE", 3)
    monkeypatch.setattr(parallel, "MIN_PARALLEL_TXS", 32)
    nodes = [
        N.DevNode(ChainStore(), clock=Clock(), config=N.NodeConfig(automine=False, exec_workers=w))
        for w in (1, 2)
    ]
    poor_key = (0xBADC0DE).to_bytes(32, "big")
    poor = int.from_bytes(private_key_to_address(poor_key), "big")
    one_transfer = 21_000 * 100 * GWEI + 10**15  # enough for one of its transfers, not two
    outcomes = []
    for node in nodes:
        rich, key = node.accounts[0]
        node.submit(sign_transaction(key, tx_type=2, chain_id=node.config.chain_id,
                                     nonce=node.state.nonce(rich), gas_limit=21_000, to=poor,
                                     value=one_transfer, max_priority_fee_per_gas=GWEI,
                                     max_fee_per_gas=100 * GWEI))  # fmt: skip
        node.mine()
        others = block_txs(node, random.Random(5), 72)
        txs = others[:64]
        for nonce in (0, 1):
            txs.append(sign_transaction(poor_key, tx_type=2, chain_id=node.config.chain_id,
                                        nonce=nonce, gas_limit=21_000, to=0xDEAD, value=10**15,
                                        max_priority_fee_per_gas=GWEI,
                                        max_fee_per_gas=100 * GWEI))  # fmt: skip
        txs += others[64:]  # and more after them
        for tx in txs:
            node.submit(tx)
        stored = node.mine()
        included = [t.hash for t in stored.block.transactions]
        assert txs[64].hash in included and txs[65].hash not in included
        assert txs[65].hash not in node.pool
        with pytest.raises(N.NodeError, match="dropped at execution"):
            node.settle(txs[65].hash)
        outcomes.append((stored.header, included))
    assert outcomes[0] == outcomes[1]
    first = nodes[1].last_parallel[0]
    assert first.mode == "parallel" and first.reason == "transaction 65 refused", first.as_dict()
