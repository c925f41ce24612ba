"""Liquidations through a real node, seen from web3.py: a crash across two underlyings.

A dev node process (ephemeral); dev account 1 makes markets, 2 holds a leveraged long
ETH perp and BTC perp book plus short puts, 3 a small long ETH perp, 5 tops up the
insurance fund. The oracle (publishers 7-9, relayed by 6) moves ETH and BTC down in
steps (each within the per-block clamp); the node's block-end pass liquidates, and every
Liquidation / BadDebt / AutoDeleverage event is decoded with web3.py from ``eth_getLogs``
(they are in each block's system receipt). Collateral is conserved throughout.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from strikevm.client import CLEARINGHOUSE, WAD, Clearinghouse, Oracle, dev_account, wad
from strikevm.client_abi import CLEARINGHOUSE_ABI

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "rpc"))
from rpchelpers import NodeProcess  # noqa: E402

ETH_PERP, BTC_PERP, PUT_3000 = 0, 1, 6
USDC = 10**6
PUBLISHERS = [dev_account(i) for i in (7, 8, 9)]


@pytest.fixture(scope="module")
def node() -> Iterator[NodeProcess]:
    proc = NodeProcess(None).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def w3(node: NodeProcess) -> Web3:
    return Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60}))


def post(oracle: Oracle, expiry: int, eth: str, btc: str) -> None:
    oracle.publish(PUBLISHERS, prices={"ETH/USD": eth, "BTC/USD": btc}, rates={"USD": "0.05"},
                   smiles=[("ETH/USD", expiry, "0.6", "-0.1", "0.2")])  # fmt: skip


def held(w3: Web3, ch: Clearinghouse) -> int:
    return int(ch.token("USDC").functions.balanceOf(Web3.to_checksum_address(CLEARINGHOUSE)).call())


def test_crash_liquidates_through_the_node(w3: Web3, node: NodeProcess) -> None:
    maker = Clearinghouse(w3, dev_account(1))
    trader = Clearinghouse(w3, dev_account(2))
    small = Clearinghouse(w3, dev_account(3))
    donor = Clearinghouse(w3, dev_account(5))
    oracle = Oracle(w3, dev_account(6))
    expiry = maker.market(PUT_3000).expiry
    post(oracle, expiry, "3000", "60000")
    maker.deposit("USDC", 500_000 * USDC)
    trader.deposit("USDC", 12_000 * USDC)
    small.deposit("USDC", 1_500 * USDC)
    contract = w3.eth.contract(address=Web3.to_checksum_address(CLEARINGHOUSE), abi=CLEARINGHOUSE_ABI)
    approve = donor.token("USDC").functions.approve(Web3.to_checksum_address(CLEARINGHOUSE), 400 * USDC)
    donor._send(approve)
    donor._send(contract.functions.fundInsurance(400 * USDC))

    trader.fill(maker.place(ETH_PERP, False, wad(100), wad(3000)), wad(20))
    trader.fill(maker.place(BTC_PERP, False, wad(10), wad(60000)), wad("0.5"))
    trader.fill(maker.place(PUT_3000, True, wad(10), wad(120)), wad(5))
    small.fill(maker.place(ETH_PERP, False, wad(100), wad(3000)), wad(8))
    start = w3.eth.block_number
    assert trader.account().health > 0 and small.account().health > 0

    for eth, btc in (("2850", "57000"), ("2700", "54000"), ("2560", "51300"), ("2430", "48700")):
        post(oracle, expiry, eth, btc)

    logs = w3.eth.get_logs({"fromBlock": start, "toBlock": "latest", "address": Web3.to_checksum_address(CLEARINGHOUSE)})
    decoded: list[tuple[str, Any]] = []
    for name in ("Liquidation", "BadDebt", "AutoDeleverage", "LiquidationFailed"):
        event = getattr(contract.events, name)()
        for log in logs:
            if Web3.to_hex(log["topics"][0]) == Web3.to_hex(hexstr=event.topic):
                decoded.append((name, event.process_log(log)["args"]))
    names = [n for n, _ in decoded]
    assert "Liquidation" in names
    liquidated = {args["owner"] for n, args in decoded if n == "Liquidation"}
    assert dev_account(2).address in liquidated
    assert "LiquidationFailed" not in names
    # the trader's book shrank in every market, the fund (or ADL'd holders) took the rest
    sizes = [trader.position(m)[0] for m in (ETH_PERP, BTC_PERP, PUT_3000)]
    assert abs(sizes[0]) < 20 * WAD and abs(sizes[2]) < 5 * WAD
    fund = contract.functions.insuranceFund().call()
    # conservation: tokens held = every account's cash + fee shards + pool shards + fund
    total = sum(Clearinghouse(w3, dev_account(i)).cash() for i in range(10))
    fee = contract.functions.feeBalance().call()
    pool = _pool(w3)
    assert held(w3, maker) == total + fee + pool + fund
    assert w3.eth.get_block("latest")["number"] > start
    # the same facts in the node's Prometheus metrics
    import urllib.request

    with urllib.request.urlopen(node.url + "metrics", timeout=30) as response:  # noqa: S310
        text = response.read().decode()
    values = {line.split()[0]: float(line.split()[1]) for line in text.splitlines() if line and not line.startswith("#")}
    assert values["strikevm_liquidations_total"] == names.count("Liquidation")
    assert values["strikevm_insurance_fund"] == fund
    assert values["strikevm_end_block_step_seconds_total"] > 0


def _pool(w3: Web3) -> int:
    from strikevm.finance import clearinghouse_layout as L

    total = 0
    for shard in range(L.SHARDS):
        raw = w3.eth.get_storage_at(Web3.to_checksum_address(CLEARINGHOUSE), L.pool(shard))
        total += L.signed(int.from_bytes(raw, "big"), 256)
    return total
