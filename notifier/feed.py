"""Milestones -> iCalendar feeds: the whole plan, each plan, each organisation.

Pure: no files, no clock. The caller passes ``now`` and the feed history (what each event
looked like when last published, see ``feedhistory``), and gets the feeds and the new history
back. SEQUENCE, LAST-MODIFIED and DTSTAMP come from the history and move only when the event's
content changes, so a rebuild with unchanged content gives the same bytes (and the same ETag):
subscribers download nothing new and see no phantom updates.

Every event is rendered once (``icsrender``, byte for byte as ``icalendar`` would) and the
same bytes go into every feed that holds it (whole, plan, organisation), so an event looks
identical wherever it appears.

Every event is all-day (``VALUE=DATE``) and so floating: no property names a TZID, and a
calendar carries no VTIMEZONE (RFC 5545 3.6.5 asks for one per TZID referenced, and no
client needs one for dates; README, "What calendar clients need").
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from json.encoder import encode_basestring
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

from notifier.bulk import bulk_build
from notifier.catalog import Catalog
from notifier.checks import parse_duration
from notifier.feedhistory import (
    EventRecord,
    FeedRecord,
    History,
    advance,
    milestone_uid,
    utc_stamp,
)
from notifier.icsrender import event_bytes
from notifier.model import Organisation, Plan, PlannedMilestone
from notifier.moves import with_moved_dates
from notifier.progress import done_line
from notifier.records import StatusEntry, Statuses
from notifier.schedule import local_date
from notifier.settings import Settings
from notifier.swedish import swedish_date, window_text

if TYPE_CHECKING:
    from icalendar import Calendar

WHOLE = "calendar"
"""Name of the feed with every milestone of every plan (served as /calendar.ics)."""

PRODID = "-//notifier//Åtgärdsplan påminnelser//SV"

# Bump when the rendering of an event changes in a way subscribers should see: every
# event's digest changes with it, so SEQUENCE and LAST-MODIFIED move once for all.
RENDER_VERSION = "1"

FeedKind = Literal["all", "plan", "organisation"]

_SUMMARY_MEASURE_CHARS = 60
_SUMMARY_MAX_ORGANISATIONS = 3


def feed_path(name: str, token: str | None = None) -> str:
    """URL path (without leading '/') and file path of a feed, the same for both.

    'calendar.ics', 'calendar/<name>.ics', or with a token 'calendar/<token>/<name>.ics'.
    """
    if token is not None:
        return f"calendar/{token}/{name}.ics"
    return "calendar.ics" if name == WHOLE else f"calendar/{name}.ics"


# --- event content ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EventContent:
    """Everything of an event that subscribers see, apart from the stamps."""

    uid: str
    summary: str
    description: str
    start: date
    end: date  # exclusive, as DTEND of an all-day event is
    status: str
    categories: tuple[str, ...]
    url: str

    @property
    def digest(self) -> str:
        """SHA-256 of the content as ``json.dumps(..., ensure_ascii=False, sort_keys=True)``
        writes it (the history stores it: it must never change for the same content),
        written here directly: a large plan has many thousand events to digest."""
        q = encode_basestring
        categories = ", ".join(q(c) for c in self.categories)
        text = (
            f'{{"categories": [{categories}], "description": {q(self.description)}, '
            f'"end": {q(self.end.isoformat())}, "render": {q(RENDER_VERSION)}, '
            f'"start": {q(self.start.isoformat())}, "status": {q(self.status)}, '
            f'"summary": {q(self.summary)}, "uid": {q(self.uid)}, "url": {q(self.url)}}}'
        )
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


_BREAKS = re.compile(r"\r\n?|[\x0b\x0c\x85\u2028\u2029]")
_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")


@lru_cache(maxsize=1 << 14)
def _text(value: str) -> str:
    """Plan text fit for a content line: NFC, so 'å' is one code point and folding can never
    separate 'a' from its ring; every line break as LF (Word's manual break is VT), which
    icalendar escapes; other control characters dropped, as strict parsers reject them."""
    value = _BREAKS.sub("\n", unicodedata.normalize("NFC", value))
    return _CONTROLS.sub("", value).strip()


@lru_cache(maxsize=1 << 14)
def _line(value: str) -> str:
    """Like ``_text``, on one line: names and titles, which clients show in one row."""
    return " ".join(_text(value).split())


def _shorten(text: str, limit: int) -> str:
    """Cut at a word boundary with '…', so a month view shows the start of the action."""
    text = " ".join(text.split()).rstrip(".")
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    if cut.count("(") > cut.count(")"):
        # Half a parenthesis reads worse than none: drop the unfinished aside.
        cut = cut[: cut.rfind("(")]
    return cut.rstrip(",;:–-. ") + "…"


def _organisation_names(organisations: Sequence[Organisation], who: str) -> str:
    if not organisations:
        return _text(who)
    return ", ".join(_line(o.name) for o in organisations)


def _summary(planned: PlannedMilestone) -> str:
    """'Utbildning: Implementera metoden Krogar mot knark – Regionstyrelseförvaltningen, …'.

    What is due first (a month view shows only the first words), then who answers for it.
    """
    milestone = planned.milestone
    what = _shorten(_text(planned.action.measure), _SUMMARY_MEASURE_CHARS)
    label = _line(milestone.label or "")
    if label and not what.casefold().startswith(label.casefold()):
        what = f"{label}: {what}"
    if milestone.tentative:
        what = f"Preliminärt – {what}"
    names = [_line(o.name) for o in planned.organisations]
    if len(names) > _SUMMARY_MAX_ORGANISATIONS:
        who = ", ".join(names[:2]) + " m.fl."
    else:
        who = ", ".join(names)
    return f"{what} – {who}" if who else what


def _description(planned: PlannedMilestone) -> str:
    plan, action, milestone = planned.plan, planned.action, planned.milestone
    due = swedish_date(milestone.due)
    lines = [f"Delmål: {_text(milestone.label)}"] if milestone.label else []
    lines += [
        f"Datum: {due} (preliminärt)" if milestone.tentative else f"Datum: {due}",
        f"Tidsfönster: {window_text(milestone.start, milestone.end, standalone=True)}",
        f"När? (i planen): {_text(action.when) or '–'}",
        f"Ansvariga: {_organisation_names(planned.organisations, action.who)}",
        "",
        f"Åtgärd: {_text(action.measure)}",
        f"Mål: {_text(action.goal) or '–'}",
        f"Orsak: {_text(action.cause) or '–'}",
    ]
    if action.problem:
        lines.append(f"Problem: {_text(action.problem)}")
    area = " – ".join(_text(part) for part in (action.area, action.problem_area) if part)
    if area:
        lines.append(f"Område: {area}")
    lines += [
        "",
        f"Plan: {_line(plan.title)} (daterad {swedish_date(plan.date)})",
        "Påminnelser kommer med e-post; kalendern är en översikt.",
    ]
    return "\n".join(lines)


def _category(area: str) -> str:
    """'1 Narkotika' -> 'Narkotika': the heading number means nothing in a calendar."""
    words = _line(area).split(" ", 1)
    if len(words) == 2 and words[0].replace(".", "").isdigit():
        return words[1]
    return _line(area)


def event_content(
    planned: PlannedMilestone, settings: Settings, status: StatusEntry | None = None
) -> EventContent:
    """The event of ``planned``; done (``status``), it says so first in title and text, and
    keeps its UID, so subscribers see the same event finished rather than a new one."""
    due = planned.milestone.due
    categories = (_category(planned.action.area),) if planned.action.area else ()
    summary, description = _summary(planned), _description(planned)
    if status is not None and status.closed:
        # A milestone labelled "Klart" would otherwise read "Klart: Klart: …".
        summary = f"Klart: {summary.removeprefix('Klart: ')}"
        done = _line(done_line(status, local_date(status.at, settings)))
        comment = f"\nKommentar: {_text(status.comment)}" if status.comment else ""
        description = f"{done}{comment}\n\n{description}"
    return EventContent(
        uid=milestone_uid(planned),
        summary=summary,
        description=description,
        start=due,
        end=due + timedelta(days=1),
        status="TENTATIVE" if planned.milestone.tentative else "CONFIRMED",
        categories=categories,
        url=settings.feeds.url,
    )


def _contents(catalog: Catalog, settings: Settings, statuses: Statuses) -> dict[str, EventContent]:
    return {
        milestone_uid(m): event_content(m, settings, statuses.get(m.key))
        for m in catalog.milestones
    }


@lru_cache(maxsize=1 << 15)
def _event_bytes(content: EventContent, record: EventRecord) -> bytes:
    """One VEVENT, rendered (``icsrender``). Memoised: a rebuild re-renders only events whose
    content or stamps changed."""
    return event_bytes(content, record)


# --- feeds ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedSpec:
    """One feed before rendering: its name in URLs, what it holds, how calendars label it."""

    name: str
    kind: FeedKind
    title: str
    description: str
    milestones: tuple[PlannedMilestone, ...]
    organisation: Organisation | None = None
    plan: Plan | None = None


def _plans_title(plans: Sequence[Plan]) -> str:
    return _text(plans[0].title) if len(plans) == 1 else "Åtgärdsplaner"


def feed_specs(catalog: Catalog, settings: Settings) -> tuple[list[FeedSpec], list[str]]:
    """Every feed: the whole, one per plan, one per organisation with milestones.

    Plans and organisations share the '/calendar/<name>.ics' namespace. A name taken twice
    is reported and only its first holder (the whole feed, then plans) gets the feed.
    """
    plans = list(catalog.plans)
    everything = tuple(catalog.milestones)
    specs = [
        FeedSpec(
            WHOLE,
            "all",
            _plans_title(plans),
            f"Alla delmål i {_plans_title(plans)}. Påminnelser kommer med e-post.",
            everything,
        )
    ]
    # One pass over the milestones instead of one per organisation; a dict keyed by the
    # organisation matches as ``in`` does (by equality), in plan order.
    by_organisation: dict[Organisation, list[PlannedMilestone]] = {}
    for planned in everything:
        for organisation in dict.fromkeys(planned.organisations):
            by_organisation.setdefault(organisation, []).append(planned)
    problems: list[str] = []
    taken = {WHOLE: "the whole feed"}
    for plan in plans:
        if plan.id in taken:
            problems.append(
                f"plan '{plan.id}': its feed name is taken by {taken[plan.id]}; "
                "give the plan another id"
            )
            continue
        taken[plan.id] = f"plan '{plan.id}'"
        specs.append(
            FeedSpec(
                plan.id,
                "plan",
                _text(plan.title),
                f"Alla delmål i {_text(plan.title)}. Påminnelser kommer med e-post.",
                tuple(m for m in everything if m.plan.id == plan.id),
                plan=plan,
            )
        )
    for organisation in catalog.organisations:
        if organisation.slug in taken:
            problems.append(
                f"organisation '{organisation.name}': its feed name '{organisation.slug}' is "
                f"taken by {taken[organisation.slug]}; give it another slug in organisations.toml"
            )
            continue
        taken[organisation.slug] = f"organisation '{organisation.name}'"
        mine = tuple(by_organisation.get(organisation, ()))
        specs.append(
            FeedSpec(
                organisation.slug,
                "organisation",
                f"{organisation.name} – {_plans_title(plans)}",
                f"Delmål i {_plans_title(plans)} som {organisation.name} ansvarar för. "
                "Påminnelser kommer med e-post.",
                mine,
                organisation=organisation,
            )
        )
    return specs, problems


def _calendar_head() -> Calendar:
    from icalendar import Calendar

    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    return cal


def _wrap(head: bytes, parts: Iterable[bytes]) -> bytes:
    """Put already rendered components before the calendar's END line."""
    end = b"END:VCALENDAR\r\n"
    if not head.endswith(end):
        raise ValueError("unexpected calendar serialisation")
    return b"".join((head[: -len(end)], *parts, end))


def _calendar_bytes(
    title: str, description: str, refresh: timedelta, events: Iterable[bytes]
) -> bytes:
    from icalendar import vDuration

    cal = _calendar_head()
    cal.calendar_name = _line(title)  # NAME (RFC 7986) and X-WR-CALNAME (Google, Outlook)
    cal.description = _line(description)  # DESCRIPTION (RFC 7986) and X-WR-CALDESC
    # RFC 7986 requires VALUE=DURATION on REFRESH-INTERVAL; Outlook reads X-PUBLISHED-TTL.
    cal.add("refresh-interval", refresh, parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", vDuration(refresh))
    return _wrap(cal.to_ical(), events)


def _render(
    catalog: Catalog,
    settings: Settings,
    history: History,
    contents: Mapping[str, EventContent],
) -> tuple[dict[str, tuple[FeedSpec, bytes]], list[str]]:
    specs, problems = feed_specs(catalog, settings)
    refresh = parse_duration(settings.feeds.refresh)
    rendered = {uid: _event_bytes(c, history.events[uid]) for uid, c in contents.items()}
    # Each milestone's place (due date, UID) once, not once per feed that holds it.
    places = {id(m): (m.milestone.due, milestone_uid(m)) for m in catalog.milestones}
    feeds = {}
    for spec in specs:
        keyed = sorted(
            places.get(id(m)) or (m.milestone.due, milestone_uid(m)) for m in spec.milestones
        )
        body = _calendar_bytes(
            spec.title, spec.description, refresh, (rendered[uid] for _, uid in keyed)
        )
        feeds[spec.name] = (spec, body)
    return feeds, problems


@dataclass(frozen=True)
class Feed:
    """A rendered feed as served: bytes, a strong ETag, and when its bytes last changed."""

    name: str
    kind: FeedKind
    title: str
    body: bytes
    etag: str
    last_modified: datetime
    organisation: Organisation | None = None
    plan: Plan | None = None

    @property
    def path(self) -> str:
        return feed_path(self.name)


@dataclass(frozen=True)
class FeedSet:
    """Every feed by name, immutable, plus the problems found while naming them."""

    feeds: Mapping[str, Feed] = field(default_factory=lambda: MappingProxyType({}))
    problems: tuple[str, ...] = ()

    def __getitem__(self, name: str) -> Feed:
        return self.feeds[name]

    def get(self, name: str) -> Feed | None:
        return self.feeds.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self.feeds

    def __iter__(self) -> Iterator[Feed]:
        return iter(self.feeds.values())

    def __len__(self) -> int:
        return len(self.feeds)


@dataclass(frozen=True)
class Refresh:
    feeds: FeedSet
    history: History


@bulk_build
def refresh(
    catalog: Catalog,
    settings: Settings,
    history: History,
    now: datetime,
    statuses: Statuses | None = None,
) -> Refresh:
    """Build every feed for the catalog; return the feeds and the history to save.

    ``statuses``: the current status per milestone key (none: every milestone open); a done
    milestone's event changes content, so its SEQUENCE moves once.

    A feed's Last-Modified moves to ``now`` only when its bytes change (also when an event
    leaves it, which no event stamp would show), so If-Modified-Since stays truthful.
    """
    stamp = utc_stamp(now)
    catalog = with_moved_dates(catalog, statuses or {})
    contents = _contents(catalog, settings, statuses or {})
    history = advance(history, {uid: c.digest for uid, c in contents.items()}, now)
    rendered, problems = _render(catalog, settings, history, contents)
    records = dict(history.feeds)
    feeds: dict[str, Feed] = {}
    for name, (spec, body) in rendered.items():
        digest = hashlib.sha256(body).hexdigest()
        old = records.get(name)
        if old is None or old.digest != digest:
            records[name] = old = FeedRecord(digest, stamp)
        feeds[name] = Feed(
            name,
            spec.kind,
            spec.title,
            body,
            '"' + digest[:32] + '"',
            old.last_modified,
            spec.organisation,
            spec.plan,
        )
    return Refresh(
        FeedSet(MappingProxyType(feeds), tuple(problems)), History(history.events, records)
    )


def milestone_calendar(
    planned: PlannedMilestone, settings: Settings, history: History | None = None
) -> bytes:
    """A one-event calendar (METHOD:PUBLISH) for an email attachment: same UID and content as
    in the feeds, so importing it updates the subscribed event instead of adding a twin.

    It carries no calendar name or refresh hints: those would make a client offer to open it
    as a calendar of its own instead of as one entry. Without a history record (feeds never
    built for this milestone) the stamps come from the plan's date with sequence 0:
    deterministic, and older than any real revision. With a stale record (content changed
    since) the sequence is one higher, so the attached version wins over the subscribed one.
    """
    uid = milestone_uid(planned)
    content = event_content(planned, settings)
    record = history.events.get(uid) if history is not None else None
    if record is None:
        stamp = datetime.combine(planned.plan.date, datetime.min.time(), tzinfo=UTC)
        record = EventRecord(content.digest, 0, stamp)
    elif record.digest != content.digest:
        record = EventRecord(content.digest, record.sequence + 1, record.last_modified)
    head = _calendar_head().to_ical()
    return _wrap(head, [_event_bytes(content, record)])
