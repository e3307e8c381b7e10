"""The words a plan table's header row uses for each column, and how a header row is told."""

from __future__ import annotations

import re

# The words a header cell may use for each column, lower case, without '?' or ':'.
COLUMN_NAMES = {
    "orsak": {"orsak", "orsaker", "bakomliggande orsak", "problem"},
    "mål": {"mål", "målsättning", "mål/effekt", "effektmål"},
    "åtgärd": {"åtgärd", "åtgärder", "insats", "insatser", "aktivitet", "aktiviteter"},
    "vem": {"vem", "ansvarig", "ansvariga", "ansvar", "vem ansvarar", "ansvarig aktör"},
    "när": {"när", "tidplan", "tid", "tidpunkt", "när klart", "tidsplan"},
}
REQUIRED = ("åtgärd", "vem", "när")


def header_columns(cells: tuple[str, ...]) -> dict[str, int | None] | None:
    """The column of each plan key when ``cells`` are a plan table's header row, else None."""
    names = [re.sub(r"[?:*]", "", cell).strip().casefold() for cell in cells]
    columns: dict[str, int | None] = {}
    for key, words in COLUMN_NAMES.items():
        at = [i for i, name in enumerate(names) if name in words]
        columns[key] = at[0] if at else None
    if all(columns[key] is not None for key in REQUIRED):
        return columns
    return None


def variants() -> str:
    """The header words of each column, for an error message."""
    return "; ".join(f"{key}: {', '.join(sorted(names))}" for key, names in COLUMN_NAMES.items())
