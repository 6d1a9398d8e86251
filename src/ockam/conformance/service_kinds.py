"""Conformance handlers for the service-level kinds: abac-expression, portal-message,
relay-registration, enrollment-ticket."""

from __future__ import annotations

import importlib
import re
from typing import Any

from ..abac import (
    BooleanPolicy,
    evaluate,
    expr_from_cbor,
    expr_to_cbor,
    parse_expr,
    parse_policy,
    policy_from_cbor,
    subject_env,
)
from ..abac.expr import Bool
from ..codec import cbor
from ..codec.address import Address
from ..codec.route import Route
from ..errors import PolicyError
from ..protocol import portal, relay, ticket
from . import Mismatch

__all__ = ["KINDS"]


# -- abac-expression ----------------------------------------------------------------------


def _abac_expression(inputs: dict[str, Any]) -> dict[str, Any]:
    policy = parse_policy(inputs["text"])
    expr = policy.to_expr()
    policy_cbor = cbor.encode(policy.to_cbor())
    expr_cbor = cbor.encode(expr_to_cbor(expr))
    # Compared as bytes (NaN floats are unequal to themselves).
    if (
        cbor.encode(policy_from_cbor(cbor.decode(policy_cbor)).to_cbor()) != policy_cbor
        or cbor.encode(expr_to_cbor(expr_from_cbor(cbor.decode(expr_cbor)))) != expr_cbor
    ):
        raise Mismatch("policy expression does not decode back")
    # What a node stores is the display text of the expression.
    if cbor.encode(expr_to_cbor(parse_expr(str(expr)))) != expr_cbor:
        raise Mismatch("expression display does not parse back")
    results = []
    for evaluation in inputs["evaluations"]:
        env = subject_env(evaluation["identifier"], evaluation["attributes"])
        outcome: Any
        try:
            value = evaluate(expr, env)
        except PolicyError:
            outcome = "error"
        else:
            outcome = value.value if isinstance(value, Bool) else "non-boolean"
        results.append({"eval": outcome, "authorized": outcome is True})
    return {
        "syntax": policy.syntax,
        "policy_expression_cbor": policy_cbor.hex(),
        "expr_cbor": expr_cbor.hex(),
        "expr_display": str(expr),
        "boolean_display": str(policy) if isinstance(policy, BooleanPolicy) else None,
        "results": results,
    }


# -- portal-message -----------------------------------------------------------------------


def _portal_json(message: portal.PortalMessage) -> dict[str, Any]:
    if isinstance(message, portal.Payload):
        return {"type": "payload", "data": message.data.hex(), "counter": message.counter}
    return {"type": type(message).__name__.lower(), "data": None, "counter": None}


def _portal_message(inputs: dict[str, Any]) -> dict[str, Any]:
    if inputs["operation"] == "decode":
        return {"message": _portal_json(portal.decode_portal_message(bytes.fromhex(inputs["bytes"])))}
    m = inputs["message"]
    simple: dict[str, portal.PortalMessage] = {
        "ping": portal.Ping(),
        "pong": portal.Pong(),
        "disconnect": portal.Disconnect(),
    }
    message = (
        portal.Payload(bytes.fromhex(m["data"] or ""), m.get("counter"))
        if m["type"] == "payload"
        else simple[m["type"]]
    )
    encoded = portal.encode_portal_message(message)
    back = portal.decode_portal_message(encoded)
    if _portal_json(back) != {**_portal_json(message), "counter": None}:
        raise Mismatch("portal message does not decode back")
    return {"bytes": encoded.hex()}


# -- relay-registration -------------------------------------------------------------------


def _route(hops: list[str] | None) -> Route | None:
    return None if hops is None else Route(Address.parse(h) for h in hops)


def _hops(route: Route | None) -> list[str] | None:
    return None if route is None else [str(a) for a in route]


def _relay_registration(inputs: dict[str, Any]) -> dict[str, Any]:
    name = inputs["relay_name"] if inputs["mode"] == "static" else None
    prefix = inputs["prefix"]
    request = relay.registration_request(name)
    registration_route = _route(inputs.get("registration_return_route"))
    incoming = _route(inputs.get("incoming_onward_route"))
    ephemeral = relay.parse_registration_request(request) is None
    # The relay service's side; without a return route, a stand-in one (unused in the output).
    accepted = relay.accept_registration(
        request, registration_route or Route([Address.local("client")]), prefix=prefix
    )
    info = relay.parse_registration_response(
        accepted.response_payload, Route([Address.local("sender"), accepted.relay_address]), name
    )
    if info.remote_address != str(accepted.relay_address.text):
        raise Mismatch("the registering side does not see the relay address")
    regex = f"^{re.escape(prefix)}[0-9a-f]{{32}}$"
    if ephemeral and not re.match(regex, accepted.relay_address.text):
        raise Mismatch("ephemeral relay address does not match its pattern")
    forwarded = None
    if registration_route is not None and incoming is not None:
        forwarded = relay.forward_onward_route(incoming, accepted.forward_route)
    out: dict[str, Any] = {
        "service_address": relay.registration_service(name),
        "request_payload": request.hex(),
        "response_payload": None if ephemeral else accepted.response_payload.hex(),
        "relay_address": None if ephemeral else accepted.relay_address.text,
        "response_return_route": None if ephemeral else _hops(accepted.response_return_route),
        "forwarded_onward_route": _hops(forwarded),
    }
    if ephemeral:
        out["relay_address_regex"] = regex
    return out


# -- enrollment-ticket --------------------------------------------------------------------


def _ticket_fields(t: ticket.ExportedTicket | ticket.LegacyTicket) -> dict[str, Any]:
    if isinstance(t, ticket.ExportedTicket):
        return {
            "project_route": str(t.project_route),
            "project_identifier": t.project_identifier,
            "project_name": t.project_name,
            "one_time_code": t.one_time_code,
            "project_change_history": t.project_change_history,
            "authority_change_history": t.authority_change_history,
            "authority_route": t.authority_route,
        }
    return {
        "one_time_code": t.one_time_code,
        "project_id": t.project_id,
        "project_name": t.project_name,
        "project_access_route": t.project_access_route,
        "authority_access_route": t.authority_access_route,
        "authority_identity": t.authority_identity,
        "project_change_history": t.project_change_history,
    }


def _verified_identifier(change_history: bytes) -> str:
    identity = importlib.import_module("ockam.identity")
    return str(identity.verify_change_history(change_history).identifier)


def _enrollment_ticket(inputs: dict[str, Any]) -> dict[str, Any]:
    if inputs["operation"] == "encode":
        f = inputs["fields"]
        exported = ticket.ExportedTicket.create(
            f["project_route"],
            f["project_identifier"],
            f["project_name"],
            f["one_time_code"],
            f["project_change_history"],
            f["authority_change_history"],
            f.get("authority_route"),
        )
        encoded = exported.encode()
        if ticket.decode_ticket(encoded) != exported:
            raise Mismatch("ticket does not decode back")
        return {"ticket": encoded}
    decoded = ticket.decode_ticket(inputs["ticket"])
    legacy = isinstance(decoded, ticket.LegacyTicket)
    imported: dict[str, Any] | None = None
    # A legacy ticket without the project's change history (or the authority's) decodes
    # but cannot be imported.
    if not isinstance(decoded, ticket.LegacyTicket) or (
        decoded.project_change_history is not None and decoded.authority_identity is not None
    ):
        data = ticket.ticket_import(decoded)
        imported = {
            "project_id": data.project_id,
            "project_identity_identifier": _verified_identifier(data.project_change_history),
            "authority_identifier": _verified_identifier(data.authority_change_history),
            "project_route": str(data.project_route),
            "authority_route": str(data.authority_route),
        }
    return {
        "format": "legacy" if legacy else "exported",
        "fields": _ticket_fields(decoded),
        "import": imported,
    }


KINDS = {
    "abac-expression": _abac_expression,
    "portal-message": _portal_message,
    "relay-registration": _relay_registration,
    "enrollment-ticket": _enrollment_ticket,
}
