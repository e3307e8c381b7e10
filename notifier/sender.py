"""One step of the daemon: send what is due now, record everything, say when to wake next.

``send_due_once`` is the unit the daemon calls at each wake-up, ``notifier simulate`` calls
with a walking clock, and the tests call directly. Each call:

1. records the plan's due dates, which turns a moved due date into a change notice;
2. asks every kind of message (``notifier.kinds``) for the messages the plan and the ledger
   imply: reminders, due notices, change notices, digests, and a problem notice per refused
   edit the ledger holds;
3. asks ``due.due_items`` what to send and what to skip, given the ledger; a message its kind
   silences at send time (a digest with nothing to report, a reminder of a milestone marked
   done) is skipped too;
4. records the skips, writes a 'due' row per delivery, then per delivery:
   claim -> compose (by its kind) -> mailer.send -> mark_sent / mark_failed.

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
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from notifier.bulk import bulk_build
from notifier.cap import WINDOW, Held, HeldReport, apply_cap, held_key
from notifier.compose import message_id, recipient_identity
from notifier.due import (
    DEFAULT_LEASE,
    Delivery,
    DuePlan,
    Outgoing,
    Skip,
    backoff,
    decide,
    due_items,
    is_open,
)
from notifier.errors import NotifierError
from notifier.kinds import KINDS, by_name, chosen
from notifier.kinds.base import Kind, MessageComposer, Sources, Span
from notifier.ledger import DueChange, Ledger
from notifier.mail import Mailer, SendResult
from notifier.model import Recipient
from notifier.moves import moved_catalog
from notifier.planner import (
    PlanIndex,
    Reader,
    all_items,
    ledger_memory,
    plan_index,
    quiet_of,
    wake_view,
)
from notifier.records import KnownDue, RecordedProblem, Snapshot, StatusEntry
from notifier.schedule import DAY, WEEK, start_of_day, zone
from notifier.settings import Settings

if TYPE_CHECKING:
    from notifier.catalog import Catalog

logger = logging.getLogger(__name__)

# Messages that repeat for ever (digests) are looked for this far either side of now: enough
# to find the one just missed (the catch-up rule sends only the latest) and the next one (for
# the wake-up time).
_REACH = WEEK + DAY
# After a refused login nothing is tried for this long: the credentials need a person, a
# reload with new ones tries at once, and one login an hour stays far below the lockout
# thresholds of directory servers.
LOGIN_RETRY = timedelta(hours=1)
Registry = Sequence[Kind[Any]]


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
    login_refused: bool = False


@dataclass
class SendReport:
    sent: list[Outcome] = field(default_factory=list)
    failed: list[Outcome] = field(default_factory=list)
    skipped: int = 0
    busy: int = 0  # deliveries another process holds right now
    held: int = 0  # deliveries mail.daily_cap holds back (see cap.py)
    login_refused: str | None = None  # the server's refusal; the step stopped sending there
    changes: list[DueChange] = field(default_factory=list)
    stopped: bool = False  # ``should_stop`` asked to end the step early
    next_wake: datetime | None = None
    # The milestone statuses the step decided on: the daemon republishes the feeds when
    # they differ from those the feeds were built with.
    statuses: Mapping[str, StatusEntry] = field(default_factory=dict)

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
    registry: Registry = KINDS,
    history: Sequence[StatusEntry] = (),
) -> list[Outgoing[Any]]:
    """Every message around ``now`` (those that repeat: the nearest week either side) of
    ``kinds`` (None: all of the registry's): the plan's, a problem notice per refused
    edit in ``problems``, and those the milestones' status ``history`` calls for."""
    sources = Sources(catalog, settings, now, known, tuple(problems), status_history=history)
    span = Span(now - _REACH, now + _REACH)
    return [item for kind in chosen(kinds, registry) for item in kind.messages(sources, span)]


def messages_between(
    catalog: Catalog,
    settings: Settings,
    known: Mapping[str, KnownDue],
    first: date,
    last: date | None,
    problems: Iterable[RecordedProblem] = (),
    kinds: Collection[str] | None = None,
    registry: Registry = KINDS,
    history: Sequence[StatusEntry] = (),
) -> list[Outgoing[Any]]:
    """Every message of ``kinds`` (None: all) whose local send day is in [first, last].

    Messages that repeat (digests) come every week for ever: without ``last`` they are
    listed up to the day of the last other message, and at least the next one.
    """

    def day(item: Outgoing[Any]) -> date:
        return item.send_at.astimezone(zone(settings)).date()

    def within(items: Iterable[Outgoing[Any]]) -> list[Outgoing[Any]]:
        return [i for i in items if first <= day(i) and (last is None or day(i) <= last)]

    wanted = chosen(kinds, registry)
    start = start_of_day(first, settings)
    sources = Sources(catalog, settings, start, known, tuple(problems), status_history=history)
    once = [k for k in wanted if not k.repeats]
    # Finite kinds list all of their messages whatever the span.
    others = within(i for k in once for i in k.messages(sources, Span(start, start)))
    until = last or max([first + WEEK, *(day(item) for item in others)])
    span = Span(start, start_of_day(until + DAY, settings))
    repeating = within(i for k in wanted if k.repeats for i in k.messages(sources, span))
    return sorted(others + repeating, key=lambda item: (item.send_at, item.key))


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
    registry: Registry = KINDS,
) -> SendReport:
    """Send everything due at ``now``; see the module docstring.

    ``clock``, when given, stamps each claim, result and retry with the time it happens:
    a long batch (a slow server, timeouts) must not claim its last messages with a lease
    that had already run out, nor schedule retries in the past.

    ``kinds`` limits the step to those kinds of message (None: all of ``registry``); the
    daemon waiting for an unreadable plan sends problem notices only, and does not take its
    partial plan's due dates as the plan's.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    _record_unrecorded(ledger)
    report = SendReport()
    wanted = chosen(kinds, registry)
    # Read first: a due date the coordinator moved is the date every kind goes by, and the
    # change notice tells the organisations of it as of any other moved date.
    report.statuses = ledger.statuses()
    catalog = moved_catalog(catalog, report.statuses)
    if any(kind.reads_due_dates for kind in wanted):
        report.changes = _record_due_dates(catalog, ledger, now)
    known, problems = ledger.known_due_dates(), tuple(ledger.problems())
    history = ledger.status_entries()
    index = plan_index(catalog, settings, wanted)
    others = _other_messages(catalog, settings, known, now, problems, wanted, history)
    plan, snapshot = _look(index, others, wanted, ledger, now, lease)
    sources = Sources(catalog, settings, now, known, problems, snapshot, report.statuses, history)
    handlers = by_name(registry)
    quiet = _silenced(plan.send, handlers, sources)
    report.skipped = ledger.mark_skipped([*plan.skip, *quiet], now)
    for skip in plan.skip:
        # One line per recipient is noise after a long stop; the step's summary counts them.
        logger.debug("skipped %s to %s: %s", skip.key, skip.address, skip.reason)
    for skip in quiet:
        logger.info("%s %s not sent: %s", skip.item.kind, skip.key, skip.reason)
    silenced = {(s.key, s.address) for s in quiet}
    capped = apply_cap(
        [d for d in plan.send if (d.key, d.address) not in silenced], snapshot, now, settings
    )
    sends = capped.send
    ledger.record_due(sends, now)
    wake = [plan.next_at] if plan.next_at else []
    if capped.held:
        report.held = sum(len(h.deliveries) for h in capped.held)
        wake.append(min(capped.next_free or now, now + WINDOW))
        if _note_held(capped.held, ledger, now, settings):
            wake.append(now)  # the coordinator's notice is due at once: another step

    def compose(item: Outgoing[Any], recipient: Recipient, moment: datetime) -> EmailMessage:
        # Dates in messages are local: the Date header then shows the Swedish offset.
        local_now = moment.astimezone(zone(settings))
        return handlers[item.kind].compose(item, recipient, local_now, sources, composer)

    for delivery in sends:
        if should_stop is not None and should_stop():
            report.stopped = True
            wake.append(now)
            break
        moment = clock() if clock is not None else now
        outcome = _deliver(delivery, moment, settings, ledger, mailer, compose, lease)
        if outcome is None:
            report.busy += 1
            wake.append(moment + lease)
        elif outcome.ok:
            report.sent.append(outcome)
        else:
            report.failed.append(outcome)
            if outcome.retry_at is not None:
                wake.append(outcome.retry_at)
            if outcome.login_refused:
                # Every further message would be refused the same way, at one login each.
                report.login_refused = outcome.error
                break
    report.next_wake = min(wake) if wake else None
    return report


def _other_messages(
    catalog: Catalog,
    settings: Settings,
    known: Mapping[str, KnownDue],
    now: datetime,
    problems: tuple[RecordedProblem, ...],
    wanted: Sequence[Kind[Any]],
    history: Sequence[StatusEntry],
) -> dict[str, list[Outgoing[Any]]]:
    """The messages of the kinds that are not plan-only, as ``planned_messages`` lists them."""
    sources = Sources(catalog, settings, now, known, problems, status_history=history)
    span = Span(now - _REACH, now + _REACH)
    return {kind.name: kind.messages(sources, span) for kind in wanted if not kind.plan_only}


@bulk_build
def _look(
    index: PlanIndex,
    others: dict[str, list[Outgoing[Any]]],
    wanted: Sequence[Kind[Any]],
    ledger: Ledger,
    now: datetime,
    lease: timedelta,
) -> tuple[DuePlan, Snapshot]:
    """What to send, skip and wake for, and the ledger rows it was decided from.

    Decided as ``due_items`` decides over the whole ledger. Once this process has read the
    ledger whole, a step with nothing to send reads only the rows it needs (``planner``);
    one with something to send reads it whole again, as the cap, digests and escalations
    judge from all of it.
    """
    memory = ledger_memory(ledger)
    if memory is not None and memory.complete:
        quiet = quiet_of(memory, index)
        view = wake_view(index, others, now, quiet)
        reader = Reader(ledger, memory)
        plan = decide(view.groups, reader, now, lease, view.ahead)
        if not plan.send:
            quiet.note(index, view, memory)
            return plan, reader.snapshot()
    snapshot = ledger.snapshot()
    if memory is not None:
        memory.learn(snapshot)
        # What the whole ledger shows settled holds for every later step: learn it now, in
        # the step that reads it all anyway, rather than in the next one.
        quiet = quiet_of(memory, index)
        quiet.note(index, wake_view(index, others, now, quiet), memory)
    return due_items(all_items(index, wanted, others), snapshot, now, lease), snapshot


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


def _note_held(held: Sequence[Held], ledger: Ledger, now: datetime, settings: Settings) -> bool:
    """Keep each hold for the coordinator's notice; whether one was new."""
    new = False
    for hold in held:
        key = held_key(hold, now, settings)
        if ledger.record_problem(key, HeldReport.of(hold, settings).lines(), now):
            new = True
            logger.warning(
                "%d message(s) to %s held back: %d sent in 24 hours, mail.daily_cap is %d; "
                "the coordinator is told",
                len(hold.deliveries),
                hold.address,
                hold.sent_in_window,
                settings.mail.daily_cap,
            )
    return new


def _silenced(
    deliveries: Sequence[Delivery], handlers: Mapping[str, Kind[Any]], sources: Sources
) -> list[Skip]:
    """Deliveries their kind says not to send after all (a digest with nothing to report), as
    skips. One already in flight (a claim whose sender died) is finished instead: it may
    have reached its recipient already."""
    reasons: dict[str, str | None] = {}
    skips = []
    for delivery in deliveries:
        if delivery.key not in reasons:
            reasons[delivery.key] = handlers[delivery.item.kind].silenced(delivery.item, sources)
        reason = reasons[delivery.key]
        if reason is not None and is_open(sources.snapshot.get((delivery.key, delivery.address))):
            skips.append(Skip(delivery.item, delivery.recipient, reason))
    return skips


def _deliver(
    delivery: Delivery,
    now: datetime,
    settings: Settings,
    ledger: Ledger,
    mailer: Mailer,
    compose: Callable[[Outgoing[Any], Recipient, datetime], EmailMessage],
    lease: timedelta,
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
        message = compose(item, recipient, now)
    except Exception as error:  # a template or data problem: keep it in the ledger, retry
        logger.exception("cannot compose %s to %s", item.key, recipient.address)
        result = SendResult(recipient.address, False, False, None, f"compose: {error}")
    else:
        # The ledger's Message-ID is the message's identity, also across upgrades.
        del message["Message-ID"]
        message["Message-ID"] = claim.message_id
        result = _send(mailer, message, recipient.address)
    elapsed = (time.monotonic() - started) * 1000
    pause = LOGIN_RETRY if result.login_refused else backoff(claim.attempts)
    retry_at = None if result.ok or result.permanent else now + pause
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
        result.login_refused,
    )
    code = f" SMTP {result.code}" if result.code else ""
    if result.ok:
        try:
            recorded = ledger.mark_sent(item.key, recipient.address, now)
        except NotifierError:
            # Sent, and the ledger cannot say so now (its database away): kept here and
            # recorded first thing at the next step, not sent again once its lease is over.
            _UNRECORDED.setdefault(ledger, {})[(item.key, recipient.address)] = now
            logger.error(
                "%s to %s: sent as %s, not yet recorded: the ledger cannot be written; "
                "recorded as soon as it can",
                item.key,
                recipient.address,
                claim.message_id,
            )
            raise
        if not recorded:
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


# Messages the SMTP server took while the ledger could not record them, per ledger object:
# recorded as sent at the start of the next step. Lost with the process, which then falls back
# on the lease: sent again after it, with the same Message-ID.
_UNRECORDED: WeakKeyDictionary[Any, dict[tuple[str, str], datetime]] = WeakKeyDictionary()


def _record_unrecorded(ledger: Ledger) -> None:
    waiting = _UNRECORDED.get(ledger)
    while waiting:
        (key, address), sent_at = next(iter(waiting.items()))
        if not ledger.mark_sent(key, address, sent_at):
            logger.warning("%s to %s: sent, but the claim had passed on", key, address)
        else:
            logger.info(
                "%s to %s: recorded as sent, now that the ledger can be written", key, address
            )
        del waiting[(key, address)]


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
