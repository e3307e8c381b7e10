"""The coordinator's overview page: ``/overview/<token>`` and ``/overview/<token>/m/<milestone>``.

Every plan's milestones on a month timeline by organisation (``overview.build_overview``),
narrowed by ``?plan=<id>&org=<slug>``, and one page per milestone with its status history.
Only GET and HEAD: the page shows, it never records (the coordinator records with
``notifier done`` and ``reopen``, the organisations from their status links).

The token is the installation's one overview token (``overview_access``); a wrong or missing
one, and any path the page does not know, gets the status page's fixed "no such page", so
nothing tells a near miss. Links between the pages are relative, so they keep working behind
a proxy that serves notifier under a path of its own.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

from notifier.catalog import Catalog
from notifier.feedstate import FeedStore
from notifier.ledger import Ledger
from notifier.overview import build_history, build_overview, key_of_slug
from notifier.overview_access import ROUTE, access_for
from notifier.responses import Environ, Response, WsgiApp
from notifier.schedule import local_date, zone
from notifier.statuspage import GONE, SECURITY_HEADERS, web_templates, with_token_page

logger = logging.getLogger(__name__)

_TOKEN = re.compile(r"^[A-Za-z0-9_.-]{1,256}$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9.-]{0,300}$")
MAX_QUERY = 1024
MAX_FILTER = 100


def _answer(
    status: str, body: bytes, kind: str = "text/html", extra: Iterable[tuple[str, str]] = ()
) -> Response:
    headers = [
        ("Content-Type", f"{kind}; charset=utf-8"),
        ("Content-Length", str(len(body))),
        *SECURITY_HEADERS,
        *extra,
    ]
    return status, headers, body


# The page only shows: nothing to post, put or delete.
NOT_ALLOWED = _answer(
    "405 Method Not Allowed", b"Method not allowed\n", "text/plain", [("Allow", "GET, HEAD")]
)


def _filters(environ: Environ) -> tuple[str, str]:
    """``plan`` and ``org`` from the query; anything unreadable or oversized reads as none."""
    query = str(environ.get("QUERY_STRING", ""))
    if len(query) > MAX_QUERY:
        return "", ""
    try:
        pairs = parse_qs(query, keep_blank_values=True, max_num_fields=10)
    except ValueError:
        return "", ""

    def first(name: str) -> str:
        value = (pairs.get(name) or [""])[0].strip()
        return value if len(value) <= MAX_FILTER else ""

    return first("plan"), first("org")


def _query(plan: str, organisation: str) -> str:
    chosen = {name: value for name, value in (("plan", plan), ("org", organisation)) if value}
    return f"?{urlencode(chosen)}" if chosen else ""


class OverviewPage:
    """The route: reads the catalog the feeds were built from, and the ledger's statuses."""

    def __init__(self, store: FeedStore, ledger: Ledger, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.ledger = ledger
        self.clock = clock
        self.templates = web_templates(store.settings.templates.dir)

    def __call__(self, environ: Environ) -> Response:
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return NOT_ALLOWED
        path = str(environ.get("PATH_INFO", ""))
        if not path.startswith(ROUTE):
            return GONE
        parts = path[len(ROUTE) :].split("/")
        access = access_for(self.store.settings)
        token = parts[0]
        if access is None or not _TOKEN.match(token) or not access.allows(token):
            return GONE
        plan, organisation = _filters(environ)
        if len(parts) == 1:
            return self._overview(token, plan, organisation)
        if len(parts) == 3 and parts[1] == "m" and _SLUG.match(parts[2]):
            return self._history(token, key_of_slug(parts[2]), plan, organisation)
        return GONE

    def _catalog(self) -> Catalog:
        return self.store.catalog or Catalog()

    def _overview(self, token: str, plan: str, organisation: str) -> Response:
        now = self.clock()
        view = build_overview(
            self._catalog(),
            self.ledger.statuses(),
            now,
            local_date(now, self.store.settings),
            plan=plan,
            organisation=organisation,
        )
        context: dict[str, Any] = {
            "o": view,
            "token": token,
            "query": _query(view.plan, view.organisation),
        }
        body = self.templates.get_template("overview.html").render(context).encode()
        return _answer("200 OK", body)

    def _history(self, token: str, key: str, plan: str, organisation: str) -> Response:
        planned = next((p for p in self._catalog().milestones if p.key == key), None)
        if planned is None:
            return GONE
        view = build_history(
            planned,
            self.ledger.status_history(key),
            self.ledger.statuses(),
            self.clock(),
            zone(self.store.settings),
        )
        # From /overview/<token>/m/<milestone> back to /overview/<token>, with the same filters.
        back = f"../../{token}{_query(plan, organisation)}"
        context: dict[str, Any] = {"h": view, "back": back}
        body = self.templates.get_template("overview_milestone.html").render(context).encode()
        return _answer("200 OK", body)


def with_overview_page(app: WsgiApp, page: OverviewPage) -> WsgiApp:
    """``app``, with ``/overview`` and everything under it answered by ``page``."""
    return with_token_page(app, ROUTE, page, bare=True)
