"""Flow control: the table (producers, spawners, consumers, clean-up), the drop log, and
who reaches what on a CLI node (in one process)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from ockam.api.node_process import NodeConfig, start_node
from ockam.codec import bare
from ockam.codec.address import Address
from ockam.codec.multiaddr import MultiAddr
from ockam.codec.route import route
from ockam.errors import TimeoutError_
from ockam.node import Node
from ockam.node.flow_control import DropLog, FlowControls, ProducerInfo, new_flow_control_id
from ockam.node.message import LocalMessage
from ockam.protocol import api_models as models
from ockam.protocol.api_wire import Request, decode_response
from ockam.protocol.crypto import X25519Secret
from ockam.protocol.noise_xx import Handshake
from ockam.protocol.tcp_framing import VERSION_BYTE, encode_frame
from ockam.protocol.transport_message import TransportMessage
from ockam.services import Echo


def a(text: str) -> Address:
    return Address.local(text)


def test_ids_are_32_hex_characters() -> None:
    ids = {new_flow_control_id() for _ in range(100)}
    assert len(ids) == 100 and all(len(i) == 32 and int(i, 16) >= 0 for i in ids)


def test_a_producer_reaches_its_consumers_and_its_spawners() -> None:
    fc = FlowControls()
    fc.add_spawner(a("listener"), "L")
    producer = fc.add_producer(a("receiver"), "C", "L", (a("sender"),))
    fc.add_consumer("echo", "L")
    fc.add_consumer("reply", "C")
    assert fc.allows(producer, a("echo")) and fc.allows(producer, a("reply"))
    assert not fc.allows(producer, a("_internal.nodemanager"))
    assert not fc.allows(ProducerInfo("C"), a("echo"))  # not through the spawner id
    assert fc.find_producer(a("sender")) == producer == fc.find_producer(a("receiver"))
    assert fc.find_producer(a("echo")) is None
    assert fc.spawner_id("listener") == "L"
    assert fc.ids_for_consumer("echo") == ["L"]


def test_entries_go_with_their_addresses() -> None:
    fc = FlowControls()
    fc.add_spawner(a("listener"), "L")
    fc.add_consumer("echo", "L")
    p1 = fc.add_producer(a("r1"), "C1", "L", (a("s1"),))
    fc.add_consumer("ctx", "C1")
    # a consumer that goes is forgotten everywhere
    fc.cleanup(a("ctx"))
    assert not fc.is_consumer(a("ctx"), "C1")
    # the producer goes: its id's consumers go, its additional address too
    fc.add_consumer("ctx2", "C1")
    fc.cleanup(a("r1"))
    assert fc.find_producer(a("s1")) is None and not fc.is_consumer(a("ctx2"), "C1")
    assert fc.ids_for_consumer("ctx2") == []
    # the spawner's consumers stay while the spawner or a producer it spawned lives
    p2 = fc.add_producer(a("r2"), "C2", "L", (a("s2"),))
    fc.cleanup(a("listener"))
    assert fc.allows(p2, a("echo"))
    fc.cleanup(a("r2"))
    assert not fc.allows(p1, a("echo")) and fc.ids_for_consumer("echo") == []
    assert len(fc) == 0


def test_many_connections_clean_up_in_linear_time() -> None:
    fc = FlowControls()
    fc.add_spawner(a("listener"), "L")
    for i in range(20_000):
        fc.add_producer(a(f"r{i}"), f"C{i}", "L", (a(f"s{i}"),))
        fc.add_consumer(f"side{i}", f"C{i}")
    for i in range(20_000):
        fc.cleanup(a(f"s{i}"))
        fc.cleanup(a(f"r{i}"))
    assert len(fc) == 1  # the spawner


def test_the_drop_log_is_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.drops")
    drops = DropLog(logger, burst=5, period=60.0)
    with caplog.at_level(logging.WARNING, logger="test.drops"):
        for i in range(1000):
            drops("dropping message %d", i)
    assert len(caplog.records) == 5
    assert drops.suppressed == 995
    drops._allowance = 1.0  # (as after a quiet while)
    with caplog.at_level(logging.WARNING, logger="test.drops"):
        drops("dropping message %d", 1000)
    assert "and 995 more dropped messages not logged" in caplog.records[-1].getMessage()


async def test_a_node_delivers_what_a_producer_received_only_to_consumers() -> None:
    async with Node() as node:
        await node.start_worker("echo", Echo(), consumes=("L",))
        await node.start_worker("private", Echo())
        producer = ProducerInfo("C", "L")
        ctx = node.context()
        msg = LocalMessage(route("echo"), route(ctx.address), b"x", {"flow_control_id": "C"})
        assert node.deliver_produced(msg, producer) is True
        node.flow_controls.add_consumer(ctx.address, "C")
        assert (await ctx.receive(1)).payload == b"x"
        for onward in (route("private"), route(), route("1#127.0.0.1:9"), route("nobody")):
            assert node.deliver_produced(LocalMessage(onward, route(), b"y"), producer) is True
        with pytest.raises(TimeoutError_):
            await ctx.receive(0.1)
        # a message from the network does not make the node open a connection
        await node.deliver(
            LocalMessage(route("1#127.0.0.1:9", "echo"), route(), b"z", {"flow_control_id": "C"})
        )


async def _api(req: Request, via: list[Address], node: Node) -> LocalMessage:
    ctx = node.context()
    await ctx.send(route(*via, "_internal.nodemanager"), req.encode())
    return await ctx.receive(1)


async def test_a_cli_node_serves_its_control_api_over_its_tcp_listener_only() -> None:
    a_node, b_node = await start_node(NodeConfig("a")), await start_node(NodeConfig("b"))
    try:
        conn = await a_node.tcp.connect(b_node.listener_address)
        get_node = Request("/node", "GET")
        reply = await _api(get_node, [conn.sender], a_node.node)
        assert decode_response(reply.payload).status == 200
        channel = await a_node.secure_channels.create_channel(route(conn.sender, "api"), timeout=5)
        outlet = models.CreateOutlet(models.HostnamePort("127.0.0.1", 1), worker_addr=a("o"))
        for req in (get_node, Request("/node/outlet", "POST", outlet.to_cbor())):
            with pytest.raises(TimeoutError_):
                await _api(req, [channel.encryptor], a_node.node)
        assert b_node.portals.portals.outlets == {}
        # echo and uppercase answer through the channel and over TCP
        ctx = a_node.node.context()
        for via in (channel.encryptor, conn.sender):
            reply = await ctx.send_and_receive(route(via, "uppercase"), bare.encode_string("hi"), 2)
            assert bare.decode_string(reply.payload)[0] == "HI"
        # hop: over TCP, not through the channel (it would reach anything)
        await b_node.manager.start_service("hop", "hop")
        await ctx.send(route(channel.encryptor, "hop", "echo"), b"x")
        with pytest.raises(TimeoutError_):
            await ctx.receive(0.3)
        # and hop does not lead to the control API from anywhere but the TCP listener
        await ctx.send(route(conn.sender, "hop", "_internal.nodemanager"), get_node.encode())
        assert decode_response((await ctx.receive(2)).payload).status == 200
    finally:
        await a_node.stop()
        await b_node.stop()


async def test_flow_controls_add_consumer_endpoint() -> None:
    a_node, b_node = await start_node(NodeConfig("a")), await start_node(NodeConfig("b"))
    try:
        await b_node.node.start_worker("private", Echo())
        conn = await a_node.tcp.connect(b_node.listener_address)
        ctx = a_node.node.context()
        await ctx.send(route(conn.sender, "private"), b"x")
        with pytest.raises(TimeoutError_):
            await ctx.receive(0.3)
        body = {1: {1: b_node.manager.api_flow_control_id}, 2: MultiAddr.parse("/service/private").to_bytes()}
        resp = await b_node.manager.dispatch(Request("/node/flow_controls/add_consumer", "POST", body))
        assert resp.status == 200
        assert (await ctx.send_and_receive(route(conn.sender, "private"), b"y", 2)).payload == b"y"
        bad = {1: {1: "x"}, 2: MultiAddr.parse("/service/a/service/b").to_bytes()}
        assert (
            await b_node.manager.dispatch(Request("/node/flow_controls/add_consumer", "POST", bad))
        ).status == 400
    finally:
        await a_node.stop()
        await b_node.stop()


async def test_handshakes_in_progress_are_capped_and_freed() -> None:
    b_node = await start_node(NodeConfig("b"))
    channels = b_node.secure_channels
    channels.handshake_timeout = 0.5
    try:
        host, port = b_node.listener_address.rsplit(":", 1)
        _, writer = await asyncio.open_connection(host, int(port))
        frames = [
            encode_frame(
                TransportMessage(
                    route("api"), route("x"), Handshake(True, X25519Secret.generate()).write_message()
                )
            )
            for _ in range(channels.max_handshakes_per_connection + 20)
        ]
        writer.write(VERSION_BYTE + b"".join(frames))
        await writer.drain()
        for _ in range(50):
            if channels.handshakes_in_progress == channels.max_handshakes_per_connection:
                break
            await asyncio.sleep(0.02)
        assert channels.handshakes_in_progress == channels.max_handshakes_per_connection
        await asyncio.sleep(0.8)  # the deadline
        assert channels.handshakes_in_progress == 0 and channels.channels == {}
        writer.close()
    finally:
        await b_node.stop()
