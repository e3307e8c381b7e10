"""Plan files load with every field, and a broken one names the file, line and field."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from notifier.catalog import load_catalog, milestone_slots, plan_spans
from notifier.errors import PlanError
from notifier.importer import import_plan
from notifier.model import Milestone
from notifier.plan import dump_plan, load_plan
from notifier.when import read_when


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


def _line_of(path: Path, text: str) -> int:
    return next(n for n, t in enumerate(path.read_text().splitlines(), 1) if t == text)


def test_a_wrong_type_names_file_line_and_field_and_the_other_actions_load(
    project: Path,
) -> None:
    path = project / "plan" / "gotland-2024.toml"
    _edit(path, 'vem = "Polisen, Skolan"', "vem = 12")
    loaded = load_plan(path)
    [problem] = loaded.problems
    assert str(problem).startswith(
        f"{path}:{_line_of(path, 'vem = 12')}: action 6 ('delbart'), field vem: "
    )
    assert 'vem = "…"' in problem.hint
    assert [r.id for r in loaded.refused] == ["delbart"]
    assert len(loaded.plan.actions) == 8
    assert "delbart" not in {a.id for a in loaded.plan.actions}


def test_lines_are_counted_as_toml_counts_them_and_text_in_a_long_string_is_no_key(
    project: Path,
) -> None:
    # A U+2028 pasted into a text is no line break, to the TOML parser or to an editor; and a
    # line inside a multi-line string that looks like a key or a table header is text.
    path = project / "plan" / "gotland-2024.toml"
    old_problem = 'problem = "Unga insocialiseras i kriminella nätverk."'
    _edit(path, old_problem, 'problem = """Unga\u2028insocialiseras\n[[action]]\nvem = 12"""')
    _edit(path, 'vem = "Polisen, Skolan"', "vem = 12")
    loaded = load_plan(path)
    lines = path.read_text(encoding="utf-8").split("\n")
    [problem] = loaded.problems
    assert problem.location.line == lines.index("vem = 12", lines.index('id = "delbart"')) + 1
    first, second = loaded.plan.actions[:2]
    assert first.problem == "Unga\u2028insocialiseras\n[[action]]\nvem = 12"
    assert first.location is not None and first.location.line == 29
    assert first.when_location is not None and first.when_location.line is not None
    assert lines[first.when_location.line - 1] == '"när" = "Klart för start november 2024"'
    assert second.location is not None and second.location.line is not None
    assert lines[second.location.line - 1 : second.location.line + 1] == [
        "[[action]]",
        'id = "krogar-mot-knark"',
    ]


def test_an_unknown_key_in_an_action_names_its_line_the_allowed_keys_and_the_likely_one(
    project: Path,
) -> None:
    path = project / "plan" / "gotland-2024.toml"
    _edit(path, 'id = "delbart"', 'id = "delbart"\nansvarig = "Polisen"')
    [problem] = load_plan(path).problems
    line = _line_of(path, 'ansvarig = "Polisen"')
    assert str(problem) == (
        f"{path}:{line}: action 6 ('delbart'), field ansvarig: unknown key 'ansvarig' in "
        '[[action]]; allowed: id, section, problem, orsak, "mål", "åtgärd", vem, "när", '
        "milestone. Did you mean 'vem'?"
    )


def test_an_unknown_key_in_a_milestone_says_which_keys_a_milestone_takes(project: Path) -> None:
    path = project / "plan" / "gotland-2024.toml"
    _edit(
        path,
        '"när" = "Uppföljning december 2024"',
        '"när" = "Löpande"\n\n[[action.milestone]]\nlabel = "Uppföljning"\ndatum = 2024-12-13',
    )
    catalog = load_catalog(project / "plan")
    # One mistake, one message: no second one saying that 'due' is missing.
    [problem] = catalog.problems
    assert str(problem) == (
        f"{path}:{_line_of(path, 'datum = 2024-12-13')}: action 9 ('lilla-islandsmodellen'), "
        "field milestone[1].datum: unknown key 'datum' in [[action.milestone]]; allowed: "
        "label, due, start, end, tentative. Did you mean 'due'?"
    )
    assert len(catalog.actions) == 8 and len(catalog.milestones) == 10


@pytest.mark.parametrize(
    ("written", "meant"),
    [("nar", "när"), ("När?", "när"), ("milestones", "milestone"), ("sektion", "section")],
)
def test_a_misspelt_action_key_is_named_with_the_key_meant(
    project: Path, written: str, meant: str
) -> None:
    path = project / "plan" / "gotland-2024.toml"
    key = f'"{written}"' if not written.isalnum() else written
    _edit(path, 'id = "delbart"', f'id = "delbart"\n{key} = "x"')
    [problem] = load_plan(path).problems
    assert f"unknown key '{written}' in [[action]]" in problem.message
    assert problem.hint.startswith(f"Did you mean '{meant}'?")


def test_a_key_nothing_is_close_to_gets_no_guess(project: Path) -> None:
    path = project / "plan" / "gotland-2024.toml"
    _edit(path, 'id = "delbart"', 'id = "delbart"\nbudget = 100000')
    [problem] = load_plan(path).problems
    assert "Did you mean" not in str(problem)
    assert problem.hint == "Rename it to one of these, or remove it."


def test_an_unknown_plan_level_key_refuses_the_file_naming_line_and_the_key_meant(
    project: Path,
) -> None:
    path = project / "plan" / "gotland-2024.toml"
    _edit(path, "year = 2024", "year = 2024\ntitel = 'Plan'")
    with pytest.raises(PlanError) as error:
        load_plan(path)
    line = _line_of(path, "titel = 'Plan'")
    assert f"{path}:{line}: titel: unknown key 'titel'" in error.value.message
    assert "Did you mean 'title'?" in error.value.message


def test_an_action_written_with_single_brackets_is_told_to_use_two(tmp_path: Path) -> None:
    path = tmp_path / "plan.toml"
    path.write_text(
        'id = "p"\ntitle = "T"\ndate = 2025-01-10\nyear = 2025\n\n[action]\nid = "a"\n',
        encoding="utf-8",
    )
    with pytest.raises(PlanError, match=r"plan.toml:6: action: \[action\] is a single table"):
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


# --- hints in the plan's own year -----------------------------------------------------------


def _plan_2025(project: Path) -> Path:
    """The shipped plan moved to 2025, as next year's coordinator would start it."""
    old = project / "plan" / "gotland-2024.toml"
    path = project / "plan" / "gotland-2025.toml"
    text = old.read_text(encoding="utf-8").replace("2024", "2025")
    old.unlink()
    path.write_text(text, encoding="utf-8")
    return path


def test_the_hint_for_an_unreadable_when_uses_the_plans_year(project: Path) -> None:
    path = _plan_2025(project)
    _edit(path, '"när" = "Klart december 2025"', '"när" = "Löpande"')
    [problem] = load_catalog(project / "plan").problems
    assert "e.g. 'Klart juni 2025'" in problem.hint
    assert "2024" not in str(problem)


def test_the_hint_for_a_missing_due_date_uses_the_plans_year(project: Path) -> None:
    path = _plan_2025(project)
    _edit(path, '"när" = "Klart december 2025"', '"när" = ""\n\n[[action.milestone]]\nlabel = "K"')
    [problem] = load_plan(path).problems
    assert problem.message == "'due' is missing in [[action.milestone]]"
    assert problem.hint == "Add it, e.g. due = 2025-06-30."


def test_the_hint_about_quoting_swedish_keys_uses_the_plans_year(project: Path) -> None:
    path = _plan_2025(project)
    _edit(path, '"när" = "Klart december 2025"', 'när = "Klart december 2025"')
    with pytest.raises(PlanError) as error:
        load_plan(path)
    assert 'Keys with å, ä or ö need quotes: "när" = "Klart juni 2025".' in error.value.message


@pytest.mark.parametrize(
    ("text", "example"),
    [
        ("läsåret", "'läsåret 2026/2027'"),
        ("2025/2027", "'2026/2027'"),
        ("mars-2026", "'mars 2026–mars 2027'"),
    ],
)
def test_examples_in_reasons_a_when_cannot_be_read_use_the_plans_year(
    text: str, example: str
) -> None:
    reason = read_when(text, 2026).reason
    assert reason is not None and example in reason
    assert "2024" not in reason


def test_a_plan_file_written_by_the_importer_has_examples_in_its_own_year(
    tmp_path: Path, seed_text: str
) -> None:
    data = import_plan(seed_text.replace("2024", "2025"), plan_id="gotland-2025")
    text = dump_plan(data)
    assert "#   due = 2025-06-30" in text and "2024" not in text


# --- a refused action keeps the version that last loaded ----------------------------------


def test_a_refused_action_keeps_its_last_good_milestones_while_the_others_follow_edits(
    project: Path,
) -> None:
    folder = project / "plan"
    path = folder / "gotland-2024.toml"
    good = load_catalog(folder)
    _edit(path, '"när" = "Klart juni 2024"', '"när" = "Klart augusti 2024"')
    _edit(path, '"när" = "Utbildning maj 2024, Diplomeringsklart december 2024"', "nar = 1")

    edited = load_catalog(folder, previous=good)

    dues = {m.key: m.milestone.due for m in edited.milestones}
    before = {m.key: m.milestone.due for m in good.milestones}
    assert dues["gotland-2024/utbildning-ansvarsfull-alkoholservice/klart"] == date(2024, 8, 31)
    krogar = {k: v for k, v in before.items() if k.startswith("gotland-2024/krogar-mot-knark/")}
    assert len(krogar) == 2
    assert {k: dues[k] for k in krogar} == krogar
    assert edited.kept == ("gotland-2024/krogar-mot-knark",)
    assert [a.id for a in edited.plans[0].actions] == [a.id for a in good.plans[0].actions]
    [problem] = edited.problems
    assert problem.kind == "action" and "unknown key 'nar'" in problem.message
    assert problem.location.line == _line_of(path, "nar = 1")

    # Without a last good version (a first load) the action is left out and sends nothing.
    first = load_catalog(folder)
    assert not any(m.action.id == "krogar-mot-knark" for m in first.milestones)
    assert first.kept == ()


def test_a_kept_action_stays_kept_through_further_reloads_until_it_is_fixed(
    project: Path,
) -> None:
    folder = project / "plan"
    path = folder / "gotland-2024.toml"
    good = load_catalog(folder)
    _edit(path, '"när" = "Klart december 2024"', '"när" = "Klart december 2024"\nvem2 = ""')
    once = load_catalog(folder, previous=good)
    _edit(path, "year = 2024", "year = 2024  # unchanged")
    twice = load_catalog(folder, previous=once)
    keys = {m.key: m.milestone for m in good.milestones}
    assert {m.key: m.milestone for m in twice.milestones} == keys
    assert twice.kept == ("gotland-2024/sodra-gotland-samverkar",)

    _edit(path, '\nvem2 = ""', "")
    fixed = load_catalog(folder, previous=twice)
    assert fixed.kept == () and fixed.problems == []


def test_an_action_whose_id_cannot_be_read_cannot_be_kept_and_is_left_out(
    project: Path,
) -> None:
    folder = project / "plan"
    good = load_catalog(folder)
    _edit(folder / "gotland-2024.toml", 'id = "delbart"', 'id = "Del bart"')
    edited = load_catalog(folder, previous=good)
    assert edited.kept == ()
    assert not any(m.action.id == "delbart" for m in edited.milestones)
    [(plan, refused)] = edited.refused
    assert plan.id == "gotland-2024" and refused.id is None


# --- when a plan is over ------------------------------------------------------------------


def test_a_plan_is_over_from_the_first_day_after_its_last_due_date_in_its_own_zone(
    project: Path,
) -> None:
    catalog = load_catalog(project / "plan")
    [span] = plan_spans(catalog)
    assert (span.first_due, span.last_due) == (date(2024, 3, 31), date(2024, 12, 31))
    # 23:59 on 31 December in Stockholm is 22:59 UTC; midnight there is 23:00 UTC.
    assert not span.over(datetime(2024, 12, 31, 22, 59, tzinfo=UTC))
    assert span.over(datetime(2024, 12, 31, 23, 0, tzinfo=UTC))
