"""Relays between in-process nodes over real sockets on 127.0.0.1 (no CLI)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

from ockam.api.node_manager import send_message
from ockam.api.node_process import NodeConfig, RunningNode, start_node
from ockam.api.relays import CreateRelay
from ockam.api.views import relay_info_json, relay_show_json
from ockam.codec import bare
from ockam.codec.address import Address
from ockam.codec.multiaddr import MultiAddr
from ockam.codec.route import Route
from ockam.errors import OckamError
from ockam.node import Context, LocalMessage, Worker
from ockam.protocol import api_models as models
from ockam.protocol.api_wire import Request, Response, decode_response
from ockam.services.relay import register_relay

# -- helpers ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def tcp_ma(node: RunningNode) -> str:
    return f"/ip4/127.0.0.1/tcp/{port_of(node.listener_address)}"


async def api(node: RunningNode, method: str, path: str, body: Any = None) -> Response:
    req = Request(path, method) if body is None else Request(path, method, body)
    resp = await node.manager.dispatch(req)
    resp.re = req.id
    return decode_response(resp.encode())


async def create_relay(node: RunningNode, at: str, name: str, relay_address: str | None = None) -> Response:
    body = CreateRelay(MultiAddr.parse(at), name, relay_address=relay_address or name)
    return await api(node, "POST", "/node/relay", body.to_cbor())


async def start(name: str, port: int = 0) -> RunningNode:
    return await start_node(NodeConfig(name, tcp_listener_address=f"127.0.0.1:{port}"))


@contextlib.asynccontextmanager
async def nodes(*names: str) -> AsyncIterator[list[RunningNode]]:
    running: list[RunningNode] = []
    try:
        for name in names:
            running.append(await start(name))
        yield running
    finally:
        for n in reversed(running):
            await n.stop()


class WhoAmI(Worker):
    """Answers with its node's name (to tell relayed destinations apart)."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def handle_message(self, ctx: Context, msg: LocalMessage) -> None:
        await ctx.forward(msg.reply(bare.encode_data(self.name.encode()), ctx.address))


async def through(client: RunningNode, multiaddr: str, payload: bytes, timeout: float = 3) -> bytes:
    return await asyncio.wait_for(send_message(client.node, client.tcp, multiaddr, payload), timeout)


async def eventually(fn: Any, timeout: float, step: float = 0.1) -> Any:
    """Retry ``await fn()`` until it returns without error."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await fn()
        except (OckamError, TimeoutError, AssertionError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(step)


# -- tests --------------------------------------------------------------------------------


async def test_a_message_reaches_echo_through_a_relay_and_comes_back() -> None:
    async with nodes("r", "s", "c") as (r, s, c):
        resp = await create_relay(s, tcp_ma(r), "s")
        assert resp.status == 200, resp.body
        info = resp.body
        assert info[2] == "forward_to_s"
        assert info[1].endswith("=> 0#forward_to_s")
        assert re.fullmatch(r"0#[0-9a-f]{32}", info[3])
        assert info[5] == [1, []] and info[7] == "s"
        assert MultiAddr.from_bytes(info[6]) == MultiAddr.parse(tcp_ma(r))
        assert r.node.has_address(Address.local("forward_to_s"))

        via = f"{tcp_ma(r)}/service/forward_to_s/service/echo"
        assert await through(c, via, b"hello") == b"hello"
        up = f"{tcp_ma(r)}/service/forward_to_s/service/uppercase"
        assert await through(c, up, bare.encode_string("hi")) == bare.encode_string("HI")

        shown = (await api(s, "GET", "/node/relay/s")).body
        view = relay_show_json(shown)
        assert view["remote_address"] == "/service/forward_to_s"
        assert view["worker_address"].startswith("/service/")
        assert "=> 0#forward_to_s" in view["relay_route"]
        assert view["connection_status"] == "Up" and view["name"] == "s"
        listed = [relay_info_json(x) for x in (await api(s, "GET", "/node/relay")).body]
        assert listed[0]["remote_address"] == "forward_to_s"
        assert listed[0]["destination_address"] == tcp_ma(r)


async def test_relay_node_restart_reregisters_within_ten_seconds() -> None:
    port_r = free_port()
    async with nodes("s", "c") as (s, c):
        s.relays.session_options.update(retry_min=0.2, retry_max=1.0)
        r = await start("r", port_r)
        try:
            assert (await create_relay(s, tcp_ma(r), "s")).status == 200
            via = f"{tcp_ma(r)}/service/forward_to_s/service/echo"
            assert await through(c, via, b"before") == b"before"

            await r.stop()
            entry = s.relays.relays["s"]
            deadline = time.monotonic() + 5
            while entry.session.is_up and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert not entry.session.is_up
            assert (await api(s, "GET", "/node/relay/s")).body[5] == [0, []]

            restarted = time.monotonic()
            r = await start("r", port_r)
            assert await eventually(lambda: through(c, via, b"after", 1), 10) == b"after"
            assert time.monotonic() - restarted < 10
            assert (await api(s, "GET", "/node/relay/s")).body[5] == [1, []]
        finally:
            await r.stop()


async def test_a_newer_registration_of_a_static_name_replaces_the_older_one() -> None:
    """Rust 0.139 refuses (silently) a second registration of a name until the relay node
    restarts; this relay service replaces the route instead (relays.md §5.3), so the
    newest registration wins and a reconnecting node gets its relay back at once."""
    async with nodes("r", "s1", "s2", "c") as (r, s1, s2, c):
        via = f"{tcp_ma(r)}/service/forward_to_shared/service/whoami"
        for node in (s1, s2):
            await node.node.start_worker("whoami", WhoAmI(node.manager.info.name))

        resp = await create_relay(s1, tcp_ma(r), "shared")
        assert resp.status == 200
        # what the relay forwards reaches the consumers of its flow control (RelayInfo 4)
        s1.node.flow_controls.add_consumer("whoami", resp.body[4][1])
        assert await through(c, via, b"") == b"s1"

        resp = await create_relay(s2, tcp_ma(r), "shared")
        assert resp.status == 200 and resp.body[2] == "forward_to_shared"
        s2.node.flow_controls.add_consumer("whoami", resp.body[4][1])
        assert await through(c, via, b"") == b"s2"
        assert r.relays.service is not None and len(r.relays.service.relays) == 1

        # the older node's registration is still "up" (its connection lives) but does
        # not take the name back
        await asyncio.sleep(0.2)
        assert await through(c, via, b"") == b"s2"


async def test_ephemeral_registration_gets_a_random_relay_address() -> None:
    async with nodes("r", "b") as (r, b):
        conn = await b.tcp.connect(r.listener_address)
        handle = await register_relay(b.node, Route((conn.sender,)), None, timeout=5)
        assert re.fullmatch(r"forward_to_[0-9a-f]{32}", handle.info.remote_address)
        assert r.node.has_address(Address.local(handle.info.remote_address))
        assert handle.info.forwarding_route.recipient == Address.local(handle.info.remote_address)
        await handle.stop(b.node)


async def test_liveness_pings_keep_a_relay_up() -> None:
    async with nodes("r", "s") as (r, s):
        s.relays.session_options.update(ping_interval=0.05)
        assert (await create_relay(s, tcp_ma(r), "s")).status == 200
        await asyncio.sleep(0.6)
        entry = s.relays.relays["s"]
        assert entry.session.is_up and entry.session.replacements == 0


async def test_relay_api_errors_and_deletion() -> None:
    async with nodes("r", "s") as (r, s):
        assert (await create_relay(s, tcp_ma(r), "s")).status == 200
        dup = await create_relay(s, tcp_ma(r), "s")
        assert dup.status == 500
        assert dup.body[3] == (
            f"Failed to create relay at {tcp_ma(r)} with name s. A relay with the name 's' already exists"
        )
        missing = await api(s, "GET", "/node/relay/nope")
        assert missing.status == 404 and missing.body[3] == "Relay with alias nope not found."
        assert (await api(s, "DELETE", "/node/relay/nope")).status == 404
        deleted = await api(s, "DELETE", "/node/relay/s")
        assert deleted.status == 200 and deleted.body == []
        assert (await api(s, "GET", "/node/relay")).body == []


async def test_relay_to_an_unreachable_node_is_down_then_comes_up() -> None:
    port_r = free_port()
    async with nodes("s", "c") as (s, c):
        s.relays.session_options.update(retry_min=0.2, retry_max=0.5)
        resp = await create_relay(s, f"/ip4/127.0.0.1/tcp/{port_r}", "late")
        assert resp.status == 200
        assert resp.body[5] == [0, []] and 2 not in resp.body
        r = await start("r", port_r)
        try:
            via = f"/ip4/127.0.0.1/tcp/{port_r}/service/forward_to_late/service/echo"
            assert await eventually(lambda: through(c, via, b"x", 1), 10) == b"x"
        finally:
            await r.stop()


async def test_create_relay_body_round_trips() -> None:
    body = CreateRelay(MultiAddr.parse("/ip4/127.0.0.1/tcp/4000"), "n", relay_address="n")
    cbor_body = body.to_cbor()
    assert cbor_body[5] == [2, []]
    assert CreateRelay.from_cbor(cbor_body) == body
    immediate = CreateRelay(MultiAddr.parse("/node/x"), "n", return_timing="immediately")
    assert immediate.to_cbor()[5] == [1, []] and 4 not in immediate.to_cbor()


async def test_a_portal_through_a_relay_and_an_end_to_end_secure_channel() -> None:
    """The usual shape: the outlet node S registers a relay at R; the inlet node C reaches
    S's outlet through ``forward_to_s`` and a secure channel to S's ``api`` listener."""

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    target = int(server.sockets[0].getsockname()[1])
    try:
        async with nodes("r", "s", "c") as (r, s, c):
            outlet = models.CreateOutlet(
                models.HostnamePort("127.0.0.1", target), reachable_from_default_secure_channel=True
            )
            assert (await api(s, "POST", "/node/outlet", outlet.to_cbor())).status == 200
            assert (await create_relay(s, tcp_ma(r), "s")).status == 200
            to = f"{tcp_ma(r)}/service/forward_to_s/secure/api/service/outlet"
            inlet = models.CreateInlet(
                models.HostnamePort("127.0.0.1", 0), MultiAddr.parse(to), "i", wait_connection=True
            )
            resp = await api(c, "POST", "/node/inlet", inlet.to_cbor())
            assert resp.status == 200 and resp.body[6] == [1, []], resp.body
            reader, writer = await asyncio.open_connection("127.0.0.1", port_of(resp.body[1]))
            data = os.urandom(2_000_000)
            writer.write(data)
            assert await asyncio.wait_for(reader.readexactly(len(data)), 10) == data
            writer.close()
    finally:
        server.close()
