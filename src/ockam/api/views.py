"""JSON views (serde shapes of the Rust CLI) of node-API bodies, used by the CLI
(``--output json``) and by the node's HTTP status server (``/show``).

The node API speaks CBOR maps keyed by field number; the CLI prints JSON objects keyed
by field name in the order of the Rust structs.  Decoding is tolerant: a missing
optional field becomes ``null``.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from ..codec.address import Address
from ..codec.multiaddr import MultiAddr
from ..errors import DecodeError

if TYPE_CHECKING:
    from ..state import NodeInfo

__all__ = [
    "address_json",
    "connection_status_text",
    "empty_node_resources",
    "flow_control_id_text",
    "inlet_status_json",
    "internet_address_json",
    "multiaddr_text",
    "node_resources_json",
    "outlet_status_json",
    "process_status_json",
    "relay_info_json",
    "relay_show_json",
    "secure_channel_listener_json",
    "service_status_json",
    "transport_status_json",
    "worker_list",
]

TRANSPORT_TYPES = {0: "Tcp", 1: "Ble", 2: "WebSocket"}
TRANSPORT_MODES = {0: "Listen", 1: "Incoming", 2: "Outgoing"}


def _field(obj: Any, key: int, default: Any = None) -> Any:
    if isinstance(obj, dict):
        return obj.get(key, default)
    return default


def _enum_index(obj: Any) -> int | None:
    """An index-only enum (``n``) or an array enum (``[n, [...]]``)."""
    if isinstance(obj, bool):
        return None
    if isinstance(obj, int):
        return obj
    if isinstance(obj, list) and obj and isinstance(obj[0], int):
        return obj[0]
    return None


def multiaddr_text(obj: Any) -> str | None:
    if obj is None:
        return None
    if isinstance(obj, str):
        return obj
    if isinstance(obj, bytes):
        try:
            return str(MultiAddr.from_bytes(obj))
        except DecodeError:
            return obj.hex()
    return str(obj)


def flow_control_id_text(obj: Any) -> str | None:
    if isinstance(obj, dict):
        value = obj.get(1)
        return value if isinstance(value, str) else None
    return obj if isinstance(obj, str) else None


def address_json(obj: Any) -> Any:
    """``Address`` as serde writes it: ``{"tt": 0, "inner": [bytes...]}``."""
    if isinstance(obj, list) and len(obj) >= 2:
        tt, value = obj[0], obj[1]
        if isinstance(value, str):
            value = value.encode()
        if isinstance(value, bytes):
            return {"tt": tt, "inner": list(value)}
    if isinstance(obj, str):
        return {"tt": 0, "inner": list(obj.encode())}
    return obj


def address_text(obj: Any) -> str:
    if isinstance(obj, list) and len(obj) >= 2 and isinstance(obj[1], bytes | str):
        value = obj[1].decode("utf-8", "replace") if isinstance(obj[1], bytes) else obj[1]
        return f"{obj[0]}#{value}"
    return str(obj)


def process_status_json(obj: Any) -> dict[str, Any]:
    """``NodeProcessStatus`` (tag ``status``, content ``pid``)."""
    tag = _enum_index(obj)
    pid = None
    if isinstance(obj, list) and len(obj) > 1 and isinstance(obj[1], list) and obj[1]:
        pid = obj[1][0]
    if tag == 0:
        return {"status": "running", "pid": pid}
    if tag == 1:
        return {"status": "zombie", "pid": pid}
    return {"status": "stopped"}


def connection_status_text(obj: Any) -> str:
    return "Up" if _enum_index(obj) == 1 else "Down"


def _socket_text(obj: Any) -> str | None:
    """A std socket address as CBOR (text, or ``[ip, port]`` with ip as bytes/array/text)."""
    if isinstance(obj, str):
        return obj
    if isinstance(obj, list) and len(obj) >= 2 and isinstance(obj[-1], int):
        ip, port = obj[0], obj[-1]
        if isinstance(ip, list):
            if len(ip) == 2 and isinstance(ip[1], list | bytes):  # enum-wrapped ip
                ip = ip[1]
            try:
                ip = bytes(ip)
            except (TypeError, ValueError):
                return None
        if isinstance(ip, bytes) and len(ip) in (4, 16):
            addr = ipaddress.ip_address(ip)
            return f"[{addr}]:{port}" if addr.version == 6 else f"{addr}:{port}"
        if isinstance(ip, str):
            return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
    return None


def internet_address_json(obj: Any) -> Any:
    """``InternetAddress`` (serde untagged): ``"ip:port"`` for V4/V6, ``[host, port]`` for Dns."""
    if obj is None:
        return None
    if isinstance(obj, str):
        return obj
    if isinstance(obj, list) and len(obj) == 2 and isinstance(obj[0], int) and isinstance(obj[1], list):
        tag, fields = obj
        if tag == 0 and len(fields) >= 2:
            host, port = fields[0], fields[1]
            try:
                ip = ipaddress.ip_address(str(host))
            except ValueError:
                return [host, port]
            return f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"
        if fields:
            inner = fields[0] if len(fields) == 1 else fields
            return _socket_text(inner)
    return _socket_text(obj)


def transport_status_json(obj: Any) -> dict[str, Any]:
    mode = _enum_index(_field(obj, 2))
    return {
        "type": TRANSPORT_TYPES.get(_enum_index(_field(obj, 1)) or 0, "Tcp"),
        "mode": TRANSPORT_MODES.get(mode if mode is not None else 0, "Listen"),
        "socket_addr": _field(obj, 3, ""),
        "worker_addr": _field(obj, 4, ""),
        "processor_address": _field(obj, 5, ""),
        "flow_control_id": flow_control_id_text(_field(obj, 6)),
    }


def secure_channel_listener_json(obj: Any) -> dict[str, Any]:
    return {
        "address": address_json(_field(obj, 1)),
        "flow_control_id": flow_control_id_text(_field(obj, 2)),
        "is_key_exchange_only": bool(_field(obj, 3, False)),
    }


def _hostname_port_text(obj: Any) -> str | None:
    if isinstance(obj, list) and len(obj) >= 2:
        return f"{obj[0]}:{obj[1]}"
    return obj if isinstance(obj, str) else None


def inlet_status_json(obj: Any) -> dict[str, Any]:
    return {
        "bind_addr": _field(obj, 1, ""),
        "worker_addr": _field(obj, 2),
        "alias": _field(obj, 3, ""),
        "payload": _field(obj, 4),
        "outlet_route": _field(obj, 5),
        "status": connection_status_text(_field(obj, 6)),
        "outlet_addr": multiaddr_text(_field(obj, 7, "")),
    }


def outlet_status_json(obj: Any) -> dict[str, Any]:
    return {
        "to": _hostname_port_text(_field(obj, 1)),
        "worker_addr": address_json(_field(obj, 2)),
        "payload": _field(obj, 3),
    }


def service_status_json(obj: Any) -> dict[str, Any]:
    return {"addr": _field(obj, 2, ""), "type": _field(obj, 3, "")}


def worker_list(obj: Any) -> list[str]:
    items = _field(obj, 1, [])
    return [str(_field(w, 2, "")) for w in items] if isinstance(items, list) else []


def _list(obj: Any) -> list[Any]:
    return obj if isinstance(obj, list) else []


def node_resources_json(obj: Any) -> dict[str, Any]:
    """``NodeResources`` with its process status flattened."""
    route = _field(obj, 5, {})
    route_json: dict[str, Any] = {"short": multiaddr_text(_field(route, 1))}
    verbose = _field(route, 2)
    if verbose is not None:
        route_json["verbose"] = multiaddr_text(verbose)
    out: dict[str, Any] = {
        "name": _field(obj, 1, ""),
        "identity_name": _field(obj, 2, ""),
        "is_default": bool(_field(obj, 3, False)),
    }
    out.update(process_status_json(_field(obj, 4)))
    out["route"] = route_json
    out["http_server_address"] = internet_address_json(_field(obj, 6))
    out["transports"] = [transport_status_json(t) for t in _list(_field(obj, 7))]
    out["secure_channel_listeners"] = [secure_channel_listener_json(s) for s in _list(_field(obj, 8))]
    out["inlets"] = [inlet_status_json(i) for i in _list(_field(obj, 9))]
    out["outlets"] = [outlet_status_json(o) for o in _list(_field(obj, 10))]
    out["services"] = [service_status_json(s) for s in _list(_field(obj, 11))]
    return out


def empty_node_resources(node: NodeInfo, identity_name: str = "") -> dict[str, Any]:
    """What ``node show`` prints for a node that does not answer."""
    status = node.status()
    out: dict[str, Any] = {
        "name": node.name,
        "identity_name": identity_name,
        "is_default": node.is_default,
        "status": status,
    }
    if status != "stopped":
        out["pid"] = node.pid
    route: dict[str, Any] = {"short": node.route()}
    verbose = node.verbose_route()
    if verbose is not None:
        route["verbose"] = verbose
    out["route"] = route
    out["http_server_address"] = None
    out["transports"] = []
    out["secure_channel_listeners"] = []
    out["inlets"] = []
    out["outlets"] = []
    out["services"] = []
    return out


# -- relays (RelayInfo, and the CLI's relay show output)


def _service_multiaddr(text: Any) -> str | None:
    """A one-address route as a multiaddr (``forward_to_s`` -> ``/service/forward_to_s``)."""
    if not isinstance(text, str):
        return None
    try:
        address = Address.parse(text)
    except Exception:
        return None
    if address.is_local:
        return f"/service/{address.text}"
    return None


def relay_info_json(r: dict[int, Any]) -> dict[str, Any]:
    """``RelayInfo`` (``relay list`` JSON)."""
    fc = r.get(4)
    return {
        "forwarding_route": r.get(1),
        "remote_address": r.get(2),
        "worker_address": r.get(3),
        "flow_control_id": fc.get(1) if isinstance(fc, dict) else None,
        "connection_status": connection_status_text(r.get(5)),
        "destination_address": multiaddr_text(r.get(6)),
        "name": r.get(7, ""),
        "last_failure": r.get(8),
    }


def relay_show_json(r: dict[int, Any]) -> dict[str, Any]:
    """``relay show`` JSON: name, destination, status, ``relay_route`` (the forwarding route),
    ``remote_address`` and ``worker_address`` as ``/service/...`` multiaddrs."""
    return {
        "name": r.get(7, ""),
        "destination": multiaddr_text(r.get(6)),
        "connection_status": connection_status_text(r.get(5)),
        "relay_route": r.get(1),
        "remote_address": _service_multiaddr(r.get(2)),
        "worker_address": _service_multiaddr(r.get(3)),
    }
