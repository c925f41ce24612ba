"""Transaction pool of the dev node: per-sender nonce order, fee replacement and limits.

The pool keeps, for each sender, its transactions by nonce. A transaction is
*executable* when the nonces from the sender's account nonce up to it are all
present. ``max_executable_per_sender`` bounds a sender's executable
transactions (the dev node sets it to the pool's size, so that, as in geth,
only the pool's total bounds them); ``max_per_sender`` bounds its gapped
(queued) ones. Block production takes executable transactions highest tip first
(ties in arrival order), always in nonce order per sender. Iteration never
depends on hash order: senders and transactions are visited in sorted or
arrival order.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from strikevm.chain.transaction import Transaction

__all__ = [
    "AlreadyKnown",
    "Mempool",
    "PoolConfig",
    "PoolError",
    "PoolFull",
    "ReplacementUnderpriced",
]


class PoolError(ValueError):
    """The pool refuses a transaction; the message follows geth's wording."""


class AlreadyKnown(PoolError):
    """The very same transaction is already in the pool."""


class ReplacementUnderpriced(PoolError):
    """A transaction with the same sender and nonce pays too little more to replace it."""


class PoolFull(PoolError):
    """The pool, or the sender's share of it, is at its limit."""


@dataclass(frozen=True, slots=True)
class PoolConfig:
    """Limits: total transactions, transactions per sender, nonce gap, replacement bump."""

    max_transactions: int = 4096
    max_per_sender: int = 64
    # Transactions continuing a sender's run of consecutive nonces (executable ones):
    # 0 means max_per_sender; the dev node raises it (geth bounds them by the pool only).
    max_executable_per_sender: int = 0
    max_nonce_gap: int = 64
    price_bump_percent: int = 10


def tip(tx: Transaction, base_fee: int) -> int:
    """What the block producer earns per gas from ``tx`` at ``base_fee`` (0 if below it)."""
    if tx.fee_cap < base_fee:
        return 0
    return min(tx.priority_fee_cap, tx.fee_cap - base_fee)


class Mempool:
    """Pending transactions by sender and nonce."""

    def __init__(self, config: PoolConfig | None = None) -> None:
        self.config = config if config is not None else PoolConfig()
        self._by_hash: dict[bytes, Transaction] = {}
        self._by_sender: dict[int, dict[int, Transaction]] = {}
        self._arrival: dict[bytes, int] = {}
        self._seq = 0

    def __len__(self) -> int:
        return len(self._by_hash)

    def __contains__(self, tx_hash: object) -> bool:
        return tx_hash in self._by_hash

    def get(self, tx_hash: bytes) -> Transaction | None:
        return self._by_hash.get(tx_hash)

    def transactions(self) -> list[Transaction]:
        """Every pooled transaction, in arrival order."""
        return sorted(self._by_hash.values(), key=lambda tx: self._arrival[tx.hash])

    def sender_transactions(self, sender: int) -> list[Transaction]:
        queue = self._by_sender.get(sender, {})
        return [queue[n] for n in sorted(queue)]

    def next_nonce(self, sender: int, account_nonce: int) -> int:
        """The nonce after the sender's run of consecutive pooled nonces (the pending nonce)."""
        queue = self._by_sender.get(sender)
        nonce = account_nonce
        if queue:
            while nonce in queue:
                nonce += 1
        return nonce

    def add(self, tx: Transaction, account_nonce: int) -> Transaction | None:
        """Add ``tx``; return the transaction it replaced, if any.

        The caller has checked ``tx`` against the state (nonce not too low,
        funds, fees); the pool checks duplicates, replacement and limits.
        """
        if tx.hash in self._by_hash:
            raise AlreadyKnown("already known")
        config = self.config
        queue = self._by_sender.get(tx.sender, {})
        old = queue.get(tx.nonce)
        if old is not None:
            bump = 100 + config.price_bump_percent
            if (
                tx.fee_cap * 100 < old.fee_cap * bump
                or tx.priority_fee_cap * 100 < old.priority_fee_cap * bump
            ):
                raise ReplacementUnderpriced("replacement transaction underpriced")
        else:
            if len(self._by_hash) >= config.max_transactions:
                raise PoolFull("txpool is full")
            # geth's rule: transactions that continue the sender's run of consecutive
            # nonces are executable and only count against the pool's total; the
            # per-sender limit bounds the gapped (queued) ones.
            contiguous = self.next_nonce(tx.sender, account_nonce)
            if tx.nonce > contiguous:
                gapped = sum(1 for n in queue if n > contiguous)
                if gapped >= config.max_per_sender:
                    raise PoolFull(
                        f"txpool is full: sender already has {gapped} queued transactions"
                    )
            else:
                limit = config.max_executable_per_sender or config.max_per_sender
                executable = contiguous - account_nonce
                if executable >= limit:
                    raise PoolFull(
                        f"txpool is full: sender already has {executable} pending transactions"
                    )
        if old is not None:
            self._drop(old)
        queue = self._by_sender.setdefault(tx.sender, {})
        queue[tx.nonce] = tx
        self._by_hash[tx.hash] = tx
        self._arrival[tx.hash] = self._seq
        self._seq += 1
        return old

    def _drop(self, tx: Transaction) -> None:
        self._by_hash.pop(tx.hash, None)
        self._arrival.pop(tx.hash, None)
        queue = self._by_sender.get(tx.sender)
        if queue is not None and queue.get(tx.nonce) is tx:
            del queue[tx.nonce]
            if not queue:
                del self._by_sender[tx.sender]

    def remove(self, tx: Transaction) -> None:
        """Drop ``tx`` (and nothing else)."""
        self._drop(tx)

    def remove_sender_from(self, sender: int, nonce: int) -> list[Transaction]:
        """Drop the sender's transactions with this nonce or higher; return them."""
        queue = self._by_sender.get(sender, {})
        dropped = [queue[n] for n in sorted(queue) if n >= nonce]
        for tx in dropped:
            self._drop(tx)
        return dropped

    def prune(self, account_nonce: Callable[[int], int]) -> list[Transaction]:
        """Drop transactions whose nonce is below their sender's account nonce."""
        stale: list[Transaction] = []
        for sender in sorted(self._by_sender):
            current = account_nonce(sender)
            queue = self._by_sender[sender]
            stale.extend(queue[n] for n in sorted(queue) if n < current)
        for tx in stale:
            self._drop(tx)
        return stale

    def clear(self) -> None:
        self._by_hash.clear()
        self._by_sender.clear()
        self._arrival.clear()

    def best(
        self, account_nonce: Callable[[int], int], base_fee: int, skip: set[int]
    ) -> Iterator[Transaction]:
        """Executable transactions, best tip first, in nonce order per sender.

        Senders added to ``skip`` while iterating get no further transactions.
        Transactions whose fee cap is below ``base_fee`` wait.
        """
        heap: list[tuple[int, int, int, int]] = []
        for sender in sorted(self._by_sender):
            nonce = account_nonce(sender)
            tx = self._by_sender[sender].get(nonce)
            if tx is not None and tx.fee_cap >= base_fee:
                heap.append((-tip(tx, base_fee), self._arrival[tx.hash], sender, nonce))
        heapq.heapify(heap)
        while heap:
            _, _, sender, nonce = heapq.heappop(heap)
            if sender in skip:
                continue
            queue = self._by_sender.get(sender, {})
            tx = queue.get(nonce)
            if tx is None:
                continue
            yield tx
            if sender in skip:
                continue
            following = queue.get(nonce + 1)
            if following is not None and following.fee_cap >= base_fee:
                heapq.heappush(
                    heap,
                    (-tip(following, base_fee), self._arrival[following.hash], sender, nonce + 1),
                )
