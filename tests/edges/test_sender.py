"""One send step against a real ledger: exactly once per recipient, retries, crashes, catch-up.

The transport here is a recording fake that answers per recipient like the real mailers do;
SMTP itself is tested against a real server elsewhere.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from notifier.catalog import ActionView, Catalog
from notifier.compose import message_id, recipient_identity
from notifier.directory import Directory
from notifier.due import DEFAULT_LEASE, NOTHING_TO_REPORT
from notifier.kinds.base import MILESTONE_DONE
from notifier.kinds.digest import digests
from notifier.kinds.problem import problem_key
from notifier.ledger import SqliteLedger
from notifier.mail import SendResult
from notifier.model import (
    Action,
    Milestone,
    Organisation,
    Plan,
    PlannedMilestone,
    Problem,
    Reading,
    Recipient,
)
from notifier.records import StatusEntry
from notifier.sender import SendReport, send_due_once
from notifier.settings import DigestSettings, Settings
from notifier.workdays import is_working_day

STOCKHOLM = ZoneInfo("Europe/Stockholm")
SETTINGS = Settings()
COORDINATOR = SETTINGS.coordinator.email
POLISEN = Organisation("Polisen", "polisen", emails=("polisen@example.se",))
SKOLAN = Organisation("Skolan", "skolan", emails=("skolan@example.se",))
FORENINGEN = Organisation("Föreningen", "foreningen")
JUNE_30 = date(2024, 6, 30)  # reminders 31 May, 20 June, 28 June; due notice 1 July


def local(day: date, hour: int = 8, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=STOCKHOLM)


# --- Real small parts: plan, composer, transport ------------------------------------------


def Plans(
    milestones: tuple[PlannedMilestone, ...], problems: list[Problem] | None = None
) -> Catalog:
    """A catalog of just these milestones, with no directory or plan files behind it."""
    return Catalog(milestones=milestones, problems=problems or [])


def planned(
    due: date = JUNE_30,
    organisations: tuple[Organisation, ...] = (POLISEN, SKOLAN),
    action: str = "a",
) -> PlannedMilestone:
    act = Action(action, "Våld", "Område", "Problem", "Orsak", "Mål", "Åtgärd", "Polisen", "x")
    plan = Plan("p", "Plan", date(2024, 1, 1), 2024, "Europe/Stockholm", ())
    return PlannedMilestone(plan, act, "1", Milestone("Klart", None, due, due), organisations)


class PlainComposer:
    """Builds a minimal message of any kind; records the context each kind gave it."""

    def __init__(self) -> None:
        self.contexts: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
        self.recipients: list[Recipient] = []

    def message(
        self,
        kind: str,
        context: Mapping[str, Any],
        recipient: Recipient,
        *,
        key: str,
        now: datetime,
        settings: Settings,
        calendar: PlannedMilestone | None = None,
    ) -> EmailMessage:
        self.contexts[kind].append(context)
        self.recipients.append(recipient)
        message = EmailMessage()
        message["Subject"] = f"{kind} {key}"
        message["To"] = recipient.address
        message["Date"] = format_datetime(now)
        message["Message-ID"] = message_id(key, recipient_identity(recipient), settings)
        message["X-Kind"] = kind
        message["X-Key"] = key
        message.set_content(f"{kind} for {recipient.organisation}")
        return message

    @property
    def digests(self) -> list[Mapping[str, Any]]:
        return self.contexts["digest"]


class Crash(BaseException):
    """The process dies: nothing after this point runs."""


@dataclass
class RecordingMailer:
    """Keeps every message it accepts; answers per recipient like the real transports.

    ``refuse``: address -> (permanent, code, error). ``down``: every send fails temporarily.
    ``crash_on``: for messages of this kind, deliver, then kill the process before the result
    is recorded.
    """

    refuse: dict[str, tuple[bool, int, str]] = field(default_factory=dict)
    down: bool = False
    crash_on: str | None = None
    delivered: list[tuple[EmailMessage, tuple[str, ...]]] = field(default_factory=list)
    attempts: int = 0

    def send(self, message: EmailMessage, recipients: Sequence[str]) -> list[SendResult]:
        self.attempts += 1
        if self.down:
            return [SendResult(a, False, False, None, "connection refused") for a in recipients]
        accepted = [a for a in recipients if a not in self.refuse]
        if accepted:
            self.delivered.append((message, tuple(accepted)))
        if self.crash_on == message["X-Kind"]:
            raise Crash
        results = []
        for address in recipients:
            if address in self.refuse:
                permanent, code, error = self.refuse[address]
                results.append(SendResult(address, False, permanent, code, error))
            else:
                results.append(SendResult(address, True, False, 250, None))
        return results

    def close(self) -> None:
        """Nothing to release."""

    def of_kind(self, kind: str) -> list[tuple[str, str]]:
        return [(str(m["X-Key"]), a) for m, to in self.delivered if m["X-Kind"] == kind for a in to]


@pytest.fixture
def ledger_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "ledger.sqlite3"


@pytest.fixture
def ledger(ledger_path: Path) -> Iterator[SqliteLedger]:
    with SqliteLedger(ledger_path) as opened:
        yield opened


def step(
    now: datetime,
    catalog: Catalog,
    ledger: SqliteLedger,
    mailer: RecordingMailer,
    composer: PlainComposer | None = None,
    settings: Settings = SETTINGS,
) -> SendReport:
    return send_due_once(now, catalog, settings, ledger, mailer, composer or PlainComposer())


def sent(report: SendReport, kind: str = "reminder") -> list[tuple[str, str]]:
    """(key, address) of what the step sent of one kind.

    A first step on an empty ledger also sends the digest just missed, so tests about
    reminders look at reminders only.
    """
    return [(o.key, o.address) for o in report.sent if o.kind == kind]


def reminder_key(lead: str, due: date = JUNE_30) -> str:
    return f"p/a/1@{due.isoformat()}-{lead}"


# --- Exactly once, on time ----------------------------------------------------------------


def test_walking_the_clock_sends_every_message_exactly_once_at_eight_on_working_days(
    ledger: SqliteLedger,
) -> None:
    catalog = Plans((planned(), planned(date(2024, 12, 31), action="b")))
    mailer = RecordingMailer()
    now: datetime | None = local(date(2024, 4, 29))  # a Monday: the digest is on time
    end = local(date(2025, 1, 15), 0)
    wakes = 0
    while now is not None and now < end:
        if now >= local(date(2024, 7, 25)) and "p/a/1" not in ledger.statuses():
            # Until then, 30 June stays in every digest as past due and not done.
            ledger.record_status(StatusEntry("p/a/1", "done", "Polisen", now, "cli"))
        report = step(now, catalog, ledger, mailer)
        assert report.failed == []
        assert report.next_wake is None or report.next_wake > now
        now = report.next_wake
        wakes += 1
    pairs = [(str(m["X-Key"]), a) for m, to in mailer.delivered for a in to]
    assert len(pairs) == len(set(pairs)), "something was sent twice"
    assert set(mailer.of_kind("reminder")) == {
        (f"p/{action}/1@{due}-{lead}", address)
        for action, due in (("a", "2024-06-30"), ("b", "2024-12-31"))
        for lead in ("30d", "7d", "1d")
        for address in ("polisen@example.se", "skolan@example.se")
    }
    assert set(mailer.of_kind("due")) == {
        ("due/p/a/1/2024-06-30", COORDINATOR),
        ("due/p/b/1/2024-12-31", COORDINATOR),
    }
    # A digest goes out in the weeks that have something to say: a due date within its four
    # weeks ahead, a past one not done, a status recorded since the last digest. 30 June: the
    # Mondays 3 June to 22 July, and 29 July saying it was done; 31 December: 9 December to
    # 13 January, with 6 January (Epiphany) moved to Tuesday the 7th.
    sent_digests = sorted(key.split("/")[1] for key, _ in mailer.of_kind("digest"))
    assert sent_digests == [
        *("2024-06-03", "2024-06-10", "2024-06-17", "2024-06-24"),
        *("2024-07-01", "2024-07-08", "2024-07-15", "2024-07-22", "2024-07-29"),
        *("2024-12-09", "2024-12-16", "2024-12-23", "2024-12-30"),
        *("2025-01-07", "2025-01-13"),
    ]
    # Escalations, to both organisations and the coordinator: 30 June's on the Fridays 5,
    # 12 and 19 July until it was done; 31 December's on Thursday 9 January.
    escalated = sorted({key.rsplit("/", 1)[1] for key, _ in mailer.of_kind("escalation")})
    assert escalated == ["2024-07-05", "2024-07-12", "2024-07-19", "2025-01-09"]
    assert len(mailer.of_kind("escalation")) == 3 * len(escalated)
    # Every other week's digest is recorded as skipped, saying why; the one missed before the
    # first wake was superseded by that morning's. So is the first escalation of 30 June
    # after it was done (Friday 26 July, to three addresses), where its series ends.
    notes = Counter(e.note for e in ledger.snapshot().values() if e.state == "skipped")
    assert notes == {
        "superseded by a later digest (2024-04-29)": 1,
        NOTHING_TO_REPORT: len(digests(SETTINGS, local(date(2024, 4, 29)), end)) - 15,
        MILESTONE_DONE: 3,
    }
    for message, _ in mailer.delivered:
        moment = parsedate_to_datetime(str(message["Date"])).astimezone(STOCKHOLM)
        assert moment.time() == time(8, 0), message["Subject"]
        assert is_working_day(moment.date()), message["Subject"]
    assert wakes < 100  # one wake per send time, not a polling loop


def test_repeated_steps_at_the_same_moment_send_nothing_more(ledger: SqliteLedger) -> None:
    catalog = Plans((planned(),))
    mailer = RecordingMailer()
    first = step(local(date(2024, 5, 31)), catalog, ledger, mailer)
    assert sent(first) == [
        (reminder_key("30d"), "polisen@example.se"),
        (reminder_key("30d"), "skolan@example.se"),
    ]
    for minutes in (0, 1, 30, 600):
        again = step(local(date(2024, 5, 31)) + timedelta(minutes=minutes), catalog, ledger, mailer)
        assert again.sent == [] and again.failed == []
    assert len(mailer.of_kind("reminder")) == 2
    assert first.next_wake == local(date(2024, 6, 3))  # the Monday digest


def test_message_id_is_the_ledgers_and_deterministic(ledger: SqliteLedger) -> None:
    mailer = RecordingMailer()
    step(local(date(2024, 5, 31)), Plans((planned(),)), ledger, mailer)
    message, (address,) = next((m, to) for m, to in mailer.delivered if m["X-Kind"] == "reminder")
    stored = ledger.snapshot()[(reminder_key("30d"), address)].message_id
    assert message["Message-ID"] == stored == message_id(reminder_key("30d"), address, SETTINGS)


def test_an_organisation_without_address_is_reminded_through_the_coordinator(
    ledger: SqliteLedger,
) -> None:
    composer = PlainComposer()
    mailer = RecordingMailer()
    catalog = Plans((planned(organisations=(POLISEN, FORENINGEN)),))
    step(local(date(2024, 5, 31)), catalog, ledger, mailer, composer)
    assert mailer.of_kind("reminder") == [
        (reminder_key("30d"), "polisen@example.se"),
        (reminder_key("30d"), COORDINATOR),
    ]
    assert composer.recipients[-1] == Recipient(COORDINATOR, "Föreningen", via_coordinator=True)


# --- Catch-up -----------------------------------------------------------------------------


def test_after_a_week_of_downtime_only_the_latest_missed_reminder_is_sent(
    ledger: SqliteLedger,
) -> None:
    catalog = Plans((planned(),))
    mailer = RecordingMailer()
    step(local(date(2024, 5, 31)), catalog, ledger, mailer)
    # Down from 19 June to Friday 28 June 09:00: the 7d (20 June) and 1d (28 June) were due.
    report = step(local(date(2024, 6, 28), 9), catalog, ledger, mailer)
    assert sent(report) == [
        (reminder_key("1d"), "polisen@example.se"),
        (reminder_key("1d"), "skolan@example.se"),
    ]
    state = ledger.snapshot()
    assert {
        state[(reminder_key("7d"), a)].state for a in ("polisen@example.se", "skolan@example.se")
    } == {"skipped"}
    assert sent(report, "digest") == [("digest/2024-06-24/2024-07-21", COORDINATOR)]


def test_nothing_is_sent_late_for_a_milestone_already_due(ledger: SqliteLedger) -> None:
    mailer = RecordingMailer()
    report = step(local(date(2024, 7, 2), 9), Plans((planned(),)), ledger, mailer)
    assert mailer.of_kind("reminder") == []
    assert {(o.key, o.kind) for o in report.sent} >= {("due/p/a/1/2024-06-30", "due")}
    state = ledger.snapshot()
    assert {
        state[(reminder_key(lead), "polisen@example.se")].state for lead in ("30d", "7d", "1d")
    } == {"skipped"}


# --- Crashes and failures -----------------------------------------------------------------


def test_a_crash_between_claim_and_sent_resends_once_with_the_same_message_id(
    ledger_path: Path,
) -> None:
    catalog = Plans((planned(organisations=(POLISEN,)),))
    start = local(date(2024, 5, 31))
    crashing = RecordingMailer(crash_on="reminder")
    with SqliteLedger(ledger_path) as ledger, pytest.raises(Crash):
        step(start, catalog, ledger, crashing)
    ((first, _),) = [(m, to) for m, to in crashing.delivered if m["X-Kind"] == "reminder"]

    mailer = RecordingMailer()
    with SqliteLedger(ledger_path) as ledger:  # the restarted daemon
        assert ledger.snapshot()[(reminder_key("30d"), "polisen@example.se")].state == "sending"
        early = step(start + timedelta(minutes=1), catalog, ledger, mailer)
        assert early.sent == [] and early.busy == 0
        assert early.next_wake == start + DEFAULT_LEASE
        late = step(start + DEFAULT_LEASE, catalog, ledger, mailer)
        assert [(o.key, o.resend) for o in late.sent] == [(reminder_key("30d"), True)]
        assert step(start + 2 * DEFAULT_LEASE, catalog, ledger, mailer).sent == []
        row = ledger.snapshot()[(reminder_key("30d"), "polisen@example.se")]
    ((second, _),) = mailer.delivered
    assert second["Message-ID"] == first["Message-ID"] == row.message_id
    assert (row.state, row.attempts) == ("sent", 2)


def test_a_temporary_failure_is_retried_later_not_earlier(ledger: SqliteLedger) -> None:
    catalog = Plans((planned(),))
    start = local(date(2024, 5, 31))
    mailer = RecordingMailer(refuse={"skolan@example.se": (False, 451, "451 try again later")})
    first = step(start, catalog, ledger, mailer)
    assert sent(first) == [(reminder_key("30d"), "polisen@example.se")]
    assert [(o.address, o.permanent, o.code) for o in first.failed] == [
        ("skolan@example.se", False, 451)
    ]
    assert first.next_wake == start + timedelta(minutes=1)
    mailer.refuse.clear()
    assert step(start + timedelta(seconds=59), catalog, ledger, mailer).sent == []
    retried = step(start + timedelta(minutes=1), catalog, ledger, mailer)
    assert [o.address for o in retried.sent] == ["skolan@example.se"]
    assert mailer.of_kind("reminder") == [
        (reminder_key("30d"), "polisen@example.se"),
        (reminder_key("30d"), "skolan@example.se"),
    ]


def test_an_smtp_outage_backs_off_and_loses_nothing(ledger: SqliteLedger) -> None:
    catalog = Plans((planned(),))
    start = local(date(2024, 5, 31))
    mailer = RecordingMailer(down=True)
    now = start
    waits = []
    for _ in range(4):
        report = step(now, catalog, ledger, mailer)
        assert report.sent == []
        assert report.next_wake is not None
        waits.append(report.next_wake - now)
        now = report.next_wake
    assert waits == [timedelta(minutes=m) for m in (1, 2, 4, 8)]
    mailer.down = False
    report = step(now, catalog, ledger, mailer)
    assert sorted(a for _, a in sent(report)) == ["polisen@example.se", "skolan@example.se"]
    assert len(mailer.of_kind("reminder")) == 2


def test_a_permanent_failure_for_one_recipient_does_not_stop_the_others(
    ledger: SqliteLedger,
) -> None:
    catalog = Plans((planned(),))
    start = local(date(2024, 5, 31))
    mailer = RecordingMailer(refuse={"skolan@example.se": (True, 550, "550 no such mailbox")})
    report = step(start, catalog, ledger, mailer)
    assert sent(report) == [(reminder_key("30d"), "polisen@example.se")]
    assert [o.address for o in report.permanent_failures] == ["skolan@example.se"]
    mailer.refuse.clear()
    assert step(start + timedelta(hours=2), catalog, ledger, mailer).sent == []
    row = ledger.snapshot()[(reminder_key("30d"), "skolan@example.se")]
    assert (row.state, row.permanent, row.last_error) == ("failed", True, "550 no such mailbox")


def test_a_long_batch_stamps_each_message_with_the_time_it_is_sent(
    ledger: SqliteLedger,
) -> None:
    # Each message takes "20 minutes" (a server timing out): claims, results and retries
    # must carry the time they happen, not the time the step began.
    catalog = Plans((planned(),))
    start = local(date(2024, 5, 31))
    ticks = iter(start + timedelta(minutes=20 * n) for n in range(1, 10))
    mailer = RecordingMailer(refuse={"skolan@example.se": (False, 451, "451 try again later")})
    report = send_due_once(
        start, catalog, SETTINGS, ledger, mailer, PlainComposer(), clock=lambda: next(ticks)
    )
    polisen = ledger.entry(reminder_key("30d"), "polisen@example.se")
    skolan = ledger.entry(reminder_key("30d"), "skolan@example.se")
    assert polisen is not None and skolan is not None
    assert polisen.claimed_at is not None and skolan.claimed_at is not None
    assert polisen.claimed_at > start and skolan.claimed_at > start
    assert polisen.claimed_at != skolan.claimed_at
    assert polisen.updated_at == polisen.claimed_at  # sent at the time it was sent
    assert skolan.next_attempt_at == skolan.claimed_at + timedelta(minutes=1)
    assert report.next_wake is not None and report.next_wake > start + timedelta(minutes=20)


def test_a_transport_that_raises_counts_as_a_temporary_failure(ledger: SqliteLedger) -> None:
    class Broken(RecordingMailer):
        def send(self, message: EmailMessage, recipients: Sequence[str]) -> list[SendResult]:
            raise OSError("network unreachable")

    report = step(local(date(2024, 5, 31)), Plans((planned(),)), ledger, Broken())
    assert [(o.permanent, o.error) for o in report.failed if o.kind == "reminder"] == [
        (False, "OSError: network unreachable")
    ] * 2


def test_a_stop_request_lets_the_current_send_finish_and_stops(ledger: SqliteLedger) -> None:
    mailer = RecordingMailer()
    asked: list[bool] = []

    def should_stop() -> bool:
        asked.append(True)
        return len(asked) > 1

    # Three reminders due: to Polisen, Skolan, and the coordinator standing in for Föreningen.
    catalog = Plans((planned(organisations=(POLISEN, SKOLAN, FORENINGEN)),))
    report = send_due_once(
        local(date(2024, 5, 31)),
        catalog,
        SETTINGS,
        ledger,
        mailer,
        PlainComposer(),
        should_stop=should_stop,
    )
    assert report.stopped and len(report.sent) == 1
    assert report.next_wake == local(date(2024, 5, 31))
    rest = step(local(date(2024, 5, 31), 8, 1), catalog, ledger, mailer)
    assert len(rest.sent) == 2 and not rest.stopped
    assert len(mailer.delivered) == 3


# --- Change notices, due notices, digests -------------------------------------------------


def test_a_moved_due_date_is_told_to_each_organisation_once(ledger: SqliteLedger) -> None:
    mailer = RecordingMailer()
    step(local(date(2024, 5, 31)), Plans((planned(),)), ledger, mailer)
    edited = Plans((planned(date(2024, 8, 30)),))
    seen = local(date(2024, 6, 4), 14)  # the plan edit is noticed on a Tuesday afternoon
    report = step(seen, edited, ledger, mailer)
    assert [(c.old_due, c.new_due) for c in report.changes] == [(JUNE_30, date(2024, 8, 30))]
    assert mailer.of_kind("changed") == []
    assert report.next_wake == local(date(2024, 6, 5))
    step(local(date(2024, 6, 5)), edited, ledger, mailer)
    step(local(date(2024, 6, 6)), edited, ledger, mailer)
    assert mailer.of_kind("changed") == [
        ("changed/p/a/1/2024-06-30/2024-08-30", "polisen@example.se"),
        ("changed/p/a/1/2024-06-30/2024-08-30", "skolan@example.se"),
    ]


def test_the_coordinator_hears_the_next_working_day_that_a_milestone_fell_due(
    ledger: SqliteLedger,
) -> None:
    mailer = RecordingMailer()
    catalog = Plans((planned(date(2024, 12, 23)),))
    step(local(date(2024, 12, 20)), catalog, ledger, mailer)
    assert sent(step(local(date(2024, 12, 24)), catalog, ledger, mailer), "due") == []
    report = step(local(date(2024, 12, 27)), catalog, ledger, mailer)
    assert sent(report, "due") == [("due/p/a/1/2024-12-23", COORDINATOR)]


def test_the_weekly_digest_lists_coming_overdue_unreadable_unreachable_and_failed(
    ledger: SqliteLedger,
) -> None:
    composer = PlainComposer()
    past = planned(date(2024, 6, 7), action="past", organisations=(POLISEN, SKOLAN, FORENINGEN))
    lopande = Action("x", "", "", "", "", "", "Åtgärd", "Polisen, Okända byrån", "Löpande")
    reading = Reading("Löpande", reason="names no time")
    unreadable = ActionView(past.plan, lopande, reading, (POLISEN,), ("Okända byrån",))
    catalog = Catalog(
        directory=Directory((POLISEN, SKOLAN, FORENINGEN)),
        milestones=(past, planned(action="a"), planned(date(2024, 9, 1), action="far")),
        actions=(unreadable,),
    )
    mailer = RecordingMailer(refuse={"skolan@example.se": (True, 550, "550 no such mailbox")})
    step(local(date(2024, 5, 31)), catalog, ledger, mailer, composer)
    report = step(local(date(2024, 6, 10)), catalog, ledger, mailer, composer)
    assert ("digest", COORDINATOR) in [(o.kind, o.address) for o in report.sent]
    data = composer.digests[-1]
    assert (data["period_start"], data["period_end"]) == ("10 juni 2024", "7 juli 2024")
    assert [p.key for p in data["upcoming"]] == ["p/a/1"]
    assert [p.key for p in data["overdue"]] == ["p/past/1"]
    assert data["unreadable"] == ["p, åtgärd 'x': \"Löpande\""]
    assert data["unreachable"] == [
        "Föreningen: har ingen e-postadress i adresslistan",
        "Okända byrån (p, åtgärd 'x'): finns inte i adresslistan",
    ]
    assert [(f.address, f.error) for f in data["failed"]] == [
        ("skolan@example.se", "550 no such mailbox")
    ] * 2  # the 30d reminders of "a" and 7d of "past", both refused for good


def test_a_digest_with_nothing_to_report_is_skipped_saying_so_and_one_with_news_is_sent(
    ledger: SqliteLedger,
) -> None:
    composer = PlainComposer()
    mailer = RecordingMailer()
    catalog = Plans((planned(date(2024, 9, 30)),))
    # Monday 3 June: nothing due within four weeks either way.
    quiet = step(local(date(2024, 6, 3)), catalog, ledger, mailer, composer)
    # Monday 9 September: 30 September is three weeks ahead.
    news = step(local(date(2024, 9, 9)), catalog, ledger, mailer, composer)
    quiet_key, news_key = "digest/2024-06-03/2024-06-30", "digest/2024-09-09/2024-10-06"
    row = ledger.entry(quiet_key, COORDINATOR)
    assert row is not None and (row.state, row.note) == ("skipped", NOTHING_TO_REPORT)
    assert sent(quiet, "digest") == []
    assert sent(news, "digest") == [(news_key, COORDINATOR)]
    assert [p.key for p in composer.digests[-1]["upcoming"]] == ["p/a/1"]
    # Skipped for good: not sent later, even once there would be news in its weeks.
    again = step(local(date(2024, 6, 3), 9), Plans((planned(date(2024, 6, 20)),)), ledger, mailer)
    assert sent(again, "digest") == []
    assert mailer.of_kind("digest") == [(news_key, COORDINATOR)]


def test_a_failure_alone_is_news_for_the_digest(ledger: SqliteLedger) -> None:
    mailer = RecordingMailer(refuse={"skolan@example.se": (True, 550, "550 no such mailbox")})
    # Due Tuesday 8 October: the 30d reminder goes on Friday 6 September; Skolan refuses it.
    catalog = Plans((planned(date(2024, 10, 8)),))
    step(local(date(2024, 9, 6)), catalog, ledger, mailer)
    composer = PlainComposer()
    # Monday 9 September: 8 October lies beyond its four weeks, nothing is past due; but a
    # message failed.
    report = step(local(date(2024, 9, 9)), catalog, ledger, mailer, composer)
    assert sent(report, "digest") == [("digest/2024-09-09/2024-10-06", COORDINATOR)]
    data = composer.digests[-1]
    assert (data["upcoming"], data["overdue"]) == ([], [])
    assert [f.address for f in data["failed"]] == ["skolan@example.se"]


def test_with_send_empty_the_digest_goes_out_with_nothing_to_report(
    ledger: SqliteLedger,
) -> None:
    settings = Settings(digest=DigestSettings(send_empty=True))
    mailer = RecordingMailer()
    report = step(local(date(2024, 6, 3)), Plans(()), ledger, mailer, settings=settings)
    assert sent(report, "digest") == [("digest/2024-06-03/2024-06-30", COORDINATOR)]


def test_a_refused_edit_is_told_once_through_the_ledger_and_retried_after_a_failure(
    ledger: SqliteLedger,
) -> None:
    problems = ["plan/gotland-2024.toml:3: not valid TOML", "Rätta filen och spara den igen."]
    key = problem_key(problems)
    seen = local(date(2024, 6, 15), 14)  # a Saturday: the notice does not wait for Monday
    assert ledger.record_problem(key, problems, seen)
    composer = PlainComposer()
    mailer = RecordingMailer(refuse={COORDINATOR: (False, 451, "451 try again later")})
    first = step(seen, Plans(()), ledger, mailer, composer)
    assert [(o.key, o.permanent) for o in first.failed] == [(key, False)]
    assert first.next_wake == seen + timedelta(minutes=1)
    mailer.refuse.clear()
    retried = step(seen + timedelta(minutes=1), Plans(()), ledger, mailer, composer)
    assert sent(retried, "problem") == [(key, COORDINATOR)]
    told = composer.contexts["problem"][-1]
    assert [(p.where, p.message) for p in told["problems"]] == [
        ("Planfilen plan/gotland-2024.toml, rad 3", f"not valid TOML\n{problems[1]}")
    ]
    assert not ledger.record_problem(key, problems, seen + timedelta(hours=1))
    later = step(seen + timedelta(days=2), Plans(()), ledger, mailer, composer)
    assert sent(later, "problem") == []
    assert mailer.of_kind("problem") == [(key, COORDINATOR)]
    row = ledger.entry(key, COORDINATOR)
    assert row is not None and (row.kind, row.state, row.attempts) == ("problem", "sent", 2)


def test_waiting_for_a_fixed_plan_sends_problem_notices_and_nothing_else(
    ledger: SqliteLedger,
) -> None:
    seen = local(date(2024, 5, 31), 8)
    ledger.record_problem("problem/x", ["plan/p.toml:1: not valid TOML"], seen)
    mailer = RecordingMailer()
    report = send_due_once(
        seen, Plans((planned(),)), SETTINGS, ledger, mailer, PlainComposer(), kinds={"problem"}
    )
    assert [(o.kind, o.key) for o in report.sent] == [("problem", "problem/x")]
    assert set(ledger.snapshot()) == {("problem/x", COORDINATOR)}
    assert ledger.known_due_dates() == {}  # a partial plan is not taken as the plan


def test_each_kind_composes_its_message_under_the_key_the_ledger_records(
    ledger: SqliteLedger,
) -> None:
    ledger.record_problem(problem_key(["x.toml: bad"]), ["x.toml: bad"], local(date(2024, 6, 1)))
    mailer = RecordingMailer()
    catalog = Plans((planned(),))
    step(local(date(2024, 5, 31)), catalog, ledger, mailer)
    step(local(date(2024, 6, 3)), Plans((planned(date(2024, 7, 5)),)), ledger, mailer)
    step(local(date(2024, 7, 8)), Plans((planned(date(2024, 7, 5)),)), ledger, mailer)
    composed = {(str(m["X-Key"]), a, str(m["X-Kind"])) for m, to in mailer.delivered for a in to}
    recorded = {(k, a, e.kind) for (k, a), e in ledger.snapshot().items() if e.state == "sent"}
    assert composed == recorded
    assert {kind for _, _, kind in composed} == {"reminder", "due", "changed", "digest", "problem"}


# --- The commands: simulate and schedule (the seed plan, real templates) -------------------


def test_simulate_writes_the_years_messages_at_eight_on_working_days_without_a_ledger(
    project: Path,
) -> None:
    import io
    from email import policy
    from email.parser import BytesParser

    from notifier.cli import main

    outbox = project / "simulated"
    out = io.StringIO()
    argv = ["--config", str(project / "config.toml"), "simulate"]
    argv += ["--from", "2024-01-01", "--to", "2024-12-31", "--outbox", str(outbox)]
    assert main(argv, stdout=out) == 0
    files = sorted(outbox.glob("*.eml"))
    for path in files:
        with path.open("rb") as handle:
            message = BytesParser(policy=policy.default).parse(handle)
        moment = parsedate_to_datetime(str(message["Date"])).astimezone(STOCKHOLM)
        assert moment.time() == time(8, 0), path.name
        assert is_working_day(moment.date()), path.name
        assert message.get_body(("plain",)) is not None and message.get_body(("html",))
    kinds = Counter(line.split()[3] for line in out.getvalue().splitlines()[:-1])
    # 11 milestones x 3 leads, one email per address: 90 reminders. Due notices for the 8
    # milestones due before 31 December (those due then are told in January). A digest in
    # each week with a due date within its four weeks ahead, or one past and not done (the
    # simulation records no milestone as done, so from 31 March on every week has one): the
    # Mondays 4 March to 30 December (Easter Monday's on Tuesday), 44 of the year's 53.
    # Escalations of the 8 milestones due by 30 November, weekly from the fifth working day
    # after the due date to the organisations and the coordinator, none ever done: 591.
    assert kinds == {"reminder": 90, "due": 8, "digest": 44, "escalation": 591}
    assert len(files) == 733
    assert out.getvalue().endswith(f"Wrote 733 messages to {outbox}\n")
    assert not (project / "state" / "ledger.sqlite3").exists()


def test_schedule_shows_each_recipients_state_from_the_ledger(project: Path) -> None:
    import io
    import json

    from notifier.catalog import load_catalog
    from notifier.cli import main
    from notifier.config import load_settings

    settings = load_settings(project / "config.toml")
    catalog = load_catalog(settings.plans.dir)
    refusing = RecordingMailer(refuse={"info@besoksnaring.example": (True, 550, "550 unknown")})
    with SqliteLedger(settings.ledger.path) as ledger:
        send_due_once(
            local(date(2024, 6, 20)), catalog, settings, ledger, refusing, PlainComposer()
        )
    out = io.StringIO()
    argv = ["--config", str(project / "config.toml"), "schedule", "--json"]
    argv += ["--from", "2024-06-20", "--to", "2024-06-28"]
    assert main(argv, stdout=out, clock=lambda: local(date(2024, 6, 21))) == 0
    shown = json.loads(out.getvalue())
    states = {
        (r["key"], p["address"]): p["state"] for r in shown["messages"] for p in r["recipients"]
    }
    key = "gotland-2024/information-sommarkrogare/klart@2024-06-30"
    assert states[(f"{key}-7d", "info@besoksnaring.example")] == "failed"
    assert states[(f"{key}-1d", "info@besoksnaring.example")] is None
    alcohol = "gotland-2024/utbildning-ansvarsfull-alkoholservice/klart@2024-06-30-7d"
    assert states[(alcohol, "samhallsbyggnadsforvaltningen@gotland.example")] == "sent"
    assert states[("digest/2024-06-24/2024-07-21", settings.coordinator.email)] is None
    # The three milestones overdue by then are escalated on Monday 24 June.
    assert shown["counts"] == {"reminder": 4, "digest": 1, "escalation": 3}
    assert all(r["send_at"].endswith("08:00:00+02:00") for r in shown["messages"])
