"""Held notices: the coordinator hears at once that messages to an address were held back
because of ``mail.daily_cap`` (see ``cap``). Pure.

The send step keeps each hold in the ledger's problems under a ``held/<day>/<address>`` key,
so the coordinator hears of it once per address and day, across restarts, and like a problem
notice it goes out at once and is dropped after a week.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

from notifier.cap import HELD_PREFIX, HeldReport
from notifier.due import Outgoing
from notifier.kinds.base import Context, Kind, MessageComposer, Sources, Span, by_time
from notifier.kinds.samples import samples
from notifier.kinds.views import common_context
from notifier.model import Recipient
from notifier.records import RecordedProblem
from notifier.schedule import STALE_AFTER, coordinator, zone
from notifier.settings import Settings
from notifier.swedish import swedish_date

NAME = "held"

# One notice per send step that held messages back: every address first held then.
HeldNotice = Outgoing[tuple[HeldReport, ...]]


def is_held(problem: RecordedProblem) -> bool:
    return problem.key.startswith(HELD_PREFIX)


def held_notices(recorded: Iterable[RecordedProblem], settings: Settings) -> list[HeldNotice]:
    by_moment: dict[datetime, list[tuple[str, HeldReport]]] = {}
    for problem in recorded:
        report = HeldReport.read(problem.lines) if is_held(problem) else None
        if report is not None:
            by_moment.setdefault(problem.first_seen, []).append((problem.key, report))
    notices: list[HeldNotice] = []
    for first_seen, reports in by_moment.items():
        seen = first_seen.astimezone(zone(settings))
        key = min(key for key, _ in reports)
        notices.append(
            Outgoing(
                key=key,
                kind=NAME,
                group=key,
                send_at=seen,
                expires_at=seen + STALE_AFTER,
                recipients=(coordinator(settings),),
                payload=tuple(report for _, report in sorted(reports, key=lambda r: r[0])),
            )
        )
    return by_time(notices)


def held_context(
    reports: Sequence[HeldReport], recipient: Recipient, now: datetime, settings: Settings
) -> Context:
    context = common_context(recipient, now, settings)

    def when(moment: datetime) -> str:
        local = moment.astimezone(zone(settings))
        return f"{swedish_date(local.date())} kl. {local:%H.%M}"

    context["held"] = [
        {
            "address": report.address,
            "organisation": report.organisation,
            "count": report.held,
            "sent": report.sent_in_window,
            "free": when(report.free_at),
        }
        for report in reports
    ]
    context["cap"] = reports[0].cap if reports else settings.mail.daily_cap
    context["total"] = sum(report.held for report in reports)
    return context


class HeldNoticeKind(Kind[tuple[HeldReport, ...]]):
    name = NAME
    label = "held"
    nouns = ("held notice", "held notices")

    def messages(self, sources: Sources, span: Span) -> list[HeldNotice]:
        return held_notices(sources.problems, sources.settings)

    def compose(
        self,
        item: HeldNotice,
        recipient: Recipient,
        now: datetime,
        sources: Sources,
        composer: MessageComposer,
    ) -> EmailMessage:
        context = held_context(item.payload, recipient, now, sources.settings)
        return composer.message(
            NAME, context, recipient, key=item.key, now=now, settings=sources.settings
        )

    def sample_contexts(self, settings: Settings) -> Sequence[Context]:
        contexts = []
        for sample in samples():
            reports = [
                HeldReport(
                    address,
                    organisation,
                    count,
                    settings.mail.daily_cap,
                    settings.mail.daily_cap,
                    sample.now + timedelta(hours=20),
                    "gotland-2024/sig/klart-for-start@2024-11-01-7d",
                )
                for address, organisation, count in _SAMPLE_HOLDS[: 2 if sample.full else 1]
            ]
            contexts.append(held_context(reports, sample.recipient, sample.now, settings))
        return contexts

    def summary(self, item: HeldNotice, sources: Sources) -> str:
        held = ", ".join(f"{r.held} to {r.address}" for r in item.payload)
        return f"messages held back by mail.daily_cap: {held}"

    def details(self, item: HeldNotice, sources: Sources) -> dict[str, Any]:
        return {"held": {r.address: r.held for r in item.payload}}


_SAMPLE_HOLDS = (
    ("kontakt@polisen.example", "Polisen", 37),
    ("gotland@lansstyrelsen.example", "Länsstyrelsen i Gotlands län", 1),
)

HELD_NOTICE = HeldNoticeKind()
