"""Applying one transaction to the world state (Cancun rules).

Validation against state and block, buying gas, the top-level call or
creation, refunds, fee payment to the coinbase, and end-of-transaction
account deletion. A rejected transaction raises InvalidTransaction before
anything changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from strikevm.chain.transaction import (
    InvalidChainId,
    PriorityFeeTooHigh,
    Transaction,
    TransactionError,
    effective_gas_price,
    intrinsic_gas,
    validate_transaction,
)
from strikevm.state.world import Log, WorldState
from strikevm.vm import gas as G
from strikevm.vm.env import GAS_PER_BLOB, BlockEnv, Message, TxEnv
from strikevm.vm.evm import EVM
from strikevm.vm.instructions.system import create_address
from strikevm.vm.spec import CANCUN, ForkSpec
from strikevm.vm.system import NativeContract

__all__ = [
    "BlobGasExhausted",
    "BlockGasExhausted",
    "InvalidTransaction",
    "TxResult",
    "apply_transaction",
    "effective_gas_price",
    "validate",
]


class InvalidTransaction(TransactionError):
    """The transaction cannot be included in this state and block; nothing changed.

    Checks that need neither state nor block raise the other ``TransactionError``
    subclasses of ``chain.transaction``; catch ``TransactionError`` for any rejection.
    """


class GasLimitExceedsBlock(InvalidTransaction):
    pass


class NonceMismatch(InvalidTransaction):
    pass


class SenderNotEOA(InvalidTransaction):
    pass


class BlockGasExhausted(InvalidTransaction):
    """The transaction's gas limit is above the gas the block has left.

    Unlike :class:`GasLimitExceedsBlock` the transaction may fit in another block.
    """


class BlobGasExhausted(InvalidTransaction):
    """The transaction's blob gas is above the blob gas the block has left."""


class FeeCapBelowBaseFee(InvalidTransaction):
    pass


class InsufficientFunds(InvalidTransaction):
    pass


@dataclass(slots=True)
class TxResult:
    success: bool
    gas_used: int
    output: bytes
    logs: list[Log]
    contract_address: int | None
    effective_gas_price: int
    blob_gas_used: int
    error: Exception | None = None  # why the top-level frame failed (None on success)
    gas_spent: int = 0  # gas used before the refund


def validate(state: WorldState, block: BlockEnv, tx: Transaction) -> int:
    """Check the transaction against state and block; return its intrinsic gas.

    The checks run in the order of the execution specification (Cancun
    ``check_transaction``, then ``validate_transaction``), so that a
    transaction breaking several rules is refused for the same one as the
    reference clients: chain, block gas, fee caps, blob fee, nonce, balance,
    sender code, and last the checks that need neither state nor block
    (intrinsic gas, nonce limit, initcode size, blob hashes).
    """
    if tx.chain_id is not None and tx.chain_id != block.chain_id:
        raise InvalidChainId(f"signed for chain {tx.chain_id}, this chain is {block.chain_id}")
    if tx.gas_limit > block.gas_limit:
        raise GasLimitExceedsBlock(f"gas limit {tx.gas_limit} above block limit {block.gas_limit}")
    if tx.max_priority_fee_per_gas is not None:
        assert tx.max_fee_per_gas is not None
        if tx.max_priority_fee_per_gas > tx.max_fee_per_gas:
            raise PriorityFeeTooHigh(
                f"max_priority_fee_per_gas {tx.max_priority_fee_per_gas} is above "
                f"max_fee_per_gas {tx.max_fee_per_gas}"
            )
    if tx.fee_cap < block.base_fee:
        raise FeeCapBelowBaseFee(f"fee cap {tx.fee_cap} below base fee {block.base_fee}")
    max_cost = tx.gas_limit * tx.fee_cap + tx.value
    if tx.tx_type == 3:
        assert tx.max_fee_per_blob_gas is not None
        if tx.max_fee_per_blob_gas < block.blob_base_fee:
            raise FeeCapBelowBaseFee("max fee per blob gas below the blob base fee")
        max_cost += len(tx.blob_versioned_hashes) * GAS_PER_BLOB * tx.max_fee_per_blob_gas
    sender = tx.sender
    account_nonce = state.nonce(sender)
    if tx.nonce != account_nonce:
        raise NonceMismatch(f"nonce {tx.nonce}, account nonce {account_nonce}")
    if state.balance(sender) < max_cost:
        raise InsufficientFunds(f"balance {state.balance(sender)} below {max_cost} needed")
    if state.code(sender):
        raise SenderNotEOA("sender has code (EIP-3607)")
    validate_transaction(tx, chain_id=block.chain_id)
    return intrinsic_gas(tx)


def apply_transaction(
    state: WorldState,
    block: BlockEnv,
    tx: Transaction,
    *,
    engine: str = "fast",
    system: Mapping[int, NativeContract] | None = None,
    spec: ForkSpec = CANCUN,
    price: int | None = None,
) -> TxResult:
    """Apply ``tx``: validate it, buy gas, run it, refund, pay the fee, clean up.

    With ``price`` given the transaction is a *call* (eth_call, eth_estimateGas):
    the state and block checks are skipped (the caller made its own), the sender
    pays ``price`` per gas (often 0) and everything else is the same code path.
    """
    if price is None:
        intrinsic = validate(state, block, tx)
        price = effective_gas_price(tx, block.base_fee)
    else:
        intrinsic = intrinsic_gas(tx)
    sender = tx.sender
    blob_gas = len(tx.blob_versioned_hashes) * GAS_PER_BLOB
    state.begin_transaction()
    state.sub_balance(sender, tx.gas_limit * price + blob_gas * block.blob_base_fee)
    nonce = state.nonce(sender)
    state.increment_nonce(sender)

    warm = [sender, block.coinbase, *spec.precompiles]
    if system:
        warm.extend(system)
    slots = []
    for addr, keys in tx.access_list:
        warm.append(addr)
        slots.extend((addr, k) for k in keys)
    if tx.to is not None:
        warm.append(tx.to)
    evm = EVM(
        state,
        block,
        TxEnv(origin=sender, gas_price=price, blob_hashes=tx.blob_versioned_hashes),
        engine=engine,
        system=system,
        spec=spec,
    )
    gas = tx.gas_limit - intrinsic
    error: Exception | None = None
    created: int | None = None
    if tx.to is None:
        target = create_address(sender, nonce)
        warm.append(target)
        state.prewarm(warm, slots)
        msg = Message(sender, target, tx.value, b"", gas, tx.data, target, is_create=True)
        if state.has_code_or_nonce_or_storage(target):
            success, gas_left, output = False, 0, b""
        else:
            result = evm.process_create(msg)
            success, gas_left, output = result.success, result.gas_left, result.output
            error = result.error
            created = target if result.success else None
    else:
        state.prewarm(warm, slots)
        msg = Message(sender, tx.to, tx.value, tx.data, gas, state.code(tx.to), tx.to)
        result = evm.process_message(msg)
        success, gas_left, output = result.success, result.gas_left, result.output
        error = result.error
        state.touch(tx.to)

    used = spent = tx.gas_limit - gas_left
    refund = min(used // G.MAX_REFUND_QUOTIENT, state.refund) if success else 0
    used -= refund
    state.add_balance(sender, (tx.gas_limit - used) * price)
    state.add_balance(block.coinbase, used * (price - block.base_fee))
    state.touch(block.coinbase)
    logs = list(state.logs) if success else []
    state.finalize_transaction()
    return TxResult(success, used, output, logs, created, price, blob_gas, error, spent)
