"""A real socket in front of the app the daemon serves, over a real SQLite ledger and the
real send step into an outbox: what the tests of the status and accept links share."""

from __future__ import annotations

import email
import http.client
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

from notifier.catalog import load_catalog
from notifier.compose import Composer
from notifier.config import load_settings
from notifier.feedstate import PublishedFeeds
from notifier.ledger import SqliteLedger
from notifier.links import status_url, with_secret
from notifier.mail import OutboxMailer
from notifier.model import Recipient
from notifier.sender import SendReport, send_due_once
from notifier.server import FeedServer
from notifier.settings import Settings
from notifier.wsgi import build_app

STOCKHOLM = ZoneInfo("Europe/Stockholm")
SIG = "gotland-2024/sig/klart-for-start"  # due 1 November 2024; Polisen and others
SEPTEMBER = datetime(2024, 9, 2, 10, 0, tzinfo=STOCKHOLM)
FORM = "application/x-www-form-urlencoded"


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
    feeds: PublishedFeeds
    port: int
    now: list[datetime] = field(default_factory=lambda: [SEPTEMBER])

    def request(
        self, method: str, url: str, body: bytes | None = None, content_type: str = FORM
    ) -> Answer:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {"Content-Type": content_type} if body is not None else {}
        try:
            connection.request(method, urlsplit(url).path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read().decode("utf-8")
            return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, text)
        finally:
            connection.close()

    def post(self, url: str, **form: str) -> Answer:
        token = urlsplit(url).path.rsplit("/", 1)[1]
        return self.request("POST", url, urlencode({"token": token, **form}).encode())

    def step(self, now: datetime) -> SendReport:
        return send_due_once(
            now,
            load_catalog(self.settings.plans.dir),
            self.settings,
            self.ledger,
            OutboxMailer(self.project / "outbox"),
            Composer.load(self.settings.templates.dir),
        )

    def link(self, key: str = SIG, address: str = "polisen@test.example") -> str:
        [planned] = [p for p in self.feeds.catalog.milestones if p.key == key]
        return status_url(planned, Recipient(address, "Polisen"), self.settings)


@contextmanager
def open_site(project: Path) -> Iterator[Site]:
    settings = load_settings(project / "config.toml")
    with SqliteLedger(settings.ledger.path) as ledger:
        settings = with_secret(settings)  # as the daemon does, once the ledger's folder is made
        feeds = PublishedFeeds(settings, SEPTEMBER)
        moments = [SEPTEMBER]
        app = build_app(feeds.store, ledger=ledger, clock=lambda: moments[0])
        with FeedServer(app, "127.0.0.1", 0) as server:
            yield Site(project, settings, ledger, feeds, server.port, moments)


def messages(folder: Path) -> list[EmailMessage]:
    return [
        email.message_from_bytes(p.read_bytes(), policy=policy.default)  # type: ignore[misc]
        for p in sorted(folder.glob("*.eml"))
    ]


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return str(text.get_content()), str(html.get_content())
