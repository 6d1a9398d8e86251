"""Attributes of identities, as learnt from verified credentials (identity.md §5.3).

When a peer presents a valid credential (secure-channel handshake or refresh), the node
stores the credential's attribute map for the subject together with the time of storage,
the credential's expiry and the issuer (``attested_by``).  One entry per identifier per
node: a newer credential replaces the older entry.  Access control (ABAC) reads these
entries, filtered by the authority it trusts; expired entries are dropped before every
lookup.

:class:`AttributesStore` keeps the entries in memory and, when given an
:class:`AttributesRepository` (the ``identity_attributes`` table of a node), writes them
through and reads from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..codec.byte_map import byte_map_from_cbor, byte_map_to_cbor, decode_byte_map, encode_byte_map
from ..errors import DecodeError, IdentityError, OckamError
from .credentials import VerifiedCredential
from .identifier import Identifier

__all__ = ["AttributesEntry", "AttributesRepository", "AttributesStore", "text_attributes"]


def text_attributes(attributes: Mapping[bytes, bytes]) -> dict[str, str]:
    """Names and values as text (invalid UTF-8 replaced, as Rust's lossy conversion)."""
    return {k.decode("utf-8", "replace"): v.decode("utf-8", "replace") for k, v in sorted(attributes.items())}


@dataclass(frozen=True)
class AttributesEntry:
    """``{1: attributes, 2: added_at, 3: expires_at?, 4: attested_by?}`` (CBOR map).

    ``attributes`` is written as a map of integer arrays (``BTreeMap<Vec<u8>, Vec<u8>>``).
    """

    attributes: Mapping[bytes, bytes] = field(default_factory=dict)
    added_at: int = 0
    expires_at: int | None = None
    attested_by: Identifier | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "attributes", dict(sorted(self.attributes.items())))

    def text_map(self) -> dict[str, str]:
        return text_attributes(self.attributes)

    def get(self, name: str) -> str | None:
        """The attribute ``name`` as text (None if absent or not UTF-8)."""
        value = self.attributes.get(name.encode())
        if value is None:
            return None
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return None

    def is_expired(self, now: int) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def to_cbor(self) -> dict[int, Any]:
        body: dict[int, Any] = {1: byte_map_to_cbor(self.attributes), 2: self.added_at}
        if self.expires_at is not None:
            body[3] = self.expires_at
        if self.attested_by is not None:
            body[4] = self.attested_by.value
        return body

    @classmethod
    def from_cbor(cls, obj: Any) -> AttributesEntry:
        if not isinstance(obj, dict):
            raise DecodeError("invalid attributes entry: expected a map")
        added, expires, attested = obj.get(2, 0), obj.get(3), obj.get(4)
        if not isinstance(added, int) or (expires is not None and not isinstance(expires, int)):
            raise DecodeError("invalid attributes entry timestamps")
        if attested is not None and not isinstance(attested, bytes):
            raise DecodeError("invalid attributes entry: attested_by is not an identifier")
        try:
            attested_by = None if attested is None else Identifier(attested)
        except IdentityError as e:
            raise DecodeError(f"invalid attributes entry: {e}") from None
        return cls(byte_map_from_cbor(obj.get(1, {})), added, expires, attested_by)

    def to_json(self) -> dict[str, Any]:
        """The serde form: ``{"attributes": {text: text}, "added_at", "expires_at", "attested_by"}``."""
        return {
            "attributes": self.text_map(),
            "added_at": self.added_at,
            "expires_at": self.expires_at,
            "attested_by": None if self.attested_by is None else str(self.attested_by),
        }


class AttributesRepository(Protocol):
    """Persistent rows of identity attributes for one node (identifiers as ``I…`` text,
    attributes as the CBOR of the map)."""

    def put_attributes(
        self, identifier: str, attributes: bytes, added: int, expires: int | None, attested_by: str | None
    ) -> None: ...

    def get_attributes(
        self, identifier: str, attested_by: str | None = None
    ) -> tuple[bytes, int, int | None, str | None] | None: ...

    def delete_expired_attributes(self, now: int) -> None: ...


class AttributesStore:
    """The attributes a node knows about other identities, per identifier."""

    def __init__(self, repository: AttributesRepository | None = None) -> None:
        self.repository = repository
        self._entries: dict[Identifier, AttributesEntry] = {}
        self._purged_at: int | None = None

    def put(self, subject: Identifier, entry: AttributesEntry) -> None:
        self._entries[subject] = entry
        if self.repository is not None:
            self.repository.put_attributes(
                str(subject),
                encode_byte_map(entry.attributes),
                entry.added_at,
                entry.expires_at,
                None if entry.attested_by is None else str(entry.attested_by),
            )

    def put_credential(self, verified: VerifiedCredential, *, now: int) -> AttributesEntry:
        """Store what a verified credential says about its subject."""
        entry = AttributesEntry(verified.attributes.map, now, verified.expires_at, verified.issuer)
        self.put(verified.subject, entry)
        return entry

    def delete_expired(self, now: int) -> None:
        if any(v.is_expired(now) for v in self._entries.values()):
            self._entries = {k: v for k, v in self._entries.items() if not v.is_expired(now)}
        # rows expire at whole seconds: one purge of the repository per second is enough
        if self.repository is not None and self._purged_at != now:
            self._purged_at = now
            self.repository.delete_expired_attributes(now)

    def get(
        self, subject: Identifier | str, attested_by: Identifier | str | None, *, now: int
    ) -> AttributesEntry | None:
        """The unexpired entry of ``subject`` attested by ``attested_by`` (any issuer if
        None).  Expired entries are deleted first."""
        subject = Identifier.coerce(subject)
        issuer = None if attested_by is None else Identifier.coerce(attested_by)
        self.delete_expired(now)
        entry = self._entries.get(subject)
        if entry is None and self.repository is not None:
            entry = self._load(subject, issuer)
        if entry is None or (issuer is not None and entry.attested_by != issuer):
            return None
        return entry

    def _load(self, subject: Identifier, issuer: Identifier | None) -> AttributesEntry | None:
        assert self.repository is not None
        try:
            row = self.repository.get_attributes(str(subject), None if issuer is None else str(issuer))
            if row is None:
                return None
            raw, added, expires, attested = row
            entry = AttributesEntry(
                decode_byte_map(raw), added, expires, None if attested is None else Identifier.parse(attested)
            )
        except OckamError:
            return None
        self._entries[subject] = entry
        return entry

    def __contains__(self, subject: object) -> bool:
        return subject in self._entries

    def __len__(self) -> int:
        return len(self._entries)
