"""Shared fixtures: the shipped plan and config, copied so a test may edit them."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    # Imported by the fixture itself: without psycopg only the PostgreSQL tests stop.
    from postgres_server import Database, PostgresServer

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT.parent / "shared" / "seed" / "000_4a22664a4fb74c03.txt"
SHIPPED_SEED = ROOT / "tests" / "data" / "seed.txt"


@pytest.fixture
def seed_text() -> str:
    """The seed plan as pasted from the word processor (a copy ships with the tests)."""
    return SHIPPED_SEED.read_text(encoding="utf-8")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of plan/, templates/ and config.toml in a temp folder, state kept inside it."""
    for name in ("plan", "templates"):
        shutil.copytree(ROOT / name, tmp_path / name)
    shutil.copy(ROOT / "config.toml", tmp_path / "config.toml")
    return tmp_path


# --- a real PostgreSQL server (tests/postgres_server.py) -----------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throw-away PostgreSQL cluster for the whole run, removed at the end.

    ``url`` (no password), ``password``, ``url_with_password``; ``stop()``, ``kill()`` and
    ``start()`` keep port and data. A test that stops or kills it must start it again (the
    ``postgres_database`` fixture does so after each test). Missing PostgreSQL fails the run
    in CI (``CI=true``) and skips the test elsewhere.
    """
    try:
        import postgres_server as server_module
    except ImportError as error:
        reason: str | None = f"psycopg is not installed ({error})"
    else:
        reason = server_module.missing()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    with server_module.PostgresServer() as server:
        yield server


@pytest.fixture
def postgres_database(postgres_server: PostgresServer) -> Iterator[Database]:
    """A fresh, empty database of its own for this test, dropped after it.

    A ``Database``: ``url`` (postgresql://notifier@127.0.0.1:port/name, no password),
    ``password`` (so a test can write it to a password file), ``url_with_password``,
    ``conninfo``, ``name`` and ``connect()``. The role owns the database and its public schema.
    """
    database = postgres_server.new_database()
    yield database
    # The test may have left the server stopped or killed; the next test needs it.
    postgres_server.start()
    postgres_server.drop_database(database.name)


@pytest.fixture
def postgres_url(postgres_database: Database) -> str:
    """This test's own fresh, empty database as postgresql://notifier:PASSWORD@127.0.0.1:port/
    name, the password embedded (``postgres_database`` has the url without it)."""
    return postgres_database.url_with_password
