"""TCP portal messages and the per-connection portal state machine (sans-IO).

Wire format (raw routing payload, no BARE/CBOR wrapper): one tag byte, ``00`` Ping,
``01`` Pong, ``02`` Disconnect, ``03`` Payload followed by ``uint(len) || data``. A
Payload may be followed by an optional packet counter (flag byte ``01`` then a u16
little-endian); 0.139 never writes it, but a decoder reads it when at least 3 bytes
follow the data. Bytes after a message are ignored.

Connection life cycle (one :class:`PortalConnection` per TCP connection and side):

* inlet: :meth:`~PortalConnection.ping` (sent to the outlet listener) -> wait for Pong
  -> open (start reading the client socket, send to the Pong's return route);
* outlet: created for a received Ping, connects to its target, then
  :meth:`~PortalConnection.pong` (sent to the Ping's return route) -> open;
* open: socket bytes become Payloads (:meth:`~PortalConnection.payloads`), received
  Payloads are written to the socket, Ping/Pong are protocol errors (ignored);
* socket EOF or a write failure: send Disconnect, ignore everything for
  :data:`DISCONNECT_GRACE` seconds, then close; receiving Disconnect (when open) closes
  at once without sending anything; a Payload whose packet counter is not the expected
  one (0, then +1 modulo 2^16) sends Disconnect and closes at once.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..codec import bare
from ..errors import DecodeError, ProtocolError

__all__ = [
    "DISCONNECT_GRACE",
    "INTERNAL_DISCONNECT",
    "MAX_PAYLOAD_SIZE",
    "Close",
    "Data",
    "Disconnect",
    "Ignored",
    "Opened",
    "Payload",
    "Ping",
    "Pong",
    "PortalConnection",
    "PortalEvent",
    "PortalMessage",
    "PortalState",
    "decode_portal_message",
    "encode_portal_message",
    "is_ping",
]

# Largest Payload a sender puts in one message (one socket read); receivers accept more.
MAX_PAYLOAD_SIZE = 48 * 1024

# Seconds a side that started a disconnection waits (ignoring messages) before it stops.
DISCONNECT_GRACE = 2.0

# What a reading processor sends its own connection worker on socket EOF (never on the wire).
INTERNAL_DISCONNECT = b"\x00"

_PING, _PONG, _DISCONNECT, _PAYLOAD = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class Ping:
    pass


@dataclass(frozen=True, slots=True)
class Pong:
    pass


@dataclass(frozen=True, slots=True)
class Disconnect:
    pass


@dataclass(frozen=True, slots=True)
class Payload:
    data: bytes
    counter: int | None = None


PortalMessage = Ping | Pong | Disconnect | Payload


def encode_portal_message(message: PortalMessage, *, with_counter: bool = False) -> bytes:
    """Encode a portal message. The packet counter is written only with ``with_counter``
    (0.139 never writes it, and peers without counter support may choke on it)."""
    if isinstance(message, Ping):
        return bytes((_PING,))
    if isinstance(message, Pong):
        return bytes((_PONG,))
    if isinstance(message, Disconnect):
        return bytes((_DISCONNECT,))
    out = bytes((_PAYLOAD,)) + bare.encode_data(message.data)
    if with_counter:
        if message.counter is None:
            return out + b"\x00"
        if not 0 <= message.counter <= 0xFFFF:
            raise ValueError("portal packet counter must fit in 16 bits")
        return out + b"\x01" + message.counter.to_bytes(2, "little")
    return out


def decode_portal_message(data: bytes) -> PortalMessage:
    """Decode a portal message; raises :class:`DecodeError` for empty input, an unknown
    tag or a truncated Payload."""
    if not data:
        raise DecodeError("empty portal message")
    tag = data[0]
    if tag == _PING:
        return Ping()
    if tag == _PONG:
        return Pong()
    if tag == _DISCONNECT:
        return Disconnect()
    if tag != _PAYLOAD:
        raise DecodeError(f"invalid portal message tag {tag}")
    payload, pos = bare.decode_data(data, 1)
    counter = None
    if len(data) - pos >= 3 and data[pos] == 1:
        counter = int.from_bytes(data[pos + 1 : pos + 3], "little")
    return Payload(payload, counter)


def is_ping(data: bytes) -> bool:
    """What an outlet listener accepts: a Ping (anything else is dropped)."""
    return data[:1] == bytes((_PING,))


# -- connection state machine -----------------------------------------------------------


class PortalState(enum.Enum):
    NEW = "new"
    AWAIT_PONG = "await_pong"  # inlet: Ping sent
    OPEN = "open"
    DISCONNECTING = "disconnecting"  # Disconnect sent, waiting DISCONNECT_GRACE
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Opened:
    """Inlet: the Pong arrived; the caller stores the message's return route as the remote
    route and starts reading the client socket."""


@dataclass(frozen=True, slots=True)
class Data:
    """Bytes to write to the local socket."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Close:
    """Stop: close the socket and the reader. ``disconnect`` is the message to send to the
    remote route first (None when the peer asked for the disconnection)."""

    disconnect: bytes | None = None


@dataclass(frozen=True, slots=True)
class Ignored:
    """A message that does not fit the current state (logged and dropped by Ockam)."""

    reason: str


PortalEvent = Opened | Data | Close | Ignored


class PortalConnection:
    """One side of one portal connection. Feed it received payloads and local socket
    events; it returns what to send and what to do. No I/O and no clock: the caller
    waits :data:`DISCONNECT_GRACE` after a disconnection it started, then calls
    :meth:`closed`."""

    def __init__(self, *, inlet: bool) -> None:
        self.inlet = inlet
        self.state = PortalState.NEW
        self._next_counter = 0

    def ping(self) -> bytes:
        """Inlet: the Ping to send to the outlet listener (from this side's address)."""
        if not self.inlet or self.state is not PortalState.NEW:
            raise ProtocolError("only a new inlet connection sends a Ping")
        self.state = PortalState.AWAIT_PONG
        return encode_portal_message(Ping())

    def pong(self) -> bytes:
        """Outlet: once the target is connected, the Pong to send to the Ping's return route."""
        if self.inlet or self.state is not PortalState.NEW:
            raise ProtocolError("only a new outlet connection sends a Pong")
        self.state = PortalState.OPEN
        return encode_portal_message(Pong())

    def payloads(self, data: bytes) -> list[bytes]:
        """Encoded Payload messages for bytes read from the local socket (split into
        :data:`MAX_PAYLOAD_SIZE` chunks; nothing for empty data or when not open)."""
        if self.state is not PortalState.OPEN:
            return []
        return [
            encode_portal_message(Payload(data[i : i + MAX_PAYLOAD_SIZE]))
            for i in range(0, len(data), MAX_PAYLOAD_SIZE)
        ]

    def local_closed(self) -> bytes | None:
        """The local socket hit EOF or failed to write: the Disconnect to send to the remote
        route (None when there is no remote route yet or already disconnecting)."""
        if self.state is PortalState.OPEN:
            self.state = PortalState.DISCONNECTING
            return encode_portal_message(Disconnect())
        if self.state in (PortalState.NEW, PortalState.AWAIT_PONG):
            self.state = PortalState.CLOSED
        return None

    def closed(self) -> None:
        """The grace period is over (or the caller stopped the connection)."""
        self.state = PortalState.CLOSED

    def receive(self, payload: bytes) -> PortalEvent:
        """Handle a message received on this side's public (``sender_remote``) address."""
        if self.state in (PortalState.DISCONNECTING, PortalState.CLOSED):
            return Ignored(f"connection is {self.state.value}")
        try:
            message = decode_portal_message(payload)
        except DecodeError as e:
            return Ignored(str(e))
        if self.state is PortalState.AWAIT_PONG:
            if isinstance(message, Pong):
                self.state = PortalState.OPEN
                return Opened()
            return Ignored("expected a pong")
        if self.state is not PortalState.OPEN:
            return Ignored("connection is not set up")
        if isinstance(message, Disconnect):
            self.state = PortalState.CLOSED
            return Close()
        if not isinstance(message, Payload):
            return Ignored(f"unexpected {type(message).__name__.lower()} on an open connection")
        if message.counter is not None:
            if message.counter != self._next_counter:  # lost or reordered packets: stop at once
                self.state = PortalState.CLOSED
                return Close(encode_portal_message(Disconnect()))
            self._next_counter = (self._next_counter + 1) & 0xFFFF
        return Data(message.data)
