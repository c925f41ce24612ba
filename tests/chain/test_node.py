"""The dev node's chain: blocks and hashes as clients compute them, mempool, errors, state."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import rlp as pyrlp
from eth_account import Account as EthAccount
from eth_hash.auto import keccak
from eth_utils import to_checksum_address
from trie import HexaryTrie

from strikevm.chain import node as N
from strikevm.chain.block import calc_base_fee, receipts_root, transactions_root
from strikevm.chain.mempool import PoolConfig
from strikevm.chain.store import ChainStore
from strikevm.chain.transaction import encode_transaction, sign_transaction
from strikevm.primitives import rlp
from strikevm.state.root import state_root

# the helper modules beside these tests, whatever pytest's import mode
_HERE = Path(__file__).resolve()
for _dir in (_HERE.parent,):
    if str(_dir) not in sys.path:
        sys.path.insert(0, str(_dir))

from nodehelpers import REVERT_TRIGGER, STORE_INITCODE, STORE_RUNTIME, TOPIC, word  # noqa: E402

CHAIN = 31337
GWEI = 10**9
T0 = 1_700_000_000


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


def make_node(store: ChainStore | None = None, **config: object) -> N.DevNode:
    return N.DevNode(store or ChainStore(), clock=Clock(), config=N.NodeConfig(**config))


@pytest.fixture
def node() -> N.DevNode:
    return make_node()


@pytest.fixture(params=["memory", "lmdb"])
def any_node(request: pytest.FixtureRequest, tmp_path) -> Iterator[N.DevNode]:  # noqa: ANN001
    store = ChainStore() if request.param == "memory" else ChainStore.open(str(tmp_path / "db"))
    yield make_node(store)
    store.close()


def keys(node: N.DevNode, i: int) -> tuple[int, bytes]:
    return node.accounts[i]


def transfer(
    node: N.DevNode, i: int = 0, nonce: int | None = None, value: int = 1, **kw: object
) -> bytes:
    sender, key = keys(node, i)
    fields: dict[str, object] = {
        "tx_type": 2,
        "chain_id": CHAIN,
        "nonce": node.pending_nonce(sender) if nonce is None else nonce,
        "gas_limit": 21000,
        "to": keys(node, 9)[0],
        "value": value,
        "max_priority_fee_per_gas": GWEI,
        "max_fee_per_gas": 10 * GWEI,
    }
    fields.update(kw)
    return encode_transaction(sign_transaction(key, **fields))  # type: ignore[arg-type]


def deploy(node: N.DevNode) -> int:
    tx_hash = node.send_transaction(N.CallRequest(sender=keys(node, 0)[0], data=STORE_INITCODE))
    info = node.receipt(tx_hash)
    assert info is not None and info.receipt.success
    assert info.contract_address is not None
    return info.contract_address


# ------------------------------------------------------------------ genesis


def test_dev_accounts_match_the_usual_test_mnemonic(node: N.DevNode) -> None:
    address, key = node.accounts[0]
    assert f"0x{address:040x}" == "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
    assert key.hex() == "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
    assert len(node.accounts) == 10
    for address, _ in node.accounts:
        assert node.balance(address) == 10_000 * 10**18
    assert node.head_number == 0
    assert node.head().header.state_root == state_root(node.state)


# ------------------------------------------------------------------- blocks


def test_block_and_transaction_hashes_are_what_clients_compute(any_node: N.DevNode) -> None:
    node = any_node
    sender, key = keys(node, 0)
    signed = EthAccount.sign_transaction(
        {
            "type": 2,
            "chainId": CHAIN,
            "nonce": 0,
            "gas": 21000,
            "to": to_checksum_address(f"0x{keys(node, 1)[0]:040x}"),
            "value": 5,
            "maxFeePerGas": 10 * GWEI,
            "maxPriorityFeePerGas": GWEI,
        },
        key,
    )
    tx_hash = node.submit_raw(bytes(signed.raw_transaction))
    assert tx_hash == bytes(signed.hash)
    stored = node.head()
    header = stored.header
    # the header hash, recomputed with an independent RLP encoder
    assert keccak(pyrlp.encode(header.fields())) == stored.hash
    assert header.number == 1 and header.parent_hash == node.block(0).hash
    assert header.transactions_root == transactions_root(stored.block.transactions)
    assert header.receipts_root == receipts_root(stored.receipts)
    assert header.state_root == state_root(node.state)
    assert header.gas_used == 21000
    info = node.receipt(tx_hash)
    assert info is not None
    assert info.gas_used == 21000 and info.receipt.cumulative_gas_used == 21000
    assert info.effective_gas_price == min(10 * GWEI, header.base_fee_per_gas + GWEI)
    assert info.contract_address is None
    # the transactions trie, rebuilt with the trie package
    t = HexaryTrie({})
    t[pyrlp.encode(0)] = bytes(signed.raw_transaction)
    assert t.root_hash == header.transactions_root


def test_base_fee_follows_eip1559(node: N.DevNode) -> None:
    for _ in range(3):
        node.submit_raw(transfer(node))
    for n in range(1, node.head_number + 1):
        parent = node.block(n - 1).header
        header = node.block(n).header
        expected = calc_base_fee(parent.gas_limit, parent.gas_used, parent.base_fee_per_gas)
        assert header.base_fee_per_gas == expected
    assert node.block(1).header.base_fee_per_gas < node.block(0).header.base_fee_per_gas


def test_contract_receipt_logs_bloom_and_logs_filter(any_node: N.DevNode) -> None:
    node = any_node
    contract = deploy(node)
    assert node.code(contract) == STORE_RUNTIME
    sender = keys(node, 0)[0]
    tx_hash = node.send_transaction(N.CallRequest(sender=sender, to=contract, data=word(7)))
    info = node.receipt(tx_hash)
    assert info is not None and info.receipt.success
    assert len(info.receipt.logs) == 1
    log = info.receipt.logs[0]
    assert log.address == contract and log.topics == (TOPIC,) and log.data == word(7)
    assert node.storage(contract, 0) == 7
    entries = node.logs(0, node.head_number, [contract], [[TOPIC]])
    assert [e.block.number for e in entries] == [info.block.number]
    assert node.logs(0, node.head_number, [contract], [[TOPIC + 1]]) == []
    assert node.logs(0, node.head_number, [contract + 1], []) == []
    # historical storage
    assert node.storage(contract, 0, node.block(info.block.number - 1)) == 0


def test_failed_transaction_is_mined_with_status_zero(node: N.DevNode) -> None:
    contract = deploy(node)
    sender = keys(node, 0)[0]
    tx_hash = node.send_transaction(
        N.CallRequest(sender=sender, to=contract, data=word(REVERT_TRIGGER), gas=100_000)
    )
    info = node.receipt(tx_hash)
    assert info is not None and not info.receipt.success and info.receipt.logs == ()


# ------------------------------------------------------------------ mempool


def test_future_nonce_waits_then_both_mine_in_order(node: N.DevNode) -> None:
    second = node.submit_raw(transfer(node, nonce=1))
    assert node.head_number == 0 and len(node.pool) == 1
    assert node.pending_nonce(keys(node, 0)[0]) == 0
    first = node.submit_raw(transfer(node, nonce=0))
    a, b = node.receipt(first), node.receipt(second)
    assert a is not None and b is not None
    assert (a.block.number, a.index) < (b.block.number, b.index)
    assert len(node.pool) == 0


def test_replacement_needs_a_higher_fee() -> None:
    node = make_node(automine=False)
    node.submit_raw(transfer(node, nonce=0, max_fee_per_gas=10 * GWEI))
    with pytest.raises(N.PoolRejected, match="replacement transaction underpriced"):
        node.submit_raw(transfer(node, nonce=0, value=2, max_fee_per_gas=10 * GWEI + 1))
    with pytest.raises(N.PoolRejected, match="already known"):
        node.submit_raw(transfer(node, nonce=0, max_fee_per_gas=10 * GWEI))
    better = node.submit_raw(
        transfer(
            node, nonce=0, value=3, max_fee_per_gas=11 * GWEI, max_priority_fee_per_gas=2 * GWEI
        )
    )
    assert len(node.pool) == 1
    node.mine()
    info = node.receipt(better)
    assert info is not None and info.tx.value == 3


def test_pool_orders_by_tip_and_respects_limits() -> None:
    node = make_node(automine=False, pool=PoolConfig(max_transactions=3, max_per_sender=2))
    low = node.submit_raw(transfer(node, 1, max_priority_fee_per_gas=GWEI))
    high = node.submit_raw(transfer(node, 2, max_priority_fee_per_gas=3 * GWEI))
    node.submit_raw(transfer(node, 3, nonce=0))
    with pytest.raises(N.PoolRejected, match="txpool is full"):
        node.submit_raw(transfer(node, 4))
    node.mine()
    indexes = {h: node.receipt(h).index for h in (low, high)}  # type: ignore[union-attr]
    assert indexes[high] < indexes[low]
    node.submit_raw(transfer(node, 5, nonce=0))
    node.submit_raw(transfer(node, 5, nonce=1))
    with pytest.raises(N.PoolRejected, match="txpool is full"):
        node.submit_raw(transfer(node, 5, nonce=2))


def test_block_gas_limit_splits_blocks() -> None:
    node = make_node(automine=False, gas_limit=50_000)
    for i in range(3):
        node.submit_raw(transfer(node, i))
    assert len(node.mine().block.transactions) == 2
    assert len(node.mine().block.transactions) == 1


# ------------------------------------------------------------------- errors


def _unchanged(node: N.DevNode) -> tuple[int, bytes, int]:
    return node.head_number, state_root(node.state), len(node.pool)


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda n: b"\xc0", N.DecodeFailed, "failed to decode transaction"),
        (lambda n: b"\x02\xc3\x01\x02\x03", N.DecodeFailed, "failed to decode transaction"),
        (lambda n: transfer(n, chain_id=1), N.InvalidChainId, "invalid chain id for signer"),
        (lambda n: transfer(n, nonce=5 + 64), N.NonceTooHigh, "nonce too high"),
        (lambda n: transfer(n, gas_limit=30_000_001), N.ExceedsBlockGasLimit, "exceeds block gas limit"),
        (lambda n: transfer(n, gas_limit=20_000), N.IntrinsicGasTooLow, "intrinsic gas too low"),
        (lambda n: transfer(n, value=10**30), N.InsufficientFunds, "insufficient funds for gas * price + value"),
        (lambda n: transfer(n, max_fee_per_gas=1, max_priority_fee_per_gas=1), N.FeeCapTooLow, "max fee per gas less than block base fee"),
        (lambda n: transfer(n, max_fee_per_gas=GWEI, max_priority_fee_per_gas=2 * GWEI), N.TipAboveFeeCap, "max priority fee per gas higher than max fee per gas"),
        (lambda n: b"\x03" + b"\xc0", N.TxTypeNotSupported, "transaction type not supported"),
        (lambda n: b"\x05\xc0", N.TxTypeNotSupported, "transaction type not supported"),
        (lambda n: bytes(200_000), N.OversizedData, "oversized data"),
    ],
)  # fmt: skip
def test_bad_transactions_are_refused_and_change_nothing(make, error, message) -> None:  # noqa: ANN001
    node = make_node()
    node.submit_raw(transfer(node))
    before = _unchanged(node)
    with pytest.raises(error, match=re.escape(message)):
        node.submit_raw(make(node))
    assert _unchanged(node) == before


def test_nonce_too_low_and_bad_signature(node: N.DevNode) -> None:
    raw = transfer(node)
    node.submit_raw(raw)
    before = _unchanged(node)
    with pytest.raises(N.NonceTooLow, match="nonce too low"):
        node.submit_raw(transfer(node, nonce=0, value=9))
    # flip s to its high twin: not canonical (EIP-2)
    items = rlp.decode(raw[1:])
    assert isinstance(items, list)
    s = int.from_bytes(items[-1], "big")  # type: ignore[arg-type]
    items[-1] = (0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141 - s).to_bytes(
        32, "big"
    )
    with pytest.raises(N.InvalidSender, match="invalid sender"):
        node.submit_raw(b"\x02" + rlp.encode(items))
    items[-2] = b""
    with pytest.raises(N.InvalidSender):
        node.submit_raw(b"\x02" + rlp.encode(items))
    assert _unchanged(node) == before


def test_unknown_account_for_send_transaction(node: N.DevNode) -> None:
    with pytest.raises(N.UnknownAccount, match="unknown account"):
        node.send_transaction(N.CallRequest(sender=0x1234, to=0x5678))


# ----------------------------------------------------------- calls/estimates


def test_call_estimate_overrides_and_revert(node: N.DevNode) -> None:
    contract = deploy(node)
    caller = keys(node, 1)[0]
    result = node.call(N.CallRequest(sender=caller, to=contract, data=word(5)))
    assert result.success and result.output == word(5)
    assert node.storage(contract, 0) == 0  # nothing persisted
    override = {contract: N.AccountOverride(state_diff={0: 42})}
    assert node.call(N.CallRequest(sender=caller, to=contract), None, override).output == word(42)
    code_override = {0x1234: N.AccountOverride(code=STORE_RUNTIME, state={0: 9})}
    assert node.call(N.CallRequest(to=0x1234), node.head(), code_override).output == word(9)
    with pytest.raises(N.ExecutionReverted) as info:
        node.estimate_gas(N.CallRequest(sender=caller, to=contract, data=word(REVERT_TRIGGER)))
    assert str(info.value) == "execution reverted: nope"
    assert info.value.data[:4] == bytes.fromhex("08c379a0")
    gas = node.estimate_gas(N.CallRequest(sender=caller, to=contract, data=word(5)))
    ok = node.call(N.CallRequest(sender=caller, to=contract, data=word(5), gas=gas))
    assert ok.success
    short = node.call(N.CallRequest(sender=caller, to=contract, data=word(5), gas=gas - 1))
    assert not short.success
    assert node.estimate_gas(N.CallRequest(sender=caller, to=keys(node, 2)[0], value=1)) == 21000


def test_call_at_a_past_block_sees_that_state(node: N.DevNode) -> None:
    contract = deploy(node)
    sender = keys(node, 0)[0]
    node.send_transaction(N.CallRequest(sender=sender, to=contract, data=word(1)))
    at_one = node.head()
    node.send_transaction(N.CallRequest(sender=sender, to=contract, data=word(2)))
    assert node.call(N.CallRequest(to=contract), at_one).output == word(1)
    assert node.call(N.CallRequest(to=contract), node.head()).output == word(2)


# ------------------------------------------------------------ dev helpers


def test_snapshot_revert_and_time_control(any_node: N.DevNode) -> None:
    node = any_node
    root = node.head().header.state_root
    snap = node.snapshot()
    node.submit_raw(transfer(node))
    node.mine()
    assert node.head_number == 2
    assert node.revert(snap) is True
    assert node.head_number == 0 and node.head().header.state_root == root
    assert state_root(node.state) == root
    assert node.revert(snap) is False
    assert node.store.tx_location(node.block(0).hash) is None
    # mining continues on the reverted head
    tx_hash = node.submit_raw(transfer(node))
    assert node.receipt(tx_hash).block.number == 1  # type: ignore[union-attr]
    parent = node.head().header.timestamp
    node.set_next_block_timestamp(parent + 1000)
    assert node.mine().header.timestamp == parent + 1000
    with pytest.raises(N.InvalidTimestamp):
        node.set_next_block_timestamp(parent)
    assert node.increase_time(3600) == 3600
    assert node.mine().header.timestamp >= T0 + 3600


# ------------------------------------------------------------- persistence


def test_restart_resumes_at_the_same_block_and_state_root(tmp_path) -> None:  # noqa: ANN001
    path = str(tmp_path / "db")
    store = ChainStore.open(path)
    node = make_node(store)
    contract = deploy(node)
    sender = keys(node, 0)[0]
    node.send_transaction(N.CallRequest(sender=sender, to=contract, data=word(3)))
    head = node.head()
    store.close()
    store = ChainStore.open(path)
    again = make_node(store)
    assert again.head().hash == head.hash
    assert state_root(again.state) == head.header.state_root
    assert again.storage(contract, 0) == 3
    assert again.receipt(head.block.transactions[0].hash) is not None
    again.submit_raw(transfer(again))
    assert again.head_number == head.number + 1
    store.close()
    with pytest.raises(Exception, match="chain 31337"):
        N.DevNode(ChainStore.open(path), clock=Clock(), config=N.NodeConfig(chain_id=5))


# ------------------------------------------------------------------ proofs


def verify(root: bytes, key: bytes, proof: list[bytes]) -> bytes:
    """The value the trie package proves for ``key`` (b"" when absent)."""
    return HexaryTrie.get_from_proof(root, key, [pyrlp.decode(node) for node in proof])


def test_proofs_verify_with_the_trie_package(any_node: N.DevNode) -> None:
    node = any_node
    contract = deploy(node)
    sender = keys(node, 0)[0]
    node.send_transaction(N.CallRequest(sender=sender, to=contract, data=word(11)))
    root = node.head().header.state_root
    for address in (sender, contract, 0xABCDEF):
        proof = node.proof(address, [0, 1])
        value = verify(root, keccak(address.to_bytes(20, "big")), proof.account_proof)
        if address == 0xABCDEF:
            assert value == b""
            continue
        fields = pyrlp.decode(value)
        assert int.from_bytes(fields[0], "big") == proof.nonce
        assert int.from_bytes(fields[1], "big") == proof.balance
        assert fields[2] == proof.storage_hash and fields[3] == proof.code_hash
        for sp in proof.storage_proof:
            got = verify(proof.storage_hash, keccak(sp.slot.to_bytes(32, "big")), sp.proof)
            assert (int.from_bytes(pyrlp.decode(got), "big") if got else 0) == sp.value
    assert node.proof(contract, [0]).storage_proof[0].value == 11
    # a proof at an older block verifies against that block's root
    old = node.block(1)
    proof = node.proof(sender, [], old)
    value = verify(old.header.state_root, keccak(sender.to_bytes(20, "big")), proof.account_proof)
    assert int.from_bytes(pyrlp.decode(value)[0], "big") == 1


# ------------------------------------------------------------------ tracing


def test_struct_log_trace_matches_the_receipt(node: N.DevNode) -> None:
    from strikevm.rpc.trace import TraceOptions, trace_transaction

    contract = deploy(node)
    sender = keys(node, 0)[0]
    tx_hash = node.send_transaction(N.CallRequest(sender=sender, to=contract, data=word(4)))
    info = node.receipt(tx_hash)
    assert info is not None
    trace = trace_transaction(node, tx_hash, TraceOptions(enable_memory=True))
    assert trace["gas"] == info.gas_used and trace["failed"] is False
    assert trace["returnValue"] == word(4).hex()
    ops = [entry["op"] for entry in trace["structLogs"]]
    assert ops[:3] == ["CALLDATASIZE", "ISZERO", "PUSH2"]
    assert "SSTORE" in ops and "LOG1" in ops and ops[-1] == "RETURN"
    sstore = next(e for e in trace["structLogs"] if e["op"] == "SSTORE")
    assert sstore["storage"] == {f"{0:064x}": f"{4:064x}"}
    assert sstore["gasCost"] == 22100
    first = trace["structLogs"][0]
    assert first["depth"] == 1 and first["pc"] == 0 and first["gasCost"] == 2


def test_halts_in_calls_have_geth_messages(node: N.DevNode) -> None:
    override = {0x1234: N.AccountOverride(code=bytes.fromhex("fe"))}
    result = node.call(N.CallRequest(to=0x1234), None, override)
    assert not result.success
    with pytest.raises(N.ExecutionFailed, match="^invalid opcode"):
        N.raise_call_error(result)
    with pytest.raises(N.ExecutionFailed, match="^invalid opcode"):
        node.estimate_gas(N.CallRequest(to=0x1234), None, override)
    loop = {0x1234: N.AccountOverride(code=bytes.fromhex("5b600056"))}  # JUMPDEST PUSH1 0 JUMP
    with pytest.raises(N.GasAllowanceExceeded, match=r"gas required exceeds allowance \(100000\)"):
        node.estimate_gas(N.CallRequest(to=0x1234, gas=100_000), None, loop)


def test_block_production_is_deterministic() -> None:
    heads = []
    for _ in range(2):
        node = make_node()
        contract = deploy(node)
        node.send_transaction(N.CallRequest(sender=keys(node, 1)[0], to=contract, data=word(5)))
        node.submit_raw(transfer(node, 2))
        node.mine()
        heads.append((node.head().hash, node.head().header.state_root))
    assert heads[0] == heads[1]


def test_transaction_that_became_invalid_is_dropped_at_mining() -> None:
    node = make_node(automine=False)
    sender = keys(node, 3)[0]
    balance = node.balance(sender)
    spend_all = balance - 21000 * 10 * GWEI
    first = node.submit_raw(transfer(node, 3, nonce=0, value=spend_all))
    second = node.submit_raw(transfer(node, 3, nonce=1, value=1))
    mined = node.mine()
    assert [tx.hash for tx in mined.block.transactions] == [first]
    assert node.receipt(second) is None and second not in node.pool
    assert mined.header.state_root == state_root(node.state)
