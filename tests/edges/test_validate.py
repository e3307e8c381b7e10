"""`notifier validate` on plans a coordinator will meet: one that is over, one with a broken
action. Through the real command line, with the clock pinned."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from notifier.cli import main

SIMULATE = "notifier simulate --from 2024-01-01 --to 2024-12-31 --outbox out/"


def validate(project: Path, now: datetime, *options: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(
        ["--config", str(project / "config.toml"), "validate", *options],
        stdout=out,
        stdin=io.StringIO(),
        clock=lambda: now,
    )
    return code, out.getvalue()


def test_validate_notes_a_plan_that_is_over_and_still_exits_0(project: Path) -> None:
    code, out = validate(project, datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
    assert code == 0, out
    assert "No problems." in out
    assert out.rstrip().endswith(
        "Note: the last milestone of gotland-2024 was due 2024-12-31; no reminders are left "
        f"to send for it (to see a year of its email: {SIMULATE})"
    )


def test_validate_says_nothing_of_the_kind_while_the_plan_runs(project: Path) -> None:
    code, out = validate(project, datetime(2024, 12, 31, 22, 59, tzinfo=UTC))
    assert code == 0
    assert "Note:" not in out


def test_validate_json_gives_each_plans_last_due_date_and_whether_it_is_over(
    project: Path,
) -> None:
    _, out = validate(project, datetime(2026, 11, 20, tzinfo=UTC), "--json")
    data = json.loads(out)
    [plan] = data["plans"]
    assert (plan["first_due"], plan["last_due"], plan["over"]) == (
        "2024-03-31",
        "2024-12-31",
        True,
    )
    [note] = data["notes"]
    assert SIMULATE in note
    assert data["problems"] == []

    _, out = validate(project, datetime(2024, 6, 1, tzinfo=UTC), "--json")
    data = json.loads(out)
    assert data["plans"][0]["over"] is False and data["notes"] == []


def test_validate_lists_a_broken_action_as_a_problem_and_shows_the_rest(project: Path) -> None:
    path = project / "plan" / "gotland-2024.toml"
    text = path.read_text(encoding="utf-8")
    broken = text.replace(
        '"när" = "Uppföljning december 2024"',
        '"när" = "Löpande"\n\n[[action.milestone]]\nlabel = "Uppföljning"\ndatum = 2024-12-13',
    )
    path.write_text(broken, encoding="utf-8")
    line = broken.splitlines().index("datum = 2024-12-13") + 1

    code, out = validate(project, datetime(2024, 6, 1, tzinfo=UTC))

    assert code == 1
    assert "1 plan(s), 8 actions, 10 milestones" in out
    assert (
        f"  - {path}:{line}: action 9 ('lilla-islandsmodellen'), field milestone[1].datum: "
        "unknown key 'datum' in [[action.milestone]]; allowed: label, due, start, end, "
        "tentative. Did you mean 'due'?"
    ) in out.splitlines()
    headers = [n for n, t in enumerate(broken.splitlines(), 1) if t == "[[action]]"]
    assert (
        f"  ✗ action 9 ('lilla-islandsmodellen') at {path}:{headers[8]} is not loaded: "
        "see the problems below"
    ) in out.splitlines()

    _, out = validate(project, datetime(2024, 6, 1, tzinfo=UTC), "--json")
    data = json.loads(out)
    [refused] = data["refused_actions"]
    assert refused == {
        "plan_id": "gotland-2024",
        "id": "lilla-islandsmodellen",
        "number": 9,
        "file": str(path),
        "line": headers[8],
    }
    [problem] = data["problems"]
    assert (problem["line"], problem["kind"]) == (line, "action")


# --- Limits: one cell must not flood the organisations ------------------------------------

FLOOD = "Klart maj 2024" + " och juni 2027" * 7500  # about 105 KB, 7,501 milestones


def _edit_seed(project: Path, old: str, new: str) -> tuple[Path, int]:
    """Replace the first ``old`` in the seed plan with ``new``; the plan file and the line of
    new's last line."""
    path = project / "plan" / "gotland-2024.toml"
    edited = path.read_text(encoding="utf-8").replace(old, new, 1)
    path.write_text(edited, encoding="utf-8")
    return path, edited.splitlines().index(new.rstrip("\n").split("\n")[-1]) + 1


def _edit_when(project: Path, when: str) -> tuple[Path, int]:
    """Give the action 'Klart juni 2024' of the seed (action 4) another "När?"; its line."""
    return _edit_seed(project, '"när" = "Klart juni 2024"', f'"när" = "{when}"')


def test_validate_refuses_a_när_of_105_kb_naming_file_line_and_the_limit(project: Path) -> None:
    path, line = _edit_when(project, FLOOD)

    code, out = validate(project, datetime(2024, 3, 1, tzinfo=UTC))

    assert code == 1
    assert (
        f"  - {path}:{line}: action 4 ('utbildning-ansvarsfull-alkoholservice'), field när: "
        f"{len(FLOOD)} characters; a 'När?' may have at most 400. Shorten it, or give the "
        "milestones under [[action.milestone]]"
    ) in out.splitlines()
    assert "No problems" not in out
    # Left out, not read into thousands of milestones: the seed's 11 less its 1.
    assert "1 plan(s), 8 actions, 10 milestones" in out


def test_validate_refuses_more_than_40_milestones_read_from_one_när(project: Path) -> None:
    # 41 months in 307 characters: short enough, but too many for one action.
    months = ", ".join(f"{m}/{y}" for y in (2024, 2025, 2026, 2027) for m in range(1, 13))
    when = ", ".join(months.split(", ")[:41])
    path, line = _edit_when(project, when)

    code, out = validate(project, datetime(2024, 3, 1, tzinfo=UTC))

    assert code == 1
    assert (
        f"  - {path}:{line}: action 4 ('utbildning-ansvarsfull-alkoholservice'), field när: "
        "41 milestones; an action may have at most 40. Split it into several actions, or give "
        "fewer milestones"
    ) in out.splitlines()

    # 40 are accepted.
    path.write_text(path.read_text(encoding="utf-8").replace(when, when.rsplit(", ", 1)[0]))
    code, out = validate(project, datetime(2024, 3, 1, tzinfo=UTC))
    assert code == 0, out
    assert "1 plan(s), 9 actions, 50 milestones" in out


def test_validate_refuses_more_than_40_explicit_milestones_naming_the_action(
    project: Path,
) -> None:
    path = project / "plan" / "gotland-2024.toml"
    tables = "".join(
        f'\n[[action.milestone]]\nlabel = "Steg {n}"\ndue = 2024-12-{n % 28 + 1:02d}\n'
        for n in range(41)
    )
    text = path.read_text(encoding="utf-8")
    edited = text.replace(
        '"när" = "Uppföljning december 2024"', f'"när" = "Uppföljning december 2024"\n{tables}'
    )
    path.write_text(edited, encoding="utf-8")
    line = edited.splitlines().index('"när" = "Uppföljning december 2024"') + 3

    code, out = validate(project, datetime(2024, 3, 1, tzinfo=UTC))

    assert code == 1
    assert edited.splitlines()[line - 1] == "[[action.milestone]]"
    assert (
        f"  - {path}:{line}: action 9 ('lilla-islandsmodellen'), field milestone: 41 "
        "milestones; an action may have at most 40. Split it into several actions, or give "
        "fewer milestones"
    ) in out.splitlines()


def test_validate_merges_a_repeated_milestone_and_says_so(project: Path) -> None:
    path, line = _edit_when(project, "Klart juni 2024, Klart juni 2024")

    code, out = validate(project, datetime(2024, 3, 1, tzinfo=UTC))

    assert code == 1
    assert (
        f"  - {path}:{line}: action 4 ('utbildning-ansvarsfull-alkoholservice'), field när: "
        "1 milestone(s) repeat another with the same label and due date; each is kept once, so "
        "its reminders go out once. Remove the repeats."
    ) in out.splitlines()
    assert "1 plan(s), 9 actions, 11 milestones" in out  # not 12


def _with_plan_leads(project: Path, leads: str) -> tuple[Path, int]:
    return _edit_seed(project, "year = 2024\n", f"year = 2024\nleads = {leads}\n")


def test_validate_refuses_more_than_ten_lead_times_in_a_plan_naming_the_key(
    project: Path,
) -> None:
    eleven = "[" + ", ".join(f'"{n}d"' for n in range(1, 12)) + "]"
    path, line = _with_plan_leads(project, eleven)

    code, out = validate(project, datetime(2024, 3, 1, tzinfo=UTC))

    assert code == 1
    assert f"{path}:{line}: leads: Value error, 11 lead times; at most 10 are allowed" in out


def test_validate_refuses_a_repeated_or_zero_lead_time_naming_it(project: Path) -> None:
    path, line = _with_plan_leads(project, '["7d", "168h"]')
    code, out = validate(project, datetime(2024, 3, 1, tzinfo=UTC))
    assert code == 1
    assert f"{path}:{line}: leads: Value error, '168h' is the same lead time as '7d'" in out

    path.write_text(path.read_text(encoding="utf-8").replace('["7d", "168h"]', '["0d"]'))
    code, out = validate(project, datetime(2024, 3, 1, tzinfo=UTC))
    assert code == 1
    assert f"{path}:{line}: leads: Value error, '0d' is no lead time" in out


def test_validate_refuses_more_than_ten_lead_times_in_config_toml(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = project / "config.toml"
    eleven = "[" + ", ".join(f'"{n}d"' for n in range(1, 12)) + "]"
    text = config.read_text(encoding="utf-8")
    assert 'leads = ["30d", "7d", "1d"]' in text
    config.write_text(text.replace('leads = ["30d", "7d", "1d"]', f"leads = {eleven}"))

    code, _ = validate(project, datetime(2024, 3, 1, tzinfo=UTC))

    assert code == 2
    err = capsys.readouterr().err
    assert f"{config}: reminders.leads: Value error, 11 lead times; at most 10" in err
