"""Where each key of a plan file stands: the line numbers its error messages name.

TOML parsers keep no positions, so the lines are found in the text: top-level keys, and the
keys of each [[action]] and [[action.milestone]] table in order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Lines:
    """Line numbers of keys: top-level, per [[action]] table and per [[action.milestone]]
    table, in order. A table's own header line is under the key "[[action]]" or
    "[[action.milestone]]"."""

    top: dict[str, int] = field(default_factory=dict)
    actions: list[dict[str, int]] = field(default_factory=list)
    milestones: list[list[dict[str, int]]] = field(default_factory=list)

    def of(self, loc: tuple[Any, ...]) -> int | None:
        if loc and loc[0] == "action" and len(loc) > 1 and isinstance(loc[1], int):
            if loc[1] >= len(self.actions):
                return None
            keys = self.actions[loc[1]]
            if len(loc) > 3 and loc[2] == "milestone" and isinstance(loc[3], int):
                tables = self.milestones[loc[1]]
                if loc[3] >= len(tables):  # written inline: milestone = [{...}]
                    return keys.get("milestone") or keys.get("[[action]]")
                table = tables[loc[3]]
                key = str(loc[4]) if len(loc) > 4 else ""
                return table.get(key) or table.get("[[action.milestone]]")
            return keys.get(str(loc[2])) if len(loc) > 2 else keys.get("[[action]]")
        return self.top.get(str(loc[0])) if loc else None


_KEY = re.compile(r'^\s*(?:"([^"]+)"|([A-Za-z0-9_-]+))\s*=')


def locate(text: str) -> Lines:
    lines = Lines()
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
            lines.milestones[-1].append({"[[action.milestone]]": number})
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
                elif table == "milestone":
                    lines.milestones[-1][-1].setdefault(key, number)
        for quote in ('"""', "'''"):
            if line.count(quote) % 2 == 1:
                open_quote = quote
                break
    return lines


def field_name(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts[-1:] = [f"{parts[-1]}[{part + 1}]" if parts else str(part + 1)]
        else:
            parts.append(str(part))
    return ".".join(parts)
