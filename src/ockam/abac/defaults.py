"""Resource types, default policies and the policy lookup of a node (abac.md §7, §8;
relays.md §6; portals.md §7), as data and pure functions.

* :class:`ResourceType`: the resource kinds with their CLI text and CBOR index.
* :data:`DEFAULT_TYPE_POLICIES`: what every node writes for each resource type at start-up,
  ``(= subject.has_credential true)`` ("any holder of a valid credential from the node's
  authority").
* :class:`Policies`: resource-name policies over resource-type policies; a resource with
  neither is denied.  Given a :class:`PolicyRepository` (the node's policy tables) it
  loads from it and writes through to it.
* :func:`needs_access_control`: without an authority and without an explicit expression a
  resource is open to everyone.
* :func:`relay_name_allowed`: the ``ockam-relay`` attribute rule of relay services.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from ..errors import PolicyError
from .expr import Expr
from .policy import DEFAULT_POLICY, BooleanPolicy, FullPolicy, PolicyExpression, parse_policy
from .sexpr import parse_expr

__all__ = [
    "DEFAULT_TYPE_POLICIES",
    "RELAY_ATTRIBUTE",
    "Policies",
    "PolicyRepository",
    "ResourceType",
    "default_type_policy",
    "needs_access_control",
    "relay_name_allowed",
    "to_expr",
]

log = logging.getLogger("ockam.abac")

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


class PolicyRepository(Protocol):
    """Persistent policies of one node for one action, as text (resource names, type
    names such as ``tcp-outlet``, expressions in the full syntax);
    :class:`ockam.state.policies.PolicyTable` implements it."""

    def store_resource_policy(self, resource: str, expression: str) -> None: ...

    def delete_resource_policy(self, resource: str) -> bool: ...

    def resource_policies(self) -> list[tuple[str, str]]: ...

    def store_type_policy(self, resource_type: str, expression: str) -> None: ...

    def store_missing_type_policies(self, policies: dict[str, str]) -> list[str]: ...

    def delete_type_policy(self, resource_type: str) -> bool: ...

    def type_policies(self) -> list[tuple[str, str]]: ...

    def store_resource(self, resource: str, resource_type: str) -> None: ...


@dataclass
class Policies:
    """The policies of one node (action ``handle_message``): per resource name, per type.

    Lookup: the resource-name policy if there is one, else the resource-type policy, else
    None (denied).  Stored expressions are expanded full expressions (a boolean policy is
    kept in its full form, as Rust stores it).  Lookups read memory; with a
    ``repository`` every change is also written to it (:meth:`load` reads it back).
    """

    by_resource: dict[str, Expr] = field(default_factory=dict)
    by_type: dict[ResourceType, Expr] = field(default_factory=dict)
    repository: PolicyRepository | None = None
    resources: dict[str, ResourceType] = field(default_factory=dict)

    @classmethod
    def with_defaults(cls) -> Policies:
        policies = cls()
        policies.reset_type_defaults()
        return policies

    @classmethod
    def load(cls, repository: PolicyRepository) -> Policies:
        """The policies stored in ``repository`` (rows that no longer parse are skipped,
        with a warning)."""
        policies = cls(repository=repository)
        for name, text in repository.resource_policies():
            try:
                policies.by_resource[name] = parse_expr(text)
            except PolicyError as e:
                log.warning("ignoring the stored policy of resource '%s': %s", name, e)
        for type_name, text in repository.type_policies():
            resource_type = ResourceType.parse(type_name)
            if resource_type is None:
                log.warning("ignoring the stored policy of unknown resource type '%s'", type_name)
                continue
            try:
                policies.by_type[resource_type] = parse_expr(text)
            except PolicyError as e:
                log.warning("ignoring the stored policy of resource type %s: %s", type_name, e)
        return policies

    def reset_type_defaults(self) -> None:
        """What a Rust node does at start-up: every type gets the default policy (a policy
        the user set for a type is overwritten)."""
        for t in ResourceType:
            self.set_type_policy(t, default_type_policy(t))

    def ensure_type_defaults(self) -> list[ResourceType]:
        """What a Python node does at start-up: every type *without* a policy gets the
        default one; policies the user set for a type are kept.  Returns the types that
        got the default."""
        missing = [t for t in ResourceType if t not in self.by_type]
        if self.repository is not None:
            defaults = {str(t): DEFAULT_TYPE_POLICIES[t] for t in ResourceType}
            added = self.repository.store_missing_type_policies(defaults)
            for name in added:
                t = ResourceType.parse(name)
                if t is not None and t not in missing:
                    missing.append(t)
        for t in missing:
            self.by_type[t] = default_type_policy(t)
        return missing

    def set_resource_policy(self, resource: str, policy: Expr | PolicyExpression | str) -> Expr:
        expr = to_expr(policy)
        if self.repository is not None:
            self.repository.store_resource_policy(resource, str(expr))
        self.by_resource[resource] = expr
        return expr

    def set_type_policy(self, resource_type: ResourceType, policy: Expr | PolicyExpression | str) -> Expr:
        expr = to_expr(policy)
        if self.repository is not None:
            self.repository.store_type_policy(str(resource_type), str(expr))
        self.by_type[resource_type] = expr
        return expr

    def delete_resource_policy(self, resource: str) -> bool:
        if self.repository is not None:
            self.repository.delete_resource_policy(resource)
        return self.by_resource.pop(resource, None) is not None

    def delete_type_policy(self, resource_type: ResourceType) -> bool:
        if self.repository is not None:
            self.repository.delete_type_policy(str(resource_type))
        return self.by_type.pop(resource_type, None) is not None

    def register_resource(self, resource: str, resource_type: ResourceType) -> None:
        """Remember that ``resource`` is of ``resource_type`` (Rust's ``resource`` rows)."""
        if self.resources.get(resource) is resource_type:
            return
        self.resources[resource] = resource_type
        if self.repository is not None:
            self.repository.store_resource(resource, str(resource_type))

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
