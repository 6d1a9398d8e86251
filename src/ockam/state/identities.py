"""Rows of the identity and vault tables (state.md §4.1), and raw secret storage.

This module stores bytes and text only: it knows nothing of keys or change histories.
:class:`SecretStore` reads and writes the ``signing_secret`` / ``x25519_secret`` /
``aead_secret`` tables of one database (the main one for the in-database vault, or a
vault's own file); the vault that turns those rows into keys lives one layer up
(:mod:`ockam.api.identities`).  Vault files are created with mode 0600.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import AlreadyExists, InvalidArgument, NotFound, StateError
from .database import Database
from .migrations import VAULT_MIGRATIONS
from .state import State

__all__ = [
    "NamedIdentityRow",
    "SecretStore",
    "VaultRow",
    "Vaults",
    "Identities",
]


@dataclass(frozen=True)
class VaultRow:
    """One row of the ``vault`` table (``path`` None: secrets are in the main database)."""

    name: str
    path: str | None
    is_default: bool
    is_kms: bool = False


@dataclass(frozen=True)
class NamedIdentityRow:
    """One row of ``named_identity`` with its change history (hex) from ``identity``."""

    name: str
    identifier: str
    vault_name: str
    is_default: bool
    change_history: str


class SecretStore:
    """Raw secret rows of one database.  Secrets never appear in ``repr``."""

    def __init__(self, db: Database, owned: bool = False) -> None:
        self.db = db
        self._owned = owned

    @classmethod
    def open_file(cls, path: Path) -> SecretStore:
        """A vault file (created 0600 with the secret tables if missing)."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StateError(f"cannot create the vault directory {path.parent}: {e}") from e
        db = Database(path)
        try:
            db.migrate(VAULT_MIGRATIONS)
        except BaseException:
            db.close()
            raise
        return cls(db, owned=True)

    def close(self) -> None:
        if self._owned:
            self.db.close()

    def store_signing(self, handle: bytes, secret_type: str, secret: bytes) -> None:
        with self.db.transaction():
            self.db.execute(
                "INSERT OR REPLACE INTO signing_secret (handle, secret_type, secret) VALUES (?, ?, ?)",
                (handle, secret_type, secret),
            )

    def load_signing(self, handle: bytes) -> tuple[str, bytes] | None:
        row = self.db.query_one("SELECT secret_type, secret FROM signing_secret WHERE handle = ?", (handle,))
        return None if row is None else (str(row[0]), bytes(row[1]))

    def delete_signing(self, handle: bytes) -> bool:
        with self.db.transaction():
            return self.db.execute("DELETE FROM signing_secret WHERE handle = ?", (handle,)).rowcount > 0

    def store_x25519(self, handle: bytes, secret: bytes) -> None:
        with self.db.transaction():
            self.db.execute(
                "INSERT OR REPLACE INTO x25519_secret (handle, secret) VALUES (?, ?)", (handle, secret)
            )

    def load_x25519(self, handle: bytes) -> bytes | None:
        row = self.db.query_one("SELECT secret FROM x25519_secret WHERE handle = ?", (handle,))
        return None if row is None else bytes(row[0])

    def delete_x25519(self, handle: bytes) -> bool:
        with self.db.transaction():
            return self.db.execute("DELETE FROM x25519_secret WHERE handle = ?", (handle,)).rowcount > 0

    def store_aead(self, handle: bytes, secret: bytes) -> None:
        with self.db.transaction():
            self.db.execute(
                "INSERT OR REPLACE INTO aead_secret (handle, type, secret) VALUES (?, 'AES256_GCM', ?)",
                (handle, secret),
            )

    def load_aead(self, handle: bytes) -> bytes | None:
        row = self.db.query_one("SELECT secret FROM aead_secret WHERE handle = ?", (handle,))
        return None if row is None else bytes(row[0])

    def delete_aead(self, handle: bytes) -> bool:
        with self.db.transaction():
            return self.db.execute("DELETE FROM aead_secret WHERE handle = ?", (handle,)).rowcount > 0

    def __repr__(self) -> str:
        return f"SecretStore({self.db.path})"


def _vault_row(row: object) -> VaultRow:
    r = row  # sqlite3.Row
    return VaultRow(
        name=str(r["name"]),  # type: ignore[index]
        path=None if r["path"] is None else str(r["path"]),  # type: ignore[index]
        is_default=bool(r["is_default"]),  # type: ignore[index]
        is_kms=bool(r["is_kms"]),  # type: ignore[index]
    )


class Vaults:
    """The ``vault`` table."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.db = state.db

    def get(self, name: str) -> VaultRow | None:
        row = self.db.query_one("SELECT name, path, is_default, is_kms FROM vault WHERE name = ?", (name,))
        return None if row is None else _vault_row(row)

    def require(self, name: str) -> VaultRow:
        vault = self.get(name)
        if vault is None:
            raise NotFound(f"There is no vault with name {name}")
        return vault

    def list_all(self) -> list[VaultRow]:
        rows = self.db.query("SELECT name, path, is_default, is_kms FROM vault ORDER BY rowid")
        return [_vault_row(r) for r in rows]

    def default(self) -> VaultRow | None:
        row = self.db.query_one(
            "SELECT name, path, is_default, is_kms FROM vault WHERE is_default = 1 ORDER BY rowid"
        )
        return None if row is None else _vault_row(row)

    def default_path(self, name: str) -> Path:
        return self.state.home / f"vault-{name}"

    def create(self, name: str, path: str | None = None, is_kms: bool = False) -> VaultRow:
        """Insert a vault: the first one lives in the main database (unless a path is given)
        and becomes the default; later ones get their own file."""
        with self.db.transaction():
            if self.get(name) is not None:
                raise AlreadyExists(f"A vault named {name} already exists")
            in_database = self.db.query_one("SELECT 1 FROM vault WHERE path IS NULL") is not None
            has_default = self.db.query_one("SELECT 1 FROM vault WHERE is_default = 1") is not None
            if path is None and in_database:
                path = str(self.default_path(name))
            if path is not None:
                path = str(Path(path).expanduser().absolute())
            self.db.execute(
                "INSERT INTO vault (name, path, is_default, is_kms) VALUES (?, ?, ?, ?)",
                (name, path, int(not has_default), int(is_kms)),
            )
        if path is not None:
            SecretStore.open_file(Path(path)).close()
        return self.require(name)

    def secrets(self, vault: VaultRow) -> SecretStore:
        if vault.path is None:
            return SecretStore(self.db)
        return SecretStore.open_file(Path(vault.path))

    def in_use_by(self, name: str) -> list[str]:
        rows = self.db.query("SELECT name FROM named_identity WHERE vault_name = ? ORDER BY rowid", (name,))
        return [str(r[0]) for r in rows]

    def delete(self, name: str) -> None:
        vault = self.require(name)
        users = self.in_use_by(name)
        if users:
            raise InvalidArgument(
                f"The vault {name} cannot be deleted: it is used by the identities {', '.join(users)}"
            )
        with self.db.transaction():
            self.db.execute("DELETE FROM vault WHERE name = ?", (name,))
            if vault.is_default:
                first = self.db.query_one("SELECT name FROM vault ORDER BY rowid LIMIT 1")
                if first is not None:
                    self.db.execute("UPDATE vault SET is_default = 1 WHERE name = ?", (first[0],))
        if vault.path is not None:
            for suffix in ("", "-wal", "-shm", "-journal"):
                try:
                    Path(vault.path + suffix).unlink()
                except OSError:
                    pass

    def move(self, name: str, path: str) -> VaultRow:
        vault = self.require(name)
        if vault.path is None:
            raise InvalidArgument(f"The vault {name} is stored in the main database and cannot be moved")
        target = Path(path).expanduser().absolute()
        if target.exists():
            raise AlreadyExists(f"The file {target} already exists")
        store = SecretStore.open_file(Path(vault.path))
        try:
            store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            store.close()
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            Path(vault.path).rename(target)
            for suffix in ("-wal", "-shm"):
                Path(vault.path + suffix).unlink(missing_ok=True)
        except OSError as e:
            raise StateError(f"cannot move the vault {name} to {target}: {e}") from e
        with self.db.transaction():
            self.db.execute("UPDATE vault SET path = ? WHERE name = ?", (str(target), name))
        return self.require(name)


_NAMED_COLUMNS = (
    "n.name AS name, n.identifier AS identifier, n.vault_name AS vault_name,"
    " n.is_default AS is_default, COALESCE(i.change_history, '') AS change_history"
)
_NAMED_FROM = "named_identity n LEFT JOIN identity i ON i.identifier = n.identifier"


def _named_row(row: object) -> NamedIdentityRow:
    r = row
    return NamedIdentityRow(
        name=str(r["name"]),  # type: ignore[index]
        identifier=str(r["identifier"]),  # type: ignore[index]
        vault_name=str(r["vault_name"]),  # type: ignore[index]
        is_default=bool(r["is_default"]),  # type: ignore[index]
        change_history=str(r["change_history"]),  # type: ignore[index]
    )


class Identities:
    """The ``identity``, ``named_identity`` and ``purpose_key`` tables."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.db = state.db

    # -- change histories (own and learnt)
    def store_change_history(self, identifier: str, change_history_hex: str) -> None:
        with self.db.transaction():
            self.db.execute(
                "INSERT INTO identity (identifier, change_history) VALUES (?, ?)"
                " ON CONFLICT (identifier) DO UPDATE SET change_history = excluded.change_history",
                (identifier, change_history_hex),
            )

    def change_history(self, identifier: str) -> str | None:
        row = self.db.query_one("SELECT change_history FROM identity WHERE identifier = ?", (identifier,))
        return None if row is None else str(row[0])

    # -- named identities
    def get(self, name: str) -> NamedIdentityRow | None:
        row = self.db.query_one(f"SELECT {_NAMED_COLUMNS} FROM {_NAMED_FROM} WHERE n.name = ?", (name,))
        return None if row is None else _named_row(row)

    def require(self, name: str) -> NamedIdentityRow:
        named = self.get(name)
        if named is None:
            raise NotFound(f"There is no identity with name {name}")
        return named

    def list_all(self) -> list[NamedIdentityRow]:
        rows = self.db.query(f"SELECT {_NAMED_COLUMNS} FROM {_NAMED_FROM} ORDER BY n.rowid")
        return [_named_row(r) for r in rows]

    def default(self) -> NamedIdentityRow | None:
        row = self.db.query_one(
            f"SELECT {_NAMED_COLUMNS} FROM {_NAMED_FROM} WHERE n.is_default = 1 ORDER BY n.rowid"
        )
        return None if row is None else _named_row(row)

    def by_identifier(self, identifier: str) -> NamedIdentityRow | None:
        row = self.db.query_one(
            f"SELECT {_NAMED_COLUMNS} FROM {_NAMED_FROM} WHERE n.identifier = ? ORDER BY n.rowid",
            (identifier,),
        )
        return None if row is None else _named_row(row)

    def create(
        self, name: str, identifier: str, change_history_hex: str, vault_name: str
    ) -> NamedIdentityRow:
        """Store a named identity; the first one becomes the default."""
        with self.db.transaction():
            if self.get(name) is not None:
                raise AlreadyExists(f"An identity named {name} already exists")
            self.store_change_history(identifier, change_history_hex)
            has_default = self.db.query_one("SELECT 1 FROM named_identity WHERE is_default = 1") is not None
            self.db.execute(
                "INSERT INTO named_identity (identifier, name, vault_name, is_default) VALUES (?, ?, ?, ?)",
                (identifier, name, vault_name, int(not has_default)),
            )
        return self.require(name)

    def set_default(self, name: str) -> None:
        with self.db.transaction():
            self.require(name)
            self.db.execute("UPDATE named_identity SET is_default = (name = ?)", (name,))

    def nodes_using(self, name: str) -> list[str]:
        """Nodes created with this identity (by name, or running with its identifier)."""
        named = self.require(name)
        users: list[str] = []
        for node in self.state.list_nodes():
            if node.settings.get("identity") == name or (
                node.identifier and node.identifier == named.identifier
            ):
                users.append(node.name)
        return users

    def delete(self, name: str) -> NamedIdentityRow:
        named = self.require(name)
        users = self.nodes_using(name)
        if users:
            raise InvalidArgument(
                f"The identity named {name} cannot be deleted because it is used by the node(s): "
                + ", ".join(users)
            )
        with self.db.transaction():
            self.db.execute("DELETE FROM named_identity WHERE name = ?", (name,))
            others = self.db.query_one(
                "SELECT 1 FROM named_identity WHERE identifier = ?", (named.identifier,)
            )
            if others is None:
                self.db.execute("DELETE FROM purpose_key WHERE identifier = ?", (named.identifier,))
            if named.is_default:
                first = self.db.query_one("SELECT name FROM named_identity ORDER BY rowid LIMIT 1")
                if first is not None:
                    self.db.execute("UPDATE named_identity SET is_default = 1 WHERE name = ?", (first[0],))
        return named

    # -- purpose keys
    def purpose_key(self, identifier: str, purpose: str) -> bytes | None:
        row = self.db.query_one(
            "SELECT purpose_key_attestation FROM purpose_key WHERE identifier = ? AND purpose = ?",
            (identifier, purpose),
        )
        return None if row is None else bytes(row[0])

    def store_purpose_key(self, identifier: str, purpose: str, attestation: bytes) -> None:
        with self.db.transaction():
            self.db.execute(
                "INSERT INTO purpose_key (identifier, purpose, purpose_key_attestation) VALUES (?, ?, ?)"
                " ON CONFLICT (identifier, purpose) DO UPDATE"
                " SET purpose_key_attestation = excluded.purpose_key_attestation",
                (identifier, purpose, attestation),
            )
