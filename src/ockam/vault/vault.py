"""Key storage behind handles: the :class:`Vault` interface and :class:`MemoryVault`.

Handles follow Ockam: a signing or X25519 key is named by ``SHA-256(public key)``
(so importing the same secret twice gives the same handle), an AES-256-GCM key by
8 random bytes.  Persistent secrets (signing keys, static X25519 keys, AEAD keys that
are explicitly persisted) go through the storage hooks ``_store_*`` / ``_load_*`` /
``_delete_*`` that a concrete vault implements (in memory here; a SQLite vault with
Ockam's ``signing_secret`` / ``x25519_secret`` / ``aead_secret`` tables implements the
same hooks).  Ephemeral X25519 keys and AEAD keys live in memory only.

A vault that keeps keys elsewhere (KMS) overrides the public operations instead.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass

from ..errors import NotFound
from ..protocol.crypto import (
    AeadKey,
    Signature,
    SigningKeyType,
    SigningSecret,
    VerifyingPublicKey,
    X25519Secret,
    hkdf_sha256,
    sha256,
    verify_signature,
)

__all__ = [
    "AeadKeyHandle",
    "MemoryVault",
    "SigningKeyHandle",
    "Vault",
    "VaultDhKey",
    "VaultSigner",
    "X25519KeyHandle",
]


@dataclass(frozen=True, slots=True)
class SigningKeyHandle:
    """Names a signing secret: its type and ``SHA-256(public key)``."""

    key_type: SigningKeyType
    value: bytes

    def __repr__(self) -> str:
        return f"SigningKeyHandle({self.key_type.short_name}, {self.value.hex()})"


@dataclass(frozen=True, slots=True)
class X25519KeyHandle:
    """Names an X25519 secret: ``SHA-256(public key)``."""

    value: bytes

    def __repr__(self) -> str:
        return f"X25519KeyHandle({self.value.hex()})"


@dataclass(frozen=True, slots=True)
class AeadKeyHandle:
    """Names an AES-256-GCM key: 8 random bytes."""

    value: bytes

    def __repr__(self) -> str:
        return f"AeadKeyHandle({self.value.hex()})"


class VaultSigner:
    """A :class:`~ockam.protocol.crypto.Signer` whose key stays in a vault."""

    __slots__ = ("_public", "handle", "vault")

    def __init__(self, vault: Vault, handle: SigningKeyHandle) -> None:
        self.vault = vault
        self.handle = handle
        self._public = vault.signing_public_key(handle)

    def public_key(self) -> VerifyingPublicKey:
        return self._public

    def sign(self, message: bytes) -> Signature:
        return self.vault.sign(self.handle, message)

    def __repr__(self) -> str:
        return f"VaultSigner({self.handle!r})"


class VaultDhKey:
    """A :class:`~ockam.protocol.crypto.DhKey` (Noise static key) whose secret stays in a vault."""

    __slots__ = ("_public", "handle", "vault")

    def __init__(self, vault: Vault, handle: X25519KeyHandle) -> None:
        self.vault = vault
        self.handle = handle
        self._public = vault.x25519_public_key(handle)

    @property
    def public_key(self) -> bytes:
        return self._public

    def dh(self, peer_public_key: bytes) -> bytes:
        return self.vault.x25519_dh(self.handle, peer_public_key)

    def __repr__(self) -> str:
        return f"VaultDhKey({self.handle!r})"


class Vault(ABC):
    """Secrets by handle: signing keys, X25519 keys, AES-256-GCM keys.

    Stateless helpers (:meth:`sha256`, :meth:`verify_signature`, :meth:`hkdf`) need no key.
    """

    def __init__(self) -> None:
        self._signing_cache: dict[SigningKeyHandle, SigningSecret] = {}
        self._x25519_cache: dict[X25519KeyHandle, X25519Secret] = {}
        self._ephemeral_x25519: dict[X25519KeyHandle, X25519Secret] = {}
        self._aead: dict[AeadKeyHandle, AeadKey] = {}

    # -- storage hooks for persistent secrets -------------------------------------------
    @abstractmethod
    def _store_signing_secret(self, handle: SigningKeyHandle, secret: bytes) -> None: ...

    @abstractmethod
    def _load_signing_secret(self, handle: SigningKeyHandle) -> bytes | None: ...

    @abstractmethod
    def _delete_signing_secret(self, handle: SigningKeyHandle) -> bool: ...

    @abstractmethod
    def _store_x25519_secret(self, handle: X25519KeyHandle, secret: bytes) -> None: ...

    @abstractmethod
    def _load_x25519_secret(self, handle: X25519KeyHandle) -> bytes | None: ...

    @abstractmethod
    def _delete_x25519_secret(self, handle: X25519KeyHandle) -> bool: ...

    @abstractmethod
    def _store_aead_secret(self, handle: AeadKeyHandle, secret: bytes) -> None: ...

    @abstractmethod
    def _load_aead_secret(self, handle: AeadKeyHandle) -> bytes | None: ...

    @abstractmethod
    def _delete_aead_secret(self, handle: AeadKeyHandle) -> bool: ...

    # -- stateless ----------------------------------------------------------------------
    @staticmethod
    def sha256(data: bytes) -> bytes:
        return sha256(data)

    @staticmethod
    def verify_signature(public_key: VerifyingPublicKey, message: bytes, signature: Signature) -> bool:
        return verify_signature(public_key, message, signature)

    @staticmethod
    def hkdf(salt: bytes, ikm: bytes, outputs: int = 2) -> tuple[bytes, ...]:
        return hkdf_sha256(salt, ikm, outputs)

    # -- signing keys -------------------------------------------------------------------
    @staticmethod
    def signing_key_handle(public_key: VerifyingPublicKey) -> SigningKeyHandle:
        """The handle under which the secret of ``public_key`` is (or would be) stored."""
        return SigningKeyHandle(public_key.key_type, sha256(public_key.data))

    def generate_signing_key(self, key_type: SigningKeyType = SigningKeyType.ED25519) -> SigningKeyHandle:
        """Create and store a new signing secret (Ed25519 by default)."""
        return self._add_signing_secret(SigningSecret.generate(key_type))

    def import_signing_key(self, key_type: SigningKeyType, secret: bytes) -> SigningKeyHandle:
        """Store an existing 32-byte secret (Ed25519 seed or P-256 scalar)."""
        return self._add_signing_secret(SigningSecret(key_type, secret))

    def _add_signing_secret(self, secret: SigningSecret) -> SigningKeyHandle:
        handle = self.signing_key_handle(secret.public_key())
        self._store_signing_secret(handle, secret.secret_bytes())
        self._signing_cache[handle] = secret
        return handle

    def _signing_secret(self, handle: SigningKeyHandle) -> SigningSecret:
        secret = self._signing_cache.get(handle)
        if secret is None:
            raw = self._load_signing_secret(handle)
            if raw is None:
                raise NotFound(f"signing key {handle.value.hex()} is not in the vault")
            secret = SigningSecret(handle.key_type, raw)
            self._signing_cache[handle] = secret
        return secret

    def signing_public_key(self, handle: SigningKeyHandle) -> VerifyingPublicKey:
        return self._signing_secret(handle).public_key()

    def sign(self, handle: SigningKeyHandle, message: bytes) -> Signature:
        return self._signing_secret(handle).sign(message)

    def signer(self, handle: SigningKeyHandle) -> VaultSigner:
        """A signer for identity and credential operations that uses this vault's key."""
        return VaultSigner(self, handle)

    def delete_signing_key(self, handle: SigningKeyHandle) -> bool:
        self._signing_cache.pop(handle, None)
        return self._delete_signing_secret(handle)

    # -- X25519 keys --------------------------------------------------------------------
    @staticmethod
    def x25519_key_handle(public_key: bytes) -> X25519KeyHandle:
        return X25519KeyHandle(sha256(public_key))

    def generate_x25519_key(self, *, ephemeral: bool = False) -> X25519KeyHandle:
        """A new X25519 key: static (stored) or ephemeral (memory only, for one handshake)."""
        return self._add_x25519_secret(X25519Secret.generate(), ephemeral)

    def import_x25519_key(self, secret: bytes, *, ephemeral: bool = False) -> X25519KeyHandle:
        return self._add_x25519_secret(X25519Secret(secret), ephemeral)

    def _add_x25519_secret(self, secret: X25519Secret, ephemeral: bool) -> X25519KeyHandle:
        handle = self.x25519_key_handle(secret.public_key)
        if ephemeral:
            self._ephemeral_x25519[handle] = secret
        else:
            self._store_x25519_secret(handle, secret.secret_bytes())
            self._x25519_cache[handle] = secret
        return handle

    def _x25519_secret(self, handle: X25519KeyHandle) -> X25519Secret:
        secret = self._ephemeral_x25519.get(handle) or self._x25519_cache.get(handle)
        if secret is None:
            raw = self._load_x25519_secret(handle)
            if raw is None:
                raise NotFound(f"X25519 key {handle.value.hex()} is not in the vault")
            secret = X25519Secret(raw)
            self._x25519_cache[handle] = secret
        return secret

    def x25519_public_key(self, handle: X25519KeyHandle) -> bytes:
        return self._x25519_secret(handle).public_key

    def x25519_dh(self, handle: X25519KeyHandle, peer_public_key: bytes) -> bytes:
        """X25519(secret, peer) (32 bytes)."""
        return self._x25519_secret(handle).dh(peer_public_key)

    def dh_key(self, handle: X25519KeyHandle) -> VaultDhKey:
        """A Noise static key backed by this vault (see :class:`~ockam.protocol.noise_xx.Handshake`)."""
        return VaultDhKey(self, handle)

    def delete_x25519_key(self, handle: X25519KeyHandle) -> bool:
        if self._ephemeral_x25519.pop(handle, None) is not None:
            return True
        self._x25519_cache.pop(handle, None)
        return self._delete_x25519_secret(handle)

    # -- AES-256-GCM keys ---------------------------------------------------------------
    def import_aead_key(self, secret: bytes) -> AeadKeyHandle:
        """Keep a 32-byte AES-256-GCM key in memory under a random handle."""
        handle = AeadKeyHandle(os.urandom(8))
        self._aead[handle] = AeadKey(secret)
        return handle

    def _aead_key(self, handle: AeadKeyHandle) -> AeadKey:
        key = self._aead.get(handle)
        if key is None:
            raise NotFound(f"AEAD key {handle.value.hex()} is not loaded in the vault")
        return key

    def aead_encrypt(self, handle: AeadKeyHandle, nonce: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
        return self._aead_key(handle).encrypt(nonce, plaintext, aad)

    def aead_decrypt(self, handle: AeadKeyHandle, nonce: bytes, ciphertext: bytes, aad: bytes = b"") -> bytes:
        return self._aead_key(handle).decrypt(nonce, ciphertext, aad)

    def aead_secret(self, handle: AeadKeyHandle) -> bytes:
        """The raw key, e.g. to build a secure-channel encryptor that owns its cipher."""
        return self._aead_key(handle).secret_bytes()

    def persist_aead_key(self, handle: AeadKeyHandle) -> None:
        """Store a loaded AEAD key (persistent key-exchange-only channels)."""
        self._store_aead_secret(handle, self._aead_key(handle).secret_bytes())

    def load_aead_key(self, handle: AeadKeyHandle) -> None:
        """Bring a persisted AEAD key back into memory."""
        raw = self._load_aead_secret(handle)
        if raw is None:
            raise NotFound(f"AEAD key {handle.value.hex()} is not stored in the vault")
        self._aead[handle] = AeadKey(raw)

    def delete_aead_key(self, handle: AeadKeyHandle) -> bool:
        in_memory = self._aead.pop(handle, None) is not None
        return self._delete_aead_secret(handle) or in_memory

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class MemoryVault(Vault):
    """A vault whose persistent secrets are kept in dictionaries (lost at exit)."""

    def __init__(self) -> None:
        super().__init__()
        self._signing: dict[SigningKeyHandle, bytes] = {}
        self._x25519: dict[X25519KeyHandle, bytes] = {}
        self._aead_stored: dict[AeadKeyHandle, bytes] = {}

    def _store_signing_secret(self, handle: SigningKeyHandle, secret: bytes) -> None:
        self._signing[handle] = secret

    def _load_signing_secret(self, handle: SigningKeyHandle) -> bytes | None:
        return self._signing.get(handle)

    def _delete_signing_secret(self, handle: SigningKeyHandle) -> bool:
        return self._signing.pop(handle, None) is not None

    def _store_x25519_secret(self, handle: X25519KeyHandle, secret: bytes) -> None:
        self._x25519[handle] = secret

    def _load_x25519_secret(self, handle: X25519KeyHandle) -> bytes | None:
        return self._x25519.get(handle)

    def _delete_x25519_secret(self, handle: X25519KeyHandle) -> bool:
        return self._x25519.pop(handle, None) is not None

    def _store_aead_secret(self, handle: AeadKeyHandle, secret: bytes) -> None:
        self._aead_stored[handle] = secret

    def _load_aead_secret(self, handle: AeadKeyHandle) -> bytes | None:
        return self._aead_stored.get(handle)

    def _delete_aead_secret(self, handle: AeadKeyHandle) -> bool:
        return self._aead_stored.pop(handle, None) is not None

    @property
    def signing_handles(self) -> list[SigningKeyHandle]:
        return list(self._signing)

    @property
    def x25519_handles(self) -> list[X25519KeyHandle]:
        return list(self._x25519)

    def __repr__(self) -> str:
        return (
            f"MemoryVault(signing_keys={len(self._signing)}, x25519_keys={len(self._x25519)}, "
            f"ephemeral_x25519_keys={len(self._ephemeral_x25519)}, aead_keys={len(self._aead)})"
        )
