"""``ockam enroll``: a project named ``default`` on this machine, instead of Ockam
Orchestrator (authority.md §11).

What it creates, once:

* identities ``default-authority`` and ``default-project`` (the default identity, created
  if needed, is the project's administrator);
* the authority node ``default-authority`` (a background ``authority create`` with the
  project id, listening on a free local port) where the administrator is a pre-trusted
  member with ``ockam-role=enroller`` and ``ockam-relay=*``;
* the project node ``default-project`` (a background node with the relay services and the
  ``api`` secure-channel listener) that trusts the authority's identity for the credentials
  members present, and fetches no credential for itself;
* the project record (default project, ready: routes ``/dnsaddr/localhost/tcp/<port>/service/api``,
  both identities; the project id is ``localhost``, the first label of the route's host, as
  ``project ticket`` derives it), a ``default`` space, and the administrator marked as
  enrolled.

It then checks that the administrator gets a credential from the authority and opens a
secure channel to the project node.  Both nodes host the project: they are never the
default node and ``node delete --all`` keeps them.  Run again, ``enroll`` restarts them if
they are not running and reports the existing project.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from .base import OckamCommand, open_state, terminal
from .output import Terminal, fmt_log, fmt_ok

if TYPE_CHECKING:
    from ..api.identities import LoadedIdentity
    from ..api.projects import Project
    from ..state import State

__all__ = ["enroll", "ensure_local_project_running"]

PROJECT_NAME = "default"
PROJECT_HOST = "localhost"
SPACE_NAME = "default"


def _authority_node_name(project: str) -> str:
    return f"{project}-authority"


def _project_node_name(project: str) -> str:
    return f"{project}-project"


@click.command(
    "enroll", cls=OckamCommand, help="Create and start a project on this machine, and enroll in it"
)
@click.option(
    "--identity", default=None, metavar="IDENTITY_NAME", help="Identity of the project administrator."
)
@click.option("--authorization-code-flow", is_flag=True, hidden=True)
@click.option("--force", is_flag=True, hidden=True)
@click.option("--skip-orchestrator-resources-creation", is_flag=True, hidden=True)
@click.pass_context
def enroll(ctx: click.Context, /, identity: str | None, **_ignored: Any) -> None:
    from ..api.projects import get_project
    from ..state.projects import Enrollments, Projects
    from .node_runtime import load_node_identity

    state = open_state(ctx)
    term = terminal(ctx)
    loaded = load_node_identity(state, identity)
    try:
        existing = Projects(state.db).by_name(PROJECT_NAME)
        enrolled = Enrollments(state.db).is_enrolled(loaded.identifier)
        if existing is not None and (existing.is_local or enrolled):
            project = get_project(state, PROJECT_NAME)
            if project.is_local:
                ensure_local_project_running(state, project, term)
            Enrollments(state.db).set_enrolled(loaded.identifier)
            term.status(
                fmt_ok(f"The identity {loaded.name} is already enrolled with the project {project.name}")
            )
        else:
            project = _create_local_project(state, loaded, term)
        _check(state, project, loaded, term)
    finally:
        loaded.vault.close()
    _report(term, project, loaded.name)


def _report(term: Terminal, project: Project, identity: str) -> None:
    lines = [fmt_ok(f"Enrolled {identity} with the project {project.name}, hosted on this machine")]
    if project.is_local:
        lines.append(fmt_log(f"Project node {project.project_node} at {project.project_route}"))
        lines.append(fmt_log(f"Authority node {project.authority_node} at {project.authority_route}"))
    lines.append(
        fmt_log(
            f"Reach it at /project/{project.name}, e.g. ockam relay create NAME --at /project/{project.name}"
        )
    )
    term.result(plain="\n".join(lines) + "\n", json_value=project.to_json())


def _create_local_project(state: State, admin: LoadedIdentity, term: Terminal) -> Project:
    import uuid

    from ..api.identities import create_named_identity
    from ..api.projects import Project, ProjectModel, store_project
    from ..errors import AlreadyExists
    from ..state.identities import Identities
    from ..state.projects import Enrollments, Projects, Spaces
    from .authority import AuthorityArgs, start_authority_background, trusted_identities_json
    from .node_runtime import NodeArgs, spawn_background, wait_until_up

    other = Projects(state.db).get(PROJECT_HOST)
    if other is not None and not other.is_local:
        raise AlreadyExists(
            f"This OCKAM_HOME is a member of the project {other.project_name} (id {other.project_id}) "
            "of another machine, which a project created here would replace: use another OCKAM_HOME"
        )
    authority_name = _authority_node_name(PROJECT_NAME)
    node_name = _project_node_name(PROJECT_NAME)
    identities = Identities(state)
    for name in (authority_name, node_name):
        if identities.get(name) is None:
            create_named_identity(state, name)
        node = state.get_node(name)
        if node is not None:
            if node.hosts_project != PROJECT_NAME:
                raise AlreadyExists(
                    f"The node {name} is needed for the project {PROJECT_NAME}: please delete or rename it first"
                )
            state.delete_node(name)  # left by an interrupted enroll: start afresh
    authority_identity = identities.require(authority_name)
    project_identity = identities.require(node_name)

    term.status(fmt_log(f"Starting the authority of the project {PROJECT_NAME} (node {authority_name})..."))
    trusted = {admin.identifier: {"ockam-role": "enroller", "ockam-relay": "*"}}
    start_authority_background(
        state,
        AuthorityArgs(
            name=authority_name,
            tcp_listener_address="127.0.0.1:0",
            identity=authority_name,
            project_identifier=PROJECT_HOST,
            trusted_identities=trusted_identities_json(trusted),
            hosts_project=PROJECT_NAME,
        ),
    )
    term.status(fmt_log(f"Starting the project node {node_name} with its relay service..."))
    args = NodeArgs(
        name=node_name,
        tcp_listener_address="127.0.0.1:0",
        identity=node_name,
        authority_identity=authority_identity.change_history,
        hosts_project=PROJECT_NAME,
    )
    proc = spawn_background(state, args, quiet=True)
    wait_until_up(state, node_name, proc)

    authority_port = state.require_node(authority_name).tcp_listener_port
    project_port = state.require_node(node_name).tcp_listener_port
    space_id = str(uuid.uuid4())
    default_space = Spaces(state.db).by_name(SPACE_NAME)
    if default_space is not None:
        space_id = default_space.space_id
    model = ProjectModel(
        id=PROJECT_HOST,
        name=PROJECT_NAME,
        space_name=SPACE_NAME,
        access_route=f"/dnsaddr/{PROJECT_HOST}/tcp/{project_port}/service/api",
        space_id=space_id,
        identity=project_identity.identifier,
        authority_access_route=f"/dnsaddr/{PROJECT_HOST}/tcp/{authority_port}/service/api",
        authority_identity=authority_identity.change_history,
        running=True,
        project_change_history=project_identity.change_history,
    )
    project = Project.verify(model)
    project.authority_node = authority_name
    project.project_node = node_name
    stored = store_project(state, project, make_default=True)
    Projects(state.db).set_default(stored.project_id)
    Enrollments(state.db).set_enrolled(admin.identifier)
    term.status(fmt_ok(f"Created the project {PROJECT_NAME}; {admin.name} is its administrator"))
    return stored


def ensure_local_project_running(state: State, project: Project, term: Terminal) -> None:
    """Start the authority node and the project node of a local project if they stopped."""
    from .authority import restart_authority_node
    from .node_runtime import NodeArgs, spawn_background, wait_until_up

    for name in (project.authority_node, project.project_node):
        if name is None:
            continue
        node = state.get_node(name)
        if node is None or node.is_running:
            continue
        term.status(fmt_log(f"Starting the node {name} of the project {project.name}..."))
        state.stop_node(name)
        if node.is_authority:
            restart_authority_node(state, node)
        else:
            args = NodeArgs.from_node(node)
            proc = spawn_background(state, args, quiet=True)
            wait_until_up(state, name, proc)


def _check(state: State, project: Project, admin: LoadedIdentity, term: Terminal) -> None:
    """The administrator gets a credential, and reaches the project node."""
    from ..api.client import default_timeout
    from ..api.projects import check_project

    term.status(fmt_log("Checking the project: a credential from its authority, a secure channel to it..."))
    check_project(state, project, admin, min(default_timeout(), 60.0))
