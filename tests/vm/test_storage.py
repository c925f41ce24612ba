"""Storage opcodes: SLOAD/SSTORE gas and refunds (EIP-2200 as amended by EIP-2929 and
EIP-3529, including the EIP-3529 test-case table), the stipend rule, refund caps at
transaction level, and transient storage TSTORE/TLOAD (EIP-1153): reverts, static
context, delegatecall context and clearing between transactions.
"""

from __future__ import annotations

import pytest
from vmhelpers import (
    OTHER,
    RET_TOP,
    RET_TOP_GAS,
    SECRET,
    SENDER,
    TARGET,
    asm,
    call_op,
    push,
    run,
    run_tx,
)

from strikevm.chain.executor import apply_transaction
from strikevm.chain.transaction import sign_transaction
from strikevm.state.account import Account
from strikevm.state.world import WorldState
from strikevm.vm.env import BlockEnv

# EIP-3529 "Test Cases": code, original value of slot 0, used gas, refund; the slot is
# already warm (the table's gas excludes the cold surcharge), final value = last write.
EIP3529_TABLE: list[tuple[str, int, int, int]] = [
    ("60006000556000600055", 0, 212, 0),
    ("60006000556001600055", 0, 20112, 0),
    ("60016000556000600055", 0, 20112, 19900),
    ("60016000556002600055", 0, 20112, 0),
    ("60016000556001600055", 0, 20112, 0),
    ("60006000556000600055", 1, 3012, 4800),
    ("60006000556001600055", 1, 3012, 2800),
    ("60006000556002600055", 1, 3012, 0),
    ("60026000556000600055", 1, 3012, 4800),
    ("60026000556003600055", 1, 3012, 0),
    ("60026000556001600055", 1, 3012, 2800),
    ("60026000556002600055", 1, 3012, 0),
    ("60016000556000600055", 1, 3012, 4800),
    ("60016000556002600055", 1, 3012, 0),
    ("60016000556001600055", 1, 212, 0),
    ("600160005560006000556001600055", 0, 40118, 19900),
    ("600060005560016000556000600055", 1, 5918, 7600),
]


def _last_value(code: bytes) -> int:
    # every SSTORE in the table is PUSH1 v PUSH1 0 SSTORE (5 bytes)
    return code[-5 + 1]


@pytest.mark.parametrize("cold", [False, True], ids=["warm", "cold"])
@pytest.mark.parametrize("code_hex,original,gas,refund", EIP3529_TABLE)
def test_eip3529_table(
    engine: str, code_hex: str, original: int, gas: int, refund: int, cold: bool
) -> None:
    code = bytes.fromhex(code_hex)
    storage = {0: original} if original else {}
    warm_slots = [] if cold else [(TARGET, 0)]
    out = run(engine, code, storage=storage, warm_slots=warm_slots, gas=100_000)
    assert out.success
    assert out.gas_used == gas + (2100 if cold else 0)
    assert out.refund == refund
    final = _last_value(code)
    assert out.storage() == ({0: final} if final else {})


def test_sload_cold_then_warm(engine: str) -> None:
    code = asm("PUSH1 5 SLOAD PUSH1 5 SLOAD ADD", RET_TOP)
    out = run(engine, code, storage={5: 21})
    assert out.out_word == 42
    assert out.gas_used == 3 + 2100 + 3 + 100 + 3 + RET_TOP_GAS


def test_sload_unset_and_other_slots(engine: str) -> None:
    code = asm("PUSH1 6 SLOAD", push(2**256 - 1, 32), "SLOAD ADD", RET_TOP)
    out = run(engine, code, storage={5: 21, 2**256 - 1: 9})
    assert out.out_word == 9
    assert out.gas_used == 3 + 2100 + 3 + 2100 + 3 + RET_TOP_GAS


def test_sstore_warms_slot_for_sload(engine: str) -> None:
    code = asm("PUSH1 7 PUSH1 3 SSTORE PUSH1 3 SLOAD", RET_TOP)
    out = run(engine, code)
    assert out.out_word == 7
    assert out.gas_used == 6 + 2100 + 20000 + 3 + 100 + RET_TOP_GAS


def test_sstore_large_key_and_value(engine: str) -> None:
    key, value = 2**256 - 1, 2**255 + 12345
    out = run(engine, asm(push(value, 32), push(key, 32), "SSTORE STOP"))
    assert out.storage() == {key: value}
    assert out.gas_used == 6 + 2100 + 20000


@pytest.mark.parametrize("gas,ok", [(2306, False), (2307, True)])
def test_sstore_stipend_rule(engine: str, gas: int, ok: bool) -> None:
    # No-op SSTORE of a warm slot costs 100, but needs more than 2300 gas left (EIP-2200).
    out = run(engine, asm("PUSH1 1 PUSH1 0 SSTORE"), storage={0: 1},
              warm_slots=[(TARGET, 0)], gas=gas)
    assert out.success is ok
    if ok:
        assert out.gas_used == 106
    else:
        assert out.gas_left == 0


@pytest.mark.parametrize("gas,ok", [(2342, False), (2343, True)])
def test_sstore_stipend_rule_after_memory_growth(engine: str, gas: int, ok: bool) -> None:
    # the stipend check sees the gas left after the MSTORE's memory growth (9 words)
    code = asm("PUSH1 1 PUSH2 0x100 MSTORE PUSH1 1 PUSH1 0 SSTORE")
    out = run(engine, code, storage={0: 1}, warm_slots=[(TARGET, 0)], gas=gas)
    before_sstore = 3 + 3 + 3 + (3 * 9 + 81 // 512) + 3 + 3
    assert before_sstore == 42
    assert out.success is ok
    if ok:
        assert out.gas_used == before_sstore + 100


def test_sstore_out_of_gas_after_stipend_check(engine: str) -> None:
    # 3000 > 2300 passes the stipend rule, but 2100 + 20000 is not affordable
    out = run(engine, asm("PUSH1 1 PUSH1 0 SSTORE"), gas=3000)
    assert not out.success and out.gas_left == 0
    assert out.storage() == {}


@pytest.mark.parametrize("code", ["PUSH1 1 PUSH1 0 SSTORE", "PUSH1 0 PUSH1 0 SSTORE"])
def test_sstore_in_static_context_fails(engine: str, code: str) -> None:
    # also when the write would not change anything
    out = run(engine, asm(code), static=True, storage={0: 1}, gas=50_000)
    assert not out.success and out.gas_left == 0
    assert out.storage() == {0: 1}


def test_sload_in_static_context(engine: str) -> None:
    out = run(engine, asm("PUSH1 0 SLOAD", RET_TOP), static=True, storage={0: 1})
    assert out.success and out.out_word == 1


@pytest.mark.parametrize("ending,kept", [("STOP", True), ("PUSH1 0 PUSH1 0 REVERT", False),
                                         ("INVALID", False)])
def test_refund_and_writes_undone_with_failed_subcall(engine: str, ending: str, kept: bool) -> None:
    callee = asm("PUSH1 0 PUSH1 0 SSTORE PUSH1 9 PUSH1 1 SSTORE", ending)
    out = run(engine, asm(call_op("CALL", OTHER), "STOP"),
              pre={OTHER: Account(code=callee, storage={0: 1})})
    assert out.success
    if kept:
        assert out.refund == 4800
        assert out.storage(OTHER) == {1: 9}
    else:
        assert out.refund == 0
        assert out.storage(OTHER) == {0: 1}


def test_original_value_survives_reverted_write(engine: str) -> None:
    # A reverted subcall wrote the slot; the later write still sees original == current.
    callee = asm("PUSH1 5 PUSH1 0 SSTORE PUSH1 0 PUSH1 0 REVERT")
    code = asm(call_op("DELEGATECALL", OTHER), "POP", "GAS PUSH1 0 PUSH1 0 SSTORE GAS",
               "SWAP1 SUB", RET_TOP)
    out = run(engine, code, storage={0: 3}, pre={OTHER: Account(code=callee)})
    assert out.success
    # the slot is warm (the reverted write's warming is undone too, so cold again)
    # window: PUSH1 3 + PUSH1 3 + SSTORE (2100 cold + 2900) + GAS 2
    assert out.out_word == 6 + 2100 + 2900 + 2
    assert out.refund == 4800
    assert out.storage() == {}


# ------------------------------------------------------------------ transaction level


@pytest.mark.parametrize(
    "code,storage,gas_used",
    [
        # clear 1 -> 0: 21000 + 6 + 2100 + 2900 = 26006, refund min(26006 // 5, 4800)
        ("PUSH1 0 PUSH1 0 SSTORE", {0: 1}, 26006 - 4800),
        # 0 -> 1 -> 0: 21000 + 12 + 2100 + 20000 + 100 = 43212, refund capped at 43212 // 5
        ("PUSH1 1 PUSH1 0 SSTORE PUSH1 0 PUSH1 0 SSTORE", {}, 43212 - 43212 // 5),
        # the same then REVERT: no refund at all
        ("PUSH1 1 PUSH1 0 SSTORE PUSH1 0 PUSH1 0 SSTORE PUSH1 0 PUSH1 0 REVERT", {}, 43218),
    ],
)
def test_tx_refund_cap(engine: str, code: str, storage: dict[int, int], gas_used: int) -> None:
    pre = {TARGET: Account(code=asm(code), storage=storage)}
    result, state = run_tx(engine, pre, to=TARGET, gas_limit=100_000)
    assert result.gas_used == gas_used
    assert state.balance(SENDER) == 10**20 - gas_used  # 1 wei per gas


# ------------------------------------------------------------------ transient storage


def test_tstore_tload(engine: str) -> None:
    code = asm("PUSH1 42 PUSH1 7 TSTORE PUSH1 7 TLOAD PUSH1 8 TLOAD ADD", RET_TOP)
    out = run(engine, code)
    assert out.out_word == 42
    assert out.gas_used == 6 + 100 + 3 + 100 + 3 + 100 + 3 + RET_TOP_GAS
    assert out.storage() == {}
    assert out.state.tload(TARGET, 7) == 42


def test_transient_is_per_address(engine: str) -> None:
    callee = asm("PUSH1 1 TLOAD", RET_TOP)
    code = asm("PUSH1 5 PUSH1 1 TSTORE", call_op("CALL", OTHER, out_size=32), "POP",
               "PUSH1 32 PUSH1 0 RETURN")
    out = run(engine, code, pre={OTHER: Account(code=callee)})
    assert out.out_word == 0


def test_transient_seen_by_delegatecall_and_reentry(engine: str) -> None:
    reader = asm("PUSH1 1 TLOAD", RET_TOP)
    code = asm("PUSH1 5 PUSH1 1 TSTORE", call_op("DELEGATECALL", OTHER, out_size=32), "POP",
               "PUSH1 32 PUSH1 0 RETURN")
    out = run(engine, code, pre={OTHER: Account(code=reader)})
    assert out.out_word == 5
    # a delegatecalled writer writes the caller's transient storage
    writer = asm("PUSH1 9 PUSH1 1 TSTORE STOP")
    code = asm(call_op("DELEGATECALL", OTHER), "POP PUSH1 1 TLOAD", RET_TOP)
    out = run(engine, code, pre={OTHER: Account(code=writer)})
    assert out.out_word == 9
    assert out.state.tload(OTHER, 1) == 0


# OTHER: with no calldata TSTORE(1, 0x22) then <ending>; with calldata return TLOAD(1).
def _branching(ending: str) -> bytes:
    return asm("CALLDATASIZE PUSH1 @read JUMPI PUSH1 0x22 PUSH1 1 TSTORE", ending,
               "read: PUSH1 1 TLOAD", RET_TOP)


@pytest.mark.parametrize(
    "ending,expected",
    [("STOP", 0x22), ("PUSH1 0 PUSH1 0 REVERT", 0), ("INVALID", 0),
     ("PUSH1 0 JUMP", 0)],
)
def test_transient_write_undone_by_failed_call(engine: str, ending: str, expected: int) -> None:
    code = asm(call_op("CALL", OTHER), "POP",
               "PUSH1 1 PUSH1 0 MSTORE8",
               call_op("CALL", OTHER, in_size=1, out_size=32), "POP",
               "PUSH1 32 PUSH1 0 RETURN")
    out = run(engine, code, pre={OTHER: Account(code=_branching(ending))})
    assert out.success
    assert out.out_word == expected


def test_transient_write_in_delegate_undone_by_revert(engine: str) -> None:
    # TARGET stores 0x11, a delegatecall stores 0x22 and reverts: 0x11 is back
    callee = asm("PUSH1 0x22 PUSH1 1 TSTORE PUSH1 0 PUSH1 0 REVERT")
    code = asm("PUSH1 0x11 PUSH1 1 TSTORE", call_op("DELEGATECALL", OTHER),
               "PUSH1 1 TLOAD", "PUSH1 0 MSTORE PUSH1 32 MSTORE PUSH1 64 PUSH1 0 RETURN")
    out = run(engine, code, pre={OTHER: Account(code=callee)})
    assert out.out_words == [0x11, 0]  # TLOAD, then the call's result


def test_transient_undone_when_top_frame_fails(engine: str) -> None:
    out = run(engine, asm("PUSH1 3 PUSH1 1 TSTORE PUSH1 0 PUSH1 0 REVERT"))
    assert not out.success
    assert out.state.tload(TARGET, 1) == 0


def test_tstore_in_static_context_fails(engine: str) -> None:
    out = run(engine, asm("PUSH1 1 PUSH1 0 TSTORE STOP"), static=True, gas=10_000)
    assert not out.success and out.gas_left == 0
    out = run(engine, asm("PUSH1 0 TLOAD", RET_TOP), static=True)
    assert out.success and out.out_word == 0


def test_staticcall_to_tstore_fails_and_tload_works(engine: str) -> None:
    writer = asm("PUSH1 1 PUSH1 0 TSTORE STOP")
    out = run(engine, asm(call_op("STATICCALL", OTHER), RET_TOP),
              pre={OTHER: Account(code=writer)})
    assert out.out_word == 0
    reader = asm("PUSH1 0 TLOAD", RET_TOP)
    out = run(engine, asm(call_op("STATICCALL", OTHER), RET_TOP),
              pre={OTHER: Account(code=reader)})
    assert out.out_word == 1


@pytest.mark.parametrize("op,ok", [("TSTORE", 1), ("SSTORE", 0)])
def test_stipend_allows_tstore_not_sstore(engine: str, op: str, ok: int) -> None:
    # a value call with gas 0 gives the callee exactly the 2300 stipend
    callee = asm(f"PUSH1 1 PUSH1 0 {op} STOP")
    out = run(engine, asm(call_op("CALL", OTHER, gas=0, value=1), RET_TOP), balance=10,
              pre={OTHER: Account(code=callee, storage={0: 1})})
    assert out.out_word == ok


def test_transient_cleared_between_transactions(engine: str) -> None:
    # calldata non-empty: TSTORE(0, 7); empty: SSTORE(0, TLOAD(0))
    code = asm("CALLDATASIZE PUSH1 @w JUMPI PUSH1 0 TLOAD PUSH1 0 SSTORE STOP",
               "w: PUSH1 7 PUSH1 0 TSTORE STOP")
    state = WorldState({SENDER: Account(balance=10**20), TARGET: Account(code=code)})
    block = BlockEnv()
    for nonce, data in enumerate([b"\x01", b""]):
        tx = sign_transaction(SECRET, tx_type=2, chain_id=1, nonce=nonce, gas_limit=100_000,
                              to=TARGET, data=data, max_fee_per_gas=1,
                              max_priority_fee_per_gas=1)
        assert apply_transaction(state, block, tx, engine=engine).success
    assert state.accounts[TARGET].storage.get(0, 0) == 0
