"""Credentials and policies through the real ``ockam`` command: ``credential
issue/verify/store/list``, ``policy create/show/list/delete``, trust anchors on nodes,
and the policies of outlets and inlets refusing identities without (valid) credentials
or attributes, with the refusals explained in the node logs and to the CLI user."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from glob import glob
from pathlib import Path

import pytest

from .conftest import Ockam, free_port
from .test_portals_cli import http_get, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def web(tmp_path: Path) -> Iterator[int]:
    """``python3 -m http.server`` on 127.0.0.1 serving ``/hello.txt``."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "hello.txt").write_text("hello\n")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_for(lambda: http_get(port, "/hello.txt", 1) is not None, 10)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def node_log(ockam: Ockam, name: str) -> str:
    return "".join(
        Path(p).read_text(errors="replace") for p in glob(str(ockam.home / "nodes" / name / "stdout*"))
    )


def identity(ockam: Ockam, name: str) -> str:
    ockam.ok("identity", "create", name)
    return ockam.ok("identity", "show", name).strip()


# -- credentials --------------------------------------------------------------------------


def test_credential_issue_verify_store_and_list(ockam: Ockam, tmp_path: Path) -> None:
    issuer = identity(ockam, "issuer")
    subject = identity(ockam, "subject")
    hex_credential = ockam.ok(
        "credential", "issue", "--as", "issuer", "--for", subject,
        "--attribute", "city=New York", "--attribute", "role=a=b", "--encoding", "hex",
    ).strip()  # fmt: skip
    path = tmp_path / "credential"
    path.write_text(hex_credential + "\n")

    shown = json.loads(
        ockam.ok("credential", "issue", "--as", "issuer", "--for", subject, "--output", "json")
    )
    assert shown["subject"] == subject and shown["issuer"] == issuer
    assert shown["expires_at"] - shown["created_at"] == 30 * 60
    assert shown["attributes"] == {}

    assert ockam.ok("credential", "verify", "--issuer", issuer, "--credential", hex_credential) == "true"
    assert ockam.ok("credential", "verify", "--issuer", issuer, "--credential-path", str(path)) == "true"
    out = ockam.ok(
        "credential", "verify", "--issuer", issuer, "--credential", hex_credential, "--output", "json"
    )
    assert json.loads(out) == {"is_valid": True}
    # another issuer, or garbage: false, and still a success
    assert ockam.ok("credential", "verify", "--issuer", subject, "--credential", hex_credential) == "false"
    assert ockam.ok("credential", "verify", "--issuer", issuer, "--credential", "aabbcc") == "false"

    stored = ockam.ok(
        "credential", "store", "--issuer", issuer, "--credential-path", str(path), "--scope", "s"
    )
    assert stored == hex_credential
    listed = ockam.ok("credential", "list")
    assert '"city": "New York"' in listed and '"role": "a=b"' in listed
    entries = json.loads(listed)
    assert entries[0]["scope"] == "s" and entries[0]["credential"]["subject"] == subject

    error = ockam.fail(
        "credential", "store", "--issuer", subject, "--credential", hex_credential, "--scope", "s"
    )
    assert error.startswith("Error: Credential is not verified")
    assert "not a trusted authority" in error
    error = ockam.fail("credential", "issue", "--as", "issuer", "--for", "I" + "00" * 32)
    assert "is not known" in error
    error = ockam.fail("credential", "issue", "--as", "issuer", "--for", subject, "--attribute", "novalue")
    assert "key=value" in error


def test_expired_credential_is_not_valid(ockam: Ockam) -> None:
    issuer = identity(ockam, "issuer")
    subject = identity(ockam, "subject")
    credential = ockam.ok(
        "credential", "issue", "--as", "issuer", "--for", subject, "--ttl", "1s", "--encoding", "hex"
    ).strip()
    time.sleep(2.1)
    assert ockam.ok("credential", "verify", "--issuer", issuer, "--credential", credential) == "false"
    error = ockam.fail("credential", "store", "--issuer", issuer, "--credential", credential, "--scope", "s")
    assert error == "Error: Credential is not verified: the credential has expired"


# -- policies -----------------------------------------------------------------------------


def test_policy_commands_and_user_type_policies_survive_a_restart(ockam: Ockam) -> None:
    ockam.ok("node", "create", "n")
    ockam.ok("policy", "create", "--at", "n", "--resource-type", "tcp-outlet", "--allow", "web and not guest")
    ockam.ok(
        "policy", "create", "--at", "n", "--resource", "db", "--expression", '(= subject.component "db")'
    )

    shown = json.loads(ockam.ok("policy", "show", "tcp-outlet", "--at", "n"))
    assert shown == {
        "resource": "tcp-outlet",
        "action": "handle_message",
        "expression": '(and (= subject.web "true") (not (= subject.guest "true")))',
    }
    listed = json.loads(ockam.ok("policy", "list", "--at", "n"))
    assert {p["resource"] for p in listed} == {
        "db", "tcp-inlet", "tcp-outlet", "echoer", "kafka-consumer", "kafka-producer", "relay", "lessor",
    }  # fmt: skip

    # A Rust node rewrites the type policies at every start; ours keeps the user's.
    ockam.ok("node", "stop", "n")
    ockam.ok("node", "start", "n")
    shown = json.loads(ockam.ok("policy", "show", "tcp-outlet", "--at", "n"))
    assert shown["expression"] == '(and (= subject.web "true") (not (= subject.guest "true")))'

    ockam.ok("policy", "delete", "db", "--at", "n", "--yes")
    assert json.loads(ockam.ok("policy", "show", "db", "--at", "n")) == []
    ockam.ok("policy", "delete", "echoer", "--at", "n", "--yes")
    assert "No policies on Node n" in ockam.ok("policy", "list", "echoer", "--at", "n")

    error = ockam.fail("policy", "create", "--at", "n", "--resource", "x", "--allow", "a and")
    assert (
        "invalid value 'a and'" in error and "successfully parsed: `a`, but ` and` cannot be parsed" in error
    )
    error = ockam.fail("policy", "create", "--at", "n", "--resource-type", "nope", "--allow", "a")
    assert "Valid values are: tcp-inlet, tcp-outlet" in error


# -- enforcement --------------------------------------------------------------------------


def test_outlet_policy_refusals_are_explained_in_the_node_log(ockam: Ockam, web: int) -> None:
    authority = identity(ockam, "authority")
    authority_hex = ockam.ok("identity", "show", "authority", "--full", "--encoding", "hex").strip()
    trust = ["--authority-identity", authority_hex]
    # (the server needs a credential too: the members' inlets check the outlet side)
    members = {"server": "-", "paris": "Paris", "york": "New York", "expired": "Paris"}
    ids: dict[str, str] = {}
    for name in (*members, "stranger"):
        ids[name] = identity(ockam, name)
    # members present the credential stored for them (scope "m"); the stranger has none
    for name, city in members.items():
        ockam.ok("node", "create", name, "--identity", name, *trust, "--credential-scope", "m")
        ttl = "4s" if name == "expired" else "30m"
        credential = ockam.ok(
            "credential", "issue", "--as", "authority", "--for", ids[name],
            "--attribute", f"city={city}", "--ttl", ttl, "--encoding", "hex",
        ).strip()  # fmt: skip
        ockam.ok(
            "credential",
            "store",
            "--at",
            name,
            "--issuer",
            authority,
            "--credential",
            credential,
            "--scope",
            "m",
        )
    ockam.ok("node", "create", "stranger", "--identity", "stranger", *trust)
    ockam.ok(
        "tcp-outlet", "create", "--at", "server", "--to", str(web), "--allow", '(= subject.city "Paris")'
    )

    ports = {}
    for name in ("expired", "paris", "york", "stranger"):
        ports[name] = free_port()
        ockam.ok(
            "tcp-inlet", "create", "--at", name, "--from", str(ports[name]),
            "--to", "/node/server/secure/api/service/outlet",
        )  # fmt: skip
    assert http_get(ports["paris"], "/hello.txt") == b"hello\n"
    assert http_get(ports["york"], "/hello.txt", timeout=2) is None
    assert http_get(ports["stranger"], "/hello.txt", timeout=2) is None
    time.sleep(max(0.0, 4.5))  # the `expired` member's credential is over
    assert http_get(ports["expired"], "/hello.txt", timeout=2) is None
    assert http_get(ports["paris"], "/hello.txt") == b"hello\n"

    log = node_log(ockam, "server")
    policy = "by the policy of resource 'outlet' (= subject.city \"Paris\")"
    refusals = [line for line in log.splitlines() if "access to tcp-outlet 'outlet' denied" in line]
    assert any(
        ids["york"] in line and policy in line and 'subject.city is "New York"' in line for line in refusals
    )
    no_credential = f"has no valid credential from the authority {authority}"
    assert any(ids["stranger"] in line and policy in line and no_credential in line for line in refusals)
    assert any(ids["expired"] in line and policy in line and no_credential in line for line in refusals)
    assert not any(ids["paris"] in line for line in refusals)


def test_inlet_policy_refusal_is_explained_to_the_cli_user(ockam: Ockam, web: int) -> None:
    ockam.ok("node", "create", "server")
    ockam.ok("node", "create", "client")
    server_id = json.loads(ockam.ok("node", "show", "server", "--output", "json"))["identity_name"]
    server_identifier = ockam.ok("identity", "show", server_id).strip()
    ockam.ok("tcp-outlet", "create", "--at", "server", "--to", str(web))

    port = free_port()
    code, _, err = ockam.run(
        "tcp-inlet", "create", "--at", "client", "--from", str(port),
        "--to", "/node/server/secure/api/service/outlet", "--alias", "picky",
        "--allow", '(= subject.identifier "I0000")',
    )  # fmt: skip
    assert code == 0, err
    assert f"access to tcp-inlet 'picky' denied to {server_identifier}" in err
    assert '(= subject.identifier "I0000")' in err
    assert http_get(port, "/hello.txt", timeout=2) is None

    port = free_port()
    ockam.ok(
        "tcp-inlet", "create", "--at", "client", "--from", str(port),
        "--to", "/node/server/secure/api/service/outlet", "--alias", "fine",
        "--allow", f'(= subject.identifier "{server_identifier}")',
    )  # fmt: skip
    assert http_get(port, "/hello.txt") == b"hello\n"


def test_outlet_allowing_one_identity_and_inlet_with_that_identity(ockam: Ockam, web: int) -> None:
    ockam.ok("node", "create", "n")
    alt = identity(ockam, "alt")
    ockam.ok(
        "tcp-outlet", "create", "--at", "n", "--to", str(web), "--allow", f'(= subject.identifier "{alt}")'
    )
    plain, node_identity, as_alt = free_port(), free_port(), free_port()
    ockam.ok("tcp-inlet", "create", "--at", "n", "--from", str(plain), "--to", "/node/n/service/outlet")
    ockam.ok(
        "tcp-inlet",
        "create",
        "--at",
        "n",
        "--from",
        str(node_identity),
        "--to",
        "/node/n/secure/api/service/outlet",
    )
    ockam.ok(
        "tcp-inlet", "create", "--at", "n", "--from", str(as_alt),
        "--to", "/node/n/secure/api/service/outlet", "--identity", "alt",
    )  # fmt: skip
    assert http_get(plain, "/hello.txt", timeout=2) is None
    assert http_get(node_identity, "/hello.txt", timeout=2) is None
    assert http_get(as_alt, "/hello.txt") == b"hello\n"
    log = node_log(ockam, "n")
    assert "the message did not arrive through a secure channel" in log
    assert os.path.exists(ockam.home)
