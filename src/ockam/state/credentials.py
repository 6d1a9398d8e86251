"""Rows of the ``identity_attributes`` and ``credential`` tables (state.md §4.1).

* :class:`IdentityAttributesTable` - attributes learnt from verified credentials, one row
  per (identifier, node): the CBOR of the attribute map (integer-array form, see
  :mod:`ockam.codec.byte_map`), when it was stored, when it expires and who attested it.
* :class:`CredentialTable` - credentials a node holds for itself (fetched from an
  authority or stored with ``credential store``), keyed by (issuer, subject, scope); the
  ``credential`` column holds the raw CBOR of a ``CredentialAndPurposeKey``.

Like the rest of this layer these classes store text and bytes only; the identity layer
gives them meaning (:class:`ockam.identity.AttributesStore`).
"""

from __future__ import annotations

from dataclasses import dataclass

from .database import Database

__all__ = ["CredentialRow", "CredentialTable", "IdentityAttributesTable"]


class IdentityAttributesTable:
    """``identity_attributes`` rows of one node; implements the identity layer's
    ``AttributesRepository`` protocol."""

    def __init__(self, db: Database, node_name: str) -> None:
        self.db = db
        self.node_name = node_name

    def put_attributes(
        self, identifier: str, attributes: bytes, added: int, expires: int | None, attested_by: str | None
    ) -> None:
        with self.db.transaction():
            self.db.execute(
                "INSERT INTO identity_attributes"
                " (identifier, attributes, added, expires, attested_by, node_name)"
                " VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (identifier, node_name) DO UPDATE SET attributes = excluded.attributes,"
                " added = excluded.added, expires = excluded.expires, attested_by = excluded.attested_by",
                (identifier, attributes, added, expires, attested_by, self.node_name),
            )

    def get_attributes(
        self, identifier: str, attested_by: str | None = None
    ) -> tuple[bytes, int, int | None, str | None] | None:
        sql = (
            "SELECT attributes, added, expires, attested_by FROM identity_attributes"
            " WHERE identifier = ? AND node_name = ?"
        )
        params: tuple[object, ...] = (identifier, self.node_name)
        if attested_by is not None:
            sql += " AND attested_by = ?"
            params = (*params, attested_by)
        row = self.db.query_one(sql, params)
        if row is None:
            return None
        return (
            bytes(row[0]),
            int(row[1]),
            None if row[2] is None else int(row[2]),
            None if row[3] is None else str(row[3]),
        )

    def delete_expired_attributes(self, now: int) -> None:
        with self.db.transaction():
            self.db.execute(
                "DELETE FROM identity_attributes WHERE expires <= ? AND node_name = ?", (now, self.node_name)
            )

    def delete_attributes(self, identifier: str) -> None:
        with self.db.transaction():
            self.db.execute(
                "DELETE FROM identity_attributes WHERE identifier = ? AND node_name = ?",
                (identifier, self.node_name),
            )


@dataclass(frozen=True)
class CredentialRow:
    subject: str
    issuer: str
    scope: str
    credential: bytes
    expires_at: int | None
    node_name: str


class CredentialTable:
    """``credential`` rows of one node; implements the ``CredentialCache`` protocol of the
    services layer (raw CBOR in and out)."""

    def __init__(self, db: Database, node_name: str) -> None:
        self.db = db
        self.node_name = node_name

    def put_credential(
        self, subject: str, issuer: str, scope: str, expires_at: int | None, credential: bytes
    ) -> None:
        with self.db.transaction():
            self.db.execute(
                "INSERT INTO credential"
                " (subject_identifier, issuer_identifier, scope, credential, expires_at, node_name)"
                " VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (issuer_identifier, subject_identifier, scope) DO UPDATE SET"
                " credential = excluded.credential, expires_at = excluded.expires_at,"
                " node_name = excluded.node_name",
                (subject, issuer, scope, credential, expires_at, self.node_name),
            )

    def get_credential(self, subject: str, issuer: str, scope: str) -> bytes | None:
        row = self.db.query_one(
            "SELECT credential FROM credential"
            " WHERE subject_identifier = ? AND issuer_identifier = ? AND scope = ?",
            (subject, issuer, scope),
        )
        return None if row is None else bytes(row[0])

    def delete_credential(self, subject: str, issuer: str, scope: str) -> bool:
        with self.db.transaction():
            cursor = self.db.execute(
                "DELETE FROM credential WHERE subject_identifier = ? AND issuer_identifier = ? AND scope = ?",
                (subject, issuer, scope),
            )
            return cursor.rowcount > 0

    def list_credentials(self) -> list[CredentialRow]:
        rows = self.db.query(
            "SELECT subject_identifier, issuer_identifier, scope, credential, expires_at, node_name"
            " FROM credential ORDER BY rowid"
        )
        return [
            CredentialRow(
                str(r[0]), str(r[1]), str(r[2]), bytes(r[3]), None if r[4] is None else int(r[4]), str(r[5])
            )
            for r in rows
        ]
