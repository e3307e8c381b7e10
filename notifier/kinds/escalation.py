"""Escalations: a milestone still not done some working days after its due date. Pure.

The first goes out ``escalation.after_working_days`` Swedish working days after the due date,
at the reminders' send time, to every recipient of the milestone's reminders and to the
coordinator; then again every ``escalation.every_days`` days (moved to the next working day
when that is a holiday: a day later changes nothing for a milestone already late), for ever,
until the milestone is done: the first one after that is recorded as skipped, "milestone
done", and the series ends there; reopened, it goes on. ``escalation.enabled = false`` lists
none. Each carries the recipient's personal status link, good for ``links.expiry_days`` after
that escalation, so that the answer it asks for can still be given long after the due date.

The coordinator is one more recipient of the same message, not a message of its own: one
key, one moment, one catch-up group and one decision to silence, so the coordinator is told
exactly when and only when the organisations are, and the ledger records each copy. The
templates give the coordinator's copy its own wording (``to_coordinator``).

Catch-up: the escalations of one milestone replace each other, so after downtime only the
latest missed one goes out. A series is taken up late only within ``TAKE_UP`` (or one
interval, if longer) of its first moment, or of the milestone's reopening: a plan far older
than the installation (a 2024 plan started in 2026), or a ledger that predates escalations,
would otherwise send every organisation one escalation per long-overdue milestone at once,
about milestones nobody could yet report done. Those are recorded as skipped; the weekly
digest lists every overdue open milestone however old, and the coordinator decides. Once a
series has gone out, it goes on for as long as the milestone is not done.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from notifier.due import SUPERSEDED, Outgoing
from notifier.kinds.base import (
    MILESTONE_DONE,
    Context,
    Kind,
    MessageComposer,
    Sources,
    Span,
    about,
    by_time,
    done_reason,
    milestone_summary,
)
from notifier.kinds.samples import samples
from notifier.kinds.views import SAMPLE_STATUS_URL, milestone_context
from notifier.links import ROUTE, expiry, link_problem, signer_for
from notifier.model import PlannedMilestone, Recipient
from notifier.records import LedgerEntry, Snapshot, StatusEntry, Statuses
from notifier.schedule import DAY, coordinator, local_date, recipients_for, send_time
from notifier.settings import Settings
from notifier.swedish import swedish_date
from notifier.workdays import is_working_day, next_working_day

if TYPE_CHECKING:
    from notifier.catalog import Catalog

NAME = "escalation"
# How long after its first moment (or the milestone's reopening) a series that never went
# out may still start: downtime of a few weeks loses no escalation, an old plan floods no one.
TAKE_UP = timedelta(weeks=4)
NOT_TAKEN_UP = "overdue since before escalations could start: the weekly digest lists it"
# Bounds the working-day count: a plan a century old is a typo, not a reason to loop.
_MAX_DAYS = 40 * 366

# An escalation's payload is its number in the milestone's series, counting from 1.
Escalation = Outgoing[int]


def escalation_key(planned: PlannedMilestone, day: date) -> str:
    """'escalation/gotland-2024/sig/1/2024-06-30/2024-07-08': a moved due date starts anew."""
    return f"{NAME}/{planned.key}/{planned.milestone.due.isoformat()}/{day.isoformat()}"


def first_day(due: date, settings: Settings) -> date:
    """The ``after_working_days``-th working day after ``due``."""
    return _first_day(due, settings.escalation.after_working_days)


@lru_cache(maxsize=1 << 12)
def _first_day(due: date, after_working_days: int) -> date:
    day, counted = due, 0
    while counted < after_working_days:
        day += DAY
        counted += is_working_day(day)
    return day


SAMPLE_LATE = 11  # working days late, in every sample escalation


def working_days_late(due: date, today: date) -> int:
    """Working days after ``due`` up to and including ``today``: 0 on or before it."""
    days = min((today - due).days, _MAX_DAYS)
    return sum(is_working_day(due + DAY * n) for n in range(1, days + 1))


def _series(first: date, every: int, start: date, end: date) -> Iterator[tuple[int, date]]:
    """(number, send day) of the series from ``first`` whose nominal days reach from a little
    before ``start`` to ``end``; each nominal day moves to the next working day, from the
    first day on, so the series does not drift. Days a move makes equal are given once."""
    lead = max((start - first).days - 14, 0) // every
    previous = None
    number = lead
    while True:
        nominal = first + timedelta(days=number * every)
        if nominal > end:
            return
        day = next_working_day(nominal)
        if day != previous:
            yield number + 1, day
        previous = day
        number += 1


def escalations(
    catalog: Catalog, settings: Settings, span: Span, history: Sequence[StatusEntry] = ()
) -> list[Escalation]:
    """Each milestone's escalations in [span.start, span.end), and the latest one before the
    span: with ``every_days`` longer than the span reaches back, the catch-up rule must still
    find the one just missed.

    The series of a milestone done (the latest entry of its ``history``) ends with its first
    escalation at or after that moment, which is recorded as skipped and shown so: the
    ledger then keeps one row per recipient for it, not one a week for ever.
    """
    if not settings.escalation.enabled:
        return []
    every = settings.escalation.every_days
    start, end = local_date(span.start, settings), local_date(span.end, settings)
    series = _series_of(catalog, settings)
    done = done_moments(history)
    # Every escalation goes out at the send time of its day, so the span's two local days,
    # and on each whether the span begins (ends) after that day's send time, say which ones
    # fall in, before or after it: the same list again for the same answers.
    seen = (
        start,
        end,
        send_time(start, settings) < span.start,
        send_time(end, settings) < span.end,
        tuple(sorted(done.items())),
    )
    listed = series.listed.get(seen)
    if listed is None:
        listed = _listed(series, every, span, start, end, done)
        series.listed = {seen: listed}
    # The same list object while nothing that decides it changes: a daemon's wake-ups then
    # also keep what they derive from it (``planner``). Callers only read it.
    return listed


def _listed(
    series: _Series,
    every: int,
    span: Span,
    start: date,
    end: date,
    done: dict[str, datetime],
) -> list[Escalation]:
    settings = series.settings
    items: list[Escalation] = []
    # A milestone whose first escalation comes after the span has none in or before it.
    for index in range(bisect_right(series.firsts, end)):
        first, planned = series.firsts[index], series.milestones[index]
        done_at = done.get(planned.key)
        # From the day it was done, if earlier: the first escalation after it must be seen.
        since = start if done_at is None else min(start, local_date(done_at, settings))
        before: Escalation | None = None
        for number, day in _series(first, every, since, end):
            item = series.item(index, number, day)
            if item.send_at < span.start:
                before = item
            elif item.send_at < span.end:
                items.append(item)
            if done_at is not None and item.send_at >= done_at:
                break
        if before is not None:
            items.append(before)
    return by_time(items)


@dataclass
class _Series:
    """What escalations need of one catalog under one settings, whatever the span: each
    milestone's first escalation day and recipients, in order of that day, and each
    escalation made so far (a daemon asks again at every wake-up)."""

    catalog: Catalog
    settings: Settings
    firsts: list[date]
    milestones: list[PlannedMilestone]
    recipients: list[tuple[Recipient, ...]]
    made: dict[tuple[int, int, date], Escalation] = field(default_factory=dict)
    # The list last made, under what decides it (see ``escalations``).
    listed: dict[tuple[Any, ...], list[Escalation]] = field(default_factory=dict)

    def item(self, index: int, number: int, day: date) -> Escalation:
        made = self.made.get((index, number, day))
        if made is None:
            planned, recipients = self.milestones[index], self.recipients[index]
            made = _escalation(planned, number, send_time(day, self.settings), recipients)
            self.made[(index, number, day)] = made
        return made


# The last few catalogs asked about, newest first; kept by reference, so the identity test
# cannot match a new object that reuses an old one's id.
_SERIES: list[_Series] = []
_SERIES_KEPT = 2


def _series_of(catalog: Catalog, settings: Settings) -> _Series:
    for series in list(_SERIES):
        if series.catalog is catalog and series.settings is settings:
            return series
    boss = coordinator(settings)
    rows = sorted(
        (
            (first_day(planned.milestone.due, settings), index, planned)
            for index, planned in enumerate(catalog.milestones)
        ),
        key=lambda row: (row[0], row[1]),
    )
    series = _Series(
        catalog,
        settings,
        [first for first, _, _ in rows],
        [planned for _, _, planned in rows],
        [_with_coordinator(recipients_for(planned, settings), boss) for _, _, planned in rows],
    )
    _SERIES[:] = [series, *_SERIES[: _SERIES_KEPT - 1]]
    return series


def done_moments(history: Sequence[StatusEntry]) -> dict[str, datetime]:
    """When each milestone whose latest entry says done was said to be so."""
    latest: dict[str, StatusEntry] = {}
    for entry in history:  # oldest first: the last one per milestone is its status
        latest[entry.milestone_key] = entry
    return {key: entry.at for key, entry in latest.items() if entry.closed}


def _with_coordinator(recipients: tuple[Recipient, ...], boss: Recipient) -> tuple[Recipient, ...]:
    """The milestone's recipients and the coordinator, who gets one copy only: standing in
    for an organisation, or with an organisation's own address, that one is the copy."""
    if any(_is(r.address, boss.address) for r in recipients):
        return recipients
    return (*recipients, boss)


def _is(address: str, other: str) -> bool:
    return address.strip().casefold() == other.strip().casefold()


def _escalation(
    planned: PlannedMilestone, number: int, send_at: datetime, recipients: tuple[Recipient, ...]
) -> Escalation:
    return Outgoing(
        key=escalation_key(planned, send_at.date()),
        kind=NAME,
        group=f"{NAME}/{planned.key}",
        send_at=send_at,
        expires_at=None,
        recipients=recipients,
        payload=number,
        about=planned,
        title=f"escalation {number} ({send_at.date().isoformat()})",
    )


# --- Whether a series may start -----------------------------------------------------------


def reopened_at(history: Sequence[StatusEntry], milestone_key: str) -> datetime | None:
    """When the milestone was last reopened, if ever."""
    moments = [e.at for e in history if e.milestone_key == milestone_key and e.state == "reopened"]
    return max(moments, default=None)


def take_up_until(planned: PlannedMilestone, sources: Sources) -> datetime:
    """Until when a series of ``planned`` that never went out may still start."""
    settings = sources.settings
    since = send_time(first_day(planned.milestone.due, settings), settings)
    reopened = reopened_at(sources.status_history, planned.key)
    if reopened is not None and reopened > since:
        since = reopened
    return since + max(TAKE_UP, timedelta(days=settings.escalation.every_days))


def went_out(entry: LedgerEntry) -> bool:
    """Whether the ledger shows this escalation was sent, or decided on and under way.

    Skips that say it was not (done, not taken up, replaced by a later one of the same step)
    do not count; any other skip does: ``notifier simulate`` records what came before its
    window so, for a daemon that has been running all along.
    """
    if entry.state != "skipped":
        return True
    note = entry.note or ""
    return not (note in (MILESTONE_DONE, NOT_TAKEN_UP) or note.startswith(SUPERSEDED))


def escalated(snapshot: Snapshot) -> set[tuple[str, date]]:
    """(milestone key, due date) of every series of which an escalation went out."""
    return {
        (e.milestone_key, e.due_date)
        for e in snapshot.values()
        if e.kind == NAME and e.milestone_key and e.due_date and went_out(e)
    }


def proposal(statuses: Statuses, milestone_key: str) -> StatusEntry | None:
    """The proposed new date waiting for the coordinator, if that is where it stands."""
    entry = statuses.get(milestone_key)
    return entry if entry is not None and entry.state == "needs-new-date" else None


# --- The message --------------------------------------------------------------------------


def escalation_status_url(
    planned: PlannedMilestone, recipient: Recipient, day: date, settings: Settings
) -> str:
    """The recipient's personal status link, good for ``links.expiry_days`` after the due
    date or after ``day`` (the escalation's), whichever is later.

    An escalation asks for an answer through the link, long after the due date's links
    have expired; a link that answers 404 would leave the recipient nothing to do. The day
    is the escalation's own, so a resend carries the same link.
    """
    signer = signer_for(settings)
    if signer is None or link_problem(settings):
        return ""
    expires = max(expiry(planned, settings), day + timedelta(days=settings.links.expiry_days))
    token = signer.token(planned.key, recipient, expires)
    return f"{settings.feeds.base_url.rstrip('/')}{ROUTE}{token}"


def _late_text(days: int) -> str:
    return f"{days} arbetsdag" if days == 1 else f"{days} arbetsdagar"


def every_text(days: int) -> str:
    """'varje dag', 'varje vecka', 'varannan vecka', 'var 3:e dag', 'var 21:a dag'."""
    named = {1: "varje dag", 2: "varannan dag", 7: "varje vecka", 14: "varannan vecka"}
    if days in named:
        return named[days]
    ending = "a" if days % 10 in (1, 2) and days % 100 not in (11, 12) else "e"
    return f"var {days}:{ending} dag"


def escalation_context(
    planned: PlannedMilestone,
    number: int,
    recipient: Recipient,
    now: datetime,
    settings: Settings,
    pending: StatusEntry | None = None,
    late: int | None = None,
) -> Context:
    context = milestone_context(planned, recipient, now, settings)
    if late is None:
        late = working_days_late(planned.milestone.due, local_date(now, settings))
    context.update(
        number=number,
        late_days=late,
        late_text=_late_text(late),
        every_text=every_text(settings.escalation.every_days),
        to_coordinator=_is(recipient.address, settings.coordinator.email),
        milestone_ref=planned.key,
        proposed_due=swedish_date(pending.proposed_due)
        if pending is not None and pending.proposed_due
        else "",
    )
    return context


def compose_escalation(
    composer: MessageComposer,
    item: Escalation,
    recipient: Recipient,
    now: datetime,
    sources: Sources,
) -> EmailMessage:
    planned, settings = about(item), sources.settings
    pending = proposal(sources.statuses, planned.key)
    context = escalation_context(planned, item.payload, recipient, now, settings, pending)
    day = local_date(item.send_at, settings)
    context["status_url"] = escalation_status_url(planned, recipient, day, settings)
    return composer.message(NAME, context, recipient, key=item.key, now=now, settings=settings)


class EscalationKind(Kind[int]):
    name = NAME
    label = "escalation"
    nouns = ("escalation", "escalations")
    repeats = True

    def __init__(self) -> None:
        # The last snapshot asked about and what it says was escalated: ``silenced`` is
        # asked once per message of a step, and a snapshot may hold many thousand rows.
        self._seen: tuple[Snapshot, set[tuple[str, date]]] | None = None

    def messages(self, sources: Sources, span: Span) -> list[Escalation]:
        return escalations(sources.catalog, sources.settings, span, sources.status_history)

    def _started(self, planned: PlannedMilestone, snapshot: Snapshot) -> bool:
        if self._seen is None or self._seen[0] is not snapshot:
            self._seen = (snapshot, escalated(snapshot))
        return (planned.key, planned.milestone.due) in self._seen[1]

    def _not_taken_up(self, item: Escalation, sources: Sources) -> str | None:
        """NOT_TAKEN_UP when the item's series never went out and may no longer start.

        Judged at ``sources.now``, not at the item's moment: while the series may still
        start, its first (or latest missed) escalation goes out and the later ones follow.
        """
        planned = about(item)
        if sources.now < take_up_until(planned, sources):
            return None
        return None if self._started(planned, sources.snapshot) else NOT_TAKEN_UP

    def silenced(self, item: Escalation, sources: Sources) -> str | None:
        # Level-triggered: a milestone reopened before this moment is escalated again.
        return done_reason(item, sources) or self._not_taken_up(item, sources)

    def withheld(self, item: Escalation, sources: Sources) -> str | None:
        return self.silenced(item, sources)

    def compose(
        self,
        item: Escalation,
        recipient: Recipient,
        now: datetime,
        sources: Sources,
        composer: MessageComposer,
    ) -> EmailMessage:
        return compose_escalation(composer, item, recipient, now, sources)

    def sample_contexts(self, settings: Settings) -> Sequence[Context]:
        contexts = []
        boss = coordinator(settings)
        standing_in = Recipient(boss.address, "Regionstyrelseförvaltningen", True)
        full, plain = samples()
        # The full sample is the coordinator standing in for an organisation, told of a
        # repeat with a proposed date waiting and a status link; the plain one goes to an
        # organisation; the last is the coordinator's own copy.
        for sample, recipient in ((full, standing_in), (plain, plain.recipient), (plain, boss)):
            # Three weeks after the sample's due date: a Monday, a working day.
            now = sample.now + timedelta(days=22)
            pending = (
                StatusEntry(
                    sample.planned.key,
                    "needs-new-date",
                    "Polisen",
                    now - timedelta(days=3),
                    "link",
                    proposed_due=date(2024, 9, 30),
                )
                if sample.full
                else None
            )
            number = 2 if sample.full else 1
            # Due 30 June 2024, now Monday 15 July: 11 working days late. Given, so that
            # checking the templates needs no holiday calendar (`notifier validate` starts
            # without one); a test holds it to the calendar.
            context = escalation_context(
                sample.planned, number, recipient, now, settings, pending, late=SAMPLE_LATE
            )
            context["status_url"] = SAMPLE_STATUS_URL if sample.full else ""
            contexts.append(context)
        return contexts

    def summary(self, item: Escalation, sources: Sources) -> str:
        planned = about(item)
        late = working_days_late(planned.milestone.due, local_date(item.send_at, sources.settings))
        return milestone_summary(
            planned, f"due {planned.milestone.due}, {late} working days late (#{item.payload})"
        )

    def details(self, item: Escalation, sources: Sources) -> dict[str, Any]:
        planned = about(item)
        late = working_days_late(planned.milestone.due, local_date(item.send_at, sources.settings))
        return {"number": item.payload, "working_days_late": late}


ESCALATION = EscalationKind()
