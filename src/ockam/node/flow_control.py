"""Flow control: which local addresses a message received from the network may reach.

Ockam's rule (``tcp.md`` §7, ``secure-channel.md`` §11; ``ockam_core/src/flow_control/``
in Rust 0.139), local policy that never shows on the wire:

* A *producer* is where messages from outside enter the node: the receiving side of a
  TCP connection, the ``decryptor_internal`` address of a secure channel, a relay
  client's ``main_internal``.  Each has a *flow-control id*; one that a listener
  accepted (a TCP connection accepted by a TCP listener, a channel accepted by a
  secure-channel listener) also has the listener's *spawner* id.  A producer may have
  *additional* addresses (a connection's sender, a channel's encryptor) through which
  local workers send to it.
* A message a producer received is delivered only to an address that is a *consumer*
  of the producer's id or of its spawner id; anything else is dropped, with one
  (rate-limited) log line.
* Messages that local workers send are not restricted.

So a node says, service by service, who may reach it: ``_internal.nodemanager`` only
the node's own TCP listener, ``echo`` that listener and the ``api`` secure-channel
listener, a portal connection only the channel its inlet came through, and so on.

Ids are 32 lowercase hex characters (16 random bytes), as Rust's ``FlowControlId``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass

from ..codec.address import Address

__all__ = ["DropLog", "FlowControls", "ProducerInfo", "new_flow_control_id"]

log = logging.getLogger("ockam.flow_control")


def new_flow_control_id() -> str:
    """A fresh random flow-control id (32 hex characters)."""
    return os.urandom(16).hex()


@dataclass(frozen=True, slots=True)
class ProducerInfo:
    """A producer's flow-control id, and the id of the listener that spawned it (if any)."""

    flow_control_id: str
    spawner_flow_control_id: str | None = None


class FlowControls:
    """The flow-control table of one node: producers, spawners and their consumers.

    Entries of an address go when the address goes (:meth:`cleanup`, called by the node
    for every address it unregisters); the consumers of an id go when the last producer
    (and spawner) of that id does.
    """

    __slots__ = (
        "_additional",
        "_consumer_of",
        "_consumers",
        "_extras",
        "_producers",
        "_spawned",
        "_spawners",
    )

    def __init__(self) -> None:
        self._consumers: dict[str, set[Address]] = {}
        self._consumer_of: dict[Address, set[str]] = {}  # the same, by consumer
        self._producers: dict[Address, ProducerInfo] = {}
        self._additional: dict[Address, Address] = {}  # additional address -> producer
        self._extras: dict[Address, tuple[Address, ...]] = {}  # producer -> its additional addresses
        self._spawners: dict[Address, str] = {}
        # id -> how many producers and spawners use it (as their own or as spawner id)
        self._spawned: dict[str, int] = {}

    # -- declaring
    def add_consumer(self, address: Address | str, flow_control_id: str) -> None:
        """Let messages of producers with ``flow_control_id`` (own or spawner id) reach ``address``."""
        addr = _address(address)
        self._consumers.setdefault(flow_control_id, set()).add(addr)
        self._consumer_of.setdefault(addr, set()).add(flow_control_id)

    def remove_consumer(self, address: Address | str, flow_control_id: str) -> None:
        addr = _address(address)
        consumers = self._consumers.get(flow_control_id)
        if consumers is not None:
            consumers.discard(addr)
            if not consumers:
                del self._consumers[flow_control_id]
        ids = self._consumer_of.get(addr)
        if ids is not None:
            ids.discard(flow_control_id)
            if not ids:
                del self._consumer_of[addr]

    def add_producer(
        self,
        address: Address,
        flow_control_id: str,
        spawner_flow_control_id: str | None = None,
        additional: Iterable[Address] = (),
    ) -> ProducerInfo:
        """``address`` delivers what it receives under ``flow_control_id`` (and the spawner's id)."""
        info = ProducerInfo(flow_control_id, spawner_flow_control_id)
        self._forget_producer(address)
        self._producers[address] = info
        self._hold(flow_control_id)
        if spawner_flow_control_id is not None:
            self._hold(spawner_flow_control_id)
        extras = (address, *additional)
        self._extras[address] = extras
        for extra in extras:
            self._additional[extra] = address
        return info

    def add_spawner(self, address: Address, flow_control_id: str) -> None:
        """``address`` (a listener) spawns producers whose spawner id is ``flow_control_id``."""
        if self._spawners.get(address) == flow_control_id:
            return
        self._spawners[address] = flow_control_id
        self._hold(flow_control_id)

    # -- asking
    def is_consumer(self, address: Address, flow_control_id: str) -> bool:
        consumers = self._consumers.get(flow_control_id)
        return consumers is not None and address in consumers

    def allows(self, producer: ProducerInfo, address: Address) -> bool:
        """May a message received by ``producer`` reach ``address``?"""
        consumers = self._consumers.get(producer.flow_control_id)
        if consumers is not None and address in consumers:
            return True
        spawner = producer.spawner_flow_control_id
        if spawner is None:
            return False
        consumers = self._consumers.get(spawner)
        return consumers is not None and address in consumers

    def consumers(self, flow_control_id: str) -> frozenset[Address]:
        return frozenset(self._consumers.get(flow_control_id, ()))

    def ids_for_consumer(self, address: Address | str) -> list[str]:
        """The ids ``address`` is a consumer of."""
        return sorted(self._consumer_of.get(_address(address), ()))

    def spawner_id(self, address: Address | str) -> str | None:
        """The id of the spawner (listener) at ``address``."""
        return self._spawners.get(_address(address))

    def producer(self, address: Address) -> ProducerInfo | None:
        """The producer at ``address`` itself."""
        return self._producers.get(address)

    def find_producer(self, address: Address) -> ProducerInfo | None:
        """The producer that ``address`` is, or is an additional address of (a TCP
        connection's sender, a channel's encryptor)."""
        producer = self._additional.get(address)
        return None if producer is None else self._producers.get(producer)

    def __len__(self) -> int:
        """Entries held (for leak checks): consumer pairs, producers, spawners."""
        return sum(len(c) for c in self._consumers.values()) + len(self._producers) + len(self._spawners)

    # -- forgetting
    def cleanup(self, address: Address) -> None:
        """``address`` is gone: forget it as a spawner, a producer and a consumer."""
        spawner = self._spawners.pop(address, None)
        if spawner is not None:
            self._release(spawner)
        self._forget_producer(address)
        ids = self._consumer_of.pop(address, None)
        if ids:
            for fcid in ids:
                consumers = self._consumers.get(fcid)
                if consumers is not None:
                    consumers.discard(address)
                    if not consumers:
                        del self._consumers[fcid]

    def _forget_producer(self, address: Address) -> None:
        info = self._producers.pop(address, None)
        if info is None:
            return
        for extra in self._extras.pop(address, ()):
            if self._additional.get(extra) == address:
                del self._additional[extra]
        self._release(info.flow_control_id)
        if info.spawner_flow_control_id is not None:
            self._release(info.spawner_flow_control_id)

    def _hold(self, flow_control_id: str) -> None:
        self._spawned[flow_control_id] = self._spawned.get(flow_control_id, 0) + 1

    def _release(self, flow_control_id: str) -> None:
        left = self._spawned.get(flow_control_id, 0) - 1
        if left > 0:
            self._spawned[flow_control_id] = left
            return
        self._spawned.pop(flow_control_id, None)
        # no producer or spawner uses the id any more: its consumers are of no use
        for consumer in self._consumers.pop(flow_control_id, ()):
            ids = self._consumer_of.get(consumer)
            if ids is not None:
                ids.discard(flow_control_id)
                if not ids:
                    del self._consumer_of[consumer]


class DropLog:
    """One warning per dropped message, at most ``burst`` per ``period`` seconds; what is
    dropped past that is counted and reported in the next line that gets through, so a
    peer that floods a node with refused messages cannot flood its log."""

    __slots__ = ("_allowance", "_last", "_suppressed", "burst", "logger", "period")

    def __init__(self, logger: logging.Logger, burst: int = 10, period: float = 10.0) -> None:
        self.logger = logger
        self.burst = burst
        self.period = period
        self._allowance = float(burst)
        self._last = time.monotonic()
        self._suppressed = 0

    def __call__(self, message: str, *args: object) -> None:
        now = time.monotonic()
        self._allowance = min(self.burst, self._allowance + (now - self._last) * self.burst / self.period)
        self._last = now
        if self._allowance < 1.0:
            self._suppressed += 1
            return
        self._allowance -= 1.0
        if self._suppressed:
            message += " (and %d more dropped messages not logged)"
            args = (*args, self._suppressed)
            self._suppressed = 0
        self.logger.warning(message, *args)

    @property
    def suppressed(self) -> int:
        return self._suppressed


def _address(address: Address | str) -> Address:
    return Address.parse(address) if isinstance(address, str) else address
