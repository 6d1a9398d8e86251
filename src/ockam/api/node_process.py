"""Run a node inside this process: TCP listener, default services, node manager.

This is what ``ockam node create NAME --foreground`` runs (the CLI adds the process
glue: state, signals, logging).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ..abac.defaults import Policies, PolicyRepository
from ..identity import (
    AttributesRepository,
    AttributesStore,
    CredentialAndPurposeKey,
    CredentialRetriever,
    Identity,
    MemoryCredentialRetriever,
    PurposeKeyAttestation,
    generate_identity,
)
from ..node.runtime import Node
from ..node.runtime import run as run_loop
from ..protocol.crypto import DhKey, Signer, X25519Secret
from ..services.access_control import NodeAccess
from ..services.credentials import (
    AuthorityClient,
    CachedCredentialRetriever,
    CredentialCache,
    RemoteCredentialRetriever,
)
from ..services.secure_channel import SecureChannels
from ..transport.tcp import TcpTransport, parse_host_port
from . import policies as policies_api
from . import portals as portals_api
from . import relays as relays_api
from . import secure_channels as secure_channel_api
from .node_manager import Journal, NodeInfo, NodeManager, send_message
from .resolve import ProjectLookup
from .views import node_resources_json

__all__ = ["NodeConfig", "RunningNode", "node_access", "send_message_once", "serve_node", "start_node"]

log = logging.getLogger("ockam.node")


@dataclass
class NodeConfig:
    """What a node process needs to start."""

    name: str
    tcp_listener_address: str = "127.0.0.1:0"
    identifier: str = ""
    identity_name: str = ""
    is_default: bool = False
    # "127.0.0.1:0" (or a port) to start the HTTP status server, None for none.
    http_server_address: str | None = None
    # Start the default services (echo always; uppercase, api, relay services unless False).
    default_services: bool = True
    # Called by GET /node/resources to learn whether the node is (still) the default one.
    is_default_provider: Callable[[], bool] | None = None
    # The node's identity (its change history and a signer for its primary key) and its
    # secure-channel static key; generated in memory when absent.
    identity: Identity | None = None
    signer: Signer | None = None
    static_key: X25519Secret | DhKey | None = None
    attestation: PurposeKeyAttestation | None = None
    # Loads another named identity for `--identity NAME` on listeners and channels.
    identity_provider: secure_channel_api.IdentityProvider | None = None
    # Credentials (authority.md §10.6): the trusted authority (its identity), whose
    # credentials presented by peers are verified and stored; what this node presents: a
    # fixed credential, or the one fetched from the authority at `authority_route` (a
    # multiaddr ending at its secure-channel listener), or the cached one of
    # `credential_scope`.
    authority: Identity | None = None
    credential: CredentialAndPurposeKey | None = None
    authority_route: str | None = None
    credential_scope: str = ""
    credential_cache: CredentialCache | None = None
    # Where verified attributes are persisted (the node's `identity_attributes` rows).
    attributes_repository: AttributesRepository | None = None
    # Finds the projects `/project/<name>` refers to (from the local state).
    projects: ProjectLookup | None = None
    # Where the node's policies are kept (its policy tables); None: in memory only.
    policy_repository: PolicyRepository | None = None
    # Keeps the inlets, outlets and relays created through the API for the next start.
    journal: Journal | None = None
    extra: dict[str, object] = field(default_factory=dict)


ReadyCallback = Callable[[str, "str | None"], "Awaitable[None] | None"]


@dataclass
class RunningNode:
    node: Node
    tcp: TcpTransport
    manager: NodeManager
    secure_channels: SecureChannels
    listener_address: str
    portals: portals_api.PortalsApi
    relays: relays_api.RelaysApi
    http_address: str | None = None
    _http_server: asyncio.base_events.Server | None = None

    async def stop(self) -> None:
        if self._http_server is not None:
            self._http_server.close()
        await self.node.stop()


async def start_node(config: NodeConfig) -> RunningNode:
    """Start a node in this event loop; stop it with ``RunningNode.stop()``."""
    node = Node(config.name)
    await node.__aenter__()
    try:
        tcp = TcpTransport.create(node)
        identity, signer = config.identity, config.signer
        if identity is None or signer is None:
            identity, signer = generate_identity(now=int(time.time()))
        is_default = config.is_default_provider or (lambda: config.is_default)
        info = NodeInfo(config.name, identity.identifier.value, config.identity_name, is_default)
        manager = NodeManager(node, tcp, info)
        channels = SecureChannels(
            node,
            identity,
            signer,
            config.static_key,
            config.attestation,
            authority=config.authority,
            attributes=AttributesStore(config.attributes_repository),
        )
        channels.credential_retriever = _credential_retriever(config, channels, tcp)
        secure_channel_api.install(manager, channels, config.identity_provider, config.projects)
        policies_api.install(manager, node_access(config, channels))
        await manager.start_service("echo", "echo")
        portals = portals_api.install(manager)
        relays = relays_api.install(manager)
        if config.default_services:
            await manager.start_service("uppercase", "uppercase")
            await secure_channel_api.start_listener(manager, channels, "api")
            await relays.start_service()
        # Listen last: nothing arrives before the services are there to receive it.
        listener = await manager.start(config.tcp_listener_address)
        if config.journal is not None:
            manager.journal = config.journal
            node.spawn(manager.replay(), name="restore inlets, outlets and relays")
        running = RunningNode(node, tcp, manager, channels, listener.socket_address, portals, relays)
        if config.http_server_address is not None:
            await _start_http(running, config.http_server_address)
        return running
    except BaseException:
        await node.stop()
        raise


def node_access(config: NodeConfig, channels: SecureChannels) -> NodeAccess:
    """The node's policies (loaded from its repository) and authority.  Every resource
    type without a policy gets the default one; unlike a Rust node, which overwrites the
    resource-type policies at every start, the policies a user set are kept."""
    repository = config.policy_repository
    policies = Policies.load(repository) if repository is not None else Policies()
    added = policies.ensure_type_defaults()
    if added:
        log.debug("default policies set for %s", ", ".join(str(t) for t in added))
    return NodeAccess(channels, policies, identities=config.identity_provider)


def _credential_retriever(
    config: NodeConfig, channels: SecureChannels, tcp: TcpTransport
) -> CredentialRetriever | None:
    if config.credential is not None:
        return MemoryCredentialRetriever(config.credential)
    if config.authority is None:
        return None
    if config.authority_route:
        from .authority import multiaddr_route

        client = AuthorityClient(
            channels, multiaddr_route(config.authority_route), config.authority.identifier, tcp=tcp
        )
        return RemoteCredentialRetriever(client, cache=config.credential_cache, scope=config.credential_scope)
    if config.credential_scope and config.credential_cache is not None:
        return CachedCredentialRetriever(
            channels, config.credential_cache, config.authority.identifier, config.credential_scope
        )
    return None


async def serve_node(config: NodeConfig, stop: asyncio.Event, ready: ReadyCallback | None = None) -> None:
    """Start the node, call ``ready(listener "ip:port", http "ip:port" or None)``, run until ``stop``."""
    running = await start_node(config)
    try:
        if ready is not None:
            result = ready(running.listener_address, running.http_address)
            if inspect.isawaitable(result):
                await result
        await stop.wait()
    finally:
        await running.stop()


# -- the HTTP status server (health checks): HEAD / and GET /show


async def _start_http(running: RunningNode, address: str) -> None:
    host, port = parse_host_port(address)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            method, _, rest = head.decode("latin-1").partition(" ")
            path = rest.split(" ", 1)[0].split("?", 1)[0]
            parts = [p for p in path.split("/") if p]
            if method == "HEAD" and not parts:
                status, body = "200 OK", b""
            elif method == "GET" and parts == ["show"]:
                body = json.dumps(node_resources_json(running.manager.resources())).encode()
                status = "200 OK"
            else:
                status, body = "404 Not Found", b""
            writer.write(
                f"HTTP/1.1 {status}\r\ncontent-length: {len(body)}\r\n"
                f"content-type: application/json\r\nconnection: close\r\n\r\n".encode()
                + (body if method != "HEAD" else b"")
            )
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError, UnicodeError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, host, port)
    sock = server.sockets[0].getsockname()
    running._http_server = server
    running.http_address = f"{sock[0]}:{sock[1]}"
    running.manager.info.http_server_address = running.http_address


def send_message_once(
    multiaddr: str,
    payload: bytes,
    timeout: float,
    identity: tuple[Identity, Signer] | None = None,
    trust: NodeConfig | None = None,
) -> bytes:
    """Send ``payload`` from a temporary in-process node to ``multiaddr`` (``/node/..`` already
    replaced by ``/ip4/../tcp/..``) and return the reply payload (BARE ``Vec<u8>`` unwrapped).

    ``identity`` is needed for ``/secure`` and ``/project`` hops; ``trust`` (a node
    configuration: ``authority``, ``authority_route``, ``credential_scope``,
    ``credential_cache``, ``static_key``, ``attestation``, ``projects``) gives the
    temporary node its project trust and the projects it can reach."""

    async def run() -> bytes:
        async with Node("cli") as node:
            tcp = TcpTransport.create(node)
            secure = None
            if identity is not None:  # for `/secure/<listener>` and `/project/<name>` hops
                if trust is None:
                    channels = SecureChannels(node, identity[0], identity[1])
                    secure = secure_channel_api.secure_hook(channels)
                else:
                    channels = SecureChannels(
                        node,
                        identity[0],
                        identity[1],
                        trust.static_key,
                        trust.attestation,
                        authority=trust.authority,
                    )
                    channels.credential_retriever = _credential_retriever(trust, channels, tcp)
                    secure = secure_channel_api.secure_hook(channels, projects=trust.projects)
            return await asyncio.wait_for(
                send_message(node, tcp, multiaddr, payload, secure, timeout=timeout), timeout
            )

    try:
        return run_loop(run())
    except TimeoutError:
        from ..errors import TimeoutError_

        raise TimeoutError_(f"no reply from {multiaddr} within {timeout:g} s") from None
