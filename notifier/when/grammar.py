"""Tokens → time expressions: a small recursive-descent grammar over the tokens of one text::

    text      = item { separator item }
    separator = "," | ";" | "samt" | "och" | "." | line break
    item      = { label word | modifier } time { trailer }
    time      = [fillers] unit [connector unit] | "mellan" unit "och" unit
    connector = "-" | "–" | "—" | "till" | "till och med"
              | "/"                 (a pair: the second begins the day after the first ends)
    unit      = (month | day | date | ISO week | season | school term | quarter | tertial
                | half-year | part of a month or year | year-end | school year) [year]
              | year
    trailer   = tentative word | "(prel.)" | "(osäkerhet +/- 3 månader)"

Units themselves are read by ``units``. Texts that name no time, a recurrence or an unknown
event are refused here, before any item is read.
"""

from __future__ import annotations

from notifier.when.expressions import Item, Margin, Time, Unit
from notifier.when.refusal import Unreadable, quote
from notifier.when.tokens import Kind, Token
from notifier.when.units import UnitGrammar
from notifier.when.vocabulary import (
    AMOUNT_WORDS,
    APPROXIMATE,
    DURATION_UNITS,
    FILLERS,
    MARGIN_LIMITS,
    MARGIN_UNITS,
    MARGIN_WORDS,
    MODIFIERS,
    NOT_LABEL_BEFORE_A_TIME,
    NUMBER_WORDS,
    RANGE_WORDS,
    RELATIVE_LEADS,
    START_WORDS,
    TENTATIVE,
    UNTIMED,
    Modifier,
)


class Grammar(UnitGrammar):
    """Recursive descent over the tokens. Parsing methods take a token index and return what
    they read with the index after it, or None when the construct is not there (nothing is
    consumed). They raise ``Unreadable`` only when the construct is clearly there but wrong
    ("32 mars", "vecka 54"), so such text is never read as a label instead."""

    # -- untimed texts

    def refuse_untimed(self) -> None:
        """Texts that name no time, a recurrence or an unknown event are refused as a whole,
        even where a date stands beside them ("Löpande från mars 2024")."""
        for i, token in enumerate(self.tokens):
            found = self._match(i, UNTIMED)
            if found is not None:
                kind, end = found
                fragment = self._quote(i, self._item_end(i))
                if token.low == "efter" and self._time(end) is not None:
                    raise Unreadable(
                        f"'{fragment}' is open-ended: it says what it comes after, not when"
                    )
                raise Unreadable(f"'{fragment}' {kind.value}")
            if self._is_duration(i):
                lead = i
                while lead > i - 2 and self._word(lead - 1) in RELATIVE_LEADS:
                    lead -= 1  # "inom ett par månader"
                fragment = self._quote(lead, self._item_end(i))
                raise Unreadable(f"'{fragment}' is relative to an unknown event")

    def _is_duration(self, i: int) -> bool:
        """ "sex månader", "2 veckor": an amount and a unit, not in a margin ("+/- 3 månader")."""
        token = self.tokens[i]
        amount = (token.kind is Kind.NUM and len(token.text) <= 3) or token.low in AMOUNT_WORDS
        if not amount or self._word(i + 1) not in DURATION_UNITS:
            return False
        previous = self._tok(i - 1)
        return previous is None or (
            previous.kind not in (Kind.DASH, Kind.PLUSMINUS) and previous.low not in MARGIN_WORDS
        )

    # -- items

    def items(self) -> list[Item]:
        items: list[Item] = []
        i = self._skip_separators(0)
        while i < len(self.tokens):
            item, i = self._item(i)
            items.append(item)
            # _item stops only at the end, a separator or a line break.
            following = self._skip_separators(i)
            if following == len(self.tokens) and any(
                self.tokens[j].low in ("och", "samt") for j in range(i, following)
            ):
                raise Unreadable(
                    f"'{self._quote(0, following)}' ends with "
                    f"'{self.tokens[following - 1].text}': a time is missing after it"
                )
            i = following
        return items

    def _skip_separators(self, i: int) -> int:
        while (token := self._tok(i)) is not None and _separates(token):
            i += 1
        return i

    def _at_item_end(self, i: int) -> bool:
        token = self._tok(i)
        return token is None or _separates(token) or token.line_break

    def _item(self, begin: int) -> tuple[Item, int]:
        """Label words and modifiers, then the time, then trailers."""
        i = begin
        label: list[tuple[int, int]] = []  # token ranges of the label's words
        modifiers: list[Modifier] = []
        while True:
            token = self._tok(i)
            # A line break in a cell is typed on purpose: it separates, even before a time.
            if (
                token is None
                or token.kind in (Kind.COMMA, Kind.SEMI, Kind.DOT)
                or (token.line_break and i > begin)
            ):
                raise self._no_time(begin, i, modifiers)
            modifier = self._match(i, MODIFIERS)
            if modifier is not None:
                modifiers.append(modifier[0])
                i = modifier[1]
                continue
            bracketed = self._bracketed_tentative(i)
            if bracketed is not None:
                modifiers.append(Modifier.TENTATIVE)
                i = bracketed
                continue
            found = self._time(i)
            if found is not None:
                time, i = found
                break
            if token.kind is Kind.WORD and (
                token.low not in NOT_LABEL_BEFORE_A_TIME or self._time(i + 1) is None
            ):
                end = self._label_word_end(i)
                label.append((i, end))
                i = end
                continue
            if token.kind is Kind.COLON and label:  # "Klart: juni 2024"
                i += 1
                continue
            raise self._not_understood(begin, i)

        tentative = Modifier.TENTATIVE in modifiers or time.approximate
        margin: Margin | None = None
        while not self._at_item_end(i):
            if (found_tentative := self._match(i, TENTATIVE)) is not None:
                tentative, i = True, found_tentative[1]
            elif (bracketed := self._bracketed_tentative(i)) is not None:
                tentative, i = True, bracketed
            elif margin is None and (found_margin := self._margin(i)) is not None:
                margin, i = found_margin
            else:
                raise self._not_understood_after(begin, time, i)

        deadline = next(
            (m for m in reversed(modifiers) if m in (Modifier.BY_END, Modifier.BEFORE)), None
        )
        words = [self.tokens[t].low for a, b in label for t in range(a, b)]
        starts = any(w.endswith("start") or w in START_WORDS for w in words) or (
            # "från mars till maj" is a plain range, not a start.
            Modifier.FROM in modifiers and time.right is None
        )
        text = " ".join(self.text[self.tokens[a].start : self.tokens[b - 1].end] for a, b in label)
        item = Item(
            start=self.tokens[begin].start,
            end=self.tokens[i - 1].end,
            label=text[:1].upper() + text[1:] if text else None,
            time=time,
            tentative=tentative,
            deadline=deadline,
            starts=starts,
            margin=margin,
        )
        return item, i

    def _label_word_end(self, i: int) -> int:
        """A label word with its abbreviation dot and glued parts ("Regionstyrelse-förvaltningen",
        "Utbildning/information"), but never glued to a time ("Februari-mars")."""
        j = self._dot(i + 1)
        while (
            (self._is(j, Kind.DASH, touching=True) or self._is(j, Kind.SLASH, touching=True))
            and self._is(j + 1, Kind.WORD, touching=True)
            and self._time(j + 1) is None
        ):
            j = self._dot(j + 2)
        return j

    def _no_time(self, begin: int, i: int, modifiers: list[Modifier]) -> Unreadable:
        fragment = self._quote(begin, i)
        if Modifier.BEFORE in modifiers:  # "innan start", "före beslut"
            return Unreadable(f"'{fragment}' is relative to an unknown event")
        return Unreadable(f"'{fragment}' names no time")

    def _not_understood(self, begin: int, i: int) -> Unreadable:
        item = self._quote(begin, self._item_end(i))
        token = self.tokens[i]
        if token.low == "till":
            return Unreadable(f"'{item}' cannot be read: 'till' has no start before it")
        if token.kind is Kind.NUM and len(token.text) > 4:
            return Unreadable(
                f"'{item}' cannot be read: '{self._chunk(i)}' is not a year, a day or a week"
            )
        return Unreadable(
            f"'{item}' cannot be read: '{self._chunk(i)}' is not a time this reader understands"
        )

    def _not_understood_after(self, begin: int, time: Time, i: int) -> Unreadable:
        token = self.tokens[i]
        if token.kind is Kind.NUM and len(token.text) > 4:  # "mars 99999"
            return self._not_understood(begin, i)
        item = self._quote(begin, self._item_end(i))
        rest = self._quote(i, self._item_end(i))
        when = quote(self.text, time.start, time.end)
        return Unreadable(f"'{item}' cannot be read: '{rest}' after '{when}' is not understood")

    def _bracketed_tentative(self, i: int) -> int | None:
        """ "(prel.)", "(preliminärt)"."""
        if not self._is(i, Kind.LPAREN):
            return None
        found = self._match(i + 1, TENTATIVE)
        if found is None or not self._is(found[1], Kind.RPAREN):
            return None
        return found[1] + 1

    def _margin(self, i: int) -> tuple[Margin, int] | None:
        """ "(osäkerhet +/- 3 månader)", "± 2 veckor"."""
        j = i
        bracket = self._is(j, Kind.LPAREN)
        j += bracket
        named = self._word(j) in MARGIN_WORDS
        if named:
            j += 1
            j += self._is(j, Kind.COLON)
        if self._is(j, Kind.PLUSMINUS):
            j += 1
        elif self._is(j, Kind.PLUS) and self._is(j + 1, Kind.SLASH) and self._is(j + 2, Kind.DASH):
            j += 3
        elif self._is(j, Kind.PLUS) and self._is(j + 1, Kind.DASH):
            j += 2
        elif named:
            raise self._not_a_margin(i)
        else:
            return None
        amount = self._number(j, (1, 2, 3))
        if amount is None:
            amount = NUMBER_WORDS.get(self._word(j) or "")
        unit = MARGIN_UNITS.get(self._word(j + 1) or "")
        k = self._dot(j + 2)
        if amount is None or unit is None or (bracket and not self._is(k, Kind.RPAREN)):
            raise self._not_a_margin(i)
        if amount > MARGIN_LIMITS[unit]:
            raise Unreadable(f"'{self._quote(i, k + bracket)}' is too wide a margin")
        return Margin(amount, unit), k + bracket

    def _not_a_margin(self, i: int) -> Unreadable:
        return Unreadable(
            f"'{self._quote(i, self._item_end(i))}' is not an uncertainty "
            "margin this reader understands (write '+/- 3 månader')"
        )

    # -- times

    def _time(self, i: int) -> tuple[Time, int] | None:
        """A unit, a range of two or a pair, with the filler words before it."""
        j, approximate = self._fillers(i)
        if self._word(j) == "mellan":
            return self._between(j, approximate)
        found = self._unit(j)
        if found is None:
            return self._day_range(j, approximate)
        left, k = found
        joined = self._joined(left, k)
        if joined is None:
            return Time(left, None, False, approximate, left.start, left.end), k
        right, pair, right_approximate, k = joined
        time = Time(left, right, pair, approximate or right_approximate, left.start, right.end)
        return time, k

    def _fillers(self, i: int) -> tuple[int, bool]:
        approximate = False
        for _ in range(3):  # bounded, so that a long run of "i i i …" stays linear
            word = self._word(i)
            if word in FILLERS:
                i += 1
            elif word in APPROXIMATE:
                approximate = True
                i = self._dot(i + 1)
            else:
                break
        return i, approximate

    def _connector(self, i: int) -> tuple[bool, int] | None:
        """A range ("-", "–", "—", "till", "till och med") or a pair ("/"): (is a pair, next)."""
        if self._is(i, Kind.DASH):
            return False, i + 1
        if self._is(i, Kind.SLASH):
            return True, i + 1
        found = self._match(i, RANGE_WORDS)
        return (False, found[1]) if found is not None else None

    def _joined(self, left: Unit, k: int) -> tuple[Unit, bool, bool, int] | None:
        """The right end of a range or pair after ``left``, if there is one."""
        connector = self._connector(k)
        if connector is None:
            return None
        pair, m = connector
        m, approximate = self._fillers(m)
        found = self._unit(m)
        if found is None and left.kind == "week" and left.weekday is None:
            # "vecka 12–14 2024": the second week by its number alone
            number = self._number(m)
            if number is not None:
                found = self._with_year(self._week(number, m, m + 1), m + 1)
        if found is None:
            return None
        right, end = found
        bare_year = right.kind == "year" and right.plan_offset is None
        if bare_year and (pair or (left.kind != "year" and not left.has_year)):
            # "2024 / 2025", "mars-2025", "HT-2024": a year written where a range was expected;
            # which of the two readings is meant cannot be told.
            fragment = quote(self.text, left.start, right.end)
            year = self.plan_year
            raise Unreadable(
                f"'{fragment}' is ambiguous: give the year beside each time "
                f"(e.g. 'mars {year}', 'mars {year}–mars {year + 1}')"
            )
        return right, pair, approximate, end

    def _between(self, j: int, approximate: bool) -> tuple[Time, int] | None:
        """ "mellan mars och maj 2024": the "och" belongs to the range, it splits nothing."""
        found = self._unit(j + 1)
        if found is None:
            return None
        left, k = found
        right = self._unit(k + 1) if self._word(k) == "och" else None
        if right is None:
            raise Unreadable(
                f"'{self._quote(j, self._item_end(j))}' cannot be read: "
                "'mellan' needs two times joined by 'och'"
            )
        unit, end = right
        return Time(left, unit, False, approximate, left.start, unit.end), end

    def _day_range(self, j: int, approximate: bool) -> tuple[Time, int] | None:
        """ "12–14 mars 2024": the first day takes its month (and year) from the second."""
        day = self._number(j)
        if day is None:
            return None
        connector = self._connector(j + 1)
        if connector is None or connector[0]:
            return None
        found = self._unit(connector[1])
        if found is None or found[0].kind != "day" or found[0].weekday is not None:
            return None
        right, end = found
        month, right_day = right.first
        if not 1 <= day <= right_day:
            raise Unreadable(f"'{self._quote(j, end)}' ends before it starts")
        token = self.tokens[j]
        left = Unit("day", token.start, token.end, (month, day), (month, day))
        return Time(left, right, False, approximate, token.start, right.end), end


def _separates(token: Token) -> bool:
    """Ends an item after its time; before the time, "och" and "samt" may be label words."""
    return token.kind in (Kind.COMMA, Kind.SEMI, Kind.DOT) or (
        token.kind is Kind.WORD and token.low in ("och", "samt")
    )
