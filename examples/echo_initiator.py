"""Messaging over TCP, initiator: a secure channel to the responder, a message, its echo.

Run: python examples/echo_initiator.py [PORT] [MESSAGE]
"""

import sys

import ockam


async def main(port: str, message: str) -> None:
    async with ockam.Node() as node:
        to_listener = ockam.route(ockam.Address.tcp(f"127.0.0.1:{port}"), "secure_channel_listener")
        channel = await node.create_secure_channel(to_listener)
        reply = await node.send_and_receive(ockam.route(channel, "echoer"), message)
        print(f"Echo from {channel.their_identifier}: {reply.text}")


port = sys.argv[1] if len(sys.argv) > 1 else "4000"
ockam.run(main(port, sys.argv[2] if len(sys.argv) > 2 else "Hello Ockam!"))
