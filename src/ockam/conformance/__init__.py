"""Conformance runner for the shared vector files (``python -m ockam.conformance FILE_OR_DIR...``).

Each kind is handled by a function ``handler(inputs) -> dict`` that computes, with the
same codec and protocol functions the node uses, the object the vector's ``expected``
describes.  The runner compares every key of ``expected`` with the computed value.
``{"error": true}`` passes when the handler raises an :class:`OckamError` (or
returns ``{"error": True}``).  Kinds without a handler yet are reported as skipped.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..errors import OckamError

__all__ = ["Mismatch", "Outcome", "check_file", "handlers", "main", "run"]

Handler = Callable[[dict[str, Any]], dict[str, Any]]

# Modules that contribute handlers, in the order they are consulted.
_MODULES = (
    "ockam.conformance.codec_kinds",
    "ockam.conformance.crypto_kinds",
    "ockam.conformance.service_kinds",
)


class Mismatch(Exception):
    """Raised by a handler when an internal round-trip check fails."""


def handlers() -> dict[str, Handler]:
    found: dict[str, Handler] = {}
    for name in _MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
            continue
        found.update(getattr(module, "KINDS", {}))
    return found


class Outcome:
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


def _diff(expected: Any, actual: Any, path: str = "") -> list[str]:
    if isinstance(expected, dict) and isinstance(actual, dict):
        out: list[str] = []
        for key, value in expected.items():
            if key not in actual:
                out.append(f"{path}.{key}: missing (expected {value!r})")
            else:
                out.extend(_diff(value, actual[key], f"{path}.{key}"))
        return out
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        out = []
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            out.extend(_diff(e, a, f"{path}[{i}]"))
        return out
    if expected != actual or (
        type(expected) is not type(actual)
        and not (isinstance(expected, (int, float)) and isinstance(actual, (int, float)))
    ):
        return [f"{path or 'value'}: expected {expected!r}, got {actual!r}"]
    return []


def check_file(path: Path, table: dict[str, Handler]) -> tuple[str, str]:
    """Check one vector file; return (outcome, detail)."""
    try:
        vector = json.loads(path.read_text())
        kind = vector["kind"]
        inputs = vector["inputs"]
        expected = vector["expected"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        return Outcome.FAILED, f"unreadable vector: {e}"
    handler = table.get(kind)
    if handler is None:
        return Outcome.SKIPPED, f"kind {kind!r} not implemented"
    wants_error = expected == {"error": True}
    try:
        actual = handler(inputs)
    except OckamError as e:
        if wants_error:
            return Outcome.PASSED, ""
        return Outcome.FAILED, f"unexpected error: {e}"
    except Mismatch as e:
        return Outcome.FAILED, f"round trip: {e}"
    except Exception as e:  # a handler bug is a failure, not a crash of the runner
        return Outcome.FAILED, f"{type(e).__name__}: {e}"
    if wants_error:
        if actual.get("error") is True:
            return Outcome.PASSED, ""
        return Outcome.FAILED, f"expected an error, got {actual!r}"
    problems = _diff(expected, actual)
    return (Outcome.FAILED, "; ".join(problems)) if problems else (Outcome.PASSED, "")


def _files(args: Iterable[str]) -> list[Path]:
    out: list[Path] = []
    for arg in args:
        p = Path(arg)
        if p.is_dir():
            out.extend(sorted(q for q in p.glob("*.json")))
        else:
            out.append(p)
    return out


def run(args: Iterable[str], out: Any = sys.stdout, verbose: bool = False) -> tuple[int, int, int]:
    table = handlers()
    counts = {Outcome.PASSED: 0, Outcome.FAILED: 0, Outcome.SKIPPED: 0}
    for path in _files(args):
        outcome, detail = check_file(path, table)
        counts[outcome] += 1
        if outcome == Outcome.FAILED or verbose or outcome == Outcome.SKIPPED:
            print(f"{outcome.upper():8} {path.name}" + (f": {detail}" if detail else ""), file=out)
    passed, failed, skipped = counts[Outcome.PASSED], counts[Outcome.FAILED], counts[Outcome.SKIPPED]
    print(f"{passed} passed, {failed} failed, {skipped} skipped", file=out)
    return passed, failed, skipped


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    verbose = "-v" in args
    args = [a for a in args if a != "-v"]
    if not args:
        print("usage: python -m ockam.conformance [-v] FILE_OR_DIR...", file=sys.stderr)
        return 2
    _, failed, _ = run(args, verbose=verbose)
    return 1 if failed else 0
