"""Feed events written directly (``notifier.icsrender``) are byte for byte what ``icalendar``
writes for them: subscribers must see no change, and the published feeds keep their ETags."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from notifier.feed import EventContent
from notifier.feedhistory import EventRecord
from notifier.icsrender import event_bytes, fold, reference_event_bytes

# Characters that escaping and folding treat specially, and multi-byte letters around them.
ALPHABET = "aåäöÅÄÖ éü€𝄞\\;,:\n\r\tN^\"'<>-–…" + "abcdefghij" * 3


def random_text(randomness: random.Random, longest: int) -> str:
    return "".join(randomness.choice(ALPHABET) for _ in range(randomness.randint(0, longest)))


def content(randomness: random.Random) -> EventContent:
    start = date(2024, 1, 1) + timedelta(days=randomness.randint(0, 700))
    return EventContent(
        uid=f"plan.{random_text(randomness, 12)}.klart@notifier",
        summary=random_text(randomness, 160),
        description=random_text(randomness, 900),
        start=start,
        end=start + timedelta(days=1),
        status=randomness.choice(("CONFIRMED", "TENTATIVE")),
        categories=tuple(random_text(randomness, 20) for _ in range(randomness.randint(0, 3))),
        url=randomness.choice(("", "https://example.org/plan?a=1,b=2;c", "https://x.example/")),
    )


def test_random_events_render_as_icalendar_renders_them() -> None:
    randomness = random.Random(5545)
    for number in range(400):
        item = content(randomness)
        stamp = datetime(2024, 5, 6, 12, tzinfo=UTC) + timedelta(seconds=number * 7919)
        record = EventRecord("digest", randomness.randint(0, 40), stamp)
        assert event_bytes(item, record) == reference_event_bytes(item, record), item


@pytest.mark.parametrize("size", range(60, 160))
def test_folding_at_every_length_and_escape_position(size: int) -> None:
    for tail in ("\\n", "\\\\", "\\;", "^^", "åä", "€", "𝄞"):
        line = ("x" * (size - len(tail)) + tail) * 2
        item = EventContent("u@notifier", line, line, date(2024, 5, 6), date(2024, 5, 7),
                            "CONFIRMED", (), "")
        record = EventRecord("d", 0, datetime(2024, 5, 6, tzinfo=UTC))
        assert event_bytes(item, record) == reference_event_bytes(item, record)


def test_a_stamp_not_in_utc_is_rendered_the_reference_way() -> None:
    item = EventContent("u@notifier", "s", "d", date(2024, 5, 6), date(2024, 5, 7), "CONFIRMED",
                        (), "")
    local = datetime(2024, 5, 6, 14, tzinfo=ZoneInfo("Europe/Stockholm"))
    record = EventRecord("d", 1, local)
    assert event_bytes(item, record) == reference_event_bytes(item, record)


def test_short_lines_are_not_folded() -> None:
    assert fold(b"x" * 74) == b"x" * 74
    assert fold(b"x" * 75) == b"x" * 74 + b"\r\n x"


def test_the_content_digest_is_that_of_its_sorted_json() -> None:
    """The feed history keeps these digests: written another way, they must not change."""
    import hashlib
    import json

    randomness = random.Random(3339)
    for _ in range(300):
        item = content(randomness)
        data = {
            "render": "1",
            "uid": item.uid,
            "summary": item.summary,
            "description": item.description + "\x00\x1f\u2028\"\\",
            "start": item.start.isoformat(),
            "end": item.end.isoformat(),
            "status": item.status,
            "categories": list(item.categories),
            "url": item.url,
        }
        item = replace(item, description=data["description"])
        text = json.dumps(data, ensure_ascii=False, sort_keys=True)
        assert item.digest == hashlib.sha256(text.encode("utf-8")).hexdigest()
