"""The node control API envelope: ``BARE(Vec<u8>)`` around ``CBOR(header) || CBOR(body)?``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ..codec import bare, cbor
from ..errors import DecodeError

__all__ = [
    "METHODS",
    "NO_BODY",
    "STATUS_NAMES",
    "Request",
    "Response",
    "decode_request",
    "decode_response",
    "encode_error_body",
    "new_id",
]

METHODS = {"GET": 0, "POST": 1, "PUT": 2, "DELETE": 3, "PATCH": 4}
METHOD_NAMES = {v: k for k, v in METHODS.items()}
STATUS_NAMES = {
    200: "Ok",
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    408: "Timeout",
    409: "Conflict",
    500: "InternalServerError",
    501: "NotImplemented",
}
_NO_BODY = object()


def new_id() -> int:
    """A fresh non-zero u32 id."""
    return min(int.from_bytes(os.urandom(4), "big") + 1, 0xFFFFFFFF)


NO_BODY: Any = _NO_BODY


class _Envelope:
    """What requests and responses share: an id, an optional body, the BARE wrapping."""

    id: int
    body: Any

    def _ensure_id(self) -> None:
        if not self.id:
            self.id = new_id()

    @property
    def has_body(self) -> bool:
        return self.body is not _NO_BODY

    def header_cbor(self) -> bytes:
        raise NotImplementedError

    def encode_inner(self) -> bytes:
        """``CBOR(header) || CBOR(body)?``."""
        head = self.header_cbor()
        return head + cbor.encode(self.body) if self.has_body else head

    def encode(self) -> bytes:
        """The routed payload (BARE ``Vec<u8>``)."""
        return bare.encode_data(self.encode_inner())


@dataclass
class Request(_Envelope):
    path: str
    method: str = "GET"
    body: Any = _NO_BODY
    id: int = 0

    def __post_init__(self) -> None:
        self._ensure_id()

    @property
    def segments(self) -> list[str]:
        return self.path.lstrip("/").split("/", 4)

    def header_cbor(self) -> bytes:
        return cbor.encode({1: self.id, 2: self.path, 3: METHODS[self.method], 4: self.has_body})


@dataclass
class Response(_Envelope):
    status: int = 200
    body: Any = _NO_BODY
    re: int = 0
    id: int = 0

    def __post_init__(self) -> None:
        self._ensure_id()

    @property
    def ok(self) -> bool:
        return self.status == 200

    def header_cbor(self) -> bytes:
        return cbor.encode({1: self.id, 2: self.re, 3: self.status, 4: self.has_body})

    def error_message(self) -> str:
        """The message of a non-200 response, as Rust clients show it."""
        body = self.body
        if isinstance(body, str):
            return body
        if isinstance(body, dict) and isinstance(body.get(3), str):
            return str(body[3])
        return "no message defined for this error"


def encode_error_body(message: str, path: str | None = None, method: str | None = None) -> dict[int, Any]:
    body: dict[int, Any] = {}
    if path is not None:
        body[1] = path
    if method is not None:
        body[2] = METHODS[method]
    body[3] = message
    return body


def _unwrap(payload: bytes) -> tuple[dict[Any, Any], bytes, int]:
    inner, _ = bare.decode_data(payload)
    header, pos = cbor.decode_prefix(inner)
    if not isinstance(header, dict):
        raise DecodeError("API header is not a map")
    return header, inner, pos


def decode_request(payload: bytes) -> Request:
    header, inner, pos = _unwrap(payload)
    path = header.get(2)
    if not isinstance(path, str) or not isinstance(header.get(1), int):
        raise DecodeError("invalid API request header")
    method = METHOD_NAMES.get(header.get(3), "")  # type: ignore[arg-type]
    req = Request(path=path, method=method, id=header[1])
    if header.get(4):
        req.body, _ = cbor.decode_prefix(inner, pos)
    return req


def decode_response(payload: bytes) -> Response:
    header, inner, pos = _unwrap(payload)
    if not isinstance(header.get(1), int):
        raise DecodeError("invalid API response header")
    status = header.get(3)
    resp = Response(status=status if isinstance(status, int) else 500, re=header.get(2, 0), id=header[1])
    if header.get(4):
        resp.body, _ = cbor.decode_prefix(inner, pos)
    return resp
