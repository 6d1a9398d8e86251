"""Fixtures for end-to-end tests: the real ``ockam`` executable in a private OCKAM_HOME."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from glob import glob
from pathlib import Path

import pytest


def ockam_executable() -> str:
    """``$OCKAM``, else the ``ockam`` script beside this Python, else ``ockam`` on PATH."""
    env = os.environ.get("OCKAM")
    if env:
        return env
    beside = Path(sys.executable).parent / "ockam"
    if beside.exists():
        return str(beside)
    found = shutil.which("ockam")
    if found is None:
        pytest.skip("no ockam executable")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Ockam:
    """Runs ``ockam`` commands with ``OCKAM_HOME`` set to a private directory."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.exe = ockam_executable()
        self.env = dict(os.environ)
        self.env["OCKAM_HOME"] = str(home)
        self.env.pop("QUIET", None)
        self.env.setdefault("OCKAM_DEFAULT_TIMEOUT", "30s")

    def run(self, *args: str, input: str | None = None, timeout: float = 60) -> tuple[int, str, str]:
        """(exit code, stdout, stderr) of ``ockam ARGS``."""
        proc = subprocess.run(
            [self.exe, *args],
            input=input,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
        return proc.returncode, proc.stdout, proc.stderr

    def ok(self, *args: str, input: str | None = None, timeout: float = 60) -> str:
        """stdout of ``ockam ARGS``, which must succeed."""
        code, out, err = self.run(*args, input=input, timeout=timeout)
        assert code == 0, f"ockam {' '.join(args)} exited {code}: {err.strip() or out.strip()}"
        return out

    def fail(self, *args: str, timeout: float = 60) -> str:
        """The single stderr line of ``ockam ARGS``, which must fail without a traceback."""
        code, out, err = self.run(*args, timeout=timeout)
        assert code != 0, f"ockam {' '.join(args)} succeeded: {out!r}"
        assert "Traceback" not in err and "Traceback" not in out, err
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1, f"expected one line on stderr, got: {err!r}"
        return lines[0]


@pytest.fixture
def ockam(tmp_path: Path) -> Iterator[Ockam]:
    home = tmp_path / "ockam-home"
    runner = Ockam(home)
    try:
        yield runner
    finally:
        try:
            runner.run("node", "delete", "--all", "--yes", timeout=60)
        except subprocess.TimeoutExpired:
            pass


# -- a throw-away PostgreSQL server (portals to it in e2e and interop tests)


def _postgres_bin() -> Path | None:
    for candidate in sorted(glob("/usr/lib/postgresql/*/bin"), reverse=True):
        path = Path(candidate)
        if (path / "initdb").exists() and (path / "pg_ctl").exists():
            return path
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).resolve().parent
    return None


@contextlib.contextmanager
def postgres_server(prefix: Sequence[str] = ()) -> Iterator[int]:
    """A private PostgreSQL server on a free port (run as ``postgres`` when we are root),
    started through ``prefix`` (e.g. ``ip netns exec NS``: in a network namespace)."""
    bindir = _postgres_bin()
    if bindir is None or shutil.which("psql") is None:
        pytest.skip("PostgreSQL (initdb, pg_ctl, psql) is not installed")
    as_user: list[str] = []
    workdir = Path(tempfile.mkdtemp(prefix="ockam-pg-"))
    if os.geteuid() == 0:
        import pwd

        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(workdir, ignore_errors=True)
            pytest.skip("running as root and there is no 'postgres' user to run the server")
        runuser = shutil.which("runuser")
        if not runuser:
            shutil.rmtree(workdir, ignore_errors=True)
            pytest.skip("running as root without runuser to start the server as 'postgres'")
        as_user = [runuser, "-u", "postgres", "--"]
        os.chmod(workdir, 0o755)
        os.chown(workdir, pw.pw_uid, pw.pw_gid)
    data = workdir / "data"
    port = free_port()
    log = workdir / "server.log"

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*prefix, *as_user, *argv], capture_output=True, text=True, timeout=120, check=False
        )

    init = run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync")
    if init.returncode != 0:
        shutil.rmtree(workdir, ignore_errors=True)
        pytest.skip(f"initdb failed: {init.stderr.strip().splitlines()[-1:]}")
    options = f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off"
    start = run(
        str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start"
    )
    try:
        if start.returncode != 0:
            pytest.skip(
                f"the PostgreSQL server did not start: {start.stderr.strip() or start.stdout.strip()}"
            )
        yield port
    finally:
        run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def postgres() -> Iterator[int]:
    """A private PostgreSQL server on a free port of 127.0.0.1."""
    with postgres_server() as port:
        yield port
