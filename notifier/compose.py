"""Reminder, due notice, date change and digest -> finished ``EmailMessage`` objects.

Every kind of email is a triple of Jinja2 templates in the templates folder
(``<kind>.subject.txt``, ``<kind>.txt``, ``<kind>.html``). ``Composer.load`` reads and checks
them once at start-up, rendering each with sample data so that a misspelt variable fails
then, naming the file and line, instead of at the moment a reminder is due. After that,
composing is pure: the same inputs give the same bytes, including the Message-ID, so a
resend after a crash is recognisable as the same message.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import re
import traceback
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import jinja2
from babel.dates import format_date

from notifier import mimepolicy
from notifier.config import FeedSettings, Settings
from notifier.errors import UserError
from notifier.model import Action, Milestone, Organisation, Plan, PlannedMilestone, Recipient

KINDS = ("reminder", "due", "changed", "digest", "problem")
PARTS = ("subject.txt", "txt", "html")
LOCALE = "sv"

# Control characters, line and paragraph separators: anything that could end a header line
# or confuse a mail client. Plan text reaches Subject and display names only through this.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_SPACES = re.compile(r"\s+")
_SUBJECT_MAX = 150
_SHORT_MAX = 60
# Words a shortened text should not end on: "… till gymnasieelever och…" reads as a slip.
_CONJUNCTIONS = {"och", "eller", "samt", "men", "att", "som", "en", "ett", "den", "det", "de"}
_PREPOSITIONS = {"i", "på", "av", "för", "till", "från", "med", "mot", "om", "kring", "vid", "hos"}
_DANGLING = frozenset(_CONJUNCTIONS | _PREPOSITIONS)


# --- The objects composing works on -------------------------------------------------------


class Reminder(Protocol):
    """One reminder of one milestone, as the schedule computes it."""

    @property
    def key(self) -> str: ...
    @property
    def planned(self) -> PlannedMilestone: ...
    @property
    def lead(self) -> timedelta: ...
    @property
    def send_at(self) -> datetime: ...
    @property
    def recipients(self) -> Sequence[Recipient]: ...


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


@dataclass(frozen=True)
class SampleReminder:
    """A reminder built outside the schedule: template checks and ``notifier send-test``."""

    key: str
    planned: PlannedMilestone
    lead: timedelta
    send_at: datetime
    recipients: tuple[Recipient, ...] = field(default=())


CalendarFunction = Callable[[PlannedMilestone, Settings], bytes]


# --- Identity -----------------------------------------------------------------------------


def message_id(key: str, address: str, settings: Settings) -> str:
    """'<hash@domain of the From address>', the same for the same message to the same person."""
    digest = hashlib.sha256(f"{key}\n{address.strip().casefold()}".encode()).hexdigest()[:32]
    return f"<{digest}@{_domain(settings.mail.from_address)}>"


def recipient_identity(recipient: Any) -> str:
    """What tells two recipients of one reminder apart.

    The coordinator may stand in for several organisations without address on the same
    milestone; each of those messages says a different thing, so each needs its own id.
    """
    address = str(recipient.address)
    if getattr(recipient, "via_coordinator", False):
        return f"{address}#{recipient.organisation}"
    return address


def due_key(planned: PlannedMilestone) -> str:
    return f"due/{planned.key}/{planned.milestone.due.isoformat()}"


def changed_key(planned: PlannedMilestone, old_due: date) -> str:
    return f"changed/{planned.key}/{old_due.isoformat()}/{planned.milestone.due.isoformat()}"


def problem_key(problems: Sequence[str]) -> str:
    """The same problems give the same key: the coordinator hears of each once."""
    digest = hashlib.sha256("\n".join(sorted(problems)).encode("utf-8")).hexdigest()[:16]
    return f"problem/{digest}"


def digest_key(digest: DigestData) -> str:
    return f"digest/{digest.start.isoformat()}/{digest.end.isoformat()}"


def _domain(address: str) -> str:
    domain = address.rpartition("@")[2].strip().lower()
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return "notifier.invalid"
    return domain if re.fullmatch(r"[a-z0-9.-]+\.[a-z0-9-]+", domain) else "notifier.invalid"


# --- Text helpers -------------------------------------------------------------------------


def header_text(text: str) -> str:
    """One line of plain text, safe for a header: controls and line breaks become spaces.

    '=?' gets an invisible word joiner: the header parser would otherwise decode text that
    looks like an RFC 2047 encoded word, and one hiding CR LF would add a header of its own.
    """
    text = unicodedata.normalize("NFC", text)
    return _SPACES.sub(" ", _UNSAFE.sub(" ", text)).strip().replace("=?", "=\u2060?")


def shorten(text: str, limit: int = _SHORT_MAX) -> str:
    """Cut at a word boundary with '…', for subjects that must be read at a glance.

    The cut leaves no parenthesis open and no "och" or "till" hanging at the end, as long
    as at least half of the room is still used.
    """
    text = header_text(text).rstrip(".")
    if len(text) <= limit:
        return text
    cut = _trim_cut(text[: limit - 1].rsplit(" ", 1)[0])
    opened = cut.rfind("(")
    if opened > cut.rfind(")") and opened >= limit // 2:
        cut = _trim_cut(cut[:opened])
    words = cut.split(" ")
    while len(words) > 1 and words[-1].casefold() in _DANGLING:
        shorter = _trim_cut(" ".join(words[:-1]))
        if len(shorter) < limit // 2:
            break
        cut, words = shorter, shorter.split(" ")
    return f"{cut}…"


def _trim_cut(text: str) -> str:
    return text.rstrip(",;:.–- ")


def swedish_date(day: date) -> str:
    """'30 juni 2024'."""
    return format_date(day, "d MMMM y", locale=LOCALE)


def swedish_weekday(day: date) -> str:
    """'söndag'."""
    return format_date(day, "EEEE", locale=LOCALE)


def relative_days(day: date, today: date) -> str:
    """'i dag', 'i morgon', 'om 7 dagar', 'i går', 'för 3 dagar sedan'."""
    days = (day - today).days
    if days == 0:
        return "i dag"
    if days == 1:
        return "i morgon"
    if days == -1:
        return "i går"
    return f"om {days} dagar" if days > 0 else f"för {-days} dagar sedan"


def swedish_list(items: Sequence[str]) -> str:
    """'A', 'A och B', 'A, B och C'."""
    items = [item for item in items if item]
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} och {items[-1]}"


def swedish_period(start: date, end: date) -> str:
    """'1–31 mars 2024', '1 mars – 31 maj 2024', '30 december 2024 – 26 januari 2025'."""
    if start == end:
        return swedish_date(end)
    if (start.year, start.month) == (end.year, end.month):
        return f"{start.day}–{swedish_date(end)}"
    if start.year == end.year:
        first = format_date(start, "d MMMM", locale=LOCALE)
    else:
        first = swedish_date(start)
    return f"{first} – {swedish_date(end)}"


def _window(milestone: Milestone) -> str:
    """The milestone's window when it is more than its due day, e.g. '1 mars – 31 maj 2024'."""
    start, end = milestone.start, milestone.end
    if start is None or start == end:
        return ""
    return swedish_period(start, end)


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


# --- What the templates see ---------------------------------------------------------------


@dataclass(frozen=True)
class Contact:
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
        window=_window(milestone),
        relative=relative_days(milestone.due, today),
        days=(milestone.due - today).days,
        tentative=milestone.tentative,
        organisations=names,
        organisations_text=swedish_list(names) or "(ingen organisation angiven)",
        contacts=tuple(Contact(o.name, o.emails) for o in planned.organisations),
    )


@dataclass(frozen=True)
class ProblemView:
    """One refused edit, for a coordinator who is not a programmer: where it is, in Swedish,
    and the program's own (English, technical) message, to quote."""

    where: str
    explanation: str
    message: str


# "<file>: …" or "<file>:<line>: …", where <file> looks like a path; a message may wrap
# the location of what it reports ("<folder>: templates: <file>:<line>: …").
_LOCATION = re.compile(
    r"(?:[a-z]+: )?(?P<file>[^\s:]+)(?::(?P<line>\d+))?: (?P<rest>.*)", re.DOTALL
)
_FILE_SUFFIXES = (".toml", ".txt", ".html", ".json", ".pem")
_TOML_LINE = re.compile(r"\(at line (\d+), column \d+\)")
_EXPLANATIONS = (
    (
        re.compile(r"not valid TOML"),
        "Filen går inte att läsa. Ofta saknas ett citattecken, ett komma eller en parentes.",
    ),
    (
        re.compile(r"unknown key"),
        "Ett namn i filen är okänt för programmet. Kontrollera stavningen.",
    ),
    (
        re.compile(r"Input should be"),
        "Ett värde har fel form, till exempel text där det ska stå ett tal eller tvärtom.",
    ),
    (
        re.compile(r"is undefined|has no attribute"),
        "Mallen använder ett namn som inte finns.",
    ),
)


def problem_views(problems: Sequence[str], settings: Settings) -> list[ProblemView]:
    """Each problem with its location said in Swedish; lines without a location of their
    own (a hint, a message's second line) belong to the problem before them."""
    views: list[ProblemView] = []
    for line in problems:
        text = header_text(line)
        if not text:
            continue
        view = _problem_view(text, settings)
        if views and not view.where:
            last = views[-1]
            views[-1] = replace(last, message=f"{last.message}\n{text}")
        else:
            views.append(view)
    return views


def _location(text: str) -> re.Match[str] | None:
    match = _LOCATION.fullmatch(text)
    if match is None or not ("/" in match["file"] or match["file"].endswith(_FILE_SUFFIXES)):
        return None
    return match


def _problem_view(text: str, settings: Settings) -> ProblemView:
    match = _location(text)
    if match is None:
        return ProblemView("", _explanation(text), text)
    path, line, rest = match["file"], match["line"], match["rest"]
    # The outermost location may be a folder; the file named inside it says more.
    while (inner := _location(rest)) is not None:
        path, line, rest = inner["file"], inner["line"], inner["rest"]
    if line is None and (toml := _TOML_LINE.search(rest)) is not None:
        line = toml[1]
    where = f"{_file_kind(Path(path), settings)} {path}"
    if line is not None:
        where = f"{where}, rad {line}"
    return ProblemView(where, _explanation(rest), rest)


def _file_kind(path: Path, settings: Settings) -> str:
    config = settings.source.name if settings.source else "config.toml"
    if path.suffix in (".txt", ".html"):
        return "Mallen"
    if path.name == "organisations.toml":
        return "Adresslistan"
    if path.name == config:
        return "Inställningsfilen"
    if path.suffix == ".toml":
        return "Planfilen"
    return "Filen" if path.suffix else "Mappen"


def _explanation(message: str) -> str:
    return next((swedish for pattern, swedish in _EXPLANATIONS if pattern.search(message)), "")


@dataclass(frozen=True)
class RecipientView:
    address: str
    organisation: str
    via_coordinator: bool


def _recipient_view(recipient: Any) -> RecipientView:
    return RecipientView(
        address=str(recipient.address),
        organisation=str(getattr(recipient, "organisation", "") or ""),
        via_coordinator=bool(getattr(recipient, "via_coordinator", False)),
    )


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


def attachment_name(planned: PlannedMilestone) -> str:
    """'gotland-2024-sig-klart-for-start.ics': ASCII, so every mail client shows it unchanged."""
    stem = re.sub(r"[^a-z0-9]+", "-", planned.key.lower()).strip("-") or "delmal"
    return f"{stem}.ics"


# --- The calendar attachment --------------------------------------------------------------


def _calendar_attachment(planned: PlannedMilestone, settings: Settings) -> bytes:
    """The milestone as a one-event calendar, with the same UID as in the feed."""
    # Imported here: the feed module pulls in the plan catalog, and composing must stay
    # importable (templates checkable) without it.
    from notifier.feed import milestone_calendar

    return milestone_calendar(planned, settings, None)


# --- Composer -----------------------------------------------------------------------------


class Composer:
    """Renders the template triples into messages; built once by ``load``."""

    def __init__(
        self,
        environment: jinja2.Environment,
        folder: Path,
        calendar: CalendarFunction = _calendar_attachment,
    ) -> None:
        self._environment = environment
        self.folder = folder
        self._calendar = calendar
        # The attachment of the milestone last composed: every recipient of one reminder
        # gets the same one, and building it is the costliest step after the MIME tree.
        self._last_calendar: tuple[PlannedMilestone, Settings, bytes] | None = None

    def _calendar_bytes(self, planned: PlannedMilestone, settings: Settings) -> bytes:
        last = self._last_calendar
        if last is not None and last[0] is planned and last[1] is settings:
            return last[2]
        data = self._calendar(planned, settings)
        self._last_calendar = (planned, settings, data)
        return data

    @classmethod
    def load(cls, folder: Path, calendar: CalendarFunction | None = None) -> Composer:
        """Read and sample-render every template; raise UserError naming each faulty file."""
        folder = Path(folder)
        if not folder.is_dir():
            raise UserError(
                [f"{folder}: no such template folder"],
                hint="Set templates.dir in config.toml to the folder with the email templates.",
            )
        composer = cls(_environment(folder), folder, calendar or _calendar_attachment)
        problems = composer._compile_all()
        if not problems:
            problems = composer._render_samples()
        if problems:
            raise UserError(problems, hint="Fix the templates; nothing is sent until they load.")
        return composer

    # -- the four kinds --

    def reminder(
        self, reminder: Reminder, recipient: Recipient, now: datetime, settings: Settings
    ) -> EmailMessage:
        planned = reminder.planned
        context = self._context(planned, recipient, now, settings)
        context["lead_days"] = reminder.lead.days
        return self._message(
            "reminder",
            context,
            recipient,
            key=reminder.key,
            now=now,
            settings=settings,
            calendar=planned,
        )

    def due_notice(
        self, planned: PlannedMilestone, recipient: Any, now: datetime, settings: Settings
    ) -> EmailMessage:
        context = self._context(planned, recipient, now, settings)
        return self._message(
            "due", context, recipient, key=due_key(planned), now=now, settings=settings
        )

    def changed(
        self,
        planned: PlannedMilestone,
        old_due: date,
        recipient: Recipient,
        now: datetime,
        settings: Settings,
    ) -> EmailMessage:
        context = self._context(planned, recipient, now, settings)
        context["old_due"] = swedish_date(old_due)
        context["old_due_weekday"] = swedish_weekday(old_due)
        context["later"] = planned.milestone.due > old_due
        return self._message(
            "changed",
            context,
            recipient,
            key=changed_key(planned, old_due),
            now=now,
            settings=settings,
            calendar=planned,
        )

    def digest(
        self, digest_data: DigestData, recipient: Any, now: datetime, settings: Settings
    ) -> EmailMessage:
        context = self._digest_context(digest_data, recipient, now, settings)
        return self._message(
            "digest", context, recipient, key=digest_key(digest_data), now=now, settings=settings
        )

    def problem(
        self, problems: Sequence[str], recipient: Any, now: datetime, settings: Settings
    ) -> EmailMessage:
        """To the coordinator: an edit was refused and the last good plan is still in use."""
        context = self._problem_context(problems, recipient, now, settings)
        return self._message(
            "problem", context, recipient, key=problem_key(problems), now=now, settings=settings
        )

    # -- building --

    def _problem_context(
        self, problems: Sequence[str], recipient: Any, now: datetime, settings: Settings
    ) -> dict[str, Any]:
        context = self._common(recipient, now, settings, planned=None)
        context["problems"] = problem_views(problems, settings)
        return context

    def _common(
        self, recipient: Any, now: datetime, settings: Settings, planned: PlannedMilestone | None
    ) -> dict[str, Any]:
        view = _recipient_view(recipient)
        feed_url, plan_feed_url = _feed_urls(settings, planned, view.organisation)
        return {
            "recipient": view,
            "coordinator": settings.coordinator,
            "sender_name": settings.mail.from_name,
            "today": swedish_date(_local_date(now, settings)),
            "feed_url": feed_url,
            "plan_feed_url": plan_feed_url,
        }

    def _digest_context(
        self, data: DigestData, recipient: Any, now: datetime, settings: Settings
    ) -> dict[str, Any]:
        today = _local_date(now, settings)
        context = self._common(recipient, now, settings, planned=None)
        context.update(
            period=swedish_period(data.start, data.end),
            period_start=swedish_date(data.start),
            period_end=swedish_date(data.end),
            upcoming=[milestone_view(p, today) for p in _by_due(data.upcoming)],
            overdue=[milestone_view(p, today) for p in _by_due(data.overdue)],
            unreadable=[header_text(text) for text in data.unreadable],
            unreachable=[header_text(text) for text in data.unreachable],
            failed=[_failure(item) for item in data.failed],
        )
        return context

    def _context(
        self, planned: PlannedMilestone, recipient: Any, now: datetime, settings: Settings
    ) -> dict[str, Any]:
        context = self._common(recipient, now, settings, planned)
        context["m"] = milestone_view(planned, _local_date(now, settings))
        context["attachment_name"] = attachment_name(planned)
        return context

    def _render(self, name: str, context: dict[str, Any]) -> str:
        return self._environment.get_template(name).render(context)

    def _message(
        self,
        kind: str,
        context: dict[str, Any],
        recipient: Any,
        *,
        key: str,
        now: datetime,
        settings: Settings,
        calendar: PlannedMilestone | None = None,
    ) -> EmailMessage:
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("now must be timezone-aware: the Date header needs an offset")
        message = EmailMessage(policy=mimepolicy.BUILD)
        message["Subject"] = shorten(self._render(f"{kind}.subject.txt", context), _SUBJECT_MAX)
        message["From"] = _mailbox(settings.mail.from_name, settings.mail.from_address)
        message["To"] = _to_address(recipient, settings)
        message["Reply-To"] = _reply_to(settings)
        # Local time whatever zone the caller's clock gives: readers compare it with the
        # dates in the text, and every message of one kind should look the same.
        message["Date"] = format_datetime(now.astimezone(_zone(settings)))
        message["Message-ID"] = message_id(key, recipient_identity(recipient), settings)
        # RFC 3834: an automatic message; no auto-replies, no out-of-office loops.
        message["Auto-Submitted"] = "auto-generated"
        # Outlook and Exchange honour only this one for out-of-office and read receipts.
        message["X-Auto-Response-Suppress"] = "All"
        # Quoted-printable keeps every part 7-bit, so no relay needs 8BITMIME.
        message.set_content(
            self._render(f"{kind}.txt", context), charset="utf-8", cte="quoted-printable"
        )
        message.add_alternative(
            self._render(f"{kind}.html", context),
            subtype="html",
            charset="utf-8",
            cte="quoted-printable",
        )
        if calendar is not None:
            message.add_attachment(
                self._calendar_bytes(calendar, settings),
                maintype="text",
                subtype="calendar",
                filename=attachment_name(calendar),
                params={"method": "PUBLISH", "charset": "UTF-8"},
            )
        # Last: set_content and add_attachment move or drop Content-* headers set earlier.
        message["Content-Language"] = "sv"
        _fix_boundaries(message)
        return message

    # -- validation --

    def _compile_all(self) -> list[str]:
        problems = []
        for name in template_names():
            path = self.folder / name
            if not path.is_file():
                problems.append(f"{path}: missing; every kind needs .subject.txt, .txt and .html")
                continue
            try:
                self._environment.get_template(name)
            except jinja2.TemplateSyntaxError as error:
                problems.append(f"{path}:{error.lineno}: {error.message}")
            except UnicodeDecodeError as error:
                problems.append(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})")
        return problems

    def _render_samples(self) -> list[str]:
        """Render every template with each sample, so undefined names fail now, not at 08:00."""
        problems: dict[str, str] = {}
        # Defaults, with feed tokens off and on (the templates branch on whether a feed
        # address can be given): the check must not depend on the environment it runs in.
        variants = (
            Settings.model_construct(),
            Settings.model_construct(feeds=FeedSettings.model_construct(tokens=True)),
        )
        for settings, sample in itertools.product(variants, _samples()):
            for kind in KINDS:
                for part in PARTS:
                    name = f"{kind}.{part}"
                    if name in problems:
                        continue
                    try:
                        self._render(name, self._sample_context(kind, sample, settings))
                    except Exception as error:  # any failure names the template and line
                        problems[name] = self._describe(name, error)
        return list(problems.values())

    def _sample_context(self, kind: str, sample: _Sample, settings: Settings) -> dict[str, Any]:
        if kind == "problem":
            return self._problem_context(sample.unreadable, sample.recipient, sample.now, settings)
        if kind == "digest":
            data = DigestData(
                sample.now.date(),
                sample.now.date() + timedelta(weeks=4),
                upcoming=sample.listed,
                overdue=sample.listed,
                unreadable=sample.unreadable,
                failed=sample.failed,
                unreachable=sample.unreachable,
            )
            return self._digest_context(data, sample.recipient, sample.now, settings)
        context = self._context(sample.planned, sample.recipient, sample.now, settings)
        context.update(
            lead_days=7,
            old_due=swedish_date(sample.planned.milestone.due - timedelta(days=14)),
            old_due_weekday=swedish_weekday(sample.planned.milestone.due - timedelta(days=14)),
            later=sample.later,
        )
        return context

    def _describe(self, name: str, error: Exception) -> str:
        path = self.folder / name
        line = _template_line(error, path)
        where = f"{path}:{line}" if line else str(path)
        if isinstance(error, jinja2.UndefinedError):
            return f"{where}: {error.message} (no such variable or attribute)"
        return f"{where}: {type(error).__name__}: {error}"


def _fix_boundaries(message: EmailMessage) -> None:
    """Boundaries derived from the content instead of random ones: the same message gives
    the same bytes, so an outbox file or a resend after a crash is identical to the first."""
    parts = [part for part in message.walk() if part.is_multipart()]
    # Every leaf is quoted-printable or base64, where '=_' cannot occur: the boundary is safe
    # whatever the hash; hashing the encoded payloads only makes it repeatable.
    leaves = "".join(str(p.get_payload()) for p in message.walk() if not p.is_multipart())
    seed = hashlib.sha256(f"{message['Message-ID']}\n{leaves}".encode()).hexdigest()[:24]
    for number, part in enumerate(parts):
        part.set_boundary(f"=_notifier_{seed}_{number}")


def template_names() -> list[str]:
    return [f"{kind}.{part}" for kind in KINDS for part in PARTS]


def _environment(folder: Path) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder, encoding="utf-8"),
        undefined=jinja2.StrictUndefined,
        # HTML escapes all plan text; the text parts and subjects are plain text.
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )


def _template_line(error: Exception, path: Path) -> int | None:
    """The template line an error came from; Jinja2 rewrites tracebacks to template frames."""
    line = None
    for frame, lineno in traceback.walk_tb(error.__traceback__):
        if Path(frame.f_code.co_filename) == path:
            line = lineno
    return line


def _zone(settings: Settings) -> ZoneInfo:
    return ZoneInfo(settings.reminders.timezone)


def _local_date(now: datetime, settings: Settings) -> date:
    return now.astimezone(_zone(settings)).date()


def _by_due(items: Sequence[PlannedMilestone]) -> list[PlannedMilestone]:
    return sorted(items, key=lambda p: (p.milestone.due, p.key))


def _failure(item: Failure | tuple[str, str, str]) -> Failure:
    failure = item if isinstance(item, Failure) else Failure(*item)
    return Failure(header_text(failure.address), failure.key, header_text(failure.error))


def _to_address(recipient: Any, settings: Settings) -> str:
    address = str(recipient.address).strip()
    if getattr(recipient, "via_coordinator", False) or address == settings.coordinator.email:
        name = settings.coordinator.name
    else:
        name = str(getattr(recipient, "organisation", "") or "")
    return _mailbox(name, address)


def _reply_to(settings: Settings) -> str:
    if settings.mail.reply_to:
        return _mailbox("", settings.mail.reply_to)
    return _mailbox(settings.coordinator.name, settings.coordinator.email)


@functools.lru_cache(maxsize=1024)
def _mailbox(name: str, address: str) -> str:
    """'"Name" <address>' as text: ``Address`` checks and quotes it once per pair, and as
    text the header is parsed and folded once per value (``mimepolicy``)."""
    return str(Address(header_text(name), addr_spec=address))


# --- Sample data: template checks and send-test -------------------------------------------


SAMPLE_PLAN = Plan(
    id="exempelplan",
    title="Åtgärdsplan 2024 – brottsförebyggande insatser",
    date=date(2024, 5, 6),
    year=2024,
    timezone="Europe/Stockholm",
    actions=(),
)

SAMPLE_ACTION = Action(
    id="trygghetsvandringar",
    area="Våld",
    problem_area="Våld kopplat till krogmiljö och hög berusningsgrad",
    problem="Personer med alltför hög berusningsgrad i krogmiljö orsakar problem.",
    cause="Otrygghet i centrala Visby sena kvällar under sommaren.",
    goal="Ökad trygghet och färre våldsbrott i krogmiljön.",
    measure="Trygghetsvandringar i Visby innerstad tillsammans med krögare och föreningar.",
    who="Polisen, Regionstyrelseförvaltningen",
    when="Klart juni 2024 (preliminärt)",
)

SAMPLE_ORGANISATIONS = (
    Organisation("Polisen", "polisen", emails=("polisen@exempel.invalid",)),
    Organisation("Regionstyrelseförvaltningen", "regionstyrelseforvaltningen"),
)


def sample_planned(due: date = date(2024, 6, 30), tentative: bool = True) -> PlannedMilestone:
    milestone = Milestone("Klart", due.replace(day=1), due, due, tentative, SAMPLE_ACTION.when)
    return PlannedMilestone(SAMPLE_PLAN, SAMPLE_ACTION, "klart", milestone, SAMPLE_ORGANISATIONS)


def sample_reminder(
    planned: PlannedMilestone, address: str, now: datetime, lead: timedelta | None = None
) -> SampleReminder:
    """One reminder of ``planned`` to ``address``, with a key of its own for each call time."""
    organisation = planned.organisations[0].name if planned.organisations else "Exempel"
    recipient = Recipient(address, organisation)
    days = lead or max(planned.milestone.due - now.date(), timedelta(0))
    key = f"send-test/{now.strftime('%Y%m%dT%H%M%S')}/{address.casefold()}"
    return SampleReminder(key, planned, days, now, (recipient,))


@dataclass(frozen=True)
class _Sample:
    planned: PlannedMilestone
    recipient: Recipient
    now: datetime
    later: bool
    listed: tuple[PlannedMilestone, ...]
    unreadable: tuple[str, ...]
    failed: tuple[Failure, ...]
    unreachable: tuple[str, ...] = ()


def _samples() -> tuple[_Sample, ...]:
    """Two samples that together take every branch a template is likely to have."""
    now = datetime(2024, 6, 23, 8, 0, tzinfo=ZoneInfo("Europe/Stockholm"))
    full = _Sample(
        planned=sample_planned(tentative=True),
        recipient=Recipient("samordnare@exempel.invalid", "Regionstyrelseförvaltningen", True),
        now=now,
        later=True,
        listed=(sample_planned(tentative=True), sample_planned(date(2024, 7, 15), False)),
        unreadable=("exempelplan, åtgärd 'trygghetsvandringar': \"Löpande\"",),
        unreachable=("Gotlands förenade besöksnäring: har ingen e-postadress i adresslistan",),
        failed=(Failure("polisen@exempel.invalid", "exempelplan/x/1", "550 mailbox unavailable"),),
    )
    plain = _Sample(
        planned=sample_planned(tentative=False),
        recipient=Recipient("polisen@exempel.invalid", "Polisen", False),
        now=now,
        later=False,
        listed=(),
        unreadable=(),
        failed=(),
    )
    return full, plain
