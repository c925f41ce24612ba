"""The trace compiler on code shapes that stress its translation: deep expression
chains, deeply nested JUMPI arms, long loops and regions that exhaust their budget.
Every program runs on both engines and must give identical results."""

from __future__ import annotations

from strikevm.state.account import Account
from strikevm.state.world import WorldState
from strikevm.tools.deepstack import run_deep
from strikevm.vm import compiler
from strikevm.vm.env import BlockEnv, Message, TxEnv
from strikevm.vm.evm import EVM

CALLER = 0x1000
TARGET = 0x2000
RETURN_TOP = bytes([0x60, 0x00, 0x52, 0x60, 0x20, 0x60, 0x00, 0xF3])  # MSTORE 0; RETURN 0..32


def _run(code: bytes, engine: str, data: bytes = b"", gas: int = 10**7) -> tuple:
    def go() -> tuple:
        st = WorldState({TARGET: Account(code=code), CALLER: Account(balance=10**20)})
        st.prewarm([CALLER, TARGET])
        evm = EVM(st, BlockEnv(), TxEnv(origin=CALLER), engine=engine)
        r = evm.process_message(Message(CALLER, TARGET, 0, data, gas, code, TARGET))
        return r.success, r.gas_left, r.output

    return run_deep(go)


def _both(code: bytes, data: bytes = b"", gas: int = 10**7) -> tuple:
    fast = _run(code, "fast", data, gas)
    assert fast == _run(code, "reference", data, gas)
    return fast


def test_deep_expression_chain_is_exact() -> None:
    code = bytes([0x60, 0x05]) + bytes([0x60, 0x01, 0x01]) * 300 + RETURN_TOP
    ok, _, out = _both(code)
    assert ok and int.from_bytes(out, "big") == 305


def _nested_jumpis(count: int) -> bytes:
    body = b""
    for _ in range(count):
        dest = len(body) + 8
        # CALLDATASIZE ISZERO (dynamic, true when no calldata) PUSH2 dest JUMPI INVALID JUMPDEST
        body += bytes([0x36, 0x15, 0x61, dest >> 8, dest & 0xFF, 0x57, 0xFE, 0x00, 0x5B])
    return body + bytes([0x60, 0x2A]) + RETURN_TOP


def test_deeply_nested_jumpi_arms_compile() -> None:
    code = _nested_jumpis(150)
    ok, _, out = _both(code)
    assert ok and out[-1] == 0x2A
    ok, gas_left, out = _both(code, data=b"\x01")  # falls through to INVALID
    assert not ok and gas_left == 0


def test_region_budget_splits_long_code() -> None:
    code = bytes([0x60, 0x01, 0x50]) * (compiler.REGION_BUDGET * 2) + bytes([0x60, 0x07]) + RETURN_TOP
    ok, _, out = _both(code)
    assert ok and out[-1] == 7


def test_out_of_gas_inside_a_merged_path_consumes_all_gas() -> None:
    code = bytes([0x60, 0x01, 0x50]) * 50 + bytes([0x60, 0x07]) + RETURN_TOP
    for gas in (10, 100, 150, 260, 270, 280):
        ok, gas_left, _ = _both(code, gas=gas)
        assert ok or gas_left == 0


def test_gas_opcode_sees_exact_remaining_gas() -> None:
    code = bytes([0x60, 0x01, 0x50, 0x5A]) + RETURN_TOP  # PUSH1 POP GAS
    ok, _, out = _both(code, gas=1000)
    assert ok and int.from_bytes(out, "big") == 1000 - 3 - 2 - 2
