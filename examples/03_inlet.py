"""Step 3, inlet node: tunnel the inlet's clients through an end-to-end secure channel.

Run: python examples/03_inlet.py 127.0.0.1:4001 [OUTLET_PORT]
"""

import sys

import ockam


async def main(inlet_address: str, outlet_port: str) -> None:
    async with ockam.Node() as node:
        node.create_identity()
        # Mutually authenticate with the outlet node and agree on keys (Noise XX).
        to_listener = ockam.route(ockam.Address.tcp(f"127.0.0.1:{outlet_port}"), "secure_channel_listener")
        channel = await node.create_secure_channel(to_listener, trust=ockam.trust_everyone())
        # The channel leads to the outlet node, where the outlet lives at "outlet".
        await node.tcp.create_inlet(inlet_address, ockam.route(channel, "outlet"))
        await node.run_forever()


ockam.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "4000"))
