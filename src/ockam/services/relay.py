"""Relays: the relay service of a reachable node and the registering client.

Relay node R: one worker at ``forwarding_service`` and ``static_forwarding_service``
takes registrations (a BARE string: a name, or ``register`` for a random one), and keeps
a relay at ``forward_to_<name>`` that forwards every message it receives by replacing
its own hop with the registration's return route minus its last hop (relays.md §3).
A relay is a direct mailbox (no task, no queue): forwarding costs one route rewrite.

Unlike Rust 0.139 (which refuses, silently, a registration for a name whose relay
exists until R restarts), a registration for an existing name *replaces* the relay's
route and is answered, as Ockam's hosted (Elixir) relays do (relays.md §5.3): a node
that reconnects gets its relay back at once. The newest registration wins.

With an authority (relays.md §6), the service is given the node's ``relay`` access control
(who may register at all) and the ``ockam-relay`` name check; a refused registration is
logged and answered with the reason (``protocol.relay.refusal``; a Rust relay node sends
nothing), so that the registering node can say why at once.

Registering node B: :func:`register_relay` starts a :class:`RemoteRelay` worker at a
fresh ``main_remote`` address, sends the registration from it and waits for the answer.
Keeping the relay alive (liveness pings, re-registration) is the job of the caller's
session (``ockam.api.relays``).

Flow control (relays.md §4, §6): the service and each relay consume the ids given as
``service_consumes`` / ``relay_consumes`` (on CLI nodes: the TCP listener's, and the
``api`` listener's with an authority).  For every forwarded message a relay lets the
reply come back: the first hop of the return route becomes a consumer of the next hop's
flow control and the other way round (as Rust's relay worker).  On the registering side,
``main_remote`` consumes the flow control of the registration route's first hop and
``main_internal`` is a producer of the same id: what the relay forwards reaches only
that id's consumers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass

from ..codec.address import Address
from ..codec.route import Route
from ..errors import DecodeError, OckamError, ProtocolError, Refused, TimeoutError_
from ..identity import Identifier
from ..node.flow_control import ProducerInfo
from ..node.message import LocalMessage
from ..node.runtime import Context, Node, Worker
from ..protocol.relay import (
    RELAY_PREFIX,
    RELAY_SERVICE,
    STATIC_RELAY_SERVICE,
    RemoteRelayInfo,
    accept_registration,
    forward_onward_route,
    parse_registration_request,
    parse_registration_response,
    refusal,
    registration_request,
    registration_service,
)
from .access_control import AccessControl, Decision, message_identifier

__all__ = [
    "REGISTRATION_TIMEOUT",
    "Relay",
    "RelayService",
    "RemoteRelay",
    "RemoteRelayHandle",
    "register_relay",
]

log = logging.getLogger("ockam.relay")

# Seconds a registering node waits for the relay's answer (Rust's default receive timeout).
REGISTRATION_TIMEOUT = 30.0


# -- relay node side ----------------------------------------------------------------------


class Relay:
    """A relay at ``forward_to_<name>``: a mailbox that forwards each message along
    ``forward_route`` (prefixed to the rest of its onward route)."""

    def __init__(
        self, node: Node, name: str, address: Address, forward_route: Route, ephemeral: bool
    ) -> None:
        self.node = node
        self.name = name
        self.address = address
        self.forward_route = forward_route
        self.ephemeral = ephemeral
        self.forwarded = 0
        self._paired: tuple[Address, Address] | None = None

    def _forwarded(self, msg: LocalMessage) -> LocalMessage:
        out = msg.with_routes(forward_onward_route(msg.onward_route, self.forward_route), msg.return_route)
        if out.return_route:
            self._pair(out.onward_route.addresses[0], out.return_route.addresses[0])
        return out

    def _pair(self, next_hop: Address, prev_hop: Address) -> None:
        """Let the replies through: each hop consumes the other's flow control."""
        if self._paired == (next_hop, prev_hop):
            return
        flow_controls = self.node.flow_controls
        producer = flow_controls.find_producer(next_hop)
        if producer is not None:
            flow_controls.add_consumer(prev_hop, producer.flow_control_id)
        producer = flow_controls.find_producer(prev_hop)
        if producer is not None:
            flow_controls.add_consumer(next_hop, producer.flow_control_id)
        self._paired = (next_hop, prev_hop)

    def put_nowait(self, msg: LocalMessage) -> bool:
        try:
            out = self._forwarded(msg)
        except DecodeError as e:
            log.warning("relay %s: dropping a message: %s", self.address, e)
            return True
        if not out.onward_route.addresses[0].is_local:
            return False  # needs the transport's router: see put()
        try:
            delivered = self.node.deliver_nowait(out)
        except OckamError as e:
            log.info("relay %s: cannot forward (%s); dropping the message", self.address, e)
            return True
        if delivered:
            self.forwarded += 1
        return delivered

    async def put(self, msg: LocalMessage) -> None:
        try:
            await self.node.deliver(self._forwarded(msg))
            self.forwarded += 1
        except OckamError as e:
            log.info("relay %s: cannot forward (%s); dropping the message", self.address, e)


class RelayService(Worker):
    """The relay service: start it at ``[forwarding_service, static_forwarding_service]``
    with :meth:`start`."""

    def __init__(
        self,
        node: Node,
        prefix: str = RELAY_PREFIX,
        *,
        access: AccessControl | None = None,
        name_check: Callable[[Identifier | None, str], Decision] | None = None,
        service_consumes: Collection[str] = (),
        relay_consumes: Collection[str] = (),
    ) -> None:
        self.node = node
        self.prefix = prefix
        self.relays: dict[Address, Relay] = {}
        # who may register (None: everyone), and which names (None: any)
        self.access = access
        self.name_check = name_check
        # the flow controls whose messages may reach the service, and the relays
        self.service_consumes = service_consumes
        self.relay_consumes = relay_consumes  # read again for each new relay
        self.addresses: tuple[Address, ...] = ()

    async def start(self, addresses: tuple[str, ...] = (RELAY_SERVICE, STATIC_RELAY_SERVICE)) -> RelayService:
        await self.node.start_worker(list(addresses), self)
        self.addresses = tuple(Address.parse(a) for a in addresses)
        for address in self.addresses:
            for fcid in self.service_consumes:
                self.node.flow_controls.add_consumer(address, fcid)
        return self

    async def handle_message(self, ctx: Context, msg: LocalMessage) -> None:
        try:
            reg = accept_registration(msg.payload, msg.return_route, prefix=self.prefix)
        except DecodeError as e:
            log.warning("relay service: dropping an invalid registration: %s", e)
            return
        decision = Decision(True)
        if self.access is not None:
            decision = self.access.check_message(msg)  # (logged by the access control)
        if decision and self.name_check is not None:
            decision = self.name_check(message_identifier(msg), reg.name)  # (logged by the check)
        if not decision:
            # answered (Rust sends nothing: its clients wait for their timeout)
            answer = refusal(decision.reason, reg.name)
            with contextlib.suppress(OckamError):
                await ctx.forward(LocalMessage(reg.response_onward_route, Route((ctx.address,)), answer))
            return
        ephemeral = parse_registration_request(msg.payload) is None
        relay = self.relays.get(reg.relay_address)
        if relay is not None:
            log.info(
                "relay %s: replacing route %s by %s (newer registration)",
                reg.relay_address,
                relay.forward_route,
                reg.forward_route,
            )
            relay.forward_route = reg.forward_route
        else:
            if self.node.has_address(reg.relay_address):
                log.error("relay service: the address %s is used by something else", reg.relay_address)
                return
            relay = Relay(self.node, reg.name, reg.relay_address, reg.forward_route, ephemeral)
            self.node.register([reg.relay_address], relay)
            for fcid in self.relay_consumes:
                self.node.flow_controls.add_consumer(reg.relay_address, fcid)
            self.relays[reg.relay_address] = relay
            log.info("relay %s created, forwarding to %s", reg.relay_address, reg.forward_route)
        try:
            await ctx.forward(
                LocalMessage(reg.response_onward_route, reg.response_return_route, reg.response_payload)
            )
        except OckamError as e:
            log.warning("relay %s: cannot answer the registration: %s", reg.relay_address, e)

    def remove(self, address: Address | str) -> bool:
        """Remove a relay (not reachable from the node API, as in Rust)."""
        addr = Address.parse(address) if isinstance(address, str) else address
        relay = self.relays.pop(addr, None)
        if relay is None:
            return False
        self.node.unregister([addr])
        return True


# -- registering node side ----------------------------------------------------------------


class RemoteRelay(Worker):
    """The registering side: lives at ``main_remote``; sends the registration when it
    starts; the first valid answer completes :attr:`registered`. Messages that arrive
    with further hops (relays that forward through the full registration route) are
    re-sent from ``main_internal``."""

    def __init__(self, route: Route, name: str | None) -> None:
        self.route = route
        self.name = name
        self.main_internal = Address.random_local()
        self.registered: asyncio.Future[RemoteRelayInfo] = asyncio.get_running_loop().create_future()
        # main_internal, a producer of the first hop's flow control (None: no flow control)
        self.producer: ProducerInfo | None = None

    @property
    def flow_control_id(self) -> str | None:
        """The flow control what the relay forwards arrives under (its consumers get it)."""
        return None if self.producer is None else self.producer.flow_control_id

    async def initialize(self, ctx: Context) -> None:
        service = Address.local(registration_service(self.name))
        target = await ctx.node.resolve_route(Route((*self.route, service)))
        flow_controls = ctx.node.flow_controls
        first = flow_controls.find_producer(target.addresses[0])
        if first is not None:
            flow_controls.add_consumer(ctx.address, first.flow_control_id)
            self.producer = flow_controls.add_producer(self.main_internal, first.flow_control_id)
        await ctx.node.deliver(LocalMessage(target, Route((ctx.address,)), registration_request(self.name)))

    async def shutdown(self, ctx: Context) -> None:
        ctx.node.flow_controls.cleanup(self.main_internal)

    async def handle_message(self, ctx: Context, msg: LocalMessage) -> None:
        onward = msg.onward_route.step()
        if not onward:
            try:
                info = parse_registration_response(msg.payload, msg.return_route, self.name)
            except Refused as e:
                log.warning("relay client %s: %s", ctx.address, e)
                if not self.registered.done():
                    self.registered.set_exception(e)
                return
            except (DecodeError, ProtocolError) as e:
                log.warning("relay client %s: invalid answer from the relay: %s", ctx.address, e)
                return
            if not self.registered.done():
                log.info("relay registered: %s (route %s)", info.remote_address, info.forwarding_route)
                self.registered.set_result(info)
            return
        if onward.addresses[0] == ctx.address:
            log.warning("relay client %s: refusing to forward to itself", ctx.address)
            return
        out = LocalMessage(onward, msg.return_route, msg.payload, msg.local_info)
        if self.producer is None:
            await ctx.forward(out)
            return
        result = ctx.node.deliver_produced(out, self.producer)
        if result is not True:
            assert not isinstance(result, bool)
            await result


@dataclass
class RemoteRelayHandle:
    """A registration: what the relay answered and the local worker keeping it."""

    info: RemoteRelayInfo
    worker_address: Address  # main_remote
    name: str | None
    # what the relay forwards arrives under it (None: registered on this node)
    flow_control_id: str | None = None

    async def stop(self, node: Node) -> None:
        await node.stop_worker(self.worker_address)


async def register_relay(
    node: Node,
    route: Route,
    name: str | None,
    timeout: float = REGISTRATION_TIMEOUT,
) -> RemoteRelayHandle:
    """Register relay ``name`` (None: a random name) with the relay service reached by
    ``route`` (e.g. ``[tcp sender]`` or ``[encryptor]``); return once it answered."""
    worker = RemoteRelay(route, name)
    address = Address.random_local()
    await node.start_worker(address, worker)
    try:
        info = await asyncio.wait_for(asyncio.shield(worker.registered), timeout)
    except TimeoutError:
        await node.stop_worker(address)
        raise TimeoutError_(f"no answer from the relay service at {route} within {timeout:g} s") from None
    except BaseException:
        await node.stop_worker(address)
        raise
    return RemoteRelayHandle(info, address, name, worker.flow_control_id)
