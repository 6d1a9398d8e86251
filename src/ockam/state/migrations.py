"""Numbered schema steps of ``database.sqlite3`` and ``application_database.sqlite3``.

Append new steps with the next number; never edit a released step.  Identity, vault,
policy... tables are added by later steps (numbers 2 and up are free).
"""

from __future__ import annotations

from .database import Migration

__all__ = ["APPLICATION_MIGRATIONS", "MIGRATIONS", "VAULT_MIGRATIONS"]

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

MIGRATIONS.append(
    (
        2,
        "create identity and vault tables",
        """
        CREATE TABLE vault (
            name TEXT PRIMARY KEY,
            path TEXT,
            is_default INTEGER NOT NULL DEFAULT 0,
            is_kms INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE identity (
            identifier TEXT NOT NULL UNIQUE,
            change_history TEXT NOT NULL
        );
        CREATE TABLE named_identity (
            identifier TEXT NOT NULL,
            name TEXT UNIQUE,
            vault_name TEXT NOT NULL,
            is_default INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE purpose_key (
            identifier TEXT NOT NULL,
            purpose TEXT NOT NULL,
            purpose_key_attestation BLOB NOT NULL,
            UNIQUE (identifier, purpose)
        );
        CREATE TABLE signing_secret (
            handle BLOB PRIMARY KEY,
            secret_type TEXT NOT NULL,
            secret BLOB NOT NULL
        );
        CREATE TABLE x25519_secret (
            handle BLOB PRIMARY KEY,
            secret BLOB NOT NULL
        );
        CREATE TABLE aead_secret (
            handle BLOB PRIMARY KEY,
            type TEXT NOT NULL,
            secret BLOB NOT NULL
        );
        """,
    )
)

# The schema of a vault kept in its own file (``vault-<name>`` or ``vault create --path``).
VAULT_MIGRATIONS: list[Migration] = [
    (
        1,
        "create secret tables",
        """
        CREATE TABLE signing_secret (
            handle BLOB PRIMARY KEY,
            secret_type TEXT NOT NULL,
            secret BLOB NOT NULL
        );
        CREATE TABLE x25519_secret (
            handle BLOB PRIMARY KEY,
            secret BLOB NOT NULL
        );
        CREATE TABLE aead_secret (
            handle BLOB PRIMARY KEY,
            type TEXT NOT NULL,
            secret BLOB NOT NULL
        );
        """,
    ),
]

MIGRATIONS.append(
    (
        3,
        "create credential, attribute and authority tables",
        """
        CREATE TABLE identity_attributes (
            identifier TEXT NOT NULL,
            attributes BLOB NOT NULL,
            added INTEGER NOT NULL,
            expires INTEGER,
            attested_by TEXT,
            node_name TEXT NOT NULL,
            UNIQUE (identifier, node_name)
        );
        CREATE INDEX identity_attributes_expires ON identity_attributes (node_name, expires);
        CREATE TABLE credential (
            subject_identifier TEXT NOT NULL,
            issuer_identifier TEXT NOT NULL,
            scope TEXT NOT NULL,
            credential BLOB NOT NULL,
            expires_at INTEGER,
            node_name TEXT NOT NULL,
            UNIQUE (issuer_identifier, subject_identifier, scope)
        );
        CREATE TABLE authority_member (
            identifier TEXT NOT NULL UNIQUE,
            added_by TEXT NOT NULL,
            added_at INTEGER NOT NULL,
            is_pre_trusted INTEGER NOT NULL,
            attributes BLOB
        );
        CREATE INDEX authority_member_is_pre_trusted ON authority_member (is_pre_trusted);
        CREATE TABLE authority_enrollment_token (
            one_time_code TEXT NOT NULL UNIQUE,
            reference TEXT,
            issued_by TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            ttl_count INTEGER NOT NULL,
            attributes BLOB
        );
        CREATE INDEX authority_enrollment_token_expires_at ON authority_enrollment_token (expires_at);
        """,
    )
)

MIGRATIONS.append(
    (
        4,
        "create project, space and enrollment tables",
        """
        CREATE TABLE project (
            project_id TEXT PRIMARY KEY,
            project_name TEXT NOT NULL,
            is_default INTEGER NOT NULL DEFAULT 0,
            space_id TEXT NOT NULL,
            space_name TEXT NOT NULL,
            project_identifier TEXT,
            access_route TEXT NOT NULL,
            authority_change_history TEXT,
            authority_access_route TEXT,
            version TEXT,
            running INTEGER,
            operation_id TEXT,
            project_change_history TEXT,
            -- JSON arrays of the project record (e-mails, user roles)
            users TEXT NOT NULL DEFAULT '[]',
            user_roles TEXT NOT NULL DEFAULT '[]',
            -- JSON objects of the add-on configurations (NULL: none)
            okta_config TEXT,
            kafka_config TEXT,
            -- a project hosted on this machine (``ockam enroll``): the names of its
            -- authority node and project node (NULL for imported projects)
            authority_node TEXT,
            project_node TEXT
        );
        CREATE TABLE space (
            space_id TEXT PRIMARY KEY,
            space_name TEXT NOT NULL,
            is_default INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE identity_enrollment (
            identifier TEXT NOT NULL UNIQUE,
            enrolled_at INTEGER NOT NULL,
            email TEXT
        );
        """,
    )
)

MIGRATIONS.append(
    (
        5,
        "create policy tables",
        """
        CREATE TABLE resource (
            resource_name TEXT NOT NULL,
            resource_type TEXT NOT NULL,
            node_name TEXT NOT NULL,
            UNIQUE (node_name, resource_name, resource_type)
        );
        CREATE TABLE resource_policy (
            resource_name TEXT NOT NULL,
            action TEXT NOT NULL,
            expression TEXT NOT NULL,
            node_name TEXT NOT NULL,
            UNIQUE (node_name, resource_name, action)
        );
        CREATE TABLE resource_type_policy (
            resource_type TEXT NOT NULL,
            action TEXT NOT NULL,
            expression TEXT NOT NULL,
            node_name TEXT NOT NULL,
            UNIQUE (node_name, resource_type, action)
        );
        """,
    )
)

MIGRATIONS.append(
    (
        6,
        "how a project hosted on this machine is served",
        """
        -- JSON object (NULL: not hosted here, or hosted before this column): the listener
        -- addresses of its project node and authority node, the public address in its
        -- routes, its administrator, and the database of its authority's members
        ALTER TABLE project ADD COLUMN hosting TEXT;
        """,
    )
)

MIGRATIONS.append(
    (
        7,
        "enrollment tokens that are spent",
        """
        -- tokens gone because they expired or their uses were spent, by the SHA-256 of
        -- their one-time code (not in Rust's schema: so that a second use can be told apart
        -- from an unknown token); forgotten after 30 days
        CREATE TABLE authority_spent_token (
            code_hash TEXT NOT NULL UNIQUE,
            reason TEXT NOT NULL,
            at INTEGER NOT NULL
        );
        """,
    )
)
