"""Sessions: a connection (a route to another node) kept alive and replaced when it dies.

What inlets and relays use (portals.md §6.3, relays.md §5.1). A session calls its
``create`` function to make the connection and learn its *ping route*; then every
``ping_interval`` it sends a random ``u64`` (CBOR) to ``ping route + [echo]`` (so the
node at the end of the route, e.g. the outlet's node behind a relay, must run ``echo``), with a
private collector as return address. Any echoed value matching an outstanding ping
clears the outstanding list; with ``max_missed`` pings outstanding the connection is
down. It is also down at once when one of the outcome's ``closed`` awaitables
completes (its TCP connection closed), which Rust does not watch (it notices ~30 s
later through the pings). A down session calls ``close`` then ``create`` again, with
exponential backoff and jitter between failed attempts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from ..codec import cbor
from ..codec.address import Address
from ..codec.route import Route
from ..errors import DecodeError, OckamError, TimeoutError_, TransportError
from ..node.message import LocalMessage
from ..node.runtime import Node
from .resolve import Connection

__all__ = [
    "CREATE_TIMEOUT",
    "MAX_MISSED_PINGS",
    "PING_INTERVAL",
    "RETRY_MAX",
    "RETRY_MIN",
    "Session",
    "SessionOutcome",
    "connection_closed",
    "connection_held_back",
    "transport_route",
]

log = logging.getLogger("ockam.session")

PING_INTERVAL = 10.0
MAX_MISSED_PINGS = 3
RETRY_MIN = 0.5
RETRY_MAX = 5.0
CREATE_TIMEOUT = 30.0
ECHO = Address.local("echo")

T = TypeVar("T")


@dataclass
class SessionOutcome(Generic[T]):
    """What a successful ``create`` returns."""

    value: T
    ping_route: Route
    # awaitables that complete when the connection is gone (e.g. its TCP connection closed)
    closed: list[Awaitable[None]] = field(default_factory=list)
    # True while this node does not read the connection (its own consumers are full):
    # unanswered pings do not count then
    held_back: Callable[[], bool] | None = None


def transport_route(conn: Connection) -> Route:
    """The connection's route without its destination, as Rust's connection builder
    computes it: every hop but the last, and the last too when it is itself a transport
    hop (a TCP sender or secure channel this connection made), e.g. ``[enc]`` for
    ``[enc, outlet]``, ``[tcp, forward_to_s]`` for ``[tcp, forward_to_s, outlet]``,
    ``[tcp]`` for ``[tcp]``."""
    made = {tc.sender for tc in conn.tcp_connections} | set(conn.created)
    hops = conn.route.addresses
    if hops and (hops[-1] in made or not hops[-1].is_local):
        return Route(hops)
    return Route(hops[:-1])


def connection_closed(conn: Connection) -> list[Awaitable[None]]:
    """Awaitables completing when a TCP connection of ``conn`` closes."""
    return [tc.protocol.wait_closed() for tc in conn.tcp_connections if tc.protocol is not None]


def connection_held_back(conn: Connection) -> Callable[[], bool]:
    """Whether a TCP connection of ``conn`` is held back by this node's back-pressure."""
    return lambda: any(tc.held_back for tc in conn.tcp_connections)


async def unless_closed(conn: Connection, work: Awaitable[T]) -> T:
    """Await ``work``, failing at once (not at its timeout) if a TCP connection of ``conn``
    closes first."""
    task = asyncio.ensure_future(work)
    closed = [asyncio.ensure_future(w) for w in connection_closed(conn)]
    try:
        await asyncio.wait([task, *closed], return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            raise TransportError("the connection closed before the peer answered")
        return task.result()
    finally:
        for c in closed:
            c.cancel()


class _Collector:
    """Mailbox of the session's collector address: echoed pings go to a small queue."""

    def __init__(self, queue: asyncio.Queue[tuple[str, int]]) -> None:
        self.queue = queue

    def put_nowait(self, msg: LocalMessage) -> bool:
        try:
            value = cbor.decode(msg.payload)
        except DecodeError:
            return True
        if isinstance(value, int) and not isinstance(value, bool):
            with contextlib.suppress(asyncio.QueueFull):
                self.queue.put_nowait(("pong", value))
        return True  # never blocks: a reply that does not fit is simply lost

    async def put(self, msg: LocalMessage) -> None:
        self.put_nowait(msg)


class Session(Generic[T]):
    """A connection kept alive. ``start()`` runs it in a node-owned task; ``stop()`` ends it."""

    def __init__(
        self,
        node: Node,
        key: str,
        create: Callable[[], Awaitable[SessionOutcome[T]]],
        close: Callable[[], Awaitable[None]],
        *,
        ping_interval: float = PING_INTERVAL,
        max_missed: int = MAX_MISSED_PINGS,
        retry_min: float = RETRY_MIN,
        retry_max: float = RETRY_MAX,
        create_timeout: float = CREATE_TIMEOUT,
    ) -> None:
        self.node = node
        self.key = key
        self._create = create
        self._close = close
        self.ping_interval = ping_interval
        self.max_missed = max_missed
        self.retry_min = retry_min
        self.retry_max = retry_max
        self.create_timeout = create_timeout
        self.outcome: SessionOutcome[T] | None = None
        self.last_failure: str | None = None
        self.replacements = 0
        self._events: asyncio.Queue[tuple[str, int]] = asyncio.Queue(64)
        self._collector = Address.random_local()
        self._pings: list[int] = []
        self._generation = 0
        self._watchers: list[asyncio.Task[None]] = []
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._stopped = False
        node.register([self._collector], _Collector(self._events))

    @property
    def is_up(self) -> bool:
        return self.outcome is not None

    # -- control
    async def initial_connect(self) -> T:
        """Make the connection now (raises on failure; the session stays down)."""
        outcome = await self._replace()
        return outcome.value

    def start(self) -> None:
        if self._task is None and not self._stopped:
            self._task = self.node.spawn(self._run(), name=f"session {self.key}")

    async def stop(self) -> None:
        self._stopped = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._down()
        self.node.unregister([self._collector])

    # -- internals
    async def _replace(self) -> SessionOutcome[T]:
        async with self._lock:
            await self._down()
            if self._stopped or not self.node.running:
                raise OckamError(f"{self.key}: the session is stopped")
            try:
                outcome = await asyncio.wait_for(self._create(), self.create_timeout)
            except TimeoutError:
                self.last_failure = f"no connection within {self.create_timeout:g} s"
                with contextlib.suppress(Exception):
                    await self._close()
                raise TimeoutError_(f"{self.key}: {self.last_failure}") from None
            except BaseException as e:
                self.last_failure = str(e)
                with contextlib.suppress(Exception):
                    await self._close()
                raise
            self._generation += 1
            self._pings.clear()
            self.outcome = outcome
            # the echoes come back through the ping route's first hop
            if outcome.ping_route:
                producer = self.node.flow_controls.find_producer(outcome.ping_route.addresses[0])
                if producer is not None:
                    self.node.flow_controls.add_consumer(self._collector, producer.flow_control_id)
            self.last_failure = None
            gen = self._generation
            for aw in outcome.closed:
                self._watchers.append(self.node.spawn(self._watch(gen, aw), name=f"session {self.key} watch"))
            log.info("%s: connection is up (ping route %s)", self.key, outcome.ping_route)
            return outcome

    async def _watch(self, gen: int, closed: Awaitable[None]) -> None:
        await closed
        with contextlib.suppress(asyncio.QueueFull):
            self._events.put_nowait(("closed", gen))

    async def _down(self) -> None:
        watchers, self._watchers = self._watchers, []
        for w in watchers:
            w.cancel()
        was_up = self.outcome is not None
        self.outcome = None
        self._pings.clear()
        if was_up:
            try:
                await self._close()
            except Exception as e:
                log.warning("%s: error while closing the connection: %s", self.key, e)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        delay = self.retry_min
        while not self._stopped and self.node.running:
            if self.outcome is None:
                try:
                    await self._replace()
                    delay = self.retry_min
                except asyncio.CancelledError:
                    raise
                except Exception as e:
                    wait = delay * random.uniform(0.75, 1.25)
                    log.warning("%s: cannot connect (%s); retrying in %.1f s", self.key, e, wait)
                    await asyncio.sleep(wait)
                    delay = min(delay * 2, self.retry_max)
                continue
            if len(self._pings) >= self.max_missed:
                held_back = self.outcome.held_back
                if held_back is None or not held_back():
                    log.warning(
                        "%s: no answer to %d pings; replacing the connection", self.key, len(self._pings)
                    )
                    self.replacements += 1
                    await self._down()
                    continue
                # The answers may be waiting behind data that this node's own consumers
                # (e.g. a portal client that does not read) have no room for: the peer is
                # not known to be gone, so the oldest pings stop counting. (Rust replaces the
                # connection, and with it every portal connection using it.)
                log.debug("%s: pings unanswered while the connection is held back", self.key)
                del self._pings[: len(self._pings) - self.max_missed + 1]
            self._send_ping(self.outcome.ping_route)
            deadline = loop.time() + self.ping_interval
            while self.outcome is not None:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    kind, value = await asyncio.wait_for(self._events.get(), remaining)
                except TimeoutError:
                    break
                if kind == "pong":
                    if value in self._pings:
                        self._pings.clear()
                elif kind == "closed" and value == self._generation:
                    log.warning("%s: the connection closed; replacing it", self.key)
                    self.replacements += 1
                    await self._down()

    def _send_ping(self, ping_route: Route) -> None:
        value = secrets.randbits(64)
        self._pings.append(value)
        msg = LocalMessage(Route((*ping_route, ECHO)), Route((self._collector,)), cbor.encode(value))

        async def send() -> None:
            try:
                await asyncio.wait_for(self.node.deliver(msg), self.ping_interval)
            except (OckamError, TimeoutError) as e:
                log.debug("%s: ping not sent: %s", self.key, e)

        try:
            if msg.onward_route.addresses[0].is_local and self.node.deliver_nowait(msg):
                return
        except OckamError as e:
            log.debug("%s: ping not sent: %s", self.key, e)
            return
        self.node.spawn(send(), name=f"session {self.key} ping")
