"""The "När?" reader on real texts: tests/data/when-corpus.jsonl holds deadline texts copied word
for word from Swedish public plans (school calendars, detailed-plan schedules, government
commissions, action plans), each with its source and the reading a careful coordinator expects,
or the reason such a coordinator could not date it.

Every text is read with its plan's year and counted as
- exact: read into exactly the milestones expected (label, first day, due date, tentative);
- refused: not read, with a reason (a minute of the coordinator's time);
- misread: read into other milestones than expected, or read where a refusal is expected (the
  wrong date sent to every organisation, without a word).
The bar: no text misread, and at least 95 % of the readable texts read exactly.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from notifier.model import Reading
from notifier.when import read_when

CORPUS = Path(__file__).parent.parent / "data" / "when-corpus.jsonl"
EXACT_SHARE = 0.95

Expected = tuple[tuple[str | None, str | None, str, bool], ...]


@dataclass(frozen=True)
class Row:
    line: int
    text: str
    source: str
    plan_year: int
    expected: Expected | None  # None: a careful coordinator refuses it
    refuse: str | None


def _rows() -> list[Row]:
    rows = []
    for number, line in enumerate(CORPUS.read_text(encoding="utf-8").splitlines(), start=1):
        data = json.loads(line)
        expected = data.get("expected")
        rows.append(
            Row(
                line=number,
                text=data["text"],
                source=data["source"],
                plan_year=data["plan_year"],
                expected=None
                if expected is None
                else tuple((m["label"], m["start"], m["due"], m["tentative"]) for m in expected),
                refuse=data.get("refuse"),
            )
        )
    return rows


ROWS = _rows()


def reading_of(reading: Reading) -> Expected:
    return tuple(
        (m.label, m.start.isoformat() if m.start else None, m.due.isoformat(), m.tentative)
        for m in reading.milestones
    )


def verdict(row: Row, reading: Reading) -> str:
    if not reading.readable:
        return "refused"
    if row.expected is None or reading_of(reading) != row.expected:
        return "misread"
    return "exact"


def test_the_corpus_is_real_and_large_enough() -> None:
    assert len(ROWS) >= 250
    assert len({row.text for row in ROWS}) >= 240
    for row in ROWS:
        assert row.source.startswith(("http://", "https://")), row.line
        assert (row.expected is None) != (row.refuse is None), row.line
        assert row.expected is None or row.expected, row.line


def test_no_text_is_misread_and_nearly_every_readable_one_is_read_exactly() -> None:
    counts: Counter[str] = Counter()
    misread: list[str] = []
    refused: list[str] = []
    for row in ROWS:
        reading = read_when(row.text, row.plan_year)
        result = verdict(row, reading)
        readable = row.expected is not None
        counts[(result, readable)] += 1
        if result == "misread":
            misread.append(f"line {row.line}: {row.text!r} read as {reading_of(reading)}")
        elif result == "refused" and readable:
            refused.append(f"line {row.line}: {row.text!r}: {reading.reason}")
    readable_total = sum(n for (_, readable), n in counts.items() if readable)
    exact = counts[("exact", True)]
    figures = (
        f"{len(ROWS)} texts, {readable_total} readable: "
        f"exact {exact} ({exact / readable_total:.1%}), "
        f"refused {counts[('refused', True)]} ({counts[('refused', True)] / readable_total:.1%}), "
        f"misread {counts[('misread', True)]}; "
        f"{len(ROWS) - readable_total} to refuse: refused {counts[('refused', False)]}, "
        f"misread {counts[('misread', False)]}"
    )
    print("\n" + figures)  # shown with -s, and kept in the test log
    for line in refused:
        print("  refused:", line)
    assert not misread, figures + "\n" + "\n".join(misread)
    assert exact >= EXACT_SHARE * readable_total, figures + "\n" + "\n".join(refused)


@pytest.mark.parametrize("row", [r for r in ROWS if r.refuse], ids=lambda r: f"line {r.line}")
def test_a_text_a_coordinator_could_not_date_is_refused_with_a_reason(row: Row) -> None:
    reading = read_when(row.text, row.plan_year)
    assert not reading.readable, reading_of(reading)
    assert reading.reason
