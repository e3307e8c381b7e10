"""Escalations, end to end: a real SQLite ledger, the shipped templates, mail in an outbox.

Every moment is pinned; the dates are chosen so that Swedish holidays (midsommar, Christmas,
New Year) decide when an escalation goes out.
"""

from __future__ import annotations

import io
import json
import re
from datetime import date, datetime, time, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr

from notifier.catalog import Catalog
from notifier.cli import main
from notifier.compose import Composer
from notifier.kinds.base import MILESTONE_DONE
from notifier.kinds.escalation import (
    ESCALATION,
    NOT_TAKEN_UP,
    every_text,
    first_day,
    working_days_late,
)
from notifier.ledger import SqliteLedger
from notifier.links import LinkSigner
from notifier.mail import OutboxMailer
from notifier.model import Action, Milestone, Organisation, Plan, PlannedMilestone
from notifier.records import COORDINATOR, StatusEntry
from notifier.sender import SendReport, messages_between, send_due_once
from notifier.settings import EscalationSettings, FeedSettings, Settings

ROOT = Path(__file__).resolve().parent.parent.parent
TEMPLATES = ROOT / "templates"
STOCKHOLM = ZoneInfo("Europe/Stockholm")
SECRET = "escalation-test-link-secret-0123456789"
SETTINGS = Settings()
COORDINATOR_ADDRESS = SETTINGS.coordinator.email
POLICE = "polisen@example.se"
SCHOOL = "skolan@example.se"
ONLY = ("escalation",)


def with_links(settings: Settings = SETTINGS) -> Settings:
    """``settings`` with a link secret and a public https address, so mail carries links."""
    links = settings.links.model_copy(update={"secret": SecretStr(SECRET)})
    feeds = FeedSettings(base_url="https://notifier.example.se")
    return settings.model_copy(update={"links": links, "feeds": feeds})


def escalating(**changes: Any) -> Settings:
    return SETTINGS.model_copy(update={"escalation": EscalationSettings(**changes)})


def plan(due: date, *organisations: Organisation) -> Catalog:
    action = Action(
        "a", "Våld", "Krogmiljö", "Problem", "Orsak", "Mål", "Trygghetsvandringar", "", ""
    )
    the_plan = Plan("p", "Åtgärdsplan 2024", date(2024, 1, 1), 2024, "Europe/Stockholm", ())
    milestone = Milestone("Klart", due.replace(day=1), due, due)
    organisations = organisations or (
        Organisation("Polisen", "polisen", emails=(POLICE,)),
        Organisation("Skolan", "skolan", emails=(SCHOOL,)),
    )
    return Catalog(milestones=(PlannedMilestone(the_plan, action, "1", milestone, organisations),))


KEY = "p/a/1"
# Monday 17 June 2024; midsommarafton (Friday 21 June) is no working day, so the fifth
# working day after it is Tuesday 25 June, not Monday 24 June.
MIDSOMMAR_DUE = date(2024, 6, 17)
# Tuesday 10 December 2024: first escalation Tuesday 17 December; the next one falls on
# julafton (moved to Friday 27 December), the one after on nyårsafton (to Thursday 2 January).
CHRISTMAS_DUE = date(2024, 12, 10)


def local(day: date, hour: int = 8, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=STOCKHOLM)


def step(
    tmp_path: Path,
    now: datetime,
    catalog: Catalog,
    settings: Settings = SETTINGS,
    kinds: tuple[str, ...] | None = ONLY,
) -> SendReport:
    with SqliteLedger(tmp_path / "ledger.sqlite3") as ledger:
        return send_due_once(
            now,
            catalog,
            settings,
            ledger,
            OutboxMailer(tmp_path / "outbox"),
            Composer.load(TEMPLATES),
            kinds=kinds,
        )


def sent(report: SendReport, kind: str = "escalation") -> set[tuple[str, str]]:
    return {(o.key, o.address) for o in report.sent if o.kind == kind}


def entries(tmp_path: Path) -> dict[tuple[str, str], Any]:
    with SqliteLedger(tmp_path / "ledger.sqlite3", readonly=True) as ledger:
        return {k: e for k, e in ledger.snapshot().items() if e.kind == "escalation"}


def mails(tmp_path: Path) -> list[EmailMessage]:
    return [
        message_from_bytes(path.read_bytes(), policy=default_policy)  # type: ignore[misc]
        for path in sorted((tmp_path / "outbox").glob("*.eml"))
    ]


def text_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def html_of(message: EmailMessage) -> str:
    body = message.get_body(("html",))
    assert body is not None
    return str(body.get_content())


def key_on(due: date, day: date) -> str:
    return f"escalation/{KEY}/{due.isoformat()}/{day.isoformat()}"


def everyone(key: str) -> set[tuple[str, str]]:
    return {(key, POLICE), (key, SCHOOL), (key, COORDINATOR_ADDRESS)}


# --- When --------------------------------------------------------------------------------


def test_working_days_skip_midsommarafton_christmas_and_new_year() -> None:
    assert first_day(MIDSOMMAR_DUE, SETTINGS) == date(2024, 6, 25)
    assert first_day(CHRISTMAS_DUE, SETTINGS) == date(2024, 12, 17)
    assert first_day(date(2024, 12, 18), SETTINGS) == date(2024, 12, 30)
    assert working_days_late(MIDSOMMAR_DUE, date(2024, 6, 25)) == 5
    assert working_days_late(MIDSOMMAR_DUE, MIDSOMMAR_DUE) == 0
    assert [every_text(n) for n in (1, 7, 14, 3, 21, 11)] == [
        "varje dag",
        "varje vecka",
        "varannan vecka",
        "var 3:e dag",
        "var 21:a dag",
        "var 11:e dag",
    ]


def test_the_schedule_repeats_weekly_and_moves_a_holiday_to_the_next_working_day() -> None:
    listed = messages_between(
        plan(CHRISTMAS_DUE), SETTINGS, {}, date(2024, 12, 1), date(2025, 1, 20), kinds=ONLY
    )
    assert [(i.send_at, i.payload) for i in listed] == [
        (local(date(2024, 12, 17)), 1),
        (local(date(2024, 12, 27)), 2),  # julafton
        (local(date(2025, 1, 2)), 3),  # nyårsafton, then new year's day
        (local(date(2025, 1, 7)), 4),  # the series does not drift: Tuesdays again
        (local(date(2025, 1, 14)), 5),
    ]
    assert {r.address for r in listed[0].recipients} == {POLICE, SCHOOL, COORDINATOR_ADDRESS}


# --- Sending -----------------------------------------------------------------------------


def test_the_first_escalation_goes_out_at_send_time_five_working_days_after_due(
    tmp_path: Path,
) -> None:
    catalog = plan(MIDSOMMAR_DUE)
    # Monday 24 June would be the fifth working day but for midsommarafton.
    assert sent(step(tmp_path, local(date(2024, 6, 24)), catalog)) == set()
    assert sent(step(tmp_path, local(date(2024, 6, 25), 7, 59), catalog)) == set()
    report = step(tmp_path, local(date(2024, 6, 25)), catalog)
    assert sent(report) == everyone(key_on(MIDSOMMAR_DUE, date(2024, 6, 25)))
    # The next one is a week later; nothing in between.
    assert sent(step(tmp_path, local(date(2024, 7, 1)), catalog)) == set()
    assert report.next_wake == local(date(2024, 7, 2))

    [police] = [m for m in mails(tmp_path) if POLICE in str(m["To"])]
    assert (
        str(police["Subject"]) == "Försenat: Klart – Trygghetsvandringar (förfallodag 17 juni 2024)"
    )
    assert police["Auto-Submitted"] == "auto-generated"
    text = text_of(police)
    assert "Förfallodagen var måndag 17 juni 2024. Delmålet är nu 5 arbetsdagar" in text
    assert "Ansvariga:  Polisen och Skolan" in text
    assert "Föreslå ett nytt datum" in text
    assert "Till samordnaren" not in text
    html = html_of(police)
    assert '<html lang="sv">' in html and "<strong>5 arbetsdagar försenat</strong>" in html


def test_the_escalation_repeats_every_week_until_done_and_done_is_recorded_as_skipped(
    tmp_path: Path,
) -> None:
    catalog = plan(CHRISTMAS_DUE)
    for day in (date(2024, 12, 17), date(2024, 12, 27), date(2025, 1, 2)):
        assert sent(step(tmp_path, local(day), catalog)) == everyone(key_on(CHRISTMAS_DUE, day))
    numbers = [re.search(r"påminnelse nummer (\d+)", text_of(m)) for m in mails(tmp_path)]
    assert sorted(int(n.group(1)) for n in numbers if n) == [2, 2, 2, 3, 3, 3]

    with SqliteLedger(tmp_path / "ledger.sqlite3") as ledger:
        ledger.record_status(
            StatusEntry(KEY, "done", "Polisen", local(date(2025, 1, 3), 14), "link", POLICE)
        )
    report = step(tmp_path, local(date(2025, 1, 7)), catalog)
    assert sent(report) == set()
    silenced = key_on(CHRISTMAS_DUE, date(2025, 1, 7))
    recorded = entries(tmp_path)
    for address in (POLICE, SCHOOL, COORDINATOR_ADDRESS):
        entry = recorded[(silenced, address)]
        assert (entry.state, entry.note) == ("skipped", MILESTONE_DONE)
    # The series ends there: nothing more is listed, so the ledger gets no row a week.
    for later in (date(2025, 1, 14), date(2025, 2, 18)):
        assert sent(step(tmp_path, local(later), catalog)) == set()
        assert len(entries(tmp_path)) == 3 * 4
    with SqliteLedger(tmp_path / "ledger.sqlite3", readonly=True) as ledger:
        history = ledger.status_entries()
    listed = messages_between(
        catalog, SETTINGS, {}, date(2024, 12, 1), date(2025, 3, 1), kinds=ONLY, history=history
    )
    assert [i.send_at.date() for i in listed] == [
        *(date(2024, 12, 17), date(2024, 12, 27), date(2025, 1, 2)),
        date(2025, 1, 7),
    ]


def test_the_coordinator_is_told_with_a_copy_of_their_own_and_everyone_gets_a_link(
    tmp_path: Path,
) -> None:
    settings = with_links()
    catalog = plan(MIDSOMMAR_DUE)
    # The tenth escalation, long after the due date's own links (60 days) have expired.
    tenth = date(2024, 6, 25) + timedelta(weeks=9)
    step(tmp_path, local(date(2024, 6, 25)), catalog, settings)
    for path in (tmp_path / "outbox").glob("*.eml"):
        path.unlink()
    step(tmp_path, local(tenth), catalog, settings)
    by_address = {str(m["To"]).split("<")[-1].rstrip(">"): m for m in mails(tmp_path)}
    assert set(by_address) == {POLICE, SCHOOL, COORDINATOR_ADDRESS}

    boss = text_of(by_address[COORDINATOR_ADDRESS])
    assert "Till samordnaren: det här är din kopia" in boss
    assert "notifier done p/a/1" in boss
    assert "Polisen: polisen@example.se" in boss
    assert "Vänliga hälsningar" not in boss
    police = text_of(by_address[POLICE])
    assert "din kopia" not in police and "notifier done" not in police
    assert "påminnelse nummer 10" in police

    signer = LinkSigner(SECRET.encode())
    for address, message in by_address.items():
        [token] = re.findall(r"https://notifier\.example\.se/status/(\S+)", text_of(message))
        assert f'href="https://notifier.example.se/status/{token}"' in html_of(message)
        claim = signer.read(token, tenth + timedelta(days=59))
        assert claim is not None, f"{address}'s link works for weeks after the escalation"
        assert (claim.milestone_key, claim.address) == (KEY, address)
        assert claim.expires == tenth + timedelta(days=60)


def test_the_coordinator_standing_in_for_an_organisation_gets_one_copy(tmp_path: Path) -> None:
    catalog = plan(
        MIDSOMMAR_DUE,
        Organisation("Polisen", "polisen", emails=(POLICE,)),
        Organisation("Föreningen", "foreningen"),  # no address: the coordinator stands in
    )
    report = step(tmp_path, local(date(2024, 6, 25)), catalog)
    assert sorted(o.address for o in report.sent) == sorted([POLICE, COORDINATOR_ADDRESS])
    [boss] = [m for m in mails(tmp_path) if COORDINATOR_ADDRESS in str(m["To"])]
    assert "Föreningen har ingen e-postadress i adresslistan" in text_of(boss)


def test_disabled_escalations_are_neither_listed_nor_sent(tmp_path: Path) -> None:
    settings = escalating(enabled=False)
    catalog = plan(MIDSOMMAR_DUE)
    for chosen in (settings, SETTINGS):
        listed = messages_between(catalog, chosen, {}, date(2024, 6, 1), date(2025, 6, 1))
        escalations = [item for item in listed if item.kind == "escalation"]
        assert bool(escalations) is chosen.escalation.enabled
    for day in (date(2024, 6, 25), date(2024, 7, 2)):
        assert sent(step(tmp_path, local(day), catalog, settings, kinds=None)) == set()
    assert entries(tmp_path) == {}
    # The same plan with the default settings does escalate: the test can fail.
    assert sent(step(tmp_path, local(date(2024, 7, 2)), catalog)) != set()


# --- Catch-up ----------------------------------------------------------------------------


def test_after_downtime_only_the_latest_missed_escalation_goes_out(tmp_path: Path) -> None:
    catalog = plan(CHRISTMAS_DUE)
    # Down from before the first escalation until after the third (2 January).
    report = step(tmp_path, local(date(2025, 1, 3), 10), catalog)
    latest = key_on(CHRISTMAS_DUE, date(2025, 1, 2))
    assert sent(report) == everyone(latest)
    recorded = entries(tmp_path)
    for day in (date(2024, 12, 17), date(2024, 12, 27)):
        for address in (POLICE, SCHOOL, COORDINATOR_ADDRESS):
            entry = recorded[(key_on(CHRISTMAS_DUE, day), address)]
            assert entry.state == "skipped"
            assert entry.note == "superseded by escalation 3 (2025-01-02)"
    # The series goes on as usual.
    assert sent(step(tmp_path, local(date(2025, 1, 7)), catalog)) == everyone(
        key_on(CHRISTMAS_DUE, date(2025, 1, 7))
    )


def test_a_missed_escalation_further_back_than_a_week_is_still_found(tmp_path: Path) -> None:
    settings = escalating(every_days=30)
    catalog = plan(MIDSOMMAR_DUE)
    # Down over the first escalation (25 June) for twenty days: no other one since.
    report = step(tmp_path, local(date(2024, 7, 15)), catalog, settings)
    assert sent(report) == everyone(key_on(MIDSOMMAR_DUE, date(2024, 6, 25)))


def test_an_old_plan_on_a_fresh_install_escalates_nothing_and_the_digest_lists_it(
    tmp_path: Path,
) -> None:
    catalog = plan(MIDSOMMAR_DUE)
    monday = date(2026, 3, 2)  # a 2024 plan, first started in 2026
    report = step(tmp_path, local(monday), catalog, kinds=("escalation", "digest"))
    assert sent(report) == set()
    assert len(sent(report, "digest")) == 1
    [mail] = mails(tmp_path)
    assert "Trygghetsvandringar" in text_of(mail)
    # The latest is not taken up; the earlier ones in reach are replaced by it.
    notes = {entry.note for entry in entries(tmp_path).values()}
    assert NOT_TAKEN_UP in notes
    assert all(note == NOT_TAKEN_UP or note.startswith("superseded by") for note in notes)
    # Not next week either: the series never started, so it does not start now.
    assert sent(step(tmp_path, local(monday + timedelta(weeks=1)), catalog)) == set()


def test_a_milestone_reopened_long_after_it_was_done_is_escalated_again(tmp_path: Path) -> None:
    catalog = plan(MIDSOMMAR_DUE)
    with SqliteLedger(tmp_path / "ledger.sqlite3") as ledger:
        ledger.record_status(StatusEntry(KEY, "done", COORDINATOR, local(date(2024, 6, 18)), "cli"))
    assert sent(step(tmp_path, local(date(2024, 6, 25)), catalog)) == set()
    reopened = local(date(2024, 10, 10), 15)
    with SqliteLedger(tmp_path / "ledger.sqlite3") as ledger:
        ledger.record_status(StatusEntry(KEY, "reopened", COORDINATOR, reopened, "cli"))
    # Tuesday 15 October is the series' next moment after the reopening.
    assert sent(step(tmp_path, local(date(2024, 10, 15)), catalog)) == everyone(
        key_on(MIDSOMMAR_DUE, date(2024, 10, 15))
    )


# --- notifier schedule ---------------------------------------------------------------------


def at(moment: datetime, project: Path, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(["--config", str(project / "config.toml"), *argv], out, clock=lambda: moment)
    return code, out.getvalue()


UTBILDNING = "gotland-2024/krogar-mot-knark/utbildning"  # due Friday 31 May 2024


def test_notifier_schedule_lists_escalations_and_shows_a_done_ones_as_skipped(
    project: Path,
) -> None:
    before = local(date(2024, 6, 7), 12)
    window = ("--from", "2024-06-10", "--to", "2024-06-17", "--kind", "escalation")
    code, out = at(before, project, "schedule", *window, "--json")
    assert code == 0
    listed = [m for m in json.loads(out)["messages"] if m["milestone"]["key"] == UTBILDNING]
    # 31 May + 5 working days: 3, 4, 5, 7 and 10 June (6 June is the national day).
    assert [m["send_at"] for m in listed] == [
        "2024-06-10T08:00:00+02:00",
        "2024-06-17T08:00:00+02:00",
    ]
    addresses = [r["address"] for r in listed[0]["recipients"]]
    assert addresses[-1] == "samordnare@gotland.example" and len(addresses) == 5
    assert {r["summary"] for r in listed[0]["recipients"]} == {"planned"}

    code, out = at(before, project, "schedule", *window)
    assert code == 0 and f"escalation   {UTBILDNING}" in out
    assert "Utbildning due 2024-05-31, 5 working days late (#1)" in out

    assert at(before, project, "done", UTBILDNING)[0] == 0
    code, out = at(before, project, "schedule", *window, "--json")
    listed = [m for m in json.loads(out)["messages"] if m["milestone"]["key"] == UTBILDNING]
    assert {r["summary"] for m in listed for r in m["recipients"]} == {
        f"skipped ({MILESTONE_DONE})"
    }


@pytest.mark.parametrize("recipient", range(3))
def test_every_sample_renders_with_the_shipped_templates(recipient: int) -> None:
    composer = Composer.load(TEMPLATES)
    context = ESCALATION.sample_contexts(SETTINGS)[recipient]
    subject = composer._render("escalation.subject.txt", context)
    assert subject.startswith("Försenat: Klart – Trygghetsvandringar")
    assert "(förfallodag 30 juni 2024" in subject
    for name in ("escalation.txt", "escalation.html"):
        assert "11 arbetsdagar" in composer._render(name, context)


def test_the_sample_escalations_count_their_working_days_late_as_the_calendar_does() -> None:
    from notifier.kinds.escalation import SAMPLE_LATE, samples, working_days_late
    from notifier.schedule import local_date

    for sample in samples():
        moment = sample.now + timedelta(days=22)
        late = working_days_late(sample.planned.milestone.due, local_date(moment, Settings()))
        assert late == SAMPLE_LATE
