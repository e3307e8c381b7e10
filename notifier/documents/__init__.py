"""Plan documents in, as rows of cells: Word, PDF, Excel and tab-separated text.

Each reader turns its format into the same form, a list of ``Row``: a paragraph or heading is a
row of one cell, a table row is a row of its cells, and each row knows where it stood (line,
page, sheet, table row) so that the importer can name it in an error. ``read_document`` picks
the reader by the file's content, not by its name.
"""

from __future__ import annotations

from pathlib import Path

from notifier.documents.detect import Kind, detect
from notifier.documents.rows import Row

__all__ = ["Kind", "Row", "detect", "read_document"]


def read_document(path: Path) -> list[Row]:
    """The rows of the document at ``path``; PlanError naming the file when it cannot be read."""
    kind = detect(path)
    if kind is Kind.DOCX:
        from notifier.documents.docx import read_docx

        return read_docx(path)
    if kind is Kind.PDF:
        from notifier.documents.pdf import read_pdf

        return read_pdf(path)
    if kind is Kind.XLSX:
        from notifier.documents.xlsx import read_xlsx

        return read_xlsx(path)
    from notifier.documents.text import read_text_rows

    return read_text_rows(path)
