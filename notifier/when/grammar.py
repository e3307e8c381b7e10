"""Tokens → time expressions: a small recursive-descent grammar over the tokens of one text::

    text      = item { separator item }
    separator = "," | ";" | "samt" | "och" | "." | line break (not within a wrapped sentence)
    item      = [heading] { label word | modifier } (time | "(" time ")") { remark }
              | time label-after
    heading   = any words, a year too, ended by ":" | leader dots | " – " before a time
    time      = [fillers] unit [connector unit] | "mellan" unit "och" unit
    connector = "-" | "–" | "—" | "till" | "till och med"
              | "/"                 (a pair: the second begins the day after the first ends)
    unit      = (month | day | date | ISO week | season | school term | quarter | tertial
                | half-year | part of a month or year | year-end | school year | holiday)
                [year | "år" year | "i år"]
              | year | year "/" year
    remark    = tentative word | "(prel.)" | "(osäkerhet +/- 3 månader)" | "(vecka 44)"
              | "(28 okt – 1 nov)" after a week | "(Långfredag)" | clock time   (``remarks``)

The label word nearest the time must be one the reader knows (vocabulary.known_word); a word
that changes what a time means (vocabulary.TIME_CHANGERS) is never a label. Units themselves
are read by ``units``, what follows a time by ``remarks``. Texts that name no time, a recurrence
or an unknown event are refused here, before any item is read.
"""

from __future__ import annotations

from dataclasses import dataclass

from notifier.when.expressions import Item, Time, Unit
from notifier.when.refusal import Unreadable, quote
from notifier.when.remarks import RemarkGrammar
from notifier.when.tokens import Kind, Token
from notifier.when.vocabulary import (
    AMOUNT_WORDS,
    APPROXIMATE,
    DURATION_UNITS,
    FILLERS,
    MARGIN_WORDS,
    MODIFIERS,
    NOT_LABEL_BEFORE_A_TIME,
    NUMBERED_NOUNS,
    RANGE_WORDS,
    RELATIVE_LEADS,
    REPORTS,
    SCHOOL_BREAKS,
    START_ENDINGS,
    START_WORDS,
    TARGET_VERBS,
    TIME_CHANGERS,
    UNTIMED,
    Modifier,
    Untimed,
    known_word,
)


@dataclass
class _Context:
    """What one item passes on to the next: the heading's label and year, and a hedge."""

    label: str | None = None
    year: int | None = None
    hedged: bool = False  # the last item was hedged by a word before its time
    tentative: bool = False  # … and this one is joined to it by "och" or "samt"


class Grammar(RemarkGrammar):
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
                        f"'{fragment}' is open-ended: it says what it comes after, not when; "
                        + self._suggest()
                    )
                raise Unreadable(f"'{fragment}' {kind.value}; " + self._suggest(kind))
            if self._is_duration(i):
                lead = i
                while lead > i - 2 and self._word(lead - 1) in RELATIVE_LEADS:
                    lead -= 1  # "inom ett par månader"
                fragment = self._quote(lead, self._item_end(i))
                raise Unreadable(
                    f"'{fragment}' is relative to an unknown event; " + self._suggest()
                )

    def _suggest(self, kind: Untimed = Untimed.RELATIVE) -> str:
        """A form the reader would read instead, in the plan's own year."""
        year = self.plan_year
        if kind is Untimed.RECURRENCE:
            return f"give each time, e.g. 'mars {year} och september {year}'"
        if kind is Untimed.NO_TIME:
            return (
                f"give a time, e.g. 'Uppföljning december {year}', or the milestones "
                "explicitly in the plan"
            )
        return f"give the date, e.g. 'Klart hösten {year}'"

    def _is_duration(self, i: int) -> bool:
        """ "sex månader", "2 veckor": an amount and a unit, not in a margin ("+/- 3 månader")."""
        token = self.tokens[i]
        amount = (token.kind is Kind.NUM and len(token.text) <= 3) or token.low in AMOUNT_WORDS
        if not amount or self._word(i + 1) not in DURATION_UNITS:
            return False
        if self._word(i + 1) == "år" and self._number(i + 2, (4,)) is not None:
            return False  # "kvartal 1 år 2022": a year, not a duration
        previous = self._tok(i - 1)
        return previous is None or (
            previous.kind not in (Kind.DASH, Kind.PLUSMINUS) and previous.low not in MARGIN_WORDS
        )

    # -- items

    def items(self) -> list[Item]:
        items: list[Item] = []
        context = _Context()
        i = self._skip_separators(0)
        while i < len(self.tokens):
            item, i = self._item(i, context)
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
            # A hedge before the first time of a clause holds for the times joined to it by
            # "och" or "samt": "bedöms kunna antas i slutet av 2022 och vinna laga kraft …".
            context.tentative = (
                context.hedged
                and following > i
                and all(self.tokens[j].low in ("och", "samt") for j in range(i, following))
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

    def _item(self, begin: int, context: _Context) -> tuple[Item, int]:
        """A heading or label words and modifiers, then the time, then remarks."""
        i = begin
        label: list[tuple[int, int]] = []  # token ranges of the label's words
        modifiers: list[Modifier] = []
        explicit: str | None = None  # a label the writer ended with ":" or leader dots
        heading = self._heading(begin)
        if heading is not None:
            explicit, context.year, heading_modifiers, i = heading
            modifiers.extend(heading_modifiers)
            context.label = explicit
        deadline_at: int | None = None  # where the last deadline word ended
        while True:
            token = self._tok(i)
            # A line break in a cell is typed on purpose: it separates, even before a time;
            # only a sentence wrapped onto the next line ("ska\nredovisas senast …") goes on.
            if (
                token is None
                or token.kind in (Kind.COMMA, Kind.SEMI, Kind.DOT)
                or (token.line_break and i > begin and not self._wrapped(i))
            ):
                raise self._no_time(begin, i, modifiers)
            modifier = self._match(i, MODIFIERS)
            if modifier is not None:
                modifiers.append(modifier[0])
                i = modifier[1]
                if modifier[0] in (Modifier.BY_END, Modifier.BEFORE):
                    deadline_at = i
                continue
            bracketed = self._bracketed_tentative(i)
            if bracketed is not None:
                modifiers.append(Modifier.TENTATIVE)
                i = bracketed
                continue
            found = self._time(i) or self._bracketed_time(i, bool(label or explicit))
            if found is not None:
                time, i = found
                break
            if token.kind is Kind.WORD and token.low in TIME_CHANGERS:
                raise self._changed(begin, i)
            if token.low == "till" and self._word(i - 1) in TARGET_VERBS:
                i += 1  # "planeras till hösten 2025": the target, not the end of a range
                continue
            if token.kind is Kind.WORD and (
                token.low not in NOT_LABEL_BEFORE_A_TIME or self._time(i + 1) is None
            ):
                end = self._label_word_end(i)
                label.append((i, end))
                i = end
                continue
            numbered = self._numbered_label(i, label)
            if numbered is not None:
                label.append((i, numbered))
                i = numbered
                continue
            if (
                token.kind is Kind.DASH
                and label
                and self._word(i + 1) is not None
                and self._time(i + 1) is None
            ):  # "etapp 1 – hus 7 färdigställt maj 2020"
                label.append((i, i + 1))
                i += 1
                continue
            aside = self._aside(i, label)
            if aside is not None:  # "till regeringen (Finansdepartementet) senast …"
                label.append((i, aside))
                i = aside
                continue
            if token.kind is Kind.COLON and label:  # "Klart: juni 2024"
                i += 1
                continue
            raise self._not_understood(begin, i)

        if label:
            self._check_beside_time(begin, label, time, deadline_at)
        remarks = self._remarks(begin, time, i, has_label=bool(label or explicit))
        if remarks.time is not None and remarks.subject is not None:
            label = [(begin, remarks.subject)]  # "Höstterminen börjar den 21 augusti"
            time = remarks.time
        i = remarks.end
        hedged = Modifier.TENTATIVE in modifiers
        tentative = hedged or time.approximate or remarks.tentative or context.tentative
        context.hedged = hedged or context.tentative
        deadline = next(
            (m for m in reversed(modifiers) if m in (Modifier.BY_END, Modifier.BEFORE)), None
        )
        words = [self.tokens[t].low for a, b in label for t in range(a, b)]
        if remarks.label is not None:
            words += [self.tokens[t].low for t in range(*remarks.label)]
        starts = any(w.endswith(START_ENDINGS) or w in START_WORDS for w in words) or (
            # "från mars till maj" is a plain range, not a start.
            Modifier.FROM in modifiers and time.right is None
        )
        text = self._label_text(label, remarks.label, explicit, context)
        if label or remarks.label is not None:
            context.label = explicit
        item = Item(
            start=self.tokens[begin].start,
            end=self.tokens[i - 1].end,
            label=text,
            time=time,
            tentative=tentative,
            deadline=deadline,
            starts=starts,
            margin=remarks.margin,
            default_year=context.year,
            within_week=remarks.within_week,
            narrow=remarks.narrow,
            holiday=remarks.holiday,
        )
        return item, i

    def _label_text(
        self,
        label: list[tuple[int, int]],
        after: tuple[int, int] | None,
        explicit: str | None,
        context: _Context,
    ) -> str | None:
        """The label as written, its first letter capitalised; a sentence about a report is
        labelled by the report; an item under a heading without words of its own takes the
        heading's label."""
        ranges = [*label, after] if after is not None else label
        words = [self.tokens[t].low for a, b in ranges for t in range(a, b)]
        reports = [REPORTS[w] for w in words if w in REPORTS]
        if explicit is None and reports:
            return max(reports)[1]
        if ranges:
            text = " ".join(
                self.text[self.tokens[a].start : self.tokens[b - 1].end] for a, b in ranges
            )
        else:
            text = explicit or context.label or ""
        return text[:1].upper() + text[1:] if text else None

    # -- what stands before the time

    def _heading(self, begin: int) -> tuple[str | None, int | None, list[Modifier], int] | None:
        """A label the writer ended on purpose, before the first time of the item: with a
        colon ("Studiedagar: 9 mars, 7 april"), leader dots ("Kursstart.........onsdag 21
        aug") or a spaced dash before a time ("Avetablering – december 2026"). Any words may
        stand in it, a year too ("Vårterminen 2025: 8/1–13/6", whose year the times under it
        take). Returns the label (None when it is only a hedge), the heading's year, its
        modifiers and the index after the separator."""
        end = self._item_end(begin) if self._tok(begin) is not None else begin
        for h in range(begin + 1, end):
            token = self.tokens[h]
            if token.kind is Kind.COLON:
                if self._is(h + 1, Kind.NUM, touching=True) and self._is(h - 1, Kind.NUM):
                    return None  # a clock time, "14:00"
                if self._word(h + 1) in ("a", "e") and self._touching(h + 1):
                    return None  # an ordinal, "1:a"
                after = h + 1
            elif token.kind is Kind.DOT and self._is(h + 1, Kind.DOT, touching=True):
                after = h + 1
                while self._is(after, Kind.DOT):
                    after += 1
            elif (
                token.kind is Kind.DASH
                and not self._touching(h)
                and not self._touching(h + 1)
                and all(self._time(k) is None for k in range(begin, h))
                and self._time(h + 1) is not None
            ):
                after = h + 1
            else:
                continue
            if after >= len(self.tokens) or self._at_item_end(after):
                return None  # nothing after it: "vecka 1 2022:" ends a heading line
            return self._heading_parts(begin, h, after)
        return None

    def _heading_parts(
        self, begin: int, h: int, after: int
    ) -> tuple[str | None, int | None, list[Modifier], int]:
        # Modifiers in a heading hold for its time: "Preliminärt: juni 2024", "Klart senast:
        # juni 2024"; the label is the heading's other words.
        modifiers: list[Modifier] = []
        words: list[str] = []
        j = begin
        while j < h:
            found = self._match(j, MODIFIERS)
            if found is not None and found[1] <= h:
                modifiers.append(found[0])
                j = found[1]
            else:
                words.append(self._quote(j, j + 1))
                j += 1
        if not words:
            return None, None, modifiers, after
        year: int | None = None
        heading_time = self._time(begin)
        if heading_time is not None and heading_time[1] == h:
            time = heading_time[0]
            year = (
                time.left.year
                if time.left.year is not None
                else (time.right.year if time.right is not None else None)
            )
        text = self._quote(begin, h) if not modifiers else " ".join(words)
        return text, year, modifiers, after

    def _wrapped(self, i: int) -> bool:
        """A line break inside a sentence: the next line goes on in lower case."""
        token = self.tokens[i]
        return token.kind is Kind.WORD and token.text[:1].islower()

    def _bracketed_time(self, i: int, labelled: bool) -> tuple[Time, int] | None:
        """ "Remiss (våren 2025)": a time in parentheses after a label is the item's time."""
        if not labelled or not self._is(i, Kind.LPAREN):
            return None
        found = self._time(i + 1)
        if found is None or not self._is(found[1], Kind.RPAREN):
            return None
        time, end = found
        return time, end + 1

    def _changed(self, begin: int, i: int) -> Unreadable:
        token = self.tokens[i]
        item = self._quote(begin, self._item_end(i))
        return Unreadable(
            f"'{item}' cannot be read: '{token.text}' {TIME_CHANGERS[token.low]}; "
            f"give the time itself, e.g. 'Klart hösten {self.plan_year}'"
        )

    def _numbered_label(self, i: int, label: list[tuple[int, int]]) -> int | None:
        """The number of a numbered noun in a label ("Etapp 2 klart", "Hus 1 står klart"),
        with a hyphen and a word glued to it ("etapp 4-hus 9 …"); the index after it."""
        if not label or self.tokens[label[-1][1] - 1].low not in NUMBERED_NOUNS:
            return None
        if self._number(i, (1, 2)) is None:
            return None
        j = i + 1
        while self._is(j, Kind.DASH, touching=True) and self._is(j + 1, Kind.WORD, touching=True):
            j += 2
        return j

    def _check_beside_time(
        self, begin: int, label: list[tuple[int, int]], time: Time, deadline_at: int | None
    ) -> None:
        """The label word nearest the time must be one the reader knows, and a deadline word
        must stand at the time, not before label words ("inför jullov 21 december")."""
        words = [
            t
            for a, b in label
            for t in range(a, b)
            if self.tokens[t].kind is Kind.WORD and not self._in_parentheses(t)
        ]
        item = self._quote(begin, self._item_end(begin))
        when = quote(self.text, time.start, time.end)
        if deadline_at is not None and label[-1][0] >= deadline_at:
            word = self.tokens[label[-1][0]].text
            raise Unreadable(
                f"'{item}' cannot be read: the deadline word stands before '{word}', not "
                f"before '{when}'; write the deadline at the time, e.g. 'senast {when}'"
            )
        last = self.tokens[label[-1][1] - 1]
        first = next(token for token in self.tokens if token.start == time.start)
        if last.low in NUMBERED_NOUNS and first.kind is Kind.NUM and len(first.text) <= 2:
            raise Unreadable(
                f"'{item}' cannot be read: whether '{first.text}' numbers the "
                f"'{last.text}' or is a day of '{when}' cannot be told; end the label with "
                f"a colon, e.g. '{self._quote(begin, label[-1][1])} {first.text}: …'"
            )
        if not words:
            return
        nearest = self.tokens[words[-1]]
        if nearest.low in SCHOOL_BREAKS and time.left.kind in ("year", "years"):
            raise Unreadable(
                f"'{item}' cannot be read: '{nearest.text}' falls in different weeks in "
                f"different municipalities and years; give its week, e.g. "
                f"'{nearest.text} vecka 9 {self.plan_year}'"
            )
        # An abbreviation in capitals ("FÖP", "KS") names a thing, never a change of time.
        acronym = len(nearest.text) > 1 and nearest.text.isupper()
        if not known_word(nearest.low) and not acronym:
            text = self._quote(begin, label[-1][1])
            raise Unreadable(
                f"'{item}' cannot be read: '{nearest.text}' stands right beside '{when}' and "
                "is not a word this reader knows there, so it might change what the time "
                f"means; if it belongs to the label, end the label with a colon: "
                f"'{text}: {when}'"
            )

    def _aside(self, i: int, label: list[tuple[int, int]]) -> int | None:
        """Words in parentheses within a label, an aside with no number or time in it."""
        if not label or not self._is(i, Kind.LPAREN):
            return None
        j = i + 1
        while self._is(j, Kind.WORD) and self._time(j) is None:
            j += 1
        return j + 1 if j > i + 1 and self._is(j, Kind.RPAREN) else None

    def _in_parentheses(self, t: int) -> bool:
        depth = 0
        for token in self.tokens[:t]:
            depth += token.kind is Kind.LPAREN
            depth -= token.kind is Kind.RPAREN
        return depth > 0

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
            return Unreadable(f"'{fragment}' is relative to an unknown event; " + self._suggest())
        return Unreadable(f"'{fragment}' names no time")

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
        """ "mellan mars och maj 2024", "mellan den 8 september och den 12 oktober 2014": the
        "och" belongs to the range, it splits nothing."""
        found = self._unit(self._fillers(j + 1)[0])
        if found is None:
            return None
        left, k = found
        right = self._unit(self._fillers(k + 1)[0]) if self._word(k) == "och" else None
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
        if (
            found is not None
            and found[0].kind == "month"
            and self._is(connector[1], Kind.NUM)
            and self._is(connector[1] + 1, Kind.SLASH)
        ):  # "3–4/2025": months by number, the year after the second
            right, end = found
            token = self.tokens[j]
            self._check_month(day, j, end)
            left = Unit("month", token.start, token.end, (day, 1), (day, 0))
            return Time(left, right, False, approximate, token.start, right.end), end
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
