"""Run a function on a thread with a deep stack, as 1024 nested EVM calls need."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

STACK_BYTES = 1024 * 1024 * 1024
RECURSION_LIMIT = 200_000


def run_deep(fn: Callable[[], T]) -> T:
    """Call ``fn()`` on a fresh thread with a 1 GiB stack and a high recursion limit."""
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # re-raised on the calling thread
            box["error"] = exc

    sys.setrecursionlimit(max(sys.getrecursionlimit(), RECURSION_LIMIT))
    old = threading.stack_size()
    threading.stack_size(STACK_BYTES)
    try:
        thread = threading.Thread(target=target, name="strikevm-deep")
        thread.start()
    finally:
        threading.stack_size(old)
    thread.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]
