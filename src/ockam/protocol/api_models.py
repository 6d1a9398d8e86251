"""CBOR bodies of the node control API (maps keyed by field number, absent options omitted)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..codec.address import Address
from ..codec.cbor import ByteList, Raw
from ..codec.multiaddr import MultiAddr
from ..errors import DecodeError

__all__ = [
    "CreateInlet",
    "CreateOutlet",
    "HostnamePort",
    "NodeStatus",
    "SendMessage",
    "duration_from_cbor",
    "duration_to_cbor",
    "process_status_from_cbor",
    "process_status_to_cbor",
]


def _map(fields: list[tuple[int, Any]]) -> dict[int, Any]:
    """A field map in ascending key order, dropping absent (None) options."""
    return {k: v for k, v in sorted(fields, key=lambda kv: kv[0]) if v is not None}


def _get(obj: Any, key: int, kind: type | tuple[type, ...], default: Any = None) -> Any:
    if not isinstance(obj, dict):
        raise DecodeError("API body is not a map")
    value = obj.get(key, default)
    if value is not None and not isinstance(value, kind):
        raise DecodeError(f"API body field {key} has the wrong type")
    return value


def duration_to_cbor(ms: int) -> list[int]:
    return [ms // 1000, (ms % 1000) * 1_000_000]


def duration_from_cbor(obj: Any) -> int:
    if not isinstance(obj, list) or len(obj) != 2:
        raise DecodeError("invalid duration")
    return int(obj[0]) * 1000 + int(obj[1]) // 1_000_000


@dataclass
class HostnamePort:
    hostname: str
    port: int

    def __str__(self) -> str:
        return f"{self.hostname}:{self.port}"

    def to_cbor(self) -> list[Any]:
        return [self.hostname, self.port]

    @classmethod
    def from_cbor(cls, obj: Any) -> HostnamePort:
        if not isinstance(obj, list) or len(obj) < 2 or not isinstance(obj[0], str):
            raise DecodeError("invalid hostname/port")
        return cls(obj[0], int(obj[1]))


@dataclass
class CreateInlet:
    listen_addr: HostnamePort
    outlet_addr: MultiAddr
    alias: str
    authorized: bytes | None = None
    wait_for_outlet_duration_ms: int | None = None
    policy_expression: Any = None  # already CBOR-shaped PolicyExpression, or None
    wait_connection: bool = False
    secure_channel_identifier: bytes | None = None
    enable_udp_puncture: bool = False
    disable_tcp_fallback: bool = False
    ebpf: bool = False
    tls_certificate_provider: MultiAddr | None = None

    def to_cbor(self) -> dict[int, Any]:
        return _map(
            [
                (1, self.listen_addr.to_cbor()),
                (2, self.outlet_addr.to_bytes()),
                (3, self.alias),
                (4, self.authorized),
                (
                    5,
                    None
                    if self.wait_for_outlet_duration_ms is None
                    else duration_to_cbor(self.wait_for_outlet_duration_ms),
                ),
                (6, self.policy_expression),
                (7, self.wait_connection),
                (8, self.secure_channel_identifier),
                (9, self.enable_udp_puncture),
                (11, self.disable_tcp_fallback),
                (12, self.ebpf),
                (
                    13,
                    None
                    if self.tls_certificate_provider is None
                    else self.tls_certificate_provider.to_bytes(),
                ),
            ]
        )

    @classmethod
    def from_cbor(cls, obj: Any) -> CreateInlet:
        wait = _get(obj, 5, list)
        tls = _get(obj, 13, bytes)
        return cls(
            listen_addr=HostnamePort.from_cbor(_get(obj, 1, list)),
            outlet_addr=MultiAddr.from_bytes(_get(obj, 2, bytes, b"")),
            alias=_get(obj, 3, str, ""),
            authorized=_get(obj, 4, bytes),
            wait_for_outlet_duration_ms=None if wait is None else duration_from_cbor(wait),
            policy_expression=_get(obj, 6, list),
            wait_connection=bool(_get(obj, 7, bool, False)),
            secure_channel_identifier=_get(obj, 8, bytes),
            enable_udp_puncture=bool(_get(obj, 9, bool, False)),
            disable_tcp_fallback=bool(_get(obj, 11, bool, False)),
            ebpf=bool(_get(obj, 12, bool, False)),
            tls_certificate_provider=None if tls is None else MultiAddr.from_bytes(tls),
        )


@dataclass
class CreateOutlet:
    hostname_port: HostnamePort
    tls: bool = False
    worker_addr: Address | None = None
    reachable_from_default_secure_channel: bool = False
    policy_expression: Any = None
    ebpf: bool = False

    def to_cbor(self) -> dict[int, Any]:
        return _map(
            [
                (1, self.hostname_port.to_cbor()),
                (2, self.tls),
                (3, None if self.worker_addr is None else self.worker_addr.to_cbor()),
                (4, self.reachable_from_default_secure_channel),
                (5, self.policy_expression),
                (6, self.ebpf),
            ]
        )

    @classmethod
    def from_cbor(cls, obj: Any) -> CreateOutlet:
        worker = _get(obj, 3, list)
        return cls(
            hostname_port=HostnamePort.from_cbor(_get(obj, 1, list)),
            tls=bool(_get(obj, 2, bool, False)),
            worker_addr=None if worker is None else Address.from_cbor(worker),
            reachable_from_default_secure_channel=bool(_get(obj, 4, bool, False)),
            policy_expression=_get(obj, 5, list),
            ebpf=bool(_get(obj, 6, bool, False)),
        )


@dataclass
class SendMessage:
    route: str
    message: bytes

    def to_cbor(self) -> dict[int, Any]:
        return {1: self.route, 2: ByteList(self.message)}

    @classmethod
    def from_cbor(cls, obj: Any) -> SendMessage:
        return cls(_get(obj, 1, str, ""), bytes_from_list(_get(obj, 2, list, [])))


def bytes_from_list(obj: Any) -> bytes:
    """A Rust ``Vec<u8>`` without bytes attribute arrives as an array of small integers."""
    if isinstance(obj, bytes):
        return obj
    if not isinstance(obj, list):
        raise DecodeError("expected an array of bytes")
    try:
        return bytes(obj)
    except (TypeError, ValueError) as e:
        raise DecodeError("expected an array of bytes") from e


def process_status_to_cbor(status: str, pid: int | None) -> list[Any]:
    if status == "running":
        return [0, [pid]]
    if status == "zombie":
        return [1, [pid]]
    return [2, []]


def process_status_from_cbor(obj: Any) -> tuple[str, int | None]:
    if not isinstance(obj, list) or len(obj) != 2:
        raise DecodeError("invalid node process status")
    tag, fields = obj
    if tag == 0:
        return "running", fields[0]
    if tag == 1:
        return "zombie", fields[0]
    return "stopped", None


@dataclass
class NodeStatus:
    name: str
    identifier: bytes
    status: str = "running"
    pid: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_cbor(self) -> dict[int, Any]:
        return {1: self.name, 2: self.identifier, 3: process_status_to_cbor(self.status, self.pid)}

    @classmethod
    def from_cbor(cls, obj: Any) -> NodeStatus:
        status, pid = process_status_from_cbor(_get(obj, 3, list, [2, []]))
        return cls(_get(obj, 1, str, ""), _get(obj, 2, bytes, b""), status, pid)


# Keep Raw importable from here for bodies that embed pre-encoded CBOR.
_ = Raw
