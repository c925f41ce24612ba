"""Helpers of the node tests: a tiny assembler and the test contracts."""

from __future__ import annotations

from strikevm.vm.instructions.table import OPCODES

_OPS = {spec.name: spec.opcode for spec in OPCODES if spec is not None}

TOPIC = 0xAA * (2**256 - 1) // 0xFF  # 0xaaaa...aa
REVERT_TRIGGER = 0xDEAD


def asm(*items: object) -> bytes:
    """Assemble (name | (PUSHn, value) | ("label", name) | ("ref", name)) items.

    A ``("ref", name)`` is a PUSH2 of the label's offset.
    """
    labels: dict[str, int] = {}
    for _ in range(2):
        out = bytearray()
        for item in items:
            if isinstance(item, str):
                out.append(_OPS[item])
            elif item[0] == "label":
                labels[item[1]] = len(out)
                out.append(_OPS["JUMPDEST"])
            elif item[0] == "ref":
                out.append(_OPS["PUSH2"])
                out += labels.get(item[1], 0).to_bytes(2, "big")
            else:
                name, value = item
                size = int(name[4:])
                out.append(_OPS[name])
                out += int(value).to_bytes(size, "big")
    return bytes(out)


def deployer(runtime: bytes) -> bytes:
    """Initcode that returns ``runtime``."""
    n = len(runtime)
    head = asm(
        ("PUSH2", n), ("PUSH2", 15), ("PUSH1", 0), "CODECOPY", ("PUSH2", n), ("PUSH1", 0), "RETURN"
    )
    assert len(head) == 15
    return head + runtime


# Storage/log contract. Empty calldata: return slot 0. Otherwise x = calldata[0:32]:
# x == 0xdead reverts with Error("nope"); else slot 0 = x, LOG1(TOPIC, x), return x.
STORE_RUNTIME = asm(
    "CALLDATASIZE", "ISZERO", ("ref", "get"), "JUMPI",
    ("PUSH1", 0), "CALLDATALOAD",
    "DUP1", ("PUSH2", REVERT_TRIGGER), "EQ", ("ref", "fail"), "JUMPI",
    "DUP1", ("PUSH1", 0), "SSTORE",
    ("PUSH1", 0), "MSTORE",
    ("PUSH32", TOPIC), ("PUSH1", 32), ("PUSH1", 0), "LOG1",
    ("PUSH1", 32), ("PUSH1", 0), "RETURN",
    ("label", "get"),
    ("PUSH1", 0), "SLOAD", ("PUSH1", 0), "MSTORE", ("PUSH1", 32), ("PUSH1", 0), "RETURN",
    ("label", "fail"),
    ("PUSH32", 0x08C379A0 << 224), ("PUSH1", 0), "MSTORE",
    ("PUSH1", 0x20), ("PUSH1", 4), "MSTORE",
    ("PUSH1", 4), ("PUSH1", 0x24), "MSTORE",
    ("PUSH32", int.from_bytes(b"nope".ljust(32, b"\0"), "big")), ("PUSH1", 0x44), "MSTORE",
    ("PUSH1", 0x64), ("PUSH1", 0), "REVERT",
)  # fmt: skip
STORE_INITCODE = deployer(STORE_RUNTIME)


def word(value: int) -> bytes:
    return value.to_bytes(32, "big")
