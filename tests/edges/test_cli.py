"""The coordinator's commands: validate and when, their output, JSON and exit codes."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from notifier.catalog import load_catalog
from notifier.cli import main
from notifier.compose import Composer
from notifier.config import load_settings
from notifier.kinds import names
from notifier.ledger import SqliteLedger
from notifier.mail import OutboxMailer
from notifier.records import COORDINATOR, StatusEntry
from notifier.sender import send_due_once

EXPECTED_DUE = {
    ("sig", 1): ("Klart för start", "2024-11-01", "2024-11-30", "2024-11-01", False),
    ("krogar-mot-knark", 1): ("Utbildning", "2024-05-01", "2024-05-31", "2024-05-31", False),
    ("krogar-mot-knark", 2): (
        "Diplomeringsklart",
        "2024-12-01",
        "2024-12-31",
        "2024-12-31",
        False,
    ),
    ("utbildning-andts-coacher", 1): (None, "2024-03-01", "2024-03-31", "2024-03-31", False),
    ("utbildning-andts-coacher", 2): (None, "2024-09-01", "2024-11-30", "2024-11-30", False),
    ("utbildning-ansvarsfull-alkoholservice", 1): (
        "Klart",
        "2024-06-01",
        "2024-06-30",
        "2024-06-30",
        False,
    ),
    ("information-sommarkrogare", 1): ("Klart", "2024-06-01", "2024-06-30", "2024-06-30", False),
    ("delbart", 1): (None, "2024-02-01", "2024-03-31", "2024-03-31", False),
    ("forelasning-sexuellt-vald", 1): (None, "2024-11-01", "2024-11-30", "2024-11-30", True),
    ("sodra-gotland-samverkar", 1): ("Klart", "2024-12-01", "2024-12-31", "2024-12-31", False),
    ("lilla-islandsmodellen", 1): (
        "Uppföljning",
        "2024-12-01",
        "2024-12-31",
        "2024-12-31",
        False,
    ),
}


def run(*argv: str, stdin: str = "") -> tuple[int, str]:
    out = io.StringIO()
    code = main(
        list(argv),
        stdout=out,
        stdin=io.StringIO(stdin),
        clock=lambda: datetime(2024, 3, 1, tzinfo=UTC),
    )
    return code, out.getvalue()


def test_validate_on_the_shipped_plan_shows_nine_actions_and_eleven_milestones(
    project: Path,
) -> None:
    code, out = run("--config", str(project / "config.toml"), "validate")
    assert code == 0, out
    assert "1 plan(s), 9 actions, 11 milestones, 11 organisations." in out
    assert "No problems." in out
    assert "Klart för start: 2024-11-01 – 2024-11-30, due 2024-11-01" in out
    assert "Polisen: brottsforebyggande.gotland@polisen.example" in out


def test_validate_json_gives_every_milestone_as_the_rules_read_it(project: Path) -> None:
    code, out = run("--config", str(project / "config.toml"), "validate", "--json")
    assert code == 0
    data = json.loads(out)
    assert set(data) >= {"plans", "actions", "milestones", "problems"}
    assert data["problems"] == []
    assert len(data["actions"]) == 9
    got = {}
    ordinals: dict[str, int] = {}
    for m in data["milestones"]:
        ordinals[m["action_id"]] = ordinals.get(m["action_id"], 0) + 1
        key = (m["action_id"], ordinals[m["action_id"]])
        got[key] = (m["label"], m["start"], m["end"], m["due"], m["tentative"])
        assert m["organisations"], m
    assert got == EXPECTED_DUE
    sig = next(m for m in data["milestones"] if m["action_id"] == "sig")
    assert sig["organisations"] == ["Socialtjänsten", "Grundskolan", "Polisen"]


def test_validate_with_problems_exits_1_and_names_file_and_line(project: Path) -> None:
    plan = project / "plan" / "gotland-2024.toml"
    plan.write_text(
        plan.read_text(encoding="utf-8").replace("Polisen, Skolan", "Polisen, Skolverket"),
        encoding="utf-8",
    )
    code, out = run("--config", str(project / "config.toml"), "validate")
    assert code == 1
    assert f"{plan}:" in out
    assert "unknown organisation 'Skolverket'" in out


def test_validate_with_a_broken_config_exits_2(project: Path, capsys) -> None:
    config = project / "config.toml"
    config.write_text(config.read_text().replace("port = 8080", 'port = "web"'))
    code, _ = run("--config", str(config), "validate")
    assert code == 2
    assert "server.port" in capsys.readouterr().err


def test_when_json_reads_one_text() -> None:
    code, out = run("when", "Preliminärt november 2024", "--json")
    assert code == 0
    assert json.loads(out) == {
        "milestones": [
            {
                "label": None,
                "start": "2024-11-01",
                "end": "2024-11-30",
                "due": "2024-11-30",
                "tentative": True,
            }
        ],
        "unparseable": False,
        "reason": None,
    }


def test_when_takes_the_year_from_the_option_or_the_clock() -> None:
    assert (
        json.loads(run("when", "juni", "--json", "--year", "2026")[1])["milestones"][0]["due"]
        == "2026-06-30"
    )
    assert json.loads(run("when", "juni", "--json")[1])["milestones"][0]["due"] == "2024-06-30"


def test_when_reports_an_unreadable_text_with_exit_1() -> None:
    code, out = run("when", "Löpande", "--json")
    assert code == 1
    data = json.loads(out)
    assert data["unparseable"] is True and data["milestones"] == []
    assert "Löpande" in data["reason"]


def test_when_dash_reads_a_whole_column_from_stdin() -> None:
    code, out = run("when", "-", stdin="Klart juni 2024\nLöpande\nFebruari-mars 2024\n")
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["unparseable"] for r in rows] == [False, True, False]
    assert rows[2]["milestones"][0]["start"] == "2024-02-01"
    assert code == 1


def test_usage_errors_exit_2() -> None:
    assert run("no-such-command")[0] == 2
    assert run("when")[0] == 2


def test_python_dash_m_runs_the_same_cli(project: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "notifier", "--config", str(project / "config.toml"), "validate"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "11 milestones" in result.stdout


def test_validate_renders_the_templates_and_names_a_broken_one(project: Path) -> None:
    template = project / "templates" / "reminder.txt"
    template.write_text(template.read_text(encoding="utf-8") + "\n{% if %}\n", encoding="utf-8")
    code, out = run("--config", str(project / "config.toml"), "validate")
    assert code == 1
    assert "reminder.txt" in out


def test_status_lists_next_messages_and_what_is_past_due(project: Path) -> None:
    out = io.StringIO()
    code = main(
        ["--config", str(project / "config.toml"), "status", "--next", "10"],
        stdout=out,
        clock=lambda: datetime(2024, 4, 15, 12, 0, tzinfo=UTC),
    )
    text = out.getvalue()
    assert code == 0
    assert "Plan gotland-2024" in text
    assert "nothing recorded yet" in text
    assert "2024-04-22 08:00  digest" in text
    assert (
        "2024-04-30 08:00  reminder gotland-2024/krogar-mot-knark/utbildning@2024-05-31-30d" in text
    )
    assert "Overdue, not done (2;" in text
    assert "the plan records no completion" not in text
    assert "2024-03-31 (15 days ago)  gotland-2024/delbart/1" in text
    assert not (project / "state").exists(), "status creates nothing"


def test_a_named_config_file_that_does_not_exist_is_an_error_not_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "etc" / "config.toml"
    assert main(["--config", str(missing), "validate"], io.StringIO()) == 2
    assert f"{missing}: no such config file (named by --config)" in capsys.readouterr().err
    monkeypatch.setenv("NOTIFIER_CONFIG", str(missing))
    assert main(["validate"], io.StringIO()) == 2
    assert "named by $NOTIFIER_CONFIG" in capsys.readouterr().err


def test_when_refuses_a_year_that_is_no_plan_year() -> None:
    code, _ = run("when", "Klart juni", "--year", "0")
    assert code == 2


def test_import_refuses_an_id_that_could_leave_the_folder(tmp_path: Path) -> None:
    target = tmp_path / "plan.toml"
    code, _ = run(
        "import",
        str(Path(__file__).parent.parent / "data" / "seed.txt"),
        "--id",
        "../x",
        "-o",
        str(target),
    )
    assert code == 2 and not target.exists()


# --- schedule and status: every message, from the plans and the ledger ----------------------

MIDSUMMER_EVE = datetime(2024, 6, 21, 12, 0, tzinfo=UTC)  # 14:00 in Stockholm
MOVED = "gotland-2024/information-sommarkrogare/klart"
ALCOHOL = "gotland-2024/utbildning-ansvarsfull-alkoholservice/klart"
PROBLEM = "problem/0123456789abcdef"
PROBLEM_LINES = ["plan/gotland-2024.toml:12: not valid TOML", "plan/gotland-2024.toml:40: x"]


def ledger_with_a_moved_due_date_and_a_refused_edit(project: Path) -> Path:
    """A ledger as the daemon leaves it: on Tuesday 18 June it saw "Information till
    sommarkrögare" move from 31 May to 30 June, this morning it refused an edit; nothing has
    been sent since, so both notices are waiting."""
    settings = load_settings(project / "config.toml")
    dates = {m.key: m.milestone.due for m in load_catalog(settings.plans.dir).milestones}
    with SqliteLedger(settings.ledger.path) as ledger:
        earlier = {**dates, MOVED: date(2024, 5, 31)}
        ledger.record_due_dates(earlier, datetime(2024, 5, 2, tzinfo=UTC))
        ledger.record_due_dates(dates, datetime(2024, 6, 18, 12, tzinfo=UTC))
        ledger.record_problem(PROBLEM, PROBLEM_LINES, datetime(2024, 6, 21, 8, 30, tzinfo=UTC))
    return settings.ledger.path


def at(moment: datetime, project: Path, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(["--config", str(project / "config.toml"), *argv], out, clock=lambda: moment)
    return code, out.getvalue()


def headlines(text: str) -> list[str]:
    """The first line of each message: send time, then lead or kind, then what it is about."""
    return [line for line in text.splitlines() if line[:4].isdigit()]


# The three milestones overdue by then are escalated every Monday.
OVERDUE = (
    "gotland-2024/delbart/1",
    "gotland-2024/krogar-mot-knark/utbildning",
    "gotland-2024/utbildning-andts-coacher/1",
)
MIDSUMMER_WEEKS = [
    "2024-06-17 Mon 08:00  digest       2024-06-17 – 2024-07-14",
    *(f"2024-06-17 Mon 08:00  escalation   {key}" for key in OVERDUE),
    f"2024-06-19 Wed 08:00  change       {MOVED}",
    f"2024-06-20 Thu 08:00    7d before  {MOVED}",
    f"2024-06-20 Thu 08:00    7d before  {ALCOHOL}",
    f"2024-06-21 Fri 10:30  problem      {PROBLEM}",
    "2024-06-24 Mon 08:00  digest       2024-06-24 – 2024-07-21",
    *(f"2024-06-24 Mon 08:00  escalation   {key}" for key in OVERDUE),
    f"2024-06-28 Fri 08:00    1d before  {MOVED}",
    f"2024-06-28 Fri 08:00    1d before  {ALCOHOL}",
    "2024-07-01 Mon 08:00  digest       2024-07-01 – 2024-07-28",
    f"2024-07-01 Mon 08:00  due notice   {MOVED}",
    f"2024-07-01 Mon 08:00  due notice   {ALCOHOL}",
    *(f"2024-07-01 Mon 08:00  escalation   {key}" for key in OVERDUE),
]
WINDOW = ("--from", "2024-06-17", "--to", "2024-07-01")


def test_schedule_lists_every_kind_of_message_with_what_it_is_about_and_its_state(
    project: Path,
) -> None:
    ledger = ledger_with_a_moved_due_date_and_a_refused_edit(project)
    before = ledger.read_bytes()
    code, out = at(MIDSUMMER_EVE, project, "schedule", *WINDOW)
    assert code == 0, out
    assert out.startswith(
        "Messages from 2024-06-17 to 2024-07-01 (Europe/Stockholm): 20 (4 reminders, "
        "2 due notices, 9 escalations, 1 change notice, 3 digests, 1 problem notice)\n"
    )
    assert headlines(out) == MIDSUMMER_WEEKS
    lines = out.splitlines()
    change = lines.index(MIDSUMMER_WEEKS[4])
    assert lines[change + 1 : change + 3] == [
        "    Klart moved from 2024-05-31 to 2024-06-30: Information till sommarkrögare",
        "    → info@besoksnaring.example (Gotlands förenade besöksnäring): not recorded",
    ]
    problem = lines.index(MIDSUMMER_WEEKS[7])
    assert lines[problem + 1 : problem + 3] == [
        f"    refused edit: {PROBLEM_LINES[0]} (and 1 more)",
        "    → samordnare@gotland.example (Samordnare brottsförebyggande arbete): not recorded",
    ]
    assert lines[lines.index(MIDSUMMER_WEEKS[8]) + 1] == "    weekly digest: 2 coming, 3 past due"
    assert ledger.read_bytes() == before, "schedule never writes the ledger"


@pytest.mark.parametrize(
    ("filters", "shown"),
    [
        (["--kind", "changed,problem"], [4, 7]),
        (["--kind", "due", "--kind", "digest"], [0, 8, 14, 15, 16]),
        # Only what concerns that organisation's milestones: no digests, problem notices, nor
        # another organisation's change notice; the due notice to the coordinator about it.
        (["--org", "Samhällsbyggnadsförvaltningen"], [6, 13, 16]),
        (["--org", "samhallsbyggnadsforvaltningen", "--kind", "reminder"], [6, 13]),
        (["--plan", "gotland-2024"], [1, 2, 3, 4, 5, 6, 9, 10, 11, 12, 13, 15, 16, 17, 18, 19]),
    ],
    ids=["kinds by comma", "kinds repeated", "org by name", "org by slug and kind", "plan"],
)
def test_schedule_filters_by_kind_organisation_and_plan(
    project: Path, filters: list[str], shown: list[int]
) -> None:
    ledger_with_a_moved_due_date_and_a_refused_edit(project)
    code, out = at(MIDSUMMER_EVE, project, "schedule", *WINDOW, *filters)
    assert code == 0, out
    assert headlines(out) == [MIDSUMMER_WEEKS[i] for i in shown]
    code, out = at(MIDSUMMER_EVE, project, "schedule", *WINDOW, *filters, "--json")
    assert [m["send_at"][:10] for m in json.loads(out)["messages"]] == [
        MIDSUMMER_WEEKS[i][:10] for i in shown
    ]


@pytest.mark.parametrize(
    ("filters", "says"),
    [
        (
            ["--kind", "reminder,overdue"],
            ["'overdue' is not a kind of message", ", ".join(names())],
        ),
        (["--org", "Skolverket"], ["--org 'Skolverket': no such organisation", "Polisen (pol"]),
        (["--plan", "gotland-2025"], ["--plan 'gotland-2025': no plan with that id", "Plans: go"]),
    ],
    ids=["kind", "org", "plan"],
)
def test_schedule_with_a_filter_that_names_nothing_exits_2_listing_the_valid_values(
    project: Path, filters: list[str], says: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = at(MIDSUMMER_EVE, project, "schedule", *filters)
    assert code == 2 and out == ""
    error = capsys.readouterr().err
    for text in says:
        assert text in error


def test_schedule_json_gives_each_kind_its_particulars(project: Path) -> None:
    ledger_with_a_moved_due_date_and_a_refused_edit(project)
    code, out = at(MIDSUMMER_EVE, project, "schedule", *WINDOW, "--json")
    assert code == 0
    data = json.loads(out)
    assert data["counts"] == {
        "digest": 3,
        "changed": 1,
        "reminder": 4,
        "problem": 1,
        "due": 2,
        "escalation": 9,
    }
    by_kind = {m["kind"]: m for m in reversed(data["messages"])}  # the first of each kind
    assert by_kind["changed"]["old_due"] == "2024-05-31"
    assert by_kind["changed"]["milestone"]["due"] == "2024-06-30"
    assert by_kind["problem"]["problems"] == PROBLEM_LINES
    assert by_kind["problem"]["send_at"] == "2024-06-21T10:30:00+02:00"
    assert by_kind["reminder"]["lead"] == "7d"
    digest = data["messages"][0]
    assert digest["period"] == {"start": "2024-06-17", "end": "2024-07-14"}
    assert digest["nothing_to_report"] is False
    assert digest["recipients"][0]["address"] == "samordnare@gotland.example"


def test_schedule_shows_a_quiet_digest_as_skipped_with_its_reason(project: Path) -> None:
    # Monday 12 August: 1 November is more than four weeks ahead, and every milestone due
    # before then was reported done (on 1 August, so that is not news since the last digest).
    settings = load_settings(project / "config.toml")
    catalog = load_catalog(settings.plans.dir)
    monday = datetime(2024, 8, 12, 6, 0, tzinfo=UTC)
    with SqliteLedger(settings.ledger.path) as ledger:
        for planned in catalog.milestones:
            if planned.milestone.due < monday.date():
                said = datetime(2024, 8, 1, 9, 0, tzinfo=UTC)
                ledger.record_status(StatusEntry(planned.key, "done", COORDINATOR, said, "cli"))
        report = send_due_once(
            monday,
            catalog,
            settings,
            ledger,
            OutboxMailer(project / "outbox"),
            Composer.load(settings.templates.dir),
        )
    assert [o.kind for o in report.sent] == []
    code, out = at(monday, project, "schedule", "--from", "2024-08-12", "--to", "2024-08-18")
    assert code == 0
    assert out.splitlines()[2:5] == [
        "2024-08-12 Mon 08:00  digest       2024-08-12 – 2024-09-08",
        "    weekly digest: nothing to report as the plan stands, so not sent",
        "    → samordnare@gotland.example (Samordnare brottsförebyggande arbete): "
        "skipped (nothing to report)",
    ]
    assert not list((project / "outbox").glob("*.eml"))


def test_status_shows_a_change_notice_and_a_problem_notice_waiting_to_go_out(
    project: Path,
) -> None:
    ledger = ledger_with_a_moved_due_date_and_a_refused_edit(project)
    before = ledger.read_bytes()
    code, out = at(MIDSUMMER_EVE, project, "status", "--next", "10")
    assert code == 0, out
    assert f"  2024-06-19 08:00  changed  changed/{MOVED}/2024-05-31/2024-06-30 → " in out
    assert "info@besoksnaring.example  (due, not sent yet)" in out
    assert (
        f"  2024-06-21 10:30  problem  {PROBLEM} → samordnare@gotland.example  "
        "(due, not sent yet)" in out
    )
    assert "  2024-06-24 08:00  digest   digest/2024-06-24/2024-07-21" in out
    assert ledger.read_bytes() == before, "status never writes the ledger"


def test_when_explain_says_which_words_made_each_milestone() -> None:
    code, out = run(
        "when",
        "--year",
        "2025",
        "--explain",
        "Samråd preliminärt hösten 2025, antagande senast 31 mars 2026",
    )
    assert code == 0
    assert "milestone 1 (Samråd, due 2025-11-30):\n  time: 'hösten 2025'" in out
    assert "  tentative: by a word" in out
    assert "milestone 2 (Antagande, due 2026-03-31):\n  time: '31 mars 2026'" in out
    assert "  deadline: by end" in out
    code, out = run("when", "--year", "2025", "--explain", "nästa höst")
    assert code == 1 and "'nästa'" in out
