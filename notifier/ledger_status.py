"""The ledger's milestone status: the SQL behind ``SqliteLedger``'s status methods.

Append-only: each entry is a row of ``milestone_status`` and is never changed, so the history
of a milestone is what the follow-up report shows. Here only to keep ``ledger.py`` about
deliveries; callers go through ``SqliteLedger``, which holds the connection and its lock.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import cast

from notifier.records import HOWS, MILESTONE_STATES, DueMove, How, MilestoneState, StatusEntry

_STAMP = "%Y-%m-%dT%H:%M:%S.%fZ"


def _ts(moment: datetime) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("the ledger stores aware datetimes only")
    return moment.astimezone(UTC).strftime(_STAMP)


def check(entry: StatusEntry) -> None:
    """Refuse an entry the table's CHECKs would refuse, with words that say what is wrong."""
    if entry.state not in MILESTONE_STATES:
        raise ValueError(f"state '{entry.state}': choose from {', '.join(MILESTONE_STATES)}")
    if entry.how not in HOWS:
        raise ValueError(f"how '{entry.how}': choose from {', '.join(HOWS)}")
    if entry.proposed_due is not None and entry.state != "needs-new-date":
        raise ValueError("a proposed date goes with the state 'needs-new-date' only")
    if entry.moved is not None and entry.moved.due == entry.moved.replaces:
        raise ValueError("a new due date differs from the one it replaces")
    if not entry.milestone_key or not entry.organisation:
        raise ValueError("a status entry names its milestone and who gave it")


def insert(db: sqlite3.Connection, entry: StatusEntry) -> int:
    """Append ``entry``; returns its seq."""
    check(entry)
    cursor = db.execute(
        "INSERT INTO milestone_status (milestone_key, state, organisation, address, at, how, "
        "comment, proposed_due, moved_from, moved_to) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            entry.milestone_key,
            entry.state,
            entry.organisation,
            entry.address,
            _ts(entry.at),
            entry.how,
            entry.comment,
            entry.proposed_due.isoformat() if entry.proposed_due else None,
            entry.moved.replaces.isoformat() if entry.moved else None,
            entry.moved.due.isoformat() if entry.moved else None,
        ),
    )
    return int(cursor.lastrowid or 0)


def history(db: sqlite3.Connection, milestone_key: str) -> list[StatusEntry]:
    rows = db.execute(
        "SELECT * FROM milestone_status WHERE milestone_key = ? ORDER BY seq", (milestone_key,)
    ).fetchall()
    return [_entry(row) for row in rows]


def every(db: sqlite3.Connection) -> list[StatusEntry]:
    rows = db.execute("SELECT * FROM milestone_status ORDER BY seq").fetchall()
    return [_entry(row) for row in rows]


def current(db: sqlite3.Connection, with_moves: bool = True) -> dict[str, StatusEntry]:
    """The latest entry of every milestone that has one, carrying the latest due-date move of
    its history (a milestone done after its date moved is done at the moved date)."""
    rows = db.execute(
        "SELECT * FROM milestone_status WHERE seq IN "
        "(SELECT MAX(seq) FROM milestone_status GROUP BY milestone_key)"
    ).fetchall()
    # A version 4 ledger opened read-only has no moves (nor their columns).
    moves = (
        db.execute(
            "SELECT * FROM milestone_status WHERE seq IN (SELECT MAX(seq) FROM milestone_status "
            "WHERE moved_to IS NOT NULL GROUP BY milestone_key)"
        ).fetchall()
        if with_moves
        else []
    )
    moved = {row["milestone_key"]: _move(row) for row in moves}
    return {
        row["milestone_key"]: replace(_entry(row), moved=moved.get(row["milestone_key"]))
        for row in rows
    }


def latest_seq(db: sqlite3.Connection) -> int:
    """The newest entry's seq, 0 for none: a cheap way to see that something was said."""
    return int(db.execute("SELECT COALESCE(MAX(seq), 0) FROM milestone_status").fetchone()[0])


def _move(row: sqlite3.Row) -> DueMove | None:
    if "moved_to" not in row.keys() or row["moved_to"] is None:  # noqa: SIM118  # a Row iterates values
        return None
    return DueMove(date.fromisoformat(row["moved_from"]), date.fromisoformat(row["moved_to"]))


def _entry(row: sqlite3.Row) -> StatusEntry:
    proposed = row["proposed_due"]
    return StatusEntry(
        milestone_key=row["milestone_key"],
        state=cast(MilestoneState, row["state"]),
        organisation=row["organisation"],
        at=datetime.strptime(row["at"], _STAMP).replace(tzinfo=UTC),
        how=cast(How, row["how"]),
        address=row["address"],
        comment=row["comment"],
        proposed_due=date.fromisoformat(proposed) if proposed else None,
        moved=_move(row),
        seq=row["seq"],
    )
