"""NativeVault: a small stateful native contract that exercises the whole host API.

Storage layout (its own account):
    slot 0                        number of end-of-block steps run
    slot 1                        last block number seen by the end-of-block step
    slot keccak(owner . token)    deposited balance of ``owner`` in ``token``

Entry points (ABI):
    deposit(address token, uint256 amount)  pulls tokens with transferFrom, credits
                                            the caller, emits Deposit(owner, token, amount)
    balanceOf(address owner, address token) -> uint256
    boom()                                  raises a Python exception (a broken contract)
    spin()                                  charges gas forever (out of gas)
"""

from __future__ import annotations

from strikevm.crypto import keccak256
from strikevm.vm.host import Host

DEPOSIT_SIG = "deposit(address,uint256)"
BALANCE_SIG = "balanceOf(address,address)"
BOOM_SIG = "boom()"
SPIN_SIG = "spin()"
DEPOSIT_EVENT = int.from_bytes(keccak256(b"Deposit(address,address,uint256)"), "big")
BLOCK_EVENT = int.from_bytes(keccak256(b"BlockEnded(uint256,uint256)"), "big")
TRANSFER_FROM = keccak256(b"transferFrom(address,address,uint256)")[:4]


def selector(signature: str) -> bytes:
    return keccak256(signature.encode())[:4]


def error(signature: str) -> bytes:
    return selector(signature)


def balance_slot(owner: int, token: int) -> int:
    return int.from_bytes(keccak256(owner.to_bytes(32, "big") + token.to_bytes(32, "big")), "big")


def word(data: bytes, index: int) -> int:
    return int.from_bytes(data[4 + 32 * index : 36 + 32 * index], "big")


class NativeVault:
    name = "NativeVault"
    base_gas = 200

    def __init__(self, *, broken_end_block: bool = False) -> None:
        self.broken_end_block = broken_end_block

    def __call__(self, host: Host) -> bytes:
        host.charge(self.base_gas)
        data = host.data
        sel = data[:4]
        if sel == selector(DEPOSIT_SIG):
            if len(data) != 68:
                host.revert(error("MalformedCalldata()"))
            token = word(data, 0) & ((1 << 160) - 1)
            amount = word(data, 1)
            if amount == 0:
                host.revert(error("ZeroAmount()"))
            slot = balance_slot(host.caller, token)
            before = host.sload(slot)
            # effects first (checks-effects-interactions), then the pull
            host.sstore(slot, before + amount)
            pull = TRANSFER_FROM + b"".join(
                v.to_bytes(32, "big") for v in (host.caller, host.address, amount)
            )
            outcome = host.call(token, pull)
            if not outcome.success or (outcome.output and word(b"\0" * 4 + outcome.output, 0) != 1):
                host.revert(error("TransferFailed()"))
            host.emit(
                [DEPOSIT_EVENT, host.caller, token], amount.to_bytes(32, "big")
            )
            return (before + amount).to_bytes(32, "big")
        if sel == selector(BALANCE_SIG):
            return host.sload(balance_slot(word(data, 0), word(data, 1))).to_bytes(32, "big")
        if sel == selector(BOOM_SIG):
            raise RuntimeError("deliberately broken native contract")
        if sel == selector(SPIN_SIG):
            while True:
                host.charge(1000)
        host.revert(error("UnknownSelector()"))

    def end_block(self, host: Host) -> bytes:
        if self.broken_end_block:
            raise RuntimeError("deliberately broken end-of-block step")
        count = host.sload(0) + 1
        host.sstore(0, count)
        host.sstore(1, host.block.number)
        host.emit([BLOCK_EVENT], host.block.number.to_bytes(32, "big") + count.to_bytes(32, "big"))
        return b""
