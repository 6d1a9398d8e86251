"""Projects without the cloud: nodes of one implementation join a project hosted by the
other with an enrollment ticket, then use its relay for an end-to-end portal.

* ours hosts: ``ockam enroll`` runs the project (authority node + project node) on this
  machine; ``project ticket`` makes the ticket; Rust's ``project enroll`` redeems it.
* Rust hosts, as far as its CLI goes without the Orchestrator: ``authority create``, a
  node with the project's identity and ``--authority-identity`` as the project node (its
  relay service then checks the authority's credentials), and a ``project import``ed
  project file naming both; Rust's ``project ticket`` makes the ticket, ours redeems it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import Cli, eventually, free_port
from .test_relays_and_portals import curl, http_server

pytestmark = pytest.mark.interop


def _portal_through_the_project(outlet_side: Cli, inlet_side: Cli, root: Path, page: bytes) -> None:
    with http_server(root) as web:
        outlet_side.ok("node", "create", "s")
        outlet_side.ok("tcp-outlet", "create", "--at", "s", "--to", f"127.0.0.1:{web}")
        assert "forward_to_s" in outlet_side.ok(
            "relay", "create", "s", "--at", "/project/default", "--to", "s"
        )
        inlet_side.ok("node", "create", "c")
        inlet = free_port()
        inlet_side.ok(
            "tcp-inlet", "create", "--at", "c", "--from", f"127.0.0.1:{inlet}",
            "--to", "/project/default/service/forward_to_s/secure/api/service/outlet",
        )  # fmt: skip
        assert eventually(lambda: curl(f"http://127.0.0.1:{inlet}/index.html", timeout=5) == page, 40)


@pytest.fixture
def site(tmp_path: Path) -> tuple[Path, bytes]:
    root = tmp_path / "www"
    root.mkdir()
    page = b"through the project's relay\n"
    (root / "index.html").write_bytes(page)
    return root, page


@pytest.mark.parametrize("outlet_on", ["rust", "ours"])
def test_rust_nodes_join_a_project_hosted_by_ours(
    rust: Cli, ours: Cli, site: tuple[Path, bytes], outlet_on: str
) -> None:
    ours.ok("enroll", timeout=180)
    ticket = ours.ok("project", "ticket", "--relay", "s").split()[-1]
    enrolled = rust.ok("project", "enroll", ticket)
    assert '"project_name": "default"' in enrolled or "default" in enrolled
    root, page = site
    if outlet_on == "rust":
        _portal_through_the_project(rust, ours, root, page)
    else:
        _portal_through_the_project(ours, rust, root, page)


def _host_a_rust_project(rust: Cli, tmp_path: Path) -> None:
    rust.ok("identity", "create", "admin")
    rust.ok("identity", "create", "project")
    rust.ok("identity", "create", "authority")
    authority = rust.identity_hex("authority")
    project_port, authority_port = free_port(), free_port()
    rust.ok(
        "node", "create", "project", "--identity", "project", "--authority-identity", authority,
        "--tcp-listener-address", f"127.0.0.1:{project_port}",
    )  # fmt: skip
    trusted = {rust.identifier("admin"): {"ockam-role": "enroller"}}
    rust.ok(
        "authority", "create", "--tcp-listener-address", f"127.0.0.1:{authority_port}",
        "--project-identifier", "1", "--trusted-identities", json.dumps(trusted),
    )  # fmt: skip
    project = {
        "id": "1",
        "name": "default",
        "space_name": "local",
        "access_route": f"/dnsaddr/127.0.0.1/tcp/{project_port}/service/api",
        "users": [],
        "space_id": "1",
        "identity": rust.identifier("project"),
        "project_change_history": rust.identity_hex("project"),
        "authority_access_route": f"/dnsaddr/127.0.0.1/tcp/{authority_port}/service/api",
        "authority_identity": authority,
        "version": "local",
        "running": False,
        "operation_id": None,
        "user_roles": [],
    }
    path = tmp_path / "project.json"
    path.write_text(json.dumps(project))
    rust.ok("project", "import", "--project-file", str(path))


@pytest.mark.parametrize("outlet_on", ["rust", "ours"])
def test_our_nodes_join_a_project_hosted_by_rust(
    rust: Cli, ours: Cli, site: tuple[Path, bytes], tmp_path: Path, outlet_on: str
) -> None:
    _host_a_rust_project(rust, tmp_path)
    ticket = rust.ok("project", "ticket", "--identity", "admin", "--relay", "s").split()[-1]
    assert "trust_context_id" in ours.ok("project", "enroll", ticket)
    if outlet_on == "rust":  # a Rust member too, with its own ticket
        rust.ok("identity", "create", "member")
        ticket = rust.ok("project", "ticket", "--identity", "admin", "--relay", "s").split()[-1]
        rust.ok("project", "enroll", ticket, "--identity", "member")
        rust.ok("identity", "default", "member")
    root, page = site
    if outlet_on == "rust":
        _portal_through_the_project(rust, ours, root, page)
    else:
        _portal_through_the_project(ours, rust, root, page)
