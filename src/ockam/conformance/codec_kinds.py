"""Conformance handlers for the foundation kinds: bare, address, route,
cbor-transport-message, tcp-frame, multiaddr, node-api."""

from __future__ import annotations

from typing import Any

from ..codec import bare, cbor
from ..codec.address import Address
from ..codec.multiaddr import MultiAddr
from ..codec.route import Route
from ..protocol import api_models as models
from ..protocol.api_wire import Request, Response, decode_request, decode_response
from ..protocol.tcp_framing import VERSION_BYTE, FrameReader, encode_frame
from ..protocol.transport_message import TransportMessage
from . import Mismatch

__all__ = ["KINDS"]


def _bare(inputs: dict[str, Any]) -> dict[str, Any]:
    op, typ = inputs["operation"], inputs["type"]
    if op == "encode":
        if typ == "uint":
            return {"bytes": bare.encode_uint(inputs["value"]).hex()}
        if typ == "string":
            return {"bytes": bare.encode_string(inputs["value"]).hex()}
        return {"bytes": bare.encode_data(bytes.fromhex(inputs["value"])).hex()}
    data = bytes.fromhex(inputs["bytes"])
    if typ == "uint":
        value, consumed = bare.decode_uint(data)
        return {"value": value, "consumed": consumed}
    if typ == "string":
        text, consumed = bare.decode_string(data)
        return {"value": text, "consumed": consumed}
    raw, consumed = bare.decode_data(data)
    return {"value": raw.hex(), "consumed": consumed}


def _address(inputs: dict[str, Any]) -> dict[str, Any]:
    a = Address.parse(inputs["text"])
    encoded = cbor.encode(a.to_cbor())
    if Address.from_cbor(cbor.decode(encoded)) != a or Address.from_bare(a.to_bare())[0] != a:
        raise Mismatch("address does not decode back")
    return {
        "transport_type": a.transport_type,
        "value": a.value.hex(),
        "display": str(a),
        "cbor": encoded.hex(),
        "bare": a.to_bare().hex(),
    }


def _route(inputs: dict[str, Any]) -> dict[str, Any]:
    r = Route.parse(inputs["text"])
    encoded = cbor.encode(r.to_cbor())
    if Route.from_cbor(cbor.decode(encoded)) != r or Route.from_bare(r.to_bare())[0] != r:
        raise Mismatch("route does not decode back")
    return {
        "addresses": [str(a) for a in r],
        "display": str(r),
        "cbor": encoded.hex(),
        "bare": r.to_bare().hex(),
    }


def _message(obj: dict[str, Any]) -> TransportMessage:
    return TransportMessage(
        Route(Address.parse(a) for a in obj["onward_route"]),
        Route(Address.parse(a) for a in obj["return_route"]),
        bytes.fromhex(obj["payload"]),
        obj.get("tracing_context"),
    )


def _message_json(m: TransportMessage) -> dict[str, Any]:
    return {
        "onward_route": [str(a) for a in m.onward_route],
        "return_route": [str(a) for a in m.return_route],
        "payload": m.payload.hex(),
        "tracing_context": m.tracing_context,
        "heartbeat": m.is_heartbeat,
    }


def _transport_message(inputs: dict[str, Any]) -> dict[str, Any]:
    m = _message(inputs)
    encoded = m.encode()
    if TransportMessage.decode(encoded) != m:
        raise Mismatch("transport message does not decode back")
    return {"cbor": encoded.hex()}


def _tcp_frame(inputs: dict[str, Any]) -> dict[str, Any]:
    if inputs["operation"] == "encode":
        frames = [encode_frame(_message(m)) for m in inputs["messages"]]
        return {
            "protocol_version": VERSION_BYTE.hex(),
            "frames": [f.hex() for f in frames],
            "stream": (VERSION_BYTE + b"".join(frames)).hex(),
        }
    reader = FrameReader()
    messages = reader.receive_data(bytes.fromhex(inputs["stream"]))
    if reader.buffered:
        from ..errors import ProtocolError

        raise ProtocolError("stream ends inside a frame")
    return {"messages": [_message_json(m) for m in messages]}


def _multiaddr(inputs: dict[str, Any]) -> dict[str, Any]:
    if "bytes" in inputs and inputs.get("bytes") is not None:
        ma = MultiAddr.from_bytes(bytes.fromhex(inputs["bytes"]))
    else:
        ma = MultiAddr.parse(inputs["text"])
    raw = ma.to_bytes()
    if MultiAddr.from_bytes(raw) != ma or MultiAddr.parse(str(ma)) != ma:
        raise Mismatch("multiaddr does not round-trip")
    return {"bytes": raw.hex(), "display": str(ma), "cbor": cbor.encode(raw).hex()}


def _identifier_bytes(text: str) -> bytes:
    return bytes.fromhex(text[1:])


def _body(spec: dict[str, Any] | None) -> Any:
    if spec is None:
        return None
    typ, v = spec["type"], spec["value"]
    if typ == "CreateInlet":
        return models.CreateInlet(
            listen_addr=models.HostnamePort(v["listen_addr"]["hostname"], v["listen_addr"]["port"]),
            outlet_addr=MultiAddr.parse(v["outlet_addr"]),
            alias=v["alias"],
            authorized=None if v.get("authorized") is None else _identifier_bytes(v["authorized"]),
            wait_for_outlet_duration_ms=v.get("wait_for_outlet_duration_ms"),
            policy_expression=_policy(v.get("policy_expression")),
            wait_connection=v.get("wait_connection", False),
            secure_channel_identifier=None
            if v.get("secure_channel_identifier") is None
            else _identifier_bytes(v["secure_channel_identifier"]),
            enable_udp_puncture=v.get("enable_udp_puncture", False),
            disable_tcp_fallback=v.get("disable_tcp_fallback", False),
            ebpf=v.get("ebpf", False),
            tls_certificate_provider=None
            if v.get("tls_certificate_provider") is None
            else MultiAddr.parse(v["tls_certificate_provider"]),
        ).to_cbor()
    if typ == "CreateOutlet":
        return models.CreateOutlet(
            hostname_port=models.HostnamePort(v["hostname_port"]["hostname"], v["hostname_port"]["port"]),
            tls=v.get("tls", False),
            worker_addr=None if v.get("worker_addr") is None else Address.parse(v["worker_addr"]),
            reachable_from_default_secure_channel=v.get("reachable_from_default_secure_channel", False),
            policy_expression=_policy(v.get("policy_expression")),
            ebpf=v.get("ebpf", False),
        ).to_cbor()
    if typ == "SendMessage":
        return models.SendMessage(v["route"], bytes.fromhex(v["message"])).to_cbor()
    if typ == "NodeStatus":
        status = v["status"]
        if isinstance(status, dict):
            ((state, pid),) = status.items()
        else:
            state, pid = status, None
        return models.NodeStatus(v["name"], _identifier_bytes(v["identifier"]), state, pid).to_cbor()
    if typ == "Error":
        from ..protocol.api_wire import encode_error_body

        return encode_error_body(v.get("message"), v.get("path"), v.get("method"))
    if typ == "Bytes":
        return cbor.ByteList(bytes.fromhex(v["data"]))
    raise Mismatch(f"unknown body type {typ}")


def _policy(value: Any) -> Any:
    if value is None:
        return None
    from ..abac import policy_expression_cbor

    return policy_expression_cbor(value)


def _node_api(inputs: dict[str, Any]) -> dict[str, Any]:
    h = inputs["header"]
    body = _body(inputs.get("body"))
    msg: Request | Response
    if inputs["kind"] == "request":
        msg = Request(path=h["path"], method=h["method"], id=h["id"])
        if h["has_body"]:
            msg.body = body
        payload = msg.encode()
        back = decode_request(payload)
        if (back.path, back.method, back.id, back.has_body) != (msg.path, msg.method, msg.id, msg.has_body):
            raise Mismatch("request header does not decode back")
    else:
        msg = Response(status=h["status"], re=h["re"], id=h["id"])
        if h["has_body"]:
            msg.body = body
        payload = msg.encode()
        back_r = decode_response(payload)
        if (back_r.status, back_r.re, back_r.id) != (msg.status, msg.re, msg.id):
            raise Mismatch("response header does not decode back")
    header_cbor = msg.header_cbor()
    body_cbor = cbor.encode(body) if h["has_body"] else None
    return {
        "header_cbor": header_cbor.hex(),
        "body_cbor": None if body_cbor is None else body_cbor.hex(),
        "cbor": msg.encode_inner().hex(),
        "message_payload": payload.hex(),
    }


KINDS = {
    "bare": _bare,
    "address": _address,
    "route": _route,
    "cbor-transport-message": _transport_message,
    "tcp-frame": _tcp_frame,
    "multiaddr": _multiaddr,
    "node-api": _node_api,
}
