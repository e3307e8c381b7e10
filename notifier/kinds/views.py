"""What the templates see of milestones and recipients, as plain ready-formatted text. Pure.

Every kind's context starts from ``common_context``; the kinds about one milestone add
``milestone_context``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from notifier.kinds.base import Context
from notifier.kinds.samples import samples
from notifier.links import status_url
from notifier.model import PlannedMilestone, Recipient
from notifier.schedule import local_date
from notifier.settings import Settings
from notifier.swedish import (
    relative_days,
    shorten,
    swedish_date,
    swedish_list,
    swedish_weekday,
    window_text,
)


@dataclass(frozen=True)
class Contact:
    """An organisation named in an email, with the addresses it is reached at."""

    name: str
    emails: tuple[str, ...]


@dataclass(frozen=True)
class MilestoneView:
    """A planned milestone as plain, ready-formatted text for the templates."""

    key: str
    label: str
    measure: str
    measure_short: str
    topic: str
    topic_short: str
    cause: str
    goal: str
    problem: str
    area: str
    problem_area: str
    area_text: str
    when_text: str
    plan_title: str
    plan_id: str
    due: str
    due_iso: str
    due_weekday: str
    window: str
    relative: str
    days: int
    tentative: bool
    organisations: tuple[str, ...]
    organisations_text: str
    contacts: tuple[Contact, ...]


def topic(label: str, measure: str) -> str:
    """The action's text without the milestone's label at its start.

    Subjects and headings put the label first ("Uppföljning om 7 dagar"); when the action's
    text begins with the same word ('Uppföljning "Lilla islandsmodellen"') it would be said
    twice. Empty when the text is nothing but the label.
    """
    measure = measure.strip()
    label = label.strip()
    head = measure[: len(label)]
    rest = measure[len(label) :]
    if not label or head.casefold() != label.casefold() or rest[:1].isalnum():
        return measure
    return rest.lstrip(" :,;.–-").strip()


def milestone_view(planned: PlannedMilestone, today: date) -> MilestoneView:
    action, milestone = planned.action, planned.milestone
    names = tuple(o.name for o in planned.organisations)
    label = milestone.label or "Delmål"
    rest = topic(label, action.measure)
    return MilestoneView(
        key=planned.key,
        label=label,
        measure=action.measure.strip(),
        measure_short=shorten(action.measure),
        topic=rest,
        topic_short=shorten(rest) if rest else "",
        cause=action.cause.strip(),
        goal=action.goal.strip(),
        problem=action.problem.strip(),
        area=action.area.strip(),
        problem_area=action.problem_area.strip(),
        area_text=" – ".join(p.strip() for p in (action.area, action.problem_area) if p.strip()),
        when_text=action.when.strip(),
        plan_title=planned.plan.title.strip(),
        plan_id=planned.plan.id,
        due=swedish_date(milestone.due),
        due_iso=milestone.due.isoformat(),
        due_weekday=swedish_weekday(milestone.due),
        window=window_text(milestone.start, milestone.end),
        relative=relative_days(milestone.due, today),
        days=(milestone.due - today).days,
        tentative=milestone.tentative,
        organisations=names,
        organisations_text=swedish_list(names) or "(ingen organisation angiven)",
        contacts=tuple(Contact(o.name, o.emails) for o in planned.organisations),
    )


def by_due(items: Sequence[PlannedMilestone]) -> list[PlannedMilestone]:
    return sorted(items, key=lambda p: (p.milestone.due, p.key))


def attachment_name(planned: PlannedMilestone) -> str:
    """'gotland-2024-sig-klart-for-start.ics': ASCII, so every mail client shows it unchanged."""
    stem = re.sub(r"[^a-z0-9]+", "-", planned.key.lower()).strip("-") or "delmal"
    return f"{stem}.ics"


def _feed_urls(
    settings: Settings, planned: PlannedMilestone | None, organisation: str
) -> tuple[str, str]:
    """(the recipient's organisation feed or the plan feed, the plan feed).

    With secret feed tokens the public address is not derivable here; the templates then
    say to ask the coordinator rather than print an address that would answer 404.
    """
    if settings.feeds.tokens:
        return "", ""
    base = settings.feeds.base_url.rstrip("/")
    whole = f"{base}/calendar.ics"
    organisations = planned.organisations if planned else ()
    slug = next(
        (o.slug for o in organisations if organisation in (o.name, o.slug)),
        None,
    )
    return (f"{base}/calendar/{slug}.ics" if slug else whole), whole


def common_context(
    recipient: Recipient,
    now: datetime,
    settings: Settings,
    planned: PlannedMilestone | None = None,
) -> Context:
    """What every template sees: to whom, from whom, today, and where the feeds are."""
    feed_url, plan_feed_url = _feed_urls(settings, planned, recipient.organisation)
    return {
        "recipient": recipient,
        "coordinator": settings.coordinator,
        "sender_name": settings.mail.from_name,
        "today": swedish_date(local_date(now, settings)),
        "feed_url": feed_url,
        "plan_feed_url": plan_feed_url,
    }


def milestone_context(
    planned: PlannedMilestone, recipient: Recipient, now: datetime, settings: Settings
) -> Context:
    """What the templates of a message about one milestone see: ``m`` and its attachment."""
    context = common_context(recipient, now, settings, planned)
    context["m"] = milestone_view(planned, local_date(now, settings))
    context["attachment_name"] = attachment_name(planned)
    # Only the kinds whose recipients answer for the milestone give a personal link.
    context["status_url"] = ""
    return context


SAMPLE_STATUS_URL = "https://notifier.exempel.invalid/status/exempel"


def sample_milestone_contexts(settings: Settings) -> list[Context]:
    """The samples' contexts; the full one with a status link, so both branches are checked."""
    contexts = []
    for sample in samples():
        context = milestone_context(sample.planned, sample.recipient, sample.now, settings)
        context["status_url"] = SAMPLE_STATUS_URL if sample.full else ""
        contexts.append(context)
    return contexts


def with_status_link(
    context: Context, planned: PlannedMilestone, recipient: Recipient, settings: Settings
) -> Context:
    context["status_url"] = status_url(planned, recipient, settings)
    return context
