"""The small built-in services: ``echo``, ``uppercase`` and ``hop``."""

from __future__ import annotations

from ..codec import bare
from ..codec.route import Route
from ..node.message import LocalMessage
from ..node.runtime import Context, Worker

__all__ = ["Echo", "Hop", "Uppercase"]


class Echo(Worker):
    """Replies with the payload it received, unchanged."""

    async def handle_message(self, ctx: Context, msg: LocalMessage) -> None:
        await ctx.forward(LocalMessage(msg.return_route, Route((ctx.address,)), msg.payload))


class Uppercase(Worker):
    """Replies with the received BARE string upper-cased (ASCII letters only, as Rust does)."""

    async def handle_message(self, ctx: Context, msg: LocalMessage) -> None:
        text, _ = bare.decode_string(msg.payload)
        upper = "".join(c.upper() if c.isascii() else c for c in text)
        await ctx.forward(LocalMessage(msg.return_route, Route((ctx.address,)), bare.encode_string(upper)))


class Hop(Worker):
    """Forwards to the rest of the onward route, adding itself to the return route.

    The message keeps its local info (as Rust's ``step_forward``): what came from the
    network is still known to have, so the node does not open a TCP connection for it."""

    async def handle_message(self, ctx: Context, msg: LocalMessage) -> None:
        onward = msg.onward_route.step()
        if not onward:
            return
        await ctx.forward(msg.with_routes(onward, msg.return_route.prepend(ctx.address)))
