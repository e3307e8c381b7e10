"""Reminders: to the organisations before each due date, one per lead time. Pure.

Leads default to 30, 7 and 1 days (``reminders.leads``; a plan may set its own). A whole-day
lead goes out at send time on a working day, moved to the previous working day (never later,
so the reminder still comes before the due date). Leads that are not whole days (minutes,
hours: for trying things out) are exact durations before the start of the due date, without
the working-day rule. The reminders of one milestone replace each other: after downtime only
the latest missed one is sent, and none once the milestone is due.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from notifier.checks import parse_duration
from notifier.due import Outgoing
from notifier.errors import UserError
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
from notifier.model import Plan, PlannedMilestone, Recipient
from notifier.schedule import DAY, recipients_for, send_time, start_of_day, zone
from notifier.settings import Settings
from notifier.workdays import previous_working_day

if TYPE_CHECKING:
    from notifier.catalog import Catalog

NAME = "reminder"
FELL_DUE = "the milestone fell due"

# A reminder's payload is its lead: how long before the due date it goes out.
Reminder = Outgoing[timedelta]


@lru_cache(maxsize=256)
def lead_label(lead: timedelta) -> str:
    """'30d', '12h', '15m' or '45s': the largest unit that divides the lead."""
    seconds = int(lead.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def is_whole_days(lead: timedelta) -> bool:
    return lead % DAY == timedelta(0)


def leads_for(plan: Plan, settings: Settings) -> tuple[timedelta, ...]:
    """The plan's own lead times if it sets any, else the configured ones."""
    if plan.lead_times is None:
        return settings.reminders.lead_deltas
    leads = []
    for text in plan.lead_times:
        try:
            leads.append(parse_duration(text))
        except ValueError as error:
            where = plan.source or f"plan '{plan.id}'"
            raise UserError([f"{where}: leads: {error}"]) from None
    return tuple(leads)


def reminder_key(planned: PlannedMilestone, lead: timedelta) -> str:
    """E.g. 'gotland-2024/sig/1@2024-11-01-7d': a moved due date makes new reminders."""
    return f"{planned.key}@{planned.milestone.due.isoformat()}-{lead_label(lead)}"


def reminder_time(due: date, lead: timedelta, settings: Settings) -> datetime:
    if is_whole_days(lead):
        day = previous_working_day(due - lead)
        return send_time(day, settings)
    # Exact elapsed time, computed in UTC so a DST change in between does not shift it.
    start = start_of_day(due, settings).astimezone(UTC)
    return (start - lead).astimezone(zone(settings))


def _reminder(
    key: str,
    planned: PlannedMilestone,
    lead: timedelta,
    send_at: datetime,
    expires_at: datetime | None,
    recipients: tuple[Recipient, ...],
) -> Reminder:
    return Outgoing(
        key=key,
        kind=NAME,
        group=f"reminder/{planned.key}",
        send_at=send_at,
        expires_at=expires_at,
        recipients=recipients,
        payload=lead,
        about=planned,
        title=f"the {lead_label(lead)} reminder",
        too_late=FELL_DUE,
    )


def reminders(catalog: Catalog, settings: Settings) -> list[Reminder]:
    """Every reminder of every milestone, ordered by send time then key.

    Leads of zero or less are ignored: such a reminder would go out when the milestone is
    already due. When two leads of one milestone land on the same moment (the working-day
    move can do that), only the shorter lead is kept, so nobody gets two reminders at once.
    A reminder is worth sending until its milestone is due.
    """
    result: list[Reminder] = []
    # A large plan has thousands of milestones but few plans and few distinct due dates.
    leads_of: dict[int, list[timedelta]] = {}
    times: dict[tuple[date, timedelta], datetime] = {}
    for planned in catalog.milestones:
        recipients = recipients_for(planned, settings)
        due = planned.milestone.due
        due_at = start_of_day(due, settings)
        leads = leads_of.get(id(planned.plan))
        if leads is None:
            leads = sorted(set(leads_for(planned.plan, settings)), reverse=True)
            leads = leads_of[id(planned.plan)] = [lead for lead in leads if lead > timedelta(0)]
        by_send_time: dict[datetime, Reminder] = {}
        for lead in leads:
            send_at = times.get((due, lead))
            if send_at is None:
                send_at = times[(due, lead)] = reminder_time(due, lead, settings)
            key = reminder_key(planned, lead)
            by_send_time[send_at] = _reminder(key, planned, lead, send_at, due_at, recipients)
        result.extend(by_send_time.values())
    return by_time(result)


def sample_reminder(
    planned: PlannedMilestone, address: str, now: datetime, lead: timedelta | None = None
) -> Reminder:
    """One reminder of ``planned`` to ``address`` outside the schedule (``send-test``), with a
    key of its own for each call time, so each test message has a Message-ID of its own."""
    organisation = planned.organisations[0].name if planned.organisations else "Exempel"
    recipient = Recipient(address, organisation)
    days = lead or max(planned.milestone.due - now.date(), timedelta(0))
    key = f"send-test/{now.strftime('%Y%m%dT%H%M%S')}/{address.casefold()}"
    return _reminder(key, planned, days, now, None, (recipient,))


def compose_reminder(
    composer: MessageComposer,
    reminder: Reminder,
    recipient: Recipient,
    now: datetime,
    settings: Settings,
) -> EmailMessage:
    planned = about(reminder)
    context = with_status_link(
        milestone_context(planned, recipient, now, settings), planned, recipient, settings
    )
    context["lead_days"] = reminder.payload.days
    return composer.message(
        NAME, context, recipient, key=reminder.key, now=now, settings=settings, calendar=planned
    )


class ReminderKind(Kind[timedelta]):
    name = NAME
    label = "reminder"
    nouns = ("reminder", "reminders")
    plan_only = True

    def messages(self, sources: Sources, span: Span) -> list[Reminder]:
        return reminders(sources.catalog, sources.settings)

    def silenced(self, item: Reminder, sources: Sources) -> str | None:
        # Level-triggered: a milestone reopened before this moment gets it after all.
        return done_reason(item, sources)

    def withheld(self, item: Reminder, sources: Sources) -> str | None:
        return done_reason(item, sources)

    def compose(
        self,
        item: Reminder,
        recipient: Recipient,
        now: datetime,
        sources: Sources,
        composer: MessageComposer,
    ) -> EmailMessage:
        return compose_reminder(composer, item, recipient, now, sources.settings)

    def sample_contexts(self, settings: Settings) -> Sequence[Context]:
        contexts = sample_milestone_contexts(settings)
        for context in contexts:
            context["lead_days"] = 7
        return contexts

    def headline(self, item: Reminder) -> str:
        return f"{lead_label(item.payload):>4} before  {about(item).key}"

    def details(self, item: Reminder, sources: Sources) -> dict[str, Any]:
        return {"lead": lead_label(item.payload)}


REMINDER = ReminderKind()
