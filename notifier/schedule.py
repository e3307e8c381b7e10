"""Plans + settings -> every message the daemon will send, and when. Pure: no clock, no I/O.

Four kinds of message come out of the plan, and one out of the edits that were refused:

- reminders before each due date, one per lead time (default 30, 7 and 1 days);
- a due notice to the coordinator on the first working day after a due date;
- a change notice to the organisations when a plan edit moved a due date;
- a weekly digest to the coordinator;
- a problem notice to the coordinator when an edit of plan, config or templates is refused.

Whole-day leads are sent at ``reminders.send_time`` local time on a working day, moved to the
previous working day (never later, so the reminder still comes before the due date). Local
times are built in ``reminders.timezone`` with zoneinfo, so 08:00 stays 08:00 across
daylight-saving changes. Leads that are not whole days (minutes, hours: for trying things out)
are exact durations before the start of the due date, without the working-day rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from notifier.config import Settings, parse_duration
from notifier.errors import UserError
from notifier.model import Plan, PlannedMilestone, Recipient
from notifier.workdays import next_working_day, previous_working_day

if TYPE_CHECKING:
    from notifier.catalog import Catalog

DAY = timedelta(days=1)
WEEK = timedelta(days=7)
# A due notice or digest that could not go out for this long is no longer news: the next
# digest lists what is overdue anyway.
STALE_AFTER = WEEK
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class Reminder:
    """One reminder of one milestone; ``key`` is stable while the due date and lead are."""

    key: str
    planned: PlannedMilestone
    lead: timedelta
    send_at: datetime
    recipients: tuple[Recipient, ...]

    @property
    def milestone_key(self) -> str:
        return self.planned.key

    @property
    def due(self) -> date:
        return self.planned.milestone.due

    @property
    def due_at(self) -> datetime:
        """The start of the due date, local (``send_at`` carries the configured zone)."""
        start = datetime.combine(self.due, time(0), tzinfo=self.send_at.tzinfo)
        return start.astimezone(UTC).astimezone(self.send_at.tzinfo)


@dataclass(frozen=True)
class DueNotice:
    """Tells the coordinator that a milestone fell due."""

    key: str
    planned: PlannedMilestone
    send_at: datetime
    expires_at: datetime
    recipient: Recipient


@dataclass(frozen=True)
class KnownDue:
    """The due date last seen for a milestone key, and the one before it if it moved."""

    due: date
    previous_due: date | None = None
    changed_at: datetime | None = None


@dataclass(frozen=True)
class ChangeNotice:
    """Tells the organisations that a plan edit moved a due date from ``old_due``."""

    key: str
    planned: PlannedMilestone
    old_due: date
    send_at: datetime
    expires_at: datetime
    recipients: tuple[Recipient, ...]


@dataclass(frozen=True)
class RecordedProblem:
    """A refused edit as the ledger keeps it: what was wrong, and when it was first seen."""

    key: str
    lines: tuple[str, ...]
    first_seen: datetime


@dataclass(frozen=True)
class ProblemNotice:
    """Tells the coordinator that an edit was refused and the last good state still runs."""

    key: str
    lines: tuple[str, ...]
    send_at: datetime
    expires_at: datetime
    recipient: Recipient


@dataclass(frozen=True)
class DigestSlot:
    """One weekly digest: when it goes out and the days it looks ahead over (inclusive)."""

    key: str
    send_at: datetime
    start: date
    end: date
    recipient: Recipient


# --- Time helpers -------------------------------------------------------------------------


def zone(settings: Settings) -> ZoneInfo:
    return ZoneInfo(settings.reminders.timezone)


def local_time(day: date, at: time, settings: Settings) -> datetime:
    """``day`` at wall-clock ``at`` in the configured zone.

    The round trip through UTC normalises a wall time that does not exist (inside the spring
    DST gap) to a real instant; 08:00 is never affected.
    """
    naive_local = datetime.combine(day, at, tzinfo=zone(settings))
    return naive_local.astimezone(UTC).astimezone(zone(settings))


def start_of_day(day: date, settings: Settings) -> datetime:
    """Local midnight that begins ``day``: a milestone is due from this moment."""
    return local_time(day, time(0), settings)


def send_time(day: date, settings: Settings) -> datetime:
    return local_time(day, settings.reminders.send_time, settings)


def next_send_slot(moment: datetime, settings: Settings) -> datetime:
    """The first send time on a working day at or after ``moment``."""
    day = moment.astimezone(zone(settings)).date()
    slot = send_time(next_working_day(day), settings)
    if slot < moment:
        slot = send_time(next_working_day(day + DAY), settings)
    return slot


def lead_label(lead: timedelta) -> str:
    """'30d', '12h', '15m' or '45s': the largest unit that divides the lead."""
    seconds = int(lead.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def is_whole_days(lead: timedelta) -> bool:
    return lead % DAY == timedelta(0)


# --- Reminders ----------------------------------------------------------------------------


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


def recipients_for(planned: PlannedMilestone, settings: Settings) -> tuple[Recipient, ...]:
    """Every address of every organisation, once each, in plan order.

    An organisation without an address is reached through the coordinator. Several such
    organisations share one message to the coordinator naming all of them. When the
    coordinator's address is also an organisation's own address, that direct message wins.
    """
    direct: dict[str, list[str]] = {}
    stand_in: dict[str, list[str]] = {}
    for organisation in planned.organisations:
        if organisation.emails:
            for address in organisation.emails:
                _add(direct, address, organisation.name)
        else:
            _add(stand_in, settings.coordinator.email, organisation.name)
    recipients = [Recipient(a, ", ".join(names)) for a, names in direct.items()]
    recipients += [
        Recipient(a, ", ".join(names), via_coordinator=True)
        for a, names in stand_in.items()
        if _fold(a) not in {_fold(d) for d in direct}
    ]
    return tuple(recipients)


def _add(into: dict[str, list[str]], address: str, name: str) -> None:
    address = address.strip()
    existing = next((a for a in into if _fold(a) == _fold(address)), address)
    names = into.setdefault(existing, [])
    if name not in names:
        names.append(name)


def _fold(address: str) -> str:
    return address.strip().casefold()


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


def reminders(catalog: Catalog, settings: Settings) -> list[Reminder]:
    """Every reminder of every milestone, ordered by send time then key.

    Leads of zero or less are ignored: such a reminder would go out when the milestone is
    already due. When two leads of one milestone land on the same moment (the working-day
    move can do that), only the shorter lead is kept, so nobody gets two reminders at once.
    """
    result: list[Reminder] = []
    for planned in catalog.milestones:
        recipients = recipients_for(planned, settings)
        by_time: dict[datetime, Reminder] = {}
        for lead in sorted(set(leads_for(planned.plan, settings)), reverse=True):
            if lead <= timedelta(0):
                continue
            send_at = reminder_time(planned.milestone.due, lead, settings)
            by_time[send_at] = Reminder(
                reminder_key(planned, lead), planned, lead, send_at, recipients
            )
        result.extend(by_time.values())
    return sorted(result, key=lambda r: (r.send_at, r.key))


# --- Due notices, change notices, digests -------------------------------------------------


def coordinator(settings: Settings) -> Recipient:
    return Recipient(settings.coordinator.email, settings.coordinator.name)


def due_notice_key(planned: PlannedMilestone) -> str:
    return f"due/{planned.key}/{planned.milestone.due.isoformat()}"


def due_notices(catalog: Catalog, settings: Settings) -> list[DueNotice]:
    """One notice per milestone, on the first working day after its due date at send time.

    "The day after" is read as the next working day: the coordinator reads it at work, and
    every message then leaves on a working day at the same hour as the reminders.
    """
    notices = []
    for planned in catalog.milestones:
        day = next_working_day(planned.milestone.due + DAY)
        send_at = send_time(day, settings)
        notices.append(
            DueNotice(
                due_notice_key(planned),
                planned,
                send_at,
                send_at + STALE_AFTER,
                coordinator(settings),
            )
        )
    return sorted(notices, key=lambda n: (n.send_at, n.key))


def change_key(planned: PlannedMilestone, old_due: date) -> str:
    return f"changed/{planned.key}/{old_due.isoformat()}/{planned.milestone.due.isoformat()}"


def change_notices(
    catalog: Catalog, settings: Settings, known: Mapping[str, KnownDue]
) -> list[ChangeNotice]:
    """A notice for each milestone whose latest recorded change matches the plan as it is.

    It goes out at the first send time on a working day after the change was seen, and not
    at all once the new due date has come.
    """
    notices = []
    for planned in catalog.milestones:
        record = known.get(planned.key)
        if (
            record is None
            or record.previous_due is None
            or record.changed_at is None
            or record.due != planned.milestone.due
        ):
            continue
        notices.append(
            ChangeNotice(
                change_key(planned, record.previous_due),
                planned,
                record.previous_due,
                next_send_slot(record.changed_at, settings),
                start_of_day(planned.milestone.due, settings),
                recipients_for(planned, settings),
            )
        )
    return sorted(notices, key=lambda n: (n.send_at, n.key))


def digest_times(settings: Settings, start: datetime, end: datetime) -> list[datetime]:
    """Digest moments in [start, end): the configured weekday and time, local.

    A digest day that is a holiday (Easter Monday, say) moves to the next working day: the
    digest looks ahead, so one day later loses nothing, while the day before would belong to
    the previous week.
    """
    weekday = _WEEKDAYS.index(settings.digest.weekday)
    first = start.astimezone(zone(settings)).date() - WEEK
    first += timedelta(days=(weekday - first.weekday()) % 7)
    last = end.astimezone(zone(settings)).date()
    times = []
    day = first
    while day <= last:
        moment = local_time(next_working_day(day), settings.digest.time, settings)
        if start <= moment < end:
            times.append(moment)
        day += WEEK
    return times


def digest_slots(settings: Settings, start: datetime, end: datetime) -> list[DigestSlot]:
    slots = []
    for moment in digest_times(settings, start, end):
        first = moment.astimezone(zone(settings)).date()
        last = first + settings.digest.weeks_ahead * WEEK - DAY
        key = f"digest/{first.isoformat()}/{last.isoformat()}"
        slots.append(DigestSlot(key, moment, first, last, coordinator(settings)))
    return slots


def problem_notices(recorded: Iterable[RecordedProblem], settings: Settings) -> list[ProblemNotice]:
    """One notice per distinct set of problems, to the coordinator, as soon as it is seen.

    Not held for the next send time: whoever made the edit is at it now. One that could not
    go out for a week is dropped like a stale due notice: by then the edit has been fixed, or
    the log, /healthz and ``notifier validate`` have long said what is wrong.
    """
    notices = [
        ProblemNotice(
            problem.key,
            problem.lines,
            problem.first_seen.astimezone(zone(settings)),
            problem.first_seen.astimezone(zone(settings)) + STALE_AFTER,
            coordinator(settings),
        )
        for problem in recorded
    ]
    return sorted(notices, key=lambda n: (n.send_at, n.key))


def milestones_between(
    milestones: Iterable[PlannedMilestone], first: date, last: date
) -> list[PlannedMilestone]:
    """Milestones due within [first, last], by due date then key."""
    chosen = [m for m in milestones if first <= m.milestone.due <= last]
    return sorted(chosen, key=lambda m: (m.milestone.due, m.key))
