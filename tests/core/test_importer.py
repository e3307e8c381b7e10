"""The importer turns the plan as pasted from the word processor into the shipped plan file."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from notifier.cli import main
from notifier.errors import PlanError
from notifier.importer import import_plan
from notifier.plan import dump_plan, load_plan
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
