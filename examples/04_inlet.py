"""Step 4, inlet node: a secure channel through the relay, then the inlet as in step 3.

Run: python examples/04_inlet.py 127.0.0.1:4001 FORWARDING_ADDRESS [RELAY_NODE]

FORWARDING_ADDRESS is what 04_outlet.py printed; RELAY_NODE is the relay node's TCP
address (127.0.0.1:4000 by default).
"""

import sys

import ockam


async def main(inlet_address: str, forwarding_address: str, relay_node: str) -> None:
    async with ockam.Node() as node:
        node.create_identity()
        # Two hops: TCP to the relay node, the relay to the outlet node; the relay node
        # only ever sees encrypted messages.
        to_listener = ockam.route(
            ockam.Address.tcp(relay_node), forwarding_address, "secure_channel_listener"
        )
        channel = await node.create_secure_channel(to_listener, trust=ockam.trust_everyone())
        await node.tcp.create_inlet(inlet_address, ockam.route(channel, "outlet"))
        await node.run_forever()


ockam.run(main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "127.0.0.1:4000"))
