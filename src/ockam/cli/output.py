"""What the CLI writes: results on stdout (plain / machine / JSON), status on stderr.

Selection (as the Rust CLI): with ``--output plain`` (the default) a TTY gets the plain
text, else the machine form, else JSON; a pipe gets the machine form, else JSON, else the
plain text.  ``--output json`` (implied by ``--jq`` or ``--compact-output`` when
``--output`` is absent) prints only JSON, filtered by ``--jq``.  The message is
right-trimmed; a newline is added only when stdout is a TTY.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from ..errors import InvalidArgument, OckamError

__all__ = [
    "GlobalOpts",
    "Terminal",
    "apply_jq",
    "env_flag",
    "json_text",
    "replace_hyphen_with_stdin",
    "select_message",
]

PADDING = "    "
ICON_PADDING = "  "


def fmt_ok(msg: str) -> str:
    return f"{ICON_PADDING}✔ {msg}"


def fmt_log(msg: str) -> str:
    return f"{PADDING}{msg}"


def fmt_info(msg: str) -> str:
    return f"{ICON_PADDING}> {msg}"


def fmt_warn(msg: str) -> str:
    return f"{ICON_PADDING}! {msg}"


def fmt_err(msg: str) -> str:
    return f"{ICON_PADDING}✗ {msg}"


def fmt_list(msg: str) -> str:
    return f"{ICON_PADDING}│ {msg}"


def env_flag(name: str) -> bool:
    """A boolean environment variable as clap reads it (unset/empty/false/0/no/off: false)."""
    value = os.environ.get(name)
    if value is None:
        return False
    return value.strip().lower() not in ("", "0", "false", "no", "off", "n", "f")


@dataclass
class GlobalOpts:
    """Options accepted by every command, before or after the subcommand."""

    quiet: bool = False
    verbose: int = 0
    no_color: bool = False
    no_input: bool = False
    output: str | None = None
    jq: str | None = None
    compact_output: bool = False
    pretty: bool = False
    test_argument_parser: bool = False

    @property
    def json_output(self) -> bool:
        if self.output is None:
            return self.jq is not None or self.compact_output
        return self.output == "json"


def json_text(value: Any, compact: bool = False) -> str:
    """JSON as serde_json writes it: pretty with a 2-space indent, or compact."""
    if compact:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return json.dumps(value, ensure_ascii=False, indent=2)


def apply_jq(query: str, value: Any) -> list[Any]:
    """Run a jq filter on ``value``: the PyPI ``jq`` module if present, else the ``jq`` binary."""
    try:
        import jq  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return _apply_jq_binary(query, value)
    try:
        program = jq.compile(query)
    except ValueError as e:
        raise InvalidArgument(f"Invalid jq query {query!r}: {str(e).splitlines()[0]}") from e
    results: list[Any] = []
    try:
        for item in program.input_value(value):
            results.append(item)
    except ValueError:
        pass  # as the Rust CLI: stop at the first evaluation error
    return results


def _apply_jq_binary(query: str, value: Any) -> list[Any]:
    import shutil
    import subprocess

    exe = shutil.which("jq")
    if exe is None:
        raise OckamError("--jq needs the jq Python package or the jq program")
    proc = subprocess.run(
        [exe, "-c", query], input=json.dumps(value), capture_output=True, text=True, check=False
    )
    if proc.returncode not in (0, 5) and not proc.stdout:
        first = (proc.stderr.strip().splitlines() or ["error"])[0]
        raise InvalidArgument(f"Invalid jq query {query!r}: {first}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def select_message(
    opts: GlobalOpts,
    is_tty: bool,
    plain: str | None = None,
    machine: str | None = None,
    json_value: Any = None,
    has_json: bool = False,
) -> str | None:
    """The text to print for one result, or None (JSON requested but the command has none)."""
    has_json = has_json or json_value is not None
    if plain is None and machine is None and not has_json:
        raise OckamError("At least one output format must be defined")

    def render_json() -> str:
        if opts.json_output and opts.jq is not None:
            return "\n".join(json_text(v, opts.compact_output) for v in apply_jq(opts.jq, json_value))
        return json_text(json_value, opts.json_output and opts.compact_output)

    if opts.json_output:
        return render_json() if has_json else None
    if is_tty:
        if plain is not None:
            return plain
        if machine is not None:
            return machine
        return render_json()
    if machine is not None:
        return machine
    if has_json:
        return render_json()
    return plain


class Terminal:
    """Writes results to stdout and status lines to stderr."""

    def __init__(self, opts: GlobalOpts, stdout: TextIO | None = None, stderr: TextIO | None = None) -> None:
        self.opts = opts
        self.stdout = stdout if stdout is not None else sys.stdout
        self.stderr = stderr if stderr is not None else sys.stderr

    @staticmethod
    def _isatty(stream: TextIO) -> bool:
        try:
            return stream.isatty()
        except (AttributeError, ValueError, OSError):
            return False

    @property
    def stdout_is_tty(self) -> bool:
        return self._isatty(self.stdout)

    @property
    def stderr_is_tty(self) -> bool:
        return self._isatty(self.stderr)

    @property
    def logging_to_console(self) -> bool:
        """With -v, log lines go to the console and replace status lines and results."""
        return self.opts.verbose > 0

    def can_ask_for_user_input(self) -> bool:
        return not self.opts.no_input and self.stderr_is_tty and not self.opts.quiet

    # -- stderr
    def status(self, message: str) -> None:
        """A progress/status line on stderr (nothing with --quiet)."""
        if self.opts.quiet or self.logging_to_console:
            return
        try:
            self.stderr.write(message.rstrip("\n") + "\n")
            self.stderr.flush()
        except (BrokenPipeError, ValueError):
            pass

    def confirm(self, yes: bool, prompt: str) -> bool:
        """True if ``--yes`` was given or the user agrees; without a TTY, an error."""
        if yes:
            return True
        if not self.can_ask_for_user_input():
            raise InvalidArgument("Use --yes to confirm")
        self.stderr.write(fmt_warn(prompt) + " [Y/n] ")
        self.stderr.flush()
        answer = sys.stdin.readline().strip().lower()
        return answer in ("", "y", "yes")

    # -- stdout
    def result(
        self,
        plain: str | None = None,
        machine: str | None = None,
        json_value: Any = None,
        *,
        has_json: bool = False,
    ) -> None:
        """Print one command result, choosing the form as described in the module doc."""
        tty = self.stdout_is_tty
        msg = select_message(self.opts, tty, plain, machine, json_value, has_json)
        if msg is None or self.logging_to_console:
            return
        msg = msg.rstrip()
        try:
            self.stdout.write(msg + "\n" if tty else msg)
            self.stdout.flush()
        except BrokenPipeError:
            pass


def replace_hyphen_with_stdin(arg: str, read_line: Callable[[], str]) -> str:
    """Substitute a line of stdin for ``/-`` (as ``/a/b``) or ``-/`` (as ``/a/b/``) in ``arg``."""
    if "/-" in arg:
        parts = [p for p in read_line().strip().split("/") if p]
        return arg.replace("/-", "".join("/" + p for p in parts))
    if "-/" in arg:
        parts = [p for p in read_line().strip().split("/") if p]
        return arg.replace("-/", "/" + "".join(p + "/" for p in parts))
    return arg
