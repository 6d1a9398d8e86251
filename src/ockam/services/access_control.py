"""Attribute-based access control of workers (abac.md §6, §8; portals.md §7; relays.md §6).

A :class:`PolicyAccessControl` decides, for one resource, whether a peer identity may
use it: it builds the subject environment (``subject.identifier``; with an authority
``subject.has_credential`` and ``subject.<attribute>`` from the peer's credential, read
from the node's :class:`~ockam.identity.AttributesStore`) and evaluates the policy.  The
policy is looked up at every check (a fixed expression, or a
:class:`~ockam.abac.defaults.Policies` lookup by resource name then type), so policy
changes apply to running workers.

Denials are logged with the policy, the resource, the refused identity and why (which
attribute was missing or had which value, no credential, no secure channel...), and are
returned as a :class:`Decision` for the caller to act on (Rust drops a denied message
silently).

Use:

* incoming messages: :meth:`PolicyAccessControl.check_message` (the peer is the secure
  channel identifier in ``local_info``), or wrap a worker in :class:`AccessControlledWorker`;
* outgoing messages: :meth:`PolicyAccessControl.check_route` with the node's
  :class:`~ockam.services.secure_channel.SecureChannels` (the peer is the first secure
  channel on the onward route);
* the defaults: :func:`resource_access_control` (abac.md §8: open without authority and
  expression, else the resource's policy), :func:`relay_access_control` +
  :func:`check_relay_name` for relay services;
* a node's setup: :class:`NodeAccess` (its policies, its authority and the attributes its
  secure channels learnt) builds the access control of each resource it creates.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..abac import (
    HANDLE_MESSAGE,
    SUBJECT_HAS_CREDENTIAL,
    SUBJECT_IDENTIFIER,
    Bool,
    Expr,
    Ident,
    List,
    PolicyExpression,
    Seq,
    display,
    evaluate,
    resource_env,
    subject_env,
)
from ..abac.defaults import Policies, ResourceType, relay_name_allowed, to_expr
from ..codec.route import Route
from ..errors import OckamError, PolicyError
from ..identity import AttributesEntry, AttributesStore, Identifier
from ..node.message import LocalMessage
from ..node.runtime import Context, Worker
from .secure_channel import ChannelIdentity, SecureChannels

__all__ = [
    "AccessControl",
    "AccessControlledWorker",
    "AllowAll",
    "Decision",
    "NodeAccess",
    "PolicyAccessControl",
    "check_relay_name",
    "message_identifier",
    "relay_access_control",
    "resource_access_control",
    "route_identifier",
]

log = logging.getLogger("ockam.abac")

PolicySource = Callable[[], "tuple[Expr, str] | None"]


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.allowed


class AccessControl:
    """Interface: decide for an identifier (None: the message was not authenticated)."""

    def decide(self, identifier: Identifier | None) -> Decision:
        raise NotImplementedError

    def check_message(self, msg: LocalMessage) -> Decision:
        """Incoming check: the peer is the secure-channel identifier of the message."""
        return self.decide(_local_identifier(msg))

    def check_route(self, channels: SecureChannels, route: Route) -> Decision:
        """Outgoing check: the peer is the first secure channel on ``route``."""
        return self.decide(route_identifier(channels, route))


class AllowAll(AccessControl):
    """No authority and no policy: everything is allowed."""

    def decide(self, identifier: Identifier | None) -> Decision:
        return Decision(True)


def message_identifier(msg: LocalMessage) -> Identifier | None:
    """The identifier of the secure channel a message arrived through (None: it did not)."""
    return _local_identifier(msg)


def _local_identifier(msg: LocalMessage) -> Identifier | None:
    value = msg.local_info.get("identifier")
    if value is None:
        return None
    try:
        return Identifier.coerce(value)
    except OckamError:
        return None


def route_identifier(channels: SecureChannels, route: Route) -> Identifier | None:
    """The peer identifier of the first established secure channel (encryptor) on ``route``."""
    for address in route.addresses:
        channel = channels.channels.get(address)
        if channel is not None:
            return channel.their_identifier
    return None


def _subject_names(expr: Expr) -> list[str]:
    """``subject.*`` names referenced by ``expr``, in order, without duplicates."""
    names: list[str] = []
    todo: list[Expr] = [expr]
    while todo:
        e = todo.pop()
        if isinstance(e, Ident):
            if e.name.startswith("subject.") and e.name not in names:
                names.append(e.name)
        elif isinstance(e, (List, Seq)):
            todo.extend(reversed(e.items))
    return names


class PolicyAccessControl(AccessControl):
    """The policy of one resource, evaluated against the peer's attributes.

    ``policy`` is a fixed expression (or policy text / parsed policy), or a function
    returning the current ``(expression, description)`` (None: no policy, denied).
    ``authority`` is the issuer whose credentials count; without one
    ``subject.has_credential`` is unbound (so the default policy fails).
    """

    def __init__(
        self,
        policy: Expr | PolicyExpression | str | PolicySource,
        attributes: AttributesStore,
        authority: Identifier | None,
        *,
        resource: str = "",
        resource_type: ResourceType | None = None,
        action: str = HANDLE_MESSAGE,
        clock: Callable[[], float] = time.time,
        logger: logging.Logger = log,
    ) -> None:
        if callable(policy):
            self._source: PolicySource = policy
        else:
            expr = to_expr(policy)
            self._source = lambda: (expr, "the policy")
        self.attributes = attributes
        self.authority = authority
        self.resource = resource
        self.resource_type = resource_type
        self.action = action
        self.clock = clock
        self.log = logger

    @property
    def what(self) -> str:
        if self.resource and self.resource_type is not None:
            return f"{self.resource_type} '{self.resource}'"
        if self.resource:
            return f"'{self.resource}'"
        return str(self.resource_type) if self.resource_type is not None else "the resource"

    def attributes_of(self, identifier: Identifier) -> AttributesEntry | None:
        if self.authority is None:
            return None
        return self.attributes.get(identifier, self.authority, now=int(self.clock()))

    def environment(self, identifier: Identifier) -> dict[str, Expr]:
        entry = self.attributes_of(identifier)
        return subject_env(
            str(identifier),
            None if entry is None else entry.attributes,
            has_authority=self.authority is not None,
            base=resource_env(self.resource, self.action),
        )

    def decide(self, identifier: Identifier | None) -> Decision:
        found = self._source()
        if identifier is None:
            return self._deny(
                found, "someone", "the message did not arrive through a secure channel (no identity)"
            )
        if found is None:
            return self._deny(None, str(identifier), f"there is no policy for {self.what}")
        expr, _ = found
        env = self.environment(identifier)
        try:
            result = evaluate(expr, env)
        except PolicyError as e:
            return self._deny(found, str(identifier), self._explain(expr, env, identifier, str(e)))
        if isinstance(result, Bool) and result.value:
            return Decision(True)
        if not isinstance(result, Bool):
            return self._deny(
                found, str(identifier), f"the policy evaluated to {display(result)}, not a boolean"
            )
        return self._deny(found, str(identifier), self._explain(expr, env, identifier, None))

    def _explain(self, expr: Expr, env: dict[str, Expr], identifier: Identifier, error: str | None) -> str:
        names = _subject_names(expr)
        if self.authority is None and SUBJECT_HAS_CREDENTIAL in names:
            return "no authority is configured on this node, so no credential can count"
        from_credentials = [n for n in names if n not in (SUBJECT_HAS_CREDENTIAL, SUBJECT_IDENTIFIER)]
        if self.authority is None and from_credentials and all(n not in env for n in from_credentials):
            wanted = ", ".join(from_credentials)
            return f"no authority is configured on this node, so it knows no credential attributes ({wanted})"
        if self.authority is not None and env.get(SUBJECT_HAS_CREDENTIAL) == Bool(False):
            return f"{identifier} has no valid credential from the authority {self.authority}"
        reasons: list[str] = []
        missing: list[str] = []
        for name in names:
            if name == SUBJECT_HAS_CREDENTIAL:
                continue
            value = env.get(name)
            if value is None:
                missing.append(name)
                reasons.append(f"attribute '{name.removeprefix('subject.')}' is missing from its credential")
            else:
                reasons.append(f"{name} is {display(value)}")
        if error is not None and not any(f"'{name}'" in error for name in missing):
            reasons.append(f"evaluation error: {error}")
        return "; ".join(reasons) if reasons else "the policy evaluated to false"

    def _deny(self, found: tuple[Expr, str] | None, who: str, why: str) -> Decision:
        if found is None:
            policy = "no policy"
        else:
            expr, source = found
            policy = f"{source} {display(expr)}"
        message = f"access to {self.what} denied to {who} by {policy}: {why}"
        self.log.warning("%s", message)
        return Decision(False, message)


class AccessControlledWorker(Worker):
    """Delivers to ``inner`` only the messages its access control allows (others are
    dropped, as a Rust mailbox does)."""

    def __init__(self, inner: Worker, access_control: AccessControl) -> None:
        self.inner = inner
        self.access_control = access_control

    async def initialize(self, ctx: Context) -> None:
        self.inner.ctx = ctx
        await self.inner.initialize(ctx)

    async def handle_message(self, ctx: Context, msg: LocalMessage) -> None:
        if self.access_control.check_message(msg):
            await self.inner.handle_message(ctx, msg)

    async def shutdown(self, ctx: Context) -> None:
        await self.inner.shutdown(ctx)


def resource_access_control(
    attributes: AttributesStore,
    authority: Identifier | None,
    resource: str,
    resource_type: ResourceType,
    *,
    policies: Policies | None = None,
    expression: Expr | PolicyExpression | str | None = None,
    clock: Callable[[], float] = time.time,
) -> AccessControl:
    """abac.md §8 for an inlet, outlet, echoer, relay service...: allow all when there is
    neither an authority nor an expression; otherwise evaluate, at every check, the
    resource-name policy, else the resource-type policy of ``policies`` (defaults:
    ``(= subject.has_credential true)`` per type).  A given ``expression`` is stored as
    the resource-name policy first."""
    if authority is None and expression is None:
        return AllowAll()
    table = policies if policies is not None else Policies.with_defaults()
    if expression is not None:
        table.set_resource_policy(resource, expression)
    table.register_resource(resource, resource_type)
    return PolicyAccessControl(
        lambda: table.lookup(resource, resource_type),
        attributes,
        authority,
        resource=resource,
        resource_type=resource_type,
        clock=clock,
    )


def relay_access_control(
    attributes: AttributesStore,
    authority: Identifier | None,
    *,
    resource: str = "forwarding_service",
    policies: Policies | None = None,
    clock: Callable[[], float] = time.time,
) -> AccessControl:
    """The incoming control of a relay service (relays.md §6.1): allow all without a
    project authority, else the ``relay`` policy (default: any credential holder)."""
    if authority is None:
        return AllowAll()
    return resource_access_control(
        attributes, authority, resource, ResourceType.RELAY, policies=policies, clock=clock
    )


def check_relay_name(
    attributes: AttributesStore,
    authority: Identifier | None,
    identifier: Identifier | None,
    name: str,
    *,
    now: int,
    logger: logging.Logger = log,
) -> Decision:
    """relays.md §6.2: with an authority, the requester's ``ockam-relay`` attribute must be
    ``*`` or equal ``name`` (the relay name without ``forward_to_``).  Without an authority
    the check is off."""
    if authority is None:
        return Decision(True)
    if identifier is None:
        message = f"relay '{name}' refused: the request did not arrive through a secure channel"
        logger.warning("%s", message)
        return Decision(False, message)
    entry = attributes.get(identifier, authority, now=now)
    allowed, why = relay_name_allowed(None if entry is None else entry.attributes, name)
    if allowed:
        return Decision(True)
    message = f"relay '{name}' refused to {identifier}: {why}"
    logger.warning("%s", message)
    return Decision(False, message)


class NodeAccess:
    """The access control set-up of one node: its policies (per resource name and type),
    the authority whose credentials count (the one its secure channels trust) and the
    attributes those channels learnt.  ``identities`` loads the other identities the node
    may act as (``--identity NAME`` or an identifier), for secure channels."""

    def __init__(
        self,
        channels: SecureChannels,
        policies: Policies,
        *,
        identities: Callable[[str], ChannelIdentity] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.channels = channels
        self.policies = policies
        self.identities = identities
        self.clock = clock

    @property
    def authority(self) -> Identifier | None:
        return self.channels.authority

    @property
    def attributes(self) -> AttributesStore:
        return self.channels.attributes

    def for_resource(
        self,
        resource: str,
        resource_type: ResourceType,
        expression: Expr | PolicyExpression | str | None = None,
    ) -> AccessControl:
        """The access control of a resource this node creates (abac.md §8): allow all
        without an authority and without ``expression``; otherwise the resource's policy
        (``expression`` is stored as the resource-name policy first)."""
        return resource_access_control(
            self.attributes,
            self.authority,
            resource,
            resource_type,
            policies=self.policies,
            expression=expression,
            clock=self.clock,
        )

    def relay_service(self, resource: str = "forwarding_service") -> AccessControl:
        """Who may register relays at the node's relay service (relays.md §6.1)."""
        return relay_access_control(
            self.attributes, self.authority, resource=resource, policies=self.policies, clock=self.clock
        )

    def check_relay_name(self, identifier: Identifier | None, name: str) -> Decision:
        """relays.md §6.2: may ``identifier`` register the relay ``name``?"""
        return check_relay_name(self.attributes, self.authority, identifier, name, now=int(self.clock()))
