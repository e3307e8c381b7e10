"""Milestone status in what subscribers and the coordinator read: the feeds' events and the
weekly digest. Pure: statuses are passed in."""

from __future__ import annotations

from datetime import UTC, date, datetime
from email.message import EmailMessage
from html import unescape
from pathlib import Path

import icalendar
import pytest

from notifier.catalog import Catalog, load_catalog
from notifier.compose import Composer
from notifier.feed import refresh
from notifier.feedhistory import History, milestone_uid
from notifier.kinds.base import Sources
from notifier.kinds.digest import DIGEST, DigestPeriod, compose_digest, digest_data, digests
from notifier.model import Recipient
from notifier.progress import Tally, tally
from notifier.records import COORDINATOR, StatusEntry
from notifier.settings import Settings

ROOT = Path(__file__).resolve().parent.parent.parent
KEY = "gotland-2024/delbart/1"  # due 31 March 2024, Polisen and Skolan
FIRST_BUILD = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
DONE_AT = datetime(2024, 4, 2, 10, 0, tzinfo=UTC)
# Monday 12 August 2024: 31 March is far more than four weeks back.
AUGUST = datetime(2024, 8, 12, 6, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(ROOT / "plan")


def done(key: str = KEY, by: str = "Polisen", at: datetime = DONE_AT) -> StatusEntry:
    return StatusEntry(key, "done", by, at, "cli", address="polisen@example.se")


def event(body: bytes, key: str, catalog: Catalog) -> icalendar.Event:
    [planned] = [m for m in catalog.milestones if m.key == key]
    events = icalendar.Calendar.from_ical(body).walk("VEVENT")
    [found] = [e for e in events if str(e["UID"]) == milestone_uid(planned)]
    return found


def test_a_done_milestone_keeps_its_uid_says_klart_and_moves_its_sequence_once(
    catalog: Catalog,
) -> None:
    settings = Settings()
    first = refresh(catalog, settings, History(), FIRST_BUILD)
    before = event(first.feeds["calendar"].body, KEY, catalog)
    later = refresh(catalog, settings, first.history, DONE_AT, {KEY: done()})
    after = event(later.feeds["calendar"].body, KEY, catalog)
    assert str(after["UID"]) == str(before["UID"])
    assert str(after["SUMMARY"]) == "Klart: " + str(before["SUMMARY"])
    assert str(after["DESCRIPTION"]).startswith("Klart 2 april 2024, Polisen\n\n")
    assert int(after["SEQUENCE"]) == int(before["SEQUENCE"]) + 1
    # Built again with the same status: the same bytes, no second bump.
    again = refresh(catalog, settings, later.history, AUGUST, {KEY: done()})
    assert again.feeds["calendar"].body == later.feeds["calendar"].body
    # The other events did not change.
    others = [m.key for m in catalog.milestones if m.key != KEY]
    for key in others:
        assert int(event(later.feeds["calendar"].body, key, catalog)["SEQUENCE"]) == int(
            event(first.feeds["calendar"].body, key, catalog)["SEQUENCE"]
        )
    # Reopened: the event says what it said before, one revision later.
    reopened = StatusEntry(KEY, "reopened", COORDINATOR, AUGUST, "cli")
    back = refresh(catalog, settings, later.history, AUGUST, {KEY: reopened})
    restored = event(back.feeds["calendar"].body, KEY, catalog)
    assert str(restored["SUMMARY"]) == str(before["SUMMARY"])
    assert int(restored["SEQUENCE"]) == int(before["SEQUENCE"]) + 2


def test_done_by_the_coordinator_is_said_in_swedish_with_the_comment(catalog: Catalog) -> None:
    entry = StatusEntry(KEY, "done", COORDINATOR, DONE_AT, "cli", comment="Kampanjen genomförd")
    body = refresh(catalog, Settings(), History(), DONE_AT, {KEY: entry}).feeds["calendar"].body
    description = str(event(body, KEY, catalog)["DESCRIPTION"])
    assert description.startswith("Klart 2 april 2024, samordnaren\nKommentar: Kampanjen genomförd")


def test_tally_counts_reopened_as_open_and_agrees_in_number(catalog: Catalog) -> None:
    statuses = {
        KEY: done(),
        "gotland-2024/sig/klart-for-start": StatusEntry(
            "gotland-2024/sig/klart-for-start",
            "needs-new-date",
            "Polisen",
            DONE_AT,
            "link",
            proposed_due=date(2025, 1, 31),
        ),
        "gotland-2024/utbildning-andts-coacher/1": StatusEntry(
            "gotland-2024/utbildning-andts-coacher/1", "reopened", COORDINATOR, DONE_AT, "cli"
        ),
    }
    assert tally(catalog.milestones, statuses) == Tally(done=1, open=9, new_date=1)
    assert tally(catalog.milestones, statuses).text == "1 klar, 9 öppna, 1 behöver ny tid"
    assert Tally(3, 1, 0).text == "3 klara, 1 öppen, 0 behöver ny tid"


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), unescape(html.get_content())


def test_the_digest_keeps_an_old_overdue_milestone_counts_statuses_and_tells_what_changed(
    catalog: Catalog,
) -> None:
    settings = Settings()
    [item] = digests(settings, AUGUST, AUGUST.replace(hour=7))
    said = datetime(2024, 8, 8, 13, 0, tzinfo=UTC)  # since the last digest (none: a week)
    history = (
        done("gotland-2024/utbildning-andts-coacher/1", "Polisen", said),
        StatusEntry(
            "gotland-2024/sig/klart-for-start",
            "needs-new-date",
            "Socialtjänsten",
            said,
            "link",
            comment="Personal saknas",
            proposed_due=date(2025, 1, 31),
        ),
    )
    statuses = {entry.milestone_key: entry for entry in history}
    sources = Sources(catalog, settings, AUGUST, statuses=statuses, status_history=history)
    data = DIGEST.report(item, sources)
    assert KEY in [m.key for m in data.overdue]  # due 31 March, four months back, still open
    assert "gotland-2024/utbildning-andts-coacher/1" not in [m.key for m in data.overdue]
    assert list(data.tallies) == [
        (catalog.plans[0].title.strip(), "1 klar, 9 öppna, 1 behöver ny tid")
    ]
    assert DIGEST.silenced(item, sources) is None

    message = compose_digest(
        Composer.load(ROOT / "templates"),
        data,
        Recipient("samordnare@gotland.example", "Samordnare"),
        AUGUST,
        settings,
    )
    text, html = parts(message)
    for part in (text, html):
        assert "1 klar, 9 öppna, 1 behöver ny tid" in part
        assert "Passerade delmål som inte är klara (4)" in part
        assert "Nytt sedan förra översikten (2)" in part
        assert "8 augusti 2024: Klart för start – " in part
        assert (
            "behöver ny tid, föreslaget datum 31 januari 2025 (Socialtjänsten). "
            "”Personal saknas”" in part
        )
        assert ": klar (Polisen)." in part


def test_a_digest_with_only_old_overdue_milestones_is_sent_and_quiet_once_they_are_done(
    catalog: Catalog,
) -> None:
    settings = Settings()
    period = DigestPeriod(date(2024, 8, 12), date(2024, 9, 8))
    open_data = digest_data(period, catalog, settings, [])
    assert open_data.overdue[0].milestone.due == date(2024, 3, 31)
    assert not open_data.is_empty
    everything = {m.key: done(m.key) for m in catalog.milestones}
    assert digest_data(period, catalog, settings, [], everything).overdue == []
    # Unreadable "När?" texts and organisations without addresses still make it worth sending
    # in the shipped plan, so this asks only about the milestones.
    quiet = digest_data(period, catalog, settings, [], everything)
    assert quiet.upcoming == [] and quiet.changes == []
