"""Ledgers of every backend for the contract tests: the same behaviour is asserted of the
SQLite file, the in-memory SQLite ledger and a real PostgreSQL database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pydantic import SecretStr

from notifier.ledger import Ledger, SqliteLedger
from notifier.settings import LedgerSettings

BACKENDS = ("sqlite-memory", "sqlite-file", "postgresql")
SHARED = ("sqlite-file", "postgresql")  # several processes can open the same ledger


def database_settings(database: object, **changes: object) -> LedgerSettings:
    """Settings for the test database of ``postgres_database`` (url, password apart)."""
    return LedgerSettings(
        url=database.url,  # type: ignore[attr-defined]
        password=SecretStr(database.password),  # type: ignore[attr-defined]
        **changes,  # type: ignore[arg-type]
    )


@contextmanager
def opener(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[], Ledger]]:
    """A function that opens the same ledger again (another process would); every ledger
    opened through it is closed at the end."""
    opened: list[Ledger] = []
    if backend == "postgresql":
        from notifier.ledger_pg import PostgresLedger, migrate

        settings = database_settings(request.getfixturevalue("postgres_database"))
        migrate(settings)

        def open_one() -> Ledger:
            opened.append(PostgresLedger(settings))
            return opened[-1]

    else:
        path = ":memory:" if backend == "sqlite-memory" else tmp_path / "state" / "ledger.sqlite3"

        def open_one() -> Ledger:
            opened.append(SqliteLedger(path))
            return opened[-1]

    try:
        yield open_one
    finally:
        for ledger in opened:
            ledger.close()
