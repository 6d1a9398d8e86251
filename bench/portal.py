"""Portal benchmark: our TCP portal side by side with socat, stunnel and ``ssh -L``.

    python bench/portal.py [--quick] [--seconds S] [--rounds R] [--idle N] [--only ockam,ssh,...]
                           [--library] [--json FILE]

Every tunnel forwards two local ports to two local servers (an ``iperf3`` server and
a TCP echo server started here) and is measured the same way, in the same run:

* memory per idle connection, first, on fresh tunnels: the proportional set size (PSS,
  which counts the pages a forking tunnel shares with its children once) of all the
  tunnel's processes before and after opening N idle connections, each checked with a
  round trip, divided by N (RSS is printed too);
* then R rounds, the tunnels interleaved in each round (the figures are the medians):
  throughput, ``iperf3`` through the tunnel, client to server and reverse (``-R``), one
  stream, the first second omitted; latency, 64-byte request/response round trips on
  one connection, p50 and p99; new connections per second, connect, one byte there and
  back, close, 8 clients at once; CPU seconds per GB, the CPU time (user + system) of
  all the tunnel's processes during the two throughput runs over the bytes they moved.

An ``iperf3`` run that does not end in time is a *stall* (reported): the server, still
busy with it, is restarted and the run repeated.

Tunnels:

* ``ockam``: two ``ockam`` node processes in a throw-away ``OCKAM_HOME``; outlets on
  node b, inlets on node a to ``/node/b/secure/api/service/<outlet>`` (end-to-end
  encrypted secure channel); ``ockam-plain`` is the same without the secure channel
  (``/node/b/service/<outlet>``).  When the ``tcp-inlet``/``tcp-outlet`` commands are
  missing (or with ``--library``) each node runs in its own ``python -c`` process
  through the library API instead;
* ``rust`` (when ``OCKAM_RUST`` names a Rust Ockam 0.139 ``ockam``): the same two-node
  shape as ``ockam``, Rust nodes driven by the Rust CLI; ``mixed``: our inlet node, a
  Rust outlet node (``/ip4/127.0.0.1/tcp/<port>/secure/api/service/<outlet>``);
* ``socat``: ``socat TCP-LISTEN:..,fork TCP:..`` (plain TCP forwarder);
* ``stunnel``: a client and a server ``stunnel`` (TLS 1.3, AES-256-GCM, P-256 key);
* ``ssh``: ``ssh -N -L`` with ``-c aes256-gcm@openssh.com`` to an ``sshd`` started
  here on a free port with a private config, a throw-away host key and authorized key;
* ``direct``: no tunnel (the floor).

Every load loop is bounded in count and time; everything listens on 127.0.0.1.  The
processes' logs go to the run's temporary directory (deleted at the end).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from machine import machine_line

ROOT = Path(__file__).resolve().parent.parent
OCKAM = ROOT / ".venv" / "bin" / "ockam"
PYTHON = sys.executable

# -- small helpers ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 20.0, proc: Proc | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.popen.args!r} exited with {proc.poll()}: {proc.tail()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:g} s")


def wait_echo(port: int, timeout: float = 30.0) -> None:
    """Until a round trip through ``port`` works (a tunnel may accept before it forwards)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.settimeout(2)
                s.sendall(b"ping")
                if _recv_exactly(s, 4) == b"ping":
                    return
        except OSError as e:
            last = e
        time.sleep(0.1)
    raise RuntimeError(f"no echo through 127.0.0.1:{port} after {timeout:g} s ({last})")


def _recv_exactly(s: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return bytes(buf)


def children_map() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        out.setdefault(ppid, []).append(int(entry))
    return out


def process_tree(roots: list[int]) -> list[int]:
    kids = children_map()
    seen: list[int] = []
    stack = list(roots)
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.append(pid)
        stack.extend(kids.get(pid, []))
    return seen


def pss_kib(pids: list[int]) -> int:
    """Sum of the proportional set sizes of ``pids`` and their descendants."""
    total = 0
    for pid in process_tree(pids):
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
    return total


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of ``pids`` (and of the children they reaped)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return total / tick


def rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in process_tree(pids):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
    return total


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(timeout)


LOG_DIR = [Path(tempfile.gettempdir())]  # the run's directory once it exists


def spawn(args: list[str], stdin: int = subprocess.DEVNULL, stdout: int = subprocess.DEVNULL) -> Proc:
    """Start a process whose stderr goes to a log file (never an unread pipe)."""
    fd, path = tempfile.mkstemp(prefix=Path(args[0]).name + "-", suffix=".log", dir=LOG_DIR[0])
    try:
        popen = subprocess.Popen(args, stdin=stdin, stdout=stdout, stderr=fd)
    finally:
        os.close(fd)
    return Proc(popen, Path(path))


@dataclass
class Proc:
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def poll(self) -> int | None:
        return self.popen.poll()

    def tail(self) -> str:
        try:
            return self.log.read_text(errors="replace").strip()[-800:]
        except OSError:
            return ""

    def stop(self) -> None:
        stop_process(self.popen)


# -- the servers behind the tunnels ------------------------------------------------------

ECHO_SERVER = textwrap.dedent(
    """
    import asyncio, socket, sys

    class Echo(asyncio.Protocol):
        def connection_made(self, transport):
            self.t = transport
            transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        def data_received(self, data):
            self.t.write(data)

    async def main():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Echo, "127.0.0.1", int(sys.argv[1]), backlog=1024)
        await server.serve_forever()

    try:
        import uvloop
        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
    """
)


@dataclass
class Backends:
    iperf_port: int
    echo_port: int
    iperf: Proc | None = None
    echo: Proc | None = None

    @classmethod
    def start(cls) -> Backends:
        b = cls(free_port(), free_port())
        b.start_iperf()
        b.echo = spawn([PYTHON, "-c", ECHO_SERVER, str(b.echo_port)])
        wait_echo(b.echo_port)
        return b

    def start_iperf(self) -> None:
        self.iperf = spawn(["iperf3", "-s", "-B", "127.0.0.1", "-p", str(self.iperf_port)])
        wait_port(self.iperf_port, proc=self.iperf)

    def restart_iperf(self) -> None:
        """After a test that did not end: the server would stay busy with it."""
        if self.iperf is not None:
            self.iperf.stop()
        self.start_iperf()

    def stop(self) -> None:
        for p in (self.iperf, self.echo):
            if p is not None:
                p.stop()


# -- tunnels ------------------------------------------------------------------------------


class Tunnel:
    """Forwards ``iperf_port`` to the iperf3 server and ``echo_port`` to the echo server."""

    name = ""
    label = ""
    # Whether ready() may probe the iperf3 port with a bare connect-and-close.
    probe_iperf = True

    def __init__(self, backends: Backends, workdir: Path) -> None:
        self.backends = backends
        self.workdir = workdir
        self.iperf_port = free_port()
        self.echo_port = free_port()
        self.procs: list[Proc] = []

    def start(self) -> None:
        raise NotImplementedError

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def stop(self) -> None:
        for p in reversed(self.procs):
            p.stop()

    def ready(self) -> None:
        for p in self.procs:
            if p.poll() is not None:
                raise RuntimeError(f"{self.name}: {p.popen.args!r} exited: {p.tail()}")
        if self.probe_iperf:
            wait_port(self.iperf_port)
        wait_echo(self.echo_port)


class Direct(Tunnel):
    name, label = "direct", "direct"

    def __init__(self, backends: Backends, workdir: Path) -> None:
        super().__init__(backends, workdir)
        self.iperf_port, self.echo_port = backends.iperf_port, backends.echo_port

    def start(self) -> None:
        self.ready()


class Socat(Tunnel):
    name, label = "socat", "socat"

    def start(self) -> None:
        for front, back in (
            (self.iperf_port, self.backends.iperf_port),
            (self.echo_port, self.backends.echo_port),
        ):
            self.procs.append(
                spawn(
                    [
                        "socat",
                        f"TCP-LISTEN:{front},bind=127.0.0.1,fork,reuseaddr,backlog=1024",
                        f"TCP:127.0.0.1:{back},nodelay",
                    ]
                )
            )
        self.ready()


class Stunnel(Tunnel):
    name, label = "stunnel", "stunnel"

    def start(self) -> None:
        d = self.workdir / "stunnel"
        d.mkdir()
        cert, key = d / "cert.pem", d / "key.pem"
        _self_signed(cert, key)
        mid_iperf, mid_echo = free_port(), free_port()
        common = "foreground = yes\npid =\nsyslog = no\ndebug = 3\n"
        server = common + "".join(
            f"[{n}]\naccept = 127.0.0.1:{mid}\nconnect = 127.0.0.1:{back}\ncert = {cert}\nkey = {key}\n"
            "sslVersionMin = TLSv1.3\nciphersuites = TLS_AES_256_GCM_SHA384\n"
            "socket = l:TCP_NODELAY=1\nsocket = r:TCP_NODELAY=1\n"
            for n, mid, back in (
                ("iperf", mid_iperf, self.backends.iperf_port),
                ("echo", mid_echo, self.backends.echo_port),
            )
        )
        client = common + "".join(
            f"[{n}]\nclient = yes\naccept = 127.0.0.1:{front}\nconnect = 127.0.0.1:{mid}\n"
            "sslVersionMin = TLSv1.3\nciphersuites = TLS_AES_256_GCM_SHA384\n"
            "socket = l:TCP_NODELAY=1\nsocket = r:TCP_NODELAY=1\n"
            for n, front, mid in (("iperf", self.iperf_port, mid_iperf), ("echo", self.echo_port, mid_echo))
        )
        (d / "server.conf").write_text(server)
        (d / "client.conf").write_text(client)
        exe = shutil.which("stunnel4") or shutil.which("stunnel") or "stunnel"
        self.procs.append(spawn([exe, str(d / "server.conf")]))
        wait_port(mid_echo, proc=self.procs[-1])
        self.procs.append(spawn([exe, str(d / "client.conf")]))
        self.ready()


def _self_signed(cert_path: Path, key_path: Path) -> None:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


class Ssh(Tunnel):
    name, label = "ssh", "ssh -L"
    CIPHER = "aes256-gcm@openssh.com"

    def start(self) -> None:
        d = self.workdir / "ssh"
        d.mkdir(mode=0o700)
        for k in ("host_key", "client_key"):
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / k)],
                check=True,
                stdout=subprocess.DEVNULL,
                timeout=30,
            )
        shutil.copy(d / "client_key.pub", d / "authorized_keys")
        port = free_port()
        (d / "sshd_config").write_text(
            f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d / 'host_key'}\nPidFile none\n"
            f"AuthorizedKeysFile {d / 'authorized_keys'}\nPermitRootLogin prohibit-password\n"
            "PubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "UsePAM no\nStrictModes no\nAllowTcpForwarding yes\nPermitTTY no\n"
            f"Ciphers {self.CIPHER}\nLogLevel ERROR\nMaxStartups 100\n"
        )
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
        sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        self.procs.append(spawn([sshd, "-f", str(d / "sshd_config"), "-D", "-e"]))
        wait_port(port, proc=self.procs[-1])
        self.procs.append(
            spawn(
                [
                    "ssh",
                    "-N",
                    "-F",
                    "/dev/null",
                    "-i",
                    str(d / "client_key"),
                    "-o",
                    "IdentitiesOnly=yes",
                    "-o",
                    "StrictHostKeyChecking=no",
                    "-o",
                    "UserKnownHostsFile=/dev/null",
                    "-o",
                    "BatchMode=yes",
                    "-o",
                    "ExitOnForwardFailure=yes",
                    "-o",
                    "LogLevel=ERROR",
                    "-c",
                    self.CIPHER,
                    "-p",
                    str(port),
                    "-L",
                    f"127.0.0.1:{self.iperf_port}:127.0.0.1:{self.backends.iperf_port}",
                    "-L",
                    f"127.0.0.1:{self.echo_port}:127.0.0.1:{self.backends.echo_port}",
                    f"{getpass.getuser()}@127.0.0.1",
                ]
            )
        )
        self.ready()


class Ockam(Tunnel):
    """Two node processes: outlets on b, inlets on a."""

    name, label = "ockam", "ockam"
    secure = True
    # A client that closes before the outlet's Pong leaves the outlet's connection to the
    # iperf3 server open (and iperf3 serves one test at a time): the inlets are up when
    # `tcp-inlet create` returns, and the echo round trip checks the route.
    probe_iperf = False

    def __init__(self, backends: Backends, workdir: Path, library: bool = False) -> None:
        super().__init__(backends, workdir)
        self.home = workdir / f"home-{self.name}"
        self.home.mkdir()
        self.env = {**os.environ, "OCKAM_HOME": str(self.home), "NO_COLOR": "1", "QUIET": "1"}
        self.library = library or not _has_portal_commands()
        self._pids: list[int] = []
        self.how = "library API, one python -c process per node" if self.library else "ockam CLI"

    def _route(self, outlet: str) -> str:
        return f"/secure/api/service/{outlet}" if self.secure else f"/service/{outlet}"

    def start(self) -> None:
        if self.library:
            self._start_library()
        else:
            self._start_cli()
        self.ready()

    def _ockam(self, *args: str) -> str:
        res = subprocess.run(
            [str(OCKAM), *args], env=self.env, capture_output=True, text=True, timeout=120, check=False
        )
        if res.returncode != 0:
            raise RuntimeError(f"ockam {' '.join(args)} failed: {res.stderr.strip()[-800:]}")
        return res.stdout

    def _start_cli(self) -> None:
        self._ockam("node", "create", "a")
        self._ockam("node", "create", "b")
        nodes = json.loads(self._ockam("node", "list", "--output", "json"))
        self._pids = [int(n["pid"]) for n in nodes if n.get("pid")]
        for outlet, back in (
            ("bench-iperf", self.backends.iperf_port),
            ("bench-echo", self.backends.echo_port),
        ):
            self._ockam("tcp-outlet", "create", "--at", "b", "--to", f"127.0.0.1:{back}", "--from", outlet)
        for outlet, front in (("bench-iperf", self.iperf_port), ("bench-echo", self.echo_port)):
            self._ockam(
                "tcp-inlet",
                "create",
                "--at",
                "a",
                "--from",
                f"127.0.0.1:{front}",
                "--to",
                f"/node/b{self._route(outlet)}",
                "--alias",
                outlet,
            )

    def _start_library(self) -> None:
        b_spec = {
            "name": "b",
            "outlets": [["bench-iperf", self.backends.iperf_port], ["bench-echo", self.backends.echo_port]],
        }
        b = spawn(
            [PYTHON, "-c", LIBRARY_NODE, json.dumps(b_spec)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        self.procs.append(b)
        listener = _read_ready(b)
        a_spec = {
            "name": "a",
            "inlets": [
                [front, f"/ip4/127.0.0.1/tcp/{listener.rsplit(':', 1)[1]}{self._route(o)}"]
                for o, front in (("bench-iperf", self.iperf_port), ("bench-echo", self.echo_port))
            ],
        }
        a = spawn(
            [PYTHON, "-c", LIBRARY_NODE, json.dumps(a_spec)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        self.procs.append(a)
        _read_ready(a)

    def pids(self) -> list[int]:
        return self._pids + [p.pid for p in self.procs]

    def stop(self) -> None:
        if not self.library:
            with contextlib.suppress(Exception):
                self._ockam("node", "delete", "--all", "--yes")
            for pid in self._pids:  # still there? (they are the processes we started)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        for p in self.procs:
            if p.popen.stdin is not None:
                with contextlib.suppress(OSError):
                    p.popen.stdin.close()
        super().stop()


class OckamPlain(Ockam):
    name, label = "ockam-plain", "ockam plain"
    secure = False


RUST = os.environ.get("OCKAM_RUST")


def _home_pids(home: Path) -> list[int]:
    """The processes running with ``OCKAM_HOME=home`` (a home's node processes)."""
    marker = f"OCKAM_HOME={home}".encode()
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            with contextlib.suppress(OSError):
                if marker in Path(f"/proc/{entry}/environ").read_bytes().split(b"\0"):
                    out.append(int(entry))
    return out


class _Cli:
    """An ``ockam`` executable with its own home; outputs through files (a Rust background
    node keeps the pipes of the command that started it open)."""

    def __init__(self, exe: str, home: Path) -> None:
        self.exe = exe
        self.home = home
        home.mkdir(exist_ok=True)
        self.env = {
            **os.environ,
            "OCKAM_HOME": str(home),
            "NO_COLOR": "true",
            "QUIET": "true",
            "OCKAM_DISABLE_UPGRADE_CHECK": "true",
            "OCKAM_OPENTELEMETRY_EXPORT": "false",
        }

    def __call__(self, *args: str) -> str:
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            res = subprocess.run(
                [self.exe, *args], env=self.env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                timeout=120, check=False,
            )  # fmt: skip
            out.seek(0)
            err.seek(0)
            if res.returncode != 0:
                raise RuntimeError(f"{self.exe} {' '.join(args)} failed: {err.read().decode()[-800:]}")
            return out.read().decode()


class RustOckam(Tunnel):
    """Rust Ockam's portal, in the shape of ``ockam``: outlets on node b, inlets on node a
    through ``/secure/api``; ``inlet_side`` and ``outlet_side`` say whose nodes they are."""

    name, label = "rust", "rust"
    probe_iperf = False
    inlet_ours = False

    def __init__(self, backends: Backends, workdir: Path, library: bool = False) -> None:
        super().__init__(backends, workdir)
        assert RUST
        self.outlet_cli = _Cli(RUST, workdir / "home-b")
        self.inlet_cli = (
            _Cli(str(OCKAM), workdir / "home-a") if self.inlet_ours else _Cli(RUST, workdir / "home-a")
        )
        self.how = ("our inlet node, " if self.inlet_ours else "") + f"Rust Ockam {RUST}"

    def start(self) -> None:
        port = free_port()
        self.outlet_cli("node", "create", "b", "--tcp-listener-address", f"127.0.0.1:{port}")
        self.inlet_cli("node", "create", "a")
        for outlet, back in (
            ("bench-iperf", self.backends.iperf_port),
            ("bench-echo", self.backends.echo_port),
        ):
            self.outlet_cli(
                "tcp-outlet", "create", "--at", "b", "--to", f"127.0.0.1:{back}", "--from", outlet
            )
        for outlet, front in (("bench-iperf", self.iperf_port), ("bench-echo", self.echo_port)):
            self.inlet_cli(
                "tcp-inlet", "create", "--at", "a", "--from", f"127.0.0.1:{front}",
                "--to", f"/ip4/127.0.0.1/tcp/{port}/secure/api/service/{outlet}", "--alias", outlet,
            )  # fmt: skip
        self.ready()

    def pids(self) -> list[int]:
        return _home_pids(self.outlet_cli.home) + _home_pids(self.inlet_cli.home)

    def stop(self) -> None:
        for cli in (self.inlet_cli, self.outlet_cli):
            pids = _home_pids(cli.home)
            with contextlib.suppress(Exception):
                cli("node", "delete", "--all", "--yes")
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


class Mixed(RustOckam):
    name, label = "mixed", "ours->rust"
    inlet_ours = True


def _has_portal_commands() -> bool:
    for group in ("tcp-outlet", "tcp-inlet"):
        res = subprocess.run(
            [str(OCKAM), group, "create", "--help"], capture_output=True, timeout=60, check=False
        )
        if res.returncode != 0:
            return False
    return True


def _read_ready(proc: Proc, timeout: float = 60.0) -> str:
    assert proc.popen.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.popen.stdout.readline().decode().strip()
        if line.startswith("READY "):
            return line.split(" ", 1)[1]
        if not line and proc.poll() is not None:
            raise RuntimeError(f"library node exited: {proc.tail()}")
    raise RuntimeError("library node not ready in time")


LIBRARY_NODE = textwrap.dedent(
    """
    import asyncio, json, sys
    from ockam.api.node_process import NodeConfig, start_node
    from ockam.codec.address import Address
    from ockam.codec.multiaddr import MultiAddr
    from ockam.node import run
    from ockam.protocol import api_models as m

    async def main():
        spec = json.loads(sys.argv[1])
        node = await start_node(NodeConfig(spec["name"]))
        for name, port in spec.get("outlets", []):
            await node.portals.create_outlet(
                m.CreateOutlet(m.HostnamePort("127.0.0.1", port), worker_addr=Address.local(name))
            )
        for port, to in spec.get("inlets", []):
            await node.portals.create_inlet(
                m.CreateInlet(
                    m.HostnamePort("127.0.0.1", port), MultiAddr.parse(to), f"in{port}", wait_connection=True
                )
            )
        print("READY", node.listener_address, flush=True)
        loop = asyncio.get_running_loop()
        eof = asyncio.Event()
        loop.add_reader(sys.stdin.fileno(), lambda: (sys.stdin.buffer.read1(), eof.set()))
        await eof.wait()
        await node.stop()

    run(main())
    """
)


# -- measurements -------------------------------------------------------------------------


def throughput(port: int, seconds: float, reverse: bool, backends: Backends) -> tuple[float, int, int]:
    """(Mbit/s received by the iperf3 receiver, stalls, bytes moved in all, the omitted
    first second included): one stream, first second omitted.

    A test that does not end in time is a *stall*: the iperf3 server, still busy with
    it, is restarted and the test run again (twice at most).
    """
    args = ["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", f"{seconds:g}", "-O", "1", "-J"]
    if reverse:
        args.append("-R")
    error, stalls = "", 0
    for _ in range(12):
        # The server serves one test at a time and may still be closing the previous one
        # (through a tunnel the client's close reaches it late): it then refuses the test.
        time.sleep(0.5)
        try:
            res = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 20, check=False)
        except subprocess.TimeoutExpired:
            stalls += 1
            error = f"iperf3 did not end within {seconds + 20:g} s"
            if stalls > 2:
                break
            backends.restart_iperf()
            continue
        try:
            data = json.loads(res.stdout)
            error = str(data.get("error", ""))
        except json.JSONDecodeError:
            data, error = {}, f"iperf3 failed: {(res.stderr + res.stdout).strip()[-300:]}"
        if not error:
            moved = sum(int(i["sum"]["bytes"]) for i in data.get("intervals", []))
            return float(data["end"]["sum_received"]["bits_per_second"]) / 1e6, stalls, moved
        if "busy" not in error and "control socket" not in error and data:
            break
    raise RuntimeError(f"iperf3: {error} ({stalls} stalls)")


def latency(port: int, seconds: float, max_count: int, size: int = 64) -> tuple[float, float, int]:
    """(p50 µs, p99 µs, round trips) of ``size``-byte request/response on one connection."""
    msg = os.urandom(size)
    samples: list[int] = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.settimeout(10)
        for _ in range(min(200, max_count)):  # warm-up
            s.sendall(msg)
            _recv_exactly(s, size)
        deadline = time.monotonic() + seconds
        while len(samples) < max_count and time.monotonic() < deadline:
            t0 = time.perf_counter_ns()
            s.sendall(msg)
            if _recv_exactly(s, size) != msg:
                raise RuntimeError("echo mismatch")
            samples.append(time.perf_counter_ns() - t0)
    samples.sort()
    return (
        samples[len(samples) // 2] / 1e3,
        samples[min(len(samples) - 1, len(samples) * 99 // 100)] / 1e3,
        len(samples),
    )


def connection_rate(port: int, seconds: float, max_count: int, clients: int = 8) -> tuple[float, int]:
    """(connections/s, failures): connect, 1 byte there and back, close; ``clients`` at once."""

    async def run() -> tuple[float, int]:
        ok = failed = 0
        deadline = time.monotonic() + seconds

        async def client() -> None:
            nonlocal ok, failed
            while ok + failed < max_count and time.monotonic() < deadline:
                try:
                    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
                    try:
                        writer.write(b"x")
                        if await asyncio.wait_for(reader.readexactly(1), 10) != b"x":
                            raise ConnectionError("echo mismatch")
                    finally:
                        writer.close()
                        with contextlib.suppress(OSError):
                            await writer.wait_closed()
                    ok += 1
                except (OSError, TimeoutError, asyncio.IncompleteReadError):
                    failed += 1

        start = time.monotonic()
        await asyncio.gather(*(client() for _ in range(clients)))
        return ok / (time.monotonic() - start), failed

    return _run_async(run())


def idle_memory(port: int, pids: Callable[[], list[int]], count: int) -> tuple[float, float, int]:
    """(PSS KiB per idle connection, RSS KiB per idle connection, connections opened)."""
    time.sleep(0.5)
    pss0, rss0 = pss_kib(pids()), rss_kib(pids())
    socks: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 120
        for _ in range(count):
            if time.monotonic() > deadline:
                break
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            socks.append(s)
            s.settimeout(10)
            s.sendall(b"i")
            _recv_exactly(s, 1)
        time.sleep(1.0)
        pss1, rss1 = pss_kib(pids()), rss_kib(pids())
    finally:
        for s in socks:
            s.close()
    n = max(1, len(socks))
    time.sleep(0.5)
    return (pss1 - pss0) / n, (rss1 - rss0) / n, len(socks)


def _run_async(coro):  # type: ignore[no-untyped-def]
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:
        return asyncio.run(coro)


# -- the run ------------------------------------------------------------------------------

TUNNELS: dict[str, type[Tunnel]] = {
    "ockam": Ockam,
    "ockam-plain": OckamPlain,
    "rust": RustOckam,
    "mixed": Mixed,
    "socat": Socat,
    "stunnel": Stunnel,
    "ssh": Ssh,
    "direct": Direct,
}
TOOLS = {"socat": ["socat"], "stunnel": ["stunnel4|stunnel"], "ssh": ["ssh", "sshd", "ssh-keygen"]}

METRICS = [
    ("up", "throughput client->server Mbit/s", True),
    ("down", "throughput server->client Mbit/s", True),
    ("p50", "latency p50 µs (64 B echo)", False),
    ("p99", "latency p99 µs", False),
    ("cps", "new connections/s (8 clients)", True),
    ("mem", "PSS KiB per idle connection", False),
    ("cpu", "CPU s per GB (both throughput runs)", False),
]


@dataclass
class Settings:
    seconds: float
    latency_seconds: float
    latency_count: int
    conn_seconds: float
    conn_count: int
    idle: int
    rounds: int


def measure_memory(tunnel: Tunnel, s: Settings, log: Callable[[str], None]) -> dict[str, float]:
    """On a fresh tunnel (before the load runs grow and fragment the heaps)."""
    r: dict[str, float] = {}
    r["mem"], r["mem_rss"], n = idle_memory(tunnel.echo_port, tunnel.pids, s.idle)
    log(f"{tunnel.label}: {r['mem']:.1f} KiB PSS ({r['mem_rss']:.1f} KiB RSS) per idle connection ({n})")
    return r


def measure_load(
    tunnels: list[Tunnel], s: Settings, rotation: int, log: Callable[[str], None]
) -> tuple[dict[str, dict[str, float]], list[str]]:
    """One round: each measurement for every tunnel in turn (so that the figures being
    compared are taken seconds apart), the tunnels' order rotated by ``rotation``.
    Returns the figures by tunnel and the failures."""
    order = tunnels[rotation % len(tunnels) :] + tunnels[: rotation % len(tunnels)]
    r: dict[str, dict[str, float]] = {t.name: {"stalls": 0, "cps_failed": 0} for t in tunnels}
    failures: list[str] = []

    def each(what: str, measure: Callable[[Tunnel, dict[str, float]], None]) -> None:
        for t in order:
            if t.name in failed:
                continue
            try:
                measure(t, r[t.name])
            except Exception as e:  # one tunnel failing must not lose the others
                failed.add(t.name)
                failures.append(f"{t.name}: {what}: {e}")
                log(f"{t.label}: {what} failed: {e}")

    failed: set[str] = set()

    def moved(t: Tunnel, x: dict[str, float], reverse: bool) -> float:
        """One throughput run: Mbit/s; the tunnel's CPU time and bytes are added up."""
        cpu = cpu_seconds(process_tree(t.pids()))
        mbps, stalls, moved = throughput(t.iperf_port, s.seconds, reverse, t.backends)
        x["cpu_s"] = x.get("cpu_s", 0.0) + cpu_seconds(process_tree(t.pids())) - cpu
        x["bytes"] = x.get("bytes", 0.0) + moved
        x["stalls"] += stalls
        return mbps

    def up(t: Tunnel, x: dict[str, float]) -> None:
        x["up"] = moved(t, x, False)

    def down(t: Tunnel, x: dict[str, float]) -> None:
        x["down"] = moved(t, x, True)
        if t.name != "direct" and x.get("bytes"):
            x["cpu"] = x["cpu_s"] / (x["bytes"] / 1e9)

    def lat(t: Tunnel, x: dict[str, float]) -> None:
        x["p50"], x["p99"], x["round_trips"] = latency(t.echo_port, s.latency_seconds, s.latency_count)

    def cps(t: Tunnel, x: dict[str, float]) -> None:
        x["cps"], x["cps_failed"] = connection_rate(t.echo_port, s.conn_seconds, s.conn_count)

    each("throughput", up)
    each("reverse throughput", down)
    each("latency", lat)
    each("connection rate", cps)
    for t in tunnels:
        if t.name in failed:
            del r[t.name]
            continue
        x = r[t.name]
        log(
            f"{t.label}: {x['up']:.0f} / {x['down']:.0f} Mbit/s, latency p50 {x['p50']:.0f} µs "
            f"p99 {x['p99']:.0f} µs ({x['round_trips']:.0f} round trips), {x['cps']:.0f} connections/s "
            f"({x['cps_failed']:.0f} failed)" + (f", {x['stalls']:.0f} iperf3 stalls" if x["stalls"] else "")
        )
    return r, failures


def median(values: list[float]) -> float:
    v = sorted(values)
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2


def available(name: str) -> str | None:
    """None if the tools of ``name`` are installed, else what is missing."""
    if issubclass(TUNNELS[name], RustOckam) and not RUST:
        return "OCKAM_RUST (a Rust Ockam 0.139 `ockam`)"
    for tool in TOOLS.get(name, []):
        if not any(shutil.which(t) or Path("/usr/sbin", t).exists() for t in tool.split("|")):
            return tool
    return None


def fmt(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.1f}"


def paired_ratios(rounds: dict[str, list[dict[str, float]]]) -> dict[tuple[str, str, str], float]:
    """(ours, competitor, metric) -> the median over the rounds of ours / competitor, each
    ratio taken within one round (the two figures measured seconds apart)."""
    out: dict[tuple[str, str, str], float] = {}
    for ours in ("ockam", "ockam-plain"):
        for other, runs in rounds.items():
            if ours not in rounds or other in ("ockam", "ockam-plain"):
                continue
            for key, _, _ in METRICS:
                pairs = [
                    a[key] / b[key]
                    for a, b in zip(rounds[ours], runs, strict=False)
                    if key in a and b.get(key)
                ]
                if pairs:
                    out[(ours, other, key)] = median(pairs)
    return out


def table(
    results: dict[str, dict[str, float]],
    labels: dict[str, str],
    ratios: dict[tuple[str, str, str], float] | None = None,
) -> str:
    names = list(results)
    lines = []
    width = max(len(m[1]) for m in METRICS) + 2
    lines.append("".ljust(width) + "".join(labels[n].rjust(13) for n in names))
    for key, title, _ in METRICS:
        lines.append(title.ljust(width) + "".join(fmt(results[n].get(key)).rjust(13) for n in names))
    for ours in ("ockam", "ockam-plain"):
        if ours not in results:
            continue
        others = [n for n in names if n not in ("ockam", "ockam-plain", "direct")]
        if not others:
            continue
        lines.append("")
        lines.append(
            f"ratio {labels[ours]} / competitor".ljust(width) + "".join(labels[n].rjust(13) for n in others)
        )
        for key, title, higher in METRICS:
            cells = []
            for n in others:
                a, b = results[ours].get(key), results[n].get(key)
                paired = (ratios or {}).get((ours, n, key))
                if paired is not None:
                    cells.append(f"{paired:.2f}")
                else:
                    cells.append(f"{a / b:.2f}" if a is not None and b else "-")
            better = "higher is better" if higher else "lower is better"
            lines.append(
                f"{title} ({better})"[: width - 1].ljust(width) + "".join(c.rjust(13) for c in cells)
            )
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="short runs (a smoke test of the benchmark)")
    p.add_argument("--seconds", type=float, help="seconds per iperf3 run (default 5, quick 2)")
    p.add_argument(
        "--idle", type=int, help="idle connections for the memory figure (default 1000, quick 200)"
    )
    p.add_argument(
        "--rounds", type=int, help="load rounds, tunnels interleaved; medians (default 3, quick 1)"
    )
    p.add_argument("--only", help="comma-separated tunnels: " + ",".join(TUNNELS))
    p.add_argument("--library", action="store_true", help="run our nodes through the library API")
    p.add_argument("--json", help="also write the results to this file")
    args = p.parse_args()
    q = args.quick
    s = Settings(
        seconds=args.seconds or (2.0 if q else 5.0),
        latency_seconds=2.0 if q else 5.0,
        latency_count=5_000 if q else 50_000,
        conn_seconds=2.0 if q else 5.0,
        conn_count=3_000 if q else 20_000,
        idle=args.idle or (200 if q else 1000),
        rounds=args.rounds or (1 if q else 3),
    )
    names = args.only.split(",") if args.only else list(TUNNELS)
    for n in names:
        if n not in TUNNELS:
            p.error(f"unknown tunnel {n!r}")
    if not shutil.which("iperf3"):
        print("iperf3 is missing (scripts/install.sh installs it)", file=sys.stderr)
        return 2
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < min(hard, 8 * s.idle + 1024):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8 * s.idle + 1024), hard))

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    print(machine_line())
    results: dict[str, dict[str, float]] = {}
    labels: dict[str, str] = {}
    notes: list[str] = []
    ratios: dict[tuple[str, str, str], float] = {}
    with tempfile.TemporaryDirectory(prefix="ockam-bench-") as tmp:
        LOG_DIR[0] = Path(tmp)
        backends = Backends.start()
        tunnels: list[Tunnel] = []
        try:
            for n in names:
                missing = available(n)
                if missing:
                    notes.append(f"{n}: skipped ({missing} is not there)")
                    continue
                workdir = Path(tmp) / n
                workdir.mkdir()
                cls = TUNNELS[n]
                tunnel = (
                    cls(backends, workdir, library=args.library)
                    if issubclass(cls, Ockam)
                    else cls(backends, workdir)
                )
                try:
                    tunnel.start()
                except Exception as e:  # one tunnel failing must not lose the others
                    notes.append(f"{n}: cannot start: {e}")
                    log(f"{tunnel.label}: cannot start: {e}")
                    tunnel.stop()
                    continue
                tunnels.append(tunnel)
                labels[n] = tunnel.label
                results[n] = {}
                if isinstance(tunnel, (Ockam, RustOckam)):
                    notes.append(f"{n}: {tunnel.how}")
            log("memory per idle connection (fresh tunnels):")
            for t in tunnels:
                if t.name != "direct":
                    try:
                        results[t.name].update(measure_memory(t, s, log))
                    except Exception as e:
                        notes.append(f"{t.name}: memory: failed: {e}")
            rounds: dict[str, list[dict[str, float]]] = {t.name: [] for t in tunnels}
            for i in range(s.rounds):
                log(f"round {i + 1}/{s.rounds}:")
                figures, failures = measure_load(tunnels, s, i, log)
                notes += [f"round {i + 1}: {f}" for f in failures]
                for name, runs in rounds.items():
                    runs.append(figures.get(name, {}))  # (empty: failed in this round)
            for name, runs in rounds.items():
                for key in ("up", "down", "p50", "p99", "cps", "cpu"):
                    values = [r[key] for r in runs if key in r]
                    if values:
                        results[name][key] = median(values)
                failed = sum(r.get("cps_failed", 0) for r in runs)
                if failed:
                    notes.append(f"{name}: {failed:.0f} connections failed in the connection-rate runs")
                stalls = sum(r.get("stalls", 0) for r in runs)
                if stalls:
                    notes.append(
                        f"{name}: {stalls:.0f} of {2 * len([r for r in runs if r]) + stalls:.0f} iperf3 runs stalled "
                        "(did not end; the server was restarted and the run repeated)"
                    )
            ratios = paired_ratios(rounds)
        finally:
            for t in reversed(tunnels):
                t.stop()
            backends.stop()
    print(
        f"settings: iperf3 {s.seconds:g} s per direction (1 stream, +1 s omitted); latency <= {s.latency_count} "
        f"round trips in {s.latency_seconds:g} s; connections <= {s.conn_count} in {s.conn_seconds:g} s; "
        f"{s.idle} idle connections; medians of {s.rounds} round(s), tunnels interleaved; "
        "ratios: medians of the ratios within each round"
    )
    print(table(results, labels, ratios))
    for note in notes:
        print(f"note: {note}")
    if "ockam" in results and "ssh" in results and "up" in results["ockam"] and "up" in results["ssh"]:
        up = ratios.get(("ockam", "ssh", "up"), results["ockam"]["up"] / results["ssh"]["up"])
        down = ratios.get(("ockam", "ssh", "down"), results["ockam"]["down"] / results["ssh"]["down"])
        print(
            "target (throughput >= ssh -L aes256-gcm): "
            + ("met" if up >= 1 and down >= 1 else "NOT met")
            + f" (ours / ssh: {up:.2f} client->server, {down:.2f} server->client)"
        )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "machine": machine_line(),
                    "settings": s.__dict__,
                    "results": results,
                    "ratios": {"/".join(k): v for k, v in ratios.items()},
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
