"""Worst-case ns per gas: what an adversarial transaction can make a node do per gas paid.

Each case is one transaction's message against a fresh pre-state. It is run in
a fresh process per engine: the first run is *cold* (nothing analysed or
compiled yet, compilation included in the time), then ``--warm`` more runs in
the same process give the *warm* median. The attacker pays the case's gas plus
the 21,000 intrinsic gas of its transaction, so ns/gas = time / (gas + 21000).
The last columns compare each case's cold and warm ns/gas on the default
(fast) engine with the median warm ns/gas of the eight shared workloads on
that engine (``../shared/bench-data``).

    .venv/bin/python bench/bench_worst_case.py                    # all cases
    .venv/bin/python bench/bench_worst_case.py --only div --only jump
    .venv/bin/python bench/bench_worst_case.py --baseline-ns 9.5  # skip the workloads
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from strikevm.state.account import Account
from strikevm.state.world import WorldState
from strikevm.tools.deepstack import run_deep
from strikevm.vm.env import BlockEnv, Message, TxEnv
from strikevm.vm.evm import EVM
from strikevm.vm.instructions import arithmetic

CALLER = 0x1000000000000000000000000000000000000000
TARGET = 0x2000000000000000000000000000000000000002
INTRINSIC = 21_000
MAX_CODE = 24_576
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "bench-data"
RETURN_TOP = bytes([0x60, 0x00, 0x52, 0x60, 0x20, 0x60, 0x00, 0xF3])
STOP, ADD, SUB, JUMP, JUMPI, JUMPDEST, POP, SWAP1, DUP1 = 0, 1, 3, 0x56, 0x57, 0x5B, 0x50, 0x90, 0x80
CALLDATASIZE, GAS, STATICCALL = 0x36, 0x5A, 0xFA


@dataclass
class Case:
    code: bytes
    data: bytes = b""
    gas: int = 30_000_000
    accounts: dict[int, bytes] = field(default_factory=dict)
    setup: Callable[[], None] | None = None


def push(value: int, size: int = 0) -> bytes:
    size = size or max(1, (value.bit_length() + 7) // 8)
    return bytes([0x5F + size]) + value.to_bytes(size, "big")


def loop(body: bytes, times: int, prologue: bytes = b"") -> bytes:
    """``prologue``, then ``body`` run ``times`` times (the counter stays below the body's stack)."""
    start = len(prologue) + 3
    code = prologue + push(times, 2) + bytes([JUMPDEST]) + body
    code += bytes([0x60, 1, SWAP1, SUB, DUP1]) + push(start, 2) + bytes([JUMPI, STOP])
    return code


def div_chain(k: int) -> Case:
    return Case(bytes([CALLDATASIZE]) + bytes([0x60, 5, 0x04]) * k + RETURN_TOP, b"\xff" * 100)


def op_chain(op: int, n_in: int) -> Case:
    """A dependent chain of 1000 ``op`` (running value first), looped 16 times."""
    step = {1: b"", 2: bytes([0x60, 7, SWAP1]), 3: bytes([0x60, 7, 0x60, 9, 0x91])}[n_in]
    body = bytes([CALLDATASIZE]) + (step + bytes([op])) * 1000 + bytes([POP])
    return Case(loop(body, 16), b"\x07" * 40)


def jump_table(targets: int) -> Case:
    size, base = 21, 8
    exit_pc = base + size * targets
    prologue = bytes([0x60, 0, 0x60, base, JUMP, 0, 0, 0])
    block = bytes(
        [JUMPDEST, 0x60, 1, ADD, DUP1, 0x61, targets >> 8, targets & 0xFF, 0x14,
         0x61, exit_pc >> 8, exit_pc & 0xFF, JUMPI, DUP1, 0x60, size, 0x02, 0x60, base, ADD, JUMP]
    )
    return Case(prologue + block * targets + bytes([JUMPDEST]) + RETURN_TOP)


def nested_jumpis(count: int) -> Case:
    body = b""
    for _ in range(count):
        dest = len(body) + 8
        body += bytes([CALLDATASIZE, 0x15, 0x61, dest >> 8, dest & 0xFF, JUMPI, 0xFE, 0, JUMPDEST])
    return Case(body + bytes([0x60, 0x2A]) + RETURN_TOP)


def fill(unit: bytes, tail: bytes = bytes([STOP]), prologue: bytes = b"") -> bytes:
    n = (MAX_CODE - len(tail) - len(prologue)) // len(unit)
    return prologue + unit * n + tail


FAMILIES: dict[str, Callable[[], bytes]] = {
    "push32_pop": lambda: fill(push(2**256 - 1, 32) + bytes([POP])),
    "add": lambda: fill(bytes([0x60, 3, ADD]), prologue=bytes([0x60, 1])),
    "div": lambda: fill(bytes([0x60, 3, 0x04]), prologue=bytes([CALLDATASIZE])),
    "mulmod": lambda: fill(bytes([0x60, 3, 0x60, 5, 0x09]), prologue=bytes([CALLDATASIZE])),
    "shl": lambda: fill(bytes([0x60, 1, 0x1B]), prologue=bytes([CALLDATASIZE])),
    "lt": lambda: fill(bytes([0x60, 3, 0x10]), prologue=bytes([CALLDATASIZE])),
    "dup_swap": lambda: fill(bytes([0x81, SWAP1, POP]), prologue=bytes([0x60, 1, 0x60, 2])),
    "jumpdest": lambda: fill(bytes([JUMPDEST])),
    "jump_chain": lambda: b"".join(
        push(i + 4, 2) + bytes([JUMP, JUMPDEST]) for i in range(0, MAX_CODE - 8, 5)
    )[: (MAX_CODE - 8) // 5 * 5] + bytes([STOP]),
    "mstore": lambda: fill(bytes([0x60, 1, 0x60, 0, 0x52])),
    "keccak": lambda: fill(bytes([0x60, 32, 0x60, 0, 0x20, POP])),
    "calldataload": lambda: fill(bytes([0x60, 0, 0x35, POP])),
    "sload": lambda: fill(bytes([0x60, 0, 0x54, POP])),
    "log0": lambda: fill(bytes([0x60, 32, 0x60, 0, 0xA0])),
}


def precompile_loop(address: int, data: bytes, times: int) -> Case:
    """Copy calldata to memory, then STATICCALL the precompile with it ``times`` times."""
    prologue = bytes([CALLDATASIZE, 0x60, 0, 0x60, 0, 0x37])
    body = bytes([0x60, 0, 0x60, 0, CALLDATASIZE, 0x60, 0, 0x60, address, GAS, STATICCALL, POP])
    return Case(loop(body, times, prologue), data)


def _word(x: int) -> bytes:
    return x.to_bytes(32, "big")


def modexp_input(b: int, e: int, m: int) -> bytes:
    return _word(b) + _word(e) + _word(m) + b"\xfe" * b + b"\xff" * e + b"\xfd" * m


G1 = _word(1) + _word(2)
G2 = bytes.fromhex(
    "198e9393920d483a7260bfb731fb5d25f1aa493335a9e71297e485b7aef312c2"
    "1800deef121f1e76426a00665e5c4479674322d4f75edadd46debd5cd992f6ed"
    "090689d0585ff075ec9e99ad690c3395bc4b313370b38ef355acdadcd122975b"
    "12c85ea5db8c6deb4aab71808dcb408fe3d1e7690c43d37b4ce6cc0166fa7daa"
)


def kzg_case() -> Case:
    import hashlib

    import ckzg

    from strikevm.vm.precompiles import kzg

    settings = kzg.trusted_setup()
    modulus = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001
    blob = b"".join(_word((i * i + 7) % modulus) for i in range(4096))
    commitment = ckzg.blob_to_kzg_commitment(blob, settings)
    z = _word(0x1234567890ABCDEF)
    proof, y = ckzg.compute_kzg_proof(blob, z, settings)
    versioned = b"\x01" + hashlib.sha256(commitment).digest()[1:]
    return precompile_loop(0x0A, versioned + z + y + commitment + proof, 20)


def blake2f_input(rounds: int) -> bytes:
    return rounds.to_bytes(4, "big") + bytes(range(64)) + bytes(128) + bytes(16) + b"\x01"


def many_contracts(count: int, thrash: bool = False) -> Case:
    """Call ``count`` distinct 24 KiB contracts (all JUMPDESTs: the costliest analysis)."""
    base = 0x3000000000000000000000000000000000000000
    accounts = {}
    for i in range(1, count + 1):
        head = push(i, 4) + bytes([POP]) + push(MAX_CODE - 2, 2) + bytes([JUMP])
        accounts[base + i] = fill(bytes([JUMPDEST]), tail=bytes([JUMPDEST, STOP]), prologue=head)
    body = bytes([0x60, 0, DUP1, DUP1, DUP1, 0x84]) + push(base, 20) + bytes([ADD, GAS, STATICCALL, POP])
    setup = None
    if thrash:

        def setup() -> None:
            from strikevm.vm import compiler

            compiler.CACHE_ENTRIES = 16

    return Case(loop(body, count), accounts=accounts, setup=setup)


def deep_calls() -> Case:
    code = bytes([0x60, 0, DUP1, DUP1, DUP1, DUP1, 0x30, GAS, 0xF1, STOP])  # CALL self with all gas
    return Case(code)


def memory_expansion() -> Case:
    return Case(push(1) + push(3_800_000, 4) + bytes([0x52, STOP]))


def cases() -> dict[str, Callable[[], Case]]:
    out: dict[str, Callable[[], Case]] = {}
    for k in (16, 32, 64):
        out[f"div_chain_k{k}"] = lambda k=k: div_chain(k)
    for name, (op, n_in, _gas, _expr) in arithmetic.TEMPLATES.items():
        out[f"chain_{name.lower()}"] = lambda op=op, n_in=n_in: op_chain(op, n_in)
    out["jump_targets_1000"] = lambda: jump_table(1000)
    out["jumpi_nesting_2700"] = lambda: nested_jumpis(2700)
    out["memory_expansion_3.8MB"] = memory_expansion
    out["many_contracts_300"] = lambda: many_contracts(300)
    out["many_contracts_thrash"] = lambda: many_contracts(300, thrash=True)
    for fam, build in FAMILIES.items():
        out[f"code24k_{fam}"] = lambda build=build: Case(build(), b"\x01" * 32)
    # out of gas two thirds of the way: the failing block runs with per-instruction checks
    out["code24k_add_oog"] = lambda: Case(FAMILIES["add"](), b"\x01" * 32, gas=32_000)
    out["pre01_ecrecover"] = lambda: precompile_loop(
        1, _word(1) + _word(27) + _word(2**200 + 1) + _word(2**200 + 3), 100
    )
    out["pre02_sha256_8k"] = lambda: precompile_loop(2, b"\xab" * 8192, 100)
    out["pre03_ripemd160_8k"] = lambda: precompile_loop(3, b"\xab" * 8192, 100)
    out["pre04_identity_8k"] = lambda: precompile_loop(4, b"\xab" * 8192, 100)
    out["pre05_modexp_512b"] = lambda: precompile_loop(5, modexp_input(512, 32, 512), 10)
    out["pre05_modexp_64b_e512"] = lambda: precompile_loop(5, modexp_input(64, 512, 64), 20)
    out["pre05_modexp_32b"] = lambda: precompile_loop(5, modexp_input(32, 32, 32), 100)
    out["pre06_bn254_add"] = lambda: precompile_loop(6, G1 + G1, 100)
    out["pre07_bn254_mul"] = lambda: precompile_loop(7, G1 + _word(2**256 - 1), 20)
    out["pre08_bn254_pairing_2"] = lambda: precompile_loop(8, (G1 + G2) * 2, 2)
    out["pre09_blake2f_100k_rounds"] = lambda: precompile_loop(9, blake2f_input(100_000), 10)
    out["pre0a_kzg_point_eval"] = kzg_case
    out["deep_call_chain"] = deep_calls
    return out


def run_case(case: Case, engine: str) -> tuple[float, int, bool]:
    accounts = {addr: Account(code=code) for addr, code in case.accounts.items()}
    accounts[TARGET] = Account(code=case.code)
    accounts[CALLER] = Account(balance=10**20)
    state = WorldState(accounts)
    state.prewarm([CALLER, TARGET])
    evm = EVM(state, BlockEnv(), TxEnv(origin=CALLER), engine=engine)
    msg = Message(CALLER, TARGET, 0, case.data, case.gas, case.code, TARGET)
    start = time.perf_counter()
    result = evm.process_message(msg)
    seconds = time.perf_counter() - start
    return seconds, case.gas - result.gas_left, result.success


def child(name: str, engine: str, warm: int) -> None:
    """Run one case in this (fresh) process and print one JSON line."""
    case = cases()[name]()
    if case.setup is not None:
        case.setup()

    def go() -> dict:
        cold, gas, ok = run_case(case, engine)
        times = [run_case(case, engine)[0] for _ in range(warm)]
        return {"cold_s": cold, "warm_s": statistics.median(times) if times else cold,
                "gas": gas, "ok": ok}

    print(json.dumps(run_deep(go)))


def baseline_ns(data: Path) -> float:
    """Median over the shared workloads of warm ns/gas on the default engine."""
    from strikevm.tools.bench import bench_workload, collect, load_workload

    values = []
    for path in collect([data]):
        w = load_workload(path)
        r = run_deep(lambda w=w: bench_workload(w, repeat=3))
        if r.ok and r.median_s:
            values.append(r.median_s * 1e9 / (r.gas_used or 1))
    return statistics.median(values)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", default=[], help="run cases whose name contains this")
    ap.add_argument("--warm", type=int, default=3, help="warm runs after the cold one (median)")
    ap.add_argument("--engines", default="fast,reference")
    ap.add_argument("--baseline-ns", type=float, default=None)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--child", nargs=2, metavar=("CASE", "ENGINE"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.child[0], args.child[1], args.warm)
        return 0
    names = [n for n in cases() if not args.only or any(o in n for o in args.only)]
    engines = args.engines.split(",")
    base = args.baseline_ns if args.baseline_ns is not None else baseline_ns(args.data)
    print(f"median warm ns/gas of the shared workloads (fast): {base:.1f}\n")
    header = f"| case | gas paid | {' | '.join(f'{e} cold ns/gas | {e} warm ns/gas' for e in engines)}"
    header += " | fast cold x | fast warm x |"
    print(header)
    print("|" + " --- |" * (header.count("|") - 1))
    worst = 0.0
    for name in names:
        row = []
        ratios = ["-", "-"]
        paid = 0
        for engine in engines:
            proc = subprocess.run(
                [sys.executable, __file__, "--child", name, engine, "--warm", str(args.warm)],
                capture_output=True, text=True, check=False,
            )
            try:
                r = json.loads(proc.stdout.strip().splitlines()[-1])
            except (IndexError, json.JSONDecodeError):
                row += ["error", "error"]
                print(f"<!-- {name} {engine}: {proc.stderr.strip()[-300:]} -->", file=sys.stderr)
                continue
            paid = r["gas"] + INTRINSIC
            cold = r["cold_s"] * 1e9 / paid
            warm = r["warm_s"] * 1e9 / paid
            mark = "" if r["ok"] else " (failed)"
            row += [f"{cold:,.0f}{mark}", f"{warm:,.0f}"]
            if engine == "fast":
                ratios = [f"{cold / base:.1f}", f"{warm / base:.1f}"]
                worst = max(worst, cold / base, warm / base)
        print(f"| {name} | {paid:,} | {' | '.join(row)} | {ratios[0]} | {ratios[1]} |", flush=True)
    print(f"\nworst fast-engine ratio: {worst:.1f}x the workloads' median warm ns/gas")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
