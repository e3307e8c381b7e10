"""Plan files load with every field, and a broken one names the file, line and field."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from notifier.catalog import load_catalog, milestone_slots
from notifier.errors import PlanError
from notifier.model import Milestone
from notifier.plan import load_plan


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_shipped_plan_loads_with_title_date_year_and_time_zone(project: Path) -> None:
    plan = load_plan(project / "plan" / "gotland-2024.toml").plan
    assert (plan.id, plan.year, plan.timezone) == ("gotland-2024", 2024, "Europe/Stockholm")
    assert plan.date.isoformat() == "2024-05-06"
    sig = plan.actions[0]
    assert sig.area == "1 Narkotika"
    assert sig.problem_area == "1.1 Kriminella nätverk"
    assert sig.when == "Klart för start november 2024"
    assert sig.location is not None and sig.location.line == 29
    assert plan.actions[5].problem_area == "2.2 Mäns våld mot kvinnor – 2.2.1 Sexuellt våld"


def test_a_wrong_type_names_file_line_and_field(project: Path) -> None:
    path = project / "plan" / "gotland-2024.toml"
    _edit(path, 'vem = "Polisen, Skolan"', "vem = 12")
    with pytest.raises(PlanError) as error:
        load_plan(path)
    line = next(n for n, t in enumerate(path.read_text().splitlines(), 1) if t == "vem = 12")
    assert f"{path}:{line}: action[6].vem" in error.value.message


def test_an_unknown_key_is_refused_not_ignored(project: Path) -> None:
    path = project / "plan" / "gotland-2024.toml"
    _edit(path, 'id = "delbart"', 'id = "delbart"\nansvarig = "Polisen"')
    with pytest.raises(PlanError, match=r"action\[6\]\.ansvarig: Extra inputs"):
        load_plan(path)


def test_an_unquoted_swedish_key_gets_a_hint_about_quotes(project: Path) -> None:
    path = project / "plan" / "gotland-2024.toml"
    _edit(path, '"när" = "Februari-mars 2024"', 'när = "Februari-mars 2024"')
    with pytest.raises(PlanError) as error:
        load_plan(path)
    assert "not valid TOML" in error.value.message
    assert '"när" = ' in error.value.message


def test_a_duplicate_action_id_is_a_problem_and_the_rest_still_loads(project: Path) -> None:
    path = project / "plan" / "gotland-2024.toml"
    _edit(path, 'id = "delbart"', 'id = "sig"')
    catalog = load_catalog(project / "plan")
    assert any("duplicate id" in str(p) and "'sig'" in str(p) for p in catalog.problems)
    assert len(catalog.actions) == 8


def test_explicit_milestones_win_over_an_unreadable_when(project: Path) -> None:
    path = project / "plan" / "gotland-2024.toml"
    _edit(
        path,
        '"när" = "Uppföljning december 2024"',
        '"när" = "Löpande"\n\n[[action.milestone]]\nlabel = "Uppföljning"\ndue = 2024-12-13',
    )
    catalog = load_catalog(project / "plan")
    assert catalog.problems == []
    planned = [m for m in catalog.milestones if m.action.id == "lilla-islandsmodellen"]
    assert [(m.milestone.label, m.milestone.due.isoformat()) for m in planned] == [
        ("Uppföljning", "2024-12-13")
    ]


def test_an_unreadable_when_is_reported_with_file_line_and_text(project: Path) -> None:
    path = project / "plan" / "gotland-2024.toml"
    _edit(path, '"när" = "Klart december 2024"', '"när" = "Löpande"')
    catalog = load_catalog(project / "plan")
    [problem] = catalog.problems
    line = next(n for n, t in enumerate(path.read_text().splitlines(), 1) if "Löpande" in t)
    assert str(problem).startswith(
        f"{path}:{line}: action 8 ('sodra-gotland-samverkar'), field när"
    )
    assert "Löpande" in str(problem)


def test_two_plans_load_side_by_side(project: Path) -> None:
    second = project / "plan" / "gotland-2025.toml"
    text = (project / "plan" / "gotland-2024.toml").read_text(encoding="utf-8")
    second.write_text(text.replace('id = "gotland-2024"', 'id = "gotland-2025"'), encoding="utf-8")
    catalog = load_catalog(project / "plan")
    assert [p.id for p in catalog.plans] == ["gotland-2024", "gotland-2025"]
    assert len(catalog.milestones) == 22
    assert len({m.key for m in catalog.milestones}) == 22


def test_a_broken_plan_file_does_not_hide_the_others(project: Path) -> None:
    (project / "plan" / "broken.toml").write_text("id = \n", encoding="utf-8")
    catalog = load_catalog(project / "plan")
    assert [p.id for p in catalog.plans] == ["gotland-2024"]
    assert any("broken.toml" in str(p) and "not valid TOML" in str(p) for p in catalog.problems)


@pytest.mark.parametrize(
    ("line", "field"),
    [('leads = ["1 vecka"]', "leads"), ('timezone = "Europe/Visby"', "timezone")],
)
def test_a_bad_lead_or_time_zone_is_refused_at_load_with_its_line(
    project: Path, line: str, field: str
) -> None:
    path = project / "plan" / "gotland-2024.toml"
    _edit(
        path,
        'timezone = "Europe/Stockholm"\n',
        f"{line}\n" if field == "timezone" else f'timezone = "Europe/Stockholm"\n{line}\n',
    )
    with pytest.raises(PlanError) as error:
        load_plan(path)
    number = next(n for n, t in enumerate(path.read_text().splitlines(), 1) if t == line)
    assert f"{path}:{number}: {field}" in error.value.message
    problems = [str(p) for p in load_catalog(project / "plan").problems]
    assert any(f"{path}:{number}" in p for p in problems)


def test_adding_a_milestone_before_another_keeps_the_others_identity(project: Path) -> None:
    before = {m.key: m.milestone.due for m in load_catalog(project / "plan").milestones}
    _edit(
        project / "plan" / "gotland-2024.toml",
        '"när" = "Klart juni 2024"',
        '"när" = "Utbildning maj 2024, Klart juni 2024"',
    )
    after = {m.key: m.milestone.due for m in load_catalog(project / "plan").milestones}
    added = set(after) - set(before)
    assert {key.rsplit("/", 1)[1] for key in added} == {"utbildning"}
    assert set(before) - set(after) == set()
    assert all(after[key] == due for key, due in before.items())


def test_milestone_slots_name_labels_and_number_the_rest() -> None:
    def milestone(label: str | None) -> Milestone:
        return Milestone(label, None, date(2024, 6, 30), date(2024, 6, 30))

    labels = ["Utbildning", None, "Klart", None, "Klart", "Klart 2", "Uppföljning"]
    assert milestone_slots([milestone(label) for label in labels]) == [
        "utbildning",
        "1",
        "klart",
        "2",
        "klart-2",
        "klart-2-2",
        "uppfoljning",
    ]
