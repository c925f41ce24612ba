"""JSON-RPC error codes and the mapping from node errors to them (as geth and anvil answer).

| code | meaning |
| --- | --- |
| -32700 | parse error: the body is not JSON |
| -32600 | invalid request: not a request object, empty batch, body too large |
| -32601 | method not found |
| -32602 | invalid params (including undecodable raw transactions) |
| -32603 | internal error |
| -32000 | the request was understood and refused (geth's messages: "nonce too low", ...) |
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
EXECUTION_REVERTED = 3


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
