"""``ockam reset`` and ``ockam status``."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import click

from .base import OckamCommand, open_state, terminal
from .output import fmt_ok
from .params import DURATION

__all__ = ["reset", "status"]


@click.command("reset", cls=OckamCommand, help="Remove the local Ockam configuration, identities and nodes")
@click.option("-y", "--yes", is_flag=True, help="Confirm the reset without prompting.")
@click.option("--all", "all_", is_flag=True, help="Also remove your spaces from the Orchestrator.")
@click.pass_context
def reset(ctx: click.Context, yes: bool, all_: bool) -> None:
    from ..errors import OckamError
    from ..state import default_home, hard_reset

    del all_  # not enrolled with an Orchestrator: nothing remote to delete
    term = terminal(ctx)
    if not term.confirm(yes, "This will delete the local Ockam configuration. Are you sure?"):
        return
    try:
        state = open_state(ctx)
    except OckamError:
        hard_reset(default_home())
    else:
        state.reset()
    term.result(plain=fmt_ok("Local Ockam configuration deleted"))


@click.command("status", cls=OckamCommand, help="Display information about the system's status")
@click.option(
    "--timeout", type=DURATION, default="10s", show_default=True, help="Time to wait for each node."
)
@click.pass_context
def status(ctx: click.Context, timeout: float) -> None:
    from datetime import datetime

    from .. import __version__
    from ..api.projects import Project
    from ..errors import OckamError
    from ..state.identities import Identities
    from ..state.projects import Enrollments, Projects, Spaces
    from .enroll import hosting_json
    from .node_runtime import get_node_resources, render_node_resources

    del timeout
    state = open_state(ctx)
    nodes: list[dict[str, Any]] = [get_node_resources(state, n.name) for n in state.list_nodes()]
    enrollments = Enrollments(state.db)
    identities = []
    for row in Identities(state).list_all():
        at = enrollments.enrolled_at(row.identifier)
        identities.append(
            {
                "identifier": row.identifier,
                "name": row.name,
                "is_default": row.is_default,
                "status": "enrolled" if at is not None else "not_enrolled",
                "enrolled_at": None
                if at is None
                else datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        )
    spaces = [
        {"id": sp.space_id, "name": sp.space_name, "is_default": sp.is_default}
        for sp in Spaces(state.db).list_all()
    ]
    projects: list[dict[str, Any]] = []
    for record in Projects(state.db).list_all():
        try:
            project = Project.from_row(record)
        except OckamError:  # a record that no longer verifies: still listed
            projects.append(
                {"id": record.project_id, "name": record.project_name, "is_default": record.is_default}
            )
            continue
        projects.append(
            {
                "id": project.project_id,
                "name": project.name,
                "is_default": project.is_default,
                "access_route": project.model.access_route,
                "hosted_here": hosting_json(project),
            }
        )
    data = {
        "ockam_version": {"version": __version__, "hash": "N/A"},
        "orchestrator_version": {"version": "N/A", "project_version": "N/A"},
        "spaces": spaces,
        "projects": projects,
        "identities": identities,
        "nodes": nodes,
    }
    pad = "    "
    lines = [
        f"{pad}Ockam version: {__version__}, compiled from: N/A",
        f"{pad}Controller version: N/A (no Orchestrator: projects are hosted by machines)",
    ]
    if spaces:
        lines.append(f"\n{pad}Spaces")
        lines.extend(f"{pad}  {sp['name']}{' (default)' if sp['is_default'] else ''}" for sp in spaces)
    else:
        lines.append("  ! No spaces found")
        lines.append(
            f"{pad}Consider running `ockam enroll` or `ockam space create` to create your first space."
        )
    if projects:
        lines.append(f"\n{pad}Projects")
        for p in projects:
            hosted = p.get("hosted_here")
            where = (
                f"hosted on this machine (nodes {hosted['project_node']}, {hosted['authority_node']})"
                if hosted
                else f"hosted at {p.get('access_route', '?')}"
            )
            lines.append(f"{pad}  {p['name']}{' (default)' if p['is_default'] else ''}: {where}")
    if identities:
        lines.append(f"\n{pad}Identities")
        for i in identities:
            lines.append(f"{pad}  {i['name']}{' (default)' if i['is_default'] else ''}:")
            lines.append(f"{pad}    With Identifier {i['identifier']}")
            if i["enrolled_at"]:
                lines.append(f"{pad}    Was enrolled at {i['enrolled_at']}")
            else:
                lines.append(f"{pad}    Is not enrolled")
    else:
        lines.append("  ! No identities found")
        lines.append(f"{pad}Consider running `ockam enroll` to enroll an identity.")
    if nodes:
        lines.append(f"\n{pad}Nodes")
        lines.extend(render_node_resources(n).rstrip("\n") for n in nodes)
    else:
        lines.append("  ! No nodes found")
        lines.append(f"{pad}Consider running `ockam node create` to create your first node.")
    terminal(ctx).result(plain="\n".join(lines) + "\n", json_value=data)
