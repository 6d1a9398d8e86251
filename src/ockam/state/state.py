"""The local state of the ``ockam`` command: the ``OCKAM_HOME`` directory and its databases.

``State.open()`` creates ``OCKAM_HOME`` (mode 0700) if needed, opens
``database.sqlite3`` (mode 0600, WAL) and applies pending migrations, and makes sure an
``application_database.sqlite3`` exists.  Node rows are read and written here; the
process side of a node (signals, liveness) is in :mod:`ockam.state.process`.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import NotFound, StateError
from . import process
from .database import Database
from .migrations import APPLICATION_MIGRATIONS, MIGRATIONS

__all__ = ["NodeInfo", "State", "default_home", "hard_reset"]

DATABASE_FILE = "database.sqlite3"
APPLICATION_DATABASE_FILE = "application_database.sqlite3"

_NODE_COLUMNS = (
    "name, identifier, verbosity, is_default, is_authority, tcp_listener_address, pid, "
    "http_server_address, settings"
)


def default_home() -> Path:
    """``$OCKAM_HOME`` if set (the directory itself), else ``~/.ockam``."""
    env = os.environ.get("OCKAM_HOME")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".ockam"


def _split_host_port(address: str) -> tuple[str, int] | None:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host, int(port)


@dataclass(frozen=True)
class NodeInfo:
    """One row of the ``node`` table."""

    name: str
    identifier: str = ""
    verbosity: int = 0
    is_default: bool = False
    is_authority: bool = False
    tcp_listener_address: str | None = None
    pid: int | None = None
    http_server_address: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def hosts_project(self) -> str | None:
        """The local project this node hosts (as its authority or project node), if any."""
        value = self.settings.get("hosts_project")
        return value if isinstance(value, str) and value else None

    # -- process
    def status(self) -> str:
        """``running``, ``zombie`` or ``stopped`` (from the stored pid)."""
        return process.pid_status(self.pid)

    @property
    def is_running(self) -> bool:
        return self.status() == "running"

    # -- addresses
    @property
    def tcp_listener_port(self) -> int | None:
        if not self.tcp_listener_address:
            return None
        hp = _split_host_port(self.tcp_listener_address)
        return hp[1] if hp else None

    def route(self) -> str:
        """The short route of the node, ``/node/<name>``."""
        return f"/node/{self.name}"

    def verbose_route(self) -> str | None:
        """``/dnsaddr/localhost/tcp/<port>`` (what the CLI shows)."""
        port = self.tcp_listener_port
        return None if port is None else f"/dnsaddr/localhost/tcp/{port}"

    def tcp_listener_multiaddr(self) -> str:
        """The listener as a multiaddr: ``/ip4/A/tcp/P``, ``/ip6/A/tcp/P`` or ``/dnsaddr/H/tcp/P``."""
        address = self.tcp_listener_address
        hp = _split_host_port(address) if address else None
        if hp is None:
            raise StateError(f"No transport API has been set on the node {self.name}")
        host, port = hp
        if host.startswith("[") and host.endswith("]"):
            return f"/ip6/{host[1:-1]}/tcp/{port}"
        import ipaddress

        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return f"/dnsaddr/{host}/tcp/{port}"
        return f"/ip{ip.version}/{ip}/tcp/{port}"

    @classmethod
    def from_row(cls, row: Any) -> NodeInfo:
        try:
            settings = json.loads(row["settings"] or "{}")
        except ValueError:
            settings = {}
        return cls(
            name=row["name"],
            identifier=row["identifier"] or "",
            verbosity=int(row["verbosity"] or 0),
            is_default=bool(row["is_default"]),
            is_authority=bool(row["is_authority"]),
            tcp_listener_address=row["tcp_listener_address"],
            pid=None if row["pid"] is None else int(row["pid"]),
            http_server_address=row["http_server_address"],
            settings=settings if isinstance(settings, dict) else {},
        )


class State:
    """An opened ``OCKAM_HOME``."""

    def __init__(self, home: Path, db: Database) -> None:
        self.home = home
        self.db = db

    # -- opening
    @classmethod
    def open(cls, home: str | os.PathLike[str] | None = None) -> State:
        path = Path(home) if home is not None else default_home()
        try:
            if not path.exists():
                path.mkdir(mode=0o700, parents=True, exist_ok=True)
            ensure_application_database(path)
            db = Database(path / DATABASE_FILE)
        except OSError as e:
            raise StateError(f"cannot use the state directory {path}: {e}") from e
        try:
            db.migrate(MIGRATIONS)
        except BaseException:
            db.close()
            raise
        return cls(path, db)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> State:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def project_database(self, project_id: str) -> Database:
        """The database of the authority of project ``project_id`` hosted here (its members
        and enrollment tokens, apart from the other projects' and from ``authority
        create``'s, which use the main database as Rust's)."""
        if not project_id or "/" in project_id or project_id.startswith("."):
            raise StateError(f"invalid project id {project_id!r}")
        path = self.home / "projects" / project_id
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as e:
            raise StateError(f"cannot use the directory {path}: {e}") from e
        db = Database(path / "authority.sqlite3")
        try:
            db.migrate(MIGRATIONS)
        except BaseException:
            db.close()
            raise
        return db

    # -- paths
    @property
    def database_path(self) -> Path:
        return self.home / DATABASE_FILE

    @property
    def application_database_path(self) -> Path:
        return self.home / APPLICATION_DATABASE_FILE

    @property
    def nodes_dir(self) -> Path:
        return self.home / "nodes"

    @property
    def commands_dir(self) -> Path:
        return self.home / "commands"

    def node_dir(self, name: str) -> Path:
        return self.nodes_dir / name

    # -- nodes: reading
    def get_node(self, name: str) -> NodeInfo | None:
        row = self.db.query_one(f"SELECT {_NODE_COLUMNS} FROM node WHERE name = ?", (name,))
        return None if row is None else NodeInfo.from_row(row)

    def require_node(self, name: str) -> NodeInfo:
        node = self.get_node(name)
        if node is None:
            raise NotFound(f"There is no node with name {name}")
        return node

    def list_nodes(self) -> list[NodeInfo]:
        """All nodes, oldest first."""
        rows = self.db.query(f"SELECT {_NODE_COLUMNS} FROM node ORDER BY rowid")
        return [NodeInfo.from_row(r) for r in rows]

    def default_node(self) -> NodeInfo | None:
        row = self.db.query_one(f"SELECT {_NODE_COLUMNS} FROM node WHERE is_default = 1 ORDER BY rowid")
        return None if row is None else NodeInfo.from_row(row)

    def require_default_node(self) -> NodeInfo:
        node = self.default_node()
        if node is None:
            raise NotFound("There is no default node")
        return node

    def node_or_default(self, name: str | None) -> NodeInfo:
        return self.require_node(name) if name is not None else self.require_default_node()

    # -- nodes: writing
    def create_node(
        self,
        name: str,
        *,
        identifier: str = "",
        verbosity: int = 0,
        tcp_listener_address: str | None = None,
        pid: int | None = None,
        http_server_address: str | None = None,
        is_authority: bool = False,
        settings: dict[str, Any] | None = None,
    ) -> NodeInfo:
        """Insert or update a node.  The node is the default one if it already was, or if
        there is no default node yet, unless it is an authority node or hosts a local
        project (its settings name it in ``hosts_project``): those nodes are never made the
        default (commands would wait for a control API they do not serve).  Unset (None)
        addresses and settings keep their stored values when the node already exists."""
        with self.db.transaction():
            existing = self.get_node(name)
            has_default = self.db.query_one("SELECT 1 FROM node WHERE is_default = 1 AND name <> ?", (name,))
            is_default = (existing is not None and existing.is_default) or has_default is None
            if existing is not None:
                if tcp_listener_address is None:
                    tcp_listener_address = existing.tcp_listener_address
                if http_server_address is None:
                    http_server_address = existing.http_server_address
                if settings is None:
                    settings = existing.settings
                elif "resources" in existing.settings and "resources" not in settings:
                    # what the node created through its API (its journal) outlives a restart
                    settings = {**settings, "resources": existing.settings["resources"]}
            if is_authority or (settings and settings.get("hosts_project")):
                is_default = False
            self.db.execute(
                "INSERT INTO node (name, identifier, verbosity, is_default, is_authority,"
                " tcp_listener_address, pid, http_server_address, settings)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET identifier = excluded.identifier,"
                " verbosity = excluded.verbosity, is_default = excluded.is_default,"
                " is_authority = excluded.is_authority,"
                " tcp_listener_address = excluded.tcp_listener_address, pid = excluded.pid,"
                " http_server_address = excluded.http_server_address, settings = excluded.settings",
                (
                    name,
                    identifier,
                    verbosity,
                    int(is_default),
                    int(is_authority),
                    tcp_listener_address,
                    pid,
                    http_server_address,
                    json.dumps(settings or {}, sort_keys=True),
                ),
            )
            if is_default:
                self.db.execute("UPDATE node SET is_default = 0 WHERE name <> ?", (name,))
        return self.require_node(name)

    def set_default_node(self, name: str) -> None:
        with self.db.transaction():
            self.require_node(name)
            self.db.execute("UPDATE node SET is_default = 1 WHERE name = ?", (name,))
            self.db.execute("UPDATE node SET is_default = 0 WHERE name <> ?", (name,))

    def set_pid(self, name: str, pid: int) -> None:
        self._update(name, "pid", pid)

    def clear_pid(self, name: str, only_if: int | None = None) -> None:
        """Mark the node stopped; with ``only_if``, only if that pid is still the stored one."""
        with self.db.transaction():
            if only_if is None:
                self.db.execute("UPDATE node SET pid = NULL WHERE name = ?", (name,))
            else:
                self.db.execute("UPDATE node SET pid = NULL WHERE name = ? AND pid = ?", (name, only_if))

    def set_tcp_listener_address(self, name: str, address: str) -> None:
        self._update(name, "tcp_listener_address", address)

    def set_http_server_address(self, name: str, address: str | None) -> None:
        self._update(name, "http_server_address", address)

    def set_settings(self, name: str, settings: dict[str, Any]) -> None:
        self._update(name, "settings", json.dumps(settings, sort_keys=True))

    def set_authority(self, name: str, is_authority: bool = True) -> None:
        self._update(name, "is_authority", int(is_authority))

    def _update(self, name: str, column: str, value: Any) -> None:
        with self.db.transaction():
            cur = self.db.execute(f"UPDATE node SET {column} = ? WHERE name = ?", (value, name))
            if cur.rowcount == 0:
                raise NotFound(f"There is no node with name {name}")

    def is_running(self, name: str) -> bool:
        node = self.get_node(name)
        return node is not None and node.is_running

    def stop_node(self, name: str) -> None:
        """Stop the node's process (SIGTERM, then SIGKILL) and mark it stopped."""
        node = self.require_node(name)
        if node.pid is not None and node.pid != os.getpid() and not process.terminate(node.pid):
            raise StateError(f"failed to stop PID `{node.pid}`")
        self.clear_pid(name)

    def remove_node(self, name: str) -> None:
        """Delete the node's rows and its ``nodes/<name>`` directory; if it existed, the
        oldest remaining node that hosts no local project becomes the default one."""
        with self.db.transaction():
            if self.get_node(name) is not None:
                self.db.execute("DELETE FROM node WHERE name = ?", (name,))
                self.db.execute("DELETE FROM node_project WHERE node_name = ?", (name,))
                for table in _NODE_SCOPED_TABLES:
                    if self.db.table_exists(table):
                        self.db.execute(f"DELETE FROM {table} WHERE node_name = ?", (name,))
                first = next((n for n in self.list_nodes() if not n.hosts_project), None)
                if first is not None:
                    self.db.execute("UPDATE node SET is_default = (name = ?)", (first.name,))
        shutil.rmtree(self.node_dir(name), ignore_errors=True)

    def delete_node(self, name: str) -> None:
        """Stop the node, then remove it."""
        self.stop_node(name)
        self.remove_node(name)

    # -- reset
    def reset(self) -> None:
        """Stop and delete every node, delete vault files, then remove ``nodes/``,
        ``commands/`` and ``database.sqlite3``.  The state is closed afterwards."""
        errors: list[str] = []
        for node in self.list_nodes():
            try:
                self.delete_node(node.name)
            except OSError as e:
                errors.append(str(e))
            except StateError as e:
                errors.append(str(e))
        vault_files: list[Path] = []
        if self.db.table_exists("vault"):
            for row in self.db.query("SELECT path FROM vault WHERE path IS NOT NULL"):
                vault_files.append(Path(row[0]))
        self.close()
        for path in vault_files:
            try:
                path.unlink()
            except OSError:
                pass
        hard_reset(self.home)
        if errors:
            raise StateError("; ".join(errors))

    # -- node projects
    def set_node_project(self, name: str, project: str | None) -> None:
        with self.db.transaction():
            if project is None:
                self.db.execute("DELETE FROM node_project WHERE node_name = ?", (name,))
            else:
                self.db.execute(
                    "INSERT INTO node_project (node_name, project_name) VALUES (?, ?)"
                    " ON CONFLICT (node_name) DO UPDATE SET project_name = excluded.project_name",
                    (name, project),
                )

    def get_node_project(self, name: str) -> str | None:
        row = self.db.query_one("SELECT project_name FROM node_project WHERE node_name = ?", (name,))
        return None if row is None else str(row[0])


# Tables added by later migrations that hold per-node rows (deleted with the node).
_NODE_SCOPED_TABLES = (
    "credential",
    "resource",
    "resource_policy",
    "resource_type_policy",
    "identity_attributes",
    "tcp_inlet",
    "tcp_outlet_status",
)


def hard_reset(home: Path) -> None:
    """Remove ``nodes/``, ``commands/`` and the main database files without reading them."""
    shutil.rmtree(home / "nodes", ignore_errors=True)
    shutil.rmtree(home / "commands", ignore_errors=True)
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            (home / (DATABASE_FILE + suffix)).unlink()
        except FileNotFoundError:
            pass


def ensure_application_database(home: Path) -> None:
    """Create ``application_database.sqlite3`` (rollback journal: no -wal files left)."""
    path = home / APPLICATION_DATABASE_FILE
    if path.exists():
        return
    db = Database(path, wal=False)
    try:
        db.migrate(APPLICATION_MIGRATIONS)
    finally:
        db.close()
