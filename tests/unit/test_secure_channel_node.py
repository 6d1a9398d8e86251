"""Secure channels between in-process nodes over TCP."""

from __future__ import annotations

import time

import pytest

from ockam.api.node_manager import send_message
from ockam.api.node_process import NodeConfig, start_node
from ockam.codec import bare
from ockam.codec.address import Address
from ockam.codec.route import route
from ockam.errors import OckamError
from ockam.identity import generate_identity
from ockam.node import Context, LocalMessage, Worker
from ockam.services.secure_channel import SecureChannels


def _channels(node) -> SecureChannels:  # type: ignore[no-untyped-def]
    identity, secret = generate_identity(now=int(time.time()))
    return SecureChannels(node, identity, secret)


class Tamper(Worker):
    """A hop that flips one byte of the next message it forwards, once."""

    def __init__(self) -> None:
        self.armed = False

    async def handle_message(self, ctx: Context, msg: LocalMessage) -> None:
        payload = msg.payload
        if self.armed:
            self.armed = False
            payload = payload[:-1] + bytes([payload[-1] ^ 1])
        await ctx.forward(
            LocalMessage(msg.onward_route.step(), msg.return_route.prepend(ctx.address), payload)
        )


async def test_channel_over_tcp_carries_messages_and_identifies_the_peer() -> None:
    a = await start_node(NodeConfig("a"))
    b = await start_node(NodeConfig("b"))
    try:
        sa, sb = a.secure_channels, b.secure_channels
        seen: list[object] = []

        class Who(Worker):
            async def handle_message(self, ctx: Context, msg: LocalMessage) -> None:
                seen.append(msg.local_info.get("identifier"))
                await ctx.forward(msg.reply(msg.payload, ctx.address))

        # reached through the channels of `api` (flow control)
        api = sb.listeners[Address.local("api")]
        await b.node.start_worker("who", Who(), consumes=(api.flow_control_id,))
        conn = await a.tcp.connect(b.listener_address)
        channel = await sa.create_channel(
            route(conn.sender, "api"), authorized=[sb.identity.identifier], timeout=5
        )
        assert channel.their_identifier == sb.identity.identifier
        ctx = a.node.context()
        for i in range(100):  # crosses three rekey intervals
            reply = await ctx.send_and_receive(
                route(channel.encryptor, "uppercase"), bare.encode_string(f"m{i}"), 5
            )
            assert bare.decode_string(reply.payload)[0] == f"M{i}"
        reply = await ctx.send_and_receive(route(channel.encryptor, "who"), b"x", 5)
        assert seen == [sa.identity.identifier]
        # the /secure/ multiaddr path used by message send
        out = await send_message(
            a.node,
            a.tcp,
            f"/ip4/127.0.0.1/tcp/{b.listener_address.split(':')[1]}/secure/api/service/uppercase",
            b"hello",
            a.manager.secure_hook,
            timeout=5,
        )
        assert out == b"HELLO"
        assert set(sa.channels) == {channel.encryptor}  # the one-shot channel was closed
    finally:
        await a.stop()
        await b.stop()


async def test_wrong_authorized_identifier_fails_and_tampering_is_rejected() -> None:
    a = await start_node(NodeConfig("a"))
    b = await start_node(NodeConfig("b"))
    try:
        sa = a.secure_channels
        other, _ = generate_identity(now=int(time.time()))
        conn = await a.tcp.connect(b.listener_address)
        with pytest.raises(OckamError):
            await sa.create_channel(route(conn.sender, "api"), authorized=[other.identifier], timeout=2)
        tamper = Tamper()
        await b.node.start_worker("tamper", tamper, consumes=(b.manager.api_flow_control_id,))
        channel = await sa.create_channel(route(conn.sender, "tamper", "api"), timeout=5)
        ctx = a.node.context()
        # (the initiator is done when it has sent message 3: one round trip makes sure that
        # the responder got it, before the tamper is armed)
        assert (await ctx.send_and_receive(route(channel.encryptor, "echo"), b"up", 5)).payload == b"up"
        tamper.armed = True
        await ctx.send(route(channel.encryptor, "echo"), b"flipped")
        with pytest.raises(OckamError):
            await ctx.receive(0.5)
        assert (await ctx.send_and_receive(route(channel.encryptor, "echo"), b"ok", 5)).payload == b"ok"
    finally:
        await a.stop()
        await b.stop()


async def test_handshake_to_a_dead_listener_times_out() -> None:
    a = await start_node(NodeConfig("a"))
    b = await start_node(NodeConfig("b", default_services=False))  # no listener: message 1 dropped
    try:
        sa = _channels(a.node)
        with pytest.raises(OckamError, match="timed out"):
            await sa.create_channel(route(f"1#{b.listener_address}", "api"), timeout=0.5)
        assert not sa.channels
    finally:
        await a.stop()
        await b.stop()
