"""Ockam multiaddrs: ``/proto/value/...`` text, varint-coded binary, and the local route form.

Protocols (code): ip4 (4), tcp (6), ip6 (41), dnsaddr (56), service (62526),
node (72526), project (82526), space (92526), secure (99526), worker (102526).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ..errors import DecodeError
from . import bare
from .address import Address
from .route import Route

__all__ = ["CODES", "Component", "MultiAddr"]

CODES: dict[str, int] = {
    "ip4": 4,
    "tcp": 6,
    "ip6": 41,
    "dnsaddr": 56,
    "service": 62526,
    "node": 72526,
    "project": 82526,
    "space": 92526,
    "secure": 99526,
    "worker": 102526,
}
NAMES: dict[int, str] = {v: k for k, v in CODES.items()}
TEXT_PROTOCOLS = frozenset({"dnsaddr", "service", "node", "project", "space", "secure", "worker"})
LOCAL_PROTOCOLS = frozenset({"service", "worker", "secure"})


@dataclass(frozen=True, slots=True)
class Component:
    protocol: str
    value: str

    def __str__(self) -> str:
        return f"/{self.protocol}/{self.value}"

    def to_bytes(self) -> bytes:
        code = bare.encode_uint(CODES[self.protocol])
        if self.protocol == "ip4":
            return code + ipaddress.IPv4Address(self.value).packed
        if self.protocol == "ip6":
            return code + ipaddress.IPv6Address(self.value).packed
        if self.protocol == "tcp":
            return code + int(self.value).to_bytes(2, "big")
        return code + bare.encode_string(self.value)


def _check_value(protocol: str, value: str) -> str:
    """Validate and canonicalise a component value given in text."""
    try:
        if protocol == "ip4":
            return str(ipaddress.IPv4Address(value))
        if protocol == "ip6":
            return str(ipaddress.IPv6Address(value))
    except ValueError as e:
        raise DecodeError(f"invalid {protocol} address {value!r}") from e
    if protocol == "tcp":
        if not value.isdigit() or not value.isascii() or int(value) > 65535:
            raise DecodeError(f"invalid tcp port {value!r}")
        return str(int(value))
    return value


class MultiAddr:
    """A parsed multiaddr: an immutable sequence of components."""

    __slots__ = ("components",)

    def __init__(self, components: Iterable[Component] = ()) -> None:
        self.components: tuple[Component, ...] = tuple(components)

    # -- text
    @classmethod
    def parse(cls, text: str) -> MultiAddr:
        if text == "self":
            text = "/secure/api"
        comps: list[Component] = []
        rest = text
        while rest:
            if rest.startswith("/"):
                rest = rest[1:]
            prefix, sep, rest = rest.partition("/")
            if prefix not in CODES:
                raise DecodeError(f"invalid multiaddr {text!r}: unknown protocol {prefix!r}")
            if not sep:
                raise DecodeError(f"invalid multiaddr {text!r}: /{prefix} has no value")
            value, sep2, rest = rest.partition("/")
            comps.append(Component(prefix, _check_value(prefix, value)))
            if sep2:
                rest = "/" + rest
                if rest == "/":
                    raise DecodeError(f"invalid multiaddr {text!r}: trailing '/'")
        return cls(comps)

    def __str__(self) -> str:
        return "".join(str(c) for c in self.components)

    def __repr__(self) -> str:
        return f"MultiAddr({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MultiAddr) and self.components == other.components

    def __hash__(self) -> int:
        return hash(self.components)

    def __iter__(self) -> Iterator[Component]:
        return iter(self.components)

    def __len__(self) -> int:
        return len(self.components)

    def __bool__(self) -> bool:
        return bool(self.components)

    def __add__(self, other: MultiAddr) -> MultiAddr:
        return MultiAddr(self.components + other.components)

    def __getitem__(self, index: int) -> Component:
        return self.components[index]

    def slice(self, start: int, stop: int | None = None) -> MultiAddr:
        return MultiAddr(self.components[start:stop])

    # -- binary
    def to_bytes(self) -> bytes:
        return b"".join(c.to_bytes() for c in self.components)

    @classmethod
    def from_bytes(cls, data: bytes) -> MultiAddr:
        comps: list[Component] = []
        pos = 0
        while pos < len(data):
            code, pos = bare.decode_uint(data, pos)
            name = NAMES.get(code)
            if name is None:
                raise DecodeError(f"invalid multiaddr: unknown protocol code {code}")
            if name == "ip4":
                if pos + 4 > len(data):
                    raise DecodeError("truncated ip4 in multiaddr")
                comps.append(Component(name, str(ipaddress.IPv4Address(data[pos : pos + 4]))))
                pos += 4
            elif name == "ip6":
                if pos + 16 > len(data):
                    raise DecodeError("truncated ip6 in multiaddr")
                comps.append(Component(name, str(ipaddress.IPv6Address(data[pos : pos + 16]))))
                pos += 16
            elif name == "tcp":
                if pos + 2 > len(data):
                    raise DecodeError("truncated tcp port in multiaddr")
                comps.append(Component(name, str(int.from_bytes(data[pos : pos + 2], "big"))))
                pos += 2
            else:
                value, pos = bare.decode_string(data, pos)
                comps.append(Component(name, value))
        return cls(comps)

    # -- routes
    @classmethod
    def from_route(cls, route: Route) -> MultiAddr:
        """Every hop must be local and becomes ``/service/<value>``."""
        comps = []
        for address in route:
            if not address.is_local:
                raise DecodeError(f"cannot show {address} as a multiaddr: not a local address")
            comps.append(Component("service", address.text))
        return cls(comps)

    def to_local_route(self) -> Route:
        """``/service``, ``/worker`` and ``/secure`` components become local hops."""
        out = []
        for c in self.components:
            if c.protocol not in LOCAL_PROTOCOLS:
                raise DecodeError(f"{self} must be resolved first: /{c.protocol} is not a local address")
            out.append(Address.local(c.value))
        return Route(out)

    def socket_address(self) -> str | None:
        """``/ip4/A/tcp/P`` -> ``A:P`` (IPv6 bracketed); None if it does not start that way."""
        if len(self.components) >= 2 and self.components[1].protocol == "tcp":
            head = self.components[0]
            port = self.components[1].value
            if head.protocol in ("ip4", "dnsaddr"):
                return f"{head.value}:{port}"
            if head.protocol == "ip6":
                return f"[{head.value}]:{port}"
        return None
