"""``ockam authority create``: run a credential authority node (authority.md §8).

Like ``node create``, without ``-f`` the command starts the same command again with
``--foreground --child-process`` as a background process (logging to
``nodes/<name>/stdout.<date>.log``) and waits until it listens; with ``-f`` the
authority runs in this process until SIGINT/SIGTERM/SIGHUP.  The node row is marked as
an authority node; its settings keep the arguments, so ``node start`` restarts it with
the same configuration (and its stored listener address).  Members, enrollment tokens
and learnt attributes are kept in the state database, so they survive restarts; the
``--trusted-identities`` are reloaded as the pre-trusted members at every start.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import click

from .base import OckamGroup, open_state, terminal
from .output import Terminal, fmt_log, fmt_ok

if TYPE_CHECKING:
    from ..state import NodeInfo, State

__all__ = ["AuthorityArgs", "authority", "restart_authority_node", "start_authority_background"]

DEFAULT_AUTHORITY_NAME = "authority"
DEFAULT_AUTHORITY_LISTENER = "127.0.0.1:4000"
READY_TIMEOUT_S = 60.0


@dataclass
class AuthorityArgs:
    """The arguments of ``authority create`` that configure the node (and restart it)."""

    name: str = DEFAULT_AUTHORITY_NAME
    tcp_listener_address: str = DEFAULT_AUTHORITY_LISTENER
    identity: str | None = None
    project_identifier: str = ""
    trusted_identities: str = "{}"
    project_access_route: str | None = None
    project_identity_identifier_file: str | None = None
    no_direct_authentication: bool = False
    no_token_enrollment: bool = False
    account_authority: str | None = None
    enforce_admin_checks: bool = False
    disable_trust_context_id: bool = False
    skip_is_running_check: bool = False
    hosts_project: str | None = None
    # the id of the hosted project whose own database keeps the members and tokens (None:
    # the main database, as Rust's `authority create`)
    members_project: str | None = None
    verbose: int = 0

    @property
    def identity_name(self) -> str:
        return self.identity or DEFAULT_AUTHORITY_NAME

    def settings(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("name", "tcp_listener_address", "verbose", "skip_is_running_check"):
            data.pop(key)
        out: dict[str, Any] = {"authority": data, "identity": self.identity_name}
        if self.hosts_project:
            out["hosts_project"] = self.hosts_project
        return out

    @classmethod
    def from_node(cls, node: NodeInfo) -> AuthorityArgs:
        stored = node.settings.get("authority")
        if not isinstance(stored, dict):
            from ..errors import StateError

            raise StateError(f"the configuration of the authority node {node.name} is missing")
        known = {k: v for k, v in stored.items() if k in cls.__dataclass_fields__}
        return cls(
            **known,
            name=node.name,
            tcp_listener_address=node.tcp_listener_address or DEFAULT_AUTHORITY_LISTENER,
            verbose=node.verbosity,
        )

    def child_argv(self) -> list[str]:
        argv = [f"-{'v' * self.verbose}"] if self.verbose else []
        argv += [
            "authority",
            "create",
            "--foreground",
            "--child-process",
            "--no-color",
            "--tcp-listener-address",
            self.tcp_listener_address,
            "--project-identifier",
            self.project_identifier,
            "--trusted-identities",
            self.trusted_identities,
        ]
        for flag, value in (
            ("--identity", self.identity),
            ("--project-access-route", self.project_access_route),
            ("--project-identity-identifier-file", self.project_identity_identifier_file),
            ("--account-authority", self.account_authority),
            ("--hosts-project", self.hosts_project),
            ("--members-project", self.members_project),
        ):
            if value is not None:
                argv += [flag, value]
        for flag, on in (
            ("--no-direct-authentication", self.no_direct_authentication),
            ("--no-token-enrollment", self.no_token_enrollment),
            ("--enforce-admin-checks", self.enforce_admin_checks),
            ("--disable-trust-context-id", self.disable_trust_context_id),
            ("--skip-is-running-check", self.skip_is_running_check),
        ):
            if on:
                argv.append(flag)
        argv.append(self.name)
        return argv


@click.group(cls=OckamGroup, name="authority", help="Create an Authority node")
def authority() -> None:
    pass


def _check_trusted(_ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
    from ..api.authority import parse_trusted_identities
    from ..errors import OckamError

    try:
        parse_trusted_identities(str(value))
    except OckamError as e:
        raise click.BadParameter(f"Cannot parse the trusted identities: {e}") from None
    return value


def _check_account_authority(_ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
    if value is None:
        return None
    from ..errors import OckamError
    from ..identity import verify_change_history

    try:
        verify_change_history(bytes.fromhex(str(value).strip()))
    except (ValueError, OckamError) as e:
        raise click.BadParameter(f"invalid account authority identity: {e}") from None
    return str(value).strip()


def _check_listener(_ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
    from ..errors import OckamError
    from .params import parse_hostname_port

    try:
        host, port = parse_hostname_port(str(value))
    except OckamError as e:
        raise click.BadParameter(str(e)) from None
    return f"{host}:{port}"


@authority.command("create", help="Create an Authority node")
@click.argument("node_name", metavar="NODE_NAME", required=False, default=DEFAULT_AUTHORITY_NAME)
@click.option("-f", "--foreground", is_flag=True, help="Run the node in the foreground.")
@click.option(
    "-s", "--skip-is-running-check", is_flag=True, help="Do not fail if the node is already running."
)
@click.option("--child-process", is_flag=True, hidden=True)
@click.option(
    "-t",
    "--tcp-listener-address",
    default=DEFAULT_AUTHORITY_LISTENER,
    show_default=True,
    callback=_check_listener,
    metavar="SOCKET_ADDRESS",
    help="TCP listener address.",
)
@click.option("--identity", default=None, metavar="IDENTITY_NAME", help="Identity of the authority.")
@click.option(
    "--project-identifier", required=True, metavar="PROJECT_IDENTIFIER", help="Identifier of the project."
)
@click.option("--project-identity-identifier-file", default=None, metavar="PATH", hidden=False)
@click.option("--project-access-route", default=None, metavar="MULTI_ADDR", help="Route to the project.")
@click.option(
    "--trusted-identities",
    required=True,
    callback=_check_trusted,
    metavar="JSON_OBJECT",
    help='Pre-trusted identities and their attributes: {"I…": {"key": "value"}, ...}.',
)
@click.option("--no-direct-authentication", is_flag=True, help="Do not start the members service.")
@click.option("--no-token-enrollment", is_flag=True, help="Do not start the enrollment token services.")
@click.option("--tenant-base-url", default=None, metavar="URL", help="Okta: tenant URL.")
@click.option("--certificate", default=None, metavar="STRING", help="Okta: certificate.")
@click.option("--attributes", "okta_attributes", multiple=True, metavar="ATTRIBUTE_NAMES", help="Okta.")
@click.option(
    "--account-authority",
    default=None,
    callback=_check_account_authority,
    metavar="ACCOUNT_AUTHORITY_CHANGE_HISTORY",
    help="Identity (hex change history) of the account authority trusted for admin credentials.",
)
@click.option("--enforce-admin-checks", is_flag=True, help="Only account-authority admins are admins.")
@click.option(
    "--disable-trust-context-id",
    "--disable_trust_context_id",
    "disable_trust_context_id",
    is_flag=True,
    help="Do not put the trust context id in credentials.",
)
@click.option("--hosts-project", default=None, hidden=True)
@click.option("--members-project", default=None, hidden=True)
@click.pass_context
def authority_create(ctx: click.Context, /, node_name: str, **kw: Any) -> None:
    from ..errors import InvalidArgument

    if kw["tenant_base_url"] and kw["certificate"] and kw["okta_attributes"]:
        raise InvalidArgument("Okta enrollment is not supported by this implementation")
    term = terminal(ctx)
    args = AuthorityArgs(
        name=node_name,
        tcp_listener_address=kw["tcp_listener_address"],
        identity=kw["identity"],
        project_identifier=kw["project_identifier"],
        trusted_identities=kw["trusted_identities"],
        project_access_route=kw["project_access_route"],
        project_identity_identifier_file=kw["project_identity_identifier_file"],
        no_direct_authentication=kw["no_direct_authentication"],
        no_token_enrollment=kw["no_token_enrollment"],
        account_authority=kw["account_authority"],
        enforce_admin_checks=kw["enforce_admin_checks"],
        disable_trust_context_id=kw["disable_trust_context_id"],
        skip_is_running_check=kw["skip_is_running_check"],
        hosts_project=kw["hosts_project"],
        members_project=kw["members_project"],
        verbose=term.opts.verbose,
    )
    state = open_state(ctx)
    if kw["foreground"]:
        run_authority_foreground(state, args, term, child_process=kw["child_process"])
        return
    if kw["child_process"]:
        raise click.UsageError("--child-process requires --foreground")
    start_authority_background(state, args)
    term.result(
        plain=fmt_ok(f"Created a new Authority node named {args.name}")
        + "\n"
        + fmt_log(f"It listens at {_listener(state, args.name)}")
        + "\n",
        machine=args.name,
        json_value={"name": args.name, "tcp_listener_address": _listener(state, args.name)},
    )


def _listener(state: State, name: str) -> str:
    node = state.get_node(name)
    return (node.tcp_listener_address if node else None) or ""


def _guard_not_running(state: State, args: AuthorityArgs) -> None:
    from ..errors import AlreadyExists

    if args.skip_is_running_check:
        return
    node = state.get_node(args.name)
    if node is not None and node.is_running:
        raise AlreadyExists(f"Node {args.name} is already running")


def _ensure_identity(state: State, name: str) -> None:
    from ..api.identities import create_named_identity
    from ..state.identities import Identities

    if Identities(state).get(name) is None:
        create_named_identity(state, name)


def start_authority_background(state: State, args: AuthorityArgs, timeout: float = READY_TIMEOUT_S) -> None:
    """Start the authority node as a background process and wait until it listens."""
    from .node_runtime import spawn_child

    _guard_not_running(state, args)
    _ensure_identity(state, args.identity_name)
    proc = spawn_child(state, args.name, args.child_argv())
    _wait_until_listening(state, args.name, proc, timeout)


def restart_authority_node(state: State, node: NodeInfo) -> None:
    """``node start`` of an authority node: the stored configuration and listener."""
    args = AuthorityArgs.from_node(node)
    args.skip_is_running_check = False
    start_authority_background(state, args)


def _wait_until_listening(state: State, name: str, proc: Any, timeout: float) -> None:
    import socket

    from ..errors import OckamError, TimeoutError_
    from .node_runtime import _last_error_line, log_file_path

    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            reason = _last_error_line(log_file_path(state, name))
            detail = (
                f": {reason}"
                if reason
                else f" (exit code {proc.returncode}), see {log_file_path(state, name)}"
            )
            raise OckamError(f"The authority node {name} failed to start{detail}")
        node = state.get_node(name)
        if node is not None and node.pid == proc.pid and node.tcp_listener_address:
            host, _, port = node.tcp_listener_address.rpartition(":")
            try:
                with socket.create_connection((host.strip("[]"), int(port)), timeout=1.0):
                    return
            except OSError:
                pass
        if time.monotonic() >= deadline:
            raise TimeoutError_(f"The authority node {name} did not start in time")
        time.sleep(0.1)


# -- foreground ------------------------------------------------------------------------------


def _read_identifier_file(path: str, attempts: int = 100, delay: float = 0.5) -> str:
    """The project identity identifier, from a file another process may still be writing."""
    from ..errors import InvalidArgument
    from ..identity import Identifier

    last: Exception | None = None
    for _ in range(attempts):
        try:
            with open(path, encoding="utf-8") as f:
                return str(Identifier.parse(f.read().strip()))
        except (OSError, ValueError) as e:
            last = e
        except Exception as e:  # an identifier that does not parse
            raise InvalidArgument(f"cannot read the project identity identifier: {e}") from None
        time.sleep(delay)
    raise InvalidArgument(f"cannot read the project identifier file {path}: {last}")


def _store_default_project(state: State, args: AuthorityArgs, authority_hex: str, port: int) -> None:
    """With ``--project-access-route`` and ``--project-identity-identifier-file``: the
    project ``default`` this authority serves, stored in the local state."""
    from ..api.projects import Project, ProjectModel, store_project

    assert args.project_access_route is not None and args.project_identity_identifier_file is not None
    identifier = _read_identifier_file(args.project_identity_identifier_file)
    model = ProjectModel(
        id=args.project_identifier,
        name="default",
        space_name="default",
        access_route=args.project_access_route,
        space_id="1",
        identity=identifier,
        authority_access_route=f"/dnsaddr/127.0.0.1/tcp/{port}/service/api",
        authority_identity=authority_hex,
        running=True,
    )
    store_project(state, Project.verify(model))


def run_authority_foreground(
    state: State, args: AuthorityArgs, term: Terminal, *, child_process: bool
) -> None:
    """Run the authority node in this process until a stop signal."""
    import asyncio
    import signal

    from ..api.authority import AuthorityNodeConfig, credential_ttl_from_env, parse_trusted_identities
    from ..api.identities import credential_signing_key, load_identity, secure_channel_key
    from ..errors import OckamError
    from ..identity import CREDENTIAL_TTL, verify_change_history
    from ..node.runtime import run as run_loop
    from ..services.authority import AuthorityOptions
    from .node_runtime import _setup_logging

    if not child_process:
        _guard_not_running(state, args)
    _setup_logging(args.verbose, child_process)
    _ensure_identity(state, args.identity_name)
    loaded = load_identity(state, args.identity_name)
    static_key, attestation = secure_channel_key(state, loaded)
    credential_signer, credential_attestation = credential_signing_key(state, loaded)
    account = None
    if args.account_authority is not None:
        account = verify_change_history(bytes.fromhex(args.account_authority))
    options = AuthorityOptions(
        project_identifier=args.project_identifier,
        account_authority=account,
        enforce_admin_checks=args.enforce_admin_checks,
        disable_trust_context_id=args.disable_trust_context_id,
        credential_ttl=credential_ttl_from_env(CREDENTIAL_TTL),
        direct_authentication=not args.no_direct_authentication,
        token_enrollment=not args.no_token_enrollment,
    )
    config = AuthorityNodeConfig(
        name=args.name,
        tcp_listener_address=args.tcp_listener_address,
        identity=loaded.identity,
        signer=loaded.signer,
        static_key=static_key,
        attestation=attestation,
        credential_signer=credential_signer,
        credential_attestation=credential_attestation,
        options=options,
        trusted_identities=parse_trusted_identities(args.trusted_identities),
        state=state,
        members_database=None
        if args.members_project is None
        else state.project_database(args.members_project),
    )
    pid = os.getpid()
    started = False

    async def run() -> None:
        nonlocal started
        from ..api.authority import start_authority_node

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError, ValueError):
                pass
        running = await start_authority_node(config)
        try:
            state.create_node(
                args.name,
                identifier=loaded.identifier,
                verbosity=args.verbose,
                tcp_listener_address=running.listener_address,
                pid=pid,
                is_authority=True,
                settings=args.settings(),
            )
            started = True
            if args.project_access_route is not None and args.project_identity_identifier_file is not None:
                port = int(running.listener_address.rsplit(":", 1)[1])
                _store_default_project(state, args, loaded.identity.export_hex(), port)
            if not child_process:
                term.result(plain=fmt_ok(f"Created a new Authority node named {args.name}") + "\n")
                term.status(fmt_log("To exit and stop the Authority node, please press Ctrl+C"))
            await stop.wait()
        finally:
            await running.stop()

    try:
        run_loop(run())
    finally:
        loaded.vault.close()
        if started and state.database_path.exists():
            try:
                state.clear_pid(args.name, only_if=pid)
            except OckamError:
                pass
    if not child_process:
        term.status(fmt_ok("Node stopped successfully"))


def trusted_identities_json(trusted: dict[str, dict[str, str]]) -> str:
    """``--trusted-identities`` text for a map of identifiers to attributes."""
    return json.dumps(trusted, separators=(",", ":"), sort_keys=True)
