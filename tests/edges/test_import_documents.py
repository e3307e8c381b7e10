"""The plan straight from its document: Word, PDF (made by LibreOffice) and Excel, and the
documents that must be refused. The fixtures are made by tests/data/documents/make.py."""

from __future__ import annotations

import time
import zipfile
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest
from PIL import Image

from notifier.cli import main
from notifier.documents import Kind, detect
from notifier.documents.rows import join_lines, words_of
from notifier.errors import PlanError
from notifier.importer import import_file, import_plan
from notifier.plan import load_plan
from notifier.when import read_when

DOCUMENTS = Path(__file__).resolve().parent.parent / "data" / "documents"
LONG = " ".join(["Bakgrund och erfarenheter."] * 40)


def _milestones(path: Path) -> int:
    plan = load_plan(path).plan
    return sum(
        len(action.explicit_milestones or read_when(action.when, plan.year).milestones)
        for action in plan.actions
    )


@pytest.mark.parametrize(
    "name", ["seed.docx", "seed.pdf", "seed.xlsx", "seed-calc.xlsx", "two-columns.pdf"]
)
def test_the_seed_document_gives_exactly_the_plan_of_the_pasted_seed(
    name: str, seed_text: str, tmp_path: Path
) -> None:
    expected = import_plan(seed_text, plan_id="gotland-2024")
    imported = import_file(DOCUMENTS / name, plan_id="gotland-2024")
    assert imported == expected
    assert [a["id"] for a in imported["action"]][:2] == ["sig", "implementera-metoden-krogar"]
    target = tmp_path / "plan.toml"
    assert main(["import", str(DOCUMENTS / name), "-o", str(target), "--id", "gotland-2024"]) == 0
    assert len(load_plan(target).plan.actions) == 9
    assert _milestones(target) == 11


@pytest.mark.parametrize(
    ("name", "kind"),
    [("seed.docx", Kind.DOCX), ("seed.pdf", Kind.PDF), ("seed.xlsx", Kind.XLSX)],
)
def test_the_kind_is_told_by_content_not_by_the_name(
    name: str, kind: Kind, tmp_path: Path, seed_text: str
) -> None:
    misnamed = tmp_path / "plan.txt"
    misnamed.write_bytes((DOCUMENTS / name).read_bytes())
    assert detect(misnamed) is kind
    assert import_file(misnamed) == import_plan(seed_text, source=str(misnamed))
    text = tmp_path / "plan.pdf"
    text.write_text(seed_text, encoding="utf-8")
    assert detect(text) is Kind.TEXT


def test_rows_cut_by_page_breaks_are_joined_to_the_row_they_began(seed_text: str) -> None:
    """LibreOffice breaks each long row over two pages and repeats the header row on each."""
    expected = import_plan(seed_text)["action"]
    imported = import_file(DOCUMENTS / "split-rows.pdf")["action"]
    assert len(imported) == 9
    for got, want in zip(imported, expected, strict=True):
        assert got["orsak"] == f"{want['orsak']} {LONG}"
        assert {k: v for k, v in got.items() if k != "orsak"} == {
            k: v for k, v in want.items() if k != "orsak"
        }


@pytest.mark.parametrize(
    ("name", "where"),
    [
        ("stray-text.docx", "stray-text.docx, paragraph 10"),
        ("stray-text.pdf", "stray-text.pdf, page 2, line 4 (outside the tables)"),
    ],
)
def test_text_with_no_place_in_the_plan_is_reported_where_it_stands(name: str, where: str) -> None:
    with pytest.raises(PlanError) as error:
        import_file(DOCUMENTS / name)
    assert error.value.problems == [
        f"{DOCUMENTS / name}{where.removeprefix(name)}: text that is neither a heading nor in a "
        "plan table, so it has no place in the plan: 'Se även bilaga 2 om krogmiljön.'"
    ]


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("no-table.docx", "no-table.docx: no plan table found: no action rows under a header row"),
        ("no-table.pdf", "no-table.pdf: no table found: a PDF's tables are found by the rules"),
    ],
)
def test_a_document_without_a_plan_table_is_refused_by_name(name: str, says: str) -> None:
    with pytest.raises(PlanError) as error:
        import_file(DOCUMENTS / name)
    assert error.value.problems[0].startswith(f"{DOCUMENTS / name}: ")
    assert says in error.value.message


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("protected.pdf", "the PDF is protected by a password"),  # qpdf, AES-256
        ("protected.docx", "the file is protected by a password"),  # msoffcrypto-tool, agile
        ("protected.xlsx", "the file is protected by a password"),
    ],
)
def test_a_password_protected_document_is_refused_saying_so(name: str, says: str) -> None:
    with pytest.raises(PlanError) as error:
        import_file(DOCUMENTS / name)
    assert f"{name}: {says}" in error.value.message


def test_an_old_doc_file_is_refused_with_what_to_do(tmp_path: Path) -> None:
    old = tmp_path / "plan.doc"
    old.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + "WordDocument".encode("utf-16-le") * 64)
    with pytest.raises(PlanError) as error:
        import_file(old)
    assert "plan.doc: an old Word or Excel file (.doc/.xls)" in error.value.message
    assert "save it as .docx" in error.value.message


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("cut.docx", (DOCUMENTS / "seed.docx").read_bytes()[:3000], "damaged Word or Excel"),
        ("cut.xlsx", (DOCUMENTS / "seed.xlsx").read_bytes()[:3000], "damaged Word or Excel"),
        ("cut.pdf", (DOCUMENTS / "seed.pdf").read_bytes()[:3000], "damaged PDF"),
        ("junk.pdf", b"%PDF-1.7\nnot a pdf at all\n", "damaged PDF"),
        ("binary.bin", bytes(range(256)) * 8, "neither text nor"),
    ],
)
def test_a_damaged_file_is_a_clear_error_naming_it(
    name: str, content: bytes, says: str, tmp_path: Path
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(PlanError) as error:
        import_file(path)
    assert f"{path}: " in error.value.message and says in error.value.message


def test_a_scanned_pdf_is_refused_with_what_to_do(tmp_path: Path) -> None:
    scan = tmp_path / "scan.pdf"
    Image.new("L", (800, 1100), color=255).save(scan, "PDF", resolution=100)
    with pytest.raises(PlanError) as error:
        import_file(scan)
    assert "scan.pdf: a PDF without text (a scanned document?)" in error.value.message
    assert "text recognition" in error.value.message


def test_a_50_mb_file_is_refused_by_its_size_before_it_is_parsed(tmp_path: Path) -> None:
    big = tmp_path / "big.pdf"
    with big.open("wb") as stream:
        stream.write(b"%PDF-1.7\n")
        stream.truncate(50 * 1024 * 1024)
    started = time.monotonic()
    with pytest.raises(PlanError) as error:
        import_file(big)
    assert time.monotonic() - started < 2
    assert "big.pdf: 50 MB is too large" in error.value.message


def test_the_command_reports_an_unreadable_document_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import", str(DOCUMENTS / "no-table.docx")]) == 1
    assert "no-table.docx: no plan table found" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("lines", "text"),
    [
        (["Regionstyrelse-", "förvaltningen"], "Regionstyrelse-förvaltningen"),
        (["Utbildning av ANDTS-", "coacher."], "Utbildning av ANDTS-coacher."),
        (["brottsföre\u00ad", "byggande"], "brottsförebyggande"),
        (["Samhälls\u00adbyggnads\u00adförvaltningen"], "Samhällsbyggnadsförvaltningen"),
        (["Polisen -", "Regionen"], "Polisen - Regionen"),
        (["Klart juni", "2024"], "Klart juni 2024"),
    ],
)
def test_lines_of_a_cell_join_by_the_hyphenation_rule(lines: list[str], text: str) -> None:
    assert join_lines(lines) == text


def test_a_hyphen_is_dropped_only_when_the_document_writes_the_word_whole() -> None:
    vocabulary = words_of(["Ett brottsförebyggande arbete."])
    assert join_lines(["brottsföre-", "byggande"], vocabulary) == "brottsförebyggande"
    assert join_lines(["Regionstyrelse-", "förvaltningen"], vocabulary) == (
        "Regionstyrelse-förvaltningen"
    )


@pytest.mark.parametrize("name", ["variants.docx", "variants.pdf"])
def test_a_plan_written_another_way_is_read_the_same_from_word_and_pdf(name: str) -> None:
    """Unnumbered heading styles, 'Insats/Ansvarig/Tidplan' in another order and no 'Mål', a
    cause merged down two rows, soft hyphens, a cell of two paragraphs, footnotes and their
    marks, a problem area as a row across the table: LibreOffice wrote both files."""
    plan = import_file(DOCUMENTS / name)
    assert plan["title"] == "Åtgärdsplan 2025 – trygghet i Visby"
    assert (
        plan["intro"] == "Planen bygger på en gemensam lägesbild av tryggheten i Visby innerstad."
    )
    assert plan["headings"] == {"1": "Trygghet", "1.1": "Otrygga platser", "1.2": "Ordning"}
    rows = [
        (a["section"], a["problem"], a["orsak"], a["mål"], a["åtgärd"], a["vem"], a["när"])
        for a in plan["action"]
    ]
    otrygga = "Boende känner sig otrygga i centrala Visby."
    dark = "Mörka gångstråk och tomma lokaler."
    assert rows == [
        ("1.1", otrygga, dark, "", "Trygghetsvandringar i Visby innerstad",
         "Regionstyrelse-förvaltningen, Polisen", "Hösten 2025"),
        ("1.1", otrygga, dark, "", "Ny belysning längs Strandpromenaden",
         "Teknikförvaltningen", "Klart juni 2025"),
        ("1.2", "Störningar kvällstid i hamnen.", "Fler besökare sommartid.", "",
         "Ordningsvakter i hamnen under sommaren", "Polisen", "Sommaren 2025"),
    ]  # fmt: skip


SHIPPED = Path(__file__).resolve().parent.parent.parent / "plan" / "gotland-2024.toml"


def _shipped_with_coordinator_edits(tmp_path: Path) -> Path:
    """The shipped plan as a coordinator leaves it: comments and explicit milestones added."""
    text = SHIPPED.read_text(encoding="utf-8")
    text = text.replace(
        '\nid = "gotland-2024"', '\n# Reviderad efter styrgruppen\nid = "gotland-2024"'
    )
    text = text.replace(
        '[[action]]\nid = "sig"', '[[action]]\n# Samordnare: socialtjänsten\nid = "sig"'
    )
    text = text.replace(
        '"när" = "Klart december 2024"\n',
        '"när" = "Klart december 2024"\n\n[[action.milestone]]\nlabel = "Klart"\n'
        "due = 2024-12-15  # flyttat efter mötet\n",
        1,
    )
    plan = tmp_path / "gotland-2024.toml"
    plan.write_text(text, encoding="utf-8")
    return plan


def test_a_revision_dry_run_shows_exactly_what_changed_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = _shipped_with_coordinator_edits(tmp_path)
    before = plan.read_bytes()
    revised = DOCUMENTS / "revised.docx"
    assert main(["import", str(revised), "--into", str(plan), "--dry-run"]) == 0
    assert plan.read_bytes() == before
    assert capsys.readouterr().out.splitlines() == [
        f"{revised} over {plan}: 7 unchanged, 1 changed, 1 added, 1 removed",
        "  changed krogar-mot-knark: Vem? 'Regionstyrelse-förvaltningen, Polisen, Gotlands "
        "förenade besöksnäring, Länsstyrelsen' -> 'Regionstyrelse-förvaltningen, Polisen, "
        "Gotlands förenade besöksnäring'",
        "  changed krogar-mot-knark: När? 'Utbildning maj 2024, Diplomeringsklart december "
        "2024' -> 'Utbildning september 2024, Diplomeringsklart mars 2025'",
        "  added   utbildning-personal-fritidsgardar: 'Utbildning för personal på fritidsgårdar "
        "om sexuell exploatering på nätet.'; Vem? 'Regionstyrelse-förvaltningen'; När? "
        "'Hösten 2024'",
        "  removed delbart: 'Informationskampanj till skolelever (Delbart)'",
        "  kept    sodra-gotland-samverkar: its explicit milestones",
        f"Nothing written (--dry-run); without it {plan} is rewritten.",
    ]


def test_a_revision_keeps_every_other_id_the_milestones_and_whole_line_comments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = _shipped_with_coordinator_edits(tmp_path)
    old_ids = [a.id for a in load_plan(plan).plan.actions]
    assert main(["import", str(DOCUMENTS / "revised.docx"), "--into", str(plan)]) == 0
    assert "1 end-of-line comments could not be kept" in capsys.readouterr().out
    loaded = load_plan(plan).plan
    ids = [a.id for a in loaded.actions]
    added = "utbildning-personal-fritidsgardar"
    assert [i for i in old_ids if i != "delbart"] == [i for i in ids if i != added]
    assert ids.index(added) == 4, "after the row it follows in the document"
    krogar = next(a for a in loaded.actions if a.id == "krogar-mot-knark")
    assert krogar.when == "Utbildning september 2024, Diplomeringsklart mars 2025"
    sodra = next(a for a in loaded.actions if a.id == "sodra-gotland-samverkar")
    assert [m.due.isoformat() for m in sodra.explicit_milestones or ()] == ["2024-12-15"]
    text = plan.read_text(encoding="utf-8")
    assert "# Reviderad efter styrgruppen\n" in text
    assert '[[action]]\n# Samordnare: socialtjänsten\nid = "sig"' in text
    assert "[[action.milestone]]" in text


def test_importing_the_same_plan_again_keeps_even_the_ids_edited_by_hand(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = tmp_path / "gotland-2024.toml"
    plan.write_bytes(SHIPPED.read_bytes())
    assert main(["import", str(DOCUMENTS / "seed.pdf"), "--into", str(plan)]) == 0
    assert ": 9 unchanged, 0 changed, 0 added, 0 removed" in capsys.readouterr().out
    assert plan.read_text(encoding="utf-8") == SHIPPED.read_text(encoding="utf-8")


def test_a_revision_never_changes_the_plan_id_and_dry_run_needs_into(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = tmp_path / "gotland-2024.toml"
    plan.write_bytes(SHIPPED.read_bytes())
    docx_file = str(DOCUMENTS / "seed.docx")
    assert main(["import", docx_file, "--into", str(plan), "--id", "annan-2024"]) == 1
    assert "its id is 'gotland-2024'; --id annan-2024 would change it" in capsys.readouterr().err
    assert main(["import", docx_file, "--dry-run"]) == 1
    assert "it needs --into PLAN" in capsys.readouterr().err
    assert plan.read_bytes() == SHIPPED.read_bytes()


def test_a_workbook_reads_its_plan_sheet_with_merged_causes_and_dates(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    contacts = workbook.active
    contacts.title = "Kontakter"
    contacts.append(["Namn", "E-post"])
    contacts.append(["Anna", "anna@region.example"])
    sheet = workbook.create_sheet("Plan")
    sheet.append(["Åtgärdsplan 2025"])
    sheet.append(["1 Trygghet"])
    sheet.append(["Insats", "Ansvarig", "Tidplan", "Orsak"])
    sheet.append(["Belysning", "Teknikförvaltningen", datetime(2025, 6, 30), "Mörka stråk."])
    sheet.append(["Trygghetsvandringar", "Polisen", "Hösten 2025", None])
    sheet.merge_cells("D4:D5")
    path = tmp_path / "plan.xlsx"
    workbook.save(path)
    actions = import_file(path)["action"]
    assert [(a["åtgärd"], a["när"], a["orsak"]) for a in actions] == [
        ("Belysning", "2025-06-30", "Mörka stråk."),
        ("Trygghetsvandringar", "Hösten 2025", "Mörka stråk."),
    ]


def test_a_sheet_that_begins_with_its_table_is_asked_for_a_title(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    workbook.active.append(["Åtgärd", "Vem?", "När?"])
    workbook.active.append(["Belysning", "Teknikförvaltningen", "Juni 2025"])
    path = tmp_path / "plan.xlsx"
    workbook.save(path)
    with pytest.raises(PlanError) as error:
        import_file(path)
    assert f"{path}, sheet 'Sheet', row 1: a plan table before any title" in error.value.message


def test_a_document_that_unpacks_to_too_much_is_refused_before_it_is_parsed(
    tmp_path: Path,
) -> None:
    bomb = tmp_path / "plan.xlsx"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        with archive.open("xl/worksheets/sheet1.xml", "w") as member:
            chunk = bytes(1024 * 1024)
            for _ in range(300):
                member.write(chunk)
    assert bomb.stat().st_size < 2 * 1024 * 1024
    with pytest.raises(PlanError) as error:
        import_file(bomb)
    assert "plan.xlsx: unpacks to 300 MB, too large" in error.value.message


def test_tracked_changes_read_as_accepted(seed_text: str) -> None:
    """A cell edited with change tracking on ('juni' deleted, 'augusti' inserted), saved by
    LibreOffice: the plan reads the text as it stands once the changes are accepted."""
    expected = import_plan(seed_text)["action"]
    expected[3]["när"] = "Klart augusti 2024"
    assert import_file(DOCUMENTS / "tracked.docx")["action"] == expected
