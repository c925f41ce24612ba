"""Adversarial inputs to the fast engine: compile work stays bounded by gas.

Each program runs on the fast engine as deployed (cold tier first, compiled
once hot and paid for), on the fast engine with every region compiled on first
entry (``EAGER``), and on the reference interpreter; all three must agree on
success, gas and output. Source sizes are checked against the linear cap; no
timings are asserted (``bench/bench_worst_case.py`` measures them).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from strikevm.state.account import Account
from strikevm.state.world import WorldState
from strikevm.tools.deepstack import run_deep
from strikevm.vm import compiler
from strikevm.vm.env import BlockEnv, Message, TxEnv
from strikevm.vm.evm import EVM
from strikevm.vm.instructions import arithmetic

CALLER = 0x1000
TARGET = 0x2000
RETURN_TOP = bytes([0x60, 0x00, 0x52, 0x60, 0x20, 0x60, 0x00, 0xF3])  # MSTORE 0; RETURN 0..32
CALLDATASIZE, PUSH1, PUSH2, SWAP1, JUMP, JUMPI, JUMPDEST = 0x36, 0x60, 0x61, 0x90, 0x56, 0x57, 0x5B


@pytest.fixture(autouse=True)
def _cold_cache(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(compiler, "EAGER", False)  # tiered, whatever STRIKEVM_COMPILE says
    compiler.clear_cache()
    yield
    compiler.clear_cache()


def _run(code: bytes, engine: str, data: bytes = b"", gas: int = 10**7) -> tuple:
    def go() -> tuple:
        st = WorldState({TARGET: Account(code=code), CALLER: Account(balance=10**20)})
        st.prewarm([CALLER, TARGET])
        evm = EVM(st, BlockEnv(), TxEnv(origin=CALLER), engine=engine)
        r = evm.process_message(Message(CALLER, TARGET, 0, data, gas, code, TARGET))
        return r.success, r.gas_left, bytes(r.output)

    return run_deep(go)


def _all_agree(
    code: bytes, monkeypatch: pytest.MonkeyPatch, data: bytes = b"", gas: int = 10**7
) -> tuple:
    """Run on the reference, the tiered fast engine and the eager fast engine."""
    expected = _run(code, "reference", data, gas)
    assert _run(code, "fast", data, gas) == expected
    with monkeypatch.context() as m:
        m.setattr(compiler, "EAGER", True)
        compiler.clear_cache()
        assert _run(code, "fast", data, gas) == expected
    compiler.clear_cache()
    return expected


def _source_len(code: bytes, pc: int = 0) -> int:
    src, _ = compiler.translate(code, pc)
    return len(src)


def div_chain(k: int) -> bytes:
    """CALLDATASIZE, then ``PUSH1 5 DIV`` k times, then return the result."""
    return bytes([CALLDATASIZE]) + bytes([PUSH1, 5, 0x04]) * k + RETURN_TOP


def test_div_chain_k64_agrees_and_source_is_linear(monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"\xff" * 10_000
    ok, _, out = _all_agree(div_chain(64), monkeypatch, data=data)
    assert ok and int.from_bytes(out, "big") == 10_000 // 5**64
    sizes = {k: _source_len(div_chain(k)) for k in (16, 32, 64, 128)}
    for k, size in sizes.items():
        assert size <= compiler.source_cap(len(div_chain(k)))
    # linear: doubling the chain adds about as much as the previous doubling did
    assert sizes[128] - sizes[64] <= 2.5 * (sizes[64] - sizes[32])
    assert sizes[128] < 40 * len(div_chain(128))


def test_one_shot_contract_is_interpreted_not_compiled() -> None:
    code = div_chain(64)
    _run(code, "fast", data=b"\x01" * 64)
    cc = compiler.compiled(code)
    assert cc.source_chars == 0
    assert all(fn is None for fn in cc.regions)


def _loop(iterations: int) -> bytes:
    """A counting loop: i = iterations; while i: i -= 1; return i."""
    body = bytes([PUSH2, iterations >> 8, iterations & 0xFF])
    head = len(body)
    body += bytes([JUMPDEST, 0x80, 0x15, PUSH1, 0, JUMPI])  # DUP1 ISZERO PUSH1 exit JUMPI
    body += bytes([PUSH1, 1, SWAP1, 0x03, PUSH1, head, JUMP])  # i - 1, back to head
    exit_pc = len(body)
    body = body.replace(bytes([PUSH1, 0, JUMPI]), bytes([PUSH1, exit_pc, JUMPI]), 1)
    return body + bytes([JUMPDEST]) + RETURN_TOP


def test_hot_loop_compiles_only_what_its_gas_paid_for(monkeypatch: pytest.MonkeyPatch) -> None:
    code = _loop(60_000)
    ok, gas_left, out = _all_agree(code, monkeypatch)
    assert ok and out == bytes(32)
    _run(code, "fast")
    cc = compiler.compiled(code)
    assert cc.source_chars > 0  # the loop became hot and was compiled
    assert cc.source_chars * compiler.COMPILE_GAS_PER_CHAR <= 10**7 - gas_left
    assert cc.credit >= 0


def _chain(op: int, n_in: int, position: int, length: int) -> bytes:
    """A dependent chain of ``op``: the running value is operand ``position``."""
    step = b""
    consts = [bytes([PUSH1, 3 + i]) for i in range(n_in - 1)]
    if n_in == 1:
        step = bytes([op])
    elif n_in == 2:
        step = consts[0] + (bytes([SWAP1]) if position == 0 else b"") + bytes([op])
    else:  # v c d: v is operand 2; SWAP2 puts it first; c SWAP1 d puts it second
        if position == 1:
            step = consts[0] + bytes([SWAP1]) + consts[1] + bytes([op])
        else:
            step = consts[0] + consts[1] + (bytes([0x91]) if position == 0 else b"") + bytes([op])
    return bytes([CALLDATASIZE]) + step * length + RETURN_TOP


CHAIN_CASES = [
    (name, op, n_in, pos)
    for name, (op, n_in, _gas, _expr) in arithmetic.TEMPLATES.items()
    for pos in sorted({0, n_in // 2, n_in - 1})
]


@pytest.mark.parametrize(("name", "op", "n_in", "position"), CHAIN_CASES)
def test_dependent_chain_of_every_template(
    name: str, op: int, n_in: int, position: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = _chain(op, n_in, position, 64)
    _all_agree(code, monkeypatch, data=b"\x07" * 33)
    small, large = _source_len(_chain(op, n_in, position, 64)), _source_len(
        _chain(op, n_in, position, 128)
    )
    assert large <= compiler.source_cap(len(_chain(op, n_in, position, 128)))
    assert large < 2.5 * small, name


def _jump_table(targets: int) -> bytes:
    """Reach ``targets`` blocks one after another through computed (dynamic) jumps.

    Block i (at base + i * size, stack [i]): JUMPDEST PUSH1 1 ADD DUP1 PUSH2 n EQ
    PUSH2 exit JUMPI DUP1 PUSH1 size MUL PUSH1 base ADD JUMP.
    """
    size, base = 21, 8
    exit_pc = base + size * targets
    prologue = bytes([PUSH1, 0, PUSH1, base, JUMP, 0, 0, 0])
    block = bytes(
        [JUMPDEST, PUSH1, 1, 0x01, 0x80, PUSH2, targets >> 8, targets & 0xFF, 0x14,
         PUSH2, exit_pc >> 8, exit_pc & 0xFF, JUMPI,
         0x80, PUSH1, size, 0x02, PUSH1, base, 0x01, JUMP]
    )
    assert len(prologue) == base and len(block) == size
    return prologue + block * targets + bytes([JUMPDEST]) + RETURN_TOP


def test_many_dynamic_jump_targets(monkeypatch: pytest.MonkeyPatch) -> None:
    code = _jump_table(400)
    ok, _, out = _all_agree(code, monkeypatch)
    assert ok and int.from_bytes(out, "big") == 400
    _run(code, "fast")
    assert compiler.compiled(code).source_chars == 0  # one pass: nothing compiled


def _nested_jumpis(count: int) -> bytes:
    body = b""
    for _ in range(count):
        dest = len(body) + 8
        # CALLDATASIZE ISZERO PUSH2 dest JUMPI INVALID STOP JUMPDEST
        body += bytes([CALLDATASIZE, 0x15, PUSH2, dest >> 8, dest & 0xFF, JUMPI, 0xFE, 0x00, JUMPDEST])
    return body + bytes([PUSH1, 0x2A]) + RETURN_TOP


def test_maximal_jumpi_nesting(monkeypatch: pytest.MonkeyPatch) -> None:
    code = _nested_jumpis(2700)  # about 24 KiB of code, the largest legal size
    ok, _, out = _all_agree(code, monkeypatch)
    assert ok and out[-1] == 0x2A
    ok, gas_left, _ = _all_agree(code, monkeypatch, data=b"\x01")
    assert not ok and gas_left == 0
    assert _source_len(code) <= compiler.source_cap(compiler.REGION_BUDGET + compiler.MAX_BLOCK)


def test_quadratic_writebacks_hit_the_cap_and_fall_back(monkeypatch: pytest.MonkeyPatch) -> None:
    # 500 live 256-bit constants, then 100 JUMPIs whose taken arms leave the
    # region through a dynamic jump, each writing the 500 values back.
    exit_pc = 33 * 500 + 6 * 100
    code = (bytes([0x7F]) + b"\xee" * 32) * 500
    code += bytes([CALLDATASIZE, 0x15, PUSH2, exit_pc >> 8, exit_pc & 0xFF, JUMPI]) * 100
    code += bytes(exit_pc - len(code))  # STOP padding up to the exit
    out_pc = exit_pc + 7
    code += bytes([JUMPDEST, PUSH2, out_pc >> 8, out_pc & 0xFF, CALLDATASIZE, 0x01, JUMP])
    code += bytes([JUMPDEST, PUSH1, 7]) + RETURN_TOP
    with pytest.raises(compiler._TooLarge):
        compiler.translate(code, 0)
    ok, _, out = _all_agree(code, monkeypatch)
    assert ok and out[-1] == 7
    with monkeypatch.context() as m:
        m.setattr(compiler, "EAGER", True)
        _run(code, "fast")
        cc = compiler.compiled(code)
        assert cc.regions[0] is not None  # the entry block alone
        assert cc.source_chars <= 4 * compiler.source_cap(compiler.MAX_BLOCK)


def test_long_straight_line_code_is_chunked(monkeypatch: pytest.MonkeyPatch) -> None:
    code = bytes([PUSH1, 1, 0x01]) * 3000  # one basic block of 6000 instructions
    code = bytes([PUSH1, 0]) + code + RETURN_TOP
    ok, _, out = _all_agree(code, monkeypatch)
    assert ok and int.from_bytes(out, "big") == 3000
    builder = compiler._RegionBuilder(compiler._Unit(code), 0)
    builder.build()
    assert builder.translated <= compiler.REGION_BUDGET + compiler.MAX_BLOCK
    for gas in (100, 1000, 9000, 17000):  # out of gas inside a later chunk
        _all_agree(code, monkeypatch, gas=gas)


def test_lru_evicts_least_recently_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compiler, "CACHE_ENTRIES", 3)
    a, b, c, d = (bytes([PUSH1, i, 0x00]) for i in range(4))
    ca = compiler.compiled(a)
    compiler.compiled(b)
    compiler.compiled(c)
    assert compiler.compiled(a) is ca  # a is now the most recent
    compiler.compiled(d)  # evicts b
    keys = [code for code, _ in compiler._CACHE]
    assert keys == [c, a, d]
    assert compiler.compiled(a) is ca


def test_lru_bounds_code_bytes_and_keys_by_fork(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compiler, "CACHE_CODE_BYTES", 10_000)
    codes = [bytes([PUSH1, i]) + bytes(4000) for i in range(4)]
    for code in codes:
        compiler.compiled(code)
    assert [code for code, _ in compiler._CACHE] == codes[-2:]
    assert compiler._cache_bytes == sum(len(c) for c in codes[-2:])
    other = compiler.compiled(codes[-1], "SomeOtherFork")
    assert other is not compiler.compiled(codes[-1])


def test_evicted_code_still_runs_correctly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compiler, "CACHE_ENTRIES", 1)
    for i in range(5):
        code = bytes([PUSH1, i]) + RETURN_TOP
        assert _all_agree(code, monkeypatch)[2][-1] == i
