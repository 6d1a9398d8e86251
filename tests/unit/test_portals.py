"""TCP portals between in-process nodes over real sockets on 127.0.0.1 (no CLI)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import http.server
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from ockam.api.node_process import NodeConfig, RunningNode, start_node
from ockam.api.resolve import Connection
from ockam.api.session import transport_route
from ockam.api.views import inlet_status_json, node_resources_json, outlet_status_json
from ockam.codec.address import Address
from ockam.codec.multiaddr import MultiAddr
from ockam.codec.route import route
from ockam.node import Context, LocalMessage, Worker
from ockam.protocol import api_models as models
from ockam.protocol.api_wire import Request, Response, decode_response
from ockam.protocol.portal import MAX_PAYLOAD_SIZE
from ockam.services.portal import PARK_LIMIT, PONG_TIMEOUT
from ockam.transport.tcp import TcpConnection

# -- helpers ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


async def api(node: RunningNode, method: str, path: str, body: Any = None) -> Response:
    """One control-API request, encoded and decoded as on the wire."""
    req = Request(path, method) if body is None else Request(path, method, body)
    resp = await node.manager.dispatch(req)
    resp.re = req.id
    return decode_response(resp.encode())


async def create_outlet(node: RunningNode, target_port: int, address: str | None = None) -> Response:
    body = models.CreateOutlet(
        models.HostnamePort("127.0.0.1", target_port),
        worker_addr=Address.local(address) if address else None,
        reachable_from_default_secure_channel=True,
    )
    return await api(node, "POST", "/node/outlet", body.to_cbor())


async def create_inlet(
    node: RunningNode, to: str, alias: str = "inlet1", port: int = 0, wait: bool = True
) -> Response:
    body = models.CreateInlet(
        models.HostnamePort("127.0.0.1", port),
        MultiAddr.parse(to),
        alias,
        wait_for_outlet_duration_ms=5000,
        wait_connection=wait,
    )
    return await api(node, "POST", "/node/inlet", body.to_cbor())


def outlet_route(node: RunningNode, service: str = "outlet") -> str:
    return f"/ip4/127.0.0.1/tcp/{port_of(node.listener_address)}/service/{service}"


def buffered(*nodes: RunningNode) -> int:
    """User-space bytes the nodes hold for portal traffic: portal sockets' buffers and
    pending messages, TCP connections' write buffers and partial frames."""
    total = 0
    for n in nodes:
        total += n.portals.portals.buffered_bytes()
        for c in n.tcp.connections.values():
            proto = c.protocol
            if proto is not None and proto.transport is not None:
                total += proto.transport.get_write_buffer_size() + proto.reader.buffered
    return total


async def wait_for(predicate: Any, timeout: float, step: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(step)


async def read_until_closed(reader: asyncio.StreamReader, timeout: float) -> bytes:
    return await asyncio.wait_for(reader.read(), timeout)


@contextlib.asynccontextmanager
async def nodes(*names: str, ports: dict[str, int] | None = None) -> AsyncIterator[list[RunningNode]]:
    running: list[RunningNode] = []
    try:
        for name in names:
            port = (ports or {}).get(name, 0)
            running.append(await start_node(NodeConfig(name, tcp_listener_address=f"127.0.0.1:{port}")))
        yield running
    finally:
        for n in reversed(running):
            await n.stop()


@contextlib.asynccontextmanager
async def echo_server() -> AsyncIterator[int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()


BODY = os.urandom(300_000)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


async def http_get(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /file HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    body = await asyncio.wait_for(reader.readexactly(length), 10)
    writer.close()
    return head.split(b"\r\n", 1)[0] + b"\n" + body


# -- tests --------------------------------------------------------------------------------


async def test_http_through_a_portal_reads_what_a_direct_client_reads(http_server: int) -> None:
    async with nodes("a", "b") as (a, b):
        resp = await create_outlet(a, http_server)
        assert resp.status == 200, resp.body
        assert resp.body == {1: ["127.0.0.1", http_server], 2: [0, b"outlet"]}

        resp = await create_inlet(b, outlet_route(a))
        assert resp.status == 200, resp.body
        status = resp.body
        assert status[3] == "inlet1" and status[6] == [1, []]
        assert status[5].endswith("=> 0#outlet")
        assert status[7] == outlet_route(a)
        inlet_port = port_of(status[1])

        direct = await http_get(http_server)
        via_portal = await http_get(inlet_port)
        assert via_portal == direct
        assert via_portal.endswith(BODY)

        # listed by the node API and in the node's resources
        listed = (await api(b, "GET", "/node/inlet")).body
        assert [s[3] for s in listed] == ["inlet1"]
        shown = (await api(b, "GET", "/node/inlet/inlet1")).body
        assert inlet_status_json(shown)["status"] == "Up"
        outlets = (await api(a, "GET", "/node/outlet")).body
        assert outlet_status_json(outlets[0]) == {
            "to": f"127.0.0.1:{http_server}",
            "worker_addr": {"tt": 0, "inner": list(b"outlet")},
            "payload": None,
        }
        res = node_resources_json((await api(b, "GET", "/node/resources")).body)
        assert res["inlets"][0]["alias"] == "inlet1"
        res = node_resources_json((await api(a, "GET", "/node/resources")).body)
        assert res["outlets"][0]["to"] == f"127.0.0.1:{http_server}"


@pytest.mark.parametrize("park_limit", [1024 * 1024, PARK_LIMIT], ids=["park-1MiB", "park-default"])
async def test_twenty_megabytes_both_ways_with_a_slow_reader_and_bounded_buffers(park_limit: int) -> None:
    size = 20 * 1024 * 1024
    down = os.urandom(size)  # target -> client
    up = os.urandom(size)  # client -> target
    received_up = hashlib.sha256()
    server_done = asyncio.Event()
    up_count = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal up_count

        async def send() -> None:
            view = memoryview(down)
            for i in range(0, size, 256 * 1024):
                writer.write(view[i : i + 256 * 1024])
                await writer.drain()

        async def receive() -> None:
            nonlocal up_count
            while up_count < size:
                data = await reader.read(1 << 20)
                if not data:
                    break
                received_up.update(data)
                up_count += len(data)

        await asyncio.gather(send(), receive())
        server_done.set()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    target = int(server.sockets[0].getsockname()[1])
    try:
        async with nodes("a", "b") as (a, b):
            for n in (a, b):
                n.portals.portals.park_limit = park_limit
            assert (await create_outlet(a, target)).status == 200
            resp = await create_inlet(b, outlet_route(a))
            reader, writer = await asyncio.open_connection("127.0.0.1", port_of(resp.body[1]))
            peak = 0
            sampling = True

            async def sample() -> None:
                nonlocal peak
                while sampling:
                    peak = max(peak, buffered(a, b))
                    await asyncio.sleep(0.005)

            async def client_send() -> None:
                view = memoryview(up)
                for i in range(0, size, 256 * 1024):
                    writer.write(view[i : i + 256 * 1024])
                    await writer.drain()

            async def client_receive_slowly() -> bytes:
                got = hashlib.sha256()
                count = 0
                while count < size:
                    data = await reader.read(64 * 1024)
                    assert data, "portal closed early"
                    got.update(data)
                    count += len(data)
                    await asyncio.sleep(0.002)  # a slow reader
                assert count == size
                return got.digest()

            sampler = asyncio.ensure_future(sample())
            started = time.perf_counter()
            _, digest = await asyncio.wait_for(asyncio.gather(client_send(), client_receive_slowly()), 120)
            elapsed = time.perf_counter() - started
            await asyncio.wait_for(server_done.wait(), 30)
            sampling = False
            await sampler
            writer.close()

            assert digest == hashlib.sha256(down).digest()
            assert up_count == size and received_up.digest() == hashlib.sha256(up).digest()
            # Everything the two nodes buffered at any time stayed far below what went through:
            # what the slow reader's connection may park, plus a few socket buffers.
            assert peak < park_limit + 6 * 1024 * 1024, peak
            print(f"\n20 MiB each way in {elapsed:.2f} s, peak node buffers {peak / 1024:.0f} KiB")
    finally:
        server.close()


async def test_two_hundred_concurrent_connections() -> None:
    async with echo_server() as target, nodes("a", "b") as (a, b):
        assert (await create_outlet(a, target)).status == 200
        resp = await create_inlet(b, outlet_route(a))
        inlet_port = port_of(resp.body[1])

        async def one(i: int) -> bool:
            data = os.urandom(20_000 + i * 500)
            reader, writer = await asyncio.open_connection("127.0.0.1", inlet_port)
            writer.write(data)
            await writer.drain()
            got = await asyncio.wait_for(reader.readexactly(len(data)), 60)
            writer.close()
            return got == data

        results = await asyncio.gather(*(one(i) for i in range(200)))
        assert all(results)
        # every connection went away on both sides
        await wait_for(lambda: not a.portals.portals.sides and not b.portals.portals.sides, 10)


async def test_a_large_single_write_is_split_into_max_payload_chunks() -> None:
    seen: list[int] = []
    async with echo_server() as target, nodes("a", "b") as (a, b):
        assert (await create_outlet(a, target)).status == 200
        resp = await create_inlet(b, outlet_route(a))
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(resp.body[1]))
        # watch the Payloads leaving the inlet side
        original = b.node.deliver_nowait

        def spy(msg: Any) -> bool:
            if msg.payload[:1] == b"\x03":
                seen.append(len(msg.payload))
            return original(msg)

        b.node.deliver_nowait = spy  # type: ignore[method-assign]
        data = os.urandom(1_000_000)
        writer.write(data)
        got = await asyncio.wait_for(reader.readexactly(len(data)), 10)
        assert got == data
        writer.close()
    assert seen and max(seen) <= MAX_PAYLOAD_SIZE + 4


async def test_outlet_target_down_closes_the_client_promptly() -> None:
    dead = free_port()
    async with nodes("a", "b") as (a, b):
        assert (await create_outlet(a, dead)).status == 200
        resp = await create_inlet(b, outlet_route(a))
        assert resp.body[6] == [1, []]
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(resp.body[1]))
        started = time.monotonic()
        assert await read_until_closed(reader, 5) == b""
        assert time.monotonic() - started < 2
        writer.close()


async def test_no_pong_times_out_and_closes_the_client() -> None:
    async with nodes("a", "b") as (a, b):
        b.portals.pong_timeout = 0.5
        # nothing answers at /service/nobody on node a: the Ping is dropped there
        resp = await create_inlet(b, outlet_route(a, "nobody"))
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(resp.body[1]))
        started = time.monotonic()
        assert await read_until_closed(reader, 5) == b""
        assert 0.4 < time.monotonic() - started < 3
        writer.close()


async def test_client_half_close_tears_the_portal_connection_down() -> None:
    target_saw_eof = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        target_saw_eof.set()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        async with nodes("a", "b") as (a, b):
            assert (await create_outlet(a, int(server.sockets[0].getsockname()[1]))).status == 200
            resp = await create_inlet(b, outlet_route(a))
            reader, writer = await asyncio.open_connection("127.0.0.1", port_of(resp.body[1]))
            writer.write(b"request")
            writer.write_eof()
            # no half-close on the wire: both sockets are closed
            await asyncio.wait_for(target_saw_eof.wait(), 5)
            assert await read_until_closed(reader, 5) == b""
            writer.close()
    finally:
        server.close()


async def test_outlet_node_restart_is_survived_by_the_inlet() -> None:
    port_a = free_port()
    async with echo_server() as target, nodes("b") as (b,):
        b.portals.session_options.update(retry_min=0.2, retry_max=1.0)
        a = await start_node(NodeConfig("a", tcp_listener_address=f"127.0.0.1:{port_a}"))
        try:
            assert (await create_outlet(a, target)).status == 200
            resp = await create_inlet(b, outlet_route(a))
            inlet_port = port_of(resp.body[1])

            reader, writer = await asyncio.open_connection("127.0.0.1", inlet_port)
            writer.write(b"first")
            assert await asyncio.wait_for(reader.readexactly(5), 5) == b"first"

            await a.stop()
            # the established connection is closed, not left hanging
            assert await read_until_closed(reader, 5) == b""
            writer.close()
            entry = b.portals.inlets["inlet1"]
            await wait_for(lambda: not entry.session.is_up, 5)
            # a client arriving while the outlet node is down is closed at once
            r2, w2 = await asyncio.open_connection("127.0.0.1", inlet_port)
            assert await read_until_closed(r2, 2) == b""
            w2.close()
            down = (await api(b, "GET", "/node/inlet/inlet1")).body
            assert down[6] == [0, []] and 5 not in down

            a = await start_node(NodeConfig("a", tcp_listener_address=f"127.0.0.1:{port_a}"))
            assert (await create_outlet(a, target)).status == 200
            await wait_for(lambda: entry.session.is_up, 10)

            reader, writer = await asyncio.open_connection("127.0.0.1", inlet_port)
            writer.write(b"second")
            assert await asyncio.wait_for(reader.readexactly(6), 5) == b"second"
            writer.close()
            assert (await api(b, "GET", "/node/inlet/inlet1")).body[6] == [1, []]
        finally:
            await a.stop()


async def test_inlet_created_while_the_outlet_is_unreachable_comes_up_later() -> None:
    port_a = free_port()
    async with echo_server() as target, nodes("b") as (b,):
        b.portals.session_options.update(retry_min=0.2, retry_max=0.5)
        resp = await create_inlet(b, f"/ip4/127.0.0.1/tcp/{port_a}/service/outlet")
        assert resp.status == 200 and resp.body[6] == [0, []]
        assert 2 not in resp.body and 5 not in resp.body
        inlet_port = port_of(resp.body[1])
        r, w = await asyncio.open_connection("127.0.0.1", inlet_port)
        assert await read_until_closed(r, 2) == b""
        w.close()
        async with nodes("a", ports={"a": port_a}) as (a,):
            assert (await create_outlet(a, target)).status == 200
            entry = b.portals.inlets["inlet1"]
            await wait_for(lambda: entry.session.is_up, 10)
            reader, writer = await asyncio.open_connection("127.0.0.1", inlet_port)
            writer.write(b"hello")
            assert await asyncio.wait_for(reader.readexactly(5), 5) == b"hello"
            writer.close()


async def test_liveness_pings_keep_the_session_up() -> None:
    async with echo_server() as target, nodes("a", "b") as (a, b):
        b.portals.session_options.update(ping_interval=0.05)
        assert (await create_outlet(a, target)).status == 200
        await create_inlet(b, outlet_route(a))
        entry = b.portals.inlets["inlet1"]
        await asyncio.sleep(0.6)
        assert entry.session.is_up and entry.session.replacements == 0


async def test_inlet_and_outlet_api_errors_and_deletion() -> None:
    async with echo_server() as target, nodes("a", "b") as (a, b):
        # outlet addresses: "outlet" first, then random names; duplicates refused
        first = await create_outlet(a, target)
        second = await create_outlet(a, target)
        assert first.body[2] == [0, b"outlet"]
        assert second.status == 200 and second.body[2][1] != b"outlet"
        dup = await create_outlet(a, target, "outlet")
        assert dup.status == 400
        assert dup.body == {3: "A TCP outlet with address '0#outlet' already exists"}
        shown = await api(a, "GET", "/node/outlet/0#outlet")
        assert shown.status == 200 and shown.body[2] == [0, b"outlet"]
        missing = await api(a, "GET", "/node/outlet/nothing")
        assert missing.status == 404 and missing.body[3] == "Outlet with address 0#nothing not found"
        assert (await api(a, "DELETE", "/node/outlet/nothing")).status == 400
        deleted = await api(a, "DELETE", "/node/outlet/outlet")
        assert deleted.status == 200 and deleted.body[2] == [0, b"outlet"]
        assert not a.node.has_address(Address.local("outlet"))
        assert len((await api(a, "GET", "/node/outlet")).body) == 1

        assert (await create_outlet(a, target)).status == 200
        resp = await create_inlet(b, outlet_route(a), alias="x")
        assert resp.status == 200
        bind = resp.body[1]
        dup = await create_inlet(b, outlet_route(a), alias="x")
        assert dup.status == 400 and dup.body[3] == "A TCP inlet with alias 'x' already exists"
        dup = await create_inlet(b, outlet_route(a), alias="y", port=port_of(bind))
        assert dup.status == 400 and "already exists" in dup.body[3]
        missing = await api(b, "GET", "/node/inlet/nope")
        assert missing.status == 404 and missing.body[3] == "Inlet with alias nope not found"
        assert (await api(b, "DELETE", "/node/inlet/nope")).status == 400
        ebpf = models.CreateInlet(
            models.HostnamePort("127.0.0.1", 0), MultiAddr.parse(outlet_route(a)), "e", ebpf=True
        )
        assert (await api(b, "POST", "/node/inlet", ebpf.to_cbor())).status == 400

        deleted = await api(b, "DELETE", "/node/inlet/x")
        assert deleted.status == 200
        assert deleted.body == {1: bind, 3: "x", 6: [0, []], 7: outlet_route(a)}
        assert (await api(b, "GET", "/node/inlet")).body == []
        # the port is free again
        with socket.socket() as s:
            s.bind(("127.0.0.1", port_of(bind)))


async def test_a_target_that_speaks_first_is_relayed_after_the_pong() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 banner\r\n")  # sent as soon as the outlet connects
        await writer.drain()
        line = await reader.readline()
        writer.write(b"echo " + line)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        async with nodes("a", "b") as (a, b):
            assert (await create_outlet(a, int(server.sockets[0].getsockname()[1]))).status == 200
            resp = await create_inlet(b, outlet_route(a))
            reader, writer = await asyncio.open_connection("127.0.0.1", port_of(resp.body[1]))
            assert await asyncio.wait_for(reader.readline(), 5) == b"220 banner\r\n"
            writer.write(b"hi\n")
            assert await asyncio.wait_for(reader.readline(), 5) == b"echo hi\n"
            assert await read_until_closed(reader, 5) == b""
            writer.close()
    finally:
        server.close()


def test_the_ping_route_is_the_route_without_its_destination() -> None:
    tcp = TcpConnection(Address.random_local(), Address.random_local(), "127.0.0.1:1", "outgoing")
    enc = Address.random_local()
    assert transport_route(Connection(route(tcp.sender, "outlet"), [tcp])) == route(tcp.sender)
    relayed = Connection(route(tcp.sender, "forward_to_s", "outlet"), [tcp])
    assert transport_route(relayed) == route(tcp.sender, "forward_to_s")
    assert transport_route(Connection(route(tcp.sender), [tcp])) == route(tcp.sender)
    assert transport_route(Connection(route(enc, "outlet"), [tcp], [enc])) == route(enc)
    assert transport_route(Connection(route("outlet"))) == route()


class _Delay(Worker):
    """Forwards each message to the rest of its onward route after a delay."""

    def __init__(self, delay: float) -> None:
        self.delay = delay

    async def handle_message(self, ctx: Context, msg: LocalMessage) -> None:
        await asyncio.sleep(self.delay)
        await ctx.forward(msg.with_routes(msg.onward_route.step(), msg.return_route))


@contextlib.asynccontextmanager
async def slow_outlet_pair(
    pong_timeout: float = PONG_TIMEOUT,
) -> AsyncIterator[tuple[RunningNode, RunningNode, int, list[float]]]:
    """Nodes a (an outlet whose Pongs take 0.5 s: its route goes through a delaying worker)
    and b (an inlet to it, whose port is yielded), and the times at which the outlet's
    target saw its connections end."""
    eofs: list[float] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        eofs.append(time.monotonic())
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        async with nodes("a", "b") as (a, b):
            await a.node.start_worker(
                "delay", _Delay(0.5), mailbox_size=8, consumes=(a.manager.api_flow_control_id,)
            )
            assert (await create_outlet(a, int(server.sockets[0].getsockname()[1]))).status == 200
            b.portals.pong_timeout = pong_timeout
            resp = await create_inlet(b, outlet_route(a, "delay/service/outlet"))
            yield a, b, port_of(resp.body[1]), eofs
    finally:
        server.close()


async def test_an_outlet_connection_is_closed_when_its_inlet_client_left_before_the_pong() -> None:
    async with slow_outlet_pair(pong_timeout=0.2) as (a, _, port, eofs):
        # a client that leaves at once (unnoticed: nothing is read before the Pong) and
        # one that waits: the Pong timeout closes both
        _, w1 = await asyncio.open_connection("127.0.0.1", port)
        w1.close()
        r2, w2 = await asyncio.open_connection("127.0.0.1", port)
        assert await read_until_closed(r2, 2) == b""
        w2.close()
        # both outlet connections (made 0.5 s later) are told to close by their late Pong
        await wait_for(lambda: len(eofs) == 2, 5)
        await wait_for(lambda: not a.portals.portals.sides, 5)


async def test_an_outlet_connection_is_closed_when_its_client_closed_before_the_pong() -> None:
    """The inlet notices the client's EOF before the Pong (as uvloop does, reading early):
    the late Pong is still answered with a Disconnect."""
    async with slow_outlet_pair() as (a, b, port, eofs):
        _, w1 = await asyncio.open_connection("127.0.0.1", port)
        await wait_for(lambda: len(b.portals.portals.sides) == 1, 2)
        (side,) = b.portals.portals.sides
        # what the loop does when it reads the client's EOF
        assert not side.eof_received()
        assert side.transport is not None
        side.transport.close()
        w1.close()
        await wait_for(lambda: len(eofs) == 1, 5)
        await wait_for(lambda: not a.portals.portals.sides and not b.portals.portals.sides, 5)


async def test_outlet_connections_close_when_their_secure_channel_closes() -> None:
    async with echo_server() as target, nodes("a", "b") as (a, b):
        assert (await create_outlet(a, target)).status == 200
        resp = await create_inlet(b, outlet_route(a).replace("/service/outlet", "/secure/api/service/outlet"))
        assert resp.status == 200, resp.body
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(resp.body[1]))
        writer.write(b"ping")
        assert await asyncio.wait_for(reader.readexactly(4), 5) == b"ping"
        assert len(a.portals.portals.sides) == 1
        # the outlet node closes its end of the channel without telling the inlet node
        channels = a.secure_channels
        (encryptor,) = list(channels.channels)
        await channels.close(encryptor, notify=False)
        await wait_for(lambda: not a.portals.portals.sides, 5)
        writer.close()


async def test_a_client_that_stops_reading_does_not_stall_the_other_connections() -> None:
    """Two portal connections share the inlet's route: one client stops reading while its
    server floods it; the other keeps working (no head-of-line blocking), and the first
    still gets every byte once it reads again."""
    limit = 8 * 1024 * 1024  # (set below: more than the socket buffers take)
    flood = os.urandom(limit * 3 // 4)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            command = await reader.readexactly(5)
            writer.write(flood if command == b"flood" else command)
            await writer.drain()
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        async with nodes("a", "b") as (a, b):
            b.portals.portals.park_limit = limit
            assert (await create_outlet(a, int(server.sockets[0].getsockname()[1]))).status == 200
            resp = await create_inlet(b, outlet_route(a))
            port = port_of(resp.body[1])
            r1, w1 = await asyncio.open_connection("127.0.0.1", port)
            sock = w1.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            w1.write(b"flood")
            # node b parks what its client does not read
            await wait_for(lambda: b.portals.portals.parked > 1024 * 1024, 10)
            r2, w2 = await asyncio.open_connection("127.0.0.1", port)
            w2.write(b"echo!")
            assert await asyncio.wait_for(r2.readexactly(5), 5) == b"echo!"
            for i in range(50):
                w2.write(b"%05d" % i)
                assert await asyncio.wait_for(r2.readexactly(5), 5) == b"%05d" % i
            w2.close()
            got = await asyncio.wait_for(r1.readexactly(len(flood)), 30)
            assert got == flood
            assert b.portals.portals.parked == 0
            w1.close()
    finally:
        server.close()


class _Sink(Worker):
    """Takes every message and answers none."""

    async def handle_message(self, ctx: Context, msg: LocalMessage) -> None:
        return None


async def test_unanswered_pings_do_not_count_while_the_connection_is_held_back() -> None:
    from ockam.api.session import Session, SessionOutcome
    from ockam.node import Node

    held = True
    created = 0

    async def create() -> SessionOutcome[str]:
        nonlocal created
        created += 1
        return SessionOutcome("conn", route("sink"), held_back=lambda: held)

    async def close() -> None:
        return None

    async with Node() as node:
        await node.start_worker("echo", _Sink())
        session = Session(node, "test", create, close, ping_interval=0.03, max_missed=2)
        await session.initial_connect()
        session.start()
        await asyncio.sleep(0.5)  # ~15 pings unanswered, all while held back
        assert session.replacements == 0 and created == 1
        held = False
        await wait_for(lambda: session.replacements >= 1, 2)
        await session.stop()
