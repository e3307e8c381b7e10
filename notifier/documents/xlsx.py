"""Excel workbooks (.xlsx), read with openpyxl: each sheet's rows, values as shown.

A merged range gives its text to its top-left cell only; a range merged down a column is
filled into every row it covers, as the eye reads it. A row with one value is a paragraph.
Only the sheets that hold a plan table are read, when any does.
"""

from __future__ import annotations

import zipfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

from notifier.documents.columns import header_columns
from notifier.documents.rows import Row, join_lines
from notifier.errors import PlanError


def read_xlsx(path: Path) -> list[Row]:
    import openpyxl

    try:
        # A file object, not the path: openpyxl refuses a path by its extension alone.
        with path.open("rb") as stream:
            workbook = openpyxl.load_workbook(stream, read_only=False, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as error:
        raise PlanError(
            [f"{path}: a damaged Excel workbook: {error}"],
            hint="Open it in the spreadsheet program, save it again as .xlsx and import it.",
        ) from None
    except Exception as error:  # lxml's and openpyxl's own parse errors
        raise PlanError([f"{path}: not a readable Excel workbook: {error}"]) from None
    sheets = {sheet.title: _sheet_rows(sheet) for sheet in workbook.worksheets}
    # Sheets without a plan table (follow-up notes, lists of contacts) are not the plan.
    planned = [rows for rows in sheets.values() if any(header_columns(r.cells) for r in rows)]
    return [row for rows in (planned or list(sheets.values())) for row in rows]


def _sheet_rows(sheet: Any) -> list[Row]:
    rows: list[Row] = []
    down = _merged_down(sheet)
    for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
        cells = [_text(value) for value in values]
        for (row, column), text in down.items():
            if row == number and column <= len(cells):
                cells[column - 1] = text
        if not any(cells):
            continue
        where = f", sheet '{sheet.title}', row {number}"
        filled = [cell for cell in cells if cell]
        rows.append(Row(tuple(filled if len(filled) == 1 else cells), where, table=True))
    return rows


def _merged_down(sheet: Any) -> dict[tuple[int, int], str]:
    """The text of each cell a vertical merge covers below its first row."""
    covered: dict[tuple[int, int], str] = {}
    for merged in sheet.merged_cells.ranges:
        text = _text(sheet.cell(merged.min_row, merged.min_col).value)
        for row in range(merged.min_row + 1, merged.max_row + 1):
            covered[(row, merged.min_col)] = text
    return covered


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return join_lines(str(value).split("\n"))
