"""What to send now, and what to record as skipped: the catch-up rule. Pure.

Level-triggered: at every wake-up the daemon lists every message the plan implies
(``Outgoing``), reads what the ledger knows per message and recipient (``LedgerEntry``), and
``due_items`` answers which recipients to send to now. Nothing here remembers anything between
calls, so a crash, restart, reload or clock jump loses nothing.

The catch-up rule: messages of one group (the reminders of one milestone; the weekly digests)
replace each other. Of the group's messages whose time has come, only the latest is sent, and
only while it has not expired (a reminder expires when its milestone falls due). The earlier
ones are recorded as skipped for every recipient that has not had them, with a reason that
names the message that replaced them. In normal operation the earlier ones were sent on time,
so nothing is skipped; after downtime, the recipients get one late reminder instead of a burst.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Any, Generic, TypeVar

from notifier.model import PlannedMilestone, Recipient
from notifier.records import LedgerEntry, Snapshot

# How long a claim ("sending") holds before another run may take the message over. Longer
# than any SMTP transaction; short enough that a crash delays a reminder by minutes only.
DEFAULT_LEASE = timedelta(minutes=10)
BACKOFF_FIRST = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=1)

# Every reason for a message replaced by a later one of its group starts so; the rest names
# that later one (see ``superseded_reason``).
SUPERSEDED = "superseded by"
EXPIRED = "too late: the milestone is due or the message is stale"
NOTHING_TO_REPORT = "nothing to report"
STALE = "it was stale"

P = TypeVar("P")


@dataclass(frozen=True)
class Outgoing(Generic[P]):
    """One message the plan implies, to one or more recipients (one email each).

    ``kind``: the name of its kind (see ``notifier.kinds``), which composes it.
    ``group``: messages that replace each other (only the latest due one is sent).
    ``expires_at``: not sent at or after this moment; None for never.
    ``payload``: what its kind composes it from, besides the milestone it is ``about``.
    ``title``: how a skip reason names it once it replaced earlier ones (default: its key).
    ``too_late``: why it is skipped when it has expired.
    """

    key: str
    kind: str
    group: str
    send_at: datetime
    expires_at: datetime | None
    recipients: tuple[Recipient, ...]
    payload: P
    about: PlannedMilestone | None = None
    title: str = ""
    too_late: str = STALE

    @property
    def milestone_key(self) -> str | None:
        return self.about.key if self.about else None

    @property
    def due(self) -> date | None:
        return self.about.milestone.due if self.about else None


@dataclass(frozen=True)
class Delivery:
    """Send ``item`` to ``recipient`` now."""

    item: Outgoing[Any]
    recipient: Recipient

    @property
    def key(self) -> str:
        return self.item.key

    @property
    def address(self) -> str:
        return self.recipient.address


@dataclass(frozen=True)
class Skip(Delivery):
    """Record ``item`` to ``recipient`` as skipped, with the reason."""

    reason: str


@dataclass(frozen=True)
class DuePlan:
    """What one send step does: the deliveries to make and the messages to skip."""

    send: list[Delivery] = field(default_factory=list)
    skip: list[Skip] = field(default_factory=list)
    # The next moment something may become due (a send time, a retry, a lease running out).
    next_at: datetime | None = None


def superseded_reason(latest: Outgoing[Any], latest_live: bool) -> str:
    """Why an earlier message of ``latest``'s group is skipped, naming ``latest``.

    When ``latest`` is itself too late, say so: otherwise the reason points at a message
    that never went out either.
    """
    reason = f"{SUPERSEDED} {latest.title or latest.key}"
    if latest_live:
        return reason
    return f"{reason}, which was itself too late: {latest.too_late}"


# --- The rule -----------------------------------------------------------------------------


class Status(Enum):
    READY = "ready"  # send now
    WAITING = "waiting"  # in flight elsewhere, or a retry whose time has not come
    DONE = "done"  # sent, skipped, or failed for good


def status(
    entry: LedgerEntry | None, now: datetime, lease: timedelta = DEFAULT_LEASE
) -> tuple[Status, datetime | None]:
    """Where one message to one recipient stands, and when that may change.

    Asked only of a message that is live now (see ``due_items``). One skipped as too late
    is then live again only because the clock went back (a wrong clock corrected): it is
    sent after all, rather than lost with its milestone still ahead.
    """
    if entry is None or entry.state == "due" or is_reopened(entry):
        return Status.READY, None
    if entry.state in ("sent", "skipped") or (entry.state == "failed" and entry.permanent):
        return Status.DONE, None
    if entry.state == "failed":
        retry_at = entry.next_attempt_at
        if retry_at is None or retry_at <= now:
            return Status.READY, None
        return Status.WAITING, retry_at
    # "sending": another run holds it, or a run died holding it; the lease tells them apart.
    claimed = entry.claimed_at or entry.updated_at
    if claimed is None or claimed + lease <= now:
        return Status.READY, None
    return Status.WAITING, claimed + lease


def is_reopened(entry: LedgerEntry | None) -> bool:
    return entry is not None and entry.state == "skipped" and entry.note == EXPIRED


def is_open(entry: LedgerEntry | None) -> bool:
    """Not yet sent, skipped or failed for good, and not in flight: may still be skipped."""
    return (
        entry is None or entry.state == "due" or (entry.state == "failed" and not entry.permanent)
    )


def due_items(
    items: Iterable[Outgoing[Any]],
    snapshot: Snapshot,
    now: datetime,
    lease: timedelta = DEFAULT_LEASE,
) -> DuePlan:
    """Apply the catch-up rule to every message; see the module docstring."""
    groups: dict[str, list[Outgoing[Any]]] = defaultdict(list)
    for item in items:
        groups[item.group].append(item)
    return decide(groups.values(), snapshot.get, now, lease)


Lookup = Callable[[tuple[str, str]], LedgerEntry | None]


def decide(
    groups: Iterable[Sequence[Outgoing[Any]]],
    lookup: Lookup,
    now: datetime,
    lease: timedelta = DEFAULT_LEASE,
    ahead: Iterable[Outgoing[Any]] | None = None,
) -> DuePlan:
    """The catch-up rule over ``groups`` (each the messages of one group), reading the ledger
    through ``lookup`` ((key, address) -> entry): what ``due_items`` decides.

    ``ahead``: every message of the groups not yet due (send time after ``now``), by send
    time; None: found in ``groups``. Only the earliest one some recipient still waits for
    matters (the next wake-up), so they are looked at in that order and no further: a
    caller that reads the ledger one entry at a time reads a few, not one per message.
    """
    plan = DuePlan()
    wake: list[datetime] = []
    found: list[Outgoing[Any]] = []
    for members in groups:
        started = [i for i in members if i.send_at <= now]
        if ahead is None:
            found.extend(i for i in members if i.send_at > now)
        if not started:
            continue
        latest = max(started, key=lambda i: (i.send_at, i.key))
        latest_live = latest.expires_at is None or now < latest.expires_at
        superseded = superseded_reason(latest, latest_live)
        for item in started:
            live = item is latest and latest_live
            reason = EXPIRED if item is latest else superseded
            for recipient in item.recipients:
                entry = lookup((item.key, recipient.address))
                if not live:
                    if is_open(entry):
                        plan.skip.append(Skip(item, recipient, reason))
                    continue
                state, at = status(entry, now, lease)
                if state is Status.READY:
                    plan.send.append(Delivery(item, recipient))
                elif state is Status.WAITING and at is not None:
                    wake.append(at)
    later = sorted(found, key=lambda i: i.send_at) if ahead is None else ahead
    for item in later:
        if wake and item.send_at >= min(wake):
            break
        if any(is_open(lookup((item.key, r.address))) for r in item.recipients):
            wake.append(item.send_at)
            break
    plan.send.sort(key=lambda d: (d.item.send_at, d.key, d.address))
    plan.skip.sort(key=lambda s: (s.item.send_at, s.key, s.address))
    return DuePlan(plan.send, plan.skip, min(wake) if wake else None)


def backoff(attempts: int) -> timedelta:
    """Wait before retry number ``attempts`` + 1: 1, 2, 4 … minutes, at most an hour."""
    exponent = max(attempts - 1, 0)
    if exponent >= 7:  # 2**6 minutes is already past the cap
        return BACKOFF_MAX
    return min(BACKOFF_FIRST * 2**exponent, BACKOFF_MAX)
