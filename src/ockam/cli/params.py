"""Click parameter types shared by the commands."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    _ParamType = click.ParamType[Any]
else:
    _ParamType = click.ParamType

__all__ = [
    "DURATION",
    "HOSTNAME_PORT",
    "MULTIADDR",
    "DurationType",
    "HostnamePortType",
    "MultiAddrType",
    "parse_hostname_port",
]


class MultiAddrType(_ParamType):
    """A multiaddr in text form (``/node/n1/service/echo``)."""

    name = "ROUTE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from ..codec.multiaddr import MultiAddr
        from ..errors import OckamError

        if isinstance(value, MultiAddr):
            return value
        try:
            return MultiAddr.parse(str(value))
        except OckamError as e:
            self.fail(str(e), param, ctx)


class DurationType(_ParamType):
    """``10``, ``500ms``, ``5s``, ``2m``, ``1h``, ``1d`` (seconds as a float)."""

    name = "DURATION"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from ..api.client import parse_duration
        from ..errors import OckamError

        if isinstance(value, int | float):
            return float(value)
        try:
            return parse_duration(str(value))
        except OckamError:
            self.fail("Invalid duration.", param, ctx)


def _socket_address(text: str) -> tuple[str, int] | None:
    """``a.b.c.d:port`` or ``[ipv6]:port`` as (hostname, port), the IPv6 host kept in
    brackets (as a Rust ``SocketAddr`` converted to a ``HostnamePort``); else None."""
    import ipaddress

    if text.startswith("["):
        end = text.find("]:")
        if end < 0:
            return None
        host, port_text = text[1:end], text[end + 2 :]
        try:
            ip6 = ipaddress.IPv6Address(host)
        except ValueError:
            return None
        port = _port(port_text)
        return None if port is None else (f"[{ip6}]", port)
    host, sep, port_text = text.rpartition(":")
    if not sep:
        return None
    try:
        ip4 = ipaddress.IPv4Address(host)
    except ValueError:
        return None
    port = _port(port_text)
    return None if port is None else (str(ip4), port)


def _port(text: str) -> int | None:
    if not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if value <= 65535 else None


def parse_hostname_port(text: str) -> tuple[str, int]:
    """A ``HostnamePort`` as the Rust CLI reads it: ``8080`` and ``:8080`` mean
    ``127.0.0.1:8080``; ``ip:port``, ``[ipv6]:port`` and ``hostname:port`` are kept."""
    from ..errors import InvalidArgument

    port = _port(text)
    if port is not None:
        return "127.0.0.1", port
    if text.startswith(":") and (port := _port(text[1:])) is not None:
        return "127.0.0.1", port
    socket = _socket_address(text)
    if socket is not None:
        return socket
    hostname, sep, port_text = text.partition(":")
    if not sep:
        raise InvalidArgument("Invalid format. Expected 'hostname:port'")
    port = _port(port_text)
    if port is None:
        raise InvalidArgument(f"Invalid port number {port_text}")
    if not hostname.isascii():
        raise InvalidArgument(f"Hostname must be ascii: {text}")
    if not hostname:
        raise InvalidArgument(f"Hostname cannot be empty {hostname}")
    if len(hostname) > 253:
        raise InvalidArgument(f"Hostname too long {hostname}")
    if hostname[0] in "-." or hostname[-1] in "-.":
        raise InvalidArgument(f"Hostname cannot start or end with a hyphen or dot {hostname}")
    for segment in hostname.split("."):
        if not segment:
            raise InvalidArgument(f"Hostname segment cannot be empty {hostname}")
        if len(segment) > 63:
            raise InvalidArgument(f"Hostname segment too long {hostname}")
        if not all(c.isalnum() or c in "-_" for c in segment):
            raise InvalidArgument(f"Hostname contains invalid characters {hostname}")
    return hostname, port


class HostnamePortType(_ParamType):
    """``port``, ``:port``, ``ip:port``, ``[ipv6]:port`` or ``hostname:port``; the value is
    an ``api_models.HostnamePort``."""

    name = "HOSTNAME_PORT"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from ..errors import OckamError
        from ..protocol.api_models import HostnamePort

        if isinstance(value, HostnamePort):
            return value
        try:
            host, port = parse_hostname_port(str(value))
        except OckamError as e:
            self.fail(f"cannot parse the address {value} as a socket address: {e}", param, ctx)
        return HostnamePort(host, port)


MULTIADDR = MultiAddrType()
HOSTNAME_PORT = HostnamePortType()
DURATION = DurationType()
