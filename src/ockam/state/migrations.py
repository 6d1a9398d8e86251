"""Numbered schema steps of ``database.sqlite3`` and ``application_database.sqlite3``.

Append new steps with the next number; never edit a released step.  Identity, vault,
policy... tables are added by later steps (numbers 2 and up are free).
"""

from __future__ import annotations

from .database import Migration

__all__ = ["APPLICATION_MIGRATIONS", "MIGRATIONS"]

MIGRATIONS: list[Migration] = [
    (
        1,
        "create node tables",
        """
        CREATE TABLE node (
            name TEXT PRIMARY KEY,
            identifier TEXT NOT NULL,
            verbosity INTEGER NOT NULL DEFAULT 0,
            is_default INTEGER NOT NULL DEFAULT 0,
            is_authority INTEGER NOT NULL DEFAULT 0,
            tcp_listener_address TEXT,
            pid INTEGER,
            http_server_address TEXT,
            -- JSON object: what is needed to restart the node (identity, http server,
            -- configuration sections...)
            settings TEXT NOT NULL DEFAULT '{}'
        );
        CREATE TABLE node_project (
            node_name TEXT PRIMARY KEY,
            project_name TEXT NOT NULL
        );
        """,
    ),
]

APPLICATION_MIGRATIONS: list[Migration] = [
    (
        1,
        "create journey tables",
        """
        CREATE TABLE project_journey (
            project_id TEXT NOT NULL,
            opentelemetry_context TEXT NOT NULL UNIQUE,
            start_datetime INTEGER NOT NULL,
            previous_opentelemetry_context TEXT
        );
        CREATE TABLE host_journey (
            opentelemetry_context TEXT NOT NULL UNIQUE,
            start_datetime INTEGER NOT NULL,
            previous_opentelemetry_context TEXT
        );
        """,
    ),
]
