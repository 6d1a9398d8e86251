"""Keys and cryptographic operations: Ed25519 and ECDSA P-256 signatures, X25519,
AES-256-GCM, SHA-256 and HKDF, and the :class:`Vault` that keeps secrets behind handles.

The primitives themselves live in :mod:`ockam.protocol.crypto` (the Noise handshake and
the secure-channel framing, one layer below, use them too) and are re-exported here.
:class:`MemoryVault` keeps secrets in memory; a persistent vault implements the same
storage hooks (see :class:`Vault`).  Secrets never appear in ``repr``/``str``.
"""

from __future__ import annotations

from ..protocol.crypto import (
    AeadKey,
    DhKey,
    Signature,
    Signer,
    SigningKeyType,
    SigningSecret,
    VerifyingPublicKey,
    X25519Secret,
    aes_gcm_nonce,
    hkdf_sha256,
    sha256,
    verify_signature,
    x25519_public_key,
)
from .vault import (
    AeadKeyHandle,
    MemoryVault,
    SigningKeyHandle,
    Vault,
    VaultDhKey,
    VaultSigner,
    X25519KeyHandle,
)

__all__ = [
    "AeadKey",
    "AeadKeyHandle",
    "DhKey",
    "MemoryVault",
    "Signature",
    "Signer",
    "SigningKeyHandle",
    "SigningKeyType",
    "SigningSecret",
    "Vault",
    "VaultDhKey",
    "VaultSigner",
    "VerifyingPublicKey",
    "X25519KeyHandle",
    "X25519Secret",
    "aes_gcm_nonce",
    "hkdf_sha256",
    "sha256",
    "verify_signature",
    "x25519_public_key",
]
