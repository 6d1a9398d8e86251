"""Identities (in memory or in an ``OCKAM_HOME``) and trust policies of the library API."""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import AlreadyExists, InvalidArgument, NotFound
from ..identity import (
    Identifier,
    SecureChannelStaticKey,
    create_identity,
    create_purpose_key_attestation,
)
from ..identity import Identity as _Identity
from ..node.message import LocalMessage
from ..protocol.crypto import Signer
from ..services.secure_channel import ChannelIdentity
from ..vault import MemoryVault

if TYPE_CHECKING:
    from ..api.identities import SqliteVault
    from ..state import State

__all__ = ["Identity", "IdentityStore", "TrustPolicy", "trust_everyone", "trust_identifiers"]


class Identity:
    """An Ockam identity: an identifier, the history of its keys, and (inside the node
    that created or loaded it) the secret keys it signs with.

    Get one with :meth:`Node.create_identity` or :meth:`Node.get_identity`.
    """

    __slots__ = ("_channel", "_identity", "_signer", "name")

    def __init__(
        self, name: str | None, identity: _Identity, signer: Signer, channel: ChannelIdentity
    ) -> None:
        self.name = name
        self._identity = identity
        self._signer = signer
        self._channel = channel

    @property
    def identifier(self) -> str:
        """``I`` followed by 64 hex digits."""
        return str(self._identity.identifier)

    def export(self) -> bytes:
        """The change history (CBOR): what ``ockam identity show --full --encoding hex`` shows, in bytes."""
        return self._identity.change_history

    def __str__(self) -> str:
        return self.identifier

    def __repr__(self) -> str:
        return f"Identity({self.identifier!r}, name={self.name!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Identity) and other._identity.identifier == self._identity.identifier

    def __hash__(self) -> int:
        return hash(self._identity.identifier)


@dataclass(frozen=True)
class TrustPolicy:
    """Which peer identities to trust: everyone (``identifiers`` None) or a fixed set.

    Build with :func:`trust_everyone` or :func:`trust_identifiers`.  On a secure channel
    (or listener) it decides which peers may complete the handshake; on a worker or an
    outlet it admits only messages that arrived through a secure channel with a trusted
    peer.
    """

    identifiers: frozenset[str] | None = None

    def allows(self, identifier: str | None) -> bool:
        """Whether a peer with ``identifier`` (None: no secure channel) is trusted."""
        if identifier is None:
            return False
        return self.identifiers is None or identifier in self.identifiers

    def allows_message(self, msg: LocalMessage) -> bool:
        """Whether a message came through a secure channel with a trusted peer."""
        identifier = msg.local_info.get("identifier")
        return self.allows(None if identifier is None else str(identifier))


def trust_everyone() -> TrustPolicy:
    """Trust every identity that proves who it is."""
    return TrustPolicy(None)


def trust_identifiers(*identifiers: str | Identity) -> TrustPolicy:
    """Trust only these identities (identifiers ``I...`` or :class:`Identity` objects)."""
    if not identifiers:
        raise InvalidArgument("trust_identifiers needs at least one identifier")
    parsed = frozenset(
        i.identifier if isinstance(i, Identity) else str(Identifier.parse(str(i))) for i in identifiers
    )
    return TrustPolicy(parsed)


class IdentityStore:
    """The identities of one library node: in a memory vault, or named identities of an
    ``OCKAM_HOME`` (shared with the ``ockam`` command)."""

    def __init__(self, home: str | os.PathLike[str] | None) -> None:
        self.home = None if home is None else Path(home)
        self._state: State | None = None
        self._vaults: list[SqliteVault] = []
        self._memory = MemoryVault()
        self._by_name: dict[str, Identity] = {}
        self.default: Identity | None = None

    def _open_state(self) -> State:
        if self._state is None:
            from ..state import State

            assert self.home is not None
            self._state = State.open(self.home)
        return self._state

    def close(self) -> None:
        for vault in self._vaults:
            vault.close()
        self._vaults.clear()
        if self._state is not None:
            self._state.close()
            self._state = None

    def create(self, name: str | None) -> Identity:
        """A new identity; the first one becomes the node's default identity."""
        created = self._create(name)
        if self.default is None:
            self.default = created
        return created

    def _create(self, name: str | None) -> Identity:
        if name is not None and not name:
            raise InvalidArgument("an identity name cannot be empty")
        if self.home is not None:
            from ..api.identities import create_named_identity

            name = name or f"identity-{secrets.token_hex(4)}"
            create_named_identity(self._open_state(), name)
            return self._load(name)
        if name is not None and name in self._by_name:
            raise AlreadyExists(f"An identity named {name} already exists")
        now = int(time.time())
        signer = self._memory.signer(self._memory.generate_signing_key())
        identity = create_identity(signer, now=now)
        static = self._memory.dh_key(self._memory.generate_x25519_key())
        attestation = create_purpose_key_attestation(
            identity, signer, SecureChannelStaticKey(static.public_key), now=now
        )
        created = Identity(name, identity, signer, ChannelIdentity(identity, static, attestation))
        if name is not None:
            self._by_name[name] = created
        return created

    def get(self, name: str | None) -> Identity:
        if name is None:
            if self.default is None:
                self.default = self._load(None) if self.home is not None else self._create(None)
            return self.default
        if self.home is not None:
            return self._by_name.get(name) or self._load(name)
        found = self._by_name.get(name)
        if found is None:
            raise NotFound(f"There is no identity named {name} on this node")
        return found

    def _load(self, name: str | None) -> Identity:
        from ..api.identities import load_identity, secure_channel_key

        state = self._open_state()
        loaded = load_identity(state, name)
        self._vaults.append(loaded.vault)
        static, attestation = secure_channel_key(state, loaded)
        identity = Identity(
            loaded.name, loaded.identity, loaded.signer, ChannelIdentity(loaded.identity, static, attestation)
        )
        self._by_name[loaded.name] = identity
        return identity
