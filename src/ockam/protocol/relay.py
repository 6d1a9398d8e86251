"""Relay (forwarding service) registration and forwarding, as pure functions.

Client side (the node that registers, behind NAT): send a BARE string to
``route to R + [service]`` from a fresh local address ``main_remote``: the relay name to
``static_forwarding_service``, or ``register`` to ``forwarding_service`` for a random name.

Relay side (node R): the relay address is ``prefix + name`` (``forward_to_<name>``); the
relay answers once with the BARE string of that address, sent along the registration's
return route with return route ``[relay address]``, and from then on forwards every
message it receives by replacing its own hop with the registration return route minus its
last hop (``main_remote``), leaving the return route unchanged.

A refused registration (relays.md §6) gets no answer from a Rust relay node, so the
registering node waits for its timeout.  Ours answers a refusal with the BARE string
``refused: <reason>`` (:func:`refusal`), which our clients report at once
(:class:`~ockam.errors.Refused`) and a Rust client ignores as an invalid answer (it then
times out as before: the text never ends with the requested name).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from ..codec import bare
from ..codec.address import LOCAL, Address
from ..codec.route import Route
from ..errors import DecodeError, ProtocolError, Refused

__all__ = [
    "EPHEMERAL_REQUEST",
    "RELAY_PREFIX",
    "RELAY_SERVICE",
    "STATIC_RELAY_SERVICE",
    "RelayRegistration",
    "RemoteRelayInfo",
    "accept_registration",
    "ephemeral_name",
    "forward_onward_route",
    "parse_registration_request",
    "parse_registration_response",
    "refusal",
    "registration_request",
    "registration_service",
    "relay_name_allowed",
]

REFUSED = "refused: "

RELAY_SERVICE = "forwarding_service"
STATIC_RELAY_SERVICE = "static_forwarding_service"
RELAY_PREFIX = "forward_to_"
EPHEMERAL_REQUEST = "register"


def refusal(reason: str, name: str | None) -> bytes:
    """The answer to a refused registration of ``name``: it never ends with the name (a
    Rust client would take an answer that does for a success)."""
    text = REFUSED + (reason or "refused")
    while name and text.endswith(name):
        text += "."
    return bare.encode_string(text)


# -- client side ------------------------------------------------------------------------


def registration_service(name: str | None) -> str:
    """The relay service address a registration goes to (``None`` = ephemeral relay)."""
    return RELAY_SERVICE if name is None else STATIC_RELAY_SERVICE


def registration_request(name: str | None) -> bytes:
    """The registration payload: BARE string of the name, or of ``register`` (ephemeral)."""
    return bare.encode_string(EPHEMERAL_REQUEST if name is None else name)


@dataclass(frozen=True, slots=True)
class RemoteRelayInfo:
    """What the registering node learns from the relay's answer."""

    forwarding_route: Route  # the answer's return route, e.g. [tcp sender, forward_to_s]
    remote_address: str  # the relay address on R, e.g. "forward_to_s"


def parse_registration_response(payload: bytes, return_route: Route, name: str | None) -> RemoteRelayInfo:
    """Check the relay's answer to a registration of ``name`` (None = ephemeral).

    The payload must be a BARE string; for a static name it must end with that name (a
    Rust relay answers ``forward_to_<name>``, Ockam's hosted relays just ``<name>``). The
    last hop of the return route is the relay address and must be a local address."""
    text, _ = bare.decode_string(payload)
    if text.startswith(REFUSED):
        raise Refused(f"the relay node refused the relay: {text[len(REFUSED) :]}")
    if name is not None and name != EPHEMERAL_REQUEST and not text.endswith(name):
        raise ProtocolError(f"relay answered {text!r} to the registration of {name!r}")
    last = return_route.recipient
    if last.transport_type != LOCAL:
        raise ProtocolError(f"relay address {last} is not a local address")
    return RemoteRelayInfo(return_route, last.text)


# -- relay side -------------------------------------------------------------------------


def parse_registration_request(payload: bytes) -> str | None:
    """The requested name, or None for an ephemeral registration (``register``)."""
    name, _ = bare.decode_string(payload)
    return None if name == EPHEMERAL_REQUEST else name


def ephemeral_name() -> str:
    """A random relay name: 16 random bytes as 32 lowercase hex characters."""
    return secrets.token_hex(16)


def relay_name_allowed(name: str, ockam_relay: str | None) -> bool:
    """The ``ockam-relay`` credential attribute check of a relay service with an authority:
    ``*`` allows any name, otherwise it must equal the requested name (without prefix)."""
    return ockam_relay is not None and ockam_relay in ("*", name)


@dataclass(frozen=True, slots=True)
class RelayRegistration:
    """A registration accepted by the relay service."""

    name: str  # requested name (random for an ephemeral relay), without prefix
    relay_address: Address  # prefix + name
    forward_route: Route  # where forwarded messages go: registration return route minus last hop
    response_onward_route: Route  # the full registration return route
    response_return_route: Route  # [relay address]
    response_payload: bytes  # BARE string of the relay address


def accept_registration(
    payload: bytes,
    return_route: Route,
    *,
    prefix: str = RELAY_PREFIX,
    random_name: str | None = None,
) -> RelayRegistration:
    """Handle a registration received by the relay service with ``return_route`` (as seen
    on the relay node). ``random_name`` is used for an ephemeral registration (a fresh
    :func:`ephemeral_name` when not given)."""
    if not return_route:
        raise DecodeError("relay registration without return route")
    requested = parse_registration_request(payload)
    name = requested if requested is not None else (random_name or ephemeral_name())
    full = prefix + name
    address = Address.local(full)
    return RelayRegistration(
        name=name,
        relay_address=address,
        forward_route=Route(return_route.addresses[:-1]),
        response_onward_route=return_route,
        response_return_route=Route([address]),
        response_payload=bare.encode_string(full),
    )


def forward_onward_route(onward_route: Route, forward_route: Route) -> Route:
    """The onward route of a message leaving a relay worker: its own (first) hop replaced
    by the forward route. The return route is left as it is."""
    if not onward_route:
        raise DecodeError("message for a relay without onward route")
    return forward_route + onward_route.step()
