"""A daemon's wake-ups remember the plan's messages and the ledger's settled rows
(``notifier.planner``): every step must still decide exactly as a fresh look at everything."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from notifier.catalog import Catalog, load_catalog
from notifier.kinds.base import Span
from notifier.kinds.escalation import escalations
from notifier.ledger import SqliteLedger
from notifier.mail import SendResult
from notifier.model import PlannedMilestone, Recipient
from notifier.planner import plan_index
from notifier.records import LedgerEntry, StatusEntry
from notifier.sender import SendReport, planned_messages, send_due_once
from notifier.settings import MailSettings, Settings

ROOT = Path(__file__).resolve().parents[2]
ZONE = ZoneInfo("Europe/Stockholm")


class Composer:
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
        message = EmailMessage()
        message["Subject"] = f"{kind} {key}"
        message["X-Key"] = key
        message.set_content(kind)
        return message


class Mailer:
    """Refuses some first two attempts, and some for good, the same way for both ledgers."""

    def __init__(self) -> None:
        self.tries: dict[tuple[str, str], int] = {}

    def send(self, message: EmailMessage, recipients: Sequence[str]) -> list[SendResult]:
        results = []
        for address in recipients:
            pair = (str(message["X-Key"]), address)
            self.tries[pair] = self.tries.get(pair, 0) + 1
            if sum(map(ord, pair[0] + address)) % 7 == 0 and self.tries[pair] <= 2:
                results.append(SendResult(address, False, False, 451, "try again later"))
            elif sum(map(ord, pair[0] + address)) % 29 == 0:
                results.append(SendResult(address, False, True, 550, "no such user"))
            else:
                results.append(SendResult(address, True, False, 250, None))
        return results

    def close(self) -> None:
        """Nothing to release."""


class WholeLedger:
    """The same ledger without single-row reads: every step reads it whole, as before."""

    def __init__(self, inner: SqliteLedger) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        if name == "entry":
            raise AttributeError(name)
        return getattr(self._inner, name)


class CountingLedger(SqliteLedger):
    snapshots = 0

    def snapshot(self) -> dict[tuple[str, str], LedgerEntry]:
        self.snapshots += 1
        return super().snapshot()


def outcome(report: SendReport) -> tuple[Any, ...]:
    return (
        sorted((o.key, o.address, o.ok, o.permanent) for o in report.sent + report.failed),
        report.skipped,
        report.held,
        report.next_wake,
        [(c.milestone_key, c.old_due, c.new_due) for c in report.changes],
    )


def rows(ledger: SqliteLedger) -> dict[tuple[str, str], LedgerEntry]:
    return ledger.snapshot()


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(ROOT / "plan")


def test_remembering_wakes_decide_as_a_whole_look_through_a_year(
    catalog: Catalog, tmp_path: Path
) -> None:
    # A low cap holds some messages back: the cap reads the whole ledger, as before.
    settings = Settings(mail=MailSettings(daily_cap=6))
    fast = CountingLedger(tmp_path / "fast.sqlite3")
    whole = SqliteLedger(tmp_path / "whole.sqlite3")
    mailers = (Mailer(), Mailer())
    randomness = random.Random(2024)
    now = datetime(2024, 1, 2, 7, 0, tzinfo=ZONE)
    end = datetime(2025, 2, 1, tzinfo=ZONE)
    done = catalog.milestones[3]
    steps = 0
    while now < end:
        reports = [
            send_due_once(now, catalog, settings, ledger, mailer, Composer())
            for ledger, mailer in zip((fast, WholeLedger(whole)), mailers, strict=True)
        ]
        assert outcome(reports[0]) == outcome(reports[1]), now
        steps += 1
        if steps == 40:
            for ledger in (fast, whole):
                ledger.record_status(StatusEntry(done.key, "done", "Polisen", now, "cli"))
        wake = reports[0].next_wake or now + timedelta(days=1)
        if steps % 97 == 0:
            now += timedelta(days=9)  # the service was down for a while
        elif steps % 131 == 0:
            now -= timedelta(hours=30)  # a wrong clock put right
        else:
            # As the daemon: at the next message, or the next sweep, whichever comes first,
            # with wake-ups in between now and then.
            step = randomness.choice((1, 1, 15, 240, 1440))
            now = min(wake, now + timedelta(minutes=step))
            now = max(now, now + timedelta(seconds=randomness.randint(0, 90)))
    assert rows(fast) == rows(whole)
    assert steps > 300
    # Most steps had nothing to send and read single rows only.
    assert fast.snapshots < steps / 2
    fast.close()
    whole.close()


def test_the_plan_index_lists_what_planned_messages_lists(catalog: Catalog) -> None:
    from notifier.kinds import KINDS

    settings = Settings()
    now = datetime(2024, 6, 3, 9, tzinfo=ZONE)
    index = plan_index(catalog, settings, KINDS)
    assert plan_index(catalog, settings, KINDS) is index
    listed = [i for items in index.by_kind.values() for i in items]
    plan_only = {k.name for k in KINDS if k.plan_only}
    expected = [i for i in planned_messages(catalog, settings, {}, now) if i.kind in plan_only]
    assert sorted((i.key, i.send_at) for i in listed) == sorted(
        (i.key, i.send_at) for i in expected
    )
    # A reload brings a new catalog object: a new index, not the old one.
    assert plan_index(replace(catalog), settings, KINDS) is not index


def test_escalations_listed_again_are_those_a_fresh_catalog_lists(catalog: Catalog) -> None:
    settings = Settings()
    moment = datetime(2024, 6, 1, 6, tzinfo=UTC)
    for hours in range(0, 24 * 60, 5):
        now = moment + timedelta(hours=hours)
        span = Span(now - timedelta(days=8), now + timedelta(days=8))
        again = escalations(catalog, settings, span)
        fresh = escalations(replace(catalog), settings, span)
        assert [(i.key, i.send_at) for i in again] == [(i.key, i.send_at) for i in fresh], now


def test_an_index_reads_no_moment(catalog: Catalog) -> None:
    """Plan-only kinds are listed once for any moment: the same messages whenever asked."""
    settings = Settings()
    first = planned_messages(catalog, settings, {}, datetime(2024, 2, 1, tzinfo=UTC))
    later = planned_messages(catalog, settings, {}, datetime(2024, 11, 1, tzinfo=UTC))
    for kind in ("reminder", "due"):
        assert [i.key for i in first if i.kind == kind] == [i.key for i in later if i.kind == kind]
    assert date(2024, 1, 1) <= min(m.milestone.due for m in catalog.milestones)
