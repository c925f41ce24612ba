"""Environment and block information instructions, calldata/code/returndata access."""

from __future__ import annotations

from strikevm.vm import gas as G
from strikevm.vm.errors import ReturnDataOutOfBounds
from strikevm.vm.instructions.memory import charge, copy_in

A = (1 << 160) - 1


def access_cost(f, addr: int) -> int:  # noqa: ANN001
    return G.WARM_ACCESS if f.state.warm_address(addr) else G.COLD_ACCOUNT_ACCESS


def balance(f, addr: int) -> int:  # noqa: ANN001
    addr &= A
    charge(f, access_cost(f, addr))
    return f.state.balance(addr)


def selfbalance(f) -> int:  # noqa: ANN001
    return f.state.balance(f.address)


def calldataload(f, offset: int) -> int:  # noqa: ANN001
    data = f.data
    if offset >= len(data):
        return 0
    chunk = data[offset : offset + 32]
    if len(chunk) < 32:
        chunk = chunk + bytes(32 - len(chunk))
    return int.from_bytes(chunk, "big")


def calldatacopy(f, mem_offset: int, offset: int, size: int) -> None:  # noqa: ANN001
    copy_in(f, mem_offset, f.data, offset, size)


def codecopy(f, mem_offset: int, offset: int, size: int) -> None:  # noqa: ANN001
    copy_in(f, mem_offset, f.code, offset, size)


def extcodesize(f, addr: int) -> int:  # noqa: ANN001
    addr &= A
    charge(f, access_cost(f, addr))
    return len(f.state.code(addr))


def extcodecopy(f, addr: int, mem_offset: int, offset: int, size: int) -> None:  # noqa: ANN001
    addr &= A
    charge(f, access_cost(f, addr))
    copy_in(f, mem_offset, f.state.code(addr), offset, size)


def extcodehash(f, addr: int) -> int:  # noqa: ANN001
    addr &= A
    charge(f, access_cost(f, addr))
    state = f.state
    if not state.is_alive(addr):
        return 0
    return int.from_bytes(state.code_hash(addr), "big")


def returndatacopy(f, mem_offset: int, offset: int, size: int) -> None:  # noqa: ANN001
    data = f.returndata
    if offset + size > len(data):
        raise ReturnDataOutOfBounds()
    copy_in(f, mem_offset, data, offset, size)


def returndatasize(f) -> int:  # noqa: ANN001
    return len(f.returndata)


def blockhash(f, number: int) -> int:  # noqa: ANN001
    current = f.evm.block.number
    if number >= current or number + 256 < current:
        return 0
    return f.evm.block.block_hash(number)


def blobhash(f, index: int) -> int:  # noqa: ANN001
    hashes = f.evm.tx.blob_hashes
    if index < len(hashes):
        return int.from_bytes(hashes[index], "big")
    return 0


# name -> (opcode, expression over the frame ``f``) for zero-input context reads
CONTEXT: dict[str, tuple[int, str]] = {
    "ADDRESS": (0x30, "f.address"),
    "ORIGIN": (0x32, "f.evm.tx.origin"),
    "CALLER": (0x33, "f.caller"),
    "CALLVALUE": (0x34, "f.value"),
    "CALLDATASIZE": (0x36, "len(f.data)"),
    "CODESIZE": (0x38, "len(f.code)"),
    "GASPRICE": (0x3A, "f.evm.tx.gas_price"),
    "COINBASE": (0x41, "f.evm.block.coinbase"),
    "TIMESTAMP": (0x42, "f.evm.block.timestamp"),
    "NUMBER": (0x43, "f.evm.block.number"),
    "PREVRANDAO": (0x44, "f.evm.block.prev_randao"),
    "GASLIMIT": (0x45, "f.evm.block.gas_limit"),
    "CHAINID": (0x46, "f.evm.block.chain_id"),
    "BASEFEE": (0x48, "f.evm.block.base_fee"),
    "BLOBBASEFEE": (0x4A, "f.evm.blob_base_fee"),
}
