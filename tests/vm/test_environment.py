"""Context and block opcodes, CALLDATA*/CODE*/EXTCODE*/RETURNDATA*, BLOCKHASH window,
BLOBHASH, BLOBBASEFEE (EIP-4844/7516) and EIP-2929 warm/cold account access costs.
"""

from __future__ import annotations

import pytest
from Crypto.Hash import keccak as pyc_keccak
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
    mem_cost,
    push,
    run,
    run_tx,
)

from strikevm.state.account import Account
from strikevm.vm.env import BlockEnv, TxEnv

EMPTY_KECCAK = 0xC5D2460186F7233C927E7DB2DCC703C0E500B653CA82273B7BFAD8045D85A470
COINBASE = 0xC014BA5E00000000000000000000000000000000


def keccak(data: bytes) -> int:
    return int.from_bytes(pyc_keccak.new(data=data, digest_bits=256).digest(), "big")


def probe(*fragments: str | int | bytes | list[str | int | bytes]) -> bytes:
    """Code measuring the gas of each fragment: returns one word per fragment, cost + 2.

    Each window is ``GAS <fragment> GAS SWAP1 SUB``: the difference of the two GAS
    readings is the fragment's cost plus the second GAS (2).
    """
    parts: list[str | int | bytes] = []
    for i, frag in enumerate(fragments):
        parts.append("GAS")
        parts.extend(frag if isinstance(frag, list) else [frag])
        parts += ["GAS SWAP1 SUB", push(32 * i), "MSTORE"]
    parts += [push(32 * len(fragments)), "PUSH1 0 RETURN"]
    return asm(*parts)


# ------------------------------------------------------------------ context


BLOCK = BlockEnv(
    coinbase=COINBASE, number=1234, timestamp=1_700_000_000, gas_limit=29_000_000,
    prev_randao=0xABCDEF << 200, base_fee=7 * 10**9, chain_id=1337,
)
TX = TxEnv(origin=THIRD, gas_price=9 * 10**9)


@pytest.mark.parametrize(
    "op,expected,gas",
    [
        ("ADDRESS", TARGET, 2),
        ("ORIGIN", THIRD, 2),
        ("CALLER", CALLER, 2),
        ("CALLVALUE", 12345, 2),
        ("CALLDATASIZE", 5, 2),
        ("GASPRICE", 9 * 10**9, 2),
        ("COINBASE", COINBASE, 2),
        ("TIMESTAMP", 1_700_000_000, 2),
        ("NUMBER", 1234, 2),
        ("PREVRANDAO", 0xABCDEF << 200, 2),
        ("GASLIMIT", 29_000_000, 2),
        ("CHAINID", 1337, 2),
        ("BASEFEE", 7 * 10**9, 2),
        ("SELFBALANCE", 10**6 + 12345, 5),
    ],
)
def test_context_opcodes(engine: str, op: str, expected: int, gas: int) -> None:
    out = run(engine, asm(op, RET_TOP), data=b"\x01\x02\x03\x04\x05", value=12345,
              balance=10**6, block=BLOCK, tx=TX)
    assert out.success
    assert out.out_word == expected
    assert out.gas_used == gas + RET_TOP_GAS


def test_codesize(engine: str) -> None:
    code = asm("CODESIZE", RET_TOP, "STOP STOP STOP")
    out = run(engine, code)
    assert out.out_word == len(code) == 1 + 8 + 3
    assert out.gas_used == 2 + RET_TOP_GAS


# ------------------------------------------------------------------ calldata


CALLDATA = bytes(range(1, 41))  # 01..28 (40 bytes)


@pytest.mark.parametrize(
    "offset,expected",
    [
        (0, CALLDATA[:32]),
        (8, CALLDATA[8:40]),
        (9, CALLDATA[9:40] + b"\x00"),
        (39, b"\x28" + bytes(31)),
        (40, bytes(32)),
        (2**64, bytes(32)),
        (M, bytes(32)),
    ],
)
def test_calldataload(engine: str, offset: int, expected: bytes) -> None:
    out = run(engine, asm(push(offset), "CALLDATALOAD", RET_TOP), data=CALLDATA)
    assert out.output == expected
    assert out.gas_used == 3 + 3 + RET_TOP_GAS


@pytest.mark.parametrize(
    "dst,src,size,expected_mem",
    [
        (0, 0, 40, CALLDATA + bytes(24)),
        (0, 30, 20, CALLDATA[30:] + bytes(22)),  # zero-padded past the end
        (1, 0, 3, b"\x00\x01\x02\x03" + bytes(28)),
        (0, 2**255, 32, bytes(32)),  # source far beyond the data: zeros, no failure
        (0, M, 5, bytes(32)),
    ],
)
def test_calldatacopy(engine: str, dst: int, src: int, size: int, expected_mem: bytes) -> None:
    n = len(expected_mem)
    code = asm(push(size), push(src, 32), push(dst), "CALLDATACOPY", push(n), "PUSH1 0 RETURN")
    out = run(engine, code, data=CALLDATA)
    assert out.success
    assert out.output == expected_mem
    words = (dst + size + 31) // 32
    assert out.gas_used == 9 + 3 + 3 * ((size + 31) // 32) + mem_cost(words) + 6


def test_calldatacopy_zero_size_and_huge_offsets(engine: str) -> None:
    out = run(engine, asm("PUSH1 0", push(M, 32), push(M, 32), "CALLDATACOPY MSIZE", RET_TOP),
              data=CALLDATA)
    assert out.out_word == 0
    assert out.gas_used == 9 + 3 + 2 + RET_TOP_GAS


def test_calldatacopy_huge_destination_fails(engine: str) -> None:
    out = run(engine, asm("PUSH1 1 PUSH1 0", push(2**32, 32), "CALLDATACOPY STOP"),
              data=CALLDATA, gas=10**7)
    assert not out.success and out.gas_left == 0


def test_codecopy(engine: str) -> None:
    # copy 40 bytes of the code starting at offset 2 (the code is shorter)
    code = asm("PUSH1 40 PUSH1 2 PUSH1 0 CODECOPY PUSH1 64 PUSH1 0 RETURN")
    out = run(engine, code)
    assert out.output == code[2:] + bytes(64 - len(code) + 2)
    assert out.gas_used == 9 + 3 + 3 * 2 + mem_cost(2) + 6


# ------------------------------------------------------------------ EXTCODE*, BALANCE


CONTRACT_CODE = asm("PUSH1 1 PUSH1 2 ADD STOP")
EXT_PRE = {
    OTHER: Account(code=CONTRACT_CODE, balance=77),
    THIRD: Account(balance=5),  # externally owned, no code
    0x6666666666666666666666666666666666666666: Account(),  # exists but empty
}
EMPTY = 0x6666666666666666666666666666666666666666


@pytest.mark.parametrize(
    "addr,size,hash_,bal",
    [
        (OTHER, len(CONTRACT_CODE), keccak(CONTRACT_CODE), 77),
        (THIRD, 0, EMPTY_KECCAK, 5),
        (EMPTY, 0, 0, 0),  # empty account (EIP-161): hash 0
        (NOBODY, 0, 0, 0),  # non-existent: hash 0
        (TARGET, None, None, 0),
    ],
)
def test_extcode_values(
    engine: str, addr: int, size: int | None, hash_: int | None, bal: int
) -> None:
    code = asm(push(addr), "EXTCODESIZE PUSH1 0 MSTORE", push(addr), "EXTCODEHASH PUSH1 32 MSTORE",
               push(addr), "BALANCE PUSH1 64 MSTORE PUSH1 96 PUSH1 0 RETURN")
    out = run(engine, code, pre=EXT_PRE)
    assert out.success
    got_size, got_hash, got_bal = out.out_words
    if addr == TARGET:
        size, hash_ = len(code), keccak(code)
    assert (got_size, got_hash, got_bal) == (size, hash_, bal)


@pytest.mark.parametrize("op", ["BALANCE", "EXTCODESIZE", "EXTCODEHASH"])
def test_cold_then_warm_account_access(engine: str, op: str) -> None:
    # cold: 2600, warm: 100; windows cost PUSH20 3 + op + POP 2 + second GAS 2
    frag = [push(OTHER, 20), op, "POP"]
    out = run(engine, probe(frag, frag, [push(TARGET, 20), op, "POP"]), pre=EXT_PRE)
    assert out.out_words == [2600 + 7, 100 + 7, 100 + 7]


def test_extcodecopy_gas_and_data(engine: str) -> None:
    # EXTCODECOPY(addr, dst 0, src 1, size 40): access + 3 per word + expansion
    copy = ["PUSH1 40 PUSH1 1 PUSH1 0", push(OTHER, 20), "EXTCODECOPY"]
    code = asm(*copy, *copy, "PUSH1 64 PUSH1 0 RETURN")
    out = run(engine, code, pre=EXT_PRE)
    assert out.success
    assert out.output == CONTRACT_CODE[1:] + bytes(64 - len(CONTRACT_CODE) + 1)
    first = 12 + 2600 + 6 + mem_cost(2)
    second = 12 + 100 + 6
    assert out.gas_used == first + second + 6


def test_extcodecopy_of_nonexistent_account_gives_zeros(engine: str) -> None:
    code = asm("PUSH1 0xFF PUSH1 0 MSTORE PUSH1 32 PUSH1 0 PUSH1 0", push(NOBODY, 20),
               "EXTCODECOPY PUSH1 32 PUSH1 0 RETURN")
    out = run(engine, code)
    assert out.output == bytes(32)


def test_extcodecopy_zero_size_still_charges_access(engine: str) -> None:
    out = run(engine, probe(["PUSH1 0 PUSH1 0 PUSH1 0", push(OTHER, 20), "EXTCODECOPY"]),
              pre=EXT_PRE)
    assert out.out_words == [12 + 2600 + 2]


def test_address_operand_uses_low_160_bits(engine: str) -> None:
    high = (0xDEADBEEF << 160) | OTHER
    code = asm(push(high, 32), "BALANCE", RET_TOP)
    out = run(engine, code, pre=EXT_PRE)
    assert out.out_word == 77
    assert out.gas_used == 3 + 2600 + RET_TOP_GAS
    # and the access warmed OTHER itself
    frag = [push(OTHER, 20), "BALANCE POP"]
    out = run(engine, probe([push(high, 32), "BALANCE POP"], frag), pre=EXT_PRE)
    assert out.out_words == [2607, 107]


def test_warm_set_is_rolled_back_with_a_reverted_call(engine: str) -> None:
    # OTHER warms NOBODY then reverts; back in TARGET, NOBODY is cold again (EIP-2929).
    callee = asm(push(NOBODY, 20), "BALANCE POP PUSH1 0 PUSH1 0 REVERT")
    keeper = asm(push(NOBODY, 20), "BALANCE POP STOP")
    call = ["PUSH1 0 PUSH1 0 PUSH1 0 PUSH1 0 PUSH1 0", push(OTHER, 20), "GAS CALL POP"]
    frag = [push(NOBODY, 20), "BALANCE POP"]
    code = asm(*call, probe(frag))
    out = run(engine, code, pre={OTHER: Account(code=callee)}, warm=[OTHER])
    assert out.out_word == 2607
    out = run(engine, code, pre={OTHER: Account(code=keeper)}, warm=[OTHER])
    assert out.out_word == 107


def test_tx_warm_addresses(engine: str) -> None:
    # In a transaction, sender, recipient, coinbase (EIP-3651), precompiles and access
    # list entries start warm; anything else is cold.
    listed = 0x7777777777777777777777777777777777777777
    cold = 0x8888888888888888888888888888888888888888
    addrs = [SENDER, TARGET, COINBASE, 1, 4, 10, listed, cold, 11]
    frags = [[push(a, 20), "BALANCE POP"] for a in addrs]
    pre = {TARGET: Account(code=probe(*frags))}
    block = BlockEnv(coinbase=COINBASE)
    result, _ = run_tx(engine, pre, to=TARGET, block=block, access_list=[(listed, [])])
    assert result.success
    costs = [w - 7 for w in _words(result.output)]
    assert costs == [100, 100, 100, 100, 100, 100, 100, 2600, 2600]


def _words(data: bytes) -> list[int]:
    return [int.from_bytes(data[i : i + 32], "big") for i in range(0, len(data), 32)]


# ------------------------------------------------------------------ RETURNDATA


RETURNER = asm("PUSH5 0x1122334455 PUSH1 0 MSTORE PUSH1 5 PUSH1 27 RETURN")
REVERTER = asm("PUSH3 0xAABBCC PUSH1 0 MSTORE PUSH1 3 PUSH1 29 REVERT")


def _call(addr: int) -> str:
    return f"PUSH1 0 PUSH1 0 PUSH1 0 PUSH1 0 PUSH1 0 PUSH20 {addr} GAS CALL POP"


def test_returndatasize_initially_zero(engine: str) -> None:
    out = run(engine, asm("RETURNDATASIZE", RET_TOP))
    assert out.out_word == 0 and out.gas_used == 2 + RET_TOP_GAS


@pytest.mark.parametrize("callee,data", [(RETURNER, bytes.fromhex("1122334455")),
                                         (REVERTER, bytes.fromhex("aabbcc"))])
def test_returndata_after_call(engine: str, callee: bytes, data: bytes) -> None:
    code = asm(_call(OTHER), "RETURNDATASIZE PUSH1 0 PUSH1 0 RETURNDATACOPY",
               "RETURNDATASIZE PUSH1 0 RETURN")
    out = run(engine, code, pre={OTHER: Account(code=callee)})
    assert out.success
    assert out.output == data


def test_returndatacopy_gas(engine: str) -> None:
    frag = ["PUSH1 5 PUSH1 0 PUSH1 0 RETURNDATACOPY"]
    code = asm(_call(OTHER), probe(frag))
    out = run(engine, code, pre={OTHER: Account(code=RETURNER)})
    # pushes 9, RETURNDATACOPY 3 + 3 per word + one word of growth, second GAS 2
    assert out.out_word == 9 + 3 + 3 + 3 + 2


@pytest.mark.parametrize(
    "offset,size,ok",
    [(0, 5, True), (5, 0, True), (4, 1, True), (0, 6, False), (5, 1, False), (6, 0, False),
     (1, 5, False), (M, 2, False), (2, M, False)],
)
def test_returndatacopy_bounds(engine: str, offset: int, size: int, ok: bool) -> None:
    code = asm(_call(OTHER), push(size, 32), push(offset, 32), "PUSH1 0 RETURNDATACOPY STOP")
    out = run(engine, code, pre={OTHER: Account(code=RETURNER)}, gas=100_000)
    assert out.success is ok
    if not ok:
        assert out.gas_left == 0


def test_returndatacopy_without_prior_call(engine: str) -> None:
    out = run(engine, asm("PUSH1 0 PUSH1 0 PUSH1 0 RETURNDATACOPY STOP"), gas=1000)
    assert out.success and out.gas_used == 12
    out = run(engine, asm("PUSH1 1 PUSH1 0 PUSH1 0 RETURNDATACOPY STOP"), gas=1000)
    assert not out.success and out.gas_left == 0


def test_returndata_replaced_by_next_call(engine: str) -> None:
    # a call to an account without code leaves empty return data behind
    code = asm(_call(OTHER), _call(NOBODY), "RETURNDATASIZE", RET_TOP)
    out = run(engine, code, pre={OTHER: Account(code=RETURNER)})
    assert out.out_word == 0


def test_returndata_of_precompile(engine: str) -> None:
    # identity (0x04) echoes its input
    code = asm("PUSH4 0xCAFEBABE PUSH1 0 MSTORE",
               "PUSH1 0 PUSH1 0 PUSH1 4 PUSH1 28 PUSH1 0 PUSH1 4 GAS CALL POP",
               "RETURNDATASIZE PUSH1 0 PUSH1 0 RETURNDATACOPY RETURNDATASIZE PUSH1 0 RETURN")
    out = run(engine, code)
    assert out.output == bytes.fromhex("cafebabe")


# ------------------------------------------------------------------ BLOCKHASH


def fake_hash(n: int) -> int:
    return 0xB10C << 200 | n


@pytest.mark.parametrize(
    "number,current,expected",
    [
        (999, 1000, fake_hash(999)),
        (744, 1000, fake_hash(744)),  # the oldest of the 256 available
        (743, 1000, 0),
        (1000, 1000, 0),  # the current block
        (1001, 1000, 0),
        (0, 1000, 0),
        (M, 1000, 0),
        (2**64 + 999, 1000, 0),
        (0, 10, fake_hash(0)),
        (9, 10, fake_hash(9)),
        (0, 0, 0),
        (0, 256, fake_hash(0)),
        (0, 257, 0),
    ],
)
def test_blockhash_window(engine: str, number: int, current: int, expected: int) -> None:
    block = BlockEnv(number=current, block_hash=fake_hash)
    out = run(engine, asm(push(number, 32), "BLOCKHASH", RET_TOP), block=block)
    assert out.out_word == expected
    assert out.gas_used == 3 + 20 + RET_TOP_GAS


# ------------------------------------------------------------------ blobs


HASHES = (b"\x01" + bytes(range(31)), b"\x01" + b"\xee" * 31)


@pytest.mark.parametrize(
    "index,expected",
    [(0, int.from_bytes(HASHES[0], "big")), (1, int.from_bytes(HASHES[1], "big")), (2, 0),
     (M, 0), (2**64, 0)],
)
def test_blobhash(engine: str, index: int, expected: int) -> None:
    out = run(engine, asm(push(index, 32), "BLOBHASH", RET_TOP),
              tx=TxEnv(origin=CALLER, blob_hashes=HASHES))
    assert out.out_word == expected
    assert out.gas_used == 3 + 3 + RET_TOP_GAS


def test_blobhash_without_blobs(engine: str) -> None:
    out = run(engine, asm("PUSH1 0 BLOBHASH", RET_TOP))
    assert out.out_word == 0


def eip4844_fake_exponential(factor: int, numerator: int, denominator: int) -> int:
    """The EIP-4844 reference pseudo-code, transcribed."""
    i = 1
    output = 0
    numerator_accum = factor * denominator
    while numerator_accum > 0:
        output += numerator_accum
        numerator_accum = (numerator_accum * numerator) // (denominator * i)
        i += 1
    return output // denominator


@pytest.mark.parametrize("excess", [0, 1, 3338477, 10 * 3338477, 393216 * 100, 50 * 3338477])
def test_blobbasefee(engine: str, excess: int) -> None:
    expected = eip4844_fake_exponential(1, excess, 3338477)
    out = run(engine, asm("BLOBBASEFEE", RET_TOP), block=BlockEnv(excess_blob_gas=excess))
    assert out.out_word == expected
    assert out.gas_used == 2 + RET_TOP_GAS


def test_blobbasefee_known_values() -> None:
    # the minimum is 1 wei; e**1 rounds down to 2 and e**10 (22026.47) to 22026 or just below
    assert eip4844_fake_exponential(1, 0, 3338477) == 1
    assert eip4844_fake_exponential(1, 3338477, 3338477) == 2
    assert 22000 <= eip4844_fake_exponential(1, 10 * 3338477, 3338477) <= 22026


def test_origin_and_caller_in_nested_call(engine: str) -> None:
    callee = asm("ORIGIN PUSH1 0 MSTORE CALLER PUSH1 32 MSTORE PUSH1 64 PUSH1 0 RETURN")
    code = asm("PUSH1 64 PUSH1 0 PUSH1 0 PUSH1 0 PUSH1 0", push(OTHER, 20),
               "GAS CALL POP PUSH1 64 PUSH1 0 RETURN")
    out = run(engine, code, pre={OTHER: Account(code=callee)}, tx=TxEnv(origin=THIRD))
    assert out.out_words == [THIRD, TARGET]


def test_unrepresentable_blob_base_fee_is_rejected() -> None:
    """An excess blob gas whose blob base fee exceeds 256 bits cannot form a block context."""
    import pytest as _pytest

    from strikevm.state.world import WorldState
    from strikevm.vm.env import BlockEnv, TxEnv
    from strikevm.vm.evm import EVM

    with _pytest.raises(ValueError, match="256 bits"):
        EVM(WorldState(), BlockEnv(excess_blob_gas=2**30), TxEnv())
    EVM(WorldState(), BlockEnv(excess_blob_gas=10**7), TxEnv())
