"""A project hosted by one machine and joined by two others, each in its own network
namespace on one LAN (a bridge in a namespace of its own; nothing changes in the root
namespace), with its own ``OCKAM_HOME``; tickets go from machine to machine as files.

* seed 000's quick start split across them: the HTTP server, its outlet and relay on one
  member, the inlet and ``curl`` on the other;
* seed 001's PostgreSQL portal with the short commands (``relay create postgres``,
  ``tcp-inlet create --to postgres``) and ``psql``;
* a member whose ticket allows no relay gets the reason at once;
* the host's nodes killed: ``ockam enroll`` brings them back and the members serve again
  (the relay and inlet sessions reconnect), without new tickets.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .conftest import ockam_executable, postgres_server

pytestmark = pytest.mark.e2e


@dataclass
class Host:
    """A machine: a network namespace with an address on the LAN, and an OCKAM_HOME."""

    name: str
    ip: str
    home: Path
    exe: str = field(default_factory=ockam_executable)

    @property
    def prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.name]

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["OCKAM_HOME"] = str(self.home)
        env.pop("QUIET", None)
        env.setdefault("OCKAM_DEFAULT_TIMEOUT", "30s")
        return env

    def run(self, *args: str, timeout: float = 120) -> tuple[int, str, str]:
        proc = subprocess.run(
            [*self.prefix, self.exe, *args],
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            cwd=self.home,
        )
        return proc.returncode, proc.stdout, proc.stderr

    def ok(self, *args: str, timeout: float = 120) -> str:
        code, out, err = self.run(*args, timeout=timeout)
        assert code == 0, f"{self.name}: ockam {' '.join(args)} exited {code}: {err.strip() or out.strip()}"
        return out.strip()

    def fail(self, *args: str) -> str:
        code, out, err = self.run(*args)
        assert code != 0, f"{self.name}: ockam {' '.join(args)} succeeded: {out!r}"
        assert "Traceback" not in err
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1, err
        return lines[0]

    def shell(self, script: str, timeout: float = 120) -> str:
        env = self.env()
        env["PATH"] = str(Path(self.exe).parent) + os.pathsep + env.get("PATH", "")
        proc = subprocess.run(
            [*self.prefix, "bash", "-c", script],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            cwd=self.home,
        )
        assert proc.returncode == 0, (
            f"{self.name}: {script!r} exited {proc.returncode}: {proc.stderr.strip()}"
        )
        return proc.stdout

    def spawn(self, *argv: str, cwd: str | None = None) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [*self.prefix, *argv], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@pytest.fixture
def lan(tmp_path: Path) -> Iterator[list[Host]]:
    """Three hosts (project host, member s, member c) on 10.233.<n>.0/24."""
    if shutil.which("ip") is None or shutil.which("curl") is None:
        pytest.skip("needs the ip and curl commands")
    tag = os.urandom(3).hex()
    subnet = int(tag, 16) % 250 + 2
    switch = f"ockam-lan-{tag}"
    probe = subprocess.run(["ip", "netns", "add", switch], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"cannot create network namespaces (needs root): {probe.stderr.strip()}")
    hosts = [
        Host(f"ockam-{role}-{tag}", f"10.233.{subnet}.{i + 1}", tmp_path / role)
        for i, role in enumerate(("host", "s", "c"))
    ]
    made = [switch]
    try:
        _ip("-n", switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", switch, "link", "set", "br0", "up")
        for i, h in enumerate(hosts):
            _ip("netns", "add", h.name)
            made.append(h.name)
            outer, inner = f"vb{tag}{i}", f"vh{tag}{i}"
            _ip("-n", switch, "link", "add", outer, "type", "veth", "peer", "name", inner)
            _ip("-n", switch, "link", "set", inner, "netns", h.name)
            _ip("-n", switch, "link", "set", outer, "master", "br0")
            _ip("-n", switch, "link", "set", outer, "up")
            _ip("-n", h.name, "addr", "add", f"{h.ip}/24", "dev", inner)
            _ip("-n", h.name, "link", "set", inner, "up")
            _ip("-n", h.name, "link", "set", "lo", "up")
            h.home.mkdir(parents=True)
        yield hosts
    finally:
        for h in hosts:
            if h.home.exists():
                subprocess.run(
                    [*h.prefix, h.exe, "reset", "--yes"],
                    env=h.env(),
                    capture_output=True,
                    timeout=60,
                    check=False,
                )
        for ns in made:
            pids = subprocess.run(
                ["ip", "netns", "pids", ns], capture_output=True, text=True, check=False
            ).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


def eventually(check: Callable[[], bool], timeout: float, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def _curl_head(host: Host, port: int) -> bool:
    proc = subprocess.run(
        [*host.prefix, "curl", "-sS", "--head", "-m", "5", f"127.0.0.1:{port}"],
        capture_output=True,
        timeout=15,
        check=False,
    )
    return proc.returncode == 0 and proc.stdout.startswith(b"HTTP/1.0 200")


def _ticket(host: Host, path: Path, *args: str) -> Path:
    path.write_text(host.ok("project", "ticket", *args))
    return path


def test_a_project_hosted_for_other_machines(lan: list[Host], tmp_path: Path) -> None:
    host, s, c = lan
    # the host serves the project on its LAN address
    host.ok(
        "enroll", "--tcp-listener-address", "0.0.0.0:4000", "--authority-tcp-listener-address", "0.0.0.0:4001",
        "--public-address", host.ip, timeout=180,
    )  # fmt: skip
    info = json.loads(host.ok("project", "information", "--output", "json"))
    assert info["access_route"] == f"/dnsaddr/{host.ip}/tcp/4000/service/api"
    assert info["authority_access_route"] == f"/dnsaddr/{host.ip}/tcp/4001/service/api"
    # tickets travel as files; the members join
    s.ok("project", "enroll", str(_ticket(host, tmp_path / "s.ticket", "--relay", "s")), timeout=180)
    c.ok("project", "enroll", str(_ticket(host, tmp_path / "c.ticket")), timeout=180)
    # a member whose ticket allows no relay is told why, at once
    c.ok("node", "create", "web")
    started = time.monotonic()
    line = c.fail("relay", "create", "web")
    assert "has no 'ockam-relay' attribute" in line and time.monotonic() - started < 15

    # seed 000, split: the server, outlet and relay on s; the inlet and curl on c
    www = tempfile.mkdtemp(prefix="ockam-www-")
    Path(www, "index.html").write_text("<html>hello from s</html>\n")
    server = s.spawn(sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "5000", cwd=www)
    try:
        s.shell(
            """
            ockam project information --output json > default-project.json
            ockam node create s --project default-project.json
            ockam tcp-outlet create --at /node/s --from /service/outlet --to 127.0.0.1:5000
            ockam forwarder create s --at /project/default --to /node/s
            """
        )
        c.shell(
            """
            ockam project information --output json > default-project.json
            ockam node create c --project default-project.json
            ockam secure-channel create --from /node/c --to /project/default/service/forward_to_s/service/api \\
              | ockam tcp-inlet create --at /node/c --from 127.0.0.1:7000 --to -/service/outlet
            """
        )
        assert eventually(lambda: _curl_head(c, 7000), 30)
        # c cannot reach s's server without the portal
        direct = subprocess.run(
            [*c.prefix, "curl", "-s", "-m", "2", f"http://{s.ip}:5000/"], capture_output=True, check=False
        )
        assert direct.returncode != 0

    finally:
        server.kill()


def _psql_select_1(host: Host, port: int) -> bool:
    argv = ["psql", "-X", "-A", "-t", "-U", "postgres", "-d", "postgres", "-h", "localhost", "-p", str(port)]
    proc = subprocess.run(
        [*host.prefix, *argv, "-c", "SELECT 1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PGCONNECT_TIMEOUT": "10"},
    )
    return proc.returncode == 0 and proc.stdout.strip() == "1"


def test_seed_001_split_across_machines(lan: list[Host], tmp_path: Path) -> None:
    """The documentation's short commands, the database on s and psql on c."""
    host, s, c = lan
    host.ok(
        "enroll", "--tcp-listener-address", f"{host.ip}:4000",
        "--authority-tcp-listener-address", f"{host.ip}:4001", timeout=180,
    )  # fmt: skip
    s.ok("project", "enroll", str(_ticket(host, tmp_path / "s.ticket", "--relay", "postgres")), timeout=180)
    c.ok("project", "enroll", str(_ticket(host, tmp_path / "c.ticket")), timeout=180)
    with postgres_server(s.prefix) as port:
        s.ok("tcp-outlet", "create", "--to", str(port))
        s.ok("relay", "create", "postgres")
        c.ok("tcp-inlet", "create", "--from", "15432", "--to", "postgres")
        assert eventually(lambda: _psql_select_1(c, 15432), 30)
        # the host's nodes die; `ockam enroll` brings them back; the relay and the inlet
        # find them again, without new tickets
        for name in ("default-project", "default-authority"):
            pid = next(
                n["pid"]
                for n in json.loads(host.ok("node", "list", "--output", "json"))
                if n["node_name"] == name
            )
            os.kill(int(pid), signal.SIGKILL)
        assert not _psql_select_1(c, 15432)
        host.ok("enroll", timeout=180)
        assert eventually(lambda: _psql_select_1(c, 15432), 90), "the portal did not come back"
