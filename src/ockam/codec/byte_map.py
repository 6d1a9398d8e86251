"""Attribute maps as Rust writes a ``BTreeMap<Vec<u8>, Vec<u8>>`` without a bytes annotation.

Such a map is CBOR whose keys and values are **arrays of small integers**, not byte
strings (encoding.md §1.6), in ascending byte order of the keys.  It is the form of
``AttributesEntry.attributes`` on the wire and of the ``attributes`` columns of the
``identity_attributes`` and ``authority_member`` tables.  Text maps
(``BTreeMap<String, String>``, e.g. enrollment-token attributes) are plain CBOR text maps.

Reading is tolerant: byte strings are accepted wherever integer arrays are expected.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import DecodeError
from . import cbor
from .cbor import ByteList

__all__ = [
    "byte_map_from_cbor",
    "byte_map_to_cbor",
    "decode_byte_map",
    "decode_text_map",
    "encode_byte_map",
    "encode_text_map",
    "text_map_from_cbor",
]


def byte_map_to_cbor(attributes: Mapping[bytes, bytes]) -> dict[Any, Any]:
    """The CBOR-shaped value (keys sorted, keys and values as integer arrays)."""
    return {ByteList(k): ByteList(v) for k, v in sorted(attributes.items())}


def _as_bytes(obj: Any, what: str) -> bytes:
    if isinstance(obj, bytes):
        return obj
    if isinstance(obj, (list, tuple)) and all(
        isinstance(b, int) and not isinstance(b, bool) and 0 <= b <= 255 for b in obj
    ):
        return bytes(obj)
    raise DecodeError(f"invalid attribute {what}: expected bytes")


def byte_map_from_cbor(obj: Any) -> dict[bytes, bytes]:
    if not isinstance(obj, dict):
        raise DecodeError("invalid attributes: expected a map")
    return dict(sorted((_as_bytes(k, "name"), _as_bytes(v, "value")) for k, v in obj.items()))


def encode_byte_map(attributes: Mapping[bytes, bytes]) -> bytes:
    return cbor.encode(byte_map_to_cbor(attributes))


def decode_byte_map(data: bytes) -> dict[bytes, bytes]:
    return byte_map_from_cbor(cbor.decode(data))


def text_map_from_cbor(obj: Any) -> dict[str, str]:
    if obj is None:
        return {}
    if not isinstance(obj, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in obj.items()
    ):
        raise DecodeError("invalid attributes: expected a map of text to text")
    return dict(sorted(obj.items()))


def encode_text_map(attributes: Mapping[str, str]) -> bytes:
    return cbor.encode(dict(sorted(attributes.items())))


def decode_text_map(data: bytes) -> dict[str, str]:
    return text_map_from_cbor(cbor.decode(data))
