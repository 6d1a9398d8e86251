"""Synchronous client of a node's control API (``_internal.nodemanager``).

Plain blocking sockets, no asyncio: one TCP connection per request, as the Rust CLI
does.  The request travels with onward route ``[0#_internal.nodemanager]`` and a fresh
return route ``[0#<32 hex>]``; the reply is the first frame addressed to that return
address.
"""

from __future__ import annotations

import os
import re
import socket
import time
from typing import TYPE_CHECKING, Any

from ..codec.address import Address
from ..codec.route import Route
from ..errors import ApiError, DecodeError, NotFound, ProtocolError, TimeoutError_, TransportError
from ..protocol.api_wire import NO_BODY, Request, Response, decode_response
from ..protocol.tcp_framing import VERSION_BYTE, FrameReader, encode_frame
from ..protocol.transport_message import TransportMessage

if TYPE_CHECKING:
    from ..state import State

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "NODEMANAGER_ADDR",
    "NodeClient",
    "default_timeout",
    "parse_duration",
    "send_request",
]

NODEMANAGER_ADDR = "_internal.nodemanager"
DEFAULT_TIMEOUT_S = 120.0
_NO_BODY: Any = NO_BODY
_DURATION = re.compile(r"(?P<n>[0-9]+)(?P<unit>d|h|m|s|ms)?$")
_UNITS = {None: 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """Seconds from ``"10"``, ``"500ms"``, ``"5s"``, ``"2m"``, ``"1h"``, ``"1d"``."""
    match = _DURATION.search(text.strip())
    if match is None:
        raise DecodeError("Invalid duration.")
    return int(match.group("n")) * _UNITS[match.group("unit")]


def default_timeout() -> float:
    """``OCKAM_DEFAULT_TIMEOUT`` in seconds, else 120 s."""
    text = os.environ.get("OCKAM_DEFAULT_TIMEOUT")
    if not text:
        return DEFAULT_TIMEOUT_S
    try:
        return parse_duration(text)
    except DecodeError:
        return DEFAULT_TIMEOUT_S


def _split_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise TransportError(f"invalid socket address {address!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def send_request(
    address: str,
    request: Request,
    timeout: float | None = None,
    *,
    node_name: str | None = None,
) -> Response:
    """Send one API request to the node listening at ``address`` (``host:port``)."""
    timeout = default_timeout() if timeout is None else timeout
    deadline = time.monotonic() + timeout
    who = f"node {node_name} at {address}" if node_name else address
    host, port = _split_address(address)
    reply_to = Address.random_local()
    message = TransportMessage(
        onward_route=Route([Address.local(NODEMANAGER_ADDR)]),
        return_route=Route([reply_to]),
        payload=request.encode(),
    )
    try:
        sock = socket.create_connection((host, port), timeout=max(0.001, min(timeout, 10.0)))
    except TimeoutError as e:
        raise TimeoutError_(f"Failed to connect to {who}: timed out") from e
    except OSError as e:
        reason = e.strerror or str(e)
        raise TransportError(f"Failed to connect to {who}: {reason.lower()}") from e
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        sock.sendall(VERSION_BYTE + encode_frame(message))
        reader = FrameReader()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError_(f"Timed out waiting for a reply from {who} to {request.path}")
            sock.settimeout(remaining)
            try:
                data = sock.recv(65536)
            except TimeoutError as e:
                raise TimeoutError_(f"Timed out waiting for a reply from {who} to {request.path}") from e
            if not data:
                raise TransportError(f"The connection to {who} was closed before a reply to {request.path}")
            for msg in reader.receive_data(data):
                if msg.is_heartbeat or reply_to not in msg.onward_route.addresses:
                    continue
                return decode_response(msg.payload)
    except OSError as e:
        raise TransportError(f"Connection to {who} failed: {e.strerror or e}") from e
    except ProtocolError as e:
        raise TransportError(f"Invalid reply from {who}: {e}") from e
    finally:
        try:
            sock.close()
        except OSError:
            pass


class NodeClient:
    """A client bound to one node (name and API socket address)."""

    def __init__(self, node_name: str, address: str, timeout: float | None = None) -> None:
        self.node_name = node_name
        self.address = address
        self.timeout = default_timeout() if timeout is None else timeout

    @classmethod
    def for_node(cls, state: State, name: str | None, timeout: float | None = None) -> NodeClient:
        """The client of node ``name`` (the default node if None), from the local state."""
        node = state.node_or_default(name)
        if not node.tcp_listener_address:
            raise NotFound(f"an api transport should have been started for node {node.name}")
        return cls(node.name, node.tcp_listener_address, timeout)

    def request(self, method: str, path: str, body: Any = _NO_BODY, timeout: float | None = None) -> Response:
        req = Request(path=path, method=method, body=body)
        return send_request(
            self.address, req, self.timeout if timeout is None else timeout, node_name=self.node_name
        )

    def ask(self, method: str, path: str, body: Any = _NO_BODY, timeout: float | None = None) -> Any:
        """The body of a 200 reply; non-200 raises :class:`ApiError`."""
        resp = self.request(method, path, body, timeout)
        if not resp.ok:
            raise ApiError(resp.error_message(), resp.status)
        if not resp.has_body:
            raise ApiError("expected a message body, got nothing", resp.status)
        return resp.body

    def tell(self, method: str, path: str, body: Any = _NO_BODY, timeout: float | None = None) -> None:
        """Succeed on 200 (any body is ignored); non-200 raises :class:`ApiError`."""
        resp = self.request(method, path, body, timeout)
        if not resp.ok:
            raise ApiError(resp.error_message(), resp.status)

    def found(self, method: str, path: str, body: Any = _NO_BODY, timeout: float | None = None) -> Any:
        """Like :meth:`ask`, but a 404 reply gives None."""
        resp = self.request(method, path, body, timeout)
        if resp.status == 404:
            return None
        if not resp.ok:
            raise ApiError(resp.error_message(), resp.status)
        if not resp.has_body:
            raise ApiError("expected a message body, got nothing", resp.status)
        return resp.body
