"""The one block pipeline: building a block and applying a received one.

Every block goes through the same steps, in this order:

1. **begin** -- the EIP-4788 beacon-roots system call (when the fork has it and
   the block carries a parent beacon block root), then the begin-block steps of
   the native system contracts (:func:`strikevm.vm.hooks.run_block_hooks`);
2. **transactions** -- each one checked against the gas and blob gas the block
   has left, then applied by :func:`strikevm.chain.executor.apply_transaction`;
3. **finish** -- the EIP-4895 withdrawals (Gwei credited as Wei, no gas), then
   the end-block steps of the native system contracts.

:class:`BlockBuilder` runs these steps for a producer that picks transactions
one at a time (a transaction that cannot be included is rejected and changes
nothing). :func:`apply_block` runs them for a received block: it validates the
header against its parent, replays the body through a builder and checks the
results (gas used, receipts root, logs bloom, blob gas used and, when asked,
the post-state root) against the header, raising
:class:`~strikevm.chain.block.InvalidBlock` with the first rule broken.

``apply_block`` writes into the state it is given; a caller that must keep the
state unchanged when a block turns out invalid runs it on a copy and keeps the
copy only on success.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from strikevm.chain.block import (
    EMPTY_OMMERS_HASH,
    ZERO_NONCE,
    Block,
    Header,
    InvalidBlock,
    Withdrawal,
    block_env,
    calc_base_fee,
    transactions_root,
    withdrawals_root,
)
from strikevm.chain.bloom import bloom_or, logs_bloom
from strikevm.chain.executor import (
    BlobGasExhausted,
    BlockGasExhausted,
    InvalidTransaction,
    TxResult,
    apply_transaction,
)
from strikevm.chain.parallel import BlockTransactionError, ParallelStats, execute_transactions
from strikevm.chain.receipt import Receipt, receipts_root
from strikevm.chain.transaction import Transaction, TransactionError
from strikevm.state.world import Log, WorldState
from strikevm.vm.env import GAS_PER_BLOB, BlockEnv, Message, TxEnv
from strikevm.vm.evm import EVM
from strikevm.vm.hooks import run_block_hooks
from strikevm.vm.spec import (
    BEACON_ROOTS_ADDRESS,
    CANCUN,
    SYSTEM_ADDRESS,
    SYSTEM_CALL_GAS,
    ForkSpec,
)
from strikevm.vm.system import NativeContract

__all__ = [
    "GAS_LIMIT_ADJUSTMENT_FACTOR",
    "GAS_LIMIT_MINIMUM",
    "MAX_EXTRA_DATA_BYTES",
    "BlockBuilder",
    "BlockResult",
    "apply_block",
    "validate_header",
]

GAS_LIMIT_ADJUSTMENT_FACTOR = 1024  # a child's gas limit moves by less than parent / 1024
GAS_LIMIT_MINIMUM = 5000
MAX_EXTRA_DATA_BYTES = 32
GWEI = 10**9


@dataclass
class BlockResult:
    """What executing a block produced."""

    receipts: list[Receipt]  # one per transaction
    tx_results: list[TxResult]
    gas_used: int
    blob_gas_used: int
    logs_bloom: bytes  # bloom of the transaction logs and the system logs
    system_logs: list[Log]  # logs of the begin/end-block steps (the block's system receipt)
    parallel: ParallelStats | None = None  # how add_transactions ran (apply_block's workers)


class BlockBuilder:
    """Runs one block's steps against ``state``: :meth:`begin`, :meth:`add` per tx, :meth:`finish`.

    ``add`` and ``finish`` run :meth:`begin` first when it has not run yet.
    """

    def __init__(
        self,
        state: WorldState,
        env: BlockEnv,
        *,
        spec: ForkSpec = CANCUN,
        system: Mapping[int, NativeContract] | None = None,
        engine: str = "fast",
        parent_beacon_block_root: bytes | None = None,
    ) -> None:
        if parent_beacon_block_root is not None and len(parent_beacon_block_root) != 32:
            raise ValueError("the parent beacon block root is 32 bytes")
        self.state = state
        self.env = env
        self.spec = spec
        self.system = system
        self.engine = engine
        self.parent_beacon_block_root = parent_beacon_block_root
        self.transactions: list[Transaction] = []
        self._cumulative: list[int] = []  # gas used after each transaction
        self.tx_results: list[TxResult] = []
        self.gas_used = 0
        self.blob_gas_used = 0
        self._begin_logs: list[Log] = []
        self._begun = False
        self._finished = False
        self.parallel: ParallelStats | None = None  # set by add_transactions

    # ---------------------------------------------------------------- begin
    def begin(self) -> None:
        """The beacon-roots system call, then the begin-block steps of native contracts."""
        if self._begun:
            raise RuntimeError("begin() already ran for this block")
        self._begun = True
        root = self.parent_beacon_block_root
        if self.spec.beacon_roots_call and root is not None:
            self._beacon_roots_call(root)
        self._begin_logs = run_block_hooks(
            self.state, self.env, self.system, "begin", engine=self.engine, spec=self.spec
        )

    def _beacon_roots_call(self, root: bytes) -> None:
        """EIP-4788: call the beacon-roots contract with the root, as a system transaction.

        The caller is ``SYSTEM_ADDRESS`` with ``SYSTEM_CALL_GAS``: no gas is bought,
        no nonce is used and no value moves, so the system address is neither
        touched nor created. The contract's code runs when it is deployed; touched
        empty accounts are removed afterwards and the call's logs are dropped,
        as in the execution specification.
        """
        state = self.state
        env = self.env
        state.begin_transaction()
        evm = EVM(
            state,
            env,
            TxEnv(origin=SYSTEM_ADDRESS, gas_price=env.base_fee),
            engine=self.engine,
            system=self.system,
        )
        msg = Message(
            SYSTEM_ADDRESS,
            BEACON_ROOTS_ADDRESS,
            0,
            root,
            SYSTEM_CALL_GAS,
            state.code(BEACON_ROOTS_ADDRESS),
            BEACON_ROOTS_ADDRESS,
            transfer_value=False,
        )
        evm.process_message(msg)
        state.finalize_transaction()

    # ------------------------------------------------------------------ add
    def add(self, tx: Transaction) -> TxResult:
        """Include ``tx``; a ``TransactionError`` leaves the state and the block unchanged."""
        self.admit(tx)
        result = apply_transaction(self.state, self.env, tx, engine=self.engine, system=self.system)
        self.include(tx, result)
        return result

    def admit(self, tx: Transaction) -> None:
        """The block's checks of :meth:`add` (type, gas and blob gas left); runs begin first."""
        if self._finished:
            raise RuntimeError("the block is finished")
        if not self._begun:
            self.begin()
        if tx.tx_type not in self.spec.tx_types:
            raise InvalidTransaction(
                f"transaction type {tx.tx_type} is not valid in {self.spec.name}"
            )
        gas_left = self.env.gas_limit - self.gas_used
        if tx.gas_limit > gas_left:
            raise BlockGasExhausted(
                f"gas limit {tx.gas_limit} above the {gas_left} gas left in the block"
            )
        blob_gas = len(tx.blob_versioned_hashes) * GAS_PER_BLOB
        blob_left = self.spec.gas.max_blob_gas_per_block - self.blob_gas_used
        if blob_gas > blob_left:
            raise BlobGasExhausted(
                f"blob gas {blob_gas} above the {blob_left} blob gas left in the block"
            )

    def include(self, tx: Transaction, result: TxResult) -> None:
        """Record ``tx``'s result, its effects being already in the state (parallel commit)."""
        self.gas_used += result.gas_used
        self.blob_gas_used += result.blob_gas_used
        self.transactions.append(tx)
        self.tx_results.append(result)
        self._cumulative.append(self.gas_used)

    def add_transactions(
        self, txs: Sequence[Transaction], *, workers: int = 1, **options: Any
    ) -> ParallelStats:
        """Include a fixed list of transactions, in order, with up to ``workers`` executors.

        The result is that of calling :meth:`add` on each (``chain.parallel``);
        a refused transaction raises
        :class:`~strikevm.chain.parallel.BlockTransactionError` with its index,
        the transactions before it being included. ``options`` go to
        :func:`~strikevm.chain.parallel.execute_transactions` (``gas_used``,
        ``min_txs``, ``min_gas_per_tx``, ``batch``, ``abort_percent``, ``clock``).
        """
        if not self._begun:
            self.begin()
        self.parallel = execute_transactions(self, txs, workers=workers, **options)
        return self.parallel

    @property
    def receipts(self) -> list[Receipt]:
        """The receipts of the transactions included so far (blooms computed here)."""
        return [
            Receipt.of(tx.tx_type, r.success, cumulative, r.logs)
            for tx, r, cumulative in zip(
                self.transactions, self.tx_results, self._cumulative, strict=True
            )
        ]

    # --------------------------------------------------------------- finish
    def finish(self, withdrawals: Sequence[Withdrawal] = ()) -> BlockResult:
        """Withdrawals, then the end-block steps; return what the block produced."""
        if self._finished:
            raise RuntimeError("finish() already ran for this block")
        if not self._begun:
            self.begin()
        self._finished = True
        if withdrawals:
            if not self.spec.withdrawals:
                raise InvalidBlock(f"{self.spec.name} blocks carry no withdrawals")
            self._withdraw(withdrawals)
        end_logs = run_block_hooks(
            self.state, self.env, self.system, "end", engine=self.engine, spec=self.spec
        )
        system_logs = [*self._begin_logs, *end_logs]
        receipts = self.receipts
        bloom = bloom_or(logs_bloom(system_logs), *(r.bloom for r in receipts))
        return BlockResult(
            receipts=receipts,
            tx_results=list(self.tx_results),
            gas_used=self.gas_used,
            blob_gas_used=self.blob_gas_used,
            logs_bloom=bloom,
            system_logs=system_logs,
            parallel=self.parallel,
        )

    def _withdraw(self, withdrawals: Sequence[Withdrawal]) -> None:
        """EIP-4895: credit each amount (Gwei) as Wei; an account left empty is removed."""
        state = self.state
        state.begin_transaction()
        for w in withdrawals:
            state.add_balance(w.address, w.amount * GWEI)
            state.touch(w.address)
        state.finalize_transaction()


# ------------------------------------------------------------ header rules


def validate_header(header: Header, parent: Header, spec: ForkSpec = CANCUN) -> None:
    """Check ``header`` against its parent; raise InvalidBlock naming the first rule broken."""
    if header.parent_hash != parent.hash:
        raise InvalidBlock(
            f"parent hash 0x{header.parent_hash.hex()} is not the parent's 0x{parent.hash.hex()}"
        )
    if header.number != parent.number + 1:
        raise InvalidBlock(f"number {header.number} does not follow the parent's {parent.number}")
    if header.timestamp <= parent.timestamp:
        raise InvalidBlock(
            f"timestamp {header.timestamp} is not after the parent's {parent.timestamp}"
        )
    delta = parent.gas_limit // GAS_LIMIT_ADJUSTMENT_FACTOR
    if header.gas_limit >= parent.gas_limit + delta:
        raise InvalidBlock(
            f"gas limit {header.gas_limit} is too far above the parent's {parent.gas_limit}"
        )
    if header.gas_limit <= parent.gas_limit - delta:
        raise InvalidBlock(
            f"gas limit {header.gas_limit} is too far below the parent's {parent.gas_limit}"
        )
    if header.gas_limit < GAS_LIMIT_MINIMUM:
        raise InvalidBlock(f"gas limit {header.gas_limit} is below {GAS_LIMIT_MINIMUM}")
    if header.gas_used > header.gas_limit:
        raise InvalidBlock(f"gas used {header.gas_used} is above the gas limit {header.gas_limit}")
    try:
        base_fee = calc_base_fee(parent.gas_limit, parent.gas_used, parent.base_fee_per_gas)
    except ValueError as exc:
        raise InvalidBlock(f"base fee: {exc}") from exc
    if header.base_fee_per_gas != base_fee:
        raise InvalidBlock(f"base fee {header.base_fee_per_gas}, expected {base_fee} (EIP-1559)")
    if len(header.extra_data) > MAX_EXTRA_DATA_BYTES:
        raise InvalidBlock(
            f"extra data is {len(header.extra_data)} bytes, at most {MAX_EXTRA_DATA_BYTES}"
        )
    if header.difficulty != 0:
        raise InvalidBlock(f"difficulty is {header.difficulty}, 0 after the merge")
    if header.nonce != ZERO_NONCE:
        raise InvalidBlock(f"nonce is 0x{header.nonce.hex()}, zero after the merge")
    if header.ommers_hash != EMPTY_OMMERS_HASH:
        raise InvalidBlock("ommers hash is not that of the empty list (no uncles after the merge)")
    if spec.blobs:
        total = parent.excess_blob_gas + parent.blob_gas_used
        target = spec.gas.target_blob_gas_per_block
        excess = total - target if total >= target else 0
        if header.excess_blob_gas != excess:
            raise InvalidBlock(
                f"excess blob gas {header.excess_blob_gas}, expected {excess} (EIP-4844)"
            )
        if header.blob_gas_used % GAS_PER_BLOB:
            raise InvalidBlock(
                f"blob gas used {header.blob_gas_used} is not a multiple of {GAS_PER_BLOB}"
            )
        if header.blob_gas_used > spec.gas.max_blob_gas_per_block:
            raise InvalidBlock(
                f"blob gas used {header.blob_gas_used} is above the "
                f"{spec.gas.max_blob_gas_per_block} a block may use"
            )


def _verify_body(block: Block, spec: ForkSpec) -> None:
    header = block.header
    if transactions_root(block.transactions) != header.transactions_root:
        raise InvalidBlock("transactions root does not match the transactions")
    if spec.withdrawals and withdrawals_root(block.withdrawals) != header.withdrawals_root:
        raise InvalidBlock("withdrawals root does not match the withdrawals")


def _parent_only(parent: Header) -> Callable[[int], int]:
    parent_hash = int.from_bytes(parent.hash, "big")

    def block_hash(number: int) -> int:
        return parent_hash if number == parent.number else 0

    return block_hash


def apply_block(
    state: WorldState,
    block: Block,
    parent: Header,
    *,
    spec: ForkSpec = CANCUN,
    system: Mapping[int, NativeContract] | None = None,
    engine: str = "fast",
    block_hash: Callable[[int], int] | None = None,
    chain_id: int = 1,
    state_root: Callable[[WorldState], bytes] | None = None,
    workers: int = 1,
) -> BlockResult:
    """Validate and execute ``block`` on top of ``parent``; InvalidBlock when it breaks a rule.

    ``block_hash`` answers BLOCKHASH (by default only the parent's hash is known);
    ``state_root``, when given, computes the post-state root to compare with the header.
    ``workers`` above 1 executes the transactions with the optimistic parallel
    executor (``chain.parallel``; same result, metrics in ``BlockResult.parallel``).
    The state is modified in place, also when the block turns out invalid.
    """
    header = block.header
    validate_header(header, parent, spec)
    _verify_body(block, spec)
    env = block_env(header, chain_id=chain_id, block_hash=block_hash or _parent_only(parent))
    builder = BlockBuilder(
        state,
        env,
        spec=spec,
        system=system,
        engine=engine,
        parent_beacon_block_root=header.parent_beacon_block_root,
    )
    builder.begin()
    if workers > 1:
        try:
            builder.add_transactions(block.transactions, workers=workers, gas_used=header.gas_used)
        except BlockTransactionError as exc:
            raise InvalidBlock(str(exc)) from exc.error
    else:
        for index, tx in enumerate(block.transactions):
            try:
                builder.add(tx)
            except TransactionError as exc:
                raise InvalidBlock(f"transaction {index}: {type(exc).__name__}: {exc}") from exc
    result = builder.finish(block.withdrawals)
    if result.gas_used != header.gas_used:
        raise InvalidBlock(f"gas used is {header.gas_used} in the header, {result.gas_used} run")
    root = receipts_root(result.receipts)
    if root != header.receipts_root:
        raise InvalidBlock(
            f"receipts root 0x{header.receipts_root.hex()} in the header, 0x{root.hex()} computed"
        )
    if result.logs_bloom != header.logs_bloom:
        raise InvalidBlock("logs bloom does not match the receipts")
    if result.blob_gas_used != header.blob_gas_used:
        raise InvalidBlock(
            f"blob gas used is {header.blob_gas_used} in the header, "
            f"{result.blob_gas_used} in the transactions"
        )
    if state_root is not None:
        post = state_root(state)
        if post != header.state_root:
            raise InvalidBlock(
                f"state root 0x{header.state_root.hex()} in the header, 0x{post.hex()} computed"
            )
    return result
