"""Templates and messages: what a recipient reads, and what no plan text can break."""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import replace
from datetime import date, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import format_datetime, parsedate_to_datetime
from html import unescape
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from notifier.compose import Composer, message_id
from notifier.due import Outgoing
from notifier.errors import UserError
from notifier.kinds.changed import compose_change_notice
from notifier.kinds.digest import DigestData, Failure, compose_digest
from notifier.kinds.due import compose_due_notice
from notifier.kinds.problem import compose_problem_notice
from notifier.kinds.reminder import Reminder, compose_reminder
from notifier.mail import message_bytes
from notifier.model import Action, Milestone, Organisation, Plan, PlannedMilestone, Recipient
from notifier.settings import CoordinatorSettings, FeedSettings, MailSettings, Settings
from notifier.swedish import (
    header_text,
    relative_days,
    shorten,
    swedish_date,
    swedish_list,
    swedish_period,
    window_text,
)

ROOT = Path(__file__).resolve().parent.parent.parent
TEMPLATES = ROOT / "templates"
STOCKHOLM = ZoneInfo("Europe/Stockholm")
NOW = datetime(2024, 6, 23, 8, 0, tzinfo=STOCKHOLM)
DUE = date(2024, 6, 30)
HEADERS = {
    "Subject",
    "From",
    "To",
    "Reply-To",
    "Date",
    "Message-ID",
    "Auto-Submitted",
    "X-Auto-Response-Suppress",
    "Content-Language",
    "MIME-Version",
    "Content-Type",
}


POLICE = Organisation("Polisen", "polisen", emails=("polisen@gotland.example",))
SOCIAL = Organisation("Socialtjänsten", "socialtjansten", emails=("social@gotland.example",))
HOTELS = Organisation("Gotlands förenade besöksnäring", "besoksnaring")  # no address

PLAN = Plan(
    id="gotland-2024",
    title="Åtgärdsplan 2024 - brottsförebyggande insatser",
    date=date(2024, 5, 6),
    year=2024,
    timezone="Europe/Stockholm",
    actions=(),
)
ACTION = Action(
    id="krogar-mot-knark",
    area="1 Narkotika",
    problem_area="1.1 Kriminella nätverk",
    problem="Inkomster från narkotikaförsäljning bidrar till nätverkens tillväxt.",
    cause="Nätverk försörjer sig på narkotikaförsäljning och utnyttjar unga.",
    goal="Störa den kriminella ekonomin i krogmiljö.",
    measure="Implementera metoden Krogar mot knark.",
    who="Polisen, Socialtjänsten, Gotlands förenade besöksnäring",
    when="Diplomeringsklart juni 2024 (preliminärt)",
)


def planned(
    *, due: date = DUE, tentative: bool = True, action: Action = ACTION, label: str = "Klart"
) -> PlannedMilestone:
    milestone = Milestone(label, due.replace(day=1), due, due, tentative, action.when)
    return PlannedMilestone(PLAN, action, "utbildning", milestone, (POLICE, SOCIAL, HOTELS))


def reminder(item: PlannedMilestone | None = None, lead: int = 7) -> Reminder:
    """A reminder as the schedule builds it, with a key of the test's own."""
    item = item or planned()
    key = f"{item.key}/{lead}d"
    return Outgoing(key, "reminder", key, NOW, None, (), timedelta(days=lead), about=item)


POLICE_RECIPIENT = Recipient("polisen@gotland.example", "Polisen")
COORDINATOR = Recipient("samordnare@gotland.example", "Gotlands förenade besöksnäring", True)


def stand_in_calendar(item: PlannedMilestone, settings: Settings) -> bytes:
    """What the feed's one-event calendar looks like, for tests of composing alone."""
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//SV\r\nMETHOD:PUBLISH\r\n"
        f"BEGIN:VEVENT\r\nUID:{item.key}@test\r\nDTSTAMP:20240506T000000Z\r\n"
        f"DTSTART;VALUE=DATE:{item.milestone.due:%Y%m%d}\r\nSUMMARY:Delmål\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


@pytest.fixture(scope="module")
def composer() -> Composer:
    return Composer.load(TEMPLATES, calendar=stand_in_calendar)


@pytest.fixture
def settings() -> Settings:
    # Defaults only, whatever NOTIFIER_* the environment holds.
    return Settings.model_construct()


# --- helpers ---------------------------------------------------------------------------------


def parsed(message: EmailMessage) -> EmailMessage:
    """The message as a recipient's client reads it: from the bytes that go on the wire."""
    result = message_from_bytes(message_bytes(message), policy=default_policy)
    assert isinstance(result, EmailMessage)
    return result


def parts(message: EmailMessage) -> tuple[str, str]:
    """(text, html) bodies, decoded; the HTML as markup, entities and all."""
    received = parsed(message)
    text = received.get_body(("plain",))
    html = received.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def assert_email_contains(message: EmailMessage, fragment: str) -> None:
    """The fragment is in BOTH the plain text and the HTML part (as the reader sees it)."""
    text, markup = parts(message)
    html = unescape(markup)
    assert fragment in text, f"{fragment!r} not in the text part:\n{text}"
    assert fragment in html, f"{fragment!r} not in the HTML part:\n{html}"


def assert_email_lacks(message: EmailMessage, fragment: str) -> None:
    text, markup = parts(message)
    assert fragment not in text
    assert fragment not in unescape(markup)


def assert_valid_email(message: EmailMessage) -> EmailMessage:
    """Multipart text + HTML in UTF-8, 7-bit on the wire, RFC 3834 and Outlook headers set."""
    raw = message_bytes(message)
    assert raw.isascii(), "everything on the wire is 7-bit (RFC 2047 headers, QP bodies)"
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    received = parsed(message)
    assert received.is_multipart()
    assert received["MIME-Version"] == "1.0"
    assert received["Auto-Submitted"] == "auto-generated"
    assert received["X-Auto-Response-Suppress"] == "All"
    assert re.fullmatch(r"<[0-9a-f]{32}@[a-z0-9.-]+>", received["Message-ID"])
    assert parsedate_to_datetime(received["Date"]) is not None
    alternative = next(
        p for p in received.walk() if p.get_content_type() == "multipart/alternative"
    )
    kinds = [p.get_content_type() for p in alternative.iter_parts()]
    assert kinds == ["text/plain", "text/html"]
    for part in alternative.iter_parts():
        assert part.get_content_charset() == "utf-8"
        assert part.get_content().strip()
    for part in received.walk():
        assert not part.defects, part.defects
    return received


# --- the reminder ----------------------------------------------------------------------------


def test_a_reminder_is_multipart_text_and_html_with_the_milestone_attached(composer, settings):
    message = compose_reminder(composer, reminder(), POLICE_RECIPIENT, NOW, settings)
    received = assert_valid_email(message)
    assert received.get_content_type() == "multipart/mixed"
    attachment = next(received.iter_attachments())
    assert attachment.get_content_type() == "text/calendar"
    assert attachment.get_param("method") == "PUBLISH"
    assert attachment.get_param("charset") == "UTF-8"
    assert attachment.get_content_disposition() == "attachment"
    assert attachment.get_filename() == "gotland-2024-krogar-mot-knark-utbildning.ics"
    assert attachment.get_payload(decode=True) == stand_in_calendar(planned(), settings)


@pytest.mark.parametrize(
    "fragment",
    ["om 7 dagar", "Preliminärt", "söndag 30 juni 2024", "Klart om 7 dagar"],
)
def test_a_reminder_says_what_is_due_when_and_how_long_is_left_in_both_parts(
    composer, settings, fragment
):
    message = compose_reminder(composer, reminder(), POLICE_RECIPIENT, NOW, settings)
    assert_email_contains(message, fragment)


@pytest.mark.parametrize(
    ("days", "words"),
    [(0, "i dag"), (1, "i morgon"), (2, "om 2 dagar"), (30, "om 30 dagar"), (-1, "i går")],
)
def test_a_reminder_counts_days_to_the_due_date_in_swedish(composer, settings, days, words):
    item = planned(due=NOW.date() + timedelta(days=days))
    message = compose_reminder(composer, reminder(item), POLICE_RECIPIENT, NOW, settings)
    assert_email_contains(message, f"Klart {words}")
    assert words in str(parsed(message)["Subject"])


def test_a_reminder_shows_the_action_with_cause_goal_plan_and_everyone_who_shares_it(
    composer, settings
):
    message = compose_reminder(composer, reminder(), POLICE_RECIPIENT, NOW, settings)
    for fragment in (
        ACTION.measure,
        ACTION.cause,
        ACTION.goal,
        ACTION.when,
        PLAN.title,
        "1 Narkotika – 1.1 Kriminella nätverk",
        "Polisen, Socialtjänsten och Gotlands förenade besöksnäring",
        "1–30 juni 2024",
    ):
        assert_email_contains(message, fragment)


def test_a_firm_milestone_is_not_called_preliminary(composer, settings):
    message = compose_reminder(
        composer, reminder(planned(tentative=False)), POLICE_RECIPIENT, NOW, settings
    )
    assert_email_lacks(message, "Preliminärt")
    assert "preliminärt" not in str(parsed(message)["Subject"])


def test_a_reminder_points_to_the_organisations_own_calendar_feed(composer, settings):
    message = compose_reminder(composer, reminder(), POLICE_RECIPIENT, NOW, settings)
    assert_email_contains(message, "http://127.0.0.1:8080/calendar/polisen.ics")


def test_with_secret_feed_tokens_the_email_sends_people_to_the_coordinator_for_the_address(
    composer, settings
):
    secret = settings.model_copy(update={"feeds": FeedSettings(tokens=True)})
    message = compose_reminder(composer, reminder(), POLICE_RECIPIENT, NOW, secret)
    assert_email_lacks(message, "/calendar")
    assert_email_contains(message, "Adressen får du av samordnaren.")


def test_an_organisation_without_address_reaches_the_coordinator_with_a_note_saying_so(
    composer, settings
):
    message = compose_reminder(composer, reminder(), COORDINATOR, NOW, settings)
    received = parsed(message)
    assert received["To"].addresses[0].addr_spec == "samordnare@gotland.example"
    assert_email_contains(message, "Till samordnaren")
    assert_email_contains(
        message, "Gotlands förenade besöksnäring har ingen e-postadress i adresslistan"
    )
    plain = compose_reminder(composer, reminder(), POLICE_RECIPIENT, NOW, settings)
    assert_email_lacks(plain, "Till samordnaren")


def test_headers_name_sender_recipient_reply_address_and_the_moment_of_sending(composer, settings):
    received = parsed(compose_reminder(composer, reminder(), POLICE_RECIPIENT, NOW, settings))
    sender = received["From"].addresses[0]
    assert (sender.display_name, sender.addr_spec) == (
        "Åtgärdsplanen – påminnelser",
        "notifier@gotland.example",
    )
    to = received["To"].addresses[0]
    assert (to.display_name, to.addr_spec) == ("Polisen", "polisen@gotland.example")
    reply = received["Reply-To"].addresses[0]
    assert reply.addr_spec == "samordnare@gotland.example"
    assert received["Date"] == format_datetime(NOW)
    assert parsedate_to_datetime(received["Date"]) == NOW


def test_reply_to_is_the_configured_address_when_there_is_one(composer, settings):
    custom = settings.model_copy(update={"mail": MailSettings(reply_to="svar@gotland.example")})
    received = parsed(compose_reminder(composer, reminder(), POLICE_RECIPIENT, NOW, custom))
    assert received["Reply-To"].addresses[0].addr_spec == "svar@gotland.example"


def test_the_subject_carries_swedish_letters_encoded_by_rfc_2047(composer, settings):
    message = compose_reminder(composer, reminder(), POLICE_RECIPIENT, NOW, settings)
    raw = message_bytes(message).decode("ascii")
    assert "=?utf-8?" in raw.split("\r\n\r\n", 1)[0]
    subject = str(parsed(message)["Subject"])
    assert subject.startswith("Påminnelse: Klart om 7 dagar (preliminärt) – ")
    assert "Krogar mot knark" in subject


# --- identity --------------------------------------------------------------------------------


def test_the_same_message_composed_twice_is_the_same_bytes(composer, settings):
    first = compose_reminder(composer, reminder(), POLICE_RECIPIENT, NOW, settings)
    second = compose_reminder(composer, reminder(), POLICE_RECIPIENT, NOW, settings)
    assert message_bytes(first) == message_bytes(second)


def test_the_message_id_depends_on_reminder_and_recipient_only(composer, settings):
    first = compose_reminder(composer, reminder(), POLICE_RECIPIENT, NOW, settings)
    later = compose_reminder(
        composer, reminder(), POLICE_RECIPIENT, NOW + timedelta(hours=5), settings
    )
    other = compose_reminder(
        composer, reminder(), Recipient("social@gotland.example", "Socialtjänsten"), NOW, settings
    )
    other_lead = compose_reminder(composer, reminder(lead=1), POLICE_RECIPIENT, NOW, settings)
    assert first["Message-ID"] == later["Message-ID"]
    assert first["Message-ID"] == message_id(
        "gotland-2024/krogar-mot-knark/utbildning/7d", "polisen@gotland.example", settings
    )
    assert len({first["Message-ID"], other["Message-ID"], other_lead["Message-ID"]}) == 3
    assert first["Message-ID"].endswith("@gotland.example>")


def test_the_coordinator_standing_in_for_two_organisations_gets_two_distinct_messages(
    composer, settings
):
    stand_in = Recipient("samordnare@gotland.example", "Skolan", True)
    first = compose_reminder(composer, reminder(), COORDINATOR, NOW, settings)
    second = compose_reminder(composer, reminder(), stand_in, NOW, settings)
    assert first["Message-ID"] != second["Message-ID"]


def test_a_message_needs_an_aware_moment(composer, settings):
    with pytest.raises(ValueError, match="timezone-aware"):
        compose_reminder(composer, reminder(), POLICE_RECIPIENT, NOW.replace(tzinfo=None), settings)


# --- plan text cannot break the message ------------------------------------------------------


def test_plan_text_is_escaped_in_html_and_kept_verbatim_in_text(composer, settings):
    hostile = replace(ACTION, measure='Åtgärd <script>alert("x")</script> & <b>fet</b>')
    message = compose_reminder(
        composer, reminder(planned(action=hostile)), POLICE_RECIPIENT, NOW, settings
    )
    text, html = parts(message)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;fet&lt;/b&gt;" in html
    assert '<script>alert("x")</script> & <b>fet</b>' in text


def test_line_breaks_in_plan_text_never_create_a_header(composer, settings):
    hostile = replace(
        ACTION,
        measure="Krogar mot knark\r\nBcc: evil@example.com\nX-Injected: yes\r\n\r\nbody",
    )
    item = replace(planned(action=hostile), organisations=(POLICE,))
    recipient = Recipient("polisen@gotland.example", "Polisen\r\nCc: evil@example.com")
    received = parsed(compose_reminder(composer, reminder(item), recipient, NOW, settings))
    assert set(received.keys()) == HEADERS
    assert "Bcc" not in received and "Cc" not in received
    assert "\n" not in str(received["Subject"])
    assert "Bcc: evil@example.com" in str(received["Subject"])  # harmless text on one line
    assert received["To"].addresses[0].display_name == "Polisen Cc: evil@example.com"


@hypothesis_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(min_size=1, max_size=200))
def test_no_plan_text_whatsoever_adds_or_breaks_a_header(composer, settings, text):
    hostile = replace(ACTION, measure=text, goal=text)
    item = replace(planned(action=hostile, label=text), organisations=(POLICE,))
    message = compose_reminder(
        composer, reminder(item), Recipient("p@gotland.example", text), NOW, settings
    )
    received = parsed(message)
    assert set(received.keys()) == HEADERS
    assert received["To"].addresses[0].addr_spec == "p@gotland.example"
    assert received["Auto-Submitted"] == "auto-generated"


# --- the other kinds -------------------------------------------------------------------------


def test_a_due_notice_tells_the_coordinator_what_fell_due_and_whom_to_ask(composer, settings):
    coordinator = Recipient("samordnare@gotland.example", "")
    message = compose_due_notice(
        composer, planned(), coordinator, NOW + timedelta(days=8), settings
    )
    assert_valid_email(message)
    assert_email_contains(message, "i går, söndag 30 juni 2024")
    assert_email_contains(message, "Polisen: polisen@gotland.example")
    assert_email_contains(message, "Gotlands förenade besöksnäring: ")
    assert_email_contains(message, "ingen e-postadress i adresslistan")
    assert_email_contains(message, "Preliminärt")
    assert str(parsed(message)["Subject"]).startswith("Att följa upp: Klart 30 juni 2024")


def test_a_changed_date_shows_old_and_new_date_and_attaches_the_new_event(composer, settings):
    item = planned(due=date(2024, 8, 15), tentative=False)
    message = compose_change_notice(composer, item, DUE, POLICE_RECIPIENT, NOW, settings)
    received = assert_valid_email(message)
    assert_email_contains(message, "torsdag 15 augusti 2024")
    assert_email_contains(message, "söndag 30 juni 2024")
    assert_email_contains(message, "skjutits upp")
    assert_email_contains(message, "upp till ett dygn")
    assert str(received["Subject"]).startswith(
        "Nytt datum: Klart 15 augusti 2024 (tidigare 30 juni 2024)"
    )
    assert next(received.iter_attachments()).get_content_type() == "text/calendar"
    earlier = compose_change_notice(
        composer, planned(due=date(2024, 6, 1)), DUE, POLICE_RECIPIENT, NOW, settings
    )
    assert_email_contains(earlier, "tidigarelagts")


def test_the_digest_lists_upcoming_overdue_unreadable_and_failed(composer, settings):
    data = DigestData(
        start=date(2024, 6, 24),
        end=date(2024, 7, 21),
        upcoming=[planned(due=date(2024, 7, 10), tentative=False), planned()],
        overdue=[planned(due=date(2024, 6, 10), tentative=False)],
        unreadable=["gotland-2024, åtgärd 'x': 'Löpande' anger ingen tid"],
        failed=[("polisen@gotland.example", "gotland-2024/x/1/7d", "550 5.1.1 No such user")],
    )
    coordinator = Recipient("samordnare@gotland.example", "")
    message = compose_digest(composer, data, coordinator, NOW, settings)
    received = assert_valid_email(message)
    assert received.get_content_type() == "multipart/alternative"  # nothing to attach
    assert str(received["Subject"]) == (
        "Veckoöversikt 24 juni – 21 juli 2024: 2 kommande, 1 passerat, 1 ej skickat"
    )
    for fragment in (
        "Kommande delmål (2)",
        "Passerade delmål som inte är klara (1)",
        "30 juni 2024",
        "10 juli 2024",
        "för 13 dagar sedan",
        "Preliminärt",
        "'Löpande' anger ingen tid",
        "polisen@gotland.example (gotland-2024/x/1/7d): 550 5.1.1 No such user",
        "http://127.0.0.1:8080/calendar.ics",
    ):
        assert_email_contains(message, fragment)
    text, _ = parts(message)
    assert text.index("30 juni 2024") < text.index("10 juli 2024"), "sorted by due date"


def test_an_empty_digest_says_there_is_nothing(composer, settings):
    data = DigestData(
        start=date(2024, 6, 24), end=date(2024, 7, 21), failed=[Failure("a", "b", "c")]
    )
    message = compose_digest(
        composer, data, Recipient("samordnare@gotland.example", ""), NOW, settings
    )
    assert_email_contains(message, "Inga delmål under perioden.")
    assert_email_lacks(message, "Kunde inte läsas")


@pytest.mark.parametrize("kind", ["reminder", "due", "changed", "digest"])
def test_every_kind_of_email_is_valid_multipart_utf8(composer, settings, kind):
    item = planned()
    message = {
        "reminder": lambda: compose_reminder(
            composer, reminder(item), POLICE_RECIPIENT, NOW, settings
        ),
        "due": lambda: compose_due_notice(composer, item, POLICE_RECIPIENT, NOW, settings),
        "changed": lambda: compose_change_notice(
            composer, item, DUE, POLICE_RECIPIENT, NOW, settings
        ),
        "digest": lambda: compose_digest(
            composer,
            DigestData(NOW.date(), NOW.date() + timedelta(weeks=4), upcoming=[item]),
            POLICE_RECIPIENT,
            NOW,
            settings,
        ),
    }[kind]()
    assert_valid_email(message)


def test_the_attachment_is_the_feeds_own_event_with_the_same_uid(settings):
    from notifier import feed

    message = compose_reminder(
        Composer.load(TEMPLATES), reminder(), POLICE_RECIPIENT, NOW, settings
    )
    attachment = next(parsed(message).iter_attachments())
    calendar = icalendar.Calendar.from_ical(attachment.get_payload(decode=True))
    events = calendar.walk("VEVENT")
    assert calendar["METHOD"] == "PUBLISH"
    assert [str(e["UID"]) for e in events] == [feed.milestone_uid(planned())]


# --- templates are checked when they load ----------------------------------------------------


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    folder = tmp_path / "templates"
    shutil.copytree(TEMPLATES, folder)
    return folder


def _break_line(path: Path, line: int, text: str) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines.insert(line - 1, text + "\n")
    path.write_text("".join(lines), encoding="utf-8")


def test_the_shipped_templates_load():
    assert Composer.load(TEMPLATES, calendar=stand_in_calendar).folder == TEMPLATES


def test_a_template_syntax_error_names_the_file_and_line(templates):
    _break_line(templates / "reminder.txt", 4, "{% if m.tentative %}oavslutat")
    with pytest.raises(UserError) as caught:
        Composer.load(templates)
    assert f"{templates / 'reminder.txt'}:" in caught.value.message
    assert re.search(r"reminder\.txt:\d+: .*(endif|end of template)", caught.value.message)


def test_an_undefined_variable_names_the_template_and_line(templates):
    _break_line(templates / "due.html", 7, "<p>{{ m.duedate }}</p>")
    _break_line(templates / "digest.subject.txt", 1, "{{ antal }}")
    with pytest.raises(UserError) as caught:
        Composer.load(templates)
    message = caught.value.message
    assert f"{templates / 'due.html'}:7: " in message
    assert "duedate" in message
    assert f"{templates / 'digest.subject.txt'}:1: " in message
    assert "'antal' is undefined" in message


def test_a_variable_only_used_for_tentative_milestones_is_checked_too(templates):
    _break_line(templates / "reminder.txt", 2, "{% if m.tentative %}{{ m.osäker }}{% endif %}")
    with pytest.raises(UserError, match=r"reminder\.txt:2: .*osäker"):
        Composer.load(templates)


def test_a_branch_taken_only_with_feed_tokens_is_checked_too(templates):
    # With feeds.tokens = true there is no feed address to print: the {% else %} branch.
    path = templates / "reminder.html"
    text = path.read_text(encoding="utf-8")
    assert "{% else %}" in text
    path.write_text(text.replace("{% else %}", "{% else %}{{ tokenadress }}", 1), "utf-8")
    with pytest.raises(UserError, match=r"reminder\.html:\d+: .*tokenadress"):
        Composer.load(templates)


def test_a_missing_template_is_named(templates):
    (templates / "changed.html").unlink()
    with pytest.raises(UserError, match=r"changed\.html: missing"):
        Composer.load(templates)


def test_a_missing_template_folder_is_named(tmp_path):
    with pytest.raises(UserError, match="no such template folder"):
        Composer.load(tmp_path / "nowhere")


# --- small helpers ---------------------------------------------------------------------------


def test_header_text_collapses_line_breaks_and_controls_to_single_spaces():
    assert header_text("a\r\nb\n\tc\x00d\u2028e  f ") == "a b c d e f"


def test_long_action_texts_are_shortened_at_a_word_for_subjects():
    text = "Implementera metod för strukturerad samverkan kring unga med normbrytande beteende"
    short = shorten(text, 40)
    assert short.endswith("…") and len(short) <= 40
    assert short == "Implementera metod för strukturerad…"


def test_swedish_dates_lists_and_relative_days():
    assert swedish_date(date(2024, 6, 30)) == "30 juni 2024"
    assert swedish_list(["A", "B", "C"]) == "A, B och C"
    assert swedish_list(["A"]) == "A"
    assert relative_days(date(2024, 6, 20), date(2024, 6, 23)) == "för 3 dagar sedan"


def test_a_coordinator_name_with_swedish_letters_survives_the_headers(composer, settings):
    named = settings.model_copy(
        update={"coordinator": CoordinatorSettings(name="Åsa Öberg", email="asa@gotland.example")}
    )
    received = parsed(compose_reminder(composer, reminder(), COORDINATOR, NOW, named))
    assert received["To"].addresses[0].display_name == "Åsa Öberg"
    assert received["Reply-To"].addresses[0].display_name == "Åsa Öberg"


def test_wire_bytes_are_those_of_the_standard_smtp_policy(composer, settings):
    # The header caches must never change a byte: compare with the standard library's policy,
    # for the first message and for repeats that are served from the caches.
    from email import policy

    from notifier.mail import message_bytes

    recipients = (POLICE_RECIPIENT, Recipient("social@gotland.example", "Socialtjänsten"))
    for recipient in recipients * 2:
        message = compose_reminder(composer, reminder(), recipient, NOW, settings)
        assert message_bytes(message) == message.as_bytes(policy=policy.SMTP)
        assert str(message["From"]).startswith("Åtgärdsplanen – påminnelser")


# --- every message: local time, wording a recipient reads ----------------------------------


def visible(markup: str) -> str:
    """The HTML part's words as a reader sees them, on one line."""
    words = " ".join(unescape(re.sub(r"<[^>]+>", " ", markup)).split())
    return re.sub(r"\( ", "(", re.sub(r" (?=[.,:;)])", "", words))


def sentences(text: str) -> list[str]:
    """The prose of a text part, sentence by sentence: no table rows, lists, headings or
    quoted program output."""
    lines = []
    for line in text.replace("\r\n", "\n").split("\n"):
        listed = re.match(r"\S[^:]*:\s{2,}|\s*- |\s{2,}\S|--$", line)
        lines.append("" if listed or line.rstrip().endswith(":") else line.strip())
    prose = []
    for paragraph in re.split(r"\n{2,}", "\n".join(lines)):
        prose.extend(re.split(r"(?<=[.!?])\s+", " ".join(paragraph.split())))
    return [sentence for sentence in prose if sentence.endswith((".", "!", "?"))]


def _words(text: str) -> str:
    return " ".join(re.sub(r"[.,:;!?()]", " ", text).split())


def _every_kind(composer, settings, now, item=None, recipient=POLICE_RECIPIENT):
    item = item or planned()
    data = DigestData(
        date(2024, 6, 24),
        date(2024, 7, 21),
        upcoming=[item],
        overdue=[item],
        unreadable=["gotland-2024, åtgärd 'x': \"Löpande\""],
        unreachable=["Hamnen: saknas i adresslistan"],
        failed=[Failure("polisen@gotland.example", "k", "550 No such user")],
    )
    return {
        "reminder": compose_reminder(composer, reminder(item), recipient, now, settings),
        "due": compose_due_notice(composer, item, recipient, now, settings),
        "changed": compose_change_notice(
            composer, item, DUE - timedelta(days=3), recipient, now, settings
        ),
        "digest": compose_digest(composer, data, recipient, now, settings),
        "problem": compose_problem_notice(
            composer, ["config.toml: smtp.port: bad"], recipient, now, settings
        ),
    }


@pytest.mark.parametrize(
    "zone",
    [ZoneInfo("UTC"), ZoneInfo("America/New_York"), ZoneInfo("Pacific/Kiritimati")],
    ids=str,
)
def test_every_message_is_dated_in_local_time_whatever_zone_the_clock_gives(
    composer, settings, zone
):
    moment = NOW.astimezone(zone)
    for kind, message in _every_kind(composer, settings, moment).items():
        date_header = parsed(message)["Date"]
        assert date_header == "Sun, 23 Jun 2024 08:00:00 +0200", kind
        assert date_header.datetime == NOW


def test_a_winter_message_is_dated_in_winter_time(composer, settings):
    january = datetime(2024, 1, 15, 7, 0, tzinfo=ZoneInfo("UTC"))
    message = compose_problem_notice(composer, ["x"], POLICE_RECIPIENT, january, settings)
    assert parsed(message)["Date"] == "Mon, 15 Jan 2024 08:00:00 +0100"


def test_replies_reach_the_coordinator_without_using_the_role_as_a_name_mid_sentence(
    composer, settings
):
    for name in ("Samordnare brottsförebyggande arbete", "Åsa Öberg"):
        named = settings.model_copy(
            update={"coordinator": CoordinatorSettings(name=name, email="asa@gotland.example")}
        )
        for kind in ("reminder", "changed"):
            message = _every_kind(composer, named, NOW)[kind]
            text, html = parts(message)
            assert_email_contains(message, "Har du frågor? Svara på det här meddelandet.")
            # The name signs the message and is said nowhere else.
            assert text.count(name) == 1, kind
            assert f"Vänliga hälsningar\n{name}" in text.replace("\r\n", "\n"), kind
            assert visible(html).count(name) == 1, kind


def test_no_message_mixes_mejl_with_e_post(composer, settings):
    for kind, message in _every_kind(composer, settings, NOW, recipient=COORDINATOR).items():
        text, html = parts(message)
        assert "mejl" not in (text + html).lower(), kind


@pytest.mark.parametrize("kind", ["reminder", "due", "changed", "digest", "problem"])
def test_text_and_html_say_the_same_sentences(composer, settings, kind):
    message = _every_kind(composer, settings, NOW, recipient=COORDINATOR)[kind]
    text, markup = parts(message)
    # Word for word; a heading in HTML may be "label: date." in text.
    html = _words(visible(markup))
    said = sentences(text)
    assert said
    for sentence in said:
        assert _words(sentence) in html, sentence


def test_the_digest_names_who_is_reached_only_through_the_coordinator(composer, settings):
    data = DigestData(
        date(2024, 6, 24), date(2024, 7, 21), unreachable=["Hamnen: saknas i adresslistan"]
    )
    message = compose_digest(composer, data, COORDINATOR, NOW, settings)
    assert_email_contains(message, "Nås bara via dig (1)")
    assert_email_contains(message, "Hamnen: saknas i adresslistan")


@pytest.mark.parametrize(
    ("upcoming", "overdue", "failed", "counts"),
    [
        (0, 0, 0, "0 kommande, 0 passerade"),
        (1, 1, 1, "1 kommande, 1 passerat, 1 ej skickat"),
        (2, 2, 2, "2 kommande, 2 passerade, 2 ej skickade"),
    ],
)
def test_the_digest_subject_agrees_in_number(composer, settings, upcoming, overdue, failed, counts):
    data = DigestData(
        date(2024, 12, 30),
        date(2025, 1, 26),
        upcoming=[planned()] * upcoming,
        overdue=[planned()] * overdue,
        failed=[Failure("a@gotland.example", "k", "550")] * failed,
    )
    message = compose_digest(composer, data, COORDINATOR, NOW, settings)
    assert (
        str(parsed(message)["Subject"])
        == f"Veckoöversikt 30 december 2024 – 26 januari 2025: {counts}"
    )


def test_a_due_notice_says_the_date_has_passed(composer, settings):
    message = compose_due_notice(
        composer, planned(), COORDINATOR, NOW + timedelta(days=9), settings
    )
    text, html = parts(message)
    said = "passerade för 2 dagar sedan, söndag 30 juni 2024."
    assert said in text and said in visible(html)


# --- a label the action's text repeats is said once ------------------------------------------

FOLLOW_UP = replace(
    ACTION, measure='Uppföljning "Lilla islandsmodellen"', when="Uppföljning december 2024"
)


def test_a_label_that_begins_the_action_text_is_said_once_in_every_kind(composer, settings):
    item = planned(action=FOLLOW_UP, label="Uppföljning", tentative=False)
    subjects = {}
    for kind, message in _every_kind(composer, settings, NOW, item).items():
        if kind == "problem":
            continue
        text, html = parts(message)
        subjects[kind] = subject = str(parsed(message)["Subject"])
        for where in (subject, text, unescape(html)):
            assert not re.search(r"Uppföljning\W+Uppföljning", where), (kind, where)
        if kind != "digest":
            assert '"Lilla islandsmodellen"' in subject, kind
    assert subjects["reminder"] == 'Påminnelse: Uppföljning om 7 dagar – "Lilla islandsmodellen"'
    assert subjects["due"] == 'Att följa upp: Uppföljning 30 juni 2024 – "Lilla islandsmodellen"'
    # The details keep the action's text whole.
    assert_email_contains(
        _every_kind(composer, settings, NOW, item)["reminder"],
        'Uppföljning "Lilla islandsmodellen"',
    )


def test_an_action_text_that_is_only_the_label_leaves_no_dangling_dash(composer, settings):
    item = planned(action=replace(ACTION, measure="Utbildning."), label="Utbildning")
    message = compose_reminder(composer, reminder(item), POLICE_RECIPIENT, NOW, settings)
    assert str(parsed(message)["Subject"]) == "Påminnelse: Utbildning om 7 dagar (preliminärt)"


def test_a_label_that_is_only_the_start_of_a_word_is_kept(composer, settings):
    item = planned(action=replace(ACTION, measure="Klartecken från polisen"), label="Klart")
    message = compose_reminder(composer, reminder(item), POLICE_RECIPIENT, NOW, settings)
    subject = str(parsed(message)["Subject"])
    assert subject.endswith("Klart om 7 dagar (preliminärt) – Klartecken från polisen")


# --- the problem notice ----------------------------------------------------------------------

PROBLEMS = [
    "/srv/notifier/plan/gotland-2025.toml: not valid TOML: Invalid value (at line 12, column 6)",
    "/srv/notifier/plan/gotland-2024.toml:37: action[1].när: Input should be a valid string",
    "/srv/notifier/config.toml: digest.weekdy: unknown key; check its spelling (got 'monday')",
    "/srv/notifier/templates/due.txt:29: 'labl' is undefined (no such variable or attribute)",
    "Fix the templates; nothing is sent until they load.",
]


def test_a_problem_notice_says_where_in_swedish_and_quotes_the_programs_message(composer, settings):
    message = compose_problem_notice(composer, PROBLEMS, COORDINATOR, NOW, settings)
    assert_valid_email(message)
    for fragment in (
        "Planfilen /srv/notifier/plan/gotland-2025.toml, rad 12",
        "Filen går inte att läsa.",
        "Planfilen /srv/notifier/plan/gotland-2024.toml, rad 37",
        "Inställningsfilen /srv/notifier/config.toml",
        "Kontrollera stavningen.",
        "Mallen /srv/notifier/templates/due.txt, rad 29",
        "Felmeddelandet från programmet:",
        "notifier validate",
    ):
        assert_email_contains(message, fragment)
    text, html = parts(message)
    text = text.replace("\r\n", "\n")
    assert text.count("Felmeddelandet från programmet:") == 4
    # The program's own words are quoted as they are: indented in text, <pre> in HTML.
    assert "\n      not valid TOML: Invalid value (at line 12, column 6)\n" in text
    assert "\n      action[1].när: Input should be a valid string\n" in text
    assert "\n      Fix the templates; nothing is sent until they load.\n" in text
    html = html.replace("\r\n", "\n")
    quoted = [unescape(q) for q in re.findall(r"<pre[^>]*>(.*?)</pre>", html, re.DOTALL)]
    assert quoted == [
        "not valid TOML: Invalid value (at line 12, column 6)",
        "action[1].när: Input should be a valid string",
        "digest.weekdy: unknown key; check its spelling (got 'monday')",
        "'labl' is undefined (no such variable or attribute)\n"
        "Fix the templates; nothing is sent until they load.",
    ]


def test_a_problem_without_a_file_is_still_quoted(composer, settings):
    problem = "unexpected error while loading: ValueError: boom"
    message = compose_problem_notice(composer, [problem], COORDINATOR, NOW, settings)
    assert_email_contains(message, "Fel (programmet anger ingen fil)")
    assert_email_contains(message, problem)


def test_a_file_named_inside_a_folder_message_is_the_one_pointed_to(composer, settings):
    problem = "/srv/t: templates: /srv/t/reminder.html:4: unexpected '}'"
    message = compose_problem_notice(composer, [problem], COORDINATOR, NOW, settings)
    assert_email_contains(message, "Mallen /srv/t/reminder.html, rad 4")
    assert_email_contains(message, "unexpected '}'")


# --- shortened texts --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "short"),
    [
        (
            "Skapa plattform för strukturerad samverkan. (Projekt: Södra Gotland samverkar)",
            "Skapa plattform för strukturerad samverkan…",
        ),
        (
            "Kunskapshöjande föreläsning till gymnasieelever och allmänheten.",
            "Kunskapshöjande föreläsning till gymnasieelever…",
        ),
        (
            "Informationskampanj till skolelever (Delbart)",
            "Informationskampanj till skolelever (Delbart)",
        ),
    ],
)
def test_a_shortened_action_text_leaves_no_open_parenthesis_or_hanging_och(text, short):
    assert shorten(text) == short


def test_periods_are_written_the_swedish_way():
    assert swedish_period(date(2024, 3, 4), date(2024, 3, 31)) == "4–31 mars 2024"
    assert swedish_period(date(2024, 3, 11), date(2024, 4, 7)) == "11 mars – 7 april 2024"
    assert swedish_period(date(2024, 12, 30), date(2025, 1, 26)) == (
        "30 december 2024 – 26 januari 2025"
    )


def test_a_huge_problem_line_is_composed_in_linear_time(composer, settings):
    started = time.perf_counter()
    for line in ("/" * 50_000, "a/: " * 20_000, "x.toml:" * 10_000):
        compose_problem_notice(composer, [line], COORDINATOR, NOW, settings)
    assert time.perf_counter() - started < 5


def test_a_window_is_said_briefly_beside_a_due_date_and_whole_on_its_own():
    assert window_text(None, date(2024, 6, 30)) == ""
    assert window_text(date(2024, 6, 30), date(2024, 6, 30)) == ""
    assert window_text(date(2024, 3, 4), date(2024, 3, 31)) == "4–31 mars 2024"
    assert window_text(None, date(2024, 6, 30), standalone=True) == "senast 30 juni 2024"
    assert window_text(date(2024, 6, 30), date(2024, 6, 30), standalone=True) == "30 juni 2024"
    assert window_text(date(2024, 3, 4), date(2024, 3, 31), standalone=True) == (
        "4 mars 2024 – 31 mars 2024"
    )
