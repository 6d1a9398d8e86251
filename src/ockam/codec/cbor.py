"""Canonical CBOR as Ockam (minicbor 0.24) writes it, and a tolerant reader.

Writing: definite lengths, shortest heads, maps in the order given by the caller
(build them in the order Rust would: ascending field index, or byte order for
BTreeMaps).  Python values map as: ``int`` -> uint/nint, ``bytes`` -> byte string,
``str`` -> text, ``list``/``tuple`` -> array, ``dict`` -> map, ``None`` -> null,
``bool`` -> true/false, ``float`` -> float64, :class:`Raw` -> spliced as is.

Reading accepts definite and indefinite arrays and maps, wider-than-needed
integer heads and rejects indefinite strings, tags and truncated input.
"""

from __future__ import annotations

import struct
from typing import Any

from ..errors import DecodeError

__all__ = ["ByteList", "Raw", "decode", "decode_length", "decode_prefix", "encode", "encode_head"]


class Raw(bytes):
    """Already-encoded CBOR, written verbatim (used for signed data and pass-through)."""


class ByteList(bytes):
    """Bytes written as a CBOR *array of small integers* (Rust ``Vec<u8>`` without bytes attr)."""


def encode_head(major: int, value: int) -> bytes:
    mt = major << 5
    if value < 24:
        return bytes((mt | value,))
    if value < 0x100:
        return bytes((mt | 24, value))
    if value < 0x10000:
        return bytes((mt | 25,)) + value.to_bytes(2, "big")
    if value < 0x100000000:
        return bytes((mt | 26,)) + value.to_bytes(4, "big")
    if value < 0x10000000000000000:
        return bytes((mt | 27,)) + value.to_bytes(8, "big")
    raise ValueError("integer too large for CBOR")


def _enc(value: Any, out: list[bytes]) -> None:
    if isinstance(value, Raw):
        out.append(bytes(value))
    elif value is None:
        out.append(b"\xf6")
    elif value is True:
        out.append(b"\xf5")
    elif value is False:
        out.append(b"\xf4")
    elif isinstance(value, int):
        if value >= 0:
            out.append(encode_head(0, value))
        else:
            out.append(encode_head(1, -1 - value))
    elif isinstance(value, ByteList):
        out.append(encode_head(4, len(value)))
        for b in value:
            out.append(encode_head(0, b))
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        out.append(encode_head(2, len(data)))
        out.append(data)
    elif isinstance(value, str):
        data = value.encode("utf-8")
        out.append(encode_head(3, len(data)))
        out.append(data)
    elif isinstance(value, (list, tuple)):
        out.append(encode_head(4, len(value)))
        for item in value:
            _enc(item, out)
    elif isinstance(value, dict):
        out.append(encode_head(5, len(value)))
        for k, v in value.items():
            _enc(k, out)
            _enc(v, out)
    elif isinstance(value, float):
        out.append(b"\xfb" + struct.pack(">d", value))
    else:
        raise TypeError(f"cannot CBOR-encode {type(value).__name__}")


def encode(value: Any) -> bytes:
    """Encode ``value`` in Ockam's canonical CBOR form."""
    out: list[bytes] = []
    _enc(value, out)
    return b"".join(out)


_MAX_DEPTH = 64


def decode_length(data: bytes | bytearray | memoryview, pos: int) -> tuple[int, int]:
    """The argument of the head at ``pos`` and the position after the head."""
    if pos >= len(data):
        raise DecodeError("truncated CBOR")
    return _read_arg(data, pos + 1, data[pos] & 0x1F)


_ARG_SIZES = {24: 1, 25: 2, 26: 4, 27: 8}


def _read_arg(data: bytes | bytearray | memoryview, pos: int, info: int) -> tuple[int, int]:
    if info < 24:
        return info, pos
    size = _ARG_SIZES.get(info)
    if size is None:
        raise DecodeError(f"invalid CBOR additional info {info}")
    end = pos + size
    if end > len(data):
        raise DecodeError("truncated CBOR")
    return int.from_bytes(data[pos:end], "big"), end


def _dec(data: bytes, pos: int, depth: int) -> tuple[Any, int]:
    if depth > _MAX_DEPTH:
        raise DecodeError("CBOR nested too deeply")
    if pos >= len(data):
        raise DecodeError("truncated CBOR")
    initial = data[pos]
    pos += 1
    major, info = initial >> 5, initial & 0x1F
    if major == 7:
        if info == 20:
            return False, pos
        if info == 21:
            return True, pos
        if info in (22, 23):
            return None, pos
        if info == 25:
            if pos + 2 > len(data):
                raise DecodeError("truncated CBOR")
            return struct.unpack(">e", data[pos : pos + 2])[0], pos + 2
        if info == 26:
            if pos + 4 > len(data):
                raise DecodeError("truncated CBOR")
            return struct.unpack(">f", data[pos : pos + 4])[0], pos + 4
        if info == 27:
            if pos + 8 > len(data):
                raise DecodeError("truncated CBOR")
            return struct.unpack(">d", data[pos : pos + 8])[0], pos + 8
        raise DecodeError(f"unsupported CBOR simple value {info}")
    if info == 31:
        if major == 4:
            items: list[Any] = []
            while True:
                if pos >= len(data):
                    raise DecodeError("truncated CBOR")
                if data[pos] == 0xFF:
                    return items, pos + 1
                item, pos = _dec(data, pos, depth + 1)
                items.append(item)
        if major == 5:
            result: dict[Any, Any] = {}
            while True:
                if pos >= len(data):
                    raise DecodeError("truncated CBOR")
                if data[pos] == 0xFF:
                    return result, pos + 1
                key, pos = _dec(data, pos, depth + 1)
                val, pos = _dec(data, pos, depth + 1)
                result[_hashable(key)] = val
        raise DecodeError("indefinite-length CBOR item not accepted")
    arg, pos = _read_arg(data, pos, info)
    if major == 0:
        return arg, pos
    if major == 1:
        return -1 - arg, pos
    if major in (2, 3):
        end = pos + arg
        if end > len(data):
            raise DecodeError("truncated CBOR string")
        chunk = data[pos:end]
        if major == 2:
            return bytes(chunk), end
        try:
            return bytes(chunk).decode("utf-8"), end
        except UnicodeDecodeError as e:
            raise DecodeError("invalid UTF-8 in CBOR text") from e
    if major == 4:
        if arg > len(data) - pos:
            raise DecodeError("truncated CBOR array")
        items = []
        for _ in range(arg):
            item, pos = _dec(data, pos, depth + 1)
            items.append(item)
        return items, pos
    if major == 5:
        if arg > len(data) - pos:
            raise DecodeError("truncated CBOR map")
        result = {}
        for _ in range(arg):
            key, pos = _dec(data, pos, depth + 1)
            val, pos = _dec(data, pos, depth + 1)
            result[_hashable(key)] = val
        return result, pos
    raise DecodeError("CBOR tags are not accepted")


def _hashable(key: Any) -> Any:
    if isinstance(key, list):
        return tuple(_hashable(k) for k in key)
    if isinstance(key, dict):
        raise DecodeError("CBOR map key cannot be a map")
    return key


def decode_prefix(data: bytes | bytearray | memoryview, pos: int = 0) -> tuple[Any, int]:
    """Decode one CBOR item starting at ``pos``; return it and the position after it."""
    return _dec(bytes(data) if not isinstance(data, bytes) else data, pos, 0)


def decode(data: bytes) -> Any:
    """Decode exactly one CBOR item; trailing bytes are an error."""
    value, end = decode_prefix(data)
    if end != len(data):
        raise DecodeError("trailing bytes after CBOR item")
    return value
