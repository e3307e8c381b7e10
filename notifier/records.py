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


# --- What the coordinator and the organisations say about a milestone -----------------------

MilestoneState = Literal["open", "done", "needs-new-date", "reopened"]
How = Literal["link", "cli"]
MILESTONE_STATES: tuple[MilestoneState, ...] = ("open", "done", "needs-new-date", "reopened")
HOWS: tuple[How, ...] = ("link", "cli")
# Who said it when no organisation did.
COORDINATOR = "the coordinator"


@dataclass(frozen=True)
class DueMove:
    """The coordinator accepted a new due date: ``due`` instead of the plan's ``replaces``.

    It holds while the plan still says ``replaces``: an edit of the plan's date is newer word
    from the coordinator and wins.
    """

    replaces: date
    due: date


@dataclass(frozen=True)
class StatusEntry:
    """One line of a milestone's history: what was said about it, by whom, when and how.

    ``milestone_key`` is ``PlannedMilestone.key``: a moved due date keeps the history, a new
    label starts a new one. ``organisation`` is ``COORDINATOR`` when no organisation spoke.
    ``proposed_due``: the date asked for, with ``needs-new-date`` only. ``moved``: on the
    coordinator's acceptance of a new date, that move; on a milestone's current entry (see
    ``SqliteLedger.statuses``), the latest move of its history, whichever entry made it.
    ``seq`` orders entries (0 for one not recorded yet).
    """

    milestone_key: str
    state: MilestoneState
    organisation: str
    at: datetime
    how: How
    address: str | None = None
    comment: str | None = None
    proposed_due: date | None = None
    moved: DueMove | None = None
    seq: int = 0

    @property
    def closed(self) -> bool:
        """Done: nothing more is to be sent about it."""
        return self.state == "done"

    @property
    def who(self) -> str:
        if self.organisation == COORDINATOR or not self.address:
            return self.organisation
        return f"{self.organisation} <{self.address}>"


# The current status per milestone key: the latest entry; a key that is missing is open.
Statuses = Mapping[str, StatusEntry]


def is_done(statuses: Statuses, milestone_key: str) -> bool:
    entry = statuses.get(milestone_key)
    return entry is not None and entry.closed
