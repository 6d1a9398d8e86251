"""Routing and secure channels between a Rust node and ours, both directions."""

from __future__ import annotations

import re

import pytest

from .conftest import ADDRESS, Cli

pytestmark = pytest.mark.interop


def test_message_send_to_the_other_sides_echo_and_uppercase(pair: tuple[Cli, Cli]) -> None:
    me, other = pair
    other.node("n2")
    me.node("n1")
    assert (
        me.ok("message", "send", "hello", "--from", "n1", "--to", f"{other.tcp('n2')}/service/uppercase")
        == "HELLO"
    )
    assert (
        me.ok("message", "send", "Hello Ockam!", "--to", f"{other.tcp('n2')}/service/echo") == "Hello Ockam!"
    )


def test_a_route_through_the_other_sides_hop_service(pair: tuple[Cli, Cli]) -> None:
    """n1 (me) -> n2 (other, hop) -> its own uppercase, and -> n3 (mine) over a connection n2 made."""
    me, other = pair
    other.node("n2")
    me.node("n1")
    me.node("n3")
    other.ok("service", "start", "hop", "--at", "n2")
    to = f"{other.tcp('n2')}/service/hop/service/uppercase"
    assert me.ok("message", "send", "hi", "--from", "n1", "--to", to) == "HI"
    # the transports shape of Ockam's docs: /worker/<tcp connection> on each side
    c1 = ADDRESS.findall(
        me.ok("tcp-connection", "create", "--from", "n1", "--to", f"127.0.0.1:{other.ports['n2']}")
    )
    c2 = ADDRESS.findall(
        other.ok("tcp-connection", "create", "--from", "n2", "--to", f"127.0.0.1:{me.ports['n3']}")
    )
    to = f"/worker/{c1[0]}/service/hop/worker/{c2[0]}/service/uppercase"
    assert me.ok("message", "send", "hello", "--from", "n1", "--to", to) == "HELLO"


def test_a_secure_channel_to_the_other_sides_api_listener(pair: tuple[Cli, Cli]) -> None:
    me, other = pair
    other.node("b")
    me.node("a")
    channel = me.ok("secure-channel", "create", "--from", "a", "--to", f"{other.tcp('b')}/service/api")
    assert re.fullmatch(r"/service/[0-9a-f]{32}", channel.split()[-1]), channel
    channel = channel.split()[-1]
    assert me.ok("message", "send", "hello", "--from", "a", "--to", f"{channel}/service/uppercase") == "HELLO"
    # the /secure/api multiaddr of message send
    to = f"{other.tcp('b')}/secure/api/service/echo"
    assert me.ok("message", "send", "through", "--from", "a", "--to", to) == "through"


def test_a_named_listener_with_authorized_identities(pair: tuple[Cli, Cli]) -> None:
    me, other = pair
    me.ok("identity", "create", "i1")
    other.ok("identity", "create", "i2")
    other.ok("identity", "create", "stranger")
    i1, i2 = me.identifier("i1"), other.identifier("i2")
    other.node("n2", "--identity", "i2")
    me.node("n1", "--identity", "i1")
    other.ok("secure-channel-listener", "create", "l", "--at", "n2", "--identity", "i2", "--authorized", i1)
    to = f"{other.tcp('n2')}/service/l"
    channel = me.ok(
        "secure-channel", "create", "--from", "n1", "--to", to, "--identity", "i1", "--authorized", i2
    ).split()[-1]
    assert (
        me.ok("message", "send", "hello", "--from", "n1", "--to", f"{channel}/service/uppercase") == "HELLO"
    )
    # the initiator refuses a responder it did not authorize (message 2 names the responder)
    code, _, _ = me.run(
        "secure-channel", "create", "--from", "n1", "--to", to, "--identity", "i1",
        "--authorized", other.identifier("stranger"),
    )  # fmt: skip
    assert code != 0
    # the listener refuses an initiator it did not authorize: it learns who the initiator
    # is from message 3, the last one, so the initiator only sees that nothing answers
    me.ok("identity", "create", "i3")
    code, out, _ = me.run("secure-channel", "create", "--from", "n1", "--to", to, "--identity", "i3")
    if code == 0:
        refused = out.split()[-1]
        code, _, _ = me.run(
            "message",
            "send",
            "hello",
            "--timeout",
            "3s",
            "--from",
            "n1",
            "--to",
            f"{refused}/service/uppercase",
        )
    assert code != 0


def test_an_identity_exported_by_one_is_imported_by_the_other(pair: tuple[Cli, Cli]) -> None:
    me, other = pair
    me.ok("identity", "create", "alice")
    exported = me.identity_hex("alice")
    other.ok("identity", "create", "alice-copy", "--identity", exported)
    assert other.identifier("alice-copy") == me.identifier("alice")
    assert other.identity_hex("alice-copy") == exported


def test_the_control_api_answers_over_tcp_only(pair: tuple[Cli, Cli]) -> None:
    """Flow control on both implementations: the other's `_internal.nodemanager` answers a
    `GET /node` sent over TCP, and nothing sent through a secure channel to its `api`."""
    from ockam.protocol.api_wire import Request

    me, other = pair
    other.node("b")
    me.node("a")
    get_node = Request("/node", "GET").encode_inner().hex()
    direct = f"{other.tcp('b')}/service/_internal.nodemanager"
    assert me.ok("message", "send", "--hex", get_node, "--from", "a", "--to", direct)
    channel = me.ok(
        "secure-channel", "create", "--from", "a", "--to", f"{other.tcp('b')}/service/api"
    ).split()[-1]
    code, _, _ = me.run(
        "message", "send", "--hex", get_node, "--timeout", "3s", "--from", "a",
        "--to", f"{channel}/service/_internal.nodemanager",
    )  # fmt: skip
    assert code != 0
