"""Step 4, relay node: a node that both sides can reach, with a relay service.

Run: python examples/04_relay_node.py [ADDRESS]

Listens on ADDRESS (127.0.0.1:4000 by default).  ``ockam node create relay`` makes the
same kind of node.
"""

import sys

import ockam


async def main(address: str) -> None:
    async with ockam.Node() as node:
        await node.start_relay_service()
        listener = await node.tcp.listen(address)
        print(f"Relay node listening on {listener.address}", flush=True)
        await node.run_forever()


ockam.run(main(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:4000"))
