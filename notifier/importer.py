"""Read a plan document, as rows of cells, into plan data.

The form, as in Region Gotland's Åtgärdsplan 2024 (each reader in ``notifier.documents`` gives
it as rows: a paragraph is a row of one cell, a table row a row of its cells):

    <title>
    daterad 2024-05-06
    <introduction paragraphs>
    1 Narkotika                                     <- area heading
    1.1 Kriminella nätverk. Unga insocialiseras …   <- problem area heading: title, then problem
    Orsak | Mål | Åtgärd | Vem? | När?              <- table header
    <cause> | <goal> | <action> | <who> | <when>

Headings are numbered in the text ("1.2 Unga i utanförskap") or, unnumbered, marked as headings
by the document's styles: they are then numbered in order. A row across a whole plan table is a
heading at the level of the heading above the table (a problem area set inside it). A table is a
plan table by its header row, whatever the words its columns use (``COLUMN_NAMES``) and their
order; other columns are not imported. A header row repeated on each page is read once. A row at
the top of a page that lacks an action, a "Vem?" or a "När?" is the rest of the row the page
cut.

The result is a plain dict in the plan file's schema (see ``plan.py``), ready to be written.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from notifier.documents import read_document
from notifier.documents.columns import COLUMN_NAMES, REQUIRED, header_columns, variants
from notifier.documents.rows import Row, join_lines
from notifier.documents.text import read_source, text_rows
from notifier.errors import PlanError
from notifier.slugs import slugify

__all__ = [
    "COLUMNS",
    "COLUMN_NAMES",
    "action_id",
    "import_file",
    "import_plan",
    "import_rows",
    "read_source",
]

COLUMNS = ("Orsak", "Mål", "Åtgärd", "Vem?", "När?")
KEYS = ("orsak", "mål", "åtgärd", "vem", "när")
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
    return import_rows(
        text_rows(text),
        source,
        plan_id,
        hint="Paste the tables as tab-separated text, one row a line.",
    )


def import_file(path: Path, plan_id: str | None = None) -> dict[str, Any]:
    """Read the plan document at ``path`` (Word, PDF, Excel or text, told by its content)."""
    return import_rows(
        read_document(path),
        str(path),
        plan_id,
        hint="Each action belongs in a table row under a header row naming Orsak, Mål, Åtgärd, "
        "Vem? and När?; areas and problem areas in headings above the tables.",
    )


def import_rows(
    rows: Sequence[Row], source: str = "<input>", plan_id: str | None = None, hint: str = ""
) -> dict[str, Any]:
    """Place each row as title, date, introduction, heading or action; PlanError naming the
    place of every row that has no place, never a row left out silently."""
    title = ""
    dated: date | None = None
    intro: list[str] = []
    headings: dict[str, str] = {}
    found: list[dict[str, str]] = []
    problems: list[str] = []
    section = problem = ""
    columns: dict[str, int | None] | None = None
    width = 0
    numbers: list[int] = []

    for row in rows:
        cells = row.cells
        line = row.text.strip()
        if not line:
            continue
        header = header_columns(cells)
        if header:
            if not title:
                problems.append(
                    f"{source}{row.where}: a plan table before any title: the document "
                    "(or the sheet) must begin with the plan's title, e.g. 'Åtgärdsplan 2025'"
                )
                title = "?"
            columns, width = header, len(cells)
            continue
        if not title:
            title = line
            continue
        if dated is None and _DATED.match(line):
            dated = date.fromisoformat(_DATED.match(line).group(1))  # type: ignore[union-attr]
            continue
        numbered = _HEADING.match(line) if len(cells) == 1 else None
        # A row across a plan table is a heading beside the one above the table.
        across = len(cells) == 1 and row.table and columns is not None and bool(numbers)
        if numbered or across or (len(cells) == 1 and row.level is not None):
            if numbered:
                number, text = numbered.group(1), numbered.group(2)
                numbers = [int(part) for part in number.split(".")]
            else:
                level = len(numbers) if across else row.level or 1
                number, text = _next_number(numbers, level), line
            section, problem = _heading(number, text, headings)
            columns = columns if row.table else None
            continue
        if columns is not None and len(cells) == width:
            values = {key: cells[i] if i is not None else "" for key, i in columns.items()}
            if row.continues and found and not all(values[key] for key in REQUIRED):
                _continue(found[-1], values)
                continue
            found.append({"section": section, "problem": problem, **values})
            continue
        if not headings and columns is None and len(cells) == 1:
            intro.append(line)
            continue
        if len(cells) == 1:
            problems.append(
                f"{source}{row.where}: text that is neither a heading nor in a plan table, "
                f"so it has no place in the plan: {line[:60]!r}"
            )
            continue
        problems.append(
            f"{source}{row.where}: not a heading, a table header or a table row of "
            f"{width or len(COLUMNS)} cells (it has {len(cells)} cells): {line[:60]!r}"
        )
    if not title:
        problems.append(f"{source}: empty document")
    if not found and title:
        problems.append(
            f"{source}: no plan table found: no action rows under a header row naming at "
            f"least Åtgärd, Vem? and När? (the words a header may use: {variants()})"
        )
    if problems:
        raise PlanError(problems, hint=hint)
    year = _year(title, dated)
    return {
        "id": plan_id or slugify(title, max_words=3),
        "title": title,
        "date": dated or date(year, 1, 1),
        "year": year,
        "timezone": "Europe/Stockholm",
        "intro": "\n\n".join(intro),
        "headings": headings,
        "action": _actions(found),
    }


def _continue(previous: dict[str, str], values: dict[str, str]) -> None:
    """Add the rest of a row the page break cut to the row above it."""
    for key, value in values.items():
        if value:
            previous[key] = join_lines([previous[key], value])


def _actions(found: list[dict[str, str]]) -> list[dict[str, Any]]:
    used_ids: set[str] = set()
    actions = []
    for row in found:
        ident = _unique(action_id(row["åtgärd"]), used_ids)
        actions.append({"id": ident, **{key: row[key] for key in ("section", "problem", *KEYS)}})
    return actions


def _next_number(numbers: list[int], level: int) -> str:
    """The number of an unnumbered heading at ``level``, after the headings so far."""
    del numbers[level:]
    numbers.extend([0] * (level - len(numbers)))
    numbers[level - 1] += 1
    return ".".join(str(n) for n in numbers)


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
