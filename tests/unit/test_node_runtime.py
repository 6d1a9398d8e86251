"""The router, workers and the TCP transport, in one process."""

from __future__ import annotations

import asyncio
import socket

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ockam.api.node_manager import send_message
from ockam.api.node_process import NodeConfig, start_node
from ockam.codec import bare
from ockam.codec.address import Address
from ockam.codec.route import route
from ockam.errors import AddressNotFound, RouteError, TimeoutError_, TransportError
from ockam.node import Context, LocalMessage, Node, Worker
from ockam.protocol.tcp_framing import FrameReader, encode_frame
from ockam.protocol.transport_message import TransportMessage
from ockam.services import Echo, Uppercase
from ockam.transport.tcp import TcpTransport


async def test_local_echo_and_unknown_address() -> None:
    async with Node() as node:
        await node.start_worker("echo", Echo())
        ctx = node.context()
        reply = await ctx.send_and_receive(route("echo"), b"ping", timeout=2)
        assert reply.payload == b"ping"
        assert reply.return_route == route("echo")
        with pytest.raises(AddressNotFound):
            await ctx.send(route("nobody"), b"x")
        with pytest.raises(TimeoutError_):
            await ctx.receive(timeout=0.05)


async def test_a_failing_worker_keeps_serving() -> None:
    class Flaky(Worker):
        async def handle_message(self, ctx: Context, msg: LocalMessage) -> None:
            if msg.payload == b"boom":
                raise RuntimeError("boom")
            await ctx.forward(msg.reply(msg.payload, ctx.address))

    async with Node() as node:
        await node.start_worker("flaky", Flaky())
        ctx = node.context()
        await ctx.send(route("flaky"), b"boom")
        assert (await ctx.send_and_receive(route("flaky"), b"ok", timeout=2)).payload == b"ok"


async def test_stop_worker_releases_its_addresses() -> None:
    async with Node() as node:
        await node.start_worker(["a", "b"], Echo())
        assert await node.stop_worker("b")
        assert not node.has_address(Address.local("a"))
        assert not await node.stop_worker("a")


async def test_bounded_mailbox_applies_back_pressure() -> None:
    gate = asyncio.Event()

    class Slow(Worker):
        async def handle_message(self, ctx: Context, msg: LocalMessage) -> None:
            await gate.wait()

    async with Node() as node:
        await node.start_worker("slow", Slow(), mailbox_size=2)
        ctx = node.context()
        for _ in range(3):  # one taken by the worker, two queued
            await ctx.send(route("slow"), b"x")
        blocked = asyncio.ensure_future(ctx.send(route("slow"), b"x"))
        await asyncio.sleep(0.05)
        assert not blocked.done()
        gate.set()
        await asyncio.wait_for(blocked, 2)


async def test_tcp_route_hop_and_return_route_rewriting() -> None:
    async with Node("a") as a, Node("b") as b:
        ta, tb = TcpTransport.create(a), TcpTransport.create(b)
        listener = await tb.listen("127.0.0.1:0")
        await b.start_worker("uppercase", Uppercase(), consumes=(listener.flow_control_id,))
        ctx = a.context()
        reply = await ctx.send_and_receive(
            route(f"1#{listener.socket_address}", "uppercase"), bare.encode_string("hi"), timeout=5
        )
        assert bare.decode_string(reply.payload)[0] == "HI"
        assert len(reply.return_route) == 2 and reply.return_route[1] == Address.local("uppercase")
        assert reply.return_route[0] in ta.connections


async def test_connect_refused_is_a_transport_error() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    async with Node() as node:
        with pytest.raises(TransportError):
            await TcpTransport.create(node).connect(f"127.0.0.1:{port}")


async def test_listen_on_port_in_use_is_a_transport_error() -> None:
    async with Node() as node:
        tcp = TcpTransport.create(node)
        li = await tcp.listen("127.0.0.1:0")
        with pytest.raises(TransportError):
            await tcp.listen(li.socket_address)


async def _raw_exchange(address: str, frames: bytes, expect: int) -> list[TransportMessage]:
    host, port = address.rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(frames)
    await writer.drain()
    fr = FrameReader()
    got: list[TransportMessage] = []
    while len(got) < expect:
        data = await asyncio.wait_for(reader.read(65536), 5)
        if not data:
            break
        got += fr.receive_data(data)
    writer.close()
    return got


async def test_raw_socket_speaks_vector_bytes_to_echo() -> None:
    running = await start_node(NodeConfig("raw"))
    try:
        # the tcp-frame vector "two messages": version byte, then frames to echo
        msg = TransportMessage(route("echo"), route("c0ffee"), bytes.fromhex("70696e67"), "{}")
        stream = b"\x01" + encode_frame(msg)
        (reply,) = await _raw_exchange(running.listener_address, stream, 1)
        assert reply.onward_route == route("c0ffee")
        assert reply.return_route == route("echo")
        assert reply.payload == bytes.fromhex("70696e67")
    finally:
        await running.stop()


async def test_garbage_connection_is_closed_and_others_keep_working() -> None:
    running = await start_node(NodeConfig("garbage"))
    try:
        host, port = running.listener_address.rsplit(":", 1)
        for junk in (b"\x07junk", b"\x01\xff\xff\xff\xff", b"\x01\x00\x00\x00\x03abc"):
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(junk)
            await writer.drain()
            data = await asyncio.wait_for(reader.read(), 5)  # version byte, then EOF
            assert data == b"\x01"
            writer.close()
        reply = await send_message(
            running.node, running.tcp, f"/ip4/{host}/tcp/{port}/service/uppercase", b"still", timeout=5
        )
        assert reply == b"STILL"
    finally:
        await running.stop()


async def test_a_remote_peer_cannot_make_a_node_open_a_tcp_connection() -> None:
    """issue 18: a hop (or a decrypted message) whose next hop is 1#host:port opens nothing."""
    nodes = [await start_node(NodeConfig(f"n{i}")) for i in range(3)]
    try:
        a, b, c = nodes
        await b.manager.start_service("hop", "hop")
        target = f"1#{c.listener_address}"
        conn = await a.tcp.connect(b.listener_address)
        channel = await a.secure_channels.create_channel(route(conn.sender, "api"), timeout=5)
        ctx = a.node.context()
        # over TCP through b's hop, and through a secure channel to b
        await ctx.send(route(conn.sender, "hop", target, "uppercase"), bare.encode_data(b"x"))
        await ctx.send(route(channel.encryptor, target, "uppercase"), bare.encode_data(b"x"))
        with pytest.raises(TimeoutError_):
            await ctx.receive(0.5)
        assert [c for c in b.tcp.connections.values() if c.mode == "outgoing"] == []
        # the multiaddr form is refused before anything is sent
        p2, p3 = (n.listener_address.rsplit(":", 1)[1] for n in (b, c))
        ma = f"/ip4/127.0.0.1/tcp/{p2}/service/hop/ip4/127.0.0.1/tcp/{p3}/service/uppercase"
        with pytest.raises(RouteError, match="multiple tcp connections"):
            await send_message(a.node, a.tcp, ma, b"hello", timeout=5)
        # a route this node starts may name a later TCP hop (after local hops only)
        await a.manager.start_service("hop", "hop")
        ma = f"/service/hop/ip4/127.0.0.1/tcp/{p3}/service/uppercase"
        assert await send_message(a.node, a.tcp, ma, b"hi", timeout=5) == b"HI"
    finally:
        for n in nodes:
            await n.stop()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(junk=st.lists(st.binary(min_size=1, max_size=200), min_size=1, max_size=4))
def test_hypothesis_garbage_never_stops_a_node(junk: list[bytes]) -> None:
    async def scenario() -> None:
        running = await start_node(NodeConfig("fuzz"))
        try:
            host, port = running.listener_address.rsplit(":", 1)
            for chunk in junk:
                _, writer = await asyncio.open_connection(host, int(port))
                writer.write(b"\x01" + chunk)  # valid version byte, then garbage / truncated frames
                await writer.drain()
                writer.close()
            reply = await send_message(
                running.node, running.tcp, f"/ip4/{host}/tcp/{port}/service/echo", b"alive", timeout=5
            )
            assert reply == b"alive"
        finally:
            await running.stop()

    asyncio.run(scenario())


async def test_direct_mailbox_keeps_the_order_whatever_the_path() -> None:
    """A worker with handle_message_now: messages handled at once, queued for
    handle_message, or started at once and finished later all come out in order."""

    class Mixed(Worker):
        def __init__(self) -> None:
            self.out: list[int] = []
            self.gate = asyncio.Event()

        def handle_message_now(self, ctx: Context, msg: LocalMessage) -> bool | asyncio.Future[None]:
            n = msg.payload[0]
            if n % 3 == 0:
                return False  # not now: handle_message, in turn
            if n % 3 == 1:
                self.out.append(n)
                return True

            async def finish() -> None:
                await self.gate.wait()
                self.out.append(n)

            return asyncio.ensure_future(finish())

        async def handle_message(self, ctx: Context, msg: LocalMessage) -> None:
            await asyncio.sleep(0)
            self.out.append(msg.payload[0])

    async with Node() as node:
        worker = Mixed()
        await node.start_worker("mixed", worker)
        ctx = node.context()
        for n in range(30):
            await ctx.send(route("mixed"), bytes([n]))
            if n == 10:
                worker.gate.set()
        for _ in range(200):
            if len(worker.out) == 30:
                break
            await asyncio.sleep(0.01)
        assert worker.out == list(range(30))
