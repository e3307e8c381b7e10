"""The organisation directory: "Vem?" text -> canonical organisations -> email addresses.

The plan names organisations as people wrote them: with word-processor hyphenation
("Regionstyrelse-förvaltningen"), typos ("Gotlands förenade besöksnärings") and a missing
comma ("Regionstyrelse-förvaltningen Länsstyrelsen"). The directory lists each organisation
once with its aliases; matching is exact on a normalised form, never fuzzy, so nothing is
guessed. Unknown names are reported with the closest known name as a suggestion.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import tomli as tomllib
from pydantic import BaseModel, ConfigDict, ValidationError

from notifier.checks import is_address
from notifier.errors import PlanError
from notifier.model import Location, Organisation, Problem
from notifier.slugs import slugify

_SEPARATORS = re.compile(r"\s*(?:[,;&/+]|\boch\b|\bsamt\b)\s*", re.IGNORECASE)
_HYPHENATION = re.compile(r"(\w)[-\u00ad]\s*(?=[a-zåäö])")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def _words(text: str) -> list[str]:
    """Words as written, with word-processor hyphenation ("Regionstyrelse-förvaltningen") joined."""
    text = unicodedata.normalize("NFC", text).replace("\u00ad", "")
    return re.findall(r"\w+", _HYPHENATION.sub(r"\1", text))


def normalise(text: str) -> str:
    """Case, Unicode form, hyphenation and spacing folded away; used on both sides."""
    return " ".join(_words(text)).casefold()


class _OrganisationData(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    slug: str | None = None
    aliases: list[str] = []
    emails: list[str] = []


class _DirectoryData(BaseModel):
    model_config = ConfigDict(extra="forbid")
    organisation: list[_OrganisationData] = []


@dataclass(frozen=True)
class Resolution:
    """A "Vem?" text read against the directory: the organisations found, the names not."""

    organisations: tuple[Organisation, ...]
    unknown: tuple[str, ...]


@dataclass
class Directory:
    """The organisations that answer for actions, their aliases and addresses."""

    organisations: tuple[Organisation, ...] = ()
    problems: list[Problem] = field(default_factory=list)
    source: Path | None = None
    _index: dict[tuple[str, ...], Organisation] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for organisation in self.organisations:
            for name in (organisation.name, *organisation.aliases):
                words = tuple(normalise(name).split())
                if words:
                    self._index.setdefault(words, organisation)
        self._longest = max((len(k) for k in self._index), default=0)

    def by_slug(self, slug: str) -> Organisation | None:
        return next((o for o in self.organisations if o.slug == slug), None)

    def find(self, name: str) -> Organisation | None:
        """One organisation by name, alias or slug, as typed on the command line."""
        return self.by_slug(name) or self._index.get(tuple(normalise(name).split()))

    def resolve(self, who: str) -> Resolution:
        found: list[Organisation] = []
        unknown: list[str] = []
        for piece in _SEPARATORS.split(who):
            words = normalise(piece).split()
            start, pending = 0, []
            while start < len(words):
                match = self._longest_match(words, start)
                if match is None:
                    pending.append(start)
                    start += 1
                    continue
                organisation, length = match
                if pending:
                    unknown.append(_original_words(piece, pending))
                    pending = []
                if organisation not in found:
                    found.append(organisation)
                start += length
            if pending:
                unknown.append(_original_words(piece, pending))
        return Resolution(tuple(found), tuple(unknown))

    def suggestion(self, name: str) -> str | None:
        names = {" ".join(k): o.name for k, o in self._index.items()}
        import difflib  # only when a name is not known: most loads never need it

        close = difflib.get_close_matches(normalise(name), list(names), n=1, cutoff=0.75)
        return names[close[0]] if close else None

    def _longest_match(self, words: list[str], start: int) -> tuple[Organisation, int] | None:
        for length in range(min(self._longest, len(words) - start), 0, -1):
            organisation = self._index.get(tuple(words[start : start + length]))
            if organisation:
                return organisation, length
        return None


def _original_words(piece: str, positions: list[int]) -> str:
    words = _words(piece)
    return " ".join(words[i] for i in positions)


def load_directory(path: Path) -> Directory:
    if not path.exists():
        return Directory(
            problems=[
                Problem(
                    Location(path),
                    "organisation directory",
                    "missing",
                    "Create it with one [[organisation]] per organisation (name, aliases, emails).",
                    kind="directory",
                )
            ],
            source=path,
        )
    try:
        text = path.read_text(encoding="utf-8")
        data = _DirectoryData.model_validate(tomllib.loads(text))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as error:
        # ValueError covers TOMLDecodeError and tomllib's limit on huge integers.
        raise PlanError([f"{path}: cannot read the organisation directory: {error}"]) from None
    except ValidationError as error:
        raise PlanError(
            [
                f"{path}: {'.'.join(str(p) for p in item['loc'])}: {item['msg']}"
                for item in error.errors()
            ]
        ) from None
    lines = [n for n, line in enumerate(text.splitlines(), 1) if line.strip() == "[[organisation]]"]
    organisations = []
    problems: list[Problem] = []
    seen: dict[tuple[str, ...], str] = {}
    for index, item in enumerate(data.organisation):
        location = Location(path, lines[index] if index < len(lines) else None)
        emails = tuple(e.strip() for e in item.emails)
        for email in emails:
            if not is_address(email):
                problems.append(
                    Problem(
                        location,
                        f"organisation '{item.name}', field emails",
                        f"'{email}' is not an email address; nothing is sent to it",
                        "Write it as name@example.se.",
                        kind="directory",
                    )
                )
        slug = item.slug or slugify(item.name, max_words=8)
        if not _SLUG.match(slug):
            problems.append(
                Problem(
                    location,
                    f"organisation '{item.name}', field slug",
                    f"'{item.slug}' is not a valid feed name",
                    "Use lower-case letters a-z, digits and '-', e.g. 'polisen'.",
                    kind="directory",
                )
            )
            slug = slugify(item.name, max_words=8)
        organisation = Organisation(
            name=item.name,
            slug=slug,
            aliases=tuple(item.aliases),
            emails=tuple(e for e in emails if is_address(e)),
        )
        for name in (item.name, *item.aliases):
            key = tuple(normalise(name).split())
            if key in seen and seen[key] != item.name:
                problems.append(
                    Problem(
                        location,
                        f"organisation '{item.name}'",
                        f"'{name}' is also a name of '{seen[key]}'",
                        "Each name or alias may belong to one organisation only.",
                        kind="directory",
                    )
                )
            seen.setdefault(key, item.name)
        organisations.append(organisation)
    return Directory(tuple(organisations), problems, path)
