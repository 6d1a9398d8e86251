"""Click plumbing shared by every command: global options, state, terminal."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .output import GlobalOpts, Terminal, env_flag

if TYPE_CHECKING:
    from ..state import State

    _ParamType = click.ParamType[Any]
else:
    _ParamType = click.ParamType

__all__ = [
    "CONTEXT_SETTINGS",
    "OckamCommand",
    "OckamGroup",
    "get_opts",
    "node_name_option",
    "open_state",
    "terminal",
]

CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
_OPTS_KEY = "ockam.global_opts"
_STATE_KEY = "ockam.state"
F = TypeVar("F", bound=Callable[..., Any])


def _opts_of(ctx: click.Context) -> GlobalOpts:
    opts = ctx.meta.get(_OPTS_KEY)
    if opts is None:
        opts = GlobalOpts(
            quiet=env_flag("QUIET"), no_color=env_flag("NO_COLOR"), no_input=env_flag("NO_INPUT")
        )
        ctx.meta[_OPTS_KEY] = opts
    assert isinstance(opts, GlobalOpts)
    return opts


def _set_flag(name: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
        if value:
            setattr(_opts_of(ctx), name, True)

    return callback


def _set_value(name: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
        if value is not None:
            setattr(_opts_of(ctx), name, value)

    return callback


def _add_verbose(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
    if value:
        _opts_of(ctx).verbose += int(value)


def global_options() -> list[click.Parameter]:
    """Fresh instances of the global options (every command gets its own)."""
    heading: dict[str, Any] = {"expose_value": False}
    return [
        click.Option(
            ["-q", "--quiet"],
            is_flag=True,
            callback=_set_flag("quiet"),
            help="Do not print status messages to stderr, never prompt (env QUIET).",
            **heading,
        ),
        click.Option(
            ["-v", "--verbose"],
            count=True,
            callback=_add_verbose,
            help="Increase verbosity of log messages (-v info, -vv debug, -vvv trace).",
            **heading,
        ),
        click.Option(
            ["--no-color"],
            is_flag=True,
            callback=_set_flag("no_color"),
            help="Disable colors in output (env NO_COLOR).",
            **heading,
        ),
        click.Option(
            ["--no-input"],
            is_flag=True,
            callback=_set_flag("no_input"),
            help="Disable interactive prompts (env NO_INPUT).",
            **heading,
        ),
        click.Option(
            ["--output"],
            type=click.Choice(["plain", "json"]),
            default=None,
            callback=_set_value("output"),
            help="Output format: plain (default) or json.",
            **heading,
        ),
        click.Option(
            ["--jq"],
            default=None,
            metavar="JQ_QUERY",
            callback=_set_value("jq"),
            help="jq query to apply to the JSON output.",
            **heading,
        ),
        click.Option(
            ["--compact-output"],
            is_flag=True,
            callback=_set_flag("compact_output"),
            help="Compact the JSON output.",
            **heading,
        ),
        click.Option(["--pretty"], is_flag=True, hidden=True, callback=_set_flag("pretty"), **heading),
        click.Option(
            ["--test-argument-parser"],
            is_flag=True,
            hidden=True,
            callback=_set_flag("test_argument_parser"),
            **heading,
        ),
    ]


class OckamCommand(click.Command):
    """A leaf command: global options added; not run under --test-argument-parser."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("context_settings", CONTEXT_SETTINGS)
        super().__init__(*args, **kwargs)
        self.params.extend(global_options())

    def invoke(self, ctx: click.Context) -> Any:
        opts = _opts_of(ctx)
        if opts.test_argument_parser:
            return None
        if opts.pretty:
            term = Terminal(opts)
            term.status("  ! The `--pretty` flag is deprecated and has no effect.")
        return super().invoke(ctx)


class OckamGroup(click.Group):
    """A command group: global options added; subcommands and subgroups of the same kinds."""

    command_class = OckamCommand
    group_class = type  # sub-groups are OckamGroup too

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("context_settings", CONTEXT_SETTINGS)
        kwargs.setdefault("no_args_is_help", True)
        super().__init__(*args, **kwargs)
        self.params.extend(global_options())


def get_opts(ctx: click.Context | None = None) -> GlobalOpts:
    return _opts_of(ctx or click.get_current_context())


def terminal(ctx: click.Context | None = None) -> Terminal:
    return Terminal(get_opts(ctx))


def open_state(ctx: click.Context | None = None) -> State:
    """The local state, opened once per command invocation."""
    ctx = ctx or click.get_current_context()
    state: State | None = ctx.meta.get(_STATE_KEY)
    if state is None:
        from ..state import State

        state = State.open()
        ctx.meta[_STATE_KEY] = state
        ctx.call_on_close(state.close)
    assert state is not None
    return state


def extract_address_value(value: str) -> str:
    """A node (service, project) name given as ``n1`` or ``/node/n1``."""
    from ..codec.multiaddr import MultiAddr
    from ..errors import InvalidArgument

    if "/" not in value:
        if not value:
            raise InvalidArgument(f"Empty address in input: {value}")
        return value
    maddr = MultiAddr.parse(value)
    if not maddr:
        raise InvalidArgument("invalid address protocol")
    first = maddr[0]
    if first.protocol not in ("node", "service", "project"):
        raise InvalidArgument(f"Protocol {first.protocol} not supported")
    if not first.value:
        raise InvalidArgument(f"Empty address in input: {value}")
    return first.value


class NodeNameType(_ParamType):
    """A node argument: ``n1`` or ``/node/n1``."""

    name = "NODE_NAME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value is None:
            return None
        from ..errors import OckamError

        try:
            return extract_address_value(str(value))
        except OckamError as e:
            self.fail(str(e), param, ctx)


NODE_NAME = NodeNameType()


def node_name_option(*decls: str, help: str = "Perform the command on the given node.") -> Callable[[F], F]:
    names = decls or ("--at",)
    return click.option(*names, "node", type=NODE_NAME, default=None, metavar="NODE_NAME", help=help)
