"""Text for Swedish readers: dates, weekdays, lists, windows, and texts cut short. Pure.

Emails and the calendar feed both write dates here, so a date reads the same in both.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from datetime import date
from functools import lru_cache

from babel.dates import format_date

LOCALE = "sv"

# Control characters, line and paragraph separators: anything that could end a header line
# or confuse a mail client. Plan text reaches Subject and display names only through this.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_SPACES = re.compile(r"\s+")
SHORT_MAX = 60
# Words a shortened text should not end on: "… till gymnasieelever och…" reads as a slip.
_CONJUNCTIONS = {"och", "eller", "samt", "men", "att", "som", "en", "ett", "den", "det", "de"}
_PREPOSITIONS = {"i", "på", "av", "för", "till", "från", "med", "mot", "om", "kring", "vid", "hos"}
_DANGLING = frozenset(_CONJUNCTIONS | _PREPOSITIONS)


def header_text(text: str) -> str:
    """One line of plain text, safe for a header: controls and line breaks become spaces.

    '=?' gets an invisible word joiner: the header parser would otherwise decode text that
    looks like an RFC 2047 encoded word, and one hiding CR LF would add a header of its own.
    """
    text = unicodedata.normalize("NFC", text)
    return _SPACES.sub(" ", _UNSAFE.sub(" ", text)).strip().replace("=?", "=\u2060?")


def shorten(text: str, limit: int = SHORT_MAX) -> str:
    """One line, cut at a word boundary with '…', for subjects that must be read at a glance.

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


@lru_cache(maxsize=4096)
def swedish_date(day: date) -> str:
    """'30 juni 2024'. Cached: a plan has few distinct dates and Babel is not free."""
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


def window_text(start: date | None, end: date, *, standalone: bool = False) -> str:
    """A milestone's window, from ``start`` (None for a deadline) to ``end``, inclusive.

    In an email the window stands beside the due date, so it is said only when it adds to it
    (not for a deadline or a single day), and as briefly as the dates allow. In a calendar
    event (``standalone``) it is a line of its own that must always say something: a
    deadline reads 'senast …', and both ends are whole dates.
    """
    if standalone:
        if start is None:
            return f"senast {swedish_date(end)}"
        if start == end:
            return swedish_date(end)
        return f"{swedish_date(start)} – {swedish_date(end)}"
    if start is None or start == end:
        return ""
    return swedish_period(start, end)
