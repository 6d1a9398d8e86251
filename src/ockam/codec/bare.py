"""BARE building blocks used by Ockam: ULEB128 varints, ``data`` and ``string``."""

from __future__ import annotations

from ..errors import DecodeError

__all__ = [
    "decode_data",
    "decode_string",
    "decode_uint",
    "encode_data",
    "encode_string",
    "encode_uint",
]


def encode_uint(value: int) -> bytes:
    if value < 0 or value >= 1 << 64:
        raise ValueError("BARE uint out of range")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_uint(data: bytes, pos: int = 0) -> tuple[int, int]:
    """Read a ULEB128 u64 at ``pos``; return (value, position after it)."""
    value = 0
    shift = 0
    for i in range(10):
        if pos + i >= len(data):
            raise DecodeError("truncated varint")
        byte = data[pos + i]
        if i == 9 and byte != 0x01:
            raise DecodeError("varint overflows u64")
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos + i + 1
        shift += 7
    raise DecodeError("varint overflows u64")  # pragma: no cover (loop always returns)


def encode_data(data: bytes) -> bytes:
    return encode_uint(len(data)) + bytes(data)


def decode_data(data: bytes, pos: int = 0) -> tuple[bytes, int]:
    length, pos = decode_uint(data, pos)
    end = pos + length
    if end > len(data):
        raise DecodeError("truncated BARE data")
    return bytes(data[pos:end]), end


def encode_string(text: str) -> bytes:
    return encode_data(text.encode("utf-8"))


def decode_string(data: bytes, pos: int = 0) -> tuple[str, int]:
    raw, pos = decode_data(data, pos)
    try:
        return raw.decode("utf-8"), pos
    except UnicodeDecodeError as e:
        raise DecodeError("invalid UTF-8 in BARE string") from e
