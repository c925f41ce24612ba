"""JSON-RPC over HTTP and WebSocket on one port (aiohttp), as anvil serves it.

``POST /`` takes a single request or a batch; ``GET /`` with an upgrade
header opens a WebSocket that takes the same requests plus ``eth_subscribe``
(``newHeads``, ``logs``) and ``eth_unsubscribe``; ``GET /metrics`` serves
Prometheus metrics. Bodies over ``max_body`` bytes are refused with HTTP 413
and a JSON-RPC error. Every node call runs on one dedicated thread, so the
node sees one request at a time and the event loop stays responsive.

Requests with submissions go to the node thread in group jobs, one at a
time: a group job runs the requests that arrived while the previous one ran,
pooling their transactions, then (automine) mines one round for all of them
(group commit: one block and one durable write) and settles their answers.
Raw transactions are decoded, and their senders recovered, on the event loop
before they join a group. Receipts of mined transactions, the chain id and
the head number are read from committed, immutable data and answered on the
event loop without a hop to the node thread (see :meth:`RpcServer._answer_now`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import WSMsgType, web

from strikevm.chain import node as N
from strikevm.chain.node import DevNode
from strikevm.chain.store import StoredBlock
from strikevm.chain.transaction import Transaction
from strikevm.rpc.errors import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    PARSE_ERROR,
    InvalidParams,
    RpcError,
    from_node_error,
)
from strikevm.rpc.methods import (
    LogFilter,
    Methods,
    data,
    format_block,
    format_log,
    format_receipt,
    parse_data,
    quantity,
)
from strikevm.rpc.metrics import Metrics

__all__ = ["RpcServer"]

log = logging.getLogger("strikevm.rpc")

DEFAULT_MAX_BODY = 5 * 1024 * 1024
DEFAULT_MAX_BATCH = 1000
SEND_METHODS = frozenset(("eth_sendRawTransaction", "eth_sendTransaction"))
MAX_SUBSCRIPTIONS_PER_SOCKET = 1000
# Blocks whose transactions' receipts are answered on the event loop.
RECENT_BLOCKS = 1024

_Answer = tuple[Any, "RpcError | None"]


def _response(req_id: Any, result: Any = None, error: RpcError | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"jsonrpc": "2.0", "id": req_id}
    if error is not None:
        out["error"] = error.to_json()
    else:
        out["result"] = result
    return out


class _Decoded:
    """The params of an eth_sendRawTransaction whose transaction was decoded on the event loop."""

    __slots__ = ("tx",)

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx


class _Subscription:
    __slots__ = ("sid", "kind", "flt", "queue")

    def __init__(self, sid: str, kind: str, flt: LogFilter | None, queue: asyncio.Queue) -> None:
        self.sid = sid
        self.kind = kind
        self.flt = flt
        self.queue = queue


class RpcServer:
    """The HTTP/WebSocket front of a :class:`DevNode`."""

    def __init__(
        self,
        node: DevNode,
        *,
        max_body: int = DEFAULT_MAX_BODY,
        max_batch: int = DEFAULT_MAX_BATCH,
        block_time: float | None = None,
        on_block: Callable[[StoredBlock, int], None] | None = None,
    ) -> None:
        self.node = node
        self.methods = Methods(node)
        self.max_body = max_body
        self.max_batch = max_batch
        self.block_time = block_time
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="strikevm-node")
        self.metrics = Metrics(
            self.methods.table,
            time.monotonic,
            mempool_size=lambda: len(node.pool),
            head=lambda: node.store.head_number or 0,
        )
        self._subs: dict[str, _Subscription] = {}
        self._sub_counter = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_block = on_block
        self._miner: asyncio.Task | None = None
        # Group commit: requests with submissions wait here (event loop only) for
        # the next group job, which pools them all and mines one round (_flush).
        self._pending: list[tuple[list[tuple[str, Any]], asyncio.Future]] = []
        self._flushing = False
        # Mined transactions of recent blocks: hash -> (block, index). Written only
        # on the node thread after a block is durably committed; read on the loop.
        self._mined: dict[bytes, tuple[StoredBlock, int]] = {}
        self._mined_blocks: deque[StoredBlock] = deque()
        node.defer_automine = True
        node.listeners.append(self._block_mined)
        node.rewind_listeners.append(self._rewound)

    # ------------------------------------------------------------------ app
    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.max_body)
        app.router.add_post("/", self._http)
        app.router.add_get("/", self._get_root)
        app.router.add_get("/metrics", self._metrics)
        app.on_startup.append(self._startup)
        app.on_cleanup.append(self._cleanup)
        return app

    async def _startup(self, app: web.Application) -> None:
        self._loop = asyncio.get_running_loop()
        if self.block_time:
            self._miner = asyncio.create_task(self._mine_periodically(self.block_time))

    async def _cleanup(self, app: web.Application) -> None:
        if self._miner is not None:
            self._miner.cancel()
        self.executor.shutdown(wait=True)

    async def _mine_periodically(self, interval: float) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(interval)
            try:
                await loop.run_in_executor(self.executor, self.node.mine)
            except Exception:  # noqa: BLE001 - keep mining after a failed block
                log.exception("block production failed")

    # ----------------------------------------------------------- new blocks
    def _block_mined(self, stored: StoredBlock, elapsed_ns: int) -> None:
        """Runs on the node thread after each block is committed."""
        self.metrics.observe_block(
            len(stored.block.transactions), stored.header.gas_used, elapsed_ns
        )
        mined = self._mined
        for index, tx in enumerate(stored.block.transactions):
            mined[tx.hash] = (stored, index)
        blocks = self._mined_blocks
        blocks.append(stored)
        while len(blocks) > RECENT_BLOCKS:
            old = blocks.popleft()
            for tx in old.block.transactions:
                entry = mined.get(tx.hash)
                if entry is not None and entry[0] is old:
                    del mined[tx.hash]
        if self._on_block is not None:
            self._on_block(stored, elapsed_ns)
        loop = self._loop
        if loop is None or not self._subs:
            return
        head: dict[str, Any] | None = None
        for sub in list(self._subs.values()):
            if sub.kind == "newHeads":
                if head is None:
                    head = format_block(stored, False)
                    del head["transactions"]
                    del head["uncles"]
                    del head["withdrawals"]
                payloads: list[Any] = [head]
            else:
                assert sub.flt is not None
                entries = self.node.block_logs(stored, sub.flt.addresses, sub.flt.topics)
                payloads = [format_log(e) for e in entries]
            for payload in payloads:
                message = {
                    "jsonrpc": "2.0",
                    "method": "eth_subscription",
                    "params": {"subscription": sub.sid, "result": payload},
                }
                loop.call_soon_threadsafe(_put_nowait, sub.queue, message)

    def _rewound(self, number: int) -> None:
        """Runs on the node thread when the head goes back (evm_revert), before it answers."""
        self._mined = {}
        self._mined_blocks = deque()

    # ------------------------------------------------------------- dispatch
    def _answer_now(self, method: str, params: Any) -> _Answer | None:
        """Answer a read of committed, immutable data on the event loop, or None.

        The node thread mutates the live state, the pool and the store's head
        and block cache; none of that is read here. ``_mined`` holds only blocks
        that are already durably committed (the node thread adds them after the
        commit returns), and a StoredBlock never changes. The dict is only
        replaced or updated item by item on the node thread, and evm_revert
        replaces it before its own answer is sent, so every answer given here
        is one that a read ordered at this instant would give too. Anything not
        found here (pending, unknown, older transactions; bad parameters) goes
        to the node thread as before.
        """
        if method == "eth_getTransactionReceipt":
            if not isinstance(params, list) or len(params) != 1:
                return None
            value = params[0]
            if not isinstance(value, str) or len(value) != 66 or value[:2] not in ("0x", "0X"):
                return None
            try:
                tx_hash = bytes.fromhex(value[2:])
            except ValueError:
                return None
            entry = self._mined.get(tx_hash)
            if entry is None:
                return None
            return format_receipt(self.node.receipt_at(*entry)), None
        if method == "eth_chainId" or method == "eth_blockNumber":
            if params is not None and params != []:
                return None
            if method == "eth_chainId":
                return quantity(self.node.config.chain_id), None
            head = self.node.store.head_number
            return (quantity(head), None) if head is not None else None
        return None

    def _dispatch_sync(self, method: str, params: Any) -> tuple[Any, RpcError | None]:
        start = time.perf_counter()
        try:
            if type(params) is _Decoded:
                try:
                    result = data(self.node.submit(params.tx))
                except N.NodeError as exc:
                    raise from_node_error(exc) from None
            else:
                result = self.methods.call(method, params)
            error = None
        except RpcError as exc:
            result, error = None, exc
        except Exception as exc:  # noqa: BLE001 - never let a request kill the node
            log.exception("internal error in %s", method)
            result, error = None, RpcError(INTERNAL_ERROR, f"internal error: {exc!r}")
        self.metrics.observe_request(method, time.perf_counter() - start, error is None)
        return result, error

    def _run_many(self, calls: list[tuple[str, Any]]) -> list[tuple[Any, RpcError | None]]:
        return [self._dispatch_sync(method, params) for method, params in calls]

    @staticmethod
    def _check(item: Any) -> tuple[Any, str, Any, bool]:
        """(id, method, params, is_notification) of a request object, or raise."""
        if not isinstance(item, dict):
            raise RpcError(INVALID_REQUEST, "invalid request: expected a JSON object")
        req_id = item.get("id")
        notification = "id" not in item
        if req_id is not None and (
            isinstance(req_id, bool) or not isinstance(req_id, str | int | float)
        ):
            raise RpcError(INVALID_REQUEST, "invalid request: id must be a string, number or null")
        if item.get("jsonrpc") != "2.0":
            raise RpcError(INVALID_REQUEST, 'invalid request: "jsonrpc" must be "2.0"')
        method = item.get("method")
        if not isinstance(method, str):
            raise RpcError(INVALID_REQUEST, "invalid request: method must be a string")
        return req_id, method, item.get("params"), notification

    def _predecode(self, method: str, params: Any) -> Any:
        """Params for the node thread: a raw transaction is decoded here, off the node thread.

        Decoding (and recovering the sender) depends only on the bytes and the
        chain id. Anything unusual is left as it is and the node thread reports it.
        """
        if method != "eth_sendRawTransaction" or type(params) is not list or len(params) != 1:
            return params
        try:
            return _Decoded(self.node.decode_raw(parse_data(params[0], "invalid argument 0")))
        except (RpcError, N.NodeError):
            return params

    async def _submit(self, calls: list[tuple[str, Any]]) -> list[_Answer]:
        """A request (or batch) with submissions: joins the next group job.

        One group job runs on the node thread at a time; requests that arrive
        meanwhile wait and then share the next one (and its block).
        """
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        fut: asyncio.Future = loop.create_future()
        self._pending.append(([(m, self._predecode(m, p)) for m, p in calls], fut))
        if not self._flushing:
            self._flushing = True
            loop.call_soon(self._flush)
        return await fut  # type: ignore[no-any-return]

    def _flush(self) -> None:
        """Event loop: hand every waiting request to the node thread in one group job."""
        batch, self._pending = self._pending, []
        if not batch:
            self._flushing = False
            return
        loop = self._loop
        assert loop is not None
        calls = [call for request, _ in batch for call in request]
        job = loop.run_in_executor(self.executor, self._group_job, calls)
        job.add_done_callback(lambda done: self._flushed(batch, done))

    def _flushed(
        self, batch: list[tuple[list[tuple[str, Any]], asyncio.Future]], job: asyncio.Future
    ) -> None:
        """Event loop: answer the requests of a finished group job, then start the next one."""
        if job.cancelled() or job.exception() is not None:
            exc = None if job.cancelled() else job.exception()
            err = RpcError(INTERNAL_ERROR, f"internal error: {exc!r}")
            answers: list[_Answer] = [(None, err)] * sum(len(request) for request, _ in batch)
        else:
            answers = job.result()
        at = 0
        for request, fut in batch:
            if not fut.done():
                fut.set_result(answers[at : at + len(request)])
            at += len(request)
        loop = self._loop
        assert loop is not None
        loop.call_soon(self._flush)

    def _group_job(self, calls: list[tuple[str, Any]]) -> list[_Answer]:
        """Node thread: run the calls in order, then mine one round for their submissions.

        With automine, submissions only pool their transactions, so everything
        submitted in the group shares one block (and one durable write); each
        submission is then settled (an error if it was dropped at mining).
        """
        results = [self._dispatch_sync(method, params) for method, params in calls]
        if not self.node.config.automine:
            return results
        sent = [
            k
            for k, ((method, _), (_, error)) in enumerate(zip(calls, results, strict=True))
            if method in SEND_METHODS and error is None
        ]
        if not sent:
            return results
        try:
            self.node.mine_ready()
        except Exception as exc:  # noqa: BLE001 - reported to every waiting request
            err = RpcError(INTERNAL_ERROR, f"internal error: {exc!r}")
            for k in sent:
                results[k] = (None, err)
            return results
        for k in sent:
            err = self._settle_sync(bytes.fromhex(results[k][0][2:]))
            if err is not None:
                results[k] = (None, err)
        return results

    def _settle_sync(self, tx_hash: bytes) -> RpcError | None:
        try:
            self.node.settle(tx_hash)
        except N.NodeError as exc:
            return from_node_error(exc)
        return None

    async def _dispatch(self, calls: list[tuple[str, Any]]) -> list[_Answer]:
        """Run node calls on the node thread; submissions return once mined (automine)."""
        if any(method in SEND_METHODS for method, _ in calls):
            return await self._submit(calls)
        loop = asyncio.get_running_loop()
        if len(calls) == 1:
            return [await loop.run_in_executor(self.executor, self._dispatch_sync, *calls[0])]
        return await loop.run_in_executor(self.executor, self._run_many, calls)

    async def handle_payload(
        self, payload: Any, ws: _Socket | None = None
    ) -> dict[str, Any] | list[dict[str, Any]] | None:
        """Answer a decoded single request or batch (None when nothing is due)."""
        if isinstance(payload, list):
            if not payload:
                return _response(None, error=RpcError(INVALID_REQUEST, "empty batch"))
            if len(payload) > self.max_batch:
                return _response(
                    None,
                    error=RpcError(
                        INVALID_REQUEST, f"batch too large: {len(payload)} > {self.max_batch}"
                    ),
                )
            answers: list[dict[str, Any] | None] = [None] * len(payload)
            calls: list[tuple[str, Any]] = []
            where: list[tuple[int, Any, bool]] = []
            for i, item in enumerate(payload):
                try:
                    req_id, method, params, note = self._check(item)
                except RpcError as exc:
                    answers[i] = _response(
                        item.get("id") if isinstance(item, dict) else None, error=exc
                    )
                    continue
                if ws is not None and method in ("eth_subscribe", "eth_unsubscribe"):
                    result, error = await self._ws_method(ws, method, params)
                    if not note:
                        answers[i] = _response(req_id, result, error)
                    continue
                calls.append((method, params))
                where.append((i, req_id, note))
            if calls:
                results = await self._dispatch(calls)
                for (i, req_id, note), (result, error) in zip(where, results, strict=True):
                    if not note:
                        answers[i] = _response(req_id, result, error)
            out = [a for a in answers if a is not None]
            return out or None
        try:
            req_id, method, params, note = self._check(payload)
        except RpcError as exc:
            return _response(payload.get("id") if isinstance(payload, dict) else None, error=exc)
        if ws is not None and method in ("eth_subscribe", "eth_unsubscribe"):
            result, error = await self._ws_method(ws, method, params)
        else:
            start = time.perf_counter()
            now = self._answer_now(method, params)
            if now is not None:
                result, error = now
                self.metrics.observe_request(method, time.perf_counter() - start, True)
            else:
                ((result, error),) = await self._dispatch([(method, params)])
        return None if note else _response(req_id, result, error)

    # ----------------------------------------------------------------- HTTP
    async def _http(self, request: web.Request) -> web.StreamResponse:
        length = request.content_length
        if length is not None and length > self.max_body:
            return self._too_large(length)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._too_large(None)
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError) as exc:
            self.metrics.observe_http_error("parse")
            return web.json_response(
                _response(None, error=RpcError(PARSE_ERROR, f"parse error: {exc}"))
            )
        answer = await self.handle_payload(payload)
        if answer is None:
            return web.Response(status=200, text="", content_type="application/json")
        return web.json_response(answer, dumps=_dumps)

    def _too_large(self, length: int | None) -> web.Response:
        self.metrics.observe_http_error("too_large")
        size = f"{length} bytes" if length is not None else "body"
        error = RpcError(
            INVALID_REQUEST, f"request too large: {size} over the limit of {self.max_body} bytes"
        )
        return web.json_response(_response(None, error=error), status=413)

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            text=self.metrics.render(),
            content_type="text/plain",
            charset="utf-8",
            headers={"X-Content-Type-Options": "nosniff"},
        )

    async def _get_root(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request)
        return web.json_response(
            _response(None, error=RpcError(INVALID_REQUEST, "send JSON-RPC requests with POST")),
            status=405,
        )

    # ------------------------------------------------------------ WebSocket
    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=self.max_body, heartbeat=30)
        await ws.prepare(request)
        sock = _Socket(ws)
        sender = asyncio.create_task(self._pump(sock))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    text = msg.data
                elif msg.type == WSMsgType.BINARY:
                    text = msg.data.decode("utf-8", errors="replace")
                elif msg.type == WSMsgType.ERROR:
                    break
                else:
                    continue
                try:
                    payload = json.loads(text)
                except (ValueError, RecursionError) as exc:
                    answer: Any = _response(
                        None, error=RpcError(PARSE_ERROR, f"parse error: {exc}")
                    )
                else:
                    answer = await self.handle_payload(payload, sock)
                if answer is not None:
                    await sock.queue.put(answer)
        finally:
            for sid in list(sock.subs):
                self._subs.pop(sid, None)
            sock.subs.clear()
            await sock.queue.put(None)
            await sender
        return ws

    async def _pump(self, sock: _Socket) -> None:
        while True:
            message = await sock.queue.get()
            if message is None:
                return
            if sock.ws.closed:
                continue
            try:
                await sock.ws.send_str(_dumps(message))
            except (ConnectionError, RuntimeError):
                return

    async def _ws_method(
        self, sock: _Socket, method: str, params: Any
    ) -> tuple[Any, RpcError | None]:
        start = time.perf_counter()
        try:
            if not isinstance(params, list) or not params:
                raise InvalidParams("missing value for required argument 0")
            if method == "eth_unsubscribe":
                sid = params[0]
                found = isinstance(sid, str) and sid in sock.subs
                if found:
                    sock.subs.discard(sid)
                    self._subs.pop(sid, None)
                result: Any = found
            else:
                result = await self._subscribe(sock, params)
            error = None
        except RpcError as exc:
            result, error = None, exc
        self.metrics.observe_request(method, time.perf_counter() - start, error is None)
        return result, error

    async def _subscribe(self, sock: _Socket, params: list[Any]) -> str:
        kind = params[0]
        flt: LogFilter | None = None
        if kind == "logs":
            spec = params[1] if len(params) > 1 and params[1] is not None else {}
            if not isinstance(spec, dict):
                raise InvalidParams("invalid argument 1: expected a filter object")
            spec = {k: v for k, v in spec.items() if k in ("address", "topics")}
            loop = asyncio.get_running_loop()
            flt = await loop.run_in_executor(self.executor, self.methods._parse_filter, spec)
        elif kind == "newHeads":
            if len(params) > 1:
                raise InvalidParams("too many arguments, want at most 1")
        else:
            raise RpcError(
                -32602,
                f'no "{kind}" subscription in eth namespace'
                if isinstance(kind, str)
                else "invalid subscription kind",
            )
        if len(sock.subs) >= MAX_SUBSCRIPTIONS_PER_SOCKET:
            raise RpcError(-32005, "too many subscriptions on this connection")
        self._sub_counter += 1
        sid = quantity((self._sub_counter << 64) | id(sock) & 0xFFFFFFFFFFFFFFFF)
        sock.subs.add(sid)
        self._subs[sid] = _Subscription(sid, kind, flt, sock.queue)
        return sid

    # -------------------------------------------------------------- running
    async def start(self, host: str, port: int) -> tuple[web.AppRunner, int]:
        """Start serving; return the runner and the bound port (useful with port 0)."""
        runner = web.AppRunner(self.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        server = site._server
        bound = port
        if server is not None and server.sockets:  # type: ignore[union-attr]
            bound = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return runner, bound


class _Socket:
    __slots__ = ("ws", "queue", "subs")

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.subs: set[str] = set()


MAX_QUEUED_NOTIFICATIONS = 10_000


def _put_nowait(queue: asyncio.Queue, message: Any) -> None:
    """Queue a notification; a client that stops reading loses them rather than memory growing."""
    if queue.qsize() < MAX_QUEUED_NOTIFICATIONS:
        queue.put_nowait(message)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
