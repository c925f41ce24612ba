"""Prometheus metrics of the dev node: blocks, transactions, gas/s, mempool size, RPC latency.

Rendered in the Prometheus text exposition format (version 0.0.4) at
``GET /metrics``. Method labels are limited to the method table (anything
else counts as ``unknown``), so a client cannot grow the label set.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable

__all__ = ["Metrics"]

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
GAS_WINDOW_SECONDS = 60.0


class _Histogram:
    __slots__ = ("counts", "total", "count")

    def __init__(self) -> None:
        self.counts = [0] * len(LATENCY_BUCKETS)
        self.total = 0.0
        self.count = 0

    def observe(self, seconds: float) -> None:
        for i, bound in enumerate(LATENCY_BUCKETS):
            if seconds <= bound:
                self.counts[i] += 1
        self.total += seconds
        self.count += 1


class Metrics:
    """Counters and histograms, updated from the node thread and the event loop."""

    def __init__(
        self,
        known_methods: Iterable[str],
        clock: Callable[[], float],
        mempool_size: Callable[[], int] = lambda: 0,
        head: Callable[[], int] = lambda: 0,
        risk: Callable[[], tuple[int, int]] = lambda: (0, 0),
    ) -> None:
        self.known = frozenset(known_methods) | {"eth_subscribe", "eth_unsubscribe"}
        self.clock = clock
        self.mempool_size = mempool_size
        self.head = head
        self.blocks = 0
        self.transactions = 0
        self.gas = 0
        self.block_seconds = 0.0
        self._recent: deque[tuple[float, int]] = deque()
        self.requests: dict[tuple[str, str], int] = {}
        self.latency: dict[str, _Histogram] = {}
        self.http_errors: dict[str, int] = {}
        # risk engine: (accounts queued for liquidation, insurance fund cash in quote units)
        self.risk = risk
        self.liquidations = 0
        self.bad_debts = 0
        self.deleverages = 0
        self.last_liquidations = 0
        self.end_step_seconds = 0.0
        self.last_end_step_seconds = 0.0
        # parallel execution (chain.parallel): blocks by mode, forked results
        self.exec_blocks: dict[str, int] = {"parallel": 0, "sequential": 0}
        self.exec_committed = 0
        self.exec_reexecuted = 0
        self._lock = threading.Lock()

    def observe_block(self, transactions: int, gas_used: int, elapsed_ns: int) -> None:
        now = self.clock()
        with self._lock:
            self.blocks += 1
            self.transactions += transactions
            self.gas += gas_used
            self.block_seconds += elapsed_ns / 1e9
            recent = self._recent
            recent.append((now, gas_used))
            while recent and recent[0][0] < now - GAS_WINDOW_SECONDS:
                recent.popleft()

    def observe_risk(self, liquidations: int, bad_debts: int, deleverages: int, step_ns: int) -> None:
        """The block-end liquidation pass of one block: its events and its time."""
        with self._lock:
            self.liquidations += liquidations
            self.bad_debts += bad_debts
            self.deleverages += deleverages
            self.last_liquidations = liquidations
            self.end_step_seconds += step_ns / 1e9
            self.last_end_step_seconds = step_ns / 1e9

    def observe_execution(self, parallel: bool, committed: int, reexecuted: int) -> None:
        """How a block's transactions ran: in parallel or not; forked results committed
        as they were and re-executed after a conflict."""
        with self._lock:
            self.exec_blocks["parallel" if parallel else "sequential"] += 1
            self.exec_committed += committed
            self.exec_reexecuted += reexecuted

    def observe_request(self, method: str, seconds: float, ok: bool) -> None:
        label = method if method in self.known else "unknown"
        with self._lock:
            key = (label, "ok" if ok else "error")
            self.requests[key] = self.requests.get(key, 0) + 1
            hist = self.latency.get(label)
            if hist is None:
                hist = self.latency[label] = _Histogram()
            hist.observe(seconds)

    def observe_http_error(self, kind: str) -> None:
        with self._lock:
            self.http_errors[kind] = self.http_errors.get(kind, 0) + 1

    def gas_per_second(self) -> float:
        now = self.clock()
        with self._lock:
            total = sum(g for t, g in self._recent if t >= now - GAS_WINDOW_SECONDS)
        return total / GAS_WINDOW_SECONDS

    def render(self) -> str:
        lines: list[str] = []

        def metric(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {kind}")
            for labels, value in samples:
                lines.append(f"{name}{labels} {_num(value)}")

        gas_rate = self.gas_per_second()
        with self._lock:
            metric("strikevm_blocks_total", "counter", "Blocks produced.", [("", self.blocks)])
            metric("strikevm_head_block", "gauge", "Number of the head block.", [("", self.head())])
            metric(
                "strikevm_transactions_total",
                "counter",
                "Transactions included in blocks.",
                [("", self.transactions)],
            )
            metric("strikevm_gas_used_total", "counter", "Gas used by blocks.", [("", self.gas)])
            metric(
                "strikevm_gas_per_second",
                "gauge",
                f"Gas used per second over the last {int(GAS_WINDOW_SECONDS)} seconds.",
                [("", gas_rate)],
            )
            metric(
                "strikevm_block_production_seconds_total",
                "counter",
                "Time spent producing and committing blocks.",
                [("", self.block_seconds)],
            )
            metric(
                "strikevm_mempool_transactions",
                "gauge",
                "Transactions waiting in the mempool.",
                [("", self.mempool_size())],
            )
            pending, fund = self.risk()
            metric("strikevm_accounts_at_risk", "gauge",
                   "Accounts queued for the next block-end liquidation pass.", [("", pending)])
            metric("strikevm_insurance_fund", "gauge",
                   "Insurance fund cash, in the quote token's smallest unit.", [("", fund)])
            metric("strikevm_liquidations_total", "counter", "Liquidations (protocol and keeper).",
                   [("", self.liquidations)])
            metric("strikevm_liquidations_last_block", "gauge",
                   "Liquidations in the last block.", [("", self.last_liquidations)])
            metric("strikevm_bad_debt_total", "counter", "Bad debts covered by the insurance fund.",
                   [("", self.bad_debts)])
            metric("strikevm_auto_deleverages_total", "counter", "Auto-deleveraged positions.",
                   [("", self.deleverages)])
            metric("strikevm_end_block_step_seconds_total", "counter",
                   "Time spent in end-of-block system steps (the liquidation pass).",
                   [("", self.end_step_seconds)])
            metric("strikevm_end_block_step_last_seconds", "gauge",
                   "Time of the last block's end-of-block system steps.",
                   [("", self.last_end_step_seconds)])
            metric("strikevm_exec_blocks_total", "counter",
                   "Blocks by how their transactions ran (chain.parallel).",
                   [(f'{{mode="{m}"}}', v) for m, v in sorted(self.exec_blocks.items())])
            metric("strikevm_exec_optimistic_committed_total", "counter",
                   "Transactions run by a forked executor and committed as they ran.",
                   [("", self.exec_committed)])
            metric("strikevm_exec_reexecuted_total", "counter",
                   "Transactions run by a forked executor, then re-executed after a conflict.",
                   [("", self.exec_reexecuted)])
            metric(
                "strikevm_rpc_requests_total",
                "counter",
                "JSON-RPC requests by method and outcome.",
                [
                    (f'{{method="{m}",status="{s}"}}', v)
                    for (m, s), v in sorted(self.requests.items())
                ],
            )
            metric(
                "strikevm_http_rejections_total",
                "counter",
                "HTTP requests rejected before dispatch (parse errors, oversize bodies).",
                [(f'{{reason="{k}"}}', v) for k, v in sorted(self.http_errors.items())],
            )
            lines.append("# HELP strikevm_rpc_latency_seconds JSON-RPC handling time by method.")
            lines.append("# TYPE strikevm_rpc_latency_seconds histogram")
            for method in sorted(self.latency):
                hist = self.latency[method]
                for bound, count in zip(LATENCY_BUCKETS, hist.counts, strict=True):
                    lines.append(
                        f'strikevm_rpc_latency_seconds_bucket{{method="{method}",le="{bound}"}} '
                        f"{count}"
                    )
                lines.append(
                    f'strikevm_rpc_latency_seconds_bucket{{method="{method}",le="+Inf"}} '
                    f"{hist.count}"
                )
                lines.append(
                    f'strikevm_rpc_latency_seconds_sum{{method="{method}"}} {_num(hist.total)}'
                )
                lines.append(
                    f'strikevm_rpc_latency_seconds_count{{method="{method}"}} {hist.count}'
                )
        return "\n".join(lines) + "\n"


def _num(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    return repr(float(value))
