"""Secure channels on a node: listener, initiator and responder, encryptor and decryptor.

The Noise XX handshake and the transport encryption are the sans-IO cores of
:mod:`ockam.protocol.noise_xx` and :mod:`ockam.protocol.secure_channel`; this module
moves their bytes along routes (secure-channel.md §6, §7, §10):

* each side has a ``decryptor_remote`` address (handshake messages and ciphertexts
  arrive there), a ``decryptor_internal`` address (decrypted messages leave from it)
  and an ``encryptor`` address (plaintext goes in; it is *the* channel address);
* a listener (``api`` on CLI nodes) turns every message it receives into a new
  responder;
* decrypted messages carry the peer's identifier in ``local_info["identifier"]``;
* credentials (§5.5, §5.6, §10): a side with a credential retriever presents its
  credential in handshake messages 2/3 and sends ``RefreshCredentials`` when the retriever
  has a new one; a side with an authority verifies what the peer presents and stores the
  attributes in :attr:`SecureChannels.attributes` (what access control reads).  An invalid
  or missing credential never fails the handshake;
* flow control (§11): a listener is a spawner (its ``flow_control_id``), each channel's
  ``decryptor_internal`` a producer (its ``flow_control_id``; responders also have their
  listener's): decrypted messages reach only the consumers of those ids.  A responder's
  ``decryptor_remote`` consumes what its listener consumes (so the rest of the handshake
  and the ciphertexts reach it the way message 1 did), an initiator's the flow control of
  the first hop of its route;
* a responder whose handshake fails, does not finish within ``HANDSHAKE_TIMEOUT`` or
  loses its connection (the first hop of message 1's return route) is freed at once;
  at most ``MAX_HANDSHAKES_PER_LISTENER`` handshakes are in progress per listener and
  ``MAX_HANDSHAKES_PER_CONNECTION`` per connection (further message 1s are dropped).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..codec.address import Address
from ..codec.route import Route
from ..errors import OckamError, SecureChannelError, TimeoutError_
from ..identity import (
    AttributesStore,
    CredentialAndPurposeKey,
    CredentialRetriever,
    Identifier,
    Identity,
    IdentityAndCredentials,
    PurposeKeyAttestation,
    SecureChannelStaticKey,
    create_purpose_key_attestation,
    verify_change_history,
    verify_credential,
    verify_purpose_key_attestation,
)
from ..node.flow_control import ProducerInfo, new_flow_control_id
from ..node.message import FLOW_CONTROL_ID, LocalMessage
from ..node.runtime import Context, Node, Worker
from ..protocol.crypto import DhKey, Signer, X25519Secret
from ..protocol.noise_xx import Handshake
from ..protocol.secure_channel import (
    CloseMessage,
    Decryptor,
    Encryptor,
    PayloadEncoder,
    PayloadMessage,
    RefreshCredentialsMessage,
    decode_plaintext,
    encode_plaintext,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "HANDSHAKE_TIMEOUT",
    "MAX_HANDSHAKES_PER_CONNECTION",
    "MAX_HANDSHAKES_PER_LISTENER",
    "NODE_DEFAULT",
    "OUTGOING_CHECK",
    "ChannelIdentity",
    "SecureChannel",
    "SecureChannelListener",
    "SecureChannels",
    "TrustPolicy",
    "trust_identifiers",
]

log = logging.getLogger("ockam.secure_channel")

# Messages an encryptor or decryptor queues while it waits for the next hop (its data path
# handles them at once otherwise): a few hundred KiB of portal payloads, so that little is
# in flight past a decision (e.g. an access control) taken when a message leaves a node.
CHANNEL_MAILBOX_SIZE = 32

DEFAULT_TIMEOUT = 120.0
# Seconds a responder waits for the initiator's message 3 (the initiator may first fetch its
# credential from an authority); then it is freed.
HANDSHAKE_TIMEOUT = 10.0
# Handshakes in progress (responders waiting for message 3) per listener, and per
# connection (the first hop of message 1's return route): further message 1s are dropped.
MAX_HANDSHAKES_PER_LISTENER = 256
MAX_HANDSHAKES_PER_CONNECTION = 32
_EMPTY_ROUTE = Route()

#: ``local_info`` key of a message whose sender's access control must still allow it when
#: it leaves through a channel: a callable returning False when the message is to be
#: dropped (e.g. a portal connection whose peer lost its credential meanwhile).
OUTGOING_CHECK = "outgoing_access_check"

TrustPolicy = Callable[[Identifier], bool]


class _NodeDefault(enum.Enum):
    NODE_DEFAULT = "node default"


#: For ``authority`` / ``credential_retriever`` arguments: use the node's (the retriever only
#: for channels with the node's own identity).  Pass None for "none".
NODE_DEFAULT = _NodeDefault.NODE_DEFAULT


def trust_identifiers(identifiers: Iterable[Identifier | str] | None) -> TrustPolicy:
    """Trust everyone (``None`` or empty) or only the given identifiers."""
    allowed = {Identifier.coerce(i) for i in identifiers or ()}
    if not allowed:
        return lambda _: True
    return lambda identifier: identifier in allowed


@dataclass(frozen=True)
class ChannelIdentity:
    """Who this side of a channel is: an identity, its Noise static key and the purpose-key
    attestation that binds the two."""

    identity: Identity
    static_key: DhKey
    attestation: PurposeKeyAttestation

    def payload(self, credentials: Sequence[CredentialAndPurposeKey] = ()) -> bytes:
        changes = tuple(c.change for c in self.identity.changes)
        return IdentityAndCredentials(changes, self.attestation, tuple(credentials)).encode()


@dataclass
class SecureChannel:
    """One established (or establishing) channel, as seen from this node."""

    encryptor: Address
    decryptor_remote: Address
    decryptor_internal: Address
    is_initiator: bool
    their_identifier: Identifier | None = None
    route_to_peer: Route = field(default_factory=Route)
    authorized: tuple[Identifier, ...] = ()
    flow_control_id: str = field(default_factory=new_flow_control_id)
    # the listener's id, for a responder
    spawner_flow_control_id: str | None = None
    me: ChannelIdentity | None = None
    # verifies the peer's credentials (None: they are ignored)
    authority: Identifier | None = None
    # what this side presents (None: no credential)
    credential_retriever: CredentialRetriever | None = None
    presented_credential: CredentialAndPurposeKey | None = None

    @property
    def established(self) -> bool:
        return self.their_identifier is not None


@dataclass
class SecureChannelListener:
    address: Address
    authorized: tuple[Identifier, ...] = ()
    flow_control_id: str = field(default_factory=new_flow_control_id)  # the spawner id
    # the identity its channels use (None: the node's)
    me: ChannelIdentity | None = None
    authority: Identifier | None = None
    credential_retriever: CredentialRetriever | None = None


class SecureChannels:
    """The secure-channel machinery of one node, for one identity.

    ``authority`` (its identity, or its identifier if that identity is learnt otherwise)
    is the default issuer trusted for the peers' credentials; ``credential_retriever``
    gives the credential that channels of the node's identity present; ``attributes``
    receives the attributes of verified credentials.
    """

    def __init__(
        self,
        node: Node,
        identity: Identity,
        signer: Signer,
        static_key: X25519Secret | DhKey | None = None,
        attestation: PurposeKeyAttestation | None = None,
        clock: Callable[[], float] = time.time,
        *,
        authority: Identity | Identifier | None = None,
        credential_retriever: CredentialRetriever | None = None,
        attributes: AttributesStore | None = None,
    ) -> None:
        self.node = node
        self.identity = identity
        self.signer = signer
        self.clock = clock
        self.static_key: DhKey = static_key or X25519Secret.generate()
        self.attestation = attestation or create_purpose_key_attestation(
            identity, signer, SecureChannelStaticKey(self.static_key.public_key), now=self.now()
        )
        self.me = ChannelIdentity(identity, self.static_key, self.attestation)
        self.known: dict[Identifier, Identity] = {identity.identifier: identity}
        self.channels: dict[Address, SecureChannel] = {}
        self.listeners: dict[Address, SecureChannelListener] = {}
        self.attributes = attributes if attributes is not None else AttributesStore()
        self.credential_retriever = credential_retriever
        self.authority: Identifier | None = None
        self.set_authority(authority)
        self._subscribed: list[CredentialRetriever] = []
        self._unavailable: set[tuple[Identifier, str]] = set()
        self.handshake_timeout = HANDSHAKE_TIMEOUT
        self.max_handshakes_per_listener = MAX_HANDSHAKES_PER_LISTENER
        self.max_handshakes_per_connection = MAX_HANDSHAKES_PER_CONNECTION
        # responders in the middle of a handshake: encryptor -> (listener, first hop, timer)
        self._handshakes: dict[Address, tuple[Address, Address | None, asyncio.TimerHandle]] = {}
        self._handshakes_by_listener: dict[Address, set[Address]] = {}
        self._handshakes_by_hop: dict[Address, set[Address]] = {}

    def set_authority(self, authority: Identity | Identifier | None) -> None:
        """Trust ``authority`` for the credentials peers present (an identity is also
        remembered, so its credentials can be verified)."""
        if isinstance(authority, Identity):
            self.learn(authority)
            self.authority = authority.identifier
        else:
            self.authority = authority

    def learn(self, identity: Identity) -> None:
        """Remember ``identity`` (a newer history replaces an older one)."""
        known = self.known.get(identity.identifier)
        if known is None or len(identity.changes) >= len(known.changes):
            self.known[identity.identifier] = identity

    def _authority(self, authority: Identifier | str | _NodeDefault | None) -> Identifier | None:
        if authority is NODE_DEFAULT:
            return self.authority
        return None if authority is None else Identifier.coerce(authority)

    def _retriever(
        self, retriever: CredentialRetriever | _NodeDefault | None, me: ChannelIdentity | None
    ) -> CredentialRetriever | None:
        if retriever is not NODE_DEFAULT:
            return retriever
        if me is None or me.identity.identifier == self.identity.identifier:
            return self.credential_retriever
        return None

    def now(self) -> int:
        return int(self.clock())

    def payload(self) -> bytes:
        return self.me.payload()

    def verify_peer(
        self, payload: bytes, remote_static: bytes, trust: TrustPolicy, authority: Identifier | None = None
    ) -> Identifier:
        """Check the peer's identity payload against the Noise static key, then its
        credentials against ``authority`` (§5.6)."""
        data = IdentityAndCredentials.decode(payload)
        peer = verify_change_history(data.change_history)
        self.learn(peer)
        attested = verify_purpose_key_attestation(
            data.purpose_key_attestation, peer, now=self.now(), expected_subject=peer.identifier
        )
        if not isinstance(attested.public_key, SecureChannelStaticKey):
            raise SecureChannelError("the peer's purpose key is not a secure-channel key")
        if attested.public_key.public_key != remote_static:
            raise SecureChannelError("the peer's purpose key is not its Noise static key")
        if not trust(peer.identifier):
            raise SecureChannelError(f"the identity {peer.identifier} is not authorized on this channel")
        self.receive_credentials(peer.identifier, data.credentials, authority)
        return peer.identifier

    def receive_credentials(
        self,
        peer: Identifier,
        credentials: Sequence[CredentialAndPurposeKey | bytes],
        authority: Identifier | None,
    ) -> int:
        """Verify credentials presented by ``peer`` and store their attributes; invalid ones
        are logged and skipped.  Returns how many were stored."""
        if authority is None:
            if credentials:
                log.warning("credentials were presented by %s, but no authority is configured", peer)
            return 0
        if not credentials:
            log.info("no credentials were received from %s (expected authority: %s)", peer, authority)
        stored = 0
        for credential in credentials:
            try:
                verified = verify_credential(
                    credential, self.known, [authority], now=self.now(), expected_subject=peer
                )
            except OckamError as e:
                log.warning("a credential from %s could not be validated: %s", peer, e)
                continue
            self.attributes.put_credential(verified, now=self.now())
            stored += 1
            log.info("stored the attributes of %s attested by %s", peer, verified.issuer)
        return stored

    def credential_unavailable(self, identifier: Identifier, error: OckamError) -> None:
        """A channel of ``identifier`` goes on without a credential: said once per reason."""
        key = (identifier, str(error))
        if key in self._unavailable:
            return
        self._unavailable.add(key)
        log.warning(
            "%s has no credential to present (%s); its secure channels go on without one", identifier, error
        )

    def receive_refresh(self, channel: SecureChannel, message: RefreshCredentialsMessage) -> None:
        """§10: the peer's (possibly newer) change history and new credentials."""
        peer = channel.their_identifier
        assert peer is not None
        try:
            identity = verify_change_history(message.change_history, peer)
            self.learn(identity)
            self.receive_credentials(peer, message.credentials, channel.authority)
        except OckamError as e:
            log.warning("secure channel %s: invalid credentials refresh: %s", channel.encryptor, e)

    # -- creating
    async def create_listener(
        self,
        address: str | Address = "api",
        authorized: Iterable[Identifier | str] | None = None,
        me: ChannelIdentity | None = None,
        *,
        authority: Identifier | str | _NodeDefault | None = NODE_DEFAULT,
        credential_retriever: CredentialRetriever | _NodeDefault | None = NODE_DEFAULT,
        consumes: Iterable[str] = (),
    ) -> SecureChannelListener:
        """Accept channels at ``address``; ``consumes``: the flow-control ids (TCP
        listeners, connections...) whose messages may reach it.  Its channels' decrypted
        messages reach the consumers of ``listener.flow_control_id``."""
        addr = Address.parse(address) if isinstance(address, str) else address
        ids = tuple(Identifier.coerce(i) for i in authorized or ())
        listener = SecureChannelListener(
            addr,
            ids,
            me=me,
            authority=self._authority(authority),
            credential_retriever=self._retriever(credential_retriever, me),
        )
        await self.node.start_worker(addr, _Listener(self, listener), consumes=consumes)
        self.node.flow_controls.add_spawner(addr, listener.flow_control_id)
        self.listeners[addr] = listener
        return listener

    async def delete_listener(self, address: Address) -> bool:
        if self.listeners.pop(address, None) is None:
            return False
        await self.node.stop_worker(address)
        return True

    async def create_channel(
        self,
        route: Route,
        authorized: Iterable[Identifier | str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        me: ChannelIdentity | None = None,
        *,
        authority: Identifier | str | _NodeDefault | None = NODE_DEFAULT,
        credential_retriever: CredentialRetriever | _NodeDefault | None = NODE_DEFAULT,
    ) -> SecureChannel:
        """Run the handshake as initiator over ``route`` (ending at a listener), as ``me``
        (default: the node's identity).  ``authority`` verifies the responder's
        credentials; ``credential_retriever`` gives the credential presented in message 3."""
        ids = tuple(Identifier.coerce(i) for i in authorized or ())
        channel = _new_channel(True, ids, me or self.me)
        channel.authority = self._authority(authority)
        channel.credential_retriever = self._retriever(credential_retriever, me)
        done: asyncio.Future[Identifier] = asyncio.get_running_loop().create_future()
        handshake = Handshake(True, (me or self.me).static_key)
        decryptor = _DecryptorWorker(self, channel, handshake, trust_identifiers(ids), done)
        await self._start(channel, decryptor)
        try:
            route = await self.node.resolve_route(route)  # (a leading 1#host:port: a connection)
        except BaseException:
            await self.close(channel.encryptor, notify=False)
            raise
        if route:
            # the answers come back through the first hop (a TCP connection, a channel...)
            hop = self.node.flow_controls.find_producer(route.addresses[0])
            if hop is not None:
                self.node.flow_controls.add_consumer(channel.decryptor_remote, hop.flow_control_id)
        try:
            first = handshake.write_message()
            await decryptor.ctx.send(route, first, from_=channel.decryptor_remote)
            await asyncio.wait_for(asyncio.shield(done), timeout)
        except TimeoutError:
            await self.close(channel.encryptor, notify=False)
            raise TimeoutError_(
                f"timed out after {timeout:g} s establishing a secure channel to {route}"
            ) from None
        except BaseException:
            await self.close(channel.encryptor, notify=False)
            raise
        return channel

    async def _start(self, channel: SecureChannel, decryptor: _DecryptorWorker) -> None:
        await self.node.start_worker(
            [channel.decryptor_remote, channel.decryptor_internal],
            decryptor,
            mailbox_size=CHANNEL_MAILBOX_SIZE,
        )
        await self.node.start_worker(
            channel.encryptor, _EncryptorWorker(self, channel, decryptor), mailbox_size=CHANNEL_MAILBOX_SIZE
        )
        decryptor.producer = self.node.flow_controls.add_producer(
            channel.decryptor_internal,
            channel.flow_control_id,
            channel.spawner_flow_control_id,
            (channel.encryptor,),
        )
        self.channels[channel.encryptor] = channel
        retriever = channel.credential_retriever
        if retriever is not None and not any(r is retriever for r in self._subscribed):
            self._subscribed.append(retriever)
            retriever.subscribe(lambda credential: self.refresh_credentials(retriever, credential))

    async def refresh_credentials(
        self, retriever: CredentialRetriever, credential: CredentialAndPurposeKey
    ) -> None:
        """§10: send ``RefreshCredentials`` on every established channel presenting the
        credentials of ``retriever``, unless it already presented this one."""
        for channel in list(self.channels.values()):
            if channel.credential_retriever is not retriever or not channel.established:
                continue
            if channel.presented_credential == credential:
                continue
            worker = self.node.worker(channel.decryptor_remote)
            if not isinstance(worker, _DecryptorWorker) or worker.encryptor is None:
                continue
            me = channel.me or self.me
            message = RefreshCredentialsMessage(me.identity.change_history, (credential.encode(),))
            try:
                ciphertext = worker.encryptor.encrypt(encode_plaintext(message))
                await self.node.deliver(
                    LocalMessage(channel.route_to_peer, Route((channel.encryptor,)), ciphertext)
                )
            except OckamError as e:
                log.warning("secure channel %s: cannot send refreshed credentials: %s", channel.encryptor, e)
                continue
            channel.presented_credential = credential
            log.info("secure channel %s: presented a refreshed credential", channel.encryptor)

    async def accept(self, msg: LocalMessage, listener: SecureChannelListener) -> None:
        """A message 1 reached a listener: start a responder and hand it the message."""
        hop = msg.return_route.addresses[0] if msg.return_route else None
        drop = self.node.drop_log
        if len(self._handshakes_by_listener.get(listener.address, ())) >= self.max_handshakes_per_listener:
            drop(
                "secure channel listener %s: too many handshakes in progress; dropping one more",
                listener.address,
            )
            return
        if (
            hop is not None
            and len(self._handshakes_by_hop.get(hop, ())) >= self.max_handshakes_per_connection
        ):
            drop(
                "secure channel listener %s: too many handshakes in progress from %s; dropping one more",
                listener.address,
                hop,
            )
            return
        me = listener.me or self.me
        channel = _new_channel(False, listener.authorized, me)
        channel.authority = listener.authority
        channel.credential_retriever = listener.credential_retriever
        channel.spawner_flow_control_id = listener.flow_control_id
        flow_controls = self.node.flow_controls
        # the rest of the handshake (and the ciphertexts) may come the way message 1 came
        for fcid in flow_controls.ids_for_consumer(listener.address):
            flow_controls.add_consumer(channel.decryptor_remote, fcid)
        handshake = Handshake(False, me.static_key)
        decryptor = _DecryptorWorker(self, channel, handshake, trust_identifiers(listener.authorized), None)
        await self._start(channel, decryptor)
        self._handshake_started(channel, listener.address, hop)
        forwarded = msg.with_routes(
            msg.onward_route.step().prepend(channel.decryptor_remote), msg.return_route
        )
        await self.node.deliver(forwarded)

    # -- responders in the middle of a handshake
    def _handshake_started(self, channel: SecureChannel, listener: Address, hop: Address | None) -> None:
        encryptor = channel.encryptor
        timer = self.node.loop.call_later(self.handshake_timeout, self._handshake_expired, encryptor)
        self._handshakes[encryptor] = (listener, hop, timer)
        self._handshakes_by_listener.setdefault(listener, set()).add(encryptor)
        if hop is not None:
            pending = self._handshakes_by_hop.get(hop)
            if pending is None:
                self._handshakes_by_hop[hop] = pending = set()
                self.node.when_unregistered(hop, lambda: self._hop_gone(hop))
            pending.add(encryptor)

    def _handshake_ended(self, encryptor: Address) -> None:
        entry = self._handshakes.pop(encryptor, None)
        if entry is None:
            return
        listener, hop, timer = entry
        timer.cancel()
        pending = self._handshakes_by_listener.get(listener)
        if pending is not None:
            pending.discard(encryptor)
            if not pending:
                del self._handshakes_by_listener[listener]
        if hop is not None:
            pending = self._handshakes_by_hop.get(hop)
            if pending is not None:
                pending.discard(encryptor)

    def _handshake_failed(self, channel: SecureChannel, reason: str) -> None:
        """Free a responder whose handshake cannot complete."""
        if channel.encryptor not in self._handshakes:
            return
        self._handshake_ended(channel.encryptor)
        log.info("secure channel %s: %s; freeing the responder", channel.encryptor, reason)
        self.node.spawn(self.close(channel.encryptor, notify=False), name="secure channel close")

    def _handshake_expired(self, encryptor: Address) -> None:
        channel = self.channels.get(encryptor)
        if channel is not None and not channel.established:
            self._handshake_failed(channel, f"no handshake message 3 within {self.handshake_timeout:g} s")

    def _hop_gone(self, hop: Address) -> None:
        for encryptor in list(self._handshakes_by_hop.pop(hop, ())):
            channel = self.channels.get(encryptor)
            if channel is not None:
                self._handshake_failed(channel, "the connection of its handshake closed")

    @property
    def handshakes_in_progress(self) -> int:
        return len(self._handshakes)

    async def close(self, encryptor: Address, notify: bool = True) -> bool:
        channel = self.channels.pop(encryptor, None)
        if channel is None:
            return False
        self._handshake_ended(encryptor)
        worker = self.node.worker(channel.decryptor_remote)
        if (
            notify
            and isinstance(worker, _DecryptorWorker)
            and worker.encryptor is not None
            and channel.established
        ):
            with contextlib.suppress(OckamError):
                ciphertext = worker.encryptor.encrypt(encode_plaintext(CloseMessage()))
                await self.node.deliver(
                    LocalMessage(channel.route_to_peer, Route((channel.encryptor,)), ciphertext)
                )
        await self.node.stop_worker(channel.encryptor)
        await self.node.stop_worker(channel.decryptor_remote)
        return True

    def find(self, text: str) -> SecureChannel | None:
        for c in self.channels.values():
            if text in (str(c.encryptor), c.encryptor.text, f"/service/{c.encryptor.text}"):
                return c
        return None


def _new_channel(initiator: bool, authorized: tuple[Identifier, ...], me: ChannelIdentity) -> SecureChannel:
    return SecureChannel(
        me=me,
        encryptor=Address.random_local(),
        decryptor_remote=Address.random_local(),
        decryptor_internal=Address.random_local(),
        is_initiator=initiator,
        authorized=authorized,
    )


class _Listener(Worker):
    def __init__(self, channels: SecureChannels, listener: SecureChannelListener) -> None:
        self.channels = channels
        self.listener = listener

    async def handle_message(self, ctx: Context, msg: LocalMessage) -> None:
        await self.channels.accept(msg, self.listener)


class _DecryptorWorker(Worker):
    """Handshake first, then decryption (secure-channel.md §5, §9.2, §10)."""

    def __init__(
        self,
        channels: SecureChannels,
        channel: SecureChannel,
        handshake: Handshake,
        trust: TrustPolicy,
        done: asyncio.Future[Identifier] | None,
    ) -> None:
        self.channels = channels
        self.channel = channel
        self.handshake: Handshake | None = handshake
        self.trust = trust
        self.done = done
        self.encryptor: Encryptor | None = None
        self.decryptor: Decryptor | None = None
        self.producer = ProducerInfo(channel.flow_control_id, channel.spawner_flow_control_id)
        self.last_route_nonce = 0
        self.got_first = False
        # data path caches (the routes of a flow are the same objects message after message)
        self._last_return: Route | None = None
        self._inner_return: Route | None = None
        self._inner_return_here = Route()
        self._info_peer: Identifier | None = None
        self._info: dict[str, Any] = {}

    async def handle_message(self, ctx: Context, msg: LocalMessage) -> None:
        if msg.onward_route.next == self.channel.decryptor_internal:
            log.warning("dropping a message sent to a decryptor's internal address")
            return
        if self.handshake is not None:
            await self._handshake(ctx, msg)
        else:
            await self._decrypt(ctx, msg)

    async def _payload(self) -> bytes:
        """This side's identity payload, with the retriever's credential if there is one.

        When no credential can be had (say this identity is not a member of the project)
        the channel goes on without one, as far as the peer's trust policy allows: the
        peer's access controls then see no attributes (Rust fails the handshake instead)."""
        me = self.channel.me or self.channels.me
        retriever = self.channel.credential_retriever
        if retriever is None:
            return me.payload()
        try:
            credential = await retriever.retrieve()
        except OckamError as e:
            self.channels.credential_unavailable(me.identity.identifier, e)
            return me.payload()
        self.channel.presented_credential = credential
        return me.payload((credential,))

    async def _handshake(self, ctx: Context, msg: LocalMessage) -> None:
        hs = self.handshake
        assert hs is not None
        me = self.channel.decryptor_remote
        try:
            if self.channel.is_initiator:
                payload = hs.read_message(msg.payload)  # message 2
                assert hs.remote_static_public_key is not None
                peer = self.channels.verify_peer(
                    payload, hs.remote_static_public_key, self.trust, self.channel.authority
                )
                third = hs.write_message(await self._payload())
                await ctx.forward(LocalMessage(msg.return_route, Route((me,)), third))
                self._established(hs, peer, msg.return_route)
            elif not self.got_first:
                hs.read_message(msg.payload)  # message 1
                self.got_first = True
                second = hs.write_message(await self._payload())
                await ctx.forward(LocalMessage(msg.return_route, Route((me,)), second))
            else:
                payload = hs.read_message(msg.payload)  # message 3
                assert hs.remote_static_public_key is not None
                peer = self.channels.verify_peer(
                    payload, hs.remote_static_public_key, self.trust, self.channel.authority
                )
                self._established(hs, peer, msg.return_route)
        except OckamError as e:
            log.warning("secure channel handshake failed: %s", e)
            if self.done is not None and not self.done.done():
                self.done.set_exception(SecureChannelError(f"secure channel handshake failed: {e}"))
            if not self.channel.is_initiator:
                self.channels._handshake_failed(self.channel, "the handshake failed")

    def _established(self, hs: Handshake, peer: Identifier, route: Route) -> None:
        result = hs.result()
        self.encryptor = Encryptor(result.encryption_key)
        self.decryptor = Decryptor(result.decryption_key)
        self.handshake = None
        self.channel.their_identifier = peer
        self.channel.route_to_peer = route
        log.info("secure channel %s established with %s", self.channel.encryptor, peer)
        self.channels._handshake_ended(self.channel.encryptor)
        if self.done is not None and not self.done.done():
            self.done.set_result(peer)

    def handle_message_now(self, ctx: Context, msg: LocalMessage) -> bool | Awaitable[None]:
        """The data path: decrypt and deliver in the caller's call (see ``DirectMailbox``)."""
        if self.handshake is not None or msg.onward_route.next == self.channel.decryptor_internal:
            return False  # the handshake (or the warning) in handle_message
        inner = self._open(msg)
        if inner is None:
            return True
        # to a consumer of the channel's flow control only
        return self.channels.node.deliver_produced(inner, self.producer)

    async def _decrypt(self, ctx: Context, msg: LocalMessage) -> None:
        inner = self._open(msg)
        if inner is not None:
            result = self.channels.node.deliver_produced(inner, self.producer)
            if result is not True:
                assert not isinstance(result, bool)
                await result

    def _open(self, msg: LocalMessage) -> LocalMessage | None:
        """Decrypt ``msg``: the message to forward (a payload), or None (dropped, or a
        control message, handled here)."""
        assert self.decryptor is not None
        try:
            plaintext, nonce = self.decryptor.decrypt(msg.payload)
            message, _ = decode_plaintext(plaintext)
        except OckamError as e:
            log.warning("dropping a secure channel message: %s", e)
            return None
        channel = self.channel
        if isinstance(message, PayloadMessage):
            if not channel.is_initiator and nonce > self.last_route_nonce:
                self.last_route_nonce = nonce
                if msg.return_route is not self._last_return:  # (the same object on a data path)
                    self._last_return = msg.return_route
                    channel.route_to_peer = msg.return_route + Route((channel.route_to_peer.recipient,))
            ret = message.return_route
            if ret is not self._inner_return:
                self._inner_return, self._inner_return_here = ret, ret.prepend(channel.encryptor)
            peer = channel.their_identifier
            if peer is not self._info_peer:
                self._info_peer = peer
                self._info = {  # shared by the messages of the channel, never changed
                    "identifier": peer,
                    "secure_channel": channel.encryptor,
                    FLOW_CONTROL_ID: channel.flow_control_id,
                }
            return LocalMessage(message.onward_route, self._inner_return_here, message.payload, self._info)
        if isinstance(message, CloseMessage):
            log.info("secure channel %s closed by the peer", channel.encryptor)
            self.channels.node.spawn(self.channels.close(channel.encryptor, notify=False))
        elif isinstance(message, RefreshCredentialsMessage):
            log.info("secure channel %s: credentials refreshed by the peer", channel.encryptor)
            self.channels.receive_refresh(channel, message)
        return None


class _EncryptorWorker(Worker):
    """Plaintext in at the channel address, ciphertext out to the peer's decryptor (§7)."""

    def __init__(self, channels: SecureChannels, channel: SecureChannel, decryptor: _DecryptorWorker) -> None:
        self.channels = channels
        self.channel = channel
        self.decryptor = decryptor
        self.plaintexts = PayloadEncoder()

    async def handle_message(self, ctx: Context, msg: LocalMessage) -> None:
        out = self._seal(msg)
        if out is not None:
            await ctx.forward(out)

    def handle_message_now(self, ctx: Context, msg: LocalMessage) -> bool | Awaitable[None]:
        """The data path: encrypt and deliver in the caller's call (see ``DirectMailbox``)."""
        out = self._seal(msg)
        if out is None:
            return True
        if out.onward_route.addresses[0].is_local and self.channels.node.deliver_nowait(out):
            return True
        return ctx.forward(out)

    def _seal(self, msg: LocalMessage) -> LocalMessage | None:
        """The encrypted message to send to the peer, or None (dropped)."""
        check = msg.local_info.get(OUTGOING_CHECK)
        if check is not None and not check():
            return None  # its sender's access control now refuses the peer (logged there)
        enc = self.decryptor.encryptor
        if enc is None:
            log.warning("dropping a message for secure channel %s: not established", self.channel.encryptor)
            return None
        plaintext = self.plaintexts.encode(msg.onward_route, msg.return_route, msg.payload)
        return LocalMessage(self.channel.route_to_peer, _EMPTY_ROUTE, enc.encrypt(plaintext))
