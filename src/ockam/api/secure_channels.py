"""Node-manager endpoints for secure channels and listeners (node-api.md §5.3), and the
``/secure/<listener>`` and ``/project/<name>`` resolution hook of the connection builder
(multiaddr.md §5.3, §5.4)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..codec.address import Address
from ..codec.multiaddr import Component, MultiAddr
from ..codec.route import Route
from ..errors import DecodeError, OckamError, SecureChannelError
from ..identity import CredentialAndPurposeKey, Identifier, MemoryCredentialRetriever
from ..protocol.api_models import duration_from_cbor
from ..protocol.api_wire import Request, Response
from ..services.secure_channel import (
    DEFAULT_TIMEOUT,
    ChannelIdentity,
    SecureChannel,
    SecureChannelListener,
    SecureChannels,
)
from ..transport.tcp import TcpConnection, TcpTransport
from .node_manager import NodeManager, fail, ok
from .resolve import ProjectLookup, project_transport, resolve_multiaddr

__all__ = ["IdentityProvider", "install", "listener_status", "secure_hook", "start_listener"]

# Loads a named identity of the local state (with its secure-channel key) for a listener or
# a channel created with ``--identity NAME``.
IdentityProvider = Callable[[str], ChannelIdentity]


def listener_status(li: SecureChannelListener) -> dict[int, Any]:
    return {1: li.address.to_cbor(), 2: {1: li.flow_control_id}, 3: False}


def _channel_show(c: SecureChannel) -> dict[int, Any]:
    body: dict[int, Any] = {1: str(c.encryptor), 2: str(c.route_to_peer)}
    body[3] = [str(i) for i in c.authorized]
    body[4] = {1: c.flow_control_id}
    return body


async def start_listener(
    manager: NodeManager,
    channels: SecureChannels,
    address: Address | str = "api",
    authorized: list[Identifier] | None = None,
    me: ChannelIdentity | None = None,
) -> SecureChannelListener:
    """A secure-channel listener of a CLI node, with Rust's flow controls: it is reached
    over the node's TCP listener, and its channels reach ``echo``, ``uppercase`` and the
    listener itself (a channel in a channel).  The ``api`` listener's channels also reach
    the outlets and, with an authority, the relays (set where those start)."""
    listener = await channels.create_listener(
        address, authorized, me=me, consumes=(manager.api_flow_control_id,)
    )
    flow_controls = manager.node.flow_controls
    for consumer in ("echo", "uppercase", listener.address):
        flow_controls.add_consumer(consumer, listener.flow_control_id)
    if listener.address == Address.local("api"):
        manager.api_channel_flow_control_id = listener.flow_control_id
    return listener


def _identifiers(obj: Any) -> list[Identifier]:
    if obj is None:
        return []
    if not isinstance(obj, list):
        raise DecodeError("authorized identifiers must be an array")
    return [Identifier.coerce(i) for i in obj]


def _address(obj: Any) -> Address:
    if isinstance(obj, str):
        return Address.parse(obj)
    return Address.from_cbor(obj)


class SecureResolver:
    """Resolves ``/secure/<listener>`` by opening a channel, and ``/project/<name>`` (when
    it has a project lookup) by opening a channel to the project node that trusts only
    the project's identifier and presents the node's credential (the node's authority
    verifies what the project presents); closes the channels it opened."""

    def __init__(
        self,
        channels: SecureChannels,
        timeout: float = DEFAULT_TIMEOUT,
        projects: ProjectLookup | None = None,
    ) -> None:
        self.channels = channels
        self.timeout = timeout
        self.projects = projects

    async def resolve_project(self, name: str, tcp: TcpTransport) -> tuple[Address, TcpConnection | None]:
        if self.projects is None:
            raise SecureChannelError(f"/project/{name} cannot be resolved: this node knows no projects")
        access = self.projects(name)
        if access.identity is not None:
            self.channels.learn(access.identity)
        route, connection = await project_transport(access, tcp)
        try:
            channel = await self.channels.create_channel(
                route, authorized=[access.identifier], timeout=self.timeout
            )
        except BaseException as e:
            if connection is not None:
                await tcp.disconnect(connection)
            if isinstance(e, OckamError):
                raise SecureChannelError(f"cannot open a secure channel to the project {name}: {e}") from e
            raise
        return channel.encryptor, connection

    async def __call__(self, route: Route, component: Component) -> Address:
        channel = await self.channels.create_channel(
            route + Route((Address.local(component.value),)), timeout=self.timeout
        )
        return channel.encryptor

    async def close(self, encryptor: Address) -> None:
        await self.channels.close(encryptor)


def secure_hook(
    channels: SecureChannels, timeout: float = DEFAULT_TIMEOUT, projects: ProjectLookup | None = None
) -> SecureResolver:
    return SecureResolver(channels, timeout, projects)


def _credential(obj: Any) -> CredentialAndPurposeKey | None:
    if obj is None:
        return None
    try:
        return CredentialAndPurposeKey.from_cbor(obj)
    except OckamError as e:
        raise DecodeError(f"invalid credential: {e}") from None


def install(
    manager: NodeManager,
    channels: SecureChannels,
    identities: IdentityProvider | None = None,
    projects: ProjectLookup | None = None,
) -> None:
    def channel_identity(name: Any) -> ChannelIdentity | None:
        if not isinstance(name, str) or not name:
            return None
        if identities is None:
            from ..errors import NotFound

            raise NotFound(f"The identity {name} cannot be loaded by this node")
        return identities(name)

    manager.secure_hook = secure_hook(channels, projects=projects)
    manager.secure_channel_listeners = lambda: [listener_status(li) for li in channels.listeners.values()]  # type: ignore[method-assign]

    async def list_channels(req: Request, params: list[str]) -> Response:
        return ok([str(c.encryptor) for c in channels.channels.values()])

    async def create_channel(req: Request, params: list[str]) -> Response:
        body = req.body if isinstance(req.body, dict) else {}
        raw = body.get(1)
        if not isinstance(raw, bytes):
            raise DecodeError("CreateSecureChannelRequest needs a multiaddr")
        ma = MultiAddr.from_bytes(raw)
        authorized = _identifiers(body.get(2))
        timeout = duration_from_cbor(body[4]) / 1000 if body.get(4) is not None else DEFAULT_TIMEOUT
        comps = list(ma.components)
        # `--to /node/b/service/api`: the last hop is the listener (no /secure in the route)
        if comps and comps[-1].protocol == "secure":
            comps[-1] = Component("service", comps[-1].value)
        conn = await resolve_multiaddr(MultiAddr(comps), manager.tcp, manager.secure_hook)
        manager.add_connection_consumers(conn)
        me = channel_identity(body.get(5))
        credential = _credential(body.get(6))
        if credential is None:
            channel = await channels.create_channel(conn.route, authorized=authorized, timeout=timeout, me=me)
        else:  # present this credential instead of the node's
            channel = await channels.create_channel(
                conn.route,
                authorized=authorized,
                timeout=timeout,
                me=me,
                credential_retriever=MemoryCredentialRetriever(credential),
            )
        return ok({1: channel.encryptor.to_cbor(), 2: {1: channel.flow_control_id}})

    async def delete_channel(req: Request, params: list[str]) -> Response:
        address = _address((req.body or {}).get(1))
        closed = await channels.close(address)
        return ok({1: str(address)} if closed else {})

    async def show_channel(req: Request, params: list[str]) -> Response:
        address = _address((req.body or {}).get(1))
        channel = channels.channels.get(address)
        return ok(_channel_show(channel) if channel else {})

    async def list_listeners(req: Request, params: list[str]) -> Response:
        return ok([listener_status(li) for li in channels.listeners.values()])

    async def create_listener(req: Request, params: list[str]) -> Response:
        body = req.body if isinstance(req.body, dict) else {}
        address = _address(body.get(1))
        if address in channels.listeners or manager.node.has_address(address):
            return fail(req, 409, f"a secure channel listener already exists at {address.text}")
        me = channel_identity(body.get(3))
        await start_listener(manager, channels, address, _identifiers(body.get(2)), me)
        return ok()

    async def delete_listener(req: Request, params: list[str]) -> Response:
        address = _address((req.body or {}).get(1))
        if not await channels.delete_listener(address):
            return fail(req, 404, f"Secure channel listener {address.text} not found")
        return ok({1: address.to_cbor()})

    async def show_listener(req: Request, params: list[str]) -> Response:
        address = _address((req.body or {}).get(1))
        li = channels.listeners.get(address)
        if li is None:
            return fail(req, 404, f"Secure channel listener {address.text} not found")
        return ok(listener_status(li))

    r = manager.add_route
    r("GET", "node/secure_channel", list_channels)
    r("POST", "node/secure_channel", create_channel)
    r("DELETE", "node/secure_channel", delete_channel)
    r("GET", "node/show_secure_channel", show_channel)
    r("GET", "node/secure_channel_listener", list_listeners)
    r("POST", "node/secure_channel_listener", create_listener)
    r("DELETE", "node/secure_channel_listener", delete_listener)
    r("GET", "node/show_secure_channel_listener", show_listener)
