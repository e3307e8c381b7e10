"""The WSGI application: feeds, and ``/healthz`` and ``/metrics`` where the daemon adds them.

Importing this module starts nothing. The app answers from an in-memory snapshot
(``feedstate.FeedStore``) built once per plan change; a request never builds anything.
Responses carry a strong ETag and Last-Modified and answer 304 to If-None-Match /
If-Modified-Since. They are never compressed: compressed feeds are known to break Outlook
subscriptions, and ``Cache-Control: no-transform`` asks proxies not to compress them either.

Routes: ``/calendar.ics`` (every plan), ``/calendar/<plan-id>.ics``,
``/calendar/<organisation-slug>.ics``; with ``feeds.tokens = true`` only
``/calendar/<token>/<name>.ics`` (the whole feed's name is ``calendar``). An unknown feed, a
missing token and a wrong token get the same 404. Further exact-path routes (``/healthz``,
``/metrics``) are passed in by the daemon.

Any WSGI server can run ``create_app(config)``, or ``application``, which is built from
``$NOTIFIER_CONFIG`` (else ./config.toml) when first asked for. ``server.FeedServer`` is the
one ``notifier run`` and ``notifier serve`` use.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from functools import cache
from pathlib import Path
from typing import Any

from notifier.acceptpage import AcceptPage
from notifier.config import ENV_CONFIG, config_path, load_settings
from notifier.feed import WHOLE, Feed
from notifier.feedstate import FeedStore, PublishedFeeds
from notifier.ledger import Ledger, open_ledger
from notifier.links import ACCEPT_ROUTE, with_secret
from notifier.logs import fields
from notifier.metrics import Health, Metrics
from notifier.overviewpage import OverviewPage, with_overview_page
from notifier.responses import (
    BAD_REQUEST,
    INTERNAL_ERROR,
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    URI_TOO_LONG,
    Environ,
    Response,
    Route,
    StartResponse,
    WsgiApp,
)
from notifier.statuspage import StatusPage, with_status_page, with_token_page

logger = logging.getLogger(__name__)

MAX_PATH = 2048
CALENDAR_TYPE = "text/calendar; charset=utf-8"

_FEED_NAME = r"[a-z0-9][a-z0-9-]{0,99}"
_PLAIN_ROUTE = re.compile(rf"^/calendar/({_FEED_NAME})\.ics$")
_TOKEN_ROUTE = re.compile(rf"^/calendar/([A-Za-z0-9_-]{{16,128}})/({_FEED_NAME})\.ics$")
_TOKEN_IN_PATH = re.compile(r"^/calendar/[^/]+/")
# As long as the shortest token the routes take, and without the dot of a feed's file name.
_TOKEN_SEGMENT = re.compile(r"/[A-Za-z0-9_-]{16,}(?=/|$|\?)")
# A token pasted where a feed's name goes (/calendar/<token>.ics): a feed's name is a
# lower-case slug, a token (base64url) all but surely has a capital or an underscore.
_TOKEN_AS_NAME = re.compile(r"/(?=[A-Za-z0-9_-]{16,}\.)(?=[^/.]*[A-Z_])[A-Za-z0-9_-]+(?=\.)")


def _http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def _etag_matches(header: str, etag: str) -> bool:
    """If-None-Match uses the weak comparison (RFC 9110 13.1.2): W/ prefixes are ignored."""
    bare = etag.removeprefix("W/")
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == bare:
            return True
    return False


def _not_modified_since(header: str, last_modified: datetime) -> bool:
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError, OverflowError):
        # Unparsable, or a field too large for a datetime ("01 Jan 99999999999999999999"):
        # ignored, as RFC 9110 says.
        return False
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return last_modified <= since


def _feed_response(feed: Feed, environ: Environ) -> Response:
    validators = [
        ("ETag", feed.etag),
        ("Last-Modified", _http_date(feed.last_modified)),
        # Revalidate every time (cheap: a 304), and let no proxy compress or alter the feed.
        ("Cache-Control", "no-cache, no-transform"),
    ]
    match = environ.get("HTTP_IF_NONE_MATCH")
    since = environ.get("HTTP_IF_MODIFIED_SINCE")
    # If-None-Match, when present, decides alone (RFC 9110 13.2.2).
    if match is not None:
        if _etag_matches(match, feed.etag):
            return "304 Not Modified", validators, b""
    elif since and _not_modified_since(since, feed.last_modified):
        return "304 Not Modified", validators, b""
    headers = [
        ("Content-Type", CALENDAR_TYPE),
        ("Content-Length", str(len(feed.body))),
        ("Content-Disposition", f'inline; filename="{feed.name}.ics"'),
        ("X-Content-Type-Options", "nosniff"),
        *validators,
    ]
    return "200 OK", headers, feed.body


def _bad_path(path: str) -> bool:
    # PATH_INFO is already percent-decoded, so '%2e%2e' arrives here as '..'.
    return (
        not path.startswith("/")
        or ".." in path
        or "//" in path
        or "\\" in path
        or any(ord(c) < 0x21 or ord(c) > 0x7E for c in path)
    )


def mask_path(path: str) -> str:
    """The path for logs, without the secret token: the folder under /calendar/ and any
    segment that looks like a token, wherever it is (``/calendar/<token>`` alone, a token
    pasted into another path), so a mistyped feed address leaks no token either."""
    path = _TOKEN_IN_PATH.sub("/calendar/***/", path) if path.count("/") >= 3 else path
    path = _TOKEN_AS_NAME.sub("/***", path)
    return _TOKEN_SEGMENT.sub("/***", path)


def _path(environ: Environ) -> str:
    return str(environ.get("PATH_INFO", ""))


class FeedApp:
    """The WSGI application. Every exception becomes a logged 500; no traceback leaves."""

    def __init__(self, store: FeedStore, routes: Mapping[str, Route] | None = None) -> None:
        self.store = store
        self.routes = dict(routes or {})

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = str(environ.get("REQUEST_METHOD", ""))
        try:
            status, headers, body = self.respond(environ)
        except Exception:
            logger.exception(
                "request failed %s", fields(method=method, path=mask_path(_path(environ)))
            )
            status, headers, body = INTERNAL_ERROR
        if logger.isEnabledFor(logging.INFO):
            logger.info(
                "request %s",
                fields(
                    method=method,
                    path=mask_path(_path(environ)),
                    status=status.split(" ", 1)[0],
                    bytes=0 if method == "HEAD" else len(body),
                    client=environ.get("REMOTE_ADDR", ""),
                    agent=environ.get("HTTP_USER_AGENT", ""),
                ),
            )
        start_response(status, headers)
        if status.startswith("304"):
            # An iterator without len(): wsgiref then adds no "Content-Length: 0", which a
            # 304 must not carry (it would contradict the representation's real length).
            return iter([b""])
        # HEAD: the headers GET would send (Content-Length included), no body.
        return [b""] if method == "HEAD" else [body]

    def respond(self, environ: Environ) -> Response:
        path = _path(environ)
        if len(path) > MAX_PATH:
            return URI_TOO_LONG
        if _bad_path(path):
            return BAD_REQUEST
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return METHOD_NOT_ALLOWED
        route = self.routes.get(path)
        if route is not None:
            return route(environ)
        feed = self._lookup(path)
        return NOT_FOUND if feed is None else _feed_response(feed, environ)

    def _lookup(self, path: str) -> Feed | None:
        if path == "/calendar.ics":
            return self.store.find(WHOLE, None)
        plain = _PLAIN_ROUTE.match(path)
        if plain:
            return self.store.find(plain.group(1), None)
        tokened = _TOKEN_ROUTE.match(path)
        if tokened:
            return self.store.find(tokened.group(2), tokened.group(1))
        return None


def build_app(
    store: FeedStore,
    health: Health | None = None,
    metrics: Metrics | None = None,
    ledger: Ledger | None = None,
    clock: Callable[[], datetime] | None = None,
) -> WsgiApp:
    """The feeds, plus ``/healthz`` and ``/metrics`` (counting every response) when given,
    and the pages of the status and accept links (``statuspage``, ``acceptpage``) when given
    the ledger they record in."""
    routes: dict[str, Route] = {}
    if health is not None:
        routes["/healthz"] = health.route
    if metrics is not None:
        routes["/metrics"] = metrics.route
    app: WsgiApp = FeedApp(store, routes)
    if ledger is not None:
        app = with_status_page(app, StatusPage(store, ledger, clock or _utc_now))
        app = with_overview_page(app, OverviewPage(store, ledger, clock or _utc_now))
        app = with_token_page(app, ACCEPT_ROUTE, AcceptPage(store, ledger, clock or _utc_now))
    return app if metrics is None else metrics.counting(app)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def create_app(
    config: str | Path | None = None, *, clock: Callable[[], datetime] = _utc_now
) -> WsgiApp:
    """The feeds of the plans ``config`` names, as ``notifier serve`` serves them.

    Built once, when called: the WSGI server's reload (a new worker) picks up plan edits.
    No ``/healthz`` or ``/metrics``: they report on sending, which only ``notifier run`` does.
    """
    # A file someone named must exist; ./config.toml may be left out (defaults).
    named = config is not None or bool(os.environ.get(ENV_CONFIG))
    settings = load_settings(config_path(config), required=named)
    ledger = open_ledger(settings.ledger)
    settings = with_secret(settings)  # the ledger's folder exists now: the secret can be made
    return build_app(PublishedFeeds(settings, clock()).store, ledger=ledger, clock=clock)


@cache
def _application() -> WsgiApp:
    return create_app()


def __getattr__(name: str) -> Any:
    # ``application`` is built when a WSGI server first looks it up, not at import.
    if name == "application":
        return _application()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
