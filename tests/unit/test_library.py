"""The public Python API (``ockam.__all__``): nodes, workers, messages, identities, trust
policies, secure channels, TCP, inlets and outlets, relays, errors; the examples' imports."""

from __future__ import annotations

import ast
import asyncio
import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest

import ockam

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


class Echoer(ockam.Worker):
    async def handle_message(self, ctx: ockam.Context, msg: ockam.Message) -> None:
        await ctx.send(msg.return_route, msg.payload)


class Recorder(ockam.Worker):
    def __init__(self) -> None:
        self.seen: list[ockam.Message] = []
        self.started = False
        self.stopped = False

    async def initialize(self, ctx: ockam.Context) -> None:
        self.started = True

    async def handle_message(self, ctx: ockam.Context, msg: ockam.Message) -> None:
        self.seen.append(msg)
        await ctx.send(msg.return_route, "ok")

    async def shutdown(self, ctx: ockam.Context) -> None:
        self.stopped = True


ACCEPTED: list[int] = []


async def tcp_echo_server() -> tuple[asyncio.base_events.Server, int]:
    """A TCP server that echoes what it reads (the outlets' target); counts its clients
    in ``ACCEPTED``."""
    ACCEPTED.clear()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ACCEPTED.append(1)
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def roundtrip(address: str, data: bytes, timeout: float = 5.0) -> bytes:
    """Write ``data`` to ``address`` and read as many bytes back ("" if the peer closes)."""
    host, port = address.rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(data)
        await writer.drain()
        out = b""
        while len(out) < len(data):
            chunk = await asyncio.wait_for(reader.read(65536), timeout)
            if not chunk:
                break
            out += chunk
        return out
    finally:
        writer.close()


# -- the public API, in one place --------------------------------------------------------


def test_all_names_resolve_and_are_documented() -> None:
    assert len(ockam.__all__) == len(set(ockam.__all__))
    assert set(ockam.__all__) == {"__version__", *ockam._LAZY}  # the lazy table is the whole list
    for name in ockam.__all__:
        value = getattr(ockam, name)
        if name == "__version__":
            continue
        if callable(value) and not isinstance(value, type) and name != "RouteLike":
            assert value.__doc__, f"ockam.{name} has no docstring"
        if isinstance(value, type):
            assert value.__doc__, f"ockam.{name} has no docstring"
    assert set(dir(ockam)) >= set(ockam.__all__)
    with pytest.raises(AttributeError):
        _ = ockam.not_a_public_name  # type: ignore[attr-defined]


def test_public_members_are_documented() -> None:
    missing = []
    for name in ockam.__all__:
        value = getattr(ockam, name)
        if not (isinstance(value, type) and value.__module__.startswith("ockam.library")):
            continue
        for member, obj in vars(value).items():
            if member.startswith("_"):
                continue
            if isinstance(obj, property):
                doc = obj.fget.__doc__ if obj.fget else None
            elif inspect.isfunction(obj):
                doc = obj.__doc__
            else:
                continue
            if not doc:
                missing.append(f"{name}.{member}")
    assert not missing, f"no docstring: {missing}"


def test_errors_are_one_tree() -> None:
    for name in ockam.__all__:
        value = getattr(ockam, name)
        if isinstance(value, type) and issubclass(value, BaseException):
            assert issubclass(value, ockam.OckamError), name


def test_import_ockam_is_light() -> None:
    code = "import sys, ockam; print(sorted(m for m in sys.modules if m.startswith('ockam')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['ockam']"


def _public_names_used(path: Path) -> set[str]:
    """The ``ockam.X`` names a program uses; fails on any other way of importing ockam."""
    tree = ast.parse(path.read_text(), str(path))
    used: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "ockam":
                    assert alias.name == "ockam" and alias.asname is None, (
                        f"{path.name}: `import {alias.name}`: import ockam only"
                    )
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level or module.split(".")[0] == "ockam":
                assert module == "ockam" and not node.level, f"{path.name}: `from {module} import ...`"
                used.update(alias.name for alias in node.names)
        elif (
            isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "ockam"
        ):
            used.add(node.attr)
    return used


def test_examples_use_only_the_public_api() -> None:
    programs = sorted(EXAMPLES.glob("*.py"))
    assert len(programs) >= 10
    public = set(ockam.__all__)
    for program in programs:
        used = _public_names_used(program)
        assert used, f"{program.name} does not use ockam"
        outside = used - public
        assert not outside, f"{program.name} uses names outside ockam.__all__: {sorted(outside)}"


def test_the_public_api_check_catches_private_imports(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import ockam\nnode = ockam.library.Node()\n")
    assert _public_names_used(bad) - set(ockam.__all__) == {"library"}
    bad.write_text("from ockam.node import Node\n")
    with pytest.raises(AssertionError):
        _public_names_used(bad)


def test_mypy_strict_on_examples() -> None:
    mypy = Path(sys.executable).parent / "mypy"
    if not mypy.exists():
        pytest.skip("mypy is not installed")
    proc = subprocess.run(
        [str(mypy), "--strict", "--no-incremental", "examples"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# -- routes and messages ---------------------------------------------------------------------


def test_route_forms() -> None:
    tcp = ockam.Address.tcp("127.0.0.1:4000")
    assert ockam.route(tcp, "outlet") == ockam.route("1#127.0.0.1:4000", "outlet")
    assert ockam.route("/ip4/127.0.0.1/tcp/4000/service/api") == ockam.route(tcp, "api")
    assert ockam.route("/dnsaddr/localhost/tcp/4000/worker/w") == ockam.route("1#localhost:4000", "w")
    assert ockam.route("/ip6/::1/tcp/4000") == ockam.route("1#[::1]:4000")
    assert ockam.route("a => b", ockam.route("c")) == ockam.route("a", "b", "c")
    assert str(ockam.route("a", "b")) == "0#a => 0#b"
    for bad in ("", "/ip4/127.0.0.1", "/node/n1", "/secure/api"):
        with pytest.raises(ockam.InvalidArgument):
            ockam.route(bad)
    with pytest.raises(ockam.DecodeError):
        ockam.route("2#3#x")
    with pytest.raises(ockam.InvalidArgument):
        ockam.route(42)  # type: ignore[arg-type]


def test_message_text() -> None:
    msg = ockam.Message(b"\x05hello", ockam.route("a"), ockam.route("b"))
    assert msg.text == "hello"
    with pytest.raises(ockam.DecodeError):
        _ = ockam.Message(b"hello", ockam.route("a"), ockam.route("b")).text


async def test_worker_send_and_receive() -> None:
    async with ockam.Node() as node:
        recorder = Recorder()
        await node.start_worker("echoer", Echoer())
        await node.start_worker("recorder", recorder)
        assert recorder.started
        reply = await node.send_and_receive(ockam.route("echoer"), "Hello Ockam!")
        assert reply.text == "Hello Ockam!"
        assert reply.return_route == ockam.route("echoer")
        assert reply.their_identifier is None
        raw = await node.send_and_receive("echoer", b"\x00\xff")
        assert raw.payload == b"\x00\xff"
        # send / receive on the node's own context
        await node.send("recorder", b"one")
        assert (await node.receive(timeout=5)).text == "ok"
        assert recorder.seen[0].payload == b"one"
        assert recorder.seen[0].return_route == ockam.route(node.address)
        assert await node.stop_worker("recorder")
        assert recorder.stopped
        assert not await node.stop_worker("recorder")
        with pytest.raises(ockam.Timeout):
            await node.receive(timeout=0.05)
        with pytest.raises(ockam.AddressNotFound):
            await node.send("nobody", b"x")
        with pytest.raises(ockam.InvalidArgument):
            await node.start_worker("x", object())  # type: ignore[arg-type]
        with pytest.raises(ockam.InvalidArgument):
            await node.start_worker("", Echoer())
        with pytest.raises(ockam.InvalidArgument):
            await node.create_secure_channel_listener("")
        with pytest.raises(ockam.InvalidArgument):
            await node.tcp.create_outlet("", "127.0.0.1:1")
        with pytest.raises(ockam.InvalidArgument):
            await node.send("echoer", 42)  # type: ignore[arg-type]
        with pytest.raises(ockam.AlreadyExists):
            await node.start_worker("echoer", Echoer())


async def test_node_lifecycle_and_run_forever() -> None:
    node = ockam.Node("n")
    assert not node.is_running
    with pytest.raises(ockam.OckamError, match="not running"):
        _ = node.tcp
    with pytest.raises(ockam.OckamError):
        await node.send("echo", b"x")
    await node.start()
    assert node.is_running
    waiter = asyncio.create_task(node.run_forever())
    await asyncio.sleep(0.05)
    assert not waiter.done()
    await node.stop()
    await asyncio.wait_for(waiter, 5)
    assert not node.is_running
    await node.stop()  # idempotent


def test_run() -> None:
    async def answer() -> int:
        return 42

    assert ockam.run(answer()) == 42

    async def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as exit_info:
        ockam.run(interrupted())
    assert exit_info.value.code == 130


# -- identities and trust -------------------------------------------------------------------


async def test_identities_in_memory() -> None:
    async with ockam.Node() as node:
        alice = node.create_identity("alice")
        assert alice.identifier.startswith("I") and len(alice.identifier) == 65
        assert node.get_identity("alice") is alice
        assert node.get_identity() is alice  # the first identity is the default one
        other = node.create_identity()
        assert other != alice and other.name is None
        assert len(alice.export()) > 32
        with pytest.raises(ockam.AlreadyExists):
            node.create_identity("alice")
        with pytest.raises(ockam.NotFound):
            node.get_identity("bob")
        with pytest.raises(ockam.InvalidArgument):
            node.create_identity("")


async def test_identities_in_a_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    async with ockam.Node(home=home) as node:
        alice = node.create_identity("alice")
        default = node.get_identity()  # alice, the first identity of this node
        assert default is alice
    async with ockam.Node(home=home) as node:
        again = node.get_identity("alice")
        assert again.identifier == alice.identifier and again.name == "alice"
        # the home's default identity (the first one created there, as the CLI does)
        assert node.get_identity().identifier == alice.identifier
        with pytest.raises(ockam.NotFound):
            node.get_identity("nobody")
        with pytest.raises(ockam.AlreadyExists):
            node.create_identity("alice")
        # a persisted identity works for secure channels (its key is in the home's vault)
        await node.create_secure_channel_listener("l", identity=again)
        channel = await node.create_secure_channel("l", identity=node.create_identity("bob"))
        assert channel.their_identifier == alice.identifier


def test_trust_policies() -> None:
    everyone = ockam.trust_everyone()
    assert everyone.allows("I" + "0" * 64)
    assert not everyone.allows(None)
    ident = "I" + "ab" * 32
    only = ockam.trust_identifiers(ident)
    assert only.allows(ident) and not only.allows("I" + "cd" * 32)
    with pytest.raises(ockam.InvalidArgument):
        ockam.trust_identifiers()
    with pytest.raises(ockam.IdentityError):
        ockam.trust_identifiers("alice")


# -- secure channels ------------------------------------------------------------------------


async def test_secure_channel_in_one_node() -> None:
    async with ockam.Node() as node:
        alice = node.create_identity("alice")
        bob = node.create_identity("bob")
        listener = await node.create_secure_channel_listener(
            "bob", identity=bob, trust=ockam.trust_identifiers(alice)
        )
        assert listener.address == ockam.Address.parse("bob")
        await node.start_worker("echoer", Echoer(), trust=ockam.trust_identifiers(alice))
        channel = await node.create_secure_channel(
            "bob", identity=alice, trust=ockam.trust_identifiers(bob.identifier)
        )
        assert channel.their_identifier == bob.identifier
        reply = await node.send_and_receive(ockam.route(channel, "echoer"), "Hello Ockam!")
        assert reply.text == "Hello Ockam!"
        assert reply.their_identifier == bob.identifier
        # the echoer only hears alice, through a channel
        with pytest.raises(ockam.Timeout):
            await node.send_and_receive("echoer", "direct", timeout=0.2)
        await channel.close()
        await listener.stop()


async def test_secure_channel_trust_is_enforced() -> None:
    async with ockam.Node() as node:
        alice = node.create_identity("alice")
        bob = node.create_identity("bob")
        mallory = node.create_identity("mallory")
        await node.create_secure_channel_listener("bob", identity=bob, trust=ockam.trust_identifiers(alice))
        # the initiator does not trust the responder
        with pytest.raises(ockam.SecureChannelError):
            await node.create_secure_channel(
                "bob", identity=alice, trust=ockam.trust_identifiers(mallory), timeout=5
            )
        # the responder does not trust the initiator: it refuses message 3 (the initiator,
        # done after message 2 as Noise XX goes, learns it when nothing gets through)
        await node.start_worker("echoer", Echoer())
        refused = await node.create_secure_channel("bob", identity=mallory, timeout=5)
        with pytest.raises(ockam.Timeout):
            await node.send_and_receive(ockam.route(refused, "echoer"), "hi", timeout=0.3)
        accepted = await node.create_secure_channel("bob", identity=alice, timeout=5)
        assert (await node.send_and_receive(ockam.route(accepted, "echoer"), "hi")).text == "hi"
        # no listener there
        with pytest.raises(ockam.AddressNotFound):
            await node.create_secure_channel("nobody", timeout=0.5)


# -- TCP, portals, relays --------------------------------------------------------------------


async def test_two_nodes_over_tcp() -> None:
    async with ockam.Node("responder") as responder, ockam.Node("initiator") as initiator:
        await responder.start_worker("echoer", Echoer())
        await responder.create_secure_channel_listener()
        listener = await responder.tcp.listen("127.0.0.1:0")
        assert listener.port > 0
        hop = ockam.Address.tcp(listener.address)
        assert (await initiator.send_and_receive(ockam.route(hop, "echoer"), "plain")).text == "plain"
        ma = f"/ip4/127.0.0.1/tcp/{listener.port}/service/echoer"
        assert (await initiator.send_and_receive(ma, "multiaddr")).text == "multiaddr"
        connection = await initiator.tcp.connect(listener.address)
        assert connection.peer == listener.address
        assert (await initiator.send_and_receive(ockam.route(connection, "echoer"), "c")).text == "c"
        channel = await initiator.create_secure_channel(ockam.route(connection, "api"))
        assert channel.their_identifier == responder.get_identity().identifier
        assert (await initiator.send_and_receive(ockam.route(channel, "echoer"), "s")).text == "s"
        await connection.close()
        await listener.stop()


async def test_tcp_errors() -> None:
    async with ockam.Node() as node:
        listener = await node.tcp.listen()
        with pytest.raises(ockam.TransportError):
            await node.tcp.listen(listener.address)
        closed = await node.tcp.listen()
        await closed.stop()
        with pytest.raises(ockam.TransportError):
            await node.tcp.connect(closed.address)
        with pytest.raises(ockam.TransportError):
            await node.send(ockam.route(ockam.Address.tcp(closed.address), "echo"), b"x")
        for bad in ("nowhere", "127.0.0.1:99999", "bad host:1"):
            with pytest.raises(ockam.InvalidArgument):
                await node.tcp.listen(bad)
            with pytest.raises(ockam.InvalidArgument):
                await node.tcp.create_outlet("o", bad)
            with pytest.raises(ockam.InvalidArgument):
                await node.tcp.create_inlet(bad, "o")
        await node.tcp.create_outlet("outlet", "127.0.0.1:1")
        with pytest.raises(ockam.AlreadyExists):
            await node.tcp.create_outlet("outlet", "127.0.0.1:1")


async def test_inlet_and_outlet_in_one_node() -> None:
    server, port = await tcp_echo_server()
    async with server, ockam.Node() as node:
        outlet = await node.tcp.create_outlet("outlet", f"127.0.0.1:{port}")
        assert outlet.target == f"127.0.0.1:{port}" and outlet.address == ockam.Address.parse("outlet")
        inlet = await node.tcp.create_inlet("127.0.0.1:0", ockam.route("outlet"))
        data = os.urandom(300_000)
        assert await roundtrip(inlet.address, data) == data
        await inlet.close()
        await outlet.close()


async def test_outlet_behind_a_secure_channel() -> None:
    server, port = await tcp_echo_server()
    async with server, ockam.Node("outlet") as b, ockam.Node("inlet") as a:
        b_id = b.create_identity()
        await b.create_secure_channel_listener("secure_channel_listener")
        await b.tcp.create_outlet("outlet", f"127.0.0.1:{port}", trust=ockam.trust_everyone())
        listener = await b.tcp.listen()
        hop = ockam.Address.tcp(listener.address)
        # plain TCP does not reach the outlet: the client is closed once the Pong is overdue
        plain = await a.tcp.create_inlet("127.0.0.1:0", ockam.route(hop, "outlet"))
        assert plain.route == ockam.route(hop, "outlet")
        host, p = plain.address.rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(p))
        writer.write(b"hello")
        await writer.drain()
        await asyncio.sleep(0.3)
        assert not reader.at_eof()  # still waiting for a Pong that will not come
        assert ACCEPTED == []
        writer.close()
        # through a secure channel with b, it does
        channel = await a.create_secure_channel(
            ockam.route(hop, "secure_channel_listener"), trust=ockam.trust_identifiers(b_id)
        )
        inlet = await a.tcp.create_inlet("127.0.0.1:0", ockam.route(channel, "outlet"))
        assert await roundtrip(inlet.address, b"through the channel") == b"through the channel"


async def test_outlet_trusting_one_identity() -> None:
    server, port = await tcp_echo_server()
    async with server, ockam.Node() as node:
        alice = node.create_identity("alice")
        mallory = node.create_identity("mallory")
        node.create_identity("bob")
        await node.create_secure_channel_listener("l", identity=node.get_identity("bob"))
        outlet = await node.tcp.create_outlet(
            "outlet", f"127.0.0.1:{port}", trust=ockam.trust_identifiers(alice)
        )
        good = await node.create_secure_channel("l", identity=alice)
        bad = await node.create_secure_channel("l", identity=mallory)
        ok_inlet = await node.tcp.create_inlet("127.0.0.1:0", ockam.route(good, "outlet"))
        assert await roundtrip(ok_inlet.address, b"alice") == b"alice"
        bad_inlet = await node.tcp.create_inlet("127.0.0.1:0", ockam.route(bad, "outlet"))
        host, p = bad_inlet.address.rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(p))
        writer.write(b"mallory")
        await writer.drain()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(reader.read(10), 0.3)
        assert len(ACCEPTED) == 1  # alice's connection only
        writer.close()
        await outlet.close()
        with pytest.raises(ockam.AddressNotFound):
            await node.send("outlet", b"x")


async def test_relay() -> None:
    server, port = await tcp_echo_server()
    async with server, ockam.Node("relay") as relay_node, ockam.Node("b") as b, ockam.Node("a") as a:
        await relay_node.start_relay_service()
        listener = await relay_node.tcp.listen()
        hop = ockam.Address.tcp(listener.address)
        await b.start_worker("echoer", Echoer())
        await b.create_secure_channel_listener("secure_channel_listener")
        await b.tcp.create_outlet("outlet", f"127.0.0.1:{port}", trust=ockam.trust_everyone())
        relay = await b.create_relay(hop)
        assert relay.remote_address.startswith("forward_to_")
        assert relay.route.addresses[-1] == ockam.Address.parse(relay.remote_address)
        named = await b.create_relay(hop, "b")
        assert named.remote_address == "forward_to_b"
        # messages and a secure channel through the relay
        assert (await a.send_and_receive(ockam.route(hop, "forward_to_b", "echoer"), "hi")).text == "hi"
        channel = await a.create_secure_channel(
            ockam.route(hop, relay.remote_address, "secure_channel_listener"),
            trust=ockam.trust_identifiers(b.get_identity()),
        )
        inlet = await a.tcp.create_inlet("127.0.0.1:0", ockam.route(channel, "outlet"))
        assert await roundtrip(inlet.address, b"two hops") == b"two hops"
        await relay.close()
        # no relay service there
        no_service = await a.tcp.listen()
        with pytest.raises(ockam.Timeout):
            await b.create_relay(ockam.Address.tcp(no_service.address), timeout=0.3)


async def test_reachable_from_narrows_who_reaches_a_worker_or_an_outlet() -> None:
    server, port = await tcp_echo_server()
    async with server, ockam.Node("b") as b, ockam.Node("a") as a:
        listener = await b.tcp.listen()
        channels = await b.create_secure_channel_listener("secure_channel_listener")
        await b.start_worker("everyone", Echoer())  # the default: every entry point
        await b.start_worker("channels", Echoer(), reachable_from=[channels])
        await b.start_worker("local", Echoer(), reachable_from=())
        await b.tcp.create_outlet("outlet", f"127.0.0.1:{port}", reachable_from=[channels])
        hop = ockam.Address.tcp(listener.address)
        channel = await a.create_secure_channel(ockam.route(hop, "secure_channel_listener"))
        assert (await a.send_and_receive(ockam.route(hop, "everyone"), "tcp")).text == "tcp"
        assert (await a.send_and_receive(ockam.route(channel, "everyone"), "sc")).text == "sc"
        assert (await a.send_and_receive(ockam.route(channel, "channels"), "sc")).text == "sc"
        for to in (ockam.route(hop, "channels"), ockam.route(hop, "local"), ockam.route(channel, "local")):
            with pytest.raises(ockam.Timeout):
                await a.send_and_receive(to, "x", timeout=0.3)
        assert (await b.send_and_receive("local", "here")).text == "here"
        # the outlet: through the channel only
        inlet = await a.tcp.create_inlet("127.0.0.1:0", ockam.route(channel, "outlet"))
        assert await roundtrip(inlet.address, b"through") == b"through"
        assert channel.flow_control_id and listener.flow_control_id and channels.flow_control_id
        # a listener created later is an entry point of the default workers too
        later = await b.tcp.listen()
        hop2 = ockam.Address.tcp(later.address)
        assert (await a.send_and_receive(ockam.route(hop2, "everyone"), "later")).text == "later"
        with pytest.raises(ockam.Timeout):
            await a.send_and_receive(ockam.route(hop2, "channels"), "x", timeout=0.3)
        with pytest.raises(ockam.InvalidArgument):
            await b.start_worker("bad", Echoer(), reachable_from=[object()])  # type: ignore[list-item]
        await b.start_worker("bad", Echoer())  # (nothing was started)
