"""Routes, messages, workers and contexts of the library API."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeAlias, runtime_checkable

from ..codec import bare
from ..codec.address import Address
from ..codec.multiaddr import MultiAddr
from ..codec.route import Route
from ..errors import DecodeError, InvalidArgument
from ..node.message import LocalMessage
from ..node.runtime import Context as _RuntimeContext
from ..node.runtime import Worker as _RuntimeWorker
from ._identities import TrustPolicy

if TYPE_CHECKING:
    from ._node import Node

__all__ = ["Context", "Message", "Routable", "RouteLike", "Worker", "route"]

log = logging.getLogger("ockam.library")


@runtime_checkable
class Routable(Protocol):
    """Anything with a ``route``: secure channels, TCP connections, relays."""

    @property
    def route(self) -> Route:
        """The route that leads to this object (usually one hop)."""
        ...


#: What the library accepts wherever a route is expected.
RouteLike: TypeAlias = "Route | Address | str | Routable"


def route(*hops: RouteLike) -> Route:
    """Build a route, first hop first.

    Each hop is an address text (``"echo"``, ``"1#127.0.0.1:4000"``), an
    :class:`Address` (``Address.tcp("127.0.0.1:4000")``), a :class:`Route`, a
    multiaddr text (``"/ip4/127.0.0.1/tcp/4000/service/api"``), or an object with a
    ``route`` such as a secure channel: ``route(channel, "outlet")``.  A text with
    ``=>`` is a whole route (``"a => b"``).
    """
    out: list[Address] = []
    for hop in hops:
        out.extend(_hop(hop))
    return Route(out)


def _hop(hop: RouteLike) -> Iterable[Address]:
    if isinstance(hop, Route):
        return hop.addresses
    if isinstance(hop, Address):
        return (hop,)
    if isinstance(hop, str):
        if hop.startswith("/"):
            return _multiaddr_route(hop)
        if "=>" in hop:
            return Route.parse(hop).addresses
        if not hop:
            raise InvalidArgument("an empty address is not a route hop")
        return (Address.parse(hop),)
    if isinstance(hop, Routable):
        return hop.route.addresses
    raise InvalidArgument(f"cannot use {hop!r} as a route hop")


def _multiaddr_route(text: str) -> list[Address]:
    """``/ip4|ip6|dnsaddr/H/tcp/P`` becomes a TCP hop, ``/service|worker/X`` a local hop."""
    components = list(MultiAddr.parse(text))
    out: list[Address] = []
    i = 0
    while i < len(components):
        c = components[i]
        if c.protocol in ("ip4", "ip6", "dnsaddr"):
            if i + 1 >= len(components) or components[i + 1].protocol != "tcp":
                raise InvalidArgument(f"{text}: /{c.protocol} must be followed by /tcp")
            host = f"[{c.value}]" if c.protocol == "ip6" else c.value
            out.append(Address.tcp(f"{host}:{components[i + 1].value}"))
            i += 2
        elif c.protocol in ("service", "worker"):
            out.append(Address.local(c.value))
            i += 1
        else:
            raise InvalidArgument(
                f"{text}: /{c.protocol} is not supported by the library (use /ip4, /dnsaddr, /tcp, /service)"
            )
    return out


def to_address(address: str | Address) -> Address:
    """A worker address: a non-empty text (``"echoer"``) or an :class:`Address`."""
    if isinstance(address, Address):
        return address
    if not isinstance(address, str) or not address:
        raise InvalidArgument(f"invalid worker address {address!r}")
    return Address.parse(address)


def to_route(value: RouteLike) -> Route:
    return route(value)


def encode_payload(message: bytes | str) -> bytes:
    """``bytes`` are sent as they are; ``str`` as a BARE string (Rust's ``String`` message)."""
    if isinstance(message, str):
        return bare.encode_string(message)
    if isinstance(message, (bytes, bytearray, memoryview)):
        return bytes(message)
    raise InvalidArgument(f"a message is bytes or str, not {type(message).__name__}")


@dataclass(frozen=True, slots=True)
class Message:
    """A message received by a worker or by :meth:`Node.receive`.

    ``return_route`` leads back to the sender: answer with
    ``await ctx.send(msg.return_route, reply)``.  ``their_identifier`` is the identifier
    of the peer when the message came through a secure channel (None otherwise).
    """

    payload: bytes
    onward_route: Route
    return_route: Route
    their_identifier: str | None = None

    @property
    def text(self) -> str:
        """The payload decoded as a string message (a BARE string, as ``send("text")`` makes)."""
        text, end = bare.decode_string(self.payload)
        if end != len(self.payload):
            raise DecodeError("the message is not a string message: trailing bytes")
        return text

    @classmethod
    def _from_local(cls, msg: LocalMessage) -> Message:
        identifier = msg.local_info.get("identifier")
        return cls(
            msg.payload, msg.onward_route, msg.return_route, None if identifier is None else str(identifier)
        )


class Context:
    """A worker's handle on its node: its address, and sending and receiving from it."""

    __slots__ = ("_ctx", "_node")

    def __init__(self, node: Node, ctx: _RuntimeContext) -> None:
        self._node = node
        self._ctx = ctx

    @property
    def address(self) -> Address:
        """The (first) address of this worker or context."""
        return self._ctx.address

    @property
    def node(self) -> Node:
        """The node this context belongs to."""
        return self._node

    async def send(self, route: RouteLike, message: bytes | str) -> None:
        """Send ``message`` along ``route``; its return route is this context's address."""
        await self._ctx.send(to_route(route), encode_payload(message))

    async def receive(self, timeout: float | None = None) -> Message:
        """The next message sent to this context (raises :class:`ockam.Timeout` after ``timeout`` s)."""
        return Message._from_local(await self._ctx.receive(timeout))

    async def send_and_receive(
        self, route: RouteLike, message: bytes | str, timeout: float = 30.0
    ) -> Message:
        """Send, then wait for the next message (the reply)."""
        await self.send(route, message)
        return await self.receive(timeout)


class Worker:
    """A worker: subclass it and override :meth:`handle_message`; start it with
    :meth:`Node.start_worker`.

    ::

        class Echoer(ockam.Worker):
            async def handle_message(self, ctx: ockam.Context, msg: ockam.Message) -> None:
                await ctx.send(msg.return_route, msg.payload)
    """

    async def initialize(self, ctx: Context) -> None:
        """Called once, before the first message."""

    async def handle_message(self, ctx: Context, msg: Message) -> None:
        """Called for every message, one at a time."""
        raise NotImplementedError

    async def shutdown(self, ctx: Context) -> None:
        """Called once when the worker (or its node) stops."""


class WorkerAdapter(_RuntimeWorker):
    """Runs a library :class:`Worker` on the node runtime; drops what ``trust`` refuses."""

    def __init__(self, node: Node, worker: Worker, trust: TrustPolicy | None) -> None:
        self.node = node
        self.worker = worker
        self.trust = trust
        self.context: Context | None = None

    def _context(self, ctx: _RuntimeContext) -> Context:
        if self.context is None:
            self.context = Context(self.node, ctx)
        return self.context

    async def initialize(self, ctx: _RuntimeContext) -> None:
        # a worker that sends through a connection or channel gets the replies through it
        ctx.receives_replies = True
        await self.worker.initialize(self._context(ctx))

    async def handle_message(self, ctx: _RuntimeContext, msg: LocalMessage) -> None:
        if self.trust is not None and not self.trust.allows_message(msg):
            log.warning("worker %s: dropping a message refused by its trust policy", ctx.address)
            return
        await self.worker.handle_message(self._context(ctx), Message._from_local(msg))

    async def shutdown(self, ctx: _RuntimeContext) -> None:
        await self.worker.shutdown(self._context(ctx))
