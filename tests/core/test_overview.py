"""The coordinator's overview as a view model: statuses, overdue at a pinned moment, filters,
months across a year end, and one milestone's history. Pure: statuses are passed in."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from notifier.catalog import Catalog, load_catalog
from notifier.model import Action, Milestone, Organisation, Plan, PlannedMilestone
from notifier.overview import (
    LOOKS,
    Chip,
    Overview,
    build_history,
    build_overview,
    key_of_slug,
    milestone_slug,
)
from notifier.records import COORDINATOR, DueMove, StatusEntry

ROOT = Path(__file__).resolve().parent.parent.parent
STOCKHOLM = ZoneInfo("Europe/Stockholm")
# Monday 2 September 2024: March, May and June are behind, November and December ahead.
SEPTEMBER = datetime(2024, 9, 2, 8, 0, tzinfo=UTC)
TODAY = date(2024, 9, 2)
DELBART = "gotland-2024/delbart/1"  # due 31 March 2024; Polisen and Skolan
ANDTS = "gotland-2024/utbildning-andts-coacher/1"  # due 31 March 2024
KROGAR = "gotland-2024/krogar-mot-knark/utbildning"  # due 31 May 2024
LECTURE = "gotland-2024/forelasning-sexuellt-vald/1"  # tentative, due 30 November 2024
SIG = "gotland-2024/sig/klart-for-start"  # due 1 November 2024
SAID_AT = datetime(2024, 4, 2, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(ROOT / "plan")


def entry(key: str, state: str, **more: object) -> StatusEntry:
    fields: dict[str, object] = {"at": SAID_AT, "how": "link", "address": "polisen@test.example"}
    fields.update(more)
    return StatusEntry(key, state, fields.pop("by", "Polisen"), **fields)  # type: ignore[arg-type]


def chips(view: Overview) -> dict[str, list[Chip]]:
    """Every chip by milestone key, once per row it stands in."""
    found: dict[str, list[Chip]] = {}
    for section in view.sections:
        for row in section.rows:
            for cell in row.cells:
                for chip in cell.chips:
                    found.setdefault(chip.key, []).append(chip)
    return found


def rows(view: Overview) -> list[str]:
    return [row.organisation for section in view.sections for row in section.rows]


def test_every_status_has_its_word_and_symbol_and_each_milestone_shows_one(
    catalog: Catalog,
) -> None:
    statuses = {
        DELBART: entry(DELBART, "done"),
        KROGAR: entry(KROGAR, "needs-new-date", proposed_due=date(2024, 10, 15)),
    }
    view = build_overview(catalog, statuses, SEPTEMBER, TODAY)
    looks = {key: {c.look.key for c in found} for key, found in chips(view).items()}
    assert looks[DELBART] == {"done"}
    assert looks[KROGAR] == {"needs-new-date"}
    assert looks[ANDTS] == {"overdue"}, "past its due date, nothing said"
    assert looks[LECTURE] == {"tentative"}
    assert looks[SIG] == {"open"}
    words = {look.key: (look.label, look.symbol) for look in view.legend}
    assert words == {
        "done": ("klar", "✓"),
        "open": ("öppen", "○"),
        "tentative": ("preliminär", "◌"),
        "overdue": ("försenad", "!"),
        "needs-new-date": ("behöver ny tid", "?"),
    }
    assert len({look.symbol for look in LOOKS}) == len(LOOKS), "no symbol shared"
    counted = {count.look.key: count.count for count in view.counts}
    assert counted == {"done": 1, "open": 5, "tentative": 1, "overdue": 3, "needs-new-date": 1}
    assert sum(counted.values()) == view.total == len(catalog.milestones)
    [krogar, *_] = chips(view)[KROGAR]
    assert krogar.proposed == "15 oktober 2024"


def test_overdue_starts_the_day_after_the_due_date_in_the_plans_time_zone(
    catalog: Catalog,
) -> None:
    def look(now: datetime, statuses: dict[str, StatusEntry] | None = None) -> str:
        view = build_overview(catalog, statuses or {}, now, now.astimezone(STOCKHOLM).date())
        return chips(view)[ANDTS][0].look.key

    # 31 March 2024 is due; 23:59 that evening in Stockholm is 21:59 UTC (summer time).
    assert look(datetime(2024, 3, 31, 21, 59, tzinfo=UTC)) == "open"
    assert look(datetime(2024, 3, 31, 22, 0, tzinfo=UTC)) == "overdue"
    later = datetime(2024, 9, 2, 8, 0, tzinfo=UTC)
    assert look(later, {ANDTS: entry(ANDTS, "done")}) == "done"
    assert look(later, {ANDTS: entry(ANDTS, "reopened", by=COORDINATOR, how="cli")}) == "overdue"
    # The tentative lecture, once past, is overdue like any other.
    december = datetime(2024, 12, 2, 8, 0, tzinfo=UTC)
    view = build_overview(catalog, {}, december, date(2024, 12, 2))
    assert {c.look.key for c in chips(view)[LECTURE]} == {"overdue"}


def test_a_milestone_is_in_the_row_of_each_organisation_and_the_column_of_its_month(
    catalog: Catalog,
) -> None:
    view = build_overview(catalog, {}, SEPTEMBER, TODAY)
    [section] = view.sections
    assert section.months[0].label == "mars 2024" and section.months[-1].label == "december 2024"
    assert len(section.months) == 10, "every month from the first due date to the last"
    by_org = {row.organisation: row for row in section.rows}
    assert rows(view)[:2] == ["Polisen", "Socialtjänsten"], "the directory's order"
    for name in ("Polisen", "Skolan"):
        [march] = [c for c in by_org[name].cells if c.month.label == "mars 2024"]
        assert DELBART in {chip.key for chip in march.chips}
    assert DELBART not in {c.key for cell in by_org["Socialtjänsten"].cells for c in cell.chips}
    # Three or more quiet months in a row share one narrow column.
    quiet = [c.label for c in section.columns if c.quiet]
    assert quiet == ["april 2024", "juli–oktober 2024"]
    assert [c.short for c in section.columns if c.quiet] == ["apr 2024", "juli–okt 2024"]
    assert len(section.columns) == 7 and all(len(r.cells) == 7 for r in section.rows)


def test_filters_by_organisation_and_plan_and_ignore_what_names_nothing(
    catalog: Catalog,
) -> None:
    view = build_overview(catalog, {}, SEPTEMBER, TODAY, organisation="skolan")
    assert rows(view) == ["Skolan"]
    assert set(chips(view)) == {DELBART}
    assert view.total == 1 and view.organisation == "skolan" and not view.ignored
    assert [m.label for m in view.sections[0].months] == ["mars 2024"]
    both = build_overview(
        catalog, {}, SEPTEMBER, TODAY, plan="gotland-2024", organisation="wisbygymnasiet"
    )
    assert set(chips(both)) == {LECTURE} and both.plan == "gotland-2024"
    unknown = build_overview(catalog, {}, SEPTEMBER, TODAY, plan="gotland-1999", organisation="x")
    assert unknown.ignored == ("gotland-1999", "x")
    assert unknown.plan == unknown.organisation == ""
    assert unknown.total == len(catalog.milestones), "shows everything, and says why"
    assert [c.value for c in unknown.plans] == ["gotland-2024"]
    assert "skolan" in [c.value for c in unknown.organisations]


def _plan_across_the_year_end() -> Catalog:
    plan = Plan("vinter-2024", "Vinterplan", date(2024, 10, 1), 2024, "Europe/Stockholm", ())
    lions = Organisation("Lions", "lions", listed=False)

    def planned(slot: str, due: date, *organisations: Organisation) -> PlannedMilestone:
        action = Action(slot, "", "", "", "", "", f"Åtgärd {slot}", "", "")
        return PlannedMilestone(plan, action, slot, Milestone(None, None, due, due), organisations)

    return Catalog(
        plans=(plan,),
        milestones=(
            planned("start", date(2024, 11, 15), lions),
            planned("mitt", date(2025, 1, 31)),
            planned("slut", date(2025, 2, 28), lions),
        ),
    )


def test_months_run_across_the_year_end_and_an_organisation_less_milestone_has_a_row() -> None:
    catalog = _plan_across_the_year_end()
    view = build_overview(catalog, {}, datetime(2024, 10, 1, tzinfo=UTC), date(2024, 10, 1))
    [section] = view.sections
    assert [m.label for m in section.months] == [
        "november 2024",
        "december 2024",
        "januari 2025",
        "februari 2025",
    ]
    assert [c.quiet for c in section.columns] == [False, True, False, False]
    assert [row.organisation for row in section.rows] == [
        "Lions",
        "(ingen organisation angiven)",
    ]
    lions = section.rows[0]
    assert [len(cell.chips) for cell in lions.cells] == [1, 0, 0, 1]
    assert lions.cells[3].chips[0].day == "28 feb"


def test_a_milestone_key_is_one_path_segment_and_back(catalog: Catalog) -> None:
    for planned in catalog.milestones:
        slug = milestone_slug(planned.key)
        assert "/" not in slug and key_of_slug(slug) == planned.key


def test_the_history_is_newest_first_in_swedish_with_who_when_how_and_the_date_asked_for(
    catalog: Catalog,
) -> None:
    [planned] = [p for p in catalog.milestones if p.key == KROGAR]
    history = [
        entry(KROGAR, "needs-new-date", proposed_due=date(2024, 6, 30), comment="Lokalen saknas"),
        entry(KROGAR, "done", by=COORDINATOR, how="cli", address=None, at=SAID_AT.replace(day=9)),
    ]
    view = build_history(planned, history, {KROGAR: history[-1]}, SEPTEMBER, STOCKHOLM)
    assert view.look.key == "done"
    assert view.label == "Utbildning" and view.due == "31 maj 2024"
    newest, oldest = view.lines
    assert (newest.state, newest.who, newest.how) == (
        "klar",
        "samordnaren",
        "registrerat av samordnaren",
    )
    assert newest.when == "9 april 2024 kl. 12.00", "Stockholm's summer time"
    assert (oldest.state, oldest.who, oldest.address) == (
        "behöver ny tid",
        "Polisen",
        "polisen@test.example",
    )
    assert (oldest.how, oldest.proposed, oldest.comment) == (
        "via personlig länk",
        "30 juni 2024",
        "Lokalen saknas",
    )
    assert build_history(planned, [], {}, SEPTEMBER, STOCKHOLM).look.key == "overdue"


def test_a_new_date_the_coordinator_accepted_moves_the_milestone_on_the_timeline(
    catalog: Catalog,
) -> None:
    asked = entry(KROGAR, "needs-new-date", proposed_due=date(2024, 10, 15))
    move = DueMove(replaces=date(2024, 5, 31), due=date(2024, 10, 15))
    accepted = entry(KROGAR, "open", by=COORDINATOR, address=None, moved=move)
    view = build_overview(catalog, {KROGAR: accepted}, SEPTEMBER, TODAY)
    [section] = view.sections
    [polisen] = [row for row in section.rows if row.organisation == "Polisen"]
    [october] = [c for c in polisen.cells if c.month.label == "oktober 2024"]
    [moved] = [c for c in october.chips if c.key == KROGAR]
    assert (moved.look.key, moved.day, moved.moved_from) == ("open", "15 okt", "31 maj 2024")
    [planned] = [p for p in catalog.milestones if p.key == KROGAR]
    history = build_history(planned, [asked, accepted], {KROGAR: accepted}, SEPTEMBER, STOCKHOLM)
    assert (history.due, history.moved_from) == ("15 oktober 2024", "31 maj 2024")
    assert history.lines[0].state == "ny tid godkänd: 15 oktober 2024"
    assert (history.lines[0].who, history.lines[0].how) == ("samordnaren", "via samordnarens länk")
