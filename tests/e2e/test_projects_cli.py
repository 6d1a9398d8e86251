"""Projects, authorities and enrollment through the real ``ockam`` command: ``ockam
enroll`` (a project on this machine), the quick start, tickets for another
``OCKAM_HOME``, project members, restarts, and ``authority create``."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .conftest import Ockam, free_port

pytestmark = pytest.mark.e2e


def wait_for(check: Callable[[], bool], timeout: float, interval: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def http_head_ok(port: int) -> bool:
    """``curl --head 127.0.0.1:<port>`` succeeds (a raw HEAD without curl)."""
    if shutil.which("curl"):
        proc = subprocess.run(
            ["curl", "-sS", "--head", "-m", "5", f"127.0.0.1:{port}"],
            capture_output=True,
            timeout=10,
            check=False,
        )
        return proc.returncode == 0 and proc.stdout.startswith(b"HTTP/1.0 200")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"HEAD / HTTP/1.0\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.0 200")
    except OSError:
        return False


def shell(ockam: Ockam, script: str, timeout: float = 60) -> str:
    """Run a shell pipeline with ``ockam`` on PATH and this test's OCKAM_HOME."""
    env = dict(ockam.env)
    env["PATH"] = str(Path(ockam.exe).parent) + os.pathsep + env.get("PATH", "")
    proc = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, env=env, timeout=timeout, cwd=ockam.home
    )
    assert proc.returncode == 0, f"{script!r} exited {proc.returncode}: {proc.stderr.strip()}"
    return proc.stdout


def reset(ockam: Ockam) -> None:
    try:
        ockam.run("reset", "--yes", timeout=60)
    except subprocess.TimeoutExpired:
        pass


@pytest.fixture
def enrolled(ockam: Ockam) -> Iterator[Ockam]:
    """A home where ``ockam enroll`` created the ``default`` project (reset afterwards:
    ``node delete --all`` keeps the project's nodes)."""
    ockam.home.mkdir(parents=True, exist_ok=True)
    try:
        ockam.ok("enroll", timeout=120)
        yield ockam
    finally:
        reset(ockam)


@pytest.fixture
def other_home(tmp_path: Path) -> Iterator[Ockam]:
    other = Ockam(tmp_path / "other-home")
    other.home.mkdir(parents=True, exist_ok=True)
    try:
        yield other
    finally:
        reset(other)


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[int]:
    port = free_port()
    root = tmp_path / "www"
    root.mkdir()
    (root / "index.html").write_text("hello from the application service\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_for(lambda: _connects(port), 10)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _connects(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _node(ockam: Ockam, name: str) -> dict[str, object]:
    nodes = json.loads(ockam.ok("node", "list", "--output", "json"))
    found = [n for n in nodes if n["node_name"] == name]
    assert found, f"no node {name} in {nodes}"
    node: dict[str, object] = found[0]
    return node


# -- ockam enroll --------------------------------------------------------------------------


def test_enroll_creates_a_local_project(enrolled: Ockam) -> None:
    project = json.loads(enrolled.ok("project", "information", "--output", "json"))
    assert project["name"] == "default"
    route = project["access_route"]
    assert route.startswith("/dnsaddr/127.0.0.1/tcp/") and route.endswith("/service/api")
    # a project id of its own (tickets carry it)
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", project["id"])
    assert project["authority_access_route"].startswith("/dnsaddr/127.0.0.1/tcp/")
    assert project["identity"].startswith("I") and project["project_change_history"]
    assert project["authority_identity"] and project["running"] is True
    assert project["users"] == [] and project["user_roles"] == []
    # authority node and project node run in the background, and are never the default node
    for name in ("default-authority", "default-project"):
        node = _node(enrolled, name)
        assert node["status"]["status"] == "running"  # type: ignore[index]
        assert node["is_default"] is False
    listed = json.loads(enrolled.ok("project", "list", "--output", "json"))
    assert [p["name"] for p in listed] == ["default"]
    assert json.loads(enrolled.ok("project", "show"))["id"] == project["id"]
    # the administrator is a member with the enroller role and any relay name
    admin = enrolled.ok("identity", "show").strip()
    member = json.loads(enrolled.ok("project-member", "show", admin, "--output", "json"))
    assert member["attributes"]["attributes"] == {"ockam-relay": "*", "ockam-role": "enroller"}
    credential = json.loads(enrolled.ok("project", "enroll", "--output", "json"))
    assert credential["credential"]["attributes"]["ockam-relay"] == "*"
    assert credential["credential"]["attributes"]["trust_context_id"] == project["id"]


def test_enroll_is_idempotent_and_restarts_the_project(enrolled: Ockam) -> None:
    before = json.loads(enrolled.ok("project", "information", "--output", "json"))
    code, out, err = enrolled.run("enroll")
    assert code == 0, err
    assert "already enrolled" in err
    assert json.loads(out)["access_route"] == before["access_route"]
    enrolled.ok("node", "stop", "default-authority")
    enrolled.ok("node", "stop", "default-project")
    enrolled.ok("enroll", timeout=120)
    for name in ("default-authority", "default-project"):
        assert _node(enrolled, name)["status"]["status"] == "running"  # type: ignore[index]
    after = json.loads(enrolled.ok("project", "information", "--output", "json"))
    assert after["access_route"] == before["access_route"]
    assert after["authority_access_route"] == before["authority_access_route"]


def test_node_delete_all_keeps_the_project_nodes(enrolled: Ockam) -> None:
    enrolled.ok("node", "create", "n1")
    assert _node(enrolled, "n1")["is_default"] is True
    enrolled.ok("node", "delete", "--all", "--yes")
    names = [n["node_name"] for n in json.loads(enrolled.ok("node", "list", "--output", "json"))]
    assert sorted(names) == ["default-authority", "default-project"]
    enrolled.ok(
        "relay", "create", "r1", "--at", "/project/default", "--to", enrolled.ok("node", "create", "n2")
    )


def test_spaces(ockam: Ockam) -> None:
    line = ockam.fail("space", "create")
    assert "Please enroll using 'ockam enroll' before using this command" in line
    ockam.home.mkdir(parents=True, exist_ok=True)
    try:
        ockam.ok("enroll", timeout=120)
        assert ockam.ok("space", "create", "blue").strip() == "blue"
        names = [s["name"] for s in json.loads(ockam.ok("space", "list", "--output", "json"))]
        assert names == ["default", "blue"]
    finally:
        reset(ockam)


# -- the quick start, verbatim -------------------------------------------------------------


def test_quick_start(enrolled: Ockam, http_server: int) -> None:
    inlet = free_port()
    enrolled.ok("project", "information", "--output", "json")
    shell(enrolled, "ockam project information --output json > default-project.json")
    enrolled.ok("node", "create", "s", "--project", str(enrolled.home / "default-project.json"))
    enrolled.ok(
        "tcp-outlet",
        "create",
        "--at",
        "/node/s",
        "--from",
        "/service/outlet",
        "--to",
        f"127.0.0.1:{http_server}",
    )
    enrolled.ok("forwarder", "create", "s", "--at", "/project/default", "--to", "/node/s")
    enrolled.ok("node", "create", "c", "--project", str(enrolled.home / "default-project.json"))
    shell(
        enrolled,
        "ockam secure-channel create --from /node/c --to /project/default/service/forward_to_s/service/api"
        f" | ockam tcp-inlet create --at /node/c --from 127.0.0.1:{inlet} --to -/service/outlet",
    )
    assert wait_for(lambda: http_head_ok(inlet), 20)
    # the member nodes fetched their credentials from the project's authority
    project = json.loads((enrolled.home / "default-project.json").read_text())
    logs = "".join(p.read_text() for p in (enrolled.home / "nodes" / "s").glob("stdout*"))
    assert "retrieved a new credential" in logs
    assert project["name"] == "default"


def test_through_a_relay_and_a_temporary_node(enrolled: Ockam) -> None:
    """The "Through a Relay" guide, after `node delete --all`, and `message send` from a
    temporary node through `/project/default`."""
    enrolled.ok("node", "delete", "--all", "--yes")
    shell(enrolled, "ockam project information --output json > project.json")
    enrolled.ok("node", "create", "a", "--project", str(enrolled.home / "project.json"))
    enrolled.ok("node", "create", "b", "--project", str(enrolled.home / "project.json"))
    assert enrolled.ok("forwarder", "create", "b", "--at", "/project/default", "--to", "/node/a") == (
        "/service/forward_to_b"
    )
    out = shell(
        enrolled,
        "ockam secure-channel create --from a --to /project/default/service/forward_to_b/service/api"
        " | ockam message send hello --from a --to -/service/uppercase",
    )
    assert out == "HELLO"
    reply = enrolled.ok(
        "message", "send", "hi", "--to", "/project/default/service/forward_to_b/service/uppercase"
    )
    assert reply == "HI"


# -- tickets, another OCKAM_HOME -----------------------------------------------------------


def test_ticket_enrolls_another_home(enrolled: Ockam, other_home: Ockam) -> None:
    ticket = enrolled.ok("project", "ticket", "--relay", "r2", "--attribute", "team=blue").strip()
    assert ticket and all(c in "0123456789abcdef" for c in ticket)
    joined = json.loads(other_home.ok("project", "enroll", ticket, timeout=120))
    assert joined["project_name"] == "default"
    attributes = joined["credential"]["attributes"]
    assert attributes["ockam-relay"] == "r2" and attributes["team"] == "blue"
    # the other home now has the project as its default one: its nodes are members
    other_home.ok("node", "create", "x")
    assert other_home.ok("relay", "create", "r2", "--to", "x") == "/service/forward_to_r2"
    reply = enrolled.ok(
        "message", "send", "hi", "--to", "/project/default/service/forward_to_r2/service/uppercase"
    )
    assert reply == "HI"
    # the member is known to the authority, added by the administrator
    ids = [m["identifier"] for m in json.loads(enrolled.ok("project-member", "list-ids", "--output", "json"))]
    member = other_home.ok("identity", "show").strip()
    assert member in ids


def test_node_create_with_an_enrollment_ticket(enrolled: Ockam, other_home: Ockam) -> None:
    ticket = enrolled.ok("project", "ticket", "--relay", "y").strip()
    assert other_home.ok("node", "create", "y", "--enrollment-ticket", ticket, timeout=120).strip() == "y"
    assert other_home.ok("relay", "create", "y", "--to", "y") == "/service/forward_to_y"
    reply = enrolled.ok(
        "message", "send", "hi", "--to", "/project/default/service/forward_to_y/service/uppercase"
    )
    assert reply == "HI"


def test_ticket_past_its_usage_count_is_refused(enrolled: Ockam, other_home: Ockam, tmp_path: Path) -> None:
    ticket = enrolled.ok("project", "ticket", "--usage-count", "1").strip()
    path = tmp_path / "ticket.txt"
    path.write_text(ticket)
    other_home.ok("project", "enroll", str(path), timeout=120)  # a ticket in a file
    third = Ockam(tmp_path / "third-home")
    third.home.mkdir(parents=True)
    try:
        line = third.fail("project", "enroll", ticket, "--quiet")
        assert "Used enrollment token" in line
        expired = enrolled.ok("project", "ticket", "--expires-in", "1s").strip()
        time.sleep(2)
        assert "Expired enrollment token" in third.fail("project", "enroll", expired, "--quiet")
        # a failed enrollment leaves the home as it was
        assert json.loads(third.ok("project", "list", "--output", "json")) == []
    finally:
        reset(third)


def test_project_members(enrolled: Ockam, other_home: Ockam) -> None:
    member = other_home.ok("identity", "create", "m").strip()
    added = json.loads(
        enrolled.ok(
            "project-member", "add", member, "--attribute", "k=v", "--relay", "m1", "--output", "json"
        )
    )
    assert added == {
        "project": "default",
        "identifier": member,
        "attributes": {"k": "v", "ockam-relay": "m1"},
    }
    listed = json.loads(enrolled.ok("project-member", "list", "--output", "json"))
    entry = next(m for m in listed if m["identifier"] == member)
    admin = enrolled.ok("identity", "show").strip()
    assert entry["attributes"]["attested_by"] == admin
    enrollers = json.loads(enrolled.ok("project-member", "list", "--enrollers", "--output", "json"))
    assert [m["identifier"] for m in enrollers] == [admin]
    assert "value expected in attribute novalue" in enrolled.fail(
        "project-member", "add", member, "-a", "novalue"
    )
    enrolled.ok("project-member", "delete", member)
    ids = [m["identifier"] for m in json.loads(enrolled.ok("project-member", "list-ids", "--output", "json"))]
    assert ids == [admin]


def test_everything_survives_a_restart_of_every_node(enrolled: Ockam, other_home: Ockam) -> None:
    ticket = enrolled.ok("project", "ticket", "--relay", "*").strip()
    other_home.ok("project", "enroll", ticket, timeout=120)
    other_home.ok("node", "create", "x")
    other_home.ok("relay", "create", "rx", "--to", "x")
    member = other_home.ok("identity", "show").strip()
    project = enrolled.ok("project", "information", "--output", "json")
    nodes = ["default-authority", "default-project"]
    for name in nodes:
        enrolled.ok("node", "stop", name)
    other_home.ok("node", "stop", "x")
    for name in nodes:
        enrolled.ok("node", "start", name, timeout=120)
    other_home.ok("node", "start", "x", timeout=120)
    assert enrolled.ok("project", "information", "--output", "json") == project
    ids = [m["identifier"] for m in json.loads(enrolled.ok("project-member", "list-ids", "--output", "json"))]
    assert member in ids
    # the restarted member node registers its relay again at the restarted project node
    other_home.ok("relay", "create", "ry", "--to", "x")
    reply = enrolled.ok(
        "message", "send", "hi", "--to", "/project/default/service/forward_to_ry/service/uppercase"
    )
    assert reply == "HI"


# -- authority create + project import -----------------------------------------------------


def _project_json(ockam: Ockam, authority_port: int) -> Path:
    authority_full = ockam.ok("identity", "show", "--full", "--encoding", "hex", "authority").strip()
    project_full = ockam.ok("identity", "show", "--full", "--encoding", "hex", "p").strip()
    project_id = ockam.ok("identity", "show", "p").strip()
    path = ockam.home / "project.json"
    path.write_text(
        json.dumps(
            {
                "id": "1",
                "name": "default",
                "space_name": "s",
                "access_route": "/dnsaddr/127.0.0.1/tcp/4000/service/api",
                "users": [],
                "space_id": "1",
                "identity": project_id,
                "project_change_history": project_full,
                "authority_access_route": f"/dnsaddr/127.0.0.1/tcp/{authority_port}/service/api",
                "authority_identity": authority_full,
                "version": None,
                "running": False,
                "operation_id": None,
                "user_roles": [],
            }
        )
    )
    return path


def test_authority_create_members_and_tickets(ockam: Ockam) -> None:
    for name in ("authority", "enroller", "p", "m1", "m2"):
        ockam.ok("identity", "create", name)
    enroller = ockam.ok("identity", "show", "enroller").strip()
    port = free_port()
    trusted = json.dumps({enroller: {"ockam-role": "enroller"}})
    ockam.ok(
        "authority", "create", "--tcp-listener-address", f"127.0.0.1:{port}", "--project-identifier", "1",
        "--trusted-identities", trusted,
    )  # fmt: skip
    shown = json.loads(ockam.ok("node", "show", "authority", "--output", "json"))
    assert shown["status"] == "running"
    path = _project_json(ockam, port)
    assert "Successfully imported project default" in ockam.ok(
        "project", "import", "--project-file", str(path)
    )
    ticket = ockam.ok(
        "project", "ticket", "--identity", "enroller", "--usage-count", "2", "-a", "group=g"
    ).strip()
    for member in ("m1", "m2"):
        out = json.loads(ockam.ok("project", "enroll", ticket, "--identity", member))
        assert out["credential"]["attributes"]["group"] == "g"
        assert out["identity"]["name"] == member
    # a non-enroller cannot create tickets
    assert "Non-enroller" in ockam.fail("project", "ticket", "--identity", "m1", "--quiet")
    # members survive a restart of the authority
    ockam.ok("node", "stop", "authority")
    ockam.ok("node", "start", "authority")
    ids = [
        m["identifier"] for m in json.loads(ockam.ok("project-member", "list-ids", "--identity", "enroller"))
    ]
    assert ockam.ok("identity", "show", "m2").strip() in ids
    assert len(ids) == 3
    ockam.ok("node", "delete", "authority", "--yes")


def test_authority_create_bad_input(ockam: Ockam) -> None:
    assert "trusted identities" in ockam.fail(
        "authority", "create", "--project-identifier", "1", "--trusted-identities", "{not json"
    )
    port = free_port()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        line = ockam.fail(
            "authority",
            "create",
            "-t",
            f"127.0.0.1:{port}",
            "--project-identifier",
            "1",
            "--trusted-identities",
            "{}",
        )
        assert "failed to start" in line


def test_node_create_trust_options(ockam: Ockam) -> None:
    assert "project" in ockam.fail("node", "create", "n", "--project", "nope")
    line = ockam.fail("node", "create", "n", "--authority-route", "/dnsaddr/localhost/tcp/1/service/api")
    assert "authority identity is unknown" in line


# -- seed 001: the documentation's short commands ------------------------------------------


def _psql_select_1(port: int) -> str:
    """``psql --host localhost --port <port> -c 'SELECT 1'`` (as ``postgres``, unaligned)."""
    argv = ["psql", "-X", "-A", "-t", "-U", "postgres", "-d", "postgres"]
    proc = subprocess.run(
        [*argv, "-h", "localhost", "-p", str(port), "-c", "SELECT 1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PGCONNECT_TIMEOUT": "10"},
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


@pytest.mark.parametrize("homes", ["one home", "two homes"])
def test_seed_001_short_commands(
    homes: str,
    ockam: Ockam,
    other_home: Ockam,
    postgres: int,
) -> None:
    """`tcp-outlet create --to <port>`, `relay create postgres`, then `tcp-inlet create --from
    <port> --to postgres` reaches the outlet through relay `forward_to_postgres` (the node
    finds the relay), in the same home or in another one joined by a project ticket."""
    server = ockam
    server.home.mkdir(parents=True, exist_ok=True)
    try:
        server.ok("enroll", timeout=120)
        client = server
        if homes == "two homes":
            ticket = server.ok("project", "ticket").strip()
            other_home.ok("project", "enroll", ticket, timeout=120)
            client = other_home
        server.ok("tcp-outlet", "create", "--to", str(postgres))
        server.ok("relay", "create", "postgres")
        inlet = free_port()
        client.ok("tcp-inlet", "create", "--from", str(inlet), "--to", "postgres")
        [created] = json.loads(client.ok("tcp-inlet", "list", "--output", "json"))
        assert (
            created["outlet_addr"] == "/project/default/service/forward_to_postgres/secure/api/service/outlet"
        )
        assert _psql_select_1(inlet) == "1"
        # without such a relay, a name keeps the Rust meaning: an outlet behind relay `default`
        client.ok("tcp-inlet", "create", "--to", "db", "--alias", "rust", "--no-connection-wait")
        rust = json.loads(client.ok("tcp-inlet", "show", "rust", "--output", "json"))
        assert rust["outlet_addr"] == "/project/default/service/forward_to_default/secure/api/service/db"
    finally:
        reset(server)


# -- seed 002: secure channels from the command line, every block, after `ockam enroll` -----


def test_seed_002_every_block_after_enroll(enrolled: Ockam, tmp_path: Path) -> None:
    ockam = enrolled
    # hello
    ockam.ok("node", "create", "n1")
    ockam.ok("node", "create", "n2")
    channel = ockam.ok("secure-channel", "create", "--from", "n1", "--to", "/node/n2/service/api").strip()
    assert (
        ockam.ok("message", "send", "hello", "--from", "n1", "--to", f"{channel}/service/uppercase")
        == "HELLO"
    )
    assert (
        shell(
            ockam,
            "ockam secure-channel create --from n1 --to /node/n2/service/api"
            " | ockam message send hello --from n1 --to -/service/uppercase",
        ).strip()
        == "HELLO"
    )
    # through a relay
    ockam.ok("node", "delete", "--all", "--yes")
    shell(ockam, "ockam project information --output json > project.json")
    ockam.ok("node", "create", "a", "--project", str(ockam.home / "project.json"))
    ockam.ok("node", "create", "b", "--project", str(ockam.home / "project.json"))
    assert ockam.ok("forwarder", "create", "b", "--at", "/project/default", "--to", "/node/a").strip() == (
        "/service/forward_to_b"
    )
    assert (
        shell(
            ockam,
            "ockam secure-channel create --from a --to /project/default/service/forward_to_b/service/api"
            " | ockam message send hello --from a --to -/service/uppercase",
        ).strip()
        == "HELLO"
    )
    # mutual authorization: identities that are not members of the project
    ockam.ok("node", "delete", "--all", "--yes")
    started = time.monotonic()
    out = shell(
        ockam,
        """
        ockam identity create i1
        ockam identity show i1 > i1.identifier
        ockam node create n1 --identity i1
        ockam identity create i2
        ockam identity show i2 > i2.identifier
        ockam node create n2 --identity i2
        ockam secure-channel-listener create l --at n2 --identity i2 --authorized $(cat i1.identifier)
        ockam secure-channel create --from n1 --to /node/n2/service/l --identity i1 --authorized $(cat i2.identifier) \\
          | ockam message send hello --from n1 --to -/service/uppercase
        """,
        timeout=90,
    )
    assert out.strip().endswith("HELLO")
    assert time.monotonic() - started < 45
    # the listener still refuses an identity it does not list
    ockam.ok("identity", "create", "i3")
    channel = ockam.run(
        "secure-channel", "create", "--from", "n1", "--to", "/node/n2/service/l", "--identity", "i3"
    )
    if channel[0] == 0:
        code, _, _ = ockam.run(
            "message",
            "send",
            "x",
            "--timeout",
            "3s",
            "--from",
            "n1",
            "--to",
            f"{channel[1].strip()}/service/uppercase",
        )
        assert code != 0


# -- refusals reach the user in seconds, with the reason, as one line and a non-zero exit --


def test_refusals_are_one_line_errors_in_seconds(enrolled: Ockam, other_home: Ockam) -> None:
    host = enrolled
    member = other_home
    ticket = host.ok("project", "ticket").strip()  # no relay permission
    member.ok("project", "enroll", ticket, timeout=120)
    member.ok("node", "create", "s")
    cases = [
        (["relay", "create", "web"], "has no 'ockam-relay' attribute"),
        (["relay", "create", "web", "--at", "/project/nosuch"], "nosuch was not found"),
        (
            ["tcp-inlet", "create", "--from", str(free_port()), "--to", "nosuchrelay"],
            "no relay forward_to_nosuchrelay",
        ),
        (["message", "send", "hi", "--to", "/node/s/service/uppercas"], "no service uppercas on node s"),
    ]
    for args, reason in cases:
        started = time.monotonic()
        line = member.fail(*args)
        assert reason in line, line
        assert time.monotonic() - started < 15, args
    # nothing was left behind to retry forever
    assert json.loads(member.ok("relay", "list", "--output", "json")) == []
    assert json.loads(member.ok("tcp-inlet", "list", "--output", "json")) == []
    # with a ticket that allows it, the relay is made
    ticket = host.ok("project", "ticket", "--relay", "web").strip()
    other = other_home
    other.ok("identity", "create", "web")
    other.ok("project", "enroll", ticket, "--identity", "web", timeout=120)
    other.ok("node", "create", "w", "--identity", "web")
    assert "forward_to_web" in other.ok("relay", "create", "web", "--at", "/project/default", "--to", "w")


def test_status_shows_identities_projects_and_nodes(enrolled: Ockam) -> None:
    status = json.loads(enrolled.ok("status", "--output", "json"))
    admin = enrolled.ok("identity", "show").strip()
    [me] = [i for i in status["identities"] if i["identifier"] == admin]
    assert me["is_default"] and me["status"] == "enrolled"
    [project] = status["projects"]
    assert project["name"] == "default" and project["is_default"]
    assert project["hosted_here"]["project_node"] == "default-project"
    assert {n["name"] for n in status["nodes"]} >= {"default-project", "default-authority"}
