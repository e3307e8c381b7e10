"""The ledger's SQLite schema, its versions, and the migrations between them.

A file of an older version is migrated when opened for writing (each step in ``MIGRATIONS``,
within the caller's transaction, rows kept); a newer one is refused; a file that is not a
ledger is refused with what to do about it.

Versions: 1, deliveries and due dates; 2, problem notices (the ``problems`` table); 3, any
kind of message, so that a new kind needs no migration (``kind`` had a CHECK on the names); 4, what
was said about each milestone (the ``milestone_status`` table, append-only).
"""

from __future__ import annotations

import sqlite3

from notifier.errors import UserError

SCHEMA_VERSION = 5

_DELIVERIES = """
CREATE TABLE {table} (
    key             TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    kind            TEXT NOT NULL,
    state           TEXT NOT NULL
                    CHECK (state IN ('due', 'sending', 'sent', 'failed', 'skipped')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    permanent       INTEGER NOT NULL DEFAULT 0,
    message_id      TEXT,
    milestone_key   TEXT,
    due_date        TEXT,
    send_at         TEXT NOT NULL,
    note            TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    claimed_at      TEXT,
    sent_at         TEXT,
    next_attempt_at TEXT,
    PRIMARY KEY (key, recipient)
) WITHOUT ROWID
"""
_DELIVERY_INDEXES = (
    "CREATE INDEX deliveries_by_state ON deliveries (state, updated_at)",
    "CREATE INDEX deliveries_by_milestone ON deliveries (milestone_key)",
)
_DUE_DATES = """
CREATE TABLE due_dates (
    milestone_key TEXT PRIMARY KEY,
    due_date      TEXT NOT NULL,
    previous_due  TEXT,
    changed_at    TEXT,
    seen_at       TEXT NOT NULL
) WITHOUT ROWID
"""
# lines: the problem texts as a JSON array, in the order they were reported.
_PROBLEMS = """
CREATE TABLE problems (
    key        TEXT PRIMARY KEY,
    lines      TEXT NOT NULL,
    first_seen TEXT NOT NULL
) WITHOUT ROWID
"""
# Append-only: the current status of a milestone is its row with the highest seq; none: open.
# Keyed by the milestone key, so a moved due date keeps the history and a new label starts anew.
_MILESTONE_STATUS = """
CREATE TABLE milestone_status (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    milestone_key TEXT NOT NULL,
    state         TEXT NOT NULL
                  CHECK (state IN ('open', 'done', 'needs-new-date', 'reopened')),
    organisation  TEXT NOT NULL,
    address       TEXT,
    at            TEXT NOT NULL,
    how           TEXT NOT NULL CHECK (how IN ('link', 'cli')),
    comment       TEXT,
    proposed_due  TEXT,
    moved_from    TEXT,
    moved_to      TEXT,
    CHECK (proposed_due IS NULL OR state = 'needs-new-date'),
    CHECK ((moved_from IS NULL) = (moved_to IS NULL))
)
"""
_MILESTONE_STATUS_INDEX = (
    "CREATE INDEX milestone_status_by_key ON milestone_status (milestone_key, seq)"
)
_COLUMNS = (
    "key",
    "recipient",
    "kind",
    "state",
    "attempts",
    "last_error",
    "permanent",
    "message_id",
    "milestone_key",
    "due_date",
    "send_at",
    "note",
    "created_at",
    "updated_at",
    "claimed_at",
    "sent_at",
    "next_attempt_at",
)
NOT_A_LEDGER = "Point ledger.path at a notifier ledger, or at a new file to start one."


class LedgerError(UserError):
    """The ledger file cannot be used (unknown schema, not a ledger, unreadable)."""


def _create(db: sqlite3.Connection) -> None:
    db.execute(_DELIVERIES.format(table="deliveries"))
    for statement in _DELIVERY_INDEXES:
        db.execute(statement)
    db.execute(_DUE_DATES)
    db.execute(_PROBLEMS)
    _add_milestone_status(db)


def _add_milestone_status(db: sqlite3.Connection) -> None:
    db.execute(_MILESTONE_STATUS)
    db.execute(_MILESTONE_STATUS_INDEX)


def _rebuild_deliveries(db: sqlite3.Connection) -> None:
    """The deliveries table made again as the schema says, every row copied as it was.

    SQLite cannot change a CHECK constraint in place; the indexes go with the old table and
    are made again.
    """
    db.execute(_DELIVERIES.format(table="deliveries_new"))
    columns = ", ".join(_COLUMNS)
    db.execute(f"INSERT INTO deliveries_new ({columns}) SELECT {columns} FROM deliveries")
    db.execute("DROP TABLE deliveries")
    db.execute("ALTER TABLE deliveries_new RENAME TO deliveries")
    for statement in _DELIVERY_INDEXES:
        db.execute(statement)


def _to_version_2(db: sqlite3.Connection) -> None:
    """Problem notices join the ledger: 'problem' becomes a kind, and problems a table."""
    _rebuild_deliveries(db)
    db.execute(_PROBLEMS)


def _to_version_3(db: sqlite3.Connection) -> None:
    """Any kind of message: ``kind`` loses its CHECK on the names (a file coming from
    version 1 has lost it in the step before, and is only copied once more)."""
    _rebuild_deliveries(db)


def _to_version_4(db: sqlite3.Connection) -> None:
    """Milestone status joins the ledger: a new table, every other row left as it was."""
    _add_milestone_status(db)


def _to_version_5(db: sqlite3.Connection) -> None:
    """A status entry may move the due date (the coordinator accepting a new date): two
    columns, empty in every entry recorded before."""
    # A file that came through version 4 in this same migration has them already.
    columns = {row[1] for row in db.execute("PRAGMA table_info(milestone_status)")}
    for column in ("moved_from", "moved_to"):
        if column not in columns:
            db.execute(f"ALTER TABLE milestone_status ADD COLUMN {column} TEXT")


# From each older version, the step to the next one.
MIGRATIONS = {1: _to_version_2, 2: _to_version_3, 3: _to_version_4, 4: _to_version_5}


def known_version(db: sqlite3.Connection, path: str) -> int:
    """The file's schema version, if this notifier can use it; 0 for a new, empty file."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise LedgerError(
            [
                f"{path}: ledger schema version {version} is newer than this "
                f"notifier understands (version {SCHEMA_VERSION})"
            ],
            hint="Run the notifier version that wrote it, or upgrade notifier.",
        )
    if version == SCHEMA_VERSION or version in MIGRATIONS:
        return version
    tables = db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    if version != 0 or tables:
        raise LedgerError(
            [
                f"{path}: not a notifier ledger (schema version {version}, "
                f"tables: {', '.join(t[0] for t in tables) or 'none'})"
            ],
            hint=NOT_A_LEDGER,
        )
    return 0


def bring_up_to_date(db: sqlite3.Connection, path: str) -> None:
    """Create the schema in a new file or migrate an older one; call inside a transaction."""
    version = known_version(db, path)
    if version == SCHEMA_VERSION:
        return  # nothing to write: a file that can only be read still opens
    if version == 0:
        _create(db)
        version = SCHEMA_VERSION
    while version in MIGRATIONS:
        MIGRATIONS[version](db)
        version += 1
    if version != SCHEMA_VERSION:  # a gap in the migrations: a defect, not the file's
        raise LedgerError([f"{path}: no way to migrate from version {version}"])
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def advice(error: sqlite3.Error) -> str:
    """What an operator can do about an SQLite error, in words that lead to the fix."""
    text = str(error).lower()
    if "readonly" in text or "unable to open" in text or "permission" in text:
        return (
            "Make the ledger file and its folder writable by the service (SQLite adds -wal "
            "and -shm files beside it): check owner and mode, or StateDirectory= in the "
            "systemd unit. Nothing is sent until it can record what it sends."
        )
    if "full" in text:
        return (
            "Free space on the ledger's file system. Nothing is lost: what is not recorded as "
            "sent is sent once the ledger can be written again."
        )
    if "not a database" in text:
        return f"{NOT_A_LEDGER} If this file was the ledger, restore it from a backup."
    if "malformed" in text or "corrupt" in text:
        return (
            "The ledger file is damaged. Stop notifier, keep a copy of the file, and restore "
            "it from a backup (or recover it with: sqlite3 FILE .recover). Nothing is sent "
            "until then, so nothing is sent twice."
        )
    return NOT_A_LEDGER
