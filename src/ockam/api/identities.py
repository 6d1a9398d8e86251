"""Persistent vaults and named identities of ``OCKAM_HOME``.

:class:`SqliteVault` is a :class:`~ockam.vault.Vault` whose persistent secrets are rows
of a :class:`~ockam.state.identities.SecretStore` (the main database for the in-database
vault, or the vault's own file).  It lives here, above both the ``vault`` and the
``state`` layers, because those two layers are independent of each other.

The helpers create and load named identities (creating the default vault and identity
on demand, as Rust does), and keep each identity's secure-channel purpose key
(``SC_PK``: a static X25519 key and its attestation) so a node's key is stable across
restarts (state.md §5).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from ..errors import NotFound
from ..identity import (
    PURPOSE_KEY_TTL,
    CredentialSigningKey,
    Identity,
    PurposeKeyAttestation,
    SecureChannelStaticKey,
    create_identity,
    create_purpose_key_attestation,
    verify_change_history,
)
from ..protocol.crypto import DhKey, Signer, SigningKeyType
from ..state import State
from ..state.identities import Identities, NamedIdentityRow, SecretStore, VaultRow, Vaults
from ..vault import AeadKeyHandle, SigningKeyHandle, Vault, X25519KeyHandle

__all__ = [
    "DEFAULT_VAULT_NAME",
    "LoadedIdentity",
    "SqliteVault",
    "create_named_identity",
    "credential_signing_key",
    "default_identity",
    "load_identity",
    "open_vault",
    "secure_channel_key",
]

DEFAULT_VAULT_NAME = "default"
SC_PURPOSE = "SC_PK"
C_PURPOSE = "C_PK"
# Renew a stored purpose key when less than this is left of its validity.
_RENEW_MARGIN = 24 * 3600


class SqliteVault(Vault):
    """A vault whose persistent secrets are SQLite rows (``signing_secret``, ``x25519_secret``,
    ``aead_secret``)."""

    def __init__(self, store: SecretStore, name: str = "") -> None:
        super().__init__()
        self.store = store
        self.name = name

    def close(self) -> None:
        self.store.close()

    def _store_signing_secret(self, handle: SigningKeyHandle, secret: bytes) -> None:
        self.store.store_signing(handle.value, handle.key_type.value, secret)

    def _load_signing_secret(self, handle: SigningKeyHandle) -> bytes | None:
        row = self.store.load_signing(handle.value)
        if row is None or row[0] != handle.key_type.value:
            return None
        return row[1]

    def _delete_signing_secret(self, handle: SigningKeyHandle) -> bool:
        return self.store.delete_signing(handle.value)

    def _store_x25519_secret(self, handle: X25519KeyHandle, secret: bytes) -> None:
        self.store.store_x25519(handle.value, secret)

    def _load_x25519_secret(self, handle: X25519KeyHandle) -> bytes | None:
        return self.store.load_x25519(handle.value)

    def _delete_x25519_secret(self, handle: X25519KeyHandle) -> bool:
        return self.store.delete_x25519(handle.value)

    def _store_aead_secret(self, handle: AeadKeyHandle, secret: bytes) -> None:
        self.store.store_aead(handle.value, secret)

    def _load_aead_secret(self, handle: AeadKeyHandle) -> bytes | None:
        return self.store.load_aead(handle.value)

    def _delete_aead_secret(self, handle: AeadKeyHandle) -> bool:
        return self.store.delete_aead(handle.value)

    def __repr__(self) -> str:
        return f"SqliteVault({self.name!r})"


def open_vault(state: State, vault: VaultRow | str) -> SqliteVault:
    vaults = Vaults(state)
    row = vaults.require(vault) if isinstance(vault, str) else vault
    return SqliteVault(vaults.secrets(row), row.name)


def default_vault(state: State) -> VaultRow:
    """The default vault, created (named ``default``) if there is none."""
    vaults = Vaults(state)
    row = vaults.default()
    if row is None:
        row = vaults.get(DEFAULT_VAULT_NAME) or vaults.create(DEFAULT_VAULT_NAME)
    return row


@dataclass
class LoadedIdentity:
    """A named identity with its signer and secure-channel purpose key."""

    name: str
    identity: Identity
    signer: Signer
    vault: SqliteVault

    @property
    def identifier(self) -> str:
        return str(self.identity.identifier)


def create_named_identity(
    state: State,
    name: str,
    vault_name: str | None = None,
    *,
    change_history_hex: str | None = None,
    key_type: SigningKeyType = SigningKeyType.ED25519,
) -> NamedIdentityRow:
    """Create (or import, with ``change_history_hex``) the identity ``name`` in a vault."""
    from ..errors import AlreadyExists, InvalidArgument

    identities = Identities(state)
    if identities.get(name) is not None:
        raise AlreadyExists(f"An identity named {name} already exists")
    row = Vaults(state).require(vault_name) if vault_name is not None else default_vault(state)
    if change_history_hex is not None:
        try:
            history = bytes.fromhex(change_history_hex.strip())
        except ValueError as e:
            raise InvalidArgument("The identity is not a valid hex string") from e
        identity = verify_change_history(history)
    else:
        vault = open_vault(state, row)
        try:
            handle = vault.generate_signing_key(key_type)
            identity = create_identity(vault.signer(handle), now=int(time.time()))
        finally:
            vault.close()
    return identities.create(name, str(identity.identifier), identity.export_hex(), row.name)


def _random_name() -> str:
    import secrets

    return f"identity-{secrets.token_hex(4)}"


def default_identity(state: State, new_name: Callable[[], str] = _random_name) -> NamedIdentityRow:
    """The default identity; a new one (``new_name()``, default vault) if there is none."""
    identities = Identities(state)
    row = identities.default()
    if row is not None:
        return row
    return create_named_identity(state, new_name())


def load_identity(
    state: State, name: str | None, new_name: Callable[[], str] = _random_name
) -> LoadedIdentity:
    """The named (or default) identity and a signer for its current primary key."""
    identities = Identities(state)
    row = identities.require(name) if name else default_identity(state, new_name)
    identity = verify_change_history(bytes.fromhex(row.change_history))
    vault = open_vault(state, row.vault_name)
    public = identity.primary_public_key
    handle = vault.signing_key_handle(public)
    try:
        signer = vault.signer(handle)
    except NotFound as e:
        vault.close()
        raise NotFound(f"The key of the identity {row.name} is not in the vault {row.vault_name}") from e
    return LoadedIdentity(row.name, identity, signer, vault)


K = TypeVar("K", SecureChannelStaticKey, CredentialSigningKey)


def _stored_purpose_key(
    identities: Identities, loaded: LoadedIdentity, purpose: str, kind: type[K], now: int
) -> tuple[PurposeKeyAttestation, K] | None:
    """The stored attestation of ``purpose`` if it still attests a ``kind`` key of the
    identity's latest change and is not about to expire; None to create a new one."""
    raw = identities.purpose_key(loaded.identifier, purpose)
    if raw is None:
        return None
    try:
        attestation = PurposeKeyAttestation.decode(raw)
        data = attestation.attestation_data()
    except Exception:
        return None
    key = data.public_key
    if (
        isinstance(key, kind)
        and data.subject == loaded.identity.identifier
        and data.subject_latest_change_hash == loaded.identity.latest_change_hash
        and data.expires_at - _RENEW_MARGIN > now
    ):
        return attestation, key
    return None


def secure_channel_key(
    state: State, loaded: LoadedIdentity, now: int | None = None
) -> tuple[DhKey, PurposeKeyAttestation]:
    """The identity's stored secure-channel static key and attestation (created, or renewed
    when it is about to expire)."""
    now = int(time.time()) if now is None else now
    identities = Identities(state)
    vault = loaded.vault
    stored = _stored_purpose_key(identities, loaded, SC_PURPOSE, SecureChannelStaticKey, now)
    if stored is not None:
        attestation, key = stored
        try:
            return vault.dh_key(vault.x25519_key_handle(key.public_key)), attestation
        except Exception:
            pass
    handle = vault.generate_x25519_key()
    dh = vault.dh_key(handle)
    attestation = create_purpose_key_attestation(
        loaded.identity, loaded.signer, SecureChannelStaticKey(dh.public_key), now=now, ttl=PURPOSE_KEY_TTL
    )
    identities.store_purpose_key(loaded.identifier, SC_PURPOSE, attestation.encode())
    return dh, attestation


def credential_signing_key(
    state: State, loaded: LoadedIdentity, now: int | None = None
) -> tuple[Signer, PurposeKeyAttestation]:
    """The identity's stored credential-signing purpose key (``C_PK``) and its attestation,
    created (in the identity's vault) or renewed when it is about to expire."""
    now = int(time.time()) if now is None else now
    identities = Identities(state)
    vault = loaded.vault
    stored = _stored_purpose_key(identities, loaded, C_PURPOSE, CredentialSigningKey, now)
    if stored is not None:
        attestation, key = stored
        try:
            handle = vault.signing_key_handle(key.public_key)
            vault.signing_public_key(handle)  # NotFound if the secret is gone
            return vault.signer(handle), attestation
        except Exception:
            pass
    signer = vault.signer(vault.generate_signing_key(SigningKeyType.ED25519))
    attestation = create_purpose_key_attestation(
        loaded.identity,
        loaded.signer,
        CredentialSigningKey(signer.public_key()),
        now=now,
        ttl=PURPOSE_KEY_TTL,
    )
    identities.store_purpose_key(loaded.identifier, C_PURPOSE, attestation.encode())
    return signer, attestation
