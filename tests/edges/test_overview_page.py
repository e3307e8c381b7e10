"""The coordinator's overview page over a real socket, against the app the daemon serves, with
a real SQLite ledger; statuses recorded through the command line, as the coordinator does."""

from __future__ import annotations

import hashlib
import http.client
import io
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo

import pytest

from notifier.cli import main
from notifier.config import load_settings
from notifier.feedstate import PublishedFeeds
from notifier.ledger import SqliteLedger
from notifier.links import signer_for, with_secret
from notifier.model import Recipient
from notifier.overview_access import OverviewAccess, access_for, overview_url
from notifier.records import StatusEntry
from notifier.server import FeedServer
from notifier.settings import Settings
from notifier.wsgi import build_app

STOCKHOLM = ZoneInfo("Europe/Stockholm")
SEPTEMBER = datetime(2024, 9, 2, 10, 0, tzinfo=STOCKHOLM)
DELBART = "gotland-2024/delbart/1"  # due 31 March 2024; Polisen and Skolan
SIG = "gotland-2024/sig/klart-for-start"  # due 1 November 2024
KROGAR = "gotland-2024/krogar-mot-knark/utbildning"  # due 31 May 2024
SECURITY = {
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
}


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: str


@dataclass
class Site:
    project: Path
    settings: Settings
    ledger: SqliteLedger
    port: int
    now: list[datetime] = field(default_factory=lambda: [SEPTEMBER])

    def request(self, method: str, path: str, body: bytes | None = None) -> Answer:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(method, path, body=body)
            response = connection.getresponse()
            text = response.read().decode("utf-8")
            return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, text)
        finally:
            connection.close()

    @property
    def path(self) -> str:
        url = overview_url(self.settings)
        assert url is not None
        return urlsplit(url).path

    def cli(self, *argv: str) -> tuple[int, str]:
        out = io.StringIO()
        config = str(self.project / "config.toml")
        code = main(["--config", config, *argv], out, clock=lambda: self.now[0])
        return code, out.getvalue()

    def ledger_files(self) -> dict[str, str]:
        folder = self.settings.ledger.path.parent
        return {
            p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir())
            if p.is_file()
        }


@pytest.fixture
def site(project: Path) -> Iterator[Site]:
    settings = load_settings(project / "config.toml")
    with SqliteLedger(settings.ledger.path) as ledger:
        settings = with_secret(settings)  # as the daemon does, once the ledger's folder is made
        feeds = PublishedFeeds(settings, SEPTEMBER)
        moments = [SEPTEMBER]
        app = build_app(feeds.store, ledger=ledger, clock=lambda: moments[0])
        with FeedServer(app, "127.0.0.1", 0) as server:
            yield Site(project, settings, ledger, server.port, moments)


class Outline(HTMLParser):
    """What the accessibility checks look at: headings, labels, form fields, table headers,
    links, and anything that would load or run something."""

    def __init__(self) -> None:
        super().__init__()
        self.headings: list[int] = []
        self.labels: set[str] = set()
        self.fields: list[str] = []
        self.header_scopes: list[str] = []
        self.links: list[str] = []
        self.outside: list[str] = []
        self.lang = ""
        self.form_method = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = {name: value or "" for name, value in attrs}
        if tag == "html":
            self.lang = named.get("lang", "")
        if re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        if tag == "label":
            self.labels.add(named.get("for", ""))
        if tag in ("select", "input", "textarea"):
            self.fields.append(named.get("id", ""))
        if tag == "th":
            self.header_scopes.append(named.get("scope", ""))
        if tag == "a":
            self.links.append(named.get("href", ""))
        if tag == "form":
            self.form_method = named.get("method", "")
        if tag in ("script", "link", "img", "iframe", "object") or "src" in named:
            self.outside.append(tag)


def outline(body: str) -> Outline:
    parser = Outline()
    parser.feed(body)
    return parser


def chip(body: str, key: str) -> list[str]:
    """The chips (links) of one milestone on the overview page."""
    slug = key.replace("/", ".")
    return re.findall(rf'<a class="chip [^"]+" href="[^"]*/m/{re.escape(slug)}[^"]*">.*?</a>', body)


# --- access -----------------------------------------------------------------------------------


def test_a_wrong_or_missing_token_gets_the_status_pages_answer_for_a_bad_token(
    site: Site,
) -> None:
    token = site.path.rsplit("/", 1)[1]
    altered = token[:-1] + ("A" if token[-1] != "A" else "B")
    forged = OverviewAccess(b"not the secret of this site, no").token
    signer = signer_for(site.settings)
    assert signer is not None
    status_token = signer.token(SIG, Recipient("polisen@test.example", "Polisen"), date(2025, 1, 1))
    gone = site.request("GET", "/status/not-a-token")
    assert gone.status == 404
    for path in (
        "/overview",
        "/overview/",
        f"/overview/{altered}",
        f"/overview/{forged}",
        f"/overview/{status_token}",  # a status link's token is no overview token
        f"/overview/{token}x",
        f"/overview/{token}/",
        f"/overview/{token}/m/gotland-2024.finns-inte.klart",
        f"/overview/{token}/m/",
        f"/overview/{token}/x/{SIG.replace('/', '.')}",
        f"/overview/{altered}/m/{SIG.replace('/', '.')}",
    ):
        answer = site.request("GET", path)
        assert (answer.status, answer.body) == (gone.status, gone.body), path
        assert {k: answer.headers[k] for k in SECURITY} == SECURITY, path
        assert answer.headers["content-security-policy"] == gone.headers["content-security-policy"]
    assert site.request("GET", site.path).status == 200


def test_only_get_and_head_are_answered_and_a_get_changes_nothing(site: Site) -> None:
    code, _ = site.cli("done", DELBART, "--by", "Polisen", "--comment", "Kampanjen är klar")
    assert code == 0
    before = (site.ledger.status_entries(), site.ledger.snapshot(), site.ledger_files())
    history = f"{site.path}/m/{DELBART.replace('/', '.')}"
    for path in (site.path, f"{site.path}?org=skolan", history):
        first, second = site.request("GET", path), site.request("GET", path)
        assert first.status == 200 and first.body == second.body, path
        head = site.request("HEAD", path)
        assert head.status == 200 and head.body == ""
        assert head.headers["content-length"] == first.headers["content-length"]
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        for path in (site.path, history, "/overview"):
            answer = site.request(method, path, b"state=done")
            assert answer.status == 405, (method, path)
            assert answer.headers["allow"] == "GET, HEAD"
    after = (site.ledger.status_entries(), site.ledger.snapshot(), site.ledger_files())
    assert after == before


def test_the_page_sends_the_status_pages_security_headers(site: Site) -> None:
    answer = site.request("GET", site.path)
    assert answer.status == 200
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert {k: answer.headers[k] for k in SECURITY} == SECURITY
    policy = answer.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "script-src" not in policy, "no script of any kind"
    status_page = site.request("GET", "/status/not-a-token")
    assert policy == status_page.headers["content-security-policy"]


def test_the_request_log_never_holds_the_token(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    token = site.path.rsplit("/", 1)[1]
    with caplog.at_level(logging.INFO):
        site.request("GET", site.path)
        site.request("GET", f"{site.path}/m/{SIG.replace('/', '.')}")
        site.request("GET", f"/overview/{token[:-2]}")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert logged.count("/overview/***") >= 3
    assert token not in logged and token[:-2] not in logged


# --- what the page shows ----------------------------------------------------------------------


def test_a_milestone_marked_done_shows_as_done_and_its_history_says_who_when_and_how(
    site: Site,
) -> None:
    page = site.request("GET", site.path).body
    assert all('class="chip open"' in c for c in chip(page, SIG))
    site.now[0] = datetime(2024, 9, 3, 14, 5, tzinfo=STOCKHOLM)
    code, _ = site.cli("done", SIG, "--by", "Polisen", "--comment", "Startade i tid")
    assert code == 0
    page = site.request("GET", site.path).body
    chips = chip(page, SIG)
    assert len(chips) == 3, "one per responsible organisation"
    for found in chips:
        assert 'class="chip done"' in found
        assert '<span class="vh">klar: </span>' in found and "✓" in found
    assert '<li><span class="chip done">' in page and "klar</span></span> 1 st" in page
    [href] = {re.search(r'href="([^"]+)"', c).group(1) for c in chips}  # type: ignore[union-attr]
    history = site.request("GET", urljoin(site.path, href))
    assert history.status == 200
    text = re.sub(r"<[^>]+>", " ", history.body)
    assert "Klart för start" in text
    assert "klar" in text and "3 september 2024 kl. 14.05" in text
    assert "Polisen" in text and "registrerat av samordnaren" in text
    assert "Startade i tid" in text
    [back] = re.findall(r'<a href="([^"]+)">Tillbaka till översikten</a>', history.body)
    assert urljoin(urljoin(site.path, href), back) == site.path


def test_every_status_is_on_the_page_with_its_word_and_symbol(site: Site) -> None:
    site.cli("done", DELBART)
    asked = StatusEntry(
        KROGAR,
        "needs-new-date",
        "Polisen",
        SEPTEMBER,
        "link",
        address="polisen@test.example",
        proposed_due=date(2024, 10, 15),
    )
    site.ledger.record_status(asked)
    page = site.request("GET", site.path).body
    for look, word, symbol in (
        ("done", "klar", "✓"),
        ("open", "öppen", "○"),
        ("tentative", "preliminär", "◌"),
        ("overdue", "försenad", "!"),
        ("needs-new-date", "behöver ny tid", "?"),
    ):
        legend = (
            f'<li><span class="chip {look}"><span class="sym" aria-hidden="true">{symbol}</span> '
            f'<span class="name">{word}</span></span>'
        )
        assert legend in page, look
        assert f'class="chip {look}" href=' in page, look
    assert "Föreslaget nytt datum: 15 oktober 2024" in chip(page, KROGAR)[0]


def test_filtered_by_organisation_only_its_row_and_milestones_are_shown(site: Site) -> None:
    answer = site.request("GET", f"{site.path}?org=skolan&plan=gotland-2024")
    assert answer.status == 200
    page = answer.body
    assert re.findall(r'<th scope="row">([^<]+)</th>', page) == ["Skolan"]
    assert len(chip(page, DELBART)) == 1 and chip(page, SIG) == []
    assert '<option value="skolan" selected>Skolan</option>' in page
    assert '<option value="gotland-2024" selected>' in page
    # The history links keep the choice, so "back" returns to the same view.
    assert "?plan=gotland-2024&amp;org=skolan" in chip(page, DELBART)[0]
    everything = site.request("GET", site.path).body
    assert len(re.findall(r'<th scope="row">', everything)) > 1
    unknown = site.request("GET", f"{site.path}?org=finns-inte").body
    assert "”finns-inte”" in unknown and unknown.count('<th scope="row">') > 1


def test_the_page_is_built_for_keyboards_and_screen_readers_without_script(site: Site) -> None:
    site.cli("done", DELBART)
    for path in (site.path, f"{site.path}/m/{DELBART.replace('/', '.')}"):
        body = site.request("GET", path).body
        found = outline(body)
        assert found.lang == "sv", path
        assert found.headings[0] == 1 and found.headings.count(1) == 1, path
        for earlier, later in zip(found.headings, found.headings[1:], strict=False):
            assert later <= earlier + 1, f"{path}: heading levels skip ({found.headings})"
        assert set(found.fields) <= found.labels, f"{path}: a field without a label"
        assert all(scope in ("col", "row") for scope in found.header_scopes), path
        assert found.outside == [], f"{path}: loads or runs {found.outside}"
        assert ":focus{outline:3px solid" in body, path
        assert not any(link.startswith(("http:", "https:", "//")) for link in found.links)
    overview = outline(site.request("GET", site.path).body)
    assert overview.form_method == "get" and {"plan", "org"} <= set(overview.fields)


# --- the coordinator's address ----------------------------------------------------------------


def test_overview_url_prints_the_address_that_opens_the_page(site: Site) -> None:
    code, out = site.cli("overview-url")
    assert code == 0
    [url] = out.splitlines()
    assert url.startswith("http://127.0.0.1:8080/overview/")
    access = access_for(site.settings)
    assert access is not None and url.endswith(access.token)
    assert site.request("GET", urlsplit(url).path).status == 200
    assert site.cli("overview-url") == (code, out), "the same address every time"


def test_overview_url_without_a_link_secret_says_how_to_get_one(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = io.StringIO()
    code = main(["--config", str(project / "config.toml"), "overview-url"], out)
    assert code == 1 and out.getvalue() == ""
    error = capsys.readouterr().err
    assert "no link secret yet" in error and "notifier run" in error
