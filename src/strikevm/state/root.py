"""State root and logs hash of a world state (Merkle-Patricia commitments)."""

from __future__ import annotations

from collections.abc import Iterable

from strikevm.crypto import keccak256
from strikevm.primitives import rlp
from strikevm.state.account import Account
from strikevm.state.trie import secure_trie_root
from strikevm.state.world import Log, WorldState


def storage_root(storage: dict[int, int]) -> bytes:
    return secure_trie_root(
        {slot.to_bytes(32, "big"): rlp.encode(value) for slot, value in storage.items() if value}
    )


def account_rlp(acct: Account) -> bytes:
    return rlp.encode([acct.nonce, acct.balance, storage_root(acct.storage), acct.code_hash])


def state_root(state: WorldState) -> bytes:
    return secure_trie_root(
        {addr.to_bytes(20, "big"): account_rlp(acct) for addr, acct in state.accounts.items()}
    )


def logs_hash(logs: Iterable[Log]) -> bytes:
    return keccak256(
        rlp.encode(
            [
                [log.address.to_bytes(20, "big"), [t.to_bytes(32, "big") for t in log.topics],
                 log.data]
                for log in logs
            ]
        )
    )
