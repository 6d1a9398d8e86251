"""Node-manager endpoints for TCP inlets and outlets (node-api.md §5.4, portals.md §6, §8).

``install(manager)`` adds ``GET/POST /node/inlet``, ``GET/DELETE /node/inlet/<alias>``,
``GET/POST /node/outlet``, ``GET/DELETE /node/outlet/<address>`` and lists the
node's inlets and outlets in ``GET /node/resources``.

Each inlet has one session (``ockam.api.session``): its ``--to`` multiaddr is resolved
(``resolve_multiaddr``, with the node's ``/secure`` hook) into one route shared by all
the inlet's client connections; when the route dies (its TCP connection closes, or
three liveness pings to the outlet node's ``echo`` go unanswered) the inlet is paused
(new clients are closed at once), its connections are closed, and the multiaddr is
resolved again with backoff and jitter until it works.

The inlet's TCP port is bound when the inlet is created (Rust binds it after the first
successful connection): a client that connects while the outlet is unreachable is
closed at once instead of being refused.

Access control (abac.md §8), on a node with policies (``manager.access``): an outlet
serves only the identities its policy allows (``policy_expression``, stored as the
policy of the outlet's address, else the ``tcp-outlet`` type policy when the node has an
authority); an inlet sends only to an outlet side its policy allows.  The inlet checks
the outlet side's identity (its secure channel's peer) each time its session connects:
a refusal keeps the inlet down (retrying), and ``InletStatus.payload`` says why.  An
inlet's ``secure_channel_identifier`` names the identity its ``/secure`` hops use, and
``authorized`` the only identity they accept as the other end.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from ..abac import policy_from_cbor
from ..abac.defaults import ResourceType
from ..codec.address import Address
from ..codec.multiaddr import Component, MultiAddr
from ..codec.route import Route
from ..errors import ApiError, DecodeError, OckamError, PolicyError, TimeoutError_
from ..identity import Identifier
from ..protocol import api_models as models
from ..protocol.api_wire import Request, Response, encode_error_body
from ..services.access_control import AccessControl, AllowAll, route_identifier
from ..services.portal import PONG_TIMEOUT, Portals, TcpInlet, TcpOutlet
from ..services.secure_channel import ChannelIdentity
from ..transport.tcp import TcpConnection, TcpTransport
from .node_manager import NodeManager, ok
from .resolve import Connection, SecureHook, resolve_multiaddr
from .secure_channels import SecureResolver
from .session import (
    Session,
    SessionOutcome,
    connection_closed,
    connection_held_back,
    transport_route,
)

__all__ = [
    "DEFAULT_OUTLET_ADDRESS",
    "InletEntry",
    "PortalsApi",
    "connection_status",
    "install",
    "random_name",
]

log = logging.getLogger("ockam.api.portals")

DEFAULT_OUTLET_ADDRESS = "outlet"
# Rust's bound on one connection attempt of an inlet when ``wait_for_outlet_duration``
# is absent (MAX_CONNECT_TIME).
DEFAULT_WAIT_FOR_OUTLET = 15.0

_ADJECTIVES = (
    "able", "bold", "brave", "calm", "clever", "cool", "eager", "fair", "fancy", "gentle",
    "happy", "jolly", "keen", "kind", "lively", "lucky", "merry", "nice", "proud", "quick",
    "quiet", "rapid", "sharp", "shiny", "smart", "swift", "tidy", "vivid", "warm", "witty",
)  # fmt: skip
_NOUNS = (
    "badger", "bear", "beaver", "bison", "crane", "deer", "dolphin", "eagle", "falcon", "fox",
    "gecko", "hawk", "heron", "ibis", "koala", "lemur", "lion", "lynx", "marten", "moose",
    "otter", "owl", "panda", "puffin", "raven", "seal", "swan", "tiger", "walrus", "wolf",
)  # fmt: skip


def random_name() -> str:
    """A random two-word name such as ``brave-otter`` (Rust's ``random_name`` style)."""
    return f"{secrets.choice(_ADJECTIVES)}-{secrets.choice(_NOUNS)}"


def connection_status(up: bool) -> list[Any]:
    """``ConnectionStatus``: ``[1, []]`` Up, ``[0, []]`` Down."""
    return [1, []] if up else [0, []]


def _fail(status: int, message: str) -> Response:
    """An error with the message only (Rust's ``*_no_request`` helpers)."""
    return Response(status, encode_error_body(message))


@dataclass(eq=False)
class InletEntry:
    """An inlet of the node manager: its listener and its session."""

    alias: str
    inlet: TcpInlet
    outlet_addr: str  # the multiaddr as given, text form
    multiaddr: MultiAddr
    session: Session[Route]
    connection: Connection | None = None
    # why the inlet's policy refused the outlet side at the last connection (None: it did not)
    refusal: str | None = None

    def status(self) -> dict[int, Any]:
        """``InletStatus`` (portals.md §8.3); ``payload`` (4) carries a policy refusal."""
        body: dict[int, Any] = {1: self.inlet.bind_address}
        outcome = self.session.outcome
        if outcome is not None:
            body[2] = self.inlet.processor_address.text
        body[3] = self.alias
        if self.refusal is not None:
            body[4] = self.refusal
        if outcome is not None:
            body[5] = str(outcome.value)
        body[6] = connection_status(outcome is not None)
        body[7] = self.outlet_addr
        return body


def outlet_status(outlet: TcpOutlet) -> dict[int, Any]:
    """``OutletStatus``: 1 ``to`` [host, port], 2 ``worker_addr`` address."""
    return {1: [outlet.host, outlet.port], 2: outlet.address.to_cbor()}


class PortalsApi:
    """The inlets and outlets managed through the node API of one node."""

    def __init__(
        self,
        manager: NodeManager,
        *,
        ping_interval: float | None = None,
        retry_min: float | None = None,
        retry_max: float | None = None,
        pong_timeout: float = PONG_TIMEOUT,
    ) -> None:
        self.manager = manager
        self.node = manager.node
        self.tcp = manager.tcp
        self.portals = Portals(manager.node, manager.tcp)
        self.inlets: dict[str, InletEntry] = {}
        self.pong_timeout = pong_timeout
        self.session_options: dict[str, Any] = {}
        if ping_interval is not None:
            self.session_options["ping_interval"] = ping_interval
        if retry_min is not None:
            self.session_options["retry_min"] = retry_min
        if retry_max is not None:
            self.session_options["retry_max"] = retry_max
        manager.node.on_stop(self.stop)

    async def stop(self) -> None:
        """Stop every inlet session (the node is stopping)."""
        for entry in list(self.inlets.values()):
            await entry.session.stop()

    # -- inlets
    async def create_inlet(self, body: models.CreateInlet) -> InletEntry:
        """Create an inlet (raises :class:`ApiError` 400 on a refused request)."""
        if body.ebpf:
            raise ApiError("eBPF support is not enabled", 400)
        if body.enable_udp_puncture:
            raise ApiError("Can't enable UDP puncture or non UDP node", 400)
        if body.tls_certificate_provider is not None:
            raise ApiError("TLS inlets are not supported by this node", 400)
        alias = body.alias or random_name()
        if alias in self.inlets:
            raise ApiError(f"A TCP inlet with alias '{alias}' already exists", 400)
        bind = str(body.listen_addr)
        if body.listen_addr.port != 0 and any(e.inlet.bind_address == bind for e in self.inlets.values()):
            raise ApiError(f"A TCP inlet with bind tcp address '{bind}' already exists", 400)
        hook = self._inlet_hook(body)
        access = self._access(alias, ResourceType.TCP_INLET, body.policy_expression)
        try:
            inlet = await self.portals.create_inlet(
                alias, bind, None, pong_timeout=self.pong_timeout, access=access
            )
        except OckamError as e:
            raise ApiError(str(e), 400) from None
        wait = (
            body.wait_for_outlet_duration_ms / 1000
            if body.wait_for_outlet_duration_ms
            else DEFAULT_WAIT_FOR_OUTLET
        )
        entry_box: list[InletEntry] = []

        async def create() -> SessionOutcome[Route]:
            entry = entry_box[0]
            conn = await _resolve_with_timeout(self.manager, entry.multiaddr, wait, hook)
            if access is not None:
                await self._check_outlet_side(entry, access, conn)
            entry.connection = conn
            inlet.unpause(conn.route)
            return SessionOutcome(
                conn.route, transport_route(conn), connection_closed(conn), connection_held_back(conn)
            )

        async def close() -> None:
            entry = entry_box[0]
            inlet.pause()
            inlet.close_connections()
            conn, entry.connection = entry.connection, None
            if conn is not None:
                await conn.close(self.tcp)

        session: Session[Route] = Session(self.node, f"inlet {alias}", create, close, **self.session_options)
        entry = InletEntry(alias, inlet, str(body.outlet_addr), body.outlet_addr, session)
        entry_box.append(entry)
        self.inlets[alias] = entry
        if body.wait_connection:
            try:
                await session.initial_connect()
            except Exception as e:
                log.warning(
                    "inlet %s: cannot reach the outlet yet (%s); retrying in the background", alias, e
                )
        session.start()
        return entry

    async def delete_inlet(self, alias: str) -> InletEntry:
        entry = self.inlets.pop(alias, None)
        if entry is None:
            raise ApiError(f"Inlet with alias {alias} not found", 400)
        await entry.session.stop()
        await self.portals.delete_inlet(alias)
        return entry

    def inlet_statuses(self) -> list[Any]:
        return [e.status() for e in self.inlets.values()]

    # -- access control
    def _access(self, resource: str, resource_type: ResourceType, expression: Any) -> AccessControl | None:
        """The access control of a new inlet or outlet (None: open to everyone)."""
        policy = None
        if expression is not None:
            try:
                policy = policy_from_cbor(expression)
            except OckamError as e:
                raise ApiError(f"Invalid policy expression: {e}", 400) from None
        node_access = self.manager.access
        if node_access is None:
            if policy is not None:
                raise ApiError("this node does not enforce policies", 400)
            return None
        control = node_access.for_resource(resource, resource_type, policy)
        return None if isinstance(control, AllowAll) else control

    async def _check_outlet_side(self, entry: InletEntry, access: AccessControl, conn: Connection) -> None:
        """The inlet's policy must allow the identity at the other end of its route (the
        peer of the first secure channel on it); else the connection is closed and the
        session fails (it retries), with the reason in the inlet's status."""
        node_access = self.manager.access
        channels = node_access.channels if node_access is not None else None
        peer = route_identifier(channels, conn.route) if channels is not None else None
        decision = access.decide(peer)
        if not decision:
            entry.refusal = decision.reason
            await conn.close(self.tcp)
            raise PolicyError(decision.reason)
        entry.refusal = None
        entry.inlet.peer = peer

    def _inlet_hook(self, body: models.CreateInlet) -> SecureHook | None:
        """The secure hook of an inlet's route: the node's, or one opening channels as the
        identity ``secure_channel_identifier`` and accepting only ``authorized``."""
        base = self.manager.secure_hook
        if body.secure_channel_identifier is None and body.authorized is None:
            return base
        if not isinstance(base, SecureResolver):
            raise ApiError("this node cannot open secure channels", 400)
        me = None
        if body.secure_channel_identifier is not None:
            identifier = Identifier(body.secure_channel_identifier)
            if identifier != base.channels.identity.identifier:
                node_access = self.manager.access
                provider = node_access.identities if node_access is not None else None
                if provider is None:
                    raise ApiError(f"The identity {identifier} cannot be used by this node", 400)
                try:
                    me = provider(str(identifier))
                except OckamError as e:
                    raise ApiError(
                        f"The identity {identifier} cannot be used by this node: {e}", 400
                    ) from None
        authorized = None if body.authorized is None else Identifier(body.authorized)
        return _InletResolver(base, me, authorized)

    # -- outlets
    async def create_outlet(self, body: models.CreateOutlet) -> TcpOutlet:
        if body.ebpf:
            raise ApiError("eBPF support is not enabled", 400)
        if body.worker_addr is not None:
            address = body.worker_addr
            if not address.is_local:
                raise ApiError(f"invalid outlet address {address}", 400)
        else:
            address = Address.local(DEFAULT_OUTLET_ADDRESS)
            if address in self.portals.outlets or self.node.has_address(address):
                address = Address.local(random_name())
        if address in self.portals.outlets:
            raise ApiError(f"A TCP outlet with address '{address}' already exists", 400)
        access = self._access(address.text, ResourceType.TCP_OUTLET, body.policy_expression)
        try:
            return await self.portals.create_outlet(
                address,
                body.hostname_port.hostname,
                body.hostname_port.port,
                tls=body.tls,
                access=access,
                consumes=self._outlet_consumes(body),
            )
        except OckamError as e:
            raise ApiError(f"Failed to create outlet: {e}", 400) from None

    def _outlet_consumes(self, body: models.CreateOutlet) -> tuple[str, ...]:
        """portals.md §6.1: over the TCP listener when the node has no project authority;
        through the ``api`` listener's channels when asked (the CLI always asks)."""
        manager = self.manager
        ids: list[str] = []
        if manager.access is None or manager.access.authority is None:
            ids.append(manager.api_flow_control_id)
        if body.reachable_from_default_secure_channel:
            spawner = self.node.flow_controls.spawner_id("api")
            if spawner is not None:
                ids.append(spawner)
        return tuple(ids)

    async def delete_outlet(self, address: Address) -> TcpOutlet:
        if address not in self.portals.outlets:
            raise ApiError(f"Outlet with address {address} not found", 400)
        return await self.portals.delete_outlet(address)

    def outlet_statuses(self) -> list[Any]:
        return [outlet_status(o) for o in self.portals.outlets.values()]

    # -- endpoints
    async def _post_inlet(self, req: Request, params: list[str]) -> Response:
        try:
            body = models.CreateInlet.from_cbor(req.body)
        except DecodeError as e:
            return _fail(500, f"failed to handle request: {e}")
        try:
            entry = await self.create_inlet(body)
        except ApiError as e:
            return _fail(e.status, str(e))
        return ok(entry.status())

    async def _list_inlets(self, req: Request, params: list[str]) -> Response:
        return ok(self.inlet_statuses())

    async def _show_inlet(self, req: Request, params: list[str]) -> Response:
        entry = self.inlets.get(params[0])
        if entry is None:
            return _fail(404, f"Inlet with alias {params[0]} not found")
        return ok(entry.status())

    async def _delete_inlet(self, req: Request, params: list[str]) -> Response:
        try:
            entry = await self.delete_inlet(params[0])
        except ApiError as e:
            return _fail(e.status, str(e))
        return ok(
            {1: entry.inlet.bind_address, 3: entry.alias, 6: connection_status(False), 7: entry.outlet_addr}
        )

    async def _post_outlet(self, req: Request, params: list[str]) -> Response:
        try:
            body = models.CreateOutlet.from_cbor(req.body)
        except DecodeError as e:
            return _fail(500, f"failed to handle request: {e}")
        try:
            outlet = await self.create_outlet(body)
        except ApiError as e:
            return _fail(e.status, str(e))
        return ok(outlet_status(outlet))

    async def _list_outlets(self, req: Request, params: list[str]) -> Response:
        return ok(self.outlet_statuses())

    async def _show_outlet(self, req: Request, params: list[str]) -> Response:
        address = _parse_address(params[0])
        outlet = self.portals.outlets.get(address) if address is not None else None
        if outlet is None:
            return _fail(404, f"Outlet with address {address or params[0]} not found")
        return ok(outlet_status(outlet))

    async def _delete_outlet(self, req: Request, params: list[str]) -> Response:
        address = _parse_address(params[0])
        if address is None:
            return _fail(400, f"Outlet with address {params[0]} not found")
        try:
            outlet = await self.delete_outlet(address)
        except ApiError as e:
            return _fail(e.status, str(e))
        return ok(outlet_status(outlet))


def _parse_address(text: str) -> Address | None:
    try:
        return Address.parse(text)
    except DecodeError:
        return None


class _InletResolver:
    """The node's secure hook, opening ``/secure`` channels as ``me`` (None: the node's
    identity) and accepting only ``authorized`` (None: anyone) at their other end."""

    def __init__(
        self, base: SecureResolver, me: ChannelIdentity | None, authorized: Identifier | None
    ) -> None:
        self.base = base
        self.me = me
        self.authorized = authorized

    async def __call__(self, route: Route, component: Component) -> Address:
        channel = await self.base.channels.create_channel(
            route + Route((Address.local(component.value),)),
            authorized=None if self.authorized is None else [self.authorized],
            timeout=self.base.timeout,
            me=self.me,
        )
        return channel.encryptor

    async def resolve_project(self, name: str, tcp: TcpTransport) -> tuple[Address, TcpConnection | None]:
        return await self.base.resolve_project(name, tcp)

    async def close(self, encryptor: Address) -> None:
        await self.base.close(encryptor)


async def _resolve_with_timeout(
    manager: NodeManager, ma: MultiAddr, timeout: float, hook: SecureHook | None = None
) -> Connection:
    secure = manager.secure_hook if hook is None else hook
    try:
        conn = await asyncio.wait_for(resolve_multiaddr(ma, manager.tcp, secure), timeout)
    except TimeoutError:
        raise TimeoutError_(f"cannot reach {ma} within {timeout:g} s") from None
    manager.add_connection_consumers(conn)
    return conn


def install(manager: NodeManager, **options: Any) -> PortalsApi:
    """Add the inlet and outlet endpoints to ``manager``; return their state."""
    api = PortalsApi(manager, **options)
    r = manager.add_route
    r("GET", "node/inlet", api._list_inlets)
    r("GET", "node/inlet/*", api._show_inlet)
    r("POST", "node/inlet", api._post_inlet)
    r("DELETE", "node/inlet/*", api._delete_inlet)
    r("GET", "node/outlet", api._list_outlets)
    r("GET", "node/outlet/*", api._show_outlet)
    r("POST", "node/outlet", api._post_outlet)
    r("DELETE", "node/outlet/*", api._delete_outlet)
    manager.inlet_providers.append(api.inlet_statuses)
    manager.outlet_providers.append(api.outlet_statuses)
    return api
