"""CLI pieces of portals and relays: address parsing, ``--to``/``--at`` expansion, the
show/delete flow of named items."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from ockam.cli.items import ItemKind, delete_items, show_items
from ockam.cli.output import GlobalOpts, Terminal
from ockam.cli.params import parse_hostname_port
from ockam.cli.portal import DEFAULT_INLET_TO, parse_inlet_to
from ockam.cli.relay import parse_relay_at
from ockam.errors import InvalidArgument, NotFound, OckamError
from ockam.state import State


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("80", ("127.0.0.1", 80)),
        (":80", ("127.0.0.1", 80)),
        ("127.0.0.1:80", ("127.0.0.1", 80)),
        ("localhost:80", ("localhost", 80)),
        ("33domain:80", ("33domain", 80)),
        ("xn--74h.com:80", ("xn--74h.com", 80)),
        ("sub.xn_74h.com:80", ("sub.xn_74h.com", 80)),
        ("[::1]:8080", ("[::1]", 8080)),
        ("[2001:db8:85a3::8a2e:370:7334]:8080", ("[2001:db8:85a3::8a2e:370:7334]", 8080)),
    ],
)
def test_hostname_port_valid(text: str, expected: tuple[str, int]) -> None:
    assert parse_hostname_port(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "invalid",
        "localhost:80:80",
        "localhost:65536",
        "192,166,0.1:9999",
        "-leading-hyphen:80",
        "trailing-hyphen-:80",
        ".leading-dot:80",
        "trailing-dot.:80",
        "double..dots:80",
        "bad!chars:80",
        "with space:80",
        "slash/:80",
        ":80:80",
        "",
    ],
)
def test_hostname_port_invalid(text: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_hostname_port(text)


@pytest.fixture
def state(tmp_path: Path) -> Iterator[State]:
    with State.open(tmp_path / "home") as st:
        st.create_node("n1", tcp_listener_address="127.0.0.1:4000")
        yield st


def _add_project(state: State, name: str) -> None:
    state.db.execute(
        "INSERT INTO project (project_id, project_name, is_default, space_id, space_name, access_route)"
        " VALUES (?, ?, 1, '', '', '')",
        (name, name),
    )


def test_inlet_to_routes(state: State) -> None:
    assert parse_inlet_to(state, "/node/n1/service/outlet", None) == "/ip4/127.0.0.1/tcp/4000/service/outlet"
    assert (
        parse_inlet_to(state, "/node/n1/secure/api/service/o", None)
        == "/ip4/127.0.0.1/tcp/4000/secure/api/service/o"
    )
    route = "/worker/603b62d245c9119d584ba3d874eb8108/service/forward_to_n3/service/hop/service/outlet"
    assert parse_inlet_to(state, route, None) == route
    # a single /service/x is kept as it is (as the Rust CLI does)
    assert parse_inlet_to(state, "/service/outlet", None) == "/service/outlet"
    with pytest.raises(InvalidArgument, match="via"):
        parse_inlet_to(state, "/node/n1/service/outlet", "r1")
    with pytest.raises(NotFound):
        parse_inlet_to(state, "/node/nope/service/outlet", None)
    # names and the default route need a project
    with pytest.raises(InvalidArgument, match="No projects"):
        parse_inlet_to(state, "myoutlet", None)
    with pytest.raises(InvalidArgument, match="No projects"):
        parse_inlet_to(state, DEFAULT_INLET_TO, None)
    with pytest.raises(InvalidArgument, match="route"):
        parse_inlet_to(state, "/alice/service", None)


def test_inlet_to_with_a_default_project(state: State) -> None:
    _add_project(state, "p1")
    assert (
        parse_inlet_to(state, DEFAULT_INLET_TO, None)
        == "/project/p1/service/forward_to_default/secure/api/service/outlet"
    )
    assert (
        parse_inlet_to(state, "myoutlet", None)
        == "/project/p1/service/forward_to_default/secure/api/service/myoutlet"
    )
    assert (
        parse_inlet_to(state, DEFAULT_INLET_TO, "myrelay")
        == "/project/p1/service/forward_to_myrelay/secure/api/service/outlet"
    )
    assert (
        parse_inlet_to(state, "myoutlet", "myrelay")
        == "/project/p1/service/forward_to_myrelay/secure/api/service/myoutlet"
    )
    # a plain name is relay forward_to_<name> when that relay answers (no --via)
    relays = {("p1", "postgres"), ("p1", "default")}

    def exists(project: str, names: list[str]) -> set[str]:
        return {n for n in names if (project, n) in relays}

    assert (
        parse_inlet_to(state, "postgres", None, exists)
        == "/project/p1/service/forward_to_postgres/secure/api/service/outlet"
    )
    assert (
        parse_inlet_to(state, "myoutlet", None, exists)
        == "/project/p1/service/forward_to_default/secure/api/service/myoutlet"
    )
    assert (
        parse_inlet_to(state, "postgres", "myrelay", exists)
        == "/project/p1/service/forward_to_myrelay/secure/api/service/postgres"
    )
    # neither forward_to_<name> nor forward_to_default: an error when a relay is required
    relays.discard(("p1", "default"))
    assert parse_inlet_to(state, "myoutlet", None, exists).endswith(
        "forward_to_default/secure/api/service/myoutlet"
    )
    with pytest.raises(NotFound, match="no relay forward_to_myoutlet"):
        parse_inlet_to(state, "myoutlet", None, exists, require_relay=True)
    full = "/project/p2/service/forward_to_n1/secure/api/service/myoutlet"
    assert parse_inlet_to(state, full, None) == full
    with pytest.raises(InvalidArgument):
        parse_inlet_to(state, full, "myrelay")


def test_relay_at(state: State) -> None:
    assert parse_relay_at(state, "n1") == "/ip4/127.0.0.1/tcp/4000"
    assert parse_relay_at(state, "/node/n1") == "/ip4/127.0.0.1/tcp/4000"
    assert parse_relay_at(state, "/project/p1") == "/project/p1"
    with pytest.raises(InvalidArgument, match="enroll"):
        parse_relay_at(state, "/project/$DEFAULT_PROJECT_NAME")
    with pytest.raises(OckamError):
        parse_relay_at(state, "/alice/service")
    with pytest.raises(OckamError):
        parse_relay_at(state, "my/project")
    with pytest.raises(NotFound):
        parse_relay_at(state, "alice")
    _add_project(state, "p1")
    assert parse_relay_at(state, "/project/$DEFAULT_PROJECT_NAME") == "/project/p1"


KIND = ItemKind("tcp inlet", "tcp inlets", "No TCP Inlet alias provided")


def _terminal() -> tuple[Terminal, io.StringIO]:
    out = io.StringIO()
    return Terminal(GlobalOpts(), stdout=out, stderr=io.StringIO()), out


def test_show_items() -> None:
    term, out = _terminal()
    shown: list[str] = []
    show_items(term, KIND, [], "x", shown.append)
    assert out.getvalue() == "[]" and shown == []
    show_items(term, KIND, ["a", "b"], "b", shown.append)
    assert shown == ["b"]
    with pytest.raises(NotFound, match="The tcp inlet c was not found"):
        show_items(term, KIND, ["a", "b"], "c", shown.append)
    with pytest.raises(InvalidArgument, match="No TCP Inlet alias provided"):
        show_items(term, KIND, ["a"], None, shown.append)


def test_delete_items() -> None:
    term, out = _terminal()
    deleted: list[str] = []
    delete_items(term, KIND, [], "x", True, deleted.append)
    assert out.getvalue() == "[]" and deleted == []
    delete_items(term, KIND, ["a", "b"], "a", True, deleted.append)
    assert deleted == ["a"]
    with pytest.raises(NotFound, match="not found"):
        delete_items(term, KIND, ["a", "b"], "c", True, deleted.append)
    with pytest.raises(InvalidArgument, match="--yes"):
        delete_items(term, KIND, ["a", "b"], "a", False, deleted.append)
    # without a name and without a terminal: nothing is deleted
    delete_items(term, KIND, ["a", "b"], None, True, deleted.append)
    assert deleted == ["a"]
    delete_items(term, KIND, ["a", "b"], None, True, deleted.append, delete_all=True)
    assert deleted == ["a", "a", "b"]
