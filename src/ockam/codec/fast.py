"""Fast paths for the CBOR shapes on the data path: routes and byte strings.

The generic :mod:`ockam.codec.cbor` encoder/decoder walks Python objects; a routed
message needs only routes (arrays of ``[u8, bytes]``) and byte strings, so these
functions build and parse those bytes directly.  They produce exactly the canonical
bytes of the generic encoder (checked by the tests) and accept what it accepts for
these shapes; anything unusual (wide heads, indefinite arrays) falls back to it.
"""

from __future__ import annotations

from ..errors import DecodeError
from . import cbor
from .address import Address
from .route import Route

__all__ = ["decode_bytes", "decode_route", "encode_bytes_head", "encode_route"]

_ADDRESS_CACHE: dict[Address, bytes] = {}
_CACHE_LIMIT = 4096


def encode_bytes_head(length: int) -> bytes:
    return cbor.encode_head(2, length)


def _encode_address(address: Address) -> bytes:
    encoded = _ADDRESS_CACHE.get(address)
    if encoded is None:
        encoded = (
            b"\x82"
            + cbor.encode_head(0, address.transport_type)
            + cbor.encode_head(2, len(address.value))
            + address.value
        )
        if len(_ADDRESS_CACHE) >= _CACHE_LIMIT:
            _ADDRESS_CACHE.clear()
        _ADDRESS_CACHE[address] = encoded
    return encoded


def encode_route(route: Route) -> bytes:
    addresses = route.addresses
    return cbor.encode_head(4, len(addresses)) + b"".join([_encode_address(a) for a in addresses])


def _head(data: bytes, pos: int, major: int) -> tuple[int, int] | None:
    """Read a definite head of ``major`` with a shortest-form argument; None if unusual."""
    if pos >= len(data):
        raise DecodeError("truncated CBOR")
    b = data[pos]
    if b >> 5 != major:
        return None
    info = b & 0x1F
    if info < 24:
        return info, pos + 1
    if info == 24 and pos + 2 <= len(data):
        return data[pos + 1], pos + 2
    if info == 25 and pos + 3 <= len(data):
        return (data[pos + 1] << 8) | data[pos + 2], pos + 3
    return None


def decode_route(data: bytes, pos: int) -> tuple[Route, int]:
    head = _head(data, pos, 4)
    if head is None:
        obj, end = cbor.decode_prefix(data, pos)
        return Route.from_cbor(obj), end
    count, p = head
    addresses = []
    for _ in range(count):
        if p >= len(data) or data[p] != 0x82:
            obj, end = cbor.decode_prefix(data, pos)
            return Route.from_cbor(obj), end
        tt = _head(data, p + 1, 0)
        if tt is None or tt[0] > 255:
            obj, end = cbor.decode_prefix(data, pos)
            return Route.from_cbor(obj), end
        ln = _head(data, tt[1], 2)
        if ln is None:
            obj, end = cbor.decode_prefix(data, pos)
            return Route.from_cbor(obj), end
        end = ln[1] + ln[0]
        if end > len(data):
            raise DecodeError("truncated CBOR string")
        addresses.append(Address(tt[0], bytes(data[ln[1] : end])))
        p = end
    return Route(addresses), p


def decode_bytes(data: bytes, pos: int) -> tuple[bytes, int]:
    if pos >= len(data):
        raise DecodeError("truncated CBOR")
    b = data[pos]
    if b >> 5 == 2 and (b & 0x1F) < 28:
        length, start = cbor.decode_length(data, pos)
        end = start + length
        if end > len(data):
            raise DecodeError("truncated CBOR string")
        return bytes(data[start:end]), end
    value, end = cbor.decode_prefix(data, pos)
    if not isinstance(value, bytes):
        raise DecodeError("expected a CBOR byte string")
    return value, end
