"""Identities: verified change histories, creation and key rotation.

A change history is a list of changes, each one signed by its own primary key and,
after the first, also by the previous change's key.  The identifier is the SHA-256 of
the first change's ``data`` and never changes.  Nothing here reads a clock: creation
and rotation take ``now`` (Unix seconds) as an argument.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import IdentityError
from ..protocol.crypto import (
    Signer,
    SigningKeyType,
    SigningSecret,
    VerifyingPublicKey,
    sha256,
    verify_signature,
)
from .identifier import Identifier
from .models import (
    CHANGE_DATA_TYPE,
    Change,
    ChangeData,
    VersionedData,
    decode_change_history,
    encode_change_history,
)

__all__ = [
    "IDENTITY_KEY_TTL",
    "HistoryComparison",
    "Identity",
    "VerifiedChange",
    "compare_histories",
    "create_identity",
    "generate_identity",
    "rotate_identity",
    "verify_change_history",
]

#: Default validity of an identity key's attestations: 10 x 365 days.
IDENTITY_KEY_TTL = 315_360_000


@dataclass(frozen=True, slots=True)
class VerifiedChange:
    """One change of a verified history with its decoded content."""

    change: Change
    change_hash: bytes
    version: int
    data: ChangeData

    @property
    def primary_public_key(self) -> VerifyingPublicKey:
        return self.data.primary_public_key


@dataclass(frozen=True, slots=True)
class Identity:
    """A verified identity.  Build it with :func:`verify_change_history` (or create/rotate)."""

    identifier: Identifier
    changes: tuple[VerifiedChange, ...]

    @property
    def latest_change(self) -> VerifiedChange:
        return self.changes[-1]

    @property
    def primary_public_key(self) -> VerifyingPublicKey:
        """The current primary key (of the latest change)."""
        return self.changes[-1].data.primary_public_key

    @property
    def latest_change_hash(self) -> bytes:
        return self.changes[-1].change_hash

    @property
    def change_history(self) -> bytes:
        """The CBOR export of the change history (hex of it is Ockam's text form)."""
        return encode_change_history([c.change for c in self.changes])

    def export_hex(self) -> str:
        return self.change_history.hex()

    def __str__(self) -> str:
        return str(self.identifier)


def _change_details(change: Change) -> VerifiedChange:
    versioned = VersionedData.decode(change.data)
    inner = versioned.inner(CHANGE_DATA_TYPE, "identity change")
    return VerifiedChange(change, sha256(change.data), versioned.version, ChangeData.from_cbor(inner))


def verify_change_history(
    change_history: bytes | Iterable[Change],
    expected_identifier: Identifier | str | None = None,
) -> Identity:
    """Decode and fully verify a change history; return the identity.

    Checks, for every change: version 1 and type 1; the first change names no previous
    change; each later change names the previous change hash, does not lower the version
    nor ``attestations_valid_from``, and carries a ``previous_signature`` by the previous
    key; every signature covers ``SHA-256(data)``.  Raises :class:`IdentityError`.
    """
    changes = (
        decode_change_history(bytes(change_history))
        if isinstance(change_history, (bytes, bytearray, memoryview))
        else list(change_history)
    )
    if not changes:
        raise IdentityError("empty change history")
    verified: list[VerifiedChange] = []
    for change in changes:
        details = _change_details(change)
        if verified:
            previous = verified[-1]
            if previous.version > details.version:
                raise IdentityError("identity change history downgrades its version")
            if previous.data.attestations_valid_from > details.data.attestations_valid_from:
                raise IdentityError("identity change starts before the previous one")
            if details.data.previous_change != previous.change_hash:
                raise IdentityError("identity change does not follow the previous change")
            if change.previous_signature is None:
                raise IdentityError("identity change lacks the previous key's signature")
            if not verify_signature(
                previous.primary_public_key, details.change_hash, change.previous_signature
            ):
                raise IdentityError("identity change: previous key signature does not verify")
        elif details.data.previous_change is not None:
            raise IdentityError("the first identity change names a previous change")
        if not verify_signature(details.primary_public_key, details.change_hash, change.signature):
            raise IdentityError("identity change signature does not verify")
        verified.append(details)
    identifier = Identifier(verified[0].change_hash)
    if expected_identifier is not None and identifier != Identifier.coerce(expected_identifier):
        raise IdentityError(f"identity {identifier} is not the expected {expected_identifier}")
    return Identity(identifier, tuple(verified))


def _make_change(
    previous: Identity | None,
    signer: Signer,
    previous_signer: Signer | None,
    now: int,
    attestations_valid_from: int | None,
    attestations_valid_until: int | None,
    revoke_all_purpose_keys: bool,
) -> Change:
    valid_from = now if attestations_valid_from is None else attestations_valid_from
    valid_until = now + IDENTITY_KEY_TTL if attestations_valid_until is None else attestations_valid_until
    data = ChangeData(
        previous_change=None if previous is None else previous.latest_change_hash,
        primary_public_key=signer.public_key(),
        revoke_all_purpose_keys=revoke_all_purpose_keys,
        attestations_valid_from=valid_from,
        attestations_valid_until=valid_until,
    )
    versioned = VersionedData(1, CHANGE_DATA_TYPE, data.encode()).encode()
    digest = sha256(versioned)
    return Change(
        versioned,
        signer.sign(digest),
        None if previous_signer is None else previous_signer.sign(digest),
    )


def create_identity(
    signer: Signer,
    *,
    now: int,
    attestations_valid_from: int | None = None,
    attestations_valid_until: int | None = None,
    revoke_all_purpose_keys: bool = False,
) -> Identity:
    """A new identity whose primary key is ``signer``'s.

    Validity defaults: from ``now`` to ``now + 10 years``.  ``signer`` may be a
    :class:`~ockam.protocol.crypto.SigningSecret` or a vault key (``vault.signer(handle)``).
    """
    change = _make_change(
        None, signer, None, now, attestations_valid_from, attestations_valid_until, revoke_all_purpose_keys
    )
    return verify_change_history([change])


def generate_identity(
    *, now: int, key_type: SigningKeyType = SigningKeyType.ED25519
) -> tuple[Identity, SigningSecret]:
    """A new identity with a freshly generated in-memory key (returned with it)."""
    secret = SigningSecret.generate(key_type)
    return create_identity(secret, now=now), secret


def rotate_identity(
    identity: Identity,
    current_signer: Signer,
    new_signer: Signer,
    *,
    now: int,
    attestations_valid_from: int | None = None,
    attestations_valid_until: int | None = None,
    revoke_all_purpose_keys: bool = False,
) -> Identity:
    """Append a change that moves ``identity`` to ``new_signer``'s key.

    ``current_signer`` must hold the identity's current primary key; it signs the change
    as ``previous_signature``.  The caller deletes the old secret afterwards.
    """
    if current_signer.public_key() != identity.primary_public_key:
        raise IdentityError("the current signer does not hold the identity's primary key")
    change = _make_change(
        identity,
        new_signer,
        current_signer,
        now,
        attestations_valid_from,
        attestations_valid_until,
        revoke_all_purpose_keys,
    )
    return verify_change_history([*(c.change for c in identity.changes), change])


class HistoryComparison(enum.Enum):
    """How a received history relates to a known one with the same identifier."""

    EQUAL = "equal"
    NEWER = "newer"  # the received history extends the known one: replace it
    OLDER = "older"  # the known history extends the received one
    CONFLICT = "conflict"  # they differ at a common position


def compare_histories(known: Identity, received: Identity) -> HistoryComparison:
    """Compare two histories change hash by change hash over their common length."""
    for a, b in zip(known.changes, received.changes, strict=False):
        if a.change_hash != b.change_hash:
            return HistoryComparison.CONFLICT
    if len(known.changes) == len(received.changes):
        return HistoryComparison.EQUAL
    return HistoryComparison.NEWER if len(received.changes) > len(known.changes) else HistoryComparison.OLDER
