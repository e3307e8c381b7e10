"""Swedish working days: which days a reminder may go out on.

Non-working days are Saturdays, Sundays, the public holidays ("allmänna helgdagar") and the
three eves that Swedish law treats like Sundays: midsommarafton, julafton and nyårsafton
(semesterlagen 1977:480, 7 §). ``holidays`` files those eves under the DE_FACTO category,
so both categories are asked for.

Not treated as non-working: the half days that close "från kl. 14.00" (trettondagsafton,
skärtorsdagen, valborgsmässoafton, …; ``holidays`` category BANK) and "klämdagar" (bridge
days; category OPTIONAL). Offices are staffed on those mornings, and a reminder goes out at
08:00, so moving it a day earlier would only make it less timely.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache

_SATURDAY = 5
# Guards the loops below against a calendar bug turning them endless: Sweden never has more
# than a handful of non-working days in a row.
_MAX_STEPS = 31


@cache
def _holidays(year: int) -> dict[date, str]:
    """The year's non-working holidays with their Swedish names (cached: called per reminder)."""
    # Imported at first use: commands that never ask for a working day start without it.
    import holidays
    from holidays import DE_FACTO, PUBLIC

    calendar = holidays.country_holidays(
        "SE", years=year, categories=(PUBLIC, DE_FACTO), language="sv"
    )
    return dict(calendar.items())


def holiday_name(day: date) -> str | None:
    """The Swedish name of the holiday on ``day`` ("Midsommarafton"), or None."""
    return _holidays(day.year).get(day)


def is_working_day(day: date) -> bool:
    return day.weekday() < _SATURDAY and day not in _holidays(day.year)


def previous_working_day(day: date) -> date:
    """``day`` itself when it is a working day, else the nearest working day before it."""
    return _step(day, -1)


def next_working_day(day: date) -> date:
    """``day`` itself when it is a working day, else the nearest working day after it."""
    return _step(day, 1)


def _step(day: date, direction: int) -> date:
    for _ in range(_MAX_STEPS):
        if is_working_day(day):
            return day
        day += timedelta(days=direction)
    raise ValueError(f"no working day within {_MAX_STEPS} days of {day}")
