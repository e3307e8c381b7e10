"""Personal status links: in the reminders sent, and the page they open, over a real socket
against the app the daemon serves, with a real SQLite ledger and the real send step."""

from __future__ import annotations

import io
import re
import stat
from collections.abc import Iterator
from datetime import date, datetime
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import icalendar
import pytest
from status_site import SEPTEMBER, SIG, STOCKHOLM, Site, messages, open_site, parts

from notifier.catalog import load_catalog
from notifier.cli import main
from notifier.compose import Composer
from notifier.config import load_settings
from notifier.feedstate import publish
from notifier.ledger import SqliteLedger
from notifier.links import LinkSigner, secret_path, signer_for, status_url, with_secret
from notifier.mail import OutboxMailer
from notifier.model import Recipient
from notifier.sender import send_due_once

SEVEN_DAYS_BEFORE = datetime(2024, 10, 25, 8, 0, tzinfo=STOCKHOLM)
ONE_DAY_BEFORE = datetime(2024, 10, 31, 8, 0, tzinfo=STOCKHOLM)
# The default expiry is 60 days after the due date: 31 December 2024 is its last day.
AFTER_EXPIRY = datetime(2025, 1, 1, 9, 0, tzinfo=STOCKHOLM)
LINK = re.compile(r"https?://[^\s\"<>]+/status/[A-Za-z0-9_.-]+")


@pytest.fixture
def site(project: Path) -> Iterator[Site]:
    with open_site(project) as opened:
        yield opened


def reminders_about(site: Site, key: str) -> list[EmailMessage]:
    signer = signer_for(site.settings)
    assert signer is not None
    found = []
    for message in messages(site.project / "outbox"):
        text, _ = parts(message)
        links = LINK.findall(text)
        claims = [signer.read(urlsplit(u).path.rsplit("/", 1)[1], date(2024, 10, 1)) for u in links]
        if any(c is not None and c.milestone_key == key for c in claims):
            found.append(message)
    return found


# --- in the mail ------------------------------------------------------------------------------


def test_each_recipient_of_a_reminder_gets_a_link_of_their_own_in_text_and_html(
    site: Site,
) -> None:
    site.step(SEVEN_DAYS_BEFORE)
    sent = reminders_about(site, SIG)
    assert len(sent) >= 2, "the SIG reminder goes to several organisations"
    signer = signer_for(site.settings)
    assert signer is not None
    links = set()
    for message in sent:
        text, html = parts(message)
        assert "Är det klart, eller behövs en ny tid? Svara här:" in text
        assert "Är det klart, eller behövs en ny tid?" in html
        [link] = LINK.findall(text)
        assert link.startswith("http://127.0.0.1:8080/status/")
        assert f'href="{link}"' in html
        claim = signer.read(link.rsplit("/", 1)[1], date(2024, 10, 25))
        assert claim is not None and claim.milestone_key == SIG
        assert claim.address in str(message["To"])
        links.add(link)
    assert len(links) == len(sent), "personal: no two recipients share a link"


def test_the_same_recipient_and_milestone_always_get_the_same_link(site: Site) -> None:
    assert site.link() == site.link()
    assert site.link() != site.link(address="annan@test.example")
    again = load_settings(site.project / "config.toml")  # the secret read back from its file
    [planned] = [p for p in site.feeds.catalog.milestones if p.key == SIG]
    assert status_url(planned, Recipient("polisen@test.example", "Polisen"), again) == site.link()
    assert stat.S_IMODE(secret_path(site.settings).stat().st_mode) == 0o600


def test_a_systemd_credential_is_the_secret_when_there_is_one(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "link-secret").write_text("x" * 40 + "\n", encoding="ascii")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    settings = load_settings(project / "config.toml")
    signer = signer_for(settings)
    assert signer is not None
    token = LinkSigner(b"x" * 40).token(
        SIG, Recipient("a@test.example", "Polisen"), date(2025, 1, 1)
    )
    assert signer.read(token, date(2024, 12, 1)) is not None
    assert not secret_path(settings).exists(), "no file is made beside the ledger"


# --- the page -------------------------------------------------------------------------------


def test_following_the_link_shows_the_milestone_and_changes_nothing(site: Site) -> None:
    link = site.link()
    first = site.request("GET", link)
    second = site.request("GET", link)
    assert first.status == 200
    assert first.body == second.body
    page = first.body
    assert '<html lang="sv">' in page
    assert "Klart för start" in page and "1 november 2024" in page
    assert "Polisen" in page and "Inte klart" in page
    for label in ('for="klart"', 'for="ny-tid"', 'for="nytt-datum"', 'for="kommentar"'):
        assert label in page
    assert '<button type="submit">' in page and "<script" not in page
    assert site.request("HEAD", link).status == 200
    assert site.ledger.status_entries() == [], "opening a link records nothing"


def test_the_page_sends_headers_that_keep_it_private_and_unframed(site: Site) -> None:
    for answer in (site.request("GET", site.link()), site.request("GET", "/status/nonsense")):
        policy_ = answer.headers["content-security-policy"]
        assert "default-src 'none'" in policy_ and "form-action 'self'" in policy_
        assert "style-src 'unsafe-inline'" in policy_
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["cache-control"] == "no-store"


def test_klart_on_the_page_records_done_shows_in_the_feed_and_stops_the_reminders(
    site: Site,
) -> None:
    link = site.link()
    answer = site.post(link, state="done", comment="Kampanjen är genomförd")
    assert answer.status == 200
    assert "Tack! Delmålet är markerat som klart." in " ".join(answer.body.split())
    [entry] = site.ledger.status_history(SIG)
    assert (entry.state, entry.how) == ("done", "link")
    assert (entry.organisation, entry.address) == ("Polisen", "polisen@test.example")
    assert entry.comment == "Kampanjen är genomförd"
    assert "Klart" in site.request("GET", link).body

    # What the daemon does when the ledger's statuses change: the feed says Klart.
    publish(site.feeds.store, None, SEPTEMBER, site.settings, None, site.ledger.statuses())
    feed = site.request("GET", "/calendar.ics")
    summaries = [
        str(e["SUMMARY"])
        for e in icalendar.Calendar.from_ical(feed.body).walk("VEVENT")
        if str(e["UID"]).startswith(SIG.replace("/", ".") + "@")
    ]
    assert summaries and summaries[0].startswith("Klart: ")

    report = site.step(ONE_DAY_BEFORE)
    assert not [o for o in report.sent if SIG in o.key]
    assert reminders_about(site, SIG) == []


def test_needs_a_new_date_is_recorded_with_the_date_asked_for(site: Site) -> None:
    answer = site.post(site.link(), state="needs-new-date", new_due="2024-12-15")
    assert answer.status == 200
    assert "behöver ny tid" in answer.body and "15 december 2024" in answer.body
    [entry] = site.ledger.status_history(SIG)
    assert (entry.state, entry.proposed_due) == ("needs-new-date", date(2024, 12, 15))
    assert entry.how == "link"


@pytest.mark.parametrize(
    ("form", "says"),
    [
        ({"state": "needs-new-date", "new_due": ""}, "ÅÅÅÅ-MM-DD"),
        ({"state": "needs-new-date", "new_due": "2024-02-30"}, "ÅÅÅÅ-MM-DD"),
        ({"state": "needs-new-date", "new_due": "2024-09-02"}, "efter i dag"),
        ({"state": "maybe"}, "Välj Klart eller Behöver ny tid"),
        ({"state": "done", "comment": "x" * 1001}, "högst 1000 tecken"),
    ],
)
def test_a_form_that_cannot_be_recorded_says_what_to_fix_and_records_nothing(
    site: Site, form: dict[str, str], says: str
) -> None:
    answer = site.post(site.link(), **form)
    assert answer.status == 400
    assert says in answer.body
    assert site.ledger.status_entries() == []


def test_only_a_small_urlencoded_form_is_read(site: Site) -> None:
    link = site.link()
    token = link.rsplit("/", 1)[1]
    json_body = b'{"state": "done", "token": "%s"}' % token.encode()
    assert site.request("POST", link, json_body, "application/json").status == 415
    big = urlencode({"token": token, "state": "done", "comment": "x" * 5000}).encode()
    assert site.request("POST", link, big).status == 413
    assert site.request("PUT", link, b"").status == 405
    assert site.ledger.status_entries() == []


def test_every_bad_token_gets_the_same_page_that_tells_nothing(site: Site) -> None:
    link = site.link()
    token = link.rsplit("/", 1)[1]
    last = token[-1]
    altered = token[:-1] + ("A" if last != "A" else "B")
    forged = LinkSigner(b"not the secret of this site, no").token(
        SIG, Recipient("polisen@test.example", "Polisen"), date(2024, 12, 31)
    )
    signer = signer_for(site.settings)
    assert signer is not None
    unknown = signer.token(
        "gotland-2024/finns-inte/klart", Recipient("a@b.example", "X"), date(2025, 1, 1)
    )
    answers = [
        site.request("GET", f"/status/{altered}"),
        site.request("GET", f"/status/{forged}"),
        site.request("GET", f"/status/{unknown}"),
        site.request("GET", "/status/x"),
        # The form's token must be the path's: one for another milestone is refused.
        site.request(
            "POST",
            link,
            urlencode({"token": site.link(key=other_key(site)), "state": "done"}).encode(),
        ),
        site.request(
            "POST", f"/status/{altered}", urlencode({"token": altered, "state": "done"}).encode()
        ),
    ]
    site.now[0] = AFTER_EXPIRY
    answers.append(site.request("GET", link))
    answers.append(site.post(link, state="done"))
    assert {a.status for a in answers} == {404}
    assert len({a.body for a in answers}) == 1
    assert "Sidan finns inte" in answers[0].body
    assert site.ledger.status_entries() == []


def test_a_link_altered_in_any_one_character_is_refused(site: Site) -> None:
    token = site.link().rsplit("/", 1)[1]
    signer = signer_for(site.settings)
    assert signer is not None
    assert signer.read(token, date(2024, 9, 2)) is not None
    for i, char in enumerate(token):
        for other in {"A", "B", "."} - {char}:
            altered = token[:i] + other + token[i + 1 :]
            assert signer.read(altered, date(2024, 9, 2)) is None, (i, other)


def other_key(site: Site) -> str:
    return next(p.key for p in site.feeds.catalog.milestones if p.key != SIG)


# --- links that could not work are left out -----------------------------------------------------


def _configure(project: Path, base_url: str) -> None:
    config = project / "config.toml"
    text = config.read_text(encoding="utf-8")
    text = text.replace('host = ""', 'host = "smtp.gotland.example"', 1)
    text = text.replace('base_url = "http://127.0.0.1:8080"', f'base_url = "{base_url}"', 1)
    config.write_text(text, encoding="utf-8")


def _validate(project: Path) -> tuple[int, str]:
    out = io.StringIO()
    code = main(
        ["--config", str(project / "config.toml"), "validate"], out, clock=lambda: SEPTEMBER
    )
    return code, out.getvalue()


def _sent_texts(project: Path, now: datetime) -> list[str]:
    settings = load_settings(project / "config.toml")
    with SqliteLedger(settings.ledger.path) as ledger:
        send_due_once(
            now,
            load_catalog(settings.plans.dir),
            with_secret(settings),
            ledger,
            OutboxMailer(project / "outbox"),  # the SMTP server is not needed to compose
            Composer.load(settings.templates.dir),
        )
    return [" ".join(parts(m)) for m in messages(project / "outbox")]


@pytest.mark.parametrize(
    "base_url", ["http://127.0.0.1:8080", "https://localhost", "http://notifier.gotland.example"]
)
def test_with_real_mail_a_link_that_cannot_work_is_a_problem_and_left_out(
    project: Path, base_url: str
) -> None:
    _configure(project, base_url)
    code, out = _validate(project)
    assert code == 1
    assert "feeds.base_url" in out and base_url in out
    assert "public https address behind the proxy" in out
    texts = _sent_texts(project, SEVEN_DAYS_BEFORE)
    assert texts and not any("/status/" in t for t in texts)
    assert not any("Är det klart, eller behövs en ny tid?" in t for t in texts)


def test_with_real_mail_and_a_public_https_address_the_links_go_out(project: Path) -> None:
    _configure(project, "https://notifier.gotland.example")
    _, out = _validate(project)
    assert "feeds.base_url" not in out
    texts = _sent_texts(project, SEVEN_DAYS_BEFORE)
    assert any("https://notifier.gotland.example/status/" in t for t in texts)
