"""Step 1: a TCP inlet and a TCP outlet in one node.

Run: python examples/01_inlet_outlet.py 127.0.0.1:4001 127.0.0.1:5000
then: curl http://127.0.0.1:4001

The inlet (first argument) is a TCP server: what a client sends it is wrapped in Ockam
Routing messages and routed to the outlet, which writes it to the target TCP server
(second argument), and carries the answers back.
"""

import sys

import ockam


async def main(inlet_address: str, outlet_target: str) -> None:
    async with ockam.Node() as node:
        # An outlet, at worker address "outlet", that connects to the target server.
        await node.tcp.create_outlet("outlet", outlet_target)
        # An inlet whose every client is tunnelled along the route to "outlet".
        await node.tcp.create_inlet(inlet_address, ockam.route("outlet"))
        await node.run_forever()  # until Ctrl-C


ockam.run(main(sys.argv[1], sys.argv[2]))
