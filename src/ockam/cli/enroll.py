"""``ockam enroll`` and ``ockam project create``: projects hosted by this machine, instead
of Ockam Orchestrator (authority.md §11), for this machine or for a fleet.

What a project ``P`` is made of, once:

* identities ``P-authority`` and ``P-project`` (the administrator's identity, the default
  one unless ``--identity``, is created if needed);
* the authority node ``P-authority`` (a background ``authority create`` with the project
  id) where the administrator is a pre-trusted member with ``ockam-role=enroller`` and
  ``ockam-relay=*``; its members and enrollment tokens are kept in the project's own
  database (``OCKAM_HOME/projects/<id>/authority.sqlite3``), so that a home can host
  several projects;
* the project node ``P-project`` (a background node with the relay services and the
  ``api`` secure-channel listener) that trusts the authority's identity for the
  credentials members present, and fetches no credential for itself;
* the project record: a random id, routes to both nodes at the *public address* (what
  tickets and ``project information`` carry), both identities, and how the project is
  hosted (listener addresses, public address, administrator); a space.

The nodes listen on ``--tcp-listener-address`` and ``--authority-tcp-listener-address``
(default 127.0.0.1, free ports); ``--public-address`` is the name or address other
machines reach them at (default: the listener's host; required when that is 0.0.0.0 or
[::]).  Both nodes host the project: they are never the default node, ``node delete --all``
keeps them and ``node delete`` of one asks for ``--yes``.  Run again, ``enroll`` (or
``project create`` of the same name) starts them again if they stopped, and creates them
again, on the same addresses and from the stored identities and members, if they were
deleted.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .base import OckamCommand, open_state, terminal
from .output import Terminal, fmt_log, fmt_ok, fmt_warn

if TYPE_CHECKING:
    from ..api.identities import LoadedIdentity
    from ..api.projects import Project
    from ..state import State

__all__ = [
    "Hosting",
    "create_local_project",
    "enroll",
    "ensure_local_project_running",
    "hosting_options",
    "project_route",
]

PROJECT_NAME = "default"
SPACE_NAME = "default"
LOCAL_HOST = "127.0.0.1:0"
# the id of the projects made before ids were random (one per home)
LEGACY_PROJECT_ID = "localhost"

F = TypeVar("F", bound=Callable[..., Any])


def authority_node_name(project: str) -> str:
    return f"{project}-authority"


def project_node_name(project: str) -> str:
    return f"{project}-project"


@dataclass(frozen=True)
class Hosting:
    """Where a hosted project's nodes listen, and the address other machines use."""

    project_listener: str = LOCAL_HOST
    authority_listener: str = LOCAL_HOST
    public_address: str | None = None

    def check(self) -> None:
        """Refuse addresses that cannot work before anything is started."""
        from ..errors import InvalidArgument
        from ..transport.tcp import parse_host_port

        for flag, address in (
            ("--tcp-listener-address", self.project_listener),
            ("--authority-tcp-listener-address", self.authority_listener),
        ):
            host, _ = parse_host_port(address)
            if not _is_ip(host):
                raise InvalidArgument(
                    f"{flag} {address}: give an IP address to listen on (e.g. 0.0.0.0:4000)"
                )
            if _is_unspecified(host) and self.public_address is None:
                raise InvalidArgument(
                    f"{flag} {address} listens on every address: say which one other machines use "
                    "with --public-address HOST"
                )
        if self.public_address is not None:
            public = self.public_address.strip("[]")
            if not public or (":" in public and not _is_ip(public)) or "/" in public:
                raise InvalidArgument(
                    f"--public-address {self.public_address}: give a host name or an IP address"
                )
            if _is_ip(public) and _is_unspecified(public):
                raise InvalidArgument(f"--public-address {self.public_address}: other machines cannot use it")

    def host_for(self, listener: str) -> str:
        from ..transport.tcp import parse_host_port

        return self.public_address.strip("[]") if self.public_address else parse_host_port(listener)[0]


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _is_unspecified(host: str) -> bool:
    return ipaddress.ip_address(host.strip("[]")).is_unspecified


def project_route(host: str, port: int) -> str:
    """``/dnsaddr/H/tcp/P/service/api`` for a name or an IPv4 address (as Rust's own local
    projects write them), ``/ip6/H/...`` for an IPv6 address."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return f"/dnsaddr/{host}/tcp/{port}/service/api"
    if ip.version == 6:
        return f"/ip6/{ip}/tcp/{port}/service/api"
    return f"/dnsaddr/{ip}/tcp/{port}/service/api"


def hosting_options(f: F) -> F:
    """``--tcp-listener-address``, ``--authority-tcp-listener-address``, ``--public-address``."""
    f = click.option(
        "--public-address",
        default=None,
        metavar="HOST",
        help="The name or address other machines reach the project at (default: the listener's "
        "host; required when it listens on 0.0.0.0 or [::]).",
    )(f)
    f = click.option(
        "--authority-tcp-listener-address",
        default=LOCAL_HOST,
        show_default=True,
        metavar="HOST:PORT",
        help="Where the project's authority node listens.",
    )(f)
    f = click.option(
        "--tcp-listener-address",
        default=LOCAL_HOST,
        show_default=True,
        metavar="HOST:PORT",
        help="Where the project node (relays, the project's secure channels) listens.",
    )(f)
    return f


def hosting_from(kw: dict[str, Any]) -> Hosting:
    return Hosting(kw["tcp_listener_address"], kw["authority_tcp_listener_address"], kw["public_address"])


@click.command(
    "enroll",
    cls=OckamCommand,
    help="Create and start the project 'default' on this machine (for it, or for other machines "
    "to join with tickets), and enroll in it",
)
@click.option(
    "--identity", default=None, metavar="IDENTITY_NAME", help="Identity of the project administrator."
)
@hosting_options
@click.option("--authorization-code-flow", is_flag=True, hidden=True)
@click.option("--force", is_flag=True, hidden=True)
@click.option("--skip-orchestrator-resources-creation", is_flag=True, hidden=True)
@click.pass_context
def enroll(ctx: click.Context, /, identity: str | None, **kw: Any) -> None:
    from .node_runtime import load_node_identity

    state = open_state(ctx)
    term = terminal(ctx)
    hosting = hosting_from(kw)
    hosting.check()
    loaded = load_node_identity(state, identity)
    try:
        project = host_project(state, loaded, term, PROJECT_NAME, SPACE_NAME, hosting)
        _check(state, project, loaded, term)
    finally:
        loaded.vault.close()
    report(term, project, loaded.name)


def host_project(
    state: State, admin: LoadedIdentity, term: Terminal, name: str, space: str, hosting: Hosting
) -> Project:
    """The project ``name`` hosted here, made if there is none (running in any case)."""
    from ..api.projects import get_project
    from ..errors import AlreadyExists
    from ..state.projects import Enrollments, Projects

    existing = Projects(state.db).by_name(name)
    if existing is None:
        return create_local_project(state, admin, term, name, space, hosting)
    project = get_project(state, name)
    if not project.is_local:
        if Enrollments(state.db).is_enrolled(admin.identifier) and name == PROJECT_NAME:
            term.status(fmt_ok(f"The identity {admin.name} is already enrolled with the project {name}"))
            return project
        raise AlreadyExists(
            f"This OCKAM_HOME is a member of a project named {name} hosted by another machine "
            f"(id {project.project_id}): host one under another name (ockam project create SPACE NAME)"
        )
    ensure_local_project_running(state, project, term)
    if hosting != Hosting() and hosting != _hosting_of(project):
        term.status(
            fmt_warn(
                f"The project {name} is already hosted here ({project.project_route}); its addresses "
                "stay as they are (ockam project delete it first to change them)"
            )
        )
    Enrollments(state.db).set_enrolled(admin.identifier)
    term.status(fmt_ok(f"The identity {admin.name} is already enrolled with the project {name}"))
    return project


def _hosting_of(project: Project) -> Hosting:
    stored = project.hosting or {}
    return Hosting(
        stored.get("requested_project_listener", LOCAL_HOST),
        stored.get("requested_authority_listener", LOCAL_HOST),
        stored.get("public_address"),
    )


def report(term: Terminal, project: Project, identity: str) -> None:
    lines = [fmt_ok(f"Enrolled {identity} with the project {project.name}, hosted on this machine")]
    if project.is_local:
        lines.append(fmt_log(f"Project node {project.project_node} at {project.project_route}"))
        lines.append(fmt_log(f"Authority node {project.authority_node} at {project.authority_route}"))
    lines.append(
        fmt_log(
            f"Reach it at /project/{project.name}, e.g. ockam relay create NAME --at /project/{project.name}; "
            "other machines join it with ockam project enroll <ticket> (ockam project ticket makes one)"
        )
    )
    term.result(plain="\n".join(lines) + "\n", json_value=project.to_json())


def create_local_project(
    state: State, admin: LoadedIdentity, term: Terminal, name: str, space: str, hosting: Hosting
) -> Project:
    from ..api.identities import create_named_identity
    from ..api.projects import Project, ProjectModel, store_project
    from ..errors import AlreadyExists
    from ..state.identities import Identities
    from ..state.projects import Enrollments, Projects, Spaces

    authority_name = authority_node_name(name)
    node_name = project_node_name(name)
    identities = Identities(state)
    for node in (authority_name, node_name):
        if identities.get(node) is None:
            create_named_identity(state, node)
        info = state.get_node(node)
        if info is not None:
            if info.hosts_project != name:
                raise AlreadyExists(
                    f"The node {node} is needed for the project {name}: please delete or rename it first"
                )
            state.delete_node(node)  # left by an interrupted enroll: start afresh
    authority_identity = identities.require(authority_name)
    project_identity = identities.require(node_name)
    project_id = str(uuid.uuid4())
    record: dict[str, Any] = {
        "admin": admin.identifier,
        "members_project": project_id,
        "public_address": hosting.public_address,
        "requested_project_listener": hosting.project_listener,
        "requested_authority_listener": hosting.authority_listener,
    }
    _start_authority(state, term, name, project_id, record, hosting.authority_listener)
    _start_project_node(state, term, name, authority_identity.change_history, hosting.project_listener)
    authority_listener = state.require_node(authority_name).tcp_listener_address or ""
    project_listener = state.require_node(node_name).tcp_listener_address or ""
    record["authority_listener"] = authority_listener
    record["project_listener"] = project_listener
    spaces = Spaces(state.db)
    existing_space = spaces.by_name(space)
    space_id = existing_space.space_id if existing_space is not None else str(uuid.uuid4())
    model = ProjectModel(
        id=project_id,
        name=name,
        space_name=space,
        access_route=project_route(hosting.host_for(project_listener), _port(project_listener)),
        space_id=space_id,
        identity=project_identity.identifier,
        authority_access_route=project_route(hosting.host_for(authority_listener), _port(authority_listener)),
        authority_identity=authority_identity.change_history,
        running=True,
        project_change_history=project_identity.change_history,
    )
    project = Project.verify(model)
    project.authority_node = authority_name
    project.project_node = node_name
    project.hosting = record
    first = Projects(state.db).default() is None or name == PROJECT_NAME
    stored = store_project(state, project, make_default=first)
    Enrollments(state.db).set_enrolled(admin.identifier)
    term.status(fmt_ok(f"Created the project {name}; {admin.name} is its administrator"))
    return stored


def _port(listener: str) -> int:
    return int(listener.rsplit(":", 1)[1])


def _start_authority(
    state: State, term: Terminal, name: str, project_id: str, record: dict[str, Any], listener: str
) -> None:
    from .authority import AuthorityArgs, start_authority_background, trusted_identities_json

    node = authority_node_name(name)
    term.status(fmt_log(f"Starting the authority of the project {name} (node {node}) on {listener}..."))
    trusted = {str(record["admin"]): {"ockam-role": "enroller", "ockam-relay": "*"}}
    start_authority_background(
        state,
        AuthorityArgs(
            name=node,
            tcp_listener_address=listener,
            identity=node,
            project_identifier=project_id,
            trusted_identities=trusted_identities_json(trusted),
            hosts_project=name,
            members_project=record.get("members_project"),
        ),
    )


def _start_project_node(
    state: State, term: Terminal, name: str, authority_history: str, listener: str
) -> None:
    from .node_runtime import NodeArgs, spawn_background, wait_until_up

    node = project_node_name(name)
    term.status(fmt_log(f"Starting the project node {node} with its relay service on {listener}..."))
    args = NodeArgs(
        name=node,
        tcp_listener_address=listener,
        identity=node,
        authority_identity=authority_history,
        hosts_project=name,
    )
    proc = spawn_background(state, args, quiet=True)
    wait_until_up(state, node, proc)


def ensure_local_project_running(state: State, project: Project, term: Terminal) -> None:
    """Start the nodes of a hosted project if they stopped; create them again, on the same
    addresses, if they were deleted."""
    from .authority import restart_authority_node
    from .node_runtime import NodeArgs, spawn_background, wait_until_up

    record = dict(project.hosting or {})
    for name, is_authority in ((project.authority_node, True), (project.project_node, False)):
        if name is None:
            continue
        node = state.get_node(name)
        if node is None:
            term.status(
                fmt_warn(f"The node {name} of the project {project.name} was deleted: creating it again")
            )
            route = project.authority_route if is_authority else project.project_route
            port = route.socket_address() if route is not None else None
            default = f"127.0.0.1:{port.rsplit(':', 1)[1]}" if port else LOCAL_HOST
            if is_authority:
                listener = record.get("authority_listener", default)
                if "admin" not in record:  # (hosted before the hosting record)
                    from .node_runtime import load_node_identity

                    loaded = load_node_identity(state, None)
                    record["admin"] = loaded.identifier
                    loaded.vault.close()
                _start_authority(state, term, project.name, project.project_id, record, listener)
            else:
                listener = record.get("project_listener", default)
                history = project.model.authority_identity or ""
                _start_project_node(state, term, project.name, history, listener)
            continue
        if node.is_running:
            continue
        term.status(fmt_log(f"Starting the node {name} of the project {project.name}..."))
        state.stop_node(name)
        if node.is_authority:
            restart_authority_node(state, node)
        else:
            args = NodeArgs.from_node(node)
            proc = spawn_background(state, args, quiet=True)
            wait_until_up(state, name, proc)


def delete_local_project(state: State, project: Project, term: Terminal) -> None:
    """Stop and delete a hosted project's nodes, its record and its members' database."""
    import shutil

    from ..state.projects import Projects

    for name in (project.project_node, project.authority_node):
        if name is not None and state.get_node(name) is not None:
            state.delete_node(name)
    Projects(state.db).delete(project.project_id)
    members = (project.hosting or {}).get("members_project")
    if isinstance(members, str) and members:
        shutil.rmtree(state.home / "projects" / members, ignore_errors=True)
    term.status(fmt_ok(f"Deleted the project {project.name} and its nodes"))


def _check(state: State, project: Project, admin: LoadedIdentity, term: Terminal) -> None:
    """The administrator gets a credential, and reaches the project node."""
    from ..api.client import default_timeout
    from ..api.projects import check_project

    term.status(fmt_log("Checking the project: a credential from its authority, a secure channel to it..."))
    check_project(state, project, admin, min(default_timeout(), 60.0))


def hosting_json(project: Project) -> dict[str, Any] | None:
    """How a hosted project is served (``project show`` and ``status``)."""
    if not project.is_local:
        return None
    record = project.hosting or {}
    return {
        "project_node": project.project_node,
        "authority_node": project.authority_node,
        "project_listener": record.get("project_listener"),
        "authority_listener": record.get("authority_listener"),
        "public_address": record.get("public_address"),
    }
