"""``ockam tcp-listener`` and ``ockam tcp-connection``."""

from __future__ import annotations

from typing import Any

import click

from .base import OckamGroup, node_name_option, open_state, terminal
from .output import fmt_info, fmt_list, fmt_log, fmt_ok

__all__ = ["tcp_connection", "tcp_listener"]

_TYPES = {"Tcp": "TCP", "Ble": "BLE", "WebSocket": "Websocket"}
_MODES = {"Listen": "Listening", "Incoming": "Incoming", "Outgoing": "Outgoing"}


def _transport_line(t: dict[str, Any]) -> str:
    return f"{_TYPES.get(t['type'], t['type'])}, {_MODES.get(t['mode'], t['mode'])} at {t['socket_addr']}"


def _transport_list(items: list[dict[str, Any]], empty: str) -> str:
    if not items:
        return fmt_info(empty)
    return "\n\n".join(fmt_list(_transport_line(t)) for t in items) + "\n"


def _client(ctx: click.Context, node: str | None) -> Any:
    from ..api.client import NodeClient

    return NodeClient.for_node(open_state(ctx), node)


def _transports(body: Any) -> list[dict[str, Any]]:
    from ..api.views import transport_status_json

    return [transport_status_json(t) for t in body] if isinstance(body, list) else []


# -- tcp-listener ----------------------------------------------------------------------


@click.group(cls=OckamGroup, name="tcp-listener", help="Manage TCP Listeners")
def tcp_listener() -> None:
    pass


@tcp_listener.command("create", help="Create a TCP listener")
@click.argument("address")
@node_name_option(help="Node at which to create the listener.")
@click.pass_context
def tcp_listener_create(ctx: click.Context, address: str, node: str | None) -> None:
    from ..api.views import transport_status_json
    from .resolve import initialize_default_node

    term = terminal(ctx)
    initialize_default_node(open_state(ctx), term)
    client = _client(ctx, node)
    status = transport_status_json(client.ask("POST", "/node/tcp/listener", {1: address}))
    port = str(status["socket_addr"]).rpartition(":")[2]
    route = f"/dnsaddr/localhost/tcp/{port}"
    term.result(
        plain=fmt_ok("Tcp listener created! You can send messages to it via this route:\n") + fmt_log(route)
    )


@tcp_listener.command("list", help="List TCP listeners")
@node_name_option()
@click.pass_context
def tcp_listener_list(ctx: click.Context, node: str | None) -> None:
    client = _client(ctx, node)
    items = _transports(client.ask("GET", "/node/tcp/listener"))
    terminal(ctx).result(plain=_transport_list(items, f"No TCP Listeners found on {client.node_name}"))


@tcp_listener.command("show", help="Show a TCP listener")
@click.argument("address")
@node_name_option()
@click.pass_context
def tcp_listener_show(ctx: click.Context, address: str, node: str | None) -> None:
    from ..api.views import transport_status_json

    client = _client(ctx, node)
    status = transport_status_json(client.ask("GET", f"/node/tcp/listener/{address}"))
    terminal(ctx).result(plain=f"    {_transport_line(status)}", json_value=status)


@tcp_listener.command("delete", help="Delete a TCP listener")
@click.argument("address")
@node_name_option()
@click.option("-y", "--yes", is_flag=True, help="Confirm the deletion without prompting.")
@click.pass_context
def tcp_listener_delete(ctx: click.Context, address: str, node: str | None, yes: bool) -> None:
    from ..errors import NotFound

    term = terminal(ctx)
    client = _client(ctx, node)
    if client.found("GET", f"/node/tcp/listener/{address}") is None:
        raise NotFound(f"TCP listener with address {address} was not found on Node {client.node_name}")
    if term.confirm(yes, "Are you sure you want to delete this TCP listener?"):
        client.tell("DELETE", "/node/tcp/listener", {1: address})
        term.result(
            plain=fmt_ok(f"TCP listener with address {address} on Node {client.node_name} has been deleted"),
            json_value={"node": client.node_name},
        )


# -- tcp-connection --------------------------------------------------------------------


@click.group(cls=OckamGroup, name="tcp-connection", help="Manage TCP Connections")
def tcp_connection() -> None:
    pass


@tcp_connection.command("create", help="Create a TCP connection")
@node_name_option("--from", help="Node that will initiate the connection.")
@click.option("-t", "--to", "address", required=True, metavar="ADDRESS", help="The address to connect to.")
@click.pass_context
def tcp_connection_create(ctx: click.Context, node: str | None, address: str) -> None:
    from ..api.views import transport_status_json
    from .resolve import initialize_default_node

    term = terminal(ctx)
    initialize_default_node(open_state(ctx), term)
    client = _client(ctx, node)
    status = transport_status_json(client.ask("POST", "/node/tcp/connection", {1: address}))
    worker = str(status["worker_addr"])
    worker = worker[2:] if worker.startswith("0#") else worker
    multiaddr = f"/worker/{worker}"
    out = {"from": client.node_name, "to": status["socket_addr"], "address": multiaddr}
    plain = (
        fmt_ok(f"A TCP connection was created at the node {client.node_name}")
        + "\n"
        + fmt_log(f"to the address {status['socket_addr']}")
        + "\n"
    )
    term.result(plain=plain, machine=multiaddr, json_value=out)


@tcp_connection.command("list", help="List TCP connections")
@node_name_option()
@click.pass_context
def tcp_connection_list(ctx: click.Context, node: str | None) -> None:
    client = _client(ctx, node)
    items = _transports(client.ask("GET", "/node/tcp/connection"))
    terminal(ctx).result(plain=_transport_list(items, f"No TCP Connections found on {client.node_name}"))


@tcp_connection.command("show", help="Show a TCP connection")
@click.argument("address")
@node_name_option()
@click.pass_context
def tcp_connection_show(ctx: click.Context, address: str, node: str | None) -> None:
    from ..api.views import transport_status_json

    client = _client(ctx, node)
    t = transport_status_json(client.ask("GET", f"/node/tcp/connection/{address}"))
    plain = (
        fmt_ok("TCP Connection:\n")
        + fmt_log(f"  Type: {_TYPES.get(t['type'], t['type'])}\n")
        + fmt_log(f"  Mode: {_MODES.get(t['mode'], t['mode'])}\n")
        + fmt_log(f"  Socket address: {t['socket_addr']}\n")
        + fmt_log(f"  Processor address: {t['processor_address']}\n")
        + fmt_log(f"  Flow Control Id: {t['flow_control_id']}\n")
    )
    terminal(ctx).result(plain=plain)


@tcp_connection.command("delete", help="Delete a TCP connection")
@click.argument("address")
@node_name_option()
@click.option("-y", "--yes", is_flag=True, help="Confirm the deletion without prompting.")
@click.pass_context
def tcp_connection_delete(ctx: click.Context, address: str, node: str | None, yes: bool) -> None:
    term = terminal(ctx)
    if term.confirm(yes, "Are you sure you want to delete this TCP connection?"):
        client = _client(ctx, node)
        client.tell("DELETE", "/node/tcp/connection", {1: address})
        term.result(
            plain=fmt_ok(f"TCP connection {address} has been successfully deleted"),
            json_value={"address": address},
        )
