"""The SQLite state: migrations, default-node rules, pid liveness, reset."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ockam.errors import NotFound, StateError
from ockam.state import State, hard_reset
from ockam.state.database import Database, split_sql
from ockam.state.migrations import MIGRATIONS
from ockam.state.process import is_alive, pid_status, process_state, terminate


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def test_open_creates_private_home_and_databases(home: Path) -> None:
    with State.open(home) as state:
        assert state.home == home
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    for name in ("database.sqlite3", "application_database.sqlite3"):
        path = home / name
        assert path.exists()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_default_home_from_env(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    monkeypatch.setenv("OCKAM_HOME", str(home))
    with State.open() as state:
        assert state.home == home


def test_migrations_are_idempotent(home: Path) -> None:
    with State.open(home) as state:
        version = state.db.schema_version()
        assert version == max(v for v, _, _ in MIGRATIONS)
        assert state.db.migrate(MIGRATIONS) == []
    with State.open(home) as state:
        assert state.db.schema_version() == version
        rows = state.db.query("SELECT version FROM schema_migrations")
        assert sorted(r[0] for r in rows) == sorted(v for v, _, _ in MIGRATIONS)


def test_a_new_migration_is_applied_once(home: Path) -> None:
    extra = [*MIGRATIONS, (999, "test table", "CREATE TABLE t (x TEXT); INSERT INTO t VALUES ('a;b');")]
    with State.open(home) as state:
        assert state.db.migrate(extra) == [999]
        assert state.db.migrate(extra) == []
        assert [r[0] for r in state.db.query("SELECT x FROM t")] == ["a;b"]


def test_failed_migration_is_rolled_back(home: Path) -> None:
    bad = [*MIGRATIONS, (998, "broken", "CREATE TABLE u (x TEXT); SELECT * FROM missing_table;")]
    with State.open(home) as state:
        with pytest.raises(StateError):
            state.db.migrate(bad)
        assert not state.db.table_exists("u")
        assert state.db.schema_version() == max(v for v, _, _ in MIGRATIONS)


def test_concurrent_opens_migrate_once(home: Path) -> None:
    errors: list[BaseException] = []

    def open_close() -> None:
        try:
            State.open(home).close()
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=open_close) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, [repr(e) for e in errors]
    with State.open(home) as state:
        assert len(state.db.query("SELECT version FROM schema_migrations")) == len(MIGRATIONS)


def test_split_sql_respects_strings() -> None:
    assert split_sql("CREATE TABLE a (x TEXT);\nINSERT INTO a VALUES ('1;2');\n") == [
        "CREATE TABLE a (x TEXT);",
        "INSERT INTO a VALUES ('1;2');",
    ]


def test_wal_mode(home: Path) -> None:
    with State.open(home) as state:
        assert state.db.query_one("PRAGMA journal_mode")[0] == "wal"  # type: ignore[index]
    db = Database(home / "application_database.sqlite3", wal=False)
    try:
        assert db.query_one("PRAGMA journal_mode")[0] != "wal"  # type: ignore[index]
    finally:
        db.close()


def test_first_node_is_default_and_deleting_reassigns(home: Path) -> None:
    with State.open(home) as state:
        state.create_node("n1", tcp_listener_address="127.0.0.1:4000")
        state.create_node("n2")
        state.create_node("n3")
        assert state.require_default_node().name == "n1"
        assert [n.name for n in state.list_nodes()] == ["n1", "n2", "n3"]
        # deleting a node that is not the default one still makes the oldest the default
        state.set_default_node("n3")
        state.remove_node("n2")
        assert state.require_default_node().name == "n1"
        state.remove_node("n1")
        assert state.require_default_node().name == "n3"
        state.remove_node("n3")
        assert state.default_node() is None
        with pytest.raises(NotFound):
            state.require_default_node()


def test_recreating_a_node_keeps_default_and_listener(home: Path) -> None:
    with State.open(home) as state:
        state.create_node("n1", tcp_listener_address="127.0.0.1:4000", settings={"identity": "i"})
        state.create_node("n2")
        again = state.create_node("n1")
        assert again.is_default
        assert again.tcp_listener_address == "127.0.0.1:4000"
        assert again.settings == {"identity": "i"}
        assert not state.require_node("n2").is_default
        assert [n.name for n in state.list_nodes()] == ["n1", "n2"]


def test_set_default_node(home: Path) -> None:
    with State.open(home) as state:
        state.create_node("n1")
        state.create_node("n2")
        state.set_default_node("n2")
        assert [n.name for n in state.list_nodes() if n.is_default] == ["n2"]
        with pytest.raises(NotFound):
            state.set_default_node("nope")


def test_unknown_node(home: Path) -> None:
    with State.open(home) as state:
        assert state.get_node("n") is None
        with pytest.raises(NotFound, match="n"):
            state.require_node("n")
        with pytest.raises(NotFound):
            state.set_pid("n", 1)


def test_routes_and_multiaddrs(home: Path) -> None:
    with State.open(home) as state:
        n = state.create_node("n1", tcp_listener_address="127.0.0.1:4000")
        assert n.route() == "/node/n1"
        assert n.verbose_route() == "/dnsaddr/localhost/tcp/4000"
        assert n.tcp_listener_multiaddr() == "/ip4/127.0.0.1/tcp/4000"
        n6 = state.create_node("n6", tcp_listener_address="[::1]:4001")
        assert n6.tcp_listener_multiaddr() == "/ip6/::1/tcp/4001"
        nd = state.create_node("nd", tcp_listener_address="localhost:4002")
        assert nd.tcp_listener_multiaddr() == "/dnsaddr/localhost/tcp/4002"


def test_pid_liveness(home: Path) -> None:
    assert pid_status(None) == "stopped"
    assert pid_status(os.getpid()) == "running"
    assert is_alive(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child_pid = child.pid
    # not reaped yet: a zombie
    import time

    deadline = time.monotonic() + 10
    while process_state(child_pid) not in ("Z", None) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert pid_status(child_pid) == "zombie"
    assert not is_alive(child_pid)
    child.wait()
    assert pid_status(child_pid) == "stopped"
    with State.open(home) as state:
        state.create_node("n1", pid=child_pid)
        assert state.require_node("n1").status() == "stopped"
        assert not state.is_running("n1")
        state.set_pid("n1", os.getpid())
        assert state.is_running("n1")
        state.clear_pid("n1", only_if=os.getpid() + 1)
        assert state.require_node("n1").pid == os.getpid()
        state.clear_pid("n1", only_if=os.getpid())
        assert state.require_node("n1").pid is None


def test_stop_node_terminates_the_process(home: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with State.open(home) as state:
            state.create_node("n1", pid=child.pid)
            state.stop_node("n1")
            assert state.require_node("n1").pid is None
        assert child.wait(timeout=10) is not None
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_terminate_never_signals_itself() -> None:
    assert terminate(os.getpid())
    assert terminate(2**22 + 12345)  # no such process: counts as stopped


def test_remove_node_deletes_its_directory(home: Path) -> None:
    with State.open(home) as state:
        state.create_node("n1")
        state.node_dir("n1").mkdir(parents=True)
        (state.node_dir("n1") / "stdout.log").write_text("x")
        state.remove_node("n1")
        assert not state.node_dir("n1").exists()
        assert state.get_node("n1") is None


def test_reset_keeps_application_database_and_other_files(home: Path) -> None:
    with State.open(home) as state:
        state.create_node("n1")
        state.node_dir("n1").mkdir(parents=True)
        (home / "bin").mkdir()
        (home / "env").write_text("")
        (home / "commands").mkdir()
        state.reset()
    assert sorted(p.name for p in home.iterdir()) == ["application_database.sqlite3", "bin", "env"]
    # a second reset works too
    with State.open(home) as state:
        assert state.list_nodes() == []
        state.reset()
    hard_reset(home)
    assert sorted(p.name for p in home.iterdir()) == ["application_database.sqlite3", "bin", "env"]
