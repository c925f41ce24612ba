"""Differential tests: random programs (fixed seeds) run on the reference interpreter and
on the fast engine must give identical outcomes.

Three shapes of program are generated: straight-line code over most opcode families,
loops (simple, nested, with several forms of loop condition and with computed jump
destinations) and subroutine-style code that jumps to a pushed return address. Each
program ends by storing its whole stack in memory and returning memory, so the final
stack, the memory, the output, the gas left, all accounts (balances, nonces, code,
storage), transient storage, logs and the refund counter are compared. Every program
also runs with exactly the gas it needs, with one gas less and with a random budget.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from vmhelpers import OTHER, M, Outcome, asm, push, run

from strikevm.state.account import Account

Part = str | int | bytes

BINARY = ["ADD", "MUL", "SUB", "DIV", "SDIV", "MOD", "SMOD", "EXP", "SIGNEXTEND", "LT", "GT",
          "SLT", "SGT", "EQ", "AND", "OR", "XOR", "BYTE", "SHL", "SHR", "SAR"]
TERNARY = ["ADDMOD", "MULMOD"]
UNARY = ["ISZERO", "NOT"]
CONTEXT = ["ADDRESS", "CALLER", "CALLVALUE", "CALLDATASIZE", "CODESIZE", "PC", "MSIZE", "GAS",
           "RETURNDATASIZE", "SELFBALANCE", "CHAINID", "NUMBER", "ORIGIN", "PUSH0"]
INTERESTING = [0, 1, 2, 3, 7, 8, 31, 32, 33, 255, 256, 2**64 - 1, 2**128, 2**255 - 1, 2**255,
               2**256 - 2, M]
BAD = [b"\xfe", b"\x0c", b"\xef", "PUSH1 0xFF JUMP", "POP POP POP POP POP POP POP POP",
       "PUSH1 1 PUSH2 0x7FFF JUMPI", "PUSH1 1 PUSH1 0 PUSH1 0 RETURNDATACOPY",
       "PUSH4 0xFFFFFFFF MLOAD"]
MEM_TOP = 0x400  # programs touch memory below this; the stack dump goes at 0x800


class Gen:
    """Random program generator; every choice comes from one seeded ``random.Random``."""

    def __init__(self, rng: random.Random, allow_bad: bool, calls: bool = True) -> None:
        self.rng = rng
        self.allow_bad = allow_bad
        self.calls = calls  # False for the callee, which must not call (itself) again
        self.labels = 0

    def label(self, stem: str) -> str:
        self.labels += 1
        return f"{stem}{self.labels}"

    def value(self) -> int:
        r = self.rng.random()
        if r < 0.5:
            return self.rng.choice(INTERESTING)
        if r < 0.8:
            return self.rng.randrange(256)
        return self.rng.getrandbits(self.rng.choice([16, 64, 160, 256]))

    def straight(self, n_ops: int, own: int, readable: int) -> tuple[list[Part], int]:
        """``n_ops`` instructions starting with ``own`` stack items of our own and
        ``readable`` more below them (DUP may read them, nothing may consume them)."""
        rng = self.rng
        out: list[Part] = []
        d = own
        for _ in range(n_ops):
            r = rng.random()
            if self.allow_bad and r < 0.01:
                out.append(rng.choice(BAD))
                continue
            if d < 2 or r < 0.25:
                if d > 40:
                    out.append("POP")
                    d -= 1
                    continue
                if rng.random() < 0.2:
                    out.append(rng.choice(CONTEXT))
                elif rng.random() < 0.1:
                    out += [push(rng.randrange(0, 100)), "CALLDATALOAD"]
                else:
                    out.append(push(self.value()))
                d += 1
                continue
            r = rng.random()
            if r < 0.35:
                out.append(rng.choice(BINARY))
                d -= 1
            elif r < 0.40 and d >= 3:
                out.append(rng.choice(TERNARY))
                d -= 2
            elif r < 0.47:
                out.append(rng.choice(UNARY))
            elif r < 0.55:
                n = rng.randint(1, min(16, d + readable))
                out.append(f"DUP{n}")
                d += 1
            elif r < 0.62 and d >= 2:
                n = rng.randint(1, min(16, d - 1))
                out.append(f"SWAP{n}")
            elif r < 0.66:
                out.append("POP")
                d -= 1
            else:
                parts, delta = self.effect()
                out += parts
                d += delta
        return out, d

    def effect(self) -> tuple[list[Part], int]:
        """An instruction with side effects (at least two items are on the stack);
        offsets and sizes are pushed as small constants."""
        rng = self.rng
        off = rng.randrange(0, MEM_TOP - 64)
        kind = rng.randrange(13 if self.calls else 11)
        if kind == 0:
            return [push(off), rng.choice(["MSTORE", "MSTORE8"])], -1
        if kind == 1:
            return [push(off), "MLOAD"], 1
        if kind == 2:
            return [push(rng.randrange(6)), "SSTORE"], -1
        if kind == 3:
            return [push(rng.randrange(6)), "SLOAD"], 1
        if kind == 4:
            return [push(rng.randrange(4)), "TSTORE"], -1
        if kind == 5:
            return [push(rng.randrange(4)), "TLOAD"], 1
        if kind == 6:
            return [push(rng.randrange(65)), push(off), "KECCAK256"], 1
        if kind == 7:
            return [push(rng.randrange(65)), push(rng.randrange(MEM_TOP - 64)), push(off),
                    "MCOPY"], 0
        if kind == 8:
            n = rng.randint(1, 2)
            return [push(rng.randrange(40)), push(off), f"LOG{n}"], -n
        if kind == 9:
            return [push(rng.randrange(40)), push(rng.randrange(100)), push(off),
                    rng.choice(["CALLDATACOPY", "CODECOPY"])], 0
        if kind == 10:
            return ["PUSH1 5", "EXP"], 0
        if kind == 11:
            return [push(rng.randrange(65)), push(off), push(rng.randrange(65)),
                    push(rng.randrange(MEM_TOP - 64)), "PUSH1 0", push(OTHER, 20),
                    rng.choice(["GAS", push(rng.randrange(30_000))]),
                    rng.choice(["CALL", "CALLCODE"])], 1
        return [push(rng.randrange(65)), push(off), push(rng.randrange(65)),
                push(rng.randrange(MEM_TOP - 64)), push(OTHER, 20), "GAS",
                rng.choice(["STATICCALL", "DELEGATECALL"])], 1


def dump_stack(depth: int) -> list[Part]:
    """Store ``depth`` stack items at 0x800.. and return memory from 0 to their end."""
    parts: list[Part] = []
    for i in range(depth):
        parts += [push(0x800 + 32 * i, 2), "MSTORE"]
    parts += [push(0x800 + 32 * depth, 2), "PUSH1 0 RETURN"]
    return parts


def straight_program(gen: Gen) -> bytes:
    body, d = gen.straight(gen.rng.randint(1, 60), 0, 0)
    return asm(*body, *dump_stack(max(d, 0)))


def fold(d: int) -> list[Part]:
    """Combine ``d`` items into one (XOR/ADD), or push a zero when there are none."""
    if d == 0:
        return ["PUSH1 0"]
    return ["XOR" if i % 2 else "ADD" for i in range(d - 1)]


LOOP_CONDITIONS = [
    "DUP1 PUSH2 @{loop} JUMPI",
    "DUP1 ISZERO ISZERO PUSH2 @{loop} JUMPI",
    "DUP1 PUSH1 0 LT PUSH2 @{loop} JUMPI",
    "PUSH1 0 DUP2 GT PUSH2 @{loop} JUMPI",
    "DUP1 PUSH1 0 EQ ISZERO PUSH2 @{loop} JUMPI",
    "DUP1 PUSH1 0 SLT DUP1 PUSH2 0x7E0 MSTORE PUSH2 @{loop} JUMPI",
    "DUP1 ISZERO PUSH2 @{end} JUMPI PUSH2 @{loop} JUMP",
]
# the destination comes from calldata[0:2]: it is not a constant for the fast engine
COMPUTED_CONDITION = "DUP1 ISZERO PUSH2 @{end} JUMPI PUSH1 0 CALLDATALOAD PUSH1 240 SHR JUMP"


def loop(gen: Gen, readable: int, depth_left: int, computed: bool) -> list[Part]:
    """A counted loop (1 to 12 rounds) that leaves the stack as it found it."""
    rng = gen.rng
    name, end = gen.label("loop"), gen.label("end")
    parts: list[Part] = [push(rng.randint(1, 12)), f"{name}:"]
    body, d = gen.straight(rng.randint(0, 25), 0, readable + 1)
    parts += body + fold(d)
    # store the body's value at 0x400 + 32 * counter (the counter is the item below it)
    parts += ["DUP2 PUSH1 5 SHL PUSH2 0x400 ADD MSTORE"]
    if depth_left and rng.random() < 0.4:
        parts += loop(gen, readable + 1, depth_left - 1, False)
    parts += ["PUSH1 1 SWAP1 SUB"]
    cond = COMPUTED_CONDITION if computed else rng.choice(LOOP_CONDITIONS)
    parts += [cond.format(loop=name, end=end), f"{end}:", "POP"]
    return parts


def loop_program(gen: Gen) -> tuple[bytes, bytes]:
    rng = gen.rng
    pre, d = gen.straight(rng.randint(0, 10), 0, 0)
    pre += fold(d) + ["PUSH2 0x7C0 MSTORE"]
    gen.allow_bad = False  # a broken loop body could spin until the gas runs out
    computed = rng.random() < 0.2
    loops: list[Part] = []
    for i in range(rng.randint(1, 2)):
        loops += loop(gen, 0, 1, computed and i == 0)
    post, d = gen.straight(rng.randint(0, 10), 0, 0)
    code = asm(*pre, *loops, *post, *dump_stack(d))
    # the first loop's label follows the prologue and the counter's PUSH1
    first = len(asm(*pre)) + 2
    assert code[first] == 0x5B
    return code, first.to_bytes(2, "big") + bytes(rng.randrange(256) for _ in range(30))


def subroutine_program(gen: Gen) -> bytes:
    """Code calling one subroutine from several sites through pushed return addresses."""
    rng = gen.rng
    sub = gen.label("sub")
    parts: list[Part] = [push(gen.value())]
    for _ in range(rng.randint(1, 4)):
        ret = gen.label("ret")
        parts += [f"PUSH2 @{ret}", f"PUSH2 @{sub}", "JUMP", f"{ret}:"]
        if rng.random() < 0.5:
            parts += ["DUP1", push(rng.randrange(32)), "MSTORE"]
    parts += dump_stack(1)
    # sub: stack [x, ret] -> [f(x)], jumping back to ret
    body, d = gen.straight(rng.randint(0, 15), 1, 0)
    parts += [f"{sub}:", "SWAP1"] + body + fold(d) + ["SWAP1 JUMP"]
    return asm(*parts)


def callee_program(gen: Gen) -> bytes:
    body, d = gen.straight(gen.rng.randint(0, 20), 0, 0)
    return asm(*body, *fold(d), "PUSH1 0 MSTORE PUSH1 32 PUSH1 0", gen.rng.choice(
        ["RETURN", "RETURN", "REVERT"]))


def fingerprint(out: Outcome) -> tuple:
    st = out.state
    accounts = sorted(
        (addr, a.nonce, a.balance, a.code, tuple(sorted((k, v) for k, v in a.storage.items() if v)))
        for addr, a in st.accounts.items()
    )
    transient = sorted((k, v) for k, v in st.transient.items() if v)
    logs = [(log.address, tuple(log.topics), log.data) for log in st.logs]
    return (out.success, out.output, out.gas_left, st.refund, accounts, transient, logs)


def compare(code: bytes, data: bytes, pre: dict[int, Account], rng: random.Random) -> None:
    def go(engine: str, gas: int) -> Outcome:
        return run(engine, code, data=data, gas=gas, pre=pre, value=3, balance=10**6,
                   storage={0: 1, 1: 2, 3: 0})

    big = 3_000_000
    ref = go("reference", big)
    used = big - ref.gas_left if ref.success else rng.randrange(1, 50_000)
    budgets = [big, used, max(used - 1, 0), rng.randrange(0, max(used, 1) + 1)]
    for gas in budgets:
        a = fingerprint(go("reference", gas))
        b = fingerprint(go("fast", gas))
        assert a == b, f"engines differ with gas {gas} on code {code.hex()} data {data.hex()}"


def _case(seed: int, make: Callable[[Gen], bytes | tuple[bytes, bytes]]) -> None:
    rng = random.Random(seed)
    gen = Gen(rng, allow_bad=rng.random() < 0.3)
    made = make(gen)
    code, data = made if isinstance(made, tuple) else (made, bytes(rng.randrange(256)
                                                                   for _ in range(64)))
    pre = {OTHER: Account(code=callee_program(Gen(rng, allow_bad=False, calls=False)), balance=1,
                          storage={0: 5})}
    compare(code, data, pre, rng)


@pytest.mark.parametrize("seed", range(250))
def test_straight_line_programs_agree(seed: int) -> None:
    _case(1_000_000 + seed, straight_program)


@pytest.mark.parametrize("seed", range(150))
def test_loop_programs_agree(seed: int) -> None:
    _case(2_000_000 + seed, loop_program)


@pytest.mark.parametrize("seed", range(60))
def test_subroutine_programs_agree(seed: int) -> None:
    _case(3_000_000 + seed, subroutine_program)


def test_generator_is_deterministic() -> None:
    a = straight_program(Gen(random.Random(7), allow_bad=True))
    b = straight_program(Gen(random.Random(7), allow_bad=True))
    assert a == b
