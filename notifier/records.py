"""What the ledger keeps, as the pure core reads it. Pure: plain values, no sqlite3.

``ledger`` writes and reads these; ``due`` and the kinds of message decide from them. Keeping
them here lets the core read the ledger's records without importing the ledger.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

State = Literal["due", "sending", "sent", "failed", "skipped"]


@dataclass(frozen=True)
class LedgerEntry:
    """What the ledger knows about one message to one recipient."""

    key: str
    recipient: str
    kind: str
    state: State
    attempts: int = 0
    permanent: bool = False
    last_error: str | None = None
    message_id: str | None = None
    next_attempt_at: datetime | None = None
    claimed_at: datetime | None = None
    updated_at: datetime | None = None
    milestone_key: str | None = None
    due_date: date | None = None
    note: str | None = None


Snapshot = Mapping[tuple[str, str], LedgerEntry]


@dataclass(frozen=True)
class KnownDue:
    """The due date last seen for a milestone key, and the one before it if it moved."""

    due: date
    previous_due: date | None = None
    changed_at: datetime | None = None


@dataclass(frozen=True)
class RecordedProblem:
    """A refused edit as the ledger keeps it: what was wrong, and when it was first seen."""

    key: str
    lines: tuple[str, ...]
    first_seen: datetime
