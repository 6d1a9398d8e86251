"""Turning a multiaddr into a route inside a node (the connection builder).

Passes, in order (multiaddr.md §5.5):

1. ``/project/<name>``: everything up to and including it is replaced by a secure channel
   to the project node.  The node's secure hook does this when it implements
   :class:`ProjectResolving` (the node's :class:`~ockam.api.secure_channels.SecureResolver`
   does, given a :data:`ProjectLookup`): it looks the project up (access route and
   identifier, from the local state the CLI shares with its nodes), connects to the
   access route, and opens a channel trusting only the project identifier, presenting
   the node's credential.  The TCP connection and the channel belong to the resolved
   :class:`Connection` (closed with it).
2. plain TCP (``/ip4|ip6|dnsaddr/../tcp/..`` -> a new connection's sender); one TCP hop
   leaves this node: a second one after it would be opened by another node, which
   refuses to for its peers, so it is an error (after local hops only, e.g.
   ``/service/hop/ip4/..``, it stays a transport address that this node routes);
3. ``/secure/<listener>``: a channel over the route so far.

What remains must be ``/service``, ``/worker`` or ``/secure`` components.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ..codec.address import Address
from ..codec.multiaddr import Component, MultiAddr
from ..codec.route import Route
from ..errors import RouteError
from ..identity import Identifier, Identity
from ..node.runtime import Node
from ..transport.tcp import TcpConnection, TcpTransport

__all__ = [
    "Connection",
    "ProjectAccess",
    "ProjectLookup",
    "ProjectResolving",
    "SecureHook",
    "project_transport",
    "resolve_multiaddr",
]

# A hook that resolves one `/secure/<listener>` (or `/project/<p>`) component:
# given the route so far and the component, return the encryptor address.
SecureHook = Callable[[Route, Component], Awaitable[Address]]


@dataclass(frozen=True)
class ProjectAccess:
    """How to reach project ``name``: its node's access route (a multiaddr such as
    ``/dnsaddr/H/tcp/P/service/api``) and identity."""

    name: str
    project_id: str
    route: MultiAddr
    identifier: Identifier
    identity: Identity | None = None


# Finds a project by name (raises NotFound / RouteError when it cannot be used).
ProjectLookup = Callable[[str], ProjectAccess]


@runtime_checkable
class ProjectResolving(Protocol):
    """A secure hook that can also replace ``/project/<name>``: returns the encryptor of
    a new channel to the project node and the TCP connection it opened for it."""

    async def resolve_project(self, name: str, tcp: TcpTransport) -> tuple[Address, TcpConnection | None]: ...


async def project_transport(access: ProjectAccess, tcp: TcpTransport) -> tuple[Route, TcpConnection | None]:
    """Connect to a project's access route: ``/dnsaddr/H/tcp/P/service/api`` -> a TCP
    connection to ``H:P`` and the route ``[<sender>, api]`` (multiaddr.md §4.2)."""
    comps = list(access.route.components)
    hops: list[Address] = []
    connection: TcpConnection | None = None
    i = 0
    while i < len(comps):
        c = comps[i]
        if c.protocol in ("ip4", "ip6", "dnsaddr") and i + 1 < len(comps) and comps[i + 1].protocol == "tcp":
            if connection is not None:
                raise RouteError(f"{access.route}: multiple tcp connections created in a MultiAddr")
            peer = MultiAddr((c, comps[i + 1])).socket_address()
            assert peer is not None
            connection = await tcp.connect(peer)
            hops.append(connection.sender)
            i += 2
            continue
        if c.protocol == "dnsaddr":
            i += 1
            continue
        if c.protocol in ("service", "worker", "secure"):
            hops.append(Address.local(c.value))
        else:
            raise RouteError(f"the access route {access.route} of the project {access.name} is not usable")
        i += 1
    return Route(hops), connection


@dataclass
class Connection:
    """The route a multiaddr resolved to, and what was created to get there."""

    route: Route
    tcp_connections: list[TcpConnection] = field(default_factory=list)
    created: list[Address] = field(default_factory=list)  # secure channels etc. to close with it
    secure: SecureHook | None = None

    def flow_control_id(self, node: Node) -> str | None:
        """The flow control of the route's first hop (the last secure channel or TCP
        connection made for it): what comes back over the connection arrives under it."""
        if not self.route:
            return None
        producer = node.flow_controls.find_producer(self.route.addresses[0])
        return None if producer is None else producer.flow_control_id

    def add_consumers(self, node: Node, addresses: Iterable[str | Address]) -> None:
        """Let what comes back over the connection reach ``addresses``."""
        fcid = self.flow_control_id(node)
        if fcid is not None:
            for address in addresses:
                node.flow_controls.add_consumer(address, fcid)

    async def close(self, tcp: TcpTransport) -> None:
        """Close the secure channels (innermost first) and TCP connections opened for it."""
        closer = getattr(self.secure, "close", None)
        if closer is not None:
            for address in reversed(self.created):
                await closer(address)
        for c in self.tcp_connections:
            await tcp.disconnect(c)


async def resolve_multiaddr(
    ma: MultiAddr,
    tcp: TcpTransport,
    secure: SecureHook | None = None,
) -> Connection:
    comps = list(ma.components)
    conn = Connection(Route(), secure=secure)
    # project pass: everything up to and including the last /project/<name> is replaced
    # by a channel to that project
    last = max((i for i, c in enumerate(comps) if c.protocol == "project"), default=None)
    if last is not None:
        if not isinstance(secure, ProjectResolving):
            raise RouteError(f"{ma}: /project/{comps[last].value} cannot be resolved on this node")
        try:
            encryptor, tc = await secure.resolve_project(comps[last].value, tcp)
        except BaseException:
            await conn.close(tcp)
            raise
        if tc is not None:
            conn.tcp_connections.append(tc)
        conn.created.append(encryptor)
        comps = [Component("service", encryptor.text), *comps[last + 1 :]]
    try:
        conn.route = await _resolve_rest(ma, comps, conn, tcp, secure)
    except BaseException:
        await conn.close(tcp)
        raise
    return conn


async def _resolve_rest(
    ma: MultiAddr, comps: list[Component], conn: Connection, tcp: TcpTransport, secure: SecureHook | None
) -> Route:
    # plain TCP pass
    out: list[Component] = []
    i = 0
    while i < len(comps):
        c = comps[i]
        if c.protocol in ("ip4", "ip6", "dnsaddr"):
            if i + 1 < len(comps) and comps[i + 1].protocol == "tcp":
                peer = MultiAddr((c, comps[i + 1])).socket_address()
                assert peer is not None
                if conn.tcp_connections or conn.created or any(o.protocol == "secure" for o in out):
                    # it would be reached at another node, which does not open
                    # connections for its peers (routing.md §4: no TCP router)
                    raise RouteError(
                        f"{ma}: multiple tcp connections created in a MultiAddr: the node reached "
                        f"first would have to connect to {peer} itself, and nodes open connections "
                        "only for their own users (create the connection there with "
                        "`ockam tcp-connection create` and route through /worker/<its address>)"
                    )
                if out:
                    # after local hops only (e.g. /service/hop/ip4/...): a transport address
                    # that this node routes when the message gets there
                    out.append(Component("tcp-address", peer))
                else:
                    tc = await tcp.connect(peer)
                    conn.tcp_connections.append(tc)
                    out.append(Component("service", tc.sender.text))
                i += 2
                continue
            if c.protocol == "dnsaddr":
                i += 1
                continue
            raise RouteError(f"{ma}: /{c.protocol} must be followed by /tcp")
        if c.protocol in ("node", "project", "space"):
            raise RouteError(f"{ma}: /{c.protocol}/{c.value} must be resolved before it reaches the node")
        if c.protocol == "tcp":
            raise RouteError(f"{ma}: /tcp without a host")
        out.append(c)
        i += 1
    # secure pass
    hops: list[Address] = []
    for c in out:
        if c.protocol == "secure":
            if secure is None:
                raise RouteError("secure channels are not available on this node")
            encryptor = await secure(Route(hops), c)
            conn.created.append(encryptor)
            hops = [encryptor]
        elif c.protocol == "tcp-address":
            hops.append(Address.tcp(c.value))
        else:
            hops.append(Address.local(c.value))
    return Route(hops)
