"""The optimistic parallel executor gives exactly the sequential result.

Randomized blocks (ETH transfers, ERC-20 transfers, constant-product swaps on shared
pools, deployments, reverts, self-destructs, native pricing calls, clearinghouse
trades) run sequentially and with two executors on copies of one state; state root,
dirty sets, receipts, logs, outputs and gas must be equal, and the parallel runs must
really have run in parallel and re-executed conflicting transactions.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from eth_abi import encode as eth_encode

from strikevm.chain import parallel
from strikevm.chain.block import (
    Block,
    Header,
    InvalidBlock,
    block_env,
    calc_base_fee,
    genesis_header,
    receipts_root,
    transactions_root,
)
from strikevm.chain.parallel import (
    BatchView,
    ParallelStats,
    apply_writes,
    execute_transactions,
    validate_reads,
)
from strikevm.chain.pipeline import BlockBuilder, BlockResult, apply_block
from strikevm.chain.receipt import encode_receipt
from strikevm.chain.transaction import Transaction, sign_transaction
from strikevm.crypto import keccak256, private_key_to_address
from strikevm.finance.system import default_registry
from strikevm.state.account import Account
from strikevm.state.root import state_root
from strikevm.state.world import WorldState
from strikevm.vm.env import BlockEnv

ROOT = Path(__file__).resolve().parents[2]
SOURCE = "tests/chain/contracts/ParallelFixtures.sol"
CHAIN_ID = 1
COINBASE = 0xC0FFEE
BASE_FEE = 7
PRICING = 0x53540001
N_KEYS = 40
KEYS = [(0x5A5A_0000 + i).to_bytes(32, "big") for i in range(1, N_KEYS + 1)]
ADDRS = [int.from_bytes(private_key_to_address(k), "big") for k in KEYS]
WAD = 10**18


@cache
def compiled() -> dict[str, Any]:
    if shutil.which("node") is None or not (ROOT / "node_modules" / "solc").is_dir():
        pytest.fail("solc-js is needed (node and `npm ci` in the repository root)")
    proc = subprocess.run(
        ["node", "contracts/compile.js", SOURCE],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    if proc.returncode:
        pytest.fail(f"solc failed:\n{proc.stderr}")
    return json.loads(proc.stdout)["contracts"][SOURCE]  # type: ignore[no-any-return]


def initcode(name: str) -> bytes:
    return bytes.fromhex(compiled()[name]["evm"]["bytecode"]["object"])


def sel(signature: str) -> bytes:
    return keccak256(signature.encode())[:4]


def create_address(sender: int, nonce: int) -> int:
    from strikevm.vm.instructions.system import create_address as ca

    return ca(sender, nonce)


class Chain:
    """A state, the block environment and per-key nonces; blocks built by signing."""

    def __init__(self, state: WorldState, system: Any = None) -> None:
        self.state = state
        self.system = system
        self.nonces = [0] * N_KEYS
        self.number = 1

    def env(self) -> BlockEnv:
        return BlockEnv(number=self.number, timestamp=1_800_000_000 + 12 * self.number,
                        base_fee=BASE_FEE, chain_id=CHAIN_ID, gas_limit=1_000_000_000,
                        coinbase=COINBASE)  # fmt: skip

    def tx(self, i: int, to: int | None, data: bytes = b"", value: int = 0,
           gas: int = 500_000, tip: int = 2) -> Transaction:  # fmt: skip
        tx = sign_transaction(KEYS[i], tx_type=2, chain_id=CHAIN_ID, nonce=self.nonces[i],
                              gas_limit=gas, to=to, data=data, value=value,
                              max_priority_fee_per_gas=tip, max_fee_per_gas=100)  # fmt: skip
        self.nonces[i] += 1
        return tx

    def run(self, txs: list[Transaction]) -> BlockResult:
        """Apply a set-up block sequentially."""
        builder = BlockBuilder(self.state, self.env(), system=self.system)
        for tx in txs:
            result = builder.add(tx)
            assert result.success, (result.error, result.output)
        self.number += 1
        self.state.take_dirty()
        return builder.finish()


def execute(state: WorldState, env: BlockEnv, txs: list[Transaction], system: Any,
            workers: int, **kw: Any) -> tuple[BlockResult, ParallelStats, tuple[Any, ...]]:  # fmt: skip
    builder = BlockBuilder(state, env, system=system)
    builder.begin()
    kw.setdefault("min_gas_per_tx", 0)  # the mechanism, not the decision rule
    kw.setdefault("min_txs", 2)
    stats = execute_transactions(builder, txs, workers=workers, **kw)
    result = builder.finish()
    written, slots, deleted = state.take_dirty()
    dirty = (set(written), {(a, s) for a, ss in slots.items() for s in ss}, set(deleted))
    return result, stats, dirty


def summary(result: BlockResult) -> list[Any]:
    out = []
    for receipt, r in zip(result.receipts, result.tx_results, strict=True):
        out.append((
            encode_receipt(receipt),
            r.success, r.gas_used, r.gas_spent, r.output, r.contract_address,
            [(log.address, log.topics, log.data) for log in r.logs],
            type(r.error).__name__ if r.error is not None else None,
        ))  # fmt: skip
    return [out, result.gas_used, result.logs_bloom, receipts_root(result.receipts)]


def assert_same(base: WorldState, env: BlockEnv, txs: list[Transaction], system: Any,
                **kw: Any) -> ParallelStats:  # fmt: skip
    kw.setdefault("reserve", 4)  # batches left to the executor whatever its speed
    seq_state, par_state = base.copy(), base.copy()
    seq, seq_stats, seq_dirty = execute(seq_state, env, txs, system, 1)
    par, stats, par_dirty = execute(par_state, env, txs, system, 2, **kw)
    assert seq_stats.mode == "sequential"
    assert summary(par) == summary(seq)
    assert state_root(par_state) == state_root(seq_state)
    for a, b in zip(par_dirty, seq_dirty, strict=True):
        assert a == b, (a - b, b - a)
    return stats


# ------------------------------------------------------------------ the random suite


class Contracts:
    """Deployed fixtures: a token, pools, a counter, a reverter, a factory, destructibles."""

    def __init__(self, chain: Chain, pools: int, destructibles: int) -> None:
        deployer = 0
        self.token = create_address(ADDRS[deployer], chain.nonces[deployer])
        txs = [chain.tx(deployer, None, initcode("ParToken"), gas=2_000_000)]
        self.pools = []
        for _ in range(pools):
            self.pools.append(create_address(ADDRS[deployer], chain.nonces[deployer]))
            txs.append(chain.tx(deployer, None, initcode("ParPair"), gas=2_000_000))
        self.counter = create_address(ADDRS[deployer], chain.nonces[deployer])
        txs.append(chain.tx(deployer, None, initcode("ParCounter"), gas=2_000_000))
        self.reverter = create_address(ADDRS[deployer], chain.nonces[deployer])
        txs.append(chain.tx(deployer, None, initcode("ParReverter"), gas=2_000_000))
        self.factory = create_address(ADDRS[deployer], chain.nonces[deployer])
        txs.append(chain.tx(deployer, None, initcode("ParFactory"), gas=2_000_000))
        self.destructibles = []
        for _ in range(destructibles):
            self.destructibles.append(create_address(ADDRS[deployer], chain.nonces[deployer]))
            txs.append(chain.tx(deployer, None, initcode("ParDestructible"), gas=2_000_000))
        chain.run(txs)
        setup = []
        for i in range(N_KEYS):
            mint = sel("mint(address,uint256)") + eth_encode(["address", "uint256"],
                                                             [_hex(ADDRS[i]), 10**24])  # fmt: skip
            setup.append(chain.tx(i, self.token, mint))
            for pool in self.pools:
                faucet = sel("faucet(uint256,uint256)") + eth_encode(
                    ["uint256", "uint256"], [10**22, 10**22])  # fmt: skip
                setup.append(chain.tx(i, pool, faucet))
        for d in self.destructibles:
            setup.append(chain.tx(1, d, b"", value=10**15))
        chain.run(setup)


def _hex(addr: int) -> str:
    return f"0x{addr:040x}"


def random_tx(rng: random.Random, chain: Chain, c: Contracts, kinds: list[str]) -> Transaction:
    kind = rng.choice(kinds)
    i = rng.randrange(N_KEYS)
    if kind == "eth":
        pick = rng.random()
        if pick < 0.3:
            to = ADDRS[rng.randrange(N_KEYS)]
        elif pick < 0.5:
            to = 0xF00D0000 + rng.randrange(4)  # a few shared fresh recipients
        else:
            to = 0xBEEF00000000 + rng.randrange(1 << 32)
        value = 0 if rng.random() < 0.1 else rng.randrange(1, 10**18)
        return chain.tx(i, to, value=value, gas=21_000)
    if kind == "erc20":
        to = ADDRS[rng.randrange(N_KEYS)] if rng.random() < 0.5 else 0xE20000 + rng.randrange(1000)
        amount = 10**25 if rng.random() < 0.05 else rng.randrange(1, 10**20)  # some revert
        data = sel("transfer(address,uint256)") + eth_encode(["address", "uint256"],
                                                             [_hex(to), amount])  # fmt: skip
        return chain.tx(i, c.token, data, gas=100_000)
    if kind == "swap":
        pool = rng.choice(c.pools)
        data = sel("swap(bool,uint256)") + eth_encode(["bool", "uint256"],
                                                      [rng.random() < 0.5, rng.randrange(1, 10**20)])  # fmt: skip
        return chain.tx(i, pool, data, gas=150_000)
    if kind == "counter":
        return chain.tx(i, c.counter, sel("increment()"), gas=100_000)
    if kind == "deploy":
        return chain.tx(i, None, initcode("ParCounter"), gas=500_000)
    if kind == "revert":
        name = "fail(uint256)" if rng.random() < 0.7 else "note(uint256)"
        return chain.tx(i, c.reverter, sel(name) + eth_encode(["uint256"], [rng.randrange(99)]))
    if kind == "destruct":
        beneficiary = ADDRS[rng.randrange(N_KEYS)] if rng.random() < 0.5 else COINBASE
        if rng.random() < 0.5 and c.destructibles:
            target = rng.choice(c.destructibles)
            return chain.tx(
                i, target, sel("kill(address)") + eth_encode(["address"], [_hex(beneficiary)])
            )
        data = sel("makeAndKill(address)") + eth_encode(["address"], [_hex(beneficiary)])
        return chain.tx(i, c.factory, data, value=rng.randrange(0, 10**12))
    if kind == "pricing":
        args = [rng.random() < 0.5, 3000 * WAD, rng.randrange(2000, 4000) * WAD,
                6 * WAD // 10, 30 * 86_400, 5 * WAD // 100, 0]  # fmt: skip
        data = sel("blackScholesPrice(bool,uint256,uint256,uint256,uint256,int256,int256)")
        data += eth_encode(
            ["bool", "uint256", "uint256", "uint256", "uint256", "int256", "int256"], args
        )
        return chain.tx(i, PRICING, data)
    if kind == "coinbase":  # reads the coinbase's balance: conflicts with every fee credit
        return chain.tx(i, COINBASE, value=1, gas=21_000)
    raise AssertionError(kind)


def independent_tx(rng: random.Random, chain: Chain, c: Contracts, i: int) -> Transaction:
    """A transaction of key ``i`` that touches nothing another key's transaction touches
    (fresh recipients, the sender's own token balance, pure calls), or a deployment."""
    kind = rng.choice(["eth", "erc20", "pricing", "revert", "deploy"])
    if kind == "eth":
        return chain.tx(i, 0xBEEF00000000 + rng.randrange(1 << 40), value=rng.randrange(1, 10**18),
                        gas=21_000)  # fmt: skip
    if kind == "erc20":
        data = sel("transfer(address,uint256)") + eth_encode(
            ["address", "uint256"], [_hex(0xE2000000000 + rng.randrange(1 << 40)), 10**6]
        )
        return chain.tx(i, c.token, data, gas=100_000)
    return random_tx(rng, chain, c, [kind]) if kind != "revert" else chain.tx(
        i, c.reverter, sel("fail(uint256)") + eth_encode(["uint256"], [rng.randrange(99)])
    )


KINDS = ["eth", "eth", "erc20", "erc20", "swap", "swap", "counter", "deploy", "revert",
         "destruct", "pricing", "coinbase"]  # fmt: skip


@pytest.fixture(scope="module")
def world() -> tuple[Chain, Contracts]:
    accounts = {a: Account(balance=10**24) for a in ADDRS}
    accounts[COINBASE] = Account(balance=1)
    chain = Chain(WorldState(accounts), default_registry())
    contracts = Contracts(chain, pools=3, destructibles=6)
    return chain, contracts


def test_random_blocks_equal(world: tuple[Chain, Contracts]) -> None:
    chain, c = world
    rng = random.Random(1313)
    totals = {"blocks": 0, "txs": 0, "optimistic": 0, "committed": 0, "reexecuted": 0}
    for block in range(8):
        nonces = list(chain.nonces)
        kinds = KINDS if block % 2 == 0 else ["eth", "erc20", "swap", "pricing", "destruct"]
        txs = [random_tx(rng, chain, c, kinds) for _ in range(rng.randrange(40, 120))]
        # half the batches left to the executor, so that its work is certain
        size = 1 + block % 3
        stats = assert_same(chain.state, chain.env(), txs, chain.system, abort_percent=100,
                            batch=size, reserve=len(txs) // size // 2)  # fmt: skip
        assert stats.mode == "parallel" and stats.optimistic > 0
        print(f"block {block}: {len(txs)} txs, {stats.committed}/{stats.optimistic} committed")
        totals["blocks"] += 1
        totals["txs"] += len(txs)
        for k in ("optimistic", "committed", "reexecuted"):
            totals[k] += getattr(stats, k)
        # advance the chain with the block (so later blocks build on its effects)
        chain.nonces = nonces
        chain.nonces = [
            n + sum(1 for t in txs if t.sender == a) for n, a in zip(nonces, ADDRS, strict=True)
        ]
        BlockBuilder(chain.state, chain.env(), system=chain.system).add_transactions(txs)
        chain.state.take_dirty()
        chain.number += 1
    assert totals["reexecuted"] > 0 and totals["committed"] > 0, totals
    print("random suite:", totals)


def test_independent_blocks_commit_in_parallel(world: tuple[Chain, Contracts]) -> None:
    """Low contention: most of the executors' batches validate and are committed as is."""
    chain, c = world
    rng = random.Random(99)
    nonces = list(chain.nonces)
    for block in range(4):  # alternative blocks on one state, one transaction per key
        txs = [independent_tx(rng, chain, c, i) for i in range(N_KEYS)]
        stats = assert_same(chain.state, chain.env(), txs, chain.system, batch=2 + 2 * block)
        assert stats.mode == "parallel" and stats.optimistic > 0
        assert stats.committed * 2 > stats.optimistic, stats.as_dict()
        chain.nonces = list(nonces)


def test_same_sender_and_shared_recipient_do_not_conflict(world: tuple[Chain, Contracts]) -> None:
    chain, _ = world
    nonces = list(chain.nonces)
    # every transfer pays one shared recipient; senders repeat (consecutive nonces)
    txs = [chain.tx(i % 8, ADDRS[39], value=10**9, gas=21_000) for i in range(96)]
    stats = assert_same(chain.state, chain.env(), txs, chain.system, batch=4)
    chain.nonces = nonces
    assert stats.mode == "parallel"
    assert stats.reexecuted == 0, stats.conflicts  # coinbase, recipient and nonces are lazy


def test_hot_contract_reexecutes_and_aborts(world: tuple[Chain, Contracts]) -> None:
    chain, c = world
    nonces = list(chain.nonces)
    txs = [chain.tx(i % N_KEYS, c.counter, sel("increment()"), gas=100_000) for i in range(64)]
    stats = assert_same(chain.state, chain.env(), txs, chain.system, batch=4)
    chain.nonces = nonces
    # found at commit (re-executed) or already while the main process ran the front
    assert stats.reexecuted > 0 or stats.early_conflicts > 0, stats.as_dict()
    assert stats.aborted_at is not None and "conflict" in stats.reason


def test_small_and_single_transaction_blocks_are_sequential(world: tuple[Chain, Contracts]) -> None:
    chain, _ = world
    nonces = list(chain.nonces)
    one = [chain.tx(0, ADDRS[1], value=5, gas=21_000)]
    stats = assert_same(chain.state, chain.env(), one, chain.system)
    assert stats.mode == "sequential" and stats.reason.startswith("1 transactions")
    chain.nonces = list(nonces)
    heavy = [chain.tx(i, ADDRS[1], value=5, gas=21_000) for i in range(40)]
    stats = assert_same(chain.state, chain.env(), heavy, chain.system, min_gas_per_tx=None)
    assert stats.mode == "sequential" and "gas per transaction" in stats.reason
    chain.nonces = list(nonces)
    few = [chain.tx(i, ADDRS[1], value=5, gas=100_000) for i in range(10)]
    stats = assert_same(chain.state, chain.env(), few, chain.system, min_txs=None)
    assert stats.mode == "sequential" and "(parallel from 200)" in stats.reason
    chain.nonces = nonces


def test_apply_block_with_workers(
    world: tuple[Chain, Contracts], monkeypatch: pytest.MonkeyPatch
) -> None:
    """apply_block(workers=2) accepts the block sequential execution accepts, and rejects
    an invalid one for the same reason."""
    monkeypatch.setattr(parallel, "MIN_GAS_PER_TX", 0)
    monkeypatch.setattr(parallel, "MIN_PARALLEL_TXS", 32)
    monkeypatch.setattr(parallel, "DEFAULT_RESERVE", 2)
    chain, c = world
    rng = random.Random(7)
    nonces = list(chain.nonces)
    txs = [independent_tx(rng, chain, c, i) for i in range(N_KEYS)]  # one per key
    chain.nonces = nonces
    parent = genesis_header(state_root(chain.state), gas_limit=1_000_000_000,
                            timestamp=1_700_000_000, base_fee=BASE_FEE)  # fmt: skip
    draft = _header(parent, None, state_root(chain.state), txs)
    env = block_env(
        draft, chain_id=CHAIN_ID, block_hash=lambda n: int.from_bytes(parent.hash, "big")
    )
    seq_state = chain.state.copy()
    builder = BlockBuilder(seq_state, env, system=chain.system,
                           parent_beacon_block_root=draft.parent_beacon_block_root)  # fmt: skip
    for tx in txs:
        builder.add(tx)
    seq = builder.finish()
    header = _header(parent, seq, state_root(seq_state), txs)
    par_state = chain.state.copy()
    result = apply_block(par_state, Block(header, tuple(txs)), parent, system=chain.system,
                         chain_id=CHAIN_ID, state_root=state_root, workers=2)  # fmt: skip
    assert result.parallel is not None and result.parallel.mode == "parallel"
    assert result.parallel.committed > 0
    # a transaction with a nonce already used, in the middle: the same InvalidBlock
    bad = list(txs)
    bad[30] = sign_transaction(KEYS[0], tx_type=2, chain_id=CHAIN_ID, nonce=0, gas_limit=21_000,
                               to=ADDRS[2], value=1, max_priority_fee_per_gas=2,
                               max_fee_per_gas=100)  # fmt: skip
    bad_block = Block(_header(parent, seq, header.state_root, bad), tuple(bad))
    errors = []
    for workers in (1, 2):
        with pytest.raises(InvalidBlock) as info:
            apply_block(chain.state.copy(), bad_block, parent, system=chain.system,
                        chain_id=CHAIN_ID, workers=workers)  # fmt: skip
        errors.append(str(info.value))
    assert errors[0] == errors[1] and errors[0].startswith("transaction 30: NonceMismatch")


def _header(parent: Header, result: BlockResult | None, root: bytes,
            txs: list[Transaction]) -> Header:  # fmt: skip
    import dataclasses

    return dataclasses.replace(
        parent, parent_hash=parent.hash, number=parent.number + 1,
        timestamp=parent.timestamp + 12, gas_limit=parent.gas_limit,
        gas_used=result.gas_used if result else 0, coinbase=COINBASE,
        state_root=root, transactions_root=transactions_root(txs),
        receipts_root=receipts_root(result.receipts) if result else parent.receipts_root,
        logs_bloom=result.logs_bloom if result else parent.logs_bloom,
        base_fee_per_gas=calc_base_fee(parent.gas_limit, parent.gas_used, parent.base_fee_per_gas),
    )  # fmt: skip


def test_view_records_field_reads() -> None:
    """Unit check of the recording view: blind credits, deltas, slot reads."""
    a, b = 0xA, 0xB
    base = WorldState({a: Account(nonce=3, balance=100, storage={1: 5}), b: Account(balance=7)})
    view = BatchView(base)
    view.begin_transaction()
    view.add_balance(0xC, 9)  # never looked at: blind
    view.sub_balance(a, 10)  # a delta, no balance read
    assert view.sload(a, 1) == 5
    view.sstore(a, 2, 8)
    view.finalize_transaction()
    ws = view.write_set()
    exists, nonces, balances, _, _, _, slots, _ = ws.reads
    assert dict(exists) == {a: True} and not nonces and not balances
    assert dict(slots) == {(a, 1): 5, (a, 2): 0}
    base.accounts[a].balance = 55  # another transaction moved a's balance: still valid
    assert validate_reads(base, ws.reads)
    apply_writes(base, ws)
    assert base.accounts[a].balance == 45 and base.accounts[a].storage[2] == 8
    assert base.accounts[0xC].balance == 9
    base.accounts[a].storage[1] = 6  # a slot it read changed: invalid
    assert not validate_reads(base, ws.reads)


@pytest.mark.parametrize("existing", [True, False])
def test_view_blind_credit_then_load_keeps_the_credit(existing: bool) -> None:
    """A credit made blind by one transaction and seen by a later one that loads the
    account (and does not write it) is still part of the batch's writes."""
    c = 0xC
    base = WorldState({c: Account(balance=7)} if existing else {})
    view = BatchView(base)
    view.begin_transaction()
    view.add_balance(c, 5)  # the fee credit of the first transaction
    view.touch(c)
    view.finalize_transaction()
    view.begin_transaction()
    assert view.balance(c) == (12 if existing else 5)  # a read by the second
    view.finalize_transaction()
    assert not view.inexact
    ws = view.write_set()
    assert validate_reads(base, ws.reads)
    apply_writes(base, ws)
    assert base.accounts[c].balance == (12 if existing else 5)


def test_view_blind_storage_additions() -> None:
    """Host.accumulate's additions commute: no read unless the batch reads the slot."""
    a = 0xA
    base = WorldState({a: Account(nonce=1, storage={1: 5})})
    view = BatchView(base)
    view.begin_transaction()
    assert view.get(a) is not None  # loaded: existence is its only read
    view.add_storage(a, 1, 3)
    view.add_storage(a, 2, 7)
    cp = view.checkpoint()
    view.add_storage(a, 2, 100)
    view.revert(cp)  # a reverted addition is gone
    view.finalize_transaction()
    ws = view.write_set()
    assert not dict(ws.reads[6])  # no slot read
    base.accounts[a].storage[1] = 10  # another transaction added too: still valid
    assert validate_reads(base, ws.reads) and not view.inexact
    apply_writes(base, ws)
    assert base.accounts[a].storage[1] == 13 and base.accounts[a].storage[2] == 7
    # a later transaction of the batch reading the slot sees the additions on the base
    view = BatchView(base)
    view.begin_transaction()
    view.get(a)
    view.add_storage(a, 1, 1)
    view.finalize_transaction()
    view.begin_transaction()
    assert view.sload(a, 1) == 14 and not view.inexact
    view.finalize_transaction()
    assert dict(view.write_set().reads[6]) == {(a, 1): 13}  # the base value is what was read
    # ... but an addition read back in the same transaction is not modelled
    view = BatchView(base)
    view.begin_transaction()
    view.get(a)
    view.add_storage(a, 1, 1)
    view.sload(a, 1)
    assert view.inexact


def test_clearinghouse_trades_equal() -> None:
    sys.path.insert(0, str(ROOT / "tests" / "finance"))
    try:
        import chhelpers as ch
    finally:
        sys.path.pop(0)
    ex = ch.Exchange()
    ex.prices(3000)
    for i in range(6):
        ex.fund(i, usdc=1_000_000 * ch.USDC)
    ex.next_block()
    base = ex.state
    env = ex.env
    builder_nonces = dict(ex.nonces)
    rng = random.Random(3)
    txs = []
    order_nonce = 1000
    signature = f"fill({ch.ORDER_TUPLE},bytes,uint256,uint32)"
    for n in range(60):
        maker, taker = rng.sample(range(5), 2)
        market = rng.choice([ch.ETH_PERP, ch.ETH_FUT, ch.CALL_3000, ch.PUT_3000])
        price = (3000 if market <= ch.ETH_FUT else 150) * WAD
        size = rng.randrange(1, 5) * WAD // 10
        order, sig = ex.order(maker, market, rng.random() < 0.5, size, price, nonce=order_nonce + n)
        data = sel(signature) + eth_encode([ch.ORDER_TUPLE, "bytes", "uint256", "uint32"],
                                           [ch.order_tuple(order), sig, size, 0])  # fmt: skip
        key = ch.TRADER_KEYS[taker]
        nonce = builder_nonces.get(key, 0)
        builder_nonces[key] = nonce + 1
        txs.append(sign_transaction(key, tx_type=2, chain_id=ch.CHAIN_ID, nonce=nonce,
                                    gas_limit=5_000_000, to=ch.CLEARINGHOUSE_ADDRESS, data=data,
                                    max_priority_fee_per_gas=1, max_fee_per_gas=10))  # fmt: skip
    seq_state, par_state = base.copy(), base.copy()
    seq, _, seq_dirty = execute(seq_state, env, txs, ex.system, 1)
    par, stats, par_dirty = execute(par_state, env, txs, ex.system, 2, abort_percent=100,
                                    reserve=10)  # fmt: skip
    assert sum(r.success for r in seq.tx_results) > 30
    assert summary(par) == summary(seq)
    assert par_dirty == seq_dirty
    assert state_root(par_state) == state_root(seq_state)
    assert stats.mode == "parallel" and stats.optimistic > 0
    print("clearinghouse:", stats.as_dict())


def test_clearinghouse_disjoint_trades_commit_in_parallel() -> None:
    """Trades between different account pairs share no slot a trade reads: the fee and
    clearing-pool shards and the fill accumulators are blind additions (Host.accumulate).
    What may still conflict is a shared shard of the risk engine's trigger-bucket lists."""
    sys.path.insert(0, str(ROOT / "tests" / "finance"))
    try:
        import chhelpers as ch
    finally:
        sys.path.pop(0)
    pairs = 24
    ex = ch.Exchange()
    ex.prices(3000)
    for k in range(pairs):  # trader 0 and trader 1, one subaccount each per pair
        ex.fund(0, usdc=20_000 * ch.USDC, sub=k)
        ex.fund(1, usdc=20_000 * ch.USDC, sub=k)
    ex.next_block()
    rng = random.Random(5)
    signature = f"fill({ch.ORDER_TUPLE},bytes,uint256,uint32)"
    nonce = ex.nonces.get(ch.TRADER_KEYS[1], 0)
    txs = []
    for k in range(pairs):
        market = rng.choice([ch.ETH_PERP, ch.ETH_FUT, ch.CALL_3000, ch.PUT_3000])
        price = (3000 if market <= ch.ETH_FUT else 150) * WAD
        size = rng.randrange(1, 5) * WAD // 10
        order, sig = ex.order(0, market, rng.random() < 0.5, size, price, sub=k, nonce=7000 + k)
        data = sel(signature) + eth_encode([ch.ORDER_TUPLE, "bytes", "uint256", "uint32"],
                                           [ch.order_tuple(order), sig, size, k])  # fmt: skip
        txs.append(sign_transaction(ch.TRADER_KEYS[1], tx_type=2, chain_id=ch.CHAIN_ID,
                                    nonce=nonce + k, gas_limit=5_000_000,
                                    to=ch.CLEARINGHOUSE_ADDRESS, data=data,
                                    max_priority_fee_per_gas=1, max_fee_per_gas=10))  # fmt: skip
    stats = assert_same(ex.state, ex.env, txs, ex.system, batch=1, reserve=pairs // 2,
                        abort_percent=100, min_txs=2)  # fmt: skip
    seq_state = ex.state.copy()
    seq, _, _ = execute(seq_state, ex.env, txs, ex.system, 1)
    assert all(r.success for r in seq.tx_results)
    assert stats.optimistic >= pairs // 2  # the reserve, and whatever else it took
    assert stats.committed * 2 > stats.optimistic, stats.as_dict()  # most commit as run
    print("clearinghouse, disjoint pairs:", stats.as_dict())


def test_policy_backs_off_after_conflicting_blocks(world: tuple[Chain, Contracts]) -> None:
    """A block whose forked results were mostly re-executed makes the next blocks run
    sequentially, 1 then 2, 4, ... blocks while conflicts persist; a good block resets."""
    chain, c = world
    policy = parallel.ParallelPolicy()
    nonces = list(chain.nonces)
    hot = [chain.tx(i % N_KEYS, c.counter, sel("increment()"), gas=100_000) for i in range(64)]
    chain.nonces = list(nonces)
    modes = []
    for _ in range(4):
        stats = assert_same(chain.state, chain.env(), hot, chain.system, batch=4, policy=policy)
        modes.append(stats.mode)
    # parallel (conflicts) -> 1 sequential -> parallel (conflicts) -> 2 sequential
    assert modes == ["parallel", "sequential", "parallel", "sequential"], modes
    assert policy.backoff == 1 and policy.penalty == 2
    assert "recent conflicts" in stats.reason
    policy.backoff = 0
    rng = random.Random(4)
    calm = [independent_tx(rng, chain, c, i) for i in range(N_KEYS)]
    chain.nonces = nonces
    stats = assert_same(chain.state, chain.env(), calm, chain.system, batch=4, policy=policy)
    assert stats.mode == "parallel" and stats.committed * 2 > stats.optimistic
    assert policy.penalty == 0 and policy.backoff == 0


def test_zero_tip_blocks_equal(world: tuple[Chain, Contracts]) -> None:
    """With no priority fee every transaction credits the coinbase 0 and touches it: the
    touch is decided through the coinbase's "alive" predicate, so blocks still commit
    forked results, and stay equal to sequential execution."""
    chain, c = world
    tipless = Chain(chain.state, chain.system)
    tipless.nonces = chain.nonces
    tipless.number = chain.number
    original = Chain.tx

    def tx(i: int, to: int | None, data: bytes = b"", value: int = 0,
           gas: int = 500_000, tip: int = 0) -> Transaction:  # fmt: skip
        return original(tipless, i, to, data, value, gas, tip=0)

    tipless.tx = tx  # type: ignore[method-assign]
    rng = random.Random(77)
    committed = optimistic = 0
    for block in range(6):
        nonces = list(tipless.nonces)
        kinds = ["eth", "erc20", "pricing", "deploy", "revert"] if block % 2 else KINDS
        txs = [random_tx(rng, tipless, c, kinds) for _ in range(rng.randrange(30, 80))]
        tipless.nonces[:] = nonces
        size = 1 + block % 3
        stats = assert_same(chain.state, tipless.env(), txs, chain.system, abort_percent=100,
                            batch=size, reserve=len(txs) // size // 2)  # fmt: skip
        committed += stats.committed
        optimistic += stats.optimistic
    assert optimistic and committed, (committed, optimistic)
