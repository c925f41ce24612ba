"""The struct logger attached to the reference interpreter: entries per opcode and
frame, gas costs closed when the next opcode of the same frame starts, errors."""

from __future__ import annotations

from strikevm.rpc.trace import StructLogger, TraceOptions
from strikevm.state.account import Account
from strikevm.state.world import WorldState
from strikevm.tools.deepstack import run_deep
from strikevm.vm.env import BlockEnv, Message, TxEnv
from strikevm.vm.evm import EVM

CALLER, TARGET, CHILD = 0x1000, 0x2000, 0x3000
# PUSH1 0 (x4: out/in sizes and offsets) PUSH1 0 (value) PUSH2 CHILD GAS CALL STOP
PARENT = bytes.fromhex("600060006000600060006130005af100")
CHILD_CODE = bytes.fromhex("6001fe")  # PUSH1 1, INVALID


def _trace() -> tuple[list[dict], int]:
    def go() -> tuple[list[dict], int]:
        st = WorldState({
            TARGET: Account(code=PARENT), CHILD: Account(code=CHILD_CODE),
            CALLER: Account(balance=10**18),
        })  # fmt: skip
        st.prewarm([CALLER, TARGET])
        logger = StructLogger(TraceOptions())
        evm = EVM(st, BlockEnv(), TxEnv(origin=CALLER), engine=logger.run)
        r = evm.process_message(Message(CALLER, TARGET, 0, b"", 100_000, PARENT, TARGET))
        assert r.success
        return logger.logs, 100_000 - r.gas_left

    return run_deep(go)


def test_entries_follow_frames_and_costs_add_up() -> None:
    logs, used = _trace()
    assert [e["op"] for e in logs] == [
        "PUSH1", "PUSH1", "PUSH1", "PUSH1", "PUSH1", "PUSH2", "GAS", "CALL",
        "PUSH1", "INVALID", "STOP",
    ]  # fmt: skip
    assert [e["depth"] for e in logs] == [1] * 8 + [2, 2] + [1]
    invalid = logs[9]
    assert invalid["error"].startswith("invalid opcode")
    call = logs[7]
    # the CALL's cost includes the child's gas, all consumed by INVALID
    assert call["gasCost"] == call["gas"] - logs[10]["gas"]
    assert sum(e["gasCost"] for e in logs if e["depth"] == 1) == used
    assert logs[8]["gasCost"] == 3
