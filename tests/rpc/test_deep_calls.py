"""A 1024-deep CALL chain through the node, on both engines, with the node's own runtime settings.

The node runs in a fresh process whose ``sys.setrecursionlimit`` ignores every caller outside
``strikevm`` (py_ecc, imported by the node's modules, raises the limit to 100000 on import), so
the chain only works if the node sets the recursion limit and the thread stack size itself.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account as EthAccount
from eth_utils import to_checksum_address

_HERE = Path(__file__).resolve()
if str(_HERE.parent) not in sys.path:
    sys.path.insert(0, str(_HERE.parent))

from rpchelpers import STARTUP_SECONDS, NodeProcess  # noqa: E402

K1 = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
# n = calldata[0]; CALL(self, all gas, n + 1); on success return the child's answer,
# else (depth limit reached) store n in slot 0 and return it.
DEEP_RUNTIME = bytes.fromhex(
    "60003560010160005260206000602060006000305af16028576000358060005560005260206000f35b60206000f3"
)
DEEP_INIT = (
    bytes([0x60, len(DEEP_RUNTIME), 0x80, 0x60, 0x0B, 0x60, 0x00, 0x39, 0x60, 0x00, 0xF3])
    + DEEP_RUNTIME
)
GAS = 10**12  # all but one 64th per level: about 1e-7 of it reaches depth 1024

PRELUDE = """
import sys
_real = sys.setrecursionlimit
ignored = []


def _guarded(limit):
    caller = sys._getframe(1).f_globals.get("__name__", "")
    if caller.startswith("strikevm"):
        _real(limit)
    else:
        ignored.append(caller)


sys.setrecursionlimit = _guarded
import strikevm.chain.node  # noqa: E402,F401 - imports py_ecc
print(f"prelude: recursion limit {sys.getrecursionlimit()} ignored {sorted(set(ignored))}")
from strikevm.node_cli import main  # noqa: E402

sys.exit(main(sys.argv[1:]))
"""


class _GuardedNode(NodeProcess):
    """The node started through :data:`PRELUDE` instead of ``-m strikevm.node_cli``."""

    def start(self) -> _GuardedNode:
        args = [sys.executable, "-c", PRELUDE, "--port", "0", "--quiet", "--ephemeral"]
        args += list(self.extra)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("node exited during startup:\n" + "".join(self.output))
            self.output.append(line)
            found = re.match(r"Listening on [^:]+:(\d+)", line)
            if found:
                self.port = int(found.group(1))
                threading.Thread(target=self._drain, daemon=True).start()
                return self
        raise RuntimeError("node did not start in time:\n" + "".join(self.output))


@pytest.fixture(params=["fast", "reference"])
def node(request: pytest.FixtureRequest) -> Iterator[_GuardedNode]:
    proc = _GuardedNode(
        None,
        "--engine",
        request.param,
        "--gas-limit",
        str(GAS),
        "--rpc-gas-cap",
        str(GAS),
    ).start()
    yield proc
    proc.stop()


def _send(node: NodeProcess, key: EthAccount, nonce: int, **fields: object) -> dict:
    tx = key.sign_transaction(
        {
            "chainId": 31337,
            "nonce": nonce,
            "maxFeePerGas": 2 * 10**9,
            "maxPriorityFeePerGas": 10**6,
            "value": 0,
            **fields,
        }
    )
    tx_hash = node.call("eth_sendRawTransaction", "0x" + tx.raw_transaction.hex())
    receipt = node.call("eth_getTransactionReceipt", tx_hash)
    assert receipt is not None
    return receipt  # type: ignore[no-any-return]


def test_1024_deep_call_chain(node: _GuardedNode) -> None:
    prelude = next(line for line in node.output if line.startswith("prelude:"))
    # py_ecc's raise was refused: the node started from the interpreter's default limit
    assert "recursion limit 1000 " in prelude and "py_ecc" in prelude, prelude
    key = EthAccount.from_key(K1)
    nonce = int(node.call("eth_getTransactionCount", key.address, "latest"), 16)
    created = _send(node, key, nonce, gas=1_000_000, data="0x" + DEEP_INIT.hex())
    assert created["status"] == "0x1"
    contract = created["contractAddress"]
    assert node.call("eth_getCode", contract, "latest") == "0x" + DEEP_RUNTIME.hex()

    depth = node.call("eth_call", {"to": contract, "gas": hex(GAS), "data": "0x" + "00" * 32})
    assert int(depth, 16) == 1024

    receipt = _send(node, key, nonce + 1, gas=GAS, to=to_checksum_address(contract), data="0x" + "00" * 32)
    assert receipt["status"] == "0x1"
    assert int(node.call("eth_getStorageAt", contract, "0x0", "latest"), 16) == 1024
    assert node.proc is not None and node.proc.poll() is None
