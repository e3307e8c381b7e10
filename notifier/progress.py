"""Where each milestone stands, from what the ledger recorded about it. Pure.

The coordinator's commands, the digest and the feeds all ask the same questions: is this
milestone done, overdue, waiting for a new date, and how do the plan's milestones add up.
The answers live here once, and so do the Swedish words for them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from notifier.model import PlannedMilestone
from notifier.records import COORDINATOR, MilestoneState, StatusEntry, Statuses
from notifier.swedish import swedish_date

# The states someone still has to act on, once the due date has passed.
UNFINISHED: tuple[MilestoneState, ...] = ("open", "reopened", "needs-new-date")
# How the digest counts them, one and several, in this order; reopened counts as open.
_COUNTED = (("done", "klar", "klara"), ("open", "öppen", "öppna"))
_NEW_DATE = "behöver ny tid"
STATE_SWEDISH: Mapping[str, str] = {
    "open": "öppen",
    "done": "klar",
    "needs-new-date": "behöver ny tid",
    "reopened": "återöppnad",
}


def state_of(statuses: Statuses, milestone_key: str) -> MilestoneState:
    """The current state; a milestone nothing was said about is open."""
    entry = statuses.get(milestone_key)
    return entry.state if entry is not None else "open"


def plan_today(planned: PlannedMilestone, now: datetime) -> date:
    """Today where the milestone's plan is kept: its due dates are that zone's days."""
    return now.astimezone(ZoneInfo(planned.plan.timezone)).date()


def is_overdue(planned: PlannedMilestone, statuses: Statuses, now: datetime) -> bool:
    """Past its due date (in its plan's time zone) and not done."""
    late = planned.milestone.due < plan_today(planned, now)
    return late and state_of(statuses, planned.key) in UNFINISHED


def who_swedish(entry: StatusEntry) -> str:
    """Who said it, as a message to Swedish readers names them."""
    return "samordnaren" if entry.organisation == COORDINATOR else entry.organisation


def done_line(entry: StatusEntry, day: date) -> str:
    """'Klart 3 juni 2024, Polisen'; ``day``: the entry's date in the plan's time zone."""
    return f"Klart {swedish_date(day)}, {who_swedish(entry)}"


@dataclass(frozen=True)
class Tally:
    """How many of a plan's milestones stand where."""

    done: int = 0
    open: int = 0
    new_date: int = 0

    @property
    def total(self) -> int:
        return self.done + self.open + self.new_date

    @property
    def text(self) -> str:
        """'3 klara, 5 öppna, 1 behöver ny tid'."""
        parts = []
        for count, (_, one, several) in zip((self.done, self.open), _COUNTED, strict=True):
            parts.append(f"{count} {one if count == 1 else several}")
        parts.append(f"{self.new_date} {_NEW_DATE}")
        return ", ".join(parts)


def tally(milestones: Iterable[PlannedMilestone], statuses: Statuses) -> Tally:
    counts = Counter(state_of(statuses, m.key) for m in milestones)
    return Tally(
        done=counts["done"],
        open=counts["open"] + counts["reopened"],
        new_date=counts["needs-new-date"],
    )
