"""``ockam flow-control add-consumer``: let what arrives under a flow control reach an address."""

from __future__ import annotations

import click

from .base import OckamGroup, node_name_option, open_state, terminal
from .output import fmt_ok

__all__ = ["flow_control"]


@click.group(
    cls=OckamGroup,
    name="flow-control",
    help="Manage flow controls: which addresses of a node what arrives from other nodes may reach",
)
def flow_control() -> None:
    pass


@flow_control.command(
    "add-consumer",
    help="Let the messages that arrive under FLOW_CONTROL_ID (a TCP listener or connection, a "
    "secure channel or its listener, a relay: see their `show` commands) reach ADDRESS "
    "(a multiaddr of one local address, e.g. /service/my_outlet)",
)
@click.argument("flow_control_id")
@click.argument("address")
@node_name_option()
@click.pass_context
def add_consumer(ctx: click.Context, flow_control_id: str, address: str, node: str | None) -> None:
    from ..api.client import NodeClient
    from ..codec.multiaddr import MultiAddr

    ma = MultiAddr.parse(address)
    client = NodeClient.for_node(open_state(ctx), node)
    client.tell("POST", "/node/flow_controls/add_consumer", {1: {1: flow_control_id}, 2: ma.to_bytes()})
    terminal(ctx).status(fmt_ok(f"{address} is a consumer of {flow_control_id} on {client.node_name}"))
