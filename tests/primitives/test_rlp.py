"""RLP: the official RLPTests fixtures plus edge cases of the strict decoder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from strikevm.primitives.rlp import (
    MAX_NESTING,
    RLPError,
    decode,
    decode_uint,
    encode,
    uint_bytes,
)

RLP_FILES = ("rlptest.json", "invalidRLPTest.json", "RandomRLPTests/example.json")


def _load_cases(conformance: Path) -> list[tuple[str, Any, bytes]]:
    cases: list[tuple[str, Any, bytes]] = []
    for rel in RLP_FILES:
        path = conformance / "rlp_tests" / rel
        with path.open() as fh:
            data = json.load(fh)
        for name, case in data.items():
            out = case["out"]
            hex_text = out[2:] if out.lower().startswith("0x") else out
            cases.append((f"{rel}:{name}", case["in"], bytes.fromhex(hex_text)))
    return cases


def _to_item(value: Any) -> Any:
    """Turn a fixture's ``in`` value into what :func:`encode` accepts."""
    if isinstance(value, list):
        return [_to_item(v) for v in value]
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.startswith("#"):
        return int(value[1:])
    if isinstance(value, str):
        return value.encode("utf-8")
    raise TypeError(f"unexpected fixture value {value!r}")


def _as_decoded(item: Any) -> Any:
    """What :func:`decode` returns for an encoded item (integers become bytes)."""
    if isinstance(item, list):
        return [_as_decoded(v) for v in item]
    if isinstance(item, int):
        return uint_bytes(item)
    return item


def test_rlp_fixture_counts(conformance: Path) -> None:
    cases = _load_cases(conformance)
    assert len(cases) == 55
    assert sum(1 for _, value, _ in cases if value == "INVALID") == 26


def test_rlp_fixtures(conformance: Path) -> None:
    failures: list[str] = []
    for name, value, out in _load_cases(conformance):
        if value == "INVALID":
            try:
                decode(out)
            except RLPError:
                continue
            failures.append(f"{name}: invalid input was accepted")
        elif value == "VALID":
            try:
                item = decode(out)
            except RLPError as exc:
                failures.append(f"{name}: valid input rejected: {exc}")
                continue
            if encode(item) != out:
                failures.append(f"{name}: re-encoding differs")
        else:
            item = _to_item(value)
            if encode(item) != out:
                failures.append(f"{name}: encoding is {encode(item).hex()}, want {out.hex()}")
                continue
            try:
                decoded = decode(out)
            except RLPError as exc:
                failures.append(f"{name}: decoding failed: {exc}")
                continue
            if decoded != _as_decoded(item):
                failures.append(f"{name}: decoding does not round-trip")
    assert not failures, "\n".join(failures)


# ---------------------------------------------------------------- edge cases


@pytest.mark.parametrize(
    ("item", "encoded"),
    [
        (b"", "80"),
        (b"\x00", "00"),
        (b"\x7f", "7f"),
        (b"\x80", "8180"),
        (b"a" * 55, "b7" + "61" * 55),
        (b"a" * 56, "b838" + "61" * 56),
        (b"a" * 256, "b90100" + "61" * 256),
        ([], "c0"),
        ([b""], "c180"),
        ([[], [[]]], "c3c0c1c0"),
        ([b"a" * 54], "f7b6" + "61" * 54),
        ([b"a" * 55], "f838b7" + "61" * 55),
        (0, "80"),
        (127, "7f"),
        (128, "8180"),
        (2**256 - 1, "a0" + "ff" * 32),
    ],
)
def test_encode_boundaries(item: Any, encoded: str) -> None:
    raw = bytes.fromhex(encoded)
    assert encode(item) == raw
    assert decode(raw) == _as_decoded(item)


def test_encode_accepts_bytearray_and_tuple() -> None:
    assert encode(bytearray(b"dog")) == bytes.fromhex("83646f67")
    assert encode((b"a", (b"b",))) == encode([b"a", [b"b"]])


@pytest.mark.parametrize("bad", [-1, True, 1.5, "text", None, {b"a": b"b"}])
def test_encode_rejects_non_items(bad: object) -> None:
    with pytest.raises(RLPError):
        encode(bad)


@pytest.mark.parametrize(
    "raw",
    [
        "",  # nothing at all
        "8100",  # single byte below 0x80 wrapped in a prefix
        "817f",
        "b800",  # long form for a short length
        "b837" + "61" * 55,  # long form with length 55
        "b90037" + "61" * 55,  # long length with a leading zero byte
        "f800",
        "f837" + "80" * 55,
        "83646f",  # string runs past the end
        "c283",  # list item runs past the end
        "c3646f67ff",  # trailing bytes after a list
        "8000",  # trailing bytes after an empty string
        "c4820000",  # list payload shorter than declared
        "b8",  # length prefix missing
        "bb0000",  # length prefix truncated
    ],
)
def test_decode_rejects_non_canonical(raw: str) -> None:
    with pytest.raises(RLPError):
        decode(bytes.fromhex(raw))


def test_decode_nested_and_memoryview() -> None:
    raw = encode([b"cat", [b"dog", []], b""])
    assert decode(memoryview(raw)) == [b"cat", [b"dog", []], b""]


def test_decode_uint() -> None:
    assert decode_uint(b"") == 0
    assert decode_uint(b"\x01\x00") == 256
    assert decode_uint(b"\xff" * 32) == 2**256 - 1
    with pytest.raises(RLPError):
        decode_uint(b"\x00")
    with pytest.raises(RLPError):
        decode_uint(b"\x00\x01")
    with pytest.raises(RLPError):
        decode_uint(b"\x01" * 33)
    with pytest.raises(RLPError):
        decode_uint(b"\x01" * 9, max_bytes=8)
    with pytest.raises(RLPError):
        decode_uint([b"\x01"])


def test_uint_bytes() -> None:
    assert uint_bytes(0) == b""
    assert uint_bytes(1) == b"\x01"
    assert uint_bytes(256) == b"\x01\x00"


def _nested_empty_lists(depth: int) -> bytes:
    raw = b"\xc0"
    for _ in range(depth):
        raw = _wrap_in_list(raw)
    return raw


def _wrap_in_list(payload: bytes) -> bytes:
    n = len(payload)
    if n < 56:
        return bytes((0xC0 + n,)) + payload
    size = uint_bytes(n)
    return bytes((0xF7 + len(size),)) + size + payload


def test_decode_nesting_up_to_the_limit() -> None:
    # _nested_empty_lists(n) holds n + 1 lists, one inside the other
    item = decode(_nested_empty_lists(MAX_NESTING - 1))
    for _ in range(MAX_NESTING - 1):
        assert isinstance(item, list) and len(item) == 1
        item = item[0]
    assert item == []


@pytest.mark.parametrize("depth", [MAX_NESTING, 5_000])
def test_decode_deeper_nesting_is_an_rlp_error(depth: int) -> None:
    with pytest.raises(RLPError, match="nested"):
        decode(_nested_empty_lists(depth))
