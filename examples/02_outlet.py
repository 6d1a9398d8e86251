"""Step 2, outlet node: the outlet, reachable by other nodes over TCP.

Run: python examples/02_outlet.py 127.0.0.1:5000 [PORT]

Listens for Ockam Routing messages on 127.0.0.1:PORT (4000 by default).
"""

import sys

import ockam


async def main(outlet_target: str, port: str) -> None:
    async with ockam.Node() as node:
        await node.tcp.create_outlet("outlet", outlet_target)
        await node.tcp.listen(f"127.0.0.1:{port}")
        await node.run_forever()


ockam.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "4000"))
