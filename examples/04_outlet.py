"""Step 4, outlet node: no listening port; a relay on the relay node forwards to us.

Run: python examples/04_outlet.py 127.0.0.1:5000 [RELAY_NODE]

Prints the relay's forwarding address, for 04_inlet.py.  RELAY_NODE is the relay
node's TCP address (127.0.0.1:4000 by default).
"""

import sys

import ockam


async def main(outlet_target: str, relay_node: str) -> None:
    async with ockam.Node() as node:
        node.create_identity()
        await node.create_secure_channel_listener("secure_channel_listener", trust=ockam.trust_everyone())
        await node.tcp.create_outlet("outlet", outlet_target, trust=ockam.trust_everyone())
        # Connect to the relay node as a TCP client and register a relay there: what is
        # sent to the relay comes to this node over that connection.
        relay = await node.create_relay(ockam.Address.tcp(relay_node))
        print(f"Forwarding address on {relay_node}:", flush=True)
        print(relay.remote_address, flush=True)
        await node.run_forever()


ockam.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1:4000"))
