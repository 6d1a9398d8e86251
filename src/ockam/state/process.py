"""Operating-system process helpers: liveness of a node's pid, stopping it."""

from __future__ import annotations

import os
import signal
import time

__all__ = ["process_state", "pid_status", "is_alive", "terminate", "wait_exit"]


def process_state(pid: int) -> str | None:
    """The one-letter state of ``pid`` from ``/proc/<pid>/stat`` (``R``, ``S``, ``Z``...),
    ``"?"`` if the process exists but its state cannot be read, ``None`` if there is no
    such process."""
    if pid <= 0:
        return None
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None
    except OSError:
        data = b""
    if data:
        # "pid (comm) S ...": comm may contain spaces and parentheses.
        end = data.rfind(b")")
        fields = data[end + 1 :].split()
        if fields:
            return fields[0].decode("ascii", "replace")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return "?"
    return "?"


def pid_status(pid: int | None) -> str:
    """``"running"``, ``"zombie"`` (dead but not reaped) or ``"stopped"`` (no process)."""
    if pid is None:
        return "stopped"
    state = process_state(pid)
    if state is None:
        return "stopped"
    if state in ("Z", "X", "x"):
        return "zombie"
    return "running"


def is_alive(pid: int | None) -> bool:
    return pid_status(pid) == "running"


def wait_exit(pid: int, timeout: float) -> bool:
    """Wait until ``pid`` is gone or a zombie; True if it did within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if not is_alive(pid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def terminate(pid: int, timeout: float = 5.0) -> bool:
    """SIGTERM ``pid`` and wait for it to exit; SIGKILL it if it does not.

    A missing process counts as stopped.  Never signals the calling process itself.
    Returns True when the process is gone (or a zombie) at the end."""
    if pid <= 0 or pid == os.getpid():
        return True
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 2.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        if wait_exit(pid, wait):
            return True
    return not is_alive(pid)
