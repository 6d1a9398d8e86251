"""CLI-side helpers: ``/node/<name>`` substitution, the default node."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .output import Terminal

if TYPE_CHECKING:
    from ..codec.multiaddr import MultiAddr
    from ..state import State

__all__ = ["clean_nodes_multiaddr", "initialize_default_node"]


def clean_nodes_multiaddr(maddr: MultiAddr, state: State) -> MultiAddr:
    """Replace each ``/node/<name>`` by that node's listener (``/ip4/A/tcp/P``...)."""
    from ..codec.multiaddr import Component, MultiAddr
    from ..errors import InvalidArgument

    out: list[Component] = []
    for comp in maddr:
        if comp.protocol == "node":
            node = state.require_node(comp.value)
            out.extend(MultiAddr.parse(node.tcp_listener_multiaddr()).components)
        elif comp.protocol == "space":
            raise InvalidArgument("/space/ substitutions are not supported!")
        else:
            out.append(comp)
    return MultiAddr(out)


def initialize_default_node(state: State, term: Terminal) -> None:
    """Create a background node (random name) if there is no default node, and wait
    until the default node answers."""
    from .node_runtime import NodeArgs, random_name, spawn_background, wait_until_up

    node = state.default_node()
    if node is None:
        args = NodeArgs(name=random_name(), verbose=term.opts.verbose)
        proc = spawn_background(state, args, quiet=term.opts.quiet)
        wait_until_up(state, args.name, proc)
        term.status("")
        return
    if not node.is_running:
        return  # the request will report that the node is not reachable
    wait_until_up(state, node.name)
