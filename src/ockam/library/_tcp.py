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
from ._flow import EntryPoints, Reachability, flow_control_ids
from ._identities import TrustPolicy
from ._messaging import RouteLike, to_address, to_route

__all__ = ["TcpConnection", "TcpInlet", "TcpListener", "TcpOutlet", "TcpTransport"]

log = logging.getLogger("ockam.library")


class TcpListener:
    """A TCP listener: other nodes connect to :attr:`address` to route messages here."""

    __slots__ = ("_entries", "_listener", "_tcp")

    def __init__(self, tcp: _TcpTransport, listener: _TcpListener, entries: EntryPoints) -> None:
        self._tcp = tcp
        self._listener = listener
        self._entries = entries

    @property
    def address(self) -> str:
        """The bound socket address, ``ip:port`` (the real port when ``:0`` was asked)."""
        return self._listener.socket_address

    @property
    def port(self) -> int:
        """The bound port."""
        return parse_host_port(self.address)[1]

    @property
    def flow_control_id(self) -> str:
        """What arrives over the connections it accepts arrives under this flow control."""
        return self._listener.flow_control_id

    async def stop(self) -> None:
        """Stop accepting connections (open ones stay)."""
        self._entries.remove_entry(self._listener.flow_control_id)
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

    @property
    def flow_control_id(self) -> str:
        """What the peer sends over the connection arrives under this flow control (give
        the connection as ``reachable_from`` to let the peer reach a worker)."""
        return self._conn.flow_control_id

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

    __slots__ = ("_entries", "_internal", "_node", "_portals", "address", "target")

    def __init__(
        self,
        node: _RuntimeNode,
        portals: Portals,
        address: Address,
        internal: Address,
        target: str,
        entries: EntryPoints,
    ) -> None:
        self._node = node
        self._portals = portals
        self._internal = internal
        self._entries = entries
        self.address = address  #: the worker address inlets route to
        self.target = target  #: the TCP server, ``host:port``

    async def close(self) -> None:
        """Stop accepting new portal connections (established ones stay)."""
        self._entries.forget(self.address)
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

    __slots__ = ("_entries", "_node", "_portals", "_tcp")

    def __init__(self, node: _RuntimeNode, tcp: _TcpTransport, entries: EntryPoints) -> None:
        self._node = node
        self._tcp = tcp
        self._entries = entries
        self._portals: Portals | None = None

    def _get_portals(self) -> Portals:
        if self._portals is None:
            self._portals = Portals(self._node, self._tcp)
        return self._portals

    async def listen(self, address: str = "127.0.0.1:0") -> TcpListener:
        """Accept connections from other nodes on ``address`` (``host:port``, or a port).

        The listener is an entry point: what is reachable from every entry point (the
        default of workers, outlets and secure-channel listeners) is reachable over it."""
        listener = await self._tcp.listen(address)
        self._entries.add_entry(listener.flow_control_id)
        return TcpListener(self._tcp, listener, self._entries)

    async def connect(self, address: str, timeout: float = 10.0) -> TcpConnection:
        """Open a connection to the node listening at ``address`` (``host:port``).

        Routes may also name ``Address.tcp("host:port")`` hops: a connection is then
        opened (or reused) when a message sent by this node reaches that hop (never for
        a message that came from another node).
        """
        return TcpConnection(self._tcp, await self._tcp.connect(address, timeout))

    async def create_outlet(
        self,
        address: str | Address,
        target: str,
        *,
        trust: TrustPolicy | None = None,
        tls: bool = False,
        reachable_from: Reachability = None,
    ) -> TcpOutlet:
        """Start an outlet worker at ``address`` that connects to the TCP server ``target``
        (``host:port``) for every inlet client.

        ``trust`` None: any message that reaches ``address`` may open a connection; a
        :class:`TrustPolicy`: only messages that came through a secure channel whose peer
        it trusts.  ``reachable_from``: the entry points inlets reach it through (default:
        every listener and relay of this node, plain TCP listeners included).
        """
        host, port = parse_host_port(target)
        ids = flow_control_ids(reachable_from)
        portals = self._get_portals()
        public = to_address(address)
        if trust is None:
            await portals.create_outlet(public, host, port, tls=tls)
            self._entries.reach(public, ids)
            return TcpOutlet(self._node, portals, public, public, target, self._entries)
        internal = Address.random_local()
        await portals.create_outlet(internal, host, port, tls=tls)
        try:
            await self._node.start_worker(public, _Guard(internal, trust))
        except BaseException:
            await portals.delete_outlet(internal)
            raise
        self._entries.reach(public, ids)
        return TcpOutlet(self._node, portals, public, internal, target, self._entries)

    async def create_inlet(self, address: str, route: RouteLike) -> TcpInlet:
        """Listen on ``address`` (``host:port``, port 0 for any) and tunnel every client to
        the outlet at the end of ``route``."""
        to_outlet = to_route(route)
        name = f"inlet-{secrets.token_hex(4)}"
        await self._get_portals().create_inlet(name, address, to_outlet)
        return TcpInlet(self._get_portals(), name, to_outlet)
