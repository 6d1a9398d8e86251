"""Step 2, inlet node: the inlet, routing over TCP to the outlet node.

Run: python examples/02_inlet.py 127.0.0.1:4001 [OUTLET_PORT]

The outlet node listens on 127.0.0.1:OUTLET_PORT (4000 by default).
"""

import sys

import ockam


async def main(inlet_address: str, outlet_port: str) -> None:
    async with ockam.Node() as node:
        # First hop: the TCP connection to the outlet node; then its worker "outlet".
        route_to_outlet = ockam.route(ockam.Address.tcp(f"127.0.0.1:{outlet_port}"), "outlet")
        await node.tcp.create_inlet(inlet_address, route_to_outlet)
        await node.run_forever()


ockam.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "4000"))
