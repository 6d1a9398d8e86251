"""Purpose key attestations: an identity's primary key vouching for a secure-channel
static key (X25519) or a credential-signing key, for a limited time.

Verification needs the subject's identity (already verified and known locally) and the
current time ``now`` (Unix seconds), passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ..codec import cbor
from ..errors import IdentityError
from ..protocol.crypto import Signer, sha256, verify_signature
from .identifier import Identifier
from .identity import Identity
from .models import (
    PURPOSE_KEY_ATTESTATION_DATA_TYPE,
    PurposeKeyAttestation,
    PurposeKeyAttestationData,
    PurposePublicKey,
    VersionedData,
)

__all__ = [
    "MAX_ALLOWED_TIME_DRIFT",
    "PURPOSE_KEY_TTL",
    "IdentityLookup",
    "create_purpose_key_attestation",
    "lookup_identity",
    "verify_purpose_key_attestation",
]

#: Default lifetime of purpose keys: 5 x 365 days.
PURPOSE_KEY_TTL = 157_680_000
#: How far in the future (seconds) a ``created_at`` may be, to tolerate clock skew.
MAX_ALLOWED_TIME_DRIFT = 60

#: Where verification finds known identities: one identity, a mapping, or a function.
IdentityLookup = Identity | Mapping[Identifier, Identity] | Callable[[Identifier], Identity | None]


def lookup_identity(identities: IdentityLookup, identifier: Identifier) -> Identity:
    """The known identity for ``identifier``; :class:`IdentityError` if unknown."""
    if isinstance(identities, Identity):
        found: Identity | None = identities if identities.identifier == identifier else None
    elif isinstance(identities, Mapping):
        found = identities.get(identifier)
    else:
        found = identities(identifier)
    if found is None:
        raise IdentityError(f"unknown identity {identifier}")
    return found


def create_purpose_key_attestation(
    subject: Identity,
    signer: Signer,
    public_key: PurposePublicKey,
    *,
    now: int,
    ttl: int = PURPOSE_KEY_TTL,
) -> PurposeKeyAttestation:
    """Attest ``public_key`` for ``subject``: valid from ``now`` to ``now + ttl``.

    ``signer`` must hold the subject's current primary key.
    """
    if signer.public_key() != subject.primary_public_key:
        raise IdentityError("the signer does not hold the identity's primary key")
    data = PurposeKeyAttestationData(
        subject=subject.identifier,
        subject_latest_change_hash=subject.latest_change_hash,
        public_key=public_key,
        created_at=now,
        expires_at=now + ttl,
    )
    versioned = VersionedData(1, PURPOSE_KEY_ATTESTATION_DATA_TYPE, cbor.encode(data.to_cbor())).encode()
    return PurposeKeyAttestation(versioned, signer.sign(sha256(versioned)))


def verify_purpose_key_attestation(
    attestation: PurposeKeyAttestation | bytes,
    identities: IdentityLookup,
    *,
    now: int,
    expected_subject: Identifier | str | None = None,
) -> PurposeKeyAttestationData:
    """Verify an attestation against the subject's known identity at time ``now``.

    Valid only if: version 1, type 2; the subject is ``expected_subject`` (if given) and
    known; it names the subject's latest change hash; its validity lies within the latest
    change's ``attestations_valid_from/until``; ``created_at <= now + 60``;
    ``expires_at >= now``; the latest primary key signed ``SHA-256(data)``.
    The caller then checks that the key has the purpose it needs.
    """
    if isinstance(attestation, (bytes, bytearray, memoryview)):
        attestation = PurposeKeyAttestation.decode(bytes(attestation))
    data = attestation.attestation_data()
    if expected_subject is not None and data.subject != Identifier.coerce(expected_subject):
        raise IdentityError(f"the purpose key belongs to {data.subject}, not to {expected_subject}")
    identity = lookup_identity(identities, data.subject)
    latest = identity.latest_change
    if data.subject_latest_change_hash != latest.change_hash:
        raise IdentityError("the purpose key was not attested by the identity's latest key")
    if data.expires_at > latest.data.attestations_valid_until:
        raise IdentityError("the purpose key outlives the identity key")
    if data.created_at < latest.data.attestations_valid_from:
        raise IdentityError("the purpose key predates the identity key")
    if data.created_at > now + MAX_ALLOWED_TIME_DRIFT:
        raise IdentityError("the purpose key is created in the future")
    if data.expires_at < now:
        raise IdentityError("the purpose key has expired")
    if not verify_signature(latest.primary_public_key, sha256(attestation.data), attestation.signature):
        raise IdentityError("the purpose key attestation signature does not verify")
    return data
