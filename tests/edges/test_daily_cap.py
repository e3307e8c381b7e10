"""mail.daily_cap: no address gets more than so many messages in 24 hours; the rest wait, the
coordinator is told at once, and nothing is lost or sent twice. A real SQLite ledger, the real
send step and templates, mail into an outbox."""

from __future__ import annotations

import email
from collections import Counter
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

from notifier.catalog import load_catalog
from notifier.compose import Composer
from notifier.config import load_settings
from notifier.ledger import SqliteLedger
from notifier.mail import OutboxMailer
from notifier.sender import SendReport, send_due_once

STOCKHOLM = ZoneInfo("Europe/Stockholm")
POLISEN = "brottsforebyggande.gotland@polisen.example"
COORDINATOR = "samordnare@gotland.example"
# Four reminders fall due for the police at once on this morning (and more catch up on a
# ledger that starts here).
MORNING = datetime(2024, 11, 29, 8, 0, tzinfo=STOCKHOLM)


def configure(project: Path, cap: int) -> None:
    config = project / "config.toml"
    text = config.read_text(encoding="utf-8")
    start = text.index("daily_cap = ")
    end = text.index("\n", start)
    config.write_text(f"{text[:start]}daily_cap = {cap}{text[end:]}", encoding="utf-8")


def step(project: Path, now: datetime) -> SendReport:
    settings = load_settings(project / "config.toml")
    with SqliteLedger(settings.ledger.path) as ledger:
        return send_due_once(
            now,
            load_catalog(settings.plans.dir),
            settings,
            ledger,
            OutboxMailer(project / "outbox"),
            Composer.load(settings.templates.dir),
        )


def outbox(project: Path) -> list[EmailMessage]:
    return [
        email.message_from_bytes(p.read_bytes(), policy=policy.default)  # type: ignore[misc]
        for p in sorted((project / "outbox").glob("*.eml"))
    ]


def sent_to(report: SendReport, address: str) -> list[str]:
    return [o.key for o in report.sent if o.address == address]


def test_past_the_cap_the_rest_wait_the_coordinator_is_told_and_raising_it_sends_them(
    project: Path,
) -> None:
    configure(project, 2)
    first = step(project, MORNING)
    assert len(sent_to(first, POLISEN)) == 2
    assert first.held >= 2
    # The coordinator's notice is due at once: the step asks for another right away.
    assert first.next_wake is not None and first.next_wake <= MORNING
    second = step(project, MORNING + timedelta(seconds=5))
    assert [o.kind for o in second.sent if o.address == COORDINATOR].count("held") == 1
    assert sent_to(second, POLISEN) == []
    [notice] = [m for m in outbox(project) if "väntar" in m["Subject"]]
    assert notice["To"].addresses[0].addr_spec == COORDINATOR
    text = notice.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "fler än 2 meddelanden på ett dygn" in " ".join(text.split())
    assert f"Polisen ({POLISEN}): 2 skickade det senaste dygnet" in text
    assert "daily_cap" in text
    # Told once: a later step holds again, silently.
    third = step(project, MORNING + timedelta(minutes=15))
    assert third.held == second.held and [o for o in third.sent if o.kind == "held"] == []
    # Nothing more to the police within the 24 hours.
    assert sent_to(third, POLISEN) == []

    configure(project, 0)  # the coordinator finds the plan right and lifts the cap
    fourth = step(project, MORNING + timedelta(minutes=20))
    assert fourth.held == 0
    assert len(sent_to(fourth, POLISEN)) >= 1
    keys = [o.key for r in (first, second, third, fourth) for o in r.sent if o.address == POLISEN]
    assert len(keys) == len(set(keys)), "nothing sent twice"


def test_held_messages_go_out_as_the_window_frees_up_and_never_more_than_the_cap(
    project: Path,
) -> None:
    configure(project, 2)
    first = step(project, MORNING)
    step(project, MORNING + timedelta(seconds=5))  # the coordinator's notice
    assert first.next_wake is not None
    # The police's window frees 24 hours after the two sent this morning.
    later = step(project, MORNING + timedelta(hours=15))
    assert sent_to(later, POLISEN) == []
    assert later.next_wake == MORNING + timedelta(hours=24)
    next_day = step(project, MORNING + timedelta(hours=24))
    assert 1 <= len(sent_to(next_day, POLISEN)) <= 2
    per_day = Counter(
        m["Date"].datetime.astimezone(STOCKHOLM).date()
        for m in outbox(project)
        if m["To"].addresses[0].addr_spec == POLISEN
    )
    assert max(per_day.values()) <= 2


def test_the_most_urgent_go_first_a_reminder_the_day_before_over_one_a_month_ahead(
    project: Path,
) -> None:
    configure(project, 1)
    first = step(project, MORNING)
    assert sent_to(first, POLISEN) == ["gotland-2024/utbildning-andts-coacher/2@2024-11-30-1d"]


def test_the_coordinator_is_never_held_back(project: Path) -> None:
    configure(project, 1)
    report = step(project, MORNING)
    to_coordinator = [o for o in report.sent if o.address == COORDINATOR]
    assert len(to_coordinator) >= 2  # reminders of organisations without address, the digest


def test_a_cap_of_zero_holds_nothing(project: Path) -> None:
    configure(project, 0)
    report = step(project, MORNING)
    assert report.held == 0 and len(sent_to(report, POLISEN)) >= 4
