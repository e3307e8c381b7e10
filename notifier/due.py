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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Literal

from notifier.schedule import (
    ChangeNotice,
    DigestSlot,
    DueNotice,
    ProblemNotice,
    Recipient,
    Reminder,
    lead_label,
)

Kind = Literal["reminder", "due", "changed", "digest", "problem"]
KINDS: tuple[Kind, ...] = ("reminder", "due", "changed", "digest", "problem")
State = Literal["due", "sending", "sent", "failed", "skipped"]

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


@dataclass(frozen=True)
class LedgerEntry:
    """What the ledger knows about one message to one recipient."""

    key: str
    recipient: str
    kind: str
    state: State
    attempts: int = 0
    permanent: bool = False
    last_error: str | None = None
    message_id: str | None = None
    next_attempt_at: datetime | None = None
    claimed_at: datetime | None = None
    updated_at: datetime | None = None
    milestone_key: str | None = None
    due_date: date | None = None
    note: str | None = None


Snapshot = Mapping[tuple[str, str], LedgerEntry]


@dataclass(frozen=True)
class Outgoing:
    """One message the plan implies, to one or more recipients (one email each).

    ``group``: messages that replace each other (only the latest due one is sent).
    ``expires_at``: not sent at or after this moment; None for never.
    ``payload``: what the message is composed from.
    """

    key: str
    kind: Kind
    group: str
    send_at: datetime
    expires_at: datetime | None
    recipients: tuple[Recipient, ...]
    payload: Reminder | DueNotice | ChangeNotice | DigestSlot | ProblemNotice
    milestone_key: str | None = None
    due: date | None = None


@dataclass(frozen=True)
class Delivery:
    """Send ``item`` to ``recipient`` now."""

    item: Outgoing
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
    send: list[Delivery] = field(default_factory=list)
    skip: list[Skip] = field(default_factory=list)
    # The next moment something may become due (a send time, a retry, a lease running out).
    next_at: datetime | None = None


# --- From the schedule to Outgoing --------------------------------------------------------


def from_reminder(reminder: Reminder) -> Outgoing:
    return Outgoing(
        key=reminder.key,
        kind="reminder",
        group=f"reminder/{reminder.milestone_key}",
        send_at=reminder.send_at,
        # A reminder is worth sending until its milestone is due.
        expires_at=reminder.due_at,
        recipients=reminder.recipients,
        payload=reminder,
        milestone_key=reminder.milestone_key,
        due=reminder.due,
    )


def from_due_notice(notice: DueNotice) -> Outgoing:
    return Outgoing(
        key=notice.key,
        kind="due",
        group=notice.key,
        send_at=notice.send_at,
        expires_at=notice.expires_at,
        recipients=(notice.recipient,),
        payload=notice,
        milestone_key=notice.planned.key,
        due=notice.planned.milestone.due,
    )


def from_change_notice(notice: ChangeNotice) -> Outgoing:
    return Outgoing(
        key=notice.key,
        kind="changed",
        group=f"changed/{notice.planned.key}",
        send_at=notice.send_at,
        expires_at=notice.expires_at,
        recipients=notice.recipients,
        payload=notice,
        milestone_key=notice.planned.key,
        due=notice.planned.milestone.due,
    )


def from_digest(slot: DigestSlot) -> Outgoing:
    return Outgoing(
        key=slot.key,
        kind="digest",
        # Only the latest missed digest is worth sending: it says everything the others did.
        group="digest",
        send_at=slot.send_at,
        expires_at=None,
        recipients=(slot.recipient,),
        payload=slot,
    )


def from_problem(notice: ProblemNotice) -> Outgoing:
    return Outgoing(
        key=notice.key,
        kind="problem",
        # Each distinct set of problems is news of its own; a later one replaces nothing.
        group=notice.key,
        send_at=notice.send_at,
        expires_at=notice.expires_at,
        recipients=(notice.recipient,),
        payload=notice,
    )


# --- Skip reasons -------------------------------------------------------------------------


def superseded_reason(latest: Outgoing, latest_live: bool) -> str:
    """Why an earlier message of ``latest``'s group is skipped, naming ``latest``.

    When ``latest`` is itself too late, say so: otherwise the reason points at a message
    that never went out either.
    """
    reason = f"{SUPERSEDED} {_name(latest)}"
    if latest_live:
        return reason
    return f"{reason}, which was itself too late: {_too_late(latest)}"


def _name(item: Outgoing) -> str:
    payload = item.payload
    if isinstance(payload, Reminder):
        return f"the {lead_label(payload.lead)} reminder"
    if isinstance(payload, DigestSlot):
        return f"a later digest ({payload.start.isoformat()})"
    return item.key


def _too_late(item: Outgoing) -> str:
    if item.kind in ("reminder", "changed"):
        return "the milestone fell due"
    return "it was stale"


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
    items: Iterable[Outgoing],
    snapshot: Snapshot,
    now: datetime,
    lease: timedelta = DEFAULT_LEASE,
) -> DuePlan:
    """Apply the catch-up rule to every message; see the module docstring."""
    groups: dict[str, list[Outgoing]] = defaultdict(list)
    for item in items:
        groups[item.group].append(item)
    plan = DuePlan()
    wake: list[datetime] = []
    for members in groups.values():
        started = [i for i in members if i.send_at <= now]
        for item in members:
            if item.send_at > now and _any_open(item, snapshot):
                wake.append(item.send_at)
        if not started:
            continue
        latest = max(started, key=lambda i: (i.send_at, i.key))
        latest_live = latest.expires_at is None or now < latest.expires_at
        superseded = superseded_reason(latest, latest_live)
        for item in started:
            live = item is latest and latest_live
            reason = EXPIRED if item is latest else superseded
            for recipient in item.recipients:
                entry = snapshot.get((item.key, recipient.address))
                if not live:
                    if is_open(entry):
                        plan.skip.append(Skip(item, recipient, reason))
                    continue
                state, at = status(entry, now, lease)
                if state is Status.READY:
                    plan.send.append(Delivery(item, recipient))
                elif state is Status.WAITING and at is not None:
                    wake.append(at)
    plan.send.sort(key=lambda d: (d.item.send_at, d.key, d.address))
    plan.skip.sort(key=lambda s: (s.item.send_at, s.key, s.address))
    return DuePlan(plan.send, plan.skip, min(wake) if wake else None)


def due(
    reminders: Sequence[Reminder],
    snapshot: Snapshot,
    now: datetime,
    lease: timedelta = DEFAULT_LEASE,
) -> DuePlan:
    """The catch-up rule for reminders alone."""
    return due_items([from_reminder(r) for r in reminders], snapshot, now, lease)


def _any_open(item: Outgoing, snapshot: Snapshot) -> bool:
    return any(is_open(snapshot.get((item.key, r.address))) for r in item.recipients)


def backoff(attempts: int) -> timedelta:
    """Wait before retry number ``attempts`` + 1: 1, 2, 4 … minutes, at most an hour."""
    exponent = max(attempts - 1, 0)
    if exponent >= 7:  # 2**6 minutes is already past the cap
        return BACKOFF_MAX
    return min(BACKOFF_FIRST * 2**exponent, BACKOFF_MAX)
