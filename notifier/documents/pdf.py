"""PDF documents with a text layer, read with pdfplumber: ruled tables and the text around them.

Pages are read in order; on a page set in two columns, the left column before the right one
(text that spans the middle of the page starts a new band). A table's cells keep their lines,
joined by the hyphenation rule of ``rows.join_lines``; a cell merged down over rows gives its
text to each of them. Text set much smaller than the body is a footnote mark, dropped; a
paragraph that starts with such a mark is a footnote, not read, as is the text below a footnote
rule (a short line from the left margin, low on the page, outside the tables). The first row of
a table at the top of a page (after a repeated header row) is marked as possibly continuing the
row before the page break. A PDF without text (a scan) is refused: there is nothing to read.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from notifier.documents.rows import Row, join_lines, words_of
from notifier.errors import PlanError

_SMALL = 0.75  # of the body size: superscript footnote marks
_HEADING_SIZE = 1.15  # of the body size
_NUMBERED = re.compile(r"^\d+(?:\.\d+)*\.?\s")


@dataclass
class _Item:
    top: float
    bottom: float
    x0: float
    x1: float
    lines: list[dict[str, Any]] = field(default_factory=list)
    table: list[list[str | None]] | None = None


def read_pdf(path: Path) -> list[Row]:
    import pdfplumber

    try:
        pdf = pdfplumber.open(str(path))
        pages = pdf.pages
    except Exception as error:  # pdfminer wraps every parse error in its own exception
        raise _unreadable(path, error) from None
    with pdf:
        chars = [char for page in pages for char in page.chars]
        if not any(char["text"].strip() for char in chars):
            raise PlanError(
                [f"{path}: a PDF without text (a scanned document?): there is no text to read"],
                hint="Import the plan's Word document, or run the PDF through text recognition "
                "(e.g. ocrmypdf) first.",
            )
        body = Counter(round(char["size"], 1) for char in chars).most_common(1)[0][0]
        vocabulary = words_of(page.extract_text() or "" for page in pages)
        reader = _Reader(body, vocabulary, _running(pages))
        for number, page in enumerate(pages, start=1):
            reader.page(number, page)
    if not any(row.table for row in reader.rows):
        raise PlanError(
            [
                f"{path}: no table found: a PDF's tables are found by the rules of their cells, "
                "and this one has none"
            ],
            hint="Import the plan's Word document, or give its tables borders and export the "
            "PDF again.",
        )
    return reader.rows


def _unreadable(path: Path, error: Exception) -> PlanError:
    text = f"{error!r} {error.__cause__!r} {error.args!r}"
    if "Password" in text or "password" in text or "Encrypt" in text:
        return PlanError(
            [f"{path}: the PDF is protected by a password: notifier cannot read it"],
            hint="Save or export the PDF again without a password and import that file.",
        )
    return PlanError(
        [f"{path}: a damaged PDF: {type(error).__name__}"],
        hint="Export the PDF again from the word processor and import the new file.",
    )


class _Reader:
    def __init__(self, body: float, vocabulary: set[str], running: set[str]) -> None:
        self.body = body
        self.running = running
        self.vocabulary = vocabulary
        self.rows: list[Row] = []
        self.header: tuple[str, ...] | None = None  # first row of the last table read

    def page(self, number: int, page: Any) -> None:
        clean = page.filter(
            lambda obj: obj.get("object_type") != "char" or obj["size"] >= _SMALL * self.body
        )
        tables = clean.find_tables()
        boxes = [table.bbox for table in tables]
        outside = page.filter(
            lambda obj: obj.get("object_type") != "char" or not _inside(obj, boxes)
        )
        items = [
            _Item(
                table.bbox[1],
                table.bbox[3],
                table.bbox[0],
                table.bbox[2],
                table=_extract(clean, table),
            )
            for table in tables
        ]
        words = outside.extract_words(extra_attrs=["size", "fontname"], expand_ligatures=True)
        below = _footnote_rule(page, boxes)
        words = [word for word in words if word["top"] < below]
        for line in _lines(words):
            if _margin_text(line, page.height) in self.running:
                continue  # a running header or footer, a page number
            items.extend(_segments(line))
        self._emit(number, _reading_order(items, page.width))

    def _emit(self, number: int, items: list[_Item]) -> None:
        paragraph: list[dict[str, Any]] = []
        top = True  # nothing read yet on this page: a table here may go on from the last page
        count = 0
        for item in items:
            if item.table is None:
                count += 1
                line = {**item.lines[0], "number": count}
                if paragraph and not self._same_paragraph(paragraph[-1], line):
                    self._paragraph(number, paragraph)
                    paragraph = []
                paragraph.append(line)
                top = False
                continue
            if paragraph:
                self._paragraph(number, paragraph)
                paragraph = []
            self._table(number, item.table, continues=top)
            top = False
        if paragraph:
            self._paragraph(number, paragraph)

    def _same_paragraph(self, previous: dict[str, Any], line: dict[str, Any]) -> bool:
        size = max(previous["size"], line["size"])
        return (
            abs(previous["size"] - line["size"]) < 1
            and previous["bold"] == line["bold"]
            and (
                0 <= line["top"] - previous["bottom"] < 0.5 * size
                # the paragraph goes on at the top of the next column
                or (line["x0"] > previous["x1"] and previous["text"][-1:] not in ".:!?")
            )
            and not _NUMBERED.match(line["text"])
            and not line["footnote"]
        )

    def _paragraph(self, number: int, lines: list[dict[str, Any]]) -> None:
        if lines[0]["footnote"]:
            return
        text = join_lines((line["text"] for line in lines), self.vocabulary)
        if not text:
            return
        size, bold = lines[0]["size"], lines[0]["bold"]
        heading = size >= _HEADING_SIZE * self.body or (bold and len(text) < 200)
        level = None
        if heading and self.rows:
            level = 1 if size >= 1.4 * self.body else 2 if size >= _HEADING_SIZE * self.body else 3
        where = f", page {number}, line {lines[0]['number']} (outside the tables)"
        self.header = None
        self.rows.append(Row((text,), where, level=level))

    def _table(self, number: int, table: list[list[str | None]], continues: bool) -> None:
        above: list[str] = []
        first = True
        for index, raw in enumerate(table, start=1):
            filled = [cell for cell in raw if cell is not None]
            if len(filled) == 1 and raw[0] is not None:
                cells: list[str] = [self._cell(raw[0])]
            else:
                cells = [
                    self._cell(cell) if cell is not None else (above[i] if i < len(above) else "")
                    for i, cell in enumerate(raw)
                ]
                above = cells
            row = tuple(cells)
            if index == 1:
                if continues and row == self.header:
                    continue  # the header row repeated at the top of the page
                self.header = row
            where = f", page {number}, table row {index}"
            self.rows.append(Row(row, where, table=True, continues=continues and first))
            first = False

    def _cell(self, text: str | None) -> str:
        return join_lines((text or "").split("\n"), self.vocabulary)


def _lines(words: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Words on the same baseline, left to right."""
    lines: list[list[dict[str, Any]]] = []
    for word in sorted(words, key=lambda w: (w["top"], w["x0"])):
        if lines and word["top"] - lines[-1][0]["top"] < 0.5 * lines[-1][0]["size"]:
            lines[-1].append(word)
        else:
            lines.append([word])
    return [sorted(line, key=lambda w: w["x0"]) for line in lines]


def _segments(line: list[dict[str, Any]]) -> list[_Item]:
    """A line of text, cut where a wide gap (a column gutter) lies between its words."""
    groups: list[list[dict[str, Any]]] = []
    for word in line:
        if groups and word["x0"] - groups[-1][-1]["x1"] <= 2 * word["size"]:
            groups[-1].append(word)
        else:
            groups.append([word])
    items = []
    for group in groups:
        line = _line(group)
        items.append(_Item(line["top"], line["bottom"], line["x0"], line["x1"], lines=[line]))
    return items


def _line(words: list[dict[str, Any]]) -> dict[str, Any]:
    sizes: Counter[float] = Counter()
    for word in words:
        sizes[round(word["size"], 1)] += len(word["text"])
    size = sizes.most_common(1)[0][0]
    kept = [w for w in words if w["size"] >= _SMALL * size]
    text = ""
    for previous, word in zip([None, *kept], kept, strict=False):
        if previous is not None and word["x0"] - previous["x1"] > 0.15 * size:
            text += " "
        text += word["text"]
    first = words[0]
    return {
        "text": text,
        "size": size,
        "bold": bool(kept) and all("bold" in w["fontname"].lower() for w in kept),
        "top": min(w["top"] for w in words),
        "bottom": max(w["bottom"] for w in words),
        "x0": first["x0"],
        "x1": words[-1]["x1"],
        "footnote": first["size"] < _SMALL * size and first["text"].isdigit(),
    }


def _extract(page: Any, table: Any) -> list[list[str | None]]:
    """The text of each cell, its lines joined by newlines; None where a merge covers it."""
    rows: list[list[str | None]] = []
    for row in table.rows:
        cells: list[str | None] = []
        for box in row.cells:
            if box is None:
                cells.append(None)
                continue
            # A char belongs to the cell its centre lies in: its box may cross the cell's rule.
            inner = page.filter(
                lambda obj, box=box: obj.get("object_type") == "char" and _inside(obj, [box])
            )
            lines = inner.extract_text_lines(strip=True)
            cells.append("\n".join(_unbroken(lines, box)))
        rows.append(cells)
    return rows


def _unbroken(lines: list[dict[str, Any]], box: tuple[float, float, float, float]) -> list[str]:
    """The lines of a cell, a word too long for the cell's width made whole again.

    A word processor breaks a word longer than the column where the column ends, without a
    hyphen: the line is then one word that fills the cell's text width to less than the width
    of the next line's first letter (which did not fit), and the next line starts with a
    lower-case letter ("Samhällsbyggnadsförvaltnin" + "gen"). A whole word that merely ends
    near the edge leaves room for that letter, and its line break stays a space. The cell's
    right padding is taken to be its left one.
    """
    if not lines:
        return []
    padding = min(line["x0"] for line in lines) - box[0]
    edge = box[2] - padding
    texts: list[str] = []
    previous: dict[str, Any] | None = None
    for line in lines:
        text = line["text"]
        first = line["chars"][0] if line["chars"] else None
        cut = (
            previous is not None
            and first is not None
            and text[:1].islower()
            and " " not in texts[-1]
            and texts[-1][-1:].isalpha()
            and edge - previous["x1"] < first["x1"] - first["x0"]
        )
        if cut:
            texts[-1] += text
        else:
            texts.append(text)
        previous = line
    return texts


_MARGIN = 0.1  # of the page's height, at its top and at its foot
_PAGE_NUMBER = re.compile(r"^(?:sida\s*)?#(?:\s*(?:av|/|\()\s*#\)?)?$", re.IGNORECASE)


def _margin_text(line: list[dict[str, Any]], height: float) -> str | None:
    """A line in the top or foot margin, its numbers as '#'; None for a line elsewhere."""
    top = min(word["top"] for word in line)
    bottom = max(word["bottom"] for word in line)
    if _MARGIN * height < top and bottom < (1 - _MARGIN) * height:
        return None
    return re.sub(r"\d+", "#", " ".join(word["text"] for word in line)).strip()


def _running(pages: list[Any]) -> set[str]:
    """Running headers and footers: page numbers, and margin lines repeated on several pages
    (numbers aside). They are not part of the plan."""
    seen: Counter[str] = Counter()
    for page in pages:
        words = page.extract_words(extra_attrs=["size"])
        texts = {_margin_text(line, page.height) for line in _lines(words)}
        seen.update(text for text in texts if text)
    return {text for text, count in seen.items() if count > 1 or _PAGE_NUMBER.match(text)}


def _footnote_rule(page: Any, boxes: list[tuple[float, float, float, float]]) -> float:
    """Where the footnotes begin: below a short rule from the left margin in the lower half
    of the page, outside every table (as word processors set them); the page's end if none."""
    rules = [
        edge["top"]
        for edge in page.lines + page.rects
        if edge["bottom"] - edge["top"] < 1.5
        and edge["x1"] - edge["x0"] < 0.4 * page.width
        and edge["top"] > page.height / 2
        and not any(
            x0 - 1 <= edge["x0"] <= x1 + 1 and t - 1 <= edge["top"] <= b + 1
            for x0, t, x1, b in boxes
        )
    ]
    return min(rules, default=page.height + 1)


def _inside(obj: dict[str, Any], boxes: list[tuple[float, float, float, float]]) -> bool:
    x = (obj["x0"] + obj["x1"]) / 2
    y = (obj["top"] + obj["bottom"]) / 2
    return any(x0 <= x <= x1 and top <= y <= bottom for x0, top, x1, bottom in boxes)


def _reading_order(items: list[_Item], width: float) -> list[_Item]:
    """Top to bottom; where the page is set in two columns, the left column first.

    A band of two columns ends at anything across the middle of the page, or at text in the
    left half that starts below the right column's last line (a heading after the columns).
    """
    middle = width / 2
    ordered: list[_Item] = []
    left: list[_Item] = []
    right: list[_Item] = []
    for item in sorted(items, key=lambda i: (round(i.top), i.x0)):
        if item.x0 >= middle - 2:
            right.append(item)
            continue
        below = right and item.top > max(r.bottom for r in right) + 0.6 * (item.bottom - item.top)
        if item.x1 > middle + 2 or below:
            ordered.extend(left + right)
            left, right = [], []
        if item.x1 > middle + 2:
            ordered.append(item)
        else:
            left.append(item)
    ordered.extend(left + right)
    return ordered
