"""Identities, purpose keys and credentials, wire-compatible with Ockam 0.139.

* :func:`verify_change_history` -> :class:`Identity` (identifier, primary key, history bytes);
  :func:`create_identity`, :func:`rotate_identity`, :func:`compare_histories`.
* :func:`create_purpose_key_attestation` / :func:`verify_purpose_key_attestation`
  for secure-channel static keys (:class:`SecureChannelStaticKey`) and credential-signing
  keys (:class:`CredentialSigningKey`).
* :func:`issue_credential` / :func:`verify_credential` (:class:`CredentialAndPurposeKey`).
* :class:`IdentityAndCredentials`: the payload of Noise messages 2 and 3.
* :class:`AttributesStore` / :class:`AttributesEntry`: attributes learnt from verified
  credentials; :class:`CredentialRetriever`: what a secure channel presents.

Signing goes through any :class:`~ockam.protocol.crypto.Signer` (an in-memory
:class:`~ockam.protocol.crypto.SigningSecret` or a vault key); time is always passed in.
Every failure raises :class:`~ockam.errors.IdentityError`.
"""

from __future__ import annotations

from .attributes import AttributesEntry, AttributesRepository, AttributesStore, text_attributes
from .credentials import CREDENTIAL_TTL, VerifiedCredential, issue_credential, verify_credential
from .identifier import Identifier
from .identity import (
    IDENTITY_KEY_TTL,
    HistoryComparison,
    Identity,
    VerifiedChange,
    compare_histories,
    create_identity,
    generate_identity,
    rotate_identity,
    verify_change_history,
)
from .models import (
    Attributes,
    Change,
    ChangeData,
    Credential,
    CredentialAndPurposeKey,
    CredentialData,
    CredentialSigningKey,
    IdentityAndCredentials,
    PurposeKeyAttestation,
    PurposeKeyAttestationData,
    PurposePublicKey,
    SecureChannelStaticKey,
    VersionedData,
    decode_change_history,
    encode_change_history,
)
from .purpose_keys import (
    MAX_ALLOWED_TIME_DRIFT,
    PURPOSE_KEY_TTL,
    IdentityLookup,
    create_purpose_key_attestation,
    lookup_identity,
    verify_purpose_key_attestation,
)
from .retriever import (
    CredentialRetriever,
    CredentialSubscriber,
    MemoryCredentialRetriever,
    notify_subscribers,
)

__all__ = [
    "CREDENTIAL_TTL",
    "IDENTITY_KEY_TTL",
    "MAX_ALLOWED_TIME_DRIFT",
    "PURPOSE_KEY_TTL",
    "Attributes",
    "AttributesEntry",
    "AttributesRepository",
    "AttributesStore",
    "Change",
    "ChangeData",
    "Credential",
    "CredentialAndPurposeKey",
    "CredentialData",
    "CredentialRetriever",
    "CredentialSigningKey",
    "CredentialSubscriber",
    "HistoryComparison",
    "Identifier",
    "Identity",
    "IdentityAndCredentials",
    "IdentityLookup",
    "MemoryCredentialRetriever",
    "PurposeKeyAttestation",
    "PurposeKeyAttestationData",
    "PurposePublicKey",
    "SecureChannelStaticKey",
    "VerifiedChange",
    "VerifiedCredential",
    "VersionedData",
    "compare_histories",
    "create_identity",
    "create_purpose_key_attestation",
    "decode_change_history",
    "encode_change_history",
    "generate_identity",
    "issue_credential",
    "lookup_identity",
    "notify_subscribers",
    "rotate_identity",
    "text_attributes",
    "verify_change_history",
    "verify_credential",
    "verify_purpose_key_attestation",
]
