"""The dev node's chain: genesis, mempool admission, block production, receipts and queries.

:class:`DevNode` owns the live world state, a :class:`~strikevm.chain.store.ChainStore`
and a :class:`~strikevm.chain.mempool.Mempool`. It mines on each transaction
(``automine``) or when asked (``mine``), answers the queries behind the
JSON-RPC methods, runs calls and gas estimates on scratch states, and offers
the dev helpers (snapshots, time control). It does no networking and reads
no clock of its own: the caller passes a ``clock`` returning Unix seconds,
and the chain uses it only to pick the next block's timestamp.

Errors are typed (:class:`NodeError` subclasses); their messages follow geth
so that clients recognise them. Nothing changes when a transaction is
rejected. The node is not thread-safe: call it from one thread, with one
exception: with :attr:`DevNode.isolated_calls` set, :meth:`DevNode.call`,
:meth:`DevNode.estimate_gas` and the block/receipt reads they need may run on
other threads at the same time, because calls then read the committed tries
at the block's state root (immutable) instead of the live state.

Budgets (:class:`NodeConfig`): ``call_gas_cap`` caps the gas of a call or an
estimate (geth's RPCGasCap), ``max_log_blocks`` and ``max_log_results`` bound
an eth_getLogs query, ``max_snapshots`` bounds the live evm_snapshot states
(the oldest is dropped when a new one would exceed it).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from strikevm.chain import executor as X
from strikevm.chain.block import (
    EMPTY_BLOOM,
    ZERO_HASH,
    Header,
    calc_base_fee,
    calc_excess_blob_gas,
    genesis_header,
    receipts_root,
    transactions_root,
)
from strikevm.chain.bloom import bloom_may_contain
from strikevm.chain.mempool import Mempool, PoolConfig, PoolError
from strikevm.chain.parallel import BlockTransactionError, ParallelPolicy, ParallelStats
from strikevm.chain.pipeline import BlockBuilder
from strikevm.chain.receipt import Receipt
from strikevm.chain.store import ChainStore, StoredBlock, overlay
from strikevm.chain.transaction import (
    BLOB_TX,
    LEGACY_TX,
    NONCE_LIMIT,
    Transaction,
    TransactionError,
    decode_transaction,
    encode_transaction,
    intrinsic_gas,
    sign_transaction,
    validate_transaction,
)
from strikevm.chain.transaction import (
    FeeCapTooLow as TxFeeCapTooLow,
)
from strikevm.chain.transaction import (
    GasCostOverflow as TxGasCostOverflow,
)
from strikevm.chain.transaction import (
    InitcodeTooLarge as TxInitcodeTooLarge,
)
from strikevm.chain.transaction import (
    IntrinsicGasTooLow as TxIntrinsicGasTooLow,
)
from strikevm.chain.transaction import (
    InvalidChainId as TxInvalidChainId,
)
from strikevm.chain.transaction import (
    InvalidSignature as TxInvalidSignature,
)
from strikevm.chain.transaction import (
    NonceTooHigh as TxNonceTooHigh,
)
from strikevm.chain.transaction import (
    PriorityFeeTooHigh as TxPriorityFeeTooHigh,
)
from strikevm.chain.transaction import (
    UnsupportedType as TxUnsupportedType,
)
from strikevm.crypto import EMPTY_KECCAK, keccak256
from strikevm.finance.genesis import apply_genesis
from strikevm.state.account import Account
from strikevm.state.commit import AccountProof
from strikevm.state.overlay import OverlayState
from strikevm.state.world import Log, WorldState
from strikevm.vm import gas as G
from strikevm.vm.env import BlockEnv
from strikevm.vm.errors import (
    CodeSizeExceeded,
    InvalidContractPrefix,
    InvalidJump,
    InvalidOpcode,
    OutOfGas,
    ReturnDataOutOfBounds,
    StackOverflow,
    StackUnderflow,
    WriteInStaticContext,
)
from strikevm.vm.evm import Revert
from strikevm.vm.instructions.system import create_address
from strikevm.vm.precompiles import PrecompileError
from strikevm.vm.system import NativeContract

__all__ = [
    "DEV_MNEMONIC",
    "CallRequest",
    "CallResult",
    "DevNode",
    "LogEntry",
    "NodeConfig",
    "NodeError",
    "ReceiptInfo",
    "dev_accounts",
]

ETHER = 10**18
_STAND_IN = b"strikevm.stand-in:"  # store meta: stand-in signer -> impersonated sender
_NONCE_ENTRY = 1  # strikevm.state.world's journal tag of a nonce change
GWEI = 10**9
DEV_MNEMONIC = "test test test test test test test test test test test junk"
MAX_TX_SIZE = 128 * 1024  # geth's txMaxSize: bytes of one raw transaction
DEFAULT_PRIORITY_FEE = GWEI
CALL_GAS_CAP = 50_000_000  # geth's default RPC gas cap


# ------------------------------------------------------------------ errors


class NodeError(ValueError):
    """A request the node refuses; the message is what clients show."""


class TransactionRejected(NodeError):
    """A transaction cannot enter the pool (or be executed as a call)."""


class DecodeFailed(TransactionRejected):
    """The raw transaction is not a well-formed transaction."""


class OversizedData(TransactionRejected):
    pass


class TxTypeNotSupported(TransactionRejected):
    pass


class InvalidSender(TransactionRejected):
    pass


class InvalidChainId(TransactionRejected):
    pass


class NonceTooLow(TransactionRejected):
    pass


class NonceTooHigh(TransactionRejected):
    pass


class NonceMax(TransactionRejected):
    pass


class InsufficientFunds(TransactionRejected):
    pass


class IntrinsicGasTooLow(TransactionRejected):
    pass


class ExceedsBlockGasLimit(TransactionRejected):
    pass


class FeeCapTooLow(TransactionRejected):
    pass


class TipAboveFeeCap(TransactionRejected):
    pass


class FeeCapTooHigh(TransactionRejected):
    pass


class SenderNotEOA(TransactionRejected):
    pass


class InitcodeTooLarge(TransactionRejected):
    pass


class PoolRejected(TransactionRejected):
    """Duplicate, underpriced replacement or a full pool."""


class UnknownAccount(NodeError):
    """eth_sendTransaction from an account whose key the node does not hold."""


class ExecutionReverted(NodeError):
    """A call reverted; ``data`` is the revert data."""

    def __init__(self, message: str, data: bytes) -> None:
        super().__init__(message)
        self.data = data


class ExecutionFailed(NodeError):
    """A call halted exceptionally (out of gas, invalid opcode, ...)."""


class GasAllowanceExceeded(NodeError):
    """eth_estimateGas found no gas limit up to the allowance that makes the call succeed."""


class UnknownBlock(NodeError):
    """A block tag, number or hash names no block of this chain."""


class InvalidTimestamp(NodeError):
    pass


class LimitExceeded(NodeError):
    """A query would return too much (eth_getLogs range or result count)."""


class InternalError(NodeError):
    """An unexpected failure inside the node; the state was restored to the head."""


# ------------------------------------------------------------- accounts


@functools.lru_cache(maxsize=8)
def dev_accounts(mnemonic: str = DEV_MNEMONIC, count: int = 10) -> list[tuple[int, bytes]]:
    """(address, private key) for m/44'/60'/0'/0/i, i < count, as anvil and hardhat derive."""
    from eth_account import Account as EthAccount

    EthAccount.enable_unaudited_hdwallet_features()
    out = []
    for index in range(count):
        acct = EthAccount.from_mnemonic(mnemonic, account_path=f"m/44'/60'/0'/0/{index}")
        out.append((int(acct.address, 16), bytes(acct.key)))
    return out


# ---------------------------------------------------------------- config


@dataclass(frozen=True)
class NodeConfig:
    chain_id: int = 31337
    gas_limit: int = 30_000_000
    genesis_base_fee: int = GWEI
    coinbase: int = 0
    automine: bool = True
    dev_balance: int = 10_000 * ETHER
    mnemonic: str = DEV_MNEMONIC
    dev_account_count: int = 10
    engine: str = "fast"
    # geth's rule: a sender's consecutive (executable) transactions are bounded by the
    # pool's size only; 64 gapped ones at most.
    pool: PoolConfig = field(default_factory=lambda: PoolConfig(max_executable_per_sender=4096))
    max_log_blocks: int = 10_000
    max_log_results: int = 10_000
    # gas cap of eth_call / eth_estimateGas (0: none), as geth's --rpc.gascap
    call_gas_cap: int = CALL_GAS_CAP
    # live evm_snapshot states; taking one more drops the oldest (0: no limit)
    max_snapshots: int = 100
    extra_data: bytes = b""
    # Executors for a block's transactions (chain.parallel): 1 runs them one by one;
    # more selects the block's transactions first, then executes them optimistically in
    # parallel with the same result (the CLI's --exec-workers, default the cores).
    exec_workers: int = 1
    # Genesis configuration of the system contracts (finance.genesis); None: the dev
    # default (oracle feeds ETH/USD, BTC/USD and the USD rate, published by dev
    # accounts 7, 8 and 9, administered by dev account 0).
    genesis: Mapping[str, Any] | None = None


DEV_PUBLISHERS = (7, 8, 9)
"""Dev accounts whose keys sign the dev chain's oracle prices."""


def default_genesis(accounts: list[tuple[int, bytes]], now: int) -> dict[str, Any]:
    """The dev chain's system-contract genesis (finance.genesis.dev_genesis)."""
    from strikevm.finance.genesis import dev_genesis

    return dev_genesis(accounts, now, DEV_PUBLISHERS)


# ------------------------------------------------------------- results


@dataclass(frozen=True)
class ReceiptInfo:
    """A mined transaction with everything its JSON-RPC receipt shows."""

    tx: Transaction
    block: StoredBlock
    index: int
    receipt: Receipt
    gas_used: int
    effective_gas_price: int
    contract_address: int | None
    first_log_index: int


@dataclass(frozen=True)
class LogEntry:
    log: Log
    block: StoredBlock
    tx_index: int
    log_index: int

    @property
    def tx_hash(self) -> bytes:
        txs = self.block.block.transactions
        if self.tx_index < len(txs):
            return txs[self.tx_index].hash
        return system_receipt_hash(self.block.hash)


def system_receipt_hash(block_hash: bytes) -> bytes:
    """The transaction hash that a block's system-receipt logs carry in JSON-RPC.

    System logs (native begin/end-block steps) come after the block's transaction
    logs, with ``transactionIndex`` equal to the number of transactions and this
    hash, which no transaction can have: keccak256("strikevm.system" || block hash).
    """
    return keccak256(b"strikevm.system" + block_hash)


@dataclass
class CallRequest:
    """The fields of an eth_call / eth_estimateGas / eth_sendTransaction request."""

    sender: int = 0
    to: int | None = None
    gas: int | None = None
    gas_price: int | None = None
    max_fee_per_gas: int | None = None
    max_priority_fee_per_gas: int | None = None
    value: int = 0
    data: bytes = b""
    access_list: tuple[tuple[int, tuple[int, ...]], ...] = ()
    nonce: int | None = None
    tx_type: int | None = None
    chain_id: int | None = None


@dataclass
class CallResult:
    success: bool
    output: bytes
    gas_used: int  # after refund
    gas_spent: int  # before refund
    error: Exception | None
    logs: list[Log]


@dataclass
class AccountOverride:
    """One entry of eth_call's state override set."""

    balance: int | None = None
    nonce: int | None = None
    code: bytes | None = None
    state: dict[int, int] | None = None
    state_diff: dict[int, int] | None = None


@dataclass
class _Snapshot:
    number: int
    state: WorldState
    pool: list[Transaction]
    time_offset: int
    next_timestamp: int | None
    skew: int = 0


def _fmt(address: int) -> str:
    return f"0x{address:040x}"


def _map_tx_error(exc: TransactionError, tx_sender: int | None = None) -> TransactionRejected:
    """geth's wording for a stateless transaction error."""
    if isinstance(exc, TxUnsupportedType):
        return TxTypeNotSupported("transaction type not supported")
    if isinstance(exc, TxInvalidChainId):
        return InvalidChainId(f"invalid chain id for signer: {exc}")
    if isinstance(exc, TxInvalidSignature):
        return InvalidSender(f"invalid sender: {exc}")
    if isinstance(exc, TxNonceTooHigh):
        return NonceMax("nonce has max value")
    if isinstance(exc, TxPriorityFeeTooHigh):
        return TipAboveFeeCap(f"max priority fee per gas higher than max fee per gas: {exc}")
    if isinstance(exc, TxGasCostOverflow):
        return FeeCapTooHigh("max fee per gas higher than 2^256-1")
    if isinstance(exc, TxInitcodeTooLarge):
        return InitcodeTooLarge(f"max initcode size exceeded: {exc}")
    if isinstance(exc, TxIntrinsicGasTooLow):
        return IntrinsicGasTooLow(f"intrinsic gas too low: {exc}")
    if isinstance(exc, TxFeeCapTooLow):
        return FeeCapTooLow(f"max fee per gas less than block base fee: {exc}")
    return DecodeFailed(f"failed to decode transaction: {exc}")


# ------------------------------------------------------------------ node


class DevNode:
    """A single-producer dev chain over a :class:`ChainStore`."""

    def __init__(
        self,
        store: ChainStore,
        *,
        clock: Callable[[], int],
        config: NodeConfig | None = None,
        system: Mapping[int, NativeContract] | None = None,
        ticker: Callable[[], int] | None = None,
    ) -> None:
        self.config = config if config is not None else NodeConfig()
        self.store = store
        self.clock = clock
        self.ticker = ticker
        if system is None:
            system = _default_system()
        self.system = system
        self.pool = Mempool(self.config.pool)
        self.accounts = list(dev_accounts(self.config.mnemonic, self.config.dev_account_count))
        self.keys: dict[int, bytes] = dict(self.accounts)
        self.listeners: list[Callable[[StoredBlock, int], None]] = []
        # Called with the new head number when the chain goes back (evm_revert).
        self.rewind_listeners: list[Callable[[int], None]] = []
        self.time_offset = 0
        self.next_timestamp: int | None = None
        self._snapshots: dict[int, _Snapshot] = {}
        self._snapshot_id = 0
        self._dropped: dict[bytes, NodeError] = {}
        # When set, submit() only pools; the caller runs mine_ready() and settle().
        self.defer_automine = False
        # When set, calls and estimates read the committed tries at the block's state
        # root, never the live state, so that they can run on other threads.
        self.isolated_calls = False
        # Test seam: called with a stage name during block production ("commit"); an
        # exception it raises must leave the node exactly as before the block.
        self.fault_injector: Callable[[str], None] | None = None
        self.last_end_step_ns = 0
        self.parallel_policy = ParallelPolicy()
        self.last_parallel: list[ParallelStats] = []  # what the executor did with the last block
        # Dev helpers (see docs/node.md): impersonated senders, the next block's base
        # fee, and the timestamp that evm_setNextBlockTimestamp asked for.
        self.impersonated: set[int] = set()
        self.auto_impersonate = False
        self.next_base_fee_override: int | None = None
        self._exact_timestamp: int | None = None
        # Seconds the head's timestamp runs ahead of clock + time_offset (see _follow_time).
        self._skew = 0
        self._stand_ins: dict[int, int] = {}  # stand-in signer address -> impersonated sender
        self.listeners.append(self._follow_time)
        # Called with each transaction that enters the pool (newPendingTransactions).
        self.pool_listeners: list[Callable[[Transaction], None]] = []
        _read = store._read_block

        def read_block(number: int) -> Any:
            block = _read(number)
            return self._restore_senders(block) if block is not None else None

        store._read_block = read_block  # type: ignore[method-assign]
        store.check_chain(self.config.chain_id)
        if store.head_number is None:
            self.state = self._genesis_state()
            cfg = self.config
            store.commit_genesis(
                self.state,
                lambda root: genesis_header(
                    root,
                    gas_limit=cfg.gas_limit,
                    timestamp=self.clock(),
                    base_fee=cfg.genesis_base_fee,
                    coinbase=cfg.coinbase,
                    extra_data=cfg.extra_data,
                ),
            )
        else:
            self.state = store.load_state()

    def _genesis_state(self) -> WorldState:
        state = WorldState()
        for address, _ in self.accounts:
            state.accounts[address] = Account(0, self.config.dev_balance)
        if self.system:
            genesis = self.config.genesis
            if genesis is None:
                genesis = default_genesis(self.accounts, self.clock())
            apply_genesis(state, self.system, genesis)
        return state

    # ------------------------------------------------------------- basics
    @property
    def chain_id(self) -> int:
        return self.config.chain_id

    def head(self) -> StoredBlock:
        return self.store.head()

    @property
    def head_number(self) -> int:
        number = self.store.head_number
        assert number is not None
        return number

    def next_base_fee(self) -> int:
        if self.next_base_fee_override is not None:
            return self.next_base_fee_override
        header = self.head().header
        return calc_base_fee(header.gas_limit, header.gas_used, header.base_fee_per_gas)

    def block(self, number: int) -> StoredBlock:
        found = self.store.block(number)
        if found is None:
            raise UnknownBlock(f"block {number} not found")
        return found

    def block_by_hash(self, block_hash: bytes) -> StoredBlock:
        found = self.store.block_by_hash(block_hash)
        if found is None:
            raise UnknownBlock(f"block 0x{block_hash.hex()} not found")
        return found

    def _block_hash_fn(self) -> Callable[[int], int]:
        store = self.store

        def block_hash(number: int) -> int:
            found = store.block_hash(number)
            return int.from_bytes(found, "big") if found is not None else 0

        return block_hash

    def block_env(self, header: Header) -> BlockEnv:
        return BlockEnv(
            coinbase=header.coinbase,
            number=header.number,
            timestamp=header.timestamp,
            gas_limit=header.gas_limit,
            prev_randao=int.from_bytes(header.prev_randao, "big"),
            base_fee=header.base_fee_per_gas,
            excess_blob_gas=header.excess_blob_gas,
            chain_id=self.config.chain_id,
            block_hash=self._block_hash_fn(),
        )

    def pending_env(self, head: StoredBlock | None = None) -> BlockEnv:
        """The context of the block after ``head`` (default: the head), as far as it is known."""
        parent = (head if head is not None else self.head()).header
        return BlockEnv(
            coinbase=self.config.coinbase,
            number=parent.number + 1,
            timestamp=self._timestamp(parent, None, consume=False),
            gas_limit=self.config.gas_limit,
            prev_randao=int.from_bytes(_randao(parent), "big"),
            base_fee=self.next_base_fee_override
            if self.next_base_fee_override is not None and head is None
            else calc_base_fee(parent.gas_limit, parent.gas_used, parent.base_fee_per_gas),
            excess_blob_gas=calc_excess_blob_gas(parent.excess_blob_gas, parent.blob_gas_used),
            chain_id=self.config.chain_id,
            block_hash=self._block_hash_fn(),
        )

    # ------------------------------------------------------------ state reads
    def state_at(self, block: StoredBlock | None) -> WorldState:
        """Read-only view: the live state for the head (or None), else the block's state."""
        if block is None or block.number == self.head_number:
            return self.state
        return self.store.state_at(block.header.state_root)

    def balance(self, address: int, block: StoredBlock | None = None) -> int:
        return self.state_at(block).balance(address)

    def nonce(self, address: int, block: StoredBlock | None = None) -> int:
        return self.state_at(block).nonce(address)

    def pending_nonce(self, address: int) -> int:
        return self.pool.next_nonce(address, self.state.nonce(address))

    def code(self, address: int, block: StoredBlock | None = None) -> bytes:
        return self.state_at(block).code(address)

    def storage(self, address: int, slot: int, block: StoredBlock | None = None) -> int:
        return self.state_at(block).sload(address, slot)

    def proof(
        self, address: int, slots: list[int], block: StoredBlock | None = None
    ) -> AccountProof:
        target = block if block is not None else self.head()
        return self.store.proof(address, slots, target.header.state_root)

    # ------------------------------------------------------- transactions
    def decode_raw(self, raw: bytes) -> Transaction:
        """Decode and statically validate a raw transaction; raise a :class:`NodeError`."""
        if len(raw) > MAX_TX_SIZE:
            raise OversizedData(f"oversized data: transaction size {len(raw)}, limit {MAX_TX_SIZE}")
        if not raw:
            raise DecodeFailed("failed to decode transaction: empty input")
        if raw[0] == BLOB_TX:
            raise TxTypeNotSupported(
                "transaction type not supported: blob transactions (type 3) need a blob pool"
            )
        try:
            tx = decode_transaction(raw, chain_id=self.config.chain_id)
            validate_transaction(tx, chain_id=self.config.chain_id)
        except TransactionError as exc:
            raise _map_tx_error(exc) from None
        return tx

    def check_transaction(self, tx: Transaction) -> None:
        """Checks against the head state and the next block; raise a :class:`NodeError`."""
        state = self.state
        sender = tx.sender
        if tx.tx_type == BLOB_TX:
            raise TxTypeNotSupported("transaction type not supported")
        if tx.gas_limit > self.config.gas_limit:
            raise ExceedsBlockGasLimit(
                f"exceeds block gas limit: gas {tx.gas_limit}, block gas limit {self.config.gas_limit}"
            )
        account_nonce = state.nonce(sender)
        if tx.nonce < account_nonce:
            raise NonceTooLow(
                f"nonce too low: address {_fmt(sender)}, tx: {tx.nonce} state: {account_nonce}"
            )
        pending = self.pool.next_nonce(sender, account_nonce)
        if tx.nonce - pending >= self.config.pool.max_nonce_gap:
            raise NonceTooHigh(
                f"nonce too high: address {_fmt(sender)}, tx: {tx.nonce} state: {account_nonce} "
                f"(at most {self.config.pool.max_nonce_gap - 1} ahead of the pending "
                f"nonce {pending})"
            )
        if tx.nonce >= NONCE_LIMIT:
            raise NonceMax("nonce has max value")
        base_fee = self.next_base_fee()
        if tx.fee_cap < base_fee:
            raise FeeCapTooLow(
                f"max fee per gas less than block base fee: address {_fmt(sender)}, "
                f"maxFeePerGas: {tx.fee_cap}, baseFee: {base_fee}"
            )
        code_hash = state.code_hash(sender)
        if code_hash != EMPTY_KECCAK:
            raise SenderNotEOA(
                f"sender not an eoa: address {_fmt(sender)}, codehash: 0x{code_hash.hex()}"
            )
        need = tx.gas_limit * tx.fee_cap + tx.value
        have = state.balance(sender)
        if have < need:
            raise InsufficientFunds(
                f"insufficient funds for gas * price + value: address {_fmt(sender)} "
                f"have {have} want {need}"
            )

    def submit_raw(self, raw: bytes) -> bytes:
        """eth_sendRawTransaction: validate, pool and (automine) mine; return the hash."""
        return self.submit(self.decode_raw(bytes(raw)))

    def submit(self, tx: Transaction) -> bytes:
        """Add a decoded transaction; with automine, return once it is mined."""
        if tx.chain_id is not None and tx.chain_id != self.config.chain_id:
            raise InvalidChainId(
                f"invalid chain id for signer: have {tx.chain_id} want {self.config.chain_id}"
            )
        known = self.store.tx_location(tx.hash)
        if known is not None or tx.hash in self.pool:
            raise PoolRejected("already known")
        self.check_transaction(tx)
        try:
            self.pool.add(tx, self.state.nonce(tx.sender))
        except PoolError as exc:
            raise PoolRejected(str(exc)) from None
        for pooled in list(self.pool_listeners):
            pooled(tx)
        if self.config.automine and not self.defer_automine:
            self.mine_ready()
            self.settle(tx.hash)
        return tx.hash

    def mine_ready(self) -> None:
        """Automine: mine blocks until no executable transaction is left.

        With ``defer_automine`` set, a front end submits several transactions and
        then calls this once, so transactions that arrive together share a block
        (and one durable commit), as they would on a busy sequencer.
        """
        while True:
            ready = next(iter(self.pool.best(self.state.nonce, self.next_base_fee(), set())), None)
            if ready is None:
                break
            mined = self.mine_next()
            if not mined.block.transactions:
                break

    def settle(self, tx_hash: bytes) -> None:
        """After mining: raise why a submitted transaction was dropped, if it was."""
        if tx_hash in self.pool or self.store.tx_location(tx_hash) is not None:
            return
        reason = self._dropped.pop(tx_hash, None)
        if reason is not None:
            raise reason

    def send_transaction(self, req: CallRequest, *, unsigned: bool = False) -> bytes:
        """eth_sendTransaction: fill in defaults, sign with the dev key, submit.

        From an impersonated address (or any address with ``unsigned``, as
        eth_sendUnsignedTransaction) the node executes the transaction as sent
        by that address without its key; see :meth:`build_transaction`.
        """
        return self.submit(self.build_transaction(req, unsigned=unsigned))

    def build_transaction(self, req: CallRequest, *, unsigned: bool = False) -> Transaction:
        """The transaction eth_sendTransaction would send: defaults filled in, signed.

        A sender without a dev key that is impersonated (or ``unsigned``) gets a
        stand-in signature: the transaction is signed with a key derived from the
        sender's address (keccak256("strikevm.impersonate" || address)), so its
        hash is unique to the sender, and its sender is set to the impersonated
        address. The node remembers the stand-in signer, also in the store, so
        that the transaction reads back with the impersonated sender.
        """
        key = self.keys.get(req.sender)
        stand_in = False
        if key is None:
            if not (unsigned or self.auto_impersonate or req.sender in self.impersonated):
                raise UnknownAccount("unknown account")
            key = keccak256(b"strikevm.impersonate" + req.sender.to_bytes(20, "big"))
            stand_in = True
        if req.chain_id is not None and req.chain_id != self.config.chain_id:
            raise InvalidChainId(
                f"invalid chain id for signer: have {req.chain_id} want {self.config.chain_id}"
            )
        nonce = req.nonce if req.nonce is not None else self.pending_nonce(req.sender)
        gas = req.gas if req.gas is not None else self.estimate_gas(req)
        access = tuple(req.access_list)
        tx_type = req.tx_type
        if tx_type is None:
            tx_type = (1 if access else LEGACY_TX) if req.gas_price is not None else 2
        if tx_type == BLOB_TX:
            raise TxTypeNotSupported("transaction type not supported")
        if tx_type not in (0, 1, 2):
            raise TxTypeNotSupported("transaction type not supported")
        fees: dict[str, int | None] = {}
        if tx_type in (0, 1):
            price = req.gas_price
            if price is None:
                price = self.next_base_fee() + DEFAULT_PRIORITY_FEE
            fees["gas_price"] = price
        else:
            tip = req.max_priority_fee_per_gas
            if tip is None:
                tip = DEFAULT_PRIORITY_FEE
                if req.max_fee_per_gas is not None:
                    tip = min(tip, req.max_fee_per_gas)
            cap = req.max_fee_per_gas
            if cap is None:
                cap = 2 * self.next_base_fee() + tip
            fees["max_priority_fee_per_gas"] = tip
            fees["max_fee_per_gas"] = cap
        try:
            tx = sign_transaction(
                key,
                tx_type=tx_type,
                chain_id=self.config.chain_id,
                nonce=nonce,
                gas_limit=gas,
                to=req.to,
                value=req.value,
                data=req.data,
                access_list=access if tx_type != LEGACY_TX else (),
                **fees,  # type: ignore[arg-type]
            )
            validate_transaction(tx, chain_id=self.config.chain_id)
        except TransactionError as exc:
            raise _map_tx_error(exc) from None
        if stand_in:
            self._remember_stand_in(tx.sender, req.sender)
            tx = replace(tx, sender=req.sender)
        return tx

    # ------------------------------------------------------------- mining
    def _timestamp(self, parent: Header, explicit: int | None, *, consume: bool) -> int:
        if explicit is not None:
            ts = explicit
        elif self.next_timestamp is not None:
            ts = self.next_timestamp
            if consume:
                self.next_timestamp = None
        else:
            ts = max(parent.timestamp + 1, self.clock() + self.time_offset + self._skew)
        return ts

    def mine(self, timestamp: int | None = None) -> StoredBlock:
        """Produce one block from the pool's executable transactions and commit it.

        The block is built on an overlay of the live state: committed whole (state, block,
        receipts, system receipt and head in one write batch, then merged into the live
        state) or, on any error, dropped whole, so nothing half-applied survives a failure
        (see :meth:`produce_block`, which also serves the dev helpers).
        """
        return self.produce_block(timestamp)

    def _recover(self) -> None:
        """Reload the live state from the store (after a failure inside the store itself)."""
        self.state = self.store.load_state()

    def mine_blocks(self, count: int, timestamp: int | None = None) -> list[StoredBlock]:
        out = []
        for i in range(count):
            if i == 0 and timestamp is not None:
                self._exact_timestamp = timestamp
            out.append(self.mine_next(timestamp if i == 0 else None))
        return out

    # ------------------------------------------------------- time control
    def increase_time(self, seconds: int) -> int:
        """evm_increaseTime: shift the clock used for new blocks; return the total shift."""
        if self.clock() + self.time_offset + seconds >= 1 << 63:
            raise InvalidTimestamp(f"cannot move the clock {seconds} seconds forward")
        self.time_offset += seconds
        return self.time_offset

    def set_next_block_timestamp(self, timestamp: int) -> None:
        parent = self.head().header
        if timestamp <= parent.timestamp:
            raise InvalidTimestamp(
                f"timestamp {timestamp} is not after the latest block's {parent.timestamp}"
            )
        if timestamp >= 1 << 63:
            raise InvalidTimestamp(f"timestamp {timestamp} is too large")
        self.next_timestamp = timestamp
        self._exact_timestamp = timestamp

    # ----------------------------------------------------------- snapshots
    def snapshot(self) -> int:
        """evm_snapshot: remember the head, state, pool and clock; return the id.

        At most ``config.max_snapshots`` are kept: taking one more drops the
        oldest (reverting to a dropped id then answers False, as an unknown id).
        """
        self._snapshot_id += 1
        self._snapshots[self._snapshot_id] = _Snapshot(
            self.head_number,
            self.state.copy(),
            self.pool.transactions(),
            self.time_offset,
            self.next_timestamp,
            self._skew,
        )
        limit = self.config.max_snapshots
        while limit and len(self._snapshots) > limit:
            del self._snapshots[min(self._snapshots)]
        return self._snapshot_id

    @property
    def snapshot_count(self) -> int:
        return len(self._snapshots)

    def revert(self, snapshot_id: int) -> bool:
        """evm_revert: back to the snapshot's head and state; False for an unknown id."""
        snap = self._snapshots.get(snapshot_id)
        if snap is None:
            return False
        for sid in [s for s in self._snapshots if s >= snapshot_id]:
            del self._snapshots[sid]
        for listener in list(self.rewind_listeners):
            listener(snap.number)
        self.store.rewind(snap.number, snap.state)
        self.state = snap.state
        self.pool.clear()
        for tx in snap.pool:
            try:
                self.pool.add(tx, self.state.nonce(tx.sender))
            except PoolError:
                pass
        self.time_offset = snap.time_offset
        self.next_timestamp = snap.next_timestamp
        self._skew = snap.skew
        return True

    # ------------------------------------------------------- tx / receipts
    def transaction(self, tx_hash: bytes) -> tuple[Transaction, StoredBlock | None, int]:
        """(tx, block, index) of a mined transaction, or (tx, None, 0) if pending."""
        found = self.store.tx_location(tx_hash)
        if found is not None:
            stored, index = found
            return stored.block.transactions[index], stored, index
        pooled = self.pool.get(tx_hash)
        if pooled is None:
            raise LookupError("transaction not found")
        return pooled, None, 0

    def receipt(self, tx_hash: bytes) -> ReceiptInfo | None:
        found = self.store.tx_location(tx_hash)
        if found is None:
            return None
        return self.receipt_at(*found)

    def receipt_at(self, stored: StoredBlock, index: int) -> ReceiptInfo:
        tx = stored.block.transactions[index]
        receipt = stored.receipts[index]
        before = stored.receipts[index - 1].cumulative_gas_used if index else 0
        first_log = sum(len(r.logs) for r in stored.receipts[:index])
        created = create_address(tx.sender, tx.nonce) if tx.to is None else None
        return ReceiptInfo(
            tx=tx,
            block=stored,
            index=index,
            receipt=receipt,
            gas_used=receipt.cumulative_gas_used - before,
            effective_gas_price=X.effective_gas_price(tx, stored.header.base_fee_per_gas),
            contract_address=created,
            first_log_index=first_log,
        )

    # ------------------------------------------------------------------ logs
    def logs(
        self,
        first: int,
        last: int,
        addresses: list[int] | None,
        topics: list[list[int] | None],
    ) -> list[LogEntry]:
        """eth_getLogs over blocks first..last (inclusive) of the canonical chain."""
        if last < first:
            return []
        if self.config.max_log_blocks and last - first + 1 > self.config.max_log_blocks:
            raise LimitExceeded(
                f"block range too large: {last - first + 1} blocks, limit "
                f"{self.config.max_log_blocks}"
            )
        out: list[LogEntry] = []
        for stored in self.store.iter_blocks(first, last):
            out.extend(self.block_logs(stored, addresses, topics))
            if self.config.max_log_results and len(out) > self.config.max_log_results:
                raise LimitExceeded(
                    f"query returned more than {self.config.max_log_results} results"
                )
        return out

    def block_logs(
        self,
        stored: StoredBlock,
        addresses: list[int] | None,
        topics: list[list[int] | None],
    ) -> list[LogEntry]:
        bloom = stored.header.logs_bloom
        if bloom == EMPTY_BLOOM:
            return []
        if addresses is not None and not any(
            bloom_may_contain(bloom, a.to_bytes(20, "big")) for a in addresses
        ):
            return []
        for alternatives in topics:
            if alternatives is not None and not any(
                bloom_may_contain(bloom, t.to_bytes(32, "big")) for t in alternatives
            ):
                return []
        wanted = set(addresses) if addresses is not None else None
        out: list[LogEntry] = []
        log_index = 0
        for tx_index, receipt in enumerate(stored.receipts):
            for log in receipt.logs:
                if _log_matches(log, wanted, topics):
                    out.append(LogEntry(log, stored, tx_index, log_index))
                log_index += 1
        system_index = len(stored.receipts)
        for log in stored.system_logs:
            if _log_matches(log, wanted, topics):
                out.append(LogEntry(log, stored, system_index, log_index))
            log_index += 1
        return out

    # ------------------------------------------------------ calls/estimates
    def call_source(self, block: StoredBlock | None) -> tuple[Callable[[], WorldState], BlockEnv]:
        """(scratch-state factory, block context) of calls at ``block`` (None: pending).

        With :attr:`isolated_calls`, the states read the committed tries at the
        block's state root (at the head for pending), which no later block
        changes, so the calls may run on another thread than block production.
        """
        if self.isolated_calls:
            base = block if block is not None else self.head()
            root = base.header.state_root
            env = self.pending_env(base) if block is None else self.block_env(block.header)
            store = self.store
            return (lambda: store.state_at(root)), env
        if block is None or block.number == self.head_number:
            live = self.state
            env = self.pending_env() if block is None else self.block_env(block.header)
            return (lambda: overlay(live)), env
        root = block.header.state_root
        store = self.store
        return (lambda: store.state_at(root)), self.block_env(block.header)

    def call_state(
        self, block: StoredBlock | None, overrides: Mapping[int, AccountOverride] | None = None
    ) -> tuple[WorldState, BlockEnv]:
        """A scratch state and block context for a call at ``block`` (None: pending)."""
        make, env = self.call_source(block)
        state = make()
        if overrides:
            _apply_overrides(state, overrides)
        return state, env

    def _gas_cap(self, gas: int) -> int:
        cap = self.config.call_gas_cap
        return min(gas, cap) if cap else gas

    def call(
        self,
        req: CallRequest,
        block: StoredBlock | None = None,
        overrides: Mapping[int, AccountOverride] | None = None,
        env_overrides: Mapping[str, int] | None = None,
    ) -> CallResult:
        """eth_call on a scratch state; nothing persists. Gas is capped at ``call_gas_cap``.

        ``env_overrides`` replace fields of the block context (eth_call's block
        overrides: number, timestamp, gas_limit, base_fee, prev_randao, coinbase).
        """
        state, env = self.call_state(block, overrides)
        if env_overrides:
            env = replace(env, **env_overrides)
        gas = req.gas
        if gas is None:
            gas = max(env.gas_limit, self.config.call_gas_cap)
        return execute_call(
            state, env, req, self._gas_cap(gas), engine=self.config.engine, system=self.system
        )

    def estimate_gas(
        self,
        req: CallRequest,
        block: StoredBlock | None = None,
        overrides: Mapping[int, AccountOverride] | None = None,
    ) -> int:
        """eth_estimateGas: the least gas limit with which the call succeeds."""
        make, env = self.call_source(block)

        def scratch() -> WorldState:
            state = make()
            if overrides:
                _apply_overrides(state, overrides)
            return state

        state = scratch()
        cap = self._gas_cap(req.gas if req.gas is not None else env.gas_limit)
        price = _call_price(req, env)
        if price:
            room = state.balance(req.sender) - req.value
            if room < 0:
                raise InsufficientFunds(
                    f"insufficient funds for transfer: address {_fmt(req.sender)}"
                )
            cap = min(cap, room // price)

        def run(gas: int) -> CallResult:
            return execute_call(
                scratch(), env, req, gas, engine=self.config.engine, system=self.system
            )

        first = run(cap)
        if not first.success:
            raise_call_error(first, cap)
        lo = _intrinsic(req) - 1
        hi = cap
        optimistic = min(hi, (first.gas_spent + 2300) * 64 // 63)
        if optimistic < hi:
            if run(optimistic).success:
                hi = optimistic
            else:
                lo = max(lo, optimistic)
        lo = max(lo, first.gas_used - 1)
        while lo + 1 < hi:
            mid = (lo + hi) // 2
            if run(mid).success:
                hi = mid
            else:
                lo = mid
        return hi

    # ------------------------------------------------------- dev helpers
    def mine_next(self, timestamp: int | None = None) -> StoredBlock:
        """Mine the next block; with a base fee set by setNextBlockBaseFeePerGas, at that fee."""
        if self.next_base_fee_override is None:
            return self.mine(timestamp)
        return self.produce_block(timestamp)

    def mine_interval(self, count: int, interval: int | None) -> list[StoredBlock]:
        """anvil_mine / hardhat_mine: ``count`` blocks, ``interval`` seconds apart if given.

        As anvil: before each block the clock moves ``interval`` seconds forward
        (evm_increaseTime), so the blocks are ``interval`` seconds apart.
        """
        out = []
        for _ in range(count):
            if interval is not None:
                self.increase_time(interval)
            out.append(self.mine_next())
        return out

    def _follow_time(self, stored: StoredBlock, elapsed: int) -> None:
        """Keep evm_increaseTime relative to the head, as anvil does.

        New blocks are stamped ``clock + time_offset + skew``. After a block with an
        exact timestamp (evm_setNextBlockTimestamp, evm_mine with a timestamp) the
        skew becomes that timestamp minus ``clock + time_offset``; after a
        block whose timestamp had to run ahead of the clock (parent + 1, as when
        mining many blocks in one second), the skew catches up with it. So
        ``evm_increaseTime(61)`` then ``evm_mine`` always moves 61 s past the head.
        """
        ts = stored.header.timestamp
        now = self.clock() + self.time_offset
        if self._exact_timestamp is not None and ts == self._exact_timestamp:
            self._exact_timestamp = None
            self._skew = ts - now
        elif now + self._skew < ts:
            self._skew = ts - now

    def _drop_from(self, tx: Transaction, error: TransactionError) -> None:
        """Drop ``tx`` and its sender's later transactions, refused at execution."""
        for dropped in self.pool.remove_sender_from(tx.sender, tx.nonce):
            self._dropped[dropped.hash] = NodeError(f"transaction dropped at execution: {error}")

    def _execute_selected(
        self, builder: BlockBuilder, work: WorldState, base_fee: int, skip: set[int]
    ) -> None:
        """Select the block's transactions from the pool (best first, by gas limit), then
        execute the list with ``exec_workers`` executors (chain.parallel).

        A transaction refused at execution is handled as the one-by-one loop handles it
        (its sender skipped; dropped from the pool unless the block was full) and the
        rest of the list goes on, without that sender's later transactions.
        """
        limit = self.config.gas_limit
        gas = builder.gas_used
        chosen: set[int] = set()
        selected: list[Transaction] = []
        for tx in self.pool.best(work.nonce, base_fee, chosen):
            if gas + tx.gas_limit > limit:
                chosen.add(tx.sender)
                continue
            selected.append(tx)
            gas += tx.gas_limit
        while selected:
            try:
                self.last_parallel.append(
                    builder.add_transactions(
                        selected, workers=self.config.exec_workers, policy=self.parallel_policy
                    )
                )
                return
            except BlockTransactionError as exc:
                if exc.stats is not None:
                    self.last_parallel.append(exc.stats)
                bad = selected[exc.index]
                skip.add(bad.sender)
                if not isinstance(exc.error, (X.BlockGasExhausted, X.BlobGasExhausted)):
                    self._drop_from(bad, exc.error)
                selected = [t for t in selected[exc.index + 1 :] if t.sender != bad.sender]

    def produce_block(
        self,
        timestamp: int | None = None,
        *,
        edits: Callable[[WorldState], None] | None = None,
        transactions: bool = True,
    ) -> StoredBlock:
        """Produce and commit one block, as :meth:`mine`, with the dev helpers' options.

        ``edits`` change the state before the block's transactions (anvil_setBalance
        and the other state edits: they are committed in a block, so the state root
        of every block matches its state); ``transactions`` False leaves the pool
        alone. The base fee is the one set by setNextBlockBaseFeePerGas, if any
        (then cleared), else the EIP-1559 one.
        """
        start = self.ticker() if self.ticker is not None else 0
        parent = self.head()
        ph = parent.header
        if timestamp is not None and timestamp <= ph.timestamp:
            raise InvalidTimestamp(
                f"timestamp {timestamp} is not after the parent block's {ph.timestamp}"
            )
        if timestamp is None and not transactions and self.next_timestamp is not None:
            # a state edit does not use up the timestamp asked for the next block
            ts = ph.timestamp + 1
            if ts >= self.next_timestamp:
                ts = self._timestamp(ph, None, consume=True)
        else:
            ts = self._timestamp(ph, timestamp, consume=True)
        if ts <= ph.timestamp:
            ts = ph.timestamp + 1
        cfg = self.config
        base_fee = self.next_base_fee()
        self.next_base_fee_override = None
        excess_blob = calc_excess_blob_gas(ph.excess_blob_gas, ph.blob_gas_used)
        randao = _randao(ph)
        env = BlockEnv(
            coinbase=cfg.coinbase,
            number=ph.number + 1,
            timestamp=ts,
            gas_limit=cfg.gas_limit,
            prev_randao=int.from_bytes(randao, "big"),
            base_fee=base_fee,
            excess_blob_gas=excess_blob,
            chain_id=cfg.chain_id,
            block_hash=self._block_hash_fn(),
        )
        work = OverlayState(self.state)
        if edits is not None:
            work.begin_transaction()
            edits(work)
            work.finalize_transaction()
        builder = BlockBuilder(
            work, env, system=self.system, engine=cfg.engine, parent_beacon_block_root=ZERO_HASH
        )
        included = builder.transactions
        skip: set[int] = set()
        current: Transaction | None = None
        self.last_parallel = []
        try:
            builder.begin()
            if transactions and cfg.exec_workers > 1:
                self._execute_selected(builder, work, base_fee, skip)
            # (after a parallel pass: whatever it left that still fits, one by one)
            for tx in self.pool.best(work.nonce, base_fee, skip) if transactions else ():
                current = tx
                if builder.gas_used + tx.gas_limit > cfg.gas_limit:
                    skip.add(tx.sender)
                    continue
                try:
                    builder.add(tx)
                except (X.BlockGasExhausted, X.BlobGasExhausted):
                    skip.add(tx.sender)
                    continue
                except TransactionError as exc:
                    skip.add(tx.sender)
                    self._drop_from(tx, exc)
                    continue
            current = None
            finish_start = self.ticker() if self.ticker is not None else 0
            result = builder.finish()
            # the end-of-block system steps (liquidation pass) for the metrics
            self.last_end_step_ns = (self.ticker() - finish_start) if self.ticker is not None else 0
            receipts = result.receipts

            def make_header(root: bytes) -> Header:
                return Header(
                    parent_hash=parent.hash,
                    coinbase=cfg.coinbase,
                    state_root=root,
                    transactions_root=transactions_root(included),
                    receipts_root=receipts_root(receipts),
                    logs_bloom=result.logs_bloom,
                    number=ph.number + 1,
                    gas_limit=cfg.gas_limit,
                    gas_used=result.gas_used,
                    timestamp=ts,
                    extra_data=cfg.extra_data,
                    prev_randao=randao,
                    base_fee_per_gas=base_fee,
                    excess_blob_gas=excess_blob,
                    parent_beacon_block_root=ZERO_HASH,
                )

            if self.fault_injector is not None:
                self.fault_injector("commit")
            stored = self.store.commit_block(
                work, make_header, included, receipts, system_logs=result.system_logs
            )
        except Exception as exc:
            if current is not None:
                self.pool.remove(current)
            if self.store.persistent and self.store.state_root != self.head().header.state_root:
                self._recover()
            raise InternalError(f"block production failed: {exc!r}") from exc
        work.commit_to_base(committed=True)
        for tx in included:
            self.pool.remove(tx)
        while len(self._dropped) > 1024:
            del self._dropped[next(iter(self._dropped))]
        self.pool.prune(self.state.nonce)
        elapsed = (self.ticker() - start) if self.ticker is not None else 0
        for listener in list(self.listeners):
            listener(stored, elapsed)
        return stored

    def edit_state(self, edits: Callable[[WorldState], None]) -> StoredBlock:
        """Apply a state edit (anvil_setBalance, ...) in a new block of its own, committed.

        The block holds no transactions; the edit is its first state change, so
        the state root stays that of the chain's state, and the edit is durable.
        """
        return self.produce_block(edits=edits, transactions=False)

    def set_balance(self, address: int, balance: int) -> StoredBlock:
        return self.edit_state(lambda s: s.set_balance(address, balance))

    def set_code(self, address: int, code: bytes) -> StoredBlock:
        return self.edit_state(lambda s: s.set_code(address, code))

    def set_nonce(self, address: int, nonce: int) -> StoredBlock:
        if nonce >= NONCE_LIMIT:
            raise NonceMax("nonce has max value")
        return self.edit_state(lambda s: _set_nonce(s, address, nonce))

    def set_storage(self, address: int, slot: int, value: int) -> StoredBlock:
        return self.edit_state(lambda s: s.sstore(address, slot, value))

    def load_accounts(self, accounts: Mapping[int, AccountOverride]) -> StoredBlock:
        """anvil_loadState: set balance, nonce, code and storage of many accounts in one block."""

        def apply(state: WorldState) -> None:
            for address in sorted(accounts):
                o = accounts[address]
                if o.balance is not None:
                    state.set_balance(address, o.balance)
                if o.nonce is not None:
                    _set_nonce(state, address, o.nonce)
                if o.code is not None:
                    state.set_code(address, o.code)
                for slot, value in sorted((o.state or {}).items()):
                    state.sstore(address, slot, value)

        return self.edit_state(apply)

    def dump_accounts(self) -> dict[int, Account]:
        """Every account of the head state (anvil_dumpState)."""
        return {address: acct for address, acct in sorted(self.state.accounts.items())}

    def set_gas_limit(self, gas_limit: int) -> None:
        """evm_setBlockGasLimit: the gas limit of the blocks from the next one on."""
        if gas_limit < 5000:
            raise NodeError("gas limit must be at least 5000")
        self.config = replace(self.config, gas_limit=gas_limit)

    def set_next_base_fee(self, base_fee: int) -> None:
        """anvil_setNextBlockBaseFeePerGas: the base fee of the next block only."""
        self.next_base_fee_override = base_fee

    def access_list(
        self, req: CallRequest, block: StoredBlock | None = None
    ) -> tuple[list[tuple[int, list[int]]], int, str | None]:
        """eth_createAccessList: (access list, gas used with it, error) as geth computes them.

        Runs the call with a tracer that records the accounts and slots it touches,
        then once more with that access list for the gas. The sender, the
        recipient (or created address) and the precompiles are left out, as geth does.
        """
        from strikevm.rpc.tracers import PrestateTracer

        state, env = self.call_state(block)
        gas = req.gas if req.gas is not None else max(env.gas_limit, self.config.call_gas_cap)
        gas = self._gas_cap(gas)
        tracer = PrestateTracer()
        execute_call(state, env, req, gas, engine=tracer.run, system=self.system)  # type: ignore[arg-type]
        target = (
            req.to if req.to is not None else create_address(req.sender, state.nonce(req.sender))
        )
        excluded = {req.sender, target, *range(1, 11)}
        accessed = [
            (addr, sorted(slots)) for addr, slots in tracer.accounts.items() if addr not in excluded
        ]
        with_list = replace(req, access_list=tuple((a, tuple(k)) for a, k in accessed))
        state, env = self.call_state(block)
        result = execute_call(
            state, env, with_list, gas, engine=self.config.engine, system=self.system
        )
        error = None
        if not result.success:
            error = (
                revert_message(result.output)
                if isinstance(result.error, Revert)
                else halt_message(result.error)
            )
        return accessed, result.gas_used, error

    def pending_transactions(self, gas_limit: int) -> list[Transaction]:
        """The pool's executable transactions in block order, as far as their gas limits fit."""
        out: list[Transaction] = []
        used = 0
        nonces: dict[int, int] = {}

        def nonce(sender: int) -> int:
            return nonces.get(sender, self.state.nonce(sender))

        skip: set[int] = set()
        for tx in self.pool.best(nonce, self.next_base_fee(), skip):
            if used + tx.gas_limit > gas_limit:
                skip.add(tx.sender)
                continue
            used += tx.gas_limit
            nonces[tx.sender] = tx.nonce + 1
            out.append(tx)
        return out

    # ------------------------------------------------------- impersonation
    def impersonate(self, address: int) -> None:
        self.impersonated.add(address)

    def stop_impersonating(self, address: int) -> None:
        self.impersonated.discard(address)

    def _remember_stand_in(self, signer: int, sender: int) -> None:
        if self._stand_ins.get(signer) == sender:
            return
        self._stand_ins[signer] = sender
        tables = self.store.tables
        with self.store._batch():
            tables.put_meta(_STAND_IN + signer.to_bytes(20, "big"), sender.to_bytes(20, "big"))

    def _restore_senders(self, block: Any) -> Any:
        """A block read back from the store: stand-in signed transactions get their sender."""
        txs = block.transactions
        if not txs:
            return block
        fixed = []
        changed = False
        for tx in txs:
            sender = self._stand_ins.get(tx.sender)
            if sender is None:
                raw = self.store.tables.get_meta(_STAND_IN + tx.sender.to_bytes(20, "big"))
                if raw is not None:
                    sender = int.from_bytes(raw, "big")
                    self._stand_ins[tx.sender] = sender
            if sender is not None:
                tx = replace(tx, sender=sender)
                changed = True
            fixed.append(tx)
        return replace(block, transactions=tuple(fixed)) if changed else block

    # ------------------------------------------------------------ signing
    def signing_key(self, address: int) -> bytes:
        key = self.keys.get(address)
        if key is None:
            raise UnknownAccount("unknown account")
        return key

    def sign_message(self, address: int, message: bytes) -> bytes:
        """personal_sign / eth_sign: the EIP-191 (version 0x45) signature, 65 bytes."""
        from eth_account import Account as EthAccount
        from eth_account.messages import encode_defunct

        signed = EthAccount.sign_message(encode_defunct(message), self.signing_key(address))
        return bytes(signed.signature)

    def sign_typed_data(self, address: int, typed: Mapping[str, Any]) -> bytes:
        """eth_signTypedData_v4: the EIP-712 signature, 65 bytes."""
        from eth_account import Account as EthAccount
        from eth_account.messages import encode_typed_data

        signable = encode_typed_data(full_message=dict(typed))
        signed = EthAccount.sign_message(signable, self.signing_key(address))
        return bytes(signed.signature)

    def sign_transaction_request(self, req: CallRequest) -> bytes:
        """eth_signTransaction: the raw signed transaction, not sent."""
        self.signing_key(req.sender)
        return encode_transaction(self.build_transaction(req))


# --------------------------------------------------------------- helpers


def _default_system() -> Mapping[int, NativeContract] | None:
    try:
        from strikevm.finance.system import default_registry
    except ImportError:  # pragma: no cover - finance is part of the package
        return None
    return default_registry()


def _randao(parent: Header) -> bytes:
    """Deterministic prev_randao of the child of ``parent``."""
    return keccak256(b"strikevm.randao" + parent.hash)


def _log_matches(log: Log, addresses: set[int] | None, topics: list[list[int] | None]) -> bool:
    if addresses is not None and log.address not in addresses:
        return False
    if len(topics) > len(log.topics):
        return False
    for position, alternatives in enumerate(topics):
        if alternatives is not None and log.topics[position] not in alternatives:
            return False
    return True


def _set_nonce(state: WorldState, address: int, nonce: int) -> None:
    """Set an account's nonce through the state's journal (so the commit sees it)."""
    acct = state._ensure(address)
    state.journal.append((_NONCE_ENTRY, address, acct.nonce))
    acct.nonce = nonce


def _apply_overrides(state: WorldState, overrides: Mapping[int, AccountOverride]) -> None:
    for address in sorted(overrides):
        o = overrides[address]
        acct = state.accounts.get(address)
        if acct is None:
            acct = Account()
            state.accounts[address] = acct
        if o.balance is not None:
            acct.balance = o.balance
        if o.nonce is not None:
            acct.nonce = o.nonce
        if o.code is not None:
            acct.set_code(o.code)
        if o.state is not None:
            acct.storage = dict(o.state)
        if o.state_diff is not None:
            for slot in sorted(o.state_diff):
                acct.storage[slot] = o.state_diff[slot]


def _call_price(req: CallRequest, env: BlockEnv) -> int:
    if req.gas_price is not None:
        return req.gas_price
    if req.max_fee_per_gas is not None:
        tip = req.max_priority_fee_per_gas or 0
        return min(req.max_fee_per_gas, env.base_fee + tip)
    return 0


def _call_tx(req: CallRequest, gas: int, nonce: int) -> Transaction:
    return Transaction(
        tx_type=2,
        chain_id=None,
        nonce=nonce,
        gas_price=None,
        max_priority_fee_per_gas=0,
        max_fee_per_gas=0,
        gas_limit=gas,
        to=req.to,
        value=req.value,
        data=req.data,
        access_list=req.access_list,
        max_fee_per_blob_gas=None,
        blob_versioned_hashes=(),
        v=0,
        r=0,
        s=0,
        sender=req.sender,
        hash=b"",
    )


def _intrinsic(req: CallRequest) -> int:
    return intrinsic_gas(_call_tx(req, 0, 0))


def raise_call_error(result: CallResult, cap: int | None = None) -> None:
    """Raise the error of a failed call: revert (with data), allowance (estimates) or halt."""
    error = result.error
    if isinstance(error, Revert):
        raise ExecutionReverted(revert_message(result.output), result.output)
    if isinstance(error, NodeError):
        raise error
    if cap is not None and (error is None or isinstance(error, OutOfGas)):
        raise GasAllowanceExceeded(f"gas required exceeds allowance ({cap})")
    raise ExecutionFailed(halt_message(error))


_HALT_MESSAGES: tuple[tuple[type[Exception], str], ...] = (
    (OutOfGas, "out of gas"),
    (StackUnderflow, "stack underflow"),
    (StackOverflow, "stack limit reached 1024"),
    (InvalidJump, "invalid jump destination"),
    (InvalidOpcode, "invalid opcode"),
    (WriteInStaticContext, "write protection"),
    (ReturnDataOutOfBounds, "return data out of bounds"),
    (CodeSizeExceeded, "max code size exceeded"),
    (InvalidContractPrefix, "invalid code: must not begin with 0xef"),
    (PrecompileError, "precompiled contract failed"),
)


def halt_message(error: Exception | None) -> str:
    """geth's wording for an exceptional halt."""
    if error is None:
        return "contract creation collision"
    for cls, text in _HALT_MESSAGES:
        if isinstance(error, cls):
            detail = str(error)
            return f"{text}: {detail}" if detail and cls is InvalidOpcode else text
    return str(error) or type(error).__name__


def revert_message(data: bytes) -> str:
    """geth's message for revert data: the Error(string) reason when there is one."""
    if data[:4] == bytes.fromhex("08c379a0") and len(data) >= 68:
        try:
            offset = int.from_bytes(data[4:36], "big")
            length = int.from_bytes(data[4 + offset : 36 + offset], "big")
            reason = data[36 + offset : 36 + offset + length]
            if len(reason) == length:
                return "execution reverted: " + reason.decode("utf-8", errors="replace")
        except (ValueError, OverflowError):
            pass
    return "execution reverted"


def execute_call(
    state: WorldState,
    env: BlockEnv,
    req: CallRequest,
    gas: int,
    *,
    engine: str = "fast",
    system: Mapping[int, NativeContract] | None = None,
) -> CallResult:
    """Run ``req`` as a transaction on a scratch ``state`` without nonce or EOA checks.

    As geth's eth_call: without fee fields the base fee is taken as zero and
    no gas is bought; with them the sender pays as in a transaction.
    """
    price = _call_price(req, env)
    if req.gas_price is None and req.max_fee_per_gas is None:
        env = replace(env, base_fee=0)
    elif price < env.base_fee:
        raise FeeCapTooLow(
            f"max fee per gas less than block base fee: address {_fmt(req.sender)}, "
            f"maxFeePerGas: {price}, baseFee: {env.base_fee}"
        )
    sender = req.sender
    nonce = state.nonce(sender)
    tx = _call_tx(req, gas, nonce)
    intrinsic = intrinsic_gas(tx)
    if intrinsic > gas:
        raise IntrinsicGasTooLow(f"intrinsic gas too low: have {gas}, want {intrinsic}")
    if req.to is None and len(req.data) > G.MAX_INITCODE_SIZE:
        raise InitcodeTooLarge(
            f"max initcode size exceeded: code size {len(req.data)} limit {G.MAX_INITCODE_SIZE}"
        )
    need = gas * price + req.value
    have = state.balance(sender)
    if have < need:
        raise InsufficientFunds(
            f"insufficient funds for gas * price + value: address {_fmt(sender)} "
            f"have {have} want {need}"
        )
    result = X.apply_transaction(state, env, tx, engine=engine, system=system, price=price)
    return CallResult(
        result.success,
        result.output,
        result.gas_used,
        result.gas_spent,
        result.error,
        result.logs,
    )
