"""What may follow a time in one item: a hedge ("(prel.)"), an uncertainty margin, a check the
writer added ("(vecka 44)", "fredag", "(Långfredag)"), the days meant in a week ("vecka 44 (28
okt – 1 nov)"), a clock time ("kl. 13.00–15.00", "14:00") and a label written after the time
("8 januari studiedag"). Anything else after a time makes the text refused."""

from __future__ import annotations

from dataclasses import dataclass

from notifier.when.expressions import Margin, Time
from notifier.when.refusal import Unreadable, quote
from notifier.when.tokens import Kind
from notifier.when.units import UnitGrammar
from notifier.when.vocabulary import (
    APPROXIMATE,
    CLOCK_WORDS,
    EARLY_LATE,
    FILLERS,
    HOLIDAYS,
    MARGIN_LIMITS,
    MARGIN_UNITS,
    MARGIN_WORDS,
    MODIFIERS,
    NUMBER_WORDS,
    NUMBERED_NOUNS,
    PARTS_OF_MONTH,
    SEASONS,
    TENTATIVE,
    TERMS,
    TIME_CHANGERS,
    WEEK_WORDS,
    known_word,
)

# Words that may sit beside a time but never begin a label after it ("juni 2024 i slutet" is
# the end of June, not a label "I slutet"), and words that never stand in such a label.
NOT_A_LABEL_START = FILLERS | APPROXIMATE | {"ut", "in"}
CHANGES_A_TIME = frozenset(TIME_CHANGERS) | frozenset(PARTS_OF_MONTH) | frozenset(EARLY_LATE)

# Verbs that make a term or season before them the subject of a sentence, not its time:
# "Höstterminen börjar den 21 augusti".
SUBJECT_VERBS = frozenset(["börjar", "startar", "slutar", "avslutas", "inleds"])


@dataclass
class Remarks:
    """What the words after a time say about it, and where they end."""

    end: int  # the index after the item
    tentative: bool = False
    margin: Margin | None = None
    within_week: int | None = None
    narrow: Time | None = None
    holiday: str | None = None
    label: tuple[int, int] | None = None  # a label written after the time
    subject: int | None = None  # the time was the subject: the label runs to this index
    time: Time | None = None  # … and this is the item's time


class RemarkGrammar(UnitGrammar):
    """Reads the remarks after a time. Like the grammar, it refuses what it does not know."""

    def _time(self, i: int) -> tuple[Time, int] | None:  # pragma: no cover - see Grammar
        raise NotImplementedError

    def _at_item_end(self, i: int) -> bool:  # pragma: no cover - see Grammar
        raise NotImplementedError

    def _remarks(self, begin: int, time: Time, i: int, *, has_label: bool) -> Remarks:
        remarks = Remarks(end=i)
        subject = self._subject(begin, time, i, has_label=has_label)
        if subject is not None:
            found = self._time(subject)
            assert found is not None  # _subject saw it
            remarks.time, i = found
            remarks.subject = subject
            return self._remarks_after(begin, remarks.time, i, remarks, has_label=True)
        return self._remarks_after(begin, time, i, remarks, has_label=has_label)

    def _remarks_after(
        self, begin: int, time: Time, i: int, remarks: Remarks, *, has_label: bool
    ) -> Remarks:
        while not self._at_item_end(i):
            if (found_tentative := self._match(i, TENTATIVE)) is not None:
                remarks.tentative, i = True, found_tentative[1]
            elif (bracketed := self._bracketed_tentative(i)) is not None:
                remarks.tentative, i = True, bracketed
            elif remarks.margin is None and (found_margin := self._margin(i)) is not None:
                remarks.margin, i = found_margin
            elif remarks.within_week is None and (week := self._week_remark(i)) is not None:
                remarks.within_week, i = week
            elif remarks.narrow is None and (narrow := self._narrowing(time, i)) is not None:
                remarks.narrow, i = narrow
            elif (clock := self._clock(i)) is not None:
                i = clock
            elif remarks.holiday is None and (holiday := self._holiday(i, time)) is not None:
                remarks.holiday, label, i = holiday
                if not has_label:
                    remarks.label = label
            elif not has_label and remarks.label is None and (after := self._label_after(i)):
                remarks.label, i = (i, after), after
            else:
                raise self._not_understood_after(begin, time, i)
        # ", vecka 44" after the dates restates their week: a check, not a milestone.
        if remarks.within_week is None and self._is(i, Kind.COMMA):
            week = self._week_remark(i + 1, bare=True)
            if week is not None and self._at_item_end(week[1]):
                remarks.within_week, i = week
        remarks.end = i
        return remarks

    def _subject(self, begin: int, time: Time, i: int, *, has_label: bool) -> int | None:
        """ "Höstterminen börjar den 21 augusti": a term or season word with no year, first in
        its item and followed by a verb of beginning or ending, names what the dates are for."""
        if has_label or time.right is not None or time.left.has_year or i != begin + 1:
            return None
        if self.tokens[begin].low not in SEASONS and self.tokens[begin].low not in TERMS:
            return None
        if self._word(i) not in SUBJECT_VERBS or self._time(i + 1) is None:
            return None
        return i + 1

    def _week_remark(self, i: int, *, bare: bool = False) -> tuple[int, int] | None:
        """ "(vecka 44)", "(v. 44)", "vecka 8": a week the time must lie in."""
        bracket = not bare and self._is(i, Kind.LPAREN)
        j = i + bracket
        if self._word(j) not in WEEK_WORDS and self._word(j) != "vk":
            return None
        k = self._dot(j + 1)
        number = self._number(k)
        if number is None or self._is(k + 1, Kind.DASH) or self._number(k + 1, (4,)) is not None:
            return None
        end = k + 1
        if bracket:
            if not self._is(end, Kind.RPAREN):
                return None
            end += 1
        self._check_week(number, i, end)
        return number, end

    def _narrowing(self, time: Time, i: int) -> tuple[Time, int] | None:
        """ "vecka 44 (28 okt – 1 nov)", "v.44 (2025-10-27 - 2025-11-02)": the days meant."""
        if time.right is not None or time.left.kind != "week" or not self._is(i, Kind.LPAREN):
            return None
        found = self._time(i + 1)
        if found is None or not self._is(found[1], Kind.RPAREN):
            return None
        return found[0], found[1] + 1

    def _clock(self, i: int) -> int | None:
        """ "14:00", "kl. 13.00–15.00", "kl 9": a time of day is no part of the milestone."""
        j = i
        named = self._word(j) in CLOCK_WORDS
        if named:
            j = self._dot(j + 1)
        hours = self._clock_time(j)
        if hours is None:
            return None
        if not named and hours == j + 1:
            return None  # a bare number is not a clock time
        j = hours
        if self._is(j, Kind.DASH) and (until := self._clock_time(j + 1)) is not None:
            j = until
        # "… kl. 13.00–15.00 i Almedalsbiblioteket": the place where it happens.
        place = self._tok(j + 1)
        if (
            self._word(j) == "i"
            and place is not None
            and place.kind is Kind.WORD
            and place.text[:1].isupper()
        ):
            j += 2
        return j

    def _clock_time(self, j: int) -> int | None:
        hour = self._number(j, (1, 2))
        if hour is None or hour > 24:
            return None
        if (
            self._is(j + 1, Kind.COLON, touching=True) or self._is(j + 1, Kind.DOT, touching=True)
        ) and ((minute := self._number(j + 2, (2,), touching=True)) is not None and minute < 60):
            return j + 3
        return j + 1

    def _holiday(self, i: int, time: Time) -> tuple[str, tuple[int, int], int] | None:
        """ "(Långfredag)", "Annandag påsk" after a day: the holiday that day must be."""
        bracket = self._is(i, Kind.LPAREN)
        j = i + bracket
        found = self._match(j, HOLIDAYS)
        if found is None and bracket and self._word(j) == "sveriges":
            found = self._match(j + 1, HOLIDAYS)
        if found is None:
            return None
        key, end = found
        if bracket:
            if not self._is(end, Kind.RPAREN):
                return None
            end += 1
        if not self._at_item_end(end):
            return None
        return key, (j, end - bracket), end

    def _label_after(self, i: int) -> int | None:
        """A label written after the time ("8 januari studiedag", "Februari 2026 Byggstart av
        de nya husen"): it starts with a word the reader knows beside a time and runs to the
        end of the item, words only (a number after a numbered noun: "Inflyttning etapp 1")."""
        first = self._tok(i)
        if first is None or first.kind is not Kind.WORD:
            return None
        head = i  # the last part of a hyphenated compound decides: "KU-dag"
        while self._is(head + 1, Kind.DASH, touching=True) and self._is(head + 2, Kind.WORD):
            head += 2
        if not known_word(self.tokens[head].low) or self.tokens[head].low in NOT_A_LABEL_START:
            return None
        if first.low in TIME_CHANGERS or self._match(i, MODIFIERS) is not None:
            return None
        j = i
        while not self._at_item_end(j):
            token = self.tokens[j]
            if token.kind is Kind.WORD and token.low not in CHANGES_A_TIME:
                if self._time(j) is not None and self._unit(j) is not None:
                    return None
                j += 1
            elif (token.kind is Kind.DASH and self._touching(j) and self._is(j + 1, Kind.WORD)) or (
                token.kind is Kind.NUM and self._word(j - 1) in NUMBERED_NOUNS
            ):
                j += 1
            else:
                return None
        return j

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
        for j in range(i, self._item_end(i)):
            if self.tokens[j].low in TIME_CHANGERS:  # "Hösten 2025 kan … starta tidigast"
                item = self._quote(begin, self._item_end(i))
                word = self.tokens[j]
                return Unreadable(
                    f"'{item}' cannot be read: '{word.text}' {TIME_CHANGERS[word.low]}"
                )
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
