"""The throw-away PostgreSQL server the ledger tests use (tests/postgres_server.py).

Proves what those tests rely on: the password is really checked over TCP, every test gets an
empty database of its own, and a stopped or killed server comes back on the same port with the
same data, while it is down connecting fails as a real outage does; and a cluster left behind
by a run that was killed is removed by the next, with its server stopped.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from postgres_server import PREFIX, RUN_FILE, Database, PostgresServer, remove_orphans

pytestmark = pytest.mark.slow

# Tables a fresh database may hold: none outside the system schemas.
USER_TABLES = """
    SELECT count(*) FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
"""


def test_the_url_has_no_password_and_the_password_opens_it(postgres_database: Database) -> None:
    parts = urlsplit(postgres_database.url)
    assert parts.scheme == "postgresql"
    assert parts.hostname == "127.0.0.1"
    assert parts.password is None
    assert postgres_database.password not in postgres_database.url

    with psycopg.connect(postgres_database.url, password=postgres_database.password) as conn:
        row = conn.execute("SELECT current_user, current_database()").fetchone()
    assert row == (parts.username, parts.path.lstrip("/"))


def test_postgres_url_embeds_the_password(postgres_url: str) -> None:
    assert urlsplit(postgres_url).password
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_a_wrong_or_missing_password_is_refused(postgres_database: Database) -> None:
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(postgres_database.url, password="not-" + postgres_database.password)
    # With no password at all libpq has nothing to answer the server's challenge with.
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(postgres_database.url, password="", connect_timeout=5)


def test_the_role_owns_its_database_and_may_create_tables(postgres_database: Database) -> None:
    with postgres_database.connect() as conn:
        conn.execute("CREATE TABLE sent (id integer PRIMARY KEY)")
        conn.execute("INSERT INTO sent VALUES (1)")
        assert conn.execute("SELECT id FROM sent").fetchall() == [(1,)]


@pytest.mark.parametrize("run", [1, 2])
def test_each_test_gets_an_empty_database_of_its_own(
    postgres_database: Database, postgres_server: PostgresServer, run: int
) -> None:
    with postgres_database.connect() as conn:
        assert conn.execute(USER_TABLES).fetchone() == (0,)
        # Left behind on purpose: the second run must not see it.
        conn.execute(f"CREATE TABLE left_by_run_{run} (id integer)")
    other = postgres_server.new_database()
    try:
        assert other.name != postgres_database.name
        with other.connect() as conn:
            assert conn.execute(USER_TABLES).fetchone() == (0,)
    finally:
        postgres_server.drop_database(other.name)


def test_stop_makes_connections_fail_and_start_brings_the_same_data_back(
    postgres_database: Database, postgres_server: PostgresServer
) -> None:
    with postgres_database.connect() as conn:
        conn.execute("CREATE TABLE kept (note text)")
        conn.execute("INSERT INTO kept VALUES ('before the outage')")
    port = postgres_server.port
    session = postgres_database.connect(autocommit=True)
    try:
        postgres_server.stop()
        assert not postgres_server.running
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(postgres_database.url_with_password, connect_timeout=2)
        # A session open across the outage is ended by the fast shutdown.
        with pytest.raises(psycopg.OperationalError):
            session.execute("SELECT 1")
    finally:
        session.close()
    postgres_server.start()
    assert postgres_server.port == port
    with postgres_database.connect() as conn:
        assert conn.execute("SELECT note FROM kept").fetchall() == [("before the outage",)]


def test_kill_is_a_crash_and_start_recovers_committed_data(
    postgres_database: Database, postgres_server: PostgresServer
) -> None:
    with postgres_database.connect() as conn:
        conn.execute("CREATE TABLE kept (note text)")
        conn.execute("INSERT INTO kept VALUES ('committed before the crash')")
    postgres_server.kill()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(postgres_database.url_with_password, connect_timeout=2)
    postgres_server.start()
    with postgres_database.connect() as conn:
        assert conn.execute("SELECT note FROM kept").fetchall() == [("committed before the crash",)]


def test_a_server_of_its_own_is_removed_with_its_folder(postgres_server: PostgresServer) -> None:
    # postgres_server only for its check that PostgreSQL is installed (fail in CI, else skip).
    with PostgresServer() as server:
        folder = server.folder
        assert folder is not None and (folder / "data" / "PG_VERSION").exists()
        url = server.create_database("own")
        with psycopg.connect(url, password=server.password) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("own",)
    assert not folder.exists()


def _cluster(parent: Path, name: str, run: int | None, server: int | None = None) -> Path:
    folder = parent / f"{PREFIX}{name}"
    (folder / "data").mkdir(parents=True)
    if run is not None:
        (folder / RUN_FILE).write_text(f"{run}\n", encoding="ascii")
    if server is not None:
        (folder / "data" / "postmaster.pid").write_text(f"{server}\n/data\n", encoding="ascii")
    return folder


def _dead_pid() -> int:
    done = subprocess.Popen(["true"])
    done.wait()
    return done.pid


def test_the_clusters_of_dead_runs_go_and_their_servers_are_stopped(tmp_path: Path) -> None:
    # A stand-in for a postmaster left running: in a session of its own, as the real one.
    server = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        dead = _cluster(tmp_path, "dead", _dead_pid())
        orphaned_server = _cluster(tmp_path, "server", _dead_pid(), server.pid)
        ours = _cluster(tmp_path, "ours", os.getpid())
        being_set_up = _cluster(tmp_path, "new", None)
        unnamed_old = _cluster(tmp_path, "old", None)
        two_days_ago = time.time() - 2 * 24 * 3600
        os.utime(unnamed_old, (two_days_ago, two_days_ago))
        unrelated = tmp_path / "something-else"
        unrelated.mkdir()

        removed = remove_orphans(tmp_path)

        assert sorted(removed) == sorted([dead, orphaned_server, unnamed_old])
        assert server.wait(timeout=10) == -9
        for kept in (ours, being_set_up, unrelated):
            assert kept.is_dir()
        for gone in removed:
            assert not gone.exists()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
