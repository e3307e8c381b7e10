"""Read the free-text Swedish "När?" column of a plan into milestones.

``read_when(text, plan_year)`` is pure: no I/O and no clock. The plan's year stands in wherever
the text leaves the year out; nothing else about "now" is ever assumed.

It works in three steps:

1. ``_tokenize``: words, numbers and single signs, each with its place in the text, so that every
   milestone and every reason quotes the text as written.
2. ``_Grammar``: a small recursive-descent grammar over the tokens::

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

   Units are read without their year where the text leaves it out.
3. ``_Resolver``: years are filled in from right to left (a missing year comes from the next
   milestone that has one, else from the plan's year), ranges and pairs are checked, and each
   item becomes a ``Milestone``.

Anything not understood raises ``_Unreadable`` with an English reason that quotes the fragment;
the whole text is then unreadable. Nothing is guessed and no partial reading is returned.

Decisions where the design is silent are marked "Decision:" below.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from enum import Enum
from typing import TypeAlias, TypeVar

from babel.dates import get_day_names, get_month_names

from notifier.model import Milestone, Reading

__all__ = ["MAX_YEAR", "MIN_YEAR", "read_when"]

# Years outside this range are typing errors ("0202", "20024"), and the bounds keep every date
# computed from them (winter into the next year, margins) far from date's own limits.
MIN_YEAR = 1900
MAX_YEAR = 2200

# Reasons quote the text; a pasted page must not become a page-long reason.
_MAX_QUOTE = 80


def read_when(text: str, plan_year: int) -> Reading:
    """Read one "När?" text: its milestones in text order, or the reason it cannot be read.

    ``plan_year`` is the year for texts that name none. Never raises on a str.
    """
    try:
        milestones = _read(text, plan_year)
    except _Unreadable as problem:
        return Reading(text=text, reason=problem.reason)
    return Reading(text=text, milestones=milestones)


class _Unreadable(Exception):
    """The text cannot be read; ``reason`` says which fragment and why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _read(text: str, plan_year: int) -> tuple[Milestone, ...]:
    # Word processors on some systems paste decomposed letters (a + ring for å); compose them so
    # that "å" is one letter of a word, not a word break.
    normal = unicodedata.normalize("NFC", text)
    tokens = _tokenize(normal)
    # Trailing punctuation ends the sentence; it is not part of any milestone.
    while tokens and tokens[-1].text in (".", "!"):
        tokens.pop()
    if not tokens:
        raise _Unreadable("The text is empty: it names no time")
    _refuse_placeholders(normal)
    grammar = _Grammar(normal, tokens, plan_year)
    grammar.refuse_untimed()
    items = grammar.items()
    if not items:  # only separators: ",", "och"
        raise _Unreadable(f"'{_quote(normal, 0, len(normal))}' names no time")
    return _Resolver(normal, plan_year).milestones(items)


# --- Vocabulary -----------------------------------------------------------------------------
# All keys are case-folded; every comparison is on case-folded words. Word lists are written
# as strings: "|" separates phrases, spaces the words of a phrase.

_K = TypeVar("_K")  # what a phrase table maps to
_T = TypeVar("_T")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _phrases(kind: _K, text: str) -> dict[tuple[str, ...], _K]:
    """Phrase (as a tuple of words) -> kind, from "word | two words | …"."""
    return {tuple(phrase.split()): kind for phrase in text.split("|")}


def _month_table() -> tuple[dict[str, int], frozenset[str]]:
    """Swedish month names from Babel (full and abbreviated), plus short forms Babel lacks."""
    names: dict[str, int] = {}
    for width in ("wide", "abbreviated"):
        for number, name in get_month_names(width, locale="sv").items():
            names[name.casefold().rstrip(".")] = number
    full = frozenset(name.casefold() for name in get_month_names("wide", locale="sv").values())
    # The design's short forms that CLDR does not have. Decision: "mar" too, because without it
    # "mar 2024" would read as a label "Mar" before the whole year.
    names.update({"jun": 6, "jul": 7, "sept": 9, "mar": 3})
    return names, full


def _weekday_table() -> dict[str, int]:
    """Swedish weekday names from Babel, full and abbreviated: name -> 0 (Monday) … 6."""
    names: dict[str, int] = {}
    for width in ("wide", "abbreviated"):
        for number, name in get_day_names(width, locale="sv").items():
            names[name.casefold().rstrip(".")] = number
    return names


_MONTHS, _FULL_MONTHS = _month_table()
_WEEKDAYS = _weekday_table()

# English names for reasons; calendar.month_name would follow the process locale.
_MONTH_EN = ("", "January", "February", "March", "April", "May", "June", "July", "August",
             "September", "October", "November", "December")  # fmt: skip
_WEEKDAY_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# A month-and-day; day 0 stands for the month's last day, which depends on the year.
_MonthDay: TypeAlias = tuple[int, int]
_Period: TypeAlias = tuple[_MonthDay, _MonthDay]

_WHOLE_YEAR: _Period = ((1, 1), (12, 0))

# Seasons as the design gives them. A period whose end comes before its start ends in the next
# year. Decision: a season is named by the year it begins in, so "vintern 2024" is
# 1 Dec 2024 – 28 Feb 2025; pairs such as "vinter/vår 2026" are read as ranges whose single
# year belongs to the last season (see _Resolver._before), as the design's examples say.
_SPRING: _Period = ((3, 1), (5, 0))
_SUMMER: _Period = ((6, 1), (8, 0))
_AUTUMN: _Period = ((9, 1), (11, 0))
_WINTER: _Period = ((12, 1), (2, 0))
# Definite and indefinite forms; the indefinite "vår" is also the pronoun "our".
_SEASONS: dict[str, _Period] = {
    "våren": _SPRING, "vår": _SPRING, "sommaren": _SUMMER, "sommar": _SUMMER,
    "hösten": _AUTUMN, "höst": _AUTUMN, "vintern": _WINTER, "vinter": _WINTER,
}  # fmt: skip
# Words after "vår" that keep it a season ("vår/sommar" and "vår 2025" do anyway).
_SEASON_FOLLOWERS = _words("till och samt t mellan")

_SPRING_TERM: _Period = ((1, 1), (6, 15))
_AUTUMN_TERM: _Period = ((8, 15), (12, 20))
_TERMS: dict[str, _Period] = {
    "vårterminen": _SPRING_TERM, "vårtermin": _SPRING_TERM, "vt": _SPRING_TERM,
    "höstterminen": _AUTUMN_TERM, "hösttermin": _AUTUMN_TERM, "ht": _AUTUMN_TERM,
}  # fmt: skip
# Decision: a school year ("läsåret 2024/2025") runs from the autumn term's first day to the
# spring term's last.
_SCHOOL_YEAR: _Period = (_AUTUMN_TERM[0], _SPRING_TERM[1])


def _quarter(n: int) -> _Period:
    return (3 * n - 2, 1), (3 * n, 0)


def _tertial(n: int) -> _Period:
    return (4 * n - 3, 1), (4 * n, 0)


def _half(n: int) -> _Period:
    return (6 * n - 5, 1), (6 * n, 0)


# Numbered parts of a year by their noun: (how many in a year, the n:th, name in reasons).
_PART_OF_YEAR: dict[str, tuple[int, Callable[[int], _Period], str]] = {
    "kvartal": (4, _quarter, "quarters"),
    "tertial": (3, _tertial, "tertials"),
    "halvår": (2, _half, "half-years"),
}
# Words that name them before a number: word -> (noun, digit glued on). "Q1", "T1", "H1" must be
# written as one word, so that a lone "t" (as in "t.o.m.") or "h" is never taken for one.
_NUMBERED: dict[str, tuple[str, bool]] = {
    "q": ("kvartal", True), "kv": ("kvartal", False), "kvartal": ("kvartal", False),
    "t": ("tertial", True), "tertial": ("tertial", False),
    "h": ("halvår", True), "halvår": ("halvår", False),
}  # fmt: skip
# Nouns after an ordinal: "första kvartalet", "1:a halvåret".
_ORDINAL_NOUNS = {"kvartalet": "kvartal", "kvartal": "kvartal", "tertialet": "tertial",
                  "tertial": "tertial", "halvåret": "halvår", "halvår": "halvår"}  # fmt: skip
# "sista" (the last) is resolved against the number of parts.
_ORDINALS = {"första": 1, "andra": 2, "tredje": 3, "fjärde": 4, "sista": -1}

# "början av mars" is days 1–10, "mitten av" 11–20, "slutet av" 21 to the end; of a year, the
# first and last quarter. Decision: "mitten av 2025" is the two middle quarters, Apr – Sep.
_PARTS_OF_MONTH = {"början": (1, 10), "mitten": (11, 20), "slutet": (21, 0)}
_PARTS_OF_YEAR = {"början": _quarter(1), "mitten": ((4, 1), (9, 0)), "slutet": _quarter(4)}
# Decision: "tidigt 2025" is Q1 as the design says, and "sent 2025" likewise Q4.
_EARLY_LATE = {"tidigt": _quarter(1), "sent": _quarter(4)}

_WEEK_WORDS = _words("vecka v veckorna")
_NUMBER_WORDS = {"en": 1, "ett": 1, "två": 2, "tre": 3, "fyra": 4, "fem": 5, "sex": 6, "sju": 7,
                 "åtta": 8, "nio": 9, "tio": 10, "elva": 11, "tolv": 12}  # fmt: skip

# Words that may stand before a time without changing it ("under 2024", "i mars",
# "den 15 mars", "vid årsskiftet", "inom 2024", "under hela 2024").
_FILLERS = _words("under i hela inom vid den")
# Decision: words of approximation before a time make the milestone tentative ("ca mars 2024",
# "runt årsskiftet"). Only right before the time: "Samverkan kring unga mars 2024" keeps its label.
_APPROXIMATE = _words("ca cirka circa ungefär omkring runt kring")


class _Mod(Enum):
    """What a modifier word before the time does."""

    TENTATIVE = "tentative"
    BY_END = "by end"  # "senast", "till och med": due at the end of the time, no start
    BEFORE = "before"  # "före", "innan": due the day before the time begins, no start
    FROM = "from"  # "från", "med start": a start word that is not part of the label


# Phrases are matched as word sequences; a dot right after a word belongs to it, so "t.o.m.",
# "t o m" and "prel." all match.
_TENTATIVE = _phrases(
    _Mod.TENTATIVE,
    "preliminärt | preliminär | preliminära | prel | beräknas | beräknad | beräknat | beräknade"
    " | bedöms | troligen | troligtvis | förväntas | förväntad | förväntat | kan stå färdigt"
    " | kan stå färdig | kan stå klart | kan stå klar"
    # "Beräknas vara klart": the verb belongs to the tentative phrase, not to the label.
    " | beräknas vara | beräknas bli | bedöms vara | bedöms bli | förväntas vara | förväntas bli"
    # Decision: these say the same as the design's words.
    " | sannolikt | förmodligen | förhoppningsvis | uppskattningsvis | eventuellt | ev",
)
_MODIFIERS = {
    **_TENTATIVE,
    **_phrases(_Mod.BY_END, "senast | till och med | t o m"),
    # Decision: "inför" (ahead of) is a "före" as well.
    **_phrases(_Mod.BEFORE, "före | innan | inför"),
    **_phrases(_Mod.FROM, "från | från och med | fr o m | med start | med början"),
}
# A range's middle: (range, not a pair).
_RANGE_WORDS = _phrases(True, "till | till och med | t o m")

# Label words that make the due date the window's first day (the design's start words). Any
# word ending in "start" counts ("Start", "Uppstart", "Byggstart", "Klart för start");
# "börjar" covers "börjar gälla".
_START_WORDS = _words("påbörjas påbörjad påbörjat startar startas börjar införas införs inleds")

# A range word with nothing before it is part of a label only when no time follows it:
# "Utskick till skolor mars 2024", but never "till sommaren 2024" (until? by?).
_NOT_LABEL_BEFORE_A_TIME = _words("till")


class _Untimed(Enum):
    NO_TIME = "names no time"
    RECURRENCE = "is a recurrence, not a single time"
    RELATIVE = "is relative to an unknown event"


_UNTIMED = {
    **_phrases(
        _Untimed.NO_TIME,
        "löpande | kontinuerligt | kontinuerlig | fortlöpande | pågående | pågår | vid behov"
        " | tills vidare | tillsvidare | ständigt | alltid | snarast | omgående | så snart"
        " | så fort | när möjligt",
    ),
    **_phrases(
        _Untimed.RECURRENCE,
        "årligen | årlig | årligt | årliga | årsvis | halvårsvis | kvartalsvis | terminsvis"
        " | månadsvis | veckovis | dagligen | varje | varannan | varannat | återkommande"
        " | regelbundet | gång per | gånger per | gång om | gånger om | per år | per termin"
        " | per kvartal | per månad | per vecka",
    ),
    **_phrases(
        _Untimed.RELATIVE,
        "i samband med | i anslutning till | efter | därefter | när | beroende på",
    ),
}
# A duration ("sex månader", "2 veckor") outside an uncertainty margin is relative to something.
_DURATION_UNITS = _words(
    "dag dagar dagarna vecka veckor veckorna månad månader månaderna mån år åren"
)
_AMOUNT_WORDS = frozenset({*_NUMBER_WORDS, "några", "par"})
_RELATIVE_LEADS = _words("inom om efter ca cirka ett")

_MARGIN_WORDS = _words("osäkerhet osäkerhetsmarginal marginal felmarginal")
_MARGIN_UNITS = {
    "månad": "months", "månader": "months", "mån": "months",
    "vecka": "weeks", "veckor": "weeks", "v": "weeks",
    "dag": "days", "dagar": "days",
}  # fmt: skip
# Decision: a margin wider than this is a typing error, not a plan.
_MARGIN_LIMITS = {"months": 24, "weeks": 104, "days": 731}

_PLACEHOLDER = re.compile(r"[0-9XxYyÅåMmDd?_.\-/–—]+")
_PLACEHOLDER_MARK = re.compile(r"[Xx?_]|(?i:åå|yy|mm|dd)")


# --- Tokens ---------------------------------------------------------------------------------


class _Kind(Enum):
    WORD = "word"
    NUM = "number"
    DASH = "dash"
    SLASH = "slash"
    DOT = "dot"
    COMMA = "comma"
    SEMI = "semicolon"
    COLON = "colon"
    LPAREN = "("
    RPAREN = ")"
    PLUS = "+"
    PLUSMINUS = "±"
    OTHER = "other"


_SIGNS = {
    "/": _Kind.SLASH,
    ".": _Kind.DOT,
    ",": _Kind.COMMA,
    ";": _Kind.SEMI,
    ":": _Kind.COLON,
    "(": _Kind.LPAREN,
    "[": _Kind.LPAREN,
    ")": _Kind.RPAREN,
    "]": _Kind.RPAREN,
    "+": _Kind.PLUS,
    "±": _Kind.PLUSMINUS,
}
_DASHES = frozenset("-‐‑‒–—―−")
_HYPHENS = frozenset("-‐‑")
# Each alternative consumes at least one character and none can backtrack into another, so
# tokenizing is linear in the length of the text.
_TOKEN = re.compile(r"(?P<space>\s+)|(?P<num>[0-9]+)|(?P<word>[^\W\d_]+)|(?P<sign>.)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: _Kind
    text: str
    low: str  # case-folded
    start: int
    end: int
    line_break: bool  # a line break stands between this token and the previous one


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    line_break = False
    for match in _TOKEN.finditer(text):
        piece = match.group()
        group = match.lastgroup
        if group == "space":
            line_break = line_break or "\n" in piece or "\r" in piece
            continue
        if group == "num":
            kind = _Kind.NUM
        elif group == "word":
            kind = _Kind.WORD
        elif piece in _DASHES:
            kind = _Kind.DASH
        else:
            kind = _SIGNS.get(piece, _Kind.OTHER)
        tokens.append(_Token(kind, piece, piece.casefold(), match.start(), match.end(), line_break))
        line_break = False
    return tokens


def _quote(text: str, start: int, end: int) -> str:
    """The fragment as written, on one line and cut short if long, for a reason."""
    fragment = " ".join(text[start:end].split())
    if len(fragment) > _MAX_QUOTE:
        fragment = fragment[: _MAX_QUOTE - 1] + "…"
    return fragment


def _refuse_placeholders(text: str) -> None:
    """A date template left in the plan ("2019-XX-XX", "ÅÅÅÅ-MM-DD") is never read as a date."""
    for match in re.finditer(r"\S+", text):
        chunk = match.group().strip(",;:()[]!")
        if (
            chunk
            and _PLACEHOLDER.fullmatch(chunk)
            and _PLACEHOLDER_MARK.search(chunk)
            and (re.search(r"[0-9\-/.]", chunk) or re.fullmatch(r"[Xx]{2,}", chunk))
        ):
            raise _Unreadable(f"'{_quote(chunk, 0, len(chunk))}' is a placeholder, not a date")


# --- Grammar --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Unit:
    """A named time as written, its year possibly still missing."""

    kind: str  # "day", "month", "year", "week", "period", "point"
    start: int  # where it stands in the text, for reasons
    end: int
    first: _MonthDay = (1, 1)
    last: _MonthDay = (12, 0)
    year: int | None = None  # the written year, in which the unit begins
    end_year: int | None = None  # the second of a written pair of years ("2025/2026")
    plan_offset: int | None = None  # "året" (0), "nästa år" (1): relative to the plan's year
    week: int | None = None  # an ISO week, instead of first/last
    weekday: int | None = None  # in a week: that day; with a date: a check
    in_week: int | None = None  # a week number the date must fall in (a check)
    due: _MonthDay | None = None  # the due day when it is not the last day (årsskiftet)
    before: _MonthDay | None = None  # the last day "före" it, when not the day before it begins

    @property
    def has_year(self) -> bool:
        return self.year is not None or self.plan_offset is not None


@dataclass(frozen=True, slots=True)
class _Time:
    left: _Unit
    right: _Unit | None  # the end of a range or pair
    pair: bool  # "sommar/höst": the right must begin the day after the left ends
    approximate: bool
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class _Margin:
    amount: int
    unit: str  # "months", "weeks" or "days"


@dataclass(frozen=True, slots=True)
class _Item:
    start: int
    end: int
    label: str | None
    time: _Time
    tentative: bool
    deadline: _Mod | None  # BY_END or BEFORE
    starts: bool  # due on the window's first day
    margin: _Margin | None


class _Grammar:
    """Recursive descent over the tokens. Parsing methods take a token index and return what
    they read with the index after it, or None when the construct is not there (nothing is
    consumed). They raise ``_Unreadable`` only when the construct is clearly there but wrong
    ("32 mars", "vecka 54"), so such text is never read as a label instead."""

    def __init__(self, text: str, tokens: list[_Token], plan_year: int) -> None:
        self.text = text
        self.tokens = tokens
        self.plan_year = plan_year  # only for examples in reasons: the coordinator's own year

    # -- token access

    def _tok(self, i: int) -> _Token | None:
        return self.tokens[i] if 0 <= i < len(self.tokens) else None

    def _word(self, i: int) -> str | None:
        token = self._tok(i)
        return token.low if token is not None and token.kind is _Kind.WORD else None

    def _is(self, i: int, kind: _Kind, *, touching: bool = False) -> bool:
        token = self._tok(i)
        return token is not None and token.kind is kind and (not touching or self._touching(i))

    def _touching(self, i: int) -> bool:
        """Token i follows the previous one with no space between ("2024-09-15", "Q1")."""
        return 0 < i < len(self.tokens) and self.tokens[i - 1].end == self.tokens[i].start

    def _number(
        self, i: int, digits: tuple[int, ...] = (1, 2), *, touching: bool = False
    ) -> int | None:
        token = self._tok(i)
        if token is None or token.kind is not _Kind.NUM or len(token.text) not in digits:
            return None
        if touching and not self._touching(i):
            return None
        return int(token.text)

    def _dot(self, i: int) -> int:
        """Skip an abbreviation's dot ("jan.", "v.", "prel.") right after a word."""
        return i + 1 if self._is(i, _Kind.DOT, touching=True) else i

    def _quote(self, a: int, b: int) -> str:
        """Tokens a .. b-1 as written."""
        b = max(min(b, len(self.tokens)), a + 1)
        return _quote(self.text, self.tokens[a].start, self.tokens[b - 1].end)

    def _match(
        self, i: int, table: dict[tuple[str, ...], _T], longest: int = 3
    ) -> tuple[_T, int] | None:
        """The longest phrase of ``table`` at i, and the index after it."""
        words: list[str] = []
        ends: list[int] = []
        j = i
        while len(words) < longest and (word := self._word(j)) is not None:
            j = self._dot(j + 1)
            words.append(word)
            ends.append(j)
        for size in range(len(words), 0, -1):
            found = table.get(tuple(words[:size]))
            if found is not None:
                return found, ends[size - 1]
        return None

    def _item_end(self, i: int) -> int:
        """Index of the next separator that always splits (",", ";", line break), for quoting."""
        j = i + 1
        while j < len(self.tokens):
            token = self.tokens[j]
            if token.kind in (_Kind.COMMA, _Kind.SEMI) or token.line_break:
                break
            j += 1
        return j

    def _chunk(self, i: int) -> str:
        """The whitespace-delimited run of text that holds token i."""
        a = b = i
        while a > 0 and self._touching(a) and b - a < 20:
            a -= 1
        while self._touching(b + 1) and b - a < 40:
            b += 1
        return self._quote(a, b + 1)

    # -- untimed texts

    def refuse_untimed(self) -> None:
        """Texts that name no time, a recurrence or an unknown event are refused as a whole,
        even where a date stands beside them ("Löpande från mars 2024")."""
        for i, token in enumerate(self.tokens):
            found = self._match(i, _UNTIMED)
            if found is not None:
                kind, end = found
                fragment = self._quote(i, self._item_end(i))
                if token.low == "efter" and self._time(end) is not None:
                    raise _Unreadable(
                        f"'{fragment}' is open-ended: it says what it comes after, not when"
                    )
                raise _Unreadable(f"'{fragment}' {kind.value}")
            if self._is_duration(i):
                lead = i
                while lead > i - 2 and self._word(lead - 1) in _RELATIVE_LEADS:
                    lead -= 1  # "inom ett par månader"
                fragment = self._quote(lead, self._item_end(i))
                raise _Unreadable(f"'{fragment}' is relative to an unknown event")

    def _is_duration(self, i: int) -> bool:
        """ "sex månader", "2 veckor": an amount and a unit, not in a margin ("+/- 3 månader")."""
        token = self.tokens[i]
        amount = (token.kind is _Kind.NUM and len(token.text) <= 3) or token.low in _AMOUNT_WORDS
        if not amount or self._word(i + 1) not in _DURATION_UNITS:
            return False
        previous = self._tok(i - 1)
        return previous is None or (
            previous.kind not in (_Kind.DASH, _Kind.PLUSMINUS) and previous.low not in _MARGIN_WORDS
        )

    # -- items

    def items(self) -> list[_Item]:
        items: list[_Item] = []
        i = self._skip_separators(0)
        while i < len(self.tokens):
            item, i = self._item(i)
            items.append(item)
            # _item stops only at the end, a separator or a line break.
            following = self._skip_separators(i)
            if following == len(self.tokens) and any(
                self.tokens[j].low in ("och", "samt") for j in range(i, following)
            ):
                raise _Unreadable(
                    f"'{self._quote(0, following)}' ends with "
                    f"'{self.tokens[following - 1].text}': a time is missing after it"
                )
            i = following
        return items

    def _skip_separators(self, i: int) -> int:
        while (token := self._tok(i)) is not None and (
            token.kind in (_Kind.COMMA, _Kind.SEMI, _Kind.DOT) or token.low in ("och", "samt")
        ):
            i += 1
        return i

    def _at_item_end(self, i: int) -> bool:
        token = self._tok(i)
        return (
            token is None
            or token.kind in (_Kind.COMMA, _Kind.SEMI, _Kind.DOT)
            or (token.kind is _Kind.WORD and token.low in ("och", "samt"))
            or token.line_break
        )

    def _item(self, begin: int) -> tuple[_Item, int]:
        """Label words and modifiers, then the time, then trailers."""
        i = begin
        label: list[tuple[int, int]] = []  # token ranges of the label's words
        modifiers: list[_Mod] = []
        while True:
            token = self._tok(i)
            # A line break in a cell is typed on purpose: it separates, even before a time.
            if (
                token is None
                or token.kind in (_Kind.COMMA, _Kind.SEMI, _Kind.DOT)
                or (token.line_break and i > begin)
            ):
                raise self._no_time(begin, i, modifiers)
            modifier = self._match(i, _MODIFIERS)
            if modifier is not None:
                modifiers.append(modifier[0])
                i = modifier[1]
                continue
            bracketed = self._bracketed_tentative(i)
            if bracketed is not None:
                modifiers.append(_Mod.TENTATIVE)
                i = bracketed
                continue
            found = self._time(i)
            if found is not None:
                time, i = found
                break
            if token.kind is _Kind.WORD and (
                token.low not in _NOT_LABEL_BEFORE_A_TIME or self._time(i + 1) is None
            ):
                end = self._label_word_end(i)
                label.append((i, end))
                i = end
                continue
            if token.kind is _Kind.COLON and label:  # "Klart: juni 2024"
                i += 1
                continue
            raise self._not_understood(begin, i)

        tentative = _Mod.TENTATIVE in modifiers or time.approximate
        margin: _Margin | None = None
        while not self._at_item_end(i):
            if (found_tentative := self._match(i, _TENTATIVE)) is not None:
                tentative, i = True, found_tentative[1]
            elif (bracketed := self._bracketed_tentative(i)) is not None:
                tentative, i = True, bracketed
            elif margin is None and (found_margin := self._margin(i)) is not None:
                margin, i = found_margin
            else:
                raise self._not_understood_after(begin, time, i)

        deadline = next((m for m in reversed(modifiers) if m in (_Mod.BY_END, _Mod.BEFORE)), None)
        words = [self.tokens[t].low for a, b in label for t in range(a, b)]
        starts = any(w.endswith("start") or w in _START_WORDS for w in words) or (
            # "från mars till maj" is a plain range, not a start.
            _Mod.FROM in modifiers and time.right is None
        )
        text = " ".join(self.text[self.tokens[a].start : self.tokens[b - 1].end] for a, b in label)
        item = _Item(
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
            (self._is(j, _Kind.DASH, touching=True) or self._is(j, _Kind.SLASH, touching=True))
            and self._is(j + 1, _Kind.WORD, touching=True)
            and self._time(j + 1) is None
        ):
            j = self._dot(j + 2)
        return j

    def _no_time(self, begin: int, i: int, modifiers: list[_Mod]) -> _Unreadable:
        fragment = self._quote(begin, i)
        if _Mod.BEFORE in modifiers:  # "innan start", "före beslut"
            return _Unreadable(f"'{fragment}' is relative to an unknown event")
        return _Unreadable(f"'{fragment}' names no time")

    def _not_understood(self, begin: int, i: int) -> _Unreadable:
        item = self._quote(begin, self._item_end(i))
        token = self.tokens[i]
        if token.low == "till":
            return _Unreadable(f"'{item}' cannot be read: 'till' has no start before it")
        if token.kind is _Kind.NUM and len(token.text) > 4:
            return _Unreadable(
                f"'{item}' cannot be read: '{self._chunk(i)}' is not a year, a day or a week"
            )
        return _Unreadable(
            f"'{item}' cannot be read: '{self._chunk(i)}' is not a time this reader understands"
        )

    def _not_understood_after(self, begin: int, time: _Time, i: int) -> _Unreadable:
        token = self.tokens[i]
        if token.kind is _Kind.NUM and len(token.text) > 4:  # "mars 99999"
            return self._not_understood(begin, i)
        item = self._quote(begin, self._item_end(i))
        rest = self._quote(i, self._item_end(i))
        when = _quote(self.text, time.start, time.end)
        return _Unreadable(f"'{item}' cannot be read: '{rest}' after '{when}' is not understood")

    def _bracketed_tentative(self, i: int) -> int | None:
        """ "(prel.)", "(preliminärt)"."""
        if not self._is(i, _Kind.LPAREN):
            return None
        found = self._match(i + 1, _TENTATIVE)
        if found is None or not self._is(found[1], _Kind.RPAREN):
            return None
        return found[1] + 1

    def _margin(self, i: int) -> tuple[_Margin, int] | None:
        """ "(osäkerhet +/- 3 månader)", "± 2 veckor"."""
        j = i
        bracket = self._is(j, _Kind.LPAREN)
        j += bracket
        named = self._word(j) in _MARGIN_WORDS
        if named:
            j += 1
            j += self._is(j, _Kind.COLON)
        if self._is(j, _Kind.PLUSMINUS):
            j += 1
        elif (
            self._is(j, _Kind.PLUS) and self._is(j + 1, _Kind.SLASH) and self._is(j + 2, _Kind.DASH)
        ):
            j += 3
        elif self._is(j, _Kind.PLUS) and self._is(j + 1, _Kind.DASH):
            j += 2
        elif named:
            raise _Unreadable(
                f"'{self._quote(i, self._item_end(i))}' is not an uncertainty "
                "margin this reader understands (write '+/- 3 månader')"
            )
        else:
            return None
        amount = self._number(j, (1, 2, 3))
        if amount is None:
            amount = _NUMBER_WORDS.get(self._word(j) or "")
        unit = _MARGIN_UNITS.get(self._word(j + 1) or "")
        k = self._dot(j + 2)
        if amount is None or unit is None or (bracket and not self._is(k, _Kind.RPAREN)):
            raise _Unreadable(
                f"'{self._quote(i, self._item_end(i))}' is not an uncertainty "
                "margin this reader understands (write '+/- 3 månader')"
            )
        if amount > _MARGIN_LIMITS[unit]:
            raise _Unreadable(f"'{self._quote(i, k + bracket)}' is too wide a margin")
        return _Margin(amount, unit), k + bracket

    # -- times

    def _time(self, i: int) -> tuple[_Time, int] | None:
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
            return _Time(left, None, False, approximate, left.start, left.end), k
        right, pair, right_approximate, k = joined
        time = _Time(left, right, pair, approximate or right_approximate, left.start, right.end)
        return time, k

    def _fillers(self, i: int) -> tuple[int, bool]:
        approximate = False
        for _ in range(3):  # bounded, so that a long run of "i i i …" stays linear
            word = self._word(i)
            if word in _FILLERS:
                i += 1
            elif word in _APPROXIMATE:
                approximate = True
                i = self._dot(i + 1)
            else:
                break
        return i, approximate

    def _connector(self, i: int) -> tuple[bool, int] | None:
        """A range ("-", "–", "—", "till", "till och med") or a pair ("/"): (is a pair, next)."""
        if self._is(i, _Kind.DASH):
            return False, i + 1
        if self._is(i, _Kind.SLASH):
            return True, i + 1
        found = self._match(i, _RANGE_WORDS)
        return (False, found[1]) if found is not None else None

    def _joined(self, left: _Unit, k: int) -> tuple[_Unit, bool, bool, int] | None:
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
            fragment = _quote(self.text, left.start, right.end)
            year = self.plan_year
            raise _Unreadable(
                f"'{fragment}' is ambiguous: give the year beside each time "
                f"(e.g. 'mars {year}', 'mars {year}–mars {year + 1}')"
            )
        return right, pair, approximate, end

    def _between(self, j: int, approximate: bool) -> tuple[_Time, int] | None:
        """ "mellan mars och maj 2024": the "och" belongs to the range, it splits nothing."""
        found = self._unit(j + 1)
        if found is None:
            return None
        left, k = found
        right = self._unit(k + 1) if self._word(k) == "och" else None
        if right is None:
            raise _Unreadable(
                f"'{self._quote(j, self._item_end(j))}' cannot be read: "
                "'mellan' needs two times joined by 'och'"
            )
        unit, end = right
        return _Time(left, unit, False, approximate, left.start, unit.end), end

    def _day_range(self, j: int, approximate: bool) -> tuple[_Time, int] | None:
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
            raise _Unreadable(f"'{self._quote(j, end)}' ends before it starts")
        token = self.tokens[j]
        left = _Unit("day", token.start, token.end, (month, day), (month, day))
        return _Time(left, right, False, approximate, token.start, right.end), end

    # -- units

    def _unit(self, i: int, *, plain: bool = False) -> tuple[_Unit, int] | None:
        """A unit at i. ``plain`` leaves out the units built on another unit (weekday + date,
        "början av" + month, …), for reading the inner one: "början av början av …" is no time,
        and the nesting stays one level deep."""
        token = self._tok(i)
        if token is None:
            return None
        if token.kind is _Kind.NUM:
            found = self._numeric_unit(i)
        elif token.kind is _Kind.WORD:
            found = self._word_unit(i, plain=plain)
        else:
            return None
        if found is not None and found[0].kind == "day" and found[0].weekday is None:
            return self._week_check(*found)
        return found

    def _numeric_unit(self, i: int) -> tuple[_Unit, int] | None:
        token = self.tokens[i]
        size = len(token.text)
        if size == 4 and self._is(i + 1, _Kind.DASH, touching=True) and self._hyphen(i + 1):
            month = self._number(i + 2, touching=True)
            if month is not None:  # 2024-09-15, 2024-09
                day = None
                if self._is(i + 3, _Kind.DASH, touching=True) and self._hyphen(i + 3):
                    day = self._number(i + 4, touching=True)
                end = i + 5 if day is not None else i + 3
                return self._date(i, end, int(token.text), month, day), end
        if (
            size <= 2
            and self._is(i + 1, _Kind.DOT, touching=True)
            and (month := self._number(i + 2, touching=True)) is not None
            and self._is(i + 3, _Kind.DOT, touching=True)
            and (year := self._number(i + 4, (4,), touching=True)) is not None
        ):  # 15.3.2025
            return self._date(i, i + 5, year, month, int(token.text)), i + 5
        if self._is(i + 1, _Kind.SLASH, touching=True) and self._is(
            i + 2, _Kind.NUM, touching=True
        ):
            return self._slashed(i)
        if size <= 2:
            return self._day_and_month(i)
        if size == 4:  # a year: "2024", "under 2024"
            year = self._check_year(int(token.text), i, i + 1)
            return _Unit("year", token.start, token.end, *_WHOLE_YEAR, year=year), i + 1
        return None

    def _hyphen(self, i: int) -> bool:
        """An ISO date is written with hyphens; "2024–25" with an en dash is a range."""
        return self.tokens[i].text in _HYPHENS

    def _slashed(self, i: int) -> tuple[_Unit, int] | None:
        """ "15/3 2025", "15/3/2025", "15/3" (day/month) and "3/2025" (month/year)."""
        first, second = self.tokens[i], self.tokens[i + 2]
        if len(first.text) <= 2 and len(second.text) == 4:
            month = self._check_month(int(first.text), i, i + 3)
            year = self._check_year(int(second.text), i, i + 3)
            return _Unit("month", first.start, second.end, (month, 1), (month, 0), year=year), i + 3
        if len(first.text) <= 2 and len(second.text) <= 2:
            if self._is(i + 3, _Kind.SLASH, touching=True) and (
                (year := self._number(i + 4, (4,), touching=True)) is not None
            ):
                return self._date(i, i + 5, year, int(second.text), int(first.text)), i + 5
            unit = self._date(i, i + 3, None, int(second.text), int(first.text))
            return self._with_year(unit, i + 3)
        if len(first.text) == 4 and len(second.text) in (2, 4):
            pair = f"{self.plan_year}/{self.plan_year + 1}"
            raise _Unreadable(
                f"'{self._quote(i, i + 3)}' names two years but not which time "
                f"in them (e.g. 'årsskiftet {pair}', 'vintern {pair}')"
            )
        return None

    def _day_and_month(self, i: int) -> tuple[_Unit, int] | None:
        """ "15 mars [2024]", "1:a mars", "15. mars"; also "1:a kvartalet"."""
        j = i + 1
        if self._is(j, _Kind.COLON, touching=True) and self._word(j + 1) in ("a", "e"):
            j += 2
            noun = _ORDINAL_NOUNS.get(self._word(j) or "")
            if noun is not None:
                return self._numbered(i, j + 1, noun, int(self.tokens[i].text))
        j = self._dot(j)
        month = _MONTHS.get(self._word(j) or "")
        if month is None:
            return None
        end = j + 1 if self._word(j) in _FULL_MONTHS else self._dot(j + 1)
        unit = self._date(i, end, None, month, int(self.tokens[i].text))
        return self._with_year(unit, end)

    def _date(self, a: int, b: int, year: int | None, month: int, day: int | None) -> _Unit:
        """A day (or with day None a month) from numbers; the month length is checked once the
        year is known."""
        self._check_month(month, a, b)
        if year is not None:
            self._check_year(year, a, b)
        start, end = self.tokens[a].start, self.tokens[b - 1].end
        if day is None:
            return _Unit("month", start, end, (month, 1), (month, 0), year=year)
        if not 1 <= day <= 31:
            raise _Unreadable(f"'{self._quote(a, b)}' is not a date: there is no day {day}")
        return _Unit("day", start, end, (month, day), (month, day), year=year)

    def _check_month(self, month: int, a: int, b: int) -> int:
        if not 1 <= month <= 12:
            raise _Unreadable(f"'{self._quote(a, b)}' is not a date: there is no month {month}")
        return month

    def _check_year(self, year: int, a: int, b: int) -> int:
        if not MIN_YEAR <= year <= MAX_YEAR:
            raise _Unreadable(
                f"'{self._quote(a, b)}' has the year {year}, outside the years "
                f"{MIN_YEAR}–{MAX_YEAR} that can be read"
            )
        return year

    def _with_year(self, unit: _Unit, k: int) -> tuple[_Unit, int]:
        """An optional year after a unit: "2024", or a pair "2025/2026" / "2025/26"."""
        year = self._number(k, (4,))
        if year is None:
            return unit, k
        if not MIN_YEAR <= year <= MAX_YEAR:
            raise _Unreadable(
                f"'{_quote(self.text, unit.start, self.tokens[k].end)}' has the "
                f"year {year}, outside the years {MIN_YEAR}–{MAX_YEAR} that can be "
                "read"
            )
        if self._is(k + 1, _Kind.SLASH, touching=True):
            second = self._tok(k + 2)
            if second is not None and second.kind is _Kind.NUM and self._touching(k + 2):
                if len(second.text) == 4:
                    end_year = int(second.text)
                elif len(second.text) == 2:
                    end_year = year + 1 if int(second.text) == (year + 1) % 100 else -1
                else:
                    end_year = -1
                if end_year != year + 1:
                    fragment = _quote(self.text, unit.start, second.end)
                    raise _Unreadable(f"'{fragment}' is not a pair of consecutive years")
                end = self.tokens[k + 2].end
                return replace(unit, year=year, end_year=end_year, end=end), k + 3
        return replace(unit, year=year, end=self.tokens[k].end), k + 1

    def _week_check(self, unit: _Unit, k: int) -> tuple[_Unit, int]:
        """ "15 mars 2024 (v. 11)": a week number beside a date must agree with it."""
        j = k + self._is(k, _Kind.LPAREN)
        if self._word(j) not in ("vecka", "v"):
            return unit, k
        number = self._number(self._dot(j + 1))
        if number is None:
            return unit, k
        end = self._dot(j + 1) + 1
        if j > k:
            if not self._is(end, _Kind.RPAREN):
                return unit, k
            end += 1
        self._check_week(number, k, end)
        return replace(unit, in_week=number, end=self.tokens[end - 1].end), end

    def _check_week(self, number: int, a: int, b: int) -> int:
        if not 1 <= number <= 53:
            raise _Unreadable(f"'{self._quote(a, b)}' is not a week: weeks run from 1 to 53")
        return number

    def _week(self, number: int, a: int, b: int) -> _Unit:
        self._check_week(number, a, b)
        return _Unit("week", self.tokens[a].start, self.tokens[b - 1].end, week=number)

    def _word_unit(self, i: int, *, plain: bool) -> tuple[_Unit, int] | None:
        word = self.tokens[i].low
        token = self.tokens[i]
        if word in _MONTHS:
            month = _MONTHS[word]
            end = i + 1 if word in _FULL_MONTHS else self._dot(i + 1)
            unit = _Unit("month", token.start, self.tokens[end - 1].end, (month, 1), (month, 0))
            return self._with_year(unit, end)
        if word in _SEASONS:
            period = _SEASONS[word]
            following = self._word(i + 1)
            if (
                word == "vår"
                and following is not None
                and following not in _SEASON_FOLLOWERS
                and self._match(i + 1, _MODIFIERS) is None
            ):
                return None  # "vår" is also "our": "Vår utbildning mars 2024"
            return self._with_year(_Unit("period", token.start, token.end, *period), i + 1)
        if word in _TERMS:
            return self._term(i, _TERMS[word])
        if word in _NUMBERED:
            return self._numbered_word(i)
        if word in _ORDINALS and (noun := _ORDINAL_NOUNS.get(self._word(i + 1) or "")):
            return self._numbered(i, i + 2, noun, _ORDINALS[word])
        if word in _WEEK_WORDS:
            j = self._dot(i + 1)
            number = self._number(j)
            if number is None:
                return None
            if (
                self._is(j + 1, _Kind.COMMA)
                and (year := self._number(j + 2, (4,))) is not None
                and not self._touching(j + 3)
            ):  # "v. 12, 2024": the comma does not split a week from its year
                self._check_year(year, i, j + 3)
                unit = self._week(number, i, j + 1)
                return replace(unit, year=year, end=self.tokens[j + 2].end), j + 3
            return self._with_year(self._week(number, i, j + 1), j + 1)
        if plain:
            return self._year_word(i, plain=True)
        if word in _WEEKDAYS:
            return self._weekday(i)
        if word in _PARTS_OF_MONTH and self._word(i + 1) in ("av", "på"):
            return self._part(i)
        if word in _EARLY_LATE:
            return self._early_late(i)
        if word in ("årsskiftet", "årsskifte"):
            return self._year_end(i)
        if word in ("läsåret", "läsår"):
            return self._school_year(i)
        return self._year_word(i, plain=False)

    def _term(self, i: int, period: _Period) -> tuple[_Unit, int]:
        """ "vårterminen 2025", "VT 2025", and the usual "HT24" / "VT-25" with a two-digit year
        (decision: read as 20xx; two-digit years are accepted only glued to VT/HT)."""
        token = self.tokens[i]
        j = i + 1
        if self._is(j, _Kind.DASH, touching=True) and self._number(j + 1, (2,), touching=True):
            j += 1
        short = self._number(j, (2,), touching=True)
        if short is not None:
            unit = _Unit("period", token.start, self.tokens[j].end, *period, year=2000 + short)
            return unit, j + 1
        return self._with_year(_Unit("period", token.start, token.end, *period), i + 1)

    def _numbered_word(self, i: int) -> tuple[_Unit, int] | None:
        """ "Q1", "kvartal 1", "kv. 1", "T2", "tertial 2", "H1", "halvår 1"."""
        noun, glued = _NUMBERED[self.tokens[i].low]
        j = self._dot(i + 1)
        number = self._number(j, (1, 2), touching=glued)
        if number is None:
            return None
        return self._numbered(i, j + 1, noun, number)

    def _numbered(self, a: int, b: int, noun: str, number: int) -> tuple[_Unit, int]:
        count, period_of, name = _PART_OF_YEAR[noun]
        if number == -1:  # "sista kvartalet"
            number = count
        if not 1 <= number <= count:
            raise _Unreadable(f"'{self._quote(a, b)}' does not exist: a year has {count} {name}")
        unit = _Unit("period", self.tokens[a].start, self.tokens[b - 1].end, *period_of(number))
        return self._with_year(unit, b)

    def _weekday(self, i: int) -> tuple[_Unit, int]:
        """ "måndag 18 mars 2024" (checked) or "måndag vecka 12 2024" (that day of the week)."""
        weekday = _WEEKDAYS[self.tokens[i].low]
        j = self._dot(i + 1)
        j += self._word(j) == "den"
        found = self._unit(j, plain=True)
        if found is None or found[0].kind not in ("day", "week") or found[0].weekday is not None:
            raise _Unreadable(f"'{self._quote(i, j + 1)}' names a weekday but no date or week")
        unit, end = found
        return replace(unit, weekday=weekday, start=self.tokens[i].start), end

    def _part(self, i: int) -> tuple[_Unit, int] | None:
        """ "början av mars", "slutet av 2025", "mitten av året"."""
        part = self.tokens[i].low
        found = self._unit(i + 2, plain=True)
        if found is None:
            return None  # "Början av projektet" is words, not a time
        whole, end = found
        start = self.tokens[i].start
        if whole.kind == "month":
            month = whole.first[0]
            first_day, last_day = _PARTS_OF_MONTH[part]
            return replace(
                whole, kind="period", start=start, first=(month, first_day), last=(month, last_day)
            ), end
        if whole.kind == "year":
            first, last = _PARTS_OF_YEAR[part]
            return replace(whole, kind="period", start=start, first=first, last=last), end
        raise _Unreadable(
            f"'{self._quote(i, end)}' cannot be read: '{self.tokens[i].text} "
            f"{self.tokens[i + 1].text}' is read only of a month or a year"
        )

    def _early_late(self, i: int) -> tuple[_Unit, int] | None:
        """ "tidigt 2025" (Q1), "sent 2025" (Q4)."""
        found = self._unit(i + 1, plain=True)
        if found is None or found[0].kind != "year":
            return None
        whole, end = found
        first, last = _EARLY_LATE[self.tokens[i].low]
        return replace(
            whole, kind="period", start=self.tokens[i].start, first=first, last=last
        ), end

    def _year_end(self, i: int) -> tuple[_Unit, int]:
        """ "årsskiftet 2024/2025": 1 Dec – 31 Jan, due 31 Dec. Without a year it is the end of
        the plan's (or carried) year; with a single year it is ambiguous and refused."""
        token = self.tokens[i]
        unit = _Unit(
            "period", token.start, token.end, (12, 1), (1, 0), due=(12, 31), before=(12, 31)
        )
        unit, end = self._with_year(unit, i + 1)
        if unit.year is not None and unit.end_year is None:
            raise _Unreadable(
                f"'{self._quote(i, end)}' does not say which year-end: write "
                f"'{token.text} {unit.year}/{unit.year + 1}' or "
                f"'{token.text} {unit.year - 1}/{unit.year}'"
            )
        return unit, end

    def _school_year(self, i: int) -> tuple[_Unit, int]:
        token = self.tokens[i]
        unit, end = self._with_year(_Unit("period", token.start, token.end, *_SCHOOL_YEAR), i + 1)
        if unit.end_year is None:
            raise _Unreadable(
                f"'{self._quote(i, end)}' needs both its years, "
                f"e.g. '{token.text} {self.plan_year}/{self.plan_year + 1}'"
            )
        return unit, end

    def _year_word(self, i: int, *, plain: bool) -> tuple[_Unit, int] | None:
        """ "år 2024", "året", "i år", "nästa år", "årets utgång", "utgången av 2024"."""
        word = self.tokens[i].low
        start = self.tokens[i].start
        following = self._word(i + 1)
        if word == "år":
            year = self._number(i + 1, (4,))
            if year is not None:
                self._check_year(year, i, i + 2)
                return _Unit("year", start, self.tokens[i + 1].end, *_WHOLE_YEAR, year=year), i + 2
            if self._word(i - 1) == "i":  # "i år": the plan's year
                return _Unit("year", start, self.tokens[i].end, *_WHOLE_YEAR, plan_offset=0), i + 1
            return None
        if word == "nästa" and following == "år":
            return _Unit("year", start, self.tokens[i + 1].end, *_WHOLE_YEAR, plan_offset=1), i + 2
        if word == "året":
            return _Unit("year", start, self.tokens[i].end, *_WHOLE_YEAR, plan_offset=0), i + 1
        # The end of a year is its last day; "innan årets utgång" is therefore 31 Dec too.
        if word == "årets" and following in ("utgång", "slut"):
            return _Unit(
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


# --- Years, windows and milestones ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Span:
    first: date
    last: date
    due: date  # the last day, or 31 Dec for a year-end
    before: date  # the last day "före" it


class _Resolver:
    """Fills in missing years and turns items into milestones."""

    def __init__(self, text: str, plan_year: int) -> None:
        self.text = text
        self.plan_year = plan_year

    def milestones(self, items: list[_Item]) -> tuple[Milestone, ...]:
        # Right to left: a missing year comes from the next milestone that has one.
        carried: int | None = None
        milestones: list[Milestone] = []
        for item in reversed(items):
            span = self._window(item.time, carried)
            if item.time.left.year is not None or (
                item.time.right is not None and item.time.right.year is not None
            ):
                # Decision: the year carried is the one the next milestone begins in, so
                # "hösten, vinter/vår 2026" is autumn 2025, right before that winter.
                carried = span.first.year
            milestones.append(self._milestone(item, span))
        return tuple(reversed(milestones))

    def _quote(self, start: int, end: int) -> str:
        return _quote(self.text, start, end)

    def _milestone(self, item: _Item, span: _Span) -> Milestone:
        start: date | None
        if item.deadline is _Mod.BY_END:
            # Decision: when a start word and a deadline word meet, the deadline wins.
            start, end, due = None, span.due, span.due
        elif item.deadline is _Mod.BEFORE:
            # The design's example: "före sommaren 2024" is due 31 May, the day before summer.
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

    def _year_for(self, unit: _Unit, carried: int | None) -> int:
        if unit.year is not None:
            return unit.year
        if unit.plan_offset is not None:
            return self._plan_year(unit, unit.plan_offset)
        if carried is not None:
            return carried
        if unit.week is not None:
            # The design: a week with no year is never guessed (weeks of the plan's year would
            # be a guess for a plan that spans the new year).
            raise _Unreadable(f"'{self._quote(unit.start, unit.end)}' has no year")
        return self._plan_year(unit, 0)

    def _plan_year(self, unit: _Unit, offset: int) -> int:
        year = self.plan_year + offset
        if not MIN_YEAR <= year <= MAX_YEAR:
            raise _Unreadable(
                f"'{self._quote(unit.start, unit.end)}' has no year of its own and "
                f"the plan's year {year} is outside {MIN_YEAR}–{MAX_YEAR}"
            )
        return year

    def _window(self, time: _Time, carried: int | None) -> _Span:
        left, right = time.left, time.right
        if right is None:
            span = self._span(left, self._year_for(left, carried))
            if left.end_year is not None and span.last.year != left.end_year:
                raise _Unreadable(
                    f"'{self._quote(left.start, left.end)}' names two years, but "
                    "that time does not run from one into the other"
                )
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
                raise _Unreadable(
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
            if carried is None and (left.week is not None or right.week is not None):
                raise _Unreadable(f"'{self._quote(time.start, time.end)}' has no year")
            right_year = self._year_for(right, carried)
            right_span = self._span(right, right_year)
            left_span = self._before(left, right_span, right_year)
            if carried is None and left_span.first.year < right_year:
                # "december–juni" in a plan for 2024: Dec 2023 – Jun 2024 or Dec 2024 –
                # Jun 2025? The plan's year cannot tell which side it belongs to.
                raise _Unreadable(
                    f"'{self._quote(time.start, time.end)}' crosses a new year but names no "
                    "year: write the year beside each time"
                )
        if left.end_year is not None and left_span.last.year != left.end_year:
            raise _Unreadable(
                f"'{self._quote(left.start, left.end)}' names two years, but "
                "that time does not run from one into the other"
            )
        fragment = self._quote(time.start, time.end)
        if time.pair and right_span.first != left_span.last + timedelta(days=1):
            raise _Unreadable(
                f"'{fragment}' joins two times that do not follow each other; "
                "write a range with '–' instead"
            )
        if left_span.first > right_span.first or left_span.last > right_span.last:
            raise _Unreadable(f"'{fragment}' ends before it starts")
        return _Span(left_span.first, right_span.last, right_span.due, left_span.before)

    def _before(self, left: _Unit, right: _Span, year: int) -> _Span:
        """The left end of a range whose year is written only at its right end. The year belongs
        to the last part: "november–februari 2025" and "vinter/vår 2026" begin the year before."""
        span = self._span(left, year)
        return self._span(left, year - 1) if span.first > right.first else span

    def _after(self, right: _Unit, left: _Span, year: int) -> _Span:
        """The right end of a range whose year is written only at its left end."""
        span = self._span(right, year)
        return self._span(right, year + 1) if span.first < left.first else span

    def _span(self, unit: _Unit, year: int) -> _Span:
        fragment = self._quote(unit.start, unit.end)
        if not MIN_YEAR <= year <= MAX_YEAR:
            raise _Unreadable(
                f"'{fragment}' would fall in {year}, outside the years "
                f"{MIN_YEAR}–{MAX_YEAR} that can be read"
            )
        if unit.week is not None:
            return self._week_span(unit, year, fragment)
        first = _day(year, unit.first, fragment)
        crosses = _order(unit.last) < _order(unit.first)
        last = _day(year + crosses, unit.last, fragment)
        due = _day(year, unit.due, fragment) if unit.due else last
        before = _day(year, unit.before, fragment) if unit.before else first - timedelta(days=1)
        if unit.weekday is not None and first.weekday() != unit.weekday:
            raise _Unreadable(
                f"'{fragment}' contradicts itself: {_english(first)} is a "
                f"{_WEEKDAY_EN[first.weekday()]}, not a {_WEEKDAY_EN[unit.weekday]}"
            )
        if unit.in_week is not None and first.isocalendar().week != unit.in_week:
            raise _Unreadable(
                f"'{fragment}' contradicts itself: {_english(first)} is in week "
                f"{first.isocalendar().week}, not week {unit.in_week}"
            )
        return _Span(first, last, due, before)

    def _week_span(self, unit: _Unit, year: int, fragment: str) -> _Span:
        assert unit.week is not None
        weeks = date(year, 12, 28).isocalendar().week  # 28 Dec is always in the last week
        if unit.week > weeks:
            raise _Unreadable(f"'{fragment}' does not exist: {year} has {weeks} weeks")
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


def _order(month_day: _MonthDay) -> tuple[int, int]:
    """Sort key of a month-and-day, the month's last day (0) after every other."""
    month, day = month_day
    return month, day or 32


def _day(year: int, month_day: _MonthDay, fragment: str) -> date:
    month, day = month_day
    days = calendar.monthrange(year, month)[1]
    if day > days:
        raise _Unreadable(f"'{fragment}' is not a date: {_MONTH_EN[month]} {year} has {days} days")
    return date(year, month, day or days)


def _english(day: date) -> str:
    return f"{day.day} {_MONTH_EN[day.month]} {day.year}"


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
