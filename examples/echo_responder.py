"""Messaging over TCP, responder: an echo worker behind a secure channel listener.

Run: python examples/echo_responder.py [PORT]

Prints its identifier; run echo_initiator.py next to it.
"""

import sys

import ockam


class Echoer(ockam.Worker):
    async def handle_message(self, ctx: ockam.Context, msg: ockam.Message) -> None:
        print(f"Received {msg.text!r} from {msg.their_identifier}", flush=True)
        await ctx.send(msg.return_route, msg.payload)


async def main(port: str) -> None:
    async with ockam.Node() as node:
        me = node.create_identity()
        await node.create_secure_channel_listener("secure_channel_listener")
        await node.start_worker("echoer", Echoer(), trust=ockam.trust_everyone())
        await node.tcp.listen(f"127.0.0.1:{port}")
        print(f"Responder {me.identifier} listening on 127.0.0.1:{port}", flush=True)
        await node.run_forever()


ockam.run(main(sys.argv[1] if len(sys.argv) > 1 else "4000"))
