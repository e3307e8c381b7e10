"""The words the "När?" reader knows, as data: months, weekdays, seasons, school terms, parts of
a year or a month, deadline, start and tentative words, and the words that make a text refused.

All keys are case-folded; every comparison is on case-folded words. Word lists are written as
strings: "|" separates phrases, spaces the words of a phrase. Decisions where the reading rules
are silent are marked "Decision:".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import Enum
from typing import TypeAlias, TypeVar

from babel.dates import get_day_names, get_month_names

# Years outside this range are typing errors ("0202", "20024"), and the bounds keep every date
# computed from them (winter into the next year, margins) far from date's own limits.
MIN_YEAR = 1900
MAX_YEAR = 2200

_K = TypeVar("_K")  # what a phrase table maps to


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
    # Short forms the reading rules name that CLDR does not have. Decision: "mar" too, because
    # without it "mar 2024" would read as a label "Mar" before the whole year.
    names.update({"jun": 6, "jul": 7, "sept": 9, "mar": 3})
    return names, full


def _weekday_table() -> dict[str, int]:
    """Swedish weekday names from Babel, full and abbreviated: name -> 0 (Monday) … 6."""
    names: dict[str, int] = {}
    for width in ("wide", "abbreviated"):
        for number, name in get_day_names(width, locale="sv").items():
            names[name.casefold().rstrip(".")] = number
    return names


MONTHS, FULL_MONTHS = _month_table()
WEEKDAYS = _weekday_table()

# English names for reasons; calendar.month_name would follow the process locale.
MONTH_EN = ("", "January", "February", "March", "April", "May", "June", "July", "August",
            "September", "October", "November", "December")  # fmt: skip
WEEKDAY_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# A month-and-day; day 0 stands for the month's last day, which depends on the year.
MonthDay: TypeAlias = tuple[int, int]
Period: TypeAlias = tuple[MonthDay, MonthDay]

WHOLE_YEAR: Period = ((1, 1), (12, 0))

# Seasons as the reading rules give them. A period whose end comes before its start ends in the
# next year. Decision: a season is named by the year it begins in, so "vintern 2024" is
# 1 Dec 2024 – 28 Feb 2025; pairs such as "vinter/vår 2026" are read as ranges whose single
# year belongs to the last season (see Resolver._before), as the reading rules' examples say.
_SPRING: Period = ((3, 1), (5, 0))
_SUMMER: Period = ((6, 1), (8, 0))
_AUTUMN: Period = ((9, 1), (11, 0))
_WINTER: Period = ((12, 1), (2, 0))
# Definite and indefinite forms; the indefinite "vår" is also the pronoun "our".
SEASONS: dict[str, Period] = {
    "våren": _SPRING, "vår": _SPRING, "sommaren": _SUMMER, "sommar": _SUMMER,
    "hösten": _AUTUMN, "höst": _AUTUMN, "vintern": _WINTER, "vinter": _WINTER,
}  # fmt: skip
# Words after "vår" that keep it a season ("vår/sommar" and "vår 2025" do anyway).
SEASON_FOLLOWERS = _words("till och samt t mellan")

_SPRING_TERM: Period = ((1, 1), (6, 15))
_AUTUMN_TERM: Period = ((8, 15), (12, 20))
TERMS: dict[str, Period] = {
    "vårterminen": _SPRING_TERM, "vårtermin": _SPRING_TERM, "vt": _SPRING_TERM,
    "höstterminen": _AUTUMN_TERM, "hösttermin": _AUTUMN_TERM, "ht": _AUTUMN_TERM,
}  # fmt: skip
# Decision: a school year ("läsåret 2024/2025") runs from the autumn term's first day to the
# spring term's last.
SCHOOL_YEAR: Period = (_AUTUMN_TERM[0], _SPRING_TERM[1])


def _quarter(n: int) -> Period:
    return (3 * n - 2, 1), (3 * n, 0)


def _tertial(n: int) -> Period:
    return (4 * n - 3, 1), (4 * n, 0)


def _half(n: int) -> Period:
    return (6 * n - 5, 1), (6 * n, 0)


# Numbered parts of a year by their noun: (how many in a year, the n:th, name in reasons).
YEAR_DIVISIONS: dict[str, tuple[int, Callable[[int], Period], str]] = {
    "kvartal": (4, _quarter, "quarters"),
    "tertial": (3, _tertial, "tertials"),
    "halvår": (2, _half, "half-years"),
}
# Words that name them before a number: word -> (noun, digit glued on). "Q1", "T1", "H1" must be
# written as one word, so that a lone "t" (as in "t.o.m.") or "h" is never taken for one.
NUMBERED_WORDS: dict[str, tuple[str, bool]] = {
    "q": ("kvartal", True), "kv": ("kvartal", False), "kvartal": ("kvartal", False),
    "t": ("tertial", True), "tertial": ("tertial", False),
    "h": ("halvår", True), "halvår": ("halvår", False),
}  # fmt: skip
# Nouns after an ordinal: "första kvartalet", "1:a halvåret".
ORDINAL_NOUNS = {"kvartalet": "kvartal", "kvartal": "kvartal", "tertialet": "tertial",
                  "tertial": "tertial", "halvåret": "halvår", "halvår": "halvår"}  # fmt: skip
# "sista" (the last) is resolved against the number of parts.
ORDINALS = {"första": 1, "andra": 2, "tredje": 3, "fjärde": 4, "sista": -1}

# "början av mars" is days 1–10, "mitten av" 11–20, "slutet av" 21 to the end; of a year, the
# first and last quarter. Decision: "mitten av 2025" is the two middle quarters, Apr – Sep.
PARTS_OF_MONTH = {"början": (1, 10), "mitten": (11, 20), "slutet": (21, 0)}
PARTS_OF_YEAR = {"början": _quarter(1), "mitten": ((4, 1), (9, 0)), "slutet": _quarter(4)}
# Decision: "tidigt 2025" is Q1 as the reading rules say, and "sent 2025" likewise Q4.
EARLY_LATE = {"tidigt": _quarter(1), "sent": _quarter(4)}

WEEK_WORDS = _words("vecka v veckorna")
NUMBER_WORDS = {"en": 1, "ett": 1, "två": 2, "tre": 3, "fyra": 4, "fem": 5, "sex": 6, "sju": 7,
                 "åtta": 8, "nio": 9, "tio": 10, "elva": 11, "tolv": 12}  # fmt: skip

# Words that may stand before a time without changing it ("under 2024", "i mars",
# "den 15 mars", "vid årsskiftet", "inom 2024", "under hela 2024").
FILLERS = _words("under i hela inom vid den")
# Decision: words of approximation before a time make the milestone tentative ("ca mars 2024",
# "runt årsskiftet"). Only right before the time: "Samverkan kring unga mars 2024" keeps its label.
APPROXIMATE = _words("ca cirka circa ungefär omkring runt kring")


class Modifier(Enum):
    """What a modifier word before the time does."""

    TENTATIVE = "tentative"
    BY_END = "by end"  # "senast", "till och med": due at the end of the time, no start
    BEFORE = "before"  # "före", "innan": due the day before the time begins, no start
    FROM = "from"  # "från", "med start": a start word that is not part of the label


# Phrases are matched as word sequences; a dot right after a word belongs to it, so "t.o.m.",
# "t o m" and "prel." all match.
TENTATIVE = _phrases(
    Modifier.TENTATIVE,
    "preliminärt | preliminär | preliminära | prel | beräknas | beräknad | beräknat | beräknade"
    " | bedöms | troligen | troligtvis | förväntas | förväntad | förväntat | kan stå färdigt"
    " | kan stå färdig | kan stå klart | kan stå klar"
    # "Beräknas vara klart": the verb belongs to the tentative phrase, not to the label.
    " | beräknas vara | beräknas bli | bedöms vara | bedöms bli | förväntas vara | förväntas bli"
    # Decision: these say the same as the words the reading rules list.
    " | sannolikt | förmodligen | förhoppningsvis | uppskattningsvis | eventuellt | ev",
)
MODIFIERS = {
    **TENTATIVE,
    **_phrases(Modifier.BY_END, "senast | till och med | t o m"),
    # Decision: "inför" (ahead of) is a "före" as well.
    **_phrases(Modifier.BEFORE, "före | innan | inför"),
    **_phrases(Modifier.FROM, "från | från och med | fr o m | med start | med början"),
}
# A range's middle: (range, not a pair).
RANGE_WORDS = _phrases(True, "till | till och med | t o m")

# Label words that make the due date the window's first day (the reading rules' start words).
# Any word ending in "start" counts ("Start", "Uppstart", "Byggstart", "Klart för start");
# "börjar" covers "börjar gälla".
START_WORDS = _words("påbörjas påbörjad påbörjat startar startas börjar införas införs inleds")

# A range word with nothing before it is part of a label only when no time follows it:
# "Utskick till skolor mars 2024", but never "till sommaren 2024" (until? by?).
NOT_LABEL_BEFORE_A_TIME = _words("till")


class Untimed(Enum):
    NO_TIME = "names no time"
    RECURRENCE = "is a recurrence, not a single time"
    RELATIVE = "is relative to an unknown event"


UNTIMED = {
    **_phrases(
        Untimed.NO_TIME,
        "löpande | kontinuerligt | kontinuerlig | fortlöpande | pågående | pågår | vid behov"
        " | tills vidare | tillsvidare | ständigt | alltid | snarast | omgående | så snart"
        " | så fort | när möjligt",
    ),
    **_phrases(
        Untimed.RECURRENCE,
        "årligen | årlig | årligt | årliga | årsvis | halvårsvis | kvartalsvis | terminsvis"
        " | månadsvis | veckovis | dagligen | varje | varannan | varannat | återkommande"
        " | regelbundet | gång per | gånger per | gång om | gånger om | per år | per termin"
        " | per kvartal | per månad | per vecka",
    ),
    **_phrases(
        Untimed.RELATIVE,
        "i samband med | i anslutning till | efter | därefter | när | beroende på",
    ),
}
# A duration ("sex månader", "2 veckor") outside an uncertainty margin is relative to something.
DURATION_UNITS = _words(
    "dag dagar dagarna vecka veckor veckorna månad månader månaderna mån år åren"
)
AMOUNT_WORDS = frozenset({*NUMBER_WORDS, "några", "par"})
RELATIVE_LEADS = _words("inom om efter ca cirka ett")

MARGIN_WORDS = _words("osäkerhet osäkerhetsmarginal marginal felmarginal")
MARGIN_UNITS = {
    "månad": "months", "månader": "months", "mån": "months",
    "vecka": "weeks", "veckor": "weeks", "v": "weeks",
    "dag": "days", "dagar": "days",
}  # fmt: skip
# Decision: a margin wider than this is a typing error, not a plan.
MARGIN_LIMITS = {"months": 24, "weeks": 104, "days": 731}

PLACEHOLDER = re.compile(r"[0-9XxYyÅåMmDd?_.\-/–—]+")
PLACEHOLDER_MARK = re.compile(r"[Xx?_]|(?i:åå|yy|mm|dd)")
