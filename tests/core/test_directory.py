"""'Vem?' texts resolve to canonical organisations, typos and all, and nothing is guessed."""

from __future__ import annotations

from pathlib import Path

import pytest

from notifier.catalog import load_catalog
from notifier.directory import Directory, load_directory
from notifier.schedule import recipients_for
from notifier.settings import Settings

ROOT = Path(__file__).resolve().parent.parent.parent


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


def test_a_malformed_address_is_left_out_and_the_good_ones_kept(tmp_path: Path) -> None:
    path = tmp_path / "organisations.toml"
    path.write_text(
        '[[organisation]]\nname = "A"\n'
        'emails = ["a@example.se", "a@example.se\\nBcc: x@evil.example", "polisen@"]\n',
        encoding="utf-8",
    )
    directory = load_directory(path)
    [organisation] = directory.organisations
    assert organisation.emails == ("a@example.se",)
    assert len(directory.problems) == 2
    assert all("nothing is sent to it" in str(p) for p in directory.problems)


@pytest.mark.parametrize("slug", ["../../etc", "Polisen", "a/b", "", "-x"])
def test_a_slug_that_is_not_a_feed_name_is_reported_and_replaced(tmp_path: Path, slug: str) -> None:
    path = tmp_path / "organisations.toml"
    path.write_text(
        f'[[organisation]]\nname = "Länsstyrelsen"\nslug = "{slug}"\nemails = ["l@example.se"]\n',
        encoding="utf-8",
    )
    directory = load_directory(path)
    assert directory.organisations[0].slug == "lansstyrelsen"
    if slug:
        [problem] = directory.problems
        assert f"{path}:1" in str(problem) and "field slug" in str(problem)


def test_an_unknown_organisation_is_reached_through_the_coordinator(project: Path) -> None:
    plan = project / "plan" / "gotland-2024.toml"
    text = plan.read_text(encoding="utf-8")
    plan.write_text(
        text.replace('vem = "Polisen, Skolan"', 'vem = "Polisen, Kustbevakningen"', 1),
        encoding="utf-8",
    )
    settings = Settings()
    catalog = load_catalog(project / "plan")
    [problem] = [p for p in catalog.problems if "Kustbevakningen" in str(p)]
    assert "field vem" in str(problem) and "go to the coordinator" in str(problem)
    planned = next(m for m in catalog.milestones if m.action.id == "delbart")
    recipients = recipients_for(planned, settings)
    assert [(r.address, r.organisation, r.via_coordinator) for r in recipients] == [
        ("brottsforebyggande.gotland@polisen.example", "Polisen", False),
        (settings.coordinator.email, "Kustbevakningen", True),
    ]
    assert "Kustbevakningen" not in [o.name for o in catalog.organisations]
