"""Cryptographic primitives of the Ockam wire protocol, all through ``cryptography``.

Stateless functions and small key-value classes, shared by the Noise handshake and the
secure-channel framing (this layer), by identities (change histories, purpose keys,
credentials) and by the vault, which stores these keys behind handles.

* Ed25519 (RFC 8032): 32-byte public key, 32-byte seed as secret, 64-byte signature.
* ECDSA P-256 with SHA-256: 65-byte uncompressed SEC1 public key, 32-byte scalar secret,
  64-byte ``r || s`` signature.  Verification accepts high-S signatures (Ockam's own
  Orchestrator identity carries one); signing always produces low-S.
* X25519 for the Noise key agreement, AES-256-GCM (12-byte nonce, 16-byte tag appended),
  SHA-256 and HKDF-SHA-256 exactly as Noise uses it.

Secret material never shows in ``repr``/``str``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, x25519
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..errors import OckamError, SecureChannelError

__all__ = [
    "AEAD_KEY_LENGTH",
    "AEAD_TAG_LENGTH",
    "AeadKey",
    "DhKey",
    "P256_ORDER",
    "SHA256_LENGTH",
    "Signature",
    "Signer",
    "SigningKeyType",
    "SigningSecret",
    "VerifyingPublicKey",
    "X25519_KEY_LENGTH",
    "X25519Secret",
    "aes_gcm_nonce",
    "hkdf_sha256",
    "sha256",
    "verify_signature",
    "x25519_public_key",
]

SHA256_LENGTH = 32
X25519_KEY_LENGTH = 32
AEAD_KEY_LENGTH = 32
AEAD_TAG_LENGTH = 16
ED25519_PUBLIC_KEY_LENGTH = 32
P256_PUBLIC_KEY_LENGTH = 65
SIGNATURE_LENGTH = 64
#: Order of the P-256 group (used to normalise ECDSA signatures to low S).
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def sha256(data: bytes) -> bytes:
    """SHA-256 of ``data`` (32 bytes)."""
    digest = hashes.Hash(hashes.SHA256())
    digest.update(data)
    return digest.finalize()


def hkdf_sha256(salt: bytes, ikm: bytes, outputs: int = 2) -> tuple[bytes, ...]:
    """HKDF-SHA-256 (RFC 5869, empty info) split in ``outputs`` chunks of 32 bytes.

    With two outputs this is the Noise ``HKDF(ck, ikm)`` function.
    """
    okm = HKDF(algorithm=hashes.SHA256(), length=32 * outputs, salt=salt, info=b"").derive(ikm)
    return tuple(okm[i : i + 32] for i in range(0, 32 * outputs, 32))


def aes_gcm_nonce(counter: int) -> bytes:
    """The 12-byte AES-GCM nonce Ockam uses: 4 zero bytes then the big-endian u64 counter."""
    return b"\x00\x00\x00\x00" + counter.to_bytes(8, "big")


class SigningKeyType(enum.Enum):
    """Kinds of signing keys.  The values are the names Ockam stores in its database."""

    ED25519 = "EdDSACurve25519"
    P256 = "ECDSASHA256CurveP256"

    @property
    def cbor_index(self) -> int:
        """Variant index in every key/signature enum of the identity CBOR model."""
        return 0 if self is SigningKeyType.ED25519 else 1

    @classmethod
    def from_cbor_index(cls, index: object) -> SigningKeyType:
        if index == 0 and index is not False:
            return cls.ED25519
        if index == 1 and index is not True:
            return cls.P256
        raise ValueError(f"unknown key variant {index!r}")

    @property
    def short_name(self) -> str:
        """``"ed25519"`` or ``"p256"``."""
        return "ed25519" if self is SigningKeyType.ED25519 else "p256"


@dataclass(frozen=True, slots=True)
class VerifyingPublicKey:
    """A public key that verifies signatures: Ed25519 (32 bytes) or P-256 (65 bytes)."""

    key_type: SigningKeyType
    data: bytes

    def __post_init__(self) -> None:
        expected = (
            ED25519_PUBLIC_KEY_LENGTH if self.key_type is SigningKeyType.ED25519 else P256_PUBLIC_KEY_LENGTH
        )
        if len(self.data) != expected:
            raise ValueError(f"{self.key_type.short_name} public key must be {expected} bytes")

    def to_cbor(self) -> list[object]:
        """``[0, [h'<32>']]`` or ``[1, [h'<65>']]``."""
        return [self.key_type.cbor_index, [self.data]]

    def __repr__(self) -> str:
        return f"VerifyingPublicKey({self.key_type.short_name}, {self.data.hex()})"


@dataclass(frozen=True, slots=True)
class Signature:
    """A 64-byte signature: Ed25519, or ECDSA P-256 as ``r || s``."""

    key_type: SigningKeyType
    data: bytes

    def __post_init__(self) -> None:
        if len(self.data) != SIGNATURE_LENGTH:
            raise ValueError("a signature must be 64 bytes")

    def to_cbor(self) -> list[object]:
        """``[0, [h'<64>']]`` or ``[1, [h'<64>']]``."""
        return [self.key_type.cbor_index, [self.data]]

    def __repr__(self) -> str:
        return f"Signature({self.key_type.short_name}, {self.data.hex()})"


def verify_signature(public_key: VerifyingPublicKey, message: bytes, signature: Signature) -> bool:
    """True when ``signature`` over ``message`` verifies with ``public_key``.

    A signature of another kind than the key never verifies.  For P-256 the message is
    hashed with SHA-256 as standard ECDSA-SHA256 does; both low-S and high-S are valid.
    """
    if public_key.key_type is not signature.key_type:
        return False
    try:
        if public_key.key_type is SigningKeyType.ED25519:
            ed25519.Ed25519PublicKey.from_public_bytes(public_key.data).verify(signature.data, message)
            return True
        r = int.from_bytes(signature.data[:32], "big")
        s = int.from_bytes(signature.data[32:], "big")
        if not (0 < r < P256_ORDER and 0 < s < P256_ORDER):
            return False
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), public_key.data)
        key.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))
        return True
    except (InvalidSignature, ValueError):
        return False


@runtime_checkable
class Signer(Protocol):
    """Anything that signs with one key: an in-memory secret or a key kept in a vault."""

    def public_key(self) -> VerifyingPublicKey:
        """The verifying key of this signer."""
        ...

    def sign(self, message: bytes) -> Signature:
        """Sign ``message`` (Ed25519 over it, or ECDSA-SHA256 of it)."""
        ...


class SigningSecret:
    """An in-memory signing secret (Ed25519 seed or P-256 scalar); a :class:`Signer`."""

    __slots__ = ("_key", "_public", "key_type")

    def __init__(self, key_type: SigningKeyType, secret: bytes) -> None:
        if len(secret) != 32:
            raise OckamError("a signing secret must be 32 bytes")
        self.key_type = key_type
        self._key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
        if key_type is SigningKeyType.ED25519:
            self._key = ed25519.Ed25519PrivateKey.from_private_bytes(secret)
            raw = self._key.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
        else:
            scalar = int.from_bytes(secret, "big")
            if not 0 < scalar < P256_ORDER:
                raise OckamError("invalid P-256 secret scalar")
            self._key = ec.derive_private_key(scalar, ec.SECP256R1())
            raw = self._key.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        self._public = VerifyingPublicKey(key_type, raw)

    @classmethod
    def generate(cls, key_type: SigningKeyType = SigningKeyType.ED25519) -> SigningSecret:
        """A fresh random key."""
        if key_type is SigningKeyType.ED25519:
            seed = ed25519.Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.Raw,
                serialization.PrivateFormat.Raw,
                serialization.NoEncryption(),
            )
            return cls(key_type, seed)
        scalar = ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value
        return cls(key_type, scalar.to_bytes(32, "big"))

    def secret_bytes(self) -> bytes:
        """The raw 32-byte secret (for storage in a vault only)."""
        if isinstance(self._key, ed25519.Ed25519PrivateKey):
            return self._key.private_bytes(
                serialization.Encoding.Raw,
                serialization.PrivateFormat.Raw,
                serialization.NoEncryption(),
            )
        return self._key.private_numbers().private_value.to_bytes(32, "big")

    def public_key(self) -> VerifyingPublicKey:
        return self._public

    def sign(self, message: bytes) -> Signature:
        if isinstance(self._key, ed25519.Ed25519PrivateKey):
            return Signature(self.key_type, self._key.sign(message))
        r, s = decode_dss_signature(self._key.sign(message, ec.ECDSA(hashes.SHA256())))
        if s > P256_ORDER // 2:
            s = P256_ORDER - s
        return Signature(self.key_type, r.to_bytes(32, "big") + s.to_bytes(32, "big"))

    def __repr__(self) -> str:
        return f"SigningSecret({self.key_type.short_name}, public={self._public.data.hex()})"

    __str__ = __repr__


@runtime_checkable
class DhKey(Protocol):
    """An X25519 private key usable for the Noise key agreement (in memory or in a vault)."""

    @property
    def public_key(self) -> bytes:
        """The 32-byte X25519 public key."""
        ...

    def dh(self, peer_public_key: bytes) -> bytes:
        """X25519(self, peer) (32 bytes)."""
        ...


def x25519_public_key(secret: bytes) -> bytes:
    """The X25519 public key of a 32-byte secret (clamping happens inside)."""
    return X25519Secret(secret).public_key


class X25519Secret:
    """An in-memory X25519 private key; a :class:`DhKey`."""

    __slots__ = ("_key", "_public")

    def __init__(self, secret: bytes) -> None:
        if len(secret) != X25519_KEY_LENGTH:
            raise OckamError("an X25519 secret must be 32 bytes")
        self._key = x25519.X25519PrivateKey.from_private_bytes(secret)
        self._public = self._key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @classmethod
    def generate(cls) -> X25519Secret:
        return cls(
            x25519.X25519PrivateKey.generate().private_bytes(
                serialization.Encoding.Raw,
                serialization.PrivateFormat.Raw,
                serialization.NoEncryption(),
            )
        )

    @property
    def public_key(self) -> bytes:
        return self._public

    def secret_bytes(self) -> bytes:
        """The raw 32-byte secret (for storage in a vault only)."""
        return self._key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )

    def dh(self, peer_public_key: bytes) -> bytes:
        if len(peer_public_key) != X25519_KEY_LENGTH:
            raise SecureChannelError("an X25519 public key must be 32 bytes")
        try:
            return self._key.exchange(x25519.X25519PublicKey.from_public_bytes(peer_public_key))
        except ValueError as e:  # all-zero shared secret: a low-order peer key
            raise SecureChannelError("X25519 key agreement with a low-order public key") from e

    def __repr__(self) -> str:
        return f"X25519Secret(public={self._public.hex()})"

    __str__ = __repr__


class AeadKey:
    """An AES-256-GCM key.  Keeps one cipher object: set-up happens once per key."""

    __slots__ = ("_aead", "_secret")

    def __init__(self, secret: bytes) -> None:
        if len(secret) != AEAD_KEY_LENGTH:
            raise OckamError("an AES-256-GCM key must be 32 bytes")
        self._secret = bytes(secret)
        self._aead = AESGCM(self._secret)

    def secret_bytes(self) -> bytes:
        """The raw 32-byte key (for storage, tests and vectors only)."""
        return self._secret

    def encrypt(self, nonce: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
        """Ciphertext followed by the 16-byte tag."""
        return self._aead.encrypt(nonce, plaintext, aad or None)

    def decrypt(self, nonce: bytes, ciphertext: bytes | memoryview, aad: bytes = b"") -> bytes:
        """Plaintext; :class:`SecureChannelError` when the tag does not verify."""
        try:
            return self._aead.decrypt(nonce, ciphertext, aad or None)
        except InvalidTag:
            raise SecureChannelError("message authentication failed") from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AeadKey) and other._secret == self._secret

    def __hash__(self) -> int:
        return hash(self._secret)

    def __repr__(self) -> str:
        return "AeadKey(<secret>)"

    __str__ = __repr__
