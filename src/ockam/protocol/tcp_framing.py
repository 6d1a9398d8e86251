"""Sans-IO TCP framing: one version byte ``0x01`` each way, then u32-BE length-prefixed frames.

``FrameReader.receive_data(data)`` returns the complete messages found so far and
raises :class:`ProtocolError` (the connection must then be closed) on a bad version
byte, an oversized length or an undecodable body.
"""

from __future__ import annotations

from ..codec import fast
from ..codec.route import Route
from ..errors import DecodeError, ProtocolError
from .transport_message import TransportMessage

__all__ = ["MAX_FRAME", "PROTOCOL_VERSION", "FrameHeads", "FrameReader", "encode_frame", "frame_head"]

Buffer = bytes | bytearray | memoryview

PROTOCOL_VERSION = 1
VERSION_BYTE = b"\x01"
MAX_FRAME = 16 * 1024 * 1024


def encode_frame(message: TransportMessage) -> bytes:
    body = message.encode()
    if len(body) > MAX_FRAME:
        raise ProtocolError(f"message of {len(body)} bytes exceeds the 16 MiB frame limit")
    return len(body).to_bytes(4, "big") + body


def frame_head(onward: Route, ret: Route, payload_length: int) -> bytes:
    """The bytes of the frame of ``TransportMessage(onward, ret, payload)`` that precede
    the payload (length prefix, array head, routes, byte-string head), for writing the
    payload without copying it: ``frame_head(...) + payload == encode_frame(...)``."""
    head = b"".join(
        (b"\x83", fast.encode_route(onward), fast.encode_route(ret), fast.encode_bytes_head(payload_length))
    )
    size = len(head) + payload_length
    if size > MAX_FRAME:
        raise ProtocolError(f"message of {size} bytes exceeds the 16 MiB frame limit")
    return size.to_bytes(4, "big") + head


class FrameHeads:
    """:func:`frame_head` for the messages of one connection, reusing the encoded routes
    while the same ``Route`` objects come (they do on a data path)."""

    __slots__ = ("_middle", "_onward", "_ret")

    def __init__(self) -> None:
        self._onward: Route | None = None
        self._ret: Route | None = None
        self._middle = b""

    def head(self, onward: Route, ret: Route, payload_length: int) -> bytes:
        """``frame_head(onward.step(), ret, payload_length)``: ``onward`` still starts with
        the connection's own address."""
        if onward is not self._onward or ret is not self._ret:
            self._middle = b"\x83" + fast.encode_route(onward.step()) + fast.encode_route(ret)
            self._onward, self._ret = onward, ret
        length = fast.encode_bytes_head(payload_length)
        size = len(self._middle) + len(length) + payload_length
        if size > MAX_FRAME:
            raise ProtocolError(f"message of {size} bytes exceeds the 16 MiB frame limit")
        return b"".join((size.to_bytes(4, "big"), self._middle, length))


class FrameReader:
    """Incremental reader of one direction of a connection (starting with the version byte).

    Complete frames are decoded straight from the received bytes; only an incomplete
    frame at the end is kept (and completed from the next bytes).
    """

    __slots__ = ("_buf", "_version_seen", "closed")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._version_seen = False
        self.closed = False

    def receive_data(self, data: Buffer) -> list[TransportMessage]:
        """The messages completed by ``data``, which the reader does not keep (it may be
        a view of a buffer that the caller reuses)."""
        if self.closed:
            raise ProtocolError("connection already failed")
        out: list[TransportMessage] = []
        try:
            pos = 0
            if not self._version_seen:
                if not data:
                    return out
                if data[0] != PROTOCOL_VERSION:
                    raise ProtocolError(f"unsupported protocol version {data[0]}")
                self._version_seen = True
                pos = 1
            buf = self._buf
            if buf:
                pos = self._complete(data, pos, out)
                if buf:
                    return out
            size = len(data)
            while size - pos >= 4:
                length = int.from_bytes(data[pos : pos + 4], "big")
                if length > MAX_FRAME:
                    raise ProtocolError(f"frame of {length} bytes exceeds the 16 MiB limit")
                end = pos + 4 + length
                if end > size:
                    break
                out.append(_decode(data, pos + 4, end))
                pos = end
            if pos < size:
                buf += memoryview(data)[pos:]
        except ProtocolError:
            self.closed = True
            raise
        return out

    def _complete(self, data: Buffer, pos: int, out: list[TransportMessage]) -> int:
        """Add bytes of ``data`` from ``pos`` to the buffered incomplete frame; decode it
        when it is complete. Returns the position after the bytes taken."""
        buf = self._buf
        if len(buf) < 4:
            take = min(4 - len(buf), len(data) - pos)
            buf += memoryview(data)[pos : pos + take]
            pos += take
            if len(buf) < 4:
                return pos
        length = int.from_bytes(buf[:4], "big")
        if length > MAX_FRAME:
            raise ProtocolError(f"frame of {length} bytes exceeds the 16 MiB limit")
        take = min(4 + length - len(buf), len(data) - pos)
        buf += memoryview(data)[pos : pos + take]
        pos += take
        if len(buf) == 4 + length:
            frame = bytes(buf)
            buf.clear()
            out.append(_decode(frame, 4, len(frame)))
        return pos

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a complete frame."""
        return len(self._buf)


_ONWARD = fast.RouteMemo()
_RETURN = fast.RouteMemo()


def _decode(data: Buffer, start: int, end: int) -> TransportMessage:
    """The message in ``data[start:end]``, copying only the payload in the common case."""
    try:
        if end > start and data[start] == 0x83:
            onward, pos = _ONWARD.decode(data, start + 1)
            ret, pos = _RETURN.decode(data, pos)
            if pos < end:
                span = fast.bytes_span(data, pos)
                if span is not None and span[1] == end:
                    return TransportMessage(onward, ret, bytes(data[span[0] : end]), None)
        return TransportMessage.decode(bytes(data[start:end]))
    except (DecodeError, IndexError) as e:
        raise ProtocolError(f"undecodable frame: {e}") from e
