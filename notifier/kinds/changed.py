"""Change notices: the organisations hear that a plan edit moved a due date. Pure.

The send step records every milestone's due date in the ledger; a notice follows for each
milestone whose latest recorded change matches the plan as it is. It goes out at the first
send time on a working day after the change was seen, and not at all once the new due date
has come. A later change of the same milestone replaces one not yet sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from notifier.catalog import milestones_by_key
from notifier.due import Outgoing
from notifier.kinds.base import (
    Context,
    Kind,
    MessageComposer,
    Sources,
    Span,
    about,
    by_time,
    milestone_summary,
)
from notifier.kinds.reminder import FELL_DUE
from notifier.kinds.samples import samples
from notifier.kinds.views import milestone_context
from notifier.model import PlannedMilestone, Recipient
from notifier.records import KnownDue
from notifier.schedule import next_send_slot, recipients_for, start_of_day
from notifier.settings import Settings
from notifier.swedish import swedish_date, swedish_weekday

if TYPE_CHECKING:
    from notifier.catalog import Catalog

NAME = "changed"

# A change notice's payload is the due date the milestone had before.
ChangeNotice = Outgoing[date]


def changed_key(planned: PlannedMilestone, old_due: date) -> str:
    return f"changed/{planned.key}/{old_due.isoformat()}/{planned.milestone.due.isoformat()}"


def change_notices(
    catalog: Catalog, settings: Settings, known: Mapping[str, KnownDue]
) -> list[ChangeNotice]:
    notices: list[ChangeNotice] = []
    # From the few dates that moved, not from every milestone of a large plan.
    moved = [
        (planned, record)
        for key, record in known.items()
        if record.previous_due is not None and record.changed_at is not None
        for planned in milestones_by_key(catalog).get(key, ())
    ]
    for planned, record in moved:
        if record.previous_due is None or record.changed_at is None:
            continue
        if record.due != planned.milestone.due:
            continue
        notices.append(
            Outgoing(
                key=changed_key(planned, record.previous_due),
                kind=NAME,
                group=f"changed/{planned.key}",
                send_at=next_send_slot(record.changed_at, settings),
                expires_at=start_of_day(planned.milestone.due, settings),
                recipients=recipients_for(planned, settings),
                payload=record.previous_due,
                about=planned,
                too_late=FELL_DUE,
            )
        )
    return by_time(notices)


def _changed_context(
    planned: PlannedMilestone,
    old_due: date,
    recipient: Recipient,
    now: datetime,
    settings: Settings,
) -> Context:
    context = milestone_context(planned, recipient, now, settings)
    context["old_due"] = swedish_date(old_due)
    context["old_due_weekday"] = swedish_weekday(old_due)
    context["later"] = planned.milestone.due > old_due
    return context


def compose_change_notice(
    composer: MessageComposer,
    planned: PlannedMilestone,
    old_due: date,
    recipient: Recipient,
    now: datetime,
    settings: Settings,
) -> EmailMessage:
    return composer.message(
        NAME,
        _changed_context(planned, old_due, recipient, now, settings),
        recipient,
        key=changed_key(planned, old_due),
        now=now,
        settings=settings,
        calendar=planned,
    )


class ChangeNoticeKind(Kind[date]):
    name = NAME
    label = "change"
    nouns = ("change notice", "change notices")
    reads_due_dates = True

    def messages(self, sources: Sources, span: Span) -> list[ChangeNotice]:
        return change_notices(sources.catalog, sources.settings, sources.known)

    def compose(
        self,
        item: ChangeNotice,
        recipient: Recipient,
        now: datetime,
        sources: Sources,
        composer: MessageComposer,
    ) -> EmailMessage:
        planned = about(item)
        return compose_change_notice(
            composer, planned, item.payload, recipient, now, sources.settings
        )

    def sample_contexts(self, settings: Settings) -> Sequence[Context]:
        # The full sample moved later, the other earlier: both wordings are checked.
        return [
            _changed_context(
                s.planned,
                s.planned.milestone.due - timedelta(days=14 if s.full else -14),
                s.recipient,
                s.now,
                settings,
            )
            for s in samples()
        ]

    def summary(self, item: ChangeNotice, sources: Sources) -> str:
        planned = about(item)
        return milestone_summary(planned, f"moved from {item.payload} to {planned.milestone.due}")

    def details(self, item: ChangeNotice, sources: Sources) -> dict[str, Any]:
        return {"old_due": item.payload.isoformat()}


CHANGE_NOTICE = ChangeNoticeKind()
