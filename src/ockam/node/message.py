"""Messages inside a node."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ..codec.address import Address
from ..codec.route import Route

__all__ = ["FLOW_CONTROL_ID", "LocalMessage", "came_from_network"]

#: ``local_info`` key set by the producers (TCP connections, secure channels) on the
#: messages they receive from the network: the producer's flow-control id.  Workers that
#: forward a message keep its ``local_info``, so a message that has this key came from
#: outside the node, whatever local hops it went through.
FLOW_CONTROL_ID = "flow_control_id"


@dataclass(frozen=True, slots=True)
class LocalMessage:
    """A routed message inside a node: routes, payload and node-local info (never on the wire).

    ``local_info`` carries facts such as the authenticated identifier of a secure-channel
    peer (``"identifier"``) or the transport a message arrived on (``"transport"``).
    """

    onward_route: Route
    return_route: Route
    payload: bytes
    local_info: dict[str, Any] = field(default_factory=dict)

    def step_onward(self) -> LocalMessage:
        return replace(self, onward_route=self.onward_route.step())

    def with_routes(self, onward: Route, ret: Route) -> LocalMessage:
        return replace(self, onward_route=onward, return_route=ret)

    def prepend_return(self, address: Address) -> LocalMessage:
        return replace(self, return_route=self.return_route.prepend(address))

    def reply(self, payload: bytes, sender: Address) -> LocalMessage:
        """The message that answers this one: back along the return route, from ``sender``."""
        return LocalMessage(self.return_route, Route((sender,)), payload)


def came_from_network(msg: LocalMessage) -> bool:
    """Did ``msg`` enter the node through a producer (TCP connection, secure channel)?"""
    return FLOW_CONTROL_ID in msg.local_info
