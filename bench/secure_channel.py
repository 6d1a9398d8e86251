"""Secure-channel benchmarks: handshakes per second and messages per second.

    python bench/secure_channel.py [--seconds 5] [--size 1024]

Two in-process nodes talk over a real TCP connection on 127.0.0.1; the numbers
include the TCP framing and the router.  Also measured: the sans-IO handshake alone.
"""

from __future__ import annotations

import argparse
import time

from machine import machine_line

from ockam.api.node_process import NodeConfig, start_node
from ockam.codec.route import route
from ockam.node import run
from ockam.protocol.crypto import X25519Secret
from ockam.protocol.noise_xx import Handshake
from ockam.protocol.secure_channel import Decryptor, Encryptor


def sans_io_handshakes(seconds: float) -> float:
    a, b = X25519Secret.generate(), X25519Secret.generate()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        i, r = Handshake(True, a), Handshake(False, b)
        r.read_message(i.write_message())
        i.read_message(r.write_message(b"p2"))
        r.read_message(i.write_message(b"p3"))
        n += 1
    return n / (time.perf_counter() - start)


def sans_io_messages(seconds: float, size: int) -> float:
    key = bytes(32)
    enc, dec = Encryptor(key), Decryptor(key)
    payload = bytes(size)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        dec.decrypt(enc.encrypt(payload))
        n += 1
    return n / (time.perf_counter() - start)


async def node_benchmarks(seconds: float, size: int) -> tuple[float, float, float]:
    a = await start_node(NodeConfig("bench-a"))
    b = await start_node(NodeConfig("bench-b"))
    try:
        conn = await a.tcp.connect(b.listener_address)
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            ch = await a.secure_channels.create_channel(route(conn.sender, "api"), timeout=10)
            await a.secure_channels.close(ch.encryptor)
            n += 1
        handshakes = n / (time.perf_counter() - start)

        ch = await a.secure_channels.create_channel(route(conn.sender, "api"), timeout=10)
        ctx = a.node.context()
        payload = bytes(size)
        # round trips (request/response latency bound)
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            await ctx.send_and_receive(route(ch.encryptor, "echo"), payload, 10)
            n += 1
        round_trips = n / (time.perf_counter() - start)
        # pipelined one-way messages, echoed back; window of 64 in flight
        n, start, window = 0, time.perf_counter(), 64
        for _ in range(window):
            await ctx.send(route(ch.encryptor, "echo"), payload)
        while time.perf_counter() - start < seconds:
            await ctx.receive(10)
            await ctx.send(route(ch.encryptor, "echo"), payload)
            n += 1
        for _ in range(window):
            await ctx.receive(10)
        pipelined = n / (time.perf_counter() - start)
        return handshakes, round_trips, pipelined
    finally:
        await a.stop()
        await b.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--size", type=int, default=1024)
    args = p.parse_args()
    print(machine_line())
    print(f"sans-IO Noise XX handshakes:       {sans_io_handshakes(args.seconds):10.0f} /s")
    print(
        f"sans-IO encrypt+decrypt {args.size:6d} B:  {sans_io_messages(args.seconds, args.size):10.0f} msg/s"
    )
    hs, rt, pl = run(node_benchmarks(args.seconds, args.size))
    print(f"node-to-node handshakes over TCP:  {hs:10.0f} /s")
    print(f"echo round trips via channel:      {rt:10.0f} /s  ({args.size} B payload)")
    print(
        f"echoed messages, 64 in flight:     {pl:10.0f} msg/s ({pl * args.size * 2 / 1e6:.1f} MB/s both ways)"
    )


if __name__ == "__main__":
    main()
