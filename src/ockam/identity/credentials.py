"""Credentials: attributes about a subject, signed by an issuer's credential purpose key.

A presented credential is a :class:`CredentialAndPurposeKey`: the credential and the
attestation of the key that signed it.  Issuing and verifying take ``now`` (Unix
seconds) as an argument.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..codec import cbor
from ..errors import IdentityError
from ..protocol.crypto import Signer, VerifyingPublicKey, sha256, verify_signature
from .identifier import Identifier
from .identity import Identity
from .models import (
    CREDENTIAL_DATA_TYPE,
    Attributes,
    Credential,
    CredentialAndPurposeKey,
    CredentialData,
    CredentialSigningKey,
    PurposeKeyAttestation,
    PurposeKeyAttestationData,
    VersionedData,
)
from .purpose_keys import MAX_ALLOWED_TIME_DRIFT, IdentityLookup, verify_purpose_key_attestation

__all__ = [
    "CREDENTIAL_TTL",
    "VerifiedCredential",
    "issue_credential",
    "verify_credential",
]

#: Default credential lifetime of Ockam authorities: 30 days.
CREDENTIAL_TTL = 30 * 24 * 3600


@dataclass(frozen=True, slots=True)
class VerifiedCredential:
    """What a successfully verified credential says."""

    issuer: Identifier
    subject: Identifier
    data: CredentialData
    purpose_key: PurposeKeyAttestationData

    @property
    def attributes(self) -> Attributes:
        return self.data.attributes

    @property
    def expires_at(self) -> int:
        return self.data.expires_at

    @property
    def signing_key(self) -> VerifyingPublicKey:
        key = self.purpose_key.public_key
        assert isinstance(key, CredentialSigningKey)
        return key.public_key


def issue_credential(
    purpose_key_attestation: PurposeKeyAttestation,
    signer: Signer,
    subject: Identifier | Identity,
    attributes: Attributes | Mapping[bytes, bytes],
    *,
    now: int,
    ttl: int = CREDENTIAL_TTL,
    schema: int = 1,
    subject_latest_change_hash: bytes | None = None,
) -> CredentialAndPurposeKey:
    """Sign a credential about ``subject`` valid from ``now`` to ``now + ttl``.

    ``signer`` holds the credential-signing purpose key attested by
    ``purpose_key_attestation`` (the issuer's).  When ``subject`` is an :class:`Identity`
    its latest change hash is used; otherwise give ``subject_latest_change_hash``.
    """
    attested = purpose_key_attestation.attestation_data().public_key
    if not isinstance(attested, CredentialSigningKey) or attested.public_key != signer.public_key():
        raise IdentityError("the signer does not hold the attested credential signing key")
    if isinstance(subject, Identity):
        subject_id = subject.identifier
        latest = (
            subject.latest_change_hash if subject_latest_change_hash is None else subject_latest_change_hash
        )
    else:
        subject_id = subject
        if subject_latest_change_hash is None:
            raise IdentityError("the subject's latest change hash is needed to issue a credential")
        latest = subject_latest_change_hash
    if not isinstance(attributes, Attributes):
        attributes = Attributes(schema, attributes)
    data = CredentialData(subject_id, latest, attributes, now, now + ttl)
    versioned = VersionedData(1, CREDENTIAL_DATA_TYPE, cbor.encode(data.to_cbor())).encode()
    credential = Credential(versioned, signer.sign(sha256(versioned)))
    return CredentialAndPurposeKey(credential, purpose_key_attestation)


def verify_credential(
    credential: CredentialAndPurposeKey | bytes,
    identities: IdentityLookup,
    authorities: Iterable[Identifier | str],
    *,
    now: int,
    expected_subject: Identifier | str | None = None,
) -> VerifiedCredential:
    """Verify a presented credential at time ``now``.

    ``identities`` must know the issuer (the attestation's subject).  Valid only if: the
    purpose key attestation verifies; its subject is one of ``authorities``; the key is a
    credential-signing key and signed ``SHA-256(data)``; version 1, type 3; a subject is
    present (and equals ``expected_subject`` if given); the credential lies within the
    purpose key's validity; ``created_at <= now + 60``; ``expires_at >= now``.
    """
    if isinstance(credential, (bytes, bytearray, memoryview)):
        credential = CredentialAndPurposeKey.decode(bytes(credential))
    purpose = verify_purpose_key_attestation(credential.purpose_key_attestation, identities, now=now)
    if purpose.subject not in {Identifier.coerce(a) for a in authorities}:
        raise IdentityError(f"credential issued by {purpose.subject}, which is not a trusted authority")
    key = purpose.public_key
    if not isinstance(key, CredentialSigningKey):
        raise IdentityError("the credential was signed by a key that is not a credential signing key")
    signed = credential.credential
    if not verify_signature(key.public_key, sha256(signed.data), signed.signature):
        raise IdentityError("the credential signature does not verify")
    data = signed.credential_data()
    if data.subject is None:
        raise IdentityError("credentials without a subject are not supported")
    if expected_subject is not None and data.subject != Identifier.coerce(expected_subject):
        raise IdentityError(f"the credential is about {data.subject}, not {expected_subject}")
    if data.created_at < purpose.created_at:
        raise IdentityError("the credential predates its signing key")
    if data.expires_at > purpose.expires_at:
        raise IdentityError("the credential outlives its signing key")
    if data.created_at > now + MAX_ALLOWED_TIME_DRIFT:
        raise IdentityError("the credential is created in the future")
    if data.expires_at < now:
        raise IdentityError("the credential has expired")
    return VerifiedCredential(purpose.subject, data.subject, data, purpose)
