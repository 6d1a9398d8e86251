"""Running an authority node in this process (what ``ockam authority create -f`` runs,
authority.md §2, §8), and helpers shared with the CLI.

An authority node has no node manager: one TCP listener, the ``api`` secure-channel
listener and the authority services (:mod:`ockam.services.authority`).  With a
:class:`~ockam.state.State`, members, tokens and learnt attributes are kept in its
database; otherwise in memory.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..codec.address import Address
from ..codec.multiaddr import MultiAddr
from ..codec.route import Route
from ..errors import DecodeError, IdentityError, InvalidArgument, RouteError
from ..identity import AttributesStore, Identifier, Identity, PurposeKeyAttestation, generate_identity
from ..node.flow_control import new_flow_control_id
from ..node.runtime import Node
from ..protocol.crypto import DhKey, Signer, X25519Secret
from ..services.authority import Authority, AuthorityOptions
from ..services.secure_channel import SecureChannels
from ..state import State
from ..state.authority import SqlAuthorityMembers, SqlEnrollmentTokens
from ..state.credentials import IdentityAttributesTable
from ..state.database import Database
from ..transport.tcp import TcpTransport
from .client import parse_duration

__all__ = [
    "AuthorityNodeConfig",
    "RunningAuthority",
    "credential_ttl_from_env",
    "multiaddr_route",
    "parse_trusted_identities",
    "start_authority_node",
]


def multiaddr_route(text: str | MultiAddr) -> Route:
    """A route from a multiaddr without connecting: ``/dnsaddr/H/tcp/P/service/api`` ->
    ``1#H:P => api`` (the node's transport connects when the route is used)."""
    ma = MultiAddr.parse(text) if isinstance(text, str) else text
    hops: list[Address] = []
    comps = list(ma.components)
    i = 0
    while i < len(comps):
        c = comps[i]
        if c.protocol in ("ip4", "ip6", "dnsaddr") and i + 1 < len(comps) and comps[i + 1].protocol == "tcp":
            peer = MultiAddr((c, comps[i + 1])).socket_address()
            if peer is None:
                raise RouteError(f"{ma}: cannot make a socket address of {c}")
            hops.append(Address.tcp(peer))
            i += 2
            continue
        if c.protocol in ("service", "worker"):
            hops.append(Address.local(c.value))
        else:
            raise RouteError(f"{ma}: /{c.protocol} cannot be used in an authority route")
        i += 1
    return Route(hops)


def parse_trusted_identities(text: str) -> dict[str, dict[str, str]]:
    """``--trusted-identities '{"I…": {"k": "v"}, ...}'`` (identifiers are checked)."""
    try:
        value = json.loads(text)
    except ValueError as e:
        raise InvalidArgument(f"invalid trusted identities: {e}") from None
    if not isinstance(value, dict):
        raise InvalidArgument("trusted identities must be a JSON object")
    out: dict[str, dict[str, str]] = {}
    for identifier, attributes in value.items():
        if not isinstance(attributes, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in attributes.items()
        ):
            raise InvalidArgument(f"the attributes of {identifier} must be a JSON object of strings")
        try:
            out[str(Identifier.parse(identifier))] = dict(attributes)
        except IdentityError as e:
            raise InvalidArgument(f"invalid trusted identities: {e}") from None
    return out


def credential_ttl_from_env(default: int) -> int:
    """``CREDENTIAL_TTL_SECS``: seconds, or a number with ``d|h|m|s|ms``."""
    text = os.environ.get("CREDENTIAL_TTL_SECS")
    if not text:
        return default
    try:
        return max(1, int(parse_duration(text)))
    except DecodeError:
        raise InvalidArgument(f"invalid CREDENTIAL_TTL_SECS {text!r}") from None


@dataclass
class AuthorityNodeConfig:
    name: str = "authority"
    tcp_listener_address: str = "127.0.0.1:4000"
    # The authority identity and its primary-key signer (generated in memory when absent),
    # its secure-channel key, and its credential-signing key.
    identity: Identity | None = None
    signer: Signer | None = None
    static_key: X25519Secret | DhKey | None = None
    attestation: PurposeKeyAttestation | None = None
    credential_signer: Signer | None = None
    credential_attestation: PurposeKeyAttestation | None = None
    options: AuthorityOptions = field(default_factory=AuthorityOptions)
    trusted_identities: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    state: State | None = None
    # Where members and enrollment tokens are kept (default: the state's main database).
    members_database: Database | None = None


@dataclass
class RunningAuthority:
    node: Node
    tcp: TcpTransport
    channels: SecureChannels
    authority: Authority
    listener_address: str

    @property
    def identifier(self) -> Identifier:
        return self.authority.identifier

    @property
    def route(self) -> Route:
        """The route to the authority's secure-channel listener."""
        return Route((Address.tcp(self.listener_address), Address.local(self.authority.options.listener)))

    async def stop(self) -> None:
        await self.node.stop()


async def start_authority_node(config: AuthorityNodeConfig) -> RunningAuthority:
    node = Node(config.name)
    await node.__aenter__()
    try:
        tcp = TcpTransport.create(node)
        identity, signer = config.identity, config.signer
        if identity is None or signer is None:
            identity, signer = generate_identity(now=int(time.time()))
        repository = None
        members = tokens = None
        if config.state is not None:
            db = config.state.db
            repository = IdentityAttributesTable(db, config.name)
            kept = config.members_database or db
            members, tokens = SqlAuthorityMembers(kept), SqlEnrollmentTokens(kept)
        channels = SecureChannels(
            node,
            identity,
            signer,
            config.static_key,
            config.attestation,
            attributes=AttributesStore(repository),
        )
        options = config.options
        authority = Authority(
            channels,
            signer,
            options,
            members=members,
            tokens=tokens,
            credential_signer=config.credential_signer,
            credential_attestation=config.credential_attestation,
        )
        authority.bootstrap_pre_trusted(config.trusted_identities)
        api_flow_control = new_flow_control_id()
        await authority.start(consumes=(api_flow_control,))
        listener = await tcp.listen(config.tcp_listener_address, api_flow_control)
        return RunningAuthority(node, tcp, channels, authority, listener.socket_address)
    except BaseException:
        await node.stop()
        raise
