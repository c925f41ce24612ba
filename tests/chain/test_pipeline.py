"""The block pipeline: BlockBuilder steps, apply_block's header and body rules, withdrawals
and the EIP-4788 beacon-roots call."""

from __future__ import annotations

import dataclasses

import pytest

from strikevm.chain.block import (
    EMPTY_TRIE_ROOT,
    Block,
    Header,
    InvalidBlock,
    Withdrawal,
    block_env,
    decode_block,
    encode_receipt,
    genesis_header,
    receipts_root,
    transactions_root,
    withdrawals_root,
)
from strikevm.chain.executor import (
    BlobGasExhausted,
    BlockGasExhausted,
    InsufficientFunds,
    NonceMismatch,
)
from strikevm.chain.pipeline import BlockBuilder, BlockResult, apply_block, validate_header
from strikevm.chain.transaction import Transaction, sign_transaction
from strikevm.crypto import keccak256
from strikevm.primitives import rlp
from strikevm.state.account import Account
from strikevm.state.root import state_root
from strikevm.state.world import WorldState
from strikevm.vm.env import GAS_PER_BLOB
from strikevm.vm.spec import BEACON_ROOTS_ADDRESS, CANCUN, SYSTEM_ADDRESS

KEY = bytes.fromhex("45a915e4d060149eb4365960e6a7a45f334393093061116b197e3240065ff2d8")
SENDER = 0xA94F5374FCE5EDBC8E2A8697C15331677E6EBF0B
COINBASE = 0xC0FFEE
LOGGER = 0x1000  # SSTORE 1 at slot 0, then LOG1 with topic 0x2a
LOGGER_CODE = bytes.fromhex("6001600055602a60006000a100")
BEACON_CODE = bytes.fromhex(
    "3373fffffffffffffffffffffffffffffffffffffffe14604d57602036146024575f5ffd5b5f35801560"
    "495762001fff810690815414603c575f5ffd5b62001fff01545f5260205ff35b5f5ffd5b62001fff4206"
    "4281555f359062001fff015500"
)
HISTORY = 8191  # EIP-4788 ring buffer length
BEACON_ROOT = bytes(range(1, 33))
BLOB_HASH = b"\x01" + bytes(31)


def _genesis_state(*, beacon: bool = True) -> WorldState:
    accounts = {
        SENDER: Account(balance=10**21),
        LOGGER: Account(nonce=1, code=LOGGER_CODE),
    }
    if beacon:
        accounts[BEACON_ROOTS_ADDRESS] = Account(nonce=1, code=BEACON_CODE)
    return WorldState(accounts)


def _genesis(state: WorldState) -> Header:
    return genesis_header(state_root(state), gas_limit=30_000_000, timestamp=1_000, base_fee=10**9)


def _tx(nonce: int, *, to: int | None = LOGGER, gas: int = 100_000, **kw: object) -> Transaction:
    fields: dict[str, object] = {
        "tx_type": 2,
        "chain_id": 1,
        "nonce": nonce,
        "gas_limit": gas,
        "to": to,
        "max_priority_fee_per_gas": 2,
        "max_fee_per_gas": 10**10,
    }
    fields.update(kw)
    return sign_transaction(KEY, **fields)  # type: ignore[arg-type]


def _blob_tx(nonce: int, blobs: int) -> Transaction:
    return _tx(
        nonce,
        tx_type=3,
        max_fee_per_blob_gas=10,
        blob_versioned_hashes=[BLOB_HASH] * blobs,
    )


def _child_header(parent: Header, **fields: object) -> Header:
    """A header that follows ``parent`` (roots left to fill in)."""
    values: dict[str, object] = {
        "parent_hash": parent.hash,
        "coinbase": COINBASE,
        "state_root": EMPTY_TRIE_ROOT,
        "number": parent.number + 1,
        "gas_limit": parent.gas_limit,
        "timestamp": parent.timestamp + 12,
        "base_fee_per_gas": 875_000_000,  # parent 1 gwei, empty parent block
        "parent_beacon_block_root": BEACON_ROOT,
    }
    values.update(fields)
    return Header(**values)  # type: ignore[arg-type]


def _build(
    state: WorldState,
    parent: Header,
    txs: list[Transaction],
    withdrawals: tuple[Withdrawal, ...] = (),
    **fields: object,
) -> tuple[Block, BlockResult]:
    """Produce a valid block on ``state`` with the pipeline; return it and the result."""
    draft = _child_header(parent, **fields)
    parent_hash = int.from_bytes(parent.hash, "big")
    env = block_env(
        draft, chain_id=1, block_hash=lambda n: parent_hash if n == parent.number else 0
    )
    builder = BlockBuilder(
        state,
        env,
        parent_beacon_block_root=draft.parent_beacon_block_root,
    )
    builder.begin()
    for tx in txs:
        builder.add(tx)
    result = builder.finish(withdrawals)
    header = dataclasses.replace(
        draft,
        state_root=state_root(state),
        transactions_root=transactions_root(txs),
        receipts_root=receipts_root(result.receipts),
        logs_bloom=result.logs_bloom,
        gas_used=result.gas_used,
        blob_gas_used=result.blob_gas_used,
        withdrawals_root=withdrawals_root(withdrawals),
    )
    return Block(header, tuple(txs), withdrawals), result


WITHDRAWALS = (Withdrawal(0, 7, 0xBEEF, 3), Withdrawal(1, 7, SENDER, 1))


@pytest.fixture
def chain() -> tuple[WorldState, Header, Block, BlockResult]:
    """Genesis state and header, and a valid block 1 (two transactions, withdrawals)."""
    genesis_state = _genesis_state()
    genesis = _genesis(genesis_state)
    built = genesis_state.copy()
    block, result = _build(built, genesis, [_tx(0), _tx(1, to=0xABC, value=5)], WITHDRAWALS)
    return genesis_state, genesis, block, result


def test_built_block_reapplied_gives_same_result(chain) -> None:  # noqa: ANN001
    genesis_state, genesis, block, built = chain
    assert len(built.receipts) == 2 and built.receipts[0].logs
    state = genesis_state.copy()
    # through the wire form, as a received block arrives
    received = decode_block(block.encode(), chain_id=1)
    result = apply_block(state, received, genesis, state_root=state_root)
    assert [encode_receipt(r) for r in result.receipts] == [
        encode_receipt(r) for r in built.receipts
    ]
    assert receipts_root(result.receipts) == block.header.receipts_root
    assert result.gas_used == built.gas_used == block.header.gas_used
    assert result.logs_bloom == block.header.logs_bloom
    assert state_root(state) == block.header.state_root
    assert state.sload(LOGGER, 0) == 1


def test_withdrawals_credit_gwei_as_wei(chain) -> None:  # noqa: ANN001
    genesis_state, genesis, block, _ = chain
    state = genesis_state.copy()
    apply_block(state, block, genesis)
    assert state.balance(0xBEEF) == 3 * 10**9
    # no gas is charged for a withdrawal: the sender paid the two transactions only
    assert state.balance(0xABC) == 5


def test_zero_withdrawal_touches_without_creating() -> None:
    state = _genesis_state()
    state.accounts[0xE0] = Account()  # an empty account already in the state
    genesis = _genesis(state)
    zero = (Withdrawal(0, 1, 0xDEAD, 0), Withdrawal(1, 1, 0xE0, 0))
    block, _ = _build(state, genesis, [], zero)
    assert not state.exists(0xDEAD)  # never created
    assert not state.exists(0xE0)  # touched while empty: removed (EIP-161)
    fresh = _genesis_state()
    fresh.accounts[0xE0] = Account()
    apply_block(fresh, block, genesis, state_root=state_root)


def test_beacon_roots_call_writes_ring_buffer() -> None:
    state = _genesis_state()
    genesis = _genesis(state)
    block, _ = _build(state, genesis, [])
    ts = block.header.timestamp
    assert state.sload(BEACON_ROOTS_ADDRESS, ts % HISTORY) == ts
    assert state.sload(BEACON_ROOTS_ADDRESS, ts % HISTORY + HISTORY) == int.from_bytes(
        BEACON_ROOT, "big"
    )
    assert not state.exists(SYSTEM_ADDRESS)  # the system caller is neither created nor touched
    assert state.nonce(BEACON_ROOTS_ADDRESS) == 1


def test_beacon_roots_call_without_contract_changes_nothing() -> None:
    state = _genesis_state(beacon=False)
    before = state_root(state)
    genesis = _genesis(state)
    _build(state, genesis, [])
    assert not state.exists(BEACON_ROOTS_ADDRESS)
    assert not state.exists(SYSTEM_ADDRESS)
    assert state_root(state) == before


def test_no_beacon_call_without_root() -> None:
    state = _genesis_state()
    before = state_root(state)
    builder = BlockBuilder(state, block_env(_child_header(_genesis(state)), chain_id=1))
    builder.begin()
    assert builder.finish().system_logs == []
    assert state_root(state) == before


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda b: _tx(5), NonceMismatch),
        (lambda b: _tx(0, value=10**22), InsufficientFunds),
        (lambda b: _tx(0, gas=b.env.gas_limit + 1), BlockGasExhausted),
    ],
)
def test_add_rejects_and_leaves_state_unchanged(make, error) -> None:  # noqa: ANN001
    state = _genesis_state()
    builder = BlockBuilder(state, block_env(_child_header(_genesis(state)), chain_id=1))
    builder.begin()
    before = state_root(state)
    with pytest.raises(error):
        builder.add(make(builder))
    assert state_root(state) == before
    assert builder.gas_used == 0 and builder.transactions == []
    builder.add(_tx(0))  # the block is still usable
    assert len(builder.receipts) == 1


def test_add_checks_gas_left_in_block() -> None:
    state = _genesis_state()
    header = _child_header(_genesis(state), gas_limit=29_980_000)
    builder = BlockBuilder(state, block_env(header, chain_id=1))
    builder.add(_tx(0, gas=29_000_000))  # uses little, but the limit counts after it
    used = builder.gas_used
    before = state_root(state)
    with pytest.raises(BlockGasExhausted):
        builder.add(_tx(1, gas=header.gas_limit - used + 1))
    assert state_root(state) == before
    builder.add(_tx(1, gas=header.gas_limit - used))


def test_add_checks_blob_gas_left_in_block() -> None:
    state = _genesis_state()
    builder = BlockBuilder(state, block_env(_child_header(_genesis(state)), chain_id=1))
    builder.add(_blob_tx(0, 4))
    before = state_root(state)
    with pytest.raises(BlobGasExhausted):
        builder.add(_blob_tx(1, 3))
    assert state_root(state) == before
    builder.add(_blob_tx(1, 2))
    assert builder.finish().blob_gas_used == 6 * GAS_PER_BLOB


def test_blob_block_reapplied() -> None:
    genesis_state = _genesis_state()
    genesis = _genesis(genesis_state)
    block, built = _build(genesis_state.copy(), genesis, [_blob_tx(0, 2)])
    assert block.header.blob_gas_used == 2 * GAS_PER_BLOB
    result = apply_block(genesis_state, block, genesis, state_root=state_root)
    assert result.blob_gas_used == built.blob_gas_used


# --------------------------------------------------------- header rules


def _resign(block: Block, **fields: object) -> Block:
    return Block(dataclasses.replace(block.header, **fields), block.transactions, block.withdrawals)


HEADER_CASES = [
    ("parent_hash", lambda h, p: {"parent_hash": b"\x11" * 32}, "parent hash"),
    ("number", lambda h, p: {"number": 2}, "number 2 does not follow"),
    ("timestamp", lambda h, p: {"timestamp": p.timestamp}, "timestamp"),
    (
        "gas limit up",
        lambda h, p: {"gas_limit": p.gas_limit + p.gas_limit // 1024},
        "too far above",
    ),
    (
        "gas limit down",
        lambda h, p: {"gas_limit": p.gas_limit - p.gas_limit // 1024},
        "too far below",
    ),
    ("gas used", lambda h, p: {"gas_used": h.gas_limit + 1}, "above the gas limit"),
    ("base fee", lambda h, p: {"base_fee_per_gas": h.base_fee_per_gas + 1}, "base fee"),
    ("extra data", lambda h, p: {"extra_data": b"x" * 33}, "extra data is 33 bytes"),
    ("difficulty", lambda h, p: {"difficulty": 1}, "difficulty is 1"),
    ("nonce", lambda h, p: {"nonce": b"\x00" * 7 + b"\x01"}, "nonce"),
    ("ommers hash", lambda h, p: {"ommers_hash": keccak256(b"x")}, "ommers hash"),
    ("excess blob gas", lambda h, p: {"excess_blob_gas": GAS_PER_BLOB}, "excess blob gas"),
    ("blob gas unit", lambda h, p: {"blob_gas_used": 1}, "not a multiple"),
    ("blob gas max", lambda h, p: {"blob_gas_used": 7 * GAS_PER_BLOB}, "a block may use"),
    ("transactions root", lambda h, p: {"transactions_root": EMPTY_TRIE_ROOT}, "transactions root"),
    ("withdrawals root", lambda h, p: {"withdrawals_root": EMPTY_TRIE_ROOT}, "withdrawals root"),
    ("gas used mismatch", lambda h, p: {"gas_used": h.gas_used + 1}, "gas used is"),
    ("receipts root", lambda h, p: {"receipts_root": EMPTY_TRIE_ROOT}, "receipts root"),
    ("logs bloom", lambda h, p: {"logs_bloom": b"\xff" * 256}, "logs bloom"),
    ("blob gas used", lambda h, p: {"blob_gas_used": GAS_PER_BLOB}, "blob gas used is"),
    ("state root", lambda h, p: {"state_root": b"\x22" * 32}, "state root"),
]


@pytest.mark.parametrize(
    ("case", "change", "reason"), HEADER_CASES, ids=[c[0] for c in HEADER_CASES]
)
def test_apply_block_rejects(chain, case, change, reason) -> None:  # noqa: ANN001
    genesis_state, genesis, block, _ = chain
    bad = _resign(block, **change(block.header, genesis))
    with pytest.raises(InvalidBlock, match=reason):
        apply_block(genesis_state.copy(), bad, genesis, state_root=state_root)


def test_gas_limit_minimum() -> None:
    parent = dataclasses.replace(_genesis(_genesis_state()), gas_limit=5000)
    child = _child_header(parent, gas_limit=4999, base_fee_per_gas=875_000_000)
    with pytest.raises(InvalidBlock, match="below 5000"):
        validate_header(child, parent, CANCUN)


def test_invalid_transaction_invalidates_block(chain) -> None:  # noqa: ANN001
    genesis_state, genesis, block, _ = chain
    txs = (_tx(1),)  # nonce 1 on an account with nonce 0
    bad = Block(
        dataclasses.replace(block.header, transactions_root=transactions_root(txs)),
        txs,
        block.withdrawals,
    )
    with pytest.raises(InvalidBlock, match="transaction 0: NonceMismatch"):
        apply_block(genesis_state.copy(), bad, genesis)


def test_uncles_rejected(chain) -> None:  # noqa: ANN001
    _, genesis, block, _ = chain
    raw = rlp.decode(block.encode())
    assert isinstance(raw, list)
    raw[2] = [rlp.decode(genesis.encode())]
    with pytest.raises(InvalidBlock, match="ommers"):
        decode_block(rlp.encode(raw), chain_id=1)


def test_block_hash_default_knows_parent() -> None:
    """BLOCKHASH(parent) in a block applied without a block-hash source is the parent's hash."""
    # BLOCKHASH(NUMBER - 1), stored at slot 0
    code = bytes.fromhex("6001430340600055" + "00")
    state = _genesis_state()
    state.accounts[0x2000] = Account(nonce=1, code=code)
    genesis = _genesis(state)
    block, _ = _build(state.copy(), genesis, [_tx(0, to=0x2000)])
    apply_block(state, block, genesis, state_root=state_root)
    assert state.sload(0x2000, 0) == int.from_bytes(genesis.hash, "big")
