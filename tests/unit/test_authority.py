"""An authority node and member nodes in this process, over TCP: members, enrollment
tokens, credentials presented in secure channels, ABAC checks."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ockam.abac import parse_policy
from ockam.abac.defaults import Policies, ResourceType, relay_name_allowed
from ockam.api.authority import (
    AuthorityNodeConfig,
    RunningAuthority,
    multiaddr_route,
    parse_trusted_identities,
    start_authority_node,
)
from ockam.api.identities import (
    create_named_identity,
    credential_signing_key,
    load_identity,
    secure_channel_key,
)
from ockam.api.node_process import NodeConfig, RunningNode, start_node
from ockam.codec.address import Address
from ockam.codec.route import Route, route
from ockam.errors import ApiError, InvalidArgument
from ockam.identity import (
    CredentialAndPurposeKey,
    CredentialSigningKey,
    Identity,
    MemoryCredentialRetriever,
    create_purpose_key_attestation,
    generate_identity,
    issue_credential,
)
from ockam.node import Context, LocalMessage, Worker
from ockam.protocol.api_wire import Request, decode_response
from ockam.protocol.authority import OneTimeCode
from ockam.protocol.crypto import SigningSecret
from ockam.services.access_control import (
    AccessControlledWorker,
    AllowAll,
    PolicyAccessControl,
    check_relay_name,
    relay_access_control,
    resource_access_control,
)
from ockam.services.authority import AuthorityOptions
from ockam.services.credentials import AuthorityClient, RemoteCredentialRetriever, refresh_delay
from ockam.state import State
from ockam.state.authority import AuthorityMember, SqlAuthorityMembers, SqlEnrollmentTokens

PROJECT = "my-project"


def _now() -> int:
    return int(time.time())


@dataclass
class Setup:
    authority: RunningAuthority
    admin: RunningNode
    admin_client: AuthorityClient
    server: RunningNode
    nodes: list[RunningNode]

    @property
    def authority_identity(self) -> Identity:
        return self.authority.channels.identity

    def client(self, node: RunningNode) -> AuthorityClient:
        return AuthorityClient(
            node.secure_channels, self.authority.route, self.authority.identifier, tcp=node.tcp, timeout=5
        )

    async def member_node(self, name: str) -> RunningNode:
        """A node trusting the authority and fetching its credential from it."""
        port = self.authority.listener_address.rsplit(":", 1)[1]
        node = await start_node(
            NodeConfig(
                name,
                authority=self.authority_identity,
                authority_route=f"/ip4/127.0.0.1/tcp/{port}/service/api",
                credential_scope=f"project-member-{PROJECT}",
            )
        )
        self.nodes.append(node)
        return node

    async def plain_node(self, name: str) -> RunningNode:
        node = await start_node(NodeConfig(name))
        self.nodes.append(node)
        return node


async def _setup(state: State | None = None, **options: object) -> Setup:
    admin_id, admin_key = generate_identity(now=_now())
    authority = await start_authority_node(
        AuthorityNodeConfig(
            tcp_listener_address="127.0.0.1:0",
            options=AuthorityOptions(project_identifier=PROJECT, **options),  # type: ignore[arg-type]
            trusted_identities={str(admin_id.identifier): {"ockam-role": "enroller"}},
            state=state,
        )
    )
    admin = await start_node(NodeConfig("admin", identity=admin_id, signer=admin_key))
    server = await start_node(NodeConfig("server", authority=authority.channels.identity))
    setup = Setup(authority, admin, None, server, [admin, server])  # type: ignore[arg-type]
    setup.admin_client = setup.client(admin)
    return setup


@pytest.fixture
async def setup() -> AsyncIterator[Setup]:
    s = await _setup()
    try:
        yield s
    finally:
        for node in s.nodes:
            await node.stop()
        await s.authority.stop()


async def _open(a: RunningNode, b: RunningNode) -> Route:
    """A secure channel from ``a`` to ``b``'s ``api`` listener; returns its route."""
    conn = await a.tcp.connect(b.listener_address)
    channel = await a.secure_channels.create_channel(route(conn.sender, "api"), timeout=5)
    await _responder_established(b, a)
    return Route((channel.encryptor,))


async def _responder_established(responder: RunningNode, initiator: RunningNode) -> None:
    """Wait until the responder processed message 3 (the initiator returns before)."""
    me = initiator.secure_channels.identity.identifier
    for _ in range(500):
        if any(c.their_identifier == me for c in responder.secure_channels.channels.values()):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the responder did not complete the handshake")


def _web_policy(s: Setup) -> PolicyAccessControl:
    return PolicyAccessControl(
        '(= subject.component "web")',
        s.server.secure_channels.attributes,
        s.authority.identifier,
        resource="outlet",
        resource_type=ResourceType.TCP_OUTLET,
    )


async def test_members_tokens_credentials_and_abac(setup: Setup, caplog: pytest.LogCaptureFixture) -> None:
    s = setup
    admin = s.admin_client
    web = await s.member_node("web")
    db1 = await s.member_node("db1")
    db2 = await s.member_node("db2")
    late = await s.member_node("late")
    bare = await s.member_node("bare")
    stranger = await s.plain_node("stranger")
    ident = {id(n): n.secure_channels.identity.identifier for n in (web, db1, db2, late, bare, stranger)}

    # direct authenticator
    await admin.add_member(ident[id(web)], {"component": "web"})
    await admin.add_member(ident[id(bare)])
    assert set(await admin.member_ids()) == {
        ident[id(web)],
        ident[id(bare)],
        s.admin.secure_channels.identity.identifier,
    }
    shown = await admin.show_member(ident[id(web)])
    assert shown.text_map() == {"component": "web"}
    assert shown.attested_by == s.admin.secure_channels.identity.identifier
    assert shown.expires_at is None
    members = await admin.list_members()
    assert members[ident[id(bare)]].attributes == {}

    # enrollment token usable twice
    code = await admin.create_token({"component": "db"}, ttl_count=2)
    assert len(code.hex) == 64
    assert (await s.client(db1).enroll(code)).enrolled
    assert not (await s.client(db1).enroll(code)).enrolled  # "already a member" counts as enrolled
    assert (await s.client(db2).enroll(code.hex)).enrolled
    with pytest.raises(ApiError, match="Used enrollment token") as refused:
        await s.client(late).enroll(code)
    assert refused.value.status == 403
    assert (await admin.show_member(ident[id(db2)])).text_map() == {"component": "db"}
    assert (
        await admin.show_member(ident[id(db2)])
    ).attested_by == s.admin.secure_channels.identity.identifier

    # a non-enroller may not manage members
    with pytest.raises(ApiError, match="Non-enroller is trying to list members"):
        await s.client(web).list_members()
    with pytest.raises(ApiError, match="Non-enroller is trying to issue an enrollment token"):
        await s.client(web).create_token({})

    # members present their credentials to the server
    for node in (web, db1, bare, stranger):
        await _open(node, s.server)
    policy = _web_policy(s)
    caplog.set_level(logging.WARNING, logger="ockam.abac")
    assert policy.decide(ident[id(web)])
    db_decision = policy.decide(ident[id(db1)])
    assert not db_decision
    assert '(= subject.component "web")' in db_decision.reason
    assert str(ident[id(db1)]) in db_decision.reason
    assert 'subject.component is "db"' in db_decision.reason
    assert "outlet" in db_decision.reason
    assert db_decision.reason in caplog.text
    missing = policy.decide(ident[id(bare)])
    assert not missing and "attribute 'component' is missing" in missing.reason
    no_credential = policy.decide(ident[id(stranger)])
    assert not no_credential and "has no valid credential" in no_credential.reason
    unauthenticated = policy.decide(None)
    assert not unauthenticated and "secure channel" in unauthenticated.reason

    # the credential carries the member's attributes and the project id
    entry = s.server.secure_channels.attributes.get(ident[id(web)], s.authority.identifier, now=_now())
    assert entry is not None
    assert entry.text_map() == {"component": "web", "trust_context_id": PROJECT}
    assert entry.expires_at is not None and entry.expires_at - _now() > 29 * 24 * 3600

    # default policy of a resource type (any credential holder), name policy first
    outlet = resource_access_control(
        s.server.secure_channels.attributes, s.authority.identifier, "outlet", ResourceType.TCP_OUTLET
    )
    assert outlet.decide(ident[id(db1)]) and outlet.decide(ident[id(bare)])
    refused_default = outlet.decide(ident[id(stranger)])
    assert not refused_default and "(= subject.has_credential true)" in refused_default.reason
    assert isinstance(
        resource_access_control(s.server.secure_channels.attributes, None, "x", ResourceType.ECHOER), AllowAll
    )

    # expired: the stored attributes no longer count
    later = PolicyAccessControl(
        '(= subject.component "web")',
        s.server.secure_channels.attributes,
        s.authority.identifier,
        clock=lambda: _now() + 31 * 24 * 3600,
    )
    expired = later.decide(ident[id(web)])
    assert not expired and "has no valid credential" in expired.reason


async def test_access_controlled_worker_drops_refused_messages(setup: Setup) -> None:
    s = setup
    web = await s.member_node("web")
    db = await s.member_node("db")
    await s.admin_client.add_member(web.secure_channels.identity.identifier, {"component": "web"})
    await s.admin_client.add_member(db.secure_channels.identity.identifier, {"component": "db"})
    seen: list[object] = []

    class Service(Worker):
        async def handle_message(self, ctx: Context, msg: LocalMessage) -> None:
            seen.append(msg.local_info["identifier"])
            await ctx.forward(msg.reply(b"ok", ctx.address))

    api = s.server.secure_channels.listeners[Address.local("api")]
    await s.server.node.start_worker(
        "service", AccessControlledWorker(Service(), _web_policy(s)), consumes=(api.flow_control_id,)
    )
    for node, expected in ((web, True), (db, False)):
        channel = await _open(node, s.server)
        with node.node.context() as ctx:
            await ctx.send(channel + route("service"), b"hi")
            if expected:
                assert (await ctx.receive(5)).payload == b"ok"
            else:
                with pytest.raises(Exception, match="no message"):
                    await ctx.receive(0.3)
    assert seen == [web.secure_channels.identity.identifier]
    # outgoing check: the peer is the first secure channel on the route
    policy = _web_policy(s)
    assert policy.check_route(s.server.secure_channels, await _open(s.server, web) + route("echo"))
    assert not policy.check_route(s.server.secure_channels, await _open(s.server, db) + route("echo"))
    assert not policy.check_route(s.server.secure_channels, route("echo"))  # no secure channel


async def test_authority_answers_and_refusals(setup: Setup) -> None:
    s = setup
    member = await s.member_node("member")
    client = s.client(member)
    # not a member: no credential
    with pytest.raises(ApiError, match="unauthorized member") as e:
        await client.credential()
    assert e.value.status == 403
    await s.admin_client.add_member(member.secure_channels.identity.identifier, {"ockam-relay": "r1"})
    _, verified = await client.credential()
    assert verified.issuer == s.authority.identifier
    assert verified.attributes.schema == 1
    assert verified.attributes.text_map() == {"ockam-relay": "r1", "trust_context_id": PROJECT}
    assert verified.expires_at - verified.data.created_at == 30 * 24 * 3600
    # unknown path
    response = await client.request("credential_issuer", Request(path="/nothing", method="POST"))
    assert response.status == 400 and response.body[3] == "unknown path" and response.body[1] == "/nothing"
    # an expired token (ttl 0), a used one and an unknown one are three different refusals
    code = await s.admin_client.create_token({}, ttl_secs=0)
    late = s.client(await s.member_node("late"))
    with pytest.raises(ApiError, match="Unknown enrollment token"):
        await late.enroll(OneTimeCode.generate())
    with pytest.raises(ApiError, match="Expired enrollment token: the ticket expired at"):
        await late.enroll(code)
    # pre-trusted members cannot be deleted; enrollers can be created (no account authority)
    admin_id = s.admin.secure_channels.identity.identifier
    with pytest.raises(ApiError, match="pre trusted"):
        await s.admin_client.delete_member(admin_id)
    enroller = await s.member_node("enroller")
    await s.admin_client.add_member(enroller.secure_channels.identity.identifier, {"ockam-role": "enroller"})
    await s.client(enroller).create_token({"ockam-role": "enroller"})
    await s.admin_client.delete_member(member.secure_channels.identity.identifier)
    assert member.secure_channels.identity.identifier not in await s.admin_client.member_ids()
    await s.admin_client.delete_all_members()
    assert await s.admin_client.member_ids() == [admin_id]
    # only through a secure channel: a local message without an identifier gets 400 ...
    with s.authority.node.context() as ctx:
        await ctx.send(route("credential_issuer"), Request(path="/", method="POST").encode())
        answer = decode_response((await ctx.receive(5)).payload)
    assert answer.status == 400 and answer.re == 0 and answer.body == {3: "secure channel required"}
    # ... and plain TCP messages never reach the services
    conn = await member.tcp.connect(s.authority.listener_address)
    with member.node.context() as ctx:
        await ctx.send(route(conn.sender, "credential_issuer"), Request(path="/", method="POST").encode())
        with pytest.raises(Exception, match="no message"):
            await ctx.receive(0.3)
        await ctx.send(route(conn.sender, "echo"), b"x")
        with pytest.raises(Exception, match="no message"):
            await ctx.receive(0.3)


async def test_state_backed_authority(tmp_path: Path) -> None:
    state = State.open(tmp_path / "home")
    s = await _setup(state)
    try:
        member = await s.member_node("member")
        code = await s.admin_client.create_token({"k": "v"}, ttl_count=3)
        tokens = SqlEnrollmentTokens(state.db).list_tokens()
        assert [(t.one_time_code, t.ttl_count, dict(t.attributes)) for t in tokens] == [
            (code.hex, 3, {"k": "v"})
        ]
        assert len(tokens[0].reference or "") == 10
        await s.client(member).enroll(code)
        assert SqlEnrollmentTokens(state.db).list_tokens()[0].ttl_count == 2
        row = SqlAuthorityMembers(state.db).get_member(str(member.secure_channels.identity.identifier))
        assert row is not None and row.attributes == {b"k": b"v"} and not row.is_pre_trusted
        admin_row = SqlAuthorityMembers(state.db).get_member(str(s.admin.secure_channels.identity.identifier))
        assert admin_row is not None and admin_row.is_pre_trusted
        assert admin_row.added_by == str(s.authority.identifier)
    finally:
        for node in s.nodes:
            await node.stop()
        await s.authority.stop()
        state.close()


async def test_credentials_are_refreshed_before_expiry(setup: Setup) -> None:
    s = setup
    s.authority.authority.options.credential_ttl = 3
    member = await s.member_node("member")
    await s.admin_client.add_member(member.secure_channels.identity.identifier, {"n": "1"})
    retriever = RemoteCredentialRetriever(
        s.client(member), clock_skew_gap=1, proactive_gap=1, min_refresh_interval=0.2
    )
    member.secure_channels.credential_retriever = retriever
    try:
        await _open(member, s.server)
        first = s.server.secure_channels.attributes.get(
            member.secure_channels.identity.identifier, s.authority.identifier, now=_now()
        )
        assert first is not None and retriever.refreshes == 1
        await s.admin_client.add_member(member.secure_channels.identity.identifier, {"n": "2"})
        for _ in range(60):
            await asyncio.sleep(0.1)
            entry = s.server.secure_channels.attributes.get(
                member.secure_channels.identity.identifier, s.authority.identifier, now=_now()
            )
            if entry is not None and entry.get("n") == "2":
                break
        assert retriever.refreshes >= 2
        assert entry is not None and entry.get("n") == "2"
        assert entry.expires_at is not None and first.expires_at is not None
        assert entry.expires_at > first.expires_at
    finally:
        retriever.stop()


async def test_a_refused_member_is_asked_again_less_and_less_often(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    """issue 13: an identity the authority refuses gets the refusal at once while a retry
    is pending (no new request), retries back off (10 s, 20 s, 40 s... up to 10 min), and
    the reason is logged once."""
    s = setup
    stranger = await s.member_node("stranger")  # not a member
    retriever = RemoteCredentialRetriever(s.client(stranger), min_refresh_interval=0.05)
    try:
        with caplog.at_level(logging.WARNING, logger="ockam.credentials"):
            with pytest.raises(ApiError, match="unauthorized"):
                await retriever.retrieve()
            assert retriever.failures == 1
            with pytest.raises(ApiError):  # at once, from memory
                await retriever.retrieve()
            assert retriever.failures == 1
            await asyncio.sleep(0.4)  # background retries after 0.05 s, 0.1 s, 0.2 s
        assert 2 <= retriever.failures <= 4
        said = [r for r in caplog.records if "no credential from" in r.getMessage()]
        assert len(said) == 1
        # becoming a member: the next retry succeeds
        await s.admin_client.add_member(stranger.secure_channels.identity.identifier, {"n": "1"})
        retriever._retry_at = 0.0
        await retriever.retrieve()
        assert retriever.failure is None and retriever.refreshes == 1
    finally:
        retriever.stop()


def test_refresh_timing() -> None:
    assert refresh_delay(1000, None) == (0.0, False)
    assert refresh_delay(1000, 1060) == (0.0, False)  # within the clock-skew gap: unusable
    assert refresh_delay(1000, 1100) == (0.0, True)  # usable, refresh now
    assert refresh_delay(1000, 2000) == (880.0, True)
    assert refresh_delay(1000, 1000, is_retry=True) == (10.0, False)


async def test_account_authority_admin() -> None:
    account, account_key = generate_identity(now=_now() - 10)
    signing = SigningSecret.generate()
    attestation = create_purpose_key_attestation(
        account, account_key, CredentialSigningKey(signing.public_key()), now=_now() - 10
    )
    s = await _setup(account_authority=account, enforce_admin_checks=True)
    try:
        boss, boss_key = generate_identity(now=_now())
        credential: CredentialAndPurposeKey = issue_credential(
            attestation, signing, boss, {b"project": PROJECT.encode()}, now=_now()
        )
        boss_node = await start_node(NodeConfig("boss", identity=boss, signer=boss_key))
        s.nodes.append(boss_node)
        client = s.client(boss_node)
        client.credential_retriever = MemoryCredentialRetriever(credential)
        _, verified = await client.credential()
        assert verified.attributes.text_map() == {
            "ockam-relay": "*",
            "ockam-tls-certificate": "true",
            "trust_context_id": PROJECT,
        }
        await client.create_token({"ockam-role": "enroller"})  # admin
        # the pre-trusted enroller is no admin when admin checks are enforced
        with pytest.raises(ApiError, match="Not admin"):
            await s.admin_client.create_token({"ockam-role": "enroller"})
    finally:
        for node in s.nodes:
            await node.stop()
        await s.authority.stop()


async def test_relay_rules(setup: Setup) -> None:
    s = setup
    named = await s.member_node("named")
    anyone = await s.member_node("anyone")
    await s.admin_client.add_member(named.secure_channels.identity.identifier, {"ockam-relay": "r1"})
    await s.admin_client.add_member(anyone.secure_channels.identity.identifier, {"ockam-relay": "*"})
    await _open(named, s.server)
    await _open(anyone, s.server)
    store, authority = s.server.secure_channels.attributes, s.authority.identifier
    named_id, anyone_id = (
        named.secure_channels.identity.identifier,
        anyone.secure_channels.identity.identifier,
    )
    assert check_relay_name(store, authority, named_id, "r1", now=_now())
    refused = check_relay_name(store, authority, named_id, "r2", now=_now())
    assert not refused and "'r1', not 'r2'" in refused.reason
    assert check_relay_name(store, authority, anyone_id, "whatever", now=_now())
    assert check_relay_name(store, None, None, "x", now=_now())  # no authority: off
    assert not check_relay_name(store, authority, None, "x", now=_now())
    assert relay_access_control(store, authority).decide(named_id)
    assert isinstance(relay_access_control(store, None), AllowAll)
    assert relay_name_allowed(None, "x")[0] is False
    assert relay_name_allowed({b"ockam-relay": b"\xff"}, "x")[0] is False


def test_policies_lookup_and_helpers() -> None:
    policies = Policies.with_defaults()
    found = policies.lookup("outlet", ResourceType.TCP_OUTLET)
    assert found is not None and str(found[0]) == "(= subject.has_credential true)"
    policies.set_resource_policy("outlet", parse_policy("web and not guest"))
    found = policies.lookup("outlet", ResourceType.TCP_OUTLET)
    assert found is not None and "resource 'outlet'" in found[1]
    assert str(found[0]) == '(and (= subject.web "true") (not (= subject.guest "true")))'
    policies.delete_type_policy(ResourceType.RELAY)
    assert policies.lookup("forwarding_service", ResourceType.RELAY) is None
    assert ResourceType.parse("relay") is ResourceType.RELAY and ResourceType.RELAY.index == 6
    assert ResourceType.from_index(2) is ResourceType.TCP_OUTLET
    assert multiaddr_route("/dnsaddr/localhost/tcp/4000/service/api") == Route(
        (Address.tcp("localhost:4000"), Address.local("api"))
    )
    trusted = parse_trusted_identities('{"I' + "ab" * 32 + '": {"ockam-role": "enroller"}}')
    assert trusted == {"I" + "ab" * 32: {"ockam-role": "enroller"}}
    with pytest.raises(InvalidArgument):
        parse_trusted_identities('{"I00": {}}'.replace("I00", "x"))


async def test_authority_keys_from_the_vault_are_stable(tmp_path: Path) -> None:
    state = State.open(tmp_path / "home")
    try:
        create_named_identity(state, "authority")
        loaded = load_identity(state, "authority")
        signer, attestation = credential_signing_key(state, loaded)
        again_signer, again = credential_signing_key(state, load_identity(state, "authority"))
        assert again == attestation and again_signer.public_key() == signer.public_key()
        static_key, sc_attestation = secure_channel_key(state, loaded)
        running = await start_authority_node(
            AuthorityNodeConfig(
                tcp_listener_address="127.0.0.1:0",
                identity=loaded.identity,
                signer=loaded.signer,
                static_key=static_key,
                attestation=sc_attestation,
                credential_signer=signer,
                credential_attestation=attestation,
                options=AuthorityOptions(project_identifier=PROJECT),
                state=state,
            )
        )
        member = await start_node(NodeConfig("member"))
        try:
            running.authority.members.add_member(
                AuthorityMember(
                    str(member.secure_channels.identity.identifier), str(running.identifier), _now()
                )
            )
            client = AuthorityClient(
                member.secure_channels, running.route, running.identifier, tcp=member.tcp, timeout=5
            )
            credential, verified = await client.credential()
            assert credential.purpose_key_attestation == attestation
            assert verified.issuer == loaded.identity.identifier
        finally:
            await member.stop()
            await running.stop()
    finally:
        state.close()
