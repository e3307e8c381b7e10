"""Time expressions + the plan's year → milestones. Years are filled in from right to left (a
missing year comes from the next milestone that has one, else from the plan's year), ranges and
pairs are checked, and each item becomes a ``Milestone`` with its window, due date, label and
tentative flag."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta

from notifier.model import Milestone
from notifier.when.expressions import Item, Time, Unit
from notifier.when.refusal import Unreadable, quote
from notifier.when.vocabulary import (
    MAX_YEAR,
    MIN_YEAR,
    MONTH_EN,
    WEEKDAY_EN,
    Modifier,
    MonthDay,
    holiday_span,
)


@dataclass(frozen=True, slots=True)
class _Span:
    """A time resolved to dates."""

    first: date
    last: date
    due: date  # the last day, or 31 Dec for a year-end
    before: date  # the last day "före" it


class Resolver:
    """Fills in missing years and turns items into milestones."""

    def __init__(self, text: str, plan_year: int) -> None:
        self.text = text
        self.plan_year = plan_year

    def milestones(self, items: list[Item]) -> tuple[Milestone, ...]:
        # Right to left: a missing year comes from the next milestone that has one.
        carried: int | None = None
        milestones: list[Milestone] = []
        for item in reversed(items):
            # A heading's year ("Vårterminen 2025: 8/1–13/6") is nearer than the next milestone.
            year = item.default_year if item.default_year is not None else carried
            if item.narrow is not None and not item.time.left.has_year:
                # "v.44 (2025-10-27 - 2025-11-02)": the week is the one of the dates' year.
                year = item.narrow.left.year or year
            span = self._checked(item, self._window(item.time, year))
            if item.time.left.year is not None or (
                item.time.right is not None and item.time.right.year is not None
            ):
                # Decision: the year carried is the one the next milestone begins in, so
                # "hösten, vinter/vår 2026" is autumn 2025, right before that winter.
                carried = span.first.year
            milestones.append(self._milestone(item, span))
        return tuple(reversed(milestones))

    def _quote(self, start: int, end: int) -> str:
        return quote(self.text, start, end)

    def _milestone(self, item: Item, span: _Span) -> Milestone:
        start: date | None
        if item.deadline is Modifier.BY_END:
            # Decision: when a start word and a deadline word meet, the deadline wins.
            start, end, due = None, span.due, span.due
        elif item.deadline is Modifier.BEFORE:
            # As the reading rules say, "före sommaren 2024" is due 31 May, the day before summer.
            start, end, due = None, span.before, span.before
        else:
            start, end = span.first, span.last
            due = span.first if item.starts else span.due
        tentative = item.tentative
        if item.margin is not None:
            if start is not None:
                start = _widen(start, -item.margin.amount, item.margin.unit)
            end = _widen(end, item.margin.amount, item.margin.unit)
            tentative = True
        return Milestone(
            label=item.label,
            start=start,
            end=end,
            due=due,
            tentative=tentative,
            text=self.text[item.start : item.end],
        )

    def _year_for(self, unit: Unit, carried: int | None) -> int:
        if unit.year is not None:
            return unit.year
        if unit.plan_offset is not None:
            return self._plan_year(unit, unit.plan_offset)
        if carried is not None:
            return carried
        # A week takes the plan's year like a month does: "vecka 12" in a 2025 plan.
        return self._plan_year(unit, 0)

    def _plan_year(self, unit: Unit, offset: int) -> int:
        year = self.plan_year + offset
        if not MIN_YEAR <= year <= MAX_YEAR:
            raise Unreadable(
                f"'{self._quote(unit.start, unit.end)}' has no year of its own and "
                f"the plan's year {year} is outside {MIN_YEAR}–{MAX_YEAR}"
            )
        return year

    def _window(self, time: Time, carried: int | None) -> _Span:
        left, right = time.left, time.right
        if right is None:
            span = self._span(left, self._year_for(left, carried))
            self._check_year_pair(left, span)
            return span
        if right.end_year is not None and right.year is not None:
            # A pair of years at the end covers the whole range: "höst/vinter 2025/2026" begins
            # in 2025 and ends in 2026.
            first_year, last_year = right.year, right.end_year
            right_year = (
                first_year if self._span(right, first_year).last.year == last_year else last_year
            )
            right_span = self._span(right, right_year)
            left_span = self._span(left, left.year if left.year is not None else first_year)
            if right_span.last.year != last_year or left_span.first.year != first_year:
                raise Unreadable(
                    f"'{self._quote(time.start, time.end)}' does not run from "
                    f"{first_year} into {last_year}"
                )
        elif right.has_year:
            right_span = self._span(right, self._year_for(right, None))
            left_span = (
                self._span(left, self._year_for(left, None))
                if left.has_year
                else self._before(left, right_span, self._year_for(right, None))
            )
        elif left.has_year:
            left_year = self._year_for(left, None)
            left_span = self._span(left, left_year)
            right_span = self._after(right, left_span, left_year)
        else:
            right_year = self._year_for(right, carried)
            right_span = self._span(right, right_year)
            left_span = self._before(left, right_span, right_year)
            if carried is None and left_span.first.year < right_year:
                # "december–juni" in a plan for 2024: Dec 2023 – Jun 2024 or Dec 2024 –
                # Jun 2025? The plan's year cannot tell which side it belongs to.
                raise Unreadable(
                    f"'{self._quote(time.start, time.end)}' crosses a new year but names no "
                    "year: write the year beside each time"
                )
        self._check_year_pair(left, left_span)
        fragment = self._quote(time.start, time.end)
        if time.pair and right_span.first != left_span.last + timedelta(days=1):
            raise Unreadable(
                f"'{fragment}' joins two times that do not follow each other; "
                "write a range with '–' instead"
            )
        if left_span.first > right_span.first or left_span.last > right_span.last:
            raise Unreadable(f"'{fragment}' ends before it starts")
        return _Span(left_span.first, right_span.last, right_span.due, left_span.before)

    def _checked(self, item: Item, span: _Span) -> _Span:
        """The checks and narrowing written beside the time: the week the window lies in, the
        days meant in a week, the holiday a day is."""
        fragment = self._quote(item.start, item.end)
        if item.narrow is not None:
            # The days take the week's year (the year of its Thursday, as ISO weeks do).
            narrow = self._window(item.narrow, (span.first + timedelta(days=3)).year)
            if narrow.first < span.first or narrow.last > span.last:
                raise Unreadable(
                    f"'{fragment}' contradicts itself: {_english(narrow.first)} – "
                    f"{_english(narrow.last)} is not in week {span.first.isocalendar().week}"
                )
            span = narrow
        if item.within_week is not None:
            for day in (span.first, span.last):
                if day.isocalendar().week != item.within_week:
                    raise Unreadable(
                        f"'{fragment}' contradicts itself: {_english(day)} is in week "
                        f"{day.isocalendar().week}, not week {item.within_week}"
                    )
        if item.holiday is not None:
            first, last = holiday_span(item.holiday, span.first.year)
            if (span.first, span.last) != (first, last):
                raise Unreadable(
                    f"'{fragment}' contradicts itself: in {span.first.year} that holiday is "
                    f"{_english(first)}" + ("" if first == last else f" – {_english(last)}")
                )
        return span

    def _check_year_pair(self, unit: Unit, span: _Span) -> None:
        """A unit written with two years ("vintern 2024/2025") must run from the first into the
        second."""
        if unit.end_year is not None and span.last.year != unit.end_year:
            raise Unreadable(
                f"'{self._quote(unit.start, unit.end)}' names two years, but "
                "that time does not run from one into the other"
            )

    def _before(self, left: Unit, right: _Span, year: int) -> _Span:
        """The left end of a range whose year is written only at its right end. The year belongs
        to the last part: "november–februari 2025" and "vinter/vår 2026" begin the year before."""
        span = self._span(left, year)
        return self._span(left, year - 1) if span.first > right.first else span

    def _after(self, right: Unit, left: _Span, year: int) -> _Span:
        """The right end of a range whose year is written only at its left end."""
        span = self._span(right, year)
        return self._span(right, year + 1) if span.first < left.first else span

    def _span(self, unit: Unit, year: int) -> _Span:
        fragment = self._quote(unit.start, unit.end)
        if not MIN_YEAR <= year <= MAX_YEAR:
            raise Unreadable(
                f"'{fragment}' would fall in {year}, outside the years "
                f"{MIN_YEAR}–{MAX_YEAR} that can be read"
            )
        if unit.week is not None:
            return self._week_span(unit, year, fragment)
        if unit.holiday is not None:
            first, last = holiday_span(unit.holiday, year)
            return _Span(first, last, last, first - timedelta(days=1))
        first = _day(year, unit.first, fragment)
        crosses = _order(unit.last) < _order(unit.first)
        last = _day(year + crosses, unit.last, fragment)
        if unit.kind == "years" and unit.end_year is not None:  # "2025/2026": both years
            last = _day(unit.end_year, unit.last, fragment)
        due = _day(year, unit.due, fragment) if unit.due else last
        before = _day(year, unit.before, fragment) if unit.before else first - timedelta(days=1)
        if unit.weekday is not None and first.weekday() != unit.weekday:
            raise Unreadable(
                f"'{fragment}' contradicts itself: {_english(first)} is a "
                f"{WEEKDAY_EN[first.weekday()]}, not a {WEEKDAY_EN[unit.weekday]}"
            )
        if unit.in_week is not None and first.isocalendar().week != unit.in_week:
            raise Unreadable(
                f"'{fragment}' contradicts itself: {_english(first)} is in week "
                f"{first.isocalendar().week}, not week {unit.in_week}"
            )
        return _Span(first, last, due, before)

    def _week_span(self, unit: Unit, year: int, fragment: str) -> _Span:
        assert unit.week is not None
        weeks = date(year, 12, 28).isocalendar().week  # 28 Dec is always in the last week
        if unit.week > weeks:
            raise Unreadable(f"'{fragment}' does not exist: {year} has {weeks} weeks")
        if unit.weekday is not None:
            day = date.fromisocalendar(year, unit.week, unit.weekday + 1)
            return _Span(day, day, day, day - timedelta(days=1))
        monday = date.fromisocalendar(year, unit.week, 1)
        return _Span(
            monday,
            monday + timedelta(days=6),
            monday + timedelta(days=6),
            monday - timedelta(days=1),
        )


def _order(month_day: MonthDay) -> tuple[int, int]:
    """Sort key of a month-and-day, the month's last day (0) after every other."""
    month, day = month_day
    return month, day or 32


def _day(year: int, month_day: MonthDay, fragment: str) -> date:
    month, day = month_day
    days = calendar.monthrange(year, month)[1]
    if day > days:
        raise Unreadable(f"'{fragment}' is not a date: {MONTH_EN[month]} {year} has {days} days")
    return date(year, month, day or days)


def _english(day: date) -> str:
    return f"{day.day} {MONTH_EN[day.month]} {day.year}"


def _widen(day: date, amount: int, unit: str) -> date:
    """Move a window's edge by an uncertainty margin. By months, a month's last day stays a
    last day (30 Jun + 3 months is 30 Sep, 30 Nov + 3 is 28/29 Feb) and other days are clamped
    to the shorter month (31 Mar - 1 month is 28/29 Feb)."""
    if unit == "days":
        return day + timedelta(days=amount)
    if unit == "weeks":
        return day + timedelta(weeks=amount)
    index = day.year * 12 + day.month - 1 + amount
    year, month = divmod(index, 12)
    month += 1
    days = calendar.monthrange(year, month)[1]
    at_end = day.day == calendar.monthrange(day.year, day.month)[1]
    return date(year, month, days if at_end else min(day.day, days))
