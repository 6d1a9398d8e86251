"""Router, mailboxes, workers and contexts.

A :class:`Node` owns a routing table from local addresses to mailboxes.  Ordinary
workers get a bounded :class:`QueueMailbox` and a task (owned by the node's task
group) that hands them one message at a time; transports register *direct*
mailboxes that write straight to a socket.  A full mailbox makes senders wait
(``await``) or, for socket readers, pause reading: back-pressure end to end.

What arrives from the network enters through *producers* (TCP connections, secure
channels) and reaches only the consumers of their flow control (:mod:`.flow_control`,
:meth:`Node.deliver_produced`); a transport address (``1#host:port``) further down a route
is routed only for messages that started on this node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, Protocol, TypeVar

from ..codec.address import Address
from ..codec.route import Route
from ..errors import AddressNotFound, OckamError, RouteError, TimeoutError_
from .flow_control import DropLog, FlowControls, ProducerInfo
from .message import LocalMessage, came_from_network

__all__ = ["Context", "DirectMailbox", "Mailbox", "Node", "QueueMailbox", "Worker", "run"]

T = TypeVar("T")

log = logging.getLogger("ockam.node")

DEFAULT_MAILBOX_SIZE = 256


class Mailbox(Protocol):
    """Where the router puts messages for one or more addresses."""

    def put_nowait(self, msg: LocalMessage) -> bool:
        """Deliver if there is room; False means "full, call :meth:`put`"."""

    async def put(self, msg: LocalMessage) -> None:
        """Deliver, waiting for room."""


class QueueMailbox:
    """A bounded FIFO mailbox."""

    __slots__ = ("queue",)

    def __init__(self, size: int = DEFAULT_MAILBOX_SIZE) -> None:
        self.queue: asyncio.Queue[LocalMessage] = asyncio.Queue(size)

    def put_nowait(self, msg: LocalMessage) -> bool:
        try:
            self.queue.put_nowait(msg)
        except asyncio.QueueFull:
            return False
        return True

    async def put(self, msg: LocalMessage) -> None:
        await self.queue.put(msg)


class DirectMailbox(QueueMailbox):
    """The mailbox of a worker with a :meth:`Worker.handle_message_now`: while the worker
    is idle and nothing waits in the queue, a message is handled in the sender's call (no
    task switch: the data path of secure channels); otherwise it is queued, in order."""

    __slots__ = ("busy", "ctx", "node", "pending", "worker")

    def __init__(self, node: Node, worker: Worker, size: int) -> None:
        super().__init__(size)
        self.node = node
        self.worker = worker
        self.ctx: Context | None = None
        self.busy = False  # handling a message (either way)
        # the end of a message started by handle_message_now: later ones wait for it
        self.pending: asyncio.Task[None] | None = None

    def put_nowait(self, msg: LocalMessage) -> bool:
        ctx = self.ctx
        if self.busy or self.pending is not None or self.queue.qsize() or ctx is None:
            return super().put_nowait(msg)
        self.busy = True
        try:
            result = self.worker.handle_message_now(ctx, msg)
        except OckamError as e:
            log.warning("worker %s: %s", ctx.address, e)
            return True
        except Exception:
            log.exception("worker %s failed on a message", ctx.address)
            return True
        finally:
            self.busy = False
        if result is True:
            return True
        if result is False:
            return super().put_nowait(msg)
        self.pending = self.node.spawn(self._finish(ctx, result), name=f"worker {ctx.address} send")
        return True

    async def _finish(self, ctx: Context, rest: Awaitable[None]) -> None:
        try:
            await rest
        except OckamError as e:
            log.warning("worker %s: %s", ctx.address, e)
        finally:
            self.pending = None


class Worker:
    """Base class of workers: override :meth:`handle_message`.

    ``self.ctx`` is the worker's context (set when started); use it to send.
    """

    ctx: Context

    async def initialize(self, ctx: Context) -> None:
        """Called once before the first message."""

    async def handle_message(self, ctx: Context, msg: LocalMessage) -> None:
        raise NotImplementedError

    def handle_message_now(self, ctx: Context, msg: LocalMessage) -> bool | Awaitable[None]:
        """Optional, for workers on a data path: handle ``msg`` at once, in the sender's
        call.  True: handled; False: not now (it goes to :meth:`handle_message` in turn);
        an awaitable: started, to be finished (awaited) before the next message.  Only
        called while the worker is idle and its queue is empty, so the order is kept.
        Workers whose class overrides it get a :class:`DirectMailbox`."""
        return False

    async def shutdown(self, ctx: Context) -> None:
        """Called once when the worker stops."""


class Node:
    """An Ockam node running in this process.

    ``async with Node() as node:`` starts it; leaving the block stops every worker,
    transport and task it started.
    """

    def __init__(self, name: str = "node") -> None:
        self.name = name
        self._table: dict[Address, Mailbox] = {}
        self._workers: dict[Address, tuple[Worker, asyncio.Task[None], tuple[Address, ...]]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        # transport type -> resolver turning a transport address into a local sender address
        self.resolvers: dict[int, Callable[[Address], Awaitable[Address]]] = {}
        # transport type -> router delivering a message whose next hop is a transport address
        # (e.g. ``1#host:port`` reached *after* a hop: the connection is opened or reused here)
        self.routers: dict[int, Callable[[LocalMessage], Awaitable[None]]] = {}
        self._closers: list[Callable[[], Awaitable[None]]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        # address -> callbacks to run once when it is unregistered (see when_unregistered)
        self._on_unregister: dict[Address, list[Callable[[], None]]] = {}
        # who may receive what arrives from the network (see deliver_produced)
        self.flow_controls = FlowControls()
        self.drop_log = DropLog(log)
        self.running = False

    # -- lifecycle
    async def __aenter__(self) -> Node:
        self.running = True
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        if not self.running:
            return
        self.running = False
        for closer in reversed(self._closers):
            try:
                await closer()
            except Exception:  # pragma: no cover - a closer must not stop the shutdown
                log.exception("error while stopping")
        for address in list(self._workers):
            await self.stop_worker(address)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._table.clear()
        self._loop = None
        self._on_unregister.clear()
        self.flow_controls = FlowControls()

    def on_stop(self, closer: Callable[[], Awaitable[None]]) -> None:
        """Run ``closer`` when the node stops (transports register here)."""
        self._closers.append(closer)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The node's event loop (asked once: on Python 3.11 each asking is a system call)."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        return loop

    def spawn(self, coro: Awaitable[Any], name: str | None = None) -> asyncio.Task[Any]:
        """Start a task owned by the node: cancelled on stop, errors logged, never lost."""
        if asyncio.iscoroutine(coro):
            task: asyncio.Task[Any] = self.loop.create_task(coro, name=name)
        else:
            task = asyncio.ensure_future(coro)
            if name:
                task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.error("task %s failed: %s", task.get_name(), exc, exc_info=exc)

    # -- registration
    def register(self, addresses: Iterable[Address], mailbox: Mailbox) -> None:
        addresses = list(addresses)
        for address in addresses:
            if address in self._table:
                raise OckamError(f"address {address} is already in use on this node")
        for address in addresses:
            self._table[address] = mailbox

    def unregister(self, addresses: Iterable[Address]) -> None:
        for address in addresses:
            self._table.pop(address, None)
            self.flow_controls.cleanup(address)
            callbacks = self._on_unregister.pop(address, None)
            if callbacks:
                for callback in callbacks:
                    try:
                        callback()
                    except Exception:
                        log.exception("error in a callback for unregistered address %s", address)

    def when_unregistered(self, address: Address, callback: Callable[[], None]) -> None:
        """Call ``callback`` once, when ``address`` is unregistered (its worker stopped,
        its connection closed, ...); soon, when it is not registered now."""
        if address not in self._table:
            self.loop.call_soon(callback)
            return
        self._on_unregister.setdefault(address, []).append(callback)

    def has_address(self, address: Address) -> bool:
        return address in self._table

    @property
    def addresses(self) -> list[Address]:
        return list(self._table)

    async def start_worker(
        self,
        address: Address | str | Iterable[Address | str],
        worker: Worker,
        *,
        mailbox_size: int = DEFAULT_MAILBOX_SIZE,
        consumes: Iterable[str] = (),
    ) -> Context:
        """Start ``worker`` at one or more addresses; return its context.

        ``consumes``: flow-control ids whose producers may deliver to its first address
        (what arrives from the network reaches only consumers: :meth:`deliver_produced`).
        """
        addrs = _addresses(address)
        direct = type(worker).handle_message_now is not Worker.handle_message_now
        mailbox = DirectMailbox(self, worker, mailbox_size) if direct else QueueMailbox(mailbox_size)
        self.register(addrs, mailbox)
        for fcid in consumes:
            self.flow_controls.add_consumer(addrs[0], fcid)
        ctx = Context(self, addrs[0], mailbox, addrs)
        worker.ctx = ctx
        try:
            await worker.initialize(ctx)
        except BaseException:
            self.unregister(addrs)
            raise
        if isinstance(mailbox, DirectMailbox):
            mailbox.ctx = ctx  # from now on, messages may be handled at once
        task = self.spawn(self._run_worker(worker, ctx, mailbox), name=f"worker {addrs[0]}")
        self._workers[addrs[0]] = (worker, task, tuple(addrs))
        return ctx

    async def _run_worker(self, worker: Worker, ctx: Context, mailbox: QueueMailbox) -> None:
        queue = mailbox.queue
        direct = mailbox if isinstance(mailbox, DirectMailbox) else None
        try:
            while True:
                msg = await queue.get()
                try:
                    if direct is not None:
                        direct.busy = True
                        if direct.pending is not None:  # a message started before this one
                            with contextlib.suppress(Exception):
                                await asyncio.shield(direct.pending)
                    await worker.handle_message(ctx, msg)
                except asyncio.CancelledError:
                    raise
                except OckamError as e:
                    log.warning("worker %s: %s", ctx.address, e)
                except Exception:
                    log.exception("worker %s failed on a message", ctx.address)
                finally:
                    if direct is not None:
                        direct.busy = False
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(worker.shutdown(ctx))

    async def stop_worker(self, address: Address | str) -> bool:
        """Stop the worker owning ``address``; False if there is none."""
        addr = Address.parse(address) if isinstance(address, str) else address
        entry = self._workers.pop(addr, None)
        if entry is None:
            for primary, (_, _, addrs) in list(self._workers.items()):
                if addr in addrs:
                    entry = self._workers.pop(primary)
                    break
        if entry is None:
            return False
        _, task, addrs = entry
        self.unregister(addrs)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        return True

    def workers(self) -> list[Address]:
        return list(self._workers)

    def worker(self, address: Address) -> Worker | None:
        entry = self._workers.get(address)
        return entry[0] if entry else None

    def context(self, mailbox_size: int = DEFAULT_MAILBOX_SIZE) -> Context:
        """A detached context with a fresh random address (to send and await replies)."""
        address = Address.random_local()
        mailbox = QueueMailbox(mailbox_size)
        self.register([address], mailbox)
        return Context(self, address, mailbox, [address], receives_replies=True)

    # -- routing
    async def resolve_route(self, route: Route) -> Route:
        """Replace a leading transport hop of ``route`` by a new connection's sender address.

        Transport hops further down the route are left in place: the node that reaches
        them routes them (see ``routers``).
        """
        if not route or route.addresses[0].is_local:
            return route
        hop = route.addresses[0]
        resolver = self.resolvers.get(hop.transport_type)
        if resolver is None:
            raise RouteError(f"the transport is not registered for address {hop}")
        sender = await resolver(hop)
        return Route((sender, *route.addresses[1:]))

    def _lookup(self, msg: LocalMessage) -> Mailbox:
        if not msg.onward_route:
            raise RouteError("message has an empty onward route")
        first = msg.onward_route.addresses[0]
        mailbox = self._table.get(first)
        if mailbox is None:
            raise AddressNotFound(f"no worker at address {first}")
        return mailbox

    def deliver_nowait(self, msg: LocalMessage) -> bool:
        """Deliver without waiting; False if the mailbox is full (then ``await deliver``)."""
        return self._lookup(msg).put_nowait(msg)

    async def deliver(self, msg: LocalMessage) -> None:
        if msg.onward_route and not msg.onward_route.addresses[0].is_local:
            hop = msg.onward_route.addresses[0]
            if came_from_network(msg):
                # a peer does not make this node open connections (Rust has no TCP router)
                self.drop_log("dropping a message from the network to the transport address %s", hop)
                return
            router = self.routers.get(hop.transport_type)
            if router is None:
                raise RouteError(f"the transport is not registered for address {hop}")
            await router(msg)
            return
        mailbox = self._lookup(msg)
        if not mailbox.put_nowait(msg):
            await mailbox.put(msg)

    def deliver_produced(self, msg: LocalMessage, producer: ProducerInfo) -> bool | Awaitable[None]:
        """Deliver a message that ``producer`` (a TCP connection, a secure channel...)
        received from the network, to a local address that is a consumer of its flow
        control; anything else is dropped with one (rate-limited) log line.

        Returns True when delivered (or dropped), else an awaitable to wait on (the
        mailbox is full: back-pressure).
        """
        route = msg.onward_route.addresses
        if not route:
            self.drop_log("dropping a message from the network with an empty onward route")
            return True
        first = route[0]
        mailbox = self._table.get(first)
        if mailbox is None:
            self.drop_log("dropping a message from the network to %s: no such address on this node", first)
            return True
        if not self.flow_controls.allows(producer, first):
            self.drop_log(
                "dropping a message from the network to %s: it is not a consumer of flow control %s%s",
                first,
                producer.flow_control_id,
                f" (or {producer.spawner_flow_control_id})" if producer.spawner_flow_control_id else "",
            )
            return True
        if mailbox.put_nowait(msg):
            return True
        return mailbox.put(msg)


def _addresses(address: Address | str | Iterable[Address | str]) -> list[Address]:
    if isinstance(address, (Address, str)):
        items: list[Address | str] = [address]
    else:
        items = list(address)
    out = [Address.parse(a) if isinstance(a, str) else a for a in items]
    if not out:
        raise OckamError("a worker needs at least one address")
    return out


class Context:
    """A worker's (or a detached caller's) handle on the node: send, receive, forward."""

    __slots__ = ("_mailbox", "address", "addresses", "node", "receives_replies")

    def __init__(
        self,
        node: Node,
        address: Address,
        mailbox: QueueMailbox,
        addresses: list[Address],
        *,
        receives_replies: bool = False,
    ) -> None:
        self.node = node
        self.address = address
        self.addresses = addresses
        self._mailbox = mailbox
        # consume the flow control of what it sends through (see send); True for the
        # contexts of Node.context()
        self.receives_replies = receives_replies

    async def send(
        self, route: Route | str | Address, payload: bytes, *, from_: Address | None = None
    ) -> None:
        """Send ``payload`` along ``route``; the return route is this context's address.

        A context that ``receives_replies`` (those of :meth:`Node.context`) and sends
        through a TCP connection or a secure channel becomes a consumer of its flow
        control, so that the replies reach it (as Rust's ``send_and_receive``); a
        worker of the node says what it consumes when it starts.
        """
        r = _to_route(route)
        r = await self.node.resolve_route(r)
        sender = from_ or self.address
        if self.receives_replies and r:
            producer = self.node.flow_controls.find_producer(r.addresses[0])
            if producer is not None:
                self.node.flow_controls.add_consumer(sender, producer.flow_control_id)
        await self.node.deliver(LocalMessage(r, Route((sender,)), payload))

    async def forward(self, msg: LocalMessage) -> None:
        """Deliver a message whose routes were already computed."""
        await self.node.deliver(msg)

    async def receive(self, timeout: float | None = None) -> LocalMessage:
        try:
            if timeout is None:
                return await self._mailbox.queue.get()
            return await asyncio.wait_for(self._mailbox.queue.get(), timeout)
        except TimeoutError:
            raise TimeoutError_(f"no message received within {timeout:g} s") from None

    async def send_and_receive(
        self, route: Route | str | Address, payload: bytes, timeout: float | None = 30.0
    ) -> LocalMessage:
        await self.send(route, payload)
        return await self.receive(timeout)

    def close(self) -> None:
        """Release a detached context's address."""
        self.node.unregister(self.addresses)

    def __enter__(self) -> Context:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _to_route(route: Route | str | Address) -> Route:
    if isinstance(route, Route):
        return route
    if isinstance(route, Address):
        return Route((route,))
    return Route.parse(route)


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` in a new event loop: uvloop when it is installed, asyncio's otherwise."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    result: T = uvloop.run(main)
    return result
