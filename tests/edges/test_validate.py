"""`notifier validate` on plans a coordinator will meet: one that is over, one with a broken
action. Through the real command line, with the clock pinned."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

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
