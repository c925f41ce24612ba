"""Hex string conversions used at the edges (fixtures, RPC, CLI)."""


class HexError(ValueError):
    """A string is not valid hex for the expected kind of value."""


def strip0x(text: str) -> str:
    return text[2:] if text[:2] in ("0x", "0X") else text


def hex_to_bytes(text: str) -> bytes:
    body = strip0x(text)
    if len(body) % 2:
        body = "0" + body
    try:
        return bytes.fromhex(body)
    except ValueError as exc:
        raise HexError(f"invalid hex bytes: {text[:40]!r}") from exc


def hex_to_int(text: str) -> int:
    body = strip0x(text)
    if body == "":
        return 0
    try:
        return int(body, 16)
    except ValueError as exc:
        raise HexError(f"invalid hex number: {text[:40]!r}") from exc


def to_hex(data: bytes) -> str:
    return "0x" + data.hex()
