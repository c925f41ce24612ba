"""A real node process on a free port with a temporary data directory, and a plain client."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

STARTUP_SECONDS = 60


class RpcFailure(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(f"{error.get('code')}: {error.get('message')}")
        self.code = error.get("code")
        self.message = error.get("message")
        self.data = error.get("data")


class NodeProcess:
    """``python -m strikevm.node_cli`` with ``--port 0``; the bound port is read from its output."""

    def __init__(self, datadir: Path | None, *extra: str) -> None:
        self.datadir = datadir
        self.extra = extra
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0
        self.output: list[str] = []

    def start(self) -> NodeProcess:
        args = [sys.executable, "-m", "strikevm.node_cli", "--port", "0", "--quiet", *self.extra]
        args += ["--datadir", str(self.datadir)] if self.datadir is not None else ["--ephemeral"]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        deadline = time.monotonic() + STARTUP_SECONDS
        assert self.proc.stdout is not None
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

    def _drain(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def post(self, body: bytes | str, timeout: float = 60) -> tuple[int, Any]:
        """POST a raw body; return (HTTP status, decoded JSON or None)."""
        data = body.encode() if isinstance(body, str) else body
        req = urllib.request.Request(
            self.url, data=data, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                text = resp.read()
                return resp.status, json.loads(text) if text else None
        except urllib.error.HTTPError as exc:
            text = exc.read()
            return exc.code, json.loads(text) if text else None

    def request(self, method: str, *params: Any) -> dict[str, Any]:
        status, answer = self.post(
            json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        )
        assert status == 200, (status, answer)
        return answer  # type: ignore[no-any-return]

    def call(self, method: str, *params: Any) -> Any:
        answer = self.request(method, *params)
        if "error" in answer:
            raise RpcFailure(answer["error"])
        return answer["result"]

    def error(self, method: str, *params: Any) -> RpcFailure:
        answer = self.request(method, *params)
        assert "error" in answer, answer
        return RpcFailure(answer["error"])
