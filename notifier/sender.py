"""One step of the daemon: send what is due now, record everything, say when to wake next.

``send_due_once`` is the unit the daemon calls at each wake-up, ``notifier simulate`` calls
with a walking clock, and the tests call directly. Each call:

1. records the plan's due dates, which turns a moved due date into a change notice;
2. lists every message the plan implies (reminders, due notices, change notices, digests)
   and every problem notice the ledger holds a refused edit for;
3. asks ``due.due_items`` what to send and what to skip, given the ledger; a digest with
   nothing to report is skipped too, unless ``digest.send_empty``;
4. records the skips, writes a 'due' row per delivery, then per delivery:
   claim -> compose -> mailer.send -> mark_sent / mark_failed.

A temporary failure gets a ``next_attempt_at`` (1, 2, 4 … minutes, at most an hour); a later
call retries it once that time has passed. Nothing here sleeps or loops: the ledger and the
next wake-up are the retry.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from typing import TYPE_CHECKING, Protocol

from notifier.compose import DigestData, Failure, message_id, recipient_identity
from notifier.config import Settings
from notifier.due import (
    DEFAULT_LEASE,
    KINDS,
    NOTHING_TO_REPORT,
    Delivery,
    Outgoing,
    Skip,
    Snapshot,
    backoff,
    due_items,
    from_change_notice,
    from_digest,
    from_due_notice,
    from_problem,
    from_reminder,
    is_open,
)
from notifier.ledger import DueChange, Ledger
from notifier.mail import Mailer, SendResult
from notifier.model import PlannedMilestone
from notifier.schedule import (
    DAY,
    WEEK,
    ChangeNotice,
    DigestSlot,
    DueNotice,
    KnownDue,
    ProblemNotice,
    Recipient,
    RecordedProblem,
    Reminder,
    change_notices,
    digest_slots,
    due_notices,
    milestones_between,
    problem_notices,
    reminders,
    start_of_day,
    zone,
)

if TYPE_CHECKING:
    from notifier.catalog import Catalog

logger = logging.getLogger(__name__)

# Digest slots are looked for this far either side of now: enough to find the one just
# missed (the catch-up rule sends only the latest) and the next one (for the wake-up time).
_DIGEST_REACH = WEEK + DAY
_WHEN_FIELD = "field när"


class MessageComposer(Protocol):
    """What ``compose.Composer`` offers; tests may pass a simpler one."""

    def reminder(
        self, reminder: Reminder, recipient: Recipient, now: datetime, settings: Settings
    ) -> EmailMessage: ...

    def due_notice(
        self, planned: PlannedMilestone, recipient: Recipient, now: datetime, settings: Settings
    ) -> EmailMessage: ...

    def changed(
        self,
        planned: PlannedMilestone,
        old_due: date,
        recipient: Recipient,
        now: datetime,
        settings: Settings,
    ) -> EmailMessage: ...

    def digest(
        self, digest_data: DigestData, recipient: Recipient, now: datetime, settings: Settings
    ) -> EmailMessage: ...

    def problem(
        self, problems: Sequence[str], recipient: Recipient, now: datetime, settings: Settings
    ) -> EmailMessage: ...


@dataclass(frozen=True)
class Outcome:
    """What happened to one message for one recipient in this step."""

    key: str
    kind: str
    address: str
    message_id: str
    ok: bool
    permanent: bool = False
    code: int | None = None
    error: str | None = None
    resend: bool = False  # an earlier attempt died between claim and result
    retry_at: datetime | None = None


@dataclass
class SendReport:
    sent: list[Outcome] = field(default_factory=list)
    failed: list[Outcome] = field(default_factory=list)
    skipped: int = 0
    busy: int = 0  # deliveries another process holds right now
    changes: list[DueChange] = field(default_factory=list)
    stopped: bool = False  # ``should_stop`` asked to end the step early
    next_wake: datetime | None = None

    @property
    def permanent_failures(self) -> list[Outcome]:
        return [o for o in self.failed if o.permanent]


# --- Pure parts ---------------------------------------------------------------------------


def planned_messages(
    catalog: Catalog,
    settings: Settings,
    known: Mapping[str, KnownDue],
    now: datetime,
    problems: Iterable[RecordedProblem] = (),
    kinds: Collection[str] | None = None,
) -> list[Outgoing]:
    """Every message around ``now`` (digests: the nearest week either side) of ``kinds``
    (None: all): the plan's, and a problem notice per refused edit in ``problems``."""
    digests = digest_slots(settings, now - _DIGEST_REACH, now + _DIGEST_REACH)
    return _messages(catalog, settings, known, problems, digests, kinds)


def messages_between(
    catalog: Catalog,
    settings: Settings,
    known: Mapping[str, KnownDue],
    first: date,
    last: date | None,
    problems: Iterable[RecordedProblem] = (),
    kinds: Collection[str] | None = None,
) -> list[Outgoing]:
    """Every message of ``kinds`` (None: all) whose local send day is in [first, last].

    Digests come every week for ever: without ``last`` they are listed up to the day of the
    last other message, and at least the next one.
    """

    def day(item: Outgoing) -> date:
        return item.send_at.astimezone(zone(settings)).date()

    others = [
        item
        for item in _messages(catalog, settings, known, problems, (), kinds)
        if first <= day(item) and (last is None or day(item) <= last)
    ]
    digests: list[DigestSlot] = []
    if kinds is None or "digest" in kinds:
        until = last or max([first + WEEK, *(day(item) for item in others)])
        end = start_of_day(until + DAY, settings)
        digests = digest_slots(settings, start_of_day(first, settings), end)
    items = others + [from_digest(slot) for slot in digests]
    return sorted(items, key=lambda item: (item.send_at, item.key))


def _messages(
    catalog: Catalog,
    settings: Settings,
    known: Mapping[str, KnownDue],
    problems: Iterable[RecordedProblem],
    digests: Iterable[DigestSlot],
    kinds: Collection[str] | None,
) -> list[Outgoing]:
    wanted = set(KINDS if kinds is None else kinds)
    items: list[Outgoing] = []
    if "reminder" in wanted:
        items += [from_reminder(r) for r in reminders(catalog, settings)]
    if "due" in wanted:
        items += [from_due_notice(n) for n in due_notices(catalog, settings)]
    if "changed" in wanted:
        items += [from_change_notice(n) for n in change_notices(catalog, settings, known)]
    if "digest" in wanted:
        items += [from_digest(s) for s in digests]
    if "problem" in wanted:
        items += [from_problem(n) for n in problem_notices(problems, settings)]
    return items


def digest_data(
    slot: DigestSlot, catalog: Catalog, settings: Settings, failed: Sequence[Failure]
) -> DigestData:
    """The digest's content: the coming weeks, what fell due in as many weeks back, what
    could not be read, who is reached only through the coordinator, and what failed to send.

    The plan records no "done", so every milestone past its due date counts as overdue; the
    look-back keeps old plans from filling every digest forever.
    """
    weeks = settings.digest.weeks_ahead * WEEK
    return DigestData(
        start=slot.start,
        end=slot.end,
        upcoming=milestones_between(catalog.milestones, slot.start, slot.end),
        overdue=milestones_between(catalog.milestones, slot.start - weeks, slot.start - DAY),
        unreadable=unreadable_lines(catalog),
        unreachable=unreachable_lines(catalog),
        failed=list(failed),
    )


def digest_is_empty(data: DigestData) -> bool:
    """Nothing coming, nothing past due, nothing unreadable, nobody reached only through the
    coordinator, nothing failed: a digest that would only say "nothing"."""
    return not (data.upcoming or data.overdue or data.unreadable or data.unreachable or data.failed)


def unreadable_lines(catalog: Catalog) -> list[str]:
    """One Swedish line per action whose "När?" gives no date, for the digest."""
    return [
        f"{view.plan.id}, åtgärd '{view.action.id}': \"{view.action.when.strip()}\""
        for view in catalog.actions
        if view.action.explicit_milestones is None
        and not (view.reading.readable and view.reading.milestones)
    ]


def unreachable_lines(catalog: Catalog) -> list[str]:
    """One Swedish line per organisation whose reminders reach the coordinator instead."""
    lines = [
        f"{o.name}: har ingen e-postadress i adresslistan"
        for o in catalog.organisations
        if not o.emails
    ]
    seen: set[str] = set()
    for view in catalog.actions:
        for name in view.unknown:
            if name not in seen:
                seen.add(name)
                lines.append(
                    f"{name} ({view.plan.id}, åtgärd '{view.action.id}'): "
                    "finns inte i adresslistan"
                )
    return lines


# --- The step -----------------------------------------------------------------------------


def send_due_once(
    now: datetime,
    catalog: Catalog,
    settings: Settings,
    ledger: Ledger,
    mailer: Mailer,
    composer: MessageComposer,
    *,
    lease: timedelta = DEFAULT_LEASE,
    should_stop: Callable[[], bool] | None = None,
    clock: Callable[[], datetime] | None = None,
    kinds: Collection[str] | None = None,
) -> SendReport:
    """Send everything due at ``now``; see the module docstring.

    ``clock``, when given, stamps each claim, result and retry with the time it happens:
    a long batch (a slow server, timeouts) must not claim its last messages with a lease
    that had already run out, nor schedule retries in the past.

    ``kinds`` limits the step to those kinds of message (None: all); the daemon waiting
    for an unreadable plan sends problem notices only.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    report = SendReport()
    if kinds is None or "changed" in kinds:
        report.changes = _record_due_dates(catalog, ledger, now)
    items = planned_messages(
        catalog, settings, ledger.known_due_dates(), now, ledger.problems(), kinds
    )
    snapshot = ledger.snapshot()
    plan = due_items(items, snapshot, now, lease)
    digests = {
        d.key: _digest_data(d.item, catalog, settings, ledger, snapshot, now)
        for d in plan.send
        if d.item.kind == "digest"
    }
    quiet = [] if settings.digest.send_empty else _quiet(plan.send, digests, snapshot)
    report.skipped = ledger.mark_skipped([*plan.skip, *quiet], now)
    for skip in plan.skip:
        # One line per recipient is noise after a long stop; the step's summary counts them.
        logger.debug("skipped %s to %s: %s", skip.key, skip.address, skip.reason)
    for skip in quiet:
        logger.info("weekly digest %s not sent: %s", skip.key, skip.reason)
    silenced = {(s.key, s.address) for s in quiet}
    sends = [d for d in plan.send if (d.key, d.address) not in silenced]
    ledger.record_due(sends, now)
    wake = [plan.next_at] if plan.next_at else []
    for delivery in sends:
        if should_stop is not None and should_stop():
            report.stopped = True
            wake.append(now)
            break
        moment = clock() if clock is not None else now
        outcome = _deliver(delivery, moment, settings, ledger, mailer, composer, lease, digests)
        if outcome is None:
            report.busy += 1
            wake.append(moment + lease)
        elif outcome.ok:
            report.sent.append(outcome)
        else:
            report.failed.append(outcome)
            if outcome.retry_at is not None:
                wake.append(outcome.retry_at)
    report.next_wake = min(wake) if wake else None
    return report


def _record_due_dates(catalog: Catalog, ledger: Ledger, now: datetime) -> list[DueChange]:
    changes = ledger.record_due_dates({m.key: m.milestone.due for m in catalog.milestones}, now)
    for change in changes:
        logger.info(
            "due date of %s moved from %s to %s: the organisations will be told",
            change.milestone_key,
            change.old_due,
            change.new_due,
        )
    return changes


def _digest_data(
    item: Outgoing,
    catalog: Catalog,
    settings: Settings,
    ledger: Ledger,
    snapshot: Snapshot,
    now: datetime,
) -> DigestData:
    """What this digest says: computed once, both to decide whether it is empty and to
    compose it, so the two cannot disagree."""
    if not isinstance(item.payload, DigestSlot):
        raise TypeError(f"{item.key} is not a digest")
    failed = _failures(ledger, _last_digest(snapshot) or now - WEEK)
    return digest_data(item.payload, catalog, settings, failed)


def _quiet(
    deliveries: Sequence[Delivery], digests: Mapping[str, DigestData], snapshot: Snapshot
) -> list[Skip]:
    """Digests with nothing to report, as skips. One already in flight (a claim whose sender
    died) is finished instead: it may have reached the coordinator already."""
    return [
        Skip(d.item, d.recipient, NOTHING_TO_REPORT)
        for d in deliveries
        if d.key in digests
        and digest_is_empty(digests[d.key])
        and is_open(snapshot.get((d.key, d.address)))
    ]


def _deliver(
    delivery: Delivery,
    now: datetime,
    settings: Settings,
    ledger: Ledger,
    mailer: Mailer,
    composer: MessageComposer,
    lease: timedelta,
    digests: Mapping[str, DigestData],
) -> Outcome | None:
    """One message to one recipient; None when another process holds it."""
    item, recipient = delivery.item, delivery.recipient
    wanted_id = message_id(item.key, recipient_identity(recipient), settings)
    claim = ledger.claim(item.key, recipient.address, wanted_id, now, lease)
    if claim is None:
        logger.info("%s to %s is being sent by another process", item.key, recipient.address)
        return None
    if claim.reclaimed:
        logger.warning(
            "%s to %s: an earlier attempt ended without a result; sending again as %s "
            "(a duplicate, if any, carries the same Message-ID)",
            item.key,
            recipient.address,
            claim.message_id,
        )
    started = time.monotonic()
    try:
        message = _compose(item, recipient, now, settings, composer, digests)
    except Exception as error:  # a template or data problem: keep it in the ledger, retry
        logger.exception("cannot compose %s to %s", item.key, recipient.address)
        result = SendResult(recipient.address, False, False, None, f"compose: {error}")
    else:
        # The ledger's Message-ID is the message's identity, also across upgrades.
        del message["Message-ID"]
        message["Message-ID"] = claim.message_id
        result = _send(mailer, message, recipient.address)
    elapsed = (time.monotonic() - started) * 1000
    retry_at = None if result.ok or result.permanent else now + backoff(claim.attempts)
    outcome = Outcome(
        item.key,
        item.kind,
        recipient.address,
        claim.message_id,
        result.ok,
        result.permanent,
        result.code,
        result.error,
        claim.reclaimed,
        retry_at,
    )
    code = f" SMTP {result.code}" if result.code else ""
    if result.ok:
        if not ledger.mark_sent(item.key, recipient.address, now):
            logger.warning("%s to %s: sent, but the claim had passed on", item.key, result.address)
        logger.info(
            "sent %s %s to %s as %s in %.0f ms%s",
            item.kind,
            item.key,
            recipient.address,
            claim.message_id,
            elapsed,
            code,
        )
        return outcome
    ledger.mark_failed(
        item.key,
        recipient.address,
        now,
        permanent=result.permanent,
        error=result.error or "unknown error",
        next_attempt_at=retry_at,
    )
    logger.warning(
        "failed %s %s to %s in %.0f ms%s: %s; %s",
        item.kind,
        item.key,
        recipient.address,
        elapsed,
        code,
        result.error,
        "permanent, reported in the digest" if result.permanent else f"retry after {retry_at}",
    )
    return outcome


def _send(mailer: Mailer, message: EmailMessage, address: str) -> SendResult:
    try:
        results = mailer.send(message, [address])
    except Exception as error:  # a transport that raises instead of answering: temporary
        logger.exception("mailer failed sending to %s", address)
        return SendResult(address, False, False, None, f"{type(error).__name__}: {error}")
    for result in results:
        if result.address.casefold() == address.casefold():
            return result
    return SendResult(address, False, False, None, "the mailer gave no result for this address")


def _compose(
    item: Outgoing,
    recipient: Recipient,
    now: datetime,
    settings: Settings,
    composer: MessageComposer,
    digests: Mapping[str, DigestData],
) -> EmailMessage:
    # Dates in messages are local: the Date header then shows the Swedish offset.
    local_now = now.astimezone(zone(settings))
    payload = item.payload
    if isinstance(payload, Reminder):
        return composer.reminder(payload, recipient, local_now, settings)
    if isinstance(payload, DueNotice):
        return composer.due_notice(payload.planned, recipient, local_now, settings)
    if isinstance(payload, ChangeNotice):
        return composer.changed(payload.planned, payload.old_due, recipient, local_now, settings)
    if isinstance(payload, ProblemNotice):
        return composer.problem(list(payload.lines), recipient, local_now, settings)
    if not isinstance(payload, DigestSlot):
        raise TypeError(f"no way to compose {type(payload).__name__}")
    return composer.digest(digests[item.key], recipient, local_now, settings)


def _last_digest(snapshot: Snapshot) -> datetime | None:
    """When the coordinator last got a digest: failures since then are news."""
    sent_at = [
        e.updated_at
        for e in snapshot.values()
        if e.kind == "digest" and e.state == "sent" and e.updated_at is not None
    ]
    return max(sent_at, default=None)


def _failures(ledger: Ledger, since: datetime) -> list[Failure]:
    return [
        Failure(e.recipient, e.key, _failure_text(e.last_error, e.permanent))
        for e in ledger.failures(since)
    ]


def _failure_text(error: str | None, permanent: bool) -> str:
    text = error or "unknown error"
    # Shown in the Swedish digest: say that a temporary failure is still being retried.
    return text if permanent else f"{text} (nytt försök görs)"
