"""Where each key of a plan file stands: the line numbers its error messages name.

TOML parsers keep no positions, so the lines are found in the text: top-level keys, and the
keys of each [[action]] and [[action.milestone]] table in order.

Every action's location is its [[action]] header, and its "När?" is named by the line of its
"när" key: those are found when the file is read (the outline). Every other key is looked up
only when a message names it: on a plan of 9,000 actions, 90,000 lines, finding them all took
a fifth of reading the plan, for lines that are almost never shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Found:
    """Line numbers of keys: top-level, per [[action]] table and per [[action.milestone]]
    table, in order. A table's own header line is under the key "[[action]]" or
    "[[action.milestone]]"."""

    top: dict[str, int] = field(default_factory=dict)
    actions: list[dict[str, int]] = field(default_factory=list)
    milestones: list[list[dict[str, int]]] = field(default_factory=list)


class Lines:
    """The lines of one plan file's keys: the outline at once, the rest when first asked."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._outline = _scan(text, _OUTLINE)
        self._all: Found | None = None

    def header(self, action: int) -> int | None:
        """The line of the action's [[action]] header (0-based ``action``)."""
        return self._key(self._outline, action, "[[action]]")

    def when(self, action: int) -> int | None:
        """The line of the action's "när" key, if it has one."""
        return self._key(self._outline, action, "när")

    def first_milestone(self, action: int) -> int | None:
        """The header line of the action's first [[action.milestone]] table, if any."""
        tables = self._outline.milestones
        if action >= len(tables) or not tables[action]:
            return None
        return tables[action][0].get("[[action.milestone]]")

    def key(self, action: int, key: str) -> int | None:
        """The line of one key of the action's own table."""
        return self._key(self._found(), action, key)

    def of(self, loc: tuple[Any, ...]) -> int | None:
        """The line of a key named as pydantic names a field: ("action", 3, "vem"), …"""
        found = self._found()
        if loc and loc[0] == "action" and len(loc) > 1 and isinstance(loc[1], int):
            if loc[1] >= len(found.actions):
                return None
            keys = found.actions[loc[1]]
            if len(loc) > 3 and loc[2] == "milestone" and isinstance(loc[3], int):
                tables = found.milestones[loc[1]]
                if loc[3] >= len(tables):  # written inline: milestone = [{...}]
                    return keys.get("milestone") or keys.get("[[action]]")
                table = tables[loc[3]]
                key = str(loc[4]) if len(loc) > 4 else ""
                return table.get(key) or table.get("[[action.milestone]]")
            return keys.get(str(loc[2])) if len(loc) > 2 else keys.get("[[action]]")
        return found.top.get(str(loc[0])) if loc else None

    def _found(self) -> Found:
        if self._all is None:
            self._all = _scan(self._text, _ENTRY)
        return self._all

    @staticmethod
    def _key(found: Found, action: int, key: str) -> int | None:
        return found.actions[action].get(key) if action < len(found.actions) else None


def locate(text: str) -> Lines:
    return Lines(text)


# A table header, or a key, at the start of a line; the outline's only key is "när", which
# TOML needs quoted. Lines are counted in "\n" alone, as TOML parsers and editors count them.
_ENTRY = re.compile(
    r"""^[ \t]*(?:(\[[^\n]*)|(?:"([^"\n]+)"|([A-Za-z0-9_-]+))[ \t]*=)""", re.MULTILINE
)
_OUTLINE = re.compile(r"""^[ \t]*(?:(\[[^\n]*)|"(när)"[ \t]*=)()""", re.MULTILINE)
_DELIMITERS = ('"""', "'''")


def _multiline_strings(text: str) -> list[tuple[int, int]]:
    """Where each multi-line string stands, from its opening delimiter to the end of its
    closing one. A line that starts inside one is text, however much it looks like a key."""
    spans = []
    position = 0
    while True:
        # str.find, not a regular expression: most plans have none, and this is the whole text.
        found = [(at, quote) for quote in _DELIMITERS if (at := text.find(quote, position)) >= 0]
        if not found:
            return spans
        opening, quote = min(found)
        closing = text.find(quote, opening + 3)
        position = len(text) if closing < 0 else closing + 3
        spans.append((opening, position))


def _scan(text: str, pattern: re.Pattern[str]) -> Found:
    found = Found()
    table = "top"
    number, counted = 1, 0  # the line number at position ``counted``
    strings = _multiline_strings(text)
    inside = 0  # the first multi-line string that does not end before the current match
    for match in pattern.finditer(text):
        start = match.start()
        if strings:
            while inside < len(strings) and strings[inside][1] <= start:
                inside += 1
            if inside < len(strings) and strings[inside][0] < start:
                continue
        number += text.count("\n", counted, start)
        counted = start
        header, quoted, bare = match.groups()
        if header is not None:
            stripped = header.strip()
            if stripped == "[[action]]":
                found.actions.append({"[[action]]": number})
                found.milestones.append([])
                table = "action"
            elif stripped == "[[action.milestone]]" and found.actions:
                found.milestones[-1].append({"[[action.milestone]]": number})
                table = "milestone"
            else:
                table = "other"
                found.top.setdefault(stripped.strip("[]").strip(), number)
            continue
        key = quoted or bare
        if table == "top":
            found.top.setdefault(key, number)
        elif table == "action":
            found.actions[-1].setdefault(key, number)
        elif table == "milestone":
            found.milestones[-1][-1].setdefault(key, number)
    return found


def field_name(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts[-1:] = [f"{parts[-1]}[{part + 1}]" if parts else str(part + 1)]
        else:
            parts.append(str(part))
    return ".".join(parts)
