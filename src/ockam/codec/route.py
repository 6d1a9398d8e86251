"""Routes: ordered lists of addresses, first hop first."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ..errors import DecodeError
from . import bare
from .address import Address

__all__ = ["Route", "route"]


class Route:
    """An immutable route.  Build with ``route("a", "b")`` or ``Route.parse("a => b")``."""

    __slots__ = ("addresses",)

    def __init__(self, addresses: Iterable[Address] = ()) -> None:
        self.addresses: tuple[Address, ...] = tuple(addresses)

    @classmethod
    def parse(cls, text: str) -> Route:
        if not text.strip():
            raise DecodeError("empty route")
        return cls(Address.parse(part.strip()) for part in text.split("=>"))

    # -- sequence behaviour
    def __iter__(self) -> Iterator[Address]:
        return iter(self.addresses)

    def __len__(self) -> int:
        return len(self.addresses)

    def __bool__(self) -> bool:
        return bool(self.addresses)

    def __getitem__(self, index: int) -> Address:
        return self.addresses[index]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Route) and self.addresses == other.addresses

    def __hash__(self) -> int:
        return hash(self.addresses)

    def __str__(self) -> str:
        return " => ".join(str(a) for a in self.addresses)

    def __repr__(self) -> str:
        return f"Route({str(self)!r})"

    def __add__(self, other: Route | Iterable[Address]) -> Route:
        return Route(self.addresses + tuple(other))

    # -- hop operations
    @property
    def next(self) -> Address:
        if not self.addresses:
            raise DecodeError("empty route has no next hop")
        return self.addresses[0]

    @property
    def recipient(self) -> Address:
        if not self.addresses:
            raise DecodeError("empty route has no recipient")
        return self.addresses[-1]

    def step(self) -> Route:
        """The route without its first hop."""
        return Route(self.addresses[1:])

    def prepend(self, *addresses: Address) -> Route:
        return Route(addresses + self.addresses)

    # -- binary forms
    def to_cbor(self) -> list[Any]:
        return [a.to_cbor() for a in self.addresses]

    @classmethod
    def from_cbor(cls, obj: Any) -> Route:
        if not isinstance(obj, list):
            raise DecodeError("invalid CBOR route")
        return cls(Address.from_cbor(a) for a in obj)

    def to_bare(self) -> bytes:
        return bare.encode_uint(len(self.addresses)) + b"".join(a.to_bare() for a in self.addresses)

    @classmethod
    def from_bare(cls, data: bytes, pos: int = 0) -> tuple[Route, int]:
        count, pos = bare.decode_uint(data, pos)
        if count > len(data):
            raise DecodeError("truncated BARE route")
        addresses = []
        for _ in range(count):
            address, pos = Address.from_bare(data, pos)
            addresses.append(address)
        return cls(addresses), pos


def route(*hops: str | Address | Route) -> Route:
    """Build a route from address texts (``"echo"``, ``"1#127.0.0.1:4000"``), addresses or routes."""
    out: list[Address] = []
    for hop in hops:
        if isinstance(hop, Route):
            out.extend(hop)
        elif isinstance(hop, Address):
            out.append(hop)
        else:
            out.append(Address.parse(hop))
    return Route(out)
