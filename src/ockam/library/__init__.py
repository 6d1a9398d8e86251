"""The Ockam library: start a node in your program, create identities, secure channels,
relays, TCP inlets and outlets, and exchange messages with workers.

Everything public is exported by the ``ockam`` package itself (see ``ockam.__all__``);
import ``ockam`` rather than this package.  The modules here are private.
"""

from __future__ import annotations

from ._flow import Reachability
from ._identities import Identity, TrustPolicy, trust_everyone, trust_identifiers
from ._messaging import Context, Message, Routable, RouteLike, Worker, route
from ._node import Node, Relay, SecureChannel, SecureChannelListener, run
from ._tcp import TcpConnection, TcpInlet, TcpListener, TcpOutlet, TcpTransport

__all__ = [
    "Context",
    "Identity",
    "Message",
    "Node",
    "Reachability",
    "Relay",
    "Routable",
    "RouteLike",
    "SecureChannel",
    "SecureChannelListener",
    "TcpConnection",
    "TcpInlet",
    "TcpListener",
    "TcpOutlet",
    "TcpTransport",
    "TrustPolicy",
    "Worker",
    "route",
    "run",
    "trust_everyone",
    "trust_identifiers",
]
