"""TCP transport: listeners and connections, an ``asyncio.Protocol`` over :mod:`ockam.protocol.tcp_framing`.

Each connection has a *sender* address (what routes use) and a *receiver* address.
Frames received get the sender address prepended to their return route; messages
sent to the sender address lose their first hop and are written as frames.
A peer that sends a bad version byte, an oversized frame or garbage loses its
connection and nothing else.

Flow control (tcp.md §7): a listener is a *spawner* (its ``flow_control_id``), every
connection a *producer* with its own id (and, when accepted, its listener's id).  What a
connection receives reaches only the consumers of those ids (add them with
``node.flow_controls.add_consumer(address, id)``); its sender address is the producer's
additional address, so a detached context that sends through it gets the replies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, cast

from ..codec.address import TCP, Address
from ..codec.route import Route
from ..errors import InvalidArgument, OckamError, ProtocolError, TransportError
from ..node.flow_control import ProducerInfo, new_flow_control_id
from ..node.message import FLOW_CONTROL_ID, LocalMessage
from ..node.runtime import Node
from ..protocol.tcp_framing import VERSION_BYTE, FrameHeads, FrameReader

__all__ = ["ReadBuffer", "TcpConnection", "TcpListener", "TcpTransport", "parse_host_port"]

log = logging.getLogger("ockam.transport.tcp")

HIGH_WATER = 1024 * 1024
LOW_WATER = 256 * 1024
# Bytes one socket read may return (into the buffer shared by the node's connections):
# about twenty 48 KiB frames of a portal, fewer frames cut in two by the end of a read.
READ_SIZE = 1024 * 1024


class ReadBuffer:
    """A receive buffer shared by the sockets of one node (``BufferedProtocol.get_buffer``).

    The event loop reads one socket into it and hands the bytes to that socket's protocol
    at once (``buffer_updated``), which must copy out what it keeps before returning: the
    next read, of any socket, overwrites them.  This saves the loop's copy of every read
    into a new ``bytes`` object.
    """

    __slots__ = ("view",)

    def __init__(self, size: int = READ_SIZE) -> None:
        self.view = memoryview(bytearray(size))


def parse_host_port(text: str) -> tuple[str, int]:
    """``4000``, ``:4000``, ``ip:port``, ``[ipv6]:port``, ``host:port`` -> (host, port)."""
    text = text.strip()
    if text.isdigit():
        host, port_s = "127.0.0.1", text
    elif text.startswith(":"):
        host, port_s = "127.0.0.1", text[1:]
    elif text.startswith("["):
        end = text.find("]:")
        if end < 0:
            raise InvalidArgument(f"invalid address {text!r}: expected [ipv6]:port")
        host, port_s = text[1:end], text[end + 2 :]
    else:
        host, sep, port_s = text.rpartition(":")
        if not sep or not host or ":" in host:
            raise InvalidArgument(f"invalid address {text!r}: expected host:port")
        if not _valid_hostname(host):
            raise InvalidArgument(f"invalid host name {host!r}")
    if not port_s.isdigit() or not port_s.isascii() or int(port_s) > 65535:
        raise InvalidArgument(f"invalid port in {text!r}")
    return host, int(port_s)


def _valid_hostname(host: str) -> bool:
    if not host.isascii() or not 1 <= len(host) <= 253 or host[0] in "-." or host[-1] in "-.":
        return False
    return all(
        1 <= len(label) <= 63 and all(c.isalnum() or c in "_-" for c in label) for label in host.split(".")
    )


@dataclass
class TcpConnection:
    """One TCP connection and its worker addresses."""

    sender: Address
    receiver: Address
    peer: str  # "ip:port" of the remote side
    mode: str  # "outgoing" | "incoming"
    flow_control_id: str = field(default_factory=new_flow_control_id)
    # the id of the listener that accepted it (incoming connections)
    spawner_flow_control_id: str | None = None
    protocol: _Connection | None = field(default=None, repr=False)

    def close(self) -> None:
        if self.protocol is not None:
            self.protocol.close()

    @property
    def held_back(self) -> bool:
        """Reading is paused because a mailbox of this node is full (local
        back-pressure): nothing more arrives from the peer until it has room."""
        return self.protocol is not None and self.protocol._paused_by_node > 0


@dataclass
class TcpListener:
    socket_address: str
    processor_address: Address
    flow_control_id: str = field(default_factory=new_flow_control_id)  # the spawner id
    server: asyncio.base_events.Server | None = field(default=None, repr=False)


class _Connection(asyncio.BufferedProtocol):
    """Both directions of one connection; registered in the node as the sender's mailbox
    (local workers may send *to* it freely) and a producer for what it receives."""

    def __init__(self, tcp: TcpTransport, mode: str, spawner: str | None = None) -> None:
        self.tcp = tcp
        self.node = tcp.node
        self.mode = mode
        self.spawner = spawner
        self.producer = ProducerInfo("")
        self.reader = FrameReader()
        self.transport: asyncio.Transport | None = None
        self.info: TcpConnection | None = None
        self._can_write = asyncio.Event()
        self._can_write.set()
        self._closed = asyncio.Event()
        self._paused_by_node = 0
        self._heads = FrameHeads()
        # the return routes of received messages, with the sender address prepended: the
        # last one is reused while the frames carry the same (decoded once) route
        self._last_return: Route | None = None
        self._last_return_here = Route()
        self._local_info: dict[str, Any] = {}
        # frames written in this turn of the event loop, written together at its end
        self._unsent: list[bytes | memoryview] = []
        self._unsent_size = 0

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self.transport.set_write_buffer_limits(HIGH_WATER, LOW_WATER)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = transport.get_extra_info("peername")
        peer_text = _format_peer(peer)
        info = TcpConnection(
            Address.random_local(),
            Address.random_local(),
            peer_text,
            self.mode,
            spawner_flow_control_id=self.spawner,
            protocol=self,
        )
        self.info = info
        self.producer = self.node.flow_controls.add_producer(
            info.receiver, info.flow_control_id, self.spawner, (info.sender,)
        )
        # shared by every message received, never changed
        self._local_info = {
            "transport": "tcp",
            "connection": info.sender,
            FLOW_CONTROL_ID: info.flow_control_id,
        }
        self.node.register([info.sender], self)
        self.tcp.connections[info.sender] = info
        self.transport.write(VERSION_BYTE)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.tcp.read_buffer.view

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(self.tcp.read_buffer.view[:nbytes])

    def data_received(self, data: bytes | memoryview) -> None:
        try:
            messages = self.reader.receive_data(data)
        except ProtocolError as e:
            log.warning("closing connection from %s: %s", self.info.peer if self.info else "?", e)
            self.close()
            return
        assert self.info is not None
        sender = self.info.sender
        producer = self.producer
        for m in messages:
            if not m.onward_route.addresses:
                continue  # heartbeat
            ret = m.return_route
            if ret is not self._last_return:
                self._last_return, self._last_return_here = ret, ret.prepend(sender)
            msg = LocalMessage(m.onward_route, self._last_return_here, m.payload, self._local_info)
            result = self.node.deliver_produced(msg, producer)
            if result is not True:
                assert not isinstance(result, bool)
                self._wait_for_room(result)

    def _wait_for_room(self, waiter: Awaitable[None]) -> None:
        """A mailbox is full: stop reading from the socket until the message is taken."""
        assert self.transport is not None
        if self._paused_by_node == 0:
            with contextlib.suppress(Exception):
                self.transport.pause_reading()
        self._paused_by_node += 1

        async def wait() -> None:
            try:
                await waiter
            finally:
                self._paused_by_node -= 1
                if self._paused_by_node == 0 and self.transport and not self.transport.is_closing():
                    with contextlib.suppress(Exception):
                        self.transport.resume_reading()

        self.node.spawn(wait(), name="tcp back-pressure")

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self._unsent = []
        self._can_write.set()
        self._closed.set()
        if self.info is not None:
            self.node.unregister([self.info.sender])
            self.node.flow_controls.cleanup(self.info.receiver)
            self.tcp.connections.pop(self.info.sender, None)
            log.info("connection %s to %s closed", self.info.sender, self.info.peer)

    # -- Mailbox (messages to the sender address)
    def put_nowait(self, msg: LocalMessage) -> bool:
        if not self._can_write.is_set():
            return False
        self._write(msg)
        return True

    async def put(self, msg: LocalMessage) -> None:
        await self._can_write.wait()
        self._write(msg)

    def _write(self, msg: LocalMessage) -> None:
        if self.transport is None or self.transport.is_closing():
            log.warning("dropping message for closed connection %s", self.info.sender if self.info else "?")
            return
        payload = msg.payload
        try:
            head = self._heads.head(msg.onward_route, msg.return_route, len(payload))
        except OckamError as e:
            log.warning("closing connection: %s", e)
            self.close()
            return
        # no copy of the payload with uvloop; the frames written in one turn of the event
        # loop (e.g. the control messages of many portal connections) go out together, in
        # one system call (writev) and one wake-up of the peer
        unsent = self._unsent
        if not unsent:
            self.node.loop.call_soon(self._flush)
        unsent.append(head)
        unsent.append(payload)
        self._unsent_size += len(payload)
        if self._unsent_size >= LOW_WATER:
            self._flush()

    def _flush(self) -> None:
        unsent = self._unsent
        if not unsent:
            return
        self._unsent = []
        self._unsent_size = 0
        if self.transport is not None and not self.transport.is_closing():
            self.transport.writelines(unsent)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self._flush()
            self.transport.close()

    async def wait_closed(self) -> None:
        await self._closed.wait()


def _format_peer(peer: object) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        host, port = peer[0], peer[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(peer)


class TcpTransport:
    """The TCP transport of a node.  ``TcpTransport.create(node)`` registers it."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.connections: dict[Address, TcpConnection] = {}
        self.listeners: dict[Address, TcpListener] = {}
        self.read_buffer = ReadBuffer()
        self._routed: dict[str, TcpConnection] = {}  # "host:port" -> connection reused by the router

    @classmethod
    def create(cls, node: Node) -> TcpTransport:
        tcp = cls(node)
        node.resolvers[TCP] = tcp._resolve
        node.routers[TCP] = tcp._route
        node.on_stop(tcp.stop)
        return tcp

    async def _resolve(self, address: Address) -> Address:
        return (await self.connect(address.text)).sender

    async def _route(self, msg: LocalMessage) -> None:
        """Send ``msg`` to its first hop ``1#host:port`` over a reused (or new) connection.

        The node calls this only for messages that started on it (never for what came from
        the network); the first hop of the return route (the local sender) may get the
        replies over the connection."""
        target = msg.onward_route.addresses[0].text
        conn = self._routed.get(target)
        if conn is None or conn.sender not in self.connections:
            conn = await self.connect(target)
            self._routed[target] = conn
        if msg.return_route:
            self.node.flow_controls.add_consumer(msg.return_route.addresses[0], conn.flow_control_id)
        await self.node.deliver(
            msg.with_routes(msg.onward_route.step().prepend(conn.sender), msg.return_route)
        )

    async def connect(self, peer: str, timeout: float = 10.0) -> TcpConnection:
        """Open a new connection to ``host:port``; its ``sender`` address is the route hop."""
        host, port = parse_host_port(peer)
        loop = asyncio.get_running_loop()
        try:
            _, proto = await asyncio.wait_for(
                loop.create_connection(lambda: _Connection(self, "outgoing"), host, port), timeout
            )
        except TimeoutError:
            raise TransportError(f"timed out connecting to {host}:{port}") from None
        except OSError as e:
            raise TransportError(f"cannot connect to {host}:{port}: {e.strerror or e}") from None
        sock = proto.transport.get_extra_info("socket") if proto.transport else None
        if sock is not None:
            _set_keepalive(sock)
        assert proto.info is not None
        return proto.info

    async def listen(self, address: str = "127.0.0.1:0", flow_control_id: str | None = None) -> TcpListener:
        """Accept connections on ``address``; what they receive reaches the consumers of
        the listener's ``flow_control_id`` only (a new one, or the given one: its
        consumers can then be declared before the listener starts)."""
        host, port = parse_host_port(address)
        loop = asyncio.get_running_loop()
        spawner = flow_control_id or new_flow_control_id()
        try:
            server = await loop.create_server(lambda: _Connection(self, "incoming", spawner), host, port)
        except OSError as e:
            raise TransportError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
        bound = server.sockets[0].getsockname()
        listener = TcpListener(_format_peer(bound), Address.random_local(), spawner, server=server)
        self.node.flow_controls.add_spawner(listener.processor_address, spawner)
        self.listeners[listener.processor_address] = listener
        return listener

    def find_connection(self, text: str) -> TcpConnection | None:
        """By peer ``ip:port``, sender address or receiver address."""
        for c in self.connections.values():
            if text in (c.peer, str(c.sender), c.sender.text, str(c.receiver), c.receiver.text):
                return c
        return None

    def find_listener(self, text: str) -> TcpListener | None:
        for li in self.listeners.values():
            if text in (li.socket_address, str(li.processor_address), li.processor_address.text):
                return li
        return None

    async def disconnect(self, connection: TcpConnection) -> None:
        connection.close()
        if connection.protocol is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(connection.protocol.wait_closed(), 5)

    async def stop_listener(self, listener: TcpListener) -> None:
        self.listeners.pop(listener.processor_address, None)
        self.node.flow_controls.cleanup(listener.processor_address)
        if listener.server is not None:
            listener.server.close()

    async def stop(self) -> None:
        for li in list(self.listeners.values()):
            await self.stop_listener(li)
        for c in list(self.connections.values()):
            c.close()


def _set_keepalive(sock: socket.socket) -> None:
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 300)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 75)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 2)
