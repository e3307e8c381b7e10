"""The form every reader produces, and the rule that joins the lines of one cell."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

SOFT_HYPHEN = "\u00ad"
_HYPHENS = "-\u2010"
_SPACES = re.compile(r"[ \t\u00a0]+")


@dataclass(frozen=True)
class Row:
    """One paragraph (a single cell) or one table row, and where it stood.

    ``where`` follows the source name in messages: ':12' for line 12 of a text file,
    ', page 2, table row 3' for a PDF. ``level`` is a heading level the document's styles
    give (1 = area), None when the document says nothing. ``table`` marks rows read from a
    table; ``continues`` marks the first row of a table at the top of a new page or column,
    which may be the rest of a row the page break cut in two.
    """

    cells: tuple[str, ...]
    where: str
    level: int | None = None
    table: bool = False
    continues: bool = False

    @property
    def text(self) -> str:
        return " ".join(cell for cell in self.cells if cell)


def join_lines(lines: Iterable[str], vocabulary: set[str] | frozenset[str] = frozenset()) -> str:
    """The lines of one cell or paragraph as one line of text.

    The rule for a hyphen at the end of a line, followed by a letter:
    - a soft hyphen (U+00AD) is where the word processor may break a word: it is dropped, and
      so is every soft hyphen elsewhere (it is never part of the word);
    - a hard hyphen after a letter joins the two lines without a space and stays
      ("Regionstyrelse-" + "förvaltningen" -> "Regionstyrelse-förvaltningen", "ANDTS-coacher"):
      a word processor breaks a line at a hyphen written in the text, and adds one of its own
      only with automatic hyphenation;
    - that hyphen is dropped only when the word written whole, without it, occurs elsewhere in
      the same document (``vocabulary``) and the hyphenated form does not: then it was the
      automatic hyphenation's ("brottsföre-" + "byggande" where "brottsförebyggande" is
      written elsewhere);
    - a hyphen after a space is a dash: the lines join with a space.
    Every other line break becomes one space.
    """
    text = ""
    for raw in lines:
        line = _SPACES.sub(" ", raw).strip()
        if not line:
            continue
        if not text:
            text = line
        elif text.endswith(SOFT_HYPHEN):
            text = text[:-1] + line
        elif text[-1] in _HYPHENS and len(text) > 1 and text[-2].isalpha() and line[0].isalpha():
            text = _hyphenated(text, line, vocabulary)
        else:
            text = f"{text} {line}"
    return text.replace(SOFT_HYPHEN, "")


def _hyphenated(text: str, line: str, vocabulary: set[str] | frozenset[str]) -> str:
    head = re.search(r"(\w+)[-\u2010]$", text)
    tail = re.match(r"\w+", line)
    if head and tail:
        whole = (head.group(1) + tail.group(0)).casefold()
        split = f"{head.group(1)}-{tail.group(0)}".casefold()
        if whole in vocabulary and split not in vocabulary:
            return text[:-1] + line
    return text + line


def words_of(texts: Iterable[str]) -> set[str]:
    """Every word (and hyphenated word) of the texts, case-folded: the document's vocabulary."""
    found: set[str] = set()
    for text in texts:
        for word in re.findall(r"\w+(?:[-\u2010]\w+)*", text.replace(SOFT_HYPHEN, "")):
            found.add(word.casefold())
            found.update(part.casefold() for part in re.split(r"[-\u2010]", word))
    return found
