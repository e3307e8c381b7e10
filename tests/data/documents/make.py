"""Make the plan documents the import tests read, from the tab-separated seed.

    .venv/bin/python tests/data/documents/make.py

It needs LibreOffice (soffice), qpdf and msoffcrypto-tool on PATH (Debian: libreoffice-writer-nogui,
libreoffice-calc-nogui, qpdf; msoffcrypto-tool from PyPI, e.g. with pipx).

Word documents are built with python-docx as a coordinator writes them (heading styles, one
table per problem area, a header row repeated on each page), then LibreOffice Writer prints
each to PDF, as the region publishes the plan. The workbook is built with openpyxl. The
outputs are committed, so the tests need no LibreOffice.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import docx
import openpyxl
from docx.enum.section import WD_ORIENT, WD_SECTION
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.section import Section
from docx.shared import Cm, Pt
from docx.table import Table

HERE = Path(__file__).resolve().parent
SEED = HERE.parent / "seed.txt"
# Added to each cause in split-rows.pdf, so that rows break across pages.
LONG = " ".join(["Bakgrund och erfarenheter."] * 40)


def seed_lines() -> list[list[str]]:
    lines = SEED.read_text(encoding="utf-8").split("\n")
    return [[c.strip() for c in line.rstrip("\t ").split("\t")] for line in lines if line.strip()]


def build_docx(
    lines: list[list[str]], *, two_columns: bool = False, long_rows: bool = False
) -> docx.Document:
    """The plan as a coordinator writes it; ``long_rows`` makes each cause long enough that
    rows break across pages, under a running header and page numbers; ``two_columns`` sets
    the introduction in two columns."""
    document = docx.Document()
    document.styles["Normal"].paragraph_format.space_after = Pt(8)
    document.styles["Normal"].font.size = Pt(10)
    _landscape(document.sections[0])
    if long_rows:
        _running_header_and_page_numbers(document.sections[0])
    table = None
    for number, cells in enumerate(lines):
        if two_columns and number == 2:
            # The introduction set in two columns, the tables across the page again.
            _columns(document.add_section(WD_SECTION.CONTINUOUS), 2)
        if two_columns and number == 3:
            _columns(document.add_section(WD_SECTION.CONTINUOUS), 1)
        if number == 0:
            document.add_heading(cells[0], level=0)
        elif len(cells) == 1 and cells[0][:1].isdigit() and not cells[0].startswith("daterad"):
            level = cells[0].split(" ", 1)[0].count(".") + 1
            document.add_heading(cells[0], level=min(level, 3))
            table = None
        elif len(cells) == 1:
            document.add_paragraph(cells[0])
        elif cells[0] == "Orsak":
            table = document.add_table(rows=1, cols=len(cells))
            table.style = "Table Grid"
            table.alignment = WD_TABLE_ALIGNMENT.CENTER
            table.autofit = False
            _repeat_header(table.rows[0])
            for cell, text in zip(table.rows[0].cells, cells, strict=True):
                cell.text = text
            _widths(table)
        else:
            assert table is not None, cells
            row = table.add_row()
            for cell, text in zip(row.cells, cells, strict=True):
                cell.text = text
                if long_rows and text == cells[0]:
                    cell.text = text + " " + LONG
            _widths(table)
    return document


WIDTHS = (Cm(6.0), Cm(6.0), Cm(6.0), Cm(5.5), Cm(3.2))


def _widths(table: Table) -> None:
    for column, width in zip(table.columns, WIDTHS, strict=True):
        column.width = width
    for row in table.rows:
        for cell, width in zip(row.cells, WIDTHS, strict=True):
            cell.width = width


def _running_header_and_page_numbers(section: Section) -> None:
    section.header.paragraphs[0].text = "Region Gotland och Polisområde Gotland"
    footer = section.footer.paragraphs[0]
    footer.add_run("Sida ")
    field = OxmlElement("w:fldSimple")
    field.set(qn("w:instr"), "PAGE")
    run, text = OxmlElement("w:r"), OxmlElement("w:t")
    text.text = "1"
    run.append(text)
    field.append(run)
    footer._p.append(field)


def _landscape(section: Section) -> None:
    section.orientation = WD_ORIENT.LANDSCAPE
    section.page_width, section.page_height = Cm(29.7), Cm(21.0)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Cm(1.5))


def _columns(section: Section, count: int) -> None:
    _landscape(section)
    cols = section._sectPr.find(qn("w:cols"))
    if cols is None:
        cols = OxmlElement("w:cols")
        section._sectPr.append(cols)
    cols.set(qn("w:num"), str(count))
    cols.set(qn("w:space"), "720")


def _repeat_header(row: object) -> None:
    properties = row._tr.get_or_add_trPr()  # type: ignore[attr-defined]
    header = OxmlElement("w:tblHeader")
    header.set(qn("w:val"), "true")
    properties.append(header)


def _track_a_change(
    document: docx.Document, cell_text: str, before: str, deleted: str, inserted: str, after: str
) -> None:
    """The first cell reading ``cell_text`` edited with change tracking on."""
    cell = next(c for t in document.tables for r in t.rows for c in r.cells if c.text == cell_text)
    paragraph = cell.paragraphs[0]
    for run in list(paragraph.runs):
        run._r.getparent().remove(run._r)
    paragraph.add_run(before)
    for tag, text_tag, text in (("w:del", "w:delText", deleted), ("w:ins", "w:t", inserted)):
        change = OxmlElement(tag)
        change.set(qn("w:id"), "1" if tag == "w:del" else "2")
        change.set(qn("w:author"), "Samordnaren")
        change.set(qn("w:date"), "2024-06-01T10:00:00Z")
        run, node = OxmlElement("w:r"), OxmlElement(text_tag)
        node.text = text
        node.set(qn("xml:space"), "preserve")
        run.append(node)
        change.append(run)
        paragraph._p.append(change)
    paragraph.add_run(after)


def build_xlsx(lines: list[list[str]], path: Path) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Åtgärdsplan"
    for cells in lines:
        sheet.append(cells)
    workbook.save(path)


def to_pdf(source: Path, target: Path) -> None:
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        sys.exit("LibreOffice (soffice) is needed to make the PDFs")
    with tempfile.TemporaryDirectory() as work:
        subprocess.run(
            [
                soffice,
                f"-env:UserInstallation=file://{work}/profile",
                "--headless",
                "--convert-to",
                "pdf",
                "--outdir",
                work,
                str(source),
            ],
            check=True,
            capture_output=True,
            timeout=180,
        )
        shutil.move(Path(work) / (source.stem + ".pdf"), target)


def protect(source: Path, target: Path, password: str) -> None:
    """The PDF encrypted with an open password, as qpdf (Debian's qpdf) writes it."""
    qpdf = shutil.which("qpdf")
    if qpdf is None:
        sys.exit("qpdf is needed to make the password-protected PDF")
    subprocess.run(
        [qpdf, "--encrypt", password, password + "-owner", "256", "--", str(source), str(target)],
        check=True,
        timeout=60,
    )


# variants.fodt, a plan written as people write them, in LibreOffice's own flat format:
# unnumbered headings, a table with other column words in another order and no "Mål", a cause
# merged down two rows, soft hyphens, a cell of two paragraphs, footnotes, a problem area as
# a row across the table.
VARIANTS = HERE / "variants.fodt"


def convert(source: Path, target: Path, to: str) -> None:
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        sys.exit("LibreOffice (soffice) is needed to make the documents")
    with tempfile.TemporaryDirectory() as work:
        subprocess.run(
            [
                soffice,
                f"-env:UserInstallation=file://{work}/profile",
                "--headless",
                "--convert-to",
                to,
                "--outdir",
                work,
                str(source),
            ],
            check=True,
            capture_output=True,
            timeout=180,
        )
        shutil.move(Path(work) / f"{source.stem}.{to.split(':')[0]}", target)


def encrypt_office(source: Path, target: Path, password: str) -> None:
    """The .docx or .xlsx encrypted with an open password, as Word and Excel encrypt it."""
    tool = shutil.which("msoffcrypto-tool")
    if tool is None:
        sys.exit("msoffcrypto-tool is needed to make the password-protected Word and Excel files")
    subprocess.run([tool, "-e", "-p", password, str(source), str(target)], check=True, timeout=60)


def main() -> None:
    lines = seed_lines()
    build_docx(lines).save(HERE / "seed.docx")
    to_pdf(HERE / "seed.docx", HERE / "seed.pdf")
    protect(HERE / "seed.pdf", HERE / "protected.pdf", "hemligt")
    encrypt_office(HERE / "seed.docx", HERE / "protected.docx", "hemligt")
    build_xlsx(lines, HERE / "seed.xlsx")
    encrypt_office(HERE / "seed.xlsx", HERE / "protected.xlsx", "hemligt")
    # The same workbook saved again by LibreOffice Calc, as a sheet that went through Excel.
    with tempfile.TemporaryDirectory() as work:
        copy = Path(work) / "seed-calc.xlsx"
        shutil.copy(HERE / "seed.xlsx", copy)
        convert(copy, Path(work) / "seed-calc.ods", "ods")
        convert(
            Path(work) / "seed-calc.ods", HERE / "seed-calc.xlsx", "xlsx:Calc MS Excel 2007 XML"
        )
    two = HERE / "two-columns.docx"
    build_docx(lines, two_columns=True).save(two)
    to_pdf(two, HERE / "two-columns.pdf")
    two.unlink()
    split = HERE / "split-rows.docx"
    build_docx(lines, long_rows=True).save(split)
    to_pdf(split, HERE / "split-rows.pdf")
    split.unlink()
    revised = [list(cells) for cells in lines]
    build_revised(revised)
    build_docx(revised).save(HERE / "revised.docx")
    convert(VARIANTS, HERE / "variants.docx", "docx")
    convert(VARIANTS, HERE / "variants.pdf", "pdf")
    stray = [list(cells) for cells in lines]
    at = next(i for i, cells in enumerate(stray) if cells[0].startswith("2.2 "))
    stray.insert(at, ["Se även bilaga 2 om krogmiljön."])
    build_docx(stray).save(HERE / "stray-text.docx")
    to_pdf(HERE / "stray-text.docx", HERE / "stray-text.pdf")
    tracked = build_docx(lines)
    _track_a_change(tracked, "Klart juni 2024", "Klart ", "juni", "augusti", " 2024")
    with tempfile.TemporaryDirectory() as work:
        tracked.save(Path(work) / "tracked.docx")
        # Saved again by LibreOffice, which keeps the changes tracked.
        convert(Path(work) / "tracked.docx", HERE / "tracked.docx", "docx:MS Word 2007 XML")
    none = docx.Document()
    none.add_heading("Protokoll från samverkansmöte", level=0)
    none.add_paragraph("Mötet diskuterade lägesbilden. Inga åtgärder beslutades.")
    none.save(HERE / "no-table.docx")
    to_pdf(HERE / "no-table.docx", HERE / "no-table.pdf")


def build_revised(lines: list[list[str]]) -> None:
    """One action's Vem? and När? changed, one removed, one added: the revision tests' plan."""
    rows = [i for i, cells in enumerate(lines) if len(cells) == 5 and cells[0] != "Orsak"]
    krogar = next(i for i in rows if "Krogar mot knark" in lines[i][2])
    lines[krogar][3] = "Regionstyrelse-förvaltningen, Polisen, Gotlands förenade besöksnäring"
    lines[krogar][4] = "Utbildning september 2024, Diplomeringsklart mars 2025"
    removed = next(i for i in rows if lines[i][2].startswith("Informationskampanj"))
    del lines[removed]
    last = max(i for i in rows if i < removed and lines[i][3].startswith("Samhällsbyggnads"))
    lines.insert(
        last + 1,
        [
            "Personal på fritidsgårdar känner inte igen tecken på sexuell exploatering.",
            "Personal på fritidsgårdar agerar vid tecken på sexuell exploatering.",
            "Utbildning för personal på fritidsgårdar om sexuell exploatering på nätet.",
            "Regionstyrelse-förvaltningen",
            "Hösten 2024",
        ],
    )


if __name__ == "__main__":
    main()
