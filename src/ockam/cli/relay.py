"""``ockam relay``: create, list, show, delete (cli.md §3.5, relays.md §9).

``forwarder`` (the name these commands had before they were renamed) is accepted as a
hidden alias of ``relay``.
"""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING, Any

import click

from .base import NODE_NAME, OckamGroup, open_state, terminal
from .items import ItemKind, delete_items, show_items
from .output import fmt_info, fmt_list, fmt_log, fmt_ok, fmt_warn
from .params import DURATION

if TYPE_CHECKING:
    from ..api.client import NodeClient
    from ..state import State

__all__ = ["forwarder", "parse_relay_at", "relay"]

RELAY = ItemKind("relay", "relays", "No relay name provided")
DEFAULT_AT = "/project/$DEFAULT_PROJECT_NAME"


def _client(ctx: click.Context, node: str | None) -> NodeClient:
    from ..api.client import NodeClient

    return NodeClient.for_node(open_state(ctx), node)


@click.group(cls=OckamGroup, name="relay", help="Manage Relays")
def relay() -> None:
    pass


def parse_relay_at(state: State, at: str) -> str:
    """``--at``: a node name (``n1`` -> ``/node/n1``), a route, or the default project
    (``/project/$DEFAULT_PROJECT_NAME``); ``/node/<n>`` replaced by the node's TCP address."""
    from ..codec.multiaddr import MultiAddr
    from ..errors import InvalidArgument, OckamError
    from .portal import default_project_name
    from .resolve import clean_nodes_multiaddr

    if "/" not in at:
        at = f"/node/{at}"
    elif at.startswith("/project/"):
        project = default_project_name(state)
        if "$DEFAULT_PROJECT_NAME" in at:
            if project is None:
                raise InvalidArgument(
                    "There is no default project defined. Please enroll or create a project."
                )
            at = at.replace("$DEFAULT_PROJECT_NAME", project)
    try:
        maddr = MultiAddr.parse(at)
    except OckamError as e:
        raise InvalidArgument(f"Invalid value for '--at': {e}") from None
    return str(clean_nodes_multiaddr(maddr, state))


def _route_multiaddr(text: Any) -> str | None:
    """A one-address route text (``forward_to_n``, ``0#<hex>``) as ``/service/<value>``."""
    from .portal import _worker_route

    if not isinstance(text, str):
        return None
    from ..codec.address import Address

    try:
        return _worker_route(Address.parse(text).to_cbor())
    except Exception:
        return None


@relay.command("create", help="Create a Relay")
@click.argument("relay_name", default="default", required=False, metavar="RELAY_NAME")
@click.option(
    "--to", "to", type=NODE_NAME, default=None, metavar="NODE_NAME", help="Node that registers the relay."
)
@click.option("--at", "at", default=DEFAULT_AT, metavar="ROUTE", help="Route to the node hosting the relay.")
@click.option(
    "--authorized", default=None, metavar="AUTHORIZED", help="Identifier trusted as the relay node."
)
@click.option("--relay-address", default=None, help="Name to register (the relay name by default).")
@click.option("--project-relay", is_flag=True, help="[DEPRECATED] No effect.")
@click.option("--no-connection-wait", is_flag=True, help="Do not wait for the relay to be registered.")
@click.option("--retry-count", "--retry", "retry_count", type=int, default=None, hidden=True)
@click.option("--retry-delay", type=DURATION, default=None, hidden=True)
@click.option("--no-retry", is_flag=True, hidden=True)
@click.pass_context
def relay_create(
    ctx: click.Context,
    /,
    relay_name: str,
    to: str | None,
    at: str,
    authorized: str | None,
    relay_address: str | None,
    project_relay: bool,
    no_connection_wait: bool,
    retry_count: int | None,
    retry_delay: float | None,
    no_retry: bool,
) -> None:
    from ..errors import OckamError
    from .message import _retry_settings

    term = terminal(ctx)
    settings = _retry_settings(retry_count, retry_delay, no_retry)
    count, delay = settings if settings is not None else (1, 0.0)
    while True:
        try:
            _create(ctx, relay_name, to, at, authorized, relay_address, project_relay, no_connection_wait)
            return
        except OckamError as e:
            count -= 1
            if count <= 0:
                raise
            wait = delay + random.uniform(0, min(delay * 0.5, 5.0))
            term.status(fmt_warn("Command failed with error:"))
            term.status(fmt_log(f"{e}\n"))
            term.status(fmt_log(f"Will retry in {int(wait)} seconds"))
            time.sleep(wait)
            term.status(fmt_log("Retrying...\n"))


def _create(
    ctx: click.Context,
    name: str,
    to: str | None,
    at: str,
    authorized: str | None,
    relay_address: str | None,
    project_relay: bool,
    no_connection_wait: bool,
) -> None:
    from ..api.relays import AFTER_CONNECTION, IMMEDIATELY, CreateRelay
    from ..api.views import relay_info_json
    from ..codec.multiaddr import MultiAddr
    from ..errors import InvalidArgument, ProtocolError
    from .portal import _identifier_bytes
    from .resolve import initialize_default_node

    term = terminal(ctx)
    state = open_state(ctx)
    authorized_id = None if authorized is None else _identifier_bytes(authorized)
    initialize_default_node(state, term)
    at_text = parse_relay_at(state, at)
    maddr = MultiAddr.parse(at_text)
    if project_relay:
        term.status(fmt_warn("--project-relay is deprecated. This flag has no effect"))
    client = _client(ctx, to)
    if maddr and maddr[0].protocol == "project" and authorized_id is not None:
        raise InvalidArgument("--authorized can not be used with project addresses")
    request = CreateRelay(
        address=maddr,
        name=name,
        authorized=authorized_id,
        relay_address=relay_address if relay_address is not None else name,
        return_timing=IMMEDIATELY if no_connection_wait else AFTER_CONNECTION,
    )
    info = client.ask("POST", "/node/relay", request.to_cbor())
    value = relay_info_json(info if isinstance(info, dict) else {})
    node_route = f"/node/{client.node_name}"
    if no_connection_wait:
        plain = fmt_ok(
            f"Relay will be created automatically from {at_text} → {node_route} "
            "as soon as a connection can be established."
        )
        term.result(plain=plain, json_value=value)
        return
    if value.get("connection_status") == "Up":
        remote = _route_multiaddr(value.get("remote_address"))
        worker = _route_multiaddr(value.get("worker_address"))
        if remote is None or worker is None:
            raise ProtocolError("The Orchestrator returned an invalid relay address. Try creating a new one.")
        plain = fmt_ok(f"Now relaying messages from {at_text}{remote} → {node_route}{worker}")
        term.result(plain=plain, machine=remote, json_value=value)
        return
    plain = fmt_warn(f"A relay was created at {node_route} but failed to connect to {at_text}\n") + fmt_info(
        "It will retry to connect automatically"
    )
    term.result(plain=plain, json_value=value)


def _relays(client: NodeClient) -> list[dict[str, Any]]:
    from ..api.views import relay_info_json

    items = client.ask("GET", "/node/relay")
    return [relay_info_json(i) for i in items if isinstance(i, dict)] if isinstance(items, list) else []


@relay.command("list", help="List Relays")
@click.option("--to", "to", type=NODE_NAME, default=None, metavar="NODE", help="Node whose relays to list.")
@click.pass_context
def relay_list(ctx: click.Context, to: str | None) -> None:
    client = _client(ctx, to)
    items = _relays(client)
    if items:
        blocks = []
        for r in items:
            status = str(r.get("connection_status", "Down")).upper()
            remote = _route_multiaddr(r.get("remote_address")) or "N/A"
            lines = [f"Relay {r.get('name')} is {status} at {r.get('destination_address')}"]
            lines.append(f"With address {remote}")
            blocks.append("\n".join(fmt_list(line) for line in lines))
        plain = "\n\n".join(blocks) + "\n"
    else:
        plain = fmt_info(f"No Relays found on node {client.node_name}")
    terminal(ctx).result(plain=plain, json_value=items, has_json=True)


@relay.command("show", help="Show a Relay given its name")
@click.argument("relay_name", required=False, metavar="RELAY_NAME")
@click.option("--at", "at", type=NODE_NAME, default=None, metavar="NODE", help="Node the relay belongs to.")
@click.pass_context
def relay_show(ctx: click.Context, relay_name: str | None, at: str | None) -> None:
    from ..api.views import relay_show_json

    term = terminal(ctx)
    client = _client(ctx, at)

    def show_one(name: str) -> None:
        info = client.ask("GET", f"/node/relay/{name}")
        value = relay_show_json(info if isinstance(info, dict) else {})
        plain = (
            "Relay:\n"
            f"    Name: {value.get('name')}\n"
            f"    Destination: {value.get('destination')}\n"
            f"    Status: {str(value.get('connection_status', 'Down')).upper()}\n"
            f"    Relay Route: {value.get('relay_route') or 'N/A'}\n"
            f"    Remote Address: {value.get('remote_address') or 'N/A'}\n"
            f"    Worker Address: {value.get('worker_address') or 'N/A'}\n"
        )
        term.result(plain=plain, machine=name, json_value=value)

    names = [str(r.get("name")) for r in _relays(client)]
    show_items(term, RELAY, names, relay_name, show_one)


@relay.command("delete", help="Delete a Relay")
@click.argument("relay_name", required=False, metavar="RELAY_NAME")
@click.option("--at", "at", type=NODE_NAME, default=None, metavar="NODE", help="Node the relay belongs to.")
@click.option("-y", "--yes", is_flag=True, help="Confirm the deletion without prompting.")
@click.pass_context
def relay_delete(ctx: click.Context, relay_name: str | None, at: str | None, yes: bool) -> None:
    term = terminal(ctx)
    client = _client(ctx, at)

    def delete_one(name: str) -> None:
        client.tell("DELETE", f"/node/relay/{name}")
        term.result(plain=fmt_ok(f"Relay with name {name} on Node {client.node_name} has been deleted"))

    names = [str(r.get("name")) for r in _relays(client)]
    delete_items(term, RELAY, names, relay_name, yes, delete_one)


# The pre-0.100 name of the same commands, kept as a hidden alias.
forwarder = OckamGroup(name="forwarder", commands=relay.commands, hidden=True, help="Manage Relays")
