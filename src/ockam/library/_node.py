"""The library node: workers, messages, identities, secure channels and relays."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Collection, Coroutine
from typing import Any, TypeVar

from ..codec.address import Address
from ..codec.route import Route
from ..errors import AlreadyExists, InvalidArgument, OckamError
from ..node.runtime import Node as _RuntimeNode
from ..node.runtime import run as _run_loop
from ..services.relay import RelayService, RemoteRelayHandle, register_relay
from ..services.secure_channel import SecureChannel as _SecureChannel
from ..services.secure_channel import SecureChannelListener as _SecureChannelListener
from ..services.secure_channel import SecureChannels
from ..transport.tcp import TcpTransport as _TcpTransport
from ._flow import EntryPoints, Reachability, flow_control_ids
from ._identities import Identity, IdentityStore, TrustPolicy, trust_everyone
from ._messaging import (
    Context,
    Message,
    RouteLike,
    Worker,
    WorkerAdapter,
    encode_payload,
    to_address,
    to_route,
)
from ._tcp import TcpTransport

__all__ = ["Node", "Relay", "SecureChannel", "SecureChannelListener", "run"]

T = TypeVar("T")

_EVERYONE = trust_everyone()


class SecureChannel:
    """An established secure channel: messages routed through it are encrypted and
    authenticated end to end; ``route(channel, "outlet")`` reaches ``outlet`` on the peer."""

    __slots__ = ("_channel", "_channels")

    def __init__(self, channels: SecureChannels, channel: _SecureChannel) -> None:
        self._channels = channels
        self._channel = channel

    @property
    def address(self) -> Address:
        """The channel's local address (its encryptor)."""
        return self._channel.encryptor

    @property
    def route(self) -> Route:
        """The one-hop route to the channel: ``route(channel, "x")`` reaches ``x`` on the peer."""
        return Route((self._channel.encryptor,))

    @property
    def their_identifier(self) -> str:
        """The identifier of the peer, authenticated by the handshake."""
        return str(self._channel.their_identifier)

    @property
    def flow_control_id(self) -> str:
        """What the peer sends through the channel arrives under this flow control (give
        the channel as ``reachable_from`` to let it reach a worker)."""
        return self._channel.flow_control_id

    async def close(self) -> None:
        """Close the channel (the peer is told)."""
        await self._channels.close(self._channel.encryptor)

    def __repr__(self) -> str:
        return f"SecureChannel({self.address.text!r} with {self.their_identifier})"


class SecureChannelListener:
    """A secure channel listener: peers create channels with ``route(..., address)``."""

    __slots__ = ("_channels", "_entries", "_listener")

    def __init__(
        self, channels: SecureChannels, listener: _SecureChannelListener, entries: EntryPoints
    ) -> None:
        self._channels = channels
        self._listener = listener
        self._entries = entries

    @property
    def address(self) -> Address:
        """The listener's worker address."""
        return self._listener.address

    @property
    def flow_control_id(self) -> str:
        """What arrives through the listener's channels arrives under this flow control."""
        return self._listener.flow_control_id

    async def stop(self) -> None:
        """Stop accepting new channels (established ones stay)."""
        self._entries.remove_entry(self._listener.flow_control_id)
        self._entries.forget(self._listener.address)
        await self._channels.delete_listener(self._listener.address)

    def __repr__(self) -> str:
        return f"SecureChannelListener({self.address.text!r})"


class Relay:
    """A relay registered on a relay node: messages sent there to :attr:`remote_address`
    are forwarded to this node."""

    __slots__ = ("_entries", "_handle", "_node")

    def __init__(self, node: _RuntimeNode, handle: RemoteRelayHandle, entries: EntryPoints) -> None:
        self._node = node
        self._handle = handle
        self._entries = entries

    @property
    def remote_address(self) -> str:
        """The relay's address on the relay node, e.g. ``forward_to_outlet``."""
        return self._handle.info.remote_address

    @property
    def route(self) -> Route:
        """The route from this node to the relay (its last hop is :attr:`remote_address`)."""
        return self._handle.info.forwarding_route

    @property
    def flow_control_id(self) -> str:
        """What the relay forwards here arrives under this flow control."""
        return self._handle.flow_control_id or ""

    async def close(self) -> None:
        """Stop receiving what the relay forwards (the relay node keeps the relay address)."""
        if self._handle.flow_control_id:
            self._entries.remove_entry(self._handle.flow_control_id)
        await self._handle.stop(self._node)

    def __repr__(self) -> str:
        return f"Relay({self.remote_address!r})"


class Node:
    """An Ockam node in this process.

    ::

        async with ockam.Node() as node:
            await node.start_worker("echoer", Echoer())
            reply = await node.send_and_receive(ockam.route("echoer"), "Hello Ockam!")

    Identities live in memory, unless ``home`` names an ``OCKAM_HOME`` directory: then
    they are the named identities (and vaults) that the ``ockam`` command uses.
    Leaving the ``async with`` block stops every worker, transport, channel and relay.

    What comes from other nodes reaches a worker, outlet, listener or relay service only
    if it came through one of the entry points it is reachable from (``reachable_from``):
    by default every TCP listener, secure-channel listener and relay of the node; give a
    list of them (or ``()`` for none) to narrow it.  A worker that sends through a TCP
    connection or a secure channel receives the replies that come back through it.
    """

    def __init__(self, name: str = "node", *, home: str | os.PathLike[str] | None = None) -> None:
        self.name = name
        self._home = home
        self._node: _RuntimeNode | None = None
        self._tcp: TcpTransport | None = None
        self._ctx: Context | None = None
        self._identities: IdentityStore | None = None
        self._channels: SecureChannels | None = None
        self._entries: EntryPoints | None = None
        self._stopped = asyncio.Event()

    # -- life cycle
    async def start(self) -> Node:
        """Start the node (``async with`` does it)."""
        if self._node is not None:
            return self
        node = _RuntimeNode(self.name)
        await node.__aenter__()
        tcp = _TcpTransport.create(node)
        self._node = node
        self._entries = EntryPoints(node)
        self._tcp = TcpTransport(node, tcp, self._entries)
        self._ctx = Context(self, node.context())
        self._identities = IdentityStore(self._home)
        self._stopped = asyncio.Event()
        return self

    async def stop(self) -> None:
        """Stop every worker, listener, connection, inlet, outlet and channel of the node."""
        node, self._node = self._node, None
        if node is None:
            return
        try:
            await node.stop()
        finally:
            if self._identities is not None:
                self._identities.close()
            self._channels = None
            self._stopped.set()

    async def __aenter__(self) -> Node:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def run_forever(self) -> None:
        """Wait until the node is stopped: by :meth:`stop`, Ctrl-C or SIGTERM."""
        self._runtime()
        loop = asyncio.get_running_loop()
        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self._stopped.set)
                installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, Windows
                pass
        try:
            await self._stopped.wait()
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    @property
    def is_running(self) -> bool:
        """Between :meth:`start` and :meth:`stop`."""
        return self._node is not None

    def _runtime(self) -> _RuntimeNode:
        if self._node is None:
            raise OckamError("the node is not running: use `async with ockam.Node() as node:`")
        return self._node

    # -- transports
    @property
    def tcp(self) -> TcpTransport:
        """The TCP transport: ``listen``, ``connect``, ``create_inlet``, ``create_outlet``."""
        self._runtime()
        assert self._tcp is not None
        return self._tcp

    def _entry_points(self) -> EntryPoints:
        self._runtime()
        assert self._entries is not None
        return self._entries

    # -- workers and messages
    async def start_worker(
        self,
        address: str | Address,
        worker: Worker,
        *,
        trust: TrustPolicy | None = None,
        reachable_from: Reachability = None,
    ) -> None:
        """Start ``worker`` at ``address``.  With ``trust``, it only gets the messages that
        came through a secure channel whose peer the policy trusts.  Other nodes reach it
        through ``reachable_from`` (default: every listener and relay of this node; e.g.
        ``[listener]`` for one secure-channel listener only, ``()`` for none)."""
        if not isinstance(worker, Worker):
            raise InvalidArgument(f"{worker!r} is not an ockam.Worker")
        node = self._runtime()
        addr = to_address(address)
        ids = flow_control_ids(reachable_from)
        if node.has_address(addr):
            raise AlreadyExists(f"the address {addr.text} is already used on this node")
        await node.start_worker(addr, WorkerAdapter(self, worker, trust))
        self._entry_points().reach(addr, ids)

    async def stop_worker(self, address: str | Address) -> bool:
        """Stop the worker at ``address``; False if there is none."""
        addr = to_address(address)
        self._entry_points().forget(addr)
        return await self._runtime().stop_worker(addr)

    def _context(self) -> Context:
        self._runtime()
        assert self._ctx is not None
        return self._ctx

    @property
    def address(self) -> Address:
        """The address of the node's own context (the return route of :meth:`send`)."""
        return self._context().address

    async def send(self, route: RouteLike, message: bytes | str) -> None:
        """Send ``message`` along ``route``; replies come back to :meth:`receive`.

        ``bytes`` are sent as they are; a ``str`` as a string message (a BARE string,
        as Rust's ``String``), which :attr:`Message.text` reads.
        """
        await self._context().send(route, message)

    async def receive(self, timeout: float | None = None) -> Message:
        """The next message sent to the node's context."""
        return await self._context().receive(timeout)

    async def send_and_receive(
        self, route: RouteLike, message: bytes | str, timeout: float = 30.0
    ) -> Message:
        """Send ``message`` from a fresh address and return the first reply to it."""
        node = self._runtime()
        with node.context() as ctx:
            await ctx.send(to_route(route), encode_payload(message))
            return Message._from_local(await ctx.receive(timeout))

    # -- identities
    def create_identity(self, name: str | None = None) -> Identity:
        """A new identity (named ``name`` in the node's ``home``, when it has one).  The
        first identity created becomes the node's default identity."""
        self._runtime()
        assert self._identities is not None
        return self._identities.create(name)

    def get_identity(self, name: str | None = None) -> Identity:
        """The identity ``name``; with no name, the node's default identity: the first one
        it created, else (created on first use) a new one, or in a ``home`` the default
        identity of the ``ockam`` command."""
        self._runtime()
        assert self._identities is not None
        return self._identities.get(name)

    def _secure_channels(self, identity: Identity) -> SecureChannels:
        if self._channels is None:
            me = identity._channel
            self._channels = SecureChannels(
                self._runtime(), identity._identity, identity._signer, me.static_key, me.attestation
            )
        return self._channels

    # -- secure channels
    async def create_secure_channel_listener(
        self,
        address: str | Address = "api",
        *,
        identity: Identity | None = None,
        trust: TrustPolicy = _EVERYONE,
        reachable_from: Reachability = None,
    ) -> SecureChannelListener:
        """Accept secure channels at ``address`` (``api`` on nodes made by ``ockam node create``),
        as ``identity`` (default: :meth:`get_identity`), from peers that ``trust`` trusts,
        that come through ``reachable_from`` (default: every listener and relay of this
        node).  The listener is an entry point: what is reachable from every entry point
        is reachable through its channels."""
        ids = flow_control_ids(reachable_from)
        me = identity or self.get_identity()
        channels = self._secure_channels(me)
        listener = await channels.create_listener(
            to_address(address), authorized=trust.identifiers, me=me._channel
        )
        entries = self._entry_points()
        entries.reach(listener.address, ids)
        entries.add_entry(listener.flow_control_id)
        return SecureChannelListener(channels, listener, entries)

    async def create_secure_channel(
        self,
        route: RouteLike,
        *,
        identity: Identity | None = None,
        trust: TrustPolicy = _EVERYONE,
        timeout: float = 30.0,
    ) -> SecureChannel:
        """Run the handshake with the listener at the end of ``route``, as ``identity``
        (default: :meth:`get_identity`); the peer must be trusted by ``trust``."""
        me = identity or self.get_identity()
        channels = self._secure_channels(me)
        channel = await channels.create_channel(
            to_route(route), authorized=trust.identifiers, timeout=timeout, me=me._channel
        )
        return SecureChannel(channels, channel)

    # -- relays
    async def start_relay_service(self, *, reachable_from: Reachability = None) -> None:
        """Make this node a relay node: other nodes can then :meth:`create_relay` here
        (and reach the relays) through ``reachable_from`` (default: every listener)."""
        entries = self._entry_points()
        ids = flow_control_ids(reachable_from)
        # (the live set of entry points: each new relay consumes those there are then)
        relays: Collection[str] = entries.ids if ids is None else ids
        service = await RelayService(self._runtime(), relay_consumes=relays).start()
        for address in service.addresses:
            entries.reach(address, ids)

    async def create_relay(self, route: RouteLike, name: str | None = None, timeout: float = 30.0) -> Relay:
        """Register a relay on the relay node at the end of ``route`` (e.g.
        ``Address.tcp("relay.example.com:4000")``); ``name`` None asks for a random name."""
        node = self._runtime()
        handle = await register_relay(node, to_route(route), name, timeout)
        entries = self._entry_points()
        if handle.flow_control_id:
            entries.add_entry(handle.flow_control_id)
        return Relay(node, handle, entries)

    def __repr__(self) -> str:
        return f"Node({self.name!r}, running={self.is_running})"


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to completion in a new event loop (uvloop when installed) and return
    its result; Ctrl-C ends the program quietly (exit status 130)."""
    try:
        return _run_loop(main)
    except KeyboardInterrupt:
        raise SystemExit(130) from None
