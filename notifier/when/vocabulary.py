"""The words the "När?" reader knows, as data: months, weekdays, seasons, school terms, parts of
a year or a month, deadline, start and tentative words, and the words that make a text refused.

All keys are case-folded; every comparison is on case-folded words. Word lists are written as
strings: "|" separates phrases, spaces the words of a phrase. Decisions where the reading rules
are silent are marked "Decision:".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta
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
    # The definite form heads a line as often as the plain one: "Onsdagen 20 augusti".
    for number, name in get_day_names("wide", locale="sv").items():
        names[name.casefold() + "en"] = number
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
    " | sannolikt | förmodligen | förhoppningsvis | uppskattningsvis | eventuellt | ev"
    # "Bedöms kunna antas", "kan komma att starta": the helper verbs belong to the hedge.
    " | bedöms kunna | beräknas kunna | förväntas kunna | kan komma att",
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

# "Byggstart", "byggstartas", "Uppstarten": any word ending so is a start word too.
START_ENDINGS = ("start", "starten", "starta", "startar", "startas")
# Label words that make the due date the window's first day (the reading rules' start words).
# Any word ending in "start" counts ("Start", "Uppstart", "Byggstart", "Klart för start");
# "börjar" covers "börjar gälla".
START_WORDS = _words(
    "påbörjas påbörjad påbörjat starta startar startas starten börjar börja införas införs inleds"
    " inledas öppnar öppnas"
)

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

# --- Labels: which words may stand right beside a time ----------------------------------------
#
# A word directly before a time (or directly after it, as a label written after the time) must
# be one the reader knows: any other word there might change what the time means ("nästa",
# "tidigast", an unknown holiday), so it makes the text refused, never absorbed into a label.
# A label of any words stays readable when a colon ends it ("Samverkan kring unga: mars 2024").
#
# Known are: the words below, and any compound whose last part is one of LABEL_HEADS (Swedish
# builds nouns by compounding: "Diplomeringsklart", "Byggstart", "Höstlov", "Studiedag").
LABEL_HEADS = (
    "ning", "ningen", "ningar", "ningarna", "ande", "andet", "ende", "endet", "else", "elsen",
    "start", "starten", "klart", "klar", "slut", "lov", "lovet", "dag", "dagen", "dagar",
    "dagarna", "möte", "mötet", "möten", "rapport", "rapporten", "beslut", "beslutet", "samråd",
    "samrådet", "remiss", "remissen", "betänkande", "betänkandet", "spadtag", "spadtaget",
    "vecka", "veckan", "kraft", "plan", "planen", "program", "programmet", "strategi",
    "strategin", "prov", "provet", "period", "perioden", "tid", "tiden", "etapp", "etappen",
    "insats", "insatsen", "kampanj", "kampanjen", "dialog", "dialoger", "konferens", "seminarium",
    "jobb", "jobbet", "arbete", "arbetet", "arbeten",
)  # fmt: skip
LABEL_WORDS = _words(
    # verbs of plans and schedules, as they stand before a time
    "antas anta antagen antaget ske sker skett starta startar startas startat börja börjar slutar"
    " sluta öppnar öppnas öppna stänger stängs påbörjas påbörjad påbörjat inleds inledas införs"
    " införas genomförs genomföras genomförd genomfört görs göras gjord gjort lämnas lämna"
    " avlämna redovisas redovisa slutredovisas slutredovisa delredovisas delredovisa varar vara"
    " pågå fastställs fastställas fastställd fastställt beslutas träda träder gälla gäller"
    " planeras planerad planerat planerade tänkt stå står bygga byggas byggs byggd byggt"
    " färdigt färdig färdiga färdigställt färdigställd färdigställas klara levereras levererad"
    " levererat utförs utföras utförd utfört tas tages skickas skickad skickat publiceras"
    " presenteras rapporteras ut in löpa löper"
    # what is reported or done, in commission and plan sentences
    " uppdraget uppdrag detta det arbete arbetet resultatet redovisningen delbetänkandet"
    " slutbetänkandet delredovisningen slutredovisningen förslaget förslag regeringen"
)
# Words that change what the time beside them means: never part of a label next to a time.
TIME_CHANGERS = {
    "nästa": "moves the time to an unknown reference (next after what?)",
    "nästkommande": "moves the time to an unknown reference (next after what?)",
    "kommande": "moves the time to an unknown reference (the coming one from when?)",
    "förra": "moves the time to an unknown reference (the one before what?)",
    "föregående": "moves the time to an unknown reference (the one before what?)",
    "innevarande": "moves the time to an unknown reference (current when?)",
    "tidigast": "makes the time a lower bound, not a date anything is due",
    "senare": "moves the time to an unknown reference (later than what?)",
    "samma": "refers to a time given elsewhere",
    "sedan": "refers to a time given elsewhere",
}
# Nouns that take a number ("etapp 2", "hus 9"): the number is part of the label, but right
# before a time it cannot be told from a day ("hus 9 dec 2020"), so there it is refused.
NUMBERED_NOUNS = _words("etapp etappen hus huset del delen steg fas fasen område kvarter")
# Verbs after which "till" names a target, not the end of a range: "planeras till hösten 2025".
TARGET_VERBS = _words(
    "planeras planerad planerat planerade beräknas beräknad beräknat fastställs fastställd"
    " fastställt ändras ändrats flyttas flyttad flyttat tänkt satt satts"
)

# Reports: a sentence about reporting is labelled by what is reported, whatever else it says
# ("Uppdraget ska slutredovisas senast den 31 maj 2018" is a "Slutredovisning"). A more
# specific report wins over "Redovisning" ("redovisningen av delbetänkandet").
REPORTS: dict[str, tuple[int, str]] = {
    **{w: (1, "Redovisning") for w in ["redovisa", "redovisas", "redovisning", "redovisningen"]},
    **{
        w: (2, "Delredovisning")
        for w in ["delredovisa", "delredovisas", "delredovisning", "delredovisningen"]
    },
    **{
        w: (2, "Slutredovisning")
        for w in ["slutredovisa", "slutredovisas", "slutredovisning", "slutredovisningen"]
    },
    **{w: (3, "Delbetänkande") for w in ["delbetänkande", "delbetänkandet"]},
    **{w: (3, "Slutbetänkande") for w in ["slutbetänkande", "slutbetänkandet"]},
}

# Holidays by name. Each is read by a stated rule: its day (or days) in a given year, so that a
# date written beside it is checked ("18 april (Långfredag)") and "före jul 2025" falls due the
# day before julafton. School breaks ("sportlovet", "höstlovet") differ between municipalities
# and years, so they are never read as a time.
HOLIDAYS = (
    _phrases("easter-2", "långfredag | långfredagen | långfredagens")
    | _phrases("easter-3", "skärtorsdag | skärtorsdagen")
    | _phrases("easter", "påskdag | påskdagen")
    | _phrases("easter+1", "annandag påsk | annandagen påsk | annandag påsk")
    | _phrases(
        "easter+39",
        "kristi himmelsfärd | kristi himmelsfärdsdag | kristi himmelfärd | kristi himmelfärdsdag"
        " | kristi himmelsfärdsdagen | kristi himmelfärdsdagen",
    )
    | _phrases("05-01", "första maj")
    | _phrases("06-06", "nationaldag | nationaldagen | sveriges nationaldag")
    | _phrases("12-24", "julafton | jul")
    | _phrases("12-25", "juldag | juldagen")
    | _phrases("12-26", "annandag jul")
    | _phrases("12-31", "nyårsafton")
    | _phrases("01-01", "nyårsdag | nyårsdagen")
    | _phrases("01-06", "trettondag | trettondagen | trettondag jul | trettondedag jul")
    | _phrases("midsummer", "midsommarafton | midsommar")
    | _phrases("easter-2+1", "påsk")
)
SCHOOL_BREAKS = _words(
    "sportlov sportlovet höstlov höstlovet jullov jullovet påsklov påsklovet sommarlov"
    " sommarlovet läslov läslovet"
)
CLOCK_WORDS = _words("kl klockan")


def _easter(year: int) -> date:
    """Easter Sunday (the anonymous Gregorian computation)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    m = (32 + 2 * e + 2 * i - h - k) % 7
    n = (a + 11 * h + 22 * m) // 451
    month, day = divmod(h + m - 7 * n + 114, 31)
    return date(year, month, day + 1)


def holiday_span(key: str, year: int) -> tuple[date, date]:
    """The first and last day of a holiday of HOLIDAYS in ``year``."""
    if key == "midsummer":  # midsommarafton: the Friday between 19 and 25 June
        eve = date(year, 6, 19) + timedelta(days=(4 - date(year, 6, 19).weekday()) % 7)
        return eve, eve
    if key == "easter-2+1":  # "påsk": långfredagen to annandag påsk
        easter = _easter(year)
        return easter - timedelta(days=2), easter + timedelta(days=1)
    if key.startswith("easter"):
        day = _easter(year) + timedelta(days=int(key[6:] or 0))
        return day, day
    month, day_of_month = (int(part) for part in key.split("-"))
    day = date(year, month, day_of_month)
    return day, day


def known_word(word: str) -> bool:
    """Whether the reader knows ``word`` (case-folded) as a word that may stand beside a time."""
    return (
        word in LABEL_WORDS
        or word in TARGET_VERBS
        or word.endswith(LABEL_HEADS)
        or word.endswith(START_ENDINGS)
        or word in MONTHS
        or word in WEEKDAYS
        or any(word in phrase for table in (HOLIDAYS, MODIFIERS, UNTIMED) for phrase in table)
        or word in FILLERS
        or word in APPROXIMATE
        or word in SEASONS
        or word in TERMS
    )
