"""Credentials and authorities across implementations: issued by one, verified by the other;
an authority node of one whose members are nodes of both; policies that use them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from .conftest import Cli, eventually, free_port
from .test_relays_and_portals import curl, http_server

pytestmark = pytest.mark.interop


def test_a_credential_issued_by_one_is_verified_by_the_other(pair: tuple[Cli, Cli], tmp_path: Path) -> None:
    me, other = pair
    me.ok("identity", "create", "issuer")
    other.ok("identity", "create", "subject")
    # each side knows the other's identity (exported and imported)
    me.ok("identity", "create", "subject", "--identity", other.identity_hex("subject"))
    other.ok("identity", "create", "issuer", "--identity", me.identity_hex("issuer"))
    issuer, subject = me.identifier("issuer"), other.identifier("subject")
    credential = me.ok(
        "credential", "issue", "--as", "issuer", "--for", subject,
        "--attribute", "city=Paris", "--attribute", "role=web", "--encoding", "hex",
    ).split()[-1]  # fmt: skip
    path = tmp_path / "credential"
    path.write_text(credential)
    assert (
        other.ok("credential", "verify", "--issuer", issuer, "--credential-path", str(path)).split()[-1]
        == "true"
    )
    # and stored for the subject's node
    other.ok("credential", "store", "--issuer", issuer, "--credential-path", str(path), "--scope", "test")
    assert "Paris" in other.ok("credential", "list", "--output", "json")
    # a tampered credential does not verify
    bad = bytearray.fromhex(credential)
    bad[-3] ^= 1
    path.write_text(bad.hex())
    assert (
        other.ok("credential", "verify", "--issuer", issuer, "--credential-path", str(path)).split()[-1]
        == "false"
    )


def _refused(port: int) -> bool:
    """The inlet closes the client without an answer (its outlet side refuses it)."""
    try:
        curl(f"http://127.0.0.1:{port}/", timeout=5)
    except subprocess.CalledProcessError:
        return True
    except (TimeoutError, subprocess.TimeoutExpired):
        return True
    return False


def test_an_authority_of_one_with_members_of_both(pair: tuple[Cli, Cli], tmp_path: Path) -> None:
    """The other side runs the authority (``authority create``) and the outlet node; my nodes
    are its members, get their credentials from it, and present them: the outlet's policy
    lets the web member in and keeps the db member out."""
    me, other = pair
    for name in ("web", "db"):
        me.ok("identity", "create", name)
    other.ok("identity", "create", "server")
    other.ok("identity", "create", "authority")  # (what `authority create` runs as)
    trusted = {
        me.identifier("web"): {"role": "web"},
        me.identifier("db"): {"role": "db"},
        other.identifier("server"): {"role": "server"},
    }
    port = free_port()
    trust = (
        "--authority-identity", other.identity_hex("authority"),
        "--authority-route", f"/dnsaddr/127.0.0.1/tcp/{port}/service/api", "--credential-scope", "test",
    )  # fmt: skip
    root = tmp_path / "www"
    root.mkdir()
    (root / "index.html").write_text("members only\n")
    with http_server(root) as web:
        # (the nodes first: a Rust `authority create` node becomes the default node, which
        # later commands then wait for; ours is never the default)
        other.node("s", "--identity", "server", *trust)
        for member in ("web", "db"):
            me.node(member, "--identity", member, *trust)
        other.ok(
            "authority", "create", "--tcp-listener-address", f"127.0.0.1:{port}",
            "--project-identifier", "1", "--trusted-identities", json.dumps(trusted),
        )  # fmt: skip
        other.ok(
            "tcp-outlet",
            "create",
            "--at",
            "s",
            "--to",
            f"127.0.0.1:{web}",
            "--allow",
            '(= subject.role "web")',
        )
        inlets = {}
        for member in ("web", "db"):
            inlets[member] = free_port()
            me.ok(
                "tcp-inlet", "create", "--at", member, "--from", f"127.0.0.1:{inlets[member]}",
                "--to", f"{other.tcp('s')}/secure/api/service/outlet",
            )  # fmt: skip
        page = eventually(lambda: curl(f"http://127.0.0.1:{inlets['web']}/index.html", timeout=5), 40)
        assert page == b"members only\n"
        assert _refused(inlets["db"])
