"""The one error tree of the project.

Every error raised by this package is an :class:`OckamError`.  Its ``str()`` is a
one-line message that says what failed and, where it helps, what to do; the CLI
prints exactly that line and exits non-zero.
"""

from __future__ import annotations


class OckamError(Exception):
    """Base of every error raised by this package."""

    exit_code: int = 70

    def __str__(self) -> str:
        text = super().__str__()
        return " ".join(text.split()) if text else type(self).__name__


class DecodeError(OckamError):
    """Bytes or text that do not decode (bad CBOR, BARE, multiaddr, address...)."""


class ProtocolError(OckamError):
    """A peer broke the wire protocol (bad version byte, oversized frame...)."""


class RouteError(OckamError):
    """A route or multiaddr that cannot be used (unknown node, unresolvable hop...)."""


class AddressNotFound(RouteError):
    """A message was sent to a local address that no worker owns."""


class TransportError(OckamError):
    """A transport failure: connection refused, port in use, connection lost."""


class TimeoutError_(OckamError):
    """An operation did not complete in time."""


class NotFound(OckamError):
    """A named thing (node, listener, service...) does not exist."""


class AlreadyExists(OckamError):
    """A named thing (node, service...) already exists."""


class InvalidArgument(OckamError):
    """User input that cannot be used (bad name, bad flag value...)."""


class ApiError(OckamError):
    """A node answered a control-API request with a non-200 status."""

    def __init__(self, message: str, status: int = 500) -> None:
        super().__init__(message)
        self.status = status


class StateError(OckamError):
    """The local state (OCKAM_HOME) cannot be read or written."""


class IdentityError(OckamError):
    """An identity, change history, purpose key or credential does not verify."""


class SecureChannelError(OckamError):
    """A secure channel could not be established or a message did not decrypt."""


class Refused(OckamError):
    """A peer refused the request (its access control or policy), with the reason it gave."""


class PolicyError(OckamError):
    """An ABAC policy expression that does not parse, or whose evaluation fails."""


# Friendly alias: ``ockam.Timeout`` reads better than the underscore name.
Timeout = TimeoutError_

__all__ = [
    "AddressNotFound",
    "AlreadyExists",
    "ApiError",
    "DecodeError",
    "IdentityError",
    "InvalidArgument",
    "NotFound",
    "OckamError",
    "PolicyError",
    "ProtocolError",
    "Refused",
    "RouteError",
    "SecureChannelError",
    "StateError",
    "Timeout",
    "TimeoutError_",
    "TransportError",
]
