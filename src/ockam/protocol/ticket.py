"""Enrollment ticket text: the exported comma format and the legacy hex JSON format.

Exported ticket: lowercase hex of the UTF-8 text ``project route,project identifier,project
name,one-time code,project change history,authority change history[,authority route]``
(one line; the plain text is accepted too). The project route must start with ``/dnsaddr``; the
project id is its host up to the first ``.``. A first field that is not a multiaddr is a
project id, and the route ``/dnsaddr/<id>.projects.orchestrator.ockam.io/tcp/443/service/<id>/service/api``
is used.

Legacy ticket: lowercase hex of the JSON ``{"one_time_code": "<64 hex>", "project": {...}}``
(the project record, ``authority.md`` section 9, or null).

This module only parses; verifying the two change histories (needed to import a ticket)
is done by the identity layer on :class:`TicketImport`'s byte fields.
"""

from __future__ import annotations

import binascii
import json
from dataclasses import dataclass
from typing import Any

from ..codec.multiaddr import MultiAddr
from ..errors import DecodeError

__all__ = [
    "ExportedTicket",
    "LegacyTicket",
    "TicketImport",
    "decode_exported_ticket",
    "decode_legacy_ticket",
    "decode_ticket",
    "default_authority_route",
    "default_project_route",
    "parse_one_time_code",
    "ticket_import",
]

_MANDATORY_FIELDS = 6


def default_project_route(project_id: str) -> MultiAddr:
    return MultiAddr.parse(
        f"/dnsaddr/{project_id}.projects.orchestrator.ockam.io/tcp/443/service/{project_id}/service/api"
    )


def default_authority_route(project_id: str) -> MultiAddr:
    return MultiAddr.parse(
        f"/dnsaddr/{project_id}.projects.orchestrator.ockam.io/tcp/443"
        f"/service/{project_id}/service/authority/service/api"
    )


def parse_one_time_code(text: str) -> str:
    """A one-time code: 32 bytes in hex; returned as 64 lowercase hex digits."""
    try:
        raw = binascii.unhexlify(text)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise DecodeError(f"invalid one-time code {text!r}: expected 64 hex digits")
    return raw.hex()


def _project_id(route: MultiAddr) -> str:
    if not route or route[0].protocol != "dnsaddr":
        raise DecodeError(f"invalid project route {route}: it must start with /dnsaddr")
    return route[0].value.split(".")[0]


@dataclass(frozen=True, slots=True)
class ExportedTicket:
    project_route: MultiAddr
    project_identifier: str  # carried, not used on import
    project_name: str
    one_time_code: str  # 64 lowercase hex digits
    project_change_history: str  # hex
    authority_change_history: str  # hex
    authority_route: str | None = None

    @property
    def project_id(self) -> str:
        return _project_id(self.project_route)

    @classmethod
    def create(
        cls,
        project_route: str,
        project_identifier: str,
        project_name: str,
        one_time_code: str,
        project_change_history: str,
        authority_change_history: str,
        authority_route: str | None = None,
    ) -> ExportedTicket:
        """Build a ticket from text fields; ``project_route`` may also be a bare project id."""
        try:
            route = MultiAddr.parse(project_route)
        except DecodeError:
            route = default_project_route(project_route)
        _project_id(route)
        return cls(
            route,
            project_identifier,
            project_name,
            parse_one_time_code(one_time_code),
            project_change_history,
            authority_change_history,
            authority_route,
        )

    def text(self) -> str:
        fields = [
            str(self.project_route),
            self.project_identifier,
            self.project_name,
            self.one_time_code,
            self.project_change_history,
            self.authority_change_history,
        ]
        if self.authority_route is not None:
            fields.append(self.authority_route)
        return ",".join(fields)

    def encode(self) -> str:
        """The ticket as it is exported: lowercase hex of the comma-separated text."""
        return self.text().encode("utf-8").hex()


@dataclass(frozen=True, slots=True)
class LegacyTicket:
    one_time_code: str
    project: dict[str, Any] | None  # the project record as JSON

    def _get(self, key: str) -> Any:
        return None if self.project is None else self.project.get(key)

    @property
    def project_id(self) -> str | None:
        return self._get("id")  # type: ignore[no-any-return]

    @property
    def project_name(self) -> str | None:
        return self._get("name")  # type: ignore[no-any-return]

    @property
    def project_access_route(self) -> str | None:
        return self._get("access_route")  # type: ignore[no-any-return]

    @property
    def authority_access_route(self) -> str | None:
        return self._get("authority_access_route")  # type: ignore[no-any-return]

    @property
    def authority_identity(self) -> str | None:
        return self._get("authority_identity")  # type: ignore[no-any-return]

    @property
    def project_change_history(self) -> str | None:
        return self._get("project_change_history")  # type: ignore[no-any-return]

    def encode(self) -> str:
        """Lowercase hex of the compact JSON."""
        body = {"one_time_code": self.one_time_code, "project": self.project}
        return json.dumps(body, separators=(",", ":")).encode("utf-8").hex()


def decode_exported_ticket(text: str) -> ExportedTicket:
    """Decode an exported ticket given as hex (or as its plain text)."""
    try:
        raw = binascii.unhexlify(text)
    except (binascii.Error, ValueError):
        contents = text
    else:
        try:
            contents = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DecodeError("enrollment ticket is not UTF-8 text") from e
    values = contents.split(",")
    if len(values) < _MANDATORY_FIELDS:
        raise DecodeError("enrollment ticket is missing fields")
    route, identifier, name, code, project_history, authority_history = values[:_MANDATORY_FIELDS]
    authority_route = values[_MANDATORY_FIELDS] if len(values) > _MANDATORY_FIELDS else None
    return ExportedTicket.create(
        route, identifier, name, code, project_history, authority_history, authority_route
    )


_PROJECT_TEXT = ("id", "name", "space_name", "access_route", "space_id")
_PROJECT_OPTIONAL_TEXT = (
    "identity",
    "authority_access_route",
    "authority_identity",
    "version",
    "operation_id",
    "project_change_history",
)


def decode_legacy_ticket(text: str) -> LegacyTicket:
    """Decode a legacy ticket: hex of ``{"one_time_code": ..., "project": ...}``."""
    try:
        body = json.loads(binascii.unhexlify(text).decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError) as e:
        raise DecodeError("not a legacy enrollment ticket") from e
    if not isinstance(body, dict) or not isinstance(body.get("one_time_code"), str):
        raise DecodeError("legacy enrollment ticket without one-time code")
    project = body.get("project")
    if project is not None:
        if not isinstance(project, dict):
            raise DecodeError("legacy enrollment ticket: invalid project")
        for key in _PROJECT_TEXT:
            if not isinstance(project.get(key), str):
                raise DecodeError(f"legacy enrollment ticket: project field {key!r} missing")
        for key in ("users", "user_roles"):
            if not isinstance(project.get(key), list):
                raise DecodeError(f"legacy enrollment ticket: project field {key!r} missing")
        for key in _PROJECT_OPTIONAL_TEXT:
            if project.get(key) is not None and not isinstance(project[key], str):
                raise DecodeError(f"legacy enrollment ticket: invalid project field {key!r}")
        if project.get("running") is not None and not isinstance(project["running"], bool):
            raise DecodeError("legacy enrollment ticket: invalid project field 'running'")
    return LegacyTicket(parse_one_time_code(body["one_time_code"]), project)


def decode_ticket(text: str) -> ExportedTicket | LegacyTicket:
    """Decode either format (legacy tried first, as ``ockam project enroll`` does)."""
    text = text.strip()
    try:
        return decode_legacy_ticket(text)
    except DecodeError:
        return decode_exported_ticket(text)


@dataclass(frozen=True, slots=True)
class TicketImport:
    """What enrolling with a ticket needs. The two change histories are still unverified."""

    one_time_code: str
    project_id: str
    project_name: str
    project_route: MultiAddr
    project_change_history: bytes
    authority_change_history: bytes
    authority_route: MultiAddr


def _history(text: str, what: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError as e:
        raise DecodeError(f"enrollment ticket: {what} change history is not hex") from e


def ticket_import(ticket: ExportedTicket | LegacyTicket) -> TicketImport:
    """The import data of a ticket; raises :class:`DecodeError` when a legacy ticket lacks
    its project, project change history or authority identity."""
    if isinstance(ticket, ExportedTicket):
        project_id = ticket.project_id
        return TicketImport(
            ticket.one_time_code,
            project_id,
            ticket.project_name,
            ticket.project_route,
            _history(ticket.project_change_history, "project"),
            _history(ticket.authority_change_history, "authority"),
            default_authority_route(project_id)
            if ticket.authority_route is None
            else MultiAddr.parse(ticket.authority_route),
        )
    if ticket.project is None:
        raise DecodeError("legacy enrollment ticket without project")
    project_history = ticket.project_change_history
    authority_history = ticket.authority_identity
    if project_history is None:
        raise DecodeError("legacy enrollment ticket without project change history")
    if authority_history is None:
        raise DecodeError("legacy enrollment ticket without authority change history")
    project_id = ticket.project_id or ""
    authority_route = ticket.authority_access_route
    return TicketImport(
        ticket.one_time_code,
        project_id,
        ticket.project_name or "",
        MultiAddr.parse(ticket.project_access_route or ""),
        _history(project_history, "project"),
        _history(authority_history, "authority"),
        default_authority_route(project_id) if authority_route is None else MultiAddr.parse(authority_route),
    )
