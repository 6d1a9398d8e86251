"""Members and enrollment tokens of an authority (state.md §4.4, authority.md §4-§6).

Two implementations of each repository: in memory (an authority without ``OCKAM_HOME``,
tests) and SQLite (``authority_member`` / ``authority_enrollment_token`` of a node
database).  Identifiers are ``I…`` text, one-time codes 64 lowercase hex digits; member
attributes are bytes to bytes (stored as the CBOR integer-array map), token attributes
text to text (stored as a CBOR text map).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol

from ..codec.byte_map import decode_byte_map, decode_text_map, encode_byte_map, encode_text_map
from .database import Database

__all__ = [
    "AuthorityMember",
    "AuthorityMembers",
    "EnrollmentToken",
    "EnrollmentTokens",
    "MemoryAuthorityMembers",
    "MemoryEnrollmentTokens",
    "SqlAuthorityMembers",
    "SqlEnrollmentTokens",
]


@dataclass(frozen=True)
class AuthorityMember:
    identifier: str
    added_by: str
    added_at: int
    is_pre_trusted: bool = False
    attributes: Mapping[bytes, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class EnrollmentToken:
    one_time_code: str  # 64 lowercase hex digits
    issued_by: str
    created_at: int
    expires_at: int
    ttl_count: int
    attributes: Mapping[str, str] = field(default_factory=dict)
    reference: str | None = None


class AuthorityMembers(Protocol):
    def get_member(self, identifier: str) -> AuthorityMember | None: ...

    def get_members(self) -> list[AuthorityMember]: ...

    def add_member(self, member: AuthorityMember) -> None:
        """Insert, or overwrite the row of the same identifier."""

    def delete_member(self, identifier: str) -> None:
        """Delete a member unless it is pre-trusted."""

    def bootstrap_pre_trusted_members(self, members: Iterable[AuthorityMember]) -> None:
        """Replace every pre-trusted row by ``members`` (one transaction)."""


class EnrollmentTokens(Protocol):
    def store_new_token(self, token: EnrollmentToken) -> None: ...

    def use_token(self, one_time_code: str, now: int) -> EnrollmentToken | None:
        """Delete expired tokens (``expires_at <= now``), then find the token and consume
        one use of it (delete it when ``ttl_count <= 1``, else decrement).  The token as it
        was before this use, or None."""

    def spent(self, one_time_code: str) -> tuple[str, int] | None:
        """Why a token that is gone went (``expired`` at its expiry, ``used`` at its last
        use) and when, for 30 days; None for a token never seen."""


class MemoryAuthorityMembers:
    def __init__(self) -> None:
        self.rows: dict[str, AuthorityMember] = {}

    def get_member(self, identifier: str) -> AuthorityMember | None:
        return self.rows.get(identifier)

    def get_members(self) -> list[AuthorityMember]:
        return list(self.rows.values())

    def add_member(self, member: AuthorityMember) -> None:
        self.rows[member.identifier] = member

    def delete_member(self, identifier: str) -> None:
        member = self.rows.get(identifier)
        if member is not None and not member.is_pre_trusted:
            del self.rows[identifier]

    def bootstrap_pre_trusted_members(self, members: Iterable[AuthorityMember]) -> None:
        self.rows = {k: v for k, v in self.rows.items() if not v.is_pre_trusted}
        for m in members:
            self.rows[m.identifier] = replace(m, is_pre_trusted=True)


SPENT_TOKENS_KEPT = 30 * 24 * 3600


def _code_hash(one_time_code: str) -> str:
    return hashlib.sha256(one_time_code.encode()).hexdigest()


class MemoryEnrollmentTokens:
    def __init__(self) -> None:
        self.rows: dict[str, EnrollmentToken] = {}
        self.gone: dict[str, tuple[str, int]] = {}

    def store_new_token(self, token: EnrollmentToken) -> None:
        self.rows[token.one_time_code] = token

    def spent(self, one_time_code: str) -> tuple[str, int] | None:
        return self.gone.get(_code_hash(one_time_code))

    def use_token(self, one_time_code: str, now: int) -> EnrollmentToken | None:
        for k, v in list(self.rows.items()):
            if v.expires_at <= now:
                self.gone[_code_hash(k)] = ("expired", v.expires_at)
                del self.rows[k]
        token = self.rows.get(one_time_code)
        if token is None:
            return None
        if token.ttl_count <= 1:
            del self.rows[one_time_code]
            self.gone[_code_hash(one_time_code)] = ("used", now)
        else:
            self.rows[one_time_code] = replace(token, ttl_count=token.ttl_count - 1)
        return token


_MEMBER_COLUMNS = "identifier, added_by, added_at, is_pre_trusted, attributes"


def _member(row: object) -> AuthorityMember:
    r = row
    raw = r[4]  # type: ignore[index]
    return AuthorityMember(
        identifier=str(r[0]),  # type: ignore[index]
        added_by=str(r[1]),  # type: ignore[index]
        added_at=int(r[2]),  # type: ignore[index]
        is_pre_trusted=bool(r[3]),  # type: ignore[index]
        attributes={} if raw is None else decode_byte_map(bytes(raw)),
    )


class SqlAuthorityMembers:
    """``authority_member`` rows of a node database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get_member(self, identifier: str) -> AuthorityMember | None:
        row = self.db.query_one(
            f"SELECT {_MEMBER_COLUMNS} FROM authority_member WHERE identifier = ?", (identifier,)
        )
        return None if row is None else _member(row)

    def get_members(self) -> list[AuthorityMember]:
        return [_member(r) for r in self.db.query(f"SELECT {_MEMBER_COLUMNS} FROM authority_member")]

    def _insert(self, member: AuthorityMember, pre_trusted: bool) -> None:
        self.db.execute(
            f"INSERT INTO authority_member ({_MEMBER_COLUMNS}) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (identifier) DO UPDATE SET added_by = excluded.added_by,"
            " added_at = excluded.added_at, is_pre_trusted = excluded.is_pre_trusted,"
            " attributes = excluded.attributes",
            (
                member.identifier,
                member.added_by,
                member.added_at,
                int(pre_trusted),
                encode_byte_map(member.attributes),
            ),
        )

    def add_member(self, member: AuthorityMember) -> None:
        with self.db.transaction():
            self._insert(member, member.is_pre_trusted)

    def delete_member(self, identifier: str) -> None:
        with self.db.transaction():
            self.db.execute(
                "DELETE FROM authority_member WHERE identifier = ? AND is_pre_trusted = 0", (identifier,)
            )

    def bootstrap_pre_trusted_members(self, members: Iterable[AuthorityMember]) -> None:
        with self.db.transaction():
            self.db.execute("DELETE FROM authority_member WHERE is_pre_trusted = 1")
            for m in members:
                self._insert(m, True)


_TOKEN_COLUMNS = "one_time_code, reference, issued_by, created_at, expires_at, ttl_count, attributes"


def _token(row: object) -> EnrollmentToken:
    r = row
    raw = r[6]  # type: ignore[index]
    return EnrollmentToken(
        one_time_code=str(r[0]),  # type: ignore[index]
        reference=None if r[1] is None else str(r[1]),  # type: ignore[index]
        issued_by=str(r[2]),  # type: ignore[index]
        created_at=int(r[3]),  # type: ignore[index]
        expires_at=int(r[4]),  # type: ignore[index]
        ttl_count=int(r[5]),  # type: ignore[index]
        attributes={} if raw is None else decode_text_map(bytes(raw)),
    )


class SqlEnrollmentTokens:
    """``authority_enrollment_token`` rows of a node database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def store_new_token(self, token: EnrollmentToken) -> None:
        with self.db.transaction():
            self.db.execute(
                f"INSERT INTO authority_enrollment_token ({_TOKEN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (one_time_code) DO UPDATE SET reference = excluded.reference,"
                " issued_by = excluded.issued_by, created_at = excluded.created_at,"
                " expires_at = excluded.expires_at, ttl_count = excluded.ttl_count,"
                " attributes = excluded.attributes",
                (
                    token.one_time_code,
                    token.reference,
                    token.issued_by,
                    token.created_at,
                    token.expires_at,
                    token.ttl_count,
                    encode_text_map(token.attributes),
                ),
            )

    def _spend(self, one_time_code: str, reason: str, at: int) -> None:
        self.db.execute(
            "INSERT INTO authority_spent_token (code_hash, reason, at) VALUES (?, ?, ?)"
            " ON CONFLICT (code_hash) DO UPDATE SET reason = excluded.reason, at = excluded.at",
            (_code_hash(one_time_code), reason, at),
        )

    def spent(self, one_time_code: str) -> tuple[str, int] | None:
        row = self.db.query_one(
            "SELECT reason, at FROM authority_spent_token WHERE code_hash = ?", (_code_hash(one_time_code),)
        )
        return None if row is None else (str(row[0]), int(row[1]))

    def use_token(self, one_time_code: str, now: int) -> EnrollmentToken | None:
        with self.db.transaction():
            for expired in self.db.query(
                "SELECT one_time_code, expires_at FROM authority_enrollment_token WHERE expires_at <= ?",
                (now,),
            ):
                self._spend(str(expired[0]), "expired", int(expired[1]))
            self.db.execute("DELETE FROM authority_enrollment_token WHERE expires_at <= ?", (now,))
            self.db.execute("DELETE FROM authority_spent_token WHERE at <= ?", (now - SPENT_TOKENS_KEPT,))
            row = self.db.query_one(
                f"SELECT {_TOKEN_COLUMNS} FROM authority_enrollment_token WHERE one_time_code = ?",
                (one_time_code,),
            )
            if row is None:
                return None
            token = _token(row)
            if token.ttl_count <= 1:
                self.db.execute(
                    "DELETE FROM authority_enrollment_token WHERE one_time_code = ?", (one_time_code,)
                )
                self._spend(one_time_code, "used", now)
            else:
                self.db.execute(
                    "UPDATE authority_enrollment_token SET ttl_count = ? WHERE one_time_code = ?",
                    (token.ttl_count - 1, one_time_code),
                )
            return token

    def list_tokens(self) -> list[EnrollmentToken]:
        return [_token(r) for r in self.db.query(f"SELECT {_TOKEN_COLUMNS} FROM authority_enrollment_token")]
