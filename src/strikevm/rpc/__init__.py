"""JSON-RPC server of the dev node: HTTP and WebSocket transport, methods, tracing, metrics."""
