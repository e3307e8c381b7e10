"""The ledger: write-ahead, compare-and-set claims, schema versions; the contract every
backend keeps (SQLite, in memory and in a file, and PostgreSQL)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from ledgers import BACKENDS, SHARED, opener

from notifier.due import Delivery, Outgoing, Skip
from notifier.kinds.reminder import reminders
from notifier.ledger import (
    SCHEMA_VERSION,
    SENT_BEFORE_LEDGER,
    DueChange,
    LedgerError,
    SqliteLedger,
)
from notifier.model import Action, Milestone, Organisation, Plan, PlannedMilestone, Problem
from notifier.records import KnownDue, RecordedProblem
from notifier.settings import ReminderSettings, Settings

STOCKHOLM = ZoneInfo("Europe/Stockholm")
NOW = datetime(2024, 5, 31, 8, 0, tzinfo=STOCKHOLM)
LEASE = timedelta(minutes=10)
POLISEN = "polisen@example.se"
SKOLAN = "skolan@example.se"
MID = "<abc@gotland.example>"


@dataclass
class Plans:
    milestones: tuple[PlannedMilestone, ...]
    problems: list[Problem] = field(default_factory=list)


def outgoing() -> Outgoing[timedelta]:
    act = Action("a", "Våld", "Område", "Problem", "Orsak", "Mål", "Åtgärd", "Polisen", "x")
    plan = Plan("p", "Plan", date(2024, 1, 1), 2024, "Europe/Stockholm", ())
    organisations = (
        Organisation("Polisen", "polisen", emails=(POLISEN,)),
        Organisation("Skolan", "skolan", emails=(SKOLAN,)),
    )
    milestone = Milestone("Klart", None, date(2024, 6, 30), date(2024, 6, 30))
    planned = PlannedMilestone(plan, act, "1", milestone, organisations)
    settings = Settings(reminders=ReminderSettings(leads=("30d",)))
    (reminder,) = reminders(Plans((planned,)), settings)
    return reminder


ITEM = outgoing()
KEY = ITEM.key
TO_POLISEN, TO_SKOLAN = (Delivery(ITEM, r) for r in ITEM.recipients)


@pytest.fixture(params=BACKENDS)
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqliteLedger]:
    """Every behaviour holds for the in-memory ledger (simulate), a file (the daemon on one
    server) and a PostgreSQL database (several nodes): the ledger's contract."""
    with opener(request.param, request, tmp_path) as open_ledger:
        yield open_ledger()  # type: ignore[misc]


@pytest.fixture(params=SHARED)
def reopen(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], SqliteLedger]]:
    """Opens the same ledger again, as another process (or node) does."""
    with opener(request.param, request, tmp_path) as open_ledger:
        yield open_ledger  # type: ignore[misc]


def recorded(ledger: SqliteLedger) -> SqliteLedger:
    ledger.record_due([TO_POLISEN, TO_SKOLAN], NOW)
    return ledger


# --- Files and schema ---------------------------------------------------------------------


def test_the_file_and_its_folder_are_created_on_first_use_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "state" / "ledger.sqlite3"
    with SqliteLedger(path) as ledger:
        assert ledger.schema_version == SCHEMA_VERSION
    assert path.exists()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_ledger_from_a_newer_version_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    SqliteLedger(path).close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(LedgerError) as raised:
        SqliteLedger(path)
    assert str(path) in raised.value.message
    assert f"schema version {SCHEMA_VERSION + 1} is newer" in raised.value.message
    assert "upgrade notifier" in raised.value.message


def test_a_database_that_is_not_a_ledger_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE customers (id INTEGER)")
    with pytest.raises(LedgerError, match=r"not a notifier ledger .*customers"):
        SqliteLedger(path)


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    path.write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(LedgerError, match="not a usable ledger"):
        SqliteLedger(path)


# The schema of version 1 exactly as notifier wrote it, before problem notices joined the
# ledger: kept here because files of that version are out there and must keep working.
VERSION_1 = """
CREATE TABLE deliveries (
    key             TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('reminder', 'due', 'changed', 'digest')),
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
) WITHOUT ROWID;
CREATE INDEX deliveries_by_state ON deliveries (state, updated_at);
CREATE INDEX deliveries_by_milestone ON deliveries (milestone_key);
CREATE TABLE due_dates (
    milestone_key TEXT PRIMARY KEY,
    due_date      TEXT NOT NULL,
    previous_due  TEXT,
    changed_at    TEXT,
    seen_at       TEXT NOT NULL
) WITHOUT ROWID;
PRAGMA user_version = 1;
"""
STAMP = "2024-05-31T06:00:00.000000Z"


def insert_v1_row(db: sqlite3.Connection, **fields: object) -> None:
    row: dict[str, object] = {"attempts": 0, "permanent": 0, "send_at": STAMP}
    row |= {"created_at": STAMP, "updated_at": STAMP, **fields}
    names = ", ".join(row)
    marks = ", ".join("?" * len(row))
    db.execute(f"INSERT INTO deliveries ({names}) VALUES ({marks})", tuple(row.values()))


def version_1_ledger(path: Path) -> None:
    """A ledger an earlier notifier left: a sent reminder, a permanent failure, a skipped
    digest, and a moved due date whose change notice is still to go out."""
    reminder = {"key": KEY, "kind": "reminder", "milestone_key": "p/a/1", "due_date": "2024-06-30"}
    with closing(sqlite3.connect(path)) as db, db:
        db.executescript(VERSION_1)
        insert_v1_row(db, **reminder, recipient=POLISEN, state="sent", attempts=1, message_id=MID)
        insert_v1_row(
            db,
            **reminder,
            recipient=SKOLAN,
            state="failed",
            attempts=1,
            permanent=1,
            last_error="550 no such user",
        )
        insert_v1_row(
            db,
            key="digest/2024-05-27/2024-06-23",
            recipient="c@x",
            kind="digest",
            state="skipped",
            note="superseded",
        )
        db.execute(
            "INSERT INTO due_dates VALUES ('p/a/1', '2024-06-30', '2024-05-31', ?, ?)",
            (STAMP, STAMP),
        )
    # A version-1 notifier ran in WAL mode, like this one.
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA journal_mode=WAL")


def test_a_version_1_ledger_is_migrated_keeping_every_row_and_takes_problem_notices(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ledger.sqlite3"
    version_1_ledger(path)
    with SqliteLedger(path) as ledger:
        assert ledger.schema_version == SCHEMA_VERSION == 5
        state = ledger.snapshot()
        changed_at = datetime(2024, 5, 31, 6, tzinfo=UTC)
        assert ledger.known_due_dates() == {
            "p/a/1": KnownDue(date(2024, 6, 30), date(2024, 5, 31), changed_at)
        }
        # What was recorded stands: the sent one is never claimed again, nor the refused one.
        assert ledger.claim(KEY, POLISEN, "<new@x>", NOW + timedelta(days=1), LEASE) is None
        assert ledger.claim(KEY, SKOLAN, "<new@x>", NOW + timedelta(days=1), LEASE) is None
        assert ledger.problems() == []
        assert ledger.record_problem("problem/1", ["plan/x.toml:3: not valid TOML"], NOW)
    assert (state[(KEY, POLISEN)].state, state[(KEY, POLISEN)].message_id) == ("sent", MID)
    assert (state[(KEY, SKOLAN)].permanent, state[(KEY, SKOLAN)].last_error) == (
        True,
        "550 no such user",
    )
    assert state[("digest/2024-05-27/2024-06-23", "c@x")].note == "superseded"
    assert len(state) == 3
    with closing(sqlite3.connect(path)) as db:
        indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert {"deliveries_by_state", "deliveries_by_milestone"} <= indexes
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_version_1_ledger_read_only_is_read_as_it_is_and_left_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    version_1_ledger(path)
    before = path.read_bytes()
    with SqliteLedger(path, readonly=True) as ledger:
        assert ledger.schema_version == 1
        assert ledger.snapshot()[(KEY, POLISEN)].state == "sent"
        assert ledger.problems() == []
        assert ledger.known_due_dates()["p/a/1"].previous_due == date(2024, 5, 31)
        with pytest.raises(LedgerError, match="readonly"):
            ledger.record_due([TO_POLISEN], NOW)
    assert path.read_bytes() == before


# Version 2 as notifier wrote it: 'problem' joined the CHECK on kind, and problems a table.
VERSION_2_CHANGES = (
    (
        "CHECK (kind IN ('reminder', 'due', 'changed', 'digest'))",
        "CHECK (kind IN ('reminder', 'due', 'changed', 'digest', 'problem'))",
    ),
    (
        "PRAGMA user_version = 1;",
        "CREATE TABLE problems (key TEXT PRIMARY KEY, lines TEXT NOT NULL, "
        "first_seen TEXT NOT NULL) WITHOUT ROWID;\nPRAGMA user_version = 2;",
    ),
)


def version_2_ledger(path: Path) -> None:
    schema = VERSION_1
    for old, new in VERSION_2_CHANGES:
        assert old in schema
        schema = schema.replace(old, new)
    with closing(sqlite3.connect(path)) as db, db:
        db.executescript(schema)
        insert_v1_row(db, key=KEY, recipient=POLISEN, kind="reminder", state="sent")
        insert_v1_row(db, key="problem/1", recipient="c@x", kind="problem", state="sent")
        db.execute("INSERT INTO problems VALUES ('problem/1', '[\"x\"]', ?)", (STAMP,))


def test_a_version_2_ledger_is_migrated_keeping_every_row_and_takes_any_kind(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ledger.sqlite3"
    version_2_ledger(path)
    with SqliteLedger(path) as ledger:
        assert ledger.schema_version == SCHEMA_VERSION
        assert {(k, e.kind, e.state) for (k, _), e in ledger.snapshot().items()} == {
            (KEY, "reminder", "sent"),
            ("problem/1", "problem", "sent"),
        }
        assert [p.key for p in ledger.problems()] == ["problem/1"]
        # A kind added later needs no migration of its own.
        ledger.record_due([Delivery(replace(ITEM, kind="escalation"), ITEM.recipients[1])], NOW)
        assert ledger.snapshot()[(KEY, SKOLAN)].kind == "escalation"
    with closing(sqlite3.connect(path)) as db:
        indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert {"deliveries_by_state", "deliveries_by_milestone"} <= indexes
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_what_was_recorded_survives_reopening(reopen: Callable[[], SqliteLedger]) -> None:
    with reopen() as ledger:
        recorded(ledger)
        ledger.claim(KEY, POLISEN, MID, NOW, LEASE)
        ledger.mark_sent(KEY, POLISEN, NOW)
    with reopen() as again:
        state = again.snapshot()
    assert state[(KEY, POLISEN)].state == "sent"
    assert state[(KEY, POLISEN)].message_id == MID
    assert state[(KEY, SKOLAN)].state == "due"


# --- Write-ahead and claims ---------------------------------------------------------------


def test_record_due_writes_one_due_row_per_recipient_with_its_milestone(
    ledger: SqliteLedger,
) -> None:
    recorded(ledger)
    recorded(ledger)  # idempotent
    row = ledger.snapshot()[(KEY, POLISEN)]
    assert (row.state, row.kind, row.attempts) == ("due", "reminder", 0)
    assert (row.milestone_key, row.due_date) == ("p/a/1", date(2024, 6, 30))
    assert row.updated_at == NOW
    assert len(ledger.snapshot()) == 2


def test_a_claim_succeeds_once(ledger: SqliteLedger) -> None:
    recorded(ledger)
    claim = ledger.claim(KEY, POLISEN, MID, NOW, LEASE)
    assert claim is not None
    assert (claim.message_id, claim.attempts, claim.reclaimed) == (MID, 1, False)
    assert ledger.claim(KEY, POLISEN, MID, NOW + timedelta(minutes=1), LEASE) is None
    row = ledger.snapshot()[(KEY, POLISEN)]
    assert (row.state, row.claimed_at) == ("sending", NOW)


def test_a_claim_needs_the_row_written_ahead(ledger: SqliteLedger) -> None:
    assert ledger.claim(KEY, POLISEN, MID, NOW, LEASE) is None


def test_a_claim_older_than_the_lease_is_taken_over_with_the_same_message_id(
    ledger: SqliteLedger,
) -> None:
    recorded(ledger)
    ledger.claim(KEY, POLISEN, MID, NOW, LEASE)
    assert (
        ledger.claim(KEY, POLISEN, "<other@x>", NOW + LEASE - timedelta(seconds=1), LEASE) is None
    )
    again = ledger.claim(KEY, POLISEN, "<other@x>", NOW + LEASE, LEASE)
    assert again is not None
    assert (again.message_id, again.attempts, again.reclaimed) == (MID, 2, True)


def test_two_processes_cannot_claim_the_same_delivery(reopen: Callable[[], SqliteLedger]) -> None:
    with reopen() as first, reopen() as second:
        recorded(first)
        claims = [
            first.claim(KEY, POLISEN, MID, NOW, LEASE),
            second.claim(KEY, POLISEN, MID, NOW, LEASE),
        ]
    assert [c is not None for c in claims] == [True, False]


def test_sent_is_final(ledger: SqliteLedger) -> None:
    recorded(ledger)
    ledger.claim(KEY, POLISEN, MID, NOW, LEASE)
    assert ledger.mark_sent(KEY, POLISEN, NOW + timedelta(seconds=2))
    assert ledger.claim(KEY, POLISEN, MID, NOW + timedelta(days=1), LEASE) is None
    assert not ledger.mark_sent(KEY, POLISEN, NOW)  # only a claimed row can be marked
    assert ledger.snapshot()[(KEY, POLISEN)].state == "sent"


def test_a_temporary_failure_is_claimable_again_from_its_retry_time(ledger: SqliteLedger) -> None:
    recorded(ledger)
    ledger.claim(KEY, POLISEN, MID, NOW, LEASE)
    retry = NOW + timedelta(minutes=1)
    assert ledger.mark_failed(
        KEY, POLISEN, NOW, permanent=False, error="451 try later", next_attempt_at=retry
    )
    row = ledger.snapshot()[(KEY, POLISEN)]
    assert (row.state, row.permanent, row.last_error, row.next_attempt_at) == (
        "failed",
        False,
        "451 try later",
        retry,
    )
    assert ledger.claim(KEY, POLISEN, MID, retry - timedelta(seconds=1), LEASE) is None
    claim = ledger.claim(KEY, POLISEN, MID, retry, LEASE)
    assert claim is not None and claim.attempts == 2 and not claim.reclaimed


def test_a_permanent_failure_is_never_claimed_again(ledger: SqliteLedger) -> None:
    recorded(ledger)
    ledger.claim(KEY, POLISEN, MID, NOW, LEASE)
    ledger.mark_failed(
        KEY, POLISEN, NOW, permanent=True, error="550 no such user", next_attempt_at=NOW
    )
    assert ledger.claim(KEY, POLISEN, MID, NOW + timedelta(days=30), LEASE) is None
    row = ledger.snapshot()[(KEY, POLISEN)]
    assert (row.permanent, row.next_attempt_at) == (True, None)


def test_failures_lists_recent_failures(ledger: SqliteLedger) -> None:
    recorded(ledger)
    ledger.claim(KEY, POLISEN, MID, NOW, LEASE)
    ledger.mark_failed(KEY, POLISEN, NOW, permanent=True, error="550", next_attempt_at=None)
    assert [(f.recipient, f.last_error) for f in ledger.failures(NOW - timedelta(days=7))] == [
        (POLISEN, "550")
    ]
    assert ledger.failures(NOW + timedelta(seconds=1)) == []


# --- Skips --------------------------------------------------------------------------------


def test_skipping_records_open_rows_and_leaves_settled_ones(ledger: SqliteLedger) -> None:
    recorded(ledger)
    ledger.claim(KEY, POLISEN, MID, NOW, LEASE)
    ledger.mark_sent(KEY, POLISEN, NOW)
    changed = ledger.mark_skipped([Skip(ITEM, r, "superseded") for r in ITEM.recipients], NOW)
    assert changed == 1
    state = ledger.snapshot()
    assert state[(KEY, POLISEN)].state == "sent"
    assert (state[(KEY, SKOLAN)].state, state[(KEY, SKOLAN)].note) == ("skipped", "superseded")


def test_skipping_a_message_never_recorded_writes_its_row(ledger: SqliteLedger) -> None:
    assert ledger.mark_skipped([Skip(ITEM, ITEM.recipients[0], "expired")], NOW) == 1
    row = ledger.snapshot()[(KEY, POLISEN)]
    assert (row.state, row.kind, row.milestone_key) == ("skipped", "reminder", "p/a/1")


def test_a_delivery_in_flight_is_not_skipped(ledger: SqliteLedger) -> None:
    recorded(ledger)
    ledger.claim(KEY, POLISEN, MID, NOW, LEASE)
    assert ledger.mark_skipped([Skip(ITEM, ITEM.recipients[0], "superseded")], NOW) == 0
    assert ledger.snapshot()[(KEY, POLISEN)].state == "sending"


# --- Due dates ----------------------------------------------------------------------------


def test_due_dates_seen_first_are_not_changes_and_moves_are(ledger: SqliteLedger) -> None:
    first = {"p/a/1": date(2024, 6, 30), "p/b/1": date(2024, 9, 30)}
    assert ledger.record_due_dates(first, NOW) == []
    assert ledger.known_due_dates()["p/a/1"] == KnownDue(date(2024, 6, 30))
    later = NOW + timedelta(days=1)
    moved = {"p/a/1": date(2024, 8, 31), "p/b/1": date(2024, 9, 30)}
    assert ledger.record_due_dates(moved, later) == [
        DueChange("p/a/1", date(2024, 6, 30), date(2024, 8, 31))
    ]
    assert ledger.record_due_dates(moved, later + timedelta(hours=1)) == []
    known = ledger.known_due_dates()
    assert known["p/a/1"] == KnownDue(date(2024, 8, 31), date(2024, 6, 30), later)
    assert known["p/b/1"] == KnownDue(date(2024, 9, 30))


def test_a_removed_milestone_keeps_its_due_date(ledger: SqliteLedger) -> None:
    ledger.record_due_dates({"p/a/1": date(2024, 6, 30)}, NOW)
    ledger.record_due_dates({}, NOW)
    assert ledger.record_due_dates({"p/a/1": date(2024, 7, 31)}, NOW) == [
        DueChange("p/a/1", date(2024, 6, 30), date(2024, 7, 31))
    ]


# --- Refused edits ------------------------------------------------------------------------


def test_a_refused_edit_is_kept_once_with_its_problems_and_first_sighting(
    ledger: SqliteLedger,
) -> None:
    lines = ["plan/gotland-2024.toml:3: not valid TOML", "templates/due.txt:4: unknown tag"]
    assert ledger.record_problem("problem/1", lines, NOW)
    assert not ledger.record_problem("problem/1", lines, NOW + timedelta(hours=1))
    assert ledger.record_problem("problem/2", ["Å, ä och ö: fel"], NOW + timedelta(hours=2))
    assert ledger.problems() == [
        RecordedProblem("problem/1", tuple(lines), NOW),
        RecordedProblem("problem/2", ("Å, ä och ö: fel",), NOW + timedelta(hours=2)),
    ]


def test_problem_notices_sent_before_the_ledger_kept_them_are_recorded_as_sent(
    ledger: SqliteLedger,
) -> None:
    assert ledger.record_told_problems(["problem/old"], "c@x", NOW) == 1
    assert ledger.record_told_problems(["problem/old"], "c@x", NOW) == 0
    row = ledger.snapshot()[("problem/old", "c@x")]
    assert (row.kind, row.state, row.note) == ("problem", "sent", SENT_BEFORE_LEDGER)
    assert ledger.problems() == [RecordedProblem("problem/old", (), NOW)]
    assert ledger.claim("problem/old", "c@x", MID, NOW + timedelta(days=1), LEASE) is None


def test_the_ledger_refuses_naive_datetimes(ledger: SqliteLedger) -> None:
    with pytest.raises(ValueError, match="aware"):
        ledger.record_due([TO_POLISEN], datetime.combine(date(2024, 1, 1), time(8)))
