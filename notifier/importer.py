"""Read a plan in its word-processor form (tables pasted as tab-separated text) into plan data.

The form, as in Region Gotland's Åtgärdsplan 2024:

    <title>
    daterad 2024-05-06
    <introduction paragraphs>
    1 Narkotika                                     <- area heading
    1.1 Kriminella nätverk. Unga insocialiseras …   <- problem area heading: title, then problem
    Orsak<TAB>Mål<TAB>Åtgärd<TAB>Vem?<TAB>När?      <- table header
    <cause><TAB><goal><TAB><action><TAB><who><TAB><when>

The result is a plain dict in the plan file's schema (see ``plan.py``), ready to be written.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

from notifier.errors import PlanError
from notifier.slugs import slugify

COLUMNS = ("Orsak", "Mål", "Åtgärd", "Vem?", "När?")
_HEADING = re.compile(r"^(\d+(?:\.\d+)*)\.?\s+(\S.*)$")
_DATED = re.compile(r"^daterad\s+(\d{4}-\d{2}-\d{2})\s*$", re.IGNORECASE)
_YEAR = re.compile(r"\b(19|20)\d{2}\b")
_ID_STOPWORDS = {"av", "och", "for", "till", "om", "i", "med", "pa", "en", "ett", "den", "det"}


def action_id(measure: str) -> str:
    """A short readable id from the action text; the parenthesised name wins when there is one."""
    named = re.search(r"\(([^)]*)\)", measure)
    if named:
        inner = named.group(1).split(":")[-1]
        short = re.search(r"\b([A-ZÅÄÖ]{2,})\b", inner)
        source = short.group(1) if short else inner
    else:
        quoted = re.search(r"[\"”“]([^\"”“]+)[\"”“]", measure)
        source = quoted.group(1) if quoted else measure
    words = [w for w in slugify(source, max_words=12).split("-") if w not in _ID_STOPWORDS]
    return "-".join(words[:3]) or "atgard"


def import_plan(text: str, source: str = "<input>", plan_id: str | None = None) -> dict[str, Any]:
    """Parse the pasted document; raise PlanError naming the line of anything not understood."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    title = ""
    dated: date | None = None
    intro: list[str] = []
    headings: dict[str, str] = {}
    actions: list[dict[str, Any]] = []
    problems: list[str] = []
    section = ""
    problem = ""
    in_table = False
    used_ids: set[str] = set()

    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\t ").strip("\ufeff")
        if not line.strip():
            continue
        cells = [cell.strip() for cell in line.split("\t")]
        if not title:
            title = line.strip()
            continue
        if dated is None and _DATED.match(line.strip()):
            dated = date.fromisoformat(_DATED.match(line.strip()).group(1))  # type: ignore[union-attr]
            continue
        if tuple(cells) == COLUMNS:
            in_table = True
            continue
        heading = _HEADING.match(line.strip()) if len(cells) == 1 else None
        if heading:
            section, problem = _heading(heading.group(1), heading.group(2), headings)
            in_table = False
            continue
        if in_table and len(cells) == len(COLUMNS):
            cause, goal, measure, who, when = cells
            ident = _unique(action_id(measure), used_ids)
            actions.append(
                {
                    "id": ident,
                    "section": section,
                    "problem": problem,
                    "orsak": cause,
                    "mål": goal,
                    "åtgärd": measure,
                    "vem": who,
                    "när": when,
                }
            )
            continue
        if not headings and not in_table and len(cells) == 1:
            intro.append(line.strip())
            continue
        problems.append(
            f"{source}:{number}: not a heading, a table header or a row of "
            f"{len(COLUMNS)} tab-separated cells ({len(cells)} cells): {line.strip()[:60]!r}"
        )
    if not title:
        problems.append(f"{source}: empty document")
    if not actions and title:
        problems.append(f"{source}: no action rows found under a '{chr(9).join(COLUMNS)}' header")
    if problems:
        raise PlanError(problems, hint="Paste the tables as tab-separated text, one row a line.")
    year = _year(title, dated)
    return {
        "id": plan_id or slugify(title, max_words=3),
        "title": title,
        "date": dated or date(year, 1, 1),
        "year": year,
        "timezone": "Europe/Stockholm",
        "intro": "\n\n".join(intro),
        "headings": headings,
        "action": actions,
    }


def _heading(number: str, text: str, headings: dict[str, str]) -> tuple[str, str]:
    """'1.1 Kriminella nätverk. Unga …' -> title 'Kriminella nätverk', problem 'Unga …'."""
    text = text.strip()
    parts = re.split(r"(?<=[.:])\s+", text, maxsplit=1)
    title = parts[0].rstrip(".:").strip()
    problem = parts[1].strip().strip("*").strip() if len(parts) > 1 else ""
    if headings.get(number, title) != title:
        title = headings[number]
    headings[number] = title
    return number, problem


def _unique(ident: str, used: set[str]) -> str:
    candidate, n = ident, 2
    while candidate in used:
        candidate, n = f"{ident}-{n}", n + 1
    used.add(candidate)
    return candidate


def _year(title: str, dated: date | None) -> int:
    match = _YEAR.search(title)
    if match:
        return int(match.group(0))
    return dated.year if dated else date.min.year


def read_source(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        # Word processors on Windows still save "text" as cp1252.
        return path.read_bytes().decode("cp1252")
    except OSError as error:
        raise PlanError([f"{path}: cannot read: {error.strerror}"]) from None
