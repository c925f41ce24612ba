"""Code analysis: the native jump-destination bitmap and cold-block decoder against the
pure-Python fallback, and the cold tier against the reference interpreter.

The pure-Python functions of ``vm.analysis`` are the reference; the C extension must agree
with them on random and adversarial code (PUSH data containing 0x5b, PUSH running past the
end of the code, runs of JUMPDESTs, undefined opcodes, every entry pc). The cold tier of the
fast engine charges a block's static gas and checks its stack bounds once on entry; the
programs below fail those checks in the middle of a block and must end exactly as on the
reference interpreter (same success, gas left, output and error class).
"""

from __future__ import annotations

import random

import pytest

from strikevm.state.account import Account
from strikevm.state.world import WorldState
from strikevm.tools.deepstack import run_deep
from strikevm.vm import analysis as A
from strikevm.vm import compiler
from strikevm.vm import gas as G
from strikevm.vm.env import BlockEnv, Message, TxEnv
from strikevm.vm.evm import EVM
from strikevm.vm.frame import Frame
from strikevm.vm.instructions import table as T

native = pytest.importorskip("strikevm.vm._analysis_native")

CALLER = 0x1000
TARGET = 0x2000
JUMPDEST, PUSH1, PUSH2, PUSH32, STOP, ADD, POP, JUMP, JUMPI = (
    0x5B, 0x60, 0x61, 0x7F, 0x00, 0x01, 0x50, 0x56, 0x57,
)  # fmt: skip
RETURN_TOP = bytes([0x60, 0x00, 0x52, 0x60, 0x20, 0x60, 0x00, 0xF3])
ENTRIES = compiler._cold_entries(T.OPCODES)
# Opcodes drawn more often by the random programs: JUMPDEST, every PUSH, jumps, halts.
BIASED = (0x5B, 0x5B, 0x60, 0x61, 0x7F, 0x5F, 0x56, 0x57, 0x00, 0xFE, 0x0C, 0x5A, 0x58)


def _random_code(rng: random.Random, n: int) -> bytes:
    return bytes(rng.choice(BIASED) if rng.random() < 0.4 else rng.randrange(256) for _ in range(n))


def _adversarial_codes() -> list[bytes]:
    return [
        b"",
        bytes([JUMPDEST]),
        bytes([PUSH1]),  # PUSH at the end of code, no data
        bytes([PUSH32]) + bytes([JUMPDEST]) * 31,  # truncated PUSH32 of JUMPDEST bytes
        bytes([PUSH32]) + bytes([JUMPDEST]) * 32 + bytes([JUMPDEST]),
        bytes([PUSH1, JUMPDEST, JUMPDEST]),
        bytes([PUSH2, JUMPDEST]),  # PUSH2 with one byte of data left
        bytes([JUMPDEST]) * 24576,
        bytes([PUSH1, 1]) + bytes([PUSH1, 3, ADD]) * 2000 + bytes([STOP]),
        bytes(range(256)) * 4,
        bytes([0x7F - k for k in range(32)]) * 8,
    ]


def _corpus() -> list[bytes]:
    rng = random.Random(20240501)
    codes = _adversarial_codes()
    codes += [_random_code(rng, rng.randrange(1, 300)) for _ in range(400)]
    return codes


CORPUS = _corpus()


def test_jumpdests_native_equals_python() -> None:
    for code in CORPUS:
        fast, ref = native.jumpdests(code), A.py_jumpdests(code)
        assert frozenset(fast) == ref
        assert fast == ref and len(fast) == len(ref)
        assert list(fast) == sorted(ref)
        for x in range(-3, len(code) + 3):
            assert (x in fast) == (x in ref)


def test_jumpdests_membership_of_any_int() -> None:
    code = bytes([JUMPDEST, PUSH1, JUMPDEST, JUMPDEST])
    dests = native.jumpdests(code)
    assert frozenset(dests) == {0, 3}
    for x in (-1, -(2**64), 2**63, 2**64, 2**64 + 3, 2**256 - 1, 4, 1, 2):
        assert x not in dests
    assert True not in dests  # bool is an int: 1 is not a destination
    assert "0" not in dests and None not in dests


def test_jumpdests_pushdata_hides_jumpdest() -> None:
    code = bytes([PUSH32]) + bytes([JUMPDEST]) * 32 + bytes([JUMPDEST])
    assert frozenset(native.jumpdests(code)) == {33}
    assert A.py_jumpdests(code) == {33}


def test_analysis_uses_native_when_built() -> None:
    assert A.NATIVE
    assert isinstance(A.jumpdests(b"\x5b"), native.JumpDests)


def _tables(max_ops: int) -> tuple[A.BlockTable, A.BlockTable]:
    return (
        native.BlockTable(ENTRIES, max_ops, G.STACK_LIMIT),
        A.PyBlockTable(ENTRIES, max_ops, G.STACK_LIMIT),
    )


@pytest.mark.parametrize("max_ops", [1, 3, compiler.COLD_BLOCK])
def test_block_decoder_native_equals_python(max_ops: int) -> None:
    fast, ref = _tables(max_ops)
    rng = random.Random(max_ops)
    for code in CORPUS[:120] if max_ops == compiler.COLD_BLOCK else CORPUS[:60]:
        pcs = range(len(code) + 2) if len(code) <= 1200 else rng.sample(range(len(code)), 60)
        for pc in pcs:
            assert fast.decode(code, pc) == ref.decode(code, pc), (code.hex(), pc)


def test_block_decoder_fields() -> None:
    fast, ref = _tables(compiler.COLD_BLOCK)
    code = bytes([JUMPDEST, JUMPDEST, PUSH1, 5, ADD, JUMPDEST, PUSH2, 1])
    for table in (fast, ref):
        gas, need, high, ops, term, nxt = table.decode(code, 0)
        assert (gas, need, high, term, nxt) == (1 + 1 + 3 + 3, 1, G.STACK_LIMIT - 1, A.TERM_NEXT, 5)
        assert [a for _, a in ops] == [5, None]
        gas, need, high, ops, term, nxt = table.decode(code, 5)
        assert (gas, need, high, term, nxt) == (1 + 3, 0, G.STACK_LIMIT - 1, A.TERM_STOP, -1)
        assert [a for _, a in ops] == [0x0100]  # zero-padded on the right
        assert table.decode(code, 1)[0] == 1 + 3 + 3  # entered inside the JUMPDEST run
        assert table.decode(bytes([0x0C]), 0)[4:] == (A.TERM_INVALID, 0)
        assert table.decode(bytes([PUSH1, 1, 0xFE]), 0)[4:] == (A.TERM_INVALID, 2)
        assert table.decode(bytes([PUSH1, 1, JUMPI]), 0)[4:] == (A.TERM_JUMPI, 3)
        assert table.decode(bytes([0x5A, STOP]), 0)[4:] == (A.TERM_NEXT, 1)  # GAS ends it
        assert table.decode(bytes([0x58]), 0)[3][0][1] == 0  # PC pushes its own pc
    chunked = _tables(2)
    for table in chunked:
        assert table.decode(bytes([PUSH1, 1, PUSH1, 2, ADD]), 0)[4:] == (A.TERM_CHUNK, 4)


def test_block_table_rejects_bad_tables() -> None:
    for make in (native.BlockTable, A.PyBlockTable):
        with pytest.raises(ValueError):
            make(ENTRIES[:255], 16, G.STACK_LIMIT)
        with pytest.raises(ValueError):
            make(ENTRIES, 0, G.STACK_LIMIT)


# ------------------------------------------------------------- cold tier against reference


def _run(code: bytes, engine: str, gas: int, data: bytes = b"") -> tuple:
    def go() -> tuple:
        st = WorldState({TARGET: Account(code=code), CALLER: Account(balance=10**20)})
        st.prewarm([CALLER, TARGET])
        evm = EVM(st, BlockEnv(), TxEnv(origin=CALLER), engine=engine)
        r = evm.process_message(Message(CALLER, TARGET, 0, data, gas, code, TARGET))
        return r.success, r.gas_left, bytes(r.output), type(r.error).__name__

    return run_deep(go)


def _same_as_reference(code: bytes, gas: int, monkeypatch: pytest.MonkeyPatch) -> tuple:
    monkeypatch.setattr(compiler, "EAGER", False)
    expected = _run(code, "reference", gas)
    compiler.clear_cache()
    assert _run(code, "fast", gas) == expected
    with monkeypatch.context() as m:  # the pure-Python decoder as the cold tier's table
        m.setattr(compiler, "_TABLE", A.PyBlockTable(ENTRIES, compiler.COLD_BLOCK, G.STACK_LIMIT))
        compiler.clear_cache()
        assert _run(code, "fast", gas) == expected
    compiler.clear_cache()
    return expected


@pytest.mark.parametrize("gas", [0, 1, 2, 3, 5, 6, 8, 11, 12, 40, 50_000])
def test_out_of_gas_inside_a_block_is_exact(gas: int, monkeypatch: pytest.MonkeyPatch) -> None:
    code = bytes([JUMPDEST, JUMPDEST, PUSH1, 1, PUSH1, 2, ADD, POP]) + RETURN_TOP
    _same_as_reference(code, gas, monkeypatch)


def test_stack_errors_inside_a_block_are_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    under = bytes([PUSH1, 1, PUSH1, 1, ADD, ADD, STOP])  # underflow at the second ADD
    assert _same_as_reference(under, 100, monkeypatch)[3] == "StackUnderflow"
    assert _same_as_reference(under, 8, monkeypatch)[3] == "OutOfGas"  # gas runs out first
    over = bytes([PUSH1, 1]) * 1025 + bytes([STOP])
    assert _same_as_reference(over, 10_000, monkeypatch)[3] == "StackOverflow"
    assert _same_as_reference(over, 3000, monkeypatch)[3] == "OutOfGas"


def test_invalid_opcodes_and_jumps_are_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _same_as_reference(bytes([PUSH1, 1, 0x0C]), 100, monkeypatch)[3] == "InvalidOpcode"
    assert _same_as_reference(bytes([PUSH1, 1, 0xFE]), 100, monkeypatch)[3] == "InvalidOpcode"
    assert _same_as_reference(bytes([PUSH1, 1, PUSH1, 4, JUMPI]), 100, monkeypatch)[3] == "InvalidJump"
    big = bytes([PUSH1, 1, PUSH32]) + b"\xff" * 32 + bytes([JUMPI])
    assert _same_as_reference(big, 100, monkeypatch)[3] == "InvalidJump"
    into_data = bytes([PUSH1, 4, JUMP, PUSH1, JUMPDEST, STOP])  # 0x5b inside PUSH data
    assert _same_as_reference(into_data, 100, monkeypatch)[3] == "InvalidJump"
    valid = bytes([PUSH1, 3, JUMP, JUMPDEST, PUSH1, 7]) + RETURN_TOP
    assert _same_as_reference(valid, 100, monkeypatch)[:2] == (True, 100 - 3 - 8 - 1 - 3 - 15)


def test_long_straight_line_runs_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    body = bytes([PUSH1, 1]) + bytes([PUSH1, 3, ADD]) * (3 * compiler.COLD_BLOCK) + RETURN_TOP
    for gas in (10**6, 3 * 2 * 3 * compiler.COLD_BLOCK):  # enough, and out of gas midway
        _same_as_reference(body, gas, monkeypatch)


def test_random_programs_agree_with_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(7)
    for _ in range(150):
        code = _random_code(rng, rng.randrange(1, 120))
        _same_as_reference(code, rng.choice((50, 500, 100_000)), monkeypatch)


def test_cold_blocks_cached_within_the_cap() -> None:
    compiler.clear_cache()
    code = bytes([JUMPDEST]) * 300 + bytes([PUSH1, 1, POP, STOP])
    cc = compiler.compiled(code)
    assert cc.decode_cap == len(code) + compiler.COLD_BLOCK
    st = WorldState({TARGET: Account(code=code), CALLER: Account(balance=10**20)})
    evm = EVM(st, BlockEnv(), TxEnv(origin=CALLER), engine="fast")
    for entry in (0, 150, 299):
        f = Frame(evm, Message(CALLER, TARGET, 0, b"", 10**6, code, TARGET))
        f.gas = 10**6
        assert compiler._interpret(f, cc, entry) == -1
        assert f.gas == 10**6 - (300 - entry) - 3 - 2
    assert set(cc.blocks) == {0, 150, 299}
    assert cc.decoded <= cc.decode_cap
    compiler.clear_cache()
