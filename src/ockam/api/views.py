"""JSON views of control-API bodies, with the field names of Rust's serde derives.

Used by the CLI (``--output json``) and the node's HTTP status server (``/show``).
"""

from __future__ import annotations

from typing import Any

from ..codec.address import Address
from ..codec.multiaddr import MultiAddr
from ..protocol import api_models as models

__all__ = [
    "node_resources_json",
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
    out["inlets"] = list(r.get(9, []))
    out["outlets"] = list(r.get(10, []))
    out["services"] = [service_status_json(s) for s in r.get(11, [])]
    return out
