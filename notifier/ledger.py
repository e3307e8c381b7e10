"""The ledger: what was sent to whom, written before and after each send.

One row per (message key, recipient address). Life of a row::

    due --claim--> sending --mark_sent--> sent
                     |  \\--mark_failed(permanent)--> failed (for good)
                     |   \\-mark_failed(temporary)--> failed, next_attempt_at --claim--> sending
                     \\-- lease runs out (the process died) --claim--> sending, same Message-ID
    due / temporarily failed --mark_skipped--> skipped

``claim`` is a compare-and-set: it succeeds only for a row in a claimable state, so two
processes never send the same message at once, and a message whose sender died is sent again
with the Message-ID stored at the first claim, which makes a duplicate recognisable.

The ledger also keeps the refused edits the coordinator must hear of (``problems``), the
due date last seen per milestone (``due_dates``), from which change notices follow, and what
was said about each milestone (``milestone_status``: done, needs a new date, reopened).

``Ledger`` is the interface the rest of notifier uses; ``SqliteLedger`` implements it with one
SQLite file in WAL mode. A database server could stand behind the same interface.

Schema versions (``ledger_schema``): a file of an older version is migrated when opened for
writing, in one transaction, rows kept; a newer one is refused. Opened read-only
(``notifier schedule``, ``status``), a file is read as it is and never changed.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from notifier import ledger_identity, ledger_status
from notifier.due import DEFAULT_LEASE, EXPIRED, Delivery, Skip
from notifier.ledger_api import Claim, DueChange, Ledger
from notifier.ledger_schema import (
    SCHEMA_VERSION,
    LedgerError,
    advice,
    bring_up_to_date,
    known_version,
)
from notifier.records import KnownDue, LedgerEntry, RecordedProblem, StatusEntry
from notifier.settings import LedgerSettings

__all__ = [
    "SCHEMA_VERSION",
    "Claim",
    "DueChange",
    "Ledger",
    "LedgerError",
    "SqliteLedger",
    "open_ledger",
    "open_reader",
]

MEMORY = ":memory:"
# The note on a problem notice that was sent before the ledger recorded problem notices.
SENT_BEFORE_LEDGER = "sent before the ledger recorded problem notices"


class _RollBack(Exception):
    """Ends a transaction that must change nothing."""


# --- Time as text: fixed-width UTC, so SQL compares it correctly as strings ---------------


def _ts(moment: datetime) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("the ledger stores aware datetimes only")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _identity(delivery: Delivery) -> tuple[str, str, str, str | None, str | None, str]:
    """The columns that say which message to whom: key, recipient, kind, milestone, due, when."""
    item = delivery.item
    due = item.due.isoformat() if item.due else None
    return (delivery.key, delivery.address, item.kind, item.milestone_key, due, _ts(item.send_at))


def _parse(text: str) -> datetime:
    if len(text) == 27 and text[-1] == "Z":
        # The ledger's own stamps ("2024-10-15T06:00:00.000000Z"), read whole at each start:
        # fromisoformat reads them twenty times as fast as strptime.
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _dt(text: str | None) -> datetime | None:
    return None if text is None else _parse(text)


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


class SqliteLedger:
    """The ledger in one SQLite file (or ``:memory:`` for simulations and tests).

    ``readonly``: open an existing file for reading only, as it is (no migration, no WAL
    switch), so commands that only show the ledger never change it.
    """

    def __init__(self, path: Path | str, *, readonly: bool = False) -> None:
        self.path = str(path)
        self._memory = self.path == MEMORY
        self._readonly = readonly and not self._memory
        self._version = SCHEMA_VERSION
        if not self._memory and not self._readonly:
            try:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                ledger_identity.create_private(Path(self.path))
            except OSError as error:
                raise LedgerError(
                    [f"{self.path}: cannot create the ledger's folder: {error.strerror or error}"],
                    hint="Set ledger.path to a folder the service may write to.",
                ) from None
        try:
            # isolation_level=None: no implicit transactions; every write below opens its own.
            self._db = sqlite3.connect(
                f"{Path(self.path).absolute().as_uri()}?mode=ro" if self._readonly else self.path,
                isolation_level=None,
                timeout=10.0,
                check_same_thread=False,
                uri=self._readonly,
            )
        except sqlite3.Error as error:
            raise LedgerError(
                [f"{self.path}: cannot open the ledger: {error}"], hint=advice(error)
            ) from None
        self._db.row_factory = sqlite3.Row
        # One connection shared by the daemon's threads; SQLite serialises, this orders.
        self._lock = threading.RLock()
        try:
            self._prepare()
        except sqlite3.DatabaseError as error:
            self._db.close()
            raise LedgerError(
                [f"{self.path}: not a usable ledger: {error}"], hint=advice(error)
            ) from None
        except LedgerError:
            self._db.close()
            raise

    def _prepare(self) -> None:
        if self._readonly:
            self._check_readable()
            return
        if not self._memory:
            # WAL: readers (notifier schedule) never block the sender, and a crash mid-write
            # leaves the last committed state.
            self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed "sent" survives a power cut too, not just a process crash.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        with self._transaction():
            bring_up_to_date(self._db, self.path)
            ledger_identity.ensure_id(self._db)

    def _check_readable(self) -> None:
        with self._reading():
            self._version = known_version(self._db, self.path)

    def _has(self, version: int) -> bool:
        """Whether the file has what schema ``version`` brought (read-only files may be older)."""
        return self._version >= version

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT: takes the write lock at once, so a compare-and-set
        cannot interleave with another process's."""
        with self._lock, self._named_errors("cannot write the ledger"):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                # Also when COMMIT itself failed (disk full): SQLite may or may not have
                # rolled back already, and the connection must be usable afterwards.
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    @contextmanager
    def _named_errors(self, doing: str) -> Iterator[None]:
        """An SQLite error becomes a LedgerError naming the file and what to do."""
        try:
            yield
        except sqlite3.Error as error:
            raise LedgerError([f"{self.path}: {doing}: {error}"], hint=advice(error)) from None

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._named_errors("cannot read the ledger"):
            yield self._db

    def check_writable(self) -> None:
        """Raise LedgerError unless a write would succeed; writes nothing."""
        try:
            with self._transaction() as db:
                version = db.execute("PRAGMA user_version").fetchone()[0]
                # Rewriting the same value takes the write path (and its errors) but
                # changes nothing; the transaction is rolled back anyway.
                db.execute(f"PRAGMA user_version = {int(version)}")
                raise _RollBack
        except _RollBack:
            pass

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> SqliteLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def identity(self) -> str | None:
        with self._reading():
            return ledger_identity.read_id(self._db)

    @property
    def schema_version(self) -> int:
        with self._reading():
            return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def agree(self, name: str, value: str) -> str:
        """One file has one family of processes on one machine: nothing to agree on."""
        return value

    # -- reading --

    def snapshot(self) -> dict[tuple[str, str], LedgerEntry]:
        """Every row, keyed by (message key, recipient address)."""
        if not self._has(1):
            return {}
        with self._reading():
            rows = self._db.execute("SELECT * FROM deliveries").fetchall()
        return {(row["key"], row["recipient"]): _entry(row) for row in rows}

    def entry(self, key: str, recipient: str) -> LedgerEntry | None:
        with self._reading():
            row = self._db.execute(
                "SELECT * FROM deliveries WHERE key = ? AND recipient = ?", (key, recipient)
            ).fetchone()
        return _entry(row) if row else None

    def failures(self, since: datetime) -> list[LedgerEntry]:
        """Rows that failed (for good, or still being retried) with an attempt since ``since``."""
        with self._reading():
            rows = self._db.execute(
                "SELECT * FROM deliveries WHERE state = 'failed' AND updated_at >= ? "
                "ORDER BY updated_at, key, recipient",
                (_ts(since),),
            ).fetchall()
        return [_entry(row) for row in rows]

    # -- writing --

    def record_due(self, deliveries: Iterable[Delivery], now: datetime) -> None:
        """Write ahead: a row in state 'due' for each delivery that has none yet."""
        stamp = _ts(now)
        rows = [
            (
                *_identity(d),
                stamp,
                stamp,
            )
            for d in deliveries
        ]
        if not rows:
            return
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO deliveries (key, recipient, kind, state, milestone_key, due_date, "
                "send_at, created_at, updated_at) VALUES (?, ?, ?, 'due', ?, ?, ?, ?, ?) "
                "ON CONFLICT (key, recipient) DO NOTHING",
                rows,
            )

    def claim(
        self,
        key: str,
        recipient: str,
        message_id: str,
        now: datetime,
        lease: timedelta = DEFAULT_LEASE,
    ) -> Claim | None:
        """Take the row for sending, or None when it is not claimable (sent, in flight…).

        The row must exist (``record_due``). A Message-ID stored by an earlier claim wins over
        ``message_id``, so every attempt of one message carries the same one.
        """
        stamp = _ts(now)
        with self._transaction() as db:
            before = db.execute(
                "SELECT state FROM deliveries WHERE key = ? AND recipient = ?", (key, recipient)
            ).fetchone()
            updated = db.execute(
                "UPDATE deliveries SET state = 'sending', attempts = attempts + 1, "
                "message_id = COALESCE(message_id, ?), claimed_at = ?, updated_at = ? "
                "WHERE key = ? AND recipient = ? AND ("
                "  state = 'due'"
                "  OR (state = 'failed' AND permanent = 0"
                "      AND (next_attempt_at IS NULL OR next_attempt_at <= ?))"
                "  OR (state = 'sending' AND (claimed_at IS NULL OR claimed_at <= ?))"
                "  OR (state = 'skipped' AND note = ?))",
                (message_id, stamp, stamp, key, recipient, stamp, _ts(now - lease), EXPIRED),
            )
            if updated.rowcount != 1:
                return None
            row = db.execute(
                "SELECT message_id, attempts FROM deliveries WHERE key = ? AND recipient = ?",
                (key, recipient),
            ).fetchone()
        return Claim(row["message_id"], row["attempts"], before["state"] == "sending")

    def mark_sent(self, key: str, recipient: str, now: datetime) -> bool:
        stamp = _ts(now)
        with self._transaction() as db:
            updated = db.execute(
                "UPDATE deliveries SET state = 'sent', sent_at = ?, updated_at = ?, "
                "last_error = NULL, next_attempt_at = NULL "
                "WHERE key = ? AND recipient = ? AND state = 'sending'",
                (stamp, stamp, key, recipient),
            )
            return updated.rowcount == 1

    def mark_failed(
        self,
        key: str,
        recipient: str,
        now: datetime,
        *,
        permanent: bool,
        error: str,
        next_attempt_at: datetime | None,
    ) -> bool:
        with self._transaction() as db:
            updated = db.execute(
                "UPDATE deliveries SET state = 'failed', permanent = ?, last_error = ?, "
                "next_attempt_at = ?, updated_at = ? "
                "WHERE key = ? AND recipient = ? AND state = 'sending'",
                (
                    int(permanent),
                    error,
                    None if permanent or next_attempt_at is None else _ts(next_attempt_at),
                    _ts(now),
                    key,
                    recipient,
                ),
            )
            return updated.rowcount == 1

    def mark_skipped(self, skips: Iterable[Skip], now: datetime) -> int:
        """Record each as skipped, unless it was sent, failed for good or is in flight."""
        stamp = _ts(now)
        rows = [
            (
                *_identity(s),
                s.reason,
                stamp,
                stamp,
            )
            for s in skips
        ]
        if not rows:
            return 0
        with self._transaction() as db:
            before = db.total_changes
            db.executemany(
                "INSERT INTO deliveries (key, recipient, kind, state, milestone_key, due_date, "
                "send_at, note, created_at, updated_at) "
                "VALUES (?, ?, ?, 'skipped', ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (key, recipient) DO UPDATE SET state = 'skipped', "
                "note = excluded.note, updated_at = excluded.updated_at, next_attempt_at = NULL "
                "WHERE state = 'due' OR (state = 'failed' AND permanent = 0)",
                rows,
            )
            return db.total_changes - before

    # -- due dates, for change notices --

    def known_due_dates(self) -> dict[str, KnownDue]:
        if not self._has(1):
            return {}
        with self._reading():
            rows = self._db.execute("SELECT * FROM due_dates").fetchall()
        return {
            row["milestone_key"]: KnownDue(
                date.fromisoformat(row["due_date"]),
                _day(row["previous_due"]),
                _dt(row["changed_at"]),
            )
            for row in rows
        }

    def record_due_dates(self, dates: Mapping[str, date], now: datetime) -> list[DueChange]:
        """Store each milestone's due date; return those that moved since last recorded.

        A milestone seen for the first time is not a change. Milestones missing from
        ``dates`` (an action removed) keep their row, so a return is compared correctly.
        """
        stamp = _ts(now)
        changes: list[DueChange] = []
        with self._transaction() as db:
            known = {
                row["milestone_key"]: row["due_date"]
                for row in db.execute("SELECT milestone_key, due_date FROM due_dates")
            }
            for key, due in sorted(dates.items()):
                old = known.get(key)
                if old is None:
                    db.execute(
                        "INSERT INTO due_dates (milestone_key, due_date, seen_at) VALUES (?, ?, ?)",
                        (key, due.isoformat(), stamp),
                    )
                elif old != due.isoformat():
                    db.execute(
                        "UPDATE due_dates SET due_date = ?, previous_due = ?, changed_at = ?, "
                        "seen_at = ? WHERE milestone_key = ?",
                        (due.isoformat(), old, stamp, stamp, key),
                    )
                    changes.append(DueChange(key, date.fromisoformat(old), due))
        return changes

    # -- refused edits, for problem notices --

    def record_problem(self, key: str, lines: Sequence[str], now: datetime) -> bool:
        """Keep a refused edit's problems under ``key``; False if that key was known already.

        The first sighting stays: the same problems again are the same notice, sent once.
        """
        with self._transaction() as db:
            inserted = db.execute(
                "INSERT INTO problems (key, lines, first_seen) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO NOTHING",
                (key, json.dumps(list(lines), ensure_ascii=False), _ts(now)),
            )
            return inserted.rowcount == 1

    def problems(self) -> list[RecordedProblem]:
        """Every refused edit recorded, oldest first."""
        if not self._has(2):
            return []
        with self._reading():
            rows = self._db.execute("SELECT * FROM problems ORDER BY first_seen, key").fetchall()
        return [
            RecordedProblem(row["key"], tuple(json.loads(row["lines"])), _parse(row["first_seen"]))
            for row in rows
        ]

    def record_told_problems(self, keys: Iterable[str], recipient: str, told_at: datetime) -> int:
        """Problem notices sent before the ledger kept them: recorded as sent to ``recipient``,
        their problem texts unknown, so none is sent again. Returns how many were new."""
        stamp = _ts(told_at)
        new = 0
        with self._transaction() as db:
            for key in keys:
                db.execute(
                    "INSERT INTO problems (key, lines, first_seen) VALUES (?, '[]', ?) "
                    "ON CONFLICT (key) DO NOTHING",
                    (key, stamp),
                )
                new += db.execute(
                    "INSERT INTO deliveries (key, recipient, kind, state, send_at, note, "
                    "created_at, updated_at, sent_at) "
                    "VALUES (?, ?, 'problem', 'sent', ?, ?, ?, ?, ?) "
                    "ON CONFLICT (key, recipient) DO NOTHING",
                    (key, recipient, stamp, SENT_BEFORE_LEDGER, stamp, stamp, stamp),
                ).rowcount
        return new

    # -- milestone status: what was said about each milestone (``ledger_status``) --

    def record_status(self, entry: StatusEntry) -> StatusEntry:
        """Append ``entry`` to its milestone's history; returns it as recorded (with seq)."""
        try:
            ledger_status.check(entry)
        except ValueError as error:
            raise LedgerError([f"{entry.milestone_key}: {error}"]) from None
        with self._transaction() as db:
            seq = ledger_status.insert(db, entry)
        return replace(entry, seq=seq)

    def status_history(self, milestone_key: str) -> list[StatusEntry]:
        """Every entry about one milestone, oldest first."""
        if not self._has(4):
            return []
        with self._reading() as db:
            return ledger_status.history(db, milestone_key)

    def status_entries(self) -> list[StatusEntry]:
        """Every entry about every milestone, oldest first."""
        if not self._has(4):
            return []
        with self._reading() as db:
            return ledger_status.every(db)

    def statuses(self) -> dict[str, StatusEntry]:
        """The current status of every milestone anything was said about; the rest are open."""
        if not self._has(4):
            return {}
        with self._reading() as db:
            return ledger_status.current(db, with_moves=self._has(5))

    def status_mark(self) -> int:
        """Grows whenever a status is recorded, here or by another process."""
        if not self._has(4):
            return 0
        with self._reading() as db:
            return ledger_status.latest_seq(db)


def _entry(row: sqlite3.Row) -> LedgerEntry:
    return LedgerEntry(
        key=row["key"],
        recipient=row["recipient"],
        kind=row["kind"],
        state=row["state"],
        attempts=row["attempts"],
        permanent=bool(row["permanent"]),
        last_error=row["last_error"],
        message_id=row["message_id"],
        next_attempt_at=_dt(row["next_attempt_at"]),
        claimed_at=_dt(row["claimed_at"]),
        updated_at=_dt(row["updated_at"]),
        milestone_key=row["milestone_key"],
        due_date=_day(row["due_date"]),
        note=row["note"],
    )


def open_ledger(where: LedgerSettings | Path | str) -> Ledger:
    """The configured ledger, open for writing: the PostgreSQL database at ``ledger.url``
    when one is set, else the SQLite file at ``ledger.path`` (its folder and file are made
    on first use)."""
    if isinstance(where, LedgerSettings):
        if where.url:
            from notifier.ledger_pg import PostgresLedger  # psycopg only where it is used

            return PostgresLedger(where)
        where = where.path
    return SqliteLedger(where)


def open_reader(where: LedgerSettings) -> Ledger | None:
    """The configured ledger for reading only, never created or changed; None when there is
    none yet (no SQLite file: nothing was sent so far)."""
    if where.url:
        from notifier.ledger_pg import PostgresLedger

        return PostgresLedger(where, readonly=True)
    if not Path(where.path).exists():
        return None
    return SqliteLedger(where.path, readonly=True)
