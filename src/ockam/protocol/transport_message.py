"""The routed message: onward route, return route, payload (+ tracing context on the wire)."""

from __future__ import annotations

from dataclasses import dataclass

from ..codec import cbor
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
        items: list[object] = [
            self.onward_route.to_cbor(),
            self.return_route.to_cbor(),
            self.payload,
        ]
        if self.tracing_context is not None:
            items.append(self.tracing_context)
        return cbor.encode(items)

    @classmethod
    def decode(cls, data: bytes) -> TransportMessage:
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
