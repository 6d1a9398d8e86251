"""``ockam policy``: create, show, list and delete the policies of a node (cli.md §3.7,
abac.md §10).

Policies apply to the action ``handle_message`` of a resource (a name such as ``outlet``
or ``my-inlet``) or of a resource type (``tcp-inlet``, ``tcp-outlet``, ``echoer``,
``kafka-consumer``, ``kafka-producer``, ``relay``, ``lessor``).  A resource uses its
resource-name policy if it has one, else the policy of its type; a resource with
neither is closed.

Every node starts with the policy ``(= subject.has_credential true)`` for each resource
type that has none.  A Rust node rewrites these type policies at every start, so a
``policy create --resource-type`` does not survive a restart there; a Python node keeps
the policies the user set (a deleted type policy comes back as the default at the next
start, as in Rust).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from .base import OckamGroup, node_name_option, open_state, terminal
from .items import ItemKind, delete_items, show_items
from .output import fmt_info, fmt_list, fmt_ok, fmt_warn

if TYPE_CHECKING:
    from ..abac import PolicyExpression
    from ..api.client import NodeClient
    from ..api.policies import PolicyEntry, PolicyTarget

__all__ = ["policy"]

POLICY = ItemKind("policy", "policies", "No policy name provided")
ACTION = "handle_message"
DEFAULT_SHOWN = "tcp-outlet"


def _client(ctx: click.Context, node: str | None) -> NodeClient:
    from ..api.client import NodeClient

    return NodeClient.for_node(open_state(ctx), node)


def _parse_allow(_ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """``--allow`` (alias ``--expression``): boolean syntax first, then the full syntax."""
    from ..abac import parse_policy
    from ..errors import OckamError

    if value is None:
        return None
    try:
        return parse_policy(str(value))
    except OckamError as e:
        raise click.UsageError(f"invalid value '{value}' for '--allow <POLICY_EXPRESSION>': {e}") from None


def _parse_resource_type(_ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
    from ..abac.defaults import ResourceType

    if value is None:
        return None
    resource_type = ResourceType.parse(str(value))
    if resource_type is None:
        valid = ", ".join(t.value for t in ResourceType)
        raise click.UsageError(
            f"invalid value '{value}' for '--resource-type <RESOURCE_TYPE>': Valid values are: {valid}"
        )
    return resource_type


def _target(text: str | None) -> PolicyTarget | None:
    from ..api.policies import PolicyTarget

    return None if text is None else PolicyTarget.parse(text)


def _list(client: NodeClient, target: PolicyTarget | None) -> list[PolicyEntry]:
    from ..api.policies import policies_list_from_cbor, target_to_cbor

    body = None if target is None else target_to_cbor(target)
    return policies_list_from_cbor(client.ask("GET", "/policy", body))


def _kind(target: PolicyTarget) -> str:
    return "resource type" if target.is_type else "resource"


@click.group(cls=OckamGroup, name="policy", help="Manage the policies of a node")
def policy() -> None:
    pass


@policy.command("create", help="Create or replace the policy of a resource or of a resource type")
@node_name_option("--at", help="Node on which to create the policy (the default node if omitted).")
@click.option(
    "--resource-type",
    default=None,
    metavar="RESOURCE_TYPE",
    callback=_parse_resource_type,
    help="Resource type: tcp-inlet, tcp-outlet, echoer, kafka-consumer, kafka-producer, relay, lessor.",
)
@click.option("--resource", default=None, metavar="RESOURCE", help="Name of a resource (e.g. an outlet).")
@click.option(
    "--allow",
    "--expression",
    "allow",
    required=True,
    metavar="POLICY_EXPRESSION",
    callback=_parse_allow,
    help="Who is allowed: a boolean expression (`web and not guest`) or a full expression "
    '(`(= subject.component "web")`).',
)
@click.pass_context
def policy_create(
    ctx: click.Context,
    node: str | None,
    resource_type: Any,
    resource: str | None,
    allow: PolicyExpression,
) -> None:
    from ..abac.defaults import ResourceType
    from ..api.policies import PolicyTarget, target_to_cbor
    from ..errors import InvalidArgument
    from .resolve import initialize_default_node

    if resource_type is not None and resource is not None:
        raise click.UsageError(
            "the argument '--resource-type <RESOURCE_TYPE>' cannot be used with '--resource'"
        )
    term = terminal(ctx)
    initialize_default_node(open_state(ctx), term)
    if resource is not None:
        as_type = ResourceType.parse(resource)
        if as_type is not None:  # backwards compatibility
            term.status(
                fmt_warn(f"--resource {as_type} is deprecated. Please use --resource-type {as_type} instead")
            )
            resource_type, resource = as_type, None
    if resource_type is not None:
        target = PolicyTarget(resource_type=resource_type)
    elif resource is not None:
        target = PolicyTarget(resource_name=resource)
    else:
        raise InvalidArgument("Resource or resource type must be provided")
    client = _client(ctx, node)
    client.tell("POST", f"/policy/{ACTION}", {1: target_to_cbor(target), 2: allow.to_cbor()})
    term.result(plain=fmt_ok(f"Policy created at node {client.node_name}"))


@policy.command("show", help="Show the policy of a resource or of a resource type")
@click.argument("resource", required=False, metavar="RESOURCE")
@node_name_option("--at")
@click.pass_context
def policy_show(ctx: click.Context, resource: str | None, node: str | None) -> None:
    from ..api.policies import policy_entry_from_cbor, target_to_cbor

    term = terminal(ctx)
    client = _client(ctx, node)
    names = [str(e.target) for e in _list(client, _target(resource))]

    def show_one(name: str) -> None:
        target = _target(name)
        assert target is not None
        entry = policy_entry_from_cbor(client.ask("GET", f"/policy/{ACTION}", target_to_cbor(target)))
        plain = fmt_ok(f"Policy for {_kind(target)} {entry.target} is {entry.expression}")
        term.result(plain=plain, json_value=entry.to_json())

    if resource is None and not term.can_ask_for_user_input():
        resource = DEFAULT_SHOWN
    show_items(term, POLICY, names, resource, show_one)


@policy.command("list", help="List the policies of a node (or those of one resource or type)")
@click.argument("resource", required=False, metavar="RESOURCE")
@node_name_option("--at")
@click.pass_context
def policy_list(ctx: click.Context, resource: str | None, node: str | None) -> None:
    term = terminal(ctx)
    client = _client(ctx, node)
    entries = _list(client, _target(resource))
    if not entries:
        term.result(plain=fmt_info(f"No policies on Node {client.node_name}"))
        return
    by_type = [e for e in entries if e.target.is_type]
    by_name = [e for e in entries if not e.target.is_type]
    blocks = [f"Resource type: {e.target}\nExpression: {e.expression}" for e in by_type]
    blocks += [f"Resource name: {e.target}\nExpression: {e.expression}" for e in by_name]
    plain = "\n\n".join("\n".join(fmt_list(line) for line in b.splitlines()) for b in blocks) + "\n"
    term.result(plain=plain, json_value=[e.to_json() for e in entries])


@policy.command("delete", help="Delete the policy of a resource or of a resource type")
@click.argument("resource", required=False, metavar="RESOURCE")
@node_name_option("--at")
@click.option("-y", "--yes", is_flag=True, help="Confirm the deletion without prompting.")
@click.pass_context
def policy_delete(ctx: click.Context, resource: str | None, node: str | None, yes: bool) -> None:
    from ..api.policies import target_to_cbor

    term = terminal(ctx)
    client = _client(ctx, node)
    names = [str(e.target) for e in _list(client, _target(resource))]

    def delete_one(name: str) -> None:
        target = _target(name)
        assert target is not None
        client.tell("DELETE", f"/policy/{ACTION}", target_to_cbor(target))
        term.result(plain=fmt_ok(f"Policy for {_kind(target)} {target} has been deleted"))

    delete_items(term, POLICY, names, resource, yes, delete_one)
