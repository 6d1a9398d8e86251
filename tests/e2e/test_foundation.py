"""Issue acceptance on real `ockam` processes: multi-hop routing, bad input, process faults."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import time

import pytest

from .conftest import Ockam

pytestmark = pytest.mark.e2e


def test_three_processes_route_through_a_hop(ockam: Ockam) -> None:
    for name in ("n1", "n2", "n3"):
        ockam.ok("node", "create", name)
    ockam.ok("service", "start", "hop", "--at", "n2")
    # the second TCP hop is a connection n2's user made (nodes do not open one for a peer)
    ports = {
        n: json.loads(ockam.ok("node", "show", n, "--output", "json"))["transports"][0]["socket_addr"]
        for n in ("n2", "n3")
    }
    ids = [
        re.findall(r"[0-9a-f]{32}", ockam.ok("tcp-connection", "create", "--from", a, "--to", ports[b]))[0]
        for a, b in (("n1", "n2"), ("n2", "n3"))
    ]
    out = ockam.ok(
        "message", "send", "hello", "--from", "n1", "--to", f"/worker/{ids[0]}/service/hop/worker/{ids[1]}/service/uppercase"
    )  # fmt: skip
    assert out.strip() == "HELLO"
    line = ockam.fail(
        "message", "send", "hello", "--from", "n1", "--to", "/node/n2/service/hop/node/n3/service/uppercase"
    )
    assert "multiple tcp connections" in line


def test_message_send_without_from_uses_a_temporary_node(ockam: Ockam) -> None:
    ockam.ok("node", "create", "n1")
    assert (
        ockam.ok("message", "send", "Hello Ockam!", "--to", "/node/n1/service/echo").strip() == "Hello Ockam!"
    )


def _one_line_error(result: tuple[int, str, str]) -> str:
    code, out, err = result
    assert code != 0, f"expected a failure, got exit 0 with {out!r}"
    assert "Traceback" not in err and "Traceback" not in out
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_bad_input_gives_one_line_errors_and_keeps_state(ockam: Ockam) -> None:
    ockam.ok("node", "create", "n1")
    before = json.loads(ockam.ok("node", "list", "--output", "json"))
    # unknown node
    assert "n9" in _one_line_error(
        ockam.run("message", "send", "x", "--from", "n9", "--to", "/node/n1/service/echo")
    )
    _one_line_error(ockam.run("message", "send", "x", "--from", "n1", "--to", "/node/n9/service/echo"))
    # malformed multiaddr
    _one_line_error(ockam.run("message", "send", "x", "--from", "n1", "--to", "/nope/n1"))
    # node already exists
    _one_line_error(ockam.run("node", "create", "n1"))
    # port in use
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    port = s.getsockname()[1]
    try:
        _one_line_error(ockam.run("node", "create", "n2", "--tcp-listener-address", f"127.0.0.1:{port}"))
    finally:
        s.close()
    # unreachable route and a timeout
    _one_line_error(
        ockam.run("message", "send", "x", "--from", "n1", "--to", "/ip4/127.0.0.1/tcp/1/service/echo")
    )
    _one_line_error(
        ockam.run("message", "send", "x", "--from", "n1", "--timeout", "1", "--to", "/node/n1/service/nobody")
    )
    after = json.loads(ockam.ok("node", "list", "--output", "json"))
    assert [n["node_name"] for n in after] == [n["node_name"] for n in before]
    assert (
        ockam.ok("message", "send", "ok", "--from", "n1", "--to", "/node/n1/service/uppercase").strip()
        == "OK"
    )


def test_delete_all_on_an_empty_home(ockam: Ockam) -> None:
    ockam.ok("node", "delete", "--all", "--yes")


def test_stop_start_keeps_name_and_listener(ockam: Ockam) -> None:
    ockam.ok("node", "create", "n1")
    show = json.loads(ockam.ok("node", "show", "n1", "--output", "json"))
    verbose = show["route"]["verbose"]
    ockam.ok("node", "stop", "n1")
    listed = json.loads(ockam.ok("node", "list", "--output", "json"))
    assert (
        listed[0]["status"]["status"]
        if isinstance(listed[0]["status"], dict)
        else listed[0]["status"] != "running"
    )
    ockam.ok("node", "start", "n1")
    again = json.loads(ockam.ok("node", "show", "n1", "--output", "json"))
    assert again["name"] == "n1"
    assert again["route"]["verbose"] == verbose
    assert ockam.ok("message", "send", "hi", "--to", "/node/n1/service/uppercase").strip() == "HI"


def test_sigkill_then_list_delete_recreate(ockam: Ockam) -> None:
    ockam.ok("node", "create", "n1")
    pid = json.loads(ockam.ok("node", "show", "n1", "--output", "json"))["pid"]
    os.kill(pid, signal.SIGKILL)
    deadline = time.time() + 5
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    listed = json.loads(ockam.ok("node", "list", "--output", "json"))
    assert listed and listed[0]["node_name"] == "n1"
    ockam.ok("node", "create", "n1")
    ockam.ok("node", "delete", "n1", "--yes")
    ockam.ok("node", "create", "n1")
    assert ockam.ok("message", "send", "a", "--to", "/node/n1/service/echo").strip() == "a"


def test_raw_socket_vector_bytes_to_a_node_process(ockam: Ockam) -> None:
    """The `tcp-frame` vector "two messages" stream, spoken to a background node's echo."""
    import pathlib

    from ockam.protocol.tcp_framing import FrameReader

    ockam.ok("node", "create", "raw")
    addr = json.loads(ockam.ok("node", "show", "raw", "--output", "json"))["transports"][0]["socket_addr"]
    vector = (
        pathlib.Path(__file__).resolve().parents[3] / "shared" / "vectors" / "tcp-frame-two-messages.json"
    )
    if vector.exists():
        stream = bytes.fromhex(json.loads(vector.read_text())["expected"]["stream"])
        # the vector's frames go to uppercase and to [echo]; send them as they are
    else:
        pytest.skip("shared vectors not found")
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(stream)
        reader = FrameReader()
        got = []
        while len(got) < 2:
            data = s.recv(65536)
            assert data, "connection closed before both replies"
            got += reader.receive_data(data)
    by_sender = {str(m.return_route): m for m in got}
    assert by_sender["0#uppercase"].payload == bytes.fromhex("0548454c4c4f")
    assert by_sender["0#echo"].payload == bytes.fromhex("70696e67")
    assert all(str(m.onward_route) == "0#c0ffee" for m in got)


def test_inlets_outlets_and_relays_come_back_on_node_start(ockam: Ockam) -> None:
    ockam.ok("node", "create", "n")
    ockam.ok("node", "create", "r")
    ockam.ok("tcp-outlet", "create", "--at", "n", "--to", "127.0.0.1:5999")
    ockam.ok("relay", "create", "n", "--at", "/node/r", "--to", "/node/n")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    ockam.ok(
        "tcp-inlet",
        "create",
        "--at",
        "n",
        "--from",
        f"127.0.0.1:{port}",
        "--to",
        "/node/n/service/outlet",
        "--alias",
        "i1",
    )
    ockam.ok("node", "stop", "n")
    ockam.ok("node", "start", "n")
    deadline = time.time() + 10
    while True:
        outlets = json.loads(ockam.ok("tcp-outlet", "list", "--at", "n", "--output", "json"))
        inlets = json.loads(ockam.ok("tcp-inlet", "list", "--at", "n", "--output", "json"))
        relays = json.loads(ockam.ok("relay", "list", "--to", "n", "--output", "json"))
        if (outlets and inlets and relays) or time.time() > deadline:
            break
        time.sleep(0.3)
    assert [o["to"] for o in outlets] == ["127.0.0.1:5999"]
    assert [i["alias"] for i in inlets] == ["i1"]
    assert [r["name"] for r in relays] == ["n"]
    # what is deleted stays deleted
    ockam.ok("tcp-outlet", "delete", "outlet", "--at", "n", "--yes")
    ockam.ok("node", "stop", "n")
    ockam.ok("node", "start", "n")
    time.sleep(1)
    assert json.loads(ockam.ok("tcp-outlet", "list", "--at", "n", "--output", "json")) == []
