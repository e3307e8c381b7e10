"""The page a personal status link opens: ``/status/<token>``.

GET only shows (mail scanners such as Microsoft Defender Safe Links open every link in a
message, so opening one must change nothing). POST, from the page's own form, records "done"
or "needs a new date" in the ledger, as the token's organisation and address, how "link".
The form carries the token and it must equal the one in the path; only a small
``application/x-www-form-urlencoded`` body is read. A token that is wrong, altered, expired or
about a milestone no plan has gets one fixed page that tells nothing about why.

Pages are server-rendered from ``<templates.dir>/web/`` with no script, their CSS inline, and
headers that forbid framing, referrers, caching and every outside resource.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Callable, Iterable
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jinja2

from notifier.feedstate import FeedStore
from notifier.kinds.views import milestone_view
from notifier.ledger import Ledger, LedgerError
from notifier.links import ROUTE, Claim, signer_for
from notifier.logs import fields
from notifier.model import PlannedMilestone
from notifier.moves import holding_move, moved
from notifier.records import COORDINATOR, StatusEntry
from notifier.responses import INTERNAL_ERROR, Environ, Response, StartResponse, WsgiApp
from notifier.schedule import local_date, zone
from notifier.settings import Settings
from notifier.swedish import swedish_date

logger = logging.getLogger(__name__)

MAX_BODY = 4096
MAX_COMMENT = 1000
FORM_TYPE = "application/x-www-form-urlencoded"
_TOKEN = re.compile(r"^[A-Za-z0-9_.-]{1,1024}$")

SECURITY_HEADERS = [
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'",
    ),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
]

STATE_TEXT = {
    "open": "Inte klart",
    "done": "Klart",
    "needs-new-date": "Behöver ny tid",
    "reopened": "Öppnat igen",
}


def _simple_page(title: str, text: str) -> bytes:
    return (
        '<!DOCTYPE html>\n<html lang="sv">\n<head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title></head>\n"
        '<body style="font-family:Arial,Helvetica,sans-serif;color:#1a1a1a;background:#ffffff;'
        f'margin:0;padding:16px;">\n<h1 style="font-size:22px;">{title}</h1>\n'
        f"<p>{text}</p>\n</body>\n</html>\n"
    ).encode()


# One page for every bad token, so that no answer tells a forged token from an expired one.
_GONE_BODY = _simple_page(
    "Sidan finns inte",
    "Länken fungerar inte, eller gäller inte längre. "
    "Hör av dig till samordnaren om du vill rapportera hur det går.",
)
# The ledger (its database) cannot be reached: nothing was saved, and the link still works.
_UNAVAILABLE_BODY = _simple_page(
    "Försök igen om en stund",
    "Just nu kan inget sparas, så inget har sparats. Länken fungerar fortfarande: "
    "öppna den igen om några minuter.",
)


def html_page(status: str, body: bytes, extra: Iterable[tuple[str, str]] = ()) -> Response:
    headers = [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Content-Length", str(len(body))),
        *SECURITY_HEADERS,
        *extra,
    ]
    return status, headers, body


def _plain(status: str, text: str, extra: Iterable[tuple[str, str]] = ()) -> Response:
    body = (text + "\n").encode()
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
    return status, [*headers, *SECURITY_HEADERS, *extra], body


GONE = html_page("404 Not Found", _GONE_BODY)
UNAVAILABLE = html_page("503 Service Unavailable", _UNAVAILABLE_BODY, [("Retry-After", "60")])
NOT_ALLOWED = _plain("405 Method Not Allowed", "Method not allowed", [("Allow", "GET, HEAD, POST")])
WRONG_TYPE = _plain("415 Unsupported Media Type", f"Send the form as {FORM_TYPE}")
TOO_LARGE = _plain("413 Content Too Large", "The form is too large")


def web_templates(folder: Path) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder / "web", encoding="utf-8"),
        undefined=jinja2.StrictUndefined,
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


class StatusPage:
    """The route: reads the catalog the feeds were built from, and the ledger."""

    def __init__(self, store: FeedStore, ledger: Ledger, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.ledger = ledger
        self.clock = clock
        self.templates = web_templates(store.settings.templates.dir)

    def __call__(self, environ: Environ) -> Response:
        method = environ.get("REQUEST_METHOD")
        if method not in ("GET", "HEAD", "POST"):
            return NOT_ALLOWED
        token = str(environ.get("PATH_INFO", ""))[len(ROUTE) :]
        now = self.clock()
        settings = self.store.settings
        today = local_date(now, settings)
        claim = signer_for(settings).read(token, today) if _TOKEN.match(token) else None
        planned = self._milestone(claim)
        if claim is None or planned is None:
            return GONE
        if method != "POST":
            return self._page(planned, claim, token, today)
        form = posted_form(environ, token)
        if not isinstance(form, dict):
            return form
        entry, error = _entry(form, planned, claim, now, today)
        if entry is None:
            return self._page(planned, claim, token, today, error=error, form=form)
        recorded = self.ledger.record_status(entry)
        logger.info(
            "status recorded %s",
            fields(milestone=planned.key, state=entry.state, by=entry.who, how="link"),
        )
        return self._page(planned, claim, token, today, recorded=recorded)

    def _milestone(self, claim: Claim | None) -> PlannedMilestone | None:
        return (
            None
            if claim is None
            else current_milestone(self.store, self.ledger, claim.milestone_key)
        )

    def _page(
        self,
        planned: PlannedMilestone,
        claim: Claim,
        token: str,
        today: date,
        *,
        error: str = "",
        form: dict[str, str] | None = None,
        recorded: StatusEntry | None = None,
    ) -> Response:
        history = self.ledger.status_history(planned.key)
        current = history[-1].state if history else "open"
        context: dict[str, Any] = {
            "m": milestone_view(planned, today),
            "claim": claim,
            "token": token,
            "state_text": STATE_TEXT,
            "current": current,
            "history": history_rows(history, self.store.settings),
            "error": error,
            "form": form or {},
            "recorded": recorded,
            "proposed": swedish_date(recorded.proposed_due)
            if recorded and recorded.proposed_due
            else "",
            "min_date": today.isoformat(),
        }
        body = self.templates.get_template("status.html").render(context).encode()
        return html_page("400 Bad Request" if error else "200 OK", body)


def current_milestone(store: FeedStore, ledger: Ledger, key: str) -> PlannedMilestone | None:
    """The milestone ``key`` of the plans the feeds were built from, on its due date as it
    stands (moved, if the coordinator accepted a new one)."""
    catalog = store.catalog
    if catalog is None:
        return None
    planned = next((p for p in catalog.milestones if p.key == key), None)
    if planned is None:
        return None
    move = holding_move(planned, ledger.statuses())
    return planned if move is None else moved(planned, move)


def history_rows(history: list[StatusEntry], settings: Settings) -> list[dict[str, str]]:
    """A milestone's history for its pages, newest first, in Swedish."""

    def when(entry: StatusEntry) -> str:
        local = entry.at.astimezone(zone(settings))
        return f"{swedish_date(local.date())} kl. {local:%H.%M}"

    return [
        {
            "state": f"Ny tid godkänd: {swedish_date(e.moved.due)}"
            if e.moved
            else STATE_TEXT[e.state],
            "when": when(e),
            "who": "samordnaren" if e.organisation == COORDINATOR else e.who,
            "how": _how(e),
            "comment": e.comment or "",
            "proposed": swedish_date(e.proposed_due) if e.proposed_due else "",
        }
        for e in reversed(history)
    ]


def _how(entry: StatusEntry) -> str:
    if entry.how == "link":
        return "via länken"
    return "" if entry.organisation == COORDINATOR else "(registrerat av samordnaren)"


def posted_form(environ: Environ, token: str) -> dict[str, str] | Response:
    """The fields of a page's own form, posted back to its ``token``'s path; the answer to
    give instead when it is not one (wrong type, too large, another token)."""
    kind = str(environ.get("CONTENT_TYPE", "")).split(";", 1)[0].strip().lower()
    if kind != FORM_TYPE:
        return WRONG_TYPE
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = MAX_BODY + 1
    if length > MAX_BODY or length < 0:
        return TOO_LARGE
    body = environ["wsgi.input"].read(length) if length else b""
    form = _form(body)
    if not hmac.compare_digest(form.get("token", "").encode(), token.encode()):
        return GONE
    return form


def _form(body: bytes) -> dict[str, str]:
    try:
        text = body.decode("ascii")
        pairs = parse_qs(text, keep_blank_values=True, strict_parsing=False, max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        return {}
    return {name: values[0] for name, values in pairs.items() if values}


def _entry(
    form: dict[str, str], planned: PlannedMilestone, claim: Claim, now: datetime, today: date
) -> tuple[StatusEntry | None, str]:
    state = form.get("state", "")
    comment = form.get("comment", "").strip()
    if state not in ("done", "needs-new-date"):
        return None, "Välj Klart eller Behöver ny tid."
    if len(comment) > MAX_COMMENT:
        return None, f"Kommentaren får vara högst {MAX_COMMENT} tecken."
    proposed: date | None = None
    if state == "needs-new-date":
        try:
            proposed = date.fromisoformat(form.get("new_due", "").strip())
        except ValueError:
            return None, "Ange det nya datumet som ÅÅÅÅ-MM-DD, till exempel 2025-03-31."
        if proposed <= today:
            return None, "Det nya datumet måste ligga efter i dag."
    entry = StatusEntry(
        milestone_key=planned.key,
        state=state,  # type: ignore[arg-type]  # one of the two checked above
        organisation=claim.organisation,
        at=now,
        how="link",
        address=claim.address,
        comment=comment or None,
        proposed_due=proposed,
    )
    return entry, ""


def with_status_page(app: WsgiApp, page: StatusPage) -> WsgiApp:
    """``app``, with ``/status/<token>`` answered by ``page``."""
    return with_token_page(app, ROUTE, page)


def with_token_page(
    app: WsgiApp, prefix: str, page: Callable[[Environ], Response], *, bare: bool = False
) -> WsgiApp:
    """``app``, with every path under ``prefix`` (and, with ``bare``, the prefix without its
    slash) answered by ``page``; the token in the path never reaches the log."""
    masked = prefix + "***"

    def serve(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO", ""))
        if not path.startswith(prefix) and not (bare and path == prefix.rstrip("/")):
            return app(environ, start_response)
        method = str(environ.get("REQUEST_METHOD", ""))
        try:
            status, headers, body = page(environ)
        except LedgerError as error:
            # The ledger (its database) cannot be reached: nothing was recorded; say so, and
            # when to try again, rather than fail as a defect would.
            logger.error("request %s: %s", fields(method=method, path=masked), error.message)
            status, headers, body = UNAVAILABLE
        except Exception:
            logger.exception("request failed %s", fields(method=method, path=masked))
            status, headers, body = INTERNAL_ERROR
        logger.info(
            "request %s",
            fields(
                method=method,
                path=masked,
                status=status.split(" ", 1)[0],
                bytes=0 if method == "HEAD" else len(body),
                client=environ.get("REMOTE_ADDR", ""),
            ),
        )
        start_response(status, headers)
        return [b""] if method == "HEAD" else [body]

    return serve
