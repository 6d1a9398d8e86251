"""Node-manager endpoints for relays (node-api.md §5.5, relays.md §5, §7).

``install(manager)`` adds ``GET/POST /node/relay`` and ``GET/DELETE /node/relay/<name>``
(relays this node registers *elsewhere*), and can start this node's own relay service
(``forwarding_service`` / ``static_forwarding_service``).

Each relay is a session (``ockam.api.session``): resolve the ``address`` multiaddr,
register (static with ``relay_address``, ephemeral without), then keep it alive with
echo pings over the connection's transport route. When the connection closes (the
relay node stopped, the network broke) or the pings go unanswered, the registration
worker is stopped, the connection closed, and a new connection + registration with the
same name is attempted with backoff and jitter until it works; a Python relay node
replaces the old registration of that name with the new one.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from ..codec.multiaddr import MultiAddr
from ..errors import (
    ApiError,
    DecodeError,
    InvalidArgument,
    NotFound,
    OckamError,
    Refused,
    RouteError,
    TimeoutError_,
)
from ..protocol.api_wire import Request, Response
from ..services.relay import REGISTRATION_TIMEOUT, RelayService, RemoteRelayHandle, register_relay
from .node_manager import NodeManager, fail, ok
from .resolve import Connection, resolve_multiaddr
from .session import (
    Session,
    SessionOutcome,
    connection_closed,
    connection_held_back,
    transport_route,
    unless_closed,
)

__all__ = [
    "CreateRelay",
    "RelayEntry",
    "RelaysApi",
    "install",
]

log = logging.getLogger("ockam.api.relays")

# Bound on reaching the relay node (Rust's MAX_CONNECT_TIME).
CONNECT_TIMEOUT = 15.0

# Failures of a first registration that retrying would not change.
_FINAL = (Refused, NotFound, RouteError, InvalidArgument, DecodeError)

IMMEDIATELY = "immediately"
AFTER_CONNECTION = "after_connection"
_RETURN_TIMING = {IMMEDIATELY: 1, AFTER_CONNECTION: 2}


@dataclass
class CreateRelay:
    """``CreateRelay`` (relays.md §7.1): 1 address, 2 name, 3 authorized, 4 relay_address,
    5 return_timing (``[1, []]`` Immediately, ``[2, []]`` AfterConnection)."""

    address: MultiAddr
    name: str
    authorized: bytes | None = None
    relay_address: str | None = None
    return_timing: str = AFTER_CONNECTION

    def to_cbor(self) -> dict[int, Any]:
        body: dict[int, Any] = {1: self.address.to_bytes(), 2: self.name}
        if self.authorized is not None:
            body[3] = self.authorized
        if self.relay_address is not None:
            body[4] = self.relay_address
        body[5] = [_RETURN_TIMING[self.return_timing], []]
        return body

    @classmethod
    def from_cbor(cls, obj: Any) -> CreateRelay:
        if not isinstance(obj, dict):
            raise DecodeError("CreateRelay is not a map")
        address, name = obj.get(1), obj.get(2)
        if not isinstance(address, bytes) or not isinstance(name, str):
            raise DecodeError("CreateRelay needs an address (1) and a name (2)")
        authorized, relay_address = obj.get(3), obj.get(4)
        if authorized is not None and not isinstance(authorized, bytes):
            raise DecodeError("CreateRelay field 3 has the wrong type")
        if relay_address is not None and not isinstance(relay_address, str):
            raise DecodeError("CreateRelay field 4 has the wrong type")
        timing = obj.get(5, [2, []])
        tag = timing[0] if isinstance(timing, list) and timing else timing
        if tag not in (1, 2):
            raise DecodeError("CreateRelay field 5 is not a return timing")
        return cls(
            MultiAddr.from_bytes(address),
            name,
            authorized,
            relay_address,
            IMMEDIATELY if tag == 1 else AFTER_CONNECTION,
        )


@dataclass(eq=False)
class RelayEntry:
    """A relay registered by this node: its session and the current registration."""

    name: str
    destination: MultiAddr
    relay_address: str | None
    session: Session[RemoteRelayHandle]
    connection: Connection | None = None
    handle: RemoteRelayHandle | None = None

    def info(self) -> dict[int, Any]:
        """``RelayInfo`` (relays.md §7.2)."""
        body: dict[int, Any] = {}
        outcome = self.session.outcome
        if outcome is not None:
            handle = outcome.value
            body[1] = str(handle.info.forwarding_route)
            body[2] = handle.info.remote_address
            body[3] = str(handle.worker_address)
            if handle.flow_control_id is not None:
                body[4] = {1: handle.flow_control_id}
        body[5] = [1, []] if outcome is not None else [0, []]
        body[6] = self.destination.to_bytes()
        body[7] = self.name
        if outcome is None and self.session.last_failure:
            body[8] = self.session.last_failure
        return body


class RelaysApi:
    """The relays this node registers elsewhere, and its own relay service."""

    def __init__(
        self,
        manager: NodeManager,
        *,
        ping_interval: float | None = None,
        retry_min: float | None = None,
        retry_max: float | None = None,
        registration_timeout: float = REGISTRATION_TIMEOUT,
    ) -> None:
        self.manager = manager
        self.node = manager.node
        self.relays: dict[str, RelayEntry] = {}
        self.service: RelayService | None = None
        self.registration_timeout = registration_timeout
        self.session_options: dict[str, Any] = {}
        if ping_interval is not None:
            self.session_options["ping_interval"] = ping_interval
        if retry_min is not None:
            self.session_options["retry_min"] = retry_min
        if retry_max is not None:
            self.session_options["retry_max"] = retry_max
        manager.node.on_stop(self.stop)

    async def stop(self) -> None:
        """Stop every relay session (the node is stopping)."""
        for entry in list(self.relays.values()):
            await entry.session.stop()

    async def start_service(self) -> RelayService:
        """Start this node's relay service (``forwarding_service``, ``static_forwarding_service``)."""
        if self.service is None:
            access = self.manager.access
            # relays.md §6.1: reached over the TCP listener, and with an authority through
            # the `api` listener's channels too
            consumes: tuple[str, ...] = (self.manager.api_flow_control_id,)
            if access is not None and access.authority is not None:
                if self.manager.api_channel_flow_control_id is not None:
                    consumes += (self.manager.api_channel_flow_control_id,)
                # with an authority, the `relay` policy says who may register and the
                # `ockam-relay` attribute which names
                service = RelayService(
                    self.node,
                    access=access.relay_service(),
                    name_check=access.check_relay_name,
                    service_consumes=consumes,
                    relay_consumes=consumes,
                )
            else:
                service = RelayService(self.node, service_consumes=consumes, relay_consumes=consumes)
            self.service = await service.start()
        return self.service

    async def create_relay(self, body: CreateRelay) -> RelayEntry:
        if body.name in self.relays:
            raise ApiError(f"A relay with the name '{body.name}' already exists", 500)
        entry_box: list[RelayEntry] = []
        tcp = self.manager.tcp

        async def create() -> SessionOutcome[RemoteRelayHandle]:
            entry = entry_box[0]
            try:
                conn = await asyncio.wait_for(
                    resolve_multiaddr(entry.destination, tcp, self.manager.secure_hook), CONNECT_TIMEOUT
                )
            except TimeoutError:
                raise TimeoutError_(
                    f"cannot reach {entry.destination} within {CONNECT_TIMEOUT:g} s"
                ) from None
            entry.connection = conn
            self.manager.add_connection_consumers(conn, hops=True)
            handle = await unless_closed(
                conn, register_relay(self.node, conn.route, entry.relay_address, self.registration_timeout)
            )
            entry.handle = handle
            return SessionOutcome(
                handle, transport_route(conn), connection_closed(conn), connection_held_back(conn)
            )

        async def close() -> None:
            entry = entry_box[0]
            handle, entry.handle = entry.handle, None
            if handle is not None:
                await handle.stop(self.node)
            conn, entry.connection = entry.connection, None
            if conn is not None:
                await conn.close(tcp)

        session: Session[RemoteRelayHandle] = Session(
            self.node, f"relay {body.name}", create, close, **self.session_options
        )
        entry = RelayEntry(body.name, body.address, body.relay_address, session)
        entry_box.append(entry)
        self.relays[body.name] = entry
        if body.return_timing == AFTER_CONNECTION:
            try:
                await session.initial_connect()
            except _FINAL as e:
                # the relay node refused it, or the destination does not exist: trying
                # again would not change that (Rust keeps retrying in the background)
                del self.relays[body.name]
                await session.stop()
                raise e
            except Exception as e:
                log.warning("relay %s: cannot register yet (%s); retrying in the background", body.name, e)
        session.start()
        return entry

    async def delete_relay(self, name: str) -> None:
        """Stop the session: the registration worker and the connection (nothing is sent
        to the relay node)."""
        entry = self.relays.pop(name, None)
        if entry is None:
            raise ApiError(f"Relay with address {name} not found.", 404)
        await entry.session.stop()

    def relay_infos(self) -> list[dict[int, Any]]:
        return [e.info() for e in self.relays.values()]

    # -- endpoints
    async def _post(self, req: Request, params: list[str]) -> Response:
        try:
            body = CreateRelay.from_cbor(req.body)
        except DecodeError as e:
            return fail(req, 500, f"failed to handle request: {e}")
        try:
            entry = await self.create_relay(body)
        except OckamError as e:
            status = 403 if isinstance(e, Refused) else 404 if isinstance(e, NotFound) else 500
            return fail(req, status, f"Failed to create relay at {body.address} with name {body.name}. {e}")
        return ok(entry.info())

    async def _list(self, req: Request, params: list[str]) -> Response:
        return ok(self.relay_infos())

    async def _show(self, req: Request, params: list[str]) -> Response:
        entry = self.relays.get(params[0])
        if entry is None:
            return fail(req, 404, f"Relay with alias {params[0]} not found.")
        return ok(entry.info())

    async def _delete(self, req: Request, params: list[str]) -> Response:
        try:
            await self.delete_relay(params[0])
        except ApiError as e:
            return fail(req, e.status, str(e))
        except OckamError as e:
            return fail(req, 500, f"Failed to delete relay at {params[0]}: {e}")
        return ok([])  # unit body, CBOR 80


def install(manager: NodeManager, **options: Any) -> RelaysApi:
    """Add the relay endpoints to ``manager``; return their state (start the relay
    service with ``await api.start_service()``)."""
    api = RelaysApi(manager, **options)
    manager.worker_providers.append(lambda: list(api.service.relays) if api.service is not None else [])
    r = manager.add_route
    r("GET", "node/relay", api._list)
    r("GET", "node/relay/*", api._show)
    r("POST", "node/relay", api._post)
    r("DELETE", "node/relay/*", api._delete)
    return api
