"""Problem notices: the coordinator hears that an edit of plan, config or templates was
refused and the last good state still runs. Pure.

The daemon records each refused edit in the ledger (``problems``); one notice per distinct
set of problems goes out as soon as it is seen, not held for the next send time: whoever made
the edit is at it now. Each is news of its own and replaces no other. One that could not go
out for a week is dropped like a stale due notice: by then the edit has been fixed, or the
log, /healthz and ``notifier validate`` have long said what is wrong.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from notifier.cap import HELD_PREFIX
from notifier.due import Outgoing
from notifier.kinds.base import Context, Kind, MessageComposer, Sources, Span, by_time
from notifier.kinds.samples import samples
from notifier.kinds.views import common_context
from notifier.model import Recipient
from notifier.records import RecordedProblem
from notifier.schedule import STALE_AFTER, coordinator, zone
from notifier.settings import Settings
from notifier.swedish import header_text

NAME = "problem"

# A problem notice's payload is the problems' lines, as reported.
ProblemNotice = Outgoing[tuple[str, ...]]


def problem_key(problems: Sequence[str]) -> str:
    """The same problems give the same key: the coordinator hears of each once."""
    digest = hashlib.sha256("\n".join(sorted(problems)).encode("utf-8")).hexdigest()[:16]
    return f"problem/{digest}"


def problem_notices(recorded: Iterable[RecordedProblem], settings: Settings) -> list[ProblemNotice]:
    notices: list[ProblemNotice] = []
    for problem in recorded:
        if problem.key.startswith(HELD_PREFIX):
            continue  # a hold of the daily cap: kinds/held.py tells of it
        seen = problem.first_seen.astimezone(zone(settings))
        notices.append(
            Outgoing(
                key=problem.key,
                kind=NAME,
                group=problem.key,
                send_at=seen,
                expires_at=seen + STALE_AFTER,
                recipients=(coordinator(settings),),
                payload=problem.lines,
            )
        )
    return by_time(notices)


# --- Saying where, in Swedish -------------------------------------------------------------


@dataclass(frozen=True)
class ProblemView:
    """One refused edit, for a coordinator who is not a programmer: where it is, in Swedish,
    and the program's own (English, technical) message, to quote."""

    where: str
    explanation: str
    message: str


# "<file>: …" or "<file>:<line>: …", where <file> looks like a path; a message may wrap
# the location of what it reports ("<folder>: templates: <file>:<line>: …").
_LOCATION = re.compile(
    r"(?:[a-z]+: )?(?P<file>[^\s:]+)(?::(?P<line>\d+))?: (?P<rest>.*)", re.DOTALL
)
_FILE_SUFFIXES = (".toml", ".txt", ".html", ".json", ".pem")
_TOML_LINE = re.compile(r"\(at line (\d+), column \d+\)")
_EXPLANATIONS = (
    (
        re.compile(r"not valid TOML"),
        "Filen går inte att läsa. Ofta saknas ett citattecken, ett komma eller en parentes.",
    ),
    (
        re.compile(r"unknown key"),
        "Ett namn i filen är okänt för programmet. Kontrollera stavningen.",
    ),
    (
        re.compile(r"Input should be"),
        "Ett värde har fel form, till exempel text där det ska stå ett tal eller tvärtom.",
    ),
    (
        re.compile(r"is undefined|has no attribute"),
        "Mallen använder ett namn som inte finns.",
    ),
)


def problem_views(problems: Sequence[str], settings: Settings) -> list[ProblemView]:
    """Each problem with its location said in Swedish; lines without a location of their
    own (a hint, a message's second line) belong to the problem before them."""
    views: list[ProblemView] = []
    for line in problems:
        text = header_text(line)
        if not text:
            continue
        view = _problem_view(text, settings)
        if views and not view.where:
            last = views[-1]
            views[-1] = replace(last, message=f"{last.message}\n{text}")
        else:
            views.append(view)
    return views


def _location(text: str) -> re.Match[str] | None:
    match = _LOCATION.fullmatch(text)
    if match is None or not ("/" in match["file"] or match["file"].endswith(_FILE_SUFFIXES)):
        return None
    return match


def _problem_view(text: str, settings: Settings) -> ProblemView:
    match = _location(text)
    if match is None:
        return ProblemView("", _explanation(text), text)
    path, line, rest = match["file"], match["line"], match["rest"]
    # The outermost location may be a folder; the file named inside it says more.
    while (inner := _location(rest)) is not None:
        path, line, rest = inner["file"], inner["line"], inner["rest"]
    if line is None and (toml := _TOML_LINE.search(rest)) is not None:
        line = toml[1]
    where = f"{_file_kind(Path(path), settings)} {path}"
    if line is not None:
        where = f"{where}, rad {line}"
    return ProblemView(where, _explanation(rest), rest)


def _file_kind(path: Path, settings: Settings) -> str:
    config = settings.source.name if settings.source else "config.toml"
    if path.suffix in (".txt", ".html"):
        return "Mallen"
    if path.name == "organisations.toml":
        return "Adresslistan"
    if path.name == config:
        return "Inställningsfilen"
    if path.suffix == ".toml":
        return "Planfilen"
    return "Filen" if path.suffix else "Mappen"


def _explanation(message: str) -> str:
    return next((swedish for pattern, swedish in _EXPLANATIONS if pattern.search(message)), "")


# --- The message --------------------------------------------------------------------------


def _problem_context(
    problems: Sequence[str], recipient: Recipient, now: datetime, settings: Settings
) -> Context:
    context = common_context(recipient, now, settings)
    context["problems"] = problem_views(problems, settings)
    return context


def compose_problem_notice(
    composer: MessageComposer,
    problems: Sequence[str],
    recipient: Recipient,
    now: datetime,
    settings: Settings,
) -> EmailMessage:
    return composer.message(
        NAME,
        _problem_context(problems, recipient, now, settings),
        recipient,
        key=problem_key(problems),
        now=now,
        settings=settings,
    )


class ProblemNoticeKind(Kind[tuple[str, ...]]):
    name = NAME
    label = "problem"
    nouns = ("problem notice", "problem notices")

    def messages(self, sources: Sources, span: Span) -> list[ProblemNotice]:
        return problem_notices(sources.problems, sources.settings)

    def compose(
        self,
        item: ProblemNotice,
        recipient: Recipient,
        now: datetime,
        sources: Sources,
        composer: MessageComposer,
    ) -> EmailMessage:
        return compose_problem_notice(composer, item.payload, recipient, now, sources.settings)

    def sample_contexts(self, settings: Settings) -> Sequence[Context]:
        return [
            _problem_context(_SAMPLE_PROBLEMS if s.full else (), s.recipient, s.now, settings)
            for s in samples()
        ]

    def summary(self, item: ProblemNotice, sources: Sources) -> str:
        lines = item.payload
        if not lines:
            return "refused edit (its problems were not kept)"
        more = f" (and {len(lines) - 1} more)" if len(lines) > 1 else ""
        return f"refused edit: {lines[0]}{more}"

    def details(self, item: ProblemNotice, sources: Sources) -> dict[str, Any]:
        return {"problems": list(item.payload)}


_SAMPLE_PROBLEMS = ("exempelplan, åtgärd 'trygghetsvandringar': \"Löpande\"",)

PROBLEM_NOTICE = ProblemNoticeKind()
