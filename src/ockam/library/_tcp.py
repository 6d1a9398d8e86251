"""The TCP transport of a library node: listeners, connections, inlets and outlets."""

from __future__ import annotations

import logging
import secrets

from ..codec.address import Address
from ..codec.route import Route
from ..node.message import LocalMessage
from ..node.runtime import Context as _RuntimeContext
from ..node.runtime import Node as _RuntimeNode
from ..node.runtime import Worker as _RuntimeWorker
from ..services.portal import Portals
from ..transport.tcp import TcpConnection as _TcpConnection
from ..transport.tcp import TcpListener as _TcpListener
from ..transport.tcp import TcpTransport as _TcpTransport
from ..transport.tcp import parse_host_port
from ._identities import TrustPolicy
from ._messaging import RouteLike, to_address, to_route

__all__ = ["TcpConnection", "TcpInlet", "TcpListener", "TcpOutlet", "TcpTransport"]

log = logging.getLogger("ockam.library")


class TcpListener:
    """A TCP listener: other nodes connect to :attr:`address` to route messages here."""

    __slots__ = ("_listener", "_tcp")

    def __init__(self, tcp: _TcpTransport, listener: _TcpListener) -> None:
        self._tcp = tcp
        self._listener = listener

    @property
    def address(self) -> str:
        """The bound socket address, ``ip:port`` (the real port when ``:0`` was asked)."""
        return self._listener.socket_address

    @property
    def port(self) -> int:
        """The bound port."""
        return parse_host_port(self.address)[1]

    async def stop(self) -> None:
        """Stop accepting connections (open ones stay)."""
        await self._tcp.stop_listener(self._listener)

    def __repr__(self) -> str:
        return f"TcpListener({self.address!r})"


class TcpConnection:
    """An outgoing TCP connection; ``route(connection, "echo")`` routes over it."""

    __slots__ = ("_conn", "_tcp")

    def __init__(self, tcp: _TcpTransport, conn: _TcpConnection) -> None:
        self._tcp = tcp
        self._conn = conn

    @property
    def address(self) -> Address:
        """The local address standing for the connection in routes."""
        return self._conn.sender

    @property
    def route(self) -> Route:
        """The one-hop route to the connection: ``route(connection, "x")`` reaches ``x`` on the peer."""
        return Route((self._conn.sender,))

    @property
    def peer(self) -> str:
        """The remote ``ip:port``."""
        return self._conn.peer

    async def close(self) -> None:
        """Close the connection."""
        await self._tcp.disconnect(self._conn)

    def __repr__(self) -> str:
        return f"TcpConnection({self.peer!r})"


class TcpInlet:
    """A TCP inlet: a TCP server whose every client is tunnelled to an outlet."""

    __slots__ = ("_name", "_portals", "route")

    def __init__(self, portals: Portals, name: str, route: Route) -> None:
        self._portals = portals
        self._name = name
        self.route = route  #: the route to the outlet

    @property
    def address(self) -> str:
        """The bound socket address, ``ip:port``."""
        return self._portals.inlets[self._name].bind_address if self._name in self._portals.inlets else ""

    async def close(self) -> None:
        """Stop listening and close the inlet's client connections."""
        if self._name in self._portals.inlets:
            await self._portals.delete_inlet(self._name)

    def __repr__(self) -> str:
        return f"TcpInlet({self.address!r} -> {self.route})"


class TcpOutlet:
    """A TCP outlet: a worker that opens a connection to :attr:`target` for every inlet client."""

    __slots__ = ("_internal", "_node", "_portals", "address", "target")

    def __init__(
        self, node: _RuntimeNode, portals: Portals, address: Address, internal: Address, target: str
    ) -> None:
        self._node = node
        self._portals = portals
        self._internal = internal
        self.address = address  #: the worker address inlets route to
        self.target = target  #: the TCP server, ``host:port``

    async def close(self) -> None:
        """Stop accepting new portal connections (established ones stay)."""
        if self._internal != self.address:
            await self._node.stop_worker(self.address)
        if self._internal in self._portals.outlets:
            await self._portals.delete_outlet(self._internal)

    def __repr__(self) -> str:
        return f"TcpOutlet({self.address.text!r} -> {self.target!r})"


class _Guard(_RuntimeWorker):
    """In front of an outlet: lets through what arrives over a trusted secure channel."""

    def __init__(self, target: Address, trust: TrustPolicy) -> None:
        self.target = target
        self.trust = trust

    async def handle_message(self, ctx: _RuntimeContext, msg: LocalMessage) -> None:
        if not self.trust.allows_message(msg):
            log.warning("outlet %s: dropping a message refused by its trust policy", ctx.address)
            return
        onward = Route((self.target, *msg.onward_route.step()))
        await ctx.forward(msg.with_routes(onward, msg.return_route))


class TcpTransport:
    """The TCP transport of a :class:`Node` (``node.tcp``)."""

    __slots__ = ("_node", "_portals", "_tcp")

    def __init__(self, node: _RuntimeNode, tcp: _TcpTransport) -> None:
        self._node = node
        self._tcp = tcp
        self._portals: Portals | None = None

    def _get_portals(self) -> Portals:
        if self._portals is None:
            self._portals = Portals(self._node, self._tcp)
        return self._portals

    async def listen(self, address: str = "127.0.0.1:0") -> TcpListener:
        """Accept connections from other nodes on ``address`` (``host:port``, or a port)."""
        return TcpListener(self._tcp, await self._tcp.listen(address))

    async def connect(self, address: str, timeout: float = 10.0) -> TcpConnection:
        """Open a connection to the node listening at ``address`` (``host:port``).

        Routes may also name ``Address.tcp("host:port")`` hops: a connection is then
        opened (or reused) when a message is sent.
        """
        return TcpConnection(self._tcp, await self._tcp.connect(address, timeout))

    async def create_outlet(
        self,
        address: str | Address,
        target: str,
        *,
        trust: TrustPolicy | None = None,
        tls: bool = False,
    ) -> TcpOutlet:
        """Start an outlet worker at ``address`` that connects to the TCP server ``target``
        (``host:port``) for every inlet client.

        ``trust`` None: any message that reaches ``address`` (also over plain TCP) may open
        a connection; a :class:`TrustPolicy`: only messages that came through a secure
        channel whose peer it trusts.
        """
        host, port = parse_host_port(target)
        portals = self._get_portals()
        public = to_address(address)
        if trust is None:
            await portals.create_outlet(public, host, port, tls=tls)
            return TcpOutlet(self._node, portals, public, public, target)
        internal = Address.random_local()
        await portals.create_outlet(internal, host, port, tls=tls)
        try:
            await self._node.start_worker(public, _Guard(internal, trust))
        except BaseException:
            await portals.delete_outlet(internal)
            raise
        return TcpOutlet(self._node, portals, public, internal, target)

    async def create_inlet(self, address: str, route: RouteLike) -> TcpInlet:
        """Listen on ``address`` (``host:port``, port 0 for any) and tunnel every client to
        the outlet at the end of ``route``."""
        to_outlet = to_route(route)
        name = f"inlet-{secrets.token_hex(4)}"
        await self._get_portals().create_inlet(name, address, to_outlet)
        return TcpInlet(self._get_portals(), name, to_outlet)
