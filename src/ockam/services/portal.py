"""TCP portals on a node: outlets (listener worker + a TCP connection per Ping) and inlets
(a TCP server whose every accepted client becomes a portal connection).

Wire behaviour (portals.md): the inlet side sends Ping to the outlet listener from its
public address; the outlet connects to its target and only then answers Pong from its
own public address; afterwards each side turns every socket read into Payload messages
(at most :data:`MAX_PAYLOAD_SIZE` bytes each) sent to the route learnt at set-up, and
writes every Payload it receives to its socket. EOF or a socket error sends Disconnect;
a received Disconnect closes the socket (there is no half-close on the wire).

Data path: one :class:`PortalSide` per socket is both the ``asyncio.Protocol`` of the
socket and the node mailbox of the side's public address, so no task or queue sits
between the network and the socket. Back-pressure:

* peer -> socket: when the socket's write buffer passes its high-water mark the side
  parks new messages, in order, up to :data:`PARK_LIMIT` bytes (:data:`PARK_TOTAL` for
  all the node's sides), so that the sender, often a secure channel or TCP connection
  shared with other portal connections, is not held up by one slow client (no
  head-of-line blocking); past that it refuses them (``put_nowait`` returns False), so
  the sender waits and pauses its own source; parked messages are written in order once
  the buffer drains;
* socket -> peer: when the next hop's mailbox is full the side pauses reading its
  socket until that mailbox took every pending Payload.

Access control (abac.md §8): an outlet or inlet may carry an
:class:`~ockam.services.access_control.AccessControl`.  An outlet checks the identity
behind each Ping (from its secure channel) and drops refused ones without an answer; an
inlet checks the outlet side's identity (``TcpInlet.peer``) for each client it accepts.
An open portal connection with an access control checks it for every message it
receives and for every Payload it sends, when the Payload leaves the node through a
secure channel (Rust checks every message too, with a 1 s cache; here the decision is
cached :data:`ACCESS_RECHECK_INTERVAL` seconds), so an expired credential or a changed
policy closes the connection and drops what it still had queued, without telling the
peer that is no longer allowed to receive anything.

Departures from Rust 0.139, all recommended by the spec and invisible on the wire:
an inlet connection whose Pong does not come within ``pong_timeout`` is closed (Rust
waits forever), and a Pong that comes later is answered with Disconnect; an outlet that cannot reach its target answers Disconnect (a Rust
inlet logs and ignores it, a Python inlet closes its client at once); a socket error
(not only EOF) sends Disconnect; a portal connection whose route's TCP connection
closes is closed.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from ..codec import bare
from ..codec.address import Address
from ..codec.route import Route
from ..errors import AlreadyExists, DecodeError, NotFound, OckamError, TransportError
from ..identity import Identifier
from ..node.message import FLOW_CONTROL_ID, LocalMessage
from ..node.runtime import Context, Node, Worker
from ..protocol.portal import (
    DISCONNECT_GRACE,
    MAX_PAYLOAD_SIZE,
    Close,
    Data,
    Disconnect,
    Ignored,
    Opened,
    Pong,
    PortalConnection,
    PortalState,
    encode_portal_message,
    is_ping,
)
from ..transport.tcp import ReadBuffer, TcpTransport, parse_host_port
from .access_control import AccessControl, message_identifier
from .secure_channel import OUTGOING_CHECK

__all__ = [
    "ACCESS_RECHECK_INTERVAL",
    "CONNECT_TIMEOUT",
    "LATE_PONG_WAIT",
    "PARK_LIMIT",
    "PARK_TOTAL",
    "PONG_TIMEOUT",
    "WRITE_HIGH_WATER",
    "WRITE_LOW_WATER",
    "OutletListener",
    "PortalSide",
    "Portals",
    "TcpInlet",
    "TcpOutlet",
]

log = logging.getLogger("ockam.portal")

# Bytes a portal socket may hold in its user-space write buffer before the side refuses
# new Payloads (back-pressure towards the peer), and where it starts accepting again.
WRITE_HIGH_WATER = 4 * MAX_PAYLOAD_SIZE
WRITE_LOW_WATER = MAX_PAYLOAD_SIZE
# Bytes of received messages one portal connection may hold while its client does not
# read, before their senders have to wait, and the same for all the node's connections.
PARK_LIMIT = 2 * 1024 * 1024
PARK_TOTAL = 64 * 1024 * 1024
# Bytes one read of a portal socket may return: a whole number of full Payloads (a read
# as big as the node's buffer would end with a small Payload: more messages per byte).
READ_SIZE = 5 * MAX_PAYLOAD_SIZE
# Seconds an inlet connection waits for the outlet's Pong before closing its client.
PONG_TIMEOUT = 20.0
# Seconds an inlet connection that gave up on its Pong still waits for a late one (to
# answer it with a Disconnect, so that the outlet closes its target connection).
LATE_PONG_WAIT = 60.0
# Seconds an outlet waits for its target to accept a connection.
CONNECT_TIMEOUT = 15.0
# Seconds between two checks of the access control of an open portal connection.
ACCESS_RECHECK_INTERVAL = 1.0

_PAYLOAD_TAG = b"\x03"
_DISCONNECT = encode_portal_message(Disconnect())
_PONG = encode_portal_message(Pong())


_FULL_PAYLOAD_HEAD = _PAYLOAD_TAG + bare.encode_uint(MAX_PAYLOAD_SIZE)


def _payload_message(chunk: bytes | memoryview) -> bytes:
    """``03 || uint(len) || data`` with a single copy of the data."""
    size = len(chunk)
    if size == MAX_PAYLOAD_SIZE:
        return b"".join((_FULL_PAYLOAD_HEAD, chunk))
    return b"".join((_PAYLOAD_TAG, bare.encode_uint(size), chunk))


class PortalSide(asyncio.BufferedProtocol):
    """One side of one portal connection: the socket's protocol and the mailbox of the
    side's public address (``sender_remote``)."""

    def __init__(
        self,
        portals: Portals,
        *,
        inlet: TcpInlet | None = None,
        outlet: TcpOutlet | None = None,
    ) -> None:
        self.portals = portals
        self.node = portals.node
        self.inlet = inlet
        self.outlet = outlet
        self.conn = PortalConnection(inlet=inlet is not None)
        self.address = Address.random_local()
        self._return_route = Route((self.address,))
        self.remote_route: Route | None = None
        self.transport: asyncio.Transport | None = None
        self.generation = inlet.generation if inlet is not None else 0
        # socket -> node: Payloads waiting for room in the next hop's mailbox
        self._outq: collections.deque[LocalMessage] = collections.deque()
        self._sender: asyncio.Task[None] | None = None
        # node -> socket: messages waiting for the socket's write buffer to drain (their
        # size in _parked), and the senders waiting for the backlog to shrink (see put)
        self._backlog: collections.deque[LocalMessage] = collections.deque()
        self._parked = 0
        self._waiters: list[asyncio.Future[None]] = []
        self._refused = 0  # messages refused by put_nowait, not yet given to put
        self._write_blocked = False
        self._backlog_scheduled = False
        self._reading = False
        self._registered = False
        self._pong_timer: asyncio.TimerHandle | None = None
        self._socket_closed = False
        self._abandoned = False  # inlet client gone before the Pong
        self._early: list[bytes] = []  # read before the set-up finished (see data_received)
        self._access: AccessControl | None = None  # checked while open (see guard)
        self._peer: Identifier | None = None
        self._access_timer: asyncio.TimerHandle | None = None
        self._allowed_until = 0.0
        self._is_allowed = True
        self._payload_info: dict[str, Any] | None = None  # local info of guarded Payloads
        # the flow control whose messages may reach this side: an inlet's, that of the first
        # hop of its route; an outlet's, that of the producer the Ping came through
        self.flow_control_id: str | None = None

    # -- state
    @property
    def peer(self) -> str:
        """The socket's remote address as text (for messages: asked only when needed)."""
        transport = self.transport
        return "?" if transport is None else _peer_text(transport.get_extra_info("peername"))

    @property
    def state(self) -> PortalState:
        return self.conn.state

    def buffered_bytes(self) -> int:
        """User-space bytes held for this connection (both directions)."""
        size = sum(len(m.payload) for m in self._outq) + self._parked
        if self.transport is not None and not self._socket_closed:
            size += self.transport.get_write_buffer_size()
        return size

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (uvloop's transports are not asyncio.Transport subclasses, but behave as such)
        self.transport = transport = cast(asyncio.Transport, transport)
        # (asyncio and uvloop set TCP_NODELAY on TCP sockets themselves)
        transport.set_write_buffer_limits(self.portals.write_high, self.portals.write_low)
        # Nothing is read before the connection is set up (the inlet waits for the Pong,
        # the outlet sends its Pong first).
        transport.pause_reading()
        self.portals.sides.add(self)
        inlet = self.inlet
        if inlet is not None:
            route = inlet.route
            if route is None or not self.node.running:
                log.info("inlet %s is not connected to its outlet: closing client %s", inlet.name, self.peer)
                self.conn.local_closed()
                transport.close()
                return
            if inlet.access is not None and not inlet.access.decide(inlet.peer):
                log.info("inlet %s: closing client %s (access refused)", inlet.name, self.peer)
                self.conn.local_closed()
                transport.close()
                return
            producer = self.node.flow_controls.find_producer(route.addresses[0]) if route else None
            if producer is not None:
                self.flow_control_id = producer.flow_control_id
            self._register()
            self.generation = inlet.generation
            inlet.sides.add(self)
            if inlet.access is not None:
                self.guard(inlet.access, inlet.peer)
            ping = self.conn.ping()
            self._pong_timer = self.node.loop.call_later(inlet.pong_timeout, self._pong_timeout)
            self._send(LocalMessage(route, Route((self.address,)), ping))
        else:
            self._register()

    # (a BufferedProtocol: the loop reads into the node's shared buffer, and the bytes are
    # copied once, into the Payloads; a read takes a whole number of full Payloads)
    def get_buffer(self, sizehint: int) -> memoryview:
        return self.portals.read_buffer.view[:READ_SIZE]

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(self.portals.read_buffer.view[:nbytes])

    def data_received(self, data: bytes | memoryview) -> None:
        if self.conn.state is not PortalState.OPEN or self.remote_route is None:
            if self.conn.state in (PortalState.NEW, PortalState.AWAIT_PONG):
                # Some loops (uvloop) start reading after connection_made even though it
                # paused reading: keep the bytes for after the set-up, and pause again.
                self._early.append(bytes(data))
                self._reading = True
                self._set_reading(False)
            return
        self._payloads(data)

    def _payloads(self, data: bytes | memoryview) -> None:
        assert self.remote_route is not None
        route = self.remote_route
        ret = self._return_route  # the same object every time (a secure channel caches its encoding)
        info = self._payload_info
        if info is not None:
            if not self._allowed():
                return
            guarded = memoryview(data)
            for i in range(0, len(data), MAX_PAYLOAD_SIZE):
                chunk = _payload_message(guarded[i : i + MAX_PAYLOAD_SIZE])
                self._send(LocalMessage(route, ret, chunk, info))
            return
        if len(data) <= MAX_PAYLOAD_SIZE:
            self._send(LocalMessage(route, ret, _payload_message(data)))
            return
        view = memoryview(data)
        for i in range(0, len(data), MAX_PAYLOAD_SIZE):
            self._send(LocalMessage(route, ret, _payload_message(view[i : i + MAX_PAYLOAD_SIZE])))

    def eof_received(self) -> bool | None:
        log.debug("portal %s: %s closed its side", self.address, self.peer)
        self._local_closed()
        return None  # close the socket: portals have no half-close

    def pause_writing(self) -> None:
        self._write_blocked = True

    def resume_writing(self) -> None:
        self._write_blocked = False
        if self._backlog and not self._backlog_scheduled:
            # Not from inside the transport's own write callback: a write that fails there
            # would make asyncio report the connection lost twice.
            self._backlog_scheduled = True
            self.node.loop.call_soon(self._write_backlog)

    def _write_backlog(self) -> None:
        self._backlog_scheduled = False
        backlog = self._backlog
        portals = self.portals
        while backlog and not self._write_blocked:
            msg = backlog.popleft()
            size = len(msg.payload)
            self._parked -= size
            portals.parked -= size
            self._handle(msg)
        self._release_waiters()

    def _release_waiters(self) -> None:
        waiters = self._waiters
        while waiters and (self._parked <= self.portals.park_limit or self._socket_closed):
            fut = waiters.pop(0)
            if not fut.done():
                fut.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self._socket_closed = True
        self._write_blocked = False
        if exc is not None:
            log.debug("portal %s: connection to %s lost: %s", self.address, self.peer, exc)
        self._local_closed()  # (sets _abandoned when the client left before the Pong)
        # messages waiting to be written are dropped; release their senders
        self._backlog.clear()
        self.portals.parked -= self._parked
        self._parked = 0
        self._release_waiters()
        if self.inlet is not None:
            self.inlet.sides.discard(self)
        self.portals._forget(self)
        if self._access_timer is not None:
            self._access_timer.cancel()
            self._access_timer = None
        if self._abandoned and self._pong_timer is not None and self.node.running:
            # The client left before the Pong: keep the address until the Pong comes (or
            # the timeout), to tell the outlet to close its target connection.
            self._abandoned = True
            return
        if self._pong_timer is not None:
            self._pong_timer.cancel()
            self._pong_timer = None
        if self.conn.state is PortalState.DISCONNECTING and self.node.running:
            # Keep the address for the grace period so that in-flight messages are
            # swallowed quietly instead of being reported as undeliverable.
            self.node.loop.call_later(DISCONNECT_GRACE, self._finish)
        else:
            self._finish()

    # -- Mailbox: messages from the peer
    #
    # Messages that cannot be written at once (the client reads slower than the peer
    # sends) are parked here, up to Portals.park_limit bytes per connection and
    # Portals.park_total for the node, rather than making their sender wait: the sender
    # is often a secure channel or TCP connection shared by other portal connections, and
    # making it wait would stall them all (head-of-line blocking; a client that waits for
    # another connection's data before reading this one would deadlock). Past the limits
    # the sender waits (back-pressure), so memory stays bounded.
    def put_nowait(self, msg: LocalMessage) -> bool:
        if self._write_blocked or self._backlog or self._refused:
            size = len(msg.payload)
            if self._refused or not self._has_room(size):
                # refused: the sender calls put(msg); until it does, later messages (a
                # smaller one would fit) are refused too, to keep the order
                self._refused += 1
                return False
            self._park(msg, size)
            return True
        self._handle(msg)
        return True

    async def put(self, msg: LocalMessage) -> None:
        if self._refused:
            self._refused -= 1
        if not self._write_blocked and not self._backlog:
            self._handle(msg)
            return
        if self._socket_closed:
            return
        self._park(msg, len(msg.payload))
        if self._has_room(0):
            return
        fut: asyncio.Future[None] = self.node.loop.create_future()
        self._waiters.append(fut)
        await fut

    def _has_room(self, size: int) -> bool:
        """Whether ``size`` more parked bytes stay within this side's and the node's limits."""
        portals = self.portals
        return self._parked + size <= portals.park_limit and portals.parked + size <= portals.park_total

    def _park(self, msg: LocalMessage, size: int) -> None:
        self._backlog.append(msg)
        self._parked += size
        self.portals.parked += size
        if not self._write_blocked and not self._backlog_scheduled:
            self._backlog_scheduled = True
            self.node.loop.call_soon(self._write_backlog)

    def _handle(self, msg: LocalMessage) -> None:
        if self._access is not None and not self._allowed():
            return  # refused (see guard)
        if len(msg.onward_route) != 1:
            log.warning("portal %s: dropping a message with unknown route %s", self.address, msg.onward_route)
            return
        payload = msg.payload
        if payload[:1] == _PAYLOAD_TAG and self.conn.state is PortalState.OPEN and not self._abandoned:
            # The data path: write the Payload's data without decoding it into new objects
            # (nor copying it); a Payload with a packet counter takes the full path below.
            try:
                length, start = bare.decode_uint(payload, 1)
            except DecodeError:
                length, start = -1, 0
            end = start + length
            if length >= 0 and end <= len(payload) and (len(payload) - end < 3 or payload[end] != 1):
                transport = self.transport
                if transport is not None and not self._socket_closed and not transport.is_closing():
                    transport.write(memoryview(payload)[start:end])
                return
        if self._abandoned:
            if payload[:1] == _PONG and msg.return_route:
                self._abandoned = False
                if self._pong_timer is not None:
                    self._pong_timer.cancel()
                    self._pong_timer = None
                self._finish()
                self._deliver_quietly(LocalMessage(msg.return_route, Route((self.address,)), _DISCONNECT))
            return
        if self.conn.state is PortalState.AWAIT_PONG and payload[:1] == _DISCONNECT:
            # A Python outlet that cannot reach its target says so (Rust stays silent).
            log.warning(
                "inlet %s: the outlet could not connect to its target; closing client %s",
                self.inlet.name if self.inlet else "?",
                self.peer,
            )
            self.conn.closed()
            self._close_socket()
            return
        event = self.conn.receive(payload)
        if isinstance(event, Data):
            transport = self.transport
            if transport is not None and not self._socket_closed and not transport.is_closing():
                transport.write(event.data)
        elif isinstance(event, Opened):
            if self._pong_timer is not None:
                self._pong_timer.cancel()
                self._pong_timer = None
            self.open(msg.return_route)
        elif isinstance(event, Close):
            if event.disconnect is not None and self.remote_route is not None:
                log.warning("portal %s: packet counter mismatch, disconnecting", self.address)
                self._send(LocalMessage(self.remote_route, Route((self.address,)), event.disconnect))
            self._close_socket()
        elif isinstance(event, Ignored):
            if self.conn.state in (PortalState.DISCONNECTING, PortalState.CLOSED):
                log.debug("portal %s: ignoring a message: %s", self.address, event.reason)
            else:
                log.warning("portal %s: protocol error: %s", self.address, event.reason)

    # -- life cycle
    def open(self, remote_route: Route, pong: bytes | None = None) -> None:
        """The connection is set up: remember the peer's route, send the outlet's ``pong``
        and start reading the socket."""
        self.remote_route = remote_route
        if pong is not None:
            self._send(LocalMessage(remote_route, Route((self.address,)), pong))
        if self.conn.state is not PortalState.OPEN:
            return
        early, self._early = self._early, []
        for data in early:
            self._payloads(data)
        self.portals._watch(self)
        if self._sender is None:
            self._set_reading(True)

    def _register(self) -> None:
        self.node.register([self.address], self)
        if self.flow_control_id is not None:
            self.node.flow_controls.add_consumer(self.address, self.flow_control_id)
        self._registered = True

    def guard(self, access: AccessControl, peer: Identifier | None) -> None:
        """Let this connection serve ``peer`` only while ``access`` allows it (abac.md §8):
        every message received, and every Payload when it leaves the node through a
        secure channel (so that what is still queued when the access ends is dropped), is
        checked, the decision being cached :data:`ACCESS_RECHECK_INTERVAL` seconds; a
        timer re-checks idle connections.  A refusal closes the connection."""
        self._access, self._peer = access, peer
        self._allowed_until = 0.0
        self._payload_info = {OUTGOING_CHECK: self._allowed}
        if self._access_timer is None and not self._socket_closed:
            self._access_timer = self.node.loop.call_later(ACCESS_RECHECK_INTERVAL, self._recheck_access)

    def _allowed(self) -> bool:
        """The (cached) decision of the access control; a refusal closes the connection."""
        if not self._is_allowed:
            return False
        now = time.monotonic()
        if now < self._allowed_until:
            return True
        access = self._access
        if access is None or access.decide(self._peer):
            self._allowed_until = now + ACCESS_RECHECK_INTERVAL
            return True
        self._is_allowed = False
        log.warning("portal %s: access refused to %s; closing %s", self.address, self._peer, self.peer)
        self._outq.clear()
        self.route_lost()
        return False

    def _recheck_access(self) -> None:
        self._access_timer = None
        if self._socket_closed or not self.node.running:
            return
        self._allowed_until = 0.0
        if self._allowed():
            self._access_timer = self.node.loop.call_later(ACCESS_RECHECK_INTERVAL, self._recheck_access)

    def _finish(self) -> None:
        self.conn.closed()
        if self._registered:
            self._registered = False
            self.node.unregister([self.address])

    def _pong_timeout(self) -> None:
        self._pong_timer = None
        if self._abandoned:
            self._abandoned = False
            self._finish()
            return
        if self.conn.state is PortalState.AWAIT_PONG:
            inlet = self.inlet
            log.warning(
                "inlet %s: no answer from the outlet at %s within %g s; closing client %s",
                inlet.name if inlet else "?",
                inlet.route if inlet else "?",
                inlet.pong_timeout if inlet else 0,
                self.peer,
            )
            self.conn.closed()
            # A late Pong still gets a Disconnect, so that the outlet closes its target.
            self._abandoned = True
            wait = max(LATE_PONG_WAIT, inlet.pong_timeout if inlet is not None else 0)
            self._pong_timer = self.node.loop.call_later(wait, self._pong_timeout)
            self._close_socket()

    def _local_closed(self) -> None:
        """The socket hit EOF or failed: tell the peer (once)."""
        if self.conn.state is PortalState.AWAIT_PONG and self._pong_timer is not None:
            # The client left before the Pong: the outlet side still gets a Disconnect
            # when its Pong comes (see connection_lost).
            self._abandoned = True
        disconnect = self.conn.local_closed()
        if disconnect is not None and self.remote_route is not None and self.node.running:
            self._send(LocalMessage(self.remote_route, Route((self.address,)), disconnect))

    def _deliver_quietly(self, msg: LocalMessage) -> None:
        """Send a control message whose loss does not matter."""
        try:
            if msg.onward_route.addresses[0].is_local and self.node.deliver_nowait(msg):
                return
        except OckamError:
            return

        async def later() -> None:
            with contextlib.suppress(OckamError):
                await self.node.deliver(msg)

        self.node.spawn(later(), name=f"portal {self.address} control")

    def _close_socket(self) -> None:
        if self.transport is not None and not self._socket_closed:
            self.transport.close()

    def close(self, abort: bool = False) -> None:
        """Close the socket (``abort``: drop what is still buffered); the peer is told
        with a Disconnect when the route still works."""
        if self.transport is None or self._socket_closed:
            self._finish()
            return
        if abort:
            self.transport.abort()
        else:
            self.transport.close()

    def route_lost(self) -> None:
        """The route to the peer is gone: close the socket without telling anyone."""
        if self.conn.state in (PortalState.OPEN, PortalState.AWAIT_PONG):
            self.conn.closed()
        self._close_socket()

    # -- sending (socket -> node)
    def _set_reading(self, on: bool) -> None:
        if on == self._reading or self.transport is None or self._socket_closed:
            return
        self._reading = on
        with contextlib.suppress(Exception):
            if on:
                self.transport.resume_reading()
            else:
                self.transport.pause_reading()

    def _send(self, msg: LocalMessage) -> None:
        if not self._outq:
            try:
                if msg.onward_route.addresses[0].is_local and self.node.deliver_nowait(msg):
                    return
            except OckamError as e:
                self._send_failed(e)
                return
        self._outq.append(msg)
        if self._sender is None:
            self._set_reading(False)
            self._sender = self.node.spawn(self._drain(), name=f"portal {self.address}")

    async def _drain(self) -> None:
        try:
            while self._outq:
                msg = self._outq[0]
                try:
                    await self.node.deliver(msg)
                except OckamError as e:
                    self._outq.clear()
                    self._send_failed(e)
                    return
                self._outq.popleft()
        finally:
            self._sender = None
        if self.conn.state is PortalState.OPEN:
            self._set_reading(True)

    def _send_failed(self, error: OckamError) -> None:
        log.info("portal %s: the route to the peer is gone (%s); closing %s", self.address, error, self.peer)
        self._outq.clear()
        self.route_lost()


def _peer_text(peer: Any) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)


# -- outlets ------------------------------------------------------------------------------


@dataclass
class TcpOutlet:
    """An outlet: a listener worker at ``address`` connecting each Ping to ``host:port``
    (only the Pings whose sender ``access`` allows, when it is set)."""

    address: Address
    host: str
    port: int
    tls: bool = False
    connect_timeout: float = CONNECT_TIMEOUT
    access: AccessControl | None = None


class OutletListener(Worker):
    """Accepts Pings (only) and starts one outlet connection per Ping."""

    def __init__(self, portals: Portals, outlet: TcpOutlet) -> None:
        self.portals = portals
        self.outlet = outlet

    async def handle_message(self, ctx: Context, msg: LocalMessage) -> None:
        self.handle_message_now(ctx, msg)

    def handle_message_now(self, ctx: Context, msg: LocalMessage) -> bool:
        # (in the sender's call: no hop through this worker's task for each new connection)
        if not is_ping(msg.payload):
            log.warning("outlet %s: dropping a message that is not a ping", self.outlet.address)
            return True
        if not msg.return_route:
            log.warning("outlet %s: dropping a ping without return route", self.outlet.address)
            return True
        peer = None
        if self.outlet.access is not None:
            peer = message_identifier(msg)
            if not self.outlet.access.decide(peer):
                return True  # refused (logged by the access control): no answer, as Rust
        # The rest of the onward route (if any) is ignored, as Rust does.
        self.portals.node.spawn(
            self.portals._connect_outlet(
                self.outlet, msg.return_route, peer, msg.local_info.get(FLOW_CONTROL_ID)
            ),
            name=f"outlet {self.outlet.address} connect",
        )
        return True


# -- inlets -------------------------------------------------------------------------------


@dataclass(eq=False)
class TcpInlet:
    """An inlet: a TCP server; each client becomes a portal connection to ``route``.

    While ``route`` is None the inlet is *paused*: clients are accepted and closed at once.
    With ``access``, a client is accepted only while ``peer`` (the outlet side's identity)
    is allowed.
    """

    name: str
    bind_address: str
    route: Route | None = None
    pong_timeout: float = PONG_TIMEOUT
    access: AccessControl | None = None
    peer: Identifier | None = None
    processor_address: Address = field(default_factory=Address.random_local)
    server: asyncio.base_events.Server | None = field(default=None, repr=False)
    sides: set[PortalSide] = field(default_factory=set, repr=False)
    generation: int = 0

    def pause(self) -> None:
        """New clients are closed at once until :meth:`unpause`."""
        self.route = None
        self.generation += 1

    def unpause(self, route: Route) -> None:
        """New clients get portal connections to ``route`` (the full route to the outlet
        listener). Existing connections keep the route they were set up with."""
        self.route = route
        self.generation += 1

    def close_connections(self, older_than: int | None = None) -> None:
        """Close the client connections (those set up before generation ``older_than``)."""
        for side in list(self.sides):
            if older_than is None or side.generation < older_than:
                side.route_lost()


# -- the registry -------------------------------------------------------------------------


class Portals:
    """The inlets and outlets of one node. ``Portals(node, tcp)``; stops with the node."""

    def __init__(
        self,
        node: Node,
        tcp: TcpTransport | None = None,
        *,
        write_high: int = WRITE_HIGH_WATER,
        write_low: int = WRITE_LOW_WATER,
        park_limit: int = PARK_LIMIT,
        park_total: int = PARK_TOTAL,
    ) -> None:
        self.node = node
        self.tcp = tcp
        self.write_high = write_high
        self.write_low = write_low
        self.park_limit = park_limit
        self.park_total = park_total
        self.parked = 0  # bytes parked by all the sides (see PortalSide.put_nowait)
        self.read_buffer = tcp.read_buffer if tcp is not None else ReadBuffer()
        self.outlets: dict[Address, TcpOutlet] = {}
        self.inlets: dict[str, TcpInlet] = {}
        self.sides: set[PortalSide] = set()
        # first hop (TCP sender, encryptor...) -> portal sides whose route starts with it
        self._by_hop: dict[Address, set[PortalSide]] = {}
        node.on_stop(self.stop)

    # -- outlets
    async def create_outlet(
        self,
        address: Address | str,
        host: str,
        port: int,
        *,
        tls: bool = False,
        connect_timeout: float = CONNECT_TIMEOUT,
        access: AccessControl | None = None,
        consumes: Iterable[str] = (),
    ) -> TcpOutlet:
        """Start an outlet at ``address``; ``consumes``: the flow-control ids (TCP
        listeners, secure-channel listeners...) whose Pings may reach it."""
        addr = Address.parse(address) if isinstance(address, str) else address
        if addr in self.outlets:
            raise AlreadyExists(f"A TCP outlet with address '{addr}' already exists")
        if self.node.has_address(addr):
            raise AlreadyExists(f"the address '{addr}' is already used on this node")
        outlet = TcpOutlet(addr, host, port, tls, connect_timeout, access)
        await self.node.start_worker(addr, OutletListener(self, outlet), consumes=consumes)
        self.outlets[addr] = outlet
        return outlet

    async def delete_outlet(self, address: Address | str) -> TcpOutlet:
        """Stop the outlet listener; established connections are left alone (as Rust does)."""
        addr = Address.parse(address) if isinstance(address, str) else address
        outlet = self.outlets.pop(addr, None)
        if outlet is None:
            raise NotFound(f"Outlet with address {addr.text} not found")
        await self.node.stop_worker(addr)
        return outlet

    async def _connect_outlet(
        self,
        outlet: TcpOutlet,
        pong_route: Route,
        peer: Identifier | None = None,
        flow_control_id: str | None = None,
    ) -> None:
        side = PortalSide(self, outlet=outlet)
        # the rest of the connection comes the way its Ping came
        side.flow_control_id = flow_control_id
        ssl_ctx = ssl.create_default_context() if outlet.tls else None
        try:
            async with asyncio.timeout(outlet.connect_timeout):  # (no extra task, unlike wait_for)
                await self.node.loop.create_connection(
                    lambda: side,
                    outlet.host.strip("[]"),  # an IPv6 target is kept bracketed, as Rust shows it
                    outlet.port,
                    ssl=ssl_ctx,
                    server_hostname=outlet.host if ssl_ctx else None,
                )
        except (OSError, TimeoutError, ssl.SSLError) as e:
            reason = "timed out" if isinstance(e, TimeoutError) else (getattr(e, "strerror", None) or str(e))
            log.warning(
                "outlet %s: cannot connect to %s:%s (%s); disconnecting the inlet",
                outlet.address,
                outlet.host,
                outlet.port,
                reason,
            )
            side._finish()
            await self._deliver_disconnect(pong_route, side.address)
            return
        if side.state is not PortalState.NEW:  # the target failed before the Pong
            await self._deliver_disconnect(pong_route, side.address)
            return
        # The Pong goes through the side's send queue, so that anything read from the
        # target (or a Disconnect) follows it.
        if outlet.access is not None:
            side.guard(outlet.access, peer)
        side.open(pong_route, side.conn.pong())

    async def _deliver_disconnect(self, route: Route, sender: Address) -> None:
        with contextlib.suppress(OckamError):
            await self.node.deliver(LocalMessage(route, Route((sender,)), _DISCONNECT))

    # -- inlets
    async def create_inlet(
        self,
        name: str,
        bind: str,
        route: Route | None = None,
        *,
        pong_timeout: float = PONG_TIMEOUT,
        access: AccessControl | None = None,
    ) -> TcpInlet:
        """Listen on ``bind`` (``host:port``, port 0 for any); ``route`` None = paused."""
        if name in self.inlets:
            raise AlreadyExists(f"A TCP inlet with alias '{name}' already exists")
        host, port = parse_host_port(bind)
        inlet = TcpInlet(name, bind, route, pong_timeout, access=access)
        try:
            server = await self.node.loop.create_server(lambda: PortalSide(self, inlet=inlet), host, port)
        except OSError as e:
            raise TransportError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
        inlet.server = server
        bound = server.sockets[0].getsockname()
        inlet.bind_address = f"[{bound[0]}]:{bound[1]}" if ":" in str(bound[0]) else f"{bound[0]}:{bound[1]}"
        self.inlets[name] = inlet
        return inlet

    async def delete_inlet(self, name: str) -> TcpInlet:
        """Stop listening and close the inlet's client connections."""
        inlet = self.inlets.pop(name, None)
        if inlet is None:
            raise NotFound(f"Inlet with alias {name} not found")
        inlet.pause()
        if inlet.server is not None:
            inlet.server.close()
        inlet.close_connections()
        return inlet

    # -- connection tracking
    def _watch(self, side: PortalSide) -> None:
        """Close ``side`` when the first hop of its route (a TCP connection, a secure
        channel's encryptor, a local peer side...) goes away."""
        route = side.remote_route
        if not route or not route.addresses[0].is_local:
            return
        first = route.addresses[0]
        group = self._by_hop.get(first)
        if group is None:
            group = set()
            self._by_hop[first] = group
            self.node.when_unregistered(first, lambda: self._hop_gone(first))
        group.add(side)

    def _hop_gone(self, hop: Address) -> None:
        for side in list(self._by_hop.pop(hop, ())):
            side.route_lost()

    def _forget(self, side: PortalSide) -> None:
        self.sides.discard(side)
        route = side.remote_route
        if route:
            group = self._by_hop.get(route.addresses[0])
            if group is not None:
                group.discard(side)

    def buffered_bytes(self) -> int:
        """User-space bytes held by all portal connections of the node (both directions)."""
        return sum(side.buffered_bytes() for side in self.sides)

    async def stop(self) -> None:
        for inlet in list(self.inlets.values()):
            inlet.pause()
            if inlet.server is not None:
                inlet.server.close()
        for side in list(self.sides):
            side.close(abort=True)
