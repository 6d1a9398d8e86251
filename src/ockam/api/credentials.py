"""Credentials of the local state: issuing, verifying, storing and listing them
(identity.md §5, cli.md §3.7).

* :func:`issue_local_credential` - a named identity issues a credential for a known
  identifier (its credential-signing purpose key is created on first use);
* :func:`verify_credential_text` - checks a hex credential against one trusted issuer,
  whose identity must be known locally;
* :func:`store_credential` / :func:`stored_credentials` - the ``credential`` rows of a
  node (what a node started with ``--credential-scope`` presents in its secure
  channels);
* :func:`credential_json` / :func:`credential_plain` - the CLI views.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import IdentityError, InvalidArgument, NotFound, OckamError
from ..identity import (
    CredentialAndPurposeKey,
    Identifier,
    Identity,
    VerifiedCredential,
    issue_credential,
    verify_change_history,
    verify_credential,
)
from ..state import State
from ..state.credentials import CredentialTable
from ..state.identities import Identities
from .identities import credential_signing_key, load_identity

__all__ = [
    "PROJECT_MEMBER_SCHEMA",
    "StoredCredential",
    "credential_json",
    "credential_plain",
    "issue_local_credential",
    "known_identity",
    "parse_attributes",
    "read_credential_text",
    "store_credential",
    "stored_credentials",
    "verify_credential_text",
]

#: The attributes schema of credentials issued by ``credential issue`` (project member).
PROJECT_MEMBER_SCHEMA = 1


def known_identity(state: State, identifier: Identifier) -> Identity | None:
    """The identity of ``identifier`` if the local state knows its change history."""
    history = Identities(state).change_history(str(identifier))
    if history is None:
        return None
    try:
        return verify_change_history(bytes.fromhex(history))
    except (OckamError, ValueError):
        return None


def parse_attributes(pairs: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``key=value`` texts (the value may contain ``=``)."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise InvalidArgument(f"Invalid attribute '{pair}': a value is expected (key=value)")
        out[key] = value
    return out


def issue_local_credential(
    state: State,
    issuer_name: str | None,
    subject: Identifier,
    attributes: Mapping[str, str],
    ttl: int,
    *,
    now: int | None = None,
) -> CredentialAndPurposeKey:
    """A credential about ``subject`` (whose identity must be known locally) signed by the
    named identity (the default one if None), valid ``ttl`` seconds."""
    now = int(time.time()) if now is None else now
    subject_identity = known_identity(state, subject)
    if subject_identity is None:
        raise NotFound(
            f"The identity {subject} is not known: import it first (identity create --identity ...)"
        )
    loaded = load_identity(state, issuer_name)
    try:
        signer, attestation = credential_signing_key(state, loaded, now)
        data = {k.encode(): v.encode() for k, v in attributes.items()}
        return issue_credential(
            attestation, signer, subject_identity, data, now=now, ttl=ttl, schema=PROJECT_MEMBER_SCHEMA
        )
    finally:
        loaded.vault.close()


def read_credential_text(credential: str | None, credential_path: str | Path | None) -> str:
    """The hex text given with ``--credential`` or in the file ``--credential-path``."""
    if credential_path is not None:
        try:
            return Path(credential_path).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as e:
            raise InvalidArgument(f"Cannot read the credential file {credential_path}: {e}") from None
    if credential is not None:
        return credential.strip()
    raise InvalidArgument("Credential or Credential Path argument must be provided")


def verify_credential_text(
    state: State, issuer: Identifier, text: str, *, now: int | None = None
) -> tuple[CredentialAndPurposeKey, VerifiedCredential]:
    """Decode and verify a hex credential issued by ``issuer``; raises
    :class:`IdentityError` saying why it is not valid (e.g. "the credential has expired")."""
    now = int(time.time()) if now is None else now
    try:
        credential = CredentialAndPurposeKey.decode_hex(text)
    except (OckamError, ValueError) as e:
        raise IdentityError(f"it is not a hex-encoded credential ({e})") from None
    if known_identity(state, issuer) is None:
        raise IdentityError(f"the issuer {issuer} is not a known identity")
    try:
        verified = verify_credential(credential, lambda i: known_identity(state, i), [issuer], now=now)
    except OckamError as e:
        raise IdentityError(str(e)) from None
    return credential, verified


def store_credential(
    state: State,
    node_name: str,
    scope: str,
    credential: CredentialAndPurposeKey,
    verified: VerifiedCredential,
) -> None:
    """Keep a verified credential for ``node_name`` under ``scope``."""
    CredentialTable(state.db, node_name).put_credential(
        str(verified.subject), str(verified.issuer), scope, verified.expires_at, credential.encode()
    )


@dataclass(frozen=True)
class StoredCredential:
    credential: CredentialAndPurposeKey
    scope: str
    subject: str
    issuer: str


def stored_credentials(
    state: State, node_name: str, *, subject: str | None = None, issuer: str | None = None
) -> list[StoredCredential]:
    """The credentials stored for ``node_name`` (undecodable rows are skipped)."""
    out: list[StoredCredential] = []
    if not state.db.table_exists("credential"):
        return out
    for row in CredentialTable(state.db, node_name).list_credentials():
        if row.node_name != node_name:
            continue
        if (subject is not None and row.subject != subject) or (issuer is not None and row.issuer != issuer):
            continue
        try:
            credential = CredentialAndPurposeKey.decode(row.credential)
        except OckamError:
            continue
        out.append(StoredCredential(credential, row.scope, row.subject, row.issuer))
    return out


def _text(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return "**binary**"


def credential_json(credential: CredentialAndPurposeKey) -> dict[str, Any]:
    """``{"credential": hex, "subject", "issuer", "created_at", "expires_at", "attributes"}``."""
    data = credential.credential.credential_data()
    issuer = credential.purpose_key_attestation.attestation_data().subject
    return {
        "credential": credential.encode_hex(),
        "subject": None if data.subject is None else str(data.subject),
        "issuer": str(issuer),
        "created_at": data.created_at,
        "expires_at": data.expires_at,
        "attributes": {_text(k): _text(v) for k, v in data.attributes.map.items()},
    }


def credential_plain(view: Mapping[str, Any], indent: str = "  ") -> str:
    """The text view of :func:`credential_json`."""
    import json

    attributes = json.dumps(view["attributes"], ensure_ascii=False, separators=(",", ":"))
    return "\n".join(
        [
            "Credential:",
            f"{indent}subject: {view['subject']}",
            f"{indent}issuer: {view['issuer']}",
            f"{indent}created at: {view['created_at']}",
            f"{indent}expires at: {view['expires_at']}",
            f"{indent}attributes: {attributes}",
            f"{indent}credential: {view['credential']}",
        ]
    )
