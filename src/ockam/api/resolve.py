"""Turning a multiaddr into a route inside a node (the connection builder).

Passes, in order (multiaddr.md §5.5): ``/project`` (later), plain TCP
(``/ip4|ip6|dnsaddr/../tcp/..`` -> a new connection's sender), ``/secure`` (later).
What remains must be ``/service``, ``/worker`` or ``/secure`` components.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ..codec.address import Address
from ..codec.multiaddr import Component, MultiAddr
from ..codec.route import Route
from ..errors import RouteError
from ..transport.tcp import TcpConnection, TcpTransport

__all__ = ["Connection", "resolve_multiaddr"]

# A hook that resolves one `/secure/<listener>` (or `/project/<p>`) component:
# given the route so far and the component, return the encryptor address.
SecureHook = Callable[[Route, Component], Awaitable[Address]]


@dataclass
class Connection:
    """The route a multiaddr resolved to, and what was created to get there."""

    route: Route
    tcp_connections: list[TcpConnection] = field(default_factory=list)
    created: list[Address] = field(default_factory=list)  # secure channels etc. to close with it
    secure: SecureHook | None = None

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
    # plain TCP pass
    out: list[Component] = []
    i = 0
    while i < len(comps):
        c = comps[i]
        if c.protocol in ("ip4", "ip6", "dnsaddr"):
            if i + 1 < len(comps) and comps[i + 1].protocol == "tcp":
                peer = MultiAddr((c, comps[i + 1])).socket_address()
                assert peer is not None
                if out or conn.tcp_connections:
                    # A later TCP hop is reached from another node: keep it as a transport
                    # address that the node there routes (an extension of Ockam's rule of
                    # one TCP hop per multiaddr).
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
    conn.route = Route(hops)
    return conn
