"""The importer turns the plan as pasted from the word processor into the shipped plan file."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from notifier.cli import main
from notifier.documents.rows import Row
from notifier.errors import PlanError
from notifier.importer import import_plan, import_rows
from notifier.plan import dump_plan, load_plan
from notifier.revision import revise
from notifier.slugs import slugify

ROOT = Path(__file__).resolve().parent.parent.parent
SHIPPED = ROOT / "plan" / "gotland-2024.toml"

# The only edits made by hand to the importer's output: two ids shortened.
HAND_EDITED_IDS = {
    "implementera-metoden-krogar": "krogar-mot-knark",
    "kunskapshojande-forelasning-gymnasieelever": "forelasning-sexuellt-vald",
}


def test_shipped_plan_is_the_importers_output_plus_the_documented_id_edits(seed_text: str) -> None:
    imported = import_plan(seed_text, plan_id="gotland-2024")
    for action in imported["action"]:
        action["id"] = HAND_EDITED_IDS.get(action["id"], action["id"])
    shipped = tomllib.loads(SHIPPED.read_text(encoding="utf-8"))
    assert tomllib.loads(dump_plan(imported)) == shipped


def test_the_seed_has_two_areas_nine_actions_and_every_column_verbatim(seed_text: str) -> None:
    plan = import_plan(seed_text, plan_id="gotland-2024")
    assert plan["title"] == "Åtgärdsplan 2024 - brottsförebyggande insatser"
    assert plan["date"].isoformat() == "2024-05-06"
    assert plan["year"] == 2024
    areas = [number for number in plan["headings"] if "." not in number]
    assert [plan["headings"][n] for n in areas] == ["Narkotika", "Våld"]
    assert len(plan["action"]) == 9
    krogar = plan["action"][1]
    assert krogar["section"] == "1.1"
    assert (
        krogar["problem"] == "Inkomster från narkotikaförsäljning bidrar till nätverkens tillväxt."
    )
    assert krogar["åtgärd"] == "Implementera metoden Krogar mot knark."
    assert krogar["när"] == "Utbildning maj 2024, Diplomeringsklart december 2024"
    assert krogar["vem"].startswith("Regionstyrelse-förvaltningen, Polisen")
    assert plan["action"][8]["orsak"].startswith('"Glapp"')


def test_a_heading_with_a_colon_splits_title_and_problem(seed_text: str) -> None:
    plan = import_plan(seed_text)
    assert plan["headings"]["2.2.2"] == "Våld i nära relation"
    assert plan["action"][7]["problem"] == "Våld upptäcks och stöd ges i för låg utsträckning."


def test_action_ids_are_unique_and_url_safe(seed_text: str) -> None:
    ids = [a["id"] for a in import_plan(seed_text)["action"]]
    assert len(set(ids)) == len(ids)
    assert all(i.replace("-", "").isalnum() and i.isascii() for i in ids)


def test_a_row_with_a_missing_cell_is_an_error_naming_the_line(seed_text: str) -> None:
    lines = seed_text.split("\n")
    row = next(i for i, line in enumerate(lines) if line.startswith("Fortsatt alkoholintag"))
    lines[row] = lines[row].rsplit("\t", 1)[0]
    with pytest.raises(PlanError) as error:
        import_plan("\n".join(lines), source="plan.txt")
    assert f"plan.txt:{row + 1}:" in error.value.message
    assert "4 cells" in error.value.message


def test_import_command_writes_a_plan_that_loads(tmp_path: Path, seed_text: str) -> None:
    source = tmp_path / "plan.txt"
    source.write_bytes(seed_text.encode("cp1252", errors="strict"))
    target = tmp_path / "out.toml"
    assert main(["import", str(source), "-o", str(target), "--id", "test-2024"]) == 0
    plan = load_plan(target).plan
    assert plan.id == "test-2024"
    assert len(plan.actions) == 9
    assert main(["import", str(source), "-o", str(target)]) == 1, "never overwrites silently"


@pytest.mark.parametrize(
    ("text", "words", "slug"),
    [
        ("Krogar mot knark", 5, "krogar-mot-knark"),
        ("Länsstyrelsen i Gotlands län", 8, "lansstyrelsen-i-gotlands-lan"),
        ("Åtgärdsplan 2024 - brottsförebyggande", 3, "atgardsplan-2024-brottsforebyggande"),
        ("– ? –", 5, "x"),
    ],
)
def test_slugs_are_ascii_words_joined_by_hyphens(text: str, words: int, slug: str) -> None:
    assert slugify(text, max_words=words) == slug


def _rows(*cells: tuple[str, ...], level: dict[int, int] | None = None) -> list[Row]:
    levels = level or {}
    return [
        Row(row, f", page 1, table row {n}", level=levels.get(n), table=len(row) > 1)
        for n, row in enumerate(cells, start=1)
    ]


def test_a_header_row_is_found_by_the_usual_words_in_any_order() -> None:
    rows = _rows(
        ("Plan 2025",),
        ("1 Trygghet",),
        ("Insats", "Tidplan", "Ansvar", "Kommentar"),
        ("Trygghetsvandringar", "Hösten 2025", "Polisen", "inte med i planen"),
    )
    action = import_rows(rows, "plan.pdf")["action"][0]
    assert (action["åtgärd"], action["när"], action["vem"]) == (
        "Trygghetsvandringar", "Hösten 2025", "Polisen"
    )  # fmt: skip
    assert (action["orsak"], action["mål"]) == ("", "")


def test_unnumbered_headings_are_numbered_by_their_level() -> None:
    rows = _rows(
        ("Plan 2025",),
        ("Trygghet",),
        ("Otrygga platser. Boende är oroliga.",),
        ("Åtgärd", "Vem?", "När?"),
        ("Belysning", "Teknikförvaltningen", "Juni 2025"),
        ("Ordning",),
        ("Åtgärd", "Vem?", "När?"),
        ("Ordningsvakter", "Polisen", "Sommaren 2025"),
        level={2: 1, 3: 2, 6: 2},
    )
    plan = import_rows(rows, "plan.docx")
    assert plan["headings"] == {"1": "Trygghet", "1.1": "Otrygga platser", "1.2": "Ordning"}
    assert [a["section"] for a in plan["action"]] == ["1.1", "1.2"]
    assert plan["action"][0]["problem"] == "Boende är oroliga."


def test_a_repeated_header_and_a_row_cut_by_the_page_are_one_row() -> None:
    rows = [
        Row(("Plan 2025",), ", page 1, line 1"),
        Row(("1 Trygghet",), ", page 1, line 2"),
        Row(("Åtgärd", "Vem?", "När?"), ", page 1, table row 1", table=True),
        Row(("Trygghets-", "Polisen,", "Hösten"), ", page 1, table row 2", table=True),
        Row(("Åtgärd", "Vem?", "När?"), ", page 2, table row 1", table=True, continues=True),
        Row(("vandringar", "Regionen", ""), ", page 2, table row 2", table=True, continues=True),
    ]
    [action] = import_rows(rows, "plan.pdf")["action"]
    assert (action["åtgärd"], action["vem"], action["när"]) == (
        "Trygghets-vandringar", "Polisen, Regionen", "Hösten"
    )  # fmt: skip


def test_a_row_that_has_no_place_is_reported_with_its_page_and_row() -> None:
    rows = _rows(
        ("Plan 2025",),
        ("1 Trygghet",),
        ("Åtgärd", "Vem?", "När?"),
        ("Belysning", "Teknikförvaltningen", "Juni 2025"),
        ("En fri text mellan tabellerna",),
    )
    rows[4] = Row(rows[4].cells, ", page 3, line 210pt")
    with pytest.raises(PlanError) as error:
        import_rows(rows, "plan.pdf")
    assert "plan.pdf, page 3, line 210pt: text that is neither a heading nor" in error.value.message
    assert "En fri text" in error.value.message


def _action(section: str, measure: str, when: str = "Juni 2025", **extra: object) -> dict:
    return {"id": "", "section": section, "problem": "", "orsak": "", "mål": "",
            "åtgärd": measure, "vem": "Polisen", "när": when, **extra}  # fmt: skip


def test_a_revision_matches_by_text_then_by_place_and_never_reuses_a_removed_id() -> None:
    old = {
        "id": "plan-2025",
        "action": [
            {**_action("1.1", "Uppföljning i skolan"), "id": "skolan"},
            {**_action("1.2", "Uppföljning i skolan"), "id": "skolan-2"},
            {**_action("2.1", "Trygghetsvandringar i Visby innerstad"), "id": "vandringar"},
            {**_action("2.1", "Belysning"), "id": "belysning", "milestone": [{"due": "x"}]},
            {**_action("3.1", "Ordningsvakter i hamnen"), "id": "kameraovervakning-vid-farjelaget"},
        ],
    }
    new = {
        "id": "plan-2025",
        "action": [
            _action("1.2", "Uppföljning i skolan"),
            _action("1.1", "Uppföljning i skolan", when="Hösten 2025"),
            _action("2.1", "Trygghetsvandringar i Visbys innerstad, kvällstid"),
            _action("2.1", "Belysning"),
            _action("3.1", "Kameraövervakning vid färjeläget"),
        ],
    }
    revision = revise(old, new)
    assert [a["id"] for a in revision.data["action"]] == [
        "skolan-2", "skolan", "vandringar", "belysning", "kameraovervakning-vid-farjelaget-2"
    ]  # fmt: skip
    assert revision.changed["skolan"] == [("När?", "Juni 2025", "Hösten 2025")]
    assert [a["id"] for a in revision.removed] == ["kameraovervakning-vid-farjelaget"]
    assert revision.data["action"][3]["milestone"] == [{"due": "x"}]
    assert revision.milestones_kept == ["belysning"]
