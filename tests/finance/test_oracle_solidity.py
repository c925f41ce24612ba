"""StrikeOracle from Solidity: the interface matches the contract, and an example consumer
(compiled with the pinned solc-js) relays, reads, catches typed errors and settles on a TWAP."""

from __future__ import annotations

import json
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from eth_abi import decode as eth_decode
from eth_abi import encode as eth_encode
from oraclehelpers import CHAIN_ID, E8, ETH, PUBLISHER_KEYS, OracleChain, selector

from strikevm.finance.oracle import ERRORS, FUNCTIONS
from strikevm.finance.oracle_layout import price_update

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("contracts/IStrikeOracle.sol", "contracts/examples/OracleConsumer.sol")


@cache
def compiled() -> dict[str, Any]:
    proc = subprocess.run(
        ["node", "contracts/compile.js", *SOURCES], cwd=ROOT, capture_output=True, text=True,
        check=False, timeout=300,
    )  # fmt: skip
    if proc.returncode:
        pytest.fail(f"solc failed (make test installs solc-js):\n{proc.stderr}")
    return json.loads(proc.stdout)["contracts"]


def test_interface_matches_the_contract() -> None:
    iface = compiled()["contracts/IStrikeOracle.sol"]["IStrikeOracle"]
    ids = {sig: int(h, 16) for sig, h in iface["evm"]["methodIdentifiers"].items()}
    assert set(ids) == set(FUNCTIONS)
    declared = set()
    for entry in iface["abi"]:
        if entry["type"] == "error":
            declared.add(f"{entry['name']}({','.join(i['type'] for i in entry['inputs'])})")
    assert set(ERRORS) <= declared


def test_consumer_relays_reads_catches_and_settles() -> None:
    chain = OracleChain()
    art = compiled()["contracts/examples/OracleConsumer.sol"]["OracleConsumer"]
    code = bytes.fromhex(art["evm"]["bytecode"]["object"]) + eth_encode(["bytes32"], [ETH.to_bytes(32, "big")])
    created = chain.send(code, to=None)
    assert created.success and created.contract_address is not None
    consumer = created.contract_address

    # a stale feed: the consumer catches the oracle's typed error
    result = chain.send(selector("tryRecord()"), to=consumer)
    ok, reason = eth_decode(["bool", "bytes4"], result.output)
    assert ok is False and reason == selector("QuorumNotMet(bytes32)")

    # pull model: relay and read in one transaction
    observations = []
    for i in range(6):
        ups = [price_update(k, ETH, (2000 + 10 * i) * E8, E8, chain.now, CHAIN_ID) for k in PUBLISHER_KEYS]
        data = selector("updateAndRead(bytes[])") + eth_encode(["bytes[]"], [ups])
        result = chain.send(data, to=consumer)
        assert result.success, result.output
        assert eth_decode(["uint256"], result.output)[0] == (2000 + 10 * i) * E8
        observations.append((chain.now, (2000 + 10 * i) * E8))
        chain.next_block()
    view = chain.send(selector("price(uint256)") + eth_encode(["uint256"], [60]), to=consumer)
    assert eth_decode(["uint256", "uint256"], view.output)[0] == 2050 * E8
    too_old = chain.send(selector("price(uint256)") + eth_encode(["uint256"], [5]), to=consumer)
    assert not too_old.success and too_old.output[:4] == selector("StalePrice(bytes32,uint256)")

    # settle on the TWAP of the 36 s before the last observation
    expiry = observations[-1][0]
    settled = chain.send(selector("settle(uint256,uint256)") + eth_encode(["uint256", "uint256"], [expiry, 36]), to=consumer)
    assert settled.success, settled.output
    # three 12-second blocks at 2020, 2030, 2040
    assert eth_decode(["uint256"], settled.output)[0] == (2020 + 2030 + 2040) * E8 // 3
