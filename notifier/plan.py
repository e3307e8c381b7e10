"""Read and write plan files (TOML) in ``plan/``.

A plan file holds one plan: its id, title, date, year and time zone, the headings of its
areas and problem areas, and one ``[[action]]`` table per row of the plan with the columns
as the plan names them ("orsak", "mål", "åtgärd", "vem", "när"). Keys with å, ä or ö are
quoted, as TOML 1.0 requires. Errors name the file, the line and the field.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import tomli as tomllib  # compiled: reads a large plan three times as fast
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from notifier.checks import check_leads, check_zone
from notifier.errors import PlanError
from notifier.limits import merge_repeats, too_many_milestones, when_too_long
from notifier.model import Action, Location, Milestone, Plan, Problem
from notifier.planlines import Lines, field_name, locate
from notifier.when import read_when

DIRECTORY_FILE = "organisations.toml"
_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_ID_HINT = "Use lower-case letters a-z, digits and '-', e.g. 'krogar-mot-knark'."


def is_valid_id(value: str) -> bool:
    """Plan and action ids: they end up in URLs, file names and calendar UIDs."""
    return bool(_ID.match(value))


_HEADER = """\
# Plan för notifier. Varje [[action]] är en rad i planens tabell.
# Kolumnerna heter som i planen: orsak, "mål", "åtgärd", vem, "när" (nycklar med å, ä, ö
# skrivs inom citattecken). "när" skrivs som i planen; notifier läser ut datumen.
# id får aldrig ändras: det håller ihop kalenderposter och påminnelser när texten ändras.
# Går "när" inte att läsa, ange delmålen själv:
#   [[action.milestone]]
#   label = "Klart"
#   due = {year}-06-30
#   start = {year}-06-01      # valfritt
#   tentative = false       # valfritt
"""


def header(year: int) -> str:
    """The comment that opens a plan file; its example dates lie in the plan's own year."""
    return _HEADER.format(year=year)


def _valid_id(value: str) -> str:
    if not _ID.match(value):
        raise ValueError(f"'{value}' is not a valid id. {_ID_HINT}")
    return value


# Plan and action ids: they end up in URLs, file names and calendar UIDs.
Id = Annotated[str, AfterValidator(_valid_id)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class MilestoneData(_Strict):
    # In the order error messages list the keys: the two a coordinator always writes first.
    label: str | None = None
    due: date
    start: date | None = None
    end: date | None = None
    tentative: bool = False

    @field_validator("start", "end", "due")
    @classmethod
    def _plausible(cls, day: date | None) -> date | None:
        # The same years a plan may have: far-off dates are typing errors, and the calendar
        # arithmetic of reminders would overflow at the ends of the calendar.
        if day is not None and not 1900 <= day.year <= 2200:
            raise ValueError(f"{day.isoformat()} is not a plan date (years 1900-2200)")
        return day

    @model_validator(mode="after")
    def _ordered(self) -> MilestoneData:
        end = self.end or self.due
        if self.start and self.start > self.due:
            raise ValueError(f"start {self.start} is after due {self.due}")
        if end < self.due:
            raise ValueError(f"end {end} is before due {self.due}")
        return self


class ActionData(_Strict):
    id: Id
    section: str = ""
    problem: str = ""
    cause: str = Field("", alias="orsak")
    goal: str = Field("", alias="mål")
    measure: str = Field(alias="åtgärd")
    who: str = Field(alias="vem")
    when: str = Field("", alias="när")
    milestone: list[MilestoneData] | None = None


class PlanData(_Strict):
    id: Id
    title: str
    date: date
    year: int = Field(ge=1900, le=2200)
    timezone: str = "Europe/Stockholm"
    intro: str = ""
    leads: list[str] | None = None
    headings: dict[str, str] = {}
    # Each action is validated on its own (``_action``), so that one broken action is
    # reported and left out while the rest of the plan loads.
    action: list[Any] = []

    @field_validator("leads")
    @classmethod
    def _valid_leads(cls, leads: list[str] | None) -> list[str] | None:
        return check_leads(leads)

    @field_validator("timezone")
    @classmethod
    def _valid_zone(cls, zone: str) -> str:
        return check_zone(zone)


@dataclass(frozen=True)
class RefusedAction:
    """An [[action]] left out because it has errors (they are among the file's problems).

    ``id`` is None when the id itself cannot be read: such an action cannot be matched with
    an earlier version of itself. ``position`` is its place among the actions that loaded,
    so that an earlier version can be put back where it stands in the file.
    """

    id: str | None
    number: int  # the action's number in the file, counting from 1, as problems name it
    position: int
    location: Location

    def __str__(self) -> str:
        name = f"action {self.number} ('{self.id}')" if self.id else f"action {self.number}"
        return f"{name} at {self.location}"


@dataclass
class PlanFile:
    """A plan as loaded, with the problems found that do not stop it from loading."""

    plan: Plan
    problems: list[Problem] = field(default_factory=list)
    refused: list[RefusedAction] = field(default_factory=list)
    # Ids of refused actions put back as they last loaded (``catalog.keep_last_good``).
    kept: list[str] = field(default_factory=list)


# --- explaining validation errors -----------------------------------------------------------

_TOP = "the plan (above the first [[action]])"
_ACTION = "[[action]]"
_MILESTONE = "[[action.milestone]]"

# What a coordinator writes for a key by habit or in Swedish, and the keys meant, in the order
# tried: the first one allowed in the table is suggested. Spelling slips are left to difflib.
_MEANT: dict[str, tuple[str, ...]] = {
    "datum": ("due", "date"),
    "slutdatum": ("due", "end"),
    "deadline": ("due",),
    "senast": ("due",),
    "klart": ("due",),
    "slut": ("end",),
    "startdatum": ("start",),
    "borjan": ("start",),
    "etikett": ("label",),
    "namn": ("label",),
    "rubrik": ("label", "title"),
    "preliminart": ("tentative",),
    "preliminar": ("tentative",),
    "prel": ("tentative",),
    "ansvarig": ("vem",),
    "ansvariga": ("vem",),
    "who": ("vem",),
    "when": ("när",),
    "tid": ("när",),
    "cause": ("orsak",),
    "goal": ("mål",),
    "measure": ("åtgärd",),
    "atgarder": ("åtgärd",),
    "delmal": ("milestone",),
    "milestones": ("milestone",),
    "titel": ("title",),
    "ar": ("year",),
    "tidszon": ("timezone",),
    "actions": ("action",),
}


def allowed_keys(model: type[BaseModel]) -> list[str]:
    """The keys a table may have, as they are written in the file."""
    return [info.alias or name for name, info in model.model_fields.items()]


def _fold(key: str) -> str:
    """'När?' -> 'nar': how a key is compared, so that a lost ring or dot still matches."""
    decomposed = unicodedata.normalize("NFKD", key.strip().strip("?").casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def suggest_key(key: str, allowed: Sequence[str]) -> str | None:
    """The allowed key that ``key`` most likely stands for, or None when none is close."""
    folded = _fold(key)
    for meant in _MEANT.get(folded, ()):
        if meant in allowed:
            return meant
    by_fold = {_fold(name): name for name in allowed}
    if folded in by_fold:
        return by_fold[folded]
    import difflib  # only when a key is not known: most loads never need it

    close = difflib.get_close_matches(folded, list(by_fold), n=1, cutoff=0.6)
    return by_fold[close[0]] if close else None


def _table_of(loc: tuple[Any, ...]) -> tuple[str, list[str]]:
    """The table a validation error's location lies in, and the keys allowed there."""
    if loc and loc[0] == "action" and len(loc) > 2:
        loc = loc[2:]
        if len(loc) > 2 and loc[0] == "milestone" and isinstance(loc[1], int):
            return _MILESTONE, allowed_keys(MilestoneData)
        return _ACTION, allowed_keys(ActionData)
    return _TOP, allowed_keys(PlanData)


def _example(key: str, year: int | None) -> str:
    """A line that would do for a missing key, with dates in the plan's own year."""
    when = year or "YYYY"
    examples = {
        "due": f"due = {when}-06-30",
        "id": 'id = "krogar-mot-knark" (never change it once reminders have gone out)',
        "åtgärd": '"åtgärd" = "…" (the action, as the plan words it)',
        "vem": 'vem = "Polisen, Socialtjänsten"',
        "title": 'title = "Åtgärdsplan …"',
        "date": f"date = {when}-05-06 (the day the plan was adopted)",
        "year": f"year = {when}",
    }
    return examples.get(key, f"{key} = …")


def _explain(item: Any, loc: tuple[Any, ...], year: int | None) -> tuple[str, str]:
    """A pydantic error as (message, what to do), in the words of the plan file."""
    table, allowed = _table_of(loc)
    key = str(loc[-1]) if loc else ""
    kind = item["type"]
    if kind == "extra_forbidden":
        keys = ", ".join(_written(name) for name in allowed)
        message = f"unknown key '{key}' in {table}; allowed: {keys}"
        return message, _meant_hint(key, allowed)
    if kind == "missing":
        return f"'{key}' is missing in {table}", f"Add it, e.g. {_example(key, year)}."
    if kind == "list_type" and loc == ("action",) and isinstance(item["input"], dict):
        return "[action] is a single table", "Write [[action]] (two brackets) above each action."
    if kind == "string_type":
        return item["msg"], f'Write it as text in quotes: {_written(key)} = "…".'
    if kind.startswith("date"):
        when = year or "YYYY"
        return item["msg"], f"Write a date as YYYY-MM-DD without quotes, e.g. {key} = {when}-06-30."
    if kind.startswith("bool"):
        return item["msg"], f"Write {key} = true or {key} = false."
    return item["msg"], ""


def _written(key: str) -> str:
    """A key as the file must spell it: keys with å, ä or ö in quotes (TOML 1.0)."""
    return key if key.isascii() else f'"{key}"'


def _meant_hint(key: str, allowed: Sequence[str]) -> str:
    meant = suggest_key(key, allowed)
    if meant is None:
        return "Rename it to one of these, or remove it."
    if meant != _written(meant):
        return f"Did you mean '{meant}'? Write it in quotes: {_written(meant)} = …"
    return f"Did you mean '{meant}'?"


def _redundant(items: list[Any], prefix: tuple[Any, ...] = ()) -> list[Any]:
    """Leave out "'due' is missing" where the same table has a key that stands for due
    ("datum"): one mistake, one message. ``prefix`` makes the items' locations whole."""
    meant = set()
    for item in items:
        loc = (*prefix, *item["loc"])
        if item["type"] == "extra_forbidden" and item["loc"]:
            meant.add((loc[:-1], suggest_key(str(loc[-1]), _table_of(loc)[1])))
    return [
        item
        for item in items
        if item["type"] != "missing"
        or ((*prefix, *item["loc"][:-1]), str(item["loc"][-1])) not in meant
    ]


def _plan_year(raw: Any) -> int | None:
    """The plan's year for examples in hints, from ``year`` or else ``date``, if usable."""
    if not isinstance(raw, dict):
        return None
    year = raw.get("year")
    if not isinstance(year, int) and isinstance(raw.get("date"), date):
        year = raw["date"].year
    return year if isinstance(year, int) and 1900 <= year <= 2200 else None


_YEAR_LINE = re.compile(r"^\s*year\s*=\s*(\d{4})\s*(?:#.*)?$", re.MULTILINE)


def _quotes_hint(text: str) -> str:
    """For a file TOML cannot read: the example uses the plan's year when one can be seen."""
    found = _YEAR_LINE.search(text)
    example = f"Klart juni {found.group(1)}" if found else "Klart juni"
    return f'Keys with å, ä or ö need quotes: "när" = "{example}".'


# --- loading --------------------------------------------------------------------------------


def load_plan(path: Path) -> PlanFile:
    """Parse one plan file; PlanError lists every problem that stops the whole file loading.

    An [[action]] with errors does not: it is reported among ``problems``, listed in
    ``refused`` and left out, and the other actions load.
    """
    text = _read(path)
    raw = _parse(path, text)
    lines = locate(text)
    try:
        data = PlanData.model_validate(raw)
    except ValidationError as error:
        year = _plan_year(raw)
        problems = []
        for item in _redundant(error.errors()):
            line = lines.of(item["loc"])
            where = f"{path}:{line}" if line else str(path)
            message, hint = _explain(item, tuple(item["loc"]), year)
            text_line = f"{where}: {field_name(item['loc'])}: {message}"
            problems.append(f"{text_line}. {hint}" if hint else text_line)
        raise PlanError(problems, hint="Fix the fields named above; the rest is kept.") from None
    return _to_plan(data, path, lines)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise PlanError(
            [f"{path}: not UTF-8 (byte {error.start})"], hint="Save the file as UTF-8."
        ) from None
    except OSError as error:
        raise PlanError([f"{path}: cannot read: {error.strerror}"]) from None


def _parse(path: Path, text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except (RecursionError, ValueError) as error:
        if not isinstance(error, tomllib.TOMLDecodeError):
            # tomllib's own limits: nesting deeper than Python's stack, integers over 4300
            # digits. No plan needs either.
            raise PlanError(
                [f"{path}: not a plan file TOML can read: {error or 'nested too deeply'}"],
                hint="Check the file for a runaway list or number.",
            ) from None
        hint = ""
        if re.search(r"^\s*(när|mål|åtgärd)\s*=", text, re.MULTILINE):
            hint = _quotes_hint(text)
        raise PlanError([f"{path}: not valid TOML: {error}"], hint=hint) from None


def _raw_id(raw: Any) -> str | None:
    value = raw.get("id") if isinstance(raw, dict) else None
    return value if isinstance(value, str) and is_valid_id(value) else None


def _action(
    raw: Any, index: int, data: PlanData, path: Path, lines: Lines
) -> ActionData | list[Problem]:
    """One [[action]] validated on its own: its data, or a problem per error in it."""
    try:
        return ActionData.model_validate(raw)
    except ValidationError as error:
        action_id = _raw_id(raw)
        name = f"action {index + 1} ('{action_id}')" if action_id else f"action {index + 1}"
        problems = []
        for item in _redundant(error.errors(), ("action", index)):
            loc = ("action", index, *item["loc"])
            message, hint = _explain(item, loc, data.year)
            name_of_field = field_name(tuple(item["loc"])) or "[[action]]"
            problems.append(
                Problem(
                    Location(path, lines.of(loc)),
                    f"{name}, field {name_of_field}",
                    message,
                    hint,
                    kind="action",
                )
            )
        return problems


def _within_limits(
    item: ActionData, index: int, year: int, path: Path, lines: Lines
) -> ActionData | list[Problem]:
    """The action, or the problem that refuses it: so much text or so many milestones that
    it would flood the organisations' inboxes and calendars. Refused like any broken action,
    so the running service keeps the version that loaded last."""
    name = f"action {index + 1} ('{item.id}')"
    # The text is checked even beside explicit milestones: it is still read and shown.
    key, reason = "när", when_too_long(item.when)
    if reason is None and item.milestone is not None:
        key, read = "milestone", _explicit(item.milestone)
        reason = too_many_milestones(len(merge_repeats(read)[0]))
    elif reason is None:
        # Bounded by the length above, so reading it here as well costs little.
        read = read_when(item.when, year).milestones
        reason = too_many_milestones(len(merge_repeats(read)[0]))
    if reason is None:
        return item
    line = (
        lines.when(index)
        if key == "när"
        else lines.key(index, "milestone") or lines.first_milestone(index)
    )
    return [Problem(Location(path, line), f"{name}, field {key}", reason, kind="action")]


def _explicit(milestones: list[MilestoneData]) -> tuple[Milestone, ...]:
    return tuple(
        Milestone(
            label=m.label, start=m.start, end=m.end or m.due, due=m.due, tentative=m.tentative
        )
        for m in milestones
    )


def _to_plan(data: PlanData, path: Path, lines: Lines) -> PlanFile:
    problems: list[Problem] = []
    refused: list[RefusedAction] = []
    actions: list[Action] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(data.action):
        location = Location(path, lines.header(index))
        item = _action(raw, index, data, path, lines)
        if not isinstance(item, list):
            item = _within_limits(item, index, data.year, path, lines)
        if isinstance(item, list):
            problems.extend(item)
            refused.append(RefusedAction(_raw_id(raw), index + 1, len(actions), location))
            continue
        if item.id in seen:
            problems.append(
                Problem(
                    Location(path, lines.key(index, "id")),
                    f"action {index + 1} ('{item.id}')",
                    f"duplicate id; action {seen[item.id] + 1} has it already",
                    "Give each action an id of its own; never reuse an old one.",
                )
            )
            continue
        seen[item.id] = index
        if item.section and item.section not in data.headings:
            problems.append(
                Problem(
                    Location(path, lines.key(index, "section")),
                    f"action '{item.id}', field section",
                    f"'{item.section}' is not under [headings]",
                    f'Add it, e.g. "{item.section}" = "Rubrik", or correct the number.',
                )
            )
        explicit = None if item.milestone is None else _explicit(item.milestone)
        actions.append(
            Action(
                id=item.id,
                area=_heading_title(data.headings, item.section.split(".")[0]),
                problem_area=_problem_area(data.headings, item.section),
                problem=item.problem,
                cause=item.cause,
                goal=item.goal,
                measure=item.measure,
                who=item.who,
                when=item.when,
                explicit_milestones=explicit,
                location=location,
                when_location=Location(path, lines.when(index) or location.line),
            )
        )
    plan = Plan(
        id=data.id,
        title=data.title,
        date=data.date,
        year=data.year,
        timezone=data.timezone,
        actions=tuple(actions),
        intro=data.intro,
        lead_times=tuple(data.leads) if data.leads is not None else None,
        source=path,
    )
    return PlanFile(plan, problems, refused)


def _heading_title(headings: dict[str, str], number: str) -> str:
    return f"{number} {headings[number]}" if number in headings else number


def _problem_area(headings: dict[str, str], section: str) -> str:
    """'2.2.1' -> '2.2 Mäns våld mot kvinnor – 2.2.1 Sexuellt våld' (area itself left out)."""
    parts = section.split(".")
    chain = [".".join(parts[:n]) for n in range(2, len(parts) + 1)]
    return " – ".join(_heading_title(headings, number) for number in chain)


def plan_paths(folder: Path) -> list[Path]:
    """Every plan file in the folder, in a stable order; the directory file is not a plan."""
    if not folder.is_dir():
        raise PlanError([f"{folder}: no such plan folder"], hint="Set plans.dir in config.toml.")
    return sorted(p for p in folder.glob("*.toml") if p.name != DIRECTORY_FILE)


def dump_plan(data: dict[str, Any]) -> str:
    """The plan file text for plan data as the importer makes it."""
    # Imported here: only ``notifier import`` writes plans.
    import tomli_w

    return header(data["year"]) + "\n" + tomli_w.dumps(data, multiline_strings=True)
