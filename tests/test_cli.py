"""The coordinator's commands: validate and when, their output, JSON and exit codes."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from notifier.cli import main

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
        ["--config", str(project / "config.toml"), "status", "--next", "3"],
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
    assert "Past their due date (2;" in text
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
        str(Path(__file__).parent / "data" / "seed.txt"),
        "--id",
        "../x",
        "-o",
        str(target),
    )
    assert code == 2 and not target.exists()
