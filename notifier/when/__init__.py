"""Read the free-text Swedish "När?" column of a plan into milestones.

``read_when(text, plan_year)`` is pure: no I/O and no clock. The plan's year stands in wherever
the text leaves the year out; nothing else about "now" is ever assumed. The rules it follows are
in README.md under 'Reading "När?"'; tests/core/test_deadlines.py holds one row per rule.

It works in three steps, one module each, over the words of ``vocabulary``:

1. ``tokens``: words, numbers and single signs, each with its place in the text, so that every
   milestone and every reason quotes the text as written.
2. ``grammar`` (items, ranges and pairs) over ``units`` (one time each): a small
   recursive-descent grammar over the tokens, written out in ``grammar``. It reads items into
   the time expressions of ``expressions``, each unit without its year where the text leaves
   it out.
3. ``resolve``: years are filled in from right to left (a missing year comes from the next
   milestone that has one, else from the plan's year), ranges and pairs are checked, and each
   item becomes a ``Milestone``.

Anything not understood raises ``refusal.Unreadable`` with an English reason that quotes the
fragment; the whole text is then unreadable. Nothing is guessed and no partial reading is
returned.

Decisions where the reading rules are silent are marked "Decision:" in the modules.
"""

from __future__ import annotations

import unicodedata

from notifier.model import Milestone, Reading
from notifier.when.grammar import Grammar
from notifier.when.refusal import Unreadable, quote
from notifier.when.resolve import Resolver
from notifier.when.tokens import refuse_placeholders, tokenize
from notifier.when.vocabulary import MAX_YEAR, MIN_YEAR

__all__ = ["MAX_YEAR", "MIN_YEAR", "read_when"]


def read_when(text: str, plan_year: int) -> Reading:
    """Read one "När?" text: its milestones in text order, or the reason it cannot be read.

    ``plan_year`` is the year for texts that name none. Never raises on a str.
    """
    try:
        milestones = _read(text, plan_year)
    except Unreadable as problem:
        return Reading(text=text, reason=problem.reason)
    return Reading(text=text, milestones=milestones)


def _read(text: str, plan_year: int) -> tuple[Milestone, ...]:
    # Word processors on some systems paste decomposed letters (a + ring for å); compose them so
    # that "å" is one letter of a word, not a word break.
    normal = unicodedata.normalize("NFC", text)
    tokens = tokenize(normal)
    # Trailing punctuation ends the sentence; it is not part of any milestone.
    while tokens and tokens[-1].text in (".", "!"):
        tokens.pop()
    if not tokens:
        raise Unreadable("The text is empty: it names no time")
    refuse_placeholders(normal)
    grammar = Grammar(normal, tokens, plan_year)
    grammar.refuse_untimed()
    items = grammar.items()
    if not items:  # only separators: ",", "och"
        raise Unreadable(f"'{quote(normal, 0, len(normal))}' names no time")
    return Resolver(normal, plan_year).milestones(items)
