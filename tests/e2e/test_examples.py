"""The programs of ``examples/`` run as scripts against ``python3 -m http.server``, and
library nodes working with nodes of the ``ockam`` command."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import ockam as lib  # `ockam` is the fixture running the ockam command

from .conftest import Ockam, free_port

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


# -- helpers ---------------------------------------------------------------------------


def wait_for(check: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True


def http_get(port: int, path: str = "/", timeout: float = 5.0) -> bytes | None:
    """The body of ``GET http://127.0.0.1:<port><path>`` (with curl when there is one)."""
    url = f"http://127.0.0.1:{port}{path}"
    if shutil.which("curl"):
        proc = subprocess.run(
            ["curl", "-sSf", "-m", str(int(timeout)), url],
            capture_output=True,
            timeout=timeout + 5,
            check=False,
        )
        return proc.stdout if proc.returncode == 0 else None
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            data: bytes = resp.read()
            return data if resp.status == 200 else None
    except (OSError, urllib.error.URLError):
        return None


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[tuple[int, bytes]]:
    """``python3 -m http.server`` on 127.0.0.1 (a free port) serving a page and its body."""
    root = tmp_path / "www"
    root.mkdir()
    page = b"<html><body>Hello from the target server " + os.urandom(8).hex().encode() + b"</body></html>\n"
    (root / "index.html").write_bytes(page)
    (root / "blob.bin").write_bytes(os.urandom(200_000))
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_for(lambda: http_get(port) == page, 10), "http.server did not start"
        yield port, page
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class Program:
    """A running example program."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[str] = []

    def readline(self, timeout: float = 15) -> str:
        """The next line of its standard output."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        os.set_blocking(self.proc.stdout.fileno(), False)
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if line:
                self.lines.append(line.rstrip("\n"))
                return self.lines[-1]
            assert self.proc.poll() is None, f"the program exited {self.proc.returncode}"
            time.sleep(0.05)
        raise AssertionError("no output from the program")


@contextmanager
def example(name: str, *args: str) -> Iterator[Program]:
    """Run ``python examples/<name>.py ARGS``; stop it (SIGTERM: a clean stop) at the end."""
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLES / f"{name}.py"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    program = Program(proc)
    try:
        yield program
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise AssertionError(f"{name} did not stop on SIGTERM") from None
            stderr = proc.stderr.read() if proc.stderr else ""
            assert code == 0, f"{name} exited {code}: {stderr}"
            assert "Traceback" not in stderr, stderr


def fetch_through(inlet_port: int, page: bytes, timeout: float = 20) -> None:
    got: list[bytes | None] = []

    def check() -> bool:
        got.append(http_get(inlet_port))
        return got[-1] == page

    assert wait_for(check, timeout, 0.2), f"the inlet did not return the page: {got[-1:]!r}"


# -- the guide's programs ------------------------------------------------------------------


def test_01_inlet_and_outlet_in_one_node(http_server: tuple[int, bytes]) -> None:
    server_port, page = http_server
    inlet = free_port()
    with example("01_inlet_outlet", f"127.0.0.1:{inlet}", f"127.0.0.1:{server_port}"):
        fetch_through(inlet, page)
        assert http_get(inlet, "/blob.bin") == http_get(server_port, "/blob.bin")


def test_02_inlet_node_and_outlet_node(http_server: tuple[int, bytes]) -> None:
    server_port, page = http_server
    node_port, inlet = free_port(), free_port()
    with example("02_outlet", f"127.0.0.1:{server_port}", str(node_port)):
        assert wait_for(lambda: listening(node_port), 15)
        with example("02_inlet", f"127.0.0.1:{inlet}", str(node_port)):
            fetch_through(inlet, page)


def test_03_through_a_secure_channel(http_server: tuple[int, bytes]) -> None:
    server_port, page = http_server
    node_port, inlet = free_port(), free_port()
    with example("03_outlet", f"127.0.0.1:{server_port}", str(node_port)):
        assert wait_for(lambda: listening(node_port), 15)
        with example("03_inlet", f"127.0.0.1:{inlet}", str(node_port)):
            fetch_through(inlet, page)
            assert http_get(inlet, "/blob.bin") == http_get(server_port, "/blob.bin")
        # the plain route of example 02 does not reach an outlet that wants a secure channel
        plain = free_port()
        with example("02_inlet", f"127.0.0.1:{plain}", str(node_port)):
            assert wait_for(lambda: listening(plain), 15)
            assert http_get(plain, timeout=2) is None


def test_04_two_hops_through_a_relay_node(http_server: tuple[int, bytes]) -> None:
    server_port, page = http_server
    relay_address, inlet = f"127.0.0.1:{free_port()}", free_port()
    with example("04_relay_node", relay_address) as relay:
        assert relay.readline() == f"Relay node listening on {relay_address}"
        with example("04_outlet", f"127.0.0.1:{server_port}", relay_address) as outlet:
            assert outlet.readline() == f"Forwarding address on {relay_address}:"
            forwarding_address = outlet.readline()
            assert forwarding_address.startswith("forward_to_")
            with example("04_inlet", f"127.0.0.1:{inlet}", forwarding_address, relay_address):
                fetch_through(inlet, page)


def test_hello() -> None:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "hello.py")], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("Address: 0#echoer, Received: 'Hello Ockam!' from I")
    assert lines[1] == "App Received: 'Hello Ockam!'"


def test_echo_over_tcp_and_a_secure_channel() -> None:
    port = str(free_port())
    with example("echo_responder", port) as responder:
        first = responder.readline()
        assert first.startswith("Responder I") and first.endswith(f"listening on 127.0.0.1:{port}")
        identifier = first.split()[1]
        proc = subprocess.run(
            [sys.executable, str(EXAMPLES / "echo_initiator.py"), port, "Hi responder"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == f"Echo from {identifier}: Hi responder"
        assert responder.readline().startswith("Received 'Hi responder' from I")


def test_a_missing_argument_fails() -> None:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "01_inlet_outlet.py")], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode != 0


# -- library nodes and nodes of the ockam command --------------------------------------------


def _identifier(ockam_cli: Ockam, name: str | None = None) -> str:
    out = ockam_cli.ok("identity", "show", *([name] if name else [])).strip()
    assert out.startswith("I"), out
    return out


def test_library_program_reaches_the_outlet_of_a_cli_node(
    ockam: Ockam, http_server: tuple[int, bytes]
) -> None:
    server_port, page = http_server
    node_port = free_port()
    ockam.ok("node", "create", "n1", "--tcp-listener-address", f"127.0.0.1:{node_port}")
    assert (
        ockam.ok("tcp-outlet", "create", "--at", "n1", "--to", f"127.0.0.1:{server_port}")
        == "/service/outlet"
    )
    node_identifier = _identifier(ockam)

    async def main() -> tuple[bytes | None, str, str]:
        async with lib.Node() as node:
            # the CLI node's secure channel listener is `api`; only its identity is trusted
            channel = await node.create_secure_channel(
                f"/ip4/127.0.0.1/tcp/{node_port}/service/api",
                trust=lib.trust_identifiers(node_identifier),
            )
            inlet = await node.tcp.create_inlet("127.0.0.1:0", lib.route(channel, "outlet"))
            port = int(inlet.address.rsplit(":", 1)[1])
            body = await asyncio.to_thread(http_get, port)
            upper = await node.send_and_receive(lib.route(channel, "uppercase"), "hello")
            return body, upper.text, channel.their_identifier

    body, upper, their = lib.run(main())
    assert body == page
    assert upper == "HELLO"
    assert their == node_identifier

    # a node trusting another identity refuses the CLI node
    async def refused() -> None:
        async with lib.Node() as node:
            other = node.create_identity()
            await node.create_secure_channel(
                f"/ip4/127.0.0.1/tcp/{node_port}/service/api",
                trust=lib.trust_identifiers(other),
                timeout=10,
            )

    with pytest.raises(lib.SecureChannelError):
        lib.run(refused())


def test_example_inlet_with_a_cli_outlet_node(ockam: Ockam, http_server: tuple[int, bytes]) -> None:
    """03_inlet.py against a node of the ``ockam`` command playing 03_outlet.py."""
    server_port, page = http_server
    node_port, inlet = free_port(), free_port()
    ockam.ok("node", "create", "n1", "--tcp-listener-address", f"127.0.0.1:{node_port}")
    ockam.ok("secure-channel-listener", "create", "secure_channel_listener", "--at", "n1")
    ockam.ok("tcp-outlet", "create", "--at", "n1", "--to", f"127.0.0.1:{server_port}")
    # a CLI outlet is reached through `api`'s channels (as Rust's): let this listener's reach it
    listener = ockam.ok(
        "secure-channel-listener", "show", "secure_channel_listener", "--at", "n1", "--output", "json"
    )
    ockam.ok(
        "flow-control",
        "add-consumer",
        json.loads(listener)["flow_control_id"],
        "/service/outlet",
        "--at",
        "n1",
    )
    with example("03_inlet", f"127.0.0.1:{inlet}", str(node_port)):
        fetch_through(inlet, page)


def test_cli_inlet_with_the_example_outlet_node(ockam: Ockam, http_server: tuple[int, bytes]) -> None:
    """A node of the ``ockam`` command playing 03_inlet.py against 03_outlet.py."""
    server_port, page = http_server
    node_port, inlet = free_port(), free_port()
    with example("03_outlet", f"127.0.0.1:{server_port}", str(node_port)):
        assert wait_for(lambda: listening(node_port), 15)
        ockam.ok("node", "create", "c")
        channel = ockam.ok(
            "secure-channel",
            "create",
            "--from",
            "c",
            "--to",
            f"/ip4/127.0.0.1/tcp/{node_port}/service/secure_channel_listener",
        ).strip()
        assert channel.startswith("/service/")
        ockam.ok(
            "tcp-inlet",
            "create",
            "--at",
            "c",
            "--from",
            f"127.0.0.1:{inlet}",
            "--to",
            f"{channel}/service/outlet",
        )
        fetch_through(inlet, page)


def test_examples_through_a_cli_relay_node(ockam: Ockam, http_server: tuple[int, bytes]) -> None:
    """04_outlet.py and 04_inlet.py with ``ockam node create`` as the relay node."""
    server_port, page = http_server
    relay_port, inlet = free_port(), free_port()
    ockam.ok("node", "create", "relay", "--tcp-listener-address", f"127.0.0.1:{relay_port}")
    relay_node = f"127.0.0.1:{relay_port}"
    with example("04_outlet", f"127.0.0.1:{server_port}", relay_node) as outlet:
        outlet.readline()
        forwarding_address = outlet.readline()
        with example("04_inlet", f"127.0.0.1:{inlet}", forwarding_address, relay_node):
            fetch_through(inlet, page)


def test_a_library_node_uses_an_identity_of_the_cli(ockam: Ockam) -> None:
    """``Node(home=OCKAM_HOME)``: the identities (and vault) of the ``ockam`` command."""
    ockam.ok("identity", "create", "alice")
    alice = _identifier(ockam, "alice")
    node_port = free_port()
    ockam.ok("node", "create", "n1", "--tcp-listener-address", f"127.0.0.1:{node_port}")
    ockam.ok("secure-channel-listener", "create", "only_alice", "--at", "n1", "--authorized", alice)

    async def main(name: str) -> str:
        async with lib.Node(home=ockam.home) as node:
            me = node.get_identity(name) if name else node.create_identity()
            channel = await node.create_secure_channel(
                lib.route(lib.Address.tcp(f"127.0.0.1:{node_port}"), "only_alice"), identity=me
            )
            reply = await node.send_and_receive(lib.route(channel, "echo"), "hi", timeout=3)
            return f"{me.identifier} {reply.text}"

    assert lib.run(main("alice")) == f"{alice} hi"
    with pytest.raises(lib.Timeout):  # another identity is refused by the listener
        lib.run(main(""))
