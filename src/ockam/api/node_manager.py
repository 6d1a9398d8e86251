"""The node manager: the control API worker at ``_internal.nodemanager``.

Requests arrive as BARE ``Vec<u8>`` payloads holding ``CBOR(header) || CBOR(body)?``
(node-api.md).  Each request is handled in its own task so a slow one (``v0/message``
waiting for a reply) never blocks the others.

Only the node's own TCP listener (the *API transport*) reaches the control API: the
worker is a consumer of that listener's flow control only (node-api.md §1.1), and it
also refuses what came from the network any other way (through a ``hop`` service from
another connection, say).  What else the node's services are reachable from is said
where they start (``consumes``): ``echo`` and ``uppercase`` the API transport and the
``api`` secure-channel listener, ``hop`` the API transport (and the connections the node
makes), and so on, as Rust's node manager sets them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..abac.defaults import ResourceType
from ..codec import bare
from ..codec.address import Address
from ..codec.cbor import ByteList
from ..codec.multiaddr import MultiAddr
from ..errors import ApiError, DecodeError, NotFound, OckamError
from ..node.flow_control import new_flow_control_id
from ..node.message import FLOW_CONTROL_ID, LocalMessage
from ..node.runtime import Context, Node, Worker
from ..protocol import api_models as models
from ..protocol.api_wire import Request, Response, decode_request, encode_error_body
from ..services.access_control import AccessControlledWorker, AllowAll, NodeAccess
from ..services.basic import Echo, Hop, Uppercase
from ..transport.tcp import TcpConnection, TcpListener, TcpTransport
from .resolve import Connection, SecureHook, resolve_multiaddr

__all__ = ["DEFAULT_CONSUMERS", "NODE_MANAGER_ADDRESS", "NodeManager", "NodeInfo"]

log = logging.getLogger("ockam.api")

NODE_MANAGER_ADDRESS = "_internal.nodemanager"
# How long `POST v0/message` waits for the reply (its client stops waiting sooner or later;
# an unanswered message must not keep the handler forever).
SEND_MESSAGE_TIMEOUT = 60.0
SERVICE_KINDS: dict[str, type[Worker]] = {"echo": Echo, "uppercase": Uppercase, "hop": Hop}
# What the peer of a connection the node makes (for `message send`, inlets, relays,
# channels) may reach over it, as Rust's `Connection::add_default_consumers`.
DEFAULT_CONSUMERS = ("api", "uppercase", "echo")
_SERVICE_LABEL = {"echo": "echoer", "uppercase": "uppercase", "hop": "hop"}

Handler = Callable[[Request, list[str]], Awaitable[Response]]


@dataclass
class NodeInfo:
    """What the node manager says about its own node."""

    name: str
    identifier: bytes = b""
    identity_name: str = ""
    is_default: Callable[[], bool] = field(default=lambda: False)
    http_server_address: str | None = None


def ok(body: Any = None) -> Response:
    return Response(200) if body is None else Response(200, body)


def fail(req: Request, status: int, message: str) -> Response:
    return Response(status, encode_error_body(message, req.path, req.method or None))


def transport_status_connection(c: TcpConnection) -> dict[int, Any]:
    return {
        1: 0,
        2: [1, []] if c.mode == "incoming" else [2, []],
        3: c.peer,
        4: str(c.sender),
        5: str(c.receiver),
        6: {1: c.flow_control_id},
    }


def transport_status_listener(li: TcpListener) -> dict[int, Any]:
    return {
        1: 0,
        2: [0, []],
        3: li.socket_address,
        4: "<none>",
        5: str(li.processor_address),
        6: {1: li.flow_control_id},
    }


class Journal(Protocol):
    """Where a node keeps the inlets, outlets and relays created through its API, so that
    they come back when the node starts again (``kind`` is ``inlet``/``outlet``/``relay``)."""

    def entries(self) -> list[tuple[str, str, Any]]: ...

    def record(self, kind: str, key: str, body: Any) -> None: ...

    def forget(self, kind: str, key: str) -> None: ...


# POST paths whose successful requests are journaled, and how to name what they created.
_JOURNALED: dict[str, tuple[str, Callable[[Any], str | None]]] = {
    "node/inlet": ("inlet", lambda status: status.get(3) if isinstance(status, dict) else None),
    "node/outlet": (
        "outlet",
        lambda status: (
            Address.from_cbor(status[2]).text if isinstance(status, dict) and 2 in status else None
        ),
    ),
    "node/relay": ("relay", lambda info: info.get(7) if isinstance(info, dict) else None),
}


class NodeManager(Worker):
    """Serves the control API of one node."""

    def __init__(self, node: Node, tcp: TcpTransport, info: NodeInfo) -> None:
        self.node = node
        self.tcp = tcp
        self.info = info
        self.api_listener: TcpListener | None = None
        self.services: dict[str, str] = {}  # address -> kind
        self.secure_hook: SecureHook | None = None
        self.journal: Journal | None = None
        # The node's policies and authority (``ockam.api.policies.install``); None: every
        # resource is open.
        self.access: NodeAccess | None = None
        # Status providers of later layers, listed by GET /node/resources (inlets, outlets).
        self.inlet_providers: list[Callable[[], list[Any]]] = []
        self.outlet_providers: list[Callable[[], list[Any]]] = []
        # addresses that GET /node/workers lists beside the node's workers (its relays)
        self.worker_providers: list[Callable[[], list[Address]]] = []
        self._routes: list[tuple[str, list[str], Handler]] = []
        # Flow control: the id of the API transport (the TCP listener `start` opens), and
        # that of the `api` secure-channel listener once it runs.
        self.api_flow_control_id = new_flow_control_id()
        self.api_channel_flow_control_id: str | None = None
        self._install_routes()

    # -- starting
    async def start(self, listen: str) -> TcpListener:
        await self.node.start_worker(NODE_MANAGER_ADDRESS, self, consumes=(self.api_flow_control_id,))
        self.api_listener = await self.tcp.listen(listen, self.api_flow_control_id)
        return self.api_listener

    def service_consumes(self, kind: str) -> tuple[str, ...]:
        """The flow controls a service of ``kind`` consumes: the API transport's, and for
        ``echo`` and ``uppercase`` the ``api`` listener's (not ``hop``: through a channel
        it would reach anything on the node)."""
        ids = [self.api_flow_control_id]
        if kind in ("echo", "uppercase") and self.api_channel_flow_control_id is not None:
            ids.append(self.api_channel_flow_control_id)
        return tuple(ids)

    async def start_service(self, kind: str, address: str) -> None:
        cls = SERVICE_KINDS.get(kind)
        if cls is None:
            raise NotFound(f"unknown service type {kind!r}")
        if address in self.services or self.node.has_address(Address.local(address)):
            raise ApiError(f"{_SERVICE_LABEL[kind]} service already exists at {address}", 409)
        worker: Worker = cls()
        if kind == "echo" and self.access is not None:
            # abac.md §8: the echoer is a resource (its senders need the echoer policy)
            control = self.access.for_resource(address, ResourceType.ECHOER)
            if not isinstance(control, AllowAll):
                worker = AccessControlledWorker(worker, control)
        await self.node.start_worker(address, worker, consumes=self.service_consumes(kind))
        self.services[address] = kind

    @property
    def hop_services(self) -> list[str]:
        return [address for address, kind in self.services.items() if kind == "hop"]

    def add_connection_consumers(self, conn: Connection, *, hops: bool = False) -> None:
        """What the peer of a connection this node made may reach over it: the default
        consumers (and, for relays, the hop services; Rust: "for demo purposes")."""
        extra = self.hop_services if hops else []
        conn.add_consumers(self.node, (*DEFAULT_CONSUMERS, *extra))

    def _from_api_transport(self, msg: LocalMessage) -> bool:
        """Did ``msg`` start on this node, or come over a connection of the API transport?"""
        info = msg.local_info
        if FLOW_CONTROL_ID not in info:
            return True
        connection = info.get("connection")
        if not isinstance(connection, Address):
            return False  # e.g. decrypted by a secure channel
        producer = self.node.flow_controls.find_producer(connection)
        return (
            producer is not None
            and producer.flow_control_id == info[FLOW_CONTROL_ID]
            and producer.spawner_flow_control_id == self.api_flow_control_id
        )

    # -- dispatch
    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            self._routes.append((method, pattern.strip("/").split("/"), fn))
            return fn

        return deco

    def add_route(self, method: str, pattern: str, fn: Handler) -> None:
        self._routes.append((method, pattern.strip("/").split("/"), fn))

    def _match(self, req: Request) -> tuple[Handler, list[str]] | None:
        segments = req.segments
        for method, pattern, fn in self._routes:
            if method != req.method:
                continue
            if pattern and pattern[-1] == "*":
                head = pattern[:-1]
                if len(segments) > len(head) and segments[: len(head)] == head:
                    return fn, ["/".join(segments[len(head) :])]
                continue
            if segments == pattern:
                return fn, []
        return None

    async def handle_message(self, ctx: Context, msg: LocalMessage) -> None:
        if not self._from_api_transport(msg):
            self.node.drop_log(
                "dropping a control-API request that did not come over the node's TCP listener"
            )
            return
        try:
            req = decode_request(msg.payload)
        except DecodeError as e:
            log.warning("dropping undecodable API request: %s", e)
            return
        self.node.spawn(self._serve(ctx, msg, req), name=f"api {req.method} {req.path}")

    async def _serve(self, ctx: Context, msg: LocalMessage, req: Request) -> None:
        resp = await self.dispatch(req)
        resp.re = req.id
        await ctx.forward(msg.reply(resp.encode(), ctx.address))

    async def dispatch(self, req: Request) -> Response:
        resp = await self._dispatch(req)
        if self.journal is not None and resp.ok:
            self._journal(req, resp, self.journal)
        return resp

    def _journal(self, req: Request, resp: Response, journal: Journal) -> None:
        path = "/".join(req.segments)
        try:
            if req.method == "POST" and path in _JOURNALED:
                kind, name_of = _JOURNALED[path]
                key = name_of(resp.body)
                if key:
                    journal.record(kind, key, req.body)
            elif req.method == "DELETE":
                head, _, key = path.rpartition("/")
                kind = _JOURNALED.get(head, ("", None))[0]
                if kind and key:
                    journal.forget(kind, Address.parse(key).text if kind == "outlet" else key)
        except (OckamError, KeyError, TypeError, ValueError) as e:
            log.warning("could not record %s %s for the next start: %s", req.method, req.path, e)

    async def replay(self) -> None:
        """Create again what the journal holds (at node start)."""
        if self.journal is None:
            return
        paths = {kind: path for path, (kind, _) in _JOURNALED.items()}
        for kind, key, body in self.journal.entries():
            if kind not in paths:
                continue
            resp = await self._dispatch(Request(path="/" + paths[kind], method="POST", body=body))
            if resp.ok:
                log.info("restored %s %s", kind, key)
            else:
                log.warning("could not restore %s %s: %s", kind, key, resp.error_message())

    async def _dispatch(self, req: Request) -> Response:
        if not req.method:
            return Response(501, {1: req.path, 3: "unknown method"})
        found = self._match(req)
        if found is None:
            return fail(req, 400, f"Invalid endpoint: {req.method} {req.path}")
        fn, params = found
        try:
            return await fn(req, params)
        except ApiError as e:
            return fail(req, e.status, str(e))
        except NotFound as e:
            return fail(req, 404, str(e))
        except (DecodeError, KeyError, TypeError, ValueError) as e:
            return fail(req, 500, f"failed to handle request: {e}")
        except OckamError as e:
            return fail(req, 500, str(e))
        except Exception as e:
            log.exception("API handler failed")
            return fail(req, 500, f"internal error: {e}")

    # -- endpoints
    def _install_routes(self) -> None:
        r = self.add_route
        r("GET", "node", self.get_node)
        r("GET", "node/resources", self.get_resources)
        r("GET", "node/workers", self.get_workers)
        r("GET", "node/tcp/connection", self.list_connections)
        r("GET", "node/tcp/connection/*", self.show_connection)
        r("POST", "node/tcp/connection", self.create_connection)
        r("DELETE", "node/tcp/connection", self.delete_connection)
        r("GET", "node/tcp/listener", self.list_listeners)
        r("GET", "node/tcp/listener/*", self.show_listener)
        r("POST", "node/tcp/listener", self.create_listener)
        r("DELETE", "node/tcp/listener", self.delete_listener)
        r("GET", "node/services", self.list_services)
        r("GET", "node/services/*", self.list_services_of_kind)
        for kind in SERVICE_KINDS:
            r("POST", f"node/services/{kind}", self._start_service_handler(kind))
        r("POST", "v0/message", self.send_message)
        r("POST", "node/flow_controls/add_consumer", self.add_consumer)

    def node_status(self) -> dict[int, Any]:
        return models.NodeStatus(self.info.name, self.info.identifier, "running", os.getpid()).to_cbor()

    async def get_node(self, req: Request, params: list[str]) -> Response:
        return ok(self.node_status())

    def resources(self) -> dict[int, Any]:
        port = self.api_listener.socket_address.rsplit(":", 1)[1] if self.api_listener else "0"
        body: dict[int, Any] = {
            1: self.info.name,
            2: self.info.identity_name,
            3: self.info.is_default(),
            4: models.process_status_to_cbor("running", os.getpid()),
            5: {
                1: MultiAddr.parse(f"/node/{self.info.name}").to_bytes(),
                2: MultiAddr.parse(f"/dnsaddr/localhost/tcp/{port}").to_bytes(),
            },
        }
        if self.info.http_server_address:
            host, _, hport = self.info.http_server_address.rpartition(":")
            body[6] = [0, [host, int(hport)]]
        body[7] = [transport_status_listener(li) for li in self.tcp.listeners.values()] + [
            transport_status_connection(c) for c in self.tcp.connections.values() if c.mode == "outgoing"
        ]
        body[8] = self.secure_channel_listeners()
        body[9] = self.inlets()
        body[10] = self.outlets()
        body[11] = [{2: addr, 3: kind} for addr, kind in self.services.items()]
        return body

    # Extension points for later layers (secure channels, portals).
    def secure_channel_listeners(self) -> list[Any]:
        return []

    def inlets(self) -> list[Any]:
        return [status for provider in self.inlet_providers for status in provider()]

    def outlets(self) -> list[Any]:
        return [status for provider in self.outlet_providers for status in provider()]

    async def get_resources(self, req: Request, params: list[str]) -> Response:
        return ok(self.resources())

    async def get_workers(self, req: Request, params: list[str]) -> Response:
        addresses = [*self.node.workers(), *(a for provider in self.worker_providers for a in provider())]
        return ok({1: [{2: str(a)} for a in addresses]})

    async def list_connections(self, req: Request, params: list[str]) -> Response:
        return ok([transport_status_connection(c) for c in self.tcp.connections.values()])

    def _connection(self, text: str) -> TcpConnection:
        c = self.tcp.find_connection(text)
        if c is None:
            raise NotFound(f"Connection {text} not found")
        return c

    def _listener(self, text: str) -> TcpListener:
        li = self.tcp.find_listener(text)
        if li is None:
            raise NotFound(f"Listener {text} not found")
        return li

    async def show_connection(self, req: Request, params: list[str]) -> Response:
        return ok(transport_status_connection(self._connection(params[0])))

    async def create_connection(self, req: Request, params: list[str]) -> Response:
        connection = await self.tcp.connect(_body_text(req, 1))
        for hop in self.hop_services:  # as Rust: the hop services may be reached over it
            self.node.flow_controls.add_consumer(hop, connection.flow_control_id)
        return ok(transport_status_connection(connection))

    async def delete_connection(self, req: Request, params: list[str]) -> Response:
        await self.tcp.disconnect(self._connection(_body_text(req, 1)))
        return ok()

    async def list_listeners(self, req: Request, params: list[str]) -> Response:
        return ok([transport_status_listener(li) for li in self.tcp.listeners.values()])

    async def show_listener(self, req: Request, params: list[str]) -> Response:
        return ok(transport_status_listener(self._listener(params[0])))

    async def create_listener(self, req: Request, params: list[str]) -> Response:
        return ok(transport_status_listener(await self.tcp.listen(_body_text(req, 1))))

    async def delete_listener(self, req: Request, params: list[str]) -> Response:
        li = self._listener(_body_text(req, 1))
        if li is self.api_listener:
            return fail(req, 400, "the node's API listener cannot be deleted")
        await self.tcp.stop_listener(li)
        return ok()

    async def list_services(self, req: Request, params: list[str]) -> Response:
        return ok([{2: addr, 3: kind} for addr, kind in self.services.items()])

    async def list_services_of_kind(self, req: Request, params: list[str]) -> Response:
        kind = params[0]
        if kind not in SERVICE_KINDS:
            return fail(req, 400, f"unknown service type {kind}")
        return ok([{2: a, 3: k} for a, k in self.services.items() if k == kind])

    def _start_service_handler(self, kind: str) -> Handler:
        async def handler(req: Request, params: list[str]) -> Response:
            addr = _body_text(req, 1)
            await self.start_service(kind, addr)
            return ok()

        return handler

    async def add_consumer(self, req: Request, params: list[str]) -> Response:
        """``AddConsumer`` {1 flow_control_id, 2 address (a multiaddr of one local address)}."""
        body = req.body if isinstance(req.body, dict) else {}
        fcid, raw = body.get(1), body.get(2)
        if isinstance(fcid, dict):
            fcid = fcid.get(1)
        if not isinstance(fcid, str) or not isinstance(raw, bytes):
            raise DecodeError("AddConsumer needs a flow control id (1) and a multiaddr (2)")
        ma = MultiAddr.from_bytes(raw)
        try:
            route = ma.to_local_route() if ma.components else None
        except DecodeError:
            route = None
        if route is None or len(route) != 1:
            return fail(req, 400, f"{ma} must be one local address, like /service/NAME")
        self.node.flow_controls.add_consumer(route.addresses[0], fcid)
        return ok()

    async def send_message(self, req: Request, params: list[str]) -> Response:
        body = models.SendMessage.from_cbor(req.body)
        try:
            reply = await send_message(
                self.node,
                self.tcp,
                body.route,
                body.message,
                self.secure_hook,
                SEND_MESSAGE_TIMEOUT,
                on_connection=self.add_connection_consumers,
            )
        except OckamError as e:
            return fail(req, 500, f"Failed to send message: {e}")
        return ok(ByteList(reply))


def _body_text(req: Request, key: int) -> str:
    if not isinstance(req.body, dict) or not isinstance(req.body.get(key), str):
        raise DecodeError(f"request body needs a text field {key}")
    return str(req.body[key])


async def send_message(
    node: Node,
    tcp: TcpTransport,
    multiaddr: str,
    message: bytes,
    secure: SecureHook | None = None,
    timeout: float | None = None,
    on_connection: Callable[[Connection], None] | None = None,
) -> bytes:
    """Send ``message`` as a BARE ``Vec<u8>`` to ``multiaddr``; return the reply's bytes."""
    conn = await resolve_multiaddr(MultiAddr.parse(multiaddr), tcp, secure)
    if on_connection is not None:
        on_connection(conn)
    ctx = node.context()
    try:
        await ctx.send(conn.route, bare.encode_data(message))
        reply = await ctx.receive(timeout)
    finally:
        ctx.close()
        await conn.close(tcp)
    data, _ = bare.decode_data(reply.payload)
    return data
