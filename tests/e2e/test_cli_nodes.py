"""The ``ockam`` CLI on real processes: node lifecycle, transports, services, bad input."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from .conftest import Ockam

pytestmark = pytest.mark.e2e


def _show(ockam: Ockam, name: str) -> dict[str, object]:
    data = json.loads(ockam.ok("node", "show", name, "--output", "json"))
    assert isinstance(data, dict)
    return data


def _list(ockam: Ockam) -> list[dict[str, object]]:
    data = json.loads(ockam.ok("node", "list", "--output", "json"))
    assert isinstance(data, list)
    return data


def _wait_gone(pid: int, timeout: float = 10) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rpartition(")")[2].split()[0] == "Z":
                    return
        except FileNotFoundError:
            return
        time.sleep(0.05)


def test_create_list_show_stop_start_delete(ockam: Ockam) -> None:
    # piped output of `node create` is the node name
    assert ockam.ok("node", "create", "n1") == "n1"
    show = _show(ockam, "n1")
    assert show["name"] == "n1" and show["status"] == "running" and show["is_default"] is True
    route = show["route"]
    assert isinstance(route, dict) and route["short"] == "/node/n1"
    assert re.fullmatch(r"/dnsaddr/localhost/tcp/\d+", str(route["verbose"]))
    services = show["services"]
    assert isinstance(services, list)
    assert {"addr": "uppercase", "type": "uppercase"} in services
    assert {"addr": "echo", "type": "echo"} in services
    # without --output json a pipe gets the JSON too (no machine form)
    assert '"name": "n1"' in ockam.ok("node", "show", "n1")
    assert ockam.ok("node", "show", "n1", "--jq", ".name") == '"n1"'

    listed = _list(ockam)
    assert listed == [
        {
            "node_name": "n1",
            "status": {"status": "running", "pid": show["pid"]},
            "pid": show["pid"],
            "is_default": True,
        }
    ]

    assert "n1 was stopped" in ockam.ok("node", "stop", "n1")
    assert _list(ockam)[0]["status"] == {"status": "stopped"}
    stopped = _show(ockam, "n1")
    assert stopped["status"] == "stopped" and stopped["services"] == []

    started = json.loads(ockam.ok("node", "start", "n1"))
    assert started["name"] == "n1" and started["status"] == "running"
    assert started["route"] == route
    assert {"addr": "echo", "type": "echo"} in started["services"]

    assert ockam.ok("node", "delete", "n1", "--yes") == "n1"
    assert _list(ockam) == []
    assert not (ockam.home / "nodes" / "n1").exists()


def test_restart_keeps_name_and_listener(ockam: Ockam) -> None:
    port = _free_port()
    ockam.ok("node", "create", "n1", "--tcp-listener-address", f"127.0.0.1:{port}")
    assert _show(ockam, "n1")["transports"][0]["socket_addr"] == f"127.0.0.1:{port}"  # type: ignore[index]
    ockam.ok("node", "stop", "n1")
    ockam.ok("node", "start", "n1")
    show = _show(ockam, "n1")
    assert show["route"] == {"short": "/node/n1", "verbose": f"/dnsaddr/localhost/tcp/{port}"}
    assert ockam.ok("message", "send", "hi", "--to", "/node/n1/service/uppercase") == "HI"


def test_background_node_logs_and_default_rules(ockam: Ockam) -> None:
    name = ockam.ok("node", "create")
    assert re.fullmatch(r"[a-z]+-[a-z]+", name)
    ockam.ok("node", "create", "n2")
    logs = os.listdir(ockam.home / "nodes" / name)
    assert any("stdout" in f for f in logs)
    assert ockam.ok("node", "logs", name).startswith(str(ockam.home / "nodes" / name))
    # the first node is the default; deleting it makes the oldest remaining one the default
    assert [n["node_name"] for n in _list(ockam) if n["is_default"]] == [name]
    ockam.ok("node", "default", "n2")
    assert [n["node_name"] for n in _list(ockam) if n["is_default"]] == ["n2"]
    ockam.ok("node", "delete", "n2", "--yes")
    assert [n["node_name"] for n in _list(ockam) if n["is_default"]] == [name]


def test_sigkill_then_list_delete_and_recreate(ockam: Ockam) -> None:
    ockam.ok("node", "create", "n1")
    pid = _show(ockam, "n1")["pid"]
    assert isinstance(pid, int)
    os.kill(pid, signal.SIGKILL)
    _wait_gone(pid)
    assert _list(ockam)[0]["status"]["status"] in ("stopped", "zombie")  # type: ignore[index]
    ockam.ok("node", "create", "n1")
    assert _show(ockam, "n1")["status"] == "running"
    ockam.ok("node", "delete", "n1", "--yes")
    ockam.ok("node", "create", "n1")
    assert ockam.ok("message", "send", "a", "--to", "/node/n1/service/echo") == "a"


def test_foreground_node(ockam: Ockam) -> None:
    proc = subprocess.Popen(
        [ockam.exe, "node", "create", "fg", "-f", "--exit-on-eof"],
        env=ockam.env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            code, out, _ = ockam.run("node", "show", "fg", "--output", "json")
            if code == 0 and '"running"' in out:
                break
            time.sleep(0.2)
        assert _show(ockam, "fg")["status"] == "running"
        assert not (ockam.home / "nodes" / "fg").exists()
        # a second foreground node with the same name fails
        assert "already running" in ockam.fail("node", "create", "fg", "-f")
        assert proc.stdin is not None
        proc.stdin.close()  # EOF stops the node
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert _list(ockam)[0]["status"] == {"status": "stopped"}


def test_messages_services_and_workers(ockam: Ockam) -> None:
    ockam.ok("node", "create", "n1")
    ockam.ok("node", "create", "n2")
    assert ockam.ok("message", "send", "hello", "--to", "/node/n1/service/uppercase") == "HELLO"
    assert (
        ockam.ok("message", "send", "hello", "--from", "/node/n1", "--to", "/node/n2/service/echo") == "hello"
    )
    assert (
        ockam.ok("message", "send", "6869", "--hex", "--from", "n1", "--to", "/node/n2/service/echo")
        == "6869"
    )
    ockam.ok("service", "start", "hop", "--addr", "h1", "--at", "n1")
    ockam.fail("service", "start", "hop", "--addr", "h1", "--at", "n1")
    services = json.loads(ockam.ok("service", "list", "--at", "n1"))
    assert {"addr": "h1", "type": "hop"} in services
    assert ockam.ok("message", "send", "hi", "--to", "/node/n1/service/h1/service/echo") == "hi"
    assert "uppercase" in ockam.ok("worker", "list", "--at", "n1")
    # stdin substitution
    assert ockam.ok("message", "send", "x", "--to", "-/service/echo", input="/node/n2\n") == "x"


def test_tcp_listener_and_connection_crud(ockam: Ockam) -> None:
    port = _free_port()
    addr = f"127.0.0.1:{port}"
    ockam.ok("node", "create", "n1", "--tcp-listener-address", addr)
    created = json.loads(
        ockam.ok("tcp-connection", "create", "--from", "n1", "--to", addr, "--output", "json")
    )
    assert created["from"] == "n1" and created["to"] == addr
    assert re.fullmatch(r"/worker/[0-9a-f]{32}", created["address"])
    assert re.fullmatch(
        r"/worker/[0-9a-f]{32}", ockam.ok("tcp-connection", "create", "--from", "n1", "--to", addr)
    )
    assert addr in ockam.ok("tcp-connection", "list", "--at", "n1")
    assert addr in ockam.ok("tcp-connection", "show", "--at", "n1", addr)
    ockam.ok("tcp-connection", "delete", "--at", "n1", addr, "--yes")

    other = f"127.0.0.1:{_free_port()}"
    assert re.search(r"/dnsaddr/localhost/tcp/\d+", ockam.ok("tcp-listener", "create", other, "--at", "n1"))
    assert other in ockam.ok("tcp-listener", "list", "--at", "n1")
    assert other in ockam.ok("tcp-listener", "show", "--at", "n1", other)
    ockam.ok("tcp-listener", "delete", "--at", "n1", other, "--yes")
    assert other not in ockam.ok("tcp-listener", "list", "--at", "n1")
    assert "not found" in ockam.fail("tcp-listener", "delete", "--at", "n1", other, "--yes")


def test_http_server(ockam: Ockam) -> None:
    ockam.ok("node", "create", "n1", "--http-server")
    http = _show(ockam, "n1")["http_server_address"]
    assert isinstance(http, str) and re.fullmatch(r"127\.0\.0\.1:\d+", http)
    with urllib.request.urlopen(f"http://{http}/show", timeout=5) as resp:
        assert json.loads(resp.read())["name"] == "n1"
    ockam.ok("node", "create", "n2")
    assert _show(ockam, "n2")["http_server_address"] is None


def test_config_file_and_inline_configuration(ockam: Ockam) -> None:
    ockam.home.mkdir(parents=True, exist_ok=True)
    assert ockam.run("node", "create", "node.yaml")[0] != 0
    config = ockam.home / "node.yaml"
    config.write_text("name: n1\n")
    ockam.ok("node", "create", str(config))
    assert _show(ockam, "n1")["status"] == "running"
    os.environ.pop("OCKAM_TEST_PORT", None)
    port = _free_port()
    ockam.ok(
        "node",
        "create",
        "--configuration",
        "{name: n2, tcp-listener-address: '127.0.0.1:${OCKAM_TEST_PORT}'}",
        "--variable",
        f"OCKAM_TEST_PORT={port}",
    )
    assert _show(ockam, "n2")["route"]["verbose"] == f"/dnsaddr/localhost/tcp/{port}"  # type: ignore[index]


def test_bad_input_gives_one_line_errors(ockam: Ockam) -> None:
    ockam.ok("node", "create", "n1")
    # unknown node
    assert "n9" in ockam.fail("node", "show", "n9")
    assert "n9" in ockam.fail("message", "send", "x", "--to", "/node/n9/service/echo")
    ockam.fail("node", "stop", "n9")
    ockam.fail("tcp-listener", "list", "--at", "n9")
    # malformed multiaddr
    ockam.fail("message", "send", "x", "--to", "/nope/n1")
    # invalid names
    for bad in ("n!", "n.1", "./config.yaml"):
        ockam.fail("node", "create", bad)
    # node already exists
    assert "n1" in ockam.fail("node", "create", "n1")
    # port in use
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        ockam.fail("node", "create", "n2", "--tcp-listener-address", f"127.0.0.1:{port}")
    # a stopped node does not answer
    ockam.ok("node", "stop", "n1")
    ockam.fail("service", "list", "--at", "n1")
    # nothing was lost
    assert [n["node_name"] for n in _list(ockam)] == ["n1", "n2"] or [
        n["node_name"] for n in _list(ockam)
    ] == ["n1"]


def test_reset_keeps_application_database_bin_and_env(ockam: Ockam) -> None:
    ockam.home.mkdir(parents=True, exist_ok=True)
    (ockam.home / "env").write_text("")
    (ockam.home / "bin").mkdir()
    ockam.ok("node", "create")
    assert {"database.sqlite3", "application_database.sqlite3", "nodes"} <= set(os.listdir(ockam.home))
    pid = _list(ockam)[0]["pid"]
    ockam.ok("reset", "--yes")
    assert sorted(os.listdir(ockam.home)) == ["application_database.sqlite3", "bin", "env"]
    assert isinstance(pid, int)
    _wait_gone(pid, 1)
    ockam.ok("reset", "--yes")
    assert sorted(os.listdir(ockam.home)) == ["application_database.sqlite3", "bin", "env"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
