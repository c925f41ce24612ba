"""Differential fuzzer: random EVM programs run on StrikeVM and on revm, outcomes compared.

Each program is a small world (a target contract and a few other generated
contracts, an externally owned account, the sender) plus one transaction: a
call to the target (mostly) or a contract creation. The same pre-state, block
and transaction run on StrikeVM (``apply_transaction``, Cancun rules) and on
revm through pyrevm (a test-only dependency, spec CANCUN), and the outcomes are
compared: success, output, gas used (after refunds, intrinsic gas included),
logs, and the post-state of every account (nonce, balance, code, non-zero
storage). Programs are generated from ``(seed, index)`` alone, so any one of
them can be rerun with ``--only INDEX``.

How the two sides are made comparable. pyrevm's ``message_call`` runs a whole
transaction except that it neither buys gas nor pays the coinbase nor bumps the
sender's nonce, and it forces the block base fee to zero. So a call runs on
StrikeVM with base fee zero, its sender starts with the upfront gas cost added
to its balance (so both senders hold the same balance while code runs), and the
fee movements and the nonce bump are taken out of the StrikeVM post-state
before comparing. A creation runs as a whole transaction on both sides
(pyrevm's ``deploy``). Every other block field (number, timestamp, coinbase,
prevrandao, gas limit, chain id, excess blob gas) is set identically on both
sides. Not covered: BASEFEE always reads zero, the blob fee a type-3 transaction
burns is not compared (message_call does not charge it), and the excess blob gas stays small enough for
revm's 128-bit blob fee arithmetic (beyond about 1.3e8 revm's BLOBBASEFEE
overflows), and no pre-state account has storage at an address a creation lands on
(the revm inside pyrevm 0.3.7 lacks the EIP-7610 collision rule).

Usage::

    python -m strikevm.tools.fuzz --programs 10000 --seed 1 [--engine fast|reference]
    python -m strikevm.tools.fuzz --seed 1 --only 1234 --verbose
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from strikevm.chain.executor import apply_transaction
from strikevm.chain.transaction import intrinsic_gas, sign_transaction
from strikevm.crypto import keccak256, private_key_to_address, sha256, sign_hash
from strikevm.state.account import Account
from strikevm.state.world import WorldState
from strikevm.tools.deepstack import run_deep
from strikevm.vm.env import GAS_PER_BLOB, BlockEnv, blob_base_fee

# ------------------------------------------------------------------ the world

SENDER_KEY = bytes.fromhex("45a915e4d060149eb4365960e6a7a45f334393093061116b197e3240065ff2d8")
SENDER = int.from_bytes(private_key_to_address(SENDER_KEY), "big")
CONTRACTS = tuple(0xC0DE000000000000000000000000000000000000 + i for i in range(4))
TARGET = CONTRACTS[0]
EOA = 0xE0A0000000000000000000000000000000000001
NOBODY = 0xDEAD00000000000000000000000000000000BEEF  # never exists in the pre-state
COINBASES = (0xC01BA5E000000000000000000000000000000000, EOA, CONTRACTS[2])
PRECOMPILE_ADDRESSES = tuple(range(1, 11))
BLOCK_GAS_LIMIT = 30_000_000
CHAIN_ID = 1
SENDER_BALANCE = 10**30
MAX_NONCE = 2**64 - 1
U256 = 2**256

INTERESTING = (
    0, 1, 2, 3, 7, 8, 16, 31, 32, 33, 64, 0x7F, 0x80, 0xFF, 0x100,
    2**64 - 1, 2**64, 2**128, 2**160 - 1, 2**255 - 1, 2**255, 2**255 + 1, 2**256 - 2, 2**256 - 1,
)  # fmt: skip
SMALL_LENGTHS = (0, 1, 2, 20, 31, 32, 33, 64, 65, 96)
BIG_LENGTHS = (0x6000, 0x6001, 0xC000, 0xC001, 2**16, 2**32, 2**64, 2**256 - 1)
BIG_OFFSETS = (0x10000, 2**24, 2**32 - 1, 2**32, 2**64, 2**255, 2**256 - 1)


# -------------------------------------------------------- program description


@dataclass(slots=True)
class PreAccount:
    """One account of the pre-state."""

    nonce: int = 0
    balance: int = 0
    code: bytes = b""
    storage: dict[int, int] = field(default_factory=dict)


@dataclass(slots=True)
class Program:
    """One generated test: pre-state, block and the transaction.

    The transaction calls TARGET with ``calldata``, or, when ``create`` is set, is a
    contract creation whose initcode is ``calldata``.
    """

    seed: int
    index: int
    accounts: dict[int, PreAccount]
    calldata: bytes
    value: int
    gas_limit: int
    gas_price: int
    access_list: list[tuple[int, list[int]]]
    coinbase: int
    number: int
    timestamp: int
    prev_randao: int
    excess_blob_gas: int
    create: bool = False
    blob_hashes: list[bytes] = field(default_factory=list)  # a type-3 transaction when set


# Post-state view of one account: (nonce, balance, code, sorted non-zero storage items).
AccountView = tuple[int, int, bytes, tuple[tuple[int, int], ...]]
LogView = tuple[int, tuple[int, ...], bytes]


@dataclass(slots=True)
class Outcome:
    """What one engine made of a program."""

    success: bool
    output: bytes
    gas_used: int
    logs: list[LogView]
    accounts: dict[int, AccountView]
    note: str = ""  # halt reason, error text: shown, never compared
    crashed: bool = False  # the engine raised instead of producing a result


# ------------------------------------------------------------------ generator

_Item = bytes | tuple[str, str]


class CodeBuilder:
    """Builds one piece of bytecode from fragments with symbolic jump labels.

    Items are raw bytes, ("label", name) for a JUMPDEST, ("mark", name) for a
    position without a byte, ("ref", name) for a PUSH2 of a label's position, and
    data blobs appended after the code and addressed the same way. The builder
    tracks an approximate stack depth so most fragments are well formed.
    """

    def __init__(
        self,
        rng: random.Random,
        *,
        size: int,
        nest: int,
        address_hint: int,
        hazard: float = 1.0,
    ) -> None:
        self.rng = rng
        self.hazard = hazard  # scales how often fragments that always halt the frame appear
        self.size = size
        self.nest = nest  # how many more levels of nested initcode may be generated
        self.items: list[_Item] = []
        self.data: list[tuple[str, bytes]] = []
        self.depth = 0
        self.floor = 0  # fragments never consume stack items below this depth
        self.addr_items: list[int] = []  # stack depths (1-based) holding an address
        self.length = 0
        self.labels = 0
        self.address_hint = address_hint

    # ------------------------------------------------------------ low level
    def risky(self) -> bool:
        """Whether to go ahead with a fragment that halts the frame (invalid jump...)."""
        return self.rng.random() < self.hazard

    def emit(self, raw: bytes) -> None:
        self.items.append(raw)
        self.length += len(raw)

    def label(self) -> str:
        self.labels += 1
        return f"L{self.labels}"

    def ref(self, name: str) -> None:
        self.items.append(("ref", name))
        self.length += 3

    def add_data(self, blob: bytes) -> str:
        name = self.label()
        self.data.append((name, blob))
        return name

    def push(self, value: int) -> None:
        value %= U256
        if value == 0 and self.rng.random() < 0.5:
            self.emit(b"\x5f")
        else:
            n = max(1, (value.bit_length() + 7) // 8)
            self.emit(bytes((0x5F + n,)) + value.to_bytes(n, "big"))
        self.depth += 1

    def set_depth(self, depth: int) -> None:
        self.depth = depth
        self.addr_items = [d for d in self.addr_items if d <= depth]

    def assemble(self) -> bytes:
        items: list[_Item] = list(self.items)
        if self.data:
            items.append(b"\x00")
            for name, blob in self.data:
                items.append(("mark", name))
                items.append(blob)
        positions: dict[str, int] = {}
        pos = 0
        for item in items:
            if isinstance(item, bytes):
                pos += len(item)
            elif item[0] == "label":
                positions[item[1]] = pos
                pos += 1
            elif item[0] == "mark":
                positions[item[1]] = pos
            else:
                pos += 3
        out = bytearray()
        for item in items:
            if isinstance(item, bytes):
                out += item
            elif item[0] == "label":
                out.append(0x5B)
            elif item[0] == "ref":
                out += b"\x61" + positions[item[1]].to_bytes(2, "big")
        return bytes(out)

    # ------------------------------------------------------------ operands
    def value(self) -> int:
        rng = self.rng
        r = rng.random()
        if r < 0.45:
            return rng.choice(INTERESTING)
        if r < 0.6:
            return rng.randrange(256)
        if r < 0.7:
            return -rng.randrange(1, 300) % U256  # small negative numbers
        if r < 0.8:
            return (2 ** rng.randrange(256) + rng.choice((-1, 0, 0, 1))) % U256
        if r < 0.85:
            return rng.choice(CONTRACTS + (SENDER, EOA))
        return rng.getrandbits(rng.choice((8, 16, 32, 64, 128, 160, 255, 256)))

    def offset(self) -> int:
        r = self.rng.random()
        if r < 0.93:
            return self.rng.choice((0, 0, 1, 31, 32, 64, 96, 128)) + self.rng.randrange(4) * 32
        if r < 0.98:
            return self.rng.randrange(4096)
        return self.rng.choice(BIG_OFFSETS)

    def length_(self) -> int:
        r = self.rng.random()
        if r < 0.9:
            return self.rng.choice(SMALL_LENGTHS)
        if r < 0.98:
            return self.rng.randrange(300)
        return self.rng.choice(BIG_LENGTHS)

    def slot(self) -> int:
        if self.rng.random() < 0.9:
            return self.rng.randrange(4)
        return self.value()

    def address(self) -> int:
        r = self.rng.random()
        if r < 0.45:
            return self.rng.choice(CONTRACTS)
        if r < 0.65:
            return self.rng.choice(PRECOMPILE_ADDRESSES)
        if r < 0.75:
            return self.address_hint
        return self.rng.choice((SENDER, EOA, NOBODY, COINBASES[0], 0, 11, 2**160 - 1))

    def emit_operand(self, kind: str) -> None:
        """Push one operand of the given kind (may use an opcode instead of a PUSH)."""
        rng = self.rng
        if kind == "addr":
            near = [d for d in self.addr_items if 0 < self.depth - d + 1 <= 16]
            r = rng.random()
            if near and r < 0.35:
                self.emit(bytes((0x80 + self.depth - rng.choice(near),)))  # DUPn
                self.depth += 1
            elif r < 0.45:
                self.emit(rng.choice((b"\x30", b"\x33", b"\x32", b"\x41")))  # ADDRESS...
                self.depth += 1
            else:
                self.push(self.address())
        elif kind == "gas":
            r = rng.random()
            if r < 0.35:
                self.emit(b"\x5a")  # GAS
                self.depth += 1
            elif r < 0.85:
                self.push(rng.choice((0, 1, 100, 2300, 2600, 5000, 10_000, 30_000, 100_000)))
            else:
                self.push(rng.choice((2**64, 2**256 - 1, rng.randrange(200_000))))
        elif kind == "cval":
            r = rng.random()
            if r < 0.7:
                self.push(0)
            elif r < 0.75:
                self.emit(b"\x34")  # CALLVALUE
                self.depth += 1
            else:
                self.push(rng.choice((1, 2, 1000, 10**18, 10**19, 2**255)))
        elif kind == "off":
            self.push(self.offset())
        elif kind == "len":
            self.push(self.length_())
        elif kind == "slot":
            self.push(self.slot())
        elif kind == "sh":  # a shift, or a byte index (BYTE, SIGNEXTEND)
            r = rng.random()
            if r < 0.5:
                self.push(rng.randrange(34))
            elif r < 0.8:
                self.push(rng.choice((0, 1, 7, 8, 31, 32, 33, 128, 255, 256, 257, 2**255)))
            else:
                self.push(rng.randrange(300))
        elif kind == "cd":
            self.push(rng.choice((0, 0, 1, 4, 31, 32, 36, 64, 100, 2**64, 2**256 - 1)))
        elif kind == "exp":
            self.push(rng.choice((0, 1, 2, 3, 8, 31, 32, 255, 256, 2**64, 2**255, 2**256 - 1)))
        elif kind == "bn":
            self.emit(b"\x43")  # NUMBER, then an adjustment
            self.depth += 1
            delta = rng.choice((1, 2, 255, 256, 257, 0, -1))
            if delta >= 0:
                self.push(delta)
                self.emit(b"\x90\x03")  # SWAP1 SUB: NUMBER - delta
            else:
                self.push(1)
                self.emit(b"\x01")  # ADD
            self.depth -= 1
        elif kind == "idx":
            self.push(rng.choice((0, 1, 5, 6, 2**256 - 1)))
        else:  # "val"
            self.push(self.value())

    def op(self, opcode: int, kinds: Sequence[str], outputs: int, reuse: bool = True) -> None:
        """Push operands (deepest first, some taken from the stack) and emit the opcode."""
        rng = self.rng
        n = len(kinds)
        taken = 0
        if reuse:
            avail = self.depth - self.floor
            while taken < n and taken < avail:
                kind = kinds[n - 1 - taken]
                p = 0.5 if kind in ("val", "exp") else 0.04
                if rng.random() >= p:
                    break
                taken += 1
        for kind in reversed(kinds[: n - taken]):
            self.emit_operand(kind)
        self.emit(bytes((opcode,)))
        self.set_depth(self.depth - n + outputs)

    def sink(self) -> None:
        """Do something observable (or nothing) with the value on top of the stack."""
        rng = self.rng
        if self.depth <= self.floor:
            return
        r = rng.random()
        crowded = self.depth - self.floor > 8
        if r < 0.3 and not crowded:
            return
        if r < 0.5:
            self.emit(b"\x50")  # POP
            self.set_depth(self.depth - 1)
        elif r < 0.75:
            self.push(self.slot())
            self.emit(b"\x55")  # SSTORE(slot, value)
            self.set_depth(self.depth - 2)
        elif r < 0.93:
            self.push(rng.choice((0, 32, 64, 96, 128)))
            self.emit(b"\x52")  # MSTORE
            self.set_depth(self.depth - 2)
        else:
            self.push(self.slot())
            self.emit(b"\x5d")  # TSTORE
            self.set_depth(self.depth - 2)

    def copy_data_to_memory(self, blob: bytes, mem: int) -> None:
        """CODECOPY a data blob (appended after the code) to memory offset ``mem``."""
        name = self.add_data(blob)
        self.push(len(blob))
        self.ref(name)
        self.depth += 1
        self.push(mem)
        self.emit(b"\x39")  # CODECOPY
        self.set_depth(self.depth - 3)

    # ------------------------------------------------------------ fragments
    def arith(self) -> None:
        rng = self.rng
        two = (0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x10, 0x11, 0x12, 0x13, 0x14,
               0x16, 0x17, 0x18)  # fmt: skip
        r = rng.random()
        if r < 0.55:
            self.op(rng.choice(two), ("val", "val"), 1)
        elif r < 0.65:
            self.op(rng.choice((0x08, 0x09)), ("val", "val", "val"), 1)  # ADDMOD, MULMOD
        elif r < 0.72:
            self.op(0x0A, ("val", "exp"), 1)  # EXP
        elif r < 0.8:
            self.op(rng.choice((0x15, 0x19)), ("val",), 1)  # ISZERO, NOT
        elif r < 0.86:
            self.op(0x0B, ("sh", "val"), 1)  # SIGNEXTEND(b, x)
        else:
            self.op(rng.choice((0x1A, 0x1B, 0x1C, 0x1D)), ("sh", "val"), 1)  # BYTE, shifts
        self.sink()

    def stack_op(self) -> None:
        rng = self.rng
        avail = self.depth - self.floor
        r = rng.random()
        if r < 0.45 and avail >= 1:
            n = rng.randint(1, min(16, self.depth))
            self.emit(bytes((0x7F + n,)))  # DUPn
            self.set_depth(self.depth + 1)
            self.sink()
        elif r < 0.8 and avail >= 2:
            n = rng.randint(1, min(16, avail - 1))
            self.emit(bytes((0x8F + n,)))  # SWAPn
            self.addr_items = []
        elif r < 0.9:
            width = rng.choice((1, 2, 4, 8, 20, 31, 32))
            self.emit(bytes((0x5F + width,)) + rng.getrandbits(8 * width).to_bytes(width, "big"))
            self.depth += 1
            self.sink()
        elif avail >= 1:
            self.emit(b"\x50")
            self.set_depth(self.depth - 1)

    def memory(self) -> None:
        rng = self.rng
        r = rng.random()
        if r < 0.3:
            self.op(0x52, ("off", "val"), 0)  # MSTORE
        elif r < 0.45:
            self.op(0x53, ("off", "val"), 0)  # MSTORE8
        elif r < 0.7:
            self.op(0x51, ("off",), 1)  # MLOAD
            self.sink()
        elif r < 0.8:
            self.op(0x59, (), 1)  # MSIZE
            self.sink()
        else:
            self.op(0x5E, ("off", "off", "len"), 0)  # MCOPY(dst, src, len)

    def storage(self) -> None:
        rng = self.rng
        r = rng.random()
        if r < 0.35:
            self.op(0x54, ("slot",), 1)  # SLOAD
            self.sink()
        elif r < 0.75:
            self.op(0x55, ("slot", "val"), 0)  # SSTORE
        elif r < 0.87:
            self.op(0x5C, ("slot",), 1)  # TLOAD
            self.sink()
        else:
            self.op(0x5D, ("slot", "val"), 0)  # TSTORE

    def environment(self) -> None:
        rng = self.rng
        simple = (0x30, 0x32, 0x33, 0x34, 0x36, 0x38, 0x3A, 0x3D, 0x41, 0x42, 0x43, 0x44, 0x45,
                  0x46, 0x47, 0x48, 0x4A, 0x58, 0x5A)  # fmt: skip
        r = rng.random()
        if r < 0.45:
            code = rng.choice(simple)
            self.op(code, (), 1)
            if code in (0x30, 0x32, 0x33, 0x41):
                self.addr_items.append(self.depth)
        elif r < 0.7:
            self.op(rng.choice((0x31, 0x3B, 0x3F)), ("addr",), 1)  # BALANCE, EXTCODESIZE/HASH
        elif r < 0.85:
            self.op(0x35, ("cd",), 1)  # CALLDATALOAD
        elif r < 0.93:
            self.op(0x40, ("bn",), 1)  # BLOCKHASH
        else:
            self.op(0x49, ("idx",), 1)  # BLOBHASH
        self.sink()

    def copies(self) -> None:
        rng = self.rng
        r = rng.random()
        if r < 0.3:
            self.op(0x37, ("off", "cd", "len"), 0)  # CALLDATACOPY
        elif r < 0.5:
            self.op(0x39, ("off", "cd", "len"), 0)  # CODECOPY
        elif r < 0.75:
            self.op(0x3C, ("addr", "off", "cd", "len"), 0)  # EXTCODECOPY
        else:
            # RETURNDATACOPY, mostly within bounds of the last return data
            self.op(0x3D, (), 1, reuse=False)  # RETURNDATASIZE as the length
            if rng.random() < 0.2 and self.risky():
                self.push(rng.choice((1, 32)))
                self.emit(b"\x01")  # one past the end: out-of-bounds halt
                self.set_depth(self.depth - 1)
            self.push(rng.choice((0, 0, 0, 1, 32)))
            self.push(self.offset())
            self.emit(b"\x3e")
            self.set_depth(self.depth - 3)

    def keccak(self) -> None:
        self.op(0x20, ("off", "len"), 1)
        self.sink()

    def log(self) -> None:
        n = self.rng.randrange(5)
        self.op(0xA0 + n, ("off", "len") + ("val",) * n, 0)

    def call(self, target: int | None = None) -> None:
        rng = self.rng
        kind = rng.choice((0xF1, 0xF1, 0xF1, 0xF2, 0xF4, 0xFA, 0xFA))
        out = (self.offset(), rng.choice((0, 0, 32, 64)))
        args = (self.offset(), rng.choice((0, 4, 32, 36, 64, 68)))
        for v in (out[1], out[0], args[1], args[0]):
            self.push(v)
        if kind in (0xF1, 0xF2):
            self.emit_operand("cval")
        if target is None:
            self.emit_operand("addr")
        else:
            self.push(target)
        self.emit_operand("gas")
        self.emit(bytes((kind,)))
        self.set_depth(self.depth - (7 if kind in (0xF1, 0xF2) else 6) + 1)
        if rng.random() < 0.3:
            self.copies_returndata()
        self.sink()

    def copies_returndata(self) -> None:
        self.emit(b"\x3d\x5f")  # RETURNDATASIZE PUSH0
        self.depth += 2
        self.push(self.rng.choice((0, 64, 128)))
        self.emit(b"\x3e")  # RETURNDATACOPY(mem, 0, size)
        self.set_depth(self.depth - 3)

    def precompile_call(self) -> None:
        rng = self.rng
        addr = rng.choice(PRECOMPILE_ADDRESSES)
        blob = precompile_input(rng, addr)
        mem = rng.choice((0, 32, 100))
        if blob:
            self.copy_data_to_memory(blob, mem)
        size = len(blob) if rng.random() < 0.85 else max(0, len(blob) + rng.choice((-1, 1, 32)))
        kind = rng.choice((0xF1, 0xFA, 0xFA, 0xF4, 0xF2))
        self.push(rng.choice((0, 32, 64, 128)))
        self.push(rng.choice((0, 256)))
        self.push(size)
        self.push(mem)
        if kind in (0xF1, 0xF2):
            self.push(rng.choice((0, 0, 0, 1)))
        self.push(addr)
        if rng.random() < 0.7:
            self.emit(b"\x5a")
            self.depth += 1
        else:
            self.push(rng.choice((0, 1, 59, 60, 71, 72, 150, 600, 3000, 6000, 45000, 50000)))
        self.emit(bytes((kind,)))
        self.set_depth(self.depth - (7 if kind in (0xF1, 0xF2) else 6) + 1)
        if rng.random() < 0.5:
            self.copies_returndata()
        self.sink()

    def create(self) -> None:
        rng = self.rng
        initcode = self.initcode() if self.nest > 0 else bytes(rng.getrandbits(8) for _ in range(4))
        mem = rng.choice((0, 32, 64))
        if initcode:
            self.copy_data_to_memory(initcode, mem)
        size = len(initcode)
        r = rng.random()
        if r < 0.05:
            size = rng.choice((0xC000, 0xC001))  # at and above the initcode limit
        elif r < 0.1:
            size = self.length_()
        is2 = rng.random() < 0.4
        salt = rng.choice((0, 1, 2**256 - 1, 0x5A17))
        if is2:
            self.push(salt)
        self.push(size)
        self.push(mem)
        self.emit_operand("cval")
        self.emit(b"\xf5" if is2 else b"\xf0")
        self.set_depth(self.depth - (4 if is2 else 3) + 1)
        self.addr_items.append(self.depth)
        r = rng.random()
        if is2 and r < 0.15:  # the same CREATE2 again: an address collision if it worked
            self.sink()
            for v in (salt, size, mem, 0):
                self.push(v)
            self.emit(b"\xf5")
            self.set_depth(self.depth - 3)
            self.sink()
        elif r < 0.4:
            self.call()
        elif r < 0.5:
            self.emit(b"\x80\x3b")  # DUP1 EXTCODESIZE
            self.set_depth(self.depth + 1)
            self.sink()
        elif r < 0.55:
            self.copies_returndata()
        self.sink()

    def initcode(self, fragments: int | None = None, runtime_size: int = 50) -> bytes:
        """Initcode for CREATE/CREATE2 (or a creation transaction): deploys, reverts,
        halts or self-destructs, after ``fragments`` random fragments."""
        rng = self.rng
        sub = CodeBuilder(
            rng,
            size=0,
            nest=self.nest - 1,
            address_hint=self.address_hint,
            hazard=self.hazard,
        )
        kind = rng.random()
        if kind < 0.05:
            return b""
        if kind < 0.1:
            return bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 12)))
        sub.body(rng.randrange(0, 4) if fragments is None else fragments)
        if kind < 0.6:
            runtime = generate_code(
                rng, size=rng.randrange(1, runtime_size), nest=0, address_hint=self.address_hint
            )
            if rng.random() < 0.05:
                runtime = b"\xef" + runtime
            sub.copy_data_to_memory(runtime, 0)
            sub.push(len(runtime))
            sub.push(0)
            sub.emit(b"\xf3")  # RETURN
        elif kind < 0.7:
            sub.push(rng.choice((0, 1, 32)))
            sub.push(0)
            sub.emit(b"\xfd")  # REVERT
        elif kind < 0.78:
            sub.emit_operand("addr")
            sub.emit(b"\xff")  # SELFDESTRUCT
        elif kind < 0.84:
            sub.push(0xEF)
            sub.push(0)
            sub.emit(b"\x53")
            sub.push(rng.choice((1, 2, 32)))
            sub.push(0)
            sub.emit(b"\xf3")  # returns code starting with 0xEF
        elif kind < 0.88:
            sub.push(rng.choice((0x6000, 0x6001)))
            sub.push(0)
            sub.emit(b"\xf3")  # at and above the code size limit
        elif kind < 0.92:
            sub.push(2**32)
            sub.emit(b"\x51")  # MLOAD far away: out of gas
        # else: fall off the end: empty code
        return sub.assemble()

    def control(self) -> None:
        rng = self.rng
        r = rng.random()
        if r < 0.3:  # forward jump over dead code
            end = self.label()
            self.ref(end)
            self.emit(b"\x56")
            self.neutral(rng.randrange(1, 3), terminators=True)
            self.items.append(("label", end))
            self.length += 1
        elif r < 0.65:  # conditional forward jump
            end = self.label()
            if self.depth > self.floor and rng.random() < 0.5:
                self.emit(b"\x80")  # DUP1 of whatever is on top
                self.depth += 1
            else:
                self.push(rng.choice((0, 0, 1, 2**255)))
            self.ref(end)
            self.emit(b"\x57")
            self.set_depth(self.depth - 1)
            self.neutral(rng.randrange(1, 3), terminators=True)
            self.items.append(("label", end))
            self.length += 1
        elif r < 0.85:  # bounded loop with a counter on the stack
            self.push(rng.randint(1, 4))
            top = self.label()
            self.items.append(("label", top))
            self.length += 1
            self.neutral(rng.randrange(1, 3), terminators=False)
            self.emit(b"\x60\x01\x90\x03\x80")  # PUSH1 1 SWAP1 SUB DUP1
            self.ref(top)
            self.emit(b"\x57\x50")  # JUMPI POP
            self.set_depth(self.depth - 1)
        elif not self.risky():
            self.push(0)  # harmless stand-in: a never-taken JUMPI
            self.push(0)
            self.emit(b"\x57")
            self.set_depth(self.depth - 2)
        elif r < 0.93:  # jump into PUSH data that looks like a JUMPDEST
            inside = self.label()
            self.ref(inside)
            self.emit(b"\x56\x60")
            self.items.append(("mark", inside))
            self.emit(b"\x5b")
        else:  # jump to an arbitrary position
            self.push(rng.randrange(self.length + 20))
            if rng.random() < 0.5:
                self.emit(b"\x56")
                self.set_depth(self.depth - 1)
            else:
                self.push(1)
                self.emit(b"\x90\x57")  # SWAP1 JUMPI
                self.set_depth(self.depth - 2)

    def neutral(self, count: int, *, terminators: bool) -> None:
        """Fragments that leave the stack as they found it (for loops and branches)."""
        saved_floor = self.floor
        self.floor = self.depth
        for _ in range(count):
            self.fragment(control=False, terminators=terminators)
        while self.depth > self.floor:
            self.emit(b"\x50")
            self.set_depth(self.depth - 1)
        self.floor = saved_floor

    def terminator(self, final: bool) -> None:
        rng = self.rng
        r = rng.random()
        if r < 0.4:
            self.push(rng.choice((0, 32, 64, 96, 128)))
            self.push(rng.choice((0, 0, 32)))
            self.emit(b"\xf3")  # RETURN
        elif r < 0.55:
            self.push(rng.choice((0, 32, 64)))
            self.push(0)
            self.emit(b"\xfd")  # REVERT
        elif r < 0.7:
            self.emit(b"\x00")
        elif r < 0.75 and self.risky():
            self.emit(b"\xfe")
        elif r < 0.82:
            self.emit_operand("addr")
            self.emit(b"\xff")  # SELFDESTRUCT
        elif r < 0.85 and self.risky():
            self.emit(bytes((rng.choice((0x0C, 0x21, 0x4B, 0xA5, 0xEF, 0xF6, 0xFB)),)))
        elif not final:
            self.emit(b"\x00")
        # else fall off the end
        self.set_depth(0)

    def fragment(self, *, control: bool = True, terminators: bool = False) -> None:
        rng = self.rng
        r = rng.random() * 100
        if r < 24:
            self.arith()
        elif r < 31:
            self.stack_op()
        elif r < 39:
            self.memory()
        elif r < 49:
            self.storage()
        elif r < 59:
            self.environment()
        elif r < 63:
            self.copies()
        elif r < 66:
            self.keccak()
        elif r < 70:
            self.log()
        elif r < 79:
            self.call()
        elif r < 82:
            self.precompile_call()
        elif r < 86 and self.nest > 0:
            self.create()
        elif r < 93 and control:
            self.control()
        elif r < 94 and terminators:
            self.terminator(final=False)
        elif r < 95.5 and not self.risky():
            self.arith()
        elif r < 95:
            # deliberate stack underflow or an unassigned opcode
            if rng.random() < 0.5 and self.depth == 0:
                self.emit(bytes((rng.choice((0x01, 0x50, 0x55, 0x80 + rng.randrange(4))),)))
            elif rng.random() < 0.3:
                self.emit(bytes((rng.choice((0x0C, 0x1E, 0x21, 0x4B, 0xA5, 0xEF)),)))
        elif r < 95.5:
            # stack overflow: push in a tight loop
            top = self.label()
            self.items.append(("label", top))
            self.length += 1
            self.emit(b"\x5f")
            self.ref(top)
            self.emit(b"\x56")
        else:
            self.arith()

    def body(self, count: int) -> None:
        for _ in range(count):
            self.fragment()

    def program(self) -> bytes:
        while self.length < self.size:
            self.fragment()
        self.terminator(final=True)
        return self.assemble()


def generate_code(
    rng: random.Random, *, size: int, nest: int, address_hint: int, hazard: float = 1.0
) -> bytes:
    """Random but mostly meaningful bytecode of roughly ``size`` bytes (plus data)."""
    builder = CodeBuilder(rng, size=size, nest=nest, address_hint=address_hint, hazard=hazard)
    return builder.program()


# ----------------------------------------------------- precompile inputs

_BN_P = 0x30644E72E131A029B85045B68181585D97816A916871CA8D3C208C16D87CFD47
_G2 = (
    0x198E9393920D483A7260BFB731FB5D25F1AA493335A9E71297E485B7AEF312C2,
    0x1800DEEF121F1E76426A00665E5C4479674322D4F75EDADD46DEBD5CD992F6ED,
    0x090689D0585FF075EC9E99AD690C3395BC4B313370B38EF355ACDADCD122975B,
    0x12C85EA5DB8C6DEB4AAB71808DCB408FE3D1E7690C43D37B4CE6CC0166FA7DAA,
)  # x_imag, x_real, y_imag, y_real as EIP-197 encodes them
_BN_2G = (
    0x030644E72E131A029B85045B68181585D97816A916871CA8D3C208C16D87CFD3,
    0x15ED738C0E0A7C92E7845F96B2AE9C0A68A6A449E3538FC7FF3EBF7A5A18A2C4,
)


def _words(*values: int) -> bytes:
    return b"".join((v % U256).to_bytes(32, "big") for v in values)


def _ecrecover_valid() -> bytes:
    digest = keccak256(b"strikevm fuzz")
    parity, r, s = sign_hash(digest, SENDER_KEY)
    return digest + _words(27 + parity, r, s)


_ECRECOVER_VALID = _ecrecover_valid()
_KZG_ZERO_COMMITMENT = b"\xc0" + bytes(47)  # commitment (and proof) of the zero polynomial


def precompile_input(rng: random.Random, addr: int) -> bytes:
    """A well-formed or slightly broken input for the precompile at ``addr``."""
    rnd = rng.randbytes
    if addr == 1:
        r = rng.random()
        if r < 0.4:
            return _ECRECOVER_VALID
        if r < 0.6:
            blob = bytearray(_ECRECOVER_VALID)
            blob[rng.randrange(128)] ^= 1 << rng.randrange(8)
            return bytes(blob)
        return rnd(32) + _words(rng.choice((0, 27, 28, 29)), rng.getrandbits(256), 1)[:96]
    if addr in (2, 3, 4):
        return rnd(rng.choice((0, 1, 31, 32, 33, 64, 100)))
    if addr == 5:
        lens = [rng.choice((0, 1, 2, 8, 31, 32, 33, 64, rng.randrange(100))) for _ in range(3)]
        if rng.random() < 0.1:
            lens[rng.randrange(3)] = rng.choice((1024, 2**32, 2**255))
        parts = []
        for n in lens:
            if n > 1024:
                continue
            special = rng.random() < 0.15
            if special and n:  # zero, one or all ones
                part = rng.choice((bytes(n), bytes(n - 1) + b"\x01", b"\xff" * n))
            else:
                part = rnd(n)
            parts.append(part)
        body = b"".join(parts)
        if rng.random() < 0.2:
            body = body[: rng.randrange(len(body) + 1)]
        return _words(*lens) + body
    if addr == 6:
        points = ((0, 0), (1, 2), (1, _BN_P - 2), _BN_2G, (1, 3), (_BN_P, 2))
        a, b = rng.choice(points), rng.choice(points)
        return _words(*a, *b)[: rng.choice((128, 128, 128, 64, 0, 127))]
    if addr == 7:
        point = rng.choice(((0, 0), (1, 2), _BN_2G, (1, 3)))
        scalar = rng.choice((0, 1, 2, 3, 2**256 - 1, rng.getrandbits(256)))
        return _words(*point, scalar)[: rng.choice((96, 96, 96, 64, 128))]
    if addr == 8:
        r = rng.random()
        if r < 0.2:
            return b""
        if r < 0.7:  # e(G1, G2) * e(-G1, G2) == 1
            return _words(1, 2, *_G2, 1, _BN_P - 2, *_G2)
        if r < 0.8:
            return _words(1, 2, *_G2)
        if r < 0.9:  # a G2 point off the curve, or a G1 point off the curve
            x_imag, x_real, y_imag, y_real = _G2
            bad = rng.choice(((x_real, x_imag, y_imag, y_real), _G2))
            return _words(1, 3 if bad == _G2 else 2, *bad)
        return _words(1, 2, *_G2)[: rng.choice((191, 193, 100))]
    if addr == 9:
        rounds = rng.choice((0, 1, 2, 12, 2**32 - 1))
        flag = rng.choice((0, 1, 1, 2))
        blob = rounds.to_bytes(4, "big") + rnd(64 + 128 + 16) + bytes((flag,))
        return (
            blob
            if rng.random() < 0.85
            else blob[: rng.choice((212, 0))] + b"\x00" * rng.randrange(2)
        )
    # 0x0a: point evaluation with the zero polynomial (valid), or broken
    z = rng.choice((0, 1, 2**255 - 19, rng.getrandbits(250)))
    vhash = b"\x01" + sha256(_KZG_ZERO_COMMITMENT)[1:]
    blob = vhash + _words(z, 0) + _KZG_ZERO_COMMITMENT + _KZG_ZERO_COMMITMENT
    r = rng.random()
    if r < 0.2:
        blob = blob[:64] + _words(1) + blob[96:]  # wrong claimed value
    elif r < 0.3:
        blob = b"\x02" + blob[1:]  # wrong version
    elif r < 0.4:
        blob = blob[:191]
    return blob


def precompile_program(rng: random.Random) -> tuple[bytes, bytes]:
    """Code that calls a precompile with its calldata, storing success, return size and
    gas left, and returning the output; plus the calldata."""
    addr = rng.choice(PRECOMPILE_ADDRESSES)
    if rng.random() < 0.7:
        gas = b"\x5a"  # GAS: all it can
    else:
        amount = rng.choice((0, 1, 100, 600, 3000, 6000, 34000, 45000, 50000, 80000, 120000))
        amount = max(0, amount + rng.choice((0, 0, -1, 1, 60)))
        gas = b"\x62" + amount.to_bytes(3, "big")
    code = (
        b"\x36\x5f\x5f\x37"  # CALLDATACOPY(0, 0, CALLDATASIZE)
        + b"\x61\x01\x00\x61\x10\x00\x36\x5f"  # ret 0x1000..+0x100, args 0..CALLDATASIZE
        + bytes((0x60, addr))
        + gas
        + b"\xfa"  # STATICCALL
        + b"\x5f\x55"  # SSTORE(0, success)
        + b"\x3d\x60\x01\x55"  # SSTORE(1, RETURNDATASIZE)
        + b"\x5a\x60\x02\x55"  # SSTORE(2, GAS)
        + b"\x3d\x5f\x5f\x3e"  # RETURNDATACOPY(0, 0, RETURNDATASIZE)
        + b"\x3d\x5f\xf3"  # RETURN(0, RETURNDATASIZE)
    )
    return code, precompile_input(rng, addr)


_ARITHMETIC = (
    (0x01, 2), (0x02, 2), (0x03, 2), (0x04, 2), (0x05, 2), (0x06, 2), (0x07, 2), (0x08, 3),
    (0x09, 3), (0x0A, 2), (0x0B, 2), (0x10, 2), (0x11, 2), (0x12, 2), (0x13, 2), (0x14, 2),
    (0x15, 1), (0x16, 2), (0x17, 2), (0x18, 2), (0x19, 1), (0x1A, 2), (0x1B, 2), (0x1C, 2),
    (0x1D, 2),
)  # fmt: skip


def arithmetic_program(rng: random.Random) -> bytes:
    """Code that applies arithmetic opcodes to edge values, each result (and a running
    mix of them) written to memory, and returns that memory."""
    builder = CodeBuilder(rng, size=0, nest=0, address_hint=TARGET)
    count = rng.randrange(4, 24)
    for i in range(count):
        opcode, n = rng.choice(_ARITHMETIC)
        for k in range(n):  # the last pushed is the first operand
            first = k == n - 1
            if first and opcode in (0x0B, 0x1A, 0x1B, 0x1C, 0x1D):
                builder.emit_operand("sh")
            elif opcode == 0x0A and k == 0:
                builder.emit_operand("exp")
            else:
                builder.push(builder.value())
        builder.emit(bytes((opcode,)))
        if i and rng.random() < 0.3:
            builder.emit(b"\x80\x60\x00\x51\x01\x60\x00\x52")  # mem[0] += result
        builder.push(32 * (i + 1))
        builder.emit(b"\x52")  # MSTORE(32 * (i + 1), result)
    builder.push(32 * (count + 1))
    builder.push(0)
    builder.emit(b"\xf3")
    return builder.assemble()


# ----------------------------------------------------------- program maker


def _create_address(sender: int, nonce: int) -> int:
    """Address of the contract ``sender`` creates with ``nonce`` (RLP spelled out)."""
    if nonce == 0:
        encoded_nonce = b"\x80"
    elif nonce < 0x80:
        encoded_nonce = bytes((nonce,))
    else:
        raw = nonce.to_bytes((nonce.bit_length() + 7) // 8, "big")
        encoded_nonce = bytes((0x80 + len(raw),)) + raw
    payload = b"\x94" + sender.to_bytes(20, "big") + encoded_nonce
    return int.from_bytes(keccak256(bytes((0xC0 + len(payload),)) + payload)[12:], "big")


def make_program(seed: int, index: int) -> Program:
    """The program with this index in this seed's sequence (deterministic)."""
    rng = random.Random(f"strikevm-fuzz:{seed}:{index}")
    accounts: dict[int, PreAccount] = {}
    for i, addr in enumerate(CONTRACTS):
        size = rng.randrange(10, 200) if i == 0 else rng.randrange(1, 120)
        code = generate_code(
            rng,
            size=size,
            nest=2 if i == 0 else 1,
            address_hint=addr,
            hazard=0.3 if i == 0 else 0.7,
        )
        storage = {
            slot: rng.choice(INTERESTING[1:] + (rng.getrandbits(256),))
            for slot in range(4)
            if rng.random() < 0.35
        }
        accounts[addr] = PreAccount(
            nonce=rng.choice((0, 1, 1, 1, 7, MAX_NONCE - 1 if rng.random() < 0.1 else 2)),
            balance=rng.choice((0, 0, 1, 10**6, 10**18)),
            code=code,
            storage=storage,
        )
    if rng.random() < 0.1:
        # The address the target's next CREATE lands on already holds a balance (no
        # collision). Not storage: the EIP-7610 collision rule is missing from revm here.
        future = _create_address(TARGET, accounts[TARGET].nonce)
        accounts[future] = PreAccount(balance=12345)
    accounts[EOA] = PreAccount(nonce=rng.choice((0, 3)), balance=10**18)
    accounts[SENDER] = PreAccount(nonce=rng.choice((0, 0, 1, 42)), balance=SENDER_BALANCE)
    coinbase = rng.choice(COINBASES)
    calldata = b"".join(
        rng.choice(
            (
                _words(rng.choice(INTERESTING)),
                _words(rng.choice(CONTRACTS)),
                _words(rng.randrange(8)),
                rng.randbytes(rng.randrange(1, 8)),
            )
        )
        for _ in range(rng.choice((0, 1, 2, 3)))
    )
    access_list: list[tuple[int, list[int]]] = []
    if rng.random() < 0.15:
        for addr in rng.sample((*CONTRACTS, EOA, NOBODY, 1, 4), rng.randint(1, 3)):
            access_list.append((addr, sorted(rng.sample(range(4), rng.randrange(3)))))
    r = rng.random()
    if r < 0.65:
        exec_gas = rng.randrange(80_000, 600_000)
    elif r < 0.75:
        exec_gas = rng.randrange(0, 30_000)  # out of gas somewhere, mostly
    elif r < 0.85:
        exec_gas = rng.randrange(30_000, 80_000)
    else:
        exec_gas = rng.randrange(600_000, 2_000_000)
    r = rng.random()
    create = r < 0.1
    if r > 0.9:  # the target just calls one precompile with the calldata
        accounts[TARGET].code, calldata = precompile_program(rng)
    elif r > 0.8:  # the target computes many values and returns them all
        accounts[TARGET].code = arithmetic_program(rng)
    if create:
        builder = CodeBuilder(rng, size=0, nest=2, address_hint=TARGET, hazard=0.3)
        calldata = builder.initcode(fragments=rng.randrange(2, 12), runtime_size=150)
    program = Program(
        seed=seed,
        index=index,
        accounts=accounts,
        calldata=calldata,
        value=rng.choice((0, 0, 0, 1, 1000, 10**18)),
        gas_limit=0,
        gas_price=rng.choice((0, 1, 7, 10**9)),
        access_list=access_list,
        coinbase=coinbase,
        number=rng.choice((1, 255, 256, 257, 1000, 19_000_000)),
        timestamp=rng.choice((1, 1_700_000_000, 2**32 + 5)),
        prev_randao=rng.getrandbits(256),
        excess_blob_gas=rng.choice((0, 1, 10**6, 10**8, 120_000_000)),
        create=create,
    )
    if not create and rng.random() < 0.1:
        program.blob_hashes = [b"\x01" + rng.randbytes(31) for _ in range(rng.randint(1, 6))]
    program.gas_limit = intrinsic_gas(_transaction(program, 0)) + exec_gas
    return program


MAX_FEE_PER_BLOB_GAS = 10**17


def _transaction(program: Program, gas_limit: int):  # noqa: ANN202 - a Transaction
    blobs = program.blob_hashes
    return sign_transaction(
        SENDER_KEY,
        tx_type=3 if blobs else 2,
        chain_id=CHAIN_ID,
        nonce=program.accounts[SENDER].nonce,
        gas_limit=gas_limit,
        to=None if program.create else TARGET,
        value=program.value,
        data=program.calldata,
        max_priority_fee_per_gas=program.gas_price,
        max_fee_per_gas=program.gas_price,
        access_list=program.access_list,
        max_fee_per_blob_gas=MAX_FEE_PER_BLOB_GAS if blobs else None,
        blob_versioned_hashes=blobs,
    )


# ---------------------------------------------------------------- StrikeVM


def _view(nonce: int, balance: int, code: bytes, storage: dict[int, int]) -> AccountView:
    return (nonce, balance, bytes(code), tuple(sorted((k, v) for k, v in storage.items() if v)))


def _is_empty(view: AccountView) -> bool:
    return view[0] == 0 and view[1] == 0 and not view[2] and not view[3]


def run_strikevm(program: Program, engine: str = "fast") -> Outcome:
    """Apply the program's transaction on StrikeVM; post-state in message-call terms."""
    accounts = {
        addr: Account(a.nonce, a.balance, a.code, dict(a.storage))
        for addr, a in program.accounts.items()
    }
    # A call runs as pyrevm's message_call: no gas bought, no fee paid, no nonce bump.
    # A creation runs as a whole transaction on both sides (pyrevm's deploy).
    as_message = not program.create
    if as_message:
        accounts[SENDER].balance += program.gas_limit * program.gas_price
        blob_gas = len(program.blob_hashes) * GAS_PER_BLOB
        accounts[SENDER].balance += blob_gas * blob_base_fee(program.excess_blob_gas)
    state = WorldState(accounts)
    block = BlockEnv(
        coinbase=program.coinbase,
        number=program.number,
        timestamp=program.timestamp,
        gas_limit=BLOCK_GAS_LIMIT,
        prev_randao=program.prev_randao,
        base_fee=0,
        excess_blob_gas=program.excess_blob_gas,
        chain_id=CHAIN_ID,
    )
    tx = _transaction(program, program.gas_limit)
    try:
        result = apply_transaction(state, block, tx, engine=engine)
    except Exception as exc:  # a crash is a finding, reported like a divergence
        tb = traceback.format_exc(limit=-4)
        return Outcome(False, b"", -1, [], {}, f"{type(exc).__name__}: {exc}\n{tb}", True)
    views: dict[int, AccountView] = {}
    for addr, acct in state.accounts.items():
        nonce, balance = acct.nonce, acct.balance
        if as_message and addr == SENDER:  # undo the nonce bump and the gas refund
            nonce -= 1
            balance -= (program.gas_limit - result.gas_used) * program.gas_price
        if as_message and addr == program.coinbase:  # undo the fee payment
            balance -= result.gas_used * program.gas_price
        view = _view(nonce, balance, acct.code, acct.storage)
        if as_message and addr == program.coinbase and _is_empty(view):
            continue  # it only existed because it was paid
        views[addr] = view
    logs = [(log.address, tuple(log.topics), bytes(log.data)) for log in result.logs]
    return Outcome(result.success, bytes(result.output), result.gas_used, logs, views)


# -------------------------------------------------------------------- revm

_ACCOUNT_RE = re.compile(
    r"(0x[0-9a-f]{40}): Account \{ info: AccountInfo \{ balance: (\d+), nonce: (\d+), "
    r"code_hash: 0x[0-9a-f]{64}, code: (.*?) \}, storage: \{(.*?)\}, "
    r"status: AccountStatus\(([^)]*)\) \}"
)
_CODE_RE = re.compile(r"Some\(Bytecode \{ bytecode: 0x([0-9a-f]*), state: \w+(?: \{ len: (\d+))?")
_SLOT_RE = re.compile(r"(\d+): StorageSlot \{ [^}]*?present_value: (\d+)")
_OUTPUT_RE = re.compile(r"output: 0x([0-9a-f]*)")


def _hex_address(addr: int) -> str:
    return f"0x{addr:040x}"


def run_revm(program: Program) -> Outcome:
    """Run the program's call on revm (pyrevm ``message_call``, Cancun)."""
    import pyrevm

    env = pyrevm.Env(
        cfg=pyrevm.CfgEnv(chain_id=CHAIN_ID),
        block=pyrevm.BlockEnv(
            number=program.number,
            coinbase=_hex_address(program.coinbase),
            timestamp=program.timestamp,
            prevrandao=program.prev_randao.to_bytes(32, "big"),
            basefee=0,
            gas_limit=BLOCK_GAS_LIMIT,
            excess_blob_gas=program.excess_blob_gas,
        ),
    )
    evm = pyrevm.EVM(env=env, gas_limit=BLOCK_GAS_LIMIT, spec_id="CANCUN")
    # pyrevm's insert_account_storage loads the account into revm's journal (making it
    # warm, and sending later inserts to the journal with a wrong original value).
    # Inserting each slot inside a checkpoint that is then reverted leaves every value
    # in the database and the journal empty.
    for addr, a in program.accounts.items():
        info = pyrevm.AccountInfo(balance=a.balance, nonce=a.nonce, code=a.code or None)
        evm.insert_account_info(_hex_address(addr), info)
        for slot, value in a.storage.items():
            checkpoint = evm.snapshot()
            evm.insert_account_storage(_hex_address(addr), slot, value)
            evm.revert(checkpoint)
    if program.access_list or program.blob_hashes:
        evm.set_tx_env(
            pyrevm.TxEnv(
                access_list=[
                    (_hex_address(addr), list(keys)) for addr, keys in program.access_list
                ],
                blob_hashes=list(program.blob_hashes),
                max_fee_per_blob_gas=MAX_FEE_PER_BLOB_GAS if program.blob_hashes else None,
            )
        )
    note = ""
    sender = _hex_address(SENDER)
    try:
        if program.create:
            evm.deploy(
                sender, program.calldata, program.value, program.gas_limit, program.gas_price
            )
            output = b""  # StrikeVM's result of a successful creation carries no output
        else:
            output = bytes(
                evm.message_call(
                    sender,
                    _hex_address(TARGET),
                    program.calldata,
                    program.value,
                    program.gas_limit,
                    program.gas_price,
                )
            )
    except BaseException as exc:  # pyo3 panics derive from BaseException
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        note = str(exc)
        match = _OUTPUT_RE.search(note)
        output = bytes.fromhex(match.group(1)) if match else b""
    result = evm.result
    if result is None:
        return Outcome(False, b"", -1, [], {}, f"revm error: {note}", True)
    # Post-state: the pre-state overlaid with revm's (unfinalized) journal.
    views = {
        addr: _view(a.nonce, a.balance, a.code, a.storage) for addr, a in program.accounts.items()
    }
    journal = evm.journal_str
    matches = list(_ACCOUNT_RE.finditer(journal))
    if len(matches) != journal.count(": Account { info: "):
        return Outcome(False, b"", -1, [], {}, f"cannot parse revm's journal: {journal}", True)
    for m in matches:
        addr = int(m.group(1), 16)
        status = m.group(6)
        if "SelfDestructed" in status:
            views.pop(addr, None)
            continue
        pre = program.accounts.get(addr)
        storage = dict(pre.storage) if pre is not None and "Created" not in status else {}
        for slot, value in _SLOT_RE.findall(m.group(5)):
            storage[int(slot)] = int(value)
        code_match = _CODE_RE.match(m.group(4))
        if code_match is None:
            code = bytes(evm.get_code(m.group(1)) or b"")
        else:
            code = bytes.fromhex(code_match.group(1))
            if code_match.group(2) is not None:  # analysed code is padded
                code = code[: int(code_match.group(2))]
        view = _view(int(m.group(3)), int(m.group(2)), code, storage)
        if _is_empty(view):  # touched or loaded empty accounts do not survive (EIP-161)
            views.pop(addr, None)
        else:
            views[addr] = view
    logs: list[LogView] = []
    if result.is_success:
        for log in result.logs:
            topics, data = log.data
            logs.append(
                (
                    int(log.address, 16),
                    tuple(int.from_bytes(bytes(t), "big") for t in topics),
                    bytes(data),
                )
            )
    if not note and not result.is_success:
        note = result.reason
    return Outcome(result.is_success, output, result.gas_used, logs, views, note)


# -------------------------------------------------------------- comparison


def _describe_account(view: AccountView | None) -> str:
    if view is None:
        return "absent"
    nonce, balance, code, storage = view
    slots = ", ".join(f"{k:#x}: {v:#x}" for k, v in storage)
    return f"nonce {nonce}, balance {balance}, code 0x{code.hex()}, storage {{{slots}}}"


def compare(strike: Outcome, revm: Outcome) -> list[str]:
    """Differences between two outcomes, one line each (empty when they agree)."""
    diffs: list[str] = []
    if strike.crashed or revm.crashed:
        which = "strikevm" if strike.crashed else "revm"
        diffs.append(f"{which} crashed: {(strike if strike.crashed else revm).note}")
        return diffs
    if strike.success != revm.success:
        diffs.append(
            f"success: strikevm {strike.success} ({strike.note or 'ok'}), "
            f"revm {revm.success} ({revm.note or 'ok'})"
        )
    if strike.output != revm.output:
        diffs.append(f"output: strikevm 0x{strike.output.hex()}, revm 0x{revm.output.hex()}")
    if strike.gas_used != revm.gas_used:
        diffs.append(
            f"gas used: strikevm {strike.gas_used}, revm {revm.gas_used} "
            f"(strikevm - revm = {strike.gas_used - revm.gas_used})"
        )
    if strike.logs != revm.logs:
        diffs.append(f"logs: {_log_difference(strike.logs, revm.logs)}")
    for addr in sorted(set(strike.accounts) | set(revm.accounts)):
        a, b = strike.accounts.get(addr), revm.accounts.get(addr)
        if a == b:
            continue
        if a is None or b is None:
            diffs.append(
                f"account {_hex_address(addr)}: strikevm {_describe_account(a)}; "
                f"revm {_describe_account(b)}"
            )
            continue
        parts = []
        if a[0] != b[0]:
            parts.append(f"nonce {a[0]} vs {b[0]}")
        if a[1] != b[1]:
            parts.append(f"balance {a[1]} vs {b[1]}")
        if a[2] != b[2]:
            parts.append(f"code 0x{a[2].hex()} vs 0x{b[2].hex()}")
        sa, sb = dict(a[3]), dict(b[3])
        for slot in sorted(set(sa) | set(sb)):
            if sa.get(slot, 0) != sb.get(slot, 0):
                parts.append(f"slot {slot:#x}: {sa.get(slot, 0):#x} vs {sb.get(slot, 0):#x}")
        diffs.append(f"account {_hex_address(addr)} (strikevm vs revm): " + "; ".join(parts))
    return diffs


def _fmt_logs(logs: list[LogView], limit: int = 4) -> str:
    shown = ", ".join(
        f"({_hex_address(a)}, [{', '.join(hex(t) for t in topics)}], 0x{data.hex()})"
        for a, topics, data in logs[:limit]
    )
    more = f", ... {len(logs) - limit} more" if len(logs) > limit else ""
    return f"{len(logs)} logs [{shown}{more}]"


def _log_difference(a: list[LogView], b: list[LogView]) -> str:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return f"log {i}: strikevm {_fmt_logs([x])}, revm {_fmt_logs([y])}"
    return f"strikevm {_fmt_logs(a)}, revm {_fmt_logs(b)}"


# --------------------------------------------------------------- the driver


@dataclass(slots=True)
class Divergence:
    """A program on which StrikeVM and revm disagree."""

    program: Program
    engine: str
    differences: list[str]
    other_engine_agrees: bool | None = None  # the other StrikeVM engine matched revm

    def report(self) -> str:
        p = self.program
        lines = [
            f"DIVERGENCE seed={p.seed} index={p.index} engine={self.engine} "
            f"(reproduce: python -m strikevm.tools.fuzz --seed {p.seed} --only {p.index} "
            f"--engine {self.engine})"
        ]
        for addr in CONTRACTS:
            role = "target" if addr == TARGET else "contract"
            acct = p.accounts[addr]
            storage = {hex(k): hex(v) for k, v in acct.storage.items()}
            lines.append(
                f"  {role} {_hex_address(addr)} nonce={acct.nonce} balance={acct.balance} "
                f"storage={storage}\n    code 0x{acct.code.hex()}"
            )
        lines.append(
            ("  creation transaction, initcode" if p.create else "  calldata")
            + f" 0x{p.calldata.hex()} value={p.value} gas_limit={p.gas_limit} "
            f"gas_price={p.gas_price} sender_nonce={p.accounts[SENDER].nonce} "
            f"coinbase={_hex_address(p.coinbase)}"
        )
        lines.append(
            f"  block number={p.number} timestamp={p.timestamp} "
            f"prevrandao={p.prev_randao:#x} excess_blob_gas={p.excess_blob_gas}"
            + (f" access_list={[(hex(a), k) for a, k in p.access_list]}" if p.access_list else "")
            + (f" blob_hashes={[h.hex() for h in p.blob_hashes]}" if p.blob_hashes else "")
        )
        lines.extend(f"  - {d}" for d in self.differences)
        if self.other_engine_agrees is not None:
            other = "reference" if self.engine == "fast" else "fast"
            verdict = (
                "agrees with revm: the divergence is specific to this engine"
                if self.other_engine_agrees
                else "diverges too"
            )
            lines.append(f"  the {other} engine {verdict}")
        return "\n".join(lines)


def check(program: Program, engine: str = "fast") -> Divergence | None:
    """Run one program on both sides; a Divergence when they disagree."""
    diffs = compare(run_strikevm(program, engine), run_revm(program))
    if not diffs:
        return None
    other = "reference" if engine == "fast" else "fast"
    agrees = not compare(run_strikevm(program, other), run_revm(program))
    return Divergence(program, engine, diffs, agrees)


def fuzz(
    programs: int,
    seed: int,
    *,
    engine: str = "fast",
    only: int | None = None,
    verbose: bool = False,
    out: Callable[[str], None] | None = None,
) -> list[Divergence]:
    """Run programs ``0..programs-1`` (or just ``only``); return the divergences."""
    say = out if out is not None else (lambda s: print(s, flush=True))
    indices = [only] if only is not None else list(range(programs))

    def loop() -> list[Divergence]:
        found: list[Divergence] = []
        start = time.monotonic()
        for n, index in enumerate(indices, 1):
            program = make_program(seed, index)
            divergence = check(program, engine)
            if divergence is not None:
                found.append(divergence)
                say(divergence.report())
            elif verbose:
                strike = run_strikevm(program, engine)
                say(
                    f"#{index}: ok success={strike.success} gas={strike.gas_used} "
                    f"logs={len(strike.logs)} code 0x{program.accounts[TARGET].code.hex()}"
                )
            if n % 500 == 0 and n < len(indices):
                say(
                    f"... {n}/{len(indices)} programs, {len(found)} divergences, "
                    f"{time.monotonic() - start:.1f}s"
                )
        return found

    return run_deep(loop)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m strikevm.tools.fuzz",
        description="Differential fuzzing of StrikeVM against revm (pyrevm).",
    )
    parser.add_argument("--programs", type=int, default=1000, help="number of programs")
    parser.add_argument("--seed", type=int, default=1, help="seed of the program sequence")
    parser.add_argument("--engine", choices=("fast", "reference"), default="fast")
    parser.add_argument("--only", type=int, default=None, help="run only this program index")
    parser.add_argument("--verbose", action="store_true", help="a line per program")
    args = parser.parse_args(argv)
    found = fuzz(args.programs, args.seed, engine=args.engine, only=args.only, verbose=args.verbose)
    total = 1 if args.only is not None else args.programs
    print(f"{total} programs, {len(found)} divergences")
    return 1 if found else 0


__all__ = [
    "Divergence",
    "Outcome",
    "Program",
    "check",
    "compare",
    "fuzz",
    "make_program",
    "run_revm",
    "run_strikevm",
]

if __name__ == "__main__":
    sys.exit(main())
