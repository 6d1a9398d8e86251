"""``ockam node``: create, list, show, start, stop, delete, default, logs."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

import click

from .base import NODE_NAME, OckamGroup, open_state, terminal
from .output import Terminal, fmt_err, fmt_info, fmt_list, fmt_ok, fmt_warn

if TYPE_CHECKING:
    from ..state import NodeInfo, State
    from .node_config import NodeConfigFile
    from .node_runtime import NodeArgs

__all__ = ["node"]

_INVALID_NAME = re.compile(r"[^\w_-]")
# same values as in node_runtime (not imported here: `ockam --help` stays light)
DEFAULT_NODE_NAME = "_default_node_name"
DEFAULT_TCP_LISTENER = "127.0.0.1:0"


@click.group(cls=OckamGroup, name="node", help="Manage Nodes")
def node() -> None:
    pass


# -- create ------------------------------------------------------------------------------


def _is_url(value: str) -> bool:
    """``scheme:...`` or ``host:port[/...]`` (what the Rust CLI downloads)."""
    if re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*:", value):
        return True
    head = value.split("/", 1)[0]
    return bool(re.match(r"^[A-Za-z0-9.\-]+:[0-9]{1,5}$", head))


def _is_file(value: str) -> bool:
    try:
        return os.path.isfile(value)
    except (OSError, ValueError):
        return False


def _has_name_arg(name: str) -> bool:
    """True if NAME_OR_CONFIG is a node name (not an existing file, not a URL)."""
    return not _is_url(name) and not _is_file(name)


def _read_path_or_url(value: str) -> str:
    from ..errors import InvalidArgument

    if _is_url(value):
        import urllib.request

        url = value if "://" in value else f"http://{value}"
        try:
            with urllib.request.urlopen(url, timeout=30) as resp:
                data: bytes = resp.read()
                return data.decode("utf-8")
        except (OSError, ValueError) as e:
            raise InvalidArgument(f"Failed to download file from {value}: {e}") from e
    if os.path.exists(value):
        try:
            with open(value, encoding="utf-8") as f:
                return f.read()
        except OSError as e:
            raise InvalidArgument(f"Failed to read contents from file {value}: {e}") from e
    raise InvalidArgument(f"Failed to parse value {value} as a path or URL")


def _parse_variable(_ctx: click.Context, _param: click.Parameter, values: Any) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for value in values or ():
        key, sep, val = str(value).partition("=")
        if not sep:
            raise click.BadParameter(f"invalid key=value pair: no `=` found in `{value}`")
        out.append((key, val))
    return out


@node.command("create", help="Create a new node")
@click.argument("name_or_config", metavar="NAME_OR_CONFIGURATION", required=False, default=DEFAULT_NODE_NAME)
@click.option("-f", "--foreground", is_flag=True, help="Run the node in the foreground.")
@click.option("-e", "--exit-on-eof", is_flag=True, help="With --foreground, stop the node on EOF on stdin.")
@click.option("--child-process", is_flag=True, hidden=True)
@click.option(
    "-s", "--skip-is-running-check", is_flag=True, help="Do not fail if the node is already running."
)
@click.option(
    "-t",
    "--tcp-listener-address",
    default=DEFAULT_TCP_LISTENER,
    metavar="SOCKET_ADDRESS",
    show_default=True,
    help="Address of the node's TCP listener (its API is reached there).",
)
@click.option(
    "--http-server", "--enable-http-server", is_flag=True, help="Start an HTTP server on a random port."
)
@click.option(
    "--http-server-port", type=click.IntRange(0, 65535), default=None, help="Start an HTTP server on PORT."
)
@click.option("--udp", "--enable-udp", is_flag=True, hidden=True)
@click.option("--launch-configuration", "--launch-config", "launch_config", default=None, hidden=True)
@click.option("--identity", default=None, metavar="IDENTITY_NAME", help="Identity used by the node.")
@click.option("--project", "--project-name", "project", default=None, metavar="PROJECT_NAME", help="Project.")
@click.option("--authority-identity", default=None, help="Identity of the authority (hex).")
@click.option("--authority-route", default=None, help="Route to the authority.")
@click.option("--credential-scope", default=None, help="Scope of the credential to retrieve.")
@click.option("--opentelemetry-context", default=None, hidden=True)
@click.option("--hosts-project", default=None, hidden=True)
@click.option(
    "--configuration", "--node-config", "configuration", default=None, metavar="YAML", help="Inline config."
)
@click.option("--enrollment-ticket", envvar="ENROLLMENT_TICKET", default=None, help="Enrollment ticket.")
@click.option(
    "--variable", "variables", multiple=True, callback=_parse_variable, metavar="VARIABLE", help="KEY=VALUE."
)
@click.pass_context
def node_create(ctx: click.Context, /, name_or_config: str, **kw: Any) -> None:
    from ..errors import InvalidArgument
    from .node_runtime import NodeArgs

    opts = terminal(ctx).opts
    if kw["exit_on_eof"] and not kw["foreground"]:
        raise click.UsageError("--exit-on-eof requires --foreground")
    if kw["child_process"] and not kw["foreground"]:
        raise click.UsageError("--child-process requires --foreground")
    if kw["http_server"] and kw["http_server_port"] is not None:
        raise click.UsageError("--http-server cannot be used with --http-server-port")

    variables: list[tuple[str, str]] = kw["variables"]
    seen: set[str] = set()
    for key, _ in variables:
        if key in seen:
            raise InvalidArgument(f"The variable with key {key} is duplicated")
        seen.add(key)
    has_name = _has_name_arg(name_or_config)
    if has_name and _INVALID_NAME.search(name_or_config):
        raise InvalidArgument(f"Invalid value for NAME_OR_CONFIGURATION: {name_or_config}")

    args = NodeArgs(
        name=name_or_config,
        tcp_listener_address=kw["tcp_listener_address"],
        foreground=kw["foreground"],
        exit_on_eof=kw["exit_on_eof"],
        child_process=kw["child_process"],
        skip_is_running_check=kw["skip_is_running_check"],
        identity=kw["identity"],
        http_server=kw["http_server"],
        http_server_port=kw["http_server_port"],
        udp=kw["udp"],
        launch_config=kw["launch_config"],
        project=kw["project"],
        authority_identity=kw["authority_identity"],
        authority_route=kw["authority_route"],
        credential_scope=kw["credential_scope"],
        opentelemetry_context=kw["opentelemetry_context"],
        verbose=opts.verbose,
        hosts_project=kw["hosts_project"],
    )
    config_mode = (not has_name) or kw["configuration"] is not None or kw["enrollment_ticket"] is not None
    if config_mode:
        _create_from_config(ctx, args, has_name, kw["configuration"], kw["enrollment_ticket"], variables)
        return
    if args.name == DEFAULT_NODE_NAME:
        from .node_runtime import random_name

        args.name = random_name()
    state = open_state(ctx)
    term = terminal(ctx)
    _resolve_project_option(state, args)
    if args.foreground:
        from .node_runtime import run_foreground

        run_foreground(state, args, term)
    else:
        _create_background(state, args, term)


def _resolve_project_option(state: State, args: NodeArgs) -> None:
    """``--project NAME_OR_FILE``: a project JSON file is imported and replaced by the
    project's name; the trust options are checked before a node process is started."""
    from ..api.projects import trust_options

    if args.project is not None and not args.child_process and _is_file(args.project):
        from ..api.projects import Project, ProjectModel, store_project

        project = store_project(state, Project.verify(ProjectModel.parse(_read_path_or_url(args.project))))
        args.project = project.name
    if not args.child_process:
        trust_options(
            state,
            args.project,
            args.authority_identity,
            args.authority_route,
            args.credential_scope,
            use_default_project=args.hosts_project is None,
        )


def _create_background(state: State, args: NodeArgs, term: Terminal) -> None:
    from ..errors import AlreadyExists, OckamError
    from .node_runtime import _created_plain, get_node_resources, spawn_background, wait_until_up

    if args.child_process:
        raise OckamError("Cannot create a background node from another background node")
    existing = state.get_node(args.name)
    if existing is not None and existing.is_running:
        raise AlreadyExists(f"Node {args.name} has been already created")
    proc = spawn_background(state, args, quiet=term.opts.quiet)
    wait_until_up(state, args.name, proc)
    resources = get_node_resources(state, args.name)
    term.result(plain=_created_plain(state, args.name), machine=args.name, json_value=resources)


def _create_from_config(
    ctx: click.Context,
    args: NodeArgs,
    has_name: bool,
    configuration: str | None,
    ticket: str | None,
    variables: list[tuple[str, str]],
) -> None:
    from ..errors import InvalidArgument, OckamError
    from .node_config import parse_node_config
    from .node_runtime import random_name

    if configuration is not None:
        contents = configuration
    else:
        try:
            contents = _read_path_or_url(args.name)
        except InvalidArgument:
            if ticket is None:
                raise
            contents = f"ticket: {ticket}"
    for key, value in variables:
        if not value:
            raise InvalidArgument(f"Empty value for variable '{key}'")
        os.environ[key] = value
    config = parse_node_config(contents)
    if ticket is not None:
        config.ticket = ticket
    _merge_config(config, args, has_name)
    name = config.name or random_name()
    if _INVALID_NAME.search(name):
        raise InvalidArgument(f"Invalid value for NAME_OR_CONFIGURATION: {name}")
    node_args = _node_args_from_config(config, args, name)

    commands = _config_commands(config, name)
    # Validate every section before anything is created.
    for argv in commands:
        _run_ockam(ctx, [*argv, "--test-argument-parser"])

    state = open_state(ctx)
    term = terminal(ctx)
    if config.ticket is not None:
        # the node's identity joins the ticket's project; the node is a member of it
        from ..api.client import default_timeout
        from .project import enroll_identity

        project, _loaded, _, _ = enroll_identity(
            state, term, config.ticket, node_args.identity, None, default_timeout()
        )
        node_args.project = project.name
        node_args.authority_identity = node_args.authority_route = None
    try:
        if node_args.foreground:
            _run_config_foreground(ctx, state, node_args, commands)
        else:
            _create_background(state, node_args, term)
            for argv in commands:
                _run_ockam(ctx, argv)
    except BaseException:
        try:
            if state.get_node(name) is not None:
                state.delete_node(name)
        except OckamError:
            pass
        raise


def _merge_config(config: NodeConfigFile, args: NodeArgs, has_name: bool) -> None:
    """Command-line arguments win over the configuration's node settings."""
    from .node_runtime import NodeArgs

    if args.name != DEFAULT_NODE_NAME and has_name:
        config.node["name"] = args.name
    defaults = NodeArgs(name="")
    for key, attr in (
        ("skip-is-running-check", "skip_is_running_check"),
        ("foreground", "foreground"),
        ("child-process", "child_process"),
        ("exit-on-eof", "exit_on_eof"),
        ("tcp-listener-address", "tcp_listener_address"),
        ("http-server", "http_server"),
    ):
        value = getattr(args, attr)
        if value != getattr(defaults, attr):
            config.node[key] = value
    for key, attr in (
        ("http-server-port", "http_server_port"),
        ("identity", "identity"),
        ("project", "project"),
        ("launch-config", "launch_config"),
        ("opentelemetry-context", "opentelemetry_context"),
    ):
        value = getattr(args, attr)
        if value is not None:
            config.node[key] = value


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "on")
    return bool(value)


def _node_args_from_config(config: NodeConfigFile, args: NodeArgs, name: str) -> NodeArgs:
    from ..errors import InvalidArgument
    from .node_runtime import NodeArgs

    n = config.node
    port = n.get("http-server-port")
    if port is not None:
        try:
            port = int(port)
        except (TypeError, ValueError) as e:
            raise InvalidArgument(f"Invalid http-server-port {port!r}") from e
        if not 0 <= port <= 65535:
            raise InvalidArgument(f"Invalid http-server-port {port}")

    def text(key: str) -> str | None:
        value = n.get(key)
        return None if value is None else str(value)

    return NodeArgs(
        name=name,
        tcp_listener_address=text("tcp-listener-address") or DEFAULT_TCP_LISTENER,
        foreground=_truthy(n.get("foreground", False)),
        exit_on_eof=_truthy(n.get("exit-on-eof", False)),
        child_process=_truthy(n.get("child-process", False)),
        skip_is_running_check=_truthy(n.get("skip-is-running-check", False)),
        identity=text("identity"),
        http_server=_truthy(n.get("http-server", False)),
        http_server_port=port,
        launch_config=text("launch-config"),
        project=text("project"),
        authority_identity=args.authority_identity,
        authority_route=args.authority_route,
        credential_scope=args.credential_scope,
        opentelemetry_context=text("opentelemetry-context"),
        verbose=args.verbose,
        extra={"configuration": config.raw} if config.sections else {},
    )


def _config_commands(config: NodeConfigFile, name: str) -> list[list[str]]:
    from .node_config import section_commands

    commands: list[list[str]] = []
    for section, value in config.sections:
        for argv in section_commands(section, value, name):
            commands.append([*section.command, *argv])
    return commands


def _run_ockam(ctx: click.Context, argv: list[str]) -> None:
    """Run another ``ockam`` command in this process (configuration sections)."""
    from ..errors import OckamError
    from .main import build_cli

    opts = terminal(ctx).opts
    flags: list[str] = []
    if opts.quiet:
        flags.append("--quiet")
    if opts.output is not None:
        flags += ["--output", opts.output]
    cli = build_cli()
    try:
        cli.main(args=[*argv, *flags], prog_name="ockam", standalone_mode=False)
    except click.UsageError as e:
        if argv and cli.get_command(ctx, argv[0]) is None:
            raise OckamError(f"'{argv[0]}' sections in node configurations are not supported yet") from e
        raise OckamError(f"Invalid node configuration ({' '.join(argv[:2])}): {e.format_message()}") from e


def _run_config_foreground(
    ctx: click.Context, state: State, args: NodeArgs, commands: list[list[str]]
) -> None:
    """Run the node as a foreground child, create the sections' resources, wait for it."""
    import signal
    import subprocess
    import sys

    from .node_runtime import _package_root, wait_until_up

    argv = [a for a in args.child_argv(no_color=True) if a != "--child-process"]
    env = dict(os.environ)
    env["PYTHONPATH"] = _package_root() + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["OCKAM_HOME"] = str(state.home)
    proc = subprocess.Popen([sys.executable, "-m", "ockam", *argv], env=env)
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)  # the child handles Ctrl+C
    try:
        wait_until_up(state, args.name, proc)
        for command in commands:
            _run_ockam(ctx, command)
        proc.wait()
    except BaseException:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
        raise
    finally:
        signal.signal(signal.SIGINT, old)


# -- list / show -----------------------------------------------------------------------


def _list_json(n: NodeInfo) -> dict[str, Any]:
    status = n.status()
    status_json: dict[str, Any] = {"status": status}
    if status != "stopped":
        status_json["pid"] = n.pid
    return {"node_name": n.name, "status": status_json, "pid": n.pid, "is_default": n.is_default}


def _list_plain(nodes: list[NodeInfo]) -> str:
    if not nodes:
        return fmt_info("No nodes found on this system.")
    blocks = []
    for n in nodes:
        status = n.status()
        word = {"running": "UP", "zombie": "ZOMBIE"}.get(status, "DOWN")
        default = " (default)" if n.is_default else ""
        process = f"Process id {n.pid}" if status != "stopped" else "No process running"
        blocks.append("\n".join(fmt_list(line) for line in (f"Node {n.name}{default} {word}", process)))
    return "\n\n".join(blocks) + "\n"


@node.command("list", help="List nodes")
@click.pass_context
def node_list(ctx: click.Context) -> None:
    state = open_state(ctx)
    nodes = state.list_nodes()
    terminal(ctx).result(plain=_list_plain(nodes), json_value=[_list_json(n) for n in nodes], has_json=True)


def _pick_node_name(ctx: click.Context, state: State, name: str | None) -> str:
    """The named node, or the default one; errors if it does not exist."""
    from ..errors import NotFound

    names = [n.name for n in state.list_nodes()]
    chosen = name if name is not None else state.require_default_node().name
    if chosen not in names:
        raise NotFound(f"The node {chosen} was not found")
    return chosen


@node.command("show", help="Show the details of a node")
@click.argument("node_name", required=False, type=NODE_NAME)
@click.pass_context
def node_show(ctx: click.Context, node_name: str | None) -> None:
    from .node_runtime import get_node_resources, render_node_resources

    state = open_state(ctx)
    term = terminal(ctx)
    if not state.list_nodes():
        term.result(plain=fmt_info("There are no nodes to show"), json_value=[], has_json=True)
        return
    name = _pick_node_name(ctx, state, node_name)
    res = get_node_resources(state, name)
    term.result(plain=render_node_resources(res), json_value=res)


# -- start / stop ----------------------------------------------------------------------


@node.command("start", help="Start a node that was previously stopped")
@click.argument("node_name", required=False, type=NODE_NAME)
@click.pass_context
def node_start(ctx: click.Context, node_name: str | None) -> None:
    from .node_runtime import (
        NodeArgs,
        get_node_resources,
        render_node_resources,
        spawn_background,
        wait_until_up,
    )

    state = open_state(ctx)
    term = terminal(ctx)
    info = state.node_or_default(node_name)
    name = info.name
    if info.is_running:
        term.result(
            plain=fmt_err(
                f"The node '{name}' is already running. If you want to restart it you can call "
                f"`ockam node stop {name}` and then `ockam node start {name}`"
            )
        )
        return
    state.stop_node(name)
    if info.is_authority:
        from .authority import restart_authority_node

        restart_authority_node(state, info)
    else:
        args = NodeArgs.from_node(info)
        proc = spawn_background(state, args, quiet=term.opts.quiet)
        wait_until_up(state, name, proc)
    res = get_node_resources(state, name)
    term.result(plain=render_node_resources(res), json_value=res)


@node.command("stop", help="Stop a running node")
@click.argument("node_name", required=False, type=NODE_NAME)
@click.option("-f", "--force", is_flag=True, help="[DEPRECATED] no effect.")
@click.pass_context
def node_stop(ctx: click.Context, node_name: str | None, force: bool) -> None:
    from ..errors import NotFound, OckamError

    state = open_state(ctx)
    term = terminal(ctx)
    if force:
        term.status("  ! The --force flag is deprecated and has no effect")
    running = [n.name for n in state.list_nodes() if n.is_running]
    if not running:
        term.result(plain=fmt_info("There are no nodes running"))
        return
    name = node_name if node_name is not None else state.require_default_node().name
    if name not in running:
        raise NotFound(f"The node {name} was not found")
    try:
        state.stop_node(name)
        message = fmt_ok(f"The node with name {name} was stopped")
    except OckamError:
        message = f"  ! Failed to stop node with name {name}"
    term.result(plain=message)


# -- delete ----------------------------------------------------------------------------


@node.command("delete", help="Delete nodes")
@click.argument("node_name", required=False, type=NODE_NAME)
@click.option("--all", "all_", is_flag=True, help="Terminate all node processes and delete all nodes.")
@click.option("-f", "--force", is_flag=True, help="[DEPRECATED] no effect.")
@click.option("-y", "--yes", is_flag=True, help="Confirm the deletion without prompting.")
@click.pass_context
def node_delete(ctx: click.Context, node_name: str | None, all_: bool, force: bool, yes: bool) -> None:
    from ..errors import InvalidArgument, NotFound

    if node_name is not None and all_:
        raise click.UsageError("the argument NODE_NAME cannot be used with --all")
    state = open_state(ctx)
    term = terminal(ctx)
    if force:
        term.status("  ! The --force flag is deprecated and has no effect")
    names = [n.name for n in state.list_nodes()]
    if not names:
        term.result(plain=fmt_info("There are no nodes to delete"), json_value=[], has_json=True)
        return
    if all_:
        hosting = _project_hosts(state)
        names = [n for n in names if n not in hosting]
        if not names:
            term.result(plain=fmt_info("There are no nodes to delete"), json_value=[], has_json=True)
            return
        what = f"your {len(names)} nodes" if len(names) > 1 else "your only node"
        if term.confirm(yes, f"Are you sure you want to delete {what}?"):
            for name in names:
                try:
                    _delete_one(state, term, name)
                except Exception:  # keep going, as the Rust CLI does
                    term.result(plain=f"  ! Failed to delete node {name}")
        return
    if node_name is not None or not term.can_ask_for_user_input():
        if node_name is None:
            return
        if node_name not in names:
            raise NotFound(f"The node {node_name} was not found")
        hosted = _hosted_project(state, node_name)
        if hosted is not None:
            breaks = (
                f"The node {node_name} hosts the project {hosted}: its members cannot reach the "
                f"project until `ockam enroll` (or `ockam project create SPACE {hosted}`) creates it again"
            )
            if not yes and not term.can_ask_for_user_input():
                raise InvalidArgument(f"{breaks}. Use --yes to delete it anyway")
            if not term.confirm(yes, f"{breaks}. Delete it?"):
                return
            _delete_one(state, term, node_name)
            term.status(fmt_warn(breaks))
            return
        if term.confirm(yes, "Are you sure you want to proceed?"):
            _delete_one(state, term, node_name)
        return
    if len(names) == 1:
        if term.confirm(yes, "You are about to delete your only node. Are you sure you want to proceed?"):
            _delete_one(state, term, names[0])
        return
    raise InvalidArgument("Please give the name of the node to delete (or --all)")


def _project_hosts(state: State) -> set[str]:
    """The nodes hosting a local project (``ockam enroll``): ``node delete --all`` keeps
    them, as an Orchestrator project is not deleted with the user's nodes."""
    from ..state.projects import Projects

    hosts: set[str] = set()
    for project in Projects(state.db).list_all():
        hosts.update(n for n in (project.authority_node, project.project_node) if n)
    return hosts


def _hosted_project(state: State, node: str) -> str | None:
    from ..state.projects import Projects

    project = Projects(state.db).hosted_by(node)
    return None if project is None else project.project_name


def _delete_one(state: State, term: Terminal, name: str) -> None:
    state.delete_node(name)
    term.result(
        plain=fmt_ok(f"The node with name {name} has been deleted"), machine=name, json_value={"name": name}
    )


# -- default / logs --------------------------------------------------------------------


@node.command("default", help="Change the default node")
@click.argument("node_name", required=False, type=NODE_NAME)
@click.pass_context
def node_default(ctx: click.Context, node_name: str | None) -> None:
    from ..errors import InvalidArgument

    state = open_state(ctx)
    term = terminal(ctx)
    if node_name is not None:
        existing = state.get_node(node_name)
        if existing is not None and existing.is_default:
            raise InvalidArgument(f"The node '{node_name}' is already the default")
        state.set_default_node(node_name)
        term.result(plain=fmt_ok(f"The node '{node_name}' is now the default"), machine=node_name)
    else:
        name = state.require_default_node().name
        term.result(plain=fmt_ok(f"The default node is '{name}'"))


@node.command("logs", help="Get the stdout/stderr log file of a node")
@click.argument("node_name", required=False, type=NODE_NAME)
@click.pass_context
def node_logs(ctx: click.Context, node_name: str | None) -> None:
    from ..errors import NotFound

    state = open_state(ctx)
    name = state.node_or_default(node_name).name
    node_dir = state.node_dir(name)
    node_dir.mkdir(parents=True, exist_ok=True)
    candidates = [p for p in node_dir.iterdir() if "stdout" in p.name and p.is_file()]
    if not candidates:
        raise NotFound(f"there is no log file for the node {name}")
    path = str(max(candidates, key=lambda p: p.stat().st_mtime))
    terminal(ctx).result(
        plain=fmt_ok(f"The path for the log file is: {path}"), machine=path, json_value={"path": path}
    )
