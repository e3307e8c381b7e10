"""The time expressions the grammar reads and the resolver turns into milestones: a unit as
written, a time (one unit, a range or a pair), an uncertainty margin and an item (one milestone
with its label and modifiers). Years may still be missing; resolving fills them in."""

from __future__ import annotations

from dataclasses import dataclass

from notifier.when.vocabulary import Modifier, MonthDay


@dataclass(frozen=True, slots=True)
class Unit:
    """A named time as written, its year possibly still missing."""

    kind: str  # "day", "month", "year", "years", "week", "period", "point", "holiday"
    start: int  # where it stands in the text, for reasons
    end: int
    first: MonthDay = (1, 1)
    last: MonthDay = (12, 0)
    year: int | None = None  # the written year, in which the unit begins
    end_year: int | None = None  # the second of a written pair of years ("2025/2026")
    plan_offset: int | None = None  # "året" (0), "nästa år" (1): relative to the plan's year
    week: int | None = None  # an ISO week, instead of first/last
    weekday: int | None = None  # in a week: that day; with a date: a check
    in_week: int | None = None  # a week number the date must fall in (a check)
    due: MonthDay | None = None  # the due day when it is not the last day (årsskiftet)
    before: MonthDay | None = None  # the last day "före" it, when not the day before it begins
    holiday: str | None = None  # a holiday of vocabulary.HOLIDAYS, whose days vary by year

    @property
    def has_year(self) -> bool:
        return self.year is not None or self.plan_offset is not None


@dataclass(frozen=True, slots=True)
class Time:
    """A time expression: a unit of time or a range or pair of them, and where it stands."""

    left: Unit
    right: Unit | None  # the end of a range or pair
    pair: bool  # "sommar/höst": the right must begin the day after the left ends
    approximate: bool
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Margin:
    """How far a time may move, as its text says: an amount of months, weeks or days."""

    amount: int
    unit: str  # "months", "weeks" or "days"


@dataclass(frozen=True, slots=True)
class Item:
    """One milestone as written: its time, label and the words around it."""

    start: int
    end: int
    label: str | None
    time: Time
    tentative: bool
    deadline: Modifier | None  # BY_END or BEFORE
    starts: bool  # due on the window's first day
    margin: Margin | None
    # The year of a heading the item stands under ("Vårterminen 2025: 8/1–13/6"): it comes
    # before the year carried from the next milestone and the plan's year.
    default_year: int | None = None
    # Checks and narrowing written beside the time:
    within_week: int | None = None  # "(vecka 44)": the window lies in that ISO week
    narrow: Time | None = None  # "vecka 44 (28 okt – 1 nov)": the days meant, in the week
    holiday: str | None = None  # "18 april (Långfredag)": the day is that holiday
