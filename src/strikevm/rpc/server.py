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

Calls that run EVM code (eth_call, eth_estimateGas, debug_traceTransaction,
and the gas estimate of an eth_sendTransaction without gas) run on a small
pool of call threads instead, against the committed tries at the block's
state root (``DevNode.isolated_calls``), so that block production,
transactions and cheap reads go on while they run. Each runs under a wall
time limit (``RpcLimits.evm_timeout``): a watchdog thread raises
:class:`~strikevm.rpc.errors.ExecutionTimeout` in the call thread, which
unwinds the call (its scratch state is dropped) and answers geth's
``execution aborted (timeout = 5s)``.

The server sets the recursion limit and the threads' stack size itself
(:func:`configure_runtime`), sized for 1024-deep call chains on both engines.

Budgets (see docs/node.md, "Denial-of-service limits"): batch items, batch
response size, call time, WebSocket send queues (a subscriber that does not
read is disconnected rather than buffered without bound).
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
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
    RESPONSE_TOO_LARGE,
    ExecutionTimeout,
    InvalidParams,
    RpcError,
    from_node_error,
    timeout_error,
)
from strikevm.rpc.methods import (
    CALL_METHODS,
    LogFilter,
    Methods,
    RpcLimits,
    data,
    format_block,
    format_log,
    format_receipt,
    format_tx,
    parse_call,
    parse_data,
    quantity,
)
from strikevm.rpc.metrics import Metrics

__all__ = ["RpcLimits", "RpcServer", "configure_runtime"]

log = logging.getLogger("strikevm.rpc")

DEFAULT_MAX_BODY = 5 * 1024 * 1024
DEFAULT_MAX_BATCH = RpcLimits.batch_items

# A 1024-deep call chain takes about 8 Python frames per level on either engine
# (measured); native contracts and creates add some. Six times that, plus room
# for the server around it. Python 3.11 does not grow the C stack for Python to
# Python calls, so 1 MiB of thread stack ran the 1024-deep chain; 256 MiB leaves
# room for calls through C (reserved address space, touched only when used).
MAX_CALL_DEPTH = 1024
FRAMES_PER_CALL_LEVEL = 48
RECURSION_LIMIT = (MAX_CALL_DEPTH + 1) * FRAMES_PER_CALL_LEVEL + 2000
THREAD_STACK_SIZE = 256 * 1024 * 1024


def configure_runtime() -> None:
    """Recursion limit and thread stack size for 1024-deep call chains (call before threads start).

    Raises the recursion limit to :data:`RECURSION_LIMIT` (never lowers what
    something else set) and sets the stack size of threads created from now on.
    """
    if sys.getrecursionlimit() < RECURSION_LIMIT:
        sys.setrecursionlimit(RECURSION_LIMIT)
    if threading.stack_size() < THREAD_STACK_SIZE:
        threading.stack_size(THREAD_STACK_SIZE)


SEND_METHODS = frozenset(
    ("eth_sendRawTransaction", "eth_sendTransaction", "eth_sendUnsignedTransaction")
)
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


# Frames in which an asynchronous exception could leave a lock, a counter or an
# import half done: the watchdog waits (a poll) until the call thread is out of them.
_UNSAFE_FILES = (
    "threading.py",
    "logging",
    "importlib",
    "<frozen",
    "weakref.py",
    "queue.py",
    "concurrent",
    "/state/db.py",
    "/rpc/metrics.py",
)


def _async_raise(ident: int, exc: type[BaseException] | None) -> None:
    """Raise ``exc`` in thread ``ident`` at its next bytecode check; None clears a pending one."""
    arg = ctypes.py_object(exc) if exc is not None else None
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), arg)


class _Guard:
    """One armed call: the thread that runs it and when it must stop."""

    __slots__ = ("ident", "deadline", "fired", "next_shot", "entry")

    def __init__(self, ident: int, deadline: float, entry: Any) -> None:
        self.ident = ident
        self.deadline = deadline
        self.fired = False
        self.next_shot = deadline
        self.entry = entry  # code object of the frame that armed it


class _Watchdog:
    """Stops calls that run past their deadline by raising ExecutionTimeout in their thread.

    The exception is raised with ``PyThreadState_SetAsyncExc`` only while the
    call is armed (between :meth:`arm` and :meth:`disarm`, under one lock) and
    only when the call thread's frames above the arming frame are all EVM or
    state code, not a lock, logging, an import or the LMDB reader count
    (checked again every poll). A call still running a second later (the
    exception was swallowed by a finaliser, say) is shot again. Disarming
    clears a pending, undelivered exception.
    """

    POLL = 0.02
    RETRY = 1.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._armed: dict[int, _Guard] = {}
        self._wake = threading.Event()
        self._stopped = False
        self._thread: threading.Thread | None = None
        self.fired = 0  # calls stopped so far

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._loop, name="strikevm-watchdog", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()

    def arm(self, seconds: float, entry: Any) -> _Guard:
        """Register the calling thread's call; it may be interrupted from now on."""
        self.start()
        guard = _Guard(threading.get_ident(), self.clock() + seconds, entry)
        with self._lock:
            self._armed[guard.ident] = guard
        self._wake.set()  # after the guard is in: the loop re-checks after each wake
        return guard

    def disarm(self) -> None:
        """Unregister the calling thread's call; clear an undelivered exception. Idempotent."""
        ident = threading.get_ident()
        with self._lock:
            guard = self._armed.pop(ident, None)
            if guard is not None and guard.fired:
                _async_raise(ident, None)

    def _loop(self) -> None:
        while not self._stopped:
            with self._lock:
                busy = bool(self._armed)
            if not busy:
                self._wake.wait()
                self._wake.clear()
                continue
            time.sleep(self.POLL)
            now = self.clock()
            with self._lock:
                due = [g for g in self._armed.values() if now >= g.next_shot]
                if not due:
                    continue
                frames = sys._current_frames()
                for guard in due:
                    if not _interruptible(frames.get(guard.ident), guard.entry):
                        continue
                    guard.fired = True
                    guard.next_shot = now + self.RETRY
                    self.fired += 1
                    _async_raise(guard.ident, ExecutionTimeout)
                del frames


def _interruptible(frame: Any, entry: Any) -> bool:
    """True when every frame above the arming one is safe to unwind by an exception."""
    while frame is not None:
        code = frame.f_code
        if code is entry:
            return True
        name = code.co_filename
        for marker in _UNSAFE_FILES:
            if marker in name:
                return False
        frame = frame.f_back
    return False


class _Subscription:
    __slots__ = ("sid", "kind", "flt", "sock", "full")

    def __init__(self, sid: str, kind: str, flt: LogFilter | None, sock: _Socket) -> None:
        self.full = False  # newPendingTransactions with full transaction objects
        self.sid = sid
        self.kind = kind
        self.flt = flt
        self.sock = sock


class RpcServer:
    """The HTTP/WebSocket front of a :class:`DevNode`."""

    def __init__(
        self,
        node: DevNode,
        *,
        max_body: int = DEFAULT_MAX_BODY,
        max_batch: int | None = None,
        block_time: float | None = None,
        on_block: Callable[[StoredBlock, int], None] | None = None,
        limits: RpcLimits | None = None,
        cors_origins: list[str] | None = None,
    ) -> None:
        configure_runtime()  # before any thread of the server exists
        if limits is None:
            limits = RpcLimits()
        if max_batch is not None:
            limits = replace(limits, batch_items=max_batch)
        self.limits = limits
        self.node = node
        self.methods = Methods(node, limits)
        self.methods.interval_setter = self._set_interval
        # CORS (--cors-origins): "*" allows any origin (anvil's default); [] none.
        self.cors_origins = ["*"] if cors_origins is None else list(cors_origins)
        self.max_body = max_body
        self.max_batch = limits.batch_items
        self.block_time = block_time
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="strikevm-node")
        # EVM calls (eth_call, estimates, traces) run here, off the block-production path.
        self.call_executor = ThreadPoolExecutor(
            max_workers=max(1, limits.call_workers), thread_name_prefix="strikevm-call"
        )
        self.watchdog = _Watchdog()
        node.isolated_calls = True
        self.metrics = Metrics(
            self.methods.table,
            time.monotonic,
            mempool_size=lambda: len(node.pool),
            head=lambda: node.store.head_number or 0,
            risk=lambda: _risk_state(node),
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
        node.pool_listeners.append(self._tx_pooled)

    # ------------------------------------------------------------------ app
    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.max_body, middlewares=[self._cors])
        app.router.add_post("/", self._http)
        app.router.add_route("OPTIONS", "/", self._preflight)
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
        self.call_executor.shutdown(wait=True)
        self.executor.shutdown(wait=True)
        self.watchdog.stop()

    def _set_interval(self, seconds: float | None) -> None:
        """evm_setIntervalMining (node thread): restart the periodic miner, or stop it."""
        loop = self._loop
        if loop is None:
            raise RpcError(-32000, "the server is not running")

        def restart() -> None:
            if self._miner is not None:
                self._miner.cancel()
                self._miner = None
            self.block_time = seconds
            if seconds:
                self._miner = asyncio.create_task(self._mine_periodically(seconds))

        loop.call_soon_threadsafe(restart)

    # ----------------------------------------------------------------- CORS
    def _allowed_origin(self, origin: str | None) -> str | None:
        if "*" in self.cors_origins:
            return "*"
        if origin is not None and origin in self.cors_origins:
            return origin
        return None

    @web.middleware
    async def _cors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        response = await handler(request)
        allowed = self._allowed_origin(request.headers.get("Origin"))
        if allowed is not None and not response.prepared:
            response.headers["Access-Control-Allow-Origin"] = allowed
            if allowed != "*":
                response.headers["Vary"] = "Origin"
        return response

    async def _preflight(self, request: web.Request) -> web.Response:
        """An OPTIONS preflight: which origins, methods and headers may send requests."""
        allowed = self._allowed_origin(request.headers.get("Origin"))
        if allowed is None:
            return web.Response(status=403, text="origin not allowed")
        headers = request.headers.get("Access-Control-Request-Headers", "content-type")
        return web.Response(
            status=204,
            headers={
                "Access-Control-Allow-Methods": "POST, GET, OPTIONS",
                "Access-Control-Allow-Headers": headers,
                "Access-Control-Max-Age": "86400",
            },
        )

    async def _mine_periodically(self, interval: float) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(interval)
            try:
                await loop.run_in_executor(self.executor, self.node.mine_next)
            except Exception:  # noqa: BLE001 - keep mining after a failed block
                log.exception("block production failed")

    # ----------------------------------------------------------- new blocks
    def _block_mined(self, stored: StoredBlock, elapsed_ns: int) -> None:
        """Runs on the node thread after each block is committed."""
        self.metrics.observe_block(
            len(stored.block.transactions), stored.header.gas_used, elapsed_ns
        )
        self.metrics.observe_risk(*_risk_events(stored), getattr(self.node, "last_end_step_ns", 0))
        runs = getattr(self.node, "last_parallel", [])
        self.metrics.observe_execution(
            any(r.mode == "parallel" for r in runs),
            sum(r.committed for r in runs),
            sum(r.reexecuted for r in runs),
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
            elif sub.kind == "newPendingTransactions":
                continue
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
                loop.call_soon_threadsafe(sub.sock.offer, message)

    def _tx_pooled(self, tx: Transaction) -> None:
        """Runs on the node thread when a transaction enters the pool."""
        loop = self._loop
        if loop is None or not self._subs:
            return
        for sub in list(self._subs.values()):
            if sub.kind != "newPendingTransactions":
                continue
            payload: Any = format_tx(tx, None, 0) if sub.full else data(tx.hash)
            message = {
                "jsonrpc": "2.0",
                "method": "eth_subscription",
                "params": {"subscription": sub.sid, "result": payload},
            }
            loop.call_soon_threadsafe(sub.sock.offer, message)

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

    def _call_sync(self, method: str, params: Any) -> _Answer:
        """Call thread: an EVM call (eth_call, estimate, trace) under the time limit."""
        start = time.perf_counter()
        try:
            result = self._timed(method, params)
            error = None
        except RpcError as exc:
            result, error = None, exc
        except ExecutionTimeout:  # delivered outside the armed window: still a timeout
            result, error = None, timeout_error(self.limits.evm_timeout)
        except Exception as exc:  # noqa: BLE001 - never let a request kill the server
            log.exception("internal error in %s", method)
            result, error = None, RpcError(INTERNAL_ERROR, f"internal error: {exc!r}")
        self.metrics.observe_request(method, time.perf_counter() - start, error is None)
        return result, error

    def _timed(self, method: str, params: Any) -> Any:
        """Run ``method`` with the watchdog armed; raise geth's timeout error past the limit.

        Everything the call builds (scratch states, tracer logs) is local to it,
        so an interrupted call leaves nothing behind.
        """
        timeout = self.limits.evm_timeout
        if not timeout:
            return self.methods.call(method, params)
        watchdog = self.watchdog
        try:
            try:
                watchdog.arm(timeout, _TIMED_CODE)
                return self.methods.call(method, params)
            finally:
                while True:  # an exception delivered while disarming: disarm again
                    try:
                        watchdog.disarm()
                        break
                    except ExecutionTimeout:
                        pass
        except ExecutionTimeout:
            raise timeout_error(timeout) from None

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
        """EVM calls on the call threads, the rest on the node thread, answers in order.

        Submissions return once mined (automine); an eth_sendTransaction without
        gas has its estimate run on a call thread first.
        """
        answers: list[_Answer | None] = [None] * len(calls)
        loop = asyncio.get_running_loop()
        evm: list[tuple[int, asyncio.Future]] = []
        rest: list[int] = []
        for i, (method, params) in enumerate(calls):
            if method in CALL_METHODS:
                job = loop.run_in_executor(self.call_executor, self._call_sync, method, params)
                evm.append((i, job))
            else:
                rest.append(i)
        if rest:
            node_calls = [calls[i] for i in rest]
            if any(method == "eth_sendTransaction" for method, _ in node_calls):
                node_calls, early = await self._estimate_sends(node_calls)
                for k, answer in early.items():
                    answers[rest[k]] = answer
                keep = [k for k in range(len(rest)) if k not in early]
                rest = [rest[k] for k in keep]
                node_calls = [node_calls[k] for k in keep]
            if node_calls:
                for i, answer in zip(rest, await self._dispatch_node(node_calls), strict=True):
                    answers[i] = answer
        for i, job in evm:
            answers[i] = await job
        return answers  # type: ignore[return-value]

    async def _dispatch_node(self, calls: list[tuple[str, Any]]) -> list[_Answer]:
        """Run node calls on the node thread; submissions return once mined (automine)."""
        if any(method in SEND_METHODS for method, _ in calls):
            return await self._submit(calls)
        loop = asyncio.get_running_loop()
        if len(calls) == 1:
            return [await loop.run_in_executor(self.executor, self._dispatch_sync, *calls[0])]
        return await loop.run_in_executor(self.executor, self._run_many, calls)

    async def _estimate_sends(
        self, calls: list[tuple[str, Any]]
    ) -> tuple[list[tuple[str, Any]], dict[int, _Answer]]:
        """Fill in the gas of eth_sendTransaction requests that lack it, on a call thread.

        Only requests the node would sign (a dev account, this chain, a type it
        signs) are estimated here; a failed estimate is their answer, as the
        node would give it. Anything else goes to the node thread unchanged.
        """
        loop = asyncio.get_running_loop()
        out = list(calls)
        early: dict[int, _Answer] = {}
        for k, (method, params) in enumerate(calls):
            if method != "eth_sendTransaction" or type(params) is not list or len(params) != 1:
                continue
            fields = params[0]
            if not isinstance(fields, dict) or fields.get("gas") is not None:
                continue
            try:
                req = parse_call(fields)
            except RpcError:
                continue
            if fields.get("from") is None or req.sender not in self.node.keys:
                continue
            if req.chain_id is not None and req.chain_id != self.node.config.chain_id:
                continue
            if req.tx_type is not None and req.tx_type not in (0, 1, 2):
                continue
            result, error = await loop.run_in_executor(
                self.call_executor, self._call_sync, "eth_estimateGas", [fields]
            )
            if error is not None:
                early[k] = (None, error)
            else:
                out[k] = (method, [dict(fields, gas=result)])
        return out, early

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
            self._limit_response(out)
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

    def _limit_response(self, out: list[dict[str, Any]]) -> None:
        """Past ``batch_response_bytes``, the rest of a batch answers "response too large".

        As geth: the answers that fit are kept in order; each later one becomes
        error -32003 with its id.
        """
        limit = self.limits.batch_response_bytes
        if not limit:
            return
        size = 2
        for k, answer in enumerate(out):
            size += len(_dumps(answer)) + 1
            if size > limit:
                for j in range(k, len(out)):
                    out[j] = _response(
                        out[j].get("id"),
                        error=RpcError(RESPONSE_TOO_LARGE, "response too large"),
                    )
                return

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
        sock = _Socket(
            ws,
            self.limits.ws_queue_messages,
            self.limits.ws_queue_bytes,
            self._slow_subscriber,
        )
        sender = asyncio.create_task(sock.pump())
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
                if answer is not None and not sock.offer(answer):
                    break
        finally:
            for sid in list(sock.subs):
                self._subs.pop(sid, None)
            sock.subs.clear()
            sock.finish()
            if sock.closed:
                sender.cancel()
            try:
                await sender
            except asyncio.CancelledError:
                pass
        return ws

    def _slow_subscriber(self, sock: _Socket) -> None:
        """Event loop: a socket's send queue overflowed; drop its subscriptions and close it."""
        for sid in list(sock.subs):
            self._subs.pop(sid, None)
        sock.subs.clear()
        self.metrics.observe_http_error("ws_slow_consumer")
        log.warning("closing a WebSocket whose client does not read (send queue full)")
        ws = sock.ws
        transport = getattr(getattr(ws, "_req", None), "transport", None)
        if transport is not None:
            transport.abort()  # the client is not reading: no close handshake to wait for
        elif not ws.closed:
            asyncio.ensure_future(ws.close(code=1008, message=b"send queue full"))

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
        elif kind == "newPendingTransactions":
            full = len(params) > 1 and params[1] is True
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
        self._subs[sid] = _Subscription(sid, kind, flt, sock)
        self._subs[sid].full = kind == "newPendingTransactions" and full
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


_TIMED_CODE = RpcServer._timed.__code__


class _Socket:
    """A WebSocket's bounded send queue (event loop only).

    Answers and notifications wait here, serialised, until the pump sends
    them. A client that does not read lets the queue fill; at
    ``max_messages`` messages or ``max_bytes`` bytes the socket is closed
    (1008, "send queue full") and its subscriptions dropped, instead of the
    server buffering without bound.
    """

    __slots__ = (
        "ws",
        "pending",
        "queued_bytes",
        "wake",
        "subs",
        "closed",
        "finished",
        "max_messages",
        "max_bytes",
        "on_overflow",
    )

    def __init__(
        self,
        ws: Any,
        max_messages: int = RpcLimits.ws_queue_messages,
        max_bytes: int = RpcLimits.ws_queue_bytes,
        on_overflow: Callable[[_Socket], None] | None = None,
    ) -> None:
        self.ws = ws
        self.pending: deque[str] = deque()
        self.queued_bytes = 0
        self.wake = asyncio.Event()
        self.subs: set[str] = set()
        self.closed = False  # overflowed or gone: nothing more is queued
        self.finished = False  # the reader is done: the pump stops once drained
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self.on_overflow = on_overflow

    def offer(self, message: Any) -> bool:
        """Queue a message; False (and the socket closed) when the queue is full."""
        if self.closed:
            return False
        text = message if isinstance(message, str) else _dumps(message)
        if (self.max_messages and len(self.pending) >= self.max_messages) or (
            self.max_bytes and self.queued_bytes + len(text) > self.max_bytes
        ):
            self.overflow()
            return False
        self.pending.append(text)
        self.queued_bytes += len(text)
        self.wake.set()
        return True

    def overflow(self) -> None:
        self.closed = True
        self.pending.clear()
        self.queued_bytes = 0
        self.wake.set()
        if self.on_overflow is not None:
            self.on_overflow(self)

    def finish(self) -> None:
        self.finished = True
        self.wake.set()

    async def pump(self) -> None:
        """Send queued messages in order until finished (or the socket fails)."""
        while True:
            if not self.pending:
                if self.finished or self.closed:
                    return
                self.wake.clear()
                await self.wake.wait()
                continue
            text = self.pending.popleft()
            self.queued_bytes -= len(text)
            if self.ws.closed:
                continue
            try:
                await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _risk_events(stored: StoredBlock) -> tuple[int, int, int]:
    """(liquidations, bad debts, auto-deleverages) in a block's system receipt."""
    from strikevm.finance.liquidation import EV_ADL, EV_BAD_DEBT, EV_LIQUIDATION

    counts = {EV_LIQUIDATION: 0, EV_BAD_DEBT: 0, EV_ADL: 0}
    for log in stored.system_logs:
        if log.topics and log.topics[0] in counts:
            counts[log.topics[0]] += 1
    return counts[EV_LIQUIDATION], counts[EV_BAD_DEBT], counts[EV_ADL]


def _risk_state(node: DevNode) -> tuple[int, int]:
    """(accounts queued for liquidation, insurance fund cash) read from the head state."""
    from strikevm.finance import clearinghouse_layout as L

    try:
        state = node.store.state_at(node.head().header.state_root)
        pending = state.sload(L.CLEARINGHOUSE_ADDRESS, L.RISK_PENDING_COUNT)
        fund_key = L.account_key(L.CLEARINGHOUSE_ADDRESS, L.INSURANCE_SUB)
        fund = L.signed(state.sload(L.CLEARINGHOUSE_ADDRESS, L.cash(fund_key)), 256)
    except Exception:  # noqa: BLE001 - metrics never fail a scrape
        return 0, 0
    return pending, fund
