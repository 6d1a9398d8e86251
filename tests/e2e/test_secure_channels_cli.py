"""Identities, vaults and secure channels through the real ``ockam`` command."""

from __future__ import annotations

import json
import stat

from .conftest import Ockam


def _mode(path: object) -> int:
    from pathlib import Path

    return stat.S_IMODE(Path(str(path)).stat().st_mode)


def test_hello_secure_channels(ockam: Ockam) -> None:
    ockam.ok("node", "create", "n1")
    ockam.ok("node", "create", "n2")
    address = ockam.ok("secure-channel", "create", "--from", "n1", "--to", "/node/n2/service/api").strip()
    assert address.startswith("/service/") and len(address) == len("/service/") + 32
    reply = ockam.ok("message", "send", "hello", "--from", "n1", "--to", f"{address}/service/uppercase")
    assert reply.strip() == "HELLO"
    reply = ockam.ok(
        "message", "send", "hello", "--from", "n1", "--to", "/node/n2/secure/api/service/uppercase"
    )
    assert reply.strip() == "HELLO"
    assert address in ockam.ok("secure-channel", "list", "--at", "n1")
    ockam.ok("secure-channel", "delete", address, "--at", "n1", "--yes")
    assert address not in ockam.ok("secure-channel", "list", "--at", "n1")


def test_mutual_authorization(ockam: Ockam) -> None:
    ockam.ok("identity", "create", "i1")
    ockam.ok("identity", "create", "i2")
    i1 = ockam.ok("identity", "show", "i1").strip()
    i2 = ockam.ok("identity", "show", "i2").strip()
    ockam.ok("node", "create", "n1", "--identity", "i1")
    ockam.ok("node", "create", "n2", "--identity", "i2")
    ockam.ok("secure-channel-listener", "create", "l", "--at", "n2", "--identity", "i2", "--authorized", i1)
    assert "/service/l" in ockam.ok("secure-channel-listener", "list", "--at", "n2")
    address = ockam.ok(
        "secure-channel",
        "create",
        "--from",
        "n1",
        "--to",
        "/node/n2/service/l",
        "--identity",
        "i1",
        "--authorized",
        i2,
    ).strip()
    reply = ockam.ok("message", "send", "hello", "--from", "n1", "--to", f"{address}/service/uppercase")
    assert reply.strip() == "HELLO"
    # the wrong peer identifier is refused, with one line on stderr
    line = ockam.fail(
        "secure-channel", "create", "--from", "n1", "--to", "/node/n2/service/l", "--authorized", i1
    )
    assert "not authorized" in line
    # the node's identity is in use
    assert "cannot be deleted" in ockam.fail("identity", "delete", "i1", "--yes")


def test_vault_and_identity_commands(ockam: Ockam) -> None:
    ockam.ok("vault", "create", "v1")
    ockam.ok("vault", "create", "v2")
    shown = json.loads(ockam.ok("vault", "show", "v1", "--output", "json"))
    assert shown["vault"]["name"] == "v1"
    assert shown["vault"]["vault_type"] == {"DatabaseVault": {"use_aws_kms": "No"}}
    listed = json.loads(ockam.ok("vault", "list", "--output", "json"))
    assert [v["vault"]["name"] for v in listed] == ["v1", "v2"]
    ockam.fail("vault", "move", "v1", "--path", str(ockam.home / "elsewhere"))
    ockam.ok("identity", "create", "i", "--vault", "v2")
    ockam.fail("vault", "delete", "v2", "--yes")
    exported = ockam.ok("identity", "show", "i", "--full", "--encoding", "hex").strip()
    identifier = ockam.ok("identity", "show", "i").strip()
    ockam.ok("identity", "delete", "i", "--yes")
    ockam.ok("vault", "delete", "v2", "--yes")
    ockam.fail("vault", "show", "v2")
    ockam.ok("identity", "create", "back", "--identity", exported)
    assert ockam.ok("identity", "show", "back").strip() == identifier
    assert "'back'" in ockam.run("identity", "default")[1]
    # private files only
    assert _mode(ockam.home) == 0o700
    for path in ockam.home.iterdir():
        if path.is_file():
            assert _mode(path) & 0o077 == 0, path


def test_node_identity_is_stable_across_restarts(ockam: Ockam) -> None:
    ockam.ok("node", "create", "n")
    default = ockam.ok("identity", "default").strip()
    assert default
    identifier = ockam.ok("identity", "show").strip()
    ockam.ok("node", "stop", "n")
    ockam.ok("node", "start", "n")
    assert ockam.ok("identity", "show").strip() == identifier
    show = json.loads(ockam.ok("node", "show", "n", "--output", "json"))
    assert show["identity_name"]
