"""JSON views of control-API bodies, with the field names of Rust's serde derives.

Used by the CLI (``--output json``) and the node's HTTP status server (``/show``).
"""

from __future__ import annotations

from typing import Any

from ..codec.address import Address
from ..codec.multiaddr import MultiAddr
from ..protocol import api_models as models

__all__ = [
    "inlet_status_json",
    "node_resources_json",
    "outlet_status_json",
    "relay_info_json",
    "relay_show_json",
    "service_status_json",
    "transport_status_json",
]

_TT = {0: "Tcp", 1: "Ble", 2: "WebSocket"}
_TM = {0: "Listen", 1: "Incoming", 2: "Outgoing"}


def _ma(raw: Any) -> str | None:
    return str(MultiAddr.from_bytes(raw)) if isinstance(raw, bytes) else None


def transport_status_json(t: dict[int, Any]) -> dict[str, Any]:
    mode = t.get(2)
    return {
        "type": _TT.get(t.get(1, 0), "Tcp"),
        "mode": _TM.get(mode[0] if isinstance(mode, list) else 0, "Listen"),
        "socket_addr": t.get(3),
        "worker_addr": t.get(4),
        "processor_address": t.get(5),
        "flow_control_id": (t.get(6) or {}).get(1),
    }


def service_status_json(s: dict[int, Any]) -> dict[str, Any]:
    return {"addr": s.get(2), "type": s.get(3)}


def _address_text(obj: Any) -> str:
    try:
        return str(Address.from_cbor(obj))
    except Exception:
        return str(obj)


def secure_channel_listener_json(s: dict[int, Any]) -> dict[str, Any]:
    return {
        "address": _address_text(s.get(1)),
        "flow_control_id": (s.get(2) or {}).get(1),
        "is_key_exchange_only": bool(s.get(3, False)),
    }


def _http_address(obj: Any) -> str | None:
    if isinstance(obj, list) and len(obj) == 2 and isinstance(obj[1], list) and len(obj[1]) == 2:
        host, port = obj[1]
        return f"{host}:{port}"
    return None


def node_resources_json(r: dict[int, Any]) -> dict[str, Any]:
    status, pid = models.process_status_from_cbor(r.get(4, [2, []]))
    route = r.get(5) or {}
    out: dict[str, Any] = {
        "name": r.get(1),
        "identity_name": r.get(2),
        "is_default": bool(r.get(3, False)),
        "status": status,
    }
    if pid is not None:
        out["pid"] = pid
    out["route"] = {"short": _ma(route.get(1)), "verbose": _ma(route.get(2))}
    out["http_server_address"] = _http_address(r.get(6))
    out["transports"] = [transport_status_json(t) for t in r.get(7, [])]
    out["secure_channel_listeners"] = [secure_channel_listener_json(s) for s in r.get(8, [])]
    out["inlets"] = [inlet_status_json(i) for i in r.get(9, [])]
    out["outlets"] = [outlet_status_json(o) for o in r.get(10, [])]
    out["services"] = [service_status_json(s) for s in r.get(11, [])]
    return out


# -- portals and relays (serde field names of InletStatus, OutletStatus, RelayInfo and the
# CLI's RelayShowOutput)


def _status_text(obj: Any) -> str:
    """``ConnectionStatus`` as serde writes it: ``"Up"`` or ``"Down"``."""
    return "Up" if isinstance(obj, list) and obj and obj[0] == 1 else "Down"


def _address_json(obj: Any) -> Any:
    """``Address`` as serde writes it: ``{"tt": 0, "inner": [bytes...]}``."""
    if isinstance(obj, list) and len(obj) >= 2 and isinstance(obj[1], bytes):
        return {"tt": obj[0], "inner": list(obj[1])}
    return obj


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


def inlet_status_json(s: dict[int, Any]) -> dict[str, Any]:
    return {
        "bind_addr": s.get(1, ""),
        "worker_addr": s.get(2),
        "alias": s.get(3, ""),
        "payload": s.get(4),
        "outlet_route": s.get(5),
        "status": _status_text(s.get(6)),
        "outlet_addr": s.get(7, ""),
    }


def outlet_status_json(o: dict[int, Any]) -> dict[str, Any]:
    to = o.get(1)
    return {
        "to": f"{to[0]}:{to[1]}" if isinstance(to, list) and len(to) >= 2 else to,
        "worker_addr": _address_json(o.get(2)),
        "payload": o.get(3),
    }


def relay_info_json(r: dict[int, Any]) -> dict[str, Any]:
    """``RelayInfo`` (``relay list`` JSON)."""
    fc = r.get(4)
    return {
        "forwarding_route": r.get(1),
        "remote_address": r.get(2),
        "worker_address": r.get(3),
        "flow_control_id": fc.get(1) if isinstance(fc, dict) else None,
        "connection_status": _status_text(r.get(5)),
        "destination_address": _ma(r.get(6)),
        "name": r.get(7, ""),
        "last_failure": r.get(8),
    }


def relay_show_json(r: dict[int, Any]) -> dict[str, Any]:
    """``relay show`` JSON: name, destination, status, ``relay_route`` (the forwarding route),
    ``remote_address`` and ``worker_address`` as ``/service/...`` multiaddrs."""
    return {
        "name": r.get(7, ""),
        "destination": _ma(r.get(6)),
        "connection_status": _status_text(r.get(5)),
        "relay_route": r.get(1),
        "remote_address": _service_multiaddr(r.get(2)),
        "worker_address": _service_multiaddr(r.get(3)),
    }
