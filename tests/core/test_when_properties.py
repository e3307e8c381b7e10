"""No silent misreadings, by construction: a word the reader does not know, put right before
the time of any milestone of a real text (tests/data/when-corpus.jsonl), never changes what
the text is read as. The text is read the same or refused; the word never slips into a label
or shifts a date without a word said."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from notifier.model import Milestone
from notifier.when import explain, read_when, vocabulary
from notifier.when.vocabulary import known_word

CORPUS = Path(__file__).parent.parent / "data" / "when-corpus.jsonl"


def _words_in(value: object) -> set[str]:
    if isinstance(value, str):
        return set(value.casefold().split())
    if isinstance(value, dict):
        value = list(value)
    if isinstance(value, (tuple, list, set, frozenset)):
        return {word for part in value for word in _words_in(part)}
    return set()


# Every word the vocabulary names anywhere, in any table.
VOCABULARY = frozenset(
    word
    for name in dir(vocabulary)
    if name.isupper()
    for word in _words_in(getattr(vocabulary, name))
)
# The corpus texts the reader reads, each with where its milestones' times begin.
READ = [
    (text, plan_year, explained)
    for line in CORPUS.read_text(encoding="utf-8").splitlines()
    for text, plan_year in [(json.loads(line)["text"], json.loads(line)["plan_year"])]
    if not isinstance(explained := explain(text, plan_year), str)
]

unknown_words = st.text(alphabet="abcdefghijklmnoprstuvyåäö", min_size=3, max_size=9).filter(
    lambda word: not known_word(word) and word not in VOCABULARY
)


def test_most_of_the_corpus_is_read_so_that_the_property_says_something() -> None:
    assert len(READ) >= 200


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(word=unknown_words, capital=st.booleans())
def test_an_unknown_word_before_a_time_never_changes_the_reading(word: str, capital: bool) -> None:
    assume(word)
    inserted = word.capitalize() if capital else word
    for original_text, plan_year, explained in READ:
        original = [_without_text(m) for m in read_when(original_text, plan_year).milestones]
        for part in explained:
            at = part.time_at
            text = original_text[:at] + inserted + " " + original_text[at:]
            reading = read_when(text, plan_year)
            assert (
                not reading.readable or [_without_text(m) for m in reading.milestones] == original
            ), f"{text!r} read as {reading.milestones}, {original_text!r} as {original}"


def _without_text(milestone: Milestone) -> tuple[object, ...]:
    """A milestone but for the fragment it quotes, which the inserted word lengthens."""
    return (milestone.label, milestone.start, milestone.end, milestone.due, milestone.tentative)
