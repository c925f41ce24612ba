"""Start and stop a local Ethereum dev node (``strikevm node`` or anvil) for client tests.

Shared by ``tests/clients/conftest.py`` and ``bench/bench_rpc_throughput.py``. A node runs as
a child process on a free port of 127.0.0.1, serving JSON-RPC over HTTP and WebSocket on the
same port, chain id 31337, with the ten dev accounts of the mnemonic ``test test ... junk``.
Node-side tools (solc-js, OpenZeppelin, ethers, anvil) come from ``node_modules`` (``npm ci``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / "node_modules"
CHAIN_ID = 31337
MNEMONIC = "test test test test test test test test test test test junk"
BACKENDS = ("strikevm", "anvil")
# Also measurable by the throughput benchmark: the node with its chain kept in memory.
BENCH_BACKENDS = ("strikevm", "strikevm-memory", "anvil")
ERC20_SOURCE = ROOT / "contracts" / "examples" / "ERC20Token.sol"
COMPILER = ROOT / "tests" / "clients" / "compile_oz.mjs"
NPM_HINT = "run `make test` (it installs them with `npm ci`) or `npm ci` in the repository root"

# anvil ships its binary as one optional npm dependency per platform.
_ANVIL_PLATFORMS = {
    ("Linux", "x86_64"): "anvil-linux-amd64",
    ("Linux", "aarch64"): "anvil-linux-arm64",
    ("Darwin", "x86_64"): "anvil-darwin-amd64",
    ("Darwin", "arm64"): "anvil-darwin-arm64",
    ("Windows", "AMD64"): "anvil-win32-amd64",
}


class MissingDependency(RuntimeError):
    """A tool the tests need is not installed: the caller must fail, not skip."""


class BackendUnavailable(RuntimeError):
    """The node cannot run here (not implemented yet, or no binary for this platform)."""


def require_node_packages(*packages: str) -> None:
    """Raise MissingDependency unless ``node`` and every npm package are installed."""
    if shutil.which("node") is None:
        raise MissingDependency("node is not installed: the client tests need Node.js (v18+)")
    missing = [p for p in packages if not (NODE_MODULES / p / "package.json").is_file()]
    if missing:
        raise MissingDependency(
            f"npm packages missing from {NODE_MODULES}: {', '.join(missing)}; {NPM_HINT}"
        )


@cache
def dev_accounts(count: int = 10) -> tuple[LocalAccount, ...]:
    """The first ``count`` accounts of the dev mnemonic (m/44'/60'/0'/0/i), as anvil derives."""
    Account.enable_unaudited_hdwallet_features()
    return tuple(
        Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}") for i in range(count)
    )


@cache
def erc20_artifact() -> dict[str, Any]:
    """ABI and bytecode of ``contracts/examples/ERC20Token.sol``, compiled with solc-js."""
    require_node_packages("solc", "@openzeppelin/contracts")
    proc = subprocess.run(
        ["node", str(COMPILER), str(ERC20_SOURCE), "ERC20Token"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if proc.returncode:
        raise MissingDependency(f"compiling {ERC20_SOURCE.name} failed:\n{proc.stderr}")
    return json.loads(proc.stdout)


def anvil_binary() -> Path:
    """The anvil executable from node_modules (npm ``@foundry-rs/anvil``)."""
    require_node_packages("@foundry-rs/anvil")
    key = (platform.system(), platform.machine())
    package = _ANVIL_PLATFORMS.get(key)
    if package is None:
        raise BackendUnavailable(f"anvil publishes no binary for {key[0]}/{key[1]}")
    exe = "anvil.exe" if key[0] == "Windows" else "anvil"
    binary = NODE_MODULES / "@foundry-rs" / package / "bin" / exe
    if not binary.is_file():  # where the package's postinstall puts a binary it downloads
        binary = NODE_MODULES / "@foundry-rs" / "anvil" / exe
    if not binary.is_file():
        raise MissingDependency(
            f"anvil's platform package @foundry-rs/{package} is not installed "
            f"(optional dependencies disabled?); {NPM_HINT}"
        )
    probe = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=False)
    if probe.returncode:
        raise BackendUnavailable(f"anvil cannot run on this machine: {probe.stderr.strip()}")
    return binary


@cache
def _strikevm_missing() -> str | None:
    if importlib.util.find_spec("strikevm.chain.node") is None:
        return "`strikevm node` is not implemented yet (no module strikevm.chain.node)"
    probe = subprocess.run(
        [sys.executable, "-m", "strikevm.cli", "node", "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if probe.returncode and "invalid choice" in probe.stderr:
        return "the command line has no `strikevm node` subcommand yet"
    return None  # any other failure shows when the node starts


def strikevm_available() -> None:
    """Raise BackendUnavailable while ``strikevm node`` does not exist."""
    reason = _strikevm_missing()
    if reason:
        raise BackendUnavailable(reason)


def check_backend(backend: str) -> None:
    """Raise MissingDependency / BackendUnavailable if ``backend`` cannot be started."""
    if backend == "anvil":
        anvil_binary()
    elif backend in ("strikevm", "strikevm-memory"):
        strikevm_available()
    else:
        raise ValueError(f"unknown backend {backend!r}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rpc_reply(url: str, method: str, params: list[Any] | None = None, timeout: float = 10) -> Any:
    """One JSON-RPC request over HTTP; the whole reply object (``result`` or ``error``)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})
    request = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def rpc_call(url: str, method: str, params: list[Any] | None = None, timeout: float = 10) -> Any:
    """One JSON-RPC request over HTTP; raises RuntimeError on a JSON-RPC error."""
    reply = rpc_reply(url, method, params, timeout)
    if "error" in reply:
        raise RuntimeError(f"{method}: {reply['error']}")
    return reply["result"]


@dataclass
class DevNode:
    """A running dev node process; use as a context manager or call ``stop()``."""

    backend: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    workdir: Path
    _owns_workdir: bool = field(default=False, repr=False)

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT if os.name != "nt" else signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> DevNode:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def node_command(backend: str, port: int, datadir: Path, block_time: float | None) -> list[str]:
    if backend == "anvil":
        cmd = [
            str(anvil_binary()),
            "--host", "127.0.0.1",
            "--port", str(port),
            "--chain-id", str(CHAIN_ID),
            "--mnemonic", MNEMONIC,
            "--hardfork", "cancun",
        ]  # fmt: skip
    else:
        strikevm_available()
        cmd = [
            sys.executable, "-m", "strikevm.cli", "node",
            "--host", "127.0.0.1",
            "--port", str(port),
            "--chain-id", str(CHAIN_ID),
        ]  # fmt: skip
        cmd += ["--ephemeral"] if backend == "strikevm-memory" else ["--datadir", str(datadir)]
    if block_time is not None:
        cmd += ["--block-time", f"{block_time:g}"]
    return cmd


def start_node(
    backend: str,
    workdir: Path | None = None,
    *,
    block_time: float | None = None,
    startup_timeout: float = 60.0,
) -> DevNode:
    """Start ``backend`` on a free port and wait until it answers ``eth_chainId``."""
    check_backend(backend)
    owns = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix=f"{backend}-node-")) if workdir is None else workdir
    workdir.mkdir(parents=True, exist_ok=True)
    last_error = ""
    for _attempt in range(3):  # the free port may be taken between probing and binding
        port = free_port()
        log_path = workdir / f"{backend}-{port}.log"
        cmd = node_command(backend, port, workdir / f"datadir-{port}", block_time)
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                cmd, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        node = DevNode(backend, port, process, log_path, workdir, owns)
        deadline = time.monotonic() + startup_timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                last_error = f"exited with status {process.returncode}:\n{node.log_tail()}"
                break
            try:
                chain_id = int(rpc_call(node.http_url, "eth_chainId", timeout=2), 16)
            except (OSError, urllib.error.URLError, RuntimeError, ValueError):
                time.sleep(0.1)
                continue
            if chain_id != CHAIN_ID:
                node.stop()
                raise RuntimeError(f"{backend} reports chain id {chain_id}, expected {CHAIN_ID}")
            return node
        else:
            last_error = f"did not answer eth_chainId within {startup_timeout:g} s:\n"
            last_error += node.log_tail()
        node._owns_workdir = False
        node.stop()
    if owns:
        shutil.rmtree(workdir, ignore_errors=True)
    raise RuntimeError(f"{backend} node failed to start ({' '.join(cmd)}): {last_error}")
