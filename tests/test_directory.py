"""'Vem?' texts resolve to canonical organisations, typos and all, and nothing is guessed."""

from __future__ import annotations

from pathlib import Path

import pytest

from notifier.catalog import load_catalog
from notifier.directory import Directory, load_directory

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def directory() -> Directory:
    return load_directory(ROOT / "plan" / "organisations.toml")


@pytest.mark.parametrize(
    ("who", "names"),
    [
        ("Socialtjänsten, Grundskolan, Polisen", ["Socialtjänsten", "Grundskolan", "Polisen"]),
        (
            "Regionstyrelse-förvaltningen, Polisen, Gotlands förenade besöksnäring, Länsstyrelsen",
            [
                "Regionstyrelseförvaltningen",
                "Polisen",
                "Gotlands förenade besöksnäring",
                "Länsstyrelsen",
            ],
        ),
        ("Gotlands förenade besöksnärings", ["Gotlands förenade besöksnäring"]),
        (
            "Regionstyrelse-förvaltningen Länsstyrelsen, Wisbygymnasiet",
            ["Regionstyrelseförvaltningen", "Länsstyrelsen", "Wisbygymnasiet"],
        ),
        (
            "Region Gotland, Länsstyrelsen, Polisen, RF Sisu Gotland",
            ["Region Gotland", "Länsstyrelsen", "Polisen", "RF Sisu Gotland"],
        ),
        ("Polisen och Skolan", ["Polisen", "Skolan"]),
        ("POLISEN; socialtjänsten", ["Polisen", "Socialtjänsten"]),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_seed_variants_resolve_to_canonical_names(
    directory: Directory, who: str, names: list[str]
) -> None:
    resolution = directory.resolve(who)
    assert [o.name for o in resolution.organisations] == names
    assert resolution.unknown == ()


def test_an_unknown_name_is_reported_with_a_suggestion_not_guessed(directory: Directory) -> None:
    resolution = directory.resolve("Polisen, Gotlands förenade besöknäring")
    assert [o.name for o in resolution.organisations] == ["Polisen"]
    assert resolution.unknown == ("Gotlands förenade besöknäring",)
    assert directory.suggestion("Gotlands förenade besöknäring") == "Gotlands förenade besöksnäring"


def test_the_seed_plan_names_eleven_organisations_all_with_addresses(project: Path) -> None:
    catalog = load_catalog(project / "plan")
    assert len(catalog.organisations) == 11
    assert all(o.emails for o in catalog.organisations)


def test_an_organisation_without_address_is_reported(project: Path) -> None:
    path = project / "plan" / "organisations.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace('emails = ["wisbygymnasiet@gotland.example"]', "emails = []"),
        encoding="utf-8",
    )
    catalog = load_catalog(project / "plan")
    [problem] = catalog.problems
    assert "Wisbygymnasiet" in str(problem) and "no email address" in str(problem)
    assert "coordinator" in str(problem)


def test_a_malformed_address_and_a_shared_alias_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "organisations.toml"
    path.write_text(
        '[[organisation]]\nname = "A"\naliases = ["X"]\nemails = ["not-an-address"]\n\n'
        '[[organisation]]\nname = "B"\naliases = ["x"]\nemails = ["b@example.se"]\n',
        encoding="utf-8",
    )
    problems = [str(p) for p in load_directory(path).problems]
    assert any("'not-an-address' is not an email address" in p for p in problems)
    assert any(f"{path}:6" in p and "also a name of 'A'" in p for p in problems)
