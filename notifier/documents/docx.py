"""Word documents (.docx), read with python-docx: paragraphs and tables in document order.

A heading style ("Heading 2", "Rubrik 2") gives the heading's level; the "Title" style none.
A cell merged down over several rows gives its text to each of them (python-docx returns the
merged cell for every row it covers); a cell merged across columns keeps its text in the
first, and a row that is one cell across the table is read as a paragraph (a heading inside
the table). Footnote references carry no text and footnotes are not read. Text is read as it
stands with tracked changes accepted, content controls included; headers and footers are not.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from docx.oxml.ns import qn

from notifier.documents.rows import Row, join_lines
from notifier.errors import PlanError

_LEVEL = re.compile(r"^(?:heading|rubrik)\s*(\d)$", re.IGNORECASE)


def read_docx(path: Path) -> list[Row]:
    import docx
    from docx.table import Table

    try:
        document = docx.Document(str(path))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as error:
        raise PlanError(
            [f"{path}: a damaged Word document: {error}"],
            hint="Open it in the word processor, save it again as .docx and import the new file.",
        ) from None
    except Exception as error:  # lxml's XMLSyntaxError and python-docx's own errors
        raise PlanError([f"{path}: not a readable Word document: {error}"]) from None
    rows: list[Row] = []
    paragraphs = tables = 0
    for block in _blocks(document.element.body, document):
        if isinstance(block, Table):
            tables += 1
            rows.extend(_table(block, tables))
            continue
        paragraphs += 1
        text = join_lines(_text(block._p).split("\n"))
        if text:
            rows.append(Row((text,), f", paragraph {paragraphs}", level=_level(block)))
    return rows


def _blocks(element: Any, parent: Any) -> Iterator[Any]:
    """Paragraphs and tables in document order, also inside content controls (w:sdt), which
    templates wrap around whole sections."""
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    for child in element.iterchildren():
        if child.tag == qn("w:p"):
            yield Paragraph(child, parent)
        elif child.tag == qn("w:tbl"):
            yield Table(child, parent)
        elif child.tag == qn("w:sdt"):
            content = child.find(qn("w:sdtContent"))
            if content is not None:
                yield from _blocks(content, parent)


def _text(paragraph: Any) -> str:
    """The paragraph's text as it reads with tracked changes accepted: inserted runs (w:ins)
    count, deleted ones (w:delText) do not; tabs and line breaks are kept as such."""
    parts = []
    for node in paragraph.iter(qn("w:t"), qn("w:tab"), qn("w:br"), qn("w:cr")):
        if node.tag == qn("w:t"):
            parts.append(node.text or "")
        else:
            parts.append("\t" if node.tag == qn("w:tab") else "\n")
    return "".join(parts)


def _level(paragraph: Any) -> int | None:
    name = paragraph.style.name if paragraph.style is not None else ""
    if name.casefold() in {"title", "rubrik"}:
        return None
    match = _LEVEL.match(name.strip())
    return int(match.group(1)) if match else None


def _table(table: Any, number: int) -> list[Row]:
    rows = []
    for index, row in enumerate(table.rows, start=1):
        cells: list[str] = []
        previous = None
        for cell in row.cells:
            # The same <w:tc> repeated: a cell merged across columns; its text counts once.
            cells.append("" if cell._tc is previous else _cell_text(cell))
            previous = cell._tc
        where = f", table {number}, row {index}"
        if len({id(cell._tc) for cell in row.cells}) == 1:
            cells = cells[:1]
        rows.append(Row(tuple(cells), where, table=True))
    return rows


def _cell_text(cell: Any) -> str:
    lines: list[str] = []
    for paragraph in cell._tc.iter(qn("w:p")):
        lines.extend(_text(paragraph).split("\n"))
    return join_lines(lines)
