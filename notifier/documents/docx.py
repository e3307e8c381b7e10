"""Word documents (.docx), read with python-docx: paragraphs and tables in document order.

A heading style ("Heading 2", "Rubrik 2") gives the heading's level; "Title" is level 0.
A cell merged down over several rows gives its text to each of them (python-docx returns the
merged cell for every row it covers); a cell merged across columns keeps its text in the
first, and a row that is one cell across the table is read as a paragraph (a heading inside
the table). Footnote references carry no text and footnotes are not read.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

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
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            tables += 1
            rows.extend(_table(block, tables))
            continue
        paragraphs += 1
        text = join_lines(block.text.split("\n"))
        if text:
            rows.append(Row((text,), f", paragraph {paragraphs}", level=_level(block)))
    return rows


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
    for paragraph in cell.paragraphs:
        lines.extend(paragraph.text.split("\n"))
    return join_lines(lines)
