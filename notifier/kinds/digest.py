"""The weekly digest to the coordinator. Pure.

On the configured weekday and time it lists the coming weeks' milestones, how each plan's
milestones stand (done, open, waiting for a new date), every milestone past its due date
that is not done however old, what was said about milestones and what failed to send since
the last digest, what could not be read, and who is reached only through the coordinator. A
digest day that is a holiday (Easter Monday, say) moves to the next working day: the digest
looks ahead, so one day later loses nothing, while the day before would belong to the
previous week. Only the latest missed digest is worth sending, as it says everything the
others did; one with nothing to report is not sent unless ``digest.send_empty``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from notifier.due import NOTHING_TO_REPORT, Outgoing
from notifier.kinds.base import Context, Kind, MessageComposer, Sources, Span
from notifier.kinds.samples import sample_planned, samples
from notifier.kinds.views import by_due, common_context, milestone_view
from notifier.model import PlannedMilestone, Recipient
from notifier.progress import STATE_SWEDISH, UNFINISHED, state_of, tally, who_swedish
from notifier.records import Snapshot, StatusEntry, Statuses
from notifier.schedule import DAY, WEEK, coordinator, local_date, local_time, zone
from notifier.settings import Settings
from notifier.swedish import header_text, swedish_date, swedish_period
from notifier.workdays import next_working_day

if TYPE_CHECKING:
    from notifier.catalog import Catalog

NAME = "digest"
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class DigestPeriod:
    """The days one digest looks ahead over, inclusive."""

    start: date
    end: date


Digest = Outgoing[DigestPeriod]


@dataclass(frozen=True)
class Failure:
    """A message that could not be delivered, for the digest."""

    address: str
    key: str
    error: str


@dataclass(frozen=True)
class DigestData:
    """What the weekly digest to the coordinator reports; ``start``/``end`` are inclusive."""

    start: date
    end: date
    upcoming: Sequence[PlannedMilestone] = ()
    overdue: Sequence[PlannedMilestone] = ()
    unreadable: Sequence[str] = ()
    failed: Sequence[Failure | tuple[str, str, str]] = ()
    unreachable: Sequence[str] = ()
    # Per plan: its title and how its milestones stand ('3 klara, 5 öppna, 1 behöver ny tid').
    tallies: Sequence[tuple[str, str]] = ()
    # What was said about milestones since the last digest, one Swedish line each.
    changes: Sequence[str] = ()
    statuses: Statuses = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        """Nothing coming, nothing past due and not done, nothing said about a milestone,
        nothing unreadable, nobody reached only through the coordinator, nothing failed: a
        digest that would only say "nothing"."""
        return not (
            self.upcoming
            or self.overdue
            or self.changes
            or self.unreadable
            or self.unreachable
            or self.failed
        )


def digest_key(start: date, end: date) -> str:
    return f"digest/{start.isoformat()}/{end.isoformat()}"


# --- When ---------------------------------------------------------------------------------


def digest_times(settings: Settings, start: datetime, end: datetime) -> list[datetime]:
    """Digest moments in [start, end): the configured weekday and time, local."""
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


def digests(settings: Settings, start: datetime, end: datetime) -> list[Digest]:
    """The digests in [start, end), each looking ``digest.weeks_ahead`` weeks ahead."""
    items: list[Digest] = []
    for moment in digest_times(settings, start, end):
        first = moment.astimezone(zone(settings)).date()
        last = first + settings.digest.weeks_ahead * WEEK - DAY
        items.append(
            Outgoing(
                key=digest_key(first, last),
                kind=NAME,
                group=NAME,
                send_at=moment,
                expires_at=None,
                recipients=(coordinator(settings),),
                payload=DigestPeriod(first, last),
                title=f"a later digest ({first.isoformat()})",
            )
        )
    return items


# --- What it says -------------------------------------------------------------------------


def milestones_between(
    milestones: Iterable[PlannedMilestone], first: date, last: date
) -> list[PlannedMilestone]:
    """Milestones due within [first, last], by due date then key."""
    return by_due([m for m in milestones if first <= m.milestone.due <= last])


def digest_data(
    period: DigestPeriod,
    catalog: Catalog,
    settings: Settings,
    failed: Sequence[Failure],
    statuses: Statuses | None = None,
    changes: Sequence[str] = (),
) -> DigestData:
    """Every milestone due before the period and not done is listed, however old: until
    someone says it is done, the coordinator has something to follow up."""
    statuses = statuses or {}
    overdue = [
        m
        for m in catalog.milestones
        if m.milestone.due < period.start and state_of(statuses, m.key) in UNFINISHED
    ]
    tallies = [
        (plan.title.strip(), tally((m for m in catalog.milestones if m.plan is plan), statuses))
        for plan in catalog.plans
    ]
    return DigestData(
        start=period.start,
        end=period.end,
        upcoming=milestones_between(catalog.milestones, period.start, period.end),
        overdue=by_due(overdue),
        unreadable=unreadable_lines(catalog),
        unreachable=unreachable_lines(catalog),
        failed=list(failed),
        tallies=[(title, counts.text) for title, counts in tallies if counts.total],
        changes=list(changes),
        statuses=statuses,
    )


def status_lines(
    catalog: Catalog, entries: Iterable[StatusEntry], since: datetime, settings: Settings
) -> list[str]:
    """One Swedish line per status entry recorded after ``since``, oldest first:
    '3 juni 2024: Utbildning – Krogar mot knark: klar (Polisen). ”Kommentar”'."""
    by_key = {m.key: m for m in catalog.milestones}
    lines = []
    for entry in entries:
        if entry.at <= since:  # told in the digest sent then, recorded just before it
            continue
        planned = by_key.get(entry.milestone_key)
        what = entry.milestone_key
        if planned is not None:
            view = milestone_view(planned, local_date(entry.at, settings))
            what = f"{view.label} – {view.topic_short}" if view.topic_short else view.label
        state = STATE_SWEDISH[entry.state]
        if entry.proposed_due is not None:
            state += f", föreslaget datum {swedish_date(entry.proposed_due)}"
        comment = f" ”{entry.comment.strip()}”" if entry.comment and entry.comment.strip() else ""
        day = swedish_date(local_date(entry.at, settings))
        lines.append(header_text(f"{day}: {what}: {state} ({who_swedish(entry)}).{comment}"))
    return lines


def unreadable_lines(catalog: Catalog) -> list[str]:
    """One Swedish line per action whose "När?" gives no date."""
    return [
        f"{view.plan.id}, åtgärd '{view.action.id}': \"{view.action.when.strip()}\""
        for view in catalog.actions
        if view.action.explicit_milestones is None
        and not (view.reading.readable and view.reading.milestones)
    ]


def unreachable_lines(catalog: Catalog) -> list[str]:
    """One Swedish line per organisation whose reminders reach the coordinator instead."""
    lines = [
        f"{o.name}: har ingen e-postadress i adresslistan"
        for o in catalog.organisations
        if not o.emails
    ]
    seen: set[str] = set()
    for view in catalog.actions:
        for name in view.unknown:
            if name not in seen:
                seen.add(name)
                lines.append(
                    f"{name} ({view.plan.id}, åtgärd '{view.action.id}'): finns inte i adresslistan"
                )
    return lines


def since_last_digest(snapshot: Snapshot, now: datetime) -> datetime:
    """When the coordinator's last digest went out, or a week back when none did: what
    happened since is news for the next one."""
    last_digest = max(
        (
            e.updated_at
            for e in snapshot.values()
            if e.kind == NAME and e.state == "sent" and e.updated_at is not None
        ),
        default=None,
    )
    return last_digest or now - WEEK


def failures_since_last_digest(snapshot: Snapshot, now: datetime) -> list[Failure]:
    """What failed (for good, or still being retried) since the coordinator's last digest."""
    since = since_last_digest(snapshot, now)
    failed = sorted(
        (
            e
            for e in snapshot.values()
            if e.state == "failed" and e.updated_at is not None and e.updated_at >= since
        ),
        key=lambda e: (e.updated_at, e.key, e.recipient),
    )
    return [Failure(e.recipient, e.key, _failure_text(e.last_error, e.permanent)) for e in failed]


def _failure_text(error: str | None, permanent: bool) -> str:
    text = error or "unknown error"
    # Shown in the Swedish digest: say that a temporary failure is still being retried.
    return text if permanent else f"{text} (nytt försök görs)"


# --- The message --------------------------------------------------------------------------


def _failure(item: Failure | tuple[str, str, str]) -> Failure:
    failure = item if isinstance(item, Failure) else Failure(*item)
    return Failure(header_text(failure.address), failure.key, header_text(failure.error))


def _digest_context(
    data: DigestData, recipient: Recipient, now: datetime, settings: Settings
) -> Context:
    today = local_date(now, settings)
    context = common_context(recipient, now, settings)
    context.update(
        period=swedish_period(data.start, data.end),
        period_start=swedish_date(data.start),
        period_end=swedish_date(data.end),
        upcoming=[milestone_view(p, today) for p in by_due(data.upcoming)],
        overdue=[milestone_view(p, today) for p in by_due(data.overdue)],
        status_notes={p.key: _status_note(data.statuses.get(p.key)) for p in data.overdue},
        tallies=[{"plan": header_text(t), "counts": c} for t, c in data.tallies],
        changes=[header_text(text) for text in data.changes],
        unreadable=[header_text(text) for text in data.unreadable],
        unreachable=[header_text(text) for text in data.unreachable],
        failed=[_failure(item) for item in data.failed],
    )
    return context


def _status_note(entry: StatusEntry | None) -> str:
    """What was last said about an overdue milestone: 'behöver ny tid, föreslaget datum …'."""
    if entry is None:
        return ""
    note = STATE_SWEDISH[entry.state]
    if entry.proposed_due is not None:
        note += f", föreslaget datum {swedish_date(entry.proposed_due)}"
    return note


def compose_digest(
    composer: MessageComposer,
    data: DigestData,
    recipient: Recipient,
    now: datetime,
    settings: Settings,
) -> EmailMessage:
    context = _digest_context(data, recipient, now, settings)
    key = digest_key(data.start, data.end)
    return composer.message(NAME, context, recipient, key=key, now=now, settings=settings)


class DigestKind(Kind[DigestPeriod]):
    name = NAME
    label = "digest"
    nouns = ("digest", "digests")
    repeats = True

    def messages(self, sources: Sources, span: Span) -> list[Digest]:
        return digests(sources.settings, span.start, span.end)

    def report(self, item: Digest, sources: Sources) -> DigestData:
        """What this digest says when it is sent."""
        failed = failures_since_last_digest(sources.snapshot, sources.now)
        since = since_last_digest(sources.snapshot, sources.now)
        changes = status_lines(sources.catalog, sources.status_history, since, sources.settings)
        return digest_data(
            item.payload, sources.catalog, sources.settings, failed, sources.statuses, changes
        )

    def silenced(self, item: Digest, sources: Sources) -> str | None:
        if sources.settings.digest.send_empty or not self.report(item, sources).is_empty:
            return None
        return NOTHING_TO_REPORT

    def compose(
        self,
        item: Digest,
        recipient: Recipient,
        now: datetime,
        sources: Sources,
        composer: MessageComposer,
    ) -> EmailMessage:
        data = self.report(item, sources)
        return compose_digest(composer, data, recipient, now, sources.settings)

    def sample_contexts(self, settings: Settings) -> Sequence[Context]:
        contexts = []
        for sample in samples():
            listed = (sample.planned, sample_planned(date(2024, 7, 15), False))
            day = sample.now.date()
            data = DigestData(
                day,
                day + timedelta(weeks=4),
                upcoming=listed if sample.full else (),
                overdue=listed if sample.full else (),
                unreadable=_SAMPLE_UNREADABLE if sample.full else (),
                failed=_SAMPLE_FAILED if sample.full else (),
                unreachable=_SAMPLE_UNREACHABLE if sample.full else (),
                tallies=_SAMPLE_TALLIES if sample.full else (),
                changes=_SAMPLE_CHANGES if sample.full else (),
                statuses=_sample_statuses(sample.planned) if sample.full else {},
            )
            contexts.append(_digest_context(data, sample.recipient, sample.now, settings))
        return contexts

    def headline(self, item: Digest) -> str:
        return f"{self.label:<11}  {item.payload.start} – {item.payload.end}"

    def summary(self, item: Digest, sources: Sources) -> str:
        # The plan as it stands, without what may fail before the digest goes out.
        data = digest_data(item.payload, sources.catalog, sources.settings, [], sources.statuses)
        if data.is_empty and not sources.settings.digest.send_empty:
            return "weekly digest: nothing to report as the plan stands, so not sent"
        parts = [f"{len(data.upcoming)} coming", f"{len(data.overdue)} past due"]
        if data.unreadable:
            parts.append(f"{len(data.unreadable)} unreadable")
        if data.unreachable:
            parts.append(f"{len(data.unreachable)} reached only through the coordinator")
        return "weekly digest: " + ", ".join(parts)

    def details(self, item: Digest, sources: Sources) -> dict[str, Any]:
        data = digest_data(item.payload, sources.catalog, sources.settings, [], sources.statuses)
        return {
            "period": {"start": data.start.isoformat(), "end": data.end.isoformat()},
            "upcoming": [p.key for p in data.upcoming],
            "overdue": [p.key for p in data.overdue],
            "nothing_to_report": data.is_empty,
        }


_SAMPLE_UNREADABLE = ("exempelplan, åtgärd 'trygghetsvandringar': \"Löpande\"",)
_SAMPLE_UNREACHABLE = ("Gotlands förenade besöksnäring: har ingen e-postadress i adresslistan",)
_SAMPLE_TALLIES = (("Exempelplan 2024", "3 klara, 5 öppna, 1 behöver ny tid"),)
_SAMPLE_CHANGES = ("3 juni 2024: Utbildning – Krogar mot knark: klar (Polisen). ”Alla utbildade”",)


def _sample_statuses(planned: PlannedMilestone) -> dict[str, StatusEntry]:
    """A proposed new date on the sample's overdue milestone, so the note is rendered."""
    said = datetime(2024, 6, 3, 10, tzinfo=UTC)
    entry = StatusEntry(
        planned.key, "needs-new-date", "Polisen", said, "link", proposed_due=date(2024, 9, 30)
    )
    return {planned.key: entry}


_SAMPLE_FAILED = (Failure("polisen@exempel.invalid", "exempelplan/x/1", "550 mailbox unavailable"),)

DIGEST = DigestKind()
