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

__all__ = ["RouteMemo", "bytes_span", "decode_bytes", "decode_route", "encode_bytes_head", "encode_route"]

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


def _head(data: bytes | bytearray | memoryview, pos: int, major: int) -> tuple[int, int] | None:
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


_ROUTE_CACHE: dict[bytes, Route] = {}


def decode_route(data: bytes | bytearray | memoryview, pos: int) -> tuple[Route, int]:
    end = _route_end(data, pos)
    if end < 0:  # an unusual shape: the generic decoder
        obj, end = cbor.decode_prefix(data, pos)
        return Route.from_cbor(obj), end
    # The routes of a flow repeat in every message: decode each one once.
    key = bytes(data[pos:end])
    route = _ROUTE_CACHE.get(key)
    if route is None:
        route = _decode_route(data, pos)
        if len(_ROUTE_CACHE) >= _CACHE_LIMIT:
            _ROUTE_CACHE.clear()
        _ROUTE_CACHE[key] = route
    return route, end


def _route_end(data: bytes | bytearray | memoryview, pos: int) -> int:
    """Where the route encoded at ``pos`` ends (-1 for a shape that :func:`_decode_route`
    does not read: wide heads, other types, a transport type above 255)."""
    size = len(data)
    if pos >= size:
        raise DecodeError("truncated CBOR")
    b = data[pos]
    if not 0x80 <= b <= 0x98:
        return -1
    p = pos + 1
    if b == 0x98:
        if p >= size:
            return -1
        count = data[p]
        p += 1
    else:
        count = b - 0x80
    for _ in range(count):
        if p + 2 >= size or data[p] != 0x82:
            return -1
        t = data[p + 1]
        if t <= 0x17:
            p += 2
        elif t == 0x18:
            p += 3
        else:
            return -1
        if p >= size:
            return -1
        h = data[p]
        if 0x40 <= h <= 0x57:
            p += 1 + h - 0x40
        elif h == 0x58 and p + 1 < size:
            p += 2 + data[p + 1]
        elif h == 0x59 and p + 2 < size:
            p += 3 + ((data[p + 1] << 8) | data[p + 2])
        else:
            return -1
        if p > size:
            raise DecodeError("truncated CBOR string")
    return p


def _decode_route(data: bytes | bytearray | memoryview, pos: int) -> Route:
    """The route at ``pos``, whose shape :func:`_route_end` checked."""
    head = _head(data, pos, 4)
    assert head is not None
    count, p = head
    addresses = []
    for _ in range(count):
        tt = _head(data, p + 1, 0)
        assert tt is not None
        ln = _head(data, tt[1], 2)
        assert ln is not None
        end = ln[1] + ln[0]
        addresses.append(Address(tt[0], bytes(data[ln[1] : end])))
        p = end
    return Route(addresses)


class RouteMemo:
    """:func:`decode_route` for one place of a message (say the onward route of a frame),
    remembering the last route read there: while the same encoded route comes again (as
    on a data path), it is recognised by comparing bytes, without parsing.  (A CBOR item
    is self-delimiting: bytes that start with a complete encoding hold that item.)"""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        # (encoded route, route), replaced as one object (threads may share a memo)
        self._last = (b"\xff", Route())  # (0xff is never a route's first byte)

    def decode(self, data: bytes | bytearray | memoryview, pos: int) -> tuple[Route, int]:
        key, route = self._last
        end = pos + len(key)
        if data[pos:end] == key:
            return route, end
        route, end = decode_route(data, pos)
        self._last = (bytes(data[pos:end]), route)
        return route, end


def bytes_span(data: bytes | bytearray | memoryview, pos: int) -> tuple[int, int] | None:
    """``(start, end)`` of the definite byte string whose head is at ``pos`` (None when
    there is none there); raises :class:`DecodeError` when it is truncated."""
    if pos >= len(data):
        raise DecodeError("truncated CBOR")
    b = data[pos]
    if b == 0x59:  # (a 2-byte length: the Payloads of a data path)
        if pos + 3 > len(data):
            raise DecodeError("truncated CBOR")
        start = pos + 3
        end = start + ((data[pos + 1] << 8) | data[pos + 2])
    elif b >> 5 == 2 and (b & 0x1F) < 28:
        length, start = cbor.decode_length(data, pos)
        end = start + length
    else:
        return None
    if end > len(data):
        raise DecodeError("truncated CBOR string")
    return start, end


def decode_bytes(data: bytes, pos: int) -> tuple[bytes, int]:
    span = bytes_span(data, pos)
    if span is not None:
        start, end = span
        return bytes(data[start:end]), end
    value, end = cbor.decode_prefix(data, pos)
    if not isinstance(value, bytes):
        raise DecodeError("expected a CBOR byte string")
    return value, end
