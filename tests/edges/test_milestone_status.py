"""Milestone status: recorded in a real SQLite ledger by the command line, read by the send
step, the schedule, the feeds, the digest and the coordinator's report."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from contextlib import closing
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest

from notifier.catalog import load_catalog
from notifier.cli import main
from notifier.compose import Composer
from notifier.config import load_settings
from notifier.feedstate import PublishedFeeds
from notifier.kinds.base import MILESTONE_DONE
from notifier.ledger import SCHEMA_VERSION, LedgerError, SqliteLedger
from notifier.mail import OutboxMailer
from notifier.records import COORDINATOR, StatusEntry
from notifier.sender import SendReport, send_due_once

STOCKHOLM = ZoneInfo("Europe/Stockholm")
SIG = "gotland-2024/sig/klart-for-start"  # due 1 November 2024
SEPTEMBER = datetime(2024, 9, 2, 10, 0, tzinfo=STOCKHOLM)
SEVEN_DAYS_BEFORE = datetime(2024, 10, 25, 8, 0, tzinfo=STOCKHOLM)
ONE_DAY_BEFORE = datetime(2024, 10, 31, 8, 0, tzinfo=STOCKHOLM)
DUE_NOTICE_DAY = datetime(2024, 11, 4, 8, 0, tzinfo=STOCKHOLM)


def at(moment: datetime, project: Path, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(["--config", str(project / "config.toml"), *argv], out, clock=lambda: moment)
    return code, out.getvalue()


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


def ledger_path(project: Path) -> Path:
    return Path(load_settings(project / "config.toml").ledger.path)


def about(report: SendReport, key: str) -> list[str]:
    return [o.key for o in report.sent if key in o.key]


# --- done, reopen: what the send step and the schedule do ------------------------------------


def test_done_on_the_command_line_stops_reminders_and_the_due_notice(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    step(project, SEPTEMBER)  # the daemon has run: a ledger exists, nothing about SIG yet
    code, out = at(SEPTEMBER, project, "done", SIG, "--by", "Polisen", "--comment", "Igång")
    assert code == 0, capsys.readouterr().err
    assert f"{SIG}: done (Polisen," in out

    code, out = at(SEPTEMBER, project, "schedule", "--to", "2024-11-30", "--json")
    messages = [m for m in json.loads(out)["messages"] if m.get("milestone", {}).get("key") == SIG]
    # Three reminders, the due notice, and the first escalation (8 November), where the
    # series of a milestone done before it ends.
    kinds = ["reminder"] * 3 + ["due"] + ["escalation"]
    assert [m["kind"] for m in messages] == kinds
    for message in messages:
        for recipient in message["recipients"]:
            assert recipient["summary"] == f"skipped ({MILESTONE_DONE})"
    code, text = at(SEPTEMBER, project, "schedule", "--to", "2024-11-30", "--plan", "gotland-2024")
    assert f"{SIG}\n" in text and f"skipped ({MILESTONE_DONE})" in text

    for moment in (SEVEN_DAYS_BEFORE, ONE_DAY_BEFORE, DUE_NOTICE_DAY):
        assert about(step(project, moment), SIG) == []
    with SqliteLedger(ledger_path(project), readonly=True) as ledger:
        notes = {
            (entry.kind, entry.note)
            for (key, _), entry in ledger.snapshot().items()
            if entry.milestone_key == SIG
        }
    assert ("reminder", MILESTONE_DONE) in notes and ("due", MILESTONE_DONE) in notes
    assert not [e for e in notes if e[1] is None], "nothing about it was sent"


def test_reopen_lets_the_reminders_still_ahead_go_out(project: Path) -> None:
    step(project, SEPTEMBER)
    assert at(SEPTEMBER, project, "done", SIG)[0] == 0
    assert about(step(project, SEVEN_DAYS_BEFORE), SIG) == []
    reopened = datetime(2024, 10, 28, 9, 0, tzinfo=STOCKHOLM)
    code, out = at(reopened, project, "reopen", SIG, "--comment", "Inte klart ändå")
    assert code == 0 and "reopened (the coordinator" in out

    sent = about(step(project, ONE_DAY_BEFORE), SIG)
    assert sent == [f"{SIG}@2024-11-01-1d"] * 3  # its three organisations, once each
    # The 7-day reminder skipped while it was done stays skipped: it was not ahead any more.
    assert about(step(project, ONE_DAY_BEFORE), SIG) == []


def test_done_twice_records_once_and_reopen_of_an_open_milestone_records_nothing(
    project: Path,
) -> None:
    assert at(SEPTEMBER, project, "done", SIG)[0] == 0
    code, out = at(SEPTEMBER, project, "done", SIG)
    assert code == 0 and "done already" in out
    code, out = at(SEPTEMBER, project, "reopen", "gotland-2024/delbart/1")
    assert code == 0 and "not done: nothing to reopen" in out
    with SqliteLedger(ledger_path(project)) as ledger:
        assert [e.state for e in ledger.status_history(SIG)] == ["done"]
        assert ledger.status_history("gotland-2024/delbart/1") == []


def test_a_unique_prefix_names_a_milestone_and_an_unknown_or_ambiguous_one_lists_candidates(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = at(SEPTEMBER, project, "done", "gotland-2024/sig")
    assert code == 0 and out.startswith(f"{SIG}: done")

    assert at(SEPTEMBER, project, "done", "gotland-2024/s")[0] == 2
    error = capsys.readouterr().err
    assert "matches 2 milestones" in error
    assert SIG in error and "gotland-2024/sodra-gotland-samverkar/klart" in error

    assert at(SEPTEMBER, project, "done", "gotland-2024/no-such")[0] == 2
    error = capsys.readouterr().err
    assert "'gotland-2024/no-such' is no milestone key" in error and "notifier milestones" in error


def test_done_by_an_organisation_not_responsible_is_refused_naming_those_who_are(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert at(SEPTEMBER, project, "done", SIG, "--by", "Länsstyrelsen")[0] == 2
    error = capsys.readouterr().err
    assert "Länsstyrelsen does not answer for it" in error
    assert "Socialtjänsten, Grundskolan, Polisen" in error
    assert at(SEPTEMBER, project, "done", SIG, "--by", "Nobody")[0] == 2
    assert "no such organisation" in capsys.readouterr().err
    assert not ledger_path(project).exists(), "a refused command writes nothing"


# --- milestones, report, status -------------------------------------------------------------


def test_milestones_lists_status_and_filters_overdue_by_the_plans_day(project: Path) -> None:
    assert at(SEPTEMBER, project, "done", "gotland-2024/delbart/1", "--by", "Skolan")[0] == 0
    code, out = at(SEPTEMBER, project, "milestones", "--json")
    rows = {row["key"]: row for row in json.loads(out)["milestones"]}
    assert len(rows) == 11
    done = rows["gotland-2024/delbart/1"]
    assert (done["status"], done["overdue"], done["by"], done["how"]) == (
        "done",
        False,
        "Skolan",
        "cli",
    )
    assert done["address"] and done["at"].startswith("2024-09-02T10:00")
    assert rows["gotland-2024/utbildning-andts-coacher/1"]["overdue"] is True
    assert rows[SIG]["status"] == "open" and rows[SIG]["overdue"] is False

    code, out = at(SEPTEMBER, project, "milestones", "--status", "overdue")
    assert code == 0
    assert "gotland-2024/delbart/1" not in out
    assert "2024-03-31  open, overdue" in out
    code, out = at(SEPTEMBER, project, "milestones", "--status", "done", "--org", "Skolan")
    assert out.splitlines() == [
        "Milestones: 1",
        "2024-03-31  done                     gotland-2024/delbart/1  "
        "(Skolan, 2024-09-02T10:00+02:00)",
    ]
    # Midnight in Stockholm is still the day before in UTC: the plan's day decides.
    last_minute = datetime(2024, 10, 31, 23, 30, tzinfo=UTC)  # 1 November 00:30 in Gotland
    code, out = at(last_minute, project, "milestones", "--status", "overdue", "--json")
    assert SIG not in {row["key"] for row in json.loads(out)["milestones"]}
    after = datetime(2024, 11, 1, 23, 30, tzinfo=UTC)
    code, out = at(after, project, "milestones", "--status", "overdue", "--json")
    assert SIG in {row["key"] for row in json.loads(out)["milestones"]}


def test_status_shows_only_overdue_milestones_not_done(project: Path) -> None:
    assert at(SEPTEMBER, project, "done", "gotland-2024/delbart/1")[0] == 0
    code, out = at(SEPTEMBER, project, "status", "--next", "20")
    assert code == 0
    assert "the plan records no completion" not in out
    section = out.split("Overdue, not done (", 1)[1]
    assert section.startswith("4;")  # five due before September, one of them done
    assert "gotland-2024/utbildning-andts-coacher/1" in section
    assert "gotland-2024/delbart/1" not in section


def test_report_has_a_row_per_history_entry_and_one_for_a_milestone_without_any(
    project: Path,
) -> None:
    assert at(SEPTEMBER, project, "done", SIG, "--by", "Polisen", "--comment", "Startat")[0] == 0
    later = datetime(2024, 9, 9, 9, 0, tzinfo=STOCKHOLM)
    assert at(later, project, "reopen", SIG, "--comment", "Saknar grundskolan")[0] == 0
    code, out = at(later, project, "report", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    mine = [row for row in rows if row["milestone"] == SIG]
    assert [(r["entry"], r["state"], r["by"], r["comment"]) for r in mine] == [
        ("1", "done", "Polisen", "Startat"),
        ("2", "reopened", COORDINATOR, "Saknar grundskolan"),
    ]
    assert {r["current"] for r in mine} == {"reopened"}
    assert len({r["milestone"] for r in rows}) == 11  # none missing
    untouched = [r for r in rows if r["milestone"] == "gotland-2024/delbart/1"]
    assert len(untouched) == 1 and untouched[0]["entry"] == "" and untouched[0]["current"] == "open"
    assert "Socialtjänsten; Grundskolan; Polisen" in mine[0]["organisations"]

    code, out = at(later, project, "report", "--format", "json")
    [entry] = [m for m in json.loads(out)["milestones"] if m["key"] == SIG]
    assert [h["state"] for h in entry["history"]] == ["done", "reopened"]
    assert entry["status"] == "reopened"


def test_a_moved_due_date_keeps_done_and_a_renamed_milestone_starts_open(project: Path) -> None:
    key = "gotland-2024/utbildning-ansvarsfull-alkoholservice/klart"
    assert at(SEPTEMBER, project, "done", key)[0] == 0
    plan = project / "plan" / "gotland-2024.toml"
    text = plan.read_text(encoding="utf-8")
    assert '"när" = "Klart juni 2024"' in text
    plan.write_text(text.replace('"när" = "Klart juni 2024"', '"när" = "Klart augusti 2024"'))
    code, out = at(SEPTEMBER, project, "milestones", "--status", "done")
    assert code == 0 and out.splitlines()[1].startswith("2024-08-31  done")
    assert key in out

    plan.write_text(text.replace('"när" = "Klart juni 2024"', '"när" = "Avslutat juni 2024"'))
    assert at(SEPTEMBER, project, "milestones", "--status", "done")[1] == "Milestones: 0\n"


# --- the ledger -----------------------------------------------------------------------------


def test_the_history_is_kept_in_order_and_the_latest_entry_is_the_status(tmp_path: Path) -> None:
    said = datetime(2024, 6, 3, 8, 0, tzinfo=UTC)
    with SqliteLedger(tmp_path / "ledger.sqlite3") as ledger:
        ledger.record_status(
            StatusEntry(
                SIG,
                "needs-new-date",
                "Polisen",
                said,
                "link",
                address="polisen@example.se",
                proposed_due=date(2024, 12, 1),
            )
        )
        ledger.record_status(StatusEntry(SIG, "done", COORDINATOR, said, "cli", comment="Klar"))
        ledger.record_status(StatusEntry("p/a/1", "done", "Skolan", said, "link"))
        history = ledger.status_history(SIG)
        assert [(e.state, e.organisation, e.proposed_due) for e in history] == [
            ("needs-new-date", "Polisen", date(2024, 12, 1)),
            ("done", COORDINATOR, None),
        ]
        assert history[0].who == "Polisen <polisen@example.se>"
        current = ledger.statuses()
        assert (current[SIG].state, current[SIG].comment, current["p/a/1"].state) == (
            "done",
            "Klar",
            "done",
        )
        with pytest.raises(LedgerError, match=SIG + ": a proposed date goes with"):
            ledger.record_status(
                StatusEntry(SIG, "done", COORDINATOR, said, "cli", proposed_due=date(2025, 1, 1))
            )


def test_a_version_3_ledger_is_migrated_keeping_its_rows_and_read_only_reads_as_open(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ledger.sqlite3"
    when = datetime(2024, 5, 31, 6, 0, tzinfo=UTC)
    with SqliteLedger(path) as ledger:
        ledger.record_due_dates({SIG: date(2024, 11, 1)}, when)
        ledger.record_problem("problem/1", ["plan/x.toml:3: not valid TOML"], when)
    # What version 3 was: everything but the status table.
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("DROP TABLE milestone_status")
        db.execute("PRAGMA user_version = 3")
    before = path.read_bytes()
    with SqliteLedger(path, readonly=True) as old:
        assert old.schema_version == 3
        assert old.statuses() == {} and old.status_entries() == []
        assert old.known_due_dates()[SIG].due == date(2024, 11, 1)
    assert path.read_bytes() == before, "read-only leaves an older ledger as it is"

    with SqliteLedger(path) as ledger:
        assert ledger.schema_version == SCHEMA_VERSION
        assert ledger.known_due_dates()[SIG].due == date(2024, 11, 1)
        assert [p.key for p in ledger.problems()] == ["problem/1"]
        ledger.record_status(StatusEntry(SIG, "done", COORDINATOR, when, "cli"))
        assert ledger.statuses()[SIG].state == "done"
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_process_that_only_serves_feeds_shows_done_milestones_from_the_ledger(
    project: Path,
) -> None:
    settings = load_settings(project / "config.toml")
    assert PublishedFeeds(settings, SEPTEMBER).store.statuses == {}  # no ledger yet: all open
    assert at(SEPTEMBER, project, "done", SIG, "--by", "Polisen")[0] == 0
    feeds = PublishedFeeds(settings, SEPTEMBER)
    events = icalendar.Calendar.from_ical(feeds.store.feeds["calendar"].body).walk("VEVENT")
    done = [e for e in events if str(e["DESCRIPTION"]).startswith("Klart 2 september 2024, ")]
    assert len(done) == 1
    assert str(done[0]["DESCRIPTION"]).startswith("Klart 2 september 2024, Polisen\n")
    assert str(done[0]["SUMMARY"]).startswith("Klart: Klart för start: ")


def test_a_done_milestone_labelled_klart_says_klart_once(project: Path) -> None:
    settings = load_settings(project / "config.toml")
    klart = "gotland-2024/utbildning-ansvarsfull-alkoholservice/klart"
    assert at(SEPTEMBER, project, "done", klart)[0] == 0
    feeds = PublishedFeeds(settings, SEPTEMBER)
    events = icalendar.Calendar.from_ical(feeds.store.feeds["calendar"].body).walk("VEVENT")
    [event] = [e for e in events if str(e["UID"]).startswith(klart.replace("/", ".") + "@")]
    summary = str(event["SUMMARY"])
    assert summary.startswith("Klart: Utbildning Ansvarsfull alkoholservice")
    assert "Klart: Klart" not in summary


def test_status_lists_as_next_only_messages_that_will_go_out(project: Path) -> None:
    before = at(SEPTEMBER, project, "status", "--next", "400")[1]
    assert SIG in before.split("Next messages", 1)[1].split("Last ", 1)[0]
    assert at(SEPTEMBER, project, "done", SIG)[0] == 0
    code, out = at(SEPTEMBER, project, "status", "--next", "400")
    assert code == 0
    upcoming = out.split("Next messages", 1)[1].split("Last ", 1)[0]
    assert "klart-for-start" not in upcoming
