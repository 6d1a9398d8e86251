"""The services of a credential authority (authority.md §2-§7).

An :class:`Authority` runs on a node, behind a secure-channel listener (``api``, trust
everyone):

* ``direct_authenticator`` - members API: add / list / show / delete members;
* ``enrollment_token_issuer`` - one-time codes with attributes, expiry and usage count;
* ``enrollment_token_acceptor`` - redeeming a code makes the caller a member;
* ``credential_issuer`` - a credential with the member's attributes;
* ``echo``.

Every service is reachable only through a secure channel of the authority's listener
(flow control: the services consume only the listener's id; a local message without a
secure-channel identifier gets ``400 secure channel required``); the caller is the
channel peer.  Requests and responses use the
node-API envelope; refusals are ``403`` with an error body, unknown paths ``400``.

Roles (authority.md §3): a member whose attributes hold ``ockam-role = enroller`` is an
enroller; without an account authority every enroller is an admin (may create enrollers).
With an account authority, an identity whose attributes attested by it hold
``project = <project id>`` is admin, enroller and member; with ``enforce_admin_checks``
only those are admins.
"""

from __future__ import annotations

import logging
import secrets
import string
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..codec.address import Address
from ..errors import DecodeError, IdentityError, OckamError, Refused
from ..identity import (
    CREDENTIAL_TTL,
    Attributes,
    AttributesEntry,
    CredentialAndPurposeKey,
    CredentialSigningKey,
    Identifier,
    Identity,
    PurposeKeyAttestation,
    create_purpose_key_attestation,
    issue_credential,
)
from ..node.message import LocalMessage
from ..node.runtime import Context, Worker
from ..protocol.api_wire import Request, Response, decode_request, encode_error_body
from ..protocol.authority import (
    CREDENTIAL_ISSUER,
    DEFAULT_TOKEN_TTL_COUNT,
    DEFAULT_TOKEN_TTL_SECS,
    DIRECT_AUTHENTICATOR,
    ENROLLMENT_TOKEN_ACCEPTOR,
    ENROLLMENT_TOKEN_ISSUER,
    OCKAM_RELAY_ATTRIBUTE,
    OCKAM_ROLE_ATTRIBUTE,
    OCKAM_ROLE_ENROLLER,
    OCKAM_TLS_ATTRIBUTE,
    PROJECT_MEMBER_SCHEMA,
    SECURE_CHANNEL_LISTENER,
    TRUST_CONTEXT_ID,
    AddMember,
    CreateToken,
    OneTimeCode,
)
from ..protocol.crypto import Signer, SigningSecret
from ..state.authority import (
    AuthorityMember,
    AuthorityMembers,
    EnrollmentToken,
    EnrollmentTokens,
    MemoryAuthorityMembers,
    MemoryEnrollmentTokens,
)
from .basic import Echo
from .secure_channel import SecureChannelListener, SecureChannels

__all__ = [
    "Authority",
    "AuthorityOptions",
    "EnrollerCheck",
    "Refused",
    "is_enroller_attributes",
]

log = logging.getLogger("ockam.authority")


@dataclass(frozen=True)
class EnrollerCheck:
    is_member: bool = False
    is_enroller: bool = False
    is_admin: bool = False
    is_pre_trusted: bool = False


def is_enroller_attributes(attributes: Mapping[bytes, bytes] | Mapping[str, str]) -> bool:
    """``ockam-role = enroller`` (exact bytes)."""
    for k, v in attributes.items():
        key = k.encode() if isinstance(k, str) else k
        value = v.encode() if isinstance(v, str) else v
        if key == OCKAM_ROLE_ATTRIBUTE.encode() and value == OCKAM_ROLE_ENROLLER.encode():
            return True
    return False


@dataclass
class AuthorityOptions:
    """What ``ockam authority create`` configures (authority.md §8)."""

    project_identifier: str = ""
    # Account authority (Orchestrator): its identity; admins are identified by its credentials.
    account_authority: Identity | None = None
    enforce_admin_checks: bool = False
    disable_trust_context_id: bool = False
    credential_ttl: int = CREDENTIAL_TTL
    direct_authentication: bool = True
    token_enrollment: bool = True
    listener: str = SECURE_CHANNEL_LISTENER


def _reference() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(10))


class Authority:
    """Membership and credential issuing for one authority identity.

    ``channels`` are the secure channels of the authority's node (their identity is the
    authority; ``signer`` holds its primary key).  The credential-signing purpose key is
    ``credential_signer`` with its ``credential_attestation``, or an in-memory key
    attested now.  Time comes from ``channels.now()``.
    """

    def __init__(
        self,
        channels: SecureChannels,
        signer: Signer,
        options: AuthorityOptions | None = None,
        *,
        members: AuthorityMembers | None = None,
        tokens: EnrollmentTokens | None = None,
        credential_signer: Signer | None = None,
        credential_attestation: PurposeKeyAttestation | None = None,
    ) -> None:
        self.channels = channels
        self.identity = channels.identity
        self.options = options or AuthorityOptions()
        self.members: AuthorityMembers = members if members is not None else MemoryAuthorityMembers()
        self.tokens: EnrollmentTokens = tokens if tokens is not None else MemoryEnrollmentTokens()
        if credential_signer is None:
            credential_signer = SigningSecret.generate()
            credential_attestation = None
        if credential_attestation is None:
            credential_attestation = create_purpose_key_attestation(
                self.identity, signer, CredentialSigningKey(credential_signer.public_key()), now=self.now()
            )
        self.credential_signer = credential_signer
        self.credential_attestation = credential_attestation
        account = self.options.account_authority
        self.account_authority: Identifier | None = None if account is None else account.identifier
        if account is not None:
            channels.learn(account)
        self.listener: SecureChannelListener | None = None

    @property
    def identifier(self) -> Identifier:
        return self.identity.identifier

    def now(self) -> int:
        return self.channels.now()

    # -- starting
    async def start(self, consumes: Iterable[str] = ()) -> SecureChannelListener:
        """Start the listener and the services (authority.md §2) on the channels' node.

        ``consumes``: the flow-control ids (the node's TCP listener) whose messages may
        reach the listener; the services are reached only through its channels."""
        node = self.channels.node
        self.listener = await self.channels.create_listener(
            self.options.listener,
            authority=self.account_authority,
            credential_retriever=None,
            consumes=consumes,
        )
        only_channels = (self.listener.flow_control_id,)
        services: list[tuple[str, Handler]] = []
        if self.options.direct_authentication:
            services.append((DIRECT_AUTHENTICATOR, self._direct))
        if self.options.token_enrollment:
            services.append((ENROLLMENT_TOKEN_ISSUER, self._token_issuer))
            services.append((ENROLLMENT_TOKEN_ACCEPTOR, self._token_acceptor))
        services.append((CREDENTIAL_ISSUER, self._credential_issuer))
        for address, handler in services:
            await node.start_worker(address, _AuthorityService(address, handler), consumes=only_channels)
        if not node.has_address(Address.local("echo")):
            await node.start_worker("echo", Echo(), consumes=only_channels)
        log.info("authority %s started (%s)", self.identifier, ", ".join(a for a, _ in services))
        return self.listener

    # -- roles
    def check_member(self, identifier: Identifier) -> EnrollerCheck:
        member = self.members.get_member(str(identifier))
        if member is None:
            return EnrollerCheck()
        return EnrollerCheck(True, is_enroller_attributes(member.attributes), False, member.is_pre_trusted)

    def _is_account_admin(self, identifier: Identifier) -> bool:
        if self.account_authority is None:
            return False
        entry = self.channels.attributes.get(identifier, self.account_authority, now=self.now())
        return (
            entry is not None and entry.attributes.get(b"project") == self.options.project_identifier.encode()
        )

    def check_identifier(self, identifier: Identifier) -> EnrollerCheck:
        """authority.md §3."""
        check = self.check_member(identifier)
        if self.account_authority is None:
            return EnrollerCheck(check.is_member, check.is_enroller, check.is_enroller, check.is_pre_trusted)
        if self._is_account_admin(identifier):
            return EnrollerCheck(True, True, True, check.is_pre_trusted)
        is_admin = not self.options.enforce_admin_checks and check.is_enroller
        return EnrollerCheck(check.is_member, check.is_enroller, is_admin, check.is_pre_trusted)

    # -- members (raise Refused)
    def bootstrap_pre_trusted(
        self, trusted: Mapping[str, Mapping[str, str]] | Mapping[Identifier, Mapping[str, str]]
    ) -> None:
        """Load ``--trusted-identities``: previous pre-trusted members are replaced."""
        now = self.now()
        self.members.bootstrap_pre_trusted_members(
            AuthorityMember(
                str(Identifier.coerce(identifier)),
                str(self.identifier),
                now,
                True,
                {k.encode(): v.encode() for k, v in attributes.items()},
            )
            for identifier, attributes in trusted.items()
        )

    def _require_enroller(self, caller: Identifier, message: str) -> EnrollerCheck:
        check = self.check_identifier(caller)
        if not check.is_enroller:
            log.warning("%s: %s", caller, message)
            raise Refused(message)
        return check

    def add_member(self, caller: Identifier, member: Identifier, attributes: Mapping[str, str]) -> None:
        check = self._require_enroller(caller, f"Non-enroller {caller} is trying to add a member {member}")
        if is_enroller_attributes(attributes) and not check.is_admin:
            raise Refused("Not pre trusted enroller is trying to create an enroller")
        self.members.add_member(
            AuthorityMember(
                str(member),
                str(caller),
                self.now(),
                False,
                {k.encode(): v.encode() for k, v in attributes.items()},
            )
        )
        log.info("%s added member %s with attributes %s", caller, member, dict(attributes))

    def _entry(self, member: AuthorityMember) -> AttributesEntry:
        return AttributesEntry(member.attributes, member.added_at, None, Identifier.parse(member.added_by))

    def list_members(self, caller: Identifier) -> dict[Identifier, AttributesEntry]:
        self._require_enroller(caller, "Non-enroller is trying to list members")
        return {Identifier.parse(m.identifier): self._entry(m) for m in self.members.get_members()}

    def show_member(self, caller: Identifier, member: Identifier) -> AttributesEntry:
        self._require_enroller(caller, "Non-enroller is trying to retrieve a member")
        row = self.members.get_member(str(member))
        if row is None:
            raise Refused(f"Member {member} not found")
        return self._entry(row)

    def delete_member(self, caller: Identifier, member: Identifier) -> None:
        check = self._require_enroller(caller, "Non-enroller is trying to delete a member")
        target = self.check_identifier(member)
        if target.is_pre_trusted:
            raise Refused("Enroller is trying to delete a pre trusted identity")
        if target.is_enroller and not check.is_admin:
            raise Refused("Not admin is trying to delete an enroller")
        self.members.delete_member(str(member))
        log.info("%s deleted member %s", caller, member)

    def delete_all_members(self, caller: Identifier) -> None:
        for member in self.list_members(caller):
            if member != caller:
                try:
                    self.delete_member(caller, member)
                except Refused as e:
                    log.info("member %s not deleted: %s", member, e)

    # -- enrollment tokens
    def issue_token(
        self,
        caller: Identifier,
        attributes: Mapping[str, str],
        ttl_secs: int | None = None,
        ttl_count: int | None = None,
    ) -> OneTimeCode:
        check = self._require_enroller(caller, "Non-enroller is trying to issue an enrollment token")
        if is_enroller_attributes(attributes) and not check.is_admin:
            raise Refused("Not admin is trying to issue an enrollment token for an enroller")
        code = OneTimeCode.generate()
        now = self.now()
        token = EnrollmentToken(
            one_time_code=code.hex,
            issued_by=str(caller),
            created_at=now,
            expires_at=now + (DEFAULT_TOKEN_TTL_SECS if ttl_secs is None else ttl_secs),
            ttl_count=DEFAULT_TOKEN_TTL_COUNT if ttl_count is None else ttl_count,
            attributes=dict(attributes),
            reference=_reference(),
        )
        self.tokens.store_new_token(token)
        log.info(
            "issued an enrollment token (reference %s, usage count %d, expires at %d)",
            token.reference,
            token.ttl_count,
            token.expires_at,
        )
        return code

    def accept_token(self, caller: Identifier, code: OneTimeCode) -> None:
        if self.check_member(caller).is_member:
            raise Refused("Already a member")
        try:
            token = self.tokens.use_token(code.hex, self.now())
        except OckamError as e:
            raise Refused(f"Error using the enrollment token: {e}") from None
        if token is None:
            spent = self.tokens.spent(code.hex)
            if spent is not None:
                reason, at = spent
                when = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
                log.warning("%s enrollment token received from %s", reason, caller)
                if reason == "expired":
                    raise Refused(f"Expired enrollment token: the ticket expired at {when}")
                raise Refused(f"Used enrollment token: the ticket's uses were spent (the last at {when})")
            log.warning("unknown enrollment token received from %s", caller)
            raise Refused("Unknown enrollment token: the ticket was not issued by this project's authority")
        self.members.add_member(
            AuthorityMember(
                str(caller),
                token.issued_by,
                self.now(),
                False,
                {k.encode(): v.encode() for k, v in token.attributes.items()},
            )
        )
        log.info("%s enrolled with the enrollment token %s", caller, token.reference)

    # -- credentials
    def _base_attributes(self) -> dict[bytes, bytes]:
        if self.options.disable_trust_context_id:
            return {}
        return {TRUST_CONTEXT_ID.encode(): self.options.project_identifier.encode()}

    def credential_attributes(self, subject: Identifier) -> dict[bytes, bytes] | None:
        """The attributes a credential for ``subject`` gets (None: not a member)."""
        attributes = self._base_attributes()
        if self._is_account_admin(subject):
            attributes[OCKAM_RELAY_ATTRIBUTE.encode()] = b"*"
            attributes[OCKAM_TLS_ATTRIBUTE.encode()] = b"true"
            return attributes
        member = self.members.get_member(str(subject))
        if member is None:
            return None
        attributes.update(member.attributes)
        return attributes

    def issue_credential(self, subject: Identifier | Identity) -> CredentialAndPurposeKey | None:
        """A credential for a member (None: not a member).  The subject's identity must be
        known (it is, once it opened a secure channel to the authority)."""
        identity = subject if isinstance(subject, Identity) else self.channels.known.get(subject)
        identifier = subject.identifier if isinstance(subject, Identity) else subject
        attributes = self.credential_attributes(identifier)
        if attributes is None:
            return None
        if identity is None:
            raise IdentityError(f"the identity {identifier} is not known to the authority")
        credential = issue_credential(
            self.credential_attestation,
            self.credential_signer,
            identity,
            Attributes(PROJECT_MEMBER_SCHEMA, attributes),
            now=self.now(),
            ttl=self.options.credential_ttl,
        )
        log.info("issued a credential for %s", identifier)
        return credential

    # -- request handlers (the caller is authenticated)
    async def _direct(self, caller: Identifier, req: Request) -> Response:
        segments = _segments(req.path)
        method = req.method
        if method == "POST" and segments in ([""], ["members"]):
            add = AddMember.from_cbor(req.body)
            self.add_member(caller, Identifier(add.member), add.attributes)
            return _ok(req)
        if method == "GET" and segments == ["member_ids"]:
            return _ok(req, [i.value for i in self.list_members(caller)])
        if method == "GET" and segments in ([""], ["members"]):
            members = self.list_members(caller)
            return _ok(req, {i.value: e.to_cbor() for i, e in members.items()})
        if method == "GET" and (len(segments) == 1 or (len(segments) == 2 and segments[0] == "members")):
            return _ok(req, self.show_member(caller, _identifier(segments[-1])).to_cbor())
        if method == "DELETE" and segments == ["members"]:
            self.delete_all_members(caller)
            return _ok(req)
        if method == "DELETE" and (len(segments) == 1 or (len(segments) == 2 and segments[0] == "members")):
            self.delete_member(caller, _identifier(segments[-1]))
            return _ok(req)
        return _error(req, 400, "unknown path")

    async def _token_issuer(self, caller: Identifier, req: Request) -> Response:
        if req.method == "POST" and req.path in ("/", "/tokens"):
            body = CreateToken.from_cbor(req.body)
            code = self.issue_token(caller, body.attributes, body.ttl_secs, body.ttl_count)
            return _ok(req, code.to_cbor())
        return _error(req, 400, "unknown path")

    async def _token_acceptor(self, caller: Identifier, req: Request) -> Response:
        if req.method == "POST" and req.path in ("/", "/credential"):
            self.accept_token(caller, OneTimeCode.from_cbor(req.body))
            return _ok(req)
        return _error(req, 400, "unknown path")

    async def _credential_issuer(self, caller: Identifier, req: Request) -> Response:
        if req.method == "POST" and req.path in ("/", "/credential"):
            try:
                credential = self.issue_credential(caller)
            except OckamError as e:
                return _error(req, 500, str(e))
            if credential is None:
                return _error(req, 403, "unauthorized member")
            return _ok(req, credential.to_cbor())
        return _error(req, 400, "unknown path")

    # -- views
    def members_json(self, members: Mapping[Identifier, AttributesEntry]) -> dict[str, Any]:
        return {str(i): e.to_json() for i, e in members.items()}


Handler = Callable[[Identifier, Request], Awaitable[Response]]


def _segments(path: str) -> list[str]:
    """Rust ``Segments::<5>``: leading ``/`` removed, split on ``/`` at most 5 times."""
    return path.lstrip("/").split("/", 4)


def _identifier(text: str) -> Identifier:
    try:
        return Identifier.parse(text)
    except IdentityError as e:
        raise DecodeError(str(e)) from None


def _ok(req: Request, body: Any = None) -> Response:
    return Response(200, re=req.id) if body is None else Response(200, body, re=req.id)


def _error(req: Request, status: int, message: str) -> Response:
    return Response(status, encode_error_body(message, req.path, req.method or None), re=req.id)


class _AuthorityService(Worker):
    """One authority service: authenticate, decode, dispatch, answer."""

    def __init__(self, name: str, handler: Handler) -> None:
        self.name = name
        self.handler = handler

    async def handle_message(self, ctx: Context, msg: LocalMessage) -> None:
        caller = msg.local_info.get("identifier")
        if not isinstance(caller, Identifier):
            response = Response(400, encode_error_body("secure channel required"))
            await ctx.forward(msg.reply(response.encode(), ctx.address))
            return
        try:
            req = decode_request(msg.payload)
        except OckamError as e:
            log.warning("%s: dropping an undecodable request from %s: %s", self.name, caller, e)
            return
        try:
            response = await self.handler(caller, req)
        except Refused as e:
            response = _error(req, 403, str(e))
        except DecodeError as e:
            response = _error(req, 400, f"bad request: {e}")
        except OckamError as e:
            log.warning("%s: %s", self.name, e)
            response = _error(req, 500, str(e))
        await ctx.forward(msg.reply(response.encode(), ctx.address))
