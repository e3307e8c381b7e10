"""The feed: the seed plan's events, parsed back by two independent parsers, and identity rules."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import icalendar
import pytest
from ical.calendar_stream import IcsCalendarStream

from notifier.catalog import Catalog, load_catalog
from notifier.feed import (
    WHOLE,
    History,
    feed_path,
    milestone_calendar,
    milestone_uid,
    refresh,
    swedish_date,
)
from notifier.feedstate import (
    TokenFile,
    load_history,
    save_history,
    write_feed_files,
)
from notifier.settings import FeedSettings, Settings

ROOT = Path(__file__).resolve().parent.parent.parent
PLAN_DIR = ROOT / "plan"
# The whole feed and the feed history as the version that still wrote a VTIMEZONE published
# them from the seed plan at FIRST_BUILD.
PUBLISHED = ROOT / "tests" / "data" / "published-2024-05-06"
PLAN_FILE = "gotland-2024.toml"

FIRST_BUILD = datetime(2024, 5, 6, 9, 30, tzinfo=UTC)
LATER_BUILD = datetime(2024, 6, 1, 7, 0, tzinfo=UTC)
MUCH_LATER = datetime(2024, 9, 1, 12, 0, tzinfo=UTC)

# uid -> (due date, tentative): the seed's 11 milestones as the plan's "När?" texts say.
SEED_EVENTS = {
    "gotland-2024.sig.klart-for-start@notifier": (date(2024, 11, 1), False),
    "gotland-2024.krogar-mot-knark.utbildning@notifier": (date(2024, 5, 31), False),
    "gotland-2024.krogar-mot-knark.diplomeringsklart@notifier": (date(2024, 12, 31), False),
    "gotland-2024.utbildning-andts-coacher.1@notifier": (date(2024, 3, 31), False),
    "gotland-2024.utbildning-andts-coacher.2@notifier": (date(2024, 11, 30), False),
    "gotland-2024.utbildning-ansvarsfull-alkoholservice.klart@notifier": (date(2024, 6, 30), False),
    "gotland-2024.information-sommarkrogare.klart@notifier": (date(2024, 6, 30), False),
    "gotland-2024.delbart.1@notifier": (date(2024, 3, 31), False),
    "gotland-2024.forelasning-sexuellt-vald.1@notifier": (date(2024, 11, 30), True),
    "gotland-2024.sodra-gotland-samverkar.klart@notifier": (date(2024, 12, 31), False),
    "gotland-2024.lilla-islandsmodellen.uppfoljning@notifier": (date(2024, 12, 31), False),
}

POLISEN_UIDS = {
    "gotland-2024.sig.klart-for-start@notifier",
    "gotland-2024.krogar-mot-knark.utbildning@notifier",
    "gotland-2024.krogar-mot-knark.diplomeringsklart@notifier",
    "gotland-2024.utbildning-andts-coacher.1@notifier",
    "gotland-2024.utbildning-andts-coacher.2@notifier",
    "gotland-2024.delbart.1@notifier",
    "gotland-2024.sodra-gotland-samverkar.klart@notifier",
    "gotland-2024.lilla-islandsmodellen.uppfoljning@notifier",
}


@pytest.fixture(scope="module")
def seed() -> Catalog:
    return load_catalog(PLAN_DIR)


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture
def plan_copy(tmp_path: Path) -> Path:
    """plan/ copied so a test may edit it."""
    folder = tmp_path / "plan"
    shutil.copytree(PLAN_DIR, folder)
    return folder


def build(
    catalog: Catalog,
    settings: Settings,
    history: History | None = None,
    now: datetime = FIRST_BUILD,
):
    return refresh(catalog, settings, history or History(), now)


def events_of(body: bytes) -> dict[str, icalendar.Event]:
    calendar = icalendar.Calendar.from_ical(body)
    return {str(event["UID"]): event for event in calendar.walk("VEVENT")}


def event_block(body: bytes, uid: str) -> bytes:
    """The raw bytes of one VEVENT, as a subscriber receives them."""
    for block in re.findall(rb"BEGIN:VEVENT\r\n.*?END:VEVENT\r\n", body, re.S):
        if f"UID:{uid}\r\n".encode() in block:
            return block
    raise AssertionError(f"{uid} not in feed")


def edit_plan(folder: Path, old: str, new: str) -> None:
    path = folder / PLAN_FILE
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


# --- the seed plan, parsed back ---------------------------------------------------------------


def test_seed_catalog_has_eleven_milestones_and_eleven_organisations(seed: Catalog) -> None:
    assert len(seed.milestones) == 11
    assert len(seed.organisations) == 11


def test_icalendar_reads_the_eleven_expected_all_day_events(seed, settings) -> None:
    body = build(seed, settings).feeds[WHOLE].body
    events = events_of(body)
    assert set(events) == set(SEED_EVENTS)
    for uid, (due, tentative) in SEED_EVENTS.items():
        event = events[uid]
        assert event.decoded("DTSTART") == due
        assert event.decoded("DTEND") == due + timedelta(days=1)  # exclusive end
        assert type(event.decoded("DTSTART")) is date  # VALUE=DATE, not a datetime
        assert str(event["STATUS"]) == ("TENTATIVE" if tentative else "CONFIRMED")
        assert str(event["TRANSP"]) == "TRANSPARENT"
        assert str(event["X-MICROSOFT-CDO-BUSYSTATUS"]) == "FREE"
        assert str(event["X-MICROSOFT-CDO-ALLDAYEVENT"]) == "TRUE"
        assert int(event["SEQUENCE"]) == 0
        assert event.decoded("DTSTAMP") == FIRST_BUILD
        assert event.decoded("LAST-MODIFIED") == FIRST_BUILD


def test_the_strict_ical_parser_reads_the_same_events_in_every_feed(seed, settings) -> None:
    result = build(seed, settings)
    for feed in result.feeds:
        calendar = IcsCalendarStream.calendar_from_ics(feed.body.decode("utf-8"))
        parsed = {event.uid: event for event in calendar.events}
        assert parsed, feed.name
        for uid, event in parsed.items():
            due, tentative = SEED_EVENTS[uid]
            assert event.dtstart == due
            assert event.dtend == due + timedelta(days=1)
            assert (event.status and event.status.value) == (
                "TENTATIVE" if tentative else "CONFIRMED"
            )
    whole = IcsCalendarStream.calendar_from_ics(result.feeds[WHOLE].body.decode())
    assert {e.uid for e in whole.events} == set(SEED_EVENTS)


def test_summary_says_what_is_due_and_by_whom_in_swedish(seed, settings) -> None:
    events = events_of(build(seed, settings).feeds[WHOLE].body)
    sig = str(events["gotland-2024.sig.klart-for-start@notifier"]["SUMMARY"])
    assert sig.startswith("Klart för start: Implementera metod för strukturerad samverkan")
    assert sig.endswith("– Socialtjänsten, Grundskolan, Polisen")
    training = str(events["gotland-2024.krogar-mot-knark.utbildning@notifier"]["SUMMARY"])
    assert training.startswith("Utbildning: Implementera metoden Krogar mot knark")
    lecture = str(events["gotland-2024.forelasning-sexuellt-vald.1@notifier"]["SUMMARY"])
    assert lecture.startswith("Preliminärt – Kunskapshöjande föreläsning")
    assert "Wisbygymnasiet" in lecture


def test_description_holds_window_verbatim_when_cause_goal_action_and_everyone(
    seed, settings
) -> None:
    events = events_of(build(seed, settings).feeds[WHOLE].body)
    text = str(events["gotland-2024.krogar-mot-knark.diplomeringsklart@notifier"]["DESCRIPTION"])
    assert "Delmål: Diplomeringsklart" in text
    assert "Datum: 31 december 2024" in text
    assert "Tidsfönster: 1 december 2024 – 31 december 2024" in text
    assert "När? (i planen): Utbildning maj 2024, Diplomeringsklart december 2024" in text
    assert (
        "Ansvariga: Regionstyrelseförvaltningen, Polisen, Gotlands förenade besöksnäring, "
        "Länsstyrelsen" in text
    )
    assert "Åtgärd: Implementera metoden Krogar mot knark." in text
    assert "Mål: Störa den kriminella ekonomin" in text
    assert "Orsak: Nätverk försörjer sig på narkotikaförsäljning" in text
    assert "Plan: Åtgärdsplan 2024 - brottsförebyggande insatser (daterad 6 maj 2024)" in text
    assert [
        str(c)
        for c in events["gotland-2024.krogar-mot-knark.diplomeringsklart@notifier"]
        .get("CATEGORIES")
        .cats
    ] == ["Narkotika"]
    tentative = str(events["gotland-2024.forelasning-sexuellt-vald.1@notifier"]["DESCRIPTION"])
    assert "Datum: 30 november 2024 (preliminärt)" in tentative


def test_dates_are_written_out_in_swedish() -> None:
    assert swedish_date(date(2024, 11, 1)) == "1 november 2024"
    assert swedish_date(date(2024, 3, 31)) == "31 mars 2024"


def test_calendar_carries_what_subscribing_clients_need(seed, settings) -> None:
    body = build(seed, settings).feeds["polisen"].body
    head = body.split(b"BEGIN:VEVENT")[0].decode()
    for line in (
        "VERSION:2.0",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "REFRESH-INTERVAL;VALUE=DURATION:PT4H",
        "X-PUBLISHED-TTL:PT4H",
    ):
        assert f"\r\n{line}\r\n" in head
    assert "PRODID:" in head
    calendar = icalendar.Calendar.from_ical(body)
    assert str(calendar["X-WR-CALNAME"]).startswith("Polisen – Åtgärdsplan 2024")
    assert "som Polisen ansvarar för" in str(calendar["X-WR-CALDESC"])
    assert b"VTODO" not in body and b"VALARM" not in body


def test_refresh_interval_follows_the_configuration(seed) -> None:
    settings = Settings(feeds=FeedSettings(refresh="12h", url="https://intranat.example/plan"))
    body = build(seed, settings).feeds[WHOLE].body
    assert b"\r\nREFRESH-INTERVAL;VALUE=DURATION:PT12H\r\n" in body
    assert b"\r\nX-PUBLISHED-TTL:PT12H\r\n" in body
    assert body.count(b"\r\nURL:https://intranat.example/plan\r\n") == 11


def test_no_feed_names_a_time_zone_because_every_event_is_a_date(seed, settings) -> None:
    # RFC 5545 3.6.5 asks for a VTIMEZONE per TZID referenced; dates reference none, and
    # X-WR-TIMEZONE only tells some clients how to read floating times, which no event has.
    for feed in build(seed, settings).feeds:
        calendar = icalendar.Calendar.from_ical(feed.body)
        assert calendar.get_missing_tzids() == set()
        assert calendar.walk("VTIMEZONE") == []
        assert b"TZID" not in feed.body
        assert b"X-WR-TIMEZONE" not in feed.body
        assert b"DTSTART;VALUE=DATE:" in feed.body


def test_feeds_published_with_a_vtimezone_keep_every_event_as_it_was(seed, settings) -> None:
    """Dropping the VTIMEZONE changes each calendar's bytes once, and no event: subscribers
    see no event updated (same SEQUENCE, LAST-MODIFIED and bytes), only a new feed body."""
    old_body = (PUBLISHED / "calendar.ics").read_bytes()
    old_history = load_history(PUBLISHED / "feed-history.json")
    assert b"BEGIN:VTIMEZONE" in old_body
    now = build(seed, settings, old_history, LATER_BUILD)
    assert now.history.events == old_history.events
    for uid in SEED_EVENTS:
        assert event_block(now.feeds[WHOLE].body, uid) == event_block(old_body, uid)
    # The bytes changed, so Last-Modified moves once; the next rebuild keeps it.
    assert now.feeds[WHOLE].last_modified == LATER_BUILD
    again = build(seed, settings, now.history, MUCH_LATER)
    assert again.feeds[WHOLE].body == now.feeds[WHOLE].body
    assert again.feeds[WHOLE].last_modified == LATER_BUILD


# --- bytes on the wire ------------------------------------------------------------------------


def test_lines_end_in_crlf_and_fold_at_75_octets_without_splitting_a_character(
    seed, settings
) -> None:
    for feed in build(seed, settings).feeds:
        body = feed.body
        assert body.endswith(b"END:VCALENDAR\r\n")
        assert b"\n" not in body.replace(b"\r\n", b"")  # no bare LF
        assert b"\r" not in body.replace(b"\r\n", b"")  # no bare CR
        for line in body.split(b"\r\n"):
            assert len(line) <= 75, line
            line.decode("utf-8")  # each physical line is whole UTF-8 on its own


def test_folding_never_splits_å_wherever_the_fold_falls(plan_copy, settings) -> None:
    # Shift a run of 'å' (2 octets each) by one ASCII character at a time, so the 75-octet
    # boundary lands on every byte position of a character at least once.
    for shift in range(4):
        edit_plan(
            plan_copy,
            '"åtgärd" = "Informationskampanj till skolelever (Delbart)"',
            f'"åtgärd" = "{"x" * shift}{"å" * 120} (Delbart)"',
        )
        body = build(load_catalog(plan_copy), settings).feeds[WHOLE].body
        for line in body.split(b"\r\n"):
            assert len(line) <= 75
            line.decode("utf-8")
        events = events_of(body)
        assert "å" * 120 in str(events["gotland-2024.delbart.1@notifier"]["DESCRIPTION"])
        edit_plan(
            plan_copy,
            f'"åtgärd" = "{"x" * shift}{"å" * 120} (Delbart)"',
            '"åtgärd" = "Informationskampanj till skolelever (Delbart)"',
        )


# --- identity and change ----------------------------------------------------------------------


def test_an_unchanged_rebuild_is_byte_identical_and_keeps_the_etag(seed, settings) -> None:
    first = build(seed, settings)
    second = build(seed, settings, first.history, now=LATER_BUILD)
    for feed in first.feeds:
        assert second.feeds[feed.name].body == feed.body
        assert second.feeds[feed.name].etag == feed.etag
        assert second.feeds[feed.name].last_modified == FIRST_BUILD
    assert second.history == first.history


def test_history_survives_a_restart_through_its_file(seed, settings, tmp_path) -> None:
    first = build(seed, settings)
    save_history(tmp_path / "feed-history.json", first.history)
    restarted = build(seed, settings, load_history(tmp_path / "feed-history.json"), LATER_BUILD)
    assert restarted.feeds[WHOLE].body == first.feeds[WHOLE].body


def test_a_damaged_history_file_starts_afresh(tmp_path) -> None:
    path = tmp_path / "feed-history.json"
    path.write_text("{not json", encoding="utf-8")
    assert load_history(path) == History()
    assert load_history(tmp_path / "missing.json") == History()


def test_uids_are_stable_when_actions_are_reordered(plan_copy, settings) -> None:
    before = build(load_catalog(plan_copy), settings)
    path = plan_copy / PLAN_FILE
    head, *actions = path.read_text(encoding="utf-8").split("\n[[action]]\n")
    path.write_text("\n[[action]]\n".join([head, *reversed(actions)]), encoding="utf-8")
    reordered = load_catalog(plan_copy)
    assert reordered.plans[0].actions[0].id == "lilla-islandsmodellen"
    after = build(reordered, settings, before.history, LATER_BUILD)
    assert set(events_of(after.feeds[WHOLE].body)) == set(SEED_EVENTS)
    for uid in SEED_EVENTS:
        assert event_block(after.feeds[WHOLE].body, uid) == event_block(
            before.feeds[WHOLE].body, uid
        )
    assert after.feeds[WHOLE].body == before.feeds[WHOLE].body


def test_editing_text_updates_the_event_in_place_and_raises_its_sequence(
    plan_copy, settings
) -> None:
    before = build(load_catalog(plan_copy), settings)
    edit_plan(
        plan_copy,
        "Informationskampanj till skolelever (Delbart)",
        "Informationskampanj i skolorna (Delbart)",
    )
    after = build(load_catalog(plan_copy), settings, before.history, LATER_BUILD)
    events = events_of(after.feeds[WHOLE].body)
    assert set(events) == set(SEED_EVENTS)  # no duplicate, no loss
    changed = events["gotland-2024.delbart.1@notifier"]
    assert str(changed["SUMMARY"]).startswith("Informationskampanj i skolorna")
    assert int(changed["SEQUENCE"]) == 1
    assert changed.decoded("LAST-MODIFIED") == LATER_BUILD
    assert changed.decoded("DTSTAMP") == LATER_BUILD
    for uid, event in events.items():
        if uid != "gotland-2024.delbart.1@notifier":
            assert int(event["SEQUENCE"]) == 0
            assert event.decoded("LAST-MODIFIED") == FIRST_BUILD
    # Feeds holding the event changed; a feed without it did not.
    assert after.feeds["polisen"].etag != before.feeds["polisen"].etag
    assert after.feeds["polisen"].last_modified == LATER_BUILD
    assert after.feeds["grundskolan"].body == before.feeds["grundskolan"].body
    assert after.feeds["grundskolan"].last_modified == FIRST_BUILD
    # A second edit raises it again; rebuilding without an edit does not.
    edit_plan(plan_copy, "Informationskampanj i skolorna", "Informationskampanj för elever")
    again = build(load_catalog(plan_copy), settings, after.history, MUCH_LATER)
    same = build(load_catalog(plan_copy), settings, again.history, MUCH_LATER + timedelta(1))
    for result in (again, same):
        event = events_of(result.feeds[WHOLE].body)["gotland-2024.delbart.1@notifier"]
        assert int(event["SEQUENCE"]) == 2
        assert event.decoded("LAST-MODIFIED") == MUCH_LATER


def test_a_moved_due_date_keeps_the_uid(plan_copy, settings) -> None:
    before = build(load_catalog(plan_copy), settings)
    edit_plan(plan_copy, '"när" = "Klart december 2024"', '"när" = "Klart juni 2024"')
    after = build(load_catalog(plan_copy), settings, before.history, LATER_BUILD)
    event = events_of(after.feeds[WHOLE].body)[
        "gotland-2024.sodra-gotland-samverkar.klart@notifier"
    ]
    assert event.decoded("DTSTART") == date(2024, 6, 30)
    assert int(event["SEQUENCE"]) == 1


def test_removing_an_action_removes_its_events_everywhere(plan_copy, settings) -> None:
    before = build(load_catalog(plan_copy), settings)
    path = plan_copy / PLAN_FILE
    head, *actions = path.read_text(encoding="utf-8").split("\n[[action]]\n")
    kept = [a for a in actions if 'id = "krogar-mot-knark"' not in a]
    path.write_text("\n[[action]]\n".join([head, *kept]), encoding="utf-8")
    after = build(load_catalog(plan_copy), settings, before.history, LATER_BUILD)
    assert len(events_of(after.feeds[WHOLE].body)) == 9
    assert "krogar-mot-knark" not in after.feeds["polisen"].body.decode()
    # The removal changes the bytes, so Last-Modified moves although no event stamp did.
    assert after.feeds["polisen"].last_modified == LATER_BUILD
    # An organisation keeps its feed while it answers for anything else.
    assert "gotlands-forenade-besoksnaring" in after.feeds


# --- feeds per plan and per organisation --------------------------------------------------------


def test_each_organisation_feed_holds_only_its_own_milestones(seed, settings) -> None:
    result = build(seed, settings)
    assert set(events_of(result.feeds["polisen"].body)) == POLISEN_UIDS
    assert set(events_of(result.feeds["wisbygymnasiet"].body)) == {
        "gotland-2024.forelasning-sexuellt-vald.1@notifier"
    }
    assert set(events_of(result.feeds["grundskolan"].body)) == {
        "gotland-2024.sig.klart-for-start@notifier"
    }
    for organisation in seed.organisations:
        uids = set(events_of(result.feeds[organisation.slug].body))
        expected = {milestone_uid(m) for m in seed.milestones if organisation in m.organisations}
        assert uids == expected, organisation.name


def test_the_same_event_has_the_same_bytes_in_every_feed(seed, settings) -> None:
    result = build(seed, settings)
    uid = "gotland-2024.sig.klart-for-start@notifier"
    whole = event_block(result.feeds[WHOLE].body, uid)
    for name in ("gotland-2024", "polisen", "socialtjansten", "grundskolan"):
        assert event_block(result.feeds[name].body, uid) == whole


def test_feed_names_are_whole_plans_and_organisation_slugs(seed, settings) -> None:
    result = build(seed, settings)
    names = {feed.name: feed.kind for feed in result.feeds}
    assert names[WHOLE] == "all"
    assert names["gotland-2024"] == "plan"
    assert names["polisen"] == "organisation"
    assert len(names) == 1 + 1 + 11
    assert feed_path(WHOLE) == "calendar.ics"
    assert feed_path("polisen") == "calendar/polisen.ics"
    assert feed_path("polisen", "tok") == "calendar/tok/polisen.ics"


def test_an_organisation_slug_equal_to_a_plan_id_is_reported(plan_copy, settings) -> None:
    path = plan_copy / "organisations.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace('name = "Skolan"\n', 'name = "Skolan"\nslug = "gotland-2024"\n'),
        encoding="utf-8",
    )
    result = build(load_catalog(plan_copy), settings)
    assert result.feeds["gotland-2024"].kind == "plan"
    assert any(
        "Skolan" in problem and "gotland-2024" in problem for problem in result.feeds.problems
    )


def test_now_must_carry_a_time_zone(seed, settings) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        refresh(seed, settings, History(), datetime(2024, 5, 6))


# --- the attachment ---------------------------------------------------------------------------


def test_milestone_calendar_is_one_published_event_identical_to_the_feed(seed, settings) -> None:
    result = build(seed, settings)
    planned = next(m for m in seed.milestones if m.action.id == "forelasning-sexuellt-vald")
    body = milestone_calendar(planned, settings, result.history)
    calendar = icalendar.Calendar.from_ical(body)
    assert str(calendar["METHOD"]) == "PUBLISH"
    assert "X-WR-CALNAME" not in calendar  # one entry to import, not a calendar to open
    [event] = calendar.walk("VEVENT")
    uid = "gotland-2024.forelasning-sexuellt-vald.1@notifier"
    assert str(event["UID"]) == uid
    assert event_block(body, uid) == event_block(result.feeds[WHOLE].body, uid)
    assert b"VTIMEZONE" not in body and b"TZID" not in body  # it never carried one
    IcsCalendarStream.calendar_from_ics(body.decode())


def test_milestone_calendar_without_history_is_deterministic(seed, settings) -> None:
    planned = seed.milestones[0]
    first = milestone_calendar(planned, settings)
    assert first == milestone_calendar(planned, settings, None)
    event = icalendar.Calendar.from_ical(first).walk("VEVENT")[0]
    assert event.decoded("DTSTAMP") == datetime(2024, 5, 6, tzinfo=UTC)  # the plan's date
    assert int(event["SEQUENCE"]) == 0


# --- files ------------------------------------------------------------------------------------


def test_feed_files_mirror_the_urls_and_stale_files_go(seed, settings, tmp_path) -> None:
    feeds = build(seed, settings).feeds
    out = tmp_path / "www"
    (out / "calendar").mkdir(parents=True)
    (out / "calendar" / "old-organisation.ics").write_bytes(b"stale")
    (out / "calendar" / "readme.txt").write_text("not ours")
    changed = write_feed_files(feeds, out)
    assert len(changed) == len(feeds)
    assert (out / "calendar.ics").read_bytes() == feeds[WHOLE].body
    assert (out / "calendar" / "polisen.ics").read_bytes() == feeds["polisen"].body
    assert ((out / "calendar" / "polisen.ics").stat().st_mode & 0o777) == 0o644
    assert not (out / "calendar" / "old-organisation.ics").exists()
    assert (out / "calendar" / "readme.txt").exists()
    assert write_feed_files(feeds, out) == []  # unchanged feeds are not rewritten


def test_feed_files_with_tokens_exist_only_under_their_token(seed, settings, tmp_path) -> None:
    feeds = build(seed, settings).feeds
    out = tmp_path / "www"
    write_feed_files(feeds, out)  # first published without tokens
    tokens = TokenFile(tmp_path / "state" / "feed-tokens.json")
    secret = tokens.ensure(feed.name for feed in feeds)
    assert (tokens.path.stat().st_mode & 0o777) == 0o600
    write_feed_files(feeds, out, secret)
    assert not (out / "calendar.ics").exists()
    assert not (out / "calendar" / "polisen.ics").exists()
    path = out / feed_path("polisen", secret["polisen"])
    assert path.read_bytes() == feeds["polisen"].body
    rotated = tokens.rotate(["polisen"])
    write_feed_files(feeds, out, rotated)
    assert not path.exists()
    assert (out / feed_path("polisen", rotated["polisen"])).exists()
    assert not path.parent.exists()  # the old token's folder is gone too
