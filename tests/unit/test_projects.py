"""Project records, storing them, trust options, tickets, and the ``/project`` pass of the
connection builder."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from ockam.api.projects import (
    Project,
    ProjectModel,
    create_ticket,
    get_project,
    import_identity,
    project_lookup,
    read_ticket,
    store_project,
    trust_options,
)
from ockam.api.resolve import ProjectAccess, resolve_multiaddr
from ockam.codec.address import Address
from ockam.codec.multiaddr import Component, MultiAddr
from ockam.codec.route import Route
from ockam.errors import DecodeError, IdentityError, InvalidArgument, NotFound, RouteError
from ockam.identity import Identity, generate_identity, rotate_identity
from ockam.protocol.authority import OneTimeCode
from ockam.protocol.ticket import decode_legacy_ticket
from ockam.state import State
from ockam.state.identities import Identities
from ockam.state.projects import Enrollments, Projects, Spaces
from ockam.transport.tcp import TcpConnection, TcpTransport


def _identity() -> Identity:
    return generate_identity(now=int(time.time()))[0]


@pytest.fixture
def state(tmp_path: Path) -> State:
    return State.open(tmp_path / "home")


def _model(name: str = "default", project_id: str = "p1", port: int = 4000) -> ProjectModel:
    project, authority = _identity(), _identity()
    return ProjectModel(
        id=project_id,
        name=name,
        space_name="space",
        access_route=f"/dnsaddr/localhost/tcp/{port}/service/api",
        space_id="s1",
        identity=str(project.identifier),
        authority_access_route=f"/dnsaddr/localhost/tcp/{port + 1}/service/api",
        authority_identity=authority.export_hex(),
        running=True,
        project_change_history=project.export_hex(),
    )


# -- the record ------------------------------------------------------------------------------


def test_model_json_round_trip_in_serde_order() -> None:
    model = _model()
    data = model.to_json()
    assert list(data) == [
        "id",
        "name",
        "space_name",
        "access_route",
        "users",
        "space_id",
        "identity",
        "authority_access_route",
        "authority_identity",
        "version",
        "running",
        "operation_id",
        "user_roles",
        "project_change_history",
    ]
    assert ProjectModel.from_json(json.loads(json.dumps(data))) == model
    extra = dict(data, okta_config={"x": 1}, unknown="ignored")
    parsed = ProjectModel.from_json(extra)
    assert parsed.okta_config == {"x": 1}
    assert list(parsed.to_json()).index("okta_config") == 9


@pytest.mark.parametrize(
    "change",
    [
        {"users": None},
        {"user_roles": "x"},
        {"name": 3},
        {"running": "yes"},
        {"identity": "Inothex"},
    ],
)
def test_model_rejects_bad_fields(change: dict[str, object]) -> None:
    data = dict(_model().to_json(), **change)
    with pytest.raises(DecodeError):
        ProjectModel.from_json(data)


def test_verify_checks_identities_and_routes() -> None:
    model = _model()
    project = Project.verify(model)
    assert project.is_ready()
    assert str(project.project_identifier) == model.identity
    assert project.to_json()["access_address"] == "localhost:4000"
    assert project.to_json()["egress_allow_list"] == ["localhost:4000", "localhost:4001"]
    other = _identity()
    with pytest.raises(IdentityError):
        Project.verify(ProjectModel(**{**model.__dict__, "identity": str(other.identifier)}))
    with pytest.raises(IdentityError):
        Project.verify(ProjectModel(**{**model.__dict__, "authority_identity": "00ff"}))
    with pytest.raises(DecodeError):
        Project.verify(ProjectModel(**{**model.__dict__, "access_route": "/service/api"}))
    not_ready = Project.verify(ProjectModel(id="x", name="x"))
    assert not not_ready.is_ready()
    with pytest.raises(NotFound):
        not_ready.access()


# -- storing ---------------------------------------------------------------------------------


def test_store_project_default_rules_and_identities(state: State) -> None:
    first = store_project(state, Project.verify(_model("default", "p1")))
    second = store_project(state, Project.verify(_model("other", "p2", 5000)))
    assert first.is_default and not second.is_default
    assert get_project(state, None).project_id == "p1"
    assert get_project(state, "other").project_id == "p2"
    with pytest.raises(NotFound):
        get_project(state, "nope")
    # both identities are known, the space is stored
    ids = Identities(state)
    assert ids.change_history(str(first.project_identifier)) == first.model.project_change_history
    assert ids.change_history(str(first.authority_identifier)) == first.model.authority_identity
    assert [s.space_name for s in Spaces(state.db).list_all()] == ["space"]
    # storing again keeps the default flag and the local nodes
    local = Project.verify(_model("mine", "p3", 6000))
    local.authority_node, local.project_node = "a", "p"
    store_project(state, local, make_default=True)
    again = store_project(state, Project.verify(local.model))
    assert again.is_default and again.is_local and again.project_node == "p"
    assert Projects(state.db).hosted_by("a") is not None
    Projects(state.db).delete("p3")
    assert Projects(state.db).default() is not None


def test_import_identity_keeps_the_newest_history(state: State) -> None:
    identity, signer = generate_identity(now=int(time.time()))
    from ockam.protocol.crypto import SigningSecret

    rotated = rotate_identity(identity, signer, SigningSecret.generate(), now=int(time.time()) + 1)
    import_identity(state, rotated)
    import_identity(state, identity)  # older: ignored
    assert Identities(state).change_history(str(identity.identifier)) == rotated.export_hex()


def test_enrollments(state: State) -> None:
    enrollments = Enrollments(state.db)
    assert not enrollments.is_enrolled("I00")
    enrollments.set_enrolled("I00", now=5)
    assert enrollments.is_enrolled("I00") and enrollments.enrolled_at("I00") == 5


def test_nodes_hosting_a_project_are_never_default(state: State) -> None:
    state.create_node("authority", settings={"hosts_project": "default"})
    assert state.default_node() is None
    state.create_node("n1")
    state.create_node("n2")
    assert state.require_default_node().name == "n1"
    state.remove_node("n1")
    assert state.require_default_node().name == "n2"
    state.remove_node("n2")
    assert state.default_node() is None


def test_project_lookup(state: State) -> None:
    store_project(state, Project.verify(_model()))
    access = project_lookup(state)("default")
    assert str(access.route) == "/dnsaddr/localhost/tcp/4000/service/api"
    assert access.identity is not None and access.identity.identifier == access.identifier
    with pytest.raises(NotFound):
        project_lookup(state)("nope")


# -- trust options ---------------------------------------------------------------------------


def test_trust_options(state: State) -> None:
    assert trust_options(state).is_empty
    authority = _identity()
    explicit = trust_options(state, authority_identity=authority.export_hex())
    assert explicit.authority is not None and explicit.authority_route is None
    cached = trust_options(state, authority_identity=authority.export_hex(), credential_scope="s")
    assert cached.scope == "s" and cached.authority_route is None
    remote = trust_options(
        state,
        authority_identity=authority.export_hex(),
        authority_route="/dnsaddr/localhost/tcp/1/service/api",
        credential_scope="s",
    )
    assert remote.authority_route == "/dnsaddr/localhost/tcp/1/service/api"
    with pytest.raises(InvalidArgument, match="credential scope"):
        trust_options(
            state,
            authority_identity=authority.export_hex(),
            authority_route="/dnsaddr/localhost/tcp/1/service/api",
        )
    with pytest.raises(InvalidArgument, match="authority identity is unknown"):
        trust_options(state, authority_route="/dnsaddr/localhost/tcp/1/service/api")
    with pytest.raises(InvalidArgument, match="Both"):
        trust_options(state, "p", authority_identity=authority.export_hex())
    with pytest.raises(InvalidArgument):
        trust_options(state, authority_identity="zz")
    with pytest.raises(NotFound):
        trust_options(state, "nope")
    stored = store_project(state, Project.verify(_model()))
    by_default = trust_options(state)
    assert by_default.authority is not None
    assert by_default.authority.identifier == stored.authority_identifier
    assert by_default.scope == "project-member-p1"
    assert by_default.authority_route == "/dnsaddr/localhost/tcp/4001/service/api"
    assert trust_options(state, use_default_project=False).is_empty


# -- tickets ---------------------------------------------------------------------------------


def test_ticket_round_trip() -> None:
    model = _model(project_id="2f0b3bc6-1f5e-4a35-9b34-0a5f7a6c9d11")
    project = Project.verify(model)
    code = OneTimeCode.generate()
    ticket = create_ticket(project, code)
    legacy = decode_legacy_ticket(ticket)
    assert legacy.project is not None
    # the record keeps the project's id (Rust 0.139 would put the route host's first label)
    assert legacy.project["id"] == "2f0b3bc6-1f5e-4a35-9b34-0a5f7a6c9d11"
    assert legacy.project["space_id"] == model.space_id and legacy.project["users"] == []
    read_code, read_project = read_ticket(ticket)
    assert read_code == code
    assert read_project.name == "default"
    assert read_project.model.authority_access_route == model.authority_access_route
    assert read_project.project_identifier == project.project_identifier
    assert read_project.is_ready()
    with pytest.raises(InvalidArgument):
        read_ticket("not a ticket")
    with pytest.raises(InvalidArgument):
        create_ticket(
            Project.verify(ProjectModel(**{**model.__dict__, "project_change_history": None})), code
        )
    # any access route the project has (an IPv6 address, say)
    ipv6 = ProjectModel(**{**model.__dict__, "access_route": "/ip6/::1/tcp/4000/service/api"})
    assert read_ticket(create_ticket(Project.verify(ipv6), code))[1].model.access_route.startswith(
        "/ip6/::1/"
    )


# -- the /project pass -----------------------------------------------------------------------


class _FakeProjects:
    def __init__(self) -> None:
        self.asked: list[str] = []
        self.closed: list[Address] = []

    async def __call__(self, route: Route, component: Component) -> Address:
        return Address.local(f"secure-{component.value}")

    async def resolve_project(self, name: str, tcp: TcpTransport) -> tuple[Address, TcpConnection | None]:
        self.asked.append(name)
        return Address.local("enc"), None

    async def close(self, address: Address) -> None:
        self.closed.append(address)


async def test_project_pass_replaces_the_prefix() -> None:
    from ockam.node.runtime import Node

    hook = _FakeProjects()
    async with Node("t") as node:
        tcp = TcpTransport.create(node)
        ma = MultiAddr.parse("/project/default/service/forward_to_s/secure/api/service/outlet")
        conn = await resolve_multiaddr(ma, tcp, hook)
        assert hook.asked == ["default"]
        assert [a.text for a in conn.route.addresses] == ["secure-api", "outlet"]
        assert conn.created == [Address.local("enc"), Address.local("secure-api")]
        await conn.close(tcp)
        assert hook.closed == [Address.local("secure-api"), Address.local("enc")]
        with pytest.raises(RouteError):
            await resolve_multiaddr(ma, tcp, None)


def test_project_access_is_a_plain_record() -> None:
    identity = _identity()
    access = ProjectAccess(
        "p", "id", MultiAddr.parse("/dnsaddr/h/tcp/1/service/api"), identity.identifier, identity
    )
    assert access.name == "p" and access.identity is identity


def test_a_local_project_is_not_replaced_by_a_foreign_one(state: State) -> None:
    local = Project.verify(_model("default", "localhost"))
    local.authority_node, local.project_node = "default-authority", "default-project"
    store_project(state, local)
    # the same record (e.g. `project information --output json` imported again) is fine
    again = store_project(state, Project.verify(local.model))
    assert again.is_local
    with pytest.raises(InvalidArgument, match="same id"):
        store_project(state, Project.verify(_model("default", "localhost", 7000)))
