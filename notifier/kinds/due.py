"""Due notices: the coordinator hears that a milestone fell due. Pure.

One notice per milestone, on the first working day after its due date at send time. "The day
after" is read as the next working day: the coordinator reads it at work, and every message
then leaves on a working day at the same hour as the reminders. Each notice is news of its
own; one that could not go out for a week is stale.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from typing import TYPE_CHECKING

from notifier.due import Outgoing
from notifier.kinds.base import (
    Context,
    Kind,
    MessageComposer,
    Sources,
    Span,
    about,
    by_time,
    done_reason,
)
from notifier.kinds.views import milestone_context, sample_milestone_contexts, with_status_link
from notifier.model import PlannedMilestone, Recipient
from notifier.schedule import DAY, STALE_AFTER, coordinator, send_time
from notifier.settings import Settings
from notifier.workdays import next_working_day

if TYPE_CHECKING:
    from notifier.catalog import Catalog

NAME = "due"

DueNotice = Outgoing[None]


def due_key(planned: PlannedMilestone) -> str:
    return f"due/{planned.key}/{planned.milestone.due.isoformat()}"


def due_notices(catalog: Catalog, settings: Settings) -> list[DueNotice]:
    notices: list[DueNotice] = []
    for planned in catalog.milestones:
        send_at = send_time(next_working_day(planned.milestone.due + DAY), settings)
        key = due_key(planned)
        notices.append(
            Outgoing(
                key=key,
                kind=NAME,
                group=key,
                send_at=send_at,
                expires_at=send_at + STALE_AFTER,
                recipients=(coordinator(settings),),
                payload=None,
                about=planned,
            )
        )
    return by_time(notices)


def compose_due_notice(
    composer: MessageComposer,
    planned: PlannedMilestone,
    recipient: Recipient,
    now: datetime,
    settings: Settings,
) -> EmailMessage:
    context = with_status_link(
        milestone_context(planned, recipient, now, settings), planned, recipient, settings
    )
    return composer.message(
        NAME, context, recipient, key=due_key(planned), now=now, settings=settings
    )


class DueNoticeKind(Kind[None]):
    name = NAME
    label = "due notice"
    nouns = ("due notice", "due notices")
    plan_only = True

    def messages(self, sources: Sources, span: Span) -> list[DueNotice]:
        return due_notices(sources.catalog, sources.settings)

    def silenced(self, item: DueNotice, sources: Sources) -> str | None:
        # Level-triggered: a milestone reopened before this moment gets it after all.
        return done_reason(item, sources)

    def withheld(self, item: DueNotice, sources: Sources) -> str | None:
        return done_reason(item, sources)

    def compose(
        self,
        item: DueNotice,
        recipient: Recipient,
        now: datetime,
        sources: Sources,
        composer: MessageComposer,
    ) -> EmailMessage:
        return compose_due_notice(composer, about(item), recipient, now, sources.settings)

    def sample_contexts(self, settings: Settings) -> Sequence[Context]:
        return sample_milestone_contexts(settings)


DUE_NOTICE = DueNoticeKind()
