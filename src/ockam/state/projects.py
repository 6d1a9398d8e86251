"""Projects, spaces and enrollment status of ``OCKAM_HOME`` (state.md §4.5).

Rows only: the ``project`` table (one row per project id; the project record's fields,
its users and user roles as JSON text, and, for a project hosted on this machine by
``ockam enroll``, the names of its authority node and project node), the ``space`` table
and ``identity_enrollment``.  Verifying and interpreting a project record is the API
layer's work (:mod:`ockam.api.projects`).

Default rules: the first stored project (or space) becomes the default one; storing a
project again keeps its default flag; deleting the default project makes the oldest
remaining one the default.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import NotFound
from .database import Database

__all__ = ["Enrollments", "ProjectRow", "Projects", "SpaceRow", "Spaces"]


@dataclass(frozen=True)
class ProjectRow:
    project_id: str
    project_name: str
    space_id: str = ""
    space_name: str = ""
    access_route: str = ""
    project_identifier: str | None = None
    project_change_history: str | None = None
    authority_change_history: str | None = None
    authority_access_route: str | None = None
    version: str | None = None
    running: bool | None = None
    operation_id: str | None = None
    users: list[Any] = field(default_factory=list)
    user_roles: list[Any] = field(default_factory=list)
    okta_config: dict[str, Any] | None = None
    kafka_config: dict[str, Any] | None = None
    is_default: bool = False
    # Local project (``ockam enroll``): the nodes that host it, and how (listener and public
    # addresses, administrator, members database: see ``ockam.cli.enroll``)
    authority_node: str | None = None
    project_node: str | None = None
    hosting: dict[str, Any] | None = None

    @property
    def is_local(self) -> bool:
        return self.authority_node is not None or self.project_node is not None


_PROJECT_COLUMNS = (
    "project_id, project_name, is_default, space_id, space_name, project_identifier, access_route,"
    " authority_change_history, authority_access_route, version, running, operation_id,"
    " project_change_history, users, user_roles, okta_config, kafka_config, authority_node, project_node,"
    " hosting"
)


def _json(text: Any, default: Any) -> Any:
    if text is None:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


def _project_row(row: Any) -> ProjectRow:
    users = _json(row["users"], [])
    roles = _json(row["user_roles"], [])
    okta = _json(row["okta_config"], None)
    kafka = _json(row["kafka_config"], None)
    hosting = _json(row["hosting"], None)
    return ProjectRow(
        project_id=row["project_id"],
        project_name=row["project_name"],
        space_id=row["space_id"],
        space_name=row["space_name"],
        access_route=row["access_route"],
        project_identifier=row["project_identifier"],
        project_change_history=row["project_change_history"],
        authority_change_history=row["authority_change_history"],
        authority_access_route=row["authority_access_route"],
        version=row["version"],
        running=None if row["running"] is None else bool(row["running"]),
        operation_id=row["operation_id"],
        users=users if isinstance(users, list) else [],
        user_roles=roles if isinstance(roles, list) else [],
        okta_config=okta if isinstance(okta, dict) else None,
        kafka_config=kafka if isinstance(kafka, dict) else None,
        is_default=bool(row["is_default"]),
        authority_node=row["authority_node"],
        project_node=row["project_node"],
        hosting=hosting if isinstance(hosting, dict) else None,
    )


class Projects:
    """The ``project`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, project_id: str) -> ProjectRow | None:
        row = self.db.query_one(f"SELECT {_PROJECT_COLUMNS} FROM project WHERE project_id = ?", (project_id,))
        return None if row is None else _project_row(row)

    def by_name(self, name: str) -> ProjectRow | None:
        """The project named ``name`` (the default one first if several share the name)."""
        row = self.db.query_one(
            f"SELECT {_PROJECT_COLUMNS} FROM project WHERE project_name = ?"
            " ORDER BY is_default DESC, rowid LIMIT 1",
            (name,),
        )
        return None if row is None else _project_row(row)

    def require_by_name(self, name: str) -> ProjectRow:
        project = self.by_name(name)
        if project is None:
            raise NotFound(f"The project {name} was not found")
        return project

    def default(self) -> ProjectRow | None:
        row = self.db.query_one(
            f"SELECT {_PROJECT_COLUMNS} FROM project WHERE is_default = 1 ORDER BY rowid LIMIT 1"
        )
        return None if row is None else _project_row(row)

    def list_all(self) -> list[ProjectRow]:
        return [
            _project_row(r) for r in self.db.query(f"SELECT {_PROJECT_COLUMNS} FROM project ORDER BY rowid")
        ]

    def hosted_by(self, node_name: str) -> ProjectRow | None:
        """The local project whose authority node or project node is ``node_name``."""
        row = self.db.query_one(
            f"SELECT {_PROJECT_COLUMNS} FROM project WHERE authority_node = ? OR project_node = ?"
            " ORDER BY rowid LIMIT 1",
            (node_name, node_name),
        )
        return None if row is None else _project_row(row)

    def store(self, project: ProjectRow, *, make_default: bool | None = None) -> ProjectRow:
        """Insert or replace the row of ``project.project_id``.  It is the default project if
        ``make_default`` says so, else if it already was, else if there is no default yet.
        The local-node columns are kept when the new row has none."""
        with self.db.transaction():
            existing = self.get(project.project_id)
            if existing is not None and not project.is_local:
                project = replace(
                    project,
                    authority_node=existing.authority_node,
                    project_node=existing.project_node,
                    hosting=existing.hosting,
                )
            if make_default is None:
                other = self.db.query_one(
                    "SELECT 1 FROM project WHERE is_default = 1 AND project_id <> ?", (project.project_id,)
                )
                make_default = (existing is not None and existing.is_default) or other is None
            self.db.execute(
                "INSERT INTO project (project_id, project_name, is_default, space_id, space_name,"
                " project_identifier, access_route, authority_change_history, authority_access_route,"
                " version, running, operation_id, project_change_history, users, user_roles,"
                " okta_config, kafka_config, authority_node, project_node, hosting)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (project_id) DO UPDATE SET project_name = excluded.project_name,"
                " is_default = excluded.is_default, space_id = excluded.space_id,"
                " space_name = excluded.space_name, project_identifier = excluded.project_identifier,"
                " access_route = excluded.access_route,"
                " authority_change_history = excluded.authority_change_history,"
                " authority_access_route = excluded.authority_access_route, version = excluded.version,"
                " running = excluded.running, operation_id = excluded.operation_id,"
                " project_change_history = excluded.project_change_history, users = excluded.users,"
                " user_roles = excluded.user_roles, okta_config = excluded.okta_config,"
                " kafka_config = excluded.kafka_config, authority_node = excluded.authority_node,"
                " project_node = excluded.project_node, hosting = excluded.hosting",
                (
                    project.project_id,
                    project.project_name,
                    int(make_default),
                    project.space_id,
                    project.space_name,
                    project.project_identifier,
                    project.access_route,
                    project.authority_change_history,
                    project.authority_access_route,
                    project.version,
                    None if project.running is None else int(project.running),
                    project.operation_id,
                    project.project_change_history,
                    json.dumps(project.users),
                    json.dumps(project.user_roles),
                    None if project.okta_config is None else json.dumps(project.okta_config),
                    None if project.kafka_config is None else json.dumps(project.kafka_config),
                    project.authority_node,
                    project.project_node,
                    None if project.hosting is None else json.dumps(project.hosting, sort_keys=True),
                ),
            )
            if make_default:
                self.db.execute(
                    "UPDATE project SET is_default = 0 WHERE project_id <> ?", (project.project_id,)
                )
        stored = self.get(project.project_id)
        assert stored is not None
        return stored

    def set_default(self, project_id: str) -> None:
        with self.db.transaction():
            if self.get(project_id) is None:
                raise NotFound(f"The project {project_id} was not found")
            self.db.execute("UPDATE project SET is_default = (project_id = ?)", (project_id,))

    def delete(self, project_id: str) -> None:
        with self.db.transaction():
            self.db.execute("DELETE FROM project WHERE project_id = ?", (project_id,))
            if self.db.query_one("SELECT 1 FROM project WHERE is_default = 1") is None:
                first = self.db.query_one("SELECT project_id FROM project ORDER BY rowid LIMIT 1")
                if first is not None:
                    self.db.execute("UPDATE project SET is_default = 1 WHERE project_id = ?", (first[0],))


@dataclass(frozen=True)
class SpaceRow:
    space_id: str
    space_name: str
    is_default: bool = False


class Spaces:
    """The ``space`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def store(self, space_id: str, space_name: str) -> SpaceRow:
        with self.db.transaction():
            has_default = self.db.query_one(
                "SELECT 1 FROM space WHERE is_default = 1 AND space_id <> ?", (space_id,)
            )
            existing = self.get(space_id)
            is_default = (existing is not None and existing.is_default) or has_default is None
            self.db.execute(
                "INSERT INTO space (space_id, space_name, is_default) VALUES (?, ?, ?)"
                " ON CONFLICT (space_id) DO UPDATE SET space_name = excluded.space_name,"
                " is_default = excluded.is_default",
                (space_id, space_name, int(is_default)),
            )
        stored = self.get(space_id)
        assert stored is not None
        return stored

    def get(self, space_id: str) -> SpaceRow | None:
        row = self.db.query_one(
            "SELECT space_id, space_name, is_default FROM space WHERE space_id = ?", (space_id,)
        )
        return None if row is None else SpaceRow(row[0], row[1], bool(row[2]))

    def by_name(self, name: str) -> SpaceRow | None:
        row = self.db.query_one(
            "SELECT space_id, space_name, is_default FROM space WHERE space_name = ? ORDER BY rowid LIMIT 1",
            (name,),
        )
        return None if row is None else SpaceRow(row[0], row[1], bool(row[2]))

    def default(self) -> SpaceRow | None:
        row = self.db.query_one(
            "SELECT space_id, space_name, is_default FROM space WHERE is_default = 1 ORDER BY rowid LIMIT 1"
        )
        return None if row is None else SpaceRow(row[0], row[1], bool(row[2]))

    def list_all(self) -> list[SpaceRow]:
        rows = self.db.query("SELECT space_id, space_name, is_default FROM space ORDER BY rowid")
        return [SpaceRow(r[0], r[1], bool(r[2])) for r in rows]

    def delete(self, space_id: str) -> None:
        with self.db.transaction():
            self.db.execute("DELETE FROM space WHERE space_id = ?", (space_id,))
            if self.db.query_one("SELECT 1 FROM space WHERE is_default = 1") is None:
                first = self.db.query_one("SELECT space_id FROM space ORDER BY rowid LIMIT 1")
                if first is not None:
                    self.db.execute("UPDATE space SET is_default = 1 WHERE space_id = ?", (first[0],))


class Enrollments:
    """The ``identity_enrollment`` table: identities enrolled with ``ockam enroll``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def set_enrolled(self, identifier: str, email: str | None = None, now: int | None = None) -> None:
        with self.db.transaction():
            self.db.execute(
                "INSERT INTO identity_enrollment (identifier, enrolled_at, email) VALUES (?, ?, ?)"
                " ON CONFLICT (identifier) DO UPDATE SET enrolled_at = excluded.enrolled_at,"
                " email = excluded.email",
                (identifier, int(time.time()) if now is None else now, email),
            )

    def is_enrolled(self, identifier: str) -> bool:
        row = self.db.query_one("SELECT 1 FROM identity_enrollment WHERE identifier = ?", (identifier,))
        return row is not None

    def enrolled_at(self, identifier: str) -> int | None:
        row = self.db.query_one(
            "SELECT enrolled_at FROM identity_enrollment WHERE identifier = ?", (identifier,)
        )
        return None if row is None else int(row[0])
