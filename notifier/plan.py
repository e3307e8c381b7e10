"""Read and write plan files (TOML) in ``plan/``.

A plan file holds one plan: its id, title, date, year and time zone, the headings of its
areas and problem areas, and one ``[[action]]`` table per row of the plan with the columns
as the plan names them ("orsak", "mål", "åtgärd", "vem", "när"). Keys with å, ä or ö are
quoted, as TOML 1.0 requires. Errors name the file, the line and the field.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from notifier.config import check_leads, check_zone
from notifier.errors import PlanError
from notifier.model import Action, Location, Milestone, Plan, Problem

DIRECTORY_FILE = "organisations.toml"
_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_ID_HINT = "Use lower-case letters a-z, digits and '-', e.g. 'krogar-mot-knark'."


def is_valid_id(value: str) -> bool:
    """Plan and action ids: they end up in URLs, file names and calendar UIDs."""
    return bool(_ID.match(value))

HEADER = """\
# Plan för notifier. Varje [[action]] är en rad i planens tabell.
# Kolumnerna heter som i planen: orsak, "mål", "åtgärd", vem, "när" (nycklar med å, ä, ö
# skrivs inom citattecken). "när" skrivs som i planen; notifier läser ut datumen.
# id får aldrig ändras: det håller ihop kalenderposter och påminnelser när texten ändras.
# Går "när" inte att läsa, ange delmålen själv:
#   [[action.milestone]]
#   label = "Klart"
#   due = 2024-06-30
#   start = 2024-06-01      # valfritt
#   tentative = false       # valfritt
"""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class MilestoneData(_Strict):
    label: str | None = None
    start: date | None = None
    end: date | None = None
    due: date
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
    id: str
    section: str = ""
    problem: str = ""
    cause: str = Field("", alias="orsak")
    goal: str = Field("", alias="mål")
    measure: str = Field(alias="åtgärd")
    who: str = Field(alias="vem")
    when: str = Field("", alias="när")
    milestone: list[MilestoneData] | None = None

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError(f"'{value}' is not a valid id. {_ID_HINT}")
        return value


class PlanData(_Strict):
    id: str
    title: str
    date: date
    year: int = Field(ge=1900, le=2200)
    timezone: str = "Europe/Stockholm"
    intro: str = ""
    leads: list[str] | None = None
    headings: dict[str, str] = {}
    action: list[ActionData] = []

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError(f"'{value}' is not a valid id. {_ID_HINT}")
        return value

    @field_validator("leads")
    @classmethod
    def _valid_leads(cls, leads: list[str] | None) -> list[str] | None:
        return check_leads(leads)

    @field_validator("timezone")
    @classmethod
    def _valid_zone(cls, zone: str) -> str:
        return check_zone(zone)


@dataclass
class PlanFile:
    """A plan as loaded, with the problems found that do not stop it from loading."""

    plan: Plan
    problems: list[Problem] = field(default_factory=list)


@dataclass
class _Lines:
    """Line numbers of keys: top-level, and per [[action]] table in order."""

    top: dict[str, int] = field(default_factory=dict)
    actions: list[dict[str, int]] = field(default_factory=list)
    milestones: list[list[int]] = field(default_factory=list)

    def of(self, loc: tuple[Any, ...]) -> int | None:
        if loc and loc[0] == "action" and len(loc) > 1 and isinstance(loc[1], int):
            if loc[1] >= len(self.actions):
                return None
            keys = self.actions[loc[1]]
            if len(loc) > 3 and loc[2] == "milestone" and isinstance(loc[3], int):
                starts = self.milestones[loc[1]]
                return starts[loc[3]] if loc[3] < len(starts) else keys.get("[[action]]")
            return keys.get(str(loc[2])) if len(loc) > 2 else keys.get("[[action]]")
        return self.top.get(str(loc[0])) if loc else None


_KEY = re.compile(r'^\s*(?:"([^"]+)"|([A-Za-z0-9_-]+))\s*=')


def _locate(text: str) -> _Lines:
    lines = _Lines()
    table = "top"
    open_quote = ""  # the delimiter of a multi-line string being read: ''' or """
    for number, line in enumerate(text.splitlines(), start=1):
        if open_quote:
            if line.count(open_quote) % 2 == 1:
                open_quote = ""
            continue
        stripped = line.strip()
        if stripped == "[[action]]":
            lines.actions.append({"[[action]]": number})
            lines.milestones.append([])
            table = "action"
        elif stripped == "[[action.milestone]]" and lines.actions:
            lines.milestones[-1].append(number)
            table = "milestone"
        elif stripped.startswith("["):
            table = "other"
            lines.top.setdefault(stripped.strip("[]").strip(), number)
        else:
            match = _KEY.match(line)
            if match:
                key = match.group(1) or match.group(2)
                if table == "top":
                    lines.top.setdefault(key, number)
                elif table == "action":
                    lines.actions[-1].setdefault(key, number)
        for quote in ('"""', "'''"):
            if line.count(quote) % 2 == 1:
                open_quote = quote
                break
    return lines


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = []
    for part in loc:
        if isinstance(part, int):
            parts[-1] = f"{parts[-1]}[{part + 1}]" if parts else str(part + 1)
        else:
            parts.append(str(part))
    return ".".join(parts)


def load_plan(path: Path) -> PlanFile:
    """Parse one plan file; PlanError lists every problem that stops it from loading."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise PlanError(
            [f"{path}: not UTF-8 (byte {error.start})"], hint="Save the file as UTF-8."
        ) from None
    except OSError as error:
        raise PlanError([f"{path}: cannot read: {error.strerror}"]) from None
    try:
        raw = tomllib.loads(text)
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
            hint = 'Keys with å, ä or ö need quotes: "när" = "Klart juni 2024".'
        raise PlanError([f"{path}: not valid TOML: {error}"], hint=hint) from None
    lines = _locate(text)
    try:
        data = PlanData.model_validate(raw)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            line = lines.of(item["loc"])
            where = f"{path}:{line}" if line else str(path)
            problems.append(f"{where}: {_field_name(item['loc'])}: {item['msg']}")
        raise PlanError(problems, hint="Fix the fields named above; the rest is kept.") from None
    return _to_plan(data, path, lines)


def _to_plan(data: PlanData, path: Path, lines: _Lines) -> PlanFile:
    problems: list[Problem] = []
    actions: list[Action] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(data.action):
        keys = lines.actions[index] if index < len(lines.actions) else {}
        location = Location(path, keys.get("[[action]]"))
        if item.id in seen:
            problems.append(
                Problem(
                    Location(path, keys.get("id")),
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
                    Location(path, keys.get("section")),
                    f"action '{item.id}', field section",
                    f"'{item.section}' is not under [headings]",
                    f'Add it, e.g. "{item.section}" = "Rubrik", or correct the number.',
                )
            )
        explicit = None
        if item.milestone is not None:
            explicit = tuple(
                Milestone(
                    label=m.label,
                    start=m.start,
                    end=m.end or m.due,
                    due=m.due,
                    tentative=m.tentative,
                    text="",
                )
                for m in item.milestone
            )
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
                when_location=Location(path, keys.get("när") or location.line),
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
    return PlanFile(plan, problems)


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
    return HEADER + "\n" + tomli_w.dumps(data, multiline_strings=True)
