"""``ockam message send``."""

from __future__ import annotations

import os
import random
import time
from typing import TYPE_CHECKING, Any

import click

from .base import NODE_NAME, OckamGroup, open_state, terminal
from .output import fmt_log, fmt_warn
from .params import DURATION, MULTIADDR

if TYPE_CHECKING:
    from ..codec.multiaddr import MultiAddr

__all__ = ["message"]


class RetryableError(Exception):
    """A failure that ``--retry-count`` may retry (wraps the real error)."""

    def __init__(self, inner: Exception) -> None:
        super().__init__(str(inner))
        self.inner = inner


@click.group(cls=OckamGroup, name="message", help="Send and receive messages")
def message() -> None:
    pass


def _retry_settings(
    retry_count: int | None, retry_delay: float | None, no_retry: bool
) -> tuple[int, float] | None:
    from ..api.client import parse_duration
    from ..errors import OckamError

    if no_retry:
        return None
    if retry_count is None:
        env = os.environ.get("OCKAM_COMMAND_RETRY_COUNT")
        if env and env.strip().isdigit():
            retry_count = int(env.strip())
    if retry_delay is None:
        env = os.environ.get("OCKAM_COMMAND_RETRY_DELAY")
        if env:
            try:
                retry_delay = parse_duration(env)
            except OckamError:
                retry_delay = None
    if retry_count is None and retry_delay is None:
        return None
    return (3 if retry_count is None else retry_count), (5.0 if retry_delay is None else retry_delay)


@message.command("send", help="Send a message to an Ockam node")
@click.argument("message_text", metavar="MESSAGE")
@click.option(
    "-f", "--from", "from_node", type=NODE_NAME, default=None, metavar="NODE", help="Node to send from."
)
@click.option(
    "-t", "--to", "to", type=MULTIADDR, required=True, metavar="ROUTE", help="Route to send the message to."
)
@click.option("--hex", "hex_", is_flag=True, help="The message (and the reply) are hex encoded.")
@click.option("--timeout", type=DURATION, default="10s", show_default=True, help="Time to wait for a reply.")
@click.option("--identity", default=None, metavar="IDENTITY_NAME", help="Identity of the temporary node.")
@click.option("--project", "--project-name", "project", default=None, help="Project.")
@click.option("--authority-identity", default=None, help="Identity of the authority (hex).")
@click.option("--authority-route", default=None, help="Route to the authority.")
@click.option("--credential-scope", default=None, help="Scope of the credential to retrieve.")
@click.option("--retry-count", "--retry", "retry_count", type=int, default=None, hidden=True)
@click.option("--retry-delay", type=DURATION, default=None, hidden=True)
@click.option("--no-retry", is_flag=True, hidden=True)
@click.pass_context
def message_send(
    ctx: click.Context,
    /,
    message_text: str,
    from_node: str | None,
    to: MultiAddr,
    hex_: bool,
    timeout: float,
    retry_count: int | None,
    retry_delay: float | None,
    no_retry: bool,
    **_trust: Any,
) -> None:
    term = terminal(ctx)
    settings = _retry_settings(retry_count, retry_delay, no_retry)
    if settings is None:
        try:
            reply = _send(ctx, message_text, from_node, to, hex_, timeout, _trust.get("identity"), _trust)
        except RetryableError as e:
            raise e.inner from None
    else:
        count, delay = settings
        jitter = min(delay * 0.5, 5.0)
        while True:
            try:
                reply = _send(ctx, message_text, from_node, to, hex_, timeout, _trust.get("identity"), _trust)
                break
            except RetryableError as e:
                count -= 1
                if count <= 0:
                    raise e.inner from None
                wait = delay + random.uniform(0, jitter)
                term.status(fmt_warn("Command failed with error:"))
                term.status(fmt_log(f"{e.inner}\n"))
                term.status(fmt_log(f"Will retry in {int(wait)} seconds"))
                time.sleep(wait)
                term.status(fmt_log("Retrying...\n"))
    term.result(plain=reply)


def _send(
    ctx: click.Context,
    text: str,
    from_node: str | None,
    to: MultiAddr,
    hex_: bool,
    timeout: float,
    identity_name: str | None = None,
    trust_args: dict[str, Any] | None = None,
) -> str:
    from ..errors import InvalidArgument, OckamError
    from .resolve import clean_nodes_multiaddr

    state = open_state(ctx)
    try:
        route = clean_nodes_multiaddr(to, state)
    except OckamError as e:
        raise RetryableError(OckamError(f"Argument '--to' is invalid: {e}")) from e
    _check_first_service(state, to)
    if hex_:
        try:
            payload = bytes.fromhex(text)
        except ValueError as e:
            raise InvalidArgument("The message is not a valid hex string") from e
    else:
        payload = text.encode("utf-8")
    try:
        if from_node is not None:
            from ..api.client import NodeClient
            from ..protocol.api_models import SendMessage, bytes_from_list

            client = NodeClient.for_node(state, from_node)
            body = client.ask(
                "POST", "v0/message", SendMessage(str(route), payload).to_cbor(), timeout=timeout
            )
            response = bytes_from_list(body)
        else:
            from ..api.node_process import send_message_once

            identity = None
            trust = None
            if any(c.protocol in ("secure", "project") for c in route):
                from .node_runtime import load_node_identity

                loaded = load_node_identity(state, identity_name)
                identity = (loaded.identity, loaded.signer)
                if any(c.protocol == "project" for c in route):
                    trust = _temporary_node_trust(state, loaded, trust_args or {})
            response = send_message_once(str(route), payload, timeout, identity, trust)
    except OckamError as e:
        raise RetryableError(e) from e
    if hex_:
        return response.hex()
    try:
        return response.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InvalidArgument("Received content is not a valid utf8 string") from e


def _check_first_service(state: Any, to: MultiAddr) -> None:
    """``/node/N/service/S...`` with N one of this machine's nodes: S must be there (a
    message to an address that does not exist is dropped, and the sender would only see
    its timeout)."""
    from ..api.client import NodeClient
    from ..codec.address import Address
    from ..errors import NotFound, OckamError

    comps = list(to.components)
    if len(comps) < 2 or comps[0].protocol != "node" or comps[1].protocol != "service":
        return
    node, service = comps[0].value, comps[1].value
    try:
        info = state.get_node(node)
        if info is None or not info.is_running or info.is_authority or not info.tcp_listener_address:
            return
        body = NodeClient(node, info.tcp_listener_address).ask("GET", "/node/workers", timeout=5)
    except OckamError:
        return  # (the send says what is wrong)
    items = body.get(1) if isinstance(body, dict) else None
    if not isinstance(items, list):
        return
    names = {Address.parse(str(w.get(2))).text for w in items if isinstance(w, dict) and w.get(2)}
    if service not in names:
        known = ", ".join(sorted(n for n in names if not _is_random(n)))
        raise NotFound(f"There is no service {service} on node {node} (its services: {known})")


def _is_random(name: str) -> bool:
    return len(name) == 32 and all(c in "0123456789abcdef" for c in name)


def _temporary_node_trust(state: Any, loaded: Any, trust_args: dict[str, Any]) -> Any:
    """The trust of the temporary node that sends through ``/project/<name>``: the
    project's authority (or ``--authority-identity``...), a credential fetched from it,
    the identity's secure-channel key, and the projects of the local state."""
    from ..api.identities import secure_channel_key
    from ..api.node_process import NodeConfig
    from ..api.projects import project_lookup, trust_options
    from ..services.credentials import MemoryCredentialCache

    trust = trust_options(
        state,
        trust_args.get("project"),
        trust_args.get("authority_identity"),
        trust_args.get("authority_route"),
        trust_args.get("credential_scope"),
    )
    static_key, attestation = secure_channel_key(state, loaded)
    return NodeConfig(
        name="cli",
        static_key=static_key,
        attestation=attestation,
        authority=trust.authority,
        authority_route=trust.authority_route,
        credential_scope=trust.scope,
        credential_cache=MemoryCredentialCache(),
        projects=project_lookup(state),
    )
