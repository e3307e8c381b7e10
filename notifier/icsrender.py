"""One feed event (VEVENT) as iCalendar bytes, written directly. Pure.

The feeds of a large plan hold many thousand events; building each through ``icalendar``'s
objects took most of a feed build. This writes the very bytes ``icalendar`` writes for the
properties ``feed`` sets (``reference_event_bytes`` is that way, kept for the tests that
compare the two): the properties in icalendar's order (its canonical ones first, then the
rest alphabetically), TEXT escaped as its ``_escape_char`` does, and each content line
folded as its ``_foldline`` does: at most 74 octets before each fold, never inside a UTF-8
sequence, and never right after a backslash or caret, which moves to the next line.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from notifier.feed import EventContent
    from notifier.feedhistory import EventRecord

_LIMIT = 74  # octets of one folded line before its CRLF (icalendar: "< 75")
_FOLD = b"\r\n "


def escape_text(text: str) -> str:
    """RFC 5545 TEXT escaping, in icalendar's order (which matters)."""
    return (
        text.replace("\\N", "\n")
        .replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def fold(line: bytes) -> bytes:
    """A content line folded as icalendar folds it (see the module docstring)."""
    size = len(line)
    if size <= _LIMIT:
        return line
    parts = []
    start = 0
    while size - start > _LIMIT:
        end = start + _LIMIT
        while line[end] & 0xC0 == 0x80:  # a UTF-8 continuation byte: not a character start
            end -= 1
        if line[end - 1] in b"\\^" and end - start > 1:
            end -= 1
        parts.append(line[start:end])
        start = end
    parts.append(line[start:])
    return _FOLD.join(parts)


@lru_cache(maxsize=1 << 12)
def _stamp(moment: datetime) -> str | None:
    """'20240506T120000Z' for a UTC moment; None for any other (rendered the slow way)."""
    if moment.tzinfo is None or moment.utcoffset() != timedelta(0):
        return None
    return moment.strftime("%Y%m%dT%H%M%SZ")


@lru_cache(maxsize=1 << 12)
def _day(day: date) -> str:
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


def _line(name: str, value: str) -> bytes:
    return fold(f"{name}:{value}".encode())


_CRLF = b"\r\n"
_MIDDLE = b"CLASS:PUBLIC\r\n"
_TAIL = (
    b"X-MICROSOFT-CDO-ALLDAYEVENT:TRUE\r\n"
    b"X-MICROSOFT-CDO-BUSYSTATUS:FREE\r\n"
    b"X-MICROSOFT-CDO-INTENDEDSTATUS:FREE\r\n"
    b"END:VEVENT\r\n"
)


def event_bytes(content: EventContent, record: EventRecord) -> bytes:
    """The VEVENT of ``content`` with the stamps of ``record``, byte for byte as
    ``reference_event_bytes`` renders it."""
    stamp = _stamp(record.last_modified)
    if (
        stamp is None
        or type(content.start) is not date
        or type(content.end) is not date
        or "\n" in content.url
        or "\r" in content.url
    ):
        # Not what ``feed`` makes; icalendar decides (and refuses a raw line break).
        return reference_event_bytes(content, record)
    # Lines that can never reach 75 octets are written whole; the rest are folded.
    dates = (
        f"DTSTART;VALUE=DATE:{_day(content.start)}\r\n"
        f"DTEND;VALUE=DATE:{_day(content.end)}\r\n"
        f"DTSTAMP:{stamp}\r\n"
    )
    parts = [
        b"BEGIN:VEVENT\r\n",
        _line("SUMMARY", escape_text(content.summary)),
        _CRLF,
        dates.encode(),
        _line("UID", escape_text(content.uid)),
        _CRLF,
        f"SEQUENCE:{int(record.sequence)}\r\n".encode(),
    ]
    if content.categories:
        parts += [_line("CATEGORIES", ",".join(escape_text(c) for c in content.categories)), _CRLF]
    parts += [
        _MIDDLE,
        _line("DESCRIPTION", escape_text(content.description)),
        _CRLF,
        f"LAST-MODIFIED:{stamp}\r\n".encode(),
        _line("STATUS", escape_text(content.status)),
        _CRLF,
        b"TRANSP:TRANSPARENT\r\n",
    ]
    if content.url:
        parts += [_line("URL", content.url), _CRLF]
    parts.append(_TAIL)
    return b"".join(parts)


def reference_event_bytes(content: EventContent, record: EventRecord) -> bytes:
    """The same event through ``icalendar``: the definition ``event_bytes`` follows."""
    from icalendar import Event

    event = Event()
    event.add("uid", content.uid)
    # DTSTAMP = LAST-MODIFIED: for a published (not scheduled) calendar DTSTAMP is when the
    # information was last revised; tying it to the content keeps rebuilds byte-identical.
    event.add("dtstamp", record.last_modified)
    event.add("last-modified", record.last_modified)
    event.add("sequence", record.sequence)
    # date objects give VALUE=DATE; DTEND is exclusive, so a one-day event ends the day after.
    event.add("dtstart", content.start)
    event.add("dtend", content.end)
    event.add("summary", content.summary)
    event.add("description", content.description)
    if content.categories:
        event.add("categories", list(content.categories))
    event.add("status", content.status)
    event.add("class", "PUBLIC")
    # Deadlines must not block anyone's free/busy time.
    event.add("transp", "TRANSPARENT")
    event.add("x-microsoft-cdo-busystatus", "FREE")
    event.add("x-microsoft-cdo-intendedstatus", "FREE")
    event.add("x-microsoft-cdo-alldayevent", "TRUE")
    if content.url:
        event.add("url", content.url)
    return bytes(event.to_ical())
