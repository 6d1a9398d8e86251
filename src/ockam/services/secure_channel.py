"""Secure channels on a node: listener, initiator and responder, encryptor and decryptor.

The Noise XX handshake and the transport encryption are the sans-IO cores of
:mod:`ockam.protocol.noise_xx` and :mod:`ockam.protocol.secure_channel`; this module
moves their bytes along routes (secure-channel.md §6, §7, §10):

* each side has a ``decryptor_remote`` address (handshake messages and ciphertexts
  arrive there), a ``decryptor_internal`` address (decrypted messages leave from it)
  and an ``encryptor`` address (plaintext goes in; it is *the* channel address);
* a listener (``api`` on CLI nodes) turns every message it receives into a new
  responder;
* decrypted messages carry the peer's identifier in ``local_info["identifier"]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..codec.address import Address
from ..codec.route import Route
from ..errors import OckamError, SecureChannelError, TimeoutError_
from ..identity import (
    Identifier,
    Identity,
    IdentityAndCredentials,
    PurposeKeyAttestation,
    SecureChannelStaticKey,
    create_purpose_key_attestation,
    verify_change_history,
    verify_purpose_key_attestation,
)
from ..node.message import LocalMessage
from ..node.runtime import Context, Node, Worker
from ..protocol.crypto import DhKey, Signer, X25519Secret
from ..protocol.noise_xx import Handshake
from ..protocol.secure_channel import (
    CloseMessage,
    Decryptor,
    Encryptor,
    PayloadMessage,
    RefreshCredentialsMessage,
    decode_plaintext,
    encode_plaintext,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "ChannelIdentity",
    "SecureChannel",
    "SecureChannelListener",
    "SecureChannels",
    "TrustPolicy",
    "trust_identifiers",
]

log = logging.getLogger("ockam.secure_channel")

DEFAULT_TIMEOUT = 120.0

TrustPolicy = Callable[[Identifier], bool]


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

    def payload(self) -> bytes:
        changes = tuple(c.change for c in self.identity.changes)
        return IdentityAndCredentials(changes, self.attestation, ()).encode()


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
    flow_control_id: str = field(default_factory=lambda: Address.random_local().text)
    me: ChannelIdentity | None = None

    @property
    def established(self) -> bool:
        return self.their_identifier is not None


@dataclass
class SecureChannelListener:
    address: Address
    authorized: tuple[Identifier, ...] = ()
    flow_control_id: str = field(default_factory=lambda: Address.random_local().text)
    # the identity its channels use (None: the node's)
    me: ChannelIdentity | None = None


class SecureChannels:
    """The secure-channel machinery of one node, for one identity."""

    def __init__(
        self,
        node: Node,
        identity: Identity,
        signer: Signer,
        static_key: X25519Secret | DhKey | None = None,
        attestation: PurposeKeyAttestation | None = None,
        clock: Callable[[], float] = time.time,
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

    def now(self) -> int:
        return int(self.clock())

    def payload(self) -> bytes:
        return self.me.payload()

    def verify_peer(self, payload: bytes, remote_static: bytes, trust: TrustPolicy) -> Identifier:
        """Check the peer's identity payload against the Noise static key (§5.6)."""
        data = IdentityAndCredentials.decode(payload)
        peer = verify_change_history(data.change_history)
        known = self.known.get(peer.identifier)
        if known is None or len(peer.changes) >= len(known.changes):
            self.known[peer.identifier] = peer
        attested = verify_purpose_key_attestation(
            data.purpose_key_attestation, peer, now=self.now(), expected_subject=peer.identifier
        )
        if not isinstance(attested.public_key, SecureChannelStaticKey):
            raise SecureChannelError("the peer's purpose key is not a secure-channel key")
        if attested.public_key.public_key != remote_static:
            raise SecureChannelError("the peer's purpose key is not its Noise static key")
        if not trust(peer.identifier):
            raise SecureChannelError(f"the identity {peer.identifier} is not authorized on this channel")
        return peer.identifier

    # -- creating
    async def create_listener(
        self,
        address: str | Address = "api",
        authorized: Iterable[Identifier | str] | None = None,
        me: ChannelIdentity | None = None,
    ) -> SecureChannelListener:
        addr = Address.parse(address) if isinstance(address, str) else address
        ids = tuple(Identifier.coerce(i) for i in authorized or ())
        listener = SecureChannelListener(addr, ids, me=me)
        await self.node.start_worker(addr, _Listener(self, listener))
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
    ) -> SecureChannel:
        """Run the handshake as initiator over ``route`` (ending at a listener), as ``me``
        (default: the node's identity)."""
        ids = tuple(Identifier.coerce(i) for i in authorized or ())
        channel = _new_channel(True, ids, me or self.me)
        done: asyncio.Future[Identifier] = asyncio.get_running_loop().create_future()
        handshake = Handshake(True, (me or self.me).static_key)
        decryptor = _DecryptorWorker(self, channel, handshake, trust_identifiers(ids), done)
        await self._start(channel, decryptor)
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
        await self.node.start_worker([channel.decryptor_remote, channel.decryptor_internal], decryptor)
        await self.node.start_worker(channel.encryptor, _EncryptorWorker(self, channel, decryptor))
        self.channels[channel.encryptor] = channel

    async def accept(self, msg: LocalMessage, listener: SecureChannelListener) -> None:
        """A message 1 reached a listener: start a responder and hand it the message."""
        me = listener.me or self.me
        channel = _new_channel(False, listener.authorized, me)
        handshake = Handshake(False, me.static_key)
        decryptor = _DecryptorWorker(self, channel, handshake, trust_identifiers(listener.authorized), None)
        await self._start(channel, decryptor)
        forwarded = msg.with_routes(
            msg.onward_route.step().prepend(channel.decryptor_remote), msg.return_route
        )
        await self.node.deliver(forwarded)

    async def close(self, encryptor: Address, notify: bool = True) -> bool:
        channel = self.channels.pop(encryptor, None)
        if channel is None:
            return False
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
        self.last_route_nonce = 0
        self.got_first = False

    async def handle_message(self, ctx: Context, msg: LocalMessage) -> None:
        if msg.onward_route.next == self.channel.decryptor_internal:
            log.warning("dropping a message sent to a decryptor's internal address")
            return
        if self.handshake is not None:
            await self._handshake(ctx, msg)
        else:
            await self._decrypt(ctx, msg)

    def _payload(self) -> bytes:
        me = self.channel.me
        return me.payload() if me is not None else self.channels.payload()

    async def _handshake(self, ctx: Context, msg: LocalMessage) -> None:
        hs = self.handshake
        assert hs is not None
        me = self.channel.decryptor_remote
        try:
            if self.channel.is_initiator:
                payload = hs.read_message(msg.payload)  # message 2
                assert hs.remote_static_public_key is not None
                peer = self.channels.verify_peer(payload, hs.remote_static_public_key, self.trust)
                third = hs.write_message(self._payload())
                await ctx.forward(LocalMessage(msg.return_route, Route((me,)), third))
                self._established(hs, peer, msg.return_route)
            elif not self.got_first:
                hs.read_message(msg.payload)  # message 1
                self.got_first = True
                second = hs.write_message(self._payload())
                await ctx.forward(LocalMessage(msg.return_route, Route((me,)), second))
            else:
                payload = hs.read_message(msg.payload)  # message 3
                assert hs.remote_static_public_key is not None
                peer = self.channels.verify_peer(payload, hs.remote_static_public_key, self.trust)
                self._established(hs, peer, msg.return_route)
        except OckamError as e:
            log.warning("secure channel handshake failed: %s", e)
            if self.done is not None and not self.done.done():
                self.done.set_exception(SecureChannelError(f"secure channel handshake failed: {e}"))

    def _established(self, hs: Handshake, peer: Identifier, route: Route) -> None:
        result = hs.result()
        self.encryptor = Encryptor(result.encryption_key)
        self.decryptor = Decryptor(result.decryption_key)
        self.handshake = None
        self.channel.their_identifier = peer
        self.channel.route_to_peer = route
        log.info("secure channel %s established with %s", self.channel.encryptor, peer)
        if self.done is not None and not self.done.done():
            self.done.set_result(peer)

    async def _decrypt(self, ctx: Context, msg: LocalMessage) -> None:
        assert self.decryptor is not None
        try:
            plaintext, nonce = self.decryptor.decrypt(msg.payload)
            message, _ = decode_plaintext(plaintext)
        except OckamError as e:
            log.warning("dropping a secure channel message: %s", e)
            return
        channel = self.channel
        if isinstance(message, PayloadMessage):
            if not channel.is_initiator and nonce > self.last_route_nonce:
                channel.route_to_peer = msg.return_route + Route((channel.route_to_peer.recipient,))
                self.last_route_nonce = nonce
            inner = LocalMessage(
                message.onward_route,
                message.return_route.prepend(channel.encryptor),
                message.payload,
                {"identifier": channel.their_identifier, "secure_channel": channel.encryptor},
            )
            try:
                await ctx.forward(inner)
            except OckamError as e:
                log.warning("secure channel %s: %s", channel.encryptor, e)
        elif isinstance(message, CloseMessage):
            log.info("secure channel %s closed by the peer", channel.encryptor)
            self.channels.node.spawn(self.channels.close(channel.encryptor, notify=False))
        elif isinstance(message, RefreshCredentialsMessage):
            log.info("secure channel %s: credentials refreshed by the peer", channel.encryptor)


class _EncryptorWorker(Worker):
    """Plaintext in at the channel address, ciphertext out to the peer's decryptor (§7)."""

    def __init__(self, channels: SecureChannels, channel: SecureChannel, decryptor: _DecryptorWorker) -> None:
        self.channels = channels
        self.channel = channel
        self.decryptor = decryptor

    async def handle_message(self, ctx: Context, msg: LocalMessage) -> None:
        enc = self.decryptor.encryptor
        if enc is None:
            log.warning("dropping a message for secure channel %s: not established", self.channel.encryptor)
            return
        plaintext = encode_plaintext(PayloadMessage(msg.onward_route.step(), msg.return_route, msg.payload))
        await ctx.forward(LocalMessage(self.channel.route_to_peer, Route(), enc.encrypt(plaintext)))
