"""Relays and TCP portals between Rust nodes and ours, both directions."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from .conftest import Cli, eventually, free_port

pytestmark = pytest.mark.interop

SIZE = 100 * 1024 * 1024


def test_a_relay_at_the_other_sides_node_reached_by_a_third_process(pair: tuple[Cli, Cli]) -> None:
    me, other = pair
    other.node("relay")
    me.node("b")
    out = me.ok("relay", "create", "b", "--at", other.tcp("relay"), "--to", "b")
    assert "forward_to_b" in out
    for third in (me, other):  # a third process of each implementation reaches forward_to_b
        to = f"{other.tcp('relay')}/service/forward_to_b/service/uppercase"
        assert third.ok("message", "send", "hi", "--to", to) == "HI"
        to = f"{other.tcp('relay')}/service/forward_to_b/secure/api/service/echo"
        assert third.ok("message", "send", "secret", "--to", to) == "secret"


@contextlib.contextmanager
def http_server(root: Path) -> Iterator[int]:
    """``python3 -m http.server`` serving ``root`` (as the quick starts do)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        eventually(lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close() or True, 10)
        yield port
    finally:
        proc.terminate()
        proc.wait(5)


class _Sink(BaseHTTPRequestHandler):
    """POST: answers with the SHA-256 of the body it read."""

    def do_POST(self) -> None:
        length = int(self.headers["content-length"])
        digest = hashlib.sha256()
        while length:
            chunk = self.rfile.read(min(length, 1 << 20))
            if not chunk:
                break
            digest.update(chunk)
            length -= len(chunk)
        body = digest.hexdigest().encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def upload_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def curl(*args: str, timeout: float = 120) -> bytes:
    return subprocess.run(
        ["curl", "--fail", "--silent", "--show-error", "--max-time", str(int(timeout)), *args],
        check=True,
        capture_output=True,
        timeout=timeout + 10,
    ).stdout


def _transfer_both_ways(inlet: int, page: bytes, big: bytes, sink_inlet: int) -> None:
    assert eventually(lambda: curl(f"http://127.0.0.1:{inlet}/index.html", timeout=5) == page, 30)
    # 100 MB from the server through the portal, and 100 MB to the sink through another
    got = curl(f"http://127.0.0.1:{inlet}/big.bin", timeout=300)
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(big).hexdigest()
    assert _post(sink_inlet, big) == hashlib.sha256(big).hexdigest().encode()


def _post(port: int, data: bytes) -> bytes:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/", data=data, method="POST")
    with urllib.request.urlopen(req, timeout=300) as resp:
        return bytes(resp.read())


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, bytes, bytes]:
    root = tmp_path / "www"
    root.mkdir()
    page = b"<html>hello through an Ockam portal</html>\n"
    (root / "index.html").write_bytes(page)
    big = os.urandom(SIZE)
    (root / "big.bin").write_bytes(big)
    return root, page, big


def test_an_inlet_to_the_other_sides_outlet_through_a_secure_channel(
    pair: tuple[Cli, Cli], files: tuple[Path, bytes, bytes]
) -> None:
    me, other = pair
    root, page, big = files
    with http_server(root) as web, upload_server() as sink:
        other.node("s")
        me.node("c")
        other.ok("tcp-outlet", "create", "--at", "s", "--to", f"127.0.0.1:{web}")
        other.ok("tcp-outlet", "create", "--at", "s", "--from", "sink", "--to", f"127.0.0.1:{sink}")
        inlet, sink_inlet = free_port(), free_port()
        for port, outlet in ((inlet, "outlet"), (sink_inlet, "sink")):
            me.ok(
                "tcp-inlet", "create", "--at", "c", "--from", f"127.0.0.1:{port}",
                "--to", f"{other.tcp('s')}/secure/api/service/{outlet}", "--alias", f"i{port}",
            )  # fmt: skip
        _transfer_both_ways(inlet, page, big, sink_inlet)


def test_an_inlet_through_a_relay_on_a_node_of_the_other_implementation(
    pair: tuple[Cli, Cli], files: tuple[Path, bytes, bytes]
) -> None:
    """The quick start's shape: outlet node s and inlet node c of one implementation, the
    relay node of the other; the secure channel is end to end, s <-> c."""
    me, other = pair
    root, page, big = files
    with http_server(root) as web, upload_server() as sink:
        other.node("relay")
        me.node("s")
        me.node("c")
        me.ok("tcp-outlet", "create", "--at", "s", "--to", f"127.0.0.1:{web}")
        me.ok("tcp-outlet", "create", "--at", "s", "--from", "sink", "--to", f"127.0.0.1:{sink}")
        me.ok("relay", "create", "s", "--at", other.tcp("relay"), "--to", "s")
        inlet, sink_inlet = free_port(), free_port()
        for port, outlet in ((inlet, "outlet"), (sink_inlet, "sink")):
            me.ok(
                "tcp-inlet", "create", "--at", "c", "--from", f"127.0.0.1:{port}", "--alias", f"i{port}",
                "--to", f"{other.tcp('relay')}/service/forward_to_s/secure/api/service/{outlet}",
            )  # fmt: skip
        _transfer_both_ways(inlet, page, big, sink_inlet)


def test_mixed_inlet_and_outlet_through_a_relay(
    pair: tuple[Cli, Cli], files: tuple[Path, bytes, bytes]
) -> None:
    """Outlet node of one implementation, relay and inlet nodes of the other."""
    me, other = pair
    root, page, _ = files
    with http_server(root) as web:
        me.node("relay")
        me.node("c")
        other.node("s")
        other.ok("tcp-outlet", "create", "--at", "s", "--to", f"127.0.0.1:{web}")
        other.ok("relay", "create", "s", "--at", me.tcp("relay"), "--to", "s")
        inlet = free_port()
        me.ok(
            "tcp-inlet", "create", "--at", "c", "--from", f"127.0.0.1:{inlet}",
            "--to", f"{me.tcp('relay')}/service/forward_to_s/secure/api/service/outlet",
        )  # fmt: skip
        assert eventually(lambda: curl(f"http://127.0.0.1:{inlet}/index.html", timeout=5) == page, 30)


def test_postgres_through_a_portal_of_the_other_implementation(pair: tuple[Cli, Cli], postgres: int) -> None:
    me, other = pair
    other.node("db")
    me.node("app")
    other.ok("tcp-outlet", "create", "--at", "db", "--to", f"127.0.0.1:{postgres}")
    inlet = free_port()
    me.ok(
        "tcp-inlet", "create", "--at", "app", "--from", f"127.0.0.1:{inlet}",
        "--to", f"{other.tcp('db')}/secure/api/service/outlet",
    )  # fmt: skip

    def select_1() -> bool:
        argv = ["psql", "-X", "-h", "127.0.0.1", "-p", str(inlet), "-U", "postgres", "-tAc", "SELECT 1"]
        return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip() == "1"

    assert eventually(select_1, 30)
