"""SQLite access for ``OCKAM_HOME``: WAL mode, busy timeout, versioned migrations.

Several CLI processes and node processes use the same database file at once, so every
connection runs in WAL mode with a generous busy timeout, and every write goes through
:meth:`Database.transaction` (``BEGIN IMMEDIATE``).  Migrations are numbered SQL steps
(see :mod:`ockam.state.migrations`), each applied in its own transaction when the
database is opened and recorded in the ``schema_migrations`` table.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import StateError

__all__ = ["BUSY_TIMEOUT_S", "Database", "Migration", "split_sql"]

BUSY_TIMEOUT_S = 30.0

Migration = tuple[int, str, str]  # (version, name, SQL script)


def split_sql(script: str) -> list[str]:
    """Split a SQL script into complete statements (``;`` inside strings is respected)."""
    statements: list[str] = []
    start = 0
    for i, ch in enumerate(script):
        if ch == ";" and sqlite3.complete_statement(script[start : i + 1]):
            text = script[start : i + 1].strip()
            if text.rstrip(";").strip():
                statements.append(text)
            start = i + 1
    rest = script[start:].strip()
    if rest:
        statements.append(rest)
    return statements


def touch_private(path: Path) -> None:
    """Create ``path`` with mode 0600 if it does not exist (never loosen an existing file)."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    os.close(fd)


class Database:
    """One connection to one SQLite file (autocommit; explicit transactions)."""

    def __init__(self, path: Path, *, wal: bool = True) -> None:
        self.path = path
        touch_private(path)
        try:
            self.conn = sqlite3.connect(
                str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as e:
            raise StateError(f"cannot open the database {path}: {e}") from e
        self.conn.row_factory = sqlite3.Row
        self._depth = 0
        try:
            self.conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            if wal:
                self._set_wal()
            self.conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as e:
            self.conn.close()
            raise StateError(f"cannot open the database {path}: {e}") from e

    def _set_wal(self) -> None:
        # Converting to WAL needs a write lock; the busy handler does not always apply
        # to this pragma, so retry for a while.
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                row = self.conn.execute("PRAGMA journal_mode = WAL").fetchone()
                if row is not None and str(row[0]).lower() == "wal":
                    self.conn.execute("PRAGMA synchronous = NORMAL")
                return
            except sqlite3.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def close(self) -> None:
        try:
            self.conn.close()
        except sqlite3.Error:
            pass

    # -- queries
    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        try:
            return self.conn.execute(sql, params)
        except sqlite3.Error as e:
            raise StateError(f"database error: {e}") from e

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return list(self.execute(sql, params).fetchall())

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.execute(sql, params).fetchone()
        return row

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """A write transaction (``BEGIN IMMEDIATE``); nested uses join the outer one."""
        if self._depth:
            self._depth += 1
            try:
                yield self
            finally:
                self._depth -= 1
            return
        self.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield self
        except BaseException:
            self._depth = 0
            try:
                self.conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            raise
        self._depth = 0
        self.execute("COMMIT")

    def table_exists(self, name: str) -> bool:
        row = self.query_one("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
        return row is not None

    # -- migrations
    def migrate(self, migrations: Sequence[Migration]) -> list[int]:
        """Apply the migrations not yet recorded; return the versions applied now."""
        self.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
        )
        applied: list[int] = []
        done = {int(r[0]) for r in self.query("SELECT version FROM schema_migrations")}
        for version, name, script in sorted(migrations, key=lambda m: m[0]):
            if version in done:
                continue
            with self.transaction():
                # Another process may have applied it while we waited for the lock.
                if self.query_one("SELECT 1 FROM schema_migrations WHERE version = ?", (version,)):
                    continue
                for statement in split_sql(script):
                    self.execute(statement)
                self.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (version, name, int(time.time())),
                )
            applied.append(version)
        return applied

    def schema_version(self) -> int:
        row = self.query_one("SELECT MAX(version) FROM schema_migrations")
        return int(row[0]) if row is not None and row[0] is not None else 0
