"""The client side of an authority, and credential retrieval (authority.md §4-§7, §10.6).

* :class:`AuthorityClient` - talks to an authority's services over a secure channel that
  trusts only the authority; like Rust's ``SecureClient`` each request uses a fresh channel
  (and TCP connection, when the route starts with one) closed afterwards.
* :class:`RemoteCredentialRetriever` - a member node's credential: taken from the cache
  if it is valid for more than the clock-skew gap, otherwise requested from the
  authority's ``credential_issuer``; every credential is verified (subject = self,
  issuer = authority) and cached; a refresh is scheduled ``clock skew + proactive gap``
  before expiry, and subscribers (the node's secure channels) are notified of each new
  credential.  A failure is retried in the background after 10 s, then twice as long
  each time up to 10 min (logged once while the reason stays the same); meanwhile a
  channel asking for the credential gets the same failure at once instead of asking the
  authority again.
* :class:`CachedCredentialRetriever` - only the cached credential of one scope (a node
  with ``--credential-scope`` and no authority route, or ``credential store``).

Timing decisions are pure functions of ``now`` (:func:`refresh_delay`); the clock is
passed in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..codec.address import Address
from ..codec.route import Route
from ..errors import ApiError, DecodeError, IdentityError, OckamError, TimeoutError_
from ..identity import (
    AttributesEntry,
    CredentialAndPurposeKey,
    CredentialRetriever,
    CredentialSubscriber,
    Identifier,
    VerifiedCredential,
    notify_subscribers,
    verify_credential,
)
from ..protocol.api_wire import Request, Response, decode_response
from ..protocol.authority import (
    CREDENTIAL_ISSUER,
    DIRECT_AUTHENTICATOR,
    ENROLLMENT_TOKEN_ACCEPTOR,
    ENROLLMENT_TOKEN_ISSUER,
    AddMember,
    CreateToken,
    OneTimeCode,
)
from ..transport.tcp import TcpConnection, TcpTransport
from .secure_channel import DEFAULT_TIMEOUT, ChannelIdentity, SecureChannels

__all__ = [
    "CLOCK_SKEW_GAP",
    "MAX_RETRY_INTERVAL",
    "MIN_REFRESH_INTERVAL",
    "PROACTIVE_REFRESH_GAP",
    "AuthorityClient",
    "CachedCredentialRetriever",
    "CredentialCache",
    "EnrollResult",
    "MemoryCredentialCache",
    "RemoteCredentialRetriever",
    "project_member_scope",
    "refresh_delay",
]

log = logging.getLogger("ockam.credentials")

CLOCK_SKEW_GAP = 60
PROACTIVE_REFRESH_GAP = 60
MIN_REFRESH_INTERVAL = 10.0
MAX_RETRY_INTERVAL = 600.0


def project_member_scope(project_id: str) -> str:
    """The cache scope of project-member credentials."""
    return f"project-member-{project_id}"


class CredentialCache(Protocol):
    """Credentials a node holds for itself, by (subject, issuer, scope), as raw CBOR
    (:class:`ockam.state.credentials.CredentialTable` implements it)."""

    def get_credential(self, subject: str, issuer: str, scope: str) -> bytes | None: ...

    def put_credential(
        self, subject: str, issuer: str, scope: str, expires_at: int | None, credential: bytes
    ) -> None: ...


class MemoryCredentialCache:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, str], bytes] = {}

    def get_credential(self, subject: str, issuer: str, scope: str) -> bytes | None:
        return self.rows.get((subject, issuer, scope))

    def put_credential(
        self, subject: str, issuer: str, scope: str, expires_at: int | None, credential: bytes
    ) -> None:
        self.rows[(subject, issuer, scope)] = credential


def refresh_delay(
    now: int,
    expires_at: int | None,
    *,
    is_retry: bool = False,
    clock_skew_gap: int = CLOCK_SKEW_GAP,
    proactive_gap: int = PROACTIVE_REFRESH_GAP,
    min_refresh_interval: float = MIN_REFRESH_INTERVAL,
) -> tuple[float, bool]:
    """When to ask for a new credential, and whether the current one (expiring at
    ``expires_at``, None: there is none) may still be presented."""
    expires = now if expires_at is None else expires_at
    has_valid = False
    if expires <= now + clock_skew_gap:
        delay = 0.0
    elif expires <= now + clock_skew_gap + proactive_gap:
        has_valid = True
        delay = 0.0
    else:
        has_valid = True
        delay = float(expires - now - clock_skew_gap - proactive_gap)
    if is_retry:
        delay = max(min_refresh_interval, delay)
    return delay, has_valid


@dataclass(frozen=True)
class EnrollResult:
    enrolled: bool  # False: the identity already was a member ("already enrolled")


class AuthorityClient:
    """Requests to an authority reachable at ``route`` (ending at its secure-channel
    listener, e.g. ``1#127.0.0.1:4000 => api``), as ``me`` (default: the node's identity).

    A route starting with a TCP address is connected through ``tcp`` for each request and
    disconnected afterwards.  Non-200 answers raise :class:`ApiError` with the
    authority's message.  ``credential_retriever`` is presented on the channels (e.g. an
    account-authority admin credential); by default none is.
    """

    def __init__(
        self,
        channels: SecureChannels,
        route: Route,
        authority: Identifier,
        *,
        tcp: TcpTransport | None = None,
        me: ChannelIdentity | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        credential_retriever: CredentialRetriever | None = None,
    ) -> None:
        self.credential_retriever = credential_retriever
        self.channels = channels
        self.route = route
        self.authority = authority
        self.tcp = tcp
        self.me = me
        self.timeout = timeout

    @property
    def subject(self) -> Identifier:
        return (self.me or self.channels.me).identity.identifier

    async def _connect(self) -> tuple[Route, TcpConnection | None]:
        first = self.route.addresses[0] if self.route else None
        if first is None or first.is_local or self.tcp is None:
            return self.route, None
        connection = await self.tcp.connect(first.text)
        return Route((connection.sender, *self.route.addresses[1:])), connection

    async def request(self, service: str, req: Request) -> Response:
        """One request on a fresh secure channel (closed afterwards)."""
        route, connection = await self._connect()
        channel = None
        try:
            channel = await self.channels.create_channel(
                route,
                authorized=[self.authority],
                timeout=self.timeout,
                me=self.me,
                authority=None,
                credential_retriever=self.credential_retriever,
            )
            with self.channels.node.context() as ctx:
                await ctx.send(Route((channel.encryptor, Address.local(service))), req.encode())
                deadline = time.monotonic() + self.timeout
                while True:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimeoutError_(
                            f"no answer from the authority's {service} within {self.timeout:g} s"
                        )
                    reply = await ctx.receive(remaining)
                    response = decode_response(reply.payload)
                    if response.re in (req.id, 0):
                        return response
        finally:
            if channel is not None:
                await self.channels.close(channel.encryptor)
            if connection is not None and self.tcp is not None:
                await self.tcp.disconnect(connection)

    async def ask(self, service: str, method: str, path: str = "/", body: Any = None) -> Response:
        req = (
            Request(path=path, method=method)
            if body is None
            else Request(path=path, method=method, body=body)
        )
        response = await self.request(service, req)
        if not response.ok:
            raise ApiError(response.error_message(), response.status)
        return response

    # -- members (direct_authenticator)
    async def add_member(self, member: Identifier | str, attributes: Mapping[str, str] | None = None) -> None:
        body = AddMember(Identifier.coerce(member).value, dict(attributes or {}))
        await self.ask(DIRECT_AUTHENTICATOR, "POST", "/", body.to_cbor())

    async def member_ids(self) -> list[Identifier]:
        body = (await self.ask(DIRECT_AUTHENTICATOR, "GET", "/member_ids")).body
        if not isinstance(body, list):
            raise DecodeError("invalid member ids")
        return [Identifier(bytes(i)) for i in body]

    async def list_members(self) -> dict[Identifier, AttributesEntry]:
        body = (await self.ask(DIRECT_AUTHENTICATOR, "GET", "/")).body
        if not isinstance(body, dict):
            raise DecodeError("invalid member list")
        return {Identifier(bytes(k)): AttributesEntry.from_cbor(v) for k, v in body.items()}

    async def show_member(self, member: Identifier | str) -> AttributesEntry:
        body = (await self.ask(DIRECT_AUTHENTICATOR, "GET", f"/{Identifier.coerce(member)}")).body
        return AttributesEntry.from_cbor(body)

    async def delete_member(self, member: Identifier | str) -> None:
        await self.ask(DIRECT_AUTHENTICATOR, "DELETE", f"/{Identifier.coerce(member)}")

    async def delete_all_members(self) -> None:
        await self.ask(DIRECT_AUTHENTICATOR, "DELETE", "/members")

    # -- enrollment
    async def create_token(
        self,
        attributes: Mapping[str, str] | None = None,
        *,
        ttl_secs: int | None = None,
        ttl_count: int | None = None,
    ) -> OneTimeCode:
        body = CreateToken(dict(attributes or {}), ttl_secs, ttl_count)
        response = await self.ask(ENROLLMENT_TOKEN_ISSUER, "POST", "/", body.to_cbor())
        return OneTimeCode.from_cbor(response.body)

    async def enroll(self, code: OneTimeCode | str) -> EnrollResult:
        """Redeem a one-time code; an "already a member" refusal counts as success."""
        otc = OneTimeCode.parse(code) if isinstance(code, str) else code
        try:
            await self.ask(ENROLLMENT_TOKEN_ACCEPTOR, "POST", "/", otc.to_cbor())
        except ApiError as e:
            if e.status == 403 and "already a member" in str(e).lower():
                return EnrollResult(False)
            raise
        return EnrollResult(True)

    # -- credentials
    async def credential(
        self, *, now: int | None = None
    ) -> tuple[CredentialAndPurposeKey, VerifiedCredential]:
        """A new credential for ``me`` from the ``credential_issuer``, verified."""
        response = await self.ask(CREDENTIAL_ISSUER, "POST", "/")
        credential = CredentialAndPurposeKey.from_cbor(response.body)
        verified = verify_credential(
            credential,
            self.channels.known,
            [self.authority],
            now=self.channels.now() if now is None else now,
            expected_subject=self.subject,
        )
        return credential, verified


class CachedCredentialRetriever:
    """The cached credential of (subject, issuer, scope); no network.

    Alone (a node with ``--credential-scope`` and no authority route, or ``credential
    store``) it presents the stored credential until it expires (``clock_skew_gap`` 0:
    it cannot be refreshed, so even a short-lived one is presented); the remote retriever
    uses it with its clock-skew gap to decide when to fetch a new one."""

    def __init__(
        self,
        channels: SecureChannels,
        cache: CredentialCache,
        issuer: Identifier,
        scope: str,
        *,
        subject: Identifier | None = None,
        clock_skew_gap: int = 0,
    ) -> None:
        self.channels = channels
        self.cache = cache
        self.issuer = issuer
        self.scope = scope
        self.subject = subject or channels.identity.identifier
        self.clock_skew_gap = clock_skew_gap
        self.subscribers: list[CredentialSubscriber] = []

    def cached(self) -> tuple[CredentialAndPurposeKey, int] | None:
        """The cached credential and its expiry, if it verifies and is valid for more
        than the clock-skew gap."""
        raw = self.cache.get_credential(str(self.subject), str(self.issuer), self.scope)
        if raw is None:
            return None
        now = self.channels.now()
        try:
            credential = CredentialAndPurposeKey.decode(raw)
            verified = verify_credential(
                credential, self.channels.known, [self.issuer], now=now, expected_subject=self.subject
            )
        except OckamError as e:
            log.info("the cached credential of %s (scope %s) is not usable: %s", self.subject, self.scope, e)
            return None
        if verified.expires_at <= now + self.clock_skew_gap:
            return None
        return credential, verified.expires_at

    async def retrieve(self) -> CredentialAndPurposeKey:
        found = self.cached()
        if found is None:
            raise IdentityError(f"no valid credential for {self.subject} in the scope {self.scope}")
        return found[0]

    def subscribe(self, subscriber: CredentialSubscriber) -> None:
        self.subscribers.append(subscriber)


class RemoteCredentialRetriever:
    """A member's credential from its authority, cached and refreshed before expiry."""

    def __init__(
        self,
        client: AuthorityClient,
        *,
        cache: CredentialCache | None = None,
        scope: str = "",
        clock_skew_gap: int = CLOCK_SKEW_GAP,
        proactive_gap: int = PROACTIVE_REFRESH_GAP,
        min_refresh_interval: float = MIN_REFRESH_INTERVAL,
    ) -> None:
        self.client = client
        self.cache: CredentialCache = cache if cache is not None else MemoryCredentialCache()
        self.scope = scope
        self.clock_skew_gap = clock_skew_gap
        self.proactive_gap = proactive_gap
        self.min_refresh_interval = min_refresh_interval
        self.subscribers: list[CredentialSubscriber] = []
        self.credential: CredentialAndPurposeKey | None = None
        self.expires_at: int | None = None
        self._lock = asyncio.Lock()
        self._initialized = False
        self._refresh: asyncio.Task[None] | None = None
        self.refreshes = 0  # credentials obtained from the authority
        # the last failure (until the next retry, channels get it without a request)
        self.failure: OckamError | None = None
        self.failures = 0
        self._retry_at = 0.0

    @property
    def channels(self) -> SecureChannels:
        return self.client.channels

    def subscribe(self, subscriber: CredentialSubscriber) -> None:
        self.subscribers.append(subscriber)

    def _delay(self, is_retry: bool) -> tuple[float, bool]:
        return refresh_delay(
            self.channels.now(),
            self.expires_at,
            is_retry=is_retry,
            clock_skew_gap=self.clock_skew_gap,
            proactive_gap=self.proactive_gap,
            min_refresh_interval=self.min_refresh_interval,
        )

    async def initialize(self) -> None:
        async with self._lock:
            if self._initialized:
                return
            cached = CachedCredentialRetriever(
                self.channels,
                self.cache,
                self.client.authority,
                self.scope,
                subject=self.client.subject,
                clock_skew_gap=self.clock_skew_gap,
            ).cached()
            if cached is not None:
                self.credential, self.expires_at = cached
            delay, has_valid = self._delay(False)
            if not has_valid:
                await self._get_new_credential()
            else:
                self._schedule(delay, False)
            self._initialized = True

    async def retrieve(self) -> CredentialAndPurposeKey:
        failure = self.failure
        if failure is not None and self.credential is None and time.monotonic() < self._retry_at:
            raise failure
        await self.initialize()
        _, has_valid = self._delay(False)
        if not has_valid or self.credential is None:
            async with self._lock:
                _, has_valid = self._delay(False)
                if not has_valid or self.credential is None:
                    await self._get_new_credential()
        assert self.credential is not None
        return self.credential

    async def _get_new_credential(self) -> None:
        try:
            credential, verified = await self.client.credential()
        except OckamError as e:
            self._failed(e)
            raise
        except Exception as e:  # network failures must look like Ockam errors to channels
            error = IdentityError(f"cannot retrieve a credential from {self.client.authority}: {e}")
            self._failed(error)
            raise error from e
        if self.failure is not None:
            log.info("credentials from %s are available again", self.client.authority)
        self.failure, self.failures = None, 0
        self.credential = credential
        self.expires_at = verified.expires_at
        self.refreshes += 1
        log.info("retrieved a new credential for %s from %s", self.client.subject, self.client.authority)
        try:
            self.cache.put_credential(
                str(self.client.subject),
                str(self.client.authority),
                self.scope,
                verified.expires_at,
                credential.encode(),
            )
        except OckamError as e:
            log.error("cannot cache the credential of %s: %s", self.client.subject, e)
        await notify_subscribers(self.subscribers, credential)
        delay, _ = self._delay(False)
        self._schedule(delay, False)

    def _failed(self, error: OckamError) -> None:
        """Retry later, less and less often; log a reason once."""
        if self.failure is None or str(self.failure) != str(error):
            log.warning("no credential from %s for %s: %s", self.client.authority, self.client.subject, error)
        self.failure = error
        self.failures += 1
        delay = min(MAX_RETRY_INTERVAL, self.min_refresh_interval * 2 ** (self.failures - 1))
        self._retry_at = time.monotonic() + delay
        self._schedule(delay, True, quiet=True)

    def _schedule(self, delay: float, is_retry: bool, quiet: bool = False) -> None:
        if is_retry:
            delay = max(self.min_refresh_interval, delay)
        if (
            self._refresh is not None
            and not self._refresh.done()
            and self._refresh is not asyncio.current_task()
        ):
            self._refresh.cancel()
        (log.debug if quiet else log.info)(
            "next credential refresh from %s in %.0f s", self.client.authority, delay
        )
        self._refresh = self.channels.node.spawn(self._refresh_after(delay), name="credential refresh")

    async def _refresh_after(self, delay: float) -> None:
        await asyncio.sleep(delay)
        async with self._lock:
            with contextlib.suppress(OckamError):  # (logged by _failed)
                await self._get_new_credential()

    def stop(self) -> None:
        if self._refresh is not None:
            self._refresh.cancel()
