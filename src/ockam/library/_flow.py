"""Who may reach a worker of a library node (flow control, as the ``ockam`` command sets it).

What arrives from the network (over a TCP connection, through a secure channel, from a
relay) reaches only the addresses that *consume* its flow control.  A library node keeps
the ``ockam`` command's defaults: what it starts is reachable from its *entry points*,
the TCP listeners, secure-channel listeners and relays of the node (those there now and
those created later), unless ``reachable_from`` names the entry points it may be reached
from (``()``: only from this node).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from ..codec.address import Address
from ..errors import InvalidArgument
from ..node.runtime import Node

__all__ = ["EntryPoints", "HasFlowControl", "Reachability", "flow_control_id_of", "flow_control_ids"]


@runtime_checkable
class HasFlowControl(Protocol):
    """A TCP listener or connection, a secure-channel listener or channel, a relay."""

    @property
    def flow_control_id(self) -> str: ...


#: ``reachable_from`` values: None (the node's entry points, the default), or the entry
#: points (objects with a ``flow_control_id``, or the ids themselves).
Reachability = Iterable[HasFlowControl | str] | None


def flow_control_id_of(source: HasFlowControl | str) -> str:
    if isinstance(source, str):
        return source
    if isinstance(source, HasFlowControl):
        return source.flow_control_id
    raise InvalidArgument(f"{source!r} is not a listener, connection, channel or relay")


def flow_control_ids(reachable_from: Reachability) -> tuple[str, ...] | None:
    """The ids named by ``reachable_from`` (None stays None: every entry point)."""
    if reachable_from is None:
        return None
    if isinstance(reachable_from, (str, HasFlowControl)):
        reachable_from = (reachable_from,)
    return tuple(flow_control_id_of(source) for source in reachable_from)


class EntryPoints:
    """The flow controls of a node's entry points, and the addresses reachable from all."""

    __slots__ = ("ids", "node", "public")

    def __init__(self, node: Node) -> None:
        self.node = node
        self.ids: set[str] = set()  # live: relay services read it for each new relay
        self.public: set[Address] = set()

    def add_entry(self, flow_control_id: str) -> None:
        """A new listener or relay: what is reachable from all entry points is from it too."""
        self.ids.add(flow_control_id)
        for address in self.public:
            self.node.flow_controls.add_consumer(address, flow_control_id)

    def remove_entry(self, flow_control_id: str) -> None:
        self.ids.discard(flow_control_id)

    def reach(self, address: Address, ids: tuple[str, ...] | None = None) -> None:
        """Make ``address`` reachable from the entry points with ``ids`` (None: every one;
        see :func:`flow_control_ids`)."""
        flow_controls = self.node.flow_controls
        if ids is None:
            self.public.add(address)
            ids = tuple(self.ids)
        for fcid in ids:
            flow_controls.add_consumer(address, fcid)

    def forget(self, address: Address) -> None:
        self.public.discard(address)
