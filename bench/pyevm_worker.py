"""Time py-evm (Cancun) on benchmark workloads; one JSON line per workload on stdout.

Runs inside the separate py-evm virtualenv (``bench/.venv-pyevm``) and must not
import strikevm. The pre-state follows the bench-data README: the runtime code
sits at the target, the caller calls it with value 0, both are warm, and the
execution gas is the gas the call consumed (children included, before refunds,
without intrinsic gas). The call is driven through
``CancunComputation.apply_message``, the same entry point py-evm's transaction
executor uses after it has charged intrinsic gas.

    python pyevm_worker.py [--repeat N] WORKLOAD.json...
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from eth.constants import BLANK_ROOT_HASH, ZERO_ADDRESS, ZERO_HASH32
from eth.db.atomic import AtomicDB
from eth.vm.execution_context import ExecutionContext
from eth.vm.forks.cancun.state import CancunState
from eth.vm.message import Message

CALLER = bytes.fromhex("1000000000000000000000000000000000000000")
TARGET = bytes.fromhex("2000000000000000000000000000000000000002")
CALLER_BALANCE = 10**20


def _build_state(code: bytes) -> CancunState:
    """A fresh, persisted pre-state: code at the target, a funded caller, both warm."""
    context = ExecutionContext(
        coinbase=ZERO_ADDRESS,
        timestamp=0,
        block_number=0,
        difficulty=0,
        mix_hash=ZERO_HASH32,
        gas_limit=30_000_000,
        prev_hashes=[],
        chain_id=1,
        base_fee_per_gas=0,
        excess_blob_gas=0,
    )
    state = CancunState(AtomicDB(), context, BLANK_ROOT_HASH)
    state.set_code(TARGET, code)
    state.set_balance(CALLER, CALLER_BALANCE)
    state.persist()
    state.mark_address_warm(CALLER)
    state.mark_address_warm(TARGET)
    return state


def _run_once(w: dict[str, Any]) -> tuple[float, bool, bytes, int]:
    """One call from a fresh pre-state: (seconds, success, output, execution gas)."""
    code = bytes.fromhex(w["code"])
    state = _build_state(code)
    message = Message(
        gas=w["gas_limit"],
        to=TARGET,
        sender=CALLER,
        value=0,
        data=bytes.fromhex(w["calldata"]),
        code=code,
    )
    context = state.get_transaction_context_class()(gas_price=0, origin=CALLER)
    apply_message = state.computation_class.apply_message
    gc.collect()
    start = time.perf_counter()
    computation = apply_message(state, message, context)
    elapsed = time.perf_counter() - start
    return elapsed, computation.is_success, bytes(computation.output), computation.get_gas_used()


def bench(w: dict[str, Any], repeat: int) -> dict[str, Any]:
    """One warm-up run, then ``repeat`` timed runs, each checked against the workload."""
    expected_output = bytes.fromhex(w["expected_output"])
    expected_gas = int(w["expected_gas"])
    times: list[float] = []
    ok = True
    gas_used = 0
    output = b""
    for i in range(repeat + 1):
        elapsed, success, output, gas_used = _run_once(w)
        ok = ok and success and output == expected_output and gas_used == expected_gas
        if i:
            times.append(elapsed)
    median = statistics.median(times)
    result: dict[str, Any] = {
        "name": w["name"],
        "median_s": median,
        "times": times,
        "gas_used": gas_used,
        "mgas_per_s": gas_used / median / 1e6 if median > 0 else None,
        "ok": ok,
    }
    if not ok:
        result["output"] = output.hex()
    return result


def _deep(fn: Callable[[], None]) -> None:
    """Run ``fn`` on a thread with a large stack, as deep call chains need."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 100_000))
    threading.stack_size(512 * 1024 * 1024)
    errors: list[BaseException] = []

    def target() -> None:
        try:
            fn()
        except BaseException as exc:  # reported on the main thread
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", help="workload JSON files")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per workload")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    def work() -> None:
        for path in args.files:
            with open(path, encoding="utf-8") as fh:
                w = json.load(fh)
            print(json.dumps(bench(w, args.repeat)), flush=True)

    _deep(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
