"""The ledger in a PostgreSQL database that every node shares (``ledger.url``).

The same rows and the same life of a row as ``ledger.SqliteLedger`` (see ``notifier.ledger``);
what differs is how several processes on several machines take turns:

- ``claim`` locks the row it takes (``FOR UPDATE SKIP LOCKED``): a node never waits for
  another's claim of the same message, it moves on, and only one of them sends it. A node that
  dies holding claims leaves them ``sending``; once ``ledger.lease_seconds`` have passed, a
  step of any node takes them over and sends with the Message-ID stored at the first claim;
- ``record_due_dates`` locks its table, so one node, not every node, reports a moved date;
- a lost connection is an error of the step that met it (``LedgerError``: /healthz says 503,
  nothing is sent) and the next use connects again, so a database back after a minute away
  is used again without a restart, with nothing lost and nothing recorded twice.

One connection per ledger object (``Reconnecting``), guarded by a lock, as the SQLite
ledger's; the feeds' shared state (``feedstate_pg``) has its own.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any, cast

import psycopg
from psycopg.rows import dict_row

from notifier import ledger_status
from notifier.due import DEFAULT_LEASE, EXPIRED, Delivery, Skip
from notifier.ledger import SENT_BEFORE_LEDGER
from notifier.ledger_api import Claim, DueChange
from notifier.ledger_pg_schema import (
    MIGRATION_LOCK,
    MIGRATIONS,
    SCHEMA_VERSION,
    Migration,
    not_a_ledger,
    too_new,
    too_old,
)
from notifier.ledger_schema import LedgerError
from notifier.ledger_url import shown_url
from notifier.records import (
    DueMove,
    How,
    KnownDue,
    LedgerEntry,
    MilestoneState,
    RecordedProblem,
    StatusEntry,
)
from notifier.settings import LedgerSettings

UNREACHABLE_HINT = (
    "Check that the PostgreSQL server named in ledger.url is running and reachable from this "
    "node, and that the password (ledger.password_file or the credential 'ledger-password') "
    "is right. Nothing is sent meanwhile; what is not recorded as sent goes out once the "
    "database answers again."
)
Row = dict[str, Any]


def node_name() -> str:
    """Who holds a claim, as shown in the ledger: this host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def connect(settings: LedgerSettings, *, readonly: bool = False) -> psycopg.Connection[Row]:
    """A new connection to the ledger database, in UTC, each statement its own transaction
    unless a ``transaction()`` block groups them."""
    options = "-c timezone=UTC -c statement_timeout=30000"
    if readonly:
        options += " -c default_transaction_read_only=on"
    password = settings.password.get_secret_value() if settings.password else None
    return psycopg.connect(
        settings.url,
        password=password,
        connect_timeout=max(1, round(settings.connect_timeout)),
        autocommit=True,
        row_factory=dict_row,
        application_name="notifier",
        options=options,
        # A server that vanished without closing the connection (a network split, a host
        # gone) is noticed within half a minute, not after the kernel's TCP timeouts.
        keepalives=1,
        keepalives_idle=10,
        keepalives_interval=5,
        keepalives_count=3,
        tcp_user_timeout=30000,
    )


def schema_version(db: psycopg.Connection[Row], where: str) -> int:
    """The database's schema version; 0 for an empty database; refuses one that holds
    tables of something else."""
    tables = [
        row["tablename"]
        for row in db.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
    ]
    if "notifier_schema" not in tables:
        if tables:
            raise not_a_ledger(sorted(tables), where)
        return 0
    row = db.execute("SELECT version FROM notifier_schema").fetchone()
    return int(row["version"]) if row else 0


def migrate(settings: LedgerSettings) -> Migration:
    """Bring the database to this notifier's schema version, each step in one transaction
    with the others' migrations locked out; refuses a newer one."""
    where = shown_url(settings.url)
    try:
        with connect(settings) as db:
            with db.transaction():
                db.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
                before = version = schema_version(db, where)
                if version > SCHEMA_VERSION:
                    raise too_new(version, where)
                while version < SCHEMA_VERSION:
                    for statement in MIGRATIONS[version + 1]():
                        db.execute(cast(Any, statement))
                    version += 1
                    db.execute("UPDATE notifier_schema SET version = %s", (version,))
            return Migration(before, version)
    except psycopg.Error as error:
        raise LedgerError(
            [f"{where}: cannot migrate the ledger: {_first_line(error)}"], hint=UNREACHABLE_HINT
        ) from None


class Reconnecting:
    """One connection to the ledger database, made again at the next use after the server
    went away (or refused us); every database error becomes a LedgerError that names the
    database. ``check`` runs on each new connection before it is used."""

    def __init__(
        self,
        settings: LedgerSettings,
        *,
        readonly: bool = False,
        check: Callable[[psycopg.Connection[Row]], None] | None = None,
    ) -> None:
        self.settings = settings
        self.where = shown_url(settings.url)
        self._readonly = readonly
        self._check = check
        self._lock = threading.RLock()
        self._db: psycopg.Connection[Row] | None = None

    @contextmanager
    def use(self, doing: str) -> Iterator[psycopg.Connection[Row]]:
        with self._lock:
            try:
                yield self._usable()
            except psycopg.OperationalError as error:
                if self._db is not None and (self._db.broken or self._db.closed):
                    self._forget()
                raise LedgerError(
                    [f"{self.where}: {doing}: {_first_line(error)}"], hint=UNREACHABLE_HINT
                ) from None
            except psycopg.Error as error:
                raise LedgerError([f"{self.where}: {doing}: {_first_line(error)}"]) from None

    def _usable(self) -> psycopg.Connection[Row]:
        if self._db is not None and not self._db.closed and not self._db.broken:
            return self._db
        self._forget()
        db = connect(self.settings, readonly=self._readonly)
        try:
            if self._check is not None:
                self._check(db)
        except BaseException:
            db.close()
            raise
        self._db = db
        return db

    def _forget(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def close(self) -> None:
        with self._lock:
            self._forget()


class PostgresLedger:
    """The ledger in the PostgreSQL database at ``settings.url``.

    ``readonly``: for commands that only show the ledger; an empty database reads as an
    empty ledger, and nothing is ever written.
    """

    def __init__(self, settings: LedgerSettings, *, readonly: bool = False) -> None:
        self.settings = settings
        self.path = shown_url(settings.url)  # what errors name, as the SQLite file's path
        self.node = node_name()
        self._readonly = readonly
        self._version = 0
        self._connection = Reconnecting(settings, readonly=readonly, check=self._check_version)
        with self._reading():
            pass  # connects, and checks the schema version

    # -- the connection --

    def _check_version(self, db: psycopg.Connection[Row]) -> None:
        """Each new connection: the schema this notifier knows, or none yet to read from."""
        version = schema_version(db, self.path)
        if version > SCHEMA_VERSION:
            raise too_new(version, self.path)
        if version < SCHEMA_VERSION and not (self._readonly and version == 0):
            raise too_old(version, self.path)
        self._version = version

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[Row]]:
        if self._readonly:
            raise LedgerError([f"{self.path}: opened for reading only"])
        with self._connection.use("cannot write the ledger") as db, db.transaction():
            yield db

    @contextmanager
    def _reading(self) -> Iterator[psycopg.Connection[Row]]:
        with self._connection.use("cannot read the ledger") as db:
            yield db

    def _empty(self) -> bool:
        """A read-only view of a database notifier has not been set up in yet."""
        return self._readonly and self._version == 0

    def check_writable(self) -> None:
        """Raise LedgerError unless a write would succeed now; writes nothing."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT pg_is_in_recovery() AS standby, "
                "has_table_privilege('deliveries', 'INSERT, UPDATE') AS allowed"
            ).fetchone()
        if row is None or row["standby"] or not row["allowed"]:
            why = "a read-only standby" if row and row["standby"] else "not writable by its user"
            raise LedgerError(
                [f"{self.path}: the ledger database is {why}"],
                hint="Point ledger.url at the primary server, as a user owning notifier's "
                "tables. Nothing is sent until it can record what it sends.",
            )

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> PostgresLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def identity(self) -> str | None:
        if self._empty():
            return None
        with self._reading() as db:
            row = db.execute("SELECT id FROM ledger_identity LIMIT 1").fetchone()
        return None if row is None else str(row["id"])

    @property
    def schema_version(self) -> int:
        with self._reading():
            return self._version

    def agree(self, name: str, value: str) -> str:
        """What every node holds as ``name``: ``value`` if this node is the first to say,
        else what the first one said (compare it with ``value``)."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO node_agreement (name, value, set_by) VALUES (%s, %s, %s) "
                "ON CONFLICT (name) DO NOTHING",
                (name, value, self.node),
            )
            row = db.execute("SELECT value FROM node_agreement WHERE name = %s", (name,)).fetchone()
        return str(row["value"]) if row else value

    # -- reading --

    def snapshot(self) -> dict[tuple[str, str], LedgerEntry]:
        if self._empty():
            return {}
        with self._reading() as db:
            rows = db.execute("SELECT * FROM deliveries").fetchall()
        return {(row["key"], row["recipient"]): _entry(row) for row in rows}

    def entry(self, key: str, recipient: str) -> LedgerEntry | None:
        if self._empty():
            return None
        with self._reading() as db:
            row = db.execute(
                "SELECT * FROM deliveries WHERE key = %s AND recipient = %s", (key, recipient)
            ).fetchone()
        return _entry(row) if row else None

    def failures(self, since: datetime) -> list[LedgerEntry]:
        if self._empty():
            return []
        with self._reading() as db:
            rows = db.execute(
                "SELECT * FROM deliveries WHERE state = 'failed' AND updated_at >= %s "
                "ORDER BY updated_at, key, recipient",
                (_aware(since),),
            ).fetchall()
        return [_entry(row) for row in rows]

    # -- writing --

    def record_due(self, deliveries: Iterable[Delivery], now: datetime) -> None:
        stamp = _aware(now)
        rows = [(*_identity(d), stamp, stamp) for d in deliveries]
        if not rows:
            return
        with self._transaction() as db, db.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO deliveries (key, recipient, kind, state, milestone_key, due_date, "
                "send_at, created_at, updated_at) VALUES (%s, %s, %s, 'due', %s, %s, %s, %s, %s) "
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
        """Take the row for sending, or None when it is not claimable, or another node holds
        it locked this instant (it is claiming it: it sends it, not this one)."""
        stamp = _aware(now)
        with self._transaction() as db:
            row = db.execute(
                "WITH target AS ("
                "  SELECT key, recipient, state AS before FROM deliveries"
                "  WHERE key = %(key)s AND recipient = %(recipient)s AND ("
                "    state = 'due'"
                "    OR (state = 'failed' AND NOT permanent"
                "        AND (next_attempt_at IS NULL OR next_attempt_at <= %(now)s))"
                "    OR (state = 'sending' AND (claimed_at IS NULL OR claimed_at <= %(stale)s))"
                "    OR (state = 'skipped' AND note = %(expired)s))"
                "  FOR UPDATE SKIP LOCKED) "
                "UPDATE deliveries AS d SET state = 'sending', attempts = d.attempts + 1, "
                "  message_id = COALESCE(d.message_id, %(message_id)s), claimed_at = %(now)s, "
                "  claimed_by = %(node)s, updated_at = %(now)s "
                "FROM target WHERE d.key = target.key AND d.recipient = target.recipient "
                "RETURNING d.message_id, d.attempts, target.before",
                {
                    "key": key,
                    "recipient": recipient,
                    "now": stamp,
                    "stale": stamp - lease,
                    "expired": EXPIRED,
                    "message_id": message_id,
                    "node": self.node,
                },
            ).fetchone()
        if row is None:
            return None
        return Claim(row["message_id"], row["attempts"], row["before"] == "sending")

    def mark_sent(self, key: str, recipient: str, now: datetime) -> bool:
        stamp = _aware(now)
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE deliveries SET state = 'sent', sent_at = %s, updated_at = %s, "
                "last_error = NULL, next_attempt_at = NULL "
                "WHERE key = %s AND recipient = %s AND state = 'sending'",
                (stamp, stamp, key, recipient),
            )
            return cursor.rowcount == 1

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
        retry = None if permanent or next_attempt_at is None else _aware(next_attempt_at)
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE deliveries SET state = 'failed', permanent = %s, last_error = %s, "
                "next_attempt_at = %s, updated_at = %s "
                "WHERE key = %s AND recipient = %s AND state = 'sending'",
                (permanent, error, retry, _aware(now), key, recipient),
            )
            return cursor.rowcount == 1

    def mark_skipped(self, skips: Iterable[Skip], now: datetime) -> int:
        stamp = _aware(now)
        rows = [(*_identity(s), s.reason, stamp, stamp) for s in skips]
        if not rows:
            return 0
        with self._transaction() as db, db.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO deliveries AS d (key, recipient, kind, state, milestone_key, "
                "due_date, send_at, note, created_at, updated_at) "
                "VALUES (%s, %s, %s, 'skipped', %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (key, recipient) DO UPDATE SET state = 'skipped', "
                "note = excluded.note, updated_at = excluded.updated_at, next_attempt_at = NULL "
                "WHERE d.state = 'due' OR (d.state = 'failed' AND NOT d.permanent)",
                rows,
            )
            return max(cursor.rowcount, 0)

    # -- due dates, for change notices --

    def known_due_dates(self) -> dict[str, KnownDue]:
        if self._empty():
            return {}
        with self._reading() as db:
            rows = db.execute("SELECT * FROM due_dates").fetchall()
        return {
            row["milestone_key"]: KnownDue(row["due_date"], row["previous_due"], row["changed_at"])
            for row in rows
        }

    def record_due_dates(self, dates: Mapping[str, date], now: datetime) -> list[DueChange]:
        """As ``SqliteLedger.record_due_dates``; the table is locked meanwhile, so when two
        nodes see the same moved date, one of them reports it."""
        stamp = _aware(now)
        changes: list[DueChange] = []
        with self._transaction() as db:
            db.execute("LOCK TABLE due_dates IN SHARE ROW EXCLUSIVE MODE")
            known = {
                row["milestone_key"]: row["due_date"]
                for row in db.execute("SELECT milestone_key, due_date FROM due_dates")
            }
            new = [(key, due, stamp) for key, due in sorted(dates.items()) if key not in known]
            moved = [
                (key, known[key], due)
                for key, due in sorted(dates.items())
                if key in known and known[key] != due
            ]
            with db.cursor() as cursor:
                if new:
                    cursor.executemany(
                        "INSERT INTO due_dates (milestone_key, due_date, seen_at) "
                        "VALUES (%s, %s, %s)",
                        new,
                    )
                if moved:
                    cursor.executemany(
                        "UPDATE due_dates SET due_date = %s, previous_due = %s, "
                        "changed_at = %s, seen_at = %s WHERE milestone_key = %s",
                        [(due, old, stamp, stamp, key) for key, old, due in moved],
                    )
            changes = [DueChange(key, old, due) for key, old, due in moved]
        return changes

    # -- refused edits, for problem notices --

    def record_problem(self, key: str, lines: Sequence[str], now: datetime) -> bool:
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO problems (key, lines, first_seen) VALUES (%s, %s::jsonb, %s) "
                "ON CONFLICT (key) DO NOTHING",
                (key, json.dumps(list(lines), ensure_ascii=False), _aware(now)),
            )
            return cursor.rowcount == 1

    def problems(self) -> list[RecordedProblem]:
        if self._empty():
            return []
        with self._reading() as db:
            rows = db.execute("SELECT * FROM problems ORDER BY first_seen, key").fetchall()
        return [RecordedProblem(row["key"], tuple(row["lines"]), row["first_seen"]) for row in rows]

    def record_told_problems(self, keys: Iterable[str], recipient: str, told_at: datetime) -> int:
        stamp = _aware(told_at)
        new = 0
        with self._transaction() as db:
            for key in keys:
                db.execute(
                    "INSERT INTO problems (key, lines, first_seen) VALUES (%s, '[]'::jsonb, %s) "
                    "ON CONFLICT (key) DO NOTHING",
                    (key, stamp),
                )
                new += db.execute(
                    "INSERT INTO deliveries (key, recipient, kind, state, send_at, note, "
                    "created_at, updated_at, sent_at) "
                    "VALUES (%s, %s, 'problem', 'sent', %s, %s, %s, %s, %s) "
                    "ON CONFLICT (key, recipient) DO NOTHING",
                    (key, recipient, stamp, SENT_BEFORE_LEDGER, stamp, stamp, stamp),
                ).rowcount
        return new

    # -- milestone status --

    def record_status(self, entry: StatusEntry) -> StatusEntry:
        try:
            ledger_status.check(entry)
        except ValueError as error:
            raise LedgerError([f"{entry.milestone_key}: {error}"]) from None
        with self._transaction() as db:
            row = db.execute(
                "INSERT INTO milestone_status (milestone_key, state, organisation, address, at, "
                "how, comment, proposed_due, moved_from, moved_to) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING seq",
                (
                    entry.milestone_key,
                    entry.state,
                    entry.organisation,
                    entry.address,
                    _aware(entry.at),
                    entry.how,
                    entry.comment,
                    entry.proposed_due,
                    entry.moved.replaces if entry.moved else None,
                    entry.moved.due if entry.moved else None,
                ),
            ).fetchone()
        return replace(entry, seq=int(row["seq"]) if row else None)

    def status_history(self, milestone_key: str) -> list[StatusEntry]:
        if self._empty():
            return []
        with self._reading() as db:
            rows = db.execute(
                "SELECT * FROM milestone_status WHERE milestone_key = %s ORDER BY seq",
                (milestone_key,),
            ).fetchall()
        return [_status(row) for row in rows]

    def status_entries(self) -> list[StatusEntry]:
        if self._empty():
            return []
        with self._reading() as db:
            rows = db.execute("SELECT * FROM milestone_status ORDER BY seq").fetchall()
        return [_status(row) for row in rows]

    def statuses(self) -> dict[str, StatusEntry]:
        if self._empty():
            return {}
        with self._reading() as db:
            rows = db.execute(
                "SELECT DISTINCT ON (milestone_key) * FROM milestone_status "
                "ORDER BY milestone_key, seq DESC"
            ).fetchall()
            moves = db.execute(
                "SELECT DISTINCT ON (milestone_key) * FROM milestone_status "
                "WHERE moved_to IS NOT NULL ORDER BY milestone_key, seq DESC"
            ).fetchall()
        moved = {row["milestone_key"]: _move(row) for row in moves}
        return {
            row["milestone_key"]: replace(_status(row), moved=moved.get(row["milestone_key"]))
            for row in rows
        }

    def status_mark(self) -> int:
        if self._empty():
            return 0
        with self._reading() as db:
            row = db.execute("SELECT COALESCE(MAX(seq), 0) AS seq FROM milestone_status").fetchone()
        return int(row["seq"]) if row else 0


# --- rows and values ------------------------------------------------------------------------


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("the ledger stores aware datetimes only")
    return moment


def _identity(delivery: Delivery) -> tuple[str, str, str, str | None, date | None, datetime]:
    item = delivery.item
    return (
        delivery.key,
        delivery.address,
        item.kind,
        item.milestone_key,
        item.due,
        _aware(item.send_at),
    )


def _entry(row: Row) -> LedgerEntry:
    return LedgerEntry(
        key=row["key"],
        recipient=row["recipient"],
        kind=row["kind"],
        state=row["state"],
        attempts=row["attempts"],
        permanent=bool(row["permanent"]),
        last_error=row["last_error"],
        message_id=row["message_id"],
        next_attempt_at=row["next_attempt_at"],
        claimed_at=row["claimed_at"],
        updated_at=row["updated_at"],
        milestone_key=row["milestone_key"],
        due_date=row["due_date"],
        note=row["note"],
    )


def _move(row: Row) -> DueMove | None:
    if row["moved_to"] is None:
        return None
    return DueMove(row["moved_from"], row["moved_to"])


def _status(row: Row) -> StatusEntry:
    return StatusEntry(
        milestone_key=row["milestone_key"],
        state=cast(MilestoneState, row["state"]),
        organisation=row["organisation"],
        at=row["at"],
        how=cast(How, row["how"]),
        address=row["address"],
        comment=row["comment"],
        proposed_due=row["proposed_due"],
        moved=_move(row),
        seq=row["seq"],
    )


def _first_line(error: psycopg.Error) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
