"""The CBOR data model of identities, purpose keys and credentials (Ockam 0.139).

Every signed object is ``[h'data', signature, ...]`` where ``data`` is the CBOR of
``VersionedData = [version = 1, data_type, h'inner']`` and the signature covers
``SHA-256(data)`` exactly as received (never a re-encoding).  Keys and signatures are
enums ``[0, [h'..']]`` (Ed25519) or ``[1, [h'..']]`` (ECDSA P-256).

Decoding follows the Rust decoder: positional arrays, extra trailing elements ignored,
fixed-size byte strings checked, unknown enum variants refused.  Any malformed input
raises :class:`~ockam.errors.IdentityError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

from ..codec import cbor
from ..errors import IdentityError, OckamError
from ..protocol.crypto import Signature, SigningKeyType, VerifyingPublicKey
from .identifier import Identifier

__all__ = [
    "CHANGE_DATA_TYPE",
    "CREDENTIAL_DATA_TYPE",
    "PURPOSE_KEY_ATTESTATION_DATA_TYPE",
    "Attributes",
    "Change",
    "ChangeData",
    "Credential",
    "CredentialAndPurposeKey",
    "CredentialData",
    "CredentialSigningKey",
    "IdentityAndCredentials",
    "PurposeKeyAttestation",
    "PurposeKeyAttestationData",
    "PurposePublicKey",
    "SecureChannelStaticKey",
    "VersionedData",
    "decode_change_history",
    "decode_change_history_cbor",
    "decode_purpose_public_key",
    "decode_signature",
    "decode_verifying_key",
    "encode_change_history",
]

CHANGE_DATA_TYPE = 1
PURPOSE_KEY_ATTESTATION_DATA_TYPE = 2
CREDENTIAL_DATA_TYPE = 3
_U64 = 0xFFFFFFFFFFFFFFFF


# -- small typed readers over decoded CBOR -----------------------------------------------


def _fail(what: str) -> NoReturn:
    raise IdentityError(f"invalid {what}")


def _decode(data: bytes, what: str, *, exact: bool = True) -> Any:
    """Decode one CBOR item.  Signed inner data is read like ``minicbor::decode`` does
    (``exact=False``: trailing bytes ignored, they are covered by the signature anyway);
    top-level structures must be exactly one item."""
    try:
        if exact:
            return cbor.decode(data)
        value, _ = cbor.decode_prefix(data)
    except OckamError as e:
        raise IdentityError(f"invalid {what}: {e}") from None
    return value


def _array(obj: Any, min_len: int, what: str) -> list[Any]:
    if not isinstance(obj, list) or len(obj) < min_len:
        _fail(what)
    return obj


def _uint(obj: Any, what: str, limit: int = _U64) -> int:
    if not isinstance(obj, int) or isinstance(obj, bool) or not 0 <= obj <= limit:
        _fail(what)
    return obj


def _bytes(obj: Any, what: str, length: int | None = None) -> bytes:
    if not isinstance(obj, bytes) or (length is not None and len(obj) != length):
        _fail(what)
    return obj


def _bool(obj: Any, what: str) -> bool:
    if not isinstance(obj, bool):
        _fail(what)
    return obj


def _optional(items: list[Any], index: int) -> Any:
    return items[index] if index < len(items) else None


def _enum(obj: Any, what: str) -> tuple[int, list[Any]]:
    items = _array(obj, 2, what)
    return _uint(items[0], what), _array(items[1], 0, what)


def _key_type(index: int, what: str) -> SigningKeyType:
    try:
        return SigningKeyType.from_cbor_index(index)
    except ValueError:
        _fail(what)


def decode_verifying_key(obj: Any, what: str = "public key") -> VerifyingPublicKey:
    """``[0, [h'<32>']]`` / ``[1, [h'<65>']]`` -> key."""
    index, fields = _enum(obj, what)
    key_type = _key_type(index, what)
    length = 32 if key_type is SigningKeyType.ED25519 else 65
    return VerifyingPublicKey(key_type, _bytes(_optional(fields, 0), what, length))


def decode_signature(obj: Any, what: str = "signature") -> Signature:
    """``[0, [h'<64>']]`` / ``[1, [h'<64>']]`` -> signature."""
    index, fields = _enum(obj, what)
    return Signature(_key_type(index, what), _bytes(_optional(fields, 0), what, 64))


# -- VersionedData ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VersionedData:
    """``[version, data_type, h'data']``, the envelope of every signed structure."""

    version: int
    data_type: int
    data: bytes

    def encode(self) -> bytes:
        return cbor.encode([self.version, self.data_type, self.data])

    @classmethod
    def decode(cls, data: bytes) -> VersionedData:
        items = _array(_decode(data, "versioned data", exact=False), 3, "versioned data")
        return cls(
            _uint(items[0], "version", 0xFF),
            _uint(items[1], "data type", 0xFF),
            _bytes(items[2], "versioned data"),
        )

    def inner(self, data_type: int, what: str) -> Any:
        """The decoded inner structure, after checking version 1 and ``data_type``."""
        if self.version != 1:
            raise IdentityError(f"unknown {what} version {self.version}")
        if self.data_type != data_type:
            raise IdentityError(f"invalid {what} data type {self.data_type}")
        return _decode(self.data, what, exact=False)


# -- change history ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChangeData:
    """``[previous_change, primary_public_key, revoke_all_purpose_keys, valid_from, valid_until]``."""

    previous_change: bytes | None
    primary_public_key: VerifyingPublicKey
    revoke_all_purpose_keys: bool
    attestations_valid_from: int
    attestations_valid_until: int

    def to_cbor(self) -> list[Any]:
        return [
            self.previous_change,
            self.primary_public_key.to_cbor(),
            self.revoke_all_purpose_keys,
            self.attestations_valid_from,
            self.attestations_valid_until,
        ]

    def encode(self) -> bytes:
        return cbor.encode(self.to_cbor())

    @classmethod
    def from_cbor(cls, obj: Any) -> ChangeData:
        items = _array(obj, 5, "change data")
        previous = items[0]
        return cls(
            None if previous is None else _bytes(previous, "previous change hash", 32),
            decode_verifying_key(items[1], "primary public key"),
            _bool(items[2], "revoke_all_purpose_keys"),
            _uint(items[3], "attestations_valid_from"),
            _uint(items[4], "attestations_valid_until"),
        )


@dataclass(frozen=True, slots=True)
class Change:
    """``[h'data', signature, previous_signature?]``; ``data`` is a VersionedData (type 1)."""

    data: bytes
    signature: Signature
    previous_signature: Signature | None = None

    def to_cbor(self) -> list[Any]:
        items: list[Any] = [self.data, self.signature.to_cbor()]
        if self.previous_signature is not None:
            items.append(self.previous_signature.to_cbor())
        return items

    @classmethod
    def from_cbor(cls, obj: Any) -> Change:
        items = _array(obj, 2, "change")
        previous = _optional(items, 2)
        return cls(
            _bytes(items[0], "change data"),
            decode_signature(items[1], "change signature"),
            None if previous is None else decode_signature(previous, "previous change signature"),
        )


def encode_change_history(changes: list[Change] | tuple[Change, ...]) -> bytes:
    """The CBOR of a ``ChangeHistory`` (an array of changes)."""
    return cbor.encode([c.to_cbor() for c in changes])


def decode_change_history_cbor(obj: Any) -> list[Change]:
    items = _array(obj, 0, "change history")
    if not items:
        raise IdentityError("empty change history")
    return [Change.from_cbor(c) for c in items]


def decode_change_history(data: bytes) -> list[Change]:
    """Decode a ``ChangeHistory`` (no verification, see :func:`verify_change_history`)."""
    return decode_change_history_cbor(_decode(data, "change history"))


# -- purpose keys -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SecureChannelStaticKey:
    """Purpose key ``[0, [h'<32 X25519>']]``: the Noise static key of secure channels."""

    public_key: bytes
    #: Storage tag of this purpose (``purpose_key.purpose`` column).
    purpose = "SC_PK"

    def to_cbor(self) -> list[Any]:
        return [0, [self.public_key]]


@dataclass(frozen=True, slots=True)
class CredentialSigningKey:
    """Purpose key ``[1, [[0|1, [h'key']]]]``: the key that signs credentials."""

    public_key: VerifyingPublicKey
    purpose = "C_PK"

    def to_cbor(self) -> list[Any]:
        return [1, [self.public_key.to_cbor()]]


PurposePublicKey = SecureChannelStaticKey | CredentialSigningKey


def decode_purpose_public_key(obj: Any) -> PurposePublicKey:
    index, fields = _enum(obj, "purpose public key")
    if index == 0:
        return SecureChannelStaticKey(_bytes(_optional(fields, 0), "X25519 public key", 32))
    if index == 1:
        return CredentialSigningKey(decode_verifying_key(_optional(fields, 0), "credential signing key"))
    _fail("purpose public key")


@dataclass(frozen=True, slots=True)
class PurposeKeyAttestationData:
    """``[subject, subject_latest_change_hash, public_key, created_at, expires_at]``."""

    subject: Identifier
    subject_latest_change_hash: bytes
    public_key: PurposePublicKey
    created_at: int
    expires_at: int

    def to_cbor(self) -> list[Any]:
        return [
            self.subject.value,
            self.subject_latest_change_hash,
            self.public_key.to_cbor(),
            self.created_at,
            self.expires_at,
        ]

    @classmethod
    def from_cbor(cls, obj: Any) -> PurposeKeyAttestationData:
        items = _array(obj, 5, "purpose key attestation data")
        return cls(
            Identifier(_bytes(items[0], "subject", 32)),
            _bytes(items[1], "subject latest change hash", 32),
            decode_purpose_public_key(items[2]),
            _uint(items[3], "created_at"),
            _uint(items[4], "expires_at"),
        )


@dataclass(frozen=True, slots=True)
class PurposeKeyAttestation:
    """``[h'data', signature]``; ``data`` is a VersionedData (type 2) signed by the subject."""

    data: bytes
    signature: Signature

    def to_cbor(self) -> list[Any]:
        return [self.data, self.signature.to_cbor()]

    def encode(self) -> bytes:
        return cbor.encode(self.to_cbor())

    @classmethod
    def from_cbor(cls, obj: Any) -> PurposeKeyAttestation:
        items = _array(obj, 2, "purpose key attestation")
        return cls(
            _bytes(items[0], "purpose key attestation data"),
            decode_signature(items[1], "purpose key attestation signature"),
        )

    @classmethod
    def decode(cls, data: bytes) -> PurposeKeyAttestation:
        return cls.from_cbor(_decode(data, "purpose key attestation"))

    def attestation_data(self) -> PurposeKeyAttestationData:
        """The decoded content (version and type checked; signature *not* verified)."""
        inner = VersionedData.decode(self.data).inner(
            PURPOSE_KEY_ATTESTATION_DATA_TYPE, "purpose key attestation"
        )
        return PurposeKeyAttestationData.from_cbor(inner)


# -- credentials ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Attributes:
    """``[schema, {h'key': h'value', ...}]``; keys are written in byte order."""

    schema: int
    map: Mapping[bytes, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "map", dict(sorted(self.map.items())))

    def __hash__(self) -> int:
        return hash((self.schema, tuple(self.map.items())))

    def to_cbor(self) -> list[Any]:
        return [self.schema, dict(self.map)]

    @classmethod
    def from_cbor(cls, obj: Any) -> Attributes:
        items = _array(obj, 2, "attributes")
        raw = items[1]
        if not isinstance(raw, dict):
            _fail("attributes map")
        return cls(
            _uint(items[0], "credential schema"),
            {_bytes(k, "attribute name"): _bytes(v, "attribute value") for k, v in raw.items()},
        )

    def text_map(self) -> dict[str, str]:
        """Names and values as text (non-UTF-8 bytes shown as ``HEX:<hex>``)."""

        def text(b: bytes) -> str:
            try:
                return b.decode("utf-8")
            except UnicodeDecodeError:
                return "HEX:" + b.hex()

        return {text(k): text(v) for k, v in self.map.items()}


@dataclass(frozen=True, slots=True)
class CredentialData:
    """``[subject?, subject_latest_change_hash?, attributes, created_at, expires_at]``."""

    subject: Identifier | None
    subject_latest_change_hash: bytes | None
    attributes: Attributes
    created_at: int
    expires_at: int

    def to_cbor(self) -> list[Any]:
        return [
            None if self.subject is None else self.subject.value,
            self.subject_latest_change_hash,
            self.attributes.to_cbor(),
            self.created_at,
            self.expires_at,
        ]

    @classmethod
    def from_cbor(cls, obj: Any) -> CredentialData:
        items = _array(obj, 5, "credential data")
        return cls(
            None if items[0] is None else Identifier(_bytes(items[0], "credential subject", 32)),
            None if items[1] is None else _bytes(items[1], "subject latest change hash", 32),
            Attributes.from_cbor(items[2]),
            _uint(items[3], "created_at"),
            _uint(items[4], "expires_at"),
        )


@dataclass(frozen=True, slots=True)
class Credential:
    """``[h'data', signature]``; ``data`` is a VersionedData (type 3) signed by a purpose key."""

    data: bytes
    signature: Signature

    def to_cbor(self) -> list[Any]:
        return [self.data, self.signature.to_cbor()]

    def encode(self) -> bytes:
        return cbor.encode(self.to_cbor())

    @classmethod
    def from_cbor(cls, obj: Any) -> Credential:
        items = _array(obj, 2, "credential")
        return cls(_bytes(items[0], "credential data"), decode_signature(items[1], "credential signature"))

    def credential_data(self) -> CredentialData:
        """The decoded content (version and type checked; signature *not* verified)."""
        inner = VersionedData.decode(self.data).inner(CREDENTIAL_DATA_TYPE, "credential")
        return CredentialData.from_cbor(inner)


@dataclass(frozen=True, slots=True)
class CredentialAndPurposeKey:
    """``[credential, purpose_key_attestation]``: a credential as presented or stored.

    The hex of :meth:`encode` is the credential exchange format of the CLI.
    """

    credential: Credential
    purpose_key_attestation: PurposeKeyAttestation

    def to_cbor(self) -> list[Any]:
        return [self.credential.to_cbor(), self.purpose_key_attestation.to_cbor()]

    def encode(self) -> bytes:
        return cbor.encode(self.to_cbor())

    def encode_hex(self) -> str:
        return self.encode().hex()

    @classmethod
    def from_cbor(cls, obj: Any) -> CredentialAndPurposeKey:
        items = _array(obj, 2, "credential and purpose key")
        return cls(Credential.from_cbor(items[0]), PurposeKeyAttestation.from_cbor(items[1]))

    @classmethod
    def decode(cls, data: bytes) -> CredentialAndPurposeKey:
        return cls.from_cbor(_decode(data, "credential and purpose key"))

    @classmethod
    def decode_hex(cls, text: str) -> CredentialAndPurposeKey:
        try:
            raw = bytes.fromhex(text.strip())
        except ValueError:
            raise IdentityError("a credential must be hex-encoded CBOR") from None
        return cls.decode(raw)


# -- secure channel handshake payload ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class IdentityAndCredentials:
    """Payload of Noise messages 2 and 3:
    ``[change_history, purpose_key_attestation, [CredentialAndPurposeKey...]]``."""

    change_history: tuple[Change, ...]
    purpose_key_attestation: PurposeKeyAttestation
    credentials: tuple[CredentialAndPurposeKey, ...] = ()

    def encode(self) -> bytes:
        return cbor.encode(
            [
                [c.to_cbor() for c in self.change_history],
                self.purpose_key_attestation.to_cbor(),
                [c.to_cbor() for c in self.credentials],
            ]
        )

    @classmethod
    def decode(cls, data: bytes) -> IdentityAndCredentials:
        items = _array(_decode(data, "identity payload"), 3, "identity payload")
        return cls(
            tuple(decode_change_history_cbor(items[0])),
            PurposeKeyAttestation.from_cbor(items[1]),
            tuple(CredentialAndPurposeKey.from_cbor(c) for c in _array(items[2], 0, "credentials")),
        )
