"""Resource types, default policies and the policy lookup of a node (abac.md §7, §8;
relays.md §6; portals.md §7), as data and pure functions.

* :class:`ResourceType`: the resource kinds with their CLI text and CBOR index.
* :data:`DEFAULT_TYPE_POLICIES`: what every node writes for each resource type at start-up,
  ``(= subject.has_credential true)`` ("any holder of a valid credential from the node's
  authority").
* :class:`Policies`: resource-name policies over resource-type policies; a resource with
  neither is denied.
* :func:`needs_access_control`: without an authority and without an explicit expression a
  resource is open to everyone.
* :func:`relay_name_allowed`: the ``ockam-relay`` attribute rule of relay services.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import PolicyError
from .expr import Expr
from .policy import DEFAULT_POLICY, BooleanPolicy, FullPolicy, PolicyExpression, parse_policy
from .sexpr import parse_expr

__all__ = [
    "DEFAULT_TYPE_POLICIES",
    "RELAY_ATTRIBUTE",
    "Policies",
    "ResourceType",
    "default_type_policy",
    "needs_access_control",
    "relay_name_allowed",
    "to_expr",
]

#: The credential attribute naming the relays an identity may create (``*`` = any).
RELAY_ATTRIBUTE = "ockam-relay"


class ResourceType(enum.Enum):
    """Resource types: text form and CBOR index (``ResourceType`` is index-only)."""

    TCP_INLET = "tcp-inlet"
    TCP_OUTLET = "tcp-outlet"
    ECHOER = "echoer"
    KAFKA_CONSUMER = "kafka-consumer"
    KAFKA_PRODUCER = "kafka-producer"
    RELAY = "relay"
    LESSOR = "lessor"

    @property
    def index(self) -> int:
        return list(ResourceType).index(self) + 1

    @classmethod
    def from_index(cls, index: int) -> ResourceType:
        members = list(cls)
        if not 1 <= index <= len(members):
            raise PolicyError(f"unknown resource type {index}")
        return members[index - 1]

    @classmethod
    def parse(cls, text: str) -> ResourceType | None:
        """The type named ``text``, or None (then ``text`` names a resource)."""
        for t in cls:
            if t.value == text:
                return t
        return None

    def __str__(self) -> str:
        return self.value


#: Written (insert or overwrite) for every resource type each time a node starts.
DEFAULT_TYPE_POLICIES: Mapping[ResourceType, str] = {t: DEFAULT_POLICY for t in ResourceType}


def default_type_policy(resource_type: ResourceType) -> Expr:
    return parse_expr(DEFAULT_TYPE_POLICIES[resource_type])


def to_expr(policy: Expr | PolicyExpression | str) -> Expr:
    """An evaluable expression from policy text (either syntax), a parsed policy or an Expr."""
    if isinstance(policy, str):
        return parse_policy(policy).to_expr()
    if isinstance(policy, (FullPolicy, BooleanPolicy)):
        return policy.to_expr()
    return policy


def needs_access_control(has_authority: bool, expression: object | None) -> bool:
    """abac.md §8: with neither an authority nor an explicit expression, allow everything."""
    return has_authority or expression is not None


@dataclass
class Policies:
    """The policies of one node (action ``handle_message``): per resource name, per type.

    Lookup: the resource-name policy if there is one, else the resource-type policy, else
    None (denied).  Stored expressions are expanded full expressions (a boolean policy is
    kept in its full form, as Rust stores it).
    """

    by_resource: dict[str, Expr] = field(default_factory=dict)
    by_type: dict[ResourceType, Expr] = field(default_factory=dict)

    @classmethod
    def with_defaults(cls) -> Policies:
        policies = cls()
        policies.reset_type_defaults()
        return policies

    def reset_type_defaults(self) -> None:
        """What a node does at start-up: every type gets the default policy."""
        for t in ResourceType:
            self.by_type[t] = default_type_policy(t)

    def set_resource_policy(self, resource: str, policy: Expr | PolicyExpression | str) -> Expr:
        expr = to_expr(policy)
        self.by_resource[resource] = expr
        return expr

    def set_type_policy(self, resource_type: ResourceType, policy: Expr | PolicyExpression | str) -> Expr:
        expr = to_expr(policy)
        self.by_type[resource_type] = expr
        return expr

    def delete_resource_policy(self, resource: str) -> bool:
        return self.by_resource.pop(resource, None) is not None

    def delete_type_policy(self, resource_type: ResourceType) -> bool:
        return self.by_type.pop(resource_type, None) is not None

    def lookup(self, resource: str, resource_type: ResourceType | None) -> tuple[Expr, str] | None:
        """The policy applying to a resource and where it comes from (a text such as
        ``resource 'outlet'`` or ``resource type tcp-outlet``), or None."""
        expr = self.by_resource.get(resource)
        if expr is not None:
            return expr, f"the policy of resource '{resource}'"
        if resource_type is not None:
            expr = self.by_type.get(resource_type)
            if expr is not None:
                return expr, f"the policy of resource type {resource_type}"
        return None


def relay_name_allowed(attributes: Mapping[bytes, bytes] | None, name: str) -> tuple[bool, str]:
    """relays.md §6.2: may a holder of ``attributes`` (None: no attributes from the
    authority) create the relay ``name`` (given without the ``forward_to_`` prefix)?
    Returns the decision and, when refused, why."""
    if attributes is None:
        return False, "it has no attributes from the authority (no valid credential)"
    raw = attributes.get(RELAY_ATTRIBUTE.encode())
    if raw is None:
        return False, f"its credential has no '{RELAY_ATTRIBUTE}' attribute"
    try:
        value = raw.decode("utf-8")
    except UnicodeDecodeError:
        return False, f"its '{RELAY_ATTRIBUTE}' attribute is not UTF-8"
    if value == "*" or value == name:
        return True, ""
    return False, f"its '{RELAY_ATTRIBUTE}' attribute is '{value}', not '{name}' or '*'"
