"""Hello Ockam: a worker, two identities and a secure channel, in one node.

Run: python examples/hello.py
"""

import ockam


class Echoer(ockam.Worker):
    """Answers every message with the same message."""

    async def handle_message(self, ctx: ockam.Context, msg: ockam.Message) -> None:
        print(f"Address: {ctx.address}, Received: {msg.text!r} from {msg.their_identifier}")
        await ctx.send(msg.return_route, msg.payload)


async def main() -> None:
    async with ockam.Node() as node:
        alice = node.create_identity("alice")
        bob = node.create_identity("bob")
        # Bob accepts secure channels from Alice only; his echoer only hears Alice.
        await node.create_secure_channel_listener("bob", identity=bob, trust=ockam.trust_identifiers(alice))
        await node.start_worker("echoer", Echoer(), trust=ockam.trust_identifiers(alice))
        # Alice creates a channel to Bob and sends a message through it.
        channel = await node.create_secure_channel("bob", identity=alice, trust=ockam.trust_identifiers(bob))
        reply = await node.send_and_receive(ockam.route(channel, "echoer"), "Hello Ockam!")
        print(f"App Received: {reply.text!r}")


ockam.run(main())
