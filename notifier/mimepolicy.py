"""Email policies that parse and fold each distinct header value once, and fold a Subject
so that it decodes to exactly its text.

The standard library's header machinery is slow for non-ASCII text: folding one From header
with a Swedish display name ("Åtgärdsplanen – påminnelser") costs about a millisecond, and
every message of a batch repeats the same From, Reply-To, most To values and the MIME
headers of its parts. Parsing and folding are pure functions of the header's name, its text
and the policy's settings, so their results are kept and reused; the bytes on the wire are
exactly those the standard policies give, except for the Subject.

The Subject is folded here rather than by the standard library, whose folder (up to at least
Python 3.14) can put the space that follows an encoded word between two encoded words, where
RFC 2047 (section 6.2) has decoders drop it: "… dagar – Uppföljning" arrived as
"… dagar –Uppföljning". A Subject that needs encoding becomes a run of encoded words that
carry every character of the text, spaces included, one to a line, so that only folding
white space lies between them and decoding gives back the text exactly.
"""

from __future__ import annotations

import base64
import functools
import string
from email.headerregistry import BaseHeader, HeaderRegistry, UniqueUnstructuredHeader
from email.policy import EmailPolicy
from typing import Any

# Bounded so that a long run with ever-new subjects cannot grow without limit; values seen
# in every message (From, Reply-To, MIME headers) are the most recently used and stay.
_LIMIT = 20_000


# RFC 2047 section 2: an encoded word is at most 75 characters, and a header line that holds
# one at most 76. Plain lines keep to the same limit, well inside RFC 5322's 78.
_WORD_MAX = 75
_LINE_MAX = 76
_PREFIX = "=?utf-8?"
_CHROME = len(_PREFIX) + len("q?") + len("?=")
# Bytes that stand for themselves in a "Q" encoded word anywhere a word may occur (RFC 2047
# section 5, rule 3); the space is written "_".
_Q_LITERAL = frozenset((string.ascii_letters + string.digits + "!*+-/").encode("ascii"))
_Q_BYTES = tuple(
    chr(byte) if byte in _Q_LITERAL else "_" if byte == 0x20 else f"={byte:02X}"
    for byte in range(256)
)
_ASCII_TEXT = frozenset(chr(c) for c in range(0x20, 0x7F))


def _b_length(size: int) -> int:
    return 4 * ((size + 2) // 3)


def encoded_word(text: str) -> str:
    """``text`` as one UTF-8 encoded word, "Q" or "B", whichever is shorter."""
    data = text.encode("utf-8", "replace")
    q = "".join(_Q_BYTES[byte] for byte in data)
    if len(q) <= _b_length(len(data)):
        return f"{_PREFIX}q?{q}?="
    return f"{_PREFIX}b?{base64.b64encode(data).decode('ascii')}?="


def encoded_words(text: str, first: int, rest: int) -> list[str]:
    """``text`` as encoded words of at most ``first`` characters, then ``rest``, that
    together carry every character, spaces included.

    A word ends after a space where one is near its end, so that even a reader that shows
    the white space between encoded words (against RFC 2047) splits no word of the text.
    """
    sizes = [len(char.encode("utf-8", "replace")) for char in text]
    q_sizes = [len("".join(_Q_BYTES[b] for b in char.encode("utf-8", "replace"))) for char in text]
    pieces: list[str] = []
    start, room = 0, first
    while start < len(text):
        end, size, q, after_space = start, 0, 0, 0
        while end < len(text):
            longer = _CHROME + min(q + q_sizes[end], _b_length(size + sizes[end]))
            if longer > room and end > start:
                break
            size, q, end = size + sizes[end], q + q_sizes[end], end + 1
            if text[end - 1] == " ":
                after_space = end
        if end < len(text) and 2 * (after_space - start) > end - start:
            end = after_space
        pieces.append(text[start:end])
        start, room = end, rest
    return [encoded_word(piece) for piece in pieces]


def fold_plain(label: str, text: str, limit: int, linesep: str) -> str | None:
    """``label`` and ``text`` folded at single spaces, or None where that cannot keep every
    line within ``limit`` and every character of the text.

    Unfolding only removes the line breaks, so the space a line starts with is the one the
    text had there. A run of spaces is never broken: a line of white space alone is not
    allowed, and a parser would drop it.
    """
    lines, line = [], f"{label} "
    for number, word in enumerate(text.split(" ")):
        if number == 0:
            line += word
        elif word and len(line) + 1 + len(word) > limit:
            lines.append(line)
            line = f" {word}"
        else:
            line += f" {word}"
        if len(line) > limit:
            return None
    return linesep.join([*lines, line]) + linesep


def _plain(text: str, utf8: bool) -> bool:
    """Whether ``text`` can go as it is: nothing a parser would decode ('=?'), drop (white
    space at either end) or that needs encoding (controls; non-ASCII unless UTF-8 headers)."""
    if "=?" in text or text != text.strip(" "):
        return False
    return text.isprintable() if utf8 else set(text) <= _ASCII_TEXT


class SubjectHeader(UniqueUnstructuredHeader):
    """Subject, folded so that decoding it gives back exactly its text."""

    def fold(self, *, policy: Any) -> str:
        text = str(self)
        limit = min(policy.max_line_length or _LINE_MAX, _LINE_MAX)
        label = f"{self.name}:"
        if _plain(text, policy.utf8):
            folded = fold_plain(label, text, limit, policy.linesep)
            if folded is not None:
                return folded
        first, rest = limit - len(label) - 1, limit - 1
        words = encoded_words(text, min(_WORD_MAX, first), min(_WORD_MAX, rest))
        return f"{label} " + f"{policy.linesep} ".join(words) + policy.linesep


def _header_factory() -> HeaderRegistry:
    registry = HeaderRegistry()
    registry.map_to_type("subject", SubjectHeader)
    return registry


class CachingPolicy(EmailPolicy):
    """Parses and folds each distinct header value once per policy.

    The policy objects are the module's two constants, and the caches key on the policy
    object itself: a clone (which the email package makes for other line ends or lengths)
    is a different key, so nothing is ever folded with another policy's settings.
    """

    def header_store_parse(self, name: str, value: Any) -> tuple[str, Any]:
        if isinstance(value, BaseHeader) or not isinstance(value, str):
            # Objects (Address, header instances) are parsed as given: their text alone
            # need not say everything about them.
            return super().header_store_parse(name, value)
        return _parsed(self, name, value)

    def fold_binary(self, name: str, value: Any) -> bytes:
        # The type is part of the key: header objects compare equal to their text.
        return _folded(self, name, type(value), value)


@functools.lru_cache(maxsize=_LIMIT)
def _parsed(policy: EmailPolicy, name: str, value: str) -> tuple[str, Any]:
    return EmailPolicy.header_store_parse(policy, name, value)


@functools.lru_cache(maxsize=_LIMIT)
def _folded(policy: EmailPolicy, name: str, kind: type, value: Any) -> bytes:
    return EmailPolicy.fold_binary(policy, name, value)


_HEADERS = _header_factory()

BUILD = CachingPolicy(header_factory=_HEADERS)
"""For composing: the standard ``email.policy.default`` settings."""

SMTP = CachingPolicy(linesep="\r\n", header_factory=_HEADERS)
"""For the wire: the standard ``email.policy.SMTP`` settings (CRLF line ends)."""
