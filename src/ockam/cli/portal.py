"""``ockam tcp-outlet`` and ``ockam tcp-inlet``: create, list, show, delete (cli.md §3.4,
portals.md §9)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from .base import OckamGroup, extract_address_value, node_name_option, open_state, terminal
from .items import ItemKind, delete_items, show_items
from .output import fmt_info, fmt_list, fmt_log, fmt_ok, fmt_warn
from .params import DURATION, HOSTNAME_PORT

if TYPE_CHECKING:
    from ..api.client import NodeClient
    from ..protocol.api_models import HostnamePort
    from ..state import State

__all__ = ["default_project_name", "parse_inlet_to", "tcp_inlet", "tcp_outlet"]

OUTLET = ItemKind("tcp outlet", "tcp outlets", "No TCP Outlet alias provided")
INLET = ItemKind("tcp inlet", "tcp inlets", "No TCP Inlet alias provided")

DEFAULT_INLET_TO = (
    "/project/<default_project_name>/service/forward_to_<default_relay_name>"
    "/secure/api/service/<default_service_name>"
)
# How long `tcp-inlet create --to NAME` waits for an echo through relay `forward_to_NAME`.
RELAY_PROBE_TIMEOUT = 5.0
# Retries of an inlet creation that the node answers with a non-OK status other than 400
# (the Rust CLI retries forever; a bound keeps a broken node from hanging scripts).
MAX_INLET_ATTEMPTS = 10


def _client(ctx: click.Context, node: str | None, timeout: float | None = None) -> NodeClient:
    from ..api.client import NodeClient

    return NodeClient.for_node(open_state(ctx), node, timeout)


def _alias(_ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
    if value is not None and ":" in str(value):
        raise click.BadParameter("an alias must not contain ':' characters")
    return value


def _address_value(_ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
    from ..errors import OckamError

    if value is None:
        return None
    try:
        return extract_address_value(str(value))
    except OckamError as e:
        raise click.BadParameter(str(e)) from None


def _policy_cbor(text: str | None) -> Any:
    if text is None:
        return None
    from ..abac.policy import parse_policy

    return parse_policy(text).to_cbor()


def _check_policy(_ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
    from ..errors import OckamError

    if value is not None:
        try:
            _policy_cbor(str(value))
        except OckamError as e:
            raise click.BadParameter(str(e)) from None
    return value


def _identifier_bytes(text: str) -> bytes:
    from ..errors import InvalidArgument, OckamError
    from ..identity import Identifier

    try:
        return Identifier.parse(text).value
    except OckamError as e:
        raise InvalidArgument(f"Invalid identity identifier: {text} ({e})") from None


def _worker_route(worker: Any) -> str:
    """``OutletStatus.worker_addr`` as a multiaddr (``/service/<address>``)."""
    from ..codec.address import Address
    from ..errors import ProtocolError

    try:
        address = Address.from_cbor(worker)
    except Exception:
        raise ProtocolError("Invalid Worker Address") from None
    if not address.is_local:
        raise ProtocolError("Invalid Worker Address")
    return f"/service/{address.text}"


def _worker_name(worker: Any) -> str:
    from ..codec.address import Address

    try:
        return Address.from_cbor(worker).text
    except Exception:
        return str(worker)


def _outlet_to(status: Any) -> str:
    to = status.get(1) if isinstance(status, dict) else None
    if isinstance(to, list) and len(to) >= 2:
        return f"{to[0]}:{to[1]}"
    return str(to)


def _list_plain(lines: list[str], empty: str) -> str:
    """Items as a ``│``-prefixed list separated by blank lines (Rust ``build_list``)."""
    if not lines:
        return fmt_info(empty)
    blocks = ["\n".join(fmt_list(line) for line in item.splitlines()) for item in lines]
    return "\n\n".join(blocks) + "\n"


def default_project_name(state: State) -> str | None:
    """The default project's name, if the user enrolled (``project`` table)."""
    db = state.db
    if not db.table_exists("project"):
        return None
    row = db.query_one("SELECT project_name FROM project WHERE is_default = 1")
    return None if row is None else str(row[0])


# -- tcp-outlet ------------------------------------------------------------------------


@click.group(cls=OckamGroup, name="tcp-outlet", help="Manage TCP Outlets")
def tcp_outlet() -> None:
    pass


@tcp_outlet.command("create", help="Create a TCP Outlet that runs adjacent to a TCP server")
@click.option(
    "--to",
    "to",
    type=HOSTNAME_PORT,
    required=True,
    metavar="HOSTNAME_PORT",
    help="TCP address of the server the outlet sends traffic to (port, host:port).",
)
@click.option("--tls", is_flag=True, help="Connect to the server with TLS.")
@click.option(
    "--from",
    "from_",
    default=None,
    metavar="OUTLET_ADDRESS",
    callback=_address_value,
    help="Address of the outlet worker (`outlet` by default, e.g. /service/my-outlet).",
)
@node_name_option(help="Node on which to create the outlet (the default node if omitted).")
@click.option(
    "--allow",
    "--expression",
    "allow",
    default=None,
    metavar="POLICY_EXPRESSION",
    callback=_check_policy,
    hidden=True,
    help="Policy expression for access control to the outlet.",
)
@click.option("--ebpf", is_flag=True, envvar="OCKAM_EBPF", hidden=True)
@click.pass_context
def outlet_create(
    ctx: click.Context,
    to: HostnamePort,
    tls: bool,
    from_: str | None,
    node: str | None,
    allow: str | None,
    ebpf: bool,
) -> None:
    from ..api.views import outlet_status_json
    from ..codec.address import Address
    from ..protocol.api_models import CreateOutlet
    from .resolve import initialize_default_node

    term = terminal(ctx)
    initialize_default_node(open_state(ctx), term)
    client = _client(ctx, node)
    request = CreateOutlet(
        hostname_port=to,
        tls=tls,
        worker_addr=None if from_ is None else Address.parse(from_),
        reachable_from_default_secure_channel=True,
        policy_expression=_policy_cbor(allow),
        ebpf=ebpf,
    )
    status = client.ask("POST", "/node/outlet", request.to_cbor())
    route = _worker_route(status.get(2) if isinstance(status, dict) else None)
    plain = fmt_ok(f"Created a new TCP Outlet in the Node {client.node_name} at {route} bound to {to}\n\n")
    term.result(plain=plain, machine=route, json_value=outlet_status_json(status))


@tcp_outlet.command("list", help="List the TCP Outlets of a node")
@node_name_option()
@click.pass_context
def outlet_list(ctx: click.Context, node: str | None) -> None:
    client = _client(ctx, node)
    items = client.ask("GET", "/node/outlet")
    items = items if isinstance(items, list) else []
    lines = [f"Outlet at {_worker_route(o.get(2))} is connected to {_outlet_to(o)}" for o in items]
    plain = _list_plain(lines, f"No TCP Outlets found on node {client.node_name}")
    value = [{"from": _worker_route(o.get(2)), "to": _outlet_to(o)} for o in items]
    terminal(ctx).result(plain=plain, json_value=value, has_json=True)


def _outlet_names(client: NodeClient) -> list[str]:
    items = client.ask("GET", "/node/outlet")
    return [_worker_name(o.get(2)) for o in items if isinstance(o, dict)] if isinstance(items, list) else []


@tcp_outlet.command("show", help="Show a TCP Outlet")
@click.argument("alias", required=False, callback=_alias, metavar="ALIAS")
@node_name_option()
@click.pass_context
def outlet_show(ctx: click.Context, alias: str | None, node: str | None) -> None:
    term = terminal(ctx)
    client = _client(ctx, node)

    def show_one(name: str) -> None:
        status = client.ask("GET", f"/node/outlet/{name}")
        info = {
            "node_name": client.node_name,
            "worker_address": _worker_route(status.get(2)),
            "to": _outlet_to(status),
        }
        plain = (
            "Outlet\n"
            f"  On Node: {info['node_name']}\n"
            f"  From address: {info['worker_address']}\n"
            f"  To TCP server: {info['to']}"
        )
        term.result(plain=plain, json_value=info)

    show_items(term, OUTLET, _outlet_names(client), alias, show_one, client.node_name)


@tcp_outlet.command("delete", help="Delete a TCP Outlet")
@click.argument("alias", required=False, callback=_alias, metavar="ALIAS")
@node_name_option()
@click.option("-y", "--yes", is_flag=True, help="Confirm the deletion without prompting.")
@click.option("--all", "all_", is_flag=True, help="Delete all the TCP Outlets.")
@click.pass_context
def outlet_delete(ctx: click.Context, alias: str | None, node: str | None, yes: bool, all_: bool) -> None:
    term = terminal(ctx)
    client = _client(ctx, node)

    def delete_one(name: str) -> None:
        client.tell("DELETE", f"/node/outlet/{name}")
        term.result(
            plain=fmt_ok(f"TCP Outlet with alias {name} on node {client.node_name} has been deleted"),
            machine=name,
            json_value={"alias": name, "node": client.node_name},
        )

    delete_items(term, OUTLET, _outlet_names(client), alias, yes, delete_one, all_)


# -- tcp-inlet -------------------------------------------------------------------------


@click.group(cls=OckamGroup, name="tcp-inlet", help="Manage TCP Inlets")
def tcp_inlet() -> None:
    pass


def _default_from(_ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
    """``--from``: 127.0.0.1 and a free port when omitted."""
    if value is not None:
        return value
    import socket

    from ..protocol.api_models import HostnamePort

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return HostnamePort("127.0.0.1", int(s.getsockname()[1]))


def _port_is_free_guard(listen: HostnamePort) -> None:
    """Resolve the listen address and fail if its port cannot be bound."""
    import socket

    from ..errors import InvalidArgument, TransportError

    host = listen.hostname
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        infos = socket.getaddrinfo(host, listen.port, type=socket.SOCK_STREAM)
    except OSError as e:
        raise InvalidArgument(f"cannot resolve the address {listen}: {e.strerror or e}") from None
    if not infos:
        raise InvalidArgument(f"cannot resolve the address {listen}")
    family, _type, _proto, _name, sockaddr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        # as the listener itself will (and Rust's): connections of an earlier listener
        # still in TIME_WAIT do not make the port busy
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(sockaddr)
        except OSError:
            raise TransportError(f"Another process is already listening on port {listen.port}!") from None


def parse_inlet_to(
    state: State,
    to: str,
    via: str | None,
    relays: Callable[[str, list[str]], set[str]] | None = None,
    *,
    require_relay: bool = False,
) -> str:
    """The ``--to`` multiaddr of ``tcp-inlet create``: a route, or an outlet service name
    inside the default project route through relay ``--via`` (``default``); ``/node/<n>``
    replaced by the node's TCP address.

    A plain name N without ``--via`` is, as in Rust, the outlet N behind relay ``default``,
    unless ``relays(project, [N, "default"])`` (the names of those that exist) says that
    the project has a relay ``forward_to_N``: then it is the outlet ``outlet`` behind that
    relay (the documentation's ``tcp-inlet create --to postgres`` after ``relay create
    postgres``).  With ``require_relay``, neither relay existing is an error that says so."""
    from ..codec.multiaddr import MultiAddr
    from ..errors import InvalidArgument, NotFound, OckamError
    from .resolve import clean_nodes_multiaddr

    is_default = to == DEFAULT_INLET_TO
    service = "outlet"
    relay = via if via is not None else "default"
    parse_error: OckamError | None = None
    try:
        maddr = MultiAddr.parse(to)
    except OckamError as e:
        parse_error = e
        service, to = to, DEFAULT_INLET_TO
    else:
        if maddr and maddr[0].protocol == "service" and len(maddr) == 1:
            service = maddr[0].value
        elif maddr and not is_default and via is not None:
            raise InvalidArgument("invalid value for '--to': '--via' can't be passed if '--to' is a route")
    if "<default_project_name>" in to:
        project = default_project_name(state)
        if project is None:
            if parse_error is not None and "/" in service:
                raise InvalidArgument(f"Invalid route for '--to': {parse_error}")
            raise InvalidArgument("invalid value for '--to': No projects found")
        to = to.replace("<default_project_name>", project)
        if parse_error is not None and via is None and relays is not None and service and "/" not in service:
            found = relays(project, [service, relay])
            if service in found:
                relay, service = service, "outlet"
            elif relay not in found and require_relay:
                raise NotFound(
                    f"There is no relay forward_to_{service} in the project {project} (for the outlet"
                    f" behind `relay create {service}`), and no relay forward_to_{relay} (for an outlet"
                    f" {service} behind it): create one of them, or use --no-connection-wait to wait"
                )
    to = to.replace("<default_relay_name>", relay).replace("<default_service_name>", service)
    try:
        maddr = MultiAddr.parse(to)
    except OckamError as e:
        raise InvalidArgument(f"Invalid route for '--to': {e}") from None
    return str(clean_nodes_multiaddr(maddr, state))


def _relay_probe(client: NodeClient, timeout: float) -> Callable[[str, list[str]], set[str]]:
    """Which of the relays ``forward_to_<name>`` of project ``<project>`` exist: the node
    sends an echo through each (at once), over an end-to-end secure channel
    (``/secure/api/service/echo``: the echoer and the relay are for project members), and
    a reply comes within ``timeout``."""

    def exists(project: str, name: str) -> bool:
        from ..errors import OckamError
        from ..protocol.api_models import SendMessage, bytes_from_list

        route = f"/project/{project}/service/forward_to_{name}/secure/api/service/echo"
        probe = SendMessage(route, b"ockam-relay-probe")
        try:
            reply = client.ask("POST", "v0/message", probe.to_cbor(), timeout=timeout + 1.0)
            return bytes_from_list(reply) == b"ockam-relay-probe"
        except OckamError:
            return False

    def existing(project: str, names: list[str]) -> set[str]:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(len(names)) as pool:
            answers = list(pool.map(lambda n: exists(project, n), names))
        return {n for n, yes in zip(names, answers, strict=True) if yes}

    return existing


def _inlet_plain_line(s: dict[str, Any]) -> str:
    from ..codec.route import Route

    lines = [f"Inlet {s['alias']} at {s['bind_addr']} is {str(s['status']).upper()}"]
    route_text = s.get("outlet_route")
    if isinstance(route_text, str):
        try:
            from ..codec.multiaddr import MultiAddr

            route = Route.parse(route_text)
            lines.append(f"  With route to outlet {MultiAddr.from_route(route)}")
        except Exception:
            pass
    lines.append(f"  Outlet Address: {s['outlet_addr']}")
    return "\n".join(lines)


@tcp_inlet.command("create", help="Create a TCP Inlet")
@node_name_option(help="Node on which to start the inlet (the default node if omitted).")
@click.option(
    "--from",
    "from_",
    type=HOSTNAME_PORT,
    default=None,
    callback=_default_from,
    metavar="SOCKET_ADDRESS",
    help="Address on which to accept TCP connections (127.0.0.1 and a free port by default).",
)
@click.option(
    "--to",
    "to",
    default=DEFAULT_INLET_TO,
    metavar="ROUTE",
    help=(
        "Route to a TCP Outlet, or a name N. Without --via, N is the relay N when the default"
        " project has a relay forward_to_N that answers an echo (the outlet 'outlet' behind it,"
        " as after 'relay create N'); otherwise, as in Rust, the outlet service N behind the"
        " relay 'default'."
    ),
)
@click.option("--via", default=None, metavar="RELAY_NAME", help="Relay used with an outlet service name.")
@click.option("--identity", default=None, metavar="IDENTITY_NAME", help="Identity for the secure channel.")
@click.option(
    "--authorized", default=None, metavar="AUTHORIZED", help="Identifier trusted as the outlet side."
)
@click.option("--alias", default=None, callback=_alias, metavar="ALIAS", help="Name of the inlet.")
@click.option(
    "--allow",
    "--expression",
    "allow",
    default=None,
    metavar="POLICY_EXPRESSION",
    callback=_check_policy,
    hidden=True,
    help="Policy expression for access control to the inlet.",
)
@click.option(
    "--connection-wait", type=DURATION, default="5s", metavar="WAIT", help="Time to wait for the outlet."
)
@click.option("--retry-wait", type=DURATION, default="20s", metavar="RETRY", help="Delay before retrying.")
@click.option("--timeout", type=DURATION, default="10s", metavar="TIMEOUT", help="Time to wait for the node.")
@click.option("--no-connection-wait", is_flag=True, help="Do not wait for the outlet to be reachable.")
@click.option("--udp", "--enable-udp-puncture", "udp", is_flag=True, hidden=True)
@click.option("--no-tcp-fallback", "--disable-tcp-fallback", "no_tcp_fallback", is_flag=True, hidden=True)
@click.option("--ebpf", is_flag=True, envvar="OCKAM_EBPF", hidden=True)
@click.option("--tls", is_flag=True, hidden=True)
@click.option("--tls-certificate-provider", default=None, metavar="ROUTE", hidden=True)
@click.pass_context
def inlet_create(
    ctx: click.Context,
    /,
    node: str | None,
    from_: HostnamePort,
    to: str,
    via: str | None,
    identity: str | None,
    authorized: str | None,
    alias: str | None,
    allow: str | None,
    connection_wait: float,
    retry_wait: float,
    timeout: float,
    no_connection_wait: bool,
    udp: bool,
    no_tcp_fallback: bool,
    ebpf: bool,
    tls: bool,
    tls_certificate_provider: str | None,
) -> None:
    from ..api.views import inlet_status_json
    from ..codec.multiaddr import MultiAddr
    from ..errors import ApiError, InvalidArgument, OckamError
    from ..protocol.api_models import CreateInlet
    from ..state.identities import Identities
    from .node_runtime import random_name
    from .resolve import initialize_default_node

    term = terminal(ctx)
    state = open_state(ctx)
    authorized_id = None if authorized is None else _identifier_bytes(authorized)
    initialize_default_node(state, term)

    _port_is_free_guard(from_)
    client = _client(ctx, node, timeout)
    outlet_addr = parse_inlet_to(
        state,
        to,
        via,
        _relay_probe(client, min(timeout, RELAY_PROBE_TIMEOUT)),
        require_relay=not no_connection_wait,
    )
    maddr = MultiAddr.parse(outlet_addr)
    if maddr and maddr[0].protocol == "project" and authorized_id is not None:
        raise InvalidArgument("--authorized can not be used with project addresses")
    provider: MultiAddr | None = None
    if tls_certificate_provider is not None:
        try:
            provider = MultiAddr.parse(tls_certificate_provider)
        except OckamError as e:
            raise InvalidArgument(f"Invalid value for '--tls-certificate-provider': {e}") from None
    elif tls:
        provider = MultiAddr.parse("/project/default/service/tls_certificate_provider")
    channel_identifier = None
    if identity is not None:
        channel_identifier = _identifier_bytes(Identities(state).require(identity).identifier)
    alias = alias if alias is not None else random_name()

    request = CreateInlet(
        listen_addr=from_,
        outlet_addr=maddr,
        alias=alias,
        authorized=authorized_id,
        wait_for_outlet_duration_ms=round(connection_wait * 1000),
        policy_expression=_policy_cbor(allow),
        wait_connection=not no_connection_wait,
        secure_channel_identifier=channel_identifier,
        enable_udp_puncture=udp,
        disable_tcp_fallback=no_tcp_fallback,
        ebpf=ebpf,
        tls_certificate_provider=provider,
    )
    attempt = 0
    while True:
        attempt += 1
        response = client.request("POST", "/node/inlet", request.to_cbor())
        if response.ok and response.has_body:
            status = response.body
            break
        message = response.error_message() if not response.ok else "expected a message body, got nothing"
        if response.status == 400 or retry_wait <= 0 or attempt >= MAX_INLET_ATTEMPTS:
            raise ApiError(f"Failed to create TCP inlet: {message}", response.status)
        term.status(fmt_log(f"Waiting for TCP Inlet {to} to be available... Retrying momentarily"))
        time.sleep(retry_wait)

    value = inlet_status_json(status)
    created = fmt_ok(f"Created a new TCP Inlet in the Node {client.node_name} bound to {from_}\n")
    if no_connection_wait:
        plain = created + fmt_log(
            f"It will automatically connect to the TCP Outlet at {to} as soon as it is available"
        )
    elif value.get("status") == "Up":
        plain = created + fmt_log(f"sending traffic to the TCP Outlet at {to}")
    else:
        plain = fmt_warn(
            f"A TCP Inlet was created in the Node {client.node_name} bound to {from_} "
            f"but failed to connect to the TCP Outlet at {to}\n"
        ) + fmt_info("It will retry to connect automatically")
    refusal = value.get("payload")
    if isinstance(refusal, str) and value.get("status") != "Up":
        # the inlet's policy refused the identity at the outlet side (abac.md §8)
        term.status(fmt_warn(f"The TCP Inlet {alias} will not send anything to the outlet: {refusal}"))
    elif not no_connection_wait and value.get("status") != "Up" and not term.stdout_is_tty:
        # (on a terminal the result says it; piped, stderr does)
        term.status(
            fmt_warn(f"The TCP Inlet {alias} could not connect to the TCP Outlet at {to}; it will retry")
        )
    term.result(plain=plain, machine=str(value.get("bind_addr", "")), json_value=value)


def _inlets(client: NodeClient) -> list[dict[str, Any]]:
    from ..api.views import inlet_status_json

    items = client.ask("GET", "/node/inlet")
    return [inlet_status_json(i) for i in items if isinstance(i, dict)] if isinstance(items, list) else []


@tcp_inlet.command("list", help="List the TCP Inlets of a node")
@node_name_option()
@click.pass_context
def inlet_list(ctx: click.Context, node: str | None) -> None:
    client = _client(ctx, node)
    items = _inlets(client)
    plain = _list_plain([_inlet_plain_line(i) for i in items], f"No TCP Inlets found on {client.node_name}")
    terminal(ctx).result(plain=plain, json_value=items, has_json=True)


@tcp_inlet.command("show", help="Show a TCP Inlet")
@click.argument("alias", required=False, callback=_alias, metavar="ALIAS")
@node_name_option()
@click.pass_context
def inlet_show(ctx: click.Context, alias: str | None, node: str | None) -> None:
    from ..api.views import inlet_status_json

    term = terminal(ctx)
    client = _client(ctx, node)

    def show_one(name: str) -> None:
        value = inlet_status_json(client.ask("GET", f"/node/inlet/{name}"))
        plain = "\n".join(f"    {line}" for line in _inlet_plain_line(value).splitlines())
        term.result(plain=plain, json_value=value)

    names = [str(i["alias"]) for i in _inlets(client)]
    show_items(term, INLET, names, alias, show_one, client.node_name)


@tcp_inlet.command("delete", help="Delete a TCP Inlet")
@click.argument("alias", required=False, callback=_alias, metavar="ALIAS")
@node_name_option()
@click.option("-y", "--yes", is_flag=True, help="Confirm the deletion without prompting.")
@click.option("--all", "all_", is_flag=True, help="Delete all the TCP Inlets.")
@click.pass_context
def inlet_delete(ctx: click.Context, alias: str | None, node: str | None, yes: bool, all_: bool) -> None:
    term = terminal(ctx)
    client = _client(ctx, node)

    def delete_one(name: str) -> None:
        client.tell("DELETE", f"/node/inlet/{name}")
        term.result(
            plain=fmt_ok(f"TCP Inlet with alias {name} on Node {client.node_name} has been deleted"),
            json_value={"alias": name, "node": client.node_name},
        )

    names = [str(i["alias"]) for i in _inlets(client)]
    delete_items(term, INLET, names, alias, yes, delete_one, all_)
