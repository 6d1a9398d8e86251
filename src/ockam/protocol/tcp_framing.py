"""Sans-IO TCP framing: one version byte ``0x01`` each way, then u32-BE length-prefixed frames.

``FrameReader.receive_data(data)`` returns the complete messages found so far and
raises :class:`ProtocolError` (the connection must then be closed) on a bad version
byte, an oversized length or an undecodable body.
"""

from __future__ import annotations

from ..errors import DecodeError, ProtocolError
from .transport_message import TransportMessage

__all__ = ["MAX_FRAME", "PROTOCOL_VERSION", "FrameReader", "encode_frame"]

PROTOCOL_VERSION = 1
VERSION_BYTE = b"\x01"
MAX_FRAME = 16 * 1024 * 1024


def encode_frame(message: TransportMessage) -> bytes:
    body = message.encode()
    if len(body) > MAX_FRAME:
        raise ProtocolError(f"message of {len(body)} bytes exceeds the 16 MiB frame limit")
    return len(body).to_bytes(4, "big") + body


class FrameReader:
    """Incremental reader of one direction of a connection (starting with the version byte)."""

    __slots__ = ("_buf", "_version_seen", "closed")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._version_seen = False
        self.closed = False

    def receive_data(self, data: bytes) -> list[TransportMessage]:
        if self.closed:
            raise ProtocolError("connection already failed")
        self._buf += data
        out: list[TransportMessage] = []
        buf = self._buf
        pos = 0
        try:
            if not self._version_seen:
                if not buf:
                    return out
                if buf[0] != PROTOCOL_VERSION:
                    raise ProtocolError(f"unsupported protocol version {buf[0]}")
                self._version_seen = True
                pos = 1
            while len(buf) - pos >= 4:
                length = int.from_bytes(buf[pos : pos + 4], "big")
                if length > MAX_FRAME:
                    raise ProtocolError(f"frame of {length} bytes exceeds the 16 MiB limit")
                end = pos + 4 + length
                if len(buf) < end:
                    break
                try:
                    out.append(TransportMessage.decode(bytes(buf[pos + 4 : end])))
                except DecodeError as e:
                    raise ProtocolError(f"undecodable frame: {e}") from e
                pos = end
        except ProtocolError:
            self.closed = True
            raise
        finally:
            if pos:
                del buf[:pos]
        return out

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a complete frame."""
        return len(self._buf)
