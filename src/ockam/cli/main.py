"""Entry point of the ``ockam`` command.

Every failure ends as ONE line on stderr and a non-zero exit: 70 for a command
failure (any exception), 2 for a command line that does not parse.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from .base import OckamGroup

__all__ = ["build_cli", "main"]

# click >= 8.2 raises this when a group is called without a subcommand: show its help.
_NO_ARGS_IS_HELP: type[click.UsageError] = getattr(click.exceptions, "NoArgsIsHelpError", click.UsageError)
EXIT_SOFTWARE = 70
EXIT_USAGE = 2


def build_cli() -> click.Group:
    from .authority import authority
    from .credential import credential
    from .enroll import enroll
    from .flow_control import flow_control
    from .message import message
    from .node import node
    from .policy import policy
    from .portal import tcp_inlet, tcp_outlet
    from .project import project, project_member, space
    from .relay import forwarder, relay
    from .reset import reset, status
    from .secure_channel import secure_channel, secure_channel_listener
    from .service import service, worker
    from .tcp import tcp_connection, tcp_listener
    from .vault import identity, vault

    root = OckamGroup(
        name="ockam",
        help="Orchestrate end-to-end encryption, mutual authentication, key management, "
        "credential management, and authorization policy enforcement, at scale.",
    )
    for command in (
        enroll,
        space,
        project,
        project_member,
        node,
        message,
        tcp_listener,
        tcp_connection,
        tcp_outlet,
        tcp_inlet,
        relay,
        forwarder,
        service,
        worker,
        vault,
        identity,
        secure_channel,
        secure_channel_listener,
        credential,
        authority,
        policy,
        flow_control,
        reset,
        status,
    ):
        root.add_command(command)
    return root


def _version_text() -> str:
    from .. import __version__

    return f"    ockam {__version__}\n    compiled from: N/A"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _error(message: str) -> None:
    try:
        sys.stderr.write(f"Error: {_one_line(message)}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _read_stdin_line() -> str:
    try:
        return sys.stdin.readline() if sys.stdin is not None else ""
    except (OSError, ValueError):
        return ""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    code = _main(argv)
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        # The reader went away (``ockam ... | head -1``): not an error of ours.
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return code


def _main(argv: Sequence[str] | None) -> int:
    from .output import replace_hyphen_with_stdin

    raw = list(sys.argv[1:] if argv is None else argv)
    args = [replace_hyphen_with_stdin(a, _read_stdin_line) for a in raw]
    if "-V" in args or "--version" in args:
        print(_version_text())
        return 0
    try:
        cli = build_cli()
        cli.main(args=args, prog_name="ockam", standalone_mode=False)
        return 0
    except _NO_ARGS_IS_HELP as e:
        click.echo(e.format_message(), err=True)
        return EXIT_USAGE
    except click.exceptions.Exit as e:
        return int(e.exit_code)
    except click.UsageError as e:
        _error(e.format_message())
        return EXIT_USAGE
    except click.Abort:
        _error("aborted")
        return 130
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except click.ClickException as e:
        _error(e.format_message())
        return EXIT_SOFTWARE
    except Exception as e:  # one line, never a traceback
        from ..errors import OckamError

        if isinstance(e, OckamError):
            _error(str(e))
            return int(getattr(e, "exit_code", EXIT_SOFTWARE)) or EXIT_SOFTWARE
        _error(f"{type(e).__name__}: {e}" if str(e) else type(e).__name__)
        return EXIT_SOFTWARE


if __name__ == "__main__":
    sys.exit(main())
