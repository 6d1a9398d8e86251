"""``ockam reset`` and ``ockam status``."""

from __future__ import annotations

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
    from .. import __version__
    from .node_runtime import get_node_resources, render_node_resources

    del timeout
    state = open_state(ctx)
    nodes: list[dict[str, Any]] = [get_node_resources(state, n.name) for n in state.list_nodes()]
    data = {
        "ockam_version": {"version": __version__, "hash": "N/A"},
        "orchestrator_version": {"version": "N/A", "project_version": "N/A"},
        "spaces": [],
        "identities": [],
        "nodes": nodes,
    }
    lines = [
        f"    Ockam version: {__version__}, compiled from: N/A",
        "    Controller version: N/A",
        "    Project version: N/A",
        "  ! No spaces found",
        "    Consider running `ockam enroll` or `ockam space create` to create your first space.",
        "  ! No identities found",
        "    Consider running `ockam enroll` to enroll an identity.",
    ]
    if nodes:
        lines.append("\n    Nodes")
        lines.extend(render_node_resources(n).rstrip("\n") for n in nodes)
    else:
        lines.append("  ! No nodes found")
        lines.append("    Consider running `ockam node create` to create your first node.")
    terminal(ctx).result(plain="\n".join(lines) + "\n", json_value=data)
