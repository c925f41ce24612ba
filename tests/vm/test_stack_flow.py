"""Stack and control flow: PUSH0-PUSH32, DUP, SWAP, POP, JUMP/JUMPI/JUMPDEST rules
(including jumps into PUSH data), PC, GAS, STOP/RETURN/REVERT, undefined opcodes,
and the 1024-item stack limit and underflow.
"""

from __future__ import annotations

import pytest
from vmhelpers import (
    RET_TOP,
    RET_TOP_GAS,
    asm,
    mem_cost,
    push,
    ret_words,
    ret_words_gas,
    run,
    run_stack,
    word,
)

# Opcodes with no instruction in Cancun (0xFE is the designated INVALID).
UNDEFINED = (
    list(range(0x0C, 0x10)) + [0x1E, 0x1F] + list(range(0x21, 0x30)) + list(range(0x4B, 0x50))
    + list(range(0xA5, 0xF0)) + [0xF6, 0xF7, 0xF8, 0xF9, 0xFB, 0xFC, 0xFE]
)  # fmt: skip


# ------------------------------------------------------------------ PUSH / DUP / SWAP / POP


@pytest.mark.parametrize("n", range(1, 33))
def test_push_n(engine: str, n: int) -> None:
    imm = bytes(range(0xA1, 0xA1 + n))
    code = bytes((0x5F + n,)) + imm + asm(RET_TOP)
    out = run(engine, code)
    assert out.success
    assert out.out_word == int.from_bytes(imm, "big")
    assert out.gas_used == 3 + RET_TOP_GAS


def test_push0(engine: str) -> None:
    out = run(engine, asm("PUSH1 7 PUSH0", RET_TOP))
    assert out.success
    assert out.out_word == 0
    assert out.gas_used == 3 + 2 + RET_TOP_GAS
    out = run(engine, asm("PUSH0 PUSH0"), gas=100)
    assert out.success and out.gas_left == 96


@pytest.mark.parametrize(
    "code,expected",
    [
        (b"\x61\x01", 0x0100),  # PUSH2 with one byte left: right-padded with zeros
        (b"\x7f\xff", 0xFF << 248),
        (b"\x7f", 0),
        (b"\x60\x05\x63\x5b\x5b", 0x5B5B0000),  # PUSH4 with two bytes left
    ],
)
def test_truncated_push_at_end_of_code(engine: str, code: bytes, expected: int) -> None:
    pushes = 1 + (code[0] == 0x60)
    out = run(engine, code, gas=100)
    assert out.success and out.output == b"" and out.gas_used == 3 * pushes
    if engine == "reference":
        # Only the reference interpreter leaves its final stack in the frame.
        stack, gas_left, err = run_stack(engine, code, gas=100)
        assert err is None
        assert stack[-1] == expected
        assert gas_left == 100 - 3 * pushes


@pytest.mark.parametrize("n", range(1, 17))
def test_dup_n(engine: str, n: int) -> None:
    out = run(engine, asm(*range(1, 17), f"DUP{n}", ret_words(17)))
    assert out.success
    assert out.out_words[::-1] == list(range(1, 17)) + [17 - n]
    assert out.gas_used == 17 * 3 + ret_words_gas(17)


@pytest.mark.parametrize("n", range(1, 17))
def test_swap_n(engine: str, n: int) -> None:
    out = run(engine, asm(*range(1, 18), f"SWAP{n}", ret_words(17)))
    assert out.success
    expected = list(range(1, 18))
    expected[-1], expected[-1 - n] = expected[-1 - n], expected[-1]
    assert out.out_words[::-1] == expected
    assert out.gas_used == 18 * 3 + ret_words_gas(17)


@pytest.mark.parametrize("n", range(1, 17))
def test_dup_then_swap_mixed_sources(engine: str, n: int) -> None:
    # Stack items from calldata (run-time values) shuffled by DUPn and SWAPn.
    loads: list[str | int | bytes] = []
    for i in range(17):
        loads += [32 * i, "CALLDATALOAD"]
    data = b"".join(word(1000 + i) for i in range(17))
    out = run(engine, asm(*loads, f"DUP{n}", f"SWAP{n}", ret_words(18)), data=data)
    expected = [1000 + i for i in range(17)]
    expected.append(expected[-n])
    expected[-1], expected[-1 - n] = expected[-1 - n], expected[-1]
    assert out.out_words[::-1] == expected
    assert out.gas_used == 17 * 6 + 6 + ret_words_gas(18)


def test_pop(engine: str) -> None:
    out = run(engine, asm("PUSH1 1 PUSH1 2 POP", RET_TOP))
    assert out.success and out.out_word == 1
    assert out.gas_used == 8 + RET_TOP_GAS


@pytest.mark.parametrize("n", range(1, 17))
def test_dup_underflow(engine: str, n: int) -> None:
    out = run(engine, asm(*range(1, n), f"DUP{n}", "STOP"), gas=10_000)
    assert not out.success and out.gas_left == 0
    assert run(engine, asm(*range(0, n), f"DUP{n}", "STOP"), gas=10_000).success


@pytest.mark.parametrize("n", range(1, 17))
def test_swap_underflow(engine: str, n: int) -> None:
    out = run(engine, asm(*range(1, n + 1), f"SWAP{n}", "STOP"), gas=10_000)
    assert not out.success and out.gas_left == 0
    assert run(engine, asm(*range(0, n + 1), f"SWAP{n}", "STOP"), gas=10_000).success


@pytest.mark.parametrize("code", ["POP", "JUMP", "PUSH1 1 JUMPI", "PUSH1 3 POP POP"])
def test_underflow_consumes_all_gas(engine: str, code: str) -> None:
    out = run(engine, asm(code, "STOP"), gas=5_000)
    assert not out.success
    assert out.gas_left == 0
    assert out.output == b""


def test_underflow_in_later_block(engine: str) -> None:
    # First block is fine; the block after the JUMPDEST pops more than the stack has.
    out = run(engine, asm("PUSH1 1 PUSH1 @next JUMP next: ADD STOP"), gas=5_000)
    assert not out.success and out.gas_left == 0


# ------------------------------------------------------------------ stack limit


def test_stack_of_1024_items_is_allowed(engine: str) -> None:
    out = run(engine, asm("PUSH1 0 " * 1024), gas=10_000)
    assert out.success
    assert out.gas_left == 10_000 - 3 * 1024


def test_1025th_push_overflows(engine: str) -> None:
    out = run(engine, asm("PUSH1 0 " * 1025, "STOP"), gas=10_000)
    assert not out.success and out.gas_left == 0


def test_overflow_across_blocks(engine: str) -> None:
    # 1000 items in the first block, 25 more after a JUMPDEST.
    code = asm("PUSH1 0 " * 1000, "PUSH2 @b JUMP b:", "PUSH1 0 " * 25, "STOP")
    out = run(engine, code, gas=10_000)
    assert not out.success and out.gas_left == 0
    ok = asm("PUSH1 0 " * 1000, "PUSH2 @b JUMP b:", "PUSH1 0 " * 24, "STOP")
    assert run(engine, ok, gas=10_000).success


@pytest.mark.parametrize("op", ["DUP1", "PUSH0", "PC", "GAS", "MSIZE", "CALLER"])
def test_one_more_item_at_1024_overflows(engine: str, op: str) -> None:
    out = run(engine, asm("PUSH1 0 " * 1024, op, "STOP"), gas=20_000)
    assert not out.success and out.gas_left == 0
    ok = run(engine, asm("PUSH1 0 " * 1023, op, "STOP"), gas=20_000)
    assert ok.success


def test_transient_peak_over_limit_overflows(engine: str) -> None:
    # Net growth of zero, but the stack would briefly hold 1025 items.
    out = run(engine, asm("PUSH1 0 " * 1023, "PUSH1 1 PUSH1 2 POP POP STOP"), gas=20_000)
    assert not out.success and out.gas_left == 0
    ok = run(engine, asm("PUSH1 0 " * 1022, "PUSH1 1 PUSH1 2 POP POP STOP"), gas=20_000)
    assert ok.success


def test_swap16_and_dup16_at_full_stack(engine: str) -> None:
    # SWAP never grows the stack; DUP at 1023 reaches exactly 1024.
    ok = run(engine, asm("PUSH1 0 " * 1024, "SWAP16 STOP"), gas=20_000)
    assert ok.success
    ok = run(engine, asm("PUSH1 0 " * 1023, "DUP16 STOP"), gas=20_000)
    assert ok.success


def test_loop_pushing_until_overflow(engine: str) -> None:
    # Each round pushes one item; round 1025 overflows.
    out = run(engine, asm("top: PUSH0 PUSH1 @top JUMP"), gas=100_000)
    assert not out.success and out.gas_left == 0
    # With gas for only 1024 full rounds (14 each) and the next JUMPDEST (1) the loop
    # runs out of gas first; either way the frame fails with nothing left.
    out = run(engine, asm("top: PUSH0 PUSH1 @top JUMP"), gas=14 * 1024 + 1)
    assert not out.success and out.gas_left == 0


# ------------------------------------------------------------------ jumps


def test_jump_to_jumpdest(engine: str) -> None:
    code = asm("PUSH1 @dest JUMP INVALID dest: PUSH1 0x42", RET_TOP)
    out = run(engine, code)
    assert out.success and out.out_word == 0x42
    assert out.gas_used == 3 + 8 + 1 + 3 + RET_TOP_GAS


def test_jump_to_non_jumpdest(engine: str) -> None:
    # offset 3 is PUSH1, not JUMPDEST
    out = run(engine, asm("PUSH1 3 JUMP PUSH1 0 STOP"), gas=1000)
    assert not out.success and out.gas_left == 0


def test_jump_into_push_data(engine: str) -> None:
    # 0x5b at offset 4 is the immediate of PUSH1 at offset 3, not a JUMPDEST.
    out = run(engine, bytes.fromhex("600456605b00"), gas=1000)
    assert not out.success and out.gas_left == 0
    # the same byte as an instruction is a valid destination
    out = run(engine, bytes.fromhex("600456005b00"), gas=1000)
    assert out.success and out.gas_used == 3 + 8 + 1


def test_jumpdest_after_push_data_is_valid(engine: str) -> None:
    # PUSH1 6, JUMP, PUSH2 0x5b5b (offsets 3-5), JUMPDEST (6), STOP
    code = bytes.fromhex("6006" "56" "615b5b" "5b" "00")
    out = run(engine, code, gas=1000)
    assert out.success
    assert out.gas_used == 3 + 8 + 1
    for bad in (4, 5):  # inside the PUSH2 immediate
        code = bytes((0x60, bad)) + bytes.fromhex("56615b5b5b00")
        out = run(engine, code, gas=1000)
        assert not out.success and out.gas_left == 0


def test_jump_into_truncated_push_data(engine: str) -> None:
    # PUSH3 at offset 3 has only one byte of data (0x5b) before the end of the code.
    out = run(engine, bytes.fromhex("600456625b"), gas=1000)
    assert not out.success and out.gas_left == 0


@pytest.mark.parametrize("dest", [5, 6, 100, 2**64, 2**256 - 1, (1 << 128) + 4])
def test_jump_out_of_code_or_huge(engine: str, dest: int) -> None:
    # code: PUSHn dest JUMP JUMPDEST STOP; the JUMPDEST is right after JUMP.
    head = asm(dest, "JUMP")
    code = head + b"\x5b\x00"
    assert len(head) != dest
    out = run(engine, code, gas=1000)
    assert not out.success and out.gas_left == 0


def test_jump_to_end_of_code(engine: str) -> None:
    code = asm("PUSH1 3 JUMP")  # offset 3 == len(code)
    out = run(engine, code, gas=1000)
    assert not out.success and out.gas_left == 0


def test_jumpi_false_ignores_bad_destination(engine: str) -> None:
    code = asm("PUSH1 0 PUSH2 0xFFFF JUMPI PUSH1 1", RET_TOP)
    out = run(engine, code)
    assert out.success and out.out_word == 1
    assert out.gas_used == 3 + 3 + 10 + 3 + RET_TOP_GAS


def test_jumpi_true_bad_destination_fails(engine: str) -> None:
    out = run(engine, asm("PUSH1 1 PUSH2 0xFFFF JUMPI STOP"), gas=1000)
    assert not out.success and out.gas_left == 0


@pytest.mark.parametrize("cond", [1, 2, 1 << 255, 2**256 - 1])
def test_jumpi_any_nonzero_condition_jumps(engine: str, cond: int) -> None:
    code = asm(cond, "PUSH1 @yes JUMPI PUSH1 0", RET_TOP, "yes: PUSH1 1", RET_TOP)
    out = run(engine, code)
    assert out.success and out.out_word == 1


@pytest.mark.parametrize("mode", ["const", "calldata"])
@pytest.mark.parametrize(
    "delta,ok", [(0, True), (-1, False), (1, False), (2**255, False), (2**64, False)]
)
def test_dynamic_jump_destination(engine: str, mode: str, delta: int, ok: bool) -> None:
    if mode == "const":
        # PUSH32 dest, JUMP (33), INVALID (34), JUMPDEST (35), STOP
        valid = 35
        code = push(valid + delta, 32) + bytes.fromhex("56fe5b00")
    else:
        # PUSH1 0 CALLDATALOAD, JUMP (3), INVALID (4), JUMPDEST (5), STOP
        valid = 5
        code = bytes.fromhex("60003556fe5b00")
    out = run(engine, code, data=word(valid + delta), gas=1000)
    assert out.success is ok
    if ok:
        assert out.gas_used == (3 if mode == "const" else 6) + 8 + 1
    else:
        assert out.gas_left == 0


def test_counting_loop(engine: str) -> None:
    # acc = sum(1..10) with a counter that runs down to zero
    code = asm(
        "PUSH1 0 PUSH1 10",
        "loop: DUP1 SWAP2 ADD SWAP1 PUSH1 1 SWAP1 SUB DUP1 PUSH1 @loop JUMPI",
        "POP", RET_TOP,
    )
    out = run(engine, code)
    assert out.success and out.out_word == 55
    # 6 + 10 rounds of (JUMPDEST 1 + 9 * 3 + JUMPI 10) + POP 2 + epilogue
    assert out.gas_used == 6 + 10 * 38 + 2 + RET_TOP_GAS


# ------------------------------------------------------------------ PC, GAS, JUMPDEST


def test_pc(engine: str) -> None:
    out = run(engine, asm("PC PUSH1 0 POP PC JUMPDEST PC", ret_words(3)))
    assert out.out_words == [6, 4, 0]
    assert out.gas_used == 2 + 3 + 2 + 2 + 1 + 2 + ret_words_gas(3)


def test_pc_after_jump(engine: str) -> None:
    code = asm("PUSH1 @d JUMP STOP STOP d: PC", RET_TOP)
    out = run(engine, code)
    assert out.out_word == 6


def test_gas_opcode(engine: str) -> None:
    out = run(engine, asm("GAS", RET_TOP), gas=50_000)
    assert out.out_word == 50_000 - 2
    out = run(engine, asm("PUSH1 1 POP JUMPDEST GAS", RET_TOP), gas=50_000)
    assert out.out_word == 50_000 - 3 - 2 - 1 - 2
    assert out.gas_used == 3 + 2 + 1 + 2 + RET_TOP_GAS


def test_gas_in_loop(engine: str) -> None:
    # Three rounds, each storing GAS at memory[32 * i]; rounds cost the same.
    code = asm(
        "PUSH1 0",  # offset
        "loop: GAS DUP2 MSTORE PUSH1 32 ADD DUP1 PUSH1 96 GT PUSH1 @loop JUMPI",
        "PUSH1 96 PUSH1 0 RETURN",
    )
    out = run(engine, code, gas=100_000)
    assert out.success
    g0, g1, g2 = out.out_words
    # round: JUMPDEST 1, GAS 2, DUP2 3, MSTORE 3 (+3 growth), PUSH1 3, ADD 3, DUP1 3,
    # PUSH1 3, GT 3, PUSH1 3, JUMPI 10 = 37 + growth
    assert g0 == 100_000 - 3 - 1 - 2
    assert g1 == g0 - 37 - 3
    assert g2 == g1 - 37 - 3


def test_gas_after_dynamic_costs_in_same_block(engine: str) -> None:
    # memory growth, a cold SLOAD and EXP's byte cost all come before GAS reads the rest
    code = asm("PUSH1 1 PUSH2 0x100 MSTORE PUSH1 9 SLOAD POP PUSH2 0x100 PUSH1 3 EXP POP GAS",
               RET_TOP)
    out = run(engine, code, gas=100_000)
    spent = 3 + 3 + 3 + mem_cost(9) + 3 + 2100 + 2 + 3 + 3 + 10 + 100 + 2 + 2
    assert out.out_word == 100_000 - spent
    assert out.gas_used == spent + RET_TOP_GAS - 3


def test_jumpi_run_time_condition_constant_bad_destination(engine: str) -> None:
    code = asm("PUSH1 0 CALLDATALOAD PUSH2 0x7FFF JUMPI PUSH1 7", RET_TOP)
    out = run(engine, code, data=word(0))
    assert out.success and out.out_word == 7
    assert out.gas_used == 6 + 3 + 10 + 3 + RET_TOP_GAS
    out = run(engine, code, data=word(1), gas=1000)
    assert not out.success and out.gas_left == 0


def test_long_program_of_many_blocks(engine: str) -> None:
    # 700 blocks of JUMPDEST PUSH1 i ADD, chained by fall-through, then one jump back
    # to the start of the chain guarded by a flag in memory: the sum is taken twice.
    blocks = " ".join(f"JUMPDEST PUSH1 {i % 200} ADD" for i in range(700))
    code = asm("PUSH1 0", "top:", blocks,
               "PUSH1 0 MLOAD PUSH2 @done JUMPI PUSH1 1 PUSH1 0 MSTORE PUSH2 @top JUMP",
               "done:", "PUSH1 32 MSTORE PUSH1 32 PUSH1 32 RETURN")
    out = run(engine, code, gas=1_000_000)
    assert out.success, out.error
    once = sum(i % 200 for i in range(700))
    assert word_of(out.output) == 2 * once
    rounds = 1 + 700 * (1 + 3 + 3)
    # first pass, guard (PUSH1, MLOAD + growth, PUSH2, JUMPI), flag store, jump back,
    # second pass, guard, then the result store and return
    first = 3 + rounds + (3 + 3 + 3 + 3 + 10) + (3 + 3 + 3 + 3 + 8)
    second = rounds + (3 + 3 + 3 + 10)
    assert out.gas_used == first + second + 1 + (3 + 3 + 3) + 6


@pytest.mark.parametrize("n", [10, 150])
def test_chain_of_taken_jumpis(engine: str, n: int) -> None:
    # n conditional jumps, each taken and each landing on the next test (like a row of
    # `require` checks); the untaken side of every one is INVALID.
    parts = [f"PUSH1 0 CALLDATALOAD PUSH2 @ok{i} JUMPI INVALID ok{i}:" for i in range(n)]
    code = asm(*parts, "PUSH1 7", RET_TOP)
    out = run(engine, code, data=word(1))
    assert out.success, out.error
    assert out.out_word == 7
    # per test: PUSH1 3, CALLDATALOAD 3, PUSH2 3, JUMPI 10, JUMPDEST 1
    assert out.gas_used == 20 * n + 3 + RET_TOP_GAS
    out = run(engine, code, data=word(0), gas=10_000)
    assert not out.success and out.gas_left == 0


def word_of(data: bytes) -> int:
    return int.from_bytes(data[:32], "big")


def test_jumpdests_cost_one(engine: str) -> None:
    out = run(engine, asm("JUMPDEST JUMPDEST JUMPDEST STOP"), gas=100)
    assert out.success and out.gas_used == 3


# ------------------------------------------------------------------ halting


def test_empty_code(engine: str) -> None:
    out = run(engine, b"", gas=1234)
    assert out.success and out.gas_left == 1234 and out.output == b""


def test_stop_and_falling_off_the_end(engine: str) -> None:
    out = run(engine, asm("PUSH1 1 STOP PUSH1 2"), gas=100)
    assert out.success and out.gas_used == 3 and out.output == b""
    out = run(engine, asm("PUSH1 1 PUSH1 2"), gas=100)
    assert out.success and out.gas_used == 6


@pytest.mark.parametrize("op", UNDEFINED)
def test_undefined_opcode_consumes_all_gas(engine: str, op: int) -> None:
    out = run(engine, asm("PUSH1 1") + bytes((op,)) + asm("STOP"), gas=10_000)
    assert not out.success
    assert out.gas_left == 0
    assert out.output == b""
    # never reached: harmless
    out = run(engine, asm("PUSH1 1 STOP") + bytes((op,)), gas=10_000)
    assert out.success


def test_undefined_opcode_after_jumpi(engine: str) -> None:
    code = asm("PUSH1 0 CALLDATALOAD PUSH1 @ok JUMPI", b"\x0c", "ok: STOP")
    assert run(engine, code, data=word(1), gas=1000).success
    out = run(engine, code, data=word(0), gas=1000)
    assert not out.success and out.gas_left == 0


def test_revert_keeps_gas_and_returns_data(engine: str) -> None:
    code = asm("PUSH1 0xAB PUSH1 0 MSTORE8 PUSH1 1 PUSH1 0 REVERT")
    out = run(engine, code, gas=1000)
    assert not out.success
    assert out.output == b"\xab"
    assert out.gas_left == 1000 - 18


def test_return_data_and_gas(engine: str) -> None:
    code = asm("PUSH2 0xBEEF PUSH1 0 MSTORE PUSH1 2 PUSH1 30 RETURN")
    out = run(engine, code, gas=1000)
    assert out.success
    assert out.output == b"\xbe\xef"
    assert out.gas_used == 3 + 3 + 6 + 3 + 3


def test_return_zero_size_at_huge_offset(engine: str) -> None:
    out = run(engine, asm("PUSH1 0", 2**256 - 1, "RETURN"), gas=1000)
    assert out.success and out.output == b"" and out.gas_used == 6


def test_out_of_gas_in_loop(engine: str) -> None:
    out = run(engine, asm("top: PUSH1 @top JUMP"), gas=10_000)
    assert not out.success and out.gas_left == 0
