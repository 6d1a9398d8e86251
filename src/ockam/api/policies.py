"""Node-manager endpoints for policies (node-api.md §5.8, abac.md §9) and their bodies.

``install(manager, access)`` adds

* ``POST /policy/<action>`` ``{1: ResourceTypeOrName, 2: PolicyExpression}`` -> 200;
* ``GET /policy/<action>`` ``ResourceTypeOrName`` -> ``Policy`` or 404
  ``No policy found for resource '<r>' and action '<a>'``;
* ``GET /policy`` ``ResourceTypeOrName`` or ``null`` -> ``PoliciesList``;
* ``DELETE /policy/<action>`` ``ResourceTypeOrName`` -> 200;

and makes ``access`` the node's access control set-up (``manager.access``), which the
echoer, portals and relay service use.

Bodies (CBOR-shaped values, :mod:`ockam.codec.cbor`):

* ``ResourceTypeOrName``: ``[1, [null, <type index>]]`` or ``[2, [null, "<name>"]]``;
* ``Policy``: ``{1: ResourceTypeOrName, 2: 1 (handle_message), 3: Expr}``;
* ``PoliciesList``: ``{1: [{1: name, 2: 1, 3: Expr}...], 2: [{1: type index, 2: 1, 3: Expr}...]}``.

The only action is ``handle_message`` (index 1).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ..abac import HANDLE_MESSAGE, Expr, expr_from_cbor, expr_to_cbor, policy_from_cbor
from ..abac.defaults import Policies, ResourceType
from ..errors import DecodeError, OckamError, PolicyError
from ..protocol.api_wire import NO_BODY, Request, Response, encode_error_body
from ..services.access_control import NodeAccess
from .node_manager import NodeManager, ok

__all__ = [
    "ACTION_INDEX",
    "PolicyEntry",
    "PolicyTarget",
    "install",
    "policies_list_from_cbor",
    "policies_list_to_cbor",
    "policy_entry_from_cbor",
    "policy_entry_to_cbor",
    "target_from_cbor",
    "target_to_cbor",
]

log = logging.getLogger("ockam.api.policies")

#: ``Action`` is index-only: ``handle_message`` = 1.
ACTION_INDEX = {HANDLE_MESSAGE: 1}
_ACTION_NAMES = {v: k for k, v in ACTION_INDEX.items()}


@dataclass(frozen=True)
class PolicyTarget:
    """A ``ResourceTypeOrName``: a resource type, or a resource name."""

    resource_type: ResourceType | None = None
    resource_name: str | None = None

    @classmethod
    def parse(cls, text: str) -> PolicyTarget:
        """A known type name is a type; anything else names a resource."""
        resource_type = ResourceType.parse(text)
        if resource_type is not None:
            return cls(resource_type=resource_type)
        return cls(resource_name=text)

    @property
    def is_type(self) -> bool:
        return self.resource_type is not None

    def __str__(self) -> str:
        return str(self.resource_type) if self.resource_type is not None else str(self.resource_name)


@dataclass(frozen=True)
class PolicyEntry:
    """A ``Policy``: a target, an action and its (expanded) expression."""

    target: PolicyTarget
    expression: Expr
    action: str = HANDLE_MESSAGE

    def to_json(self) -> dict[str, Any]:
        """The serde form: ``{"resource", "action", "expression"}`` (all text)."""
        return {"resource": str(self.target), "action": self.action, "expression": str(self.expression)}


def target_to_cbor(target: PolicyTarget) -> list[Any]:
    if target.resource_type is not None:
        return [1, [None, target.resource_type.index]]
    return [2, [None, target.resource_name or ""]]


def target_from_cbor(obj: Any) -> PolicyTarget:
    if not isinstance(obj, list) or len(obj) != 2 or not isinstance(obj[1], list) or len(obj[1]) < 2:
        raise DecodeError("invalid resource: expected [variant, [null, value]]")
    variant, value = obj[0], obj[1][1]
    if variant == 1 and type(value) is int:
        return PolicyTarget(resource_type=ResourceType.from_index(value))
    if variant == 2 and isinstance(value, str):
        return PolicyTarget(resource_name=value)
    raise DecodeError(f"invalid resource: unknown variant {variant!r}")


def _action_from_cbor(obj: Any) -> str:
    name = _ACTION_NAMES.get(obj) if type(obj) is int else None
    if name is None:
        raise DecodeError(f"invalid action {obj!r}")
    return name


def policy_entry_to_cbor(entry: PolicyEntry) -> dict[int, Any]:
    return {1: target_to_cbor(entry.target), 2: ACTION_INDEX[entry.action], 3: expr_to_cbor(entry.expression)}


def policy_entry_from_cbor(obj: Any) -> PolicyEntry:
    if not isinstance(obj, dict):
        raise DecodeError("invalid policy: expected a map")
    return PolicyEntry(
        target_from_cbor(obj.get(1)), expr_from_cbor(obj.get(3)), _action_from_cbor(obj.get(2))
    )


def policies_list_to_cbor(entries: list[PolicyEntry]) -> dict[int, Any]:
    by_name: list[dict[int, Any]] = []
    by_type: list[dict[int, Any]] = []
    for e in entries:
        action = ACTION_INDEX[e.action]
        if e.target.resource_type is not None:
            by_type.append({1: e.target.resource_type.index, 2: action, 3: expr_to_cbor(e.expression)})
        else:
            by_name.append({1: e.target.resource_name, 2: action, 3: expr_to_cbor(e.expression)})
    return {1: by_name, 2: by_type}


def policies_list_from_cbor(obj: Any) -> list[PolicyEntry]:
    """All the policies of a ``PoliciesList``: resource-name ones first, then types."""
    if not isinstance(obj, dict):
        raise DecodeError("invalid policies list: expected a map")
    entries: list[PolicyEntry] = []
    for item in obj.get(1) or []:
        if not isinstance(item, dict) or not isinstance(item.get(1), str):
            raise DecodeError("invalid resource policy")
        target = PolicyTarget(resource_name=item[1])
        entries.append(PolicyEntry(target, expr_from_cbor(item.get(3)), _action_from_cbor(item.get(2))))
    for item in obj.get(2) or []:
        if not isinstance(item, dict) or type(item.get(1)) is not int:
            raise DecodeError("invalid resource type policy")
        target = PolicyTarget(resource_type=ResourceType.from_index(item[1]))
        entries.append(PolicyEntry(target, expr_from_cbor(item.get(3)), _action_from_cbor(item.get(2))))
    return entries


class PoliciesApi:
    """The policy endpoints over one node's :class:`~ockam.abac.defaults.Policies`."""

    def __init__(self, policies: Policies) -> None:
        self.policies = policies

    # -- operations
    def set(self, target: PolicyTarget, policy: Any) -> Expr:
        if target.resource_type is not None:
            expr = self.policies.set_type_policy(target.resource_type, policy)
        else:
            expr = self.policies.set_resource_policy(target.resource_name or "", policy)
        log.info("policy of %s set to %s", _describe(target), expr)
        return expr

    def get(self, target: PolicyTarget) -> PolicyEntry | None:
        if target.resource_type is not None:
            expr = self.policies.by_type.get(target.resource_type)
        else:
            expr = self.policies.by_resource.get(target.resource_name or "")
        return None if expr is None else PolicyEntry(target, expr)

    def entries(self, target: PolicyTarget | None) -> list[PolicyEntry]:
        entries: list[PolicyEntry] = []
        if target is None or target.resource_name is not None:
            for name, expr in self.policies.by_resource.items():
                if target is None or name == target.resource_name:
                    entries.append(PolicyEntry(PolicyTarget(resource_name=name), expr))
        if target is None or target.resource_type is not None:
            for resource_type, expr in self.policies.by_type.items():
                if target is None or resource_type is target.resource_type:
                    entries.append(PolicyEntry(PolicyTarget(resource_type=resource_type), expr))
        return entries

    def delete(self, target: PolicyTarget) -> bool:
        if target.resource_type is not None:
            deleted = self.policies.delete_type_policy(target.resource_type)
        else:
            deleted = self.policies.delete_resource_policy(target.resource_name or "")
        if deleted:
            log.info("policy of %s deleted", _describe(target))
        return deleted

    # -- endpoints
    async def _post(self, req: Request, params: list[str]) -> Response:
        try:
            _check_action(params[0])
            body = req.body
            if not isinstance(body, dict):
                raise DecodeError("SetPolicyRequest must be a map")
            target = target_from_cbor(body.get(1))
            policy = policy_from_cbor(body.get(2))
            self.set(target, policy)
        except OckamError as e:
            return _fail(500, str(e))
        return ok()

    async def _get(self, req: Request, params: list[str]) -> Response:
        try:
            action = _check_action(params[0])
            target = target_from_cbor(req.body)
        except OckamError as e:
            return _fail(500, str(e))
        entry = self.get(target)
        if entry is None:
            return _fail(404, f"No policy found for resource '{target}' and action '{action}'")
        return ok(policy_entry_to_cbor(entry))

    async def _list(self, req: Request, params: list[str]) -> Response:
        try:
            target = None if req.body is None or req.body is NO_BODY else target_from_cbor(req.body)
        except OckamError as e:
            return _fail(500, str(e))
        return ok(policies_list_to_cbor(self.entries(target)))

    async def _delete(self, req: Request, params: list[str]) -> Response:
        try:
            _check_action(params[0])
            target = target_from_cbor(req.body)
        except OckamError as e:
            return _fail(500, str(e))
        self.delete(target)
        return ok()


def _describe(target: PolicyTarget) -> str:
    return f"resource type {target}" if target.is_type else f"resource '{target}'"


def _check_action(text: str) -> str:
    if text not in ACTION_INDEX:
        raise PolicyError(f"Invalid action: {text}")
    return text


def _fail(status: int, message: str) -> Response:
    """An error with the message only (Rust's ``*_no_request`` helpers)."""
    return Response(status, encode_error_body(message))


def install(manager: NodeManager, access: NodeAccess) -> PoliciesApi:
    """Add the policy endpoints to ``manager`` and make ``access`` its access control
    set-up; return the endpoints' state."""
    api = PoliciesApi(access.policies)
    manager.access = access
    r = manager.add_route
    r("POST", "policy/*", api._post)
    r("GET", "policy/*", api._get)
    r("GET", "policy", api._list)
    r("DELETE", "policy/*", api._delete)
    return api
