"""How a "När?" text is read: every rule of README.md 'Reading "När?"', one row per text.

Rows are (label, start, end, due, tentative), dates in ISO form; the Swedish text is the test id.
The plan's year is 2024 unless a test says otherwise.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable
from datetime import date

import pytest
from babel.dates import get_month_names
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifier.model import Reading
from notifier.when import MAX_YEAR, MIN_YEAR, read_when

PLAN_YEAR = 2024

Row = tuple[str | None, str | None, str, str, bool]


def rows(text: str, plan_year: int = PLAN_YEAR) -> list[Row]:
    reading = read_when(text, plan_year)
    assert reading.readable, reading.reason
    return [
        (
            m.label,
            m.start.isoformat() if m.start else None,
            m.end.isoformat(),
            m.due.isoformat(),
            m.tentative,
        )
        for m in reading.milestones
    ]


def one(
    start: str | None,
    end: str,
    due: str | None = None,
    label: str | None = None,
    tentative: bool = False,
) -> list[Row]:
    """One milestone; the due date defaults to the window's last day."""
    return [(label, start, end, due or end, tentative)]


def table(cases: list[tuple[str, list[Row]]]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize(("text", "expected"), cases, ids=[text for text, _ in cases])


# --- The seed plan --------------------------------------------------------------------------

SEED = [
    (
        "Klart för start november 2024",
        one("2024-11-01", "2024-11-30", "2024-11-01", "Klart för start"),
    ),
    (
        "Utbildning maj 2024, Diplomeringsklart december 2024",
        one("2024-05-01", "2024-05-31", label="Utbildning")
        + one("2024-12-01", "2024-12-31", label="Diplomeringsklart"),
    ),
    (
        "Mars 2024 samt hösten 2024.",
        one("2024-03-01", "2024-03-31") + one("2024-09-01", "2024-11-30"),
    ),
    ("Klart juni 2024", one("2024-06-01", "2024-06-30", label="Klart")),
    ("Februari-mars 2024", one("2024-02-01", "2024-03-31")),
    ("Preliminärt november 2024", one("2024-11-01", "2024-11-30", tentative=True)),
    ("Klart december 2024", one("2024-12-01", "2024-12-31", label="Klart")),
    ("Uppföljning december 2024", one("2024-12-01", "2024-12-31", label="Uppföljning")),
]  # fmt: skip


@table(SEED)
def test_every_seed_text_is_read_as_the_rules_say(text: str, expected: list[Row]) -> None:
    assert rows(text) == expected


# --- Every example the rules give, with the rules' result -----------------------------------

RULE_EXAMPLES = [
    # ranges with "-", "–" or "till"; a range may cross a year
    ("Februari-mars 2024", one("2024-02-01", "2024-03-31")),
    ("november 2024–februari 2025", one("2024-11-01", "2025-02-28")),
    ("februari till mars 2024", one("2024-02-01", "2024-03-31")),
    # seasons
    ("våren 2025", one("2025-03-01", "2025-05-31")),
    ("sommaren 2025", one("2025-06-01", "2025-08-31")),
    ("hösten 2025", one("2025-09-01", "2025-11-30")),
    ("vintern 2025", one("2025-12-01", "2026-02-28")),
    # school terms
    ("vårterminen 2025", one("2025-01-01", "2025-06-15")),
    ("VT 2025", one("2025-01-01", "2025-06-15")),
    ("höstterminen 2025", one("2025-08-15", "2025-12-20")),
    ("HT 2025", one("2025-08-15", "2025-12-20")),
    # quarters and tertials
    ("Q1 2025", one("2025-01-01", "2025-03-31")),
    ("kvartal 1 2025", one("2025-01-01", "2025-03-31")),
    ("T1 2025", one("2025-01-01", "2025-04-30")),
    ("tertial 1 2025", one("2025-01-01", "2025-04-30")),
    # ISO weeks (with a year: see the unreadable cases for weeks without one)
    ("vecka 12 2024", one("2024-03-18", "2024-03-24")),
    ("v. 12 2024", one("2024-03-18", "2024-03-24")),
    # a week without a year takes the plan's year, as a month does
    ("vecka 12", one("2024-03-18", "2024-03-24")),
    ("v. 12", one("2024-03-18", "2024-03-24")),
    ("måndag vecka 12", one("2024-03-18", "2024-03-18")),
    # explicit dates, "senast" + a date, a bare year
    ("2024-09-15", one("2024-09-15", "2024-09-15")),
    ("15 mars 2024", one("2024-03-15", "2024-03-15")),
    ("senast 15 mars 2024", one(None, "2024-03-15")),
    ("under 2024", one("2024-01-01", "2024-12-31")),
    # season pairs and half-years
    ("sommar/höst 2025", one("2025-06-01", "2025-11-30")),
    ("höst/vinter 2025/2026", one("2025-09-01", "2026-02-28")),
    ("vinter/vår 2026", one("2025-12-01", "2026-05-31")),
    ("första halvåret", one("2024-01-01", "2024-06-30")),
    # parts of a month and of a year, the year-end
    ("början av mars 2025", one("2025-03-01", "2025-03-10")),
    ("mitten av mars 2025", one("2025-03-11", "2025-03-20")),
    ("slutet av mars 2025", one("2025-03-21", "2025-03-31")),
    ("början av 2025", one("2025-01-01", "2025-03-31")),
    ("tidigt 2025", one("2025-01-01", "2025-03-31")),
    ("slutet av 2025", one("2025-10-01", "2025-12-31")),
    ("årsskiftet 2024/2025", one("2024-12-01", "2025-01-31", "2024-12-31")),
    # more ways to write a date; without a year it is the plan's
    ("15/3 2025", one("2025-03-15", "2025-03-15")),
    ("15.3.2025", one("2025-03-15", "2025-03-15")),
    ("3/2025", one("2025-03-01", "2025-03-31")),
    ("den 15 mars", one("2024-03-15", "2024-03-15")),
    ("15 mars", one("2024-03-15", "2024-03-15")),
    # ranges between any two of these are one window
    ("9 maj–31 dec 2019", one("2019-05-09", "2019-12-31")),
    ("2018-07-01—2020-06-30", one("2018-07-01", "2020-06-30")),
    ("2016–2018", one("2016-01-01", "2018-12-31")),
    # deadlines have no start
    ("senast juni 2024", one(None, "2024-06-30")),
    ("till och med juni 2024", one(None, "2024-06-30")),
    ("före sommaren 2024", one(None, "2024-05-31")),
    ("innan årets utgång", one(None, "2024-12-31")),
    # tentative, with an uncertainty margin that widens the window but keeps the due date
    (
        "Klart juni 2025 (osäkerhet +/- 3 månader)",
        one("2025-03-01", "2025-09-30", "2025-06-30", "Klart", tentative=True),
    ),
    ("Planeras juni 2024", one("2024-06-01", "2024-06-30", label="Planeras")),
    ("Planerat klart juni 2024", one("2024-06-01", "2024-06-30", label="Planerat klart")),
]


@table(RULE_EXAMPLES)
def test_each_example_of_the_rules_reads_as_the_rules_say(text: str, expected: list[Row]) -> None:
    assert rows(text) == expected


CASES = {"lower": str.lower, "upper": str.upper, "title": str.capitalize}
MONTH_FORMS = [
    ("januari", 1), ("februari", 2), ("mars", 3), ("april", 4), ("maj", 5), ("juni", 6),
    ("juli", 7), ("augusti", 8), ("september", 9), ("oktober", 10), ("november", 11),
    ("december", 12), ("jan", 1), ("feb", 2), ("apr", 4), ("jun", 6), ("jul.", 7), ("aug", 8),
    ("sep", 9), ("sept", 9), ("okt", 10), ("nov", 11), ("dec", 12),
]  # fmt: skip


@pytest.mark.parametrize(("word", "month"), MONTH_FORMS, ids=[word for word, _ in MONTH_FORMS])
@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_a_month_full_or_short_in_any_case_is_the_whole_month(
    word: str, month: int, case: Callable[[str], str]
) -> None:
    last = calendar.monthrange(2025, month)[1]
    assert rows(f"{case(word)} 2025") == one(
        date(2025, month, 1).isoformat(), date(2025, month, last).isoformat()
    )


BABEL_MONTHS = sorted(
    {
        (name.rstrip("."), number)
        for width in ("wide", "abbreviated")
        for number, name in get_month_names(width, locale="sv").items()
    }
)


@pytest.mark.parametrize(("name", "month"), BABEL_MONTHS, ids=[name for name, _ in BABEL_MONTHS])
def test_every_swedish_month_name_babel_knows_is_read(name: str, month: int) -> None:
    assert rows(f"{name} 2025")[0][1] == date(2025, month, 1).isoformat()


def test_an_abbreviation_may_keep_its_dot() -> None:
    assert rows("jan. 2025") == rows("jan 2025") == rows("januari 2025")


@pytest.mark.parametrize(
    "text",
    ["februari-mars 2024", "februari–mars 2024", "februari—mars 2024", "februari - mars 2024",
     "februari – mars 2024", "februari — mars 2024", "februari till mars 2024"],
)  # fmt: skip
def test_a_range_takes_any_dash_or_till_with_or_without_spaces(text: str) -> None:
    assert rows(text) == one("2024-02-01", "2024-03-31")


@pytest.mark.parametrize(
    "word",
    ["preliminärt", "prel.", "preliminär", "beräknas", "beräknad", "bedöms", "troligen",
     "troligtvis", "förväntas", "kan stå färdigt"],
)  # fmt: skip
def test_a_tentative_word_marks_the_milestone_and_stays_out_of_the_label(word: str) -> None:
    assert rows(f"{word} juni 2025") == one("2025-06-01", "2025-06-30", tentative=True)
    assert rows(f"Klart {word} juni 2025") == one(
        "2025-06-01", "2025-06-30", label="Klart", tentative=True
    )


@pytest.mark.parametrize(
    ("text", "label"),
    [("Start mars 2025", "Start"), ("Uppstart mars 2025", "Uppstart"),
     ("Byggstart mars 2025", "Byggstart"), ("Klart för start mars 2025", "Klart för start"),
     ("Påbörjas mars 2025", "Påbörjas"), ("Utbildningen startar mars 2025", "Utbildningen startar"),
     ("Utbildning med start mars 2025", "Utbildning"), ("Från mars 2025", None),
     ("Nya rutiner börjar gälla mars 2025", "Nya rutiner börjar gälla"),
     ("Införas mars 2025", "Införas")],
    ids=lambda value: value or "no label",
)  # fmt: skip
def test_a_start_word_makes_the_window_s_first_day_the_due_date(text: str, label: str) -> None:
    assert rows(text) == one("2025-03-01", "2025-03-31", "2025-03-01", label)


@pytest.mark.parametrize(
    ("text", "due"),
    [("senast mars 2025", "2025-03-31"), ("till och med mars 2025", "2025-03-31"),
     ("t.o.m. mars 2025", "2025-03-31"), ("före mars 2025", "2025-02-28"),
     ("innan mars 2025", "2025-02-28"), ("Klart senast mars 2025", "2025-03-31"),
     ("innan den 15 mars 2025", "2025-03-14"), ("senast den 15 mars 2025", "2025-03-15")],
)  # fmt: skip
def test_a_deadline_has_no_start_and_falls_due_at_its_end(text: str, due: str) -> None:
    [(label, start, end, due_read, _)] = rows(text)
    assert (start, end, due_read) == (None, due, due)
    assert label in (None, "Klart")


def test_a_single_day_without_a_deadline_word_is_a_one_day_window() -> None:
    assert rows("2024-09-15") == one("2024-09-15", "2024-09-15")
    assert rows("senast 2024-09-15") == one(None, "2024-09-15")


# --- Where the rules are silent: the decisions, one row each --------------------------------

DECISIONS = [
    # a season is named by the year it begins in
    ("vintern 2024", one("2024-12-01", "2025-02-28")),
    ("vintern 2024/2025", one("2024-12-01", "2025-02-28")),
    # a single year at the end of a range belongs to its last part, as in "vinter/vår 2026"
    ("november–februari 2025", one("2024-11-01", "2025-02-28")),
    ("december/januari 2025", one("2024-12-01", "2025-01-31")),
    ("vinter 2024 till vår", one("2024-12-01", "2025-05-31")),
    # the middle of a year is its two middle quarters; "sent" mirrors "tidigt"
    ("mitten av 2025", one("2025-04-01", "2025-09-30")),
    ("sent 2025", one("2025-10-01", "2025-12-31")),
    ("slutet av året", one("2024-10-01", "2024-12-31")),
    # school year, two-digit years glued to VT/HT, ordinals and the other half-year
    ("läsåret 2024/2025", one("2024-08-15", "2025-06-15")),
    ("HT24", one("2024-08-15", "2024-12-20")),
    ("VT-25", one("2025-01-01", "2025-06-15")),
    ("andra halvåret 2025", one("2025-07-01", "2025-12-31")),
    ("H1 2025", one("2025-01-01", "2025-06-30")),
    ("1:a kvartalet 2025", one("2025-01-01", "2025-03-31")),
    ("sista kvartalet 2025", one("2025-10-01", "2025-12-31")),
    ("Q1–Q2 2025", one("2025-01-01", "2025-06-30")),
    ("tredje tertialet 2025", one("2025-09-01", "2025-12-31")),
    # more ways to write a range or a date
    ("mellan mars och maj 2024", one("2024-03-01", "2024-05-31")),
    ("från mars till maj 2024", one("2024-03-01", "2024-05-31")),
    ("vecka 12–14 2024", one("2024-03-18", "2024-04-07")),
    ("v. 12, 2024", one("2024-03-18", "2024-03-24")),
    ("v12 2024", one("2024-03-18", "2024-03-24")),
    ("12–14 mars 2024", one("2024-03-12", "2024-03-14")),
    ("15/3–20/4 2025", one("2025-03-15", "2025-04-20")),
    ("2024-06", one("2024-06-01", "2024-06-30")),
    ("1:a mars 2025", one("2025-03-01", "2025-03-01")),
    ("år 2025", one("2025-01-01", "2025-12-31")),
    ("under hela 2025", one("2025-01-01", "2025-12-31")),
    # weekdays: a day of a week, or a check on a date
    ("måndag vecka 12 2024", one("2024-03-18", "2024-03-18")),
    ("fredag 15 mars 2024", one("2024-03-15", "2024-03-15")),
    ("15 mars 2024 (v. 11)", one("2024-03-15", "2024-03-15")),
    # "året", "i år", "nästa år" and "årsskiftet" without a year are the plan's
    ("under året", one("2024-01-01", "2024-12-31")),
    ("i år", one("2024-01-01", "2024-12-31")),
    ("nästa år", one("2025-01-01", "2025-12-31")),
    ("vid årsskiftet", one("2024-12-01", "2025-01-31", "2024-12-31")),
    ("utgången av 2025", one("2025-12-31", "2025-12-31")),
    ("före årsskiftet 2024/2025", one(None, "2024-12-31")),
    # "inför" is a "före"; a deadline wins over a start word; approximations are tentative
    ("Utbildning inför sommaren 2025", one(None, "2025-05-31", label="Utbildning")),
    ("Klart för start senast november 2024", one(None, "2024-11-30", label="Klart för start")),
    ("ca mars 2025", one("2025-03-01", "2025-03-31", tentative=True)),
    ("runt årsskiftet 2024/2025", one("2024-12-01", "2025-01-31", "2024-12-31", tentative=True)),
    ("november 2024 (prel.)", one("2024-11-01", "2024-11-30", tentative=True)),
    ("november 2024 preliminärt", one("2024-11-01", "2024-11-30", tentative=True)),
    # labels: as written, first letter capitalised; words around the time stay their own
    ("klart juni 2024", one("2024-06-01", "2024-06-30", label="Klart")),
    ("Klart: juni 2024", one("2024-06-01", "2024-06-30", label="Klart")),
    ("Vår utbildning mars 2024", one("2024-03-01", "2024-03-31", label="Vår utbildning")),
    ("Samverkan kring unga: mars 2024",
     one("2024-03-01", "2024-03-31", label="Samverkan kring unga")),
    ("Utbildning i mars 2024", one("2024-03-01", "2024-03-31", label="Utbildning")),
    ("Beräknas vara klart 2025", one("2025-01-01", "2025-12-31", label="Klart", tentative=True)),
    ("Information till sommarkrögare: juni 2024",
     one("2024-06-01", "2024-06-30", label="Information till sommarkrögare")),
    ("ANDTS-utbildning maj 2024", one("2024-05-01", "2024-05-31", label="ANDTS-utbildning")),
    ("Utbildning och uppföljning maj 2024",
     one("2024-05-01", "2024-05-31", label="Utbildning och uppföljning")),
    # margins in weeks, and on a deadline (which has no start to widen)
    ("15 mars 2024 (± 2 veckor)", one("2024-03-01", "2024-03-29", "2024-03-15", tentative=True)),
    ("senast november 2024 (osäkerhet +/- 3 månader)",
     one(None, "2025-02-28", "2024-11-30", tentative=True)),
]  # fmt: skip


@table(DECISIONS)
def test_each_decision_where_the_rules_are_silent_is_kept(text: str, expected: list[Row]) -> None:
    assert rows(text) == expected


# --- Lists and years ------------------------------------------------------------------------


@pytest.mark.parametrize("separator", [", ", "; ", " samt ", " och ", "\n", "\r\n", ". "])
def test_milestones_are_joined_by_any_separator(separator: str) -> None:
    assert rows(f"mars 2024{separator}maj 2024") == one("2024-03-01", "2024-03-31") + one(
        "2024-05-01", "2024-05-31"
    )


@pytest.mark.parametrize(
    ("text", "count"),
    [("Utbildning och uppföljning maj 2024", 1), ("till och med juni 2024", 1),
     ("mellan mars och maj 2024", 1), ("mars och maj 2024", 2),
     ("Klart juni 2024 och uppföljning december 2024", 2)],
)  # fmt: skip
def test_och_splits_only_between_milestones(text: str, count: int) -> None:
    assert len(rows(text)) == count


def test_a_missing_year_is_carried_from_the_next_milestone_that_has_one() -> None:
    assert rows("Utbildning maj, Diplomeringsklart december 2025") == one(
        "2025-05-01", "2025-05-31", label="Utbildning"
    ) + one("2025-12-01", "2025-12-31", label="Diplomeringsklart")


def test_a_year_is_carried_past_every_milestone_without_one() -> None:
    assert [row[1] for row in rows("mars, 15 maj och september 2025")] == [
        "2025-03-01",
        "2025-05-15",
        "2025-09-01",
    ]


def test_a_year_is_never_carried_to_a_later_milestone() -> None:
    assert [row[1] for row in rows("mars 2025 och maj")] == ["2025-03-01", "2024-05-01"]


def test_without_any_year_the_plan_s_year_is_used() -> None:
    assert rows("juni", 2026) == one("2026-06-01", "2026-06-30")


def test_a_carried_year_gives_a_week_its_year() -> None:
    assert [row[1] for row in rows("vecka 12 och vecka 14 2024")] == ["2024-03-18", "2024-04-01"]


def test_a_carried_year_lets_a_range_cross_the_new_year() -> None:
    assert rows("december–januari, uppföljning mars 2025") == one("2024-12-01", "2025-01-31") + one(
        "2025-03-01", "2025-03-31", label="Uppföljning"
    )


def test_the_year_carried_is_the_one_the_next_milestone_begins_in() -> None:
    assert rows("hösten, vinter/vår 2026") == one("2025-09-01", "2025-11-30") + one(
        "2025-12-01", "2026-05-31"
    )


def test_a_season_pair_spans_both_seasons() -> None:
    assert rows("sommar/höst 2025") == one("2025-06-01", "2025-11-30")
    assert rows("vår/sommar") == one("2024-03-01", "2024-08-31")


@pytest.mark.parametrize(
    "text", ["Klart juni 2024.", "Klart juni 2024!", "  Klart juni 2024 .  ", "\tKlart juni 2024\n"]
)
def test_trailing_punctuation_and_surrounding_whitespace_are_ignored(text: str) -> None:
    assert rows(text) == one("2024-06-01", "2024-06-30", label="Klart")


def test_a_milestone_keeps_the_fragment_it_was_read_from() -> None:
    reading = read_when("Utbildning maj 2024, Diplomeringsklart december 2024.", PLAN_YEAR)
    assert reading.text == "Utbildning maj 2024, Diplomeringsklart december 2024."
    assert [m.text for m in reading.milestones] == [
        "Utbildning maj 2024",
        "Diplomeringsklart december 2024",
    ]


def test_decomposed_letters_read_like_composed_ones() -> None:
    decomposed = "Uppfo\u0308ljning ho\u0308sten 2024"
    assert rows(decomposed) == one("2024-09-01", "2024-11-30", label="Uppföljning")
    assert read_when(decomposed, PLAN_YEAR).text == decomposed


# --- Leap years and daylight saving time ----------------------------------------------------

CALENDAR = [
    ("februari 2024", one("2024-02-01", "2024-02-29")),
    ("februari 2025", one("2025-02-01", "2025-02-28")),
    ("slutet av februari 2024", one("2024-02-21", "2024-02-29")),
    ("29 februari 2024", one("2024-02-29", "2024-02-29")),
    ("vintern 2023", one("2023-12-01", "2024-02-29")),
    ("senast februari 2028", one(None, "2028-02-29")),
    # the DST changes (last Sundays of March and October) are ordinary days
    ("31 mars 2024", one("2024-03-31", "2024-03-31")),
    ("vecka 13 2024", one("2024-03-25", "2024-03-31")),
    ("27 oktober 2024", one("2024-10-27", "2024-10-27")),
    # ISO weeks belong to the ISO year: week 1 of 2025 begins in 2024
    ("vecka 1 2025", one("2024-12-30", "2025-01-05")),
    ("vecka 53 2026", one("2026-12-28", "2027-01-03")),
]


@table(CALENDAR)
def test_windows_follow_the_calendar_leap_years_included(text: str, expected: list[Row]) -> None:
    assert rows(text) == expected


def test_a_margin_in_months_keeps_month_ends_and_clamps_other_days() -> None:
    [(_, start, end, due, tentative)] = rows("31 mars 2025 (osäkerhet +/- 1 månad)")
    assert (start, end, due, tentative) == ("2025-02-28", "2025-04-30", "2025-03-31", True)
    [(_, start, end, _, _)] = rows("november 2023 (osäkerhet +/- 3 månader)")
    assert (start, end) == ("2023-08-01", "2024-02-29")


# --- The forms of real plans (tests/data/when-corpus.jsonl holds where each comes from) -----

FORMS = [
    # "till" after a planning verb is the target, not the end of a range
    ("Planerad till hösten 2025", one("2025-09-01", "2025-11-30", label="Planerad")),
    ("beräknas till slutet av 2026", one("2026-10-01", "2026-12-31", tentative=True)),
    ("fastställs till 30 juni", one("2024-06-30", "2024-06-30", label="Fastställs")),
    ("Tidpunkten ändras till\nsenast den 15 juli 2004",
     one(None, "2004-07-15", label="Tidpunkten ändras")),
    # a time in parentheses after a label; a hedge in parentheses after a time
    ("Remiss (våren 2025)", one("2025-03-01", "2025-05-31", label="Remiss")),
    ("Beslut 2026 (prel.)", one("2026-01-01", "2026-12-31", label="Beslut", tentative=True)),
    ("Samråd (sommar/höst 2025)", one("2025-06-01", "2025-11-30", label="Samråd")),
    # the days meant in a week, and a week written beside days: they must agree
    ("vecka 14 2025 (31 mars–4 april)", one("2025-03-31", "2025-04-04")),
    ("Höstlov: v.44 (2025-10-27 - 2025-11-02)",
     one("2025-10-27", "2025-11-02", label="Höstlov")),
    ("Påsklov v. 15 (20230410-20230414)", one("2023-04-10", "2023-04-14", label="Påsklov")),
    ("Sportlov: 19 - 23 februari (vecka 8)", one("2024-02-19", "2024-02-23", label="Sportlov")),
    ("Lovdagar: 26-30 oktober 2026, vecka 44",
     one("2026-10-26", "2026-10-30", label="Lovdagar")),
    ("16 februari till 20 februari 2026 vecka 8", one("2026-02-16", "2026-02-20")),
    # weekdays, clock times and places around a date are not milestones
    ("tisdag 4 mars 2025 kl. 13.00–15.00 i Almedalsbiblioteket", one("2025-03-04", "2025-03-04")),
    ("Första Spadtag 27/2 2019 14:00", one("2019-02-27", "2019-02-27", label="Första Spadtag")),
    ("Onsdagen 20 augusti 2025 – fredag 19 december 2025", one("2025-08-20", "2025-12-19")),
    # commissions: several deadlines in one sentence, labelled by the report
    ("senast den 1 oktober 2025 delredovisa uppdraget och senast den 31 mars 2026 slutredovisa det",
     one(None, "2025-10-01", label="Delredovisning")
     + one(None, "2026-03-31", label="Slutredovisning")),
    ("Uppdraget ska i stället redovisas senast den 28 februari 2020.",
     one(None, "2020-02-28", label="Redovisning")),
    ("Uppdraget ska redovisas till regeringen (Finansdepartementet) senast den 1 april 2016.",
     one(None, "2016-04-01", label="Redovisning")),
    ("Med ändring av denna tidpunkt skall utredningen avlämna delbetänkandet senast den "
     "30 juni 2001.", one(None, "2001-06-30", label="Delbetänkande")),
    ("uppdraget ska redovisas senast 1 november i år",
     one(None, "2024-11-01", label="Redovisning")),
    # years: a pair with no season named is both years; a comma before a quarter's year
    ("2025/2026", one("2025-01-01", "2026-12-31")),
    ("Byggstart ev 2019/2020", one("2019-01-01", "2020-12-31", "2019-01-01", "Byggstart", True)),
    ("kvartal 3, 2026", one("2026-07-01", "2026-09-30")),
    ("Granskning av detaljplanen beräknas ske kvartal 1 år 2022.",
     one("2022-01-01", "2022-03-31", label="Granskning av detaljplanen ske", tentative=True)),
    ("3–4/2025", one("2025-03-01", "2025-04-30")),
    ("20221031-20221104", one("2022-10-31", "2022-11-04")),
    ("Mellan den 8 september och den 12 oktober 2014", one("2014-09-08", "2014-10-12")),
    # start wording in any form
    ("Verksamheten planeras starta hösten 2025",
     one("2025-09-01", "2025-11-30", "2025-09-01", "Verksamheten planeras starta")),
    ("byggstartas våren 2026", one("2026-03-01", "2026-05-31", "2026-03-01", "Byggstartas")),
    ("med start januari 2025", one("2025-01-01", "2025-01-31", "2025-01-01")),
    ("Höstterminen börjar den 21 augusti och slutar den 18 december.",
     one("2024-08-21", "2024-08-21", label="Höstterminen börjar")
     + one("2024-12-18", "2024-12-18", label="Slutar")),
    # tentative wording anywhere in the clause, for every time "och" joins to it
    ("bedöms kunna antas 2026", one("2026-01-01", "2026-12-31", label="Antas", tentative=True)),
    ("kan komma att starta hösten 2025",
     one("2025-09-01", "2025-11-30", "2025-09-01", "Starta", True)),
    ("Detaljplanen bedöms kunna antas i slutet av år 2022 och vinna laga kraft första kvartalet "
     "2023.", one("2022-10-01", "2022-12-31", label="Detaljplanen antas", tentative=True)
     + one("2023-01-01", "2023-03-31", label="Vinna laga kraft", tentative=True)),
    # labels: the plan's words, ended by a colon, leader dots or a dash, or after the time
    ("Detaljplanen antas: slutet 2026",
     one("2026-10-01", "2026-12-31", label="Detaljplanen antas")),
    ("Sista mars", one("2024-03-31", "2024-03-31")),
    ("Studiedagar: 9 mars, 7 april",
     one("2024-03-09", "2024-03-09", label="Studiedagar")
     + one("2024-04-07", "2024-04-07", label="Studiedagar")),
    ("Vårterminen 2025: 8/1–13/6", one("2025-01-08", "2025-06-13", label="Vårterminen 2025")),
    ("Herrgårdsvägen 18: 28 februari", one("2024-02-28", "2024-02-28", label="Herrgårdsvägen 18")),
    ("Kursstart...........................onsdag 21 aug",
     one("2024-08-21", "2024-08-21", label="Kursstart")),
    ("Avetablering – december 2026", one("2026-12-01", "2026-12-31", label="Avetablering")),
    ("8 januari studiedag", one("2024-01-08", "2024-01-08", label="Studiedag")),
    ("September 2027 Inflyttning etapp 1.",
     one("2027-09-01", "2027-09-30", label="Inflyttning etapp 1")),
    ("Hus 1 står klart 2020-12-15", one("2020-12-15", "2020-12-15", label="Hus 1 står klart")),
    ("Första utkast på FÖP (våren 2025)",
     one("2025-03-01", "2025-05-31", label="Första utkast på FÖP")),
    # holidays by a stated rule; a date beside a holiday must be that holiday
    ("före jul 2025", one(None, "2025-12-23")),
    ("jul 2025", one("2025-12-24", "2025-12-24")),
    ("midsommar 2025", one("2025-06-20", "2025-06-20")),
    ("påsk 2025", one("2025-04-18", "2025-04-21")),
    ("18 april 2025 (Långfredag)", one("2025-04-18", "2025-04-18", label="Långfredag")),
    ("29 mars 2024 Långfredagen", one("2024-03-29", "2024-03-29", label="Långfredagen")),
    ("Helgdag Nationaldagen torsdag 6 juni",
     one("2024-06-06", "2024-06-06", label="Helgdag Nationaldagen")),
    ("Sportlov vecka 9 2025", one("2025-02-24", "2025-03-02", label="Sportlov")),
]  # fmt: skip


@table(FORMS)
def test_each_form_of_real_plans_is_read(text: str, expected: list[Row]) -> None:
    assert rows(text) == expected


def test_a_week_takes_the_plan_s_year_like_a_month() -> None:
    assert rows("vecka 12", 2025) == one("2025-03-17", "2025-03-23")
    assert rows("Höstlov vecka 44", 2025) == one("2025-10-27", "2025-11-02", label="Höstlov")


NEVER_ABSORBED = [
    # words that change what the time means, next to it
    ("nästa vecka", "'nästa' moves the time to an unknown reference"),
    ("Klart kommande höst", "'kommande' moves the time to an unknown reference"),
    ("Hösten 2025 kan rivning av husen starta tidigast.", "'tidigast' makes the time a lower"),
    ("Granskningen är tänkt till nästa årsskifte", "'nästa' moves the time"),
    ("Klart förra året", "'förra' moves the time"),
    # a deadline word before label words, not at the time
    ("Avslutningsdag inför jullov 21 december", "the deadline word stands before 'jullov'"),
    # an unknown word beside the time, with the form that would be read
    ("Klart blorf juni 2024", "end the label with a colon: 'Klart blorf: juni 2024'"),
    # a school break differs between municipalities; a holiday beside the wrong date
    ("sportlovet 2025", "give its week, e.g. 'sportlovet vecka 9 2024'"),
    ("17 april 2025 (Långfredag)", "in 2025 that holiday is 18 April 2025"),
    ("10 maj 2024 Kristi Himmelsfärdsdag", "in 2024 that holiday is 9 May 2024"),
    # a week and the days beside it disagree
    ("vecka 14 2025 (7 april–11 april)", "is not in week 14"),
    ("Påsklov: 30/3 – 7/4 2026 (vecka 14)", "7 April 2026 is in week 15, not week 14"),
    ("Lovdagar: 30 mars till 1 april 2027, vecka 14", "is in week 13, not week 14"),
    # a weekday that is not the date's
    ("tisdag 5 mars 2025 kl. 13.00", "5 March 2025 is a Wednesday, not a Tuesday"),
    # a number right before a date: the house's or the day's?
    ("etapp 4-hus 9 dec 2020", "whether '9' numbers the 'hus' or is a day"),
    # a part of a month after the time is not a label written after it
    ("juni 2024 i slutet", "'i slutet' after 'juni 2024' is not understood"),
    # relative to an unknown event, with a form to write instead
    ("i samband med byggstarten", "give the date, e.g. 'Klart hösten 2024'"),
    ("Löpande", "give a time, e.g. 'Uppföljning december 2024'"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "reason"), NEVER_ABSORBED, ids=[t for t, _ in NEVER_ABSORBED])
def test_what_would_change_a_time_is_refused_naming_the_word(text: str, reason: str) -> None:
    reading = read_when(text, PLAN_YEAR)
    assert not reading.readable, reading.milestones
    assert reason in (reading.reason or "")


# --- What is never guessed ------------------------------------------------------------------

UNREADABLE = [
    # text that names no time, a recurrence, an unknown event
    ("Löpande", "'Löpande' names no time"),
    ("Kontinuerligt", "'Kontinuerligt' names no time"),
    ("Vid behov", "'Vid behov' names no time"),
    ("Årligen", "'Årligen' is a recurrence"),
    ("Varje kvartal 2024", "'Varje kvartal 2024' is a recurrence"),
    ("inom sex månader", "'inom sex månader' is relative to an unknown event"),
    ("Klart inom 3 veckor", "'inom 3 veckor' is relative to an unknown event"),
    ("i samband med slutredovisningen", "'i samband med slutredovisningen' is relative"),
    ("innan start", "'innan start' is relative to an unknown event"),
    ("efter sommaren 2024", "'efter sommaren 2024' is open-ended"),
    ("Klart", "'Klart' names no time"),
    ("", "empty"),
    # placeholders
    ("2019-XX-XX", "'2019-XX-XX' is a placeholder"),
    ("Klart ÅÅÅÅ-MM-DD", "'ÅÅÅÅ-MM-DD' is a placeholder"),
    # a word the reader does not know right beside a time: it might change the time
    ("Samverkan kring unga mars 2024",
     "'unga' stands right beside 'mars 2024' and is not a word this reader knows there"),
    ("Information till sommarkrögare juni 2024", "'Information till sommarkrögare: juni 2024'"),
    # contradictions
    ("måndag 19 mars 2024",
     "'måndag 19 mars 2024' contradicts itself: 19 March 2024 is a Tuesday, not a Monday"),
    ("15 mars 2024 (v. 12)",
     "'15 mars 2024 (v. 12)' contradicts itself: 15 March 2024 is in week 11, not week 12"),
    # dates, weeks and parts that do not exist
    ("31 april 2024", "'31 april 2024' is not a date: April 2024 has 30 days"),
    ("29 februari 2023", "'29 februari 2023' is not a date: February 2023 has 28 days"),
    ("2024-13-01", "'2024-13-01' is not a date: there is no month 13"),
    ("32 mars 2024", "'32 mars' is not a date"),
    ("vecka 53 2025", "'vecka 53 2025' does not exist: 2025 has 52 weeks"),
    ("vecka 54 2026", "'vecka 54' is not a week"),
    ("Q5 2024", "'Q5' does not exist: a year has 4 quarters"),
    # years out of range or ambiguous
    ("mars 0000", "'mars 0000' has the year 0"),
    ("mars 99999", "'99999' is not a year"),
    ("2024/2026", "'2024/2026' is not a pair of consecutive years"),
    ("årsskiftet 2024", "'årsskiftet 2024' does not say which year-end"),
    ("hösten 2024/2025", "'hösten 2024/2025' names two years"),
    ("mars-2025", "'mars-2025' is ambiguous"),
    ("läsåret", "'läsåret' needs both its years"),
    # ranges and pairs that cannot be
    ("maj 2024–mars 2024", "'maj 2024–mars 2024' ends before it starts"),
    ("december–juni", "'december–juni' crosses a new year but names no year"),
    ("vinter/vår", "'vinter/vår' crosses a new year but names no year"),
    ("2024–09–15", "'–09–15' after '2024' is not understood"),
    ("vår/höst 2024", "'vår/höst 2024' joins two times that do not follow each other"),
    ("slutet av sommaren 2024", "'slutet av' is read only of a month or a year"),
    # anything not understood, and texts that stop half-way
    ("Klart juni 2024 (se bilaga)", "'(se bilaga)' after 'juni 2024' is not understood"),
    ("Etapp 9 dec 2020", "whether '9' numbers the 'Etapp' or is a day"),
    ("till sommaren 2024", "'till' has no start before it"),
    ("juni 2024 och", "ends with 'och'"),
    ("måndag", "'måndag' names a weekday but no date"),
    ("mellan mars", "'mellan' needs two times"),
    ("juni 2024 (osäkerhet 3 månader)", "is not an uncertainty margin"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "reason"), UNREADABLE, ids=[text or "empty" for text, _ in UNREADABLE]
)
def test_an_unreadable_text_is_refused_with_a_reason_that_names_it(text: str, reason: str) -> None:
    reading = read_when(text, PLAN_YEAR)
    assert reading == Reading(text=text, reason=reading.reason)
    assert not reading.readable
    assert reason in (reading.reason or "")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("Löpande, klart juni 2024", "Löpande"), ("Klart juni 2024, Löpande", "Löpande"),
     ("Klart juni 2024, Uppföljning", "Uppföljning"), ("mars 2024 och vecka 54", "vecka 54"),
     ("Mars 2024 samt 2019-XX-XX", "2019-XX-XX")],
)  # fmt: skip
def test_one_unreadable_part_makes_the_whole_text_unreadable(text: str, fragment: str) -> None:
    reading = read_when(text, PLAN_YEAR)
    assert reading.milestones == ()
    assert fragment in (reading.reason or "")


def test_a_text_that_needs_the_plan_s_year_refuses_one_out_of_range() -> None:
    assert "plan's year 0" in (read_when("juni", 0).reason or "")
    assert "plan's year 99999" in (read_when("juni", 99_999).reason or "")
    assert rows("juni 2024", 0) == one("2024-06-01", "2024-06-30")


@given(st.integers(min_value=0, max_value=99_999))
def test_a_weird_year_gives_a_reason_not_an_exception(year: int) -> None:
    for text in (f"mars {year}", f"{year}-01-01", f"15/3 {year}", f"vintern {year}",
                 f"årsskiftet {year}/{year + 1}", f"vecka 1 {year}", f"Q1 {year}"):  # fmt: skip
        reading = read_when(text, PLAN_YEAR)
        assert reading.readable == (MIN_YEAR <= year <= MAX_YEAR), (text, reading.reason)


# --- It never raises ------------------------------------------------------------------------


def assert_well_formed(reading: Reading) -> None:
    """Milestones with sane windows, or a reason, never both and never neither."""
    if reading.readable:
        assert reading.milestones
        for m in reading.milestones:
            assert m.end >= m.due
            assert m.start is None or m.start <= m.due
            assert m.text and m.text == m.text.strip()
            assert m.label is None or m.label[:1] == m.label[:1].upper()
    else:
        assert isinstance(reading.reason, str) and reading.reason
        assert reading.milestones == ()


SPECIAL = st.sampled_from(["\x00", "\r", "\n", "\r\n", "\t", "\u2028", "–", "—", "±", "/", "."])


@settings(max_examples=500, deadline=None)
@given(
    st.lists(st.one_of(st.text(max_size=20), SPECIAL), max_size=30).map("".join),
    st.integers(min_value=-(10**9), max_value=10**9),
)
def test_any_text_is_read_or_refused_and_never_raises(text: str, plan_year: int) -> None:
    assert_well_formed(read_when(text, plan_year))


# Words and signs of the grammar, so that generated texts get deep into it.
VOCABULARY = [
    "Klart", "för", "start", "Start", "Utbildning", "senast", "före", "innan", "inför",
    "till", "och", "med", "t.o.m.", "fr.o.m.", "från", "med start", "mellan", "samt", ",", ";",
    ".", "-", "–", "—", "/", ":", "(", ")", "\n", "mars", "jan.", "juni", "Dec", "hösten",
    "vår", "vinter", "sommar", "vårterminen", "HT24", "VT-25", "ht", "Q1", "Q5", "T3", "H2",
    "kvartal", "tertial", "halvåret", "första", "sista", "1:a", "kvartalet", "vecka", "v.",
    "v", "12", "53", "0", "00", "1", "15", "29", "31", "32", "2024", "2025", "1899", "2201",
    "0000", "99999", "2024/2025", "2025/26", "2024-02-29", "2023-02-29", "2024-13-01",
    "2024-06", "15/3", "3/2025", "15.3.2025", "29.2.2023", "prel.", "preliminärt", "ca",
    "(osäkerhet", "+/-", "±", "3", "månader", "veckor", "början", "mitten", "slutet", "av",
    "tidigt", "sent", "årsskiftet", "läsåret", "året", "årets", "utgång", "utgången", "i", "år",
    "nästa", "under", "den", "måndag", "fre", "Löpande", "inom", "sex", "efter", "XX",
]  # fmt: skip


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(VOCABULARY), max_size=12),
    st.sampled_from([" ", ""]),
    st.integers(min_value=-5, max_value=3000),
)
def test_any_phrase_of_known_words_is_read_or_refused_and_never_raises(
    words: list[str], glue: str, plan_year: int
) -> None:
    assert_well_formed(read_when(glue.join(words), plan_year))


HUGE = [
    "mars 2024, " * 10_000,
    "a" * 100_000,
    "1" * 100_000,
    "i " * 50_000,
    "början av " * 10_000,
    "måndag " * 14_000,
    "Klart-" * 16_000 + "juni 2024",
    "(" * 100_000,
    "\x00\r\n" * 33_000,
    "2019-XX-" * 12_000,
    "mars–" * 20_000 + "maj 2024",
    "x" * 99_990 + " mars 2024",
]


@pytest.mark.parametrize("text", HUGE, ids=lambda text: f"{text[:12]!r}… ({len(text)} chars)")
def test_a_huge_text_is_read_or_refused_in_linear_time(text: str) -> None:
    began = time.perf_counter()
    assert_well_formed(read_when(text, PLAN_YEAR))
    # Generous for slow machines; quadratic behaviour on 100k characters takes minutes.
    assert time.perf_counter() - began < 10
