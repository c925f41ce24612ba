"""JSON-RPC error codes and the mapping from node errors to them (as geth and anvil answer).

| code | meaning |
| --- | --- |
| -32700 | parse error: the body is not JSON |
| -32600 | invalid request: not a request object, empty batch, body too large |
| -32601 | method not found |
| -32602 | invalid params (including undecodable raw transactions) |
| -32603 | internal error |
| -32000 | the request was understood and refused (geth's messages: "nonce too low", ...) |
| -32000 | also ``execution aborted (timeout = 5s)``: a call, estimate or trace ran past the limit |
| -32003 | response too large (the rest of a batch past the response size limit) |
| -32005 | limit exceeded (eth_getLogs) |
| 3 | execution reverted; ``data`` holds the revert data |
"""

from __future__ import annotations

from typing import Any

from strikevm.chain import node as N

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_ERROR = -32000
LIMIT_EXCEEDED = -32005
RESPONSE_TOO_LARGE = -32003
EXECUTION_REVERTED = 3


class ExecutionTimeout(BaseException):  # noqa: N818 - geth's "execution aborted"
    """Raised asynchronously in a call thread whose request ran past the time limit.

    A BaseException, so that the EVM's ``except Exception`` boundaries (native
    contracts, precompiles) let it through and the whole request unwinds; the
    request's scratch state is simply dropped.
    """


def go_duration(seconds: float) -> str:
    """A duration as Go prints it (``5s``, ``1.5s``, ``500ms``), for geth's messages."""
    if seconds >= 1:
        text = f"{seconds:.3f}".rstrip("0").rstrip(".")
        return text + "s"
    millis = seconds * 1000
    if millis >= 1:
        return f"{millis:.3f}".rstrip("0").rstrip(".") + "ms"
    return f"{seconds * 1e6:.0f}µs"


def timeout_error(seconds: float) -> RpcError:
    """geth's answer for a call past ``--rpc-evm-timeout``."""
    return RpcError(SERVER_ERROR, f"execution aborted (timeout = {go_duration(seconds)})")


class RpcError(Exception):
    """An error answer: code, message and optional data."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            out["data"] = self.data
        return out


class InvalidParams(RpcError):
    def __init__(self, message: str) -> None:
        super().__init__(INVALID_PARAMS, message)


def from_node_error(exc: N.NodeError) -> RpcError:
    """The JSON-RPC error for a node error."""
    if isinstance(exc, N.ExecutionReverted):
        return RpcError(EXECUTION_REVERTED, str(exc), "0x" + exc.data.hex())
    if isinstance(exc, N.DecodeFailed):
        return RpcError(INVALID_PARAMS, str(exc))
    if isinstance(exc, N.LimitExceeded):
        return RpcError(LIMIT_EXCEEDED, str(exc))
    if isinstance(exc, N.InternalError):
        return RpcError(INTERNAL_ERROR, str(exc))
    return RpcError(SERVER_ERROR, str(exc))
