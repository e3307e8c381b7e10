"""What every kind of message provides, and what it is given. Pure.

A kind is one module of this package: it knows which of its messages the plan, the settings
and the ledger's records imply at a moment, how they are keyed and grouped for the catch-up
rule, what its templates see, and sample data to check those templates with. The sender, the
composer, the ledger and the commands know kinds only through this interface, so a new kind
is one module here, its three templates and its tests.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

from notifier.due import Outgoing
from notifier.model import PlannedMilestone, Recipient
from notifier.records import (
    KnownDue,
    RecordedProblem,
    Snapshot,
    StatusEntry,
    Statuses,
    is_done,
)
from notifier.settings import Settings

if TYPE_CHECKING:
    from notifier.catalog import Catalog

P = TypeVar("P")
# Why a message about a milestone its organisations have finished is not sent.
MILESTONE_DONE = "milestone done"
# Every kind is a triple of templates: <name>.subject.txt, <name>.txt and <name>.html.
PARTS = ("subject.txt", "txt", "html")
Context = dict[str, Any]


@dataclass(frozen=True)
class Sources:
    """Everything a kind may read at one moment (``now``): the plans, the settings and what
    the ledger has recorded. Gathered once per send step, so that a step decides on one
    consistent view."""

    catalog: Catalog
    settings: Settings
    now: datetime
    known: Mapping[str, KnownDue] = field(default_factory=dict)
    problems: Sequence[RecordedProblem] = ()
    snapshot: Snapshot = field(default_factory=dict)
    # The current status of each milestone anything was said about; the rest are open.
    statuses: Statuses = field(default_factory=dict)
    # Every status entry, oldest first: what changed since the last digest.
    status_history: Sequence[StatusEntry] = ()


@dataclass(frozen=True)
class Span:
    """The moments [start, end) a kind whose messages repeat for ever lists them in."""

    start: datetime
    end: datetime


class MessageComposer(Protocol):
    """Renders a kind's templates with a context into a finished message (``compose``)."""

    def message(
        self,
        kind: str,
        context: Mapping[str, Any],
        recipient: Recipient,
        *,
        key: str,
        now: datetime,
        settings: Settings,
        calendar: PlannedMilestone | None = None,
    ) -> EmailMessage: ...


class Kind(ABC, Generic[P]):
    """One kind of message; ``P`` is the payload its messages are composed from."""

    # The ledger's ``kind`` and the templates' name.
    name: ClassVar[str]
    # How ``notifier schedule`` calls it: in its column, and counted (one, several).
    label: ClassVar[str]
    nouns: ClassVar[tuple[str, str]]
    # Its messages go on for ever, so it lists only those within the span it is given;
    # every other kind lists all of its messages whatever the span.
    repeats: ClassVar[bool] = False
    # It reads the due dates the ledger has seen move, so the plan's must be recorded first.
    reads_due_dates: ClassVar[bool] = False
    # Its messages follow from the plan and the settings alone: not from the moment, the span
    # or the ledger. The daemon then lists them once per plan, not at every wake-up.
    plan_only: ClassVar[bool] = False

    @property
    def template_names(self) -> tuple[str, ...]:
        return tuple(f"{self.name}.{part}" for part in PARTS)

    @abstractmethod
    def messages(self, sources: Sources, span: Span) -> list[Outgoing[P]]:
        """Every message of this kind the sources imply, by send time then key."""

    def silenced(self, item: Outgoing[P], sources: Sources) -> str | None:
        """Why a message that is due should not go out after all (None: it should)."""
        return None

    def withheld(self, item: Outgoing[P], sources: Sources) -> str | None:
        """Why a message, due or still ahead, will not go out as things stand (None: it will),
        for ``notifier schedule``: only what ``silenced`` says whatever the moment."""
        return None

    @abstractmethod
    def compose(
        self,
        item: Outgoing[P],
        recipient: Recipient,
        now: datetime,
        sources: Sources,
        composer: MessageComposer,
    ) -> EmailMessage:
        """``item`` to ``recipient`` as a finished message; ``now`` is local."""

    @abstractmethod
    def sample_contexts(self, settings: Settings) -> Sequence[Context]:
        """Contexts that together take every branch its templates are likely to have."""

    def headline(self, item: Outgoing[P]) -> str:
        """What the message is, in one column of ``notifier schedule``."""
        return f"{self.label:<11}  {item.about.key if item.about else item.key}"

    def summary(self, item: Outgoing[P], sources: Sources) -> str:
        """One line on what the message is about."""
        if item.about is None:
            return item.key
        return milestone_summary(item.about, f"due {item.about.milestone.due}")

    def details(self, item: Outgoing[P], sources: Sources) -> dict[str, Any]:
        """What ``notifier schedule --json`` shows of this kind beyond every message's fields."""
        return {}


def milestone_summary(planned: PlannedMilestone, when: str) -> str:
    """'Klart due 2024-06-30, tentative: <the action's text>'."""
    milestone = planned.milestone
    label = f"{milestone.label} " if milestone.label else ""
    tentative = ", tentative" if milestone.tentative else ""
    return f"{label}{when}{tentative}: {planned.action.measure}"


def done_reason(item: Outgoing[Any], sources: Sources) -> str | None:
    """MILESTONE_DONE when the milestone ``item`` is about is done, else None."""
    if item.about is not None and is_done(sources.statuses, item.about.key):
        return MILESTONE_DONE
    return None


def about(item: Outgoing[Any]) -> PlannedMilestone:
    """The milestone a message of a milestone's kind is about."""
    if item.about is None:
        raise ValueError(f"{item.key} is about no milestone")
    return item.about


def by_time(items: list[Outgoing[P]]) -> list[Outgoing[P]]:
    return sorted(items, key=lambda item: (item.send_at, item.key))
