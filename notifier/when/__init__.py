"""Read the free-text Swedish "När?" column of a plan into milestones.

``read_when(text, plan_year)`` is pure: no I/O and no clock. The plan's year stands in wherever
the text leaves the year out; nothing else about "now" is ever assumed. The rules it follows are
in README.md under 'Reading "När?"'; tests/core/test_deadlines.py holds one row per rule.

It works in three steps, one module each, over the words of ``vocabulary``:

1. ``tokens``: words, numbers and single signs, each with its place in the text, so that every
   milestone and every reason quotes the text as written.
2. ``grammar`` (items, headings, labels, ranges and pairs) over ``units`` (one time each)
   and ``remarks`` (what may follow a time): a small recursive-descent grammar over the
   tokens, written out in ``grammar``. It reads items into the time expressions of
   ``expressions``, each unit without its year where the text leaves it out.
3. ``resolve``: years are filled in from right to left (a missing year comes from the next
   milestone that has one, else from the plan's year), ranges and pairs are checked, and each
   item becomes a ``Milestone``.

Anything not understood raises ``refusal.Unreadable`` with an English reason that quotes the
fragment, names the word it stopped at and, where one exists, a form it would read; the whole
text is then unreadable. Nothing is guessed and no partial reading is returned. ``explain``
says which words made the time of each milestone.

Decisions where the reading rules are silent are marked "Decision:" in the modules.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from notifier.model import Milestone, Reading
from notifier.when.expressions import Item
from notifier.when.grammar import Grammar
from notifier.when.refusal import Unreadable, quote
from notifier.when.resolve import Resolver
from notifier.when.tokens import refuse_placeholders, tokenize
from notifier.when.vocabulary import MAX_YEAR, MIN_YEAR

__all__ = ["MAX_YEAR", "MIN_YEAR", "Explanation", "explain", "read_when"]


@dataclass(frozen=True, slots=True)
class Explanation:
    """Which words of the text made which part of one milestone."""

    milestone: Milestone
    time: str  # the time as written, with the check or days beside it left out
    time_at: int  # where the time begins in the text
    tentative_by: str | None  # what made it tentative: "a word", "an approximation", "a margin"
    deadline: str | None  # "by its end" ("senast") or "before it" ("före"), or None
    starts: bool  # due on the window's first day (a start word)


@lru_cache(maxsize=1 << 14)
def read_when(text: str, plan_year: int) -> Reading:
    """Read one "När?" text: its milestones in text order, or the reason it cannot be read.

    ``plan_year`` is the year for texts that name none. Never raises on a str.

    Memoised (the reading is immutable and depends on nothing else): a large plan says the
    same few things many times ("löpande", "senast juni"), and loading reads each twice.
    """
    try:
        _, milestones = _read(text, plan_year)
    except Unreadable as problem:
        return Reading(text=text, reason=problem.reason)
    return Reading(text=text, milestones=milestones)


def explain(text: str, plan_year: int) -> tuple[Explanation, ...] | str:
    """How each milestone of ``text`` was read, word by word; or the reason it was not."""
    try:
        items, milestones = _read(text, plan_year)
    except Unreadable as problem:
        return problem.reason
    normal = unicodedata.normalize("NFC", text)
    return tuple(_explained(normal, item, m) for item, m in zip(items, milestones, strict=True))


def _explained(text: str, item: Item, milestone: Milestone) -> Explanation:
    if item.margin is not None:
        tentative_by: str | None = "a margin"
    elif item.time.approximate:
        tentative_by = "an approximation"
    else:
        tentative_by = "a word" if milestone.tentative else None
    return Explanation(
        milestone=milestone,
        time=text[item.time.start : item.time.end],
        time_at=item.time.start,
        tentative_by=tentative_by,
        deadline=item.deadline.value if item.deadline is not None else None,
        starts=item.starts,
    )


def _read(text: str, plan_year: int) -> tuple[list[Item], tuple[Milestone, ...]]:
    # Word processors on some systems paste decomposed letters (a + ring for å); compose them so
    # that "å" is one letter of a word, not a word break.
    normal = unicodedata.normalize("NFC", text)
    tokens = tokenize(normal)
    # Trailing punctuation ends the sentence or a heading line ("vecka 1 2022:"); it is not
    # part of any milestone.
    while tokens and tokens[-1].text in (".", "!", ":"):
        tokens.pop()
    if not tokens:
        raise Unreadable("The text is empty: it names no time")
    refuse_placeholders(normal)
    grammar = Grammar(normal, tokens, plan_year)
    grammar.refuse_untimed()
    items = grammar.items()
    if not items:  # only separators: ",", "och"
        raise Unreadable(f"'{quote(normal, 0, len(normal))}' names no time")
    return items, Resolver(normal, plan_year).milestones(items)
