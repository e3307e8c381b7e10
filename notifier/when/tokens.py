"""Text → tokens: words, numbers and single signs, each with its place in the text, so that every
milestone and every reason quotes the text as written; and ``TokenCursor``, the token access the
grammar is built on."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import TypeVar

from notifier.when.refusal import Unreadable, quote
from notifier.when.vocabulary import PLACEHOLDER, PLACEHOLDER_MARK

_T = TypeVar("_T")  # what a phrase table maps to


class Kind(Enum):
    WORD = "word"
    NUM = "number"
    DASH = "dash"
    SLASH = "slash"
    DOT = "dot"
    COMMA = "comma"
    SEMI = "semicolon"
    COLON = "colon"
    LPAREN = "("
    RPAREN = ")"
    PLUS = "+"
    PLUSMINUS = "±"
    OTHER = "other"


_SIGNS = {
    "/": Kind.SLASH,
    ".": Kind.DOT,
    ",": Kind.COMMA,
    ";": Kind.SEMI,
    ":": Kind.COLON,
    "(": Kind.LPAREN,
    "[": Kind.LPAREN,
    ")": Kind.RPAREN,
    "]": Kind.RPAREN,
    "+": Kind.PLUS,
    "±": Kind.PLUSMINUS,
}
_DASHES = frozenset("-‐‑‒–—―−")
HYPHENS = frozenset("-‐‑")
# Each alternative consumes at least one character and none can backtrack into another, so
# tokenizing is linear in the length of the text.
_TOKEN = re.compile(r"(?P<space>\s+)|(?P<num>[0-9]+)|(?P<word>[^\W\d_]+)|(?P<sign>.)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Token:
    """One word, number or sign of a "När?" text, with where it stands."""

    kind: Kind
    text: str
    low: str  # case-folded
    start: int
    end: int
    line_break: bool  # a line break stands between this token and the previous one


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    line_break = False
    for match in _TOKEN.finditer(text):
        piece = match.group()
        group = match.lastgroup
        if group == "space":
            line_break = line_break or "\n" in piece or "\r" in piece
            continue
        if group == "num":
            kind = Kind.NUM
        elif group == "word":
            kind = Kind.WORD
        elif piece in _DASHES:
            kind = Kind.DASH
        else:
            kind = _SIGNS.get(piece, Kind.OTHER)
        tokens.append(Token(kind, piece, piece.casefold(), match.start(), match.end(), line_break))
        line_break = False
    return tokens


def refuse_placeholders(text: str) -> None:
    """A date template left in the plan ("2019-XX-XX", "ÅÅÅÅ-MM-DD") is never read as a date."""
    for match in re.finditer(r"\S+", text):
        chunk = match.group().strip(",;:()[]!")
        if (
            chunk
            and PLACEHOLDER.fullmatch(chunk)
            and PLACEHOLDER_MARK.search(chunk)
            and (re.search(r"[0-9\-/.]", chunk) or re.fullmatch(r"[Xx]{2,}", chunk))
        ):
            raise Unreadable(f"'{quote(chunk, 0, len(chunk))}' is a placeholder, not a date")


class TokenCursor:
    """Read access to the tokens of one text by index. Every lookup past either end of the
    tokens finds nothing, so the grammar never checks bounds itself."""

    def __init__(self, text: str, tokens: list[Token]) -> None:
        self.text = text
        self.tokens = tokens

    def _tok(self, i: int) -> Token | None:
        return self.tokens[i] if 0 <= i < len(self.tokens) else None

    def _word(self, i: int) -> str | None:
        token = self._tok(i)
        return token.low if token is not None and token.kind is Kind.WORD else None

    def _is(self, i: int, kind: Kind, *, touching: bool = False) -> bool:
        token = self._tok(i)
        return token is not None and token.kind is kind and (not touching or self._touching(i))

    def _touching(self, i: int) -> bool:
        """Token i follows the previous one with no space between ("2024-09-15", "Q1")."""
        return 0 < i < len(self.tokens) and self.tokens[i - 1].end == self.tokens[i].start

    def _number(
        self, i: int, digits: tuple[int, ...] = (1, 2), *, touching: bool = False
    ) -> int | None:
        token = self._tok(i)
        if token is None or token.kind is not Kind.NUM or len(token.text) not in digits:
            return None
        if touching and not self._touching(i):
            return None
        return int(token.text)

    def _dot(self, i: int) -> int:
        """Skip an abbreviation's dot ("jan.", "v.", "prel.") right after a word."""
        return i + 1 if self._is(i, Kind.DOT, touching=True) else i

    def _quote(self, a: int, b: int) -> str:
        """Tokens a .. b-1 as written."""
        b = max(min(b, len(self.tokens)), a + 1)
        return quote(self.text, self.tokens[a].start, self.tokens[b - 1].end)

    def _match(
        self, i: int, table: dict[tuple[str, ...], _T], longest: int = 3
    ) -> tuple[_T, int] | None:
        """The longest phrase of ``table`` at i, and the index after it."""
        words: list[str] = []
        ends: list[int] = []
        j = i
        while len(words) < longest and (word := self._word(j)) is not None:
            j = self._dot(j + 1)
            words.append(word)
            ends.append(j)
        for size in range(len(words), 0, -1):
            found = table.get(tuple(words[:size]))
            if found is not None:
                return found, ends[size - 1]
        return None

    def _item_end(self, i: int) -> int:
        """Index of the next separator that always splits (",", ";", line break), for quoting."""
        j = i + 1
        while j < len(self.tokens):
            token = self.tokens[j]
            if token.kind in (Kind.COMMA, Kind.SEMI) or token.line_break:
                break
            j += 1
        return j

    def _chunk(self, i: int) -> str:
        """The whitespace-delimited run of text that holds token i."""
        a = b = i
        while a > 0 and self._touching(a) and b - a < 20:
            a -= 1
        while self._touching(b + 1) and b - a < 40:
            b += 1
        return self._quote(a, b + 1)
