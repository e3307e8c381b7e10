"""The grammar of single units: a date, a month, a week, a season, a school term, a numbered
part of a year, a part of a month or year, a year-end, a school year or a year, each with the
year written after it, if any. A range or pair of units is the business of ``grammar``."""

from __future__ import annotations

from dataclasses import replace

from notifier.when.expressions import Unit
from notifier.when.refusal import Unreadable, quote
from notifier.when.tokens import HYPHENS, Kind, Token, TokenCursor
from notifier.when.vocabulary import (
    EARLY_LATE,
    FULL_MONTHS,
    HOLIDAYS,
    MAX_YEAR,
    MIN_YEAR,
    MODIFIERS,
    MONTHS,
    NUMBERED_WORDS,
    ORDINAL_NOUNS,
    ORDINALS,
    PARTS_OF_MONTH,
    PARTS_OF_YEAR,
    SCHOOL_YEAR,
    SEASON_FOLLOWERS,
    SEASONS,
    TERMS,
    WEEK_WORDS,
    WEEKDAYS,
    WHOLE_YEAR,
    YEAR_DIVISIONS,
    Period,
)


class UnitGrammar(TokenCursor):
    """Reads one unit at a token index. Like every parsing method of the grammar, each returns
    what it read with the index after it, or None when the unit is not there."""

    def __init__(self, text: str, tokens: list[Token], plan_year: int) -> None:
        super().__init__(text, tokens)
        self.plan_year = plan_year  # only for examples in reasons: the coordinator's own year

    def _unit(self, i: int, *, plain: bool = False) -> tuple[Unit, int] | None:
        """A unit at i. ``plain`` leaves out the units built on another unit (weekday + date,
        "början av" + month, …), for reading the inner one: "början av början av …" is no time,
        and the nesting stays one level deep."""
        token = self._tok(i)
        if token is None:
            return None
        if token.kind is Kind.NUM:
            found = self._numeric_unit(i)
        elif token.kind is Kind.WORD:
            found = self._word_unit(i, plain=plain)
        else:
            return None
        if found is not None and found[0].kind == "day" and found[0].weekday is None:
            return self._week_check(*found)
        return found

    def _numeric_unit(self, i: int) -> tuple[Unit, int] | None:
        token = self.tokens[i]
        size = len(token.text)
        if size == 4 and self._is(i + 1, Kind.DASH, touching=True) and self._hyphen(i + 1):
            month = self._number(i + 2, touching=True)
            if month is not None:  # 2024-09-15, 2024-09
                day = None
                if self._is(i + 3, Kind.DASH, touching=True) and self._hyphen(i + 3):
                    day = self._number(i + 4, touching=True)
                end = i + 5 if day is not None else i + 3
                return self._date(i, end, int(token.text), month, day), end
        if (
            size <= 2
            and self._is(i + 1, Kind.DOT, touching=True)
            and (month := self._number(i + 2, touching=True)) is not None
            and self._is(i + 3, Kind.DOT, touching=True)
            and (year := self._number(i + 4, (4,), touching=True)) is not None
        ):  # 15.3.2025
            return self._date(i, i + 5, year, month, int(token.text)), i + 5
        if self._is(i + 1, Kind.SLASH, touching=True) and self._is(i + 2, Kind.NUM, touching=True):
            return self._slashed(i)
        if size <= 2:
            return self._day_and_month(i)
        if size == 8:  # "20221031", as school calendars write it
            number = token.text
            unit = self._date(i, i + 1, int(number[:4]), int(number[4:6]), int(number[6:]))
            return unit, i + 1
        if size == 4:  # a year: "2024", "under 2024"
            year = self._check_year(int(token.text), i, i + 1)
            return Unit("year", token.start, token.end, *WHOLE_YEAR, year=year), i + 1
        return None

    def _hyphen(self, i: int) -> bool:
        """An ISO date is written with hyphens; "2024–25" with an en dash is a range."""
        return self.tokens[i].text in HYPHENS

    def _slashed(self, i: int) -> tuple[Unit, int] | None:
        """ "15/3 2025", "15/3/2025", "15/3" (day/month) and "3/2025" (month/year)."""
        first, second = self.tokens[i], self.tokens[i + 2]
        if len(first.text) <= 2 and len(second.text) == 4:
            month = self._check_month(int(first.text), i, i + 3)
            year = self._check_year(int(second.text), i, i + 3)
            return Unit("month", first.start, second.end, (month, 1), (month, 0), year=year), i + 3
        if len(first.text) <= 2 and len(second.text) <= 2:
            if self._is(i + 3, Kind.SLASH, touching=True) and (
                (year := self._number(i + 4, (4,), touching=True)) is not None
            ):
                return self._date(i, i + 5, year, int(second.text), int(first.text)), i + 5
            unit = self._date(i, i + 3, None, int(second.text), int(first.text))
            return self._with_year(unit, i + 3)
        if len(first.text) == 4 and len(second.text) in (2, 4):
            # "2025/2026" with no season named: one window over both years.
            year = self._check_year(int(first.text), i, i + 3)
            end_year = int(second.text) if len(second.text) == 4 else None
            if len(second.text) == 2 and int(second.text) == (year + 1) % 100:
                end_year = year + 1
            if end_year != year + 1:
                raise Unreadable(
                    f"'{self._quote(i, i + 3)}' is not a pair of consecutive years "
                    f"(e.g. '{self.plan_year}/{self.plan_year + 1}')"
                )
            unit = Unit("years", first.start, second.end, *WHOLE_YEAR, year=year, end_year=end_year)
            return unit, i + 3
        return None

    def _day_and_month(self, i: int) -> tuple[Unit, int] | None:
        """ "15 mars [2024]", "1:a mars", "15. mars"; also "1:a kvartalet"."""
        j = i + 1
        if self._is(j, Kind.COLON, touching=True) and self._word(j + 1) in ("a", "e"):
            j += 2
            noun = ORDINAL_NOUNS.get(self._word(j) or "")
            if noun is not None:
                return self._numbered(i, j + 1, noun, int(self.tokens[i].text))
        j = self._dot(j)
        month = MONTHS.get(self._word(j) or "")
        if month is None:
            return None
        end = j + 1 if self._word(j) in FULL_MONTHS else self._dot(j + 1)
        unit = self._date(i, end, None, month, int(self.tokens[i].text))
        return self._with_year(unit, end)

    def _date(self, a: int, b: int, year: int | None, month: int, day: int | None) -> Unit:
        """A day (or with day None a month) from numbers; the month length is checked once the
        year is known."""
        self._check_month(month, a, b)
        if year is not None:
            self._check_year(year, a, b)
        start, end = self.tokens[a].start, self.tokens[b - 1].end
        if day is None:
            return Unit("month", start, end, (month, 1), (month, 0), year=year)
        if not 1 <= day <= 31:
            raise Unreadable(f"'{self._quote(a, b)}' is not a date: there is no day {day}")
        return Unit("day", start, end, (month, day), (month, day), year=year)

    def _check_month(self, month: int, a: int, b: int) -> int:
        if not 1 <= month <= 12:
            raise Unreadable(f"'{self._quote(a, b)}' is not a date: there is no month {month}")
        return month

    def _check_year(self, year: int, a: int, b: int) -> int:
        if not MIN_YEAR <= year <= MAX_YEAR:
            raise _year_outside(self._quote(a, b), year)
        return year

    def _with_year(self, unit: Unit, k: int) -> tuple[Unit, int]:
        """An optional year after a unit: "2024", or a pair "2025/2026" / "2025/26"; also
        "år 2022" ("kvartal 1 år 2022") and "i år" (the plan's year)."""
        if self._word(k) == "i" and self._word(k + 1) == "år" and not self._touching(k + 2):
            return replace(unit, plan_offset=0, end=self.tokens[k + 1].end), k + 2
        if self._word(k) == "år" and self._number(k + 1, (4,)) is not None:
            k += 1
        year = self._number(k, (4,))
        if year is None:
            return unit, k
        if not MIN_YEAR <= year <= MAX_YEAR:
            raise _year_outside(quote(self.text, unit.start, self.tokens[k].end), year)
        if self._is(k + 1, Kind.SLASH, touching=True):
            second = self._tok(k + 2)
            if second is not None and second.kind is Kind.NUM and self._touching(k + 2):
                if len(second.text) == 4:
                    end_year = int(second.text)
                elif len(second.text) == 2:
                    end_year = year + 1 if int(second.text) == (year + 1) % 100 else -1
                else:
                    end_year = -1
                if end_year != year + 1:
                    fragment = quote(self.text, unit.start, second.end)
                    raise Unreadable(f"'{fragment}' is not a pair of consecutive years")
                end = self.tokens[k + 2].end
                return replace(unit, year=year, end_year=end_year, end=end), k + 3
        return replace(unit, year=year, end=self.tokens[k].end), k + 1

    def _week_check(self, unit: Unit, k: int) -> tuple[Unit, int]:
        """ "15 mars 2024 (v. 11)": a week number beside a date must agree with it."""
        j = k + self._is(k, Kind.LPAREN)
        if self._word(j) not in ("vecka", "v"):
            return unit, k
        number = self._number(self._dot(j + 1))
        if number is None:
            return unit, k
        end = self._dot(j + 1) + 1
        if j > k:
            if not self._is(end, Kind.RPAREN):
                return unit, k
            end += 1
        self._check_week(number, k, end)
        return replace(unit, in_week=number, end=self.tokens[end - 1].end), end

    def _check_week(self, number: int, a: int, b: int) -> int:
        if not 1 <= number <= 53:
            raise Unreadable(f"'{self._quote(a, b)}' is not a week: weeks run from 1 to 53")
        return number

    def _week(self, number: int, a: int, b: int) -> Unit:
        self._check_week(number, a, b)
        return Unit("week", self.tokens[a].start, self.tokens[b - 1].end, week=number)

    def _word_unit(self, i: int, *, plain: bool) -> tuple[Unit, int] | None:
        word = self.tokens[i].low
        token = self.tokens[i]
        holiday = self._holiday_unit(i)
        if holiday is not None:
            return holiday
        if word == "sista" and self._word(i + 1) in MONTHS:  # "Sista mars": its last day
            found = self._word_unit(i + 1, plain=True)
            if found is not None and found[0].kind == "month":
                month, end = found[0], found[1]
                last = (month.first[0], 0)
                return replace(month, kind="point", start=token.start, first=last), end
        if word in MONTHS:
            month = MONTHS[word]
            end = i + 1 if word in FULL_MONTHS else self._dot(i + 1)
            unit = Unit("month", token.start, self.tokens[end - 1].end, (month, 1), (month, 0))
            return self._with_year(unit, end)
        if word in SEASONS:
            period = SEASONS[word]
            following = self._word(i + 1)
            if (
                word == "vår"
                and following is not None
                and following not in SEASON_FOLLOWERS
                and self._match(i + 1, MODIFIERS) is None
            ):
                return None  # "vår" is also "our": "Vår utbildning mars 2024"
            return self._with_year(Unit("period", token.start, token.end, *period), i + 1)
        if word in TERMS:
            return self._term(i, TERMS[word])
        if word in NUMBERED_WORDS:
            return self._numbered_word(i)
        if word in ORDINALS and (noun := ORDINAL_NOUNS.get(self._word(i + 1) or "")):
            return self._numbered(i, i + 2, noun, ORDINALS[word])
        if word in WEEK_WORDS:
            j = self._dot(i + 1)
            number = self._number(j)
            if number is None:
                return None
            if (
                self._is(j + 1, Kind.COMMA)
                and (year := self._number(j + 2, (4,))) is not None
                and not self._touching(j + 3)
            ):  # "v. 12, 2024": the comma does not split a week from its year
                self._check_year(year, i, j + 3)
                unit = self._week(number, i, j + 1)
                return replace(unit, year=year, end=self.tokens[j + 2].end), j + 3
            return self._with_year(self._week(number, i, j + 1), j + 1)
        if plain:
            return self._year_word(i, plain=True)
        if word in WEEKDAYS:
            return self._weekday(i)
        if word in PARTS_OF_MONTH and self._word(i + 1) in ("av", "på"):
            return self._part(i)
        if word in PARTS_OF_MONTH and self._number(i + 1, (4,)) is not None:
            return self._part(i, of=1)  # "slutet 2026", as tables write it
        if word in EARLY_LATE:
            return self._early_late(i)
        if word in ("årsskiftet", "årsskifte"):
            return self._year_end(i)
        if word in ("läsåret", "läsår"):
            return self._school_year(i)
        return self._year_word(i, plain=False)

    def _holiday_unit(self, i: int) -> tuple[Unit, int] | None:
        """ "jul 2025", "midsommar", "före påsk 2026": a holiday by its rule. "jul" alone is
        Christmas; July is "juli" or "jul.". A holiday right before a date names that date
        ("Nationaldagen torsdag 6 juni"): then it is a label, not the time."""
        found = self._match(i, HOLIDAYS)
        if found is None or (self.tokens[i].low == "jul" and self._is(i + 1, Kind.DOT)):
            return None
        key, end = found
        following = self._unit(end, plain=True) if self._tok(end) is not None else None
        if following is not None and following[0].kind in ("day", "week"):
            return None
        if self._word(end) in WEEKDAYS:
            return None
        token = self.tokens[i]
        unit = Unit("holiday", token.start, self.tokens[end - 1].end, holiday=key)
        return self._with_year(unit, end)

    def _term(self, i: int, period: Period) -> tuple[Unit, int]:
        """ "vårterminen 2025", "VT 2025", and the usual "HT24" / "VT-25" with a two-digit year
        (decision: read as 20xx; two-digit years are accepted only glued to VT/HT)."""
        token = self.tokens[i]
        j = i + 1
        if self._is(j, Kind.DASH, touching=True) and self._number(j + 1, (2,), touching=True):
            j += 1
        short = self._number(j, (2,), touching=True)
        if short is None and self._is(j + 1, Kind.COLON):  # a heading: "VT 25: 7/1, 22/4"
            short = self._number(j, (2,))
        if short is not None:
            unit = Unit("period", token.start, self.tokens[j].end, *period, year=2000 + short)
            return unit, j + 1
        return self._with_year(Unit("period", token.start, token.end, *period), i + 1)

    def _numbered_word(self, i: int) -> tuple[Unit, int] | None:
        """ "Q1", "kvartal 1", "kv. 1", "T2", "tertial 2", "H1", "halvår 1"."""
        noun, glued = NUMBERED_WORDS[self.tokens[i].low]
        j = self._dot(i + 1)
        number = self._number(j, (1, 2), touching=glued)
        if number is None:
            return None
        if (
            self._is(j + 1, Kind.COMMA)
            and (year := self._number(j + 2, (4,))) is not None
            and not self._touching(j + 3)
        ):  # "kvartal 3, 2026": the comma does not split a quarter from its year
            unit, _ = self._numbered(i, j + 1, noun, number)
            self._check_year(year, i, j + 3)
            return replace(unit, year=year, end=self.tokens[j + 2].end), j + 3
        return self._numbered(i, j + 1, noun, number)

    def _numbered(self, a: int, b: int, noun: str, number: int) -> tuple[Unit, int]:
        count, period_of, name = YEAR_DIVISIONS[noun]
        if number == -1:  # "sista kvartalet"
            number = count
        if not 1 <= number <= count:
            raise Unreadable(f"'{self._quote(a, b)}' does not exist: a year has {count} {name}")
        unit = Unit("period", self.tokens[a].start, self.tokens[b - 1].end, *period_of(number))
        return self._with_year(unit, b)

    def _weekday(self, i: int) -> tuple[Unit, int]:
        """ "måndag 18 mars 2024" (checked) or "måndag vecka 12 2024" (that day of the week)."""
        weekday = WEEKDAYS[self.tokens[i].low]
        j = self._dot(i + 1)
        j += self._word(j) == "den"
        found = self._unit(j, plain=True)
        if found is None or found[0].kind not in ("day", "week") or found[0].weekday is not None:
            raise Unreadable(f"'{self._quote(i, j + 1)}' names a weekday but no date or week")
        unit, end = found
        return replace(unit, weekday=weekday, start=self.tokens[i].start), end

    def _part(self, i: int, of: int = 2) -> tuple[Unit, int] | None:
        """ "början av mars", "slutet av 2025", "mitten av året"; "slutet 2026"."""
        part = self.tokens[i].low
        found = self._unit(i + of, plain=True)
        if found is None:
            return None  # "Början av projektet" is words, not a time
        whole, end = found
        start = self.tokens[i].start
        if whole.kind == "month":
            month = whole.first[0]
            first_day, last_day = PARTS_OF_MONTH[part]
            return replace(
                whole, kind="period", start=start, first=(month, first_day), last=(month, last_day)
            ), end
        if whole.kind == "year":
            first, last = PARTS_OF_YEAR[part]
            return replace(whole, kind="period", start=start, first=first, last=last), end
        raise Unreadable(
            f"'{self._quote(i, end)}' cannot be read: '{self.tokens[i].text} "
            f"{self.tokens[i + 1].text}' is read only of a month or a year"
        )

    def _early_late(self, i: int) -> tuple[Unit, int] | None:
        """ "tidigt 2025" (Q1), "sent 2025" (Q4)."""
        found = self._unit(i + 1, plain=True)
        if found is None or found[0].kind != "year":
            return None
        whole, end = found
        first, last = EARLY_LATE[self.tokens[i].low]
        return replace(
            whole, kind="period", start=self.tokens[i].start, first=first, last=last
        ), end

    def _year_end(self, i: int) -> tuple[Unit, int]:
        """ "årsskiftet 2024/2025": 1 Dec – 31 Jan, due 31 Dec. Without a year it is the end of
        the plan's (or carried) year; with a single year it is ambiguous and refused."""
        token = self.tokens[i]
        unit = Unit(
            "period", token.start, token.end, (12, 1), (1, 0), due=(12, 31), before=(12, 31)
        )
        unit, end = self._with_year(unit, i + 1)
        if unit.year is not None and unit.end_year is None:
            raise Unreadable(
                f"'{self._quote(i, end)}' does not say which year-end: write "
                f"'{token.text} {unit.year}/{unit.year + 1}' or "
                f"'{token.text} {unit.year - 1}/{unit.year}'"
            )
        return unit, end

    def _school_year(self, i: int) -> tuple[Unit, int]:
        token = self.tokens[i]
        unit, end = self._with_year(Unit("period", token.start, token.end, *SCHOOL_YEAR), i + 1)
        if unit.end_year is None:
            raise Unreadable(
                f"'{self._quote(i, end)}' needs both its years, "
                f"e.g. '{token.text} {self.plan_year}/{self.plan_year + 1}'"
            )
        return unit, end

    def _year_word(self, i: int, *, plain: bool) -> tuple[Unit, int] | None:
        """ "år 2024", "året", "i år", "nästa år", "årets utgång", "utgången av 2024"."""
        word = self.tokens[i].low
        start = self.tokens[i].start
        following = self._word(i + 1)
        if word == "år":
            year = self._number(i + 1, (4,))
            if year is not None:
                self._check_year(year, i, i + 2)
                return Unit("year", start, self.tokens[i + 1].end, *WHOLE_YEAR, year=year), i + 2
            if self._word(i - 1) == "i":  # "i år": the plan's year
                return Unit("year", start, self.tokens[i].end, *WHOLE_YEAR, plan_offset=0), i + 1
            return None
        if word == "nästa" and following == "år":
            return Unit("year", start, self.tokens[i + 1].end, *WHOLE_YEAR, plan_offset=1), i + 2
        if word == "året":
            return Unit("year", start, self.tokens[i].end, *WHOLE_YEAR, plan_offset=0), i + 1
        # The end of a year is its last day; "innan årets utgång" is therefore 31 Dec too.
        if word == "årets" and following in ("utgång", "slut"):
            return Unit(
                "point",
                start,
                self.tokens[i + 1].end,
                (12, 31),
                (12, 31),
                plan_offset=0,
                before=(12, 31),
            ), i + 2
        if word == "utgången" and following == "av" and not plain:
            found = self._unit(i + 2, plain=True)
            if found is None or found[0].kind != "year":
                return None
            whole, end = found
            return replace(
                whole, kind="point", start=start, first=(12, 31), last=(12, 31), before=(12, 31)
            ), end
        return None


def _year_outside(fragment: str, year: int) -> Unreadable:
    return Unreadable(
        f"'{fragment}' has the year {year}, outside the years "
        f"{MIN_YEAR}–{MAX_YEAR} that can be read"
    )
