"""What each published event and feed looked like last time: the memory behind stable stamps.

Pure: no files, no clock. A milestone's UID comes from plan id, action id and the milestone's
slot (its label, or its place among unlabelled ones), so it survives edits, restarts and
reordering. SEQUENCE and LAST-MODIFIED of an event move only when its content digest changes;
a feed's Last-Modified moves only when its bytes change. ``feedstate`` keeps the history on
disk; ``feed`` renders with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from notifier.model import PlannedMilestone

UID_DOMAIN = "notifier"
HISTORY_VERSION = 1


def milestone_uid(planned: PlannedMilestone) -> str:
    """'gotland-2024.sig.klart@notifier': stable across edits, restarts and reorderings.

    Ids may contain '-', so the parts are joined with '.', which ids never contain;
    'a-b' + 'c' and 'a' + 'b-c' then cannot collide. The domain part is a constant, not the
    host name, so moving the service to another host does not duplicate every event.
    """
    return f"{planned.plan.id}.{planned.action.id}.{planned.slot}@{UID_DOMAIN}"


@dataclass(frozen=True)
class EventRecord:
    """What an event looked like when last published."""

    digest: str
    sequence: int
    last_modified: datetime


@dataclass(frozen=True)
class FeedRecord:
    """A feed's bytes digest and since when it has had them (HTTP Last-Modified)."""

    digest: str
    last_modified: datetime


@dataclass(frozen=True)
class History:
    """Per UID and per feed name: the state needed to keep stamps stable across rebuilds.

    Records of events that left the plan are kept: if the event comes back, its SEQUENCE
    continues instead of starting again at 0 below what subscribers have already seen.
    """

    events: Mapping[str, EventRecord] = field(default_factory=dict)
    feeds: Mapping[str, FeedRecord] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": HISTORY_VERSION,
            "events": {
                uid: {
                    "digest": r.digest,
                    "sequence": r.sequence,
                    "last_modified": _iso(r.last_modified),
                }
                for uid, r in sorted(self.events.items())
            },
            "feeds": {
                name: {"digest": r.digest, "last_modified": _iso(r.last_modified)}
                for name, r in sorted(self.feeds.items())
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> History:
        """Inverse of to_json; ValueError/KeyError/TypeError on malformed data."""
        if data.get("version") != HISTORY_VERSION:
            raise ValueError(f"unknown feed history version {data.get('version')!r}")
        events = {
            str(uid): EventRecord(
                str(item["digest"]), int(item["sequence"]), _parse_iso(item["last_modified"])
            )
            for uid, item in data.get("events", {}).items()
        }
        feeds = {
            str(name): FeedRecord(str(item["digest"]), _parse_iso(item["last_modified"]))
            for name, item in data.get("feeds", {}).items()
        }
        return cls(events, feeds)


def utc_stamp(now: datetime) -> datetime:
    """UTC, whole seconds: iCalendar DATE-TIME and HTTP dates carry no fractions."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(UTC).replace(microsecond=0)


def advance(history: History, digests: Mapping[str, str], now: datetime) -> History:
    """New event records: a changed digest gets sequence + 1 and ``now``; a new UID 0 and ``now``.

    Unchanged events keep their record exactly, which is what makes rebuilds byte-identical.
    Feed records are left as they are: only the rendered bytes can tell whether a feed changed.
    """
    stamp = utc_stamp(now)
    events = dict(history.events)
    for uid, digest in digests.items():
        old = events.get(uid)
        if old is None:
            events[uid] = EventRecord(digest, 0, stamp)
        elif old.digest != digest:
            events[uid] = EventRecord(digest, old.sequence + 1, stamp)
    return History(events, dict(history.feeds))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
