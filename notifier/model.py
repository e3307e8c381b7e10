"""Frozen value objects shared by the pure core.

Flow: plan file -> Plan/Action -> (when) Milestone -> (catalog) PlannedMilestone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path


@dataclass(frozen=True)
class Milestone:
    """One dated point read from a "När?" text (or given explicitly in the plan).

    ``start`` is None for a pure deadline ("senast juni 2024"), which has no first day.
    ``due`` is the window's last day, or its first day for start words ("Klart för start").
    """

    label: str | None
    start: date | None
    end: date
    due: date
    tentative: bool = False
    text: str = ""


@dataclass(frozen=True)
class Reading:
    """How one "När?" text was read: milestones, or the reason it could not be."""

    text: str
    milestones: tuple[Milestone, ...] = ()
    reason: str | None = None

    @property
    def readable(self) -> bool:
        return self.reason is None


@dataclass(frozen=True)
class Location:
    """Where something stands in a user-edited file, for error messages."""

    file: Path
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else str(self.file)


@dataclass(frozen=True)
class Action:
    """One row of the plan: cause, goal, action, who and when, as written."""

    id: str
    area: str
    problem_area: str
    problem: str
    cause: str
    goal: str
    measure: str
    who: str
    when: str
    explicit_milestones: tuple[Milestone, ...] | None = None
    location: Location | None = None
    when_location: Location | None = None


@dataclass(frozen=True)
class Plan:
    """One plan file: its title, date, year, time zone and actions."""

    id: str
    title: str
    date: date
    year: int
    timezone: str
    actions: tuple[Action, ...]
    intro: str = ""
    lead_times: tuple[str, ...] | None = None
    source: Path | None = None


@dataclass(frozen=True)
class Organisation:
    """An organisation of the directory; ``listed`` is false for a name the directory lacks.

    An unlisted name stays on its milestones so that the coordinator receives its reminders
    (and the calendar still says who answers for the action) until it is added.
    """

    name: str
    slug: str
    aliases: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    listed: bool = True


@dataclass(frozen=True)
class Problem:
    """Something the coordinator must fix; ``where`` names the action or key."""

    location: Location
    where: str
    message: str
    hint: str = ""
    kind: str = "plan"

    def __str__(self) -> str:
        text = f"{self.location}: {self.where}: {self.message}"
        return f"{text}. {self.hint}" if self.hint else text


@dataclass(frozen=True)
class PlannedMilestone:
    """A milestone in context: which plan and action, who answers for it."""

    plan: Plan
    action: Action
    slot: str
    milestone: Milestone
    organisations: tuple[Organisation, ...] = field(default=())

    @cached_property
    def key(self) -> str:
        """Stable identity: survives edits of text and reordering of the plan.

        ``slot`` names the milestone within its action (see ``catalog.milestone_slots``).
        """
        return f"{self.plan.id}/{self.action.id}/{self.slot}"


@dataclass(frozen=True)
class Recipient:
    """One address a message goes to.

    ``via_coordinator`` marks the coordinator standing in for an organisation without an
    address; ``organisation`` then names that organisation (or several, joined by ", ").
    """

    address: str
    organisation: str
    via_coordinator: bool = False
