"""System opcodes: the CALL family (value transfer, stipend, 63/64 rule, depth limit,
static-call write protection, DELEGATECALL/CALLCODE context), CREATE/CREATE2 (addresses,
EIP-3860 initcode limit, EIP-3541 0xEF rejection, EIP-170 code size, collisions),
SELFDESTRUCT under EIP-6780 and LOG gas and contents.
"""

from __future__ import annotations

import pytest
from vmhelpers import (
    CALLER,
    NOBODY,
    OTHER,
    RET_TOP,
    RET_TOP_GAS,
    SENDER,
    TARGET,
    THIRD,
    M,
    asm,
    call_op,
    create2_addr,
    create_addr,
    initcode_for,
    mem_cost,
    mstore_bytes,
    push,
    run,
    run_tx,
)

from strikevm.chain.transaction import TransactionError
from strikevm.state.account import Account
from strikevm.tools.deepstack import run_deep
from strikevm.vm.instructions.system import create2_address, create_address

EMPTY = 0x6666666666666666666666666666666666666666  # exists, but empty (EIP-161)


def word_of(data: bytes, i: int = 0) -> int:
    return int.from_bytes(data[32 * i : 32 * i + 32], "big")


# ------------------------------------------------------------------ CALL value and gas


@pytest.mark.parametrize(
    "to,warm,extra",
    [
        (OTHER, True, 100 + 9000),
        (OTHER, False, 2600 + 9000),
        (NOBODY, False, 2600 + 9000 + 25000),  # value to a non-existent account
        (EMPTY, False, 2600 + 9000 + 25000),  # ... or to an existing empty one
    ],
)
def test_call_value_transfer_gas(engine: str, to: int, warm: bool, extra: int) -> None:
    # CALL(gas 0, value 100) to an account without code: the 2300 stipend comes back.
    code = asm(call_op("CALL", to, gas=0, value=100), "POP STOP")
    pre = {OTHER: Account(balance=1), EMPTY: Account()}
    out = run(engine, code, balance=1000, pre=pre, warm=[to] if warm else [])
    assert out.success
    assert out.gas_used == 21 + extra - 2300 + 2
    assert out.balance(TARGET) == 900
    assert out.balance(to) == 100 + (1 if to == OTHER else 0)


def test_call_without_value_to_nonexistent_account(engine: str) -> None:
    out = run(engine, asm(call_op("CALL", NOBODY, gas=0), "POP STOP"))
    assert out.success
    assert out.gas_used == 21 + 2600 + 2


def test_call_with_insufficient_balance(engine: str) -> None:
    # fails without running the callee; the callee gas and the stipend come back
    code = asm(call_op("CALL", OTHER, gas=5000, value=1001), RET_TOP)
    out = run(engine, code, balance=1000, pre={OTHER: Account(code=asm("PUSH1 1 PUSH1 0 SSTORE"))},
              warm=[OTHER])
    assert out.success
    assert out.out_word == 0
    assert out.balance(TARGET) == 1000
    assert out.storage(OTHER) == {}
    assert out.gas_used == 21 + 100 + 9000 - 2300 + 15


@pytest.mark.parametrize("gas_arg,expected", [(0, 2300 - 2), (1000, 3300 - 2)])
def test_call_stipend_reaches_callee(engine: str, gas_arg: int, expected: int) -> None:
    callee = asm("GAS", RET_TOP)
    code = asm(call_op("CALL", OTHER, gas=gas_arg, value=1, out_size=32), "POP",
               "PUSH1 32 PUSH1 0 RETURN")
    out = run(engine, code, balance=10, pre={OTHER: Account(code=callee)}, warm=[OTHER])
    assert word_of(out.output) == expected


@pytest.mark.parametrize("gas,requested", [(100_000, M), (100_000, 2**64), (50_000, 10**9),
                                           (100_000, 5000)])
def test_call_63_64_rule(engine: str, gas: int, requested: int) -> None:
    callee = asm("GAS", RET_TOP)  # costs 2 + 15
    code = asm(call_op("CALL", OTHER, gas=requested, out_size=32), "POP",
               "PUSH1 32 PUSH1 0 RETURN")
    out = run(engine, code, gas=gas, pre={OTHER: Account(code=callee)}, warm=[OTHER])
    # before the call: 6 pushes of 3 and the gas push (3), then memory 3 and warm access 100
    avail = gas - 21 - 3 - 100
    child = min(requested, avail - avail // 64)
    assert word_of(out.output) == child - 2
    assert out.gas_used == 21 + 3 + 100 + 17 + 2 + 6


def test_call_failing_callee_burns_its_gas(engine: str) -> None:
    code = asm(call_op("CALL", OTHER, gas=10_000), RET_TOP)
    out = run(engine, code, pre={OTHER: Account(code=asm("INVALID"))}, warm=[OTHER])
    assert out.out_word == 0
    assert out.gas_used == 21 + 100 + 10_000 + 15


def test_call_reverting_callee_returns_gas_and_data(engine: str) -> None:
    callee = asm("PUSH2 0xBEEF PUSH1 0 MSTORE PUSH1 2 PUSH1 30 REVERT")  # 18 gas
    code = asm("PUSH1 0xFF PUSH1 0 MSTORE8",
               call_op("CALL", OTHER, gas=10_000, out_size=4), "PUSH1 32 MSTORE",
               "PUSH1 64 PUSH1 0 RETURN")
    out = run(engine, code, pre={OTHER: Account(code=callee)}, warm=[OTHER])
    assert out.output[:4] == b"\xbe\xef\x00\x00"  # only the 2 returned bytes are written
    assert word_of(out.output, 1) == 0
    assert out.gas_used == 9 + 3 + 21 + 100 + 18 + 6 + 3 + 6


def test_call_output_larger_than_return_leaves_memory(engine: str) -> None:
    callee = asm("PUSH1 0xAA PUSH1 0 MSTORE8 PUSH1 1 PUSH1 0 RETURN")
    code = asm(push(M, 32), "PUSH1 0 MSTORE", call_op("CALL", OTHER, out_size=32), "POP",
               "PUSH1 32 PUSH1 0 RETURN")
    out = run(engine, code, pre={OTHER: Account(code=callee)})
    assert out.output == b"\xaa" + b"\xff" * 31


def test_call_input_data(engine: str) -> None:
    callee = asm("CALLDATASIZE PUSH1 0 PUSH1 0 CALLDATACOPY CALLDATASIZE PUSH1 0 RETURN")
    code = asm(mstore_bytes(b"abcdefgh"), call_op("CALL", OTHER, in_off=2, in_size=5,
                                                  out_off=32, out_size=5),
               "POP PUSH1 5 PUSH1 32 RETURN")
    out = run(engine, code, pre={OTHER: Account(code=callee)})
    assert out.output == b"cdefg"


def test_call_extra_gas_not_affordable(engine: str) -> None:
    # 21 for the pushes, then 2600 cold access with only 2000 left: out of gas
    out = run(engine, asm(call_op("CALL", OTHER, gas=0), "STOP"), gas=2021)
    assert not out.success and out.gas_left == 0


def test_call_to_precompile(engine: str) -> None:
    # SHA-256 of empty input; 0x02 is warm in transactions, cold in a bare message
    code = asm(call_op("STATICCALL", 2, out_size=32), "POP PUSH1 32 PUSH1 0 RETURN")
    out = run(engine, code, warm=[2])
    assert out.output == bytes.fromhex(
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert out.gas_used == 17 + 3 + 100 + 60 + 2 + 6


# ------------------------------------------------------------------ call depth


def test_call_at_depth_1024_fails_and_returns_gas(engine: str) -> None:
    code = asm(call_op("CALL", OTHER, gas=5000), RET_TOP)
    pre = {OTHER: Account(code=asm("PUSH1 1 PUSH1 0 TSTORE"))}
    out = run(engine, code, depth=1024, pre=pre, warm=[OTHER])
    assert out.success and out.out_word == 0
    assert out.gas_used == 21 + 100 + 15
    assert out.state.tload(OTHER, 0) == 0
    out = run(engine, code, depth=1023, pre=pre, warm=[OTHER])
    assert out.out_word == 1
    assert out.state.tload(OTHER, 0) == 1


def test_create_at_depth_1024_fails(engine: str) -> None:
    code = asm("PUSH1 0 PUSH1 0 PUSH1 0 CREATE", RET_TOP)
    out = run(engine, code, depth=1024, gas=100_000)
    assert out.success and out.out_word == 0
    assert out.state.nonce(TARGET) == 1  # not incremented
    assert out.gas_used == 9 + 32000 + 15


def test_recursion_stops_at_depth_1024(engine: str) -> None:
    # Each frame counts itself in slot 0 and calls itself with all its gas: frames at
    # depths 0..1024 run, the call made at depth 1024 fails.
    code = asm("PUSH1 0 SLOAD PUSH1 1 ADD PUSH1 0 SSTORE", call_op("CALL", TARGET),
               "POP STOP")
    out = run_deep(lambda: run(engine, code, gas=10**12))
    assert out.success
    assert out.storage() == {0: 1025}


# ------------------------------------------------------------------ static context


STATIC_BODIES = [
    ("PUSH1 1 PUSH1 0 SSTORE", False),
    ("PUSH1 0 PUSH1 0 SSTORE", False),  # even a no-op write
    ("PUSH1 1 PUSH1 0 TSTORE", False),
    ("PUSH1 0 PUSH1 0 LOG0", False),
    ("PUSH1 0 PUSH1 0 PUSH1 0 LOG1", False),
    ("PUSH1 0 PUSH1 0 PUSH1 0 PUSH1 0 PUSH1 0 PUSH1 0 LOG4", False),
    ("PUSH1 0 PUSH1 0 PUSH1 0 CREATE", False),
    ("PUSH1 0 PUSH1 0 PUSH1 0 PUSH1 0 CREATE2", False),
    (f"PUSH1 0 PUSH1 0 PUSH1 0 PUSH1 0 PUSH1 1 PUSH20 {THIRD} GAS CALL", False),
    (f"PUSH20 {THIRD} SELFDESTRUCT", False),
    ("PUSH1 0 SLOAD PUSH1 0 TLOAD", True),
    (f"PUSH1 0 PUSH1 0 PUSH1 0 PUSH1 0 PUSH1 0 PUSH20 {THIRD} GAS CALL", True),
    # CALLCODE moves value from the account to itself: allowed in a static frame
    (f"PUSH1 0 PUSH1 0 PUSH1 0 PUSH1 0 PUSH1 1 PUSH20 {THIRD} GAS CALLCODE", True),
    ("PUSH1 0 PUSH1 0 RETURN", True),
]


@pytest.mark.parametrize("body,ok", STATIC_BODIES, ids=[b[0][-24:] for b in STATIC_BODIES])
def test_staticcall_write_protection(engine: str, body: str, ok: bool) -> None:
    callee = asm(body, "STOP")
    code = asm(call_op("STATICCALL", OTHER), RET_TOP)
    pre = {OTHER: Account(code=callee, balance=5, storage={0: 0}), THIRD: Account(balance=1)}
    out = run(engine, code, pre=pre)
    assert out.success
    assert out.out_word == int(ok)
    assert out.balance(OTHER) == 5 and out.balance(THIRD) == 1
    assert out.logs == []


def test_static_flag_propagates_to_nested_calls(engine: str) -> None:
    writer = asm("PUSH1 1 PUSH1 0 SSTORE STOP")
    middle = asm(call_op("CALL", THIRD), RET_TOP)  # returns the inner call's result
    code = asm(call_op("STATICCALL", OTHER, out_size=32), "PUSH1 32 MSTORE",
               "PUSH1 64 PUSH1 0 RETURN")
    pre = {OTHER: Account(code=middle), THIRD: Account(code=writer)}
    out = run(engine, code, pre=pre)
    assert out.out_words == [0, 1]  # inner write failed; the static call itself succeeded
    assert out.storage(THIRD) == {}
    # DELEGATECALL inside a static frame is static too
    middle = asm(call_op("DELEGATECALL", THIRD), RET_TOP)
    out = run(engine, code, pre={OTHER: Account(code=middle), THIRD: Account(code=writer)})
    assert out.out_words == [0, 1]


# ------------------------------------------------------------------ DELEGATECALL, CALLCODE


CONTEXT_WRITER = asm("CALLER PUSH1 0 SSTORE CALLVALUE PUSH1 1 SSTORE ADDRESS PUSH1 2 SSTORE",
                     "SELFBALANCE PUSH1 3 SSTORE STOP")


def test_delegatecall_keeps_context(engine: str) -> None:
    code = asm(call_op("DELEGATECALL", OTHER), RET_TOP)
    out = run(engine, code, value=7, balance=100, pre={OTHER: Account(code=CONTEXT_WRITER)})
    assert out.out_word == 1
    assert out.storage() == {0: CALLER, 1: 7, 2: TARGET, 3: 107}
    assert out.storage(OTHER) == {}
    assert out.balance(TARGET) == 107 and out.balance(OTHER) == 0


def test_callcode_runs_code_in_own_context(engine: str) -> None:
    code = asm(call_op("CALLCODE", OTHER, value=3), RET_TOP)
    out = run(engine, code, value=7, balance=100, pre={OTHER: Account(code=CONTEXT_WRITER)})
    assert out.out_word == 1
    assert out.storage() == {0: TARGET, 1: 3, 2: TARGET, 3: 107}
    assert out.storage(OTHER) == {}
    assert out.balance(TARGET) == 107 and out.balance(OTHER) == 0


def test_callcode_value_gas_has_no_new_account_charge(engine: str) -> None:
    # CALLCODE with value to a non-existent code address: 9000, no 25000
    out = run(engine, asm(call_op("CALLCODE", NOBODY, gas=0, value=1), "POP STOP"), balance=5)
    assert out.success
    assert out.gas_used == 21 + 2600 + 9000 - 2300 + 2
    assert out.balance(TARGET) == 5


def test_callcode_insufficient_balance(engine: str) -> None:
    out = run(engine, asm(call_op("CALLCODE", OTHER, value=6), RET_TOP), balance=5,
              pre={OTHER: Account(code=CONTEXT_WRITER)})
    assert out.out_word == 0
    assert out.storage() == {}


def test_delegatecall_gas(engine: str) -> None:
    out = run(engine, asm(call_op("DELEGATECALL", OTHER, gas=0), "POP STOP"),
              pre={OTHER: Account(code=CONTEXT_WRITER)})
    # 5 pushes + PUSH1 gas, cold access; the callee with 0 gas fails at once
    assert out.gas_used == 18 + 2600 + 2


# ------------------------------------------------------------------ CREATE / CREATE2


def test_create_address_vectors() -> None:
    sender = 0x6AC7EA33F8831EA9DCC53393AAA88B25A785DBF0
    expected = [0xCD234A471B72BA2F1CCF0A70FCABA648A5EECD8D,
                0x343C43A37D37DFF08AE8C4A11544C718ABB4FCF8,
                0xF778B86FA74E846C4F0A1FBD1335FE81C00A0C91,
                0xFFFD933A0BC612844EAF0C6FE3E5B8E9B6C1D19C]
    for nonce, addr in enumerate(expected):
        assert create_address(sender, nonce) == addr == create_addr(sender, nonce)
    for nonce in (0x7F, 0x80, 0xFF, 0x100, 2**32, 2**64 - 2):
        assert create_address(sender, nonce) == create_addr(sender, nonce)


EIP1014_VECTORS = [
    (0x0, 0, "00", 0x4D1A2E2BB4F88F0250F26FFFF098B0B30B26BF38),
    (0xDEADBEEF00000000000000000000000000000000, 0, "00",
     0xB928F69BB1D91CD65274E3C79D8986362984FDA3),
    (0xDEADBEEF00000000000000000000000000000000, 0xFEED << 144, "00",
     0xD04116CDD17BEBE565EB2422F2497E06CC1C9833),
    (0x0, 0, "deadbeef", 0x70F2B2914A2A4B783FAEFB75F459A580616FCB5E),
    (0x00000000000000000000000000000000DEADBEEF, 0xCAFEBABE, "deadbeef",
     0x60F3F640A8508FC6A86D45DF051962668E1E8AC7),
    (0x00000000000000000000000000000000DEADBEEF, 0xCAFEBABE, "deadbeef" * 11,
     0x1D8BFDC5D46DC4F61D6B6115972536EBE6A8854C),
    (0x0, 0, "", 0xE33C0C7F7DF4809055C3EBA6C09CFE4BAF1BD9E0),
]  # fmt: skip


@pytest.mark.parametrize("sender,salt,init,expected", EIP1014_VECTORS)
def test_create2_address_vectors(sender: int, salt: int, init: str, expected: int) -> None:
    assert create2_address(sender, salt, bytes.fromhex(init)) == expected


@pytest.mark.parametrize("salt,expected", [(0, 0xB928F69BB1D91CD65274E3C79D8986362984FDA3),
                                           (0xFEED << 144,
                                            0xD04116CDD17BEBE565EB2422F2497E06CC1C9833)])
def test_create2_opcode_uses_eip1014_address(engine: str, salt: int, expected: int) -> None:
    # initcode is the single byte 0x00 (memory starts zeroed): deploys empty code
    sender = 0xDEADBEEF00000000000000000000000000000000
    code = asm(push(salt, 32), "PUSH1 1 PUSH1 0 PUSH1 0 CREATE2", RET_TOP)
    out = run(engine, code, target=sender)
    assert out.success
    assert out.out_word == expected
    assert out.state.nonce(expected) == 1 and out.state.code(expected) == b""
    assert out.state.nonce(sender) == 2
    # 4 pushes, 32000 + (6 + 2) per initcode word + one word of memory; the child runs
    # STOP (0 gas); RET_TOP needs no more memory
    assert out.gas_used == 12 + 32000 + 8 + 3 + 12


def test_create_deploys_code_at_nonce_address(engine: str) -> None:
    runtime = asm("PUSH1 0x42", RET_TOP)
    init = initcode_for(runtime)
    code = asm(mstore_bytes(init), push(len(init)), "PUSH1 0 PUSH1 9 CREATE", RET_TOP)
    out = run(engine, code, balance=10)
    expected = create_addr(TARGET, 1)
    assert out.success
    assert out.out_word == expected
    new = out.state.accounts[expected]
    assert new.code == runtime and new.nonce == 1 and new.balance == 9
    assert out.state.nonce(TARGET) == 2
    assert out.balance(TARGET) == 1
    # the new contract works
    out2 = run(engine, out.state.code(expected), state=out.state, target=expected, caller=TARGET)
    assert out2.success and word_of(out2.output) == 0x42
    # gas: MSTOREs of the initcode (one word), pushes, CREATE 32000 + 2 per word,
    # initcode (15: CODECOPY of one word 3+3+3, PUSH2 3, PUSH1 3, PUSH2 3, PUSH1 3,
    # pushes 9, memory 3 ... all in the child), code deposit 200 per byte
    words = (len(init) + 31) // 32
    store = words * 9 + mem_cost(words)
    child = 3 + 3 + 3 + (3 + 3 + mem_cost(1)) + 3 + 3
    assert out.gas_used == store + 9 + 32000 + 2 * words + child + 200 * len(runtime) + 12


def test_create_twice_uses_next_nonce(engine: str) -> None:
    code = asm("PUSH1 0 PUSH1 0 PUSH1 0 CREATE PUSH1 0 PUSH1 0 PUSH1 0 CREATE",
               "PUSH1 0 MSTORE PUSH1 32 MSTORE PUSH1 64 PUSH1 0 RETURN")
    out = run(engine, code)
    assert out.out_words == [create_addr(TARGET, 2), create_addr(TARGET, 1)]


def test_create_returns_revert_data(engine: str) -> None:
    init = asm("PUSH2 0xDEAD PUSH1 0 MSTORE PUSH1 2 PUSH1 30 REVERT")
    code = asm(mstore_bytes(init), push(len(init)),
               "PUSH1 0 PUSH1 0 CREATE RETURNDATASIZE PUSH1 0 PUSH1 0 RETURNDATACOPY",
               "PUSH1 32 MSTORE PUSH1 64 PUSH1 0 RETURN")
    out = run(engine, code)
    assert out.output[:2] == b"\xde\xad"
    assert word_of(out.output, 1) == 0
    assert out.state.nonce(TARGET) == 2  # the nonce is used even when creation fails
    assert create_addr(TARGET, 1) not in out.state.accounts


def test_successful_create_leaves_no_returndata(engine: str) -> None:
    init = initcode_for(b"\x00")
    code = asm(mstore_bytes(init), push(len(init)),
               "PUSH1 0 PUSH1 0 CREATE POP RETURNDATASIZE", RET_TOP)
    out = run(engine, code)
    assert out.out_word == 0


def test_create_with_insufficient_balance(engine: str) -> None:
    code = asm("PUSH1 0 PUSH1 0 PUSH1 11 CREATE", RET_TOP)
    out = run(engine, code, balance=10, gas=100_000)
    assert out.out_word == 0
    assert out.state.nonce(TARGET) == 1
    assert out.gas_used == 9 + 32000 + 15  # the child gas comes back


@pytest.mark.parametrize("op", ["CREATE", "CREATE2"])
@pytest.mark.parametrize("size,ok", [(49152, True), (49153, False)])
def test_initcode_size_limit(engine: str, op: str, size: int, ok: bool) -> None:
    # EIP-3860: initcode over 2 * 24576 bytes is an exceptional halt; zeros are STOPs
    salt = "PUSH1 0 " if op == "CREATE2" else ""
    code = asm(salt, push(size), "PUSH1 0 PUSH1 0", op, RET_TOP)
    out = run(engine, code, gas=1_000_000)
    assert out.success is ok
    if not ok:
        assert out.gas_left == 0
        assert out.state.nonce(TARGET) == 1
        return
    words = size // 32
    per_word = 2 + (6 if op == "CREATE2" else 0)
    pushes = 9 + (3 if op == "CREATE2" else 0)
    assert out.gas_used == pushes + 32000 + per_word * words + mem_cost(words) + 12


def test_tx_initcode_size_limit(engine: str) -> None:
    with pytest.raises(TransactionError):
        run_tx(engine, {}, to=None, data=bytes(49153), gas_limit=10_000_000)
    result, state = run_tx(engine, {}, to=None, data=bytes(49152), gas_limit=10_000_000)
    assert result.success
    # intrinsic: 21000 + 32000 + 4 per zero byte + 2 per initcode word; the code is STOP
    assert result.gas_used == 21000 + 32000 + 4 * 49152 + 2 * 1536
    assert result.contract_address == create_addr(SENDER, 0)


@pytest.mark.parametrize(
    "runtime,ok",
    [(b"\xef", False), (b"\xef\x00", False), (b"\xef\x00\x01\x00", False), (b"\xfe", True),
     (b"\x00\xef", True), (b"", True)],
)
def test_eip3541_rejects_0xef_code(engine: str, runtime: bytes, ok: bool) -> None:
    init = initcode_for(runtime)
    code = asm(mstore_bytes(init), push(len(init)), "PUSH1 0 PUSH1 0 CREATE", RET_TOP)
    gas = 200_000
    out = run(engine, code, gas=gas)
    addr = create_addr(TARGET, 1)
    assert out.success
    if ok:
        assert out.out_word == addr
        assert out.state.code(addr) == runtime
    else:
        assert out.out_word == 0
        assert addr not in out.state.accounts
        # the creation's gas is all consumed: only the 1/64 kept by the caller is left
        words = (len(init) + 31) // 32
        before = words * 9 + mem_cost(words) + 9 + 32000 + 2 * words
        avail = gas - before
        assert out.gas_left == avail // 64 - 12


@pytest.mark.parametrize("size,ok", [(24576, True), (24577, False)])
def test_code_size_limit(engine: str, size: int, ok: bool) -> None:
    init = asm(push(size), "PUSH1 0 RETURN")  # returns zeros
    code = asm(mstore_bytes(init), push(len(init)), "PUSH1 0 PUSH1 0 CREATE", RET_TOP)
    out = run(engine, code, gas=10_000_000)
    addr = create_addr(TARGET, 1)
    assert out.success
    assert out.out_word == (addr if ok else 0)
    if ok:
        assert len(out.state.code(addr)) == size
        words = size // 32
        child = 6 + mem_cost(words) + 200 * size
        assert out.gas_used == 9 + mem_cost(1) + 9 + 32000 + 2 + child + 12
    else:
        assert addr not in out.state.accounts


def test_code_deposit_out_of_gas(engine: str) -> None:
    # initcode returns 100 bytes: 200 * 100 = 20000 deposit, more than the child has
    init = asm("PUSH1 100 PUSH1 0 RETURN")
    code = asm(mstore_bytes(init), push(len(init)), "PUSH1 0 PUSH1 0 CREATE", RET_TOP)
    before = 9 + 3 + 9 + 32000 + 2
    gas = before + 20000
    out = run(engine, code, gas=gas)
    assert out.success and out.out_word == 0
    assert create_addr(TARGET, 1) not in out.state.accounts
    assert out.gas_left == 20000 // 64 - 12
    # with more gas it deploys
    out = run(engine, code, gas=before + 30000)
    assert out.out_word == create_addr(TARGET, 1)
    assert out.state.code(create_addr(TARGET, 1)) == bytes(100)


@pytest.mark.parametrize(
    "existing,collides",
    [
        (Account(nonce=1), True),
        (Account(code=b"\x00"), True),
        (Account(storage={1: 1}), True),  # EIP-7610
        (Account(balance=5), False),
        (Account(), False),
    ],
)
def test_create_collision(engine: str, existing: Account, collides: bool) -> None:
    addr = create2_addr(TARGET, 7, b"")
    code = asm("PUSH1 7 PUSH1 0 PUSH1 0 PUSH1 0 CREATE2", RET_TOP)
    gas = 100_000
    out = run(engine, code, gas=gas, pre={addr: existing})
    assert out.success
    assert out.state.nonce(TARGET) == 2  # the nonce is incremented either way
    if collides:
        assert out.out_word == 0
        avail = gas - 12 - 32000
        assert out.gas_left == avail // 64 - 15  # the child gas is consumed
    else:
        assert out.out_word == addr
        assert out.state.nonce(addr) == 1
        assert out.balance(addr) == existing.balance


def test_create2_same_salt_twice_collides(engine: str) -> None:
    code = asm("PUSH1 1 PUSH1 0 PUSH1 0 PUSH1 0 CREATE2 PUSH1 1 PUSH1 0 PUSH1 0 PUSH1 0 CREATE2",
               "PUSH1 0 MSTORE PUSH1 32 MSTORE PUSH1 64 PUSH1 0 RETURN")
    out = run(engine, code)
    assert out.out_words == [0, create2_addr(TARGET, 1, b"")]


def test_create_address_is_warm(engine: str) -> None:
    addr = create_addr(TARGET, 1)
    code = asm("PUSH1 0 PUSH1 0 PUSH1 0 CREATE POP GAS", push(addr, 20),
               "BALANCE POP GAS SWAP1 SUB", RET_TOP)
    out = run(engine, code)
    assert out.out_word == 3 + 100 + 2 + 2


def test_create_in_initcode_of_create(engine: str) -> None:
    # the child's nonce starts at 1, so its own CREATE uses nonce 1
    inner = asm("PUSH1 0 PUSH1 0 PUSH1 0 CREATE STOP")
    code = asm(mstore_bytes(inner), push(len(inner)), "PUSH1 0 PUSH1 0 CREATE", RET_TOP)
    out = run(engine, code)
    child = create_addr(TARGET, 1)
    grandchild = create_addr(child, 1)
    assert out.out_word == child
    assert out.state.nonce(child) == 2
    assert out.state.nonce(grandchild) == 1


def test_account_under_construction(engine: str) -> None:
    # during its initcode the new account has no code yet: EXTCODESIZE 0, CODESIZE is
    # the initcode's size; its storage writes are kept with the deployed account
    init = asm("ADDRESS EXTCODESIZE PUSH1 1 ADD PUSH1 0 SSTORE CODESIZE PUSH1 1 SSTORE",
               "ADDRESS PUSH1 2 SSTORE")
    code = asm(mstore_bytes(init), push(len(init)), "PUSH1 0 PUSH1 0 CREATE", RET_TOP)
    out = run(engine, code)
    child = create_addr(TARGET, 1)
    assert out.out_word == child
    assert out.storage(child) == {0: 1, 1: len(init), 2: child}
    assert out.state.code(child) == b""


def test_failed_value_call_clears_returndata(engine: str) -> None:
    returner = asm("PUSH1 0xAA", RET_TOP)
    code = asm(call_op("CALL", OTHER), "POP", call_op("CALL", OTHER, value=10**9), "POP",
               "RETURNDATASIZE", RET_TOP)
    out = run(engine, code, balance=1, pre={OTHER: Account(code=returner)})
    assert out.out_word == 0
    code = asm(call_op("CALL", OTHER), "POP", "RETURNDATASIZE", RET_TOP)
    assert run(engine, code, pre={OTHER: Account(code=returner)}).out_word == 32


def test_call_value_to_self(engine: str) -> None:
    # the inner frame (non-zero CALLVALUE) stops at once; the balance goes round
    code = asm("CALLVALUE PUSH1 @inner JUMPI", call_op("CALL", TARGET, value=40, gas=0),
               RET_TOP, "inner: STOP")
    out = run(engine, code, balance=50)
    assert out.out_word == 1
    assert out.balance(TARGET) == 50
    # CALLVALUE 2, PUSH1 3, JUMPI 10, pushes 21, warm 100 + 9000 - 2300 back, inner frame
    # CALLVALUE 2 + PUSH1 3 + JUMPI 10 + JUMPDEST 1, epilogue
    assert out.gas_used == 15 + 21 + 9100 - 2300 + 16 + RET_TOP_GAS


# ------------------------------------------------------------------ SELFDESTRUCT


@pytest.mark.parametrize(
    "beneficiary,warm,balance,gas",
    [
        (THIRD, True, 50, 5000),
        (THIRD, False, 50, 5000 + 2600),
        (NOBODY, False, 50, 5000 + 2600 + 25000),  # balance to a dead account
        (NOBODY, False, 0, 5000 + 2600),  # nothing to send: no new-account charge
        (NOBODY, True, 50, 5000 + 25000),
        (OTHER, False, 50, 5000),  # itself: always warm
    ],
)
def test_selfdestruct_gas(engine: str, beneficiary: int, warm: bool, balance: int,
                          gas: int) -> None:
    code = asm(push(beneficiary, 20), "SELFDESTRUCT")
    pre = {THIRD: Account(balance=1)}
    out = run(engine, code, target=OTHER, balance=balance, pre=pre,
              warm=[beneficiary] if warm else [])
    assert out.success
    assert out.gas_used == 3 + gas
    assert out.refund == 0  # no refund since EIP-3529


def test_selfdestruct_preexisting_contract_keeps_account(engine: str) -> None:
    # EIP-6780: not created in this transaction, so only the balance moves
    code = asm(push(THIRD, 20), "SELFDESTRUCT PUSH1 1 PUSH1 1 SSTORE")
    out = run(engine, code, target=OTHER, balance=50, storage={0: 9},
              pre={THIRD: Account(balance=1)})
    assert out.success
    out.state.finalize_transaction()
    acct = out.state.accounts[OTHER]
    assert acct.code == code and acct.storage == {0: 9} and acct.balance == 0
    assert out.balance(THIRD) == 51


def test_selfdestruct_preexisting_to_itself_keeps_balance(engine: str) -> None:
    code = asm(push(OTHER, 20), "SELFDESTRUCT")
    out = run(engine, code, target=OTHER, balance=50)
    out.state.finalize_transaction()
    assert out.state.accounts[OTHER].balance == 50
    assert out.state.accounts[OTHER].code == code


@pytest.mark.parametrize("beneficiary,burnt", [(THIRD, False), ("self", True)])
def test_selfdestruct_in_initcode_deletes_account(engine: str, beneficiary: int | str,
                                                 burnt: bool) -> None:
    # EIP-6780: created in the same transaction, so the account is deleted
    child = create_addr(TARGET, 1)
    who = child if beneficiary == "self" else THIRD
    init = asm(push(who, 20), "SELFDESTRUCT")
    code = asm(mstore_bytes(init), push(len(init)), "PUSH1 0 PUSH1 30 CREATE", RET_TOP)
    out = run(engine, code, balance=100, pre={THIRD: Account(balance=1)})
    assert out.success
    assert out.out_word == child
    out.state.finalize_transaction()
    assert child not in out.state.accounts
    assert out.balance(TARGET) == 70
    assert out.balance(THIRD) == (1 if burnt else 31)


def test_selfdestruct_of_contract_created_earlier_in_tx(engine: str) -> None:
    # deploy code that self-destructs, then call it in the same transaction
    runtime = asm(push(THIRD, 20), "SELFDESTRUCT")
    init = initcode_for(runtime)
    child = create_addr(TARGET, 1)
    code = asm(mstore_bytes(init), push(len(init)), "PUSH1 0 PUSH1 5 CREATE POP",
               call_op("CALL", child), RET_TOP)
    out = run(engine, code, balance=5)
    assert out.out_word == 1
    out.state.finalize_transaction()
    assert child not in out.state.accounts
    assert out.balance(THIRD) == 5


def test_selfdestruct_stops_execution(engine: str) -> None:
    code = asm(push(OTHER, 20), "SELFDESTRUCT PUSH1 1 PUSH1 0 SSTORE")
    out = run(engine, code, target=OTHER)
    assert out.success and out.storage(OTHER) == {}


def test_selfdestruct_reverted_with_frame(engine: str) -> None:
    child_code = asm(push(THIRD, 20), "SELFDESTRUCT")
    middle = asm(call_op("CALL", THIRD + 1), "POP PUSH1 0 PUSH1 0 REVERT")
    pre = {OTHER: Account(code=middle), THIRD + 1: Account(code=child_code, balance=40),
           THIRD: Account(balance=1)}
    out = run(engine, asm(call_op("CALL", OTHER), "STOP"), pre=pre)
    assert out.success
    assert out.balance(THIRD + 1) == 40 and out.balance(THIRD) == 1


# ------------------------------------------------------------------ LOG


@pytest.mark.parametrize("n", range(5))
def test_log_gas_and_contents(engine: str, n: int) -> None:
    topics = [0x1000 + i for i in range(n)]
    data = bytes(range(1, 41))
    # LOGn pops offset, size, topic1, ..., topicn
    code = asm(mstore_bytes(data), *[push(t) for t in reversed(topics)], "PUSH1 40 PUSH1 0",
               f"LOG{n}", "STOP")
    out = run(engine, code)
    assert out.success
    assert len(out.logs) == 1
    log = out.logs[0]
    assert log.address == TARGET
    assert list(log.topics) == topics
    assert log.data == data
    store = 2 * 9 + mem_cost(2)
    assert out.gas_used == store + 3 * n + 6 + 375 + 375 * n + 8 * 40


def test_log_memory_expansion_and_empty_data(engine: str) -> None:
    out = run(engine, asm("PUSH1 0", push(M, 32), "LOG0 STOP"))
    assert out.success and out.logs[0].data == b""
    assert out.gas_used == 6 + 375
    out = run(engine, asm("PUSH1 33 PUSH1 0 LOG0 STOP"))
    assert out.logs[0].data == bytes(33)
    assert out.gas_used == 6 + 375 + 8 * 33 + mem_cost(2)


def test_log_order_and_revert(engine: str) -> None:
    emitter = asm("PUSH1 0xE0 PUSH1 0 PUSH1 0 LOG1 CALLDATASIZE PUSH1 @ok JUMPI",
                  "PUSH1 0 PUSH1 0 REVERT ok: STOP")
    code = asm("PUSH1 1 PUSH1 0 PUSH1 0 LOG1",
               call_op("CALL", OTHER), "POP",  # reverted: its log disappears
               "PUSH1 1 PUSH1 0 MSTORE8", call_op("CALL", OTHER, in_size=1), "POP",
               "PUSH1 2 PUSH1 0 PUSH1 0 LOG1 STOP")
    out = run(engine, code, pre={OTHER: Account(code=emitter)})
    assert [(log.address, list(log.topics)) for log in out.logs] == [
        (TARGET, [1]), (OTHER, [0xE0]), (TARGET, [2])
    ]


def test_log_out_of_gas_for_data(engine: str) -> None:
    code = asm("PUSH1 100 PUSH1 0 LOG0 STOP")
    need = 6 + 375 + 800 + mem_cost(4)
    assert run(engine, code, gas=need).success
    out = run(engine, code, gas=need - 1)
    assert not out.success and out.logs == []


def test_tx_logs_only_on_success(engine: str) -> None:
    pre = {TARGET: Account(code=asm("PUSH1 7 PUSH1 0 PUSH1 0 LOG1 CALLDATASIZE PUSH1 @r JUMPI",
                                    "STOP r: PUSH1 0 PUSH1 0 REVERT"))}
    result, _ = run_tx(engine, pre, to=TARGET)
    assert [list(log.topics) for log in result.logs] == [[7]]
    result, _ = run_tx(engine, pre, to=TARGET, data=b"\x01")
    assert not result.success and result.logs == []
