"""Swedish working days: weekends, public holidays and the three eves are days off."""

from __future__ import annotations

from datetime import date

import pytest

from notifier.workdays import (
    holiday_name,
    is_working_day,
    next_working_day,
    previous_working_day,
)

DAYS_OFF = [
    pytest.param(date(2024, 1, 1), id="nyårsdagen"),
    pytest.param(date(2024, 1, 6), id="trettondedag jul (a Saturday in 2024)"),
    pytest.param(date(2025, 1, 6), id="trettondedag jul 2025 (a Monday)"),
    pytest.param(date(2024, 3, 29), id="långfredagen"),
    pytest.param(date(2024, 4, 1), id="annandag påsk"),
    pytest.param(date(2024, 5, 1), id="första maj"),
    pytest.param(date(2024, 5, 9), id="Kristi himmelsfärdsdag"),
    pytest.param(date(2024, 6, 6), id="nationaldagen"),
    pytest.param(date(2024, 6, 21), id="midsommarafton"),
    pytest.param(date(2024, 12, 24), id="julafton"),
    pytest.param(date(2024, 12, 25), id="juldagen"),
    pytest.param(date(2024, 12, 26), id="annandag jul"),
    pytest.param(date(2024, 12, 31), id="nyårsafton"),
    pytest.param(date(2024, 6, 22), id="a Saturday (midsommardagen)"),
    pytest.param(date(2024, 6, 23), id="a Sunday"),
]

WORKING_DAYS = [
    pytest.param(date(2024, 1, 5), id="trettondagsafton (closes at 14, still a working day)"),
    pytest.param(date(2024, 3, 28), id="skärtorsdagen (closes at 14)"),
    pytest.param(date(2024, 4, 30), id="valborgsmässoafton (closes at 14)"),
    pytest.param(date(2024, 5, 10), id="klämdag after Kristi himmelsfärd"),
    pytest.param(date(2024, 6, 20), id="the day before midsommarafton"),
    pytest.param(date(2024, 12, 23), id="the day before julafton"),
    pytest.param(date(2024, 12, 27), id="the Friday after Christmas"),
    pytest.param(date(2024, 6, 3), id="an ordinary Monday"),
]


@pytest.mark.parametrize("day", DAYS_OFF)
def test_weekends_public_holidays_and_the_three_eves_are_not_working_days(day: date) -> None:
    assert not is_working_day(day)


@pytest.mark.parametrize("day", WORKING_DAYS)
def test_half_days_and_bridge_days_are_working_days(day: date) -> None:
    assert is_working_day(day)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        pytest.param(date(2024, 6, 21), date(2024, 6, 20), id="midsommarafton -> Thursday"),
        pytest.param(date(2024, 6, 23), date(2024, 6, 20), id="Sunday after midsommar -> Thu"),
        pytest.param(date(2024, 12, 26), date(2024, 12, 23), id="annandag jul -> 23 Dec"),
        pytest.param(date(2024, 4, 1), date(2024, 3, 28), id="annandag påsk -> skärtorsdagen"),
        pytest.param(date(2025, 1, 1), date(2024, 12, 30), id="nyårsdagen -> 30 Dec"),
        pytest.param(date(2024, 6, 3), date(2024, 6, 3), id="a working day stays"),
    ],
)
def test_previous_working_day_is_on_or_before_the_day(day: date, expected: date) -> None:
    assert previous_working_day(day) == expected


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        pytest.param(date(2024, 12, 24), date(2024, 12, 27), id="julafton -> 27 Dec"),
        pytest.param(date(2024, 6, 21), date(2024, 6, 24), id="midsommarafton -> Monday"),
        pytest.param(date(2024, 6, 3), date(2024, 6, 3), id="a working day stays"),
    ],
)
def test_next_working_day_is_on_or_after_the_day(day: date, expected: date) -> None:
    assert next_working_day(day) == expected


def test_holidays_have_their_swedish_names() -> None:
    assert holiday_name(date(2024, 6, 21)) == "Midsommarafton"
    assert holiday_name(date(2024, 12, 24)) == "Julafton"
    assert holiday_name(date(2024, 6, 3)) is None
