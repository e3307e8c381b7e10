"""The coordinator's overview of every plan, as a view model for its page. Pure.

catalog + current statuses + now + filters -> one section per plan: its months (from the first
to the last due date shown, empty months included, across year ends), a row per responsible
organisation, and in each month the milestones due then as chips with their status. A
milestone several organisations answer for is shown in each of their rows.

Each chip has one of five looks, so the page can say at a glance what needs attention: done,
needs a new date (someone asked; the coordinator answers), overdue (past due in its plan's
time zone and not done, see ``progress.is_overdue``), tentative and open. Every look has a
word and a symbol as well as a colour, so nothing is told by colour alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from notifier.catalog import Catalog
from notifier.model import Organisation, PlannedMilestone
from notifier.moves import holding_move, moved, with_moved_dates
from notifier.progress import STATE_SWEDISH, is_overdue, state_of, who_swedish
from notifier.records import COORDINATOR, StatusEntry, Statuses
from notifier.swedish import shorten, swedish_date, window_text


@dataclass(frozen=True)
class Look:
    """How one status is shown: its key (the CSS class), word and symbol."""

    key: str
    label: str
    symbol: str


# In the legend's order. The keys are the page's CSS classes.
LOOKS: tuple[Look, ...] = (
    Look("done", "klar", "✓"),
    Look("open", "öppen", "○"),
    Look("tentative", "preliminär", "◌"),
    Look("overdue", "försenad", "!"),
    Look("needs-new-date", "behöver ny tid", "?"),
)
LOOK = {look.key: look for look in LOOKS}

MONTHS = (
    "januari",
    "februari",
    "mars",
    "april",
    "maj",
    "juni",
    "juli",
    "augusti",
    "september",
    "oktober",
    "november",
    "december",
)
SHORT_MONTHS = (
    "jan",
    "feb",
    "mars",
    "apr",
    "maj",
    "juni",
    "juli",
    "aug",
    "sep",
    "okt",
    "nov",
    "dec",
)
NO_ORGANISATION = "(ingen organisation angiven)"
# Keys are plan/action/slot; ids and slots are [a-z0-9-], so a dot joins them without doubt.
_SLUG_JOIN = "."


def look_of(planned: PlannedMilestone, statuses: Statuses, now: datetime) -> Look:
    """One look per milestone. A proposed new date outranks overdue: the coordinator has an
    answer to give, and the date asked for is shown with it."""
    state = state_of(statuses, planned.key)
    if state == "done":
        return LOOK["done"]
    if state == "needs-new-date":
        return LOOK["needs-new-date"]
    if is_overdue(planned, statuses, now):
        return LOOK["overdue"]
    if planned.milestone.tentative:
        return LOOK["tentative"]
    return LOOK["open"]


def milestone_slug(key: str) -> str:
    """The key as one URL path segment: 'gotland-2024/sig/klart' -> 'gotland-2024.sig.klart'."""
    return key.replace("/", _SLUG_JOIN)


def key_of_slug(slug: str) -> str:
    return slug.replace(_SLUG_JOIN, "/")


@dataclass(frozen=True)
class Month:
    year: int
    month: int

    @property
    def label(self) -> str:
        return f"{MONTHS[self.month - 1]} {self.year}"

    @property
    def short(self) -> str:
        return f"{SHORT_MONTHS[self.month - 1]} {self.year}"

    @property
    def iso(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    @classmethod
    def of(cls, day: date) -> Month:
        return cls(day.year, day.month)


def months_between(first: date, last: date) -> list[Month]:
    """Every month from ``first``'s to ``last``'s, both included."""
    month, end = Month.of(first), Month.of(last)
    months = [month]
    while month != end:
        month = month.next()
        months.append(month)
    return months


@dataclass(frozen=True)
class Chip:
    """One milestone in one cell of the timeline."""

    key: str
    slug: str
    label: str
    action: str
    day: str  # '1 nov', within its month's column
    due: str  # '1 november 2024'
    due_iso: str
    look: Look
    tentative: bool
    proposed: str  # the date asked for, with needs-new-date
    moved_from: str  # the plan's date, when the coordinator accepted a new one


@dataclass(frozen=True)
class Cell:
    month: Month
    chips: tuple[Chip, ...]


@dataclass(frozen=True)
class Row:
    organisation: str
    slug: str
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class Count:
    look: Look
    count: int


@dataclass(frozen=True)
class Column:
    """A month of the timeline; ``quiet`` when nothing shown falls due in it, so the page can
    give it less room. Three or more quiet months in a row share one column, up to ``last``:
    a plan spanning years stays one screen wide."""

    month: Month
    quiet: bool
    last: Month | None = None

    @property
    def label(self) -> str:
        if self.last is None:
            return self.month.label
        if self.last.year == self.month.year:
            return f"{MONTHS[self.month.month - 1]}–{self.last.label}"
        return f"{self.month.label}–{self.last.label}"

    @property
    def short(self) -> str:
        if self.last is None:
            return self.month.short
        if self.last.year == self.month.year:
            return f"{SHORT_MONTHS[self.month.month - 1]}–{self.last.short}"
        return f"{self.month.short}–{self.last.short}"

    @property
    def months(self) -> tuple[Month, ...]:
        if self.last is None:
            return (self.month,)
        months = [self.month]
        while months[-1] != self.last:
            months.append(months[-1].next())
        return tuple(months)


# Quiet months in a row from which on they share one column.
QUIET_RUN = 3


def timeline(months: Sequence[Month], busy: set[Month]) -> tuple[Column, ...]:
    """The columns for ``months``: each busy month its own, runs of quiet ones joined."""
    columns: list[Column] = []
    run: list[Month] = []

    def close_run() -> None:
        if len(run) >= QUIET_RUN:
            columns.append(Column(run[0], True, run[-1]))
        else:
            columns.extend(Column(month, True) for month in run)
        run.clear()

    for month in months:
        if month in busy:
            close_run()
            columns.append(Column(month, False))
        else:
            run.append(month)
    close_run()
    return tuple(columns)


@dataclass(frozen=True)
class Section:
    """One plan's timeline."""

    plan_id: str
    title: str
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    counts: tuple[Count, ...]
    total: int

    @property
    def months(self) -> tuple[Month, ...]:
        return tuple(month for column in self.columns for month in column.months)

    @property
    def quiet(self) -> int:
        return sum(column.quiet for column in self.columns)


@dataclass(frozen=True)
class Choice:
    value: str
    text: str


@dataclass(frozen=True)
class Overview:
    today: str
    sections: tuple[Section, ...]
    counts: tuple[Count, ...]
    total: int
    plans: tuple[Choice, ...]
    organisations: tuple[Choice, ...]
    plan: str  # the plan shown alone, '' for every plan
    organisation: str  # the organisation's slug shown alone, '' for every one
    ignored: tuple[str, ...]  # filter values that name nothing, shown as such

    @property
    def legend(self) -> tuple[Look, ...]:
        return LOOKS


def organisations_in(catalog: Catalog) -> list[Organisation]:
    """Every organisation some milestone names: directory order, then the names it lacks."""
    seen: dict[str, Organisation] = {}
    for planned in catalog.milestones:
        for organisation in planned.organisations:
            seen.setdefault(organisation.slug, organisation)
    order = {o.slug: index for index, o in enumerate(catalog.directory.organisations)}
    return sorted(seen.values(), key=lambda o: (order.get(o.slug, len(order)), o.name.casefold()))


def _counts(looks: Iterable[Look]) -> tuple[Count, ...]:
    counted = Counter(look.key for look in looks)
    return tuple(Count(look, counted[look.key]) for look in LOOKS)


def _chip(
    planned: PlannedMilestone, statuses: Statuses, now: datetime, moved_from: date | None
) -> Chip:
    milestone = planned.milestone
    entry = statuses.get(planned.key)
    proposed = entry.proposed_due if entry is not None and entry.state == "needs-new-date" else None
    return Chip(
        key=planned.key,
        slug=milestone_slug(planned.key),
        # A milestone without a label is named by its action; a label alone ("Klart") says
        # too little, so the action follows it.
        label=milestone.label or shorten(planned.action.measure, 40),
        action=shorten(planned.action.measure, 40) if milestone.label else "",
        day=f"{milestone.due.day} {SHORT_MONTHS[milestone.due.month - 1]}",
        due=swedish_date(milestone.due),
        due_iso=milestone.due.isoformat(),
        look=look_of(planned, statuses, now),
        tentative=milestone.tentative,
        proposed=swedish_date(proposed) if proposed else "",
        moved_from=swedish_date(moved_from) if moved_from else "",
    )


def _section(
    milestones: Sequence[PlannedMilestone],
    statuses: Statuses,
    now: datetime,
    order: Sequence[Organisation],
    organisation: str,
    plan_dates: dict[str, date],
) -> Section:
    plan = milestones[0].plan
    dues = [p.milestone.due for p in milestones]
    busy = {Month.of(due) for due in dues}
    columns = timeline(months_between(min(dues), max(dues)), busy)
    chips = {p.key: _chip(p, statuses, now, plan_dates.get(p.key)) for p in milestones}
    rows = []
    for org in [*order, None]:
        slug = org.slug if org is not None else ""
        if organisation and slug != organisation:
            continue
        mine = [p for p in milestones if _answers(p, org)]
        if not mine:
            continue
        cells = tuple(
            Cell(
                column.month,
                tuple(chips[p.key] for p in mine if Month.of(p.milestone.due) == column.month)
                if not column.quiet
                else (),
            )
            for column in columns
        )
        rows.append(Row(org.name if org is not None else NO_ORGANISATION, slug, cells))
    looks = [chips[p.key].look for p in milestones]
    return Section(
        plan.id, plan.title.strip(), columns, tuple(rows), _counts(looks), len(milestones)
    )


def _answers(planned: PlannedMilestone, organisation: Organisation | None) -> bool:
    if organisation is None:
        return not planned.organisations
    return any(o.slug == organisation.slug for o in planned.organisations)


def build_overview(
    catalog: Catalog,
    statuses: Statuses,
    now: datetime,
    today: date,
    *,
    plan: str = "",
    organisation: str = "",
) -> Overview:
    """Every plan's milestones by organisation and month, narrowed to ``plan`` (an id) and
    ``organisation`` (a slug) when given. A value that names nothing is ignored and listed in
    ``ignored``, so the page can say so rather than show an empty plan. A due date the
    coordinator moved is shown where it was moved to, as everywhere else (``moves``)."""
    plan_dates = {p.key: p.milestone.due for p in catalog.milestones if holding_move(p, statuses)}
    catalog = with_moved_dates(catalog, statuses)
    order = organisations_in(catalog)
    plan_ids = [p.id for p in catalog.plans]
    org_slugs = [o.slug for o in order]
    ignored = []
    if plan and plan not in plan_ids:
        ignored.append(plan)
        plan = ""
    if organisation and organisation not in org_slugs:
        ignored.append(organisation)
        organisation = ""
    ordered = sorted(catalog.milestones, key=lambda p: (p.milestone.due, p.key))
    chosen = [
        p
        for p in ordered
        if (not plan or p.plan.id == plan)
        and (not organisation or any(o.slug == organisation for o in p.organisations))
    ]
    sections = []
    for plan_id in plan_ids:
        mine = [p for p in chosen if p.plan.id == plan_id]
        if mine:
            sections.append(_section(mine, statuses, now, order, organisation, plan_dates))
    return Overview(
        today=swedish_date(today),
        sections=tuple(sections),
        counts=_counts(look_of(p, statuses, now) for p in chosen),
        total=len(chosen),
        plans=tuple(Choice(p.id, p.title.strip()) for p in catalog.plans),
        organisations=tuple(Choice(o.slug, o.name) for o in order),
        plan=plan,
        organisation=organisation,
        ignored=tuple(ignored),
    )


# --- one milestone's history ----------------------------------------------------------------


@dataclass(frozen=True)
class HistoryLine:
    state: str
    when: str
    who: str
    address: str
    how: str
    comment: str
    proposed: str


@dataclass(frozen=True)
class History:
    key: str
    label: str
    measure: str
    plan_id: str
    plan_title: str
    due: str
    window: str
    when_text: str
    tentative: bool
    organisations: tuple[str, ...]
    look: Look
    moved_from: str  # the plan's date, when the coordinator accepted a new one
    lines: tuple[HistoryLine, ...]  # newest first


def _how(entry: StatusEntry) -> str:
    if entry.how == "cli":
        return "registrerat av samordnaren"
    return "via samordnarens länk" if entry.organisation == COORDINATOR else "via personlig länk"


def _state(entry: StatusEntry) -> str:
    if entry.moved is not None:
        return f"ny tid godkänd: {swedish_date(entry.moved.due)}"
    return STATE_SWEDISH[entry.state]


def _when(entry: StatusEntry, zone: ZoneInfo) -> str:
    local = entry.at.astimezone(zone)
    return f"{swedish_date(local.date())} kl. {local:%H.%M}"


def build_history(
    planned: PlannedMilestone,
    history: Sequence[StatusEntry],
    statuses: Statuses,
    now: datetime,
    zone: ZoneInfo,
) -> History:
    """``planned`` as the plan dates it, shown on its due date as it stands (moved, if the
    coordinator accepted a new one), and everything said about it (``history``), newest
    first; times in ``zone``."""
    move = holding_move(planned, statuses)
    plan_due = planned.milestone.due
    if move is not None:
        planned = moved(planned, move)
    milestone = planned.milestone
    return History(
        key=planned.key,
        label=milestone.label or shorten(planned.action.measure),
        measure=planned.action.measure.strip(),
        plan_id=planned.plan.id,
        plan_title=planned.plan.title.strip(),
        due=swedish_date(milestone.due),
        window=window_text(milestone.start, milestone.end),
        when_text=planned.action.when.strip(),
        tentative=milestone.tentative,
        organisations=tuple(o.name for o in planned.organisations),
        look=look_of(planned, statuses, now),
        moved_from=swedish_date(plan_due) if move is not None else "",
        lines=tuple(
            HistoryLine(
                state=_state(entry),
                when=_when(entry, zone),
                who=who_swedish(entry),
                address=entry.address or "",
                how=_how(entry),
                comment=entry.comment or "",
                proposed=swedish_date(entry.proposed_due) if entry.proposed_due else "",
            )
            for entry in reversed(history)
        ),
    )
