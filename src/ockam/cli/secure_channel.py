"""``ockam secure-channel`` and ``ockam secure-channel-listener``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from .base import NODE_NAME, OckamGroup, node_name_option, open_state, terminal
from .output import fmt_info, fmt_list, fmt_log, fmt_ok
from .params import DURATION, MULTIADDR

if TYPE_CHECKING:
    from ..api.client import NodeClient
    from ..codec.multiaddr import MultiAddr

__all__ = ["secure_channel", "secure_channel_listener"]


def _client(ctx: click.Context, node: str | None) -> NodeClient:
    from ..api.client import NodeClient

    return NodeClient.for_node(open_state(ctx), node)


def _address_text(obj: Any) -> str:
    from ..codec.address import Address

    if isinstance(obj, str):
        return obj
    try:
        return Address.from_cbor(obj).text
    except Exception:
        return str(obj)


def _check_identifiers(values: tuple[str, ...]) -> list[str]:
    from ..errors import InvalidArgument
    from ..identity import Identifier

    out = []
    for v in values:
        try:
            out.append(str(Identifier.parse(v)))
        except Exception as e:
            raise InvalidArgument(f"Invalid identifier {v!r}: {e}") from None
    return out


def _authorized_cbor(values: list[str]) -> list[bytes] | None:
    from ..identity import Identifier

    return [Identifier.parse(v).value for v in values] or None


# -- secure-channel ----------------------------------------------------------------------


@click.group(cls=OckamGroup, name="secure-channel", help="Manage secure channels")
def secure_channel() -> None:
    pass


@secure_channel.command("create", help="Create a secure channel")
@click.option(
    "--from", "from_node", type=NODE_NAME, required=True, metavar="NODE", help="Node to create it on."
)
@click.option("--to", "to", type=MULTIADDR, required=True, metavar="ROUTE", help="Route to a listener.")
@click.option("-a", "--authorized", multiple=True, metavar="IDENTIFIER", help="Identifiers allowed as peer.")
@click.option("-c", "--credential", default=None, help="Credential to present (hex).")
@click.option("--identity", "identity_name", default=None, metavar="IDENTITY_NAME", help="Identity to use.")
@click.option("--timeout", type=DURATION, default=None, help="Time to wait for the handshake.")
@click.pass_context
def secure_channel_create(
    ctx: click.Context,
    from_node: str,
    to: MultiAddr,
    authorized: tuple[str, ...],
    credential: str | None,
    identity_name: str | None,
    timeout: float | None,
) -> None:
    from ..errors import InvalidArgument
    from .resolve import clean_nodes_multiaddr

    cred = None
    if credential is not None:
        from ..identity import CredentialAndPurposeKey

        try:
            raw = bytes.fromhex(credential.strip())
        except ValueError:
            raise InvalidArgument("Invalid credential hex") from None
        try:
            cred = CredentialAndPurposeKey.decode(raw)
        except Exception:
            raise InvalidArgument("Invalid credential") from None
    state = open_state(ctx)
    ids = _check_identifiers(authorized)
    route = clean_nodes_multiaddr(to, state)
    client = _client(ctx, from_node)
    body: dict[int, Any] = {1: route.to_bytes()}
    if ids:
        body[2] = _authorized_cbor(ids)
    if identity_name:
        body[5] = identity_name
    if timeout is not None:
        body[4] = [int(timeout), int((timeout % 1) * 1e9)]
    if cred is not None:
        body[6] = cred.to_cbor()
    reply = client.ask("POST", "/node/secure_channel", body, timeout=timeout)
    encryptor = _address_text(reply.get(1) if isinstance(reply, dict) else None)
    multiaddr = f"/service/{encryptor}"
    plain = (
        "\n"
        + fmt_ok("Created Secure Channel:")
        + "\n"
        + fmt_log(f"• From: /node/{client.node_name}")
        + "\n"
        + fmt_log(f"•   To: {to} ({route})")
        + "\n"
        + fmt_log(f"•   At: {multiaddr}")
        + "\n"
    )
    terminal(ctx).result(plain=plain, machine=multiaddr, json_value={"multiaddr": multiaddr})


@secure_channel.command("list", help="List secure channels")
@node_name_option()
@click.pass_context
def secure_channel_list(ctx: click.Context, node: str | None) -> None:
    client = _client(ctx, node)
    items = client.ask("GET", "/node/secure_channel")
    names = [f"/service/{str(i).split('#', 1)[-1]}" for i in items] if isinstance(items, list) else []
    plain = (
        "\n".join(fmt_list(n) for n in names)
        if names
        else fmt_info(f"No secure channels found on {client.node_name}")
    )
    terminal(ctx).result(plain=plain, machine="\n".join(names), json_value=names, has_json=True)


@secure_channel.command("show", help="Show a secure channel")
@click.argument("address")
@node_name_option()
@click.pass_context
def secure_channel_show(ctx: click.Context, address: str, node: str | None) -> None:
    from ..errors import NotFound

    client = _client(ctx, node)
    addr = address.rsplit("/", 1)[-1]
    body = client.ask("GET", "/node/show_secure_channel", {1: addr})
    if not isinstance(body, dict) or body.get(1) is None:
        raise NotFound(f"Secure channel {address} not found on {client.node_name}")
    value = {
        "address": body.get(1),
        "route": body.get(2),
        "authorized_identifiers": body.get(3) or [],
        "flow_control_id": (body.get(4) or {}).get(1) if isinstance(body.get(4), dict) else body.get(4),
    }
    plain = (
        fmt_ok("Secure Channel:")
        + "\n"
        + fmt_log(f"  Address: {value['address']}")
        + "\n"
        + fmt_log(f"  Route: {value['route']}")
        + "\n"
        + fmt_log(
            f"  Authorized identifiers: {', '.join(map(str, value['authorized_identifiers'] or [])) or 'all'}"
        )
        + "\n"
    )
    terminal(ctx).result(plain=plain, json_value=value)


@secure_channel.command("delete", help="Delete a secure channel")
@click.argument("address")
@node_name_option()
@click.option("-y", "--yes", is_flag=True, help="Confirm the deletion without prompting.")
@click.pass_context
def secure_channel_delete(ctx: click.Context, address: str, node: str | None, yes: bool) -> None:
    from ..errors import NotFound

    term = terminal(ctx)
    client = _client(ctx, node)
    addr = address.rsplit("/", 1)[-1]
    if not term.confirm(yes, "Are you sure you want to delete this secure channel?"):
        return
    body = client.ask("DELETE", "/node/secure_channel", {1: addr})
    if not isinstance(body, dict) or body.get(1) is None:
        raise NotFound(f"Secure channel {address} not found on {client.node_name}")
    term.result(
        plain=fmt_ok(f"Deleted secure channel with address {addr} on node {client.node_name}"),
        machine=addr,
        json_value={"address": addr},
    )


# -- secure-channel-listener ---------------------------------------------------------------


@click.group(cls=OckamGroup, name="secure-channel-listener", help="Manage secure channel listeners")
def secure_channel_listener() -> None:
    pass


def _listener_json(obj: Any) -> dict[str, Any]:
    if not isinstance(obj, dict):
        return {}
    fcid = obj.get(2)
    return {
        "address": _address_text(obj.get(1)),
        "flow_control_id": fcid.get(1) if isinstance(fcid, dict) else fcid,
    }


@secure_channel_listener.command("create", help="Create a secure channel listener")
@click.argument("address")
@node_name_option()
@click.option("-a", "--authorized", multiple=True, metavar="IDENTIFIER", help="Identifiers allowed as peer.")
@click.option("--identity", "identity_name", default=None, metavar="IDENTITY_NAME", help="Identity to use.")
@click.pass_context
def listener_create(
    ctx: click.Context, address: str, node: str | None, authorized: tuple[str, ...], identity_name: str | None
) -> None:
    from .resolve import initialize_default_node

    term = terminal(ctx)
    initialize_default_node(open_state(ctx), term)
    ids = _check_identifiers(authorized)
    client = _client(ctx, node)
    body: dict[int, Any] = {1: address}
    if ids:
        body[2] = _authorized_cbor(ids)
    if identity_name:
        body[3] = identity_name
    client.tell("POST", "/node/secure_channel_listener", body)
    term.result(
        plain=fmt_ok(f"Secure Channel Listener at /service/{address} created successfully")
        + "\n"
        + fmt_log(f"At node /node/{client.node_name}"),
        machine=f"/service/{address}",
        json_value={"address": f"/service/{address}", "node": client.node_name},
    )


@secure_channel_listener.command("list", help="List secure channel listeners")
@node_name_option()
@click.pass_context
def listener_list(ctx: click.Context, node: str | None) -> None:
    client = _client(ctx, node)
    items = client.ask("GET", "/node/secure_channel_listener")
    values = [_listener_json(i) for i in items] if isinstance(items, list) else []
    plain = (
        "\n\n".join(
            fmt_list(f"Address: /service/{v['address']}\n    Flow Control Id: {v['flow_control_id']}")
            for v in values
        )
        if values
        else fmt_info(f"No secure channel listeners found on {client.node_name}")
    )
    terminal(ctx).result(
        plain=plain,
        machine="\n".join(f"/service/{v['address']}" for v in values),
        json_value=values,
        has_json=True,
    )


@secure_channel_listener.command("show", help="Show a secure channel listener")
@click.argument("address")
@node_name_option()
@click.pass_context
def listener_show(ctx: click.Context, address: str, node: str | None) -> None:
    client = _client(ctx, node)
    value = _listener_json(client.ask("GET", "/node/show_secure_channel_listener", {1: address}))
    plain = (
        fmt_ok("Secure Channel Listener:")
        + "\n"
        + fmt_log(f"  Address: /service/{value['address']}")
        + "\n"
        + fmt_log(f"  Flow Control Id: {value['flow_control_id']}")
        + "\n"
    )
    terminal(ctx).result(plain=plain, machine=f"/service/{value['address']}", json_value=value)


@secure_channel_listener.command("delete", help="Delete a secure channel listener")
@click.argument("address")
@node_name_option()
@click.option("-y", "--yes", is_flag=True, help="Confirm the deletion without prompting.")
@click.pass_context
def listener_delete(ctx: click.Context, address: str, node: str | None, yes: bool) -> None:
    term = terminal(ctx)
    client = _client(ctx, node)
    if not term.confirm(yes, "Are you sure you want to delete this secure channel listener?"):
        return
    client.ask("DELETE", "/node/secure_channel_listener", {1: address})
    term.result(
        plain=fmt_ok(
            f"Deleted secure channel listener with address /service/{address} on node {client.node_name}"
        ),
        machine=f"/service/{address}",
        json_value={"address": f"/service/{address}"},
    )
