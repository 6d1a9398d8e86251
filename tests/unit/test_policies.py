"""Policies of a node: storage (``resource_policy`` / ``resource_type_policy`` rows), the
start-up defaults, the node-API endpoints (node-api.md §5.8) and their enforcement on
the echoer, portals and relay service of in-process nodes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ockam.abac import parse_expr, parse_policy
from ockam.abac.defaults import DEFAULT_TYPE_POLICIES, Policies, ResourceType
from ockam.api.node_process import NodeConfig, RunningNode, start_node
from ockam.api.policies import (
    PolicyEntry,
    PolicyTarget,
    policies_list_from_cbor,
    policy_entry_from_cbor,
    target_from_cbor,
    target_to_cbor,
)
from ockam.codec import cbor
from ockam.codec.address import Address
from ockam.codec.multiaddr import MultiAddr
from ockam.codec.route import route
from ockam.errors import DecodeError, Refused
from ockam.identity import CredentialSigningKey, Identity, create_purpose_key_attestation, generate_identity
from ockam.identity.credentials import issue_credential
from ockam.protocol import api_models as models
from ockam.protocol.api_wire import Request, Response, decode_response
from ockam.protocol.crypto import SigningSecret
from ockam.state import State
from ockam.state.policies import PolicyTable

DEFAULT = "(= subject.has_credential true)"


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[State]:
    monkeypatch.setenv("OCKAM_HOME", str(tmp_path / "home"))
    st = State.open()
    try:
        yield st
    finally:
        st.close()


# -- storage ----------------------------------------------------------------------------


def test_policy_rows_are_scoped_by_node_and_keep_the_expression_text(state: State) -> None:
    n1, n2 = PolicyTable(state.db, "n1"), PolicyTable(state.db, "n2")
    n1.store_resource_policy("outlet", '(= subject.component "web")')
    n1.store_resource_policy("outlet", '(= subject.component "db")')  # replaces
    n1.store_type_policy("tcp-inlet", '(= subject.x "1")')
    n1.store_resource("outlet", "tcp-outlet")
    n1.store_resource("outlet", "tcp-outlet")  # once
    assert n1.resource_policies() == [("outlet", '(= subject.component "db")')]
    assert n1.type_policies() == [("tcp-inlet", '(= subject.x "1")')]
    assert n1.resources() == [("outlet", "tcp-outlet")]
    assert n2.resource_policies() == [] and n2.type_policies() == []
    row = state.db.query_one("SELECT action, node_name FROM resource_policy")
    assert row is not None and tuple(row) == ("handle_message", "n1")
    assert n1.delete_resource_policy("outlet") and not n1.delete_resource_policy("outlet")
    assert n1.delete_type_policy("tcp-inlet") and not n1.delete_type_policy("tcp-inlet")


def test_defaults_are_added_at_start_but_a_users_type_policy_is_kept(state: State) -> None:
    table = PolicyTable(state.db, "n")
    first = Policies.load(table)
    assert set(first.ensure_type_defaults()) == set(ResourceType)
    assert {t: str(e) for t, e in first.by_type.items()} == dict(DEFAULT_TYPE_POLICIES)
    first.set_type_policy(ResourceType.TCP_OUTLET, parse_policy("web"))
    first.set_resource_policy("my-outlet", '(= subject.component "db")')
    first.delete_type_policy(ResourceType.ECHOER)

    # the next start: the user's tcp-outlet policy stays (a Rust node would overwrite it),
    # the deleted echoer policy is back as the default, resource policies persist
    second = Policies.load(table)
    assert second.ensure_type_defaults() == [ResourceType.ECHOER]
    assert str(second.by_type[ResourceType.TCP_OUTLET]) == '(= subject.web "true")'
    assert str(second.by_type[ResourceType.ECHOER]) == DEFAULT
    assert str(second.by_resource["my-outlet"]) == '(= subject.component "db")'
    found = second.lookup("my-outlet", ResourceType.TCP_OUTLET)
    assert found is not None and found[1] == "the policy of resource 'my-outlet'"
    found = second.lookup("other", ResourceType.TCP_OUTLET)
    assert found is not None and found[1] == "the policy of resource type tcp-outlet"


def test_rust_reset_of_type_defaults_is_still_available() -> None:
    policies = Policies.with_defaults()
    policies.set_type_policy(ResourceType.RELAY, '(= subject.x "1")')
    policies.reset_type_defaults()
    assert str(policies.by_type[ResourceType.RELAY]) == DEFAULT


def test_unparsable_stored_rows_are_skipped(state: State) -> None:
    table = PolicyTable(state.db, "n")
    table.store_resource_policy("bad", "(unbalanced")
    table.store_type_policy("no-such-type", DEFAULT)
    table.store_resource_policy("good", DEFAULT)
    policies = Policies.load(table)
    assert list(policies.by_resource) == ["good"]
    assert policies.by_type == {}


# -- bodies -----------------------------------------------------------------------------


def test_resource_type_or_name_cbor() -> None:
    outlet_type = PolicyTarget.parse("tcp-outlet")
    assert target_to_cbor(outlet_type) == [1, [None, 2]]
    assert cbor.encode(target_to_cbor(outlet_type)).hex() == "820182f602"
    named = PolicyTarget.parse("my_policy")
    assert target_to_cbor(named) == [2, [None, "my_policy"]]
    for target in (outlet_type, named, PolicyTarget.parse("lessor")):
        assert target_from_cbor(cbor.decode(cbor.encode(target_to_cbor(target)))) == target
    with pytest.raises(DecodeError):
        target_from_cbor([3, [None, "x"]])
    with pytest.raises(DecodeError):
        target_from_cbor([1, [None, "tcp-outlet"]])


# -- endpoints --------------------------------------------------------------------------


async def api(
    node: RunningNode, method: str, path: str, body: Any = None, *, has_body: bool = True
) -> Response:
    req = Request(path, method, body) if has_body else Request(path, method)
    resp = await node.manager.dispatch(req)
    resp.re = req.id
    return decode_response(resp.encode())


async def test_policy_endpoints(state: State) -> None:
    node = await start_node(NodeConfig("n", policy_repository=PolicyTable(state.db, "n")))
    try:
        # all policies: the seven type defaults (`null` body)
        listed = await api(node, "GET", "/policy", None)
        assert listed.status == 200
        assert listed.body == {
            1: [],
            2: [{1: i, 2: 1, 3: cbor.decode(cbor.encode(_expr_cbor(DEFAULT)))} for i in range(1, 8)],
        }

        boolean = parse_policy("component.db or component.web")
        created = await api(
            node, "POST", "/policy/handle_message", {1: [2, [None, "my_policy"]], 2: boolean.to_cbor()}
        )
        assert created.status == 200 and not created.has_body
        shown = await api(node, "GET", "policy/handle_message", [2, [None, "my_policy"]])
        entry = policy_entry_from_cbor(shown.body)
        assert entry == PolicyEntry(PolicyTarget(resource_name="my_policy"), boolean.to_expr())
        assert entry.to_json() == {
            "resource": "my_policy",
            "action": "handle_message",
            "expression": '(or (= subject.component.db "true") (= subject.component.web "true"))',
        }
        # stored as the expanded expression, in the node's tables
        assert PolicyTable(state.db, "n").resource_policies() == [("my_policy", str(boolean.to_expr()))]

        only_name = policies_list_from_cbor(
            (await api(node, "GET", "/policy", [2, [None, "my_policy"]])).body
        )
        assert [str(e.target) for e in only_name] == ["my_policy"]
        only_type = policies_list_from_cbor((await api(node, "GET", "/policy", [1, [None, 2]])).body)
        assert [str(e.target) for e in only_type] == ["tcp-outlet"]

        full = parse_policy('(= subject.component "global_value")')
        await api(node, "POST", "/policy/handle_message", {1: [1, [None, 2]], 2: full.to_cbor()})
        shown = await api(node, "GET", "/policy/handle_message", [1, [None, 2]])
        assert shown.body == {1: [1, [None, 2]], 2: 1, 3: full.to_cbor()[1][0]}

        deleted = await api(node, "DELETE", "/policy/handle_message", [1, [None, 2]])
        assert deleted.status == 200
        missing = await api(node, "GET", "/policy/handle_message", [1, [None, 2]])
        assert missing.status == 404
        assert (
            missing.error_message() == "No policy found for resource 'tcp-outlet' and action 'handle_message'"
        )
        bad_action = await api(node, "POST", "/policy/read", {1: [1, [None, 2]], 2: full.to_cbor()})
        assert bad_action.status == 500 and "Invalid action" in bad_action.error_message()
        bad_body = await api(node, "POST", "/policy/handle_message", {1: [9, [None, 2]], 2: full.to_cbor()})
        assert bad_body.status == 500
    finally:
        await node.stop()


def _expr_cbor(text: str) -> Any:
    from ockam.abac import expr_to_cbor

    return expr_to_cbor(parse_expr(text))


# -- enforcement ------------------------------------------------------------------------


class Issuer:
    def __init__(self) -> None:
        now = int(time.time())
        self.identity, primary = generate_identity(now=now - 100)
        self.key = SigningSecret.generate()
        self.attestation = create_purpose_key_attestation(
            self.identity, primary, CredentialSigningKey(self.key.public_key()), now=now - 100
        )

    def credential(self, subject: Identity, attributes: dict[str, str], ttl: int = 3600) -> Any:
        data = {k.encode(): v.encode() for k, v in attributes.items()}
        return issue_credential(self.attestation, self.key, subject, data, now=int(time.time()), ttl=ttl)


async def _member(
    name: str, issuer: Issuer | None, attributes: dict[str, str] | None, ttl: int = 3600
) -> RunningNode:
    identity, key = generate_identity(now=int(time.time()))
    credential = None
    if issuer is not None and attributes is not None:
        credential = issuer.credential(identity, attributes, ttl)
    return await start_node(NodeConfig(name, identity=identity, signer=key, credential=credential))


async def _echo_through_channel(
    client: RunningNode, server: RunningNode, timeout: float = 1.0
) -> bytes | None:
    conn = await client.tcp.connect(server.listener_address)
    channel = await client.secure_channels.create_channel(route(conn.sender, "api"), timeout=5)
    with client.node.context() as ctx:
        try:
            reply = await ctx.send_and_receive(route(channel.encryptor, "echo"), b"ping", timeout)
        except Exception:
            return None
    return reply.payload


async def test_echo_serves_only_credential_holders_on_a_node_with_an_authority(
    caplog: pytest.LogCaptureFixture,
) -> None:
    issuer = Issuer()
    server = await start_node(NodeConfig("server", authority=issuer.identity))
    member = await _member("member", issuer, {"city": "Paris"})
    stranger = await _member("stranger", None, None)
    try:
        assert await _echo_through_channel(member, server) == b"ping"
        assert await _echo_through_channel(stranger, server, 0.5) is None
        denial = [r.getMessage() for r in caplog.records if "denied" in r.getMessage()]
        assert any(
            "access to echoer 'echo' denied to " + str(stranger.secure_channels.identity.identifier) in m
            and "the policy of resource type echoer (= subject.has_credential true)" in m
            and "has no valid credential from the authority" in m
            for m in denial
        ), denial
    finally:
        for n in (member, stranger, server):
            await n.stop()


async def test_echo_is_open_on_a_node_without_authority() -> None:
    server = await start_node(NodeConfig("server"))
    stranger = await _member("stranger", None, None)
    try:
        assert await _echo_through_channel(stranger, server) == b"ping"
    finally:
        await stranger.stop()
        await server.stop()


class EchoServer:
    """A TCP server echoing what it reads, on 127.0.0.1."""

    def __init__(self) -> None:
        self.server: asyncio.base_events.Server | None = None
        self.port = 0

    async def start(self) -> int:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except ConnectionError:
                pass
            finally:
                writer.close()

        self.server = await asyncio.start_server(handle, "127.0.0.1", 0)
        self.port = int(self.server.sockets[0].getsockname()[1])
        return self.port

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


async def _outlet(node: RunningNode, port: int, allow: str | None) -> Response:
    body = models.CreateOutlet(
        models.HostnamePort("127.0.0.1", port),
        worker_addr=Address.local("outlet"),
        reachable_from_default_secure_channel=True,
        policy_expression=None if allow is None else parse_policy(allow).to_cbor(),
    )
    return await api(node, "POST", "/node/outlet", body.to_cbor())


async def _inlet(node: RunningNode, to: str, alias: str, allow: str | None = None) -> dict[int, Any]:
    body = models.CreateInlet(
        models.HostnamePort("127.0.0.1", 0),
        MultiAddr.parse(to),
        alias,
        wait_for_outlet_duration_ms=5000,
        wait_connection=True,
        policy_expression=None if allow is None else parse_policy(allow).to_cbor(),
    )
    resp = await api(node, "POST", "/node/inlet", body.to_cbor())
    assert resp.status == 200, resp.error_message()
    assert isinstance(resp.body, dict)
    return resp.body


async def _round_trip(bind: str, data: bytes = b"hello", timeout: float = 2.0) -> bytes | None:
    host, port = bind.rsplit(":", 1)
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), timeout)
    except (OSError, TimeoutError):
        return None
    try:
        writer.write(data)
        await writer.drain()
        got = await asyncio.wait_for(reader.read(len(data)), timeout)
        return got or None
    except (OSError, TimeoutError):
        return None
    finally:
        writer.close()


def _secure_route(node: RunningNode) -> str:
    port = node.listener_address.rsplit(":", 1)[1]
    return f"/ip4/127.0.0.1/tcp/{port}/secure/api/service/outlet"


async def test_outlet_policy_admits_only_matching_attributes(caplog: pytest.LogCaptureFixture) -> None:
    issuer = Issuer()
    target = EchoServer()
    port = await target.start()
    server = await start_node(NodeConfig("server", authority=issuer.identity))
    paris = await _member("paris", issuer, {"city": "Paris"})
    york = await _member("york", issuer, {"city": "New York"})
    nothing = await _member("nothing", issuer, {})
    try:
        assert (await _outlet(server, port, '(= subject.city "Paris")')).status == 200
        ok = await _inlet(paris, _secure_route(server), "i")
        assert await _round_trip(ok[1]) == b"hello"
        refused = await _inlet(york, _secure_route(server), "i")
        assert await _round_trip(refused[1], timeout=1.0) is None
        missing = await _inlet(nothing, _secure_route(server), "i")
        assert await _round_trip(missing[1], timeout=1.0) is None
        messages = [r.getMessage() for r in caplog.records]
        york_id = str(york.secure_channels.identity.identifier)
        assert any(
            f"access to tcp-outlet 'outlet' denied to {york_id}" in m
            and "the policy of resource 'outlet' (= subject.city \"Paris\")" in m
            and 'subject.city is "New York"' in m
            for m in messages
        ), messages
        assert any("attribute 'city' is missing from its credential" in m for m in messages), messages
    finally:
        for n in (paris, york, nothing, server):
            await n.stop()
        target.close()


async def test_inlet_policy_refusing_the_outlet_side_is_reported_in_the_status() -> None:
    target = EchoServer()
    port = await target.start()
    server = await start_node(NodeConfig("server"))
    client = await start_node(NodeConfig("client"))
    try:
        assert (await _outlet(server, port, None)).status == 200
        status = await _inlet(client, _secure_route(server), "i", allow='(= subject.identifier "Inobody")')
        assert status[6] == [0, []]  # down
        reason = status[4]
        server_id = str(server.secure_channels.identity.identifier)
        assert f"access to tcp-inlet 'i' denied to {server_id}" in reason
        assert '(= subject.identifier "Inobody")' in reason
        assert await _round_trip(status[1], timeout=1.0) is None
        allowed = await _inlet(
            client, _secure_route(server), "j", allow=f'(= subject.identifier "{server_id}")'
        )
        assert allowed[6] == [1, []] and 4 not in allowed
        assert await _round_trip(allowed[1]) == b"hello"
    finally:
        await client.stop()
        await server.stop()
        target.close()


async def test_credential_expiry_closes_a_live_portal_connection() -> None:
    issuer = Issuer()
    target = EchoServer()
    port = await target.start()
    server = await start_node(NodeConfig("server", authority=issuer.identity))
    member = await _member("member", issuer, {"city": "Paris"}, ttl=2)
    try:
        assert (await _outlet(server, port, None)).status == 200  # the tcp-outlet type policy
        status = await _inlet(member, _secure_route(server), "i")
        host, bind_port = status[1].rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(bind_port))
        writer.write(b"before")
        await writer.drain()
        assert await asyncio.wait_for(reader.read(6), 2) == b"before"
        await asyncio.sleep(3.5)  # the credential expired, and the outlet noticed
        try:
            writer.write(b"after")
            await writer.drain()
            got = await asyncio.wait_for(reader.read(5), 2)
        except (OSError, TimeoutError):
            got = b""
        assert got == b""
        writer.close()
        assert await _round_trip(status[1], timeout=1.0) is None  # new connections too
    finally:
        await member.stop()
        await server.stop()
        target.close()


async def test_relay_service_with_an_authority_checks_policy_and_relay_name() -> None:
    from ockam.services.relay import register_relay

    issuer = Issuer()
    server = await start_node(NodeConfig("server", authority=issuer.identity))
    named = await _member("named", issuer, {"ockam-relay": "blue"})
    stranger = await _member("stranger", None, None)
    try:
        for client, name, expected in (
            (named, "blue", True),
            (named, "red", False),
            (stranger, "blue", False),
        ):
            conn = await client.tcp.connect(server.listener_address)
            channel = await client.secure_channels.create_channel(route(conn.sender, "api"), timeout=5)
            try:
                handle = await register_relay(client.node, route(channel.encryptor), name, timeout=1.0)
            except Exception:
                handle = None
            assert (handle is not None) == expected, (name, expected)
        # plain TCP registrations are refused too (no identity), with the reason, at once
        conn = await named.tcp.connect(server.listener_address)
        with pytest.raises(Refused, match="did not arrive through a secure channel"):
            await register_relay(named.node, route(conn.sender), "blue", timeout=5.0)
    finally:
        for n in (named, stranger, server):
            await n.stop()
