"""A web page in headless Chromium talks to the dev node with ethers over HTTP and WebSocket.

The page (``PAGE`` below, with ethers' UMD build) is served by a static server on another
port than the node, so the browser checks the node's CORS answers. The page reads the chain id
over both transports, sends a transaction from dev account 0 (signed by the node), waits for
the receipt and POSTs the outcome back to the static server; Chromium also takes a screenshot,
kept in the test's tmp dir (printed). Needs Debian's ``chromium`` (``apt-get install -y
chromium``; ``.ci/run`` installs it): skipped with the reason when it is absent.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import launch
from devnode import NODE_MODULES, DevNode, dev_accounts, rpc_call

PAGE = """<!doctype html>
<!-- Loaded in headless Chromium from a static server on another
     port than the node's: ethers (UMD build) connects over HTTP and WebSocket, reads the chain
     id, sends a transaction from dev account 0 (eth_sendTransaction) and waits for the receipt.
     The outcome is shown on the page (for the screenshot) and POSTed to /result. -->
<html>
<head><meta charset="utf-8"><title>StrikeVM browser check</title>
<style>body { font: 16px monospace; margin: 24px; } pre { white-space: pre-wrap; }</style>
<script src="ethers.umd.min.js"></script>
</head>
<body>
<h1>StrikeVM from a browser</h1>
<pre id="out">running...</pre>
<script>
const params = new URLSearchParams(location.search);
const out = document.getElementById("out");
async function run() {
  const result = { ok: false };
  try {
    const http = new ethers.JsonRpcProvider(params.get("http"), undefined, { pollingInterval: 100 });
    result.httpChainId = Number((await http.getNetwork()).chainId);
    const ws = new ethers.WebSocketProvider(params.get("ws"));
    result.wsChainId = Number((await ws.getNetwork()).chainId);
    const signer = await http.getSigner(0);
    const to = (await http.getSigner(1)).address;
    const tx = await signer.sendTransaction({ to, value: 12345n });
    const receipt = await tx.wait();
    result.hash = receipt.hash;
    result.status = receipt.status;
    result.blockNumber = receipt.blockNumber;
    result.wsBlockNumber = await ws.getBlockNumber();
    result.from = receipt.from;
    await ws.destroy();
    http.destroy();
    result.ok = true;
  } catch (err) {
    result.error = String(err && (err.stack || err));
  }
  out.textContent = JSON.stringify(result, null, 2);
  await fetch("/result", { method: "POST", body: JSON.stringify(result) });
}
run();
</script>
</body>
</html>
"""
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def _chromium() -> str:
    for name in ("/usr/bin/chromium", "chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no Chromium: install Debian's package (`apt-get install -y chromium`)")


class _Handler(SimpleHTTPRequestHandler):
    results: list[dict[str, Any]]

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.results.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    root = tmp_path / "site"
    root.mkdir()
    (root / "index.html").write_text(PAGE)
    shutil.copy(NODE_MODULES / "ethers" / "dist" / "ethers.umd.min.js", root)
    results: list[dict[str, Any]] = []
    handler = type("Handler", (_Handler,), {"results": results})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", results
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def strikevm_node(tmp_path: Path) -> Iterator[DevNode]:
    running = launch("strikevm", tmp_path / "node")
    try:
        yield running
    finally:
        running.stop()


def test_browser_page_sends_a_transaction(
    strikevm_node: DevNode, site: tuple[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    chromium = _chromium()
    base, results = site
    node = strikevm_node
    screenshot = tmp_path / "browser.png"
    url = f"{base}/index.html?http={node.http_url}&ws={node.ws_url}"
    proc = subprocess.run(
        [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=900,600",
            "--virtual-time-budget=600000",  # virtual ms; ends once the page is idle
            f"--screenshot={screenshot}",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    print(f"browser screenshot: {screenshot}")
    assert results, (
        f"the page reported nothing (chromium {proc.returncode}):\n{proc.stderr[-3000:]}"
    )
    result = results[-1]
    assert result["ok"], result.get("error")
    assert result["httpChainId"] == result["wsChainId"] == 31337
    assert result["status"] == 1
    assert result["from"].lower() == dev_accounts()[0].address.lower()
    receipt = rpc_call(node.http_url, "eth_getTransactionReceipt", [result["hash"]])
    assert receipt["status"] == "0x1" and int(receipt["blockNumber"], 16) == result["blockNumber"]
    assert screenshot.is_file() and screenshot.stat().st_size > 0
