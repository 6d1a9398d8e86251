"""The routed message: onward route, return route, payload (+ tracing context on the wire)."""

from __future__ import annotations

from dataclasses import dataclass

from ..codec import cbor, fast
from ..codec.route import Route
from ..errors import DecodeError, OckamError

__all__ = ["TransportMessage"]


@dataclass(frozen=True, slots=True)
class TransportMessage:
    """``TcpTransportMessage``: CBOR ``[onward, return, h'payload', ? tracing]``."""

    onward_route: Route
    return_route: Route
    payload: bytes
    tracing_context: str | None = None

    @property
    def is_heartbeat(self) -> bool:
        return not self.onward_route

    def encode(self) -> bytes:
        parts = [
            b"\x84" if self.tracing_context is not None else b"\x83",
            fast.encode_route(self.onward_route),
            fast.encode_route(self.return_route),
            fast.encode_bytes_head(len(self.payload)),
            self.payload,
        ]
        if self.tracing_context is not None:
            parts.append(cbor.encode(self.tracing_context))
        return b"".join(parts)

    @classmethod
    def decode(cls, data: bytes) -> TransportMessage:
        if data[:1] == b"\x83":
            onward, pos = fast.decode_route(data, 1)
            ret, pos = fast.decode_route(data, pos)
            payload, pos = fast.decode_bytes(data, pos)
            if pos == len(data):
                return cls(onward, ret, payload, None)
        return cls._decode_generic(data)

    @classmethod
    def _decode_generic(cls, data: bytes) -> TransportMessage:
        try:
            obj = cbor.decode(data)
        except OckamError:
            raise
        except Exception as e:  # defensive: never let a parser bug escape as non-Ockam
            raise DecodeError(f"invalid transport message: {e}") from e
        if not isinstance(obj, list) or len(obj) < 3 or not isinstance(obj[2], bytes):
            raise DecodeError("invalid transport message")
        tracing = obj[3] if len(obj) > 3 else None
        if tracing is not None and not isinstance(tracing, str):
            raise DecodeError("invalid transport message: tracing context is not text")
        return cls(Route.from_cbor(obj[0]), Route.from_cbor(obj[1]), obj[2], tracing)
