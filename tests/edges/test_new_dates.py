"""A new date asked for through a status link: the coordinator's notice, the one-button accept
page, and the moved due date every message, feed and command then goes by. Over a real
socket against the app the daemon serves, a real SQLite ledger and the real send step."""

from __future__ import annotations

import io
import json
import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import date, datetime
from pathlib import Path
from urllib.parse import urlsplit

import icalendar
import pytest
from status_site import SIG, STOCKHOLM, Site, messages, open_site, parts

from notifier.cli import main
from notifier.feedstate import publish
from notifier.ledger import SCHEMA_VERSION, SqliteLedger
from notifier.links import LinkSigner
from notifier.records import COORDINATOR, DueMove, StatusEntry

COORDINATOR_ADDRESS = "samordnare@gotland.example"
ACCEPT = re.compile(r"https?://[^\s\"<>]+/accept/[A-Za-z0-9_.-]+")
ASKED = datetime(2024, 9, 3, 14, 5, tzinfo=STOCKHOLM)  # a Tuesday afternoon
NEW_DUE = date(2024, 12, 13)  # a Friday; the plan says 1 November 2024


@pytest.fixture
def site(project: Path) -> Iterator[Site]:
    with open_site(project) as opened:
        yield opened


def ask(site: Site, new_due: date = NEW_DUE, at: datetime = ASKED) -> None:
    site.now[0] = at
    answer = site.post(site.link(), state="needs-new-date", new_due=new_due.isoformat())
    assert answer.status == 200, answer.body


def proposals_sent(site: Site) -> list[tuple[str, str, str]]:
    """(to, subject, text) of every proposal notice in the outbox."""
    found = []
    for message in messages(site.project / "outbox"):
        if message["Subject"].startswith("Ny tid föreslås"):
            found.append((message["To"], message["Subject"], parts(message)[0]))
    return found


def accept_link(site: Site) -> str:
    [(_, _, text)] = proposals_sent(site)
    [link] = ACCEPT.findall(text)
    return link


def cli(project: Path, now: datetime, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(["--config", str(project / "config.toml"), *argv], out, clock=lambda: now)
    return code, out.getvalue()


def schedule(project: Path, now: datetime) -> list[dict[str, object]]:
    code, out = cli(
        project, now, "schedule", "--json", "--from", "2024-09-01", "--to", "2025-03-31"
    )
    assert code == 0
    return [m for m in json.loads(out)["messages"] if (m.get("milestone") or {}).get("key") == SIG]


def sig_event(site: Site) -> icalendar.Event:
    feed = site.request("GET", "/calendar.ics")
    [event] = [
        e
        for e in icalendar.Calendar.from_ical(feed.body).walk("VEVENT")
        if str(e["UID"]).startswith(SIG.replace("/", ".") + "@")
    ]
    return event


def test_the_coordinator_hears_of_a_proposal_at_once_with_a_link_to_accept_it(
    site: Site,
) -> None:
    ask(site, at=ASKED)
    report = site.step(ASKED.replace(minute=6))
    assert [o.kind for o in report.sent if o.kind == "proposal"] == ["proposal"]
    [(to, subject, text)] = proposals_sent(site)
    assert COORDINATOR_ADDRESS in to
    assert subject.startswith("Ny tid föreslås: Klart för start 1 november 2024 → 13 december 2024")
    assert "Polisen (polisen@test.example) behöver mer tid" in text
    assert "Föreslaget: 13 december 2024 (42 dagar senare)" in text
    assert "Svar:       3 september 2024 kl. 14.05" in text
    assert len(ACCEPT.findall(text)) == 1
    # Sent once: a later step has nothing more to say about it.
    assert site.step(ASKED.replace(minute=30)).sent == []
    assert len(proposals_sent(site)) == 1


def test_opening_the_accept_link_changes_nothing_and_pressing_the_button_moves_the_date(
    site: Site,
) -> None:
    ask(site)
    site.step(ASKED.replace(minute=6))
    link = accept_link(site)
    before = site.ledger.status_entries()
    for _ in range(2):  # a mail scanner, then the coordinator
        page = site.request("GET", link)
        assert page.status == 200
        assert "Godkänn ny tid: 13 december 2024" in page.body
        assert page.headers["x-frame-options"] == "DENY"
        assert "script" not in page.headers["content-security-policy"].replace("'none'", "")
    assert site.ledger.status_entries() == before

    site.now[0] = ASKED.replace(hour=16)
    answer = site.post(link)
    assert answer.status == 200
    assert "Det nya datumet är godkänt: 13 december 2024." in answer.body
    latest = site.ledger.status_history(SIG)[-1]
    assert (latest.state, latest.organisation, latest.how) == ("open", COORDINATOR, "link")
    assert latest.moved == DueMove(replaces=date(2024, 11, 1), due=NEW_DUE)
    # The page itself now shows the new date, and offers nothing more to press.
    again = site.request("GET", link)
    assert "fredag 13 december 2024" in again.body and "<button" not in again.body
    # Pressing twice (a reload of the result page) records nothing more.
    assert site.post(link).status == 200
    assert len(site.ledger.status_history(SIG)) == 2


def test_the_moved_date_replans_the_reminders_tells_the_organisations_and_the_calendar(
    site: Site,
) -> None:
    ask(site)
    site.step(ASKED.replace(minute=6))
    old = {m["key"] for m in schedule(site.project, ASKED) if m["kind"] == "reminder"}
    assert any("2024-11-01" in str(key) for key in old)
    site.now[0] = ASKED.replace(hour=16)
    assert site.post(accept_link(site)).status == 200

    # The organisations hear of it at the next send time, as of a date moved in the plan.
    site.step(ASKED.replace(hour=16, minute=1))
    report = site.step(datetime(2024, 9, 4, 8, 0, tzinfo=STOCKHOLM))
    told = {o.address for o in report.sent if o.kind == "changed"}
    assert "brottsforebyggande.gotland@polisen.example" in told
    changed = [
        parts(m)[0] for m in messages(site.project / "outbox") if "13 december" in m["Subject"]
    ]
    assert changed and all("1 november 2024" in text for text in changed)

    # Reminders now lead up to 13 December: 30, 7 and 1 days before, on working days.
    upcoming = [
        m for m in schedule(site.project, ASKED.replace(hour=17)) if m["kind"] == "reminder"
    ]
    sends = sorted({str(m["send_at"])[:10] for m in upcoming})
    assert sends == ["2024-11-13", "2024-12-06", "2024-12-12"]
    code, out = cli(site.project, ASKED.replace(hour=17), "milestones", "--json")
    assert code == 0
    [row] = [r for r in json.loads(out)["milestones"] if r["key"] == SIG]
    assert (row["due"], row["plan_due"], row["status"]) == ("2024-12-13", "2024-11-01", "open")

    # The feed event keeps its UID and moves to the new day.
    publish(site.feeds.store, None, ASKED, site.settings, None, site.ledger.statuses())
    event = sig_event(site)
    assert event.decoded("DTSTART") == NEW_DUE
    assert int(event["SEQUENCE"]) >= 1


def test_a_proposal_answered_before_it_is_accepted_offers_no_button(site: Site) -> None:
    ask(site)
    site.step(ASKED.replace(minute=6))
    link = accept_link(site)
    site.now[0] = ASKED.replace(hour=15)
    assert site.post(site.link(), state="done").status == 200  # Polisen made it after all
    page = site.request("GET", link)
    assert "<button" not in page.body and "redan besvarat" in page.body
    assert site.post(link).status == 200
    assert site.ledger.statuses()[SIG].state == "done"
    assert site.ledger.statuses()[SIG].moved is None


def test_a_proposal_answered_before_its_notice_went_out_is_not_sent(site: Site) -> None:
    ask(site, at=ASKED)
    site.now[0] = ASKED.replace(minute=10)
    assert site.post(site.link(), state="done").status == 200
    report = site.step(ASKED.replace(minute=11))
    assert [o for o in report.sent if o.kind == "proposal"] == []
    assert proposals_sent(site) == []
    rows = [m for m in schedule(site.project, ASKED.replace(minute=12)) if m["kind"] == "proposal"]
    assert [r["recipients"][0]["state"] for r in rows] == ["skipped"]


def test_two_proposals_missed_while_stopped_send_only_the_latest(site: Site) -> None:
    ask(site, new_due=date(2024, 11, 29), at=ASKED)
    ask(site, new_due=NEW_DUE, at=ASKED.replace(hour=15))
    site.step(ASKED.replace(hour=16))
    [(_, subject, _)] = proposals_sent(site)
    assert "13 december 2024" in subject


def test_a_forged_altered_or_status_token_on_the_accept_path_gets_the_404_page(
    site: Site,
) -> None:
    ask(site)
    site.step(ASKED.replace(minute=6))
    link = accept_link(site)
    gone = site.request("GET", "/status/nothing-here").body
    token = urlsplit(link).path.rsplit("/", 1)[1]
    forged = LinkSigner(b"another installation's secret").accept_token(
        SIG, 1, NEW_DUE, date(2025, 2, 1)
    )
    status_token = urlsplit(site.link()).path.rsplit("/", 1)[1]
    flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    for bad in (forged, flipped, status_token, "", "x" * 40):
        answer = site.request("GET", f"/accept/{bad}")
        assert (answer.status, answer.body) == (404, gone)
    # A POST with a bad token records nothing either.
    before = site.ledger.status_entries()
    assert site.post(f"/accept/{forged}").status == 404
    assert site.ledger.status_entries() == before


def test_a_later_edit_of_the_date_in_the_plan_wins_over_an_accepted_move(site: Site) -> None:
    ask(site)
    site.step(ASKED.replace(minute=6))
    site.now[0] = ASKED.replace(hour=16)
    assert site.post(accept_link(site)).status == 200
    plan = site.project / "plan" / "gotland-2024.toml"
    text = plan.read_text(encoding="utf-8")
    assert "Klart för start november 2024" in text
    plan.write_text(text.replace("Klart för start november 2024", "Klart för start januari 2025"))
    code, out = cli(site.project, ASKED.replace(hour=17), "milestones", "--json")
    assert code == 0
    [row] = [r for r in json.loads(out)["milestones"] if r["key"] == SIG]
    assert (row["due"], row["plan_due"]) == ("2025-01-01", None)


V4_TABLE = """
CREATE TABLE v4 (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    milestone_key TEXT NOT NULL,
    state         TEXT NOT NULL,
    organisation  TEXT NOT NULL,
    address       TEXT,
    at            TEXT NOT NULL,
    how           TEXT NOT NULL,
    comment       TEXT,
    proposed_due  TEXT
)
"""


def test_a_version_4_ledger_is_migrated_keeping_its_history(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    said = datetime(2024, 9, 3, 12, 0, tzinfo=STOCKHOLM)
    with SqliteLedger(path) as ledger:
        ledger.record_status(
            StatusEntry(SIG, "needs-new-date", "Polisen", said, "link", proposed_due=NEW_DUE)
        )
    with closing(sqlite3.connect(path)) as db, db:  # what version 4 was: no move columns
        db.execute(V4_TABLE)
        db.execute(
            "INSERT INTO v4 SELECT seq, milestone_key, state, organisation, address, "
            "at, how, comment, proposed_due FROM milestone_status"
        )
        db.execute("DROP TABLE milestone_status")
        db.execute("ALTER TABLE v4 RENAME TO milestone_status")
        db.execute("PRAGMA user_version = 4")
    with SqliteLedger(path, readonly=True) as old:
        assert old.statuses()[SIG].proposed_due == NEW_DUE
    with SqliteLedger(path) as ledger:
        assert ledger.schema_version == SCHEMA_VERSION == 5
        move = DueMove(date(2024, 11, 1), NEW_DUE)
        ledger.record_status(StatusEntry(SIG, "open", COORDINATOR, said, "link", moved=move))
        assert ledger.statuses()[SIG].moved == move
        assert [e.state for e in ledger.status_history(SIG)] == ["needs-new-date", "open"]
