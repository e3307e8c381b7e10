"""A single server's SQLite ledger copied into the shared PostgreSQL one, when it becomes one
of several nodes: every row (so nothing sent is sent again), the ledger's id (so the state
folder that knew the file knows the database), and the feeds' history and tokens beside the
file (so no calendar event is restamped and no subscribed URL changes).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg

from notifier.errors import UserError
from notifier.feedstate import HISTORY_FILE, TOKENS_FILE, TokenFile, load_history
from notifier.ledger import SqliteLedger
from notifier.ledger_pg import Row, connect, shown_url
from notifier.settings import LedgerSettings

_TABLES = ("deliveries", "due_dates", "problems", "milestone_status")


def copy_sqlite_ledger(source: Path, settings: LedgerSettings) -> dict[str, int]:
    """Copy ``source`` into the (migrated, empty) database; how many of each were copied."""
    if not source.is_file():
        raise UserError([f"{source}: no such ledger file"], hint="Name the SQLite ledger file.")
    # Opened for writing: a file of an older version is migrated first, as the daemon would.
    with SqliteLedger(source) as old:
        deliveries = _deliveries(source)
        due_dates = old.known_due_dates()
        problems = old.problems()
        statuses = old.status_entries()
        ledger_id = old.identity()
    where = shown_url(settings.url)
    with connect(settings) as db, db.transaction():
        held = {
            table: db.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"]  # type: ignore[index]
            for table in _TABLES
        }
        if any(held.values()):
            raise UserError(
                [f"{where}: the ledger already holds rows; copying could record a send twice"],
                hint="Copy into a new, migrated database only.",
            )
        with db.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO deliveries ({', '.join(_DELIVERY_COLUMNS)}) "
                f"VALUES ({', '.join(['%s'] * len(_DELIVERY_COLUMNS))})",
                deliveries,
            )
            cursor.executemany(
                "INSERT INTO due_dates (milestone_key, due_date, previous_due, changed_at, "
                "seen_at) VALUES (%s, %s, %s, %s, now())",
                [(k, d.due, d.previous_due, d.changed_at) for k, d in due_dates.items()],
            )
            cursor.executemany(
                "INSERT INTO problems (key, lines, first_seen) VALUES (%s, %s::jsonb, %s)",
                [
                    (p.key, json.dumps(list(p.lines), ensure_ascii=False), p.first_seen)
                    for p in problems
                ],
            )
            cursor.executemany(
                "INSERT INTO milestone_status (seq, milestone_key, state, organisation, address, "
                "at, how, comment, proposed_due, moved_from, moved_to) OVERRIDING SYSTEM VALUE "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (
                        s.seq,
                        s.milestone_key,
                        s.state,
                        s.organisation,
                        s.address,
                        s.at,
                        s.how,
                        s.comment,
                        s.proposed_due,
                        s.moved.replaces if s.moved else None,
                        s.moved.due if s.moved else None,
                    )
                    for s in statuses
                ],
            )
        db.execute(
            "SELECT setval(pg_get_serial_sequence('milestone_status', 'seq'), "
            "GREATEST((SELECT COALESCE(MAX(seq), 0) FROM milestone_status), 1))"
        )
        if ledger_id is not None:
            db.execute("UPDATE ledger_identity SET id = %s", (ledger_id,))
        feeds = _copy_feed_state(source.parent, db)
    counts = {
        "deliveries": len(deliveries),
        "due dates": len(due_dates),
        "problems": len(problems),
        "status entries": len(statuses),
    }
    counts.update(feeds)
    return counts


_DELIVERY_COLUMNS = (
    "key", "recipient", "kind", "state", "attempts", "last_error", "permanent", "message_id",
    "milestone_key", "due_date", "send_at", "note", "created_at", "updated_at", "claimed_at",
    "sent_at", "next_attempt_at",
)  # fmt: skip
_STAMPS = frozenset(
    {"send_at", "created_at", "updated_at", "claimed_at", "sent_at", "next_attempt_at"}
)


def _deliveries(source: Path) -> list[tuple[object, ...]]:
    """Every row of the file's deliveries, as the database's columns take them."""
    db = sqlite3.connect(f"{source.absolute().as_uri()}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    try:
        rows = db.execute(f"SELECT {', '.join(_DELIVERY_COLUMNS)} FROM deliveries").fetchall()
    finally:
        db.close()
    return [tuple(_value(name, row[name]) for name in _DELIVERY_COLUMNS) for row in rows]


def _value(column: str, value: object) -> object:
    if value is None:
        return None
    if column in _STAMPS:
        return datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    if column == "due_date":
        return date.fromisoformat(str(value))
    if column == "permanent":
        return bool(value)
    return value


def _copy_feed_state(folder: Path, db: psycopg.Connection[Row]) -> dict[str, int]:
    """The feed history and tokens the single server kept beside its ledger, read as it read
    them (a damaged token file stops the copy, as it would stop the server)."""
    copied: dict[str, int] = {}
    history = folder / HISTORY_FILE
    if history.is_file():
        db.execute(
            "INSERT INTO feed_history (data, updated_at) VALUES (%s::jsonb, now()) "
            "ON CONFLICT (one) DO UPDATE SET data = excluded.data, updated_at = now()",
            (json.dumps(load_history(history).to_json(), ensure_ascii=False),),
        )
        copied["feed history"] = 1
    tokens = TokenFile(folder / TOKENS_FILE).current()
    with db.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO feed_tokens (name, token) VALUES (%s, %s) "
            "ON CONFLICT (name) DO UPDATE SET token = excluded.token",
            list(tokens.items()),
        )
    if tokens:
        copied["feed tokens"] = len(tokens)
    return copied
