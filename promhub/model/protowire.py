"""Protocol Buffers wire format primitives shared by promhub's hand-written codecs.

remote_write/remote_read, OTLP's error bodies and the Pushgateway's protobuf bodies are
read and written by hand where the generic protobuf library would make per-field Python
objects (see MEASUREMENTS.md); these are the few primitives they share. The hot
remote_write path uses the compiled scanner in :mod:`promhub.ingest.writerequest` instead.
"""

from __future__ import annotations

__all__ = ["WireError", "encode_varint", "fields", "len_field", "read_varint"]

#: Wire types: VARINT, I64 (fixed64/double), LEN (bytes, strings, messages), I32.
VARINT, I64, LEN, I32 = 0, 1, 2, 5


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message; the text says what and where."""


def encode_varint(n: int) -> bytes:
    """Base-128 varint; a negative int64 is ten bytes of its two's complement."""
    n &= 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def len_field(field: int, payload: bytes) -> bytes:
    """A length-delimited field: tag, length, payload."""
    return encode_varint(field << 3 | LEN) + encode_varint(len(payload)) + payload


def read_varint(buf: bytes, pos: int, end: int | None = None) -> tuple[int, int]:
    """The varint at ``buf[pos]`` and the position after it."""
    stop = len(buf) if end is None else end
    result = shift = 0
    while True:
        if pos >= stop or shift > 63:
            raise WireError("malformed protobuf: truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def fields(buf: bytes, pos: int = 0, end: int | None = None) -> list[tuple[int, int, int, int]]:
    """``(field, wire type, a, b)`` for each field of the message in ``buf[pos:end]``:
    varints give ``(value, 0)``, length-delimited fields ``(start, stop)``, fixed64 and
    fixed32 ``(offset, offset + size)``."""
    stop = len(buf) if end is None else end
    out: list[tuple[int, int, int, int]] = []
    while pos < stop:
        key, pos = read_varint(buf, pos, stop)
        field, wt = key >> 3, key & 7
        if wt == VARINT:
            v, pos = read_varint(buf, pos, stop)
            out.append((field, VARINT, v, 0))
            continue
        if wt == LEN:
            n, pos = read_varint(buf, pos, stop)
        elif wt == I64:
            n = 8
        elif wt == I32:
            n = 4
        else:
            raise WireError(f"malformed protobuf: wire type {wt}")
        if pos + n > stop:
            raise WireError("malformed protobuf: length past the end of the message")
        out.append((field, wt, pos, pos + n))
        pos += n
    return out
