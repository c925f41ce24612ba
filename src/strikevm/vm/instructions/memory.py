"""Memory instructions: expansion charging, loads/stores, MCOPY, KECCAK256, copies."""

from __future__ import annotations

from strikevm.crypto import keccak256
from strikevm.vm import gas as G
from strikevm.vm.errors import OutOfGas


def _grow(f, mem: bytearray, n: int, end: int) -> None:  # noqa: ANN001
    """Charge for and grow memory from ``n`` bytes to cover ``end`` (end > n)."""
    if end > G.MEMORY_LIMIT:
        raise OutOfGas("memory expansion beyond any affordable size")
    new_words = (end + 31) >> 5
    old_words = n >> 5
    g = f.gas - (
        G.MEMORY * (new_words - old_words)
        + ((new_words * new_words) >> 9)
        - ((old_words * old_words) >> 9)
    )
    if g < 0:
        raise OutOfGas("memory expansion")
    f.gas = g
    mem.extend(bytes((new_words << 5) - n))


def expand(f, offset: int, size: int) -> None:  # noqa: ANN001
    """Charge for and grow memory to cover ``[offset, offset + size)``."""
    if size:
        end = offset + size
        mem = f.memory
        n = len(mem)
        if end > n:
            _grow(f, mem, n, end)


def charge(f, cost: int) -> None:  # noqa: ANN001
    g = f.gas - cost
    if g < 0:
        raise OutOfGas()
    f.gas = g


def mload(f, offset: int) -> int:  # noqa: ANN001
    mem = f.memory
    end = offset + 32
    n = len(mem)
    if end > n:
        _grow(f, mem, n, end)
    return int.from_bytes(mem[offset:end], "big")


def mstore(f, offset: int, value: int) -> None:  # noqa: ANN001
    mem = f.memory
    end = offset + 32
    n = len(mem)
    if end > n:
        _grow(f, mem, n, end)
    mem[offset:end] = value.to_bytes(32, "big")


def mstore8(f, offset: int, value: int) -> None:  # noqa: ANN001
    mem = f.memory
    n = len(mem)
    if offset >= n:
        _grow(f, mem, n, offset + 1)
    mem[offset] = value & 0xFF


def msize(f) -> int:  # noqa: ANN001
    return len(f.memory)


def mcopy(f, dst: int, src: int, size: int) -> None:  # noqa: ANN001
    if size:
        charge(f, G.COPY_WORD * ((size + 31) >> 5))
        expand(f, max(dst, src), size)
        mem = f.memory
        mem[dst : dst + size] = mem[src : src + size]


def keccak(f, offset: int, size: int) -> int:  # noqa: ANN001
    if size:
        charge(f, G.KECCAK256_WORD * ((size + 31) >> 5))
        expand(f, offset, size)
    return int.from_bytes(keccak256(bytes(f.memory[offset : offset + size])), "big")


def read(f, offset: int, size: int) -> bytes:  # noqa: ANN001
    """Charge expansion and return a copy of a memory range (empty when size is 0)."""
    if not size:
        return b""
    expand(f, offset, size)
    return bytes(f.memory[offset : offset + size])


def copy_in(f, mem_offset: int, src: bytes, src_offset: int, size: int) -> None:  # noqa: ANN001
    """The *COPY family: copy ``src[src_offset:][:size]`` zero-padded into memory."""
    if size:
        charge(f, G.COPY_WORD * ((size + 31) >> 5))
        expand(f, mem_offset, size)
        chunk = src[src_offset : src_offset + size] if src_offset < len(src) else b""
        if len(chunk) < size:
            chunk = chunk + bytes(size - len(chunk))
        f.memory[mem_offset : mem_offset + size] = chunk
