"""Fixtures for end-to-end tests: the real ``ockam`` executable in a private OCKAM_HOME."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
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
