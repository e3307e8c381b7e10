"""Subjects decode to exactly the text that was rendered, wherever the fold falls.

RFC 2047 has a decoder drop the white space between two encoded words. A folder that leaves
a space there (or at the edge of an encoded word next to another) loses it: "… dagar –
Uppföljning" arrived as "… dagar –Uppföljning". Every check here decodes the bytes on the
wire twice, as a modern client does (``email.policy.default``) and as the older
``decode_header``/``make_header`` pair does, and compares with the text character for
character.
"""

from __future__ import annotations

import itertools
import re
from datetime import date
from email import message_from_bytes
from email import policy as email_policy
from email.header import decode_header, make_header
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from notifier import mimepolicy
from notifier.catalog import load_catalog
from notifier.commands.reminders import simulate
from notifier.compose import Composer
from notifier.config import load_settings
from notifier.mail import OutboxMailer, SendResult, message_bytes
from notifier.swedish import header_text

LINE_MAX = 76  # RFC 2047: a header line that holds an encoded word


class RecordingOutbox(OutboxMailer):
    """The real outbox, noting the Subject each message had when it was handed over."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.subjects: dict[str, str] = {}

    def send(self, message: EmailMessage, recipients: Any) -> list[SendResult]:
        self.subjects[str(message["Message-ID"])] = str(message["Subject"])
        return super().send(message, recipients)


def _unfold(value: str) -> str:
    """RFC 5322 unfolding: a line break followed by white space is no break at all."""
    return re.sub(r"\r?\n(?=[ \t])", "", value)


def decoded_both_ways(raw: bytes) -> tuple[str, str]:
    """The Subject of ``raw`` as today's parser and as the legacy header API read it."""
    modern = message_from_bytes(raw, policy=email_policy.default)
    legacy = message_from_bytes(raw, policy=email_policy.compat32)
    return str(modern["Subject"]), str(make_header(decode_header(_unfold(legacy["Subject"]))))


def subject_lines(raw: bytes) -> list[bytes]:
    lines = raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(b"Subject:"))
    end = next(
        (i for i in range(start + 1, len(lines)) if lines[i][:1] not in (b" ", b"\t")),
        len(lines),
    )
    return lines[start:end]


def assert_subject_survives(text: str) -> None:
    """Fold ``text`` as the composer does, then decode it back: the same characters."""
    header = mimepolicy.BUILD.header_factory("Subject", text)
    raw = header.fold(policy=mimepolicy.SMTP).encode("ascii") + b"\r\n"
    assert decoded_both_ways(raw) == (text, text), raw
    lines = subject_lines(raw)
    assert all(len(line) <= LINE_MAX for line in lines), lines
    assert all(line[:1] in (b" ", b"\t") for line in lines[1:]), lines


# --- the simulated year ----------------------------------------------------------------------


def test_every_subject_of_the_simulated_year_decodes_to_the_rendered_text(project: Path) -> None:
    settings = load_settings(project / "config.toml")
    catalog = load_catalog(settings.plans.dir)
    composer = Composer.load(settings.templates.dir)
    outbox = RecordingOutbox(project / "simulated")
    results = simulate(
        catalog,
        settings,
        composer,
        outbox,
        date(2024, 1, 1),
        date(2024, 12, 31),
    )
    files = sorted((project / "simulated").glob("*.eml"))
    assert results and len(files) == len(outbox.subjects)
    kinds = set()
    for path in files:
        raw = path.read_bytes()
        message = message_from_bytes(raw, policy=email_policy.default)
        rendered = outbox.subjects[str(message["Message-ID"])]
        assert decoded_both_ways(raw) == (rendered, rendered), path.name
        assert all(len(line) <= LINE_MAX for line in subject_lines(raw)), path.name
        kinds.add(rendered.split(":")[0])
    assert {"Påminnelse", "Att följa upp"} <= kinds
    assert any(kind.startswith("Veckoöversikt") for kind in kinds)


# --- hostile lengths ---------------------------------------------------------------------------

SWEDISH = (
    'Påminnelse: Uppföljning om 32 dagar – Uppföljning "Lilla islandsmodellen" – åtgärd för '
    "ökad trygghet i Ölands och Ärlas hamn – "
)
ASCII = "Reminder: follow-up in 32 days - Lilla islandsmodellen (draft) = ?= ok "


COMPOUNDS = "Regionstyrelseförvaltningens–samhällsbyggnadsförvaltningens–åtgärdsuppföljning "


def folds(raw: bytes) -> list[tuple[str, str]]:
    """(text before, text after) each point where the Subject is folded."""
    lines = [line.strip().decode("ascii") for line in subject_lines(raw)]
    lines[0] = lines[0].removeprefix("Subject:").strip()
    pieces = [str(make_header(decode_header(line))) for line in lines]
    return list(itertools.pairwise(pieces))


def sweep(base: str, lengths: range, shifts: range) -> list[tuple[str, str]]:
    """Fold and decode every cut of ``base`` repeated; every fold made on the way."""
    cycle = base * (max(lengths) // len(base) + 3)
    seen = []
    for length in lengths:
        for shift in shifts:
            text = cycle[shift : shift + length].strip()
            assert_subject_survives(text)
            header = mimepolicy.BUILD.header_factory("Subject", text)
            seen += folds(header.fold(policy=mimepolicy.SMTP).encode("ascii"))
    return seen


def test_a_swedish_subject_of_any_length_survives_whatever_falls_at_the_fold() -> None:
    # Every length from 40 to 200 characters; and the dash, the spaces and the Swedish
    # letters moved through every position of the text, so that each lands on a fold.
    seen = sweep(SWEDISH, range(40, 201), range(0, len(SWEDISH), 29))
    seen += sweep(SWEDISH, range(40, 201, 23), range(len(SWEDISH)))
    seen += sweep(COMPOUNDS, range(40, 201, 3), range(0, len(COMPOUNDS), 7))
    # The folds that lose a space when done wrong were all made, and survived.
    assert any(before.endswith("– ") for before, _ in seen)
    assert any(before.endswith(" ") and after[0] in "åäöÅÄÖ" for before, after in seen)
    assert any(before[-1].isalpha() and after[0].isalpha() for before, after in seen)
    assert any(before[-1] == "–" or after[0] == "–" for before, after in seen)


def test_a_plain_ascii_subject_of_any_length_survives_too() -> None:
    sweep(ASCII, range(40, 201), range(0, len(ASCII), 5))


@pytest.mark.parametrize(
    "text",
    [
        "å" * 200,
        "–" * 120,
        "x" * 190,
        "x" * 90 + " " + "y" * 90,
        header_text("Ärende =?utf-8?q?falsk?= – slut"),  # as the composer passes it on
        "a  b   c – ä",
        "Påminnelse: " + "Uppföljning – " * 12,
        "😀 Påminnelse – ✓ klart",
    ],
    ids=[
        "å",
        "dashes",
        "one-long-word",
        "two-long-words",
        "looks-encoded",
        "spaces",
        "repeat",
        "astral",
    ],
)
def test_odd_subjects_survive_too(text: str) -> None:
    assert_subject_survives(text)


WORDS = st.sampled_from(
    [
        "Påminnelse:",
        "Uppföljning",
        "–",
        "—",
        "Lilla",
        '"islandsmodellen"',
        "åtgärd",
        "Öppna",
        "ä",
        "ö",
        "Å",
        "om",
        "32",
        "dagar",
        "(preliminärt)",
        "”citat”",
        "Krogar",
        "mot",
        "knark",
        "…",
        "i",
    ]
)


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    words=st.lists(WORDS, min_size=1, max_size=60),
    separators=st.lists(st.sampled_from([" ", "  "]), min_size=60, max_size=60),
)
def test_any_subject_of_swedish_words_survives_a_whole_message(
    words: list[str], separators: list[str]
) -> None:
    text = "".join(
        word + separator for word, separator in zip(words, separators, strict=False)
    ).strip()
    message = EmailMessage(policy=mimepolicy.BUILD)
    message["Subject"] = text
    message.set_content("Hej!\n", charset="utf-8")
    raw = message_bytes(message)
    assert decoded_both_ways(raw) == (text, text)
    assert all(len(line) <= LINE_MAX for line in subject_lines(raw))
    assert raw.isascii()


def test_a_subject_is_one_header_however_it_is_folded() -> None:
    message = EmailMessage(policy=mimepolicy.BUILD)
    message["Subject"] = "Påminnelse – " * 20
    message.set_content("x")
    received = message_from_bytes(message_bytes(message), policy=email_policy.default)
    assert list(received.keys()).count("Subject") == 1
    assert set(received.keys()) == {
        "Subject",
        "Content-Type",
        "Content-Transfer-Encoding",
        "MIME-Version",
    }
