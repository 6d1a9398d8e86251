"""Projects (authority.md §9-§11): the project record, importing and storing it, trust
options of nodes, enrollment tickets, and authority requests made from the CLI.

* :class:`ProjectModel` - the project record as JSON (``project import``,
  ``project information --output json``, legacy tickets); serde field order, unknown keys
  ignored, ``users`` and ``user_roles`` required.
* :class:`Project` - a verified record: the project node's and the authority's change
  histories verified (the project history must match ``identity``), both routes parsed
  as multiaddrs that name a ``host:port``.  :func:`store_project` writes it to the local
  state (with the two identities and a space row); the first stored project becomes the
  default one.
* :func:`project_lookup` - how nodes find the project of ``/project/<name>``
  (:class:`~ockam.api.resolve.ProjectAccess`) in the state they share with the CLI.
* :func:`trust_options` - the authority and credential retrieval of a node or of the
  CLI (authority.md §10.6): explicit ``--authority-identity`` (verify only, with
  ``--credential-scope`` the cached credential of that scope, with ``--authority-route``
  and a scope a credential fetched from that authority), else the named or default
  project (a project-member credential from its authority), else nothing.
* Tickets (§10): :func:`create_ticket` (0.139 prints the legacy form) and
  :func:`read_ticket`.
* :func:`run_with_authority` - run requests against a project's authority from a
  temporary in-process node (one fresh secure channel per request).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from ..codec.multiaddr import MultiAddr
from ..errors import (
    AlreadyExists,
    DecodeError,
    IdentityError,
    InvalidArgument,
    NotFound,
    OckamError,
    TimeoutError_,
)
from ..identity import (
    CredentialAndPurposeKey,
    Identifier,
    Identity,
    MemoryCredentialRetriever,
    compare_histories,
    verify_change_history,
)
from ..identity.identity import HistoryComparison
from ..node.runtime import Node
from ..node.runtime import run as run_loop
from ..protocol.authority import OneTimeCode
from ..protocol.ticket import (
    LegacyTicket,
    TicketImport,
    decode_ticket,
    ticket_import,
)
from ..services.credentials import AuthorityClient, project_member_scope
from ..services.secure_channel import ChannelIdentity, SecureChannels
from ..state import State
from ..state.identities import Identities
from ..state.projects import Enrollments, ProjectRow, Projects, Spaces
from ..transport.tcp import TcpTransport
from .authority import multiaddr_route
from .identities import LoadedIdentity, secure_channel_key
from .resolve import ProjectAccess, ProjectLookup

__all__ = [
    "DEFAULT_PROJECT_NAME",
    "Project",
    "ProjectModel",
    "TrustOptions",
    "check_project",
    "create_ticket",
    "credential_json",
    "get_project",
    "import_identity",
    "is_enrolled",
    "project_lookup",
    "read_ticket",
    "run_with_authority",
    "store_project",
    "trust_options",
]

T = TypeVar("T")

DEFAULT_PROJECT_NAME = "default"

_TEXT = ("id", "name", "space_name", "access_route", "space_id")
_OPTIONAL_TEXT = (
    "identity",
    "authority_access_route",
    "authority_identity",
    "version",
    "operation_id",
    "project_change_history",
)


@dataclass
class ProjectModel:
    """The project record (JSON keys in serde order)."""

    id: str
    name: str
    space_name: str = ""
    access_route: str = ""
    users: list[Any] = field(default_factory=list)
    space_id: str = ""
    identity: str | None = None
    authority_access_route: str | None = None
    authority_identity: str | None = None
    okta_config: dict[str, Any] | None = None
    kafka_config: dict[str, Any] | None = None
    version: str | None = None
    running: bool | None = None
    operation_id: str | None = None
    user_roles: list[Any] = field(default_factory=list)
    project_change_history: str | None = None

    @classmethod
    def from_json(cls, obj: Any) -> ProjectModel:
        if not isinstance(obj, dict):
            raise DecodeError("a project must be a JSON object")
        for key in _TEXT:
            if not isinstance(obj.get(key), str):
                raise DecodeError(f"invalid project: missing field `{key}`")
        for key in ("users", "user_roles"):
            if not isinstance(obj.get(key), list):
                raise DecodeError(f"invalid project: missing field `{key}`")
        for key in _OPTIONAL_TEXT:
            if obj.get(key) is not None and not isinstance(obj[key], str):
                raise DecodeError(f"invalid project: `{key}` must be a string or null")
        if obj.get("running") is not None and not isinstance(obj["running"], bool):
            raise DecodeError("invalid project: `running` must be a boolean or null")
        for key in ("okta_config", "kafka_config"):
            if obj.get(key) is not None and not isinstance(obj[key], dict):
                raise DecodeError(f"invalid project: `{key}` must be an object or null")
        identity = obj.get("identity")
        if identity is not None:
            try:
                Identifier.parse(identity)
            except IdentityError as e:
                raise DecodeError(f"invalid project identity: {e}") from None
        return cls(
            id=obj["id"],
            name=obj["name"],
            space_name=obj["space_name"],
            access_route=obj["access_route"],
            users=list(obj["users"]),
            space_id=obj["space_id"],
            identity=identity,
            authority_access_route=obj.get("authority_access_route"),
            authority_identity=obj.get("authority_identity"),
            okta_config=obj.get("okta_config"),
            kafka_config=obj.get("kafka_config"),
            version=obj.get("version"),
            running=obj.get("running"),
            operation_id=obj.get("operation_id"),
            user_roles=list(obj["user_roles"]),
            project_change_history=obj.get("project_change_history"),
        )

    @classmethod
    def parse(cls, text: str) -> ProjectModel:
        import json

        try:
            obj = json.loads(text)
        except ValueError as e:
            raise DecodeError(f"invalid project JSON: {e}") from None
        return cls.from_json(obj)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "space_name": self.space_name,
            "access_route": self.access_route,
            "users": list(self.users),
            "space_id": self.space_id,
            "identity": self.identity,
            "authority_access_route": self.authority_access_route,
            "authority_identity": self.authority_identity,
        }
        if self.okta_config is not None:
            out["okta_config"] = self.okta_config
        if self.kafka_config is not None:
            out["kafka_config"] = self.kafka_config
        out["version"] = self.version
        out["running"] = self.running
        out["operation_id"] = self.operation_id
        out["user_roles"] = list(self.user_roles)
        out["project_change_history"] = self.project_change_history
        return out


def _history(text: str, what: str, expected: str | None = None) -> Identity:
    try:
        raw = bytes.fromhex(text.strip())
    except ValueError:
        raise IdentityError(f"the {what} change history is not hex") from None
    try:
        return verify_change_history(raw, expected)
    except IdentityError as e:
        raise IdentityError(f"the {what} change history does not verify: {e}") from None


def _route(text: str, what: str) -> MultiAddr:
    try:
        route = MultiAddr.parse(text)
    except DecodeError as e:
        raise DecodeError(f"invalid {what} {text!r}: {e}") from None
    if route.socket_address() is None:
        raise DecodeError(f"the {what} {text} does not start with a host and a port")
    return route


@dataclass
class Project:
    """A verified project record."""

    model: ProjectModel
    project_identity: Identity | None = None
    project_route: MultiAddr | None = None
    authority_identity: Identity | None = None
    authority_route: MultiAddr | None = None
    is_default: bool = False
    # the nodes of a project hosted on this machine (``ockam enroll``), and how they serve it
    authority_node: str | None = None
    project_node: str | None = None
    hosting: dict[str, Any] | None = None

    @classmethod
    def verify(cls, model: ProjectModel) -> Project:
        """``Project::import``: check both identities and both routes."""
        project_identity = None
        if model.project_change_history is not None:
            project_identity = _history(model.project_change_history, "project", model.identity)
        project_route = _route(model.access_route, "project access route") if model.access_route else None
        authority_identity = None
        if model.authority_identity is not None:
            authority_identity = _history(model.authority_identity, "authority")
        authority_route = None
        if model.authority_access_route is not None:
            authority_route = _route(model.authority_access_route, "authority access route")
        return cls(model, project_identity, project_route, authority_identity, authority_route)

    @classmethod
    def from_row(cls, row: ProjectRow) -> Project:
        model = ProjectModel(
            id=row.project_id,
            name=row.project_name,
            space_name=row.space_name,
            access_route=row.access_route,
            users=list(row.users),
            space_id=row.space_id,
            identity=row.project_identifier,
            authority_access_route=row.authority_access_route,
            authority_identity=row.authority_change_history,
            okta_config=row.okta_config,
            kafka_config=row.kafka_config,
            version=row.version,
            running=row.running,
            operation_id=row.operation_id,
            user_roles=list(row.user_roles),
            project_change_history=row.project_change_history,
        )
        project = cls.verify(model)
        project.is_default = row.is_default
        project.authority_node = row.authority_node
        project.project_node = row.project_node
        project.hosting = row.hosting
        return project

    def to_row(self) -> ProjectRow:
        m = self.model
        return ProjectRow(
            project_id=m.id,
            project_name=m.name,
            space_id=m.space_id,
            space_name=m.space_name,
            access_route=m.access_route,
            project_identifier=m.identity
            if m.identity is not None or self.project_identity is None
            else str(self.project_identity.identifier),
            project_change_history=m.project_change_history,
            authority_change_history=m.authority_identity,
            authority_access_route=m.authority_access_route,
            version=m.version,
            running=m.running,
            operation_id=m.operation_id,
            users=list(m.users),
            user_roles=list(m.user_roles),
            okta_config=m.okta_config,
            kafka_config=m.kafka_config,
            authority_node=self.authority_node,
            project_node=self.project_node,
            hosting=self.hosting,
        )

    # -- accessors
    @property
    def name(self) -> str:
        return self.model.name

    @property
    def project_id(self) -> str:
        return self.model.id

    @property
    def is_local(self) -> bool:
        return self.authority_node is not None or self.project_node is not None

    @property
    def project_identifier(self) -> Identifier | None:
        if self.model.identity is not None:
            return Identifier.parse(self.model.identity)
        return None if self.project_identity is None else self.project_identity.identifier

    @property
    def authority_identifier(self) -> Identifier | None:
        return None if self.authority_identity is None else self.authority_identity.identifier

    def is_ready(self) -> bool:
        return (
            self.project_route is not None
            and self.project_identity is not None
            and self.authority_route is not None
            and self.authority_identity is not None
        )

    def require_authority(self) -> tuple[Identity, MultiAddr]:
        if self.authority_identity is None:
            raise InvalidArgument(f"The project {self.name} has no authority identity")
        if self.authority_route is None:
            raise InvalidArgument(f"The project {self.name} has no authority route")
        return self.authority_identity, self.authority_route

    def access(self) -> ProjectAccess:
        identifier = self.project_identifier
        if self.project_route is None or identifier is None:
            raise NotFound(f"The project {self.name} has no access route or identity yet")
        return ProjectAccess(
            self.name, self.project_id, self.project_route, identifier, self.project_identity
        )

    # -- views
    def to_json(self) -> dict[str, Any]:
        """As Rust's ``Project`` serializes: the record, then the socket addresses."""
        out = self.model.to_json()
        access = None if self.project_route is None else self.project_route.socket_address()
        authority = None if self.authority_route is None else self.authority_route.socket_address()
        out["access_address"] = access
        out["authority_access_address"] = authority
        out["egress_allow_list"] = [a for a in (access, authority) if a is not None]
        return out

    def plain(self) -> str:
        return project_plain(self)


def _na(value: object) -> str:
    return "N/A" if value is None else str(value)


def project_plain(project: Project) -> str:
    pad, ind = "    ", "  "
    access = None if project.project_route is None else project.project_route.socket_address()
    authority = None if project.authority_route is None else project.authority_route.socket_address()
    lines = [
        f"{pad}{project.name}:",
        f"{pad}{ind}Id: {project.project_id}",
        f"{pad}{ind}Name: {project.name}",
        f"{pad}{ind}Space: {project.model.space_name}",
        f"{pad}{ind}Route: {_na(project.project_route)}",
        f"{pad}{ind}Address: {_na(access)}",
        f"{pad}{ind}Identifier: {_na(project.project_identifier)}",
        f"{pad}{ind}Version: {_na(project.model.version)}",
        f"{pad}{ind}Is running: {'true' if project.model.running else 'false'}",
        f"{pad}{ind}Authority route: {_na(project.authority_route)}",
        f"{pad}{ind}Authority address: {_na(authority)}",
        f"{pad}{ind}Authority identifier: {_na(project.authority_identifier)}",
        f"{pad}{ind}Egress allow list: {', '.join(a for a in (access, authority) if a is not None)}",
    ]
    return "\n".join(lines) + "\n"


# -- storing -------------------------------------------------------------------------------


def import_identity(state: State, identity: Identity) -> None:
    """Remember a (verified) identity: a newer history replaces an older one, an older or
    conflicting one is ignored."""
    identities = Identities(state)
    identifier = str(identity.identifier)
    known_hex = identities.change_history(identifier)
    if known_hex is not None:
        try:
            known = verify_change_history(bytes.fromhex(known_hex))
        except (IdentityError, ValueError, DecodeError):
            known = None
        if known is not None and compare_histories(known, identity) != HistoryComparison.NEWER:
            return
    identities.store_change_history(identifier, identity.export_hex())


def check_storable(state: State, project: Project) -> None:
    """Would :func:`store_project` keep ``project``?  Not when it would replace a project
    hosted here, or take the name of another project (``/project/<name>`` must say which)."""
    projects = Projects(state.db)
    existing = projects.get(project.project_id)
    if (
        existing is not None
        and existing.is_local
        and not project.is_local
        and (existing.access_route, existing.project_identifier)
        != (project.model.access_route, project.model.identity)
    ):
        raise InvalidArgument(
            f"The project {existing.project_name} (id {existing.project_id}) hosted on this machine "
            "has the same id as the project being imported: use another OCKAM_HOME to join it"
        )
    same_name = projects.by_name(project.name)
    if same_name is not None and same_name.project_id != project.project_id:
        where = "hosted on this machine" if same_name.is_local else f"id {same_name.project_id}"
        raise AlreadyExists(
            f"There is already a project named {project.name} here ({where}): delete it first "
            f"(ockam project delete {project.name}) to use this one"
        )


def store_project(state: State, project: Project, *, make_default: bool | None = None) -> Project:
    """Store a verified project (and its identities, and its space when it has one).

    A project hosted on this machine is never replaced by a record of the same id coming
    from elsewhere (a ticket or a file naming another machine's project)."""
    check_storable(state, project)
    for identity in (project.project_identity, project.authority_identity):
        if identity is not None:
            import_identity(state, identity)
    row = Projects(state.db).store(project.to_row(), make_default=make_default)
    if project.model.space_id:
        Spaces(state.db).store(project.model.space_id, project.model.space_name)
    return Project.from_row(row)


def get_project(state: State, name: str | None) -> Project:
    """The named project, or the default one."""
    projects = Projects(state.db)
    if name is not None:
        row = projects.by_name(name)
        if row is None:
            raise NotFound(f"The project {name} was not found")
    else:
        row = projects.default()
        if row is None:
            raise NotFound(
                "There is no default project. Please enroll with 'ockam enroll', or import a project "
                "with 'ockam project import' or 'ockam project enroll <ticket>'"
            )
    return Project.from_row(row)


def project_lookup(state: State) -> ProjectLookup:
    """Finds ``/project/<name>`` in the local state at the time of use."""

    def lookup(name: str) -> ProjectAccess:
        return get_project(state, name).access()

    return lookup


def is_enrolled(state: State, identifier: str) -> bool:
    return Enrollments(state.db).is_enrolled(identifier)


# -- trust ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrustOptions:
    """What a node trusts and presents: credentials issued by ``authority`` are verified;
    with ``authority_route`` the node's own credential is fetched from that authority
    (cached under ``scope``); with only a scope, the cached credential of that scope is
    presented."""

    authority: Identity | None = None
    authority_route: str | None = None
    scope: str = ""
    project: str | None = None

    @property
    def is_empty(self) -> bool:
        return self.authority is None


def trust_options(
    state: State,
    project_name: str | None = None,
    authority_identity: str | None = None,
    authority_route: str | None = None,
    credential_scope: str | None = None,
    *,
    use_default_project: bool = True,
) -> TrustOptions:
    """authority.md §10.6 (Rust's ``retrieve_trust_options``)."""
    if project_name is not None and (authority_identity is not None or authority_route is not None):
        raise InvalidArgument("Both project_name and authority info are provided")
    if authority_route is not None and authority_identity is None:
        raise InvalidArgument("Authority address was provided but authority identity is unknown")
    if authority_identity is not None:
        try:
            authority = verify_change_history(bytes.fromhex(authority_identity.strip()))
        except ValueError:
            raise InvalidArgument("Invalid authority identity hex") from None
        except (IdentityError, DecodeError) as e:
            raise InvalidArgument(f"Invalid authority identity: {e}") from None
        import_identity(state, authority)
        if authority_route is not None:
            if credential_scope is None:
                raise InvalidArgument("Authority address was provided but credential scope was not provided")
            try:
                multiaddr_route(authority_route)
            except OckamError as e:
                raise InvalidArgument(f"Invalid authority route: {authority_route}: {e}") from None
            return TrustOptions(authority, authority_route, credential_scope)
        return TrustOptions(authority, None, credential_scope or "")
    if project_name is None and not use_default_project:
        return TrustOptions()
    try:
        project = get_project(state, project_name)
    except NotFound:
        if project_name is not None:
            raise
        return TrustOptions()
    if project.authority_identity is None:
        return TrustOptions(project=project.name)
    if project.authority_route is None:
        raise InvalidArgument(f"no authority route has been configured for the project {project.name}")
    return TrustOptions(
        project.authority_identity,
        str(project.authority_route),
        project_member_scope(project.project_id),
        project.name,
    )


# -- tickets -------------------------------------------------------------------------------


def _project_from_ticket(data: TicketImport) -> Project:
    project_identity = verify_change_history(data.project_change_history)
    authority_identity = verify_change_history(data.authority_change_history)
    model = ProjectModel(
        id=data.project_id,
        name=data.project_name,
        access_route=str(data.project_route),
        identity=str(project_identity.identifier),
        authority_access_route=str(data.authority_route),
        authority_identity=authority_identity.export_hex(),
        project_change_history=project_identity.export_hex(),
    )
    return Project.verify(model)


def read_ticket(text: str) -> tuple[OneTimeCode, Project]:
    """A ticket (legacy or exported, hex or plain text): its one-time code and the project
    it names (verified)."""
    try:
        ticket = decode_ticket(text)
        data = ticket_import(ticket)
    except DecodeError as e:
        raise InvalidArgument(f"Invalid enrollment ticket: {e}") from None
    try:
        project = _project_from_ticket(data)
    except (IdentityError, DecodeError) as e:
        raise InvalidArgument(f"Invalid enrollment ticket: {e}") from None
    if isinstance(ticket, LegacyTicket) and ticket.project is not None:
        # the legacy form carries the whole record: keep its fields
        model = ProjectModel.from_json(ticket.project)
        project = Project.verify(
            replace(
                model,
                identity=model.identity or project.model.identity,
                authority_access_route=project.model.authority_access_route,
            )
        )
    return OneTimeCode.parse(data.one_time_code), project


def create_ticket(project: Project, code: OneTimeCode) -> str:
    """The ticket ``project ticket`` prints, in the legacy format (authority.md §10.3): the
    one-time code and the project's record.

    Rust assembles an exported ticket and imports it, which makes the ticket's project id
    the first label of the route's ``/dnsaddr`` host (``127`` for ``/dnsaddr/127.0.0.1/..``):
    two projects hosted by one machine would then share an id on their members.  Here the
    record keeps the project's own id (a Rust member reads the legacy record as it is)."""
    m = project.model
    if m.identity is None and project.project_identity is None:
        raise InvalidArgument("missing project's identity")
    if m.project_change_history is None:
        raise InvalidArgument("missing project's change history")
    if m.authority_identity is None:
        raise InvalidArgument("missing authority's change history")
    if not m.access_route or not m.authority_access_route:
        raise InvalidArgument(
            f"cannot create an enrollment ticket for the project {m.name}: it has no routes"
        )
    try:
        record = ProjectModel(
            id=m.id,
            name=m.name,
            space_name=m.space_name,
            access_route=m.access_route,
            space_id=m.space_id,
            identity=str(project.project_identifier),
            authority_access_route=m.authority_access_route,
            authority_identity=m.authority_identity,
            project_change_history=m.project_change_history,
        )
        Project.verify(record)
    except (DecodeError, IdentityError) as e:
        raise InvalidArgument(f"cannot create an enrollment ticket for the project {m.name}: {e}") from None
    return LegacyTicket(code.hex, record.to_json()).encode()


# -- credentials as the CLI shows them -----------------------------------------------------


def credential_json(credential: CredentialAndPurposeKey) -> dict[str, Any]:
    """Rust's ``CredentialOutput``."""
    data = credential.credential.credential_data()
    issuer = credential.purpose_key_attestation.attestation_data().subject
    attributes = {
        k.decode("utf-8", "replace") if _utf8(k) else "**binary**": v.decode("utf-8")
        if _utf8(v)
        else "**binary**"
        for k, v in data.attributes.map.items()
    }
    return {
        "credential": credential.encode_hex(),
        "subject": None if data.subject is None else str(data.subject),
        "issuer": str(issuer),
        "created_at": data.created_at,
        "expires_at": data.expires_at,
        "attributes": attributes,
    }


def _utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# -- authority requests from the CLI -------------------------------------------------------


def run_with_authority(
    state: State,
    project: Project,
    identity: LoadedIdentity,
    action: Callable[[AuthorityClient], Awaitable[T]],
    timeout: float,
) -> T:
    """Run ``action`` with a client of the project's authority, as ``identity``, from a
    temporary in-process node; each request uses a fresh secure channel trusting only
    the authority."""
    authority, route = project.require_authority()
    transport_route = multiaddr_route(route)
    static_key, attestation = secure_channel_key(state, identity)

    async def run() -> T:
        async with Node("cli") as node:
            tcp = TcpTransport.create(node)
            channels = SecureChannels(node, identity.identity, identity.signer, static_key, attestation)
            channels.learn(authority)
            client = AuthorityClient(
                channels,
                transport_route,
                authority.identifier,
                tcp=tcp,
                me=ChannelIdentity(identity.identity, static_key, attestation),
                timeout=timeout,
            )
            try:
                return await asyncio.wait_for(action(client), timeout)
            except TimeoutError:
                raise TimeoutError_(f"no answer from the authority of the project {project.name}") from None

    return run_loop(run())


def check_project(state: State, project: Project, identity: LoadedIdentity, timeout: float) -> None:
    """Readiness of a project (authority.md §11 item 6) for ``identity``: a credential from
    the authority, and a secure channel to the project node presenting it."""
    from .secure_channels import SecureResolver

    authority, route = project.require_authority()
    access = project.access()
    static_key, attestation = secure_channel_key(state, identity)

    async def run() -> None:
        async with Node("cli") as node:
            tcp = TcpTransport.create(node)
            channels = SecureChannels(
                node, identity.identity, identity.signer, static_key, attestation, authority=authority
            )
            client = AuthorityClient(
                channels, multiaddr_route(route), authority.identifier, tcp=tcp, timeout=timeout
            )
            credential, _ = await client.credential()
            channels.credential_retriever = MemoryCredentialRetriever(credential)
            resolver = SecureResolver(channels, timeout, lambda _name: access)
            encryptor, connection = await resolver.resolve_project(project.name, tcp)
            await channels.close(encryptor)
            if connection is not None:
                await tcp.disconnect(connection)

    try:
        run_loop(asyncio.wait_for(run(), timeout))
    except TimeoutError:
        raise TimeoutError_(f"the project {project.name} did not answer within {timeout:g} s") from None
