"""Ockam in Python: end-to-end encrypted, mutually authenticated secure channels,
relays and TCP portals, wire-compatible with Ockam 0.139.

The public API is exactly ``ockam.__all__``: a :class:`Node` started in your program,
its TCP transport (``node.tcp``: ``listen``, ``connect``, ``create_inlet``,
``create_outlet``), identities, secure channels and trust policies, relays, workers,
routes and addresses, and the errors (all subclasses of :class:`OckamError`).
Everything else in the package is private.  See ``docs/library.md`` and ``examples/``.

Nothing heavy is imported at module load; the public names are resolved lazily.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.139.0"

_LIBRARY = "ockam.library"
_ERRORS = "ockam.errors"

_LAZY: dict[str, tuple[str, str]] = {
    # nodes, workers and messages
    "Node": (_LIBRARY, "Node"),
    "run": (_LIBRARY, "run"),
    "Worker": (_LIBRARY, "Worker"),
    "Context": (_LIBRARY, "Context"),
    "Message": (_LIBRARY, "Message"),
    # routes and addresses
    "route": (_LIBRARY, "route"),
    "Route": ("ockam.codec.route", "Route"),
    "Address": ("ockam.codec.address", "Address"),
    "MultiAddr": ("ockam.codec.multiaddr", "MultiAddr"),
    "Routable": (_LIBRARY, "Routable"),
    "RouteLike": (_LIBRARY, "RouteLike"),
    # TCP
    "TcpTransport": (_LIBRARY, "TcpTransport"),
    "TcpListener": (_LIBRARY, "TcpListener"),
    "TcpConnection": (_LIBRARY, "TcpConnection"),
    "TcpInlet": (_LIBRARY, "TcpInlet"),
    "TcpOutlet": (_LIBRARY, "TcpOutlet"),
    # identities, trust, secure channels, relays
    "Identity": (_LIBRARY, "Identity"),
    "TrustPolicy": (_LIBRARY, "TrustPolicy"),
    "trust_everyone": (_LIBRARY, "trust_everyone"),
    "trust_identifiers": (_LIBRARY, "trust_identifiers"),
    "SecureChannel": (_LIBRARY, "SecureChannel"),
    "SecureChannelListener": (_LIBRARY, "SecureChannelListener"),
    "Relay": (_LIBRARY, "Relay"),
    "Reachability": (_LIBRARY, "Reachability"),
    # errors
    "OckamError": (_ERRORS, "OckamError"),
    "AddressNotFound": (_ERRORS, "AddressNotFound"),
    "AlreadyExists": (_ERRORS, "AlreadyExists"),
    "DecodeError": (_ERRORS, "DecodeError"),
    "IdentityError": (_ERRORS, "IdentityError"),
    "InvalidArgument": (_ERRORS, "InvalidArgument"),
    "NotFound": (_ERRORS, "NotFound"),
    "ProtocolError": (_ERRORS, "ProtocolError"),
    "Refused": (_ERRORS, "Refused"),
    "RouteError": (_ERRORS, "RouteError"),
    "SecureChannelError": (_ERRORS, "SecureChannelError"),
    "StateError": (_ERRORS, "StateError"),
    "Timeout": (_ERRORS, "Timeout"),
    "TransportError": (_ERRORS, "TransportError"),
}

__all__ = [
    "__version__",
    "Node",
    "run",
    "Worker",
    "Context",
    "Message",
    "route",
    "Route",
    "Address",
    "MultiAddr",
    "Routable",
    "RouteLike",
    "TcpTransport",
    "TcpListener",
    "TcpConnection",
    "TcpInlet",
    "TcpOutlet",
    "Identity",
    "TrustPolicy",
    "trust_everyone",
    "trust_identifiers",
    "SecureChannel",
    "SecureChannelListener",
    "Relay",
    "Reachability",
    "OckamError",
    "AddressNotFound",
    "AlreadyExists",
    "DecodeError",
    "IdentityError",
    "InvalidArgument",
    "NotFound",
    "ProtocolError",
    "Refused",
    "RouteError",
    "SecureChannelError",
    "StateError",
    "Timeout",
    "TransportError",
]

if TYPE_CHECKING:  # what type checkers see; at run time __getattr__ imports on first use
    from .codec.address import Address
    from .codec.multiaddr import MultiAddr
    from .codec.route import Route
    from .errors import (
        AddressNotFound,
        AlreadyExists,
        DecodeError,
        IdentityError,
        InvalidArgument,
        NotFound,
        OckamError,
        ProtocolError,
        Refused,
        RouteError,
        SecureChannelError,
        StateError,
        Timeout,
        TransportError,
    )
    from .library import (
        Context,
        Identity,
        Message,
        Node,
        Reachability,
        Relay,
        Routable,
        RouteLike,
        SecureChannel,
        SecureChannelListener,
        TcpConnection,
        TcpInlet,
        TcpListener,
        TcpOutlet,
        TcpTransport,
        TrustPolicy,
        Worker,
        route,
        run,
        trust_everyone,
        trust_identifiers,
    )


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'ockam' has no attribute {name!r}") from None
    import importlib

    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
