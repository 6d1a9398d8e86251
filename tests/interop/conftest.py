"""Interoperability with a real Rust Ockam 0.139 ``ockam`` (``OCKAM_RUST=/path/to/ockam``).

Each side is its own process tree with its own ``OCKAM_HOME``: the Rust CLI drives Rust
nodes, ours drives ours, and they meet over real TCP on 127.0.0.1.  Without
``OCKAM_RUST`` every test here is skipped (one line in the summary).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from e2e.conftest import free_port, ockam_executable, postgres

RUST = os.environ.get("OCKAM_RUST")
SKIP_REASON = (
    "OCKAM_RUST is not set: the interop tests need a Rust Ockam 0.139 `ockam` (OCKAM_RUST=/path/to/ockam)"
)
ADDRESS = re.compile(r"[0-9a-f]{32}")
__all__ = ["ADDRESS", "Cli", "eventually", "free_port", "postgres"]


class Cli:
    """One implementation's ``ockam`` with its own ``OCKAM_HOME``.

    Outputs go through files, not pipes: a Rust background node inherits the pipes of the
    command that started it and would keep them open."""

    def __init__(self, kind: str, exe: str, home: Path) -> None:
        self.kind = kind
        self.exe = exe
        self.home = home
        self.env = dict(os.environ)
        self.env["OCKAM_HOME"] = str(home)
        for key in ("QUIET", "OCKAM_LOGGING", "OCKAM_LOG_LEVEL"):
            self.env.pop(key, None)
        self.env["NO_COLOR"] = "true"
        self.env["OCKAM_DISABLE_UPGRADE_CHECK"] = "true"
        self.env["OCKAM_OPENTELEMETRY_EXPORT"] = "false"
        self.env.setdefault("OCKAM_DEFAULT_TIMEOUT", "30s")
        self.ports: dict[str, int] = {}

    def __repr__(self) -> str:
        return self.kind

    def run(self, *args: str, timeout: float = 90, input: str | None = None) -> tuple[int, str, str]:
        """(exit code, stdout, stderr) of ``ockam ARGS``."""
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            proc = subprocess.run(
                [self.exe, *args],
                stdin=subprocess.DEVNULL if input is None else None,
                input=None if input is None else input.encode(),
                stdout=out,
                stderr=err,
                env=self.env,
                timeout=timeout,
                check=False,
            )
            out.seek(0)
            err.seek(0)
            return proc.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace")

    def ok(self, *args: str, timeout: float = 90, input: str | None = None) -> str:
        code, out, err = self.run(*args, timeout=timeout, input=input)
        assert code == 0, f"{self.kind}: ockam {' '.join(args)} exited {code}: {(err or out).strip()[-2000:]}"
        return out.strip()

    def node(self, name: str, *extra: str) -> int:
        """``node create NAME`` on a known port; returns the port."""
        port = free_port()
        self.ok("node", "create", name, "--tcp-listener-address", f"127.0.0.1:{port}", *extra)
        self.ports[name] = port
        return port

    def tcp(self, name: str) -> str:
        """The multiaddr of node ``name``'s TCP listener, for the other implementation."""
        return f"/ip4/127.0.0.1/tcp/{self.ports[name]}"

    def identifier(self, identity: str | None = None) -> str:
        out = self.ok("identity", "show", *([identity] if identity else []))
        found = re.search(r"I[0-9a-f]{64}", out)
        assert found, out
        return found.group(0)

    def identity_hex(self, identity: str | None = None) -> str:
        out = self.ok("identity", "show", *([identity] if identity else []), "--full", "--encoding", "hex")
        return out.split()[-1]

    def log(self, node: str) -> str:
        return "".join(
            p.read_text(errors="replace") for p in (self.home / "nodes" / node).glob("stdout*.log")
        )

    def stop_all(self) -> None:
        try:
            self.run("node", "delete", "--all", "--yes", timeout=60)
        except subprocess.TimeoutExpired:
            pass


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Without OCKAM_RUST the interop tests are not collected (one summary line says so)."""
    if not RUST and collection_path.name.startswith("test_"):
        return True
    return None


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not RUST:
        terminalreporter.write_line(f"tests/interop skipped: {SKIP_REASON}")


@pytest.fixture
def rust(tmp_path: Path) -> Iterator[Cli]:
    if not RUST:
        pytest.skip(SKIP_REASON)
    cli = Cli("rust", RUST, tmp_path / "rust-home")
    try:
        yield cli
    finally:
        cli.stop_all()


@pytest.fixture
def ours(tmp_path: Path) -> Iterator[Cli]:
    if not RUST:
        pytest.skip(SKIP_REASON)
    cli = Cli("ours", ockam_executable(), tmp_path / "our-home")
    try:
        yield cli
    finally:
        cli.stop_all()


@pytest.fixture(params=["rust->ours", "ours->rust"])
def pair(request: pytest.FixtureRequest, rust: Cli, ours: Cli) -> tuple[Cli, Cli]:
    """(initiating side, other side), in both directions."""
    return (rust, ours) if request.param == "rust->ours" else (ours, rust)


def eventually(check: Callable[[], object], timeout: float = 20.0, interval: float = 0.3) -> object:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
            if value:
                return value
        except (AssertionError, OSError, subprocess.SubprocessError):
            if time.monotonic() >= deadline:
                raise
        if time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def last_json(text: str) -> object:
    return json.loads(text)
