"""Step 3, outlet node: as step 2, with a secure channel listener in front of the outlet.

Run: python examples/03_outlet.py 127.0.0.1:5000 [PORT]
"""

import sys

import ockam


async def main(outlet_target: str, port: str) -> None:
    async with ockam.Node() as node:
        # An identity for this node, and a listener for secure channel handshakes.
        node.create_identity()
        await node.create_secure_channel_listener("secure_channel_listener", trust=ockam.trust_everyone())
        # The outlet only accepts what arrives through a secure channel.
        await node.tcp.create_outlet("outlet", outlet_target, trust=ockam.trust_everyone())
        await node.tcp.listen(f"127.0.0.1:{port}")
        await node.run_forever()


ockam.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "4000"))
