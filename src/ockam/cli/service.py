"""``ockam service`` and ``ockam worker``."""

from __future__ import annotations

from typing import Any

import click

from .base import OckamGroup, node_name_option, open_state, terminal
from .output import fmt_info, fmt_list, fmt_ok, fmt_warn

__all__ = ["service", "worker"]


@click.group(cls=OckamGroup, name="service", help="Manage the services of a node")
def service() -> None:
    pass


@service.group("start", cls=OckamGroup, help="Start a specified service")
@node_name_option()
@click.pass_context
def service_start(ctx: click.Context, node: str | None) -> None:
    ctx.meta["ockam.service.at"] = node


def _start(ctx: click.Context, kind: str, label: str, addr: str | None, node: str | None) -> None:
    from ..api.client import NodeClient
    from ..errors import ApiError
    from .resolve import initialize_default_node

    term = terminal(ctx)
    node = node if node is not None else ctx.meta.get("ockam.service.at")
    addr = addr or kind
    state = open_state(ctx)
    if node is None:
        initialize_default_node(state, term)
    client = NodeClient.for_node(state, node)
    try:
        client.tell("POST", f"/node/services/{kind}", {1: addr})
    except ApiError as e:
        raise ApiError(f"Failed to start {label} service: {e}", e.status) from e
    if kind == "hop":
        term.status(fmt_warn("SECURITY WARNING: Don't use Hop service in production nodes"))
    term.status(fmt_ok(f"Service started at address {addr}"))


@service_start.command("hop", help="Start a hop service (forwards messages to the next hop)")
@click.option("--addr", default="hop", show_default=True, help="Address of the service.")
@node_name_option()
@click.pass_context
def start_hop(ctx: click.Context, addr: str, node: str | None) -> None:
    _start(ctx, "hop", "Hop", addr, node)


@service_start.command("echo", help="Start an echo service")
@click.option("--addr", default="echo", show_default=True, help="Address of the service.")
@node_name_option()
@click.pass_context
def start_echo(ctx: click.Context, addr: str, node: str | None) -> None:
    _start(ctx, "echo", "Echo", addr, node)


@service_start.command("uppercase", help="Start an uppercase service")
@click.option("--addr", default="uppercase", show_default=True, help="Address of the service.")
@node_name_option()
@click.pass_context
def start_uppercase(ctx: click.Context, addr: str, node: str | None) -> None:
    _start(ctx, "uppercase", "Uppercase", addr, node)


def _service_items(body: Any) -> list[dict[str, Any]]:
    from ..api.views import service_status_json

    return [service_status_json(s) for s in body] if isinstance(body, list) else []


@service.command("list", help="List the services of a node")
@node_name_option()
@click.pass_context
def service_list(ctx: click.Context, node: str | None) -> None:
    from ..api.client import NodeClient

    client = NodeClient.for_node(open_state(ctx), node)
    items = _service_items(client.ask("GET", "/node/services"))
    if items:
        plain = "\n\n".join(fmt_list(f"{s['type']} service at {s['addr']}") for s in items) + "\n"
    else:
        plain = fmt_info(f"No services found on {client.node_name}")
    terminal(ctx).result(plain=plain, json_value=items, has_json=True)


@click.group(cls=OckamGroup, name="worker", help="Manage the workers of a node")
def worker() -> None:
    pass


@worker.command("list", help="List workers on a node")
@node_name_option(help="Node at which to lookup workers.")
@click.pass_context
def worker_list(ctx: click.Context, node: str | None) -> None:
    from ..api.client import NodeClient
    from ..api.views import worker_list as workers_of

    client = NodeClient.for_node(open_state(ctx), node)
    workers = workers_of(client.ask("GET", "/node/workers"))
    if workers:
        plain = "\n\n".join(fmt_list(f"Worker {w}") for w in workers) + "\n"
    else:
        plain = fmt_info(f"No workers found on {client.node_name}.")
    terminal(ctx).result(plain=plain)
