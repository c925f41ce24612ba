"""Helpers for the opcode tests: an assembler with labels, message and transaction runners.

The opcode byte values below are written out from the Yellow Paper and the EIPs, not
taken from the instruction table under test, so a wrong entry in that table shows up
as a failing test rather than being mirrored here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from Crypto.Hash import keccak as _pyc_keccak

from strikevm.chain.executor import TxResult, apply_transaction
from strikevm.chain.transaction import sign_transaction
from strikevm.crypto import private_key_to_address
from strikevm.state.account import Account
from strikevm.state.world import Log, WorldState
from strikevm.vm.env import BlockEnv, Message, MessageResult, TxEnv
from strikevm.vm.errors import ExceptionalHalt
from strikevm.vm.evm import EVM
from strikevm.vm.frame import Frame

ENGINES = ("reference", "fast")

U256 = 1 << 256
M = U256 - 1
SIGN = 1 << 255

CALLER = 0x1111111111111111111111111111111111111111
TARGET = 0x2222222222222222222222222222222222222222
OTHER = 0x3333333333333333333333333333333333333333
THIRD = 0x4444444444444444444444444444444444444444
NOBODY = 0x5555555555555555555555555555555555555555  # never given an account

# ------------------------------------------------------------------ opcodes

OPCODES: dict[str, int] = {
    "STOP": 0x00, "ADD": 0x01, "MUL": 0x02, "SUB": 0x03, "DIV": 0x04, "SDIV": 0x05,
    "MOD": 0x06, "SMOD": 0x07, "ADDMOD": 0x08, "MULMOD": 0x09, "EXP": 0x0A,
    "SIGNEXTEND": 0x0B,
    "LT": 0x10, "GT": 0x11, "SLT": 0x12, "SGT": 0x13, "EQ": 0x14, "ISZERO": 0x15,
    "AND": 0x16, "OR": 0x17, "XOR": 0x18, "NOT": 0x19, "BYTE": 0x1A, "SHL": 0x1B,
    "SHR": 0x1C, "SAR": 0x1D,
    "KECCAK256": 0x20,
    "ADDRESS": 0x30, "BALANCE": 0x31, "ORIGIN": 0x32, "CALLER": 0x33, "CALLVALUE": 0x34,
    "CALLDATALOAD": 0x35, "CALLDATASIZE": 0x36, "CALLDATACOPY": 0x37, "CODESIZE": 0x38,
    "CODECOPY": 0x39, "GASPRICE": 0x3A, "EXTCODESIZE": 0x3B, "EXTCODECOPY": 0x3C,
    "RETURNDATASIZE": 0x3D, "RETURNDATACOPY": 0x3E, "EXTCODEHASH": 0x3F,
    "BLOCKHASH": 0x40, "COINBASE": 0x41, "TIMESTAMP": 0x42, "NUMBER": 0x43,
    "PREVRANDAO": 0x44, "GASLIMIT": 0x45, "CHAINID": 0x46, "SELFBALANCE": 0x47,
    "BASEFEE": 0x48, "BLOBHASH": 0x49, "BLOBBASEFEE": 0x4A,
    "POP": 0x50, "MLOAD": 0x51, "MSTORE": 0x52, "MSTORE8": 0x53, "SLOAD": 0x54,
    "SSTORE": 0x55, "JUMP": 0x56, "JUMPI": 0x57, "PC": 0x58, "MSIZE": 0x59, "GAS": 0x5A,
    "JUMPDEST": 0x5B, "TLOAD": 0x5C, "TSTORE": 0x5D, "MCOPY": 0x5E, "PUSH0": 0x5F,
    "LOG0": 0xA0, "LOG1": 0xA1, "LOG2": 0xA2, "LOG3": 0xA3, "LOG4": 0xA4,
    "CREATE": 0xF0, "CALL": 0xF1, "CALLCODE": 0xF2, "RETURN": 0xF3, "DELEGATECALL": 0xF4,
    "CREATE2": 0xF5, "STATICCALL": 0xFA, "REVERT": 0xFD, "INVALID": 0xFE,
    "SELFDESTRUCT": 0xFF,
}  # fmt: skip
for _n in range(1, 33):
    OPCODES[f"PUSH{_n}"] = 0x5F + _n
for _n in range(1, 17):
    OPCODES[f"DUP{_n}"] = 0x7F + _n
    OPCODES[f"SWAP{_n}"] = 0x8F + _n


def push(value: int, size: int | None = None) -> bytes:
    """PUSHn of ``value``; the smallest n >= 1 unless ``size`` is given (never PUSH0)."""
    if size is None:
        size = max(1, (value.bit_length() + 7) // 8)
    return bytes((0x5F + size,)) + value.to_bytes(size, "big")


def _number(token: str) -> int:
    return int(token, 0)


def asm(*parts: str | int | bytes) -> bytes:
    """Assemble mnemonics into bytecode.

    A ``str`` part holds whitespace-separated tokens: mnemonics, ``PUSHn <int>``,
    ``PUSHn @label`` (the label's offset), and ``label:`` which places a JUMPDEST and
    names its offset. An ``int`` part is a PUSH of the smallest size (at least PUSH1);
    a ``bytes`` part is copied verbatim.
    """
    pieces: list[bytes | tuple[str, int]] = []
    labels: dict[str, int] = {}
    pos = 0
    for part in parts:
        if isinstance(part, bytes):
            pieces.append(part)
            pos += len(part)
            continue
        if isinstance(part, int):
            raw = push(part)
            pieces.append(raw)
            pos += len(raw)
            continue
        tokens = part.split()
        i = 0
        while i < len(tokens):
            tok = tokens[i]
            i += 1
            if tok.endswith(":"):
                name = tok[:-1]
                if name in labels:
                    raise ValueError(f"label {name} defined twice")
                labels[name] = pos
                pieces.append(b"\x5b")
                pos += 1
                continue
            name = tok.upper()
            if name not in OPCODES:
                raise ValueError(f"unknown mnemonic {tok!r}")
            op = OPCODES[name]
            if 0x60 <= op <= 0x7F:
                size = op - 0x5F
                arg = tokens[i]
                i += 1
                pieces.append(bytes((op,)))
                if arg.startswith("@"):
                    pieces.append((arg[1:], size))
                else:
                    value = _number(arg)
                    if value >= 1 << (8 * size):
                        raise ValueError(f"{arg} does not fit {name}")
                    pieces.append(value.to_bytes(size, "big"))
                pos += 1 + size
            else:
                pieces.append(bytes((op,)))
                pos += 1
    out = bytearray()
    for piece in pieces:
        if isinstance(piece, tuple):
            name, size = piece
            out += labels[name].to_bytes(size, "big")
        else:
            out += piece
    return bytes(out)


# Epilogue storing the top of the stack at memory[0:32] and returning it: PUSH1 (3),
# MSTORE (3 + 3 to grow memory to one word), PUSH1 (3), PUSH1 (3), RETURN (0).
RET_TOP = "PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN"
RET_TOP_GAS = 15


def ret_words(n: int) -> str:
    """Epilogue returning the top ``n`` stack items as words (top first), memory empty."""
    def p(v: int) -> str:
        return f"PUSH1 {v}" if v < 256 else f"PUSH2 {v}"

    body = " ".join(f"{p(32 * i)} MSTORE" for i in range(n))
    return f"{body} {p(32 * n)} PUSH1 0 RETURN"


def ret_words_gas(n: int) -> int:
    """Gas of ``ret_words(n)`` when memory starts empty."""
    return 6 * n + mem_cost(n) + 6


def mem_cost(words: int) -> int:
    """Yellow Paper C_mem: 3 per word plus words**2 // 512."""
    return 3 * words + words * words // 512


def word(value: int) -> bytes:
    return (value % U256).to_bytes(32, "big")


def signed(value: int) -> int:
    """Two's complement encoding of a (possibly negative) Python int."""
    return value % U256


def words_of(data: bytes) -> list[int]:
    return [int.from_bytes(data[i : i + 32], "big") for i in range(0, len(data), 32)]


def op_program(op: str, operands: Sequence[int], mode: str) -> tuple[bytes, bytes, int]:
    """Code applying ``op`` to ``operands`` (operands[0] on top) and returning the result.

    ``mode`` "const" pushes literals (which the fast engine folds at compile time);
    "calldata" loads each operand with CALLDATALOAD so the values exist only at run
    time. Returns (code, calldata, gas of everything but the opcode itself).
    """
    parts: list[str | int | bytes] = []
    data = b""
    if mode == "const":
        for v in reversed(operands):
            parts.append(v)
        overhead = 3 * len(operands)
    elif mode == "calldata":
        data = b"".join(word(v) for v in operands)
        for i in reversed(range(len(operands))):
            parts.append(f"PUSH1 {32 * i} CALLDATALOAD")
        overhead = 6 * len(operands)
    else:
        raise ValueError(mode)
    parts.append(op)
    parts.append(RET_TOP)
    return asm(*parts), data, overhead + RET_TOP_GAS


def keccak(data: bytes) -> bytes:
    """Keccak-256 from pycryptodome, independent of the code under test."""
    return _pyc_keccak.new(data=data, digest_bits=256).digest()


def create_addr(sender: int, nonce: int) -> int:
    """Yellow Paper CREATE address: keccak(rlp([sender, nonce]))[12:], RLP written out."""
    if nonce == 0:
        enc = b"\x80"
    elif nonce < 0x80:
        enc = bytes((nonce,))
    else:
        raw = nonce.to_bytes((nonce.bit_length() + 7) // 8, "big")
        enc = bytes((0x80 + len(raw),)) + raw
    payload = b"\x94" + sender.to_bytes(20, "big") + enc
    return int.from_bytes(keccak(bytes((0xC0 + len(payload),)) + payload)[12:], "big")


def create2_addr(sender: int, salt: int, initcode: bytes) -> int:
    """EIP-1014: keccak(0xff ++ sender ++ salt ++ keccak(initcode))[12:]."""
    raw = b"\xff" + sender.to_bytes(20, "big") + salt.to_bytes(32, "big") + keccak(initcode)
    return int.from_bytes(keccak(raw)[12:], "big")


def mstore_bytes(data: bytes, at: int = 0) -> bytes:
    """Code writing ``data`` to memory at ``at`` (whole words, zero-padded on the right)."""
    parts: list[str | int | bytes] = []
    for i in range(0, len(data), 32):
        chunk = data[i : i + 32].ljust(32, b"\x00")
        parts += [push(int.from_bytes(chunk, "big"), 32), push(at + i), "MSTORE"]
    return asm(*parts)


def initcode_for(runtime: bytes) -> bytes:
    """Initcode that returns ``runtime`` as the code to deploy (CODECOPY of its tail)."""
    n = len(runtime)
    prefix = asm(f"PUSH2 {n} PUSH2 15 PUSH1 0 CODECOPY PUSH2 {n} PUSH1 0 RETURN")
    assert len(prefix) == 15
    return prefix + runtime


# ------------------------------------------------------------------ running


@dataclass
class Outcome:
    """Result of one message plus the world state it ran against."""

    result: MessageResult
    state: WorldState
    gas: int

    @property
    def success(self) -> bool:
        return self.result.success

    @property
    def output(self) -> bytes:
        return self.result.output

    @property
    def error(self) -> Exception | None:
        return self.result.error

    @property
    def gas_left(self) -> int:
        return self.result.gas_left

    @property
    def gas_used(self) -> int:
        return self.gas - self.result.gas_left

    @property
    def logs(self) -> list[Log]:
        return self.state.logs

    @property
    def refund(self) -> int:
        return self.state.refund

    @property
    def out_word(self) -> int:
        assert len(self.output) == 32, self.output.hex()
        return int.from_bytes(self.output, "big")

    @property
    def out_words(self) -> list[int]:
        return words_of(self.output)

    def storage(self, addr: int = TARGET) -> dict[int, int]:
        acct = self.state.accounts.get(addr)
        if acct is None:
            return {}
        return {k: v for k, v in acct.storage.items() if v}

    def balance(self, addr: int) -> int:
        return self.state.balance(addr)


def make_state(
    code: bytes, pre: Mapping[int, Account] | None, storage: Mapping[int, int] | None,
    target: int, caller: int, balance: int,
) -> WorldState:
    accounts: dict[int, Account] = {caller: Account(balance=10**20)}
    accounts[target] = Account(code=code, balance=balance, nonce=1,
                               storage=dict(storage or {}))
    for addr, acct in (pre or {}).items():
        accounts[addr] = acct.copy()
    return WorldState(accounts)


def run(
    engine: str,
    code: bytes,
    *,
    data: bytes = b"",
    gas: int = 1_000_000,
    value: int = 0,
    pre: Mapping[int, Account] | None = None,
    storage: Mapping[int, int] | None = None,
    balance: int = 0,
    block: BlockEnv | None = None,
    tx: TxEnv | None = None,
    caller: int = CALLER,
    target: int = TARGET,
    static: bool = False,
    depth: int = 0,
    warm: Iterable[int] = (),
    warm_slots: Iterable[tuple[int, int]] = (),
    state: WorldState | None = None,
) -> Outcome:
    """Run ``code`` as the code of ``target`` called by ``caller``.

    ``pre`` adds (copies of) accounts, ``storage`` and ``balance`` set the target's.
    The caller and the target start warm (as the sender and recipient of a
    transaction are); ``warm``/``warm_slots`` warm more.
    """
    if state is None:
        state = make_state(code, pre, storage, target, caller, balance)
        state.prewarm([caller, target, *warm], warm_slots)
    evm = EVM(state, block or BlockEnv(), tx or TxEnv(origin=caller), engine=engine)
    msg = Message(
        caller=caller, target=target, value=value, data=data, gas=gas, code=code,
        code_address=target, depth=depth, is_static=static,
    )
    return Outcome(evm.process_message(msg), state, gas)


def run_stack(
    engine: str,
    code: bytes,
    *,
    gas: int = 1_000_000,
    data: bytes = b"",
    pre: Mapping[int, Account] | None = None,
) -> tuple[list[int], int, Exception | None]:
    """Run ``code`` in one frame and return (stack bottom first, gas left, halt or None).

    Only the reference interpreter leaves its final stack in the frame (the fast
    engine keeps stack values in locals and does not write them back on halting),
    so this is for reference-only checks; other tests return values through memory.
    """
    state = make_state(code, pre, None, TARGET, CALLER, 0)
    state.prewarm([CALLER, TARGET])
    evm = EVM(state, BlockEnv(), TxEnv(origin=CALLER), engine=engine)
    msg = Message(caller=CALLER, target=TARGET, value=0, data=data, gas=gas, code=code,
                  code_address=TARGET)
    frame = Frame(evm, msg)
    error: Exception | None = None
    try:
        evm.run_code(frame)
    except ExceptionalHalt as exc:
        error = exc
    return list(frame.stack), frame.gas, error


# ------------------------------------------------------------------ transactions

SECRET = bytes.fromhex("45a915e4d060149eb4365960e6a7a45f334393093061116b197e3240065ff2d8")
SENDER = int.from_bytes(private_key_to_address(SECRET), "big")


def run_tx(
    engine: str,
    pre: Mapping[int, Account],
    *,
    to: int | None,
    data: bytes = b"",
    value: int = 0,
    gas_limit: int = 1_000_000,
    block: BlockEnv | None = None,
    access_list: Iterable[tuple[int, Iterable[int]]] = (),
    nonce: int = 0,
) -> tuple[TxResult, WorldState]:
    """Sign and apply a type-2 transaction from SENDER (price 1 wei, base fee 0)."""
    accounts = {SENDER: Account(balance=10**20, nonce=nonce)}
    for addr, acct in pre.items():
        accounts[addr] = acct.copy()
    state = WorldState(accounts)
    tx = sign_transaction(
        SECRET, tx_type=2, chain_id=1, nonce=nonce, gas_limit=gas_limit, to=to, value=value,
        data=data, max_fee_per_gas=1, max_priority_fee_per_gas=1, access_list=access_list,
    )
    result = apply_transaction(state, block or BlockEnv(), tx, engine=engine)
    return result, state


def call_op(
    op: str = "CALL",
    to: int = OTHER,
    *,
    gas: int | None = None,
    value: int = 0,
    in_off: int = 0,
    in_size: int = 0,
    out_off: int = 0,
    out_size: int = 0,
) -> bytes:
    """Push the operands of a CALL-family opcode and run it (result left on the stack).

    ``gas`` None forwards everything with the GAS opcode. Pushes cost 3 each (the
    GAS opcode 2): 21 (or 20 with GAS) for CALL/CALLCODE, 18 (17) for the others.
    """
    parts: list[str | int | bytes] = [out_size, out_off, in_size, in_off]
    if op in ("CALL", "CALLCODE"):
        parts.append(value)
    parts.append(push(to, 20))
    parts.append("GAS" if gas is None else push(gas))
    parts.append(op)
    return asm(*parts)
