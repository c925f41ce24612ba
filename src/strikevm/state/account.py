"""The account record held in the world state."""

from __future__ import annotations

from strikevm.crypto import EMPTY_KECCAK, keccak256


class Account:
    """Nonce, balance, code and storage of one address.

    Storage maps slot (int) to value (int); a zero value means the slot is empty.
    """

    __slots__ = ("nonce", "balance", "code", "_code_hash", "storage")

    def __init__(
        self,
        nonce: int = 0,
        balance: int = 0,
        code: bytes = b"",
        storage: dict[int, int] | None = None,
    ) -> None:
        self.nonce = nonce
        self.balance = balance
        self.code = code
        self._code_hash: bytes | None = None if code else EMPTY_KECCAK
        self.storage: dict[int, int] = storage if storage is not None else {}

    @property
    def code_hash(self) -> bytes:
        h = self._code_hash
        if h is None:
            h = self._code_hash = keccak256(self.code)
        return h

    def set_code(self, code: bytes) -> None:
        self.code = code
        self._code_hash = None if code else EMPTY_KECCAK

    def is_empty(self) -> bool:
        """EIP-161: no nonce, no balance, no code."""
        return self.nonce == 0 and self.balance == 0 and not self.code

    def has_storage(self) -> bool:
        return any(self.storage.values())

    def copy(self) -> Account:
        acct = Account(self.nonce, self.balance, self.code, dict(self.storage))
        acct._code_hash = self._code_hash
        return acct
