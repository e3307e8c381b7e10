"""HTTP for the feeds: a WSGI app over an in-memory snapshot, and a threaded server to run it.

The only module that speaks HTTP. Feeds are built once per plan change (``FeedStore.update``)
and served from memory; a request never builds anything. Responses carry a strong ETag and
Last-Modified and answer 304 to If-None-Match / If-Modified-Since. They are never compressed:
compressed feeds are known to break Outlook subscriptions, and ``Cache-Control: no-transform``
asks proxies not to compress them either.

Routes: ``/calendar.ics`` (every plan), ``/calendar/<plan-id>.ics``,
``/calendar/<organisation-slug>.ics``; with ``feeds.tokens = true`` only
``/calendar/<token>/<name>.ics`` (the whole feed's name is ``calendar``). An unknown feed, a
missing token and a wrong token get the same 404. Further exact-path routes (``/healthz``,
``/metrics``) can be passed in by the daemon.
"""

from __future__ import annotations

import hmac
import logging
import re
import socket
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from socketserver import TCPServer, ThreadingMixIn
from typing import Any, Protocol
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

from notifier.catalog import Catalog
from notifier.config import Settings
from notifier.errors import UserError
from notifier.feed import WHOLE, Feed, FeedSet, History, Refresh, refresh
from notifier.logs import fields

logger = logging.getLogger(__name__)

Response = tuple[str, list[tuple[str, str]], bytes]
Environ = Mapping[str, Any]
Route = Callable[[Environ], Response]
StartResponse = Callable[..., Any]

MAX_REQUEST_LINE = 8192
MAX_EMPTY_LINES = 8
MAX_HEADER_BYTES = 16384
MAX_PATH = 2048
SOCKET_TIMEOUT = 30.0

CALENDAR_TYPE = "text/calendar; charset=utf-8"
_TEXT = [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")]


def _canned(status: str, text: str, extra: Iterable[tuple[str, str]] = ()) -> Response:
    body = (text + "\n").encode("utf-8")
    return status, [*_TEXT, ("Content-Length", str(len(body))), *extra], body


NOT_FOUND = _canned("404 Not Found", "Not found")
BAD_REQUEST = _canned("400 Bad Request", "Bad request")
URI_TOO_LONG = _canned("414 URI Too Long", "URI too long")
METHOD_NOT_ALLOWED = _canned(
    "405 Method Not Allowed", "Method not allowed", [("Allow", "GET, HEAD")]
)
INTERNAL_ERROR = _canned("500 Internal Server Error", "Internal server error")

_FEED_NAME = r"[a-z0-9][a-z0-9-]{0,99}"
_PLAIN_ROUTE = re.compile(rf"^/calendar/({_FEED_NAME})\.ics$")
_TOKEN_ROUTE = re.compile(rf"^/calendar/([A-Za-z0-9_-]{{16,128}})/({_FEED_NAME})\.ics$")
_TOKEN_IN_PATH = re.compile(r"^/calendar/[^/]+/")


class TokenSource(Protocol):
    """Where the per-feed tokens come from (``feedstate.TokenFile`` on disk)."""

    def current(self) -> Mapping[str, str]: ...

    def ensure(self, names: Iterable[str]) -> Mapping[str, str]: ...


class FeedStore:
    """The feeds being served: an immutable snapshot, swapped whole on each update.

    Readers (request threads) take ``self.feeds`` once and use that object: a reference
    assignment is atomic, so a request sees either the old or the new set, never a mix.
    """

    def __init__(
        self,
        settings: Settings,
        history: History | None = None,
        tokens: TokenSource | None = None,
    ) -> None:
        self._settings = settings
        self._history = history or History()
        self._tokens = tokens
        self._feeds = FeedSet()
        self._update_lock = threading.Lock()

    @property
    def feeds(self) -> FeedSet:
        return self._feeds

    @property
    def history(self) -> History:
        """The history matching the served feeds; the caller saves it (feedstate)."""
        return self._history

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def tokens_required(self) -> bool:
        return self._settings.feeds.tokens

    def update(self, catalog: Catalog, now: datetime, settings: Settings | None = None) -> Refresh:
        """Rebuild every feed from the catalog and swap it in; return feeds and new history."""
        with self._update_lock:
            settings = settings or self._settings
            result = refresh(catalog, settings, self._history, now)
            if settings.feeds.tokens:
                if self._tokens is None:
                    logger.error("feeds.tokens is on but no token file is set; every feed is 404")
                else:
                    self._tokens.ensure(feed.name for feed in result.feeds)
            self._settings = settings
            self._history = result.history
            self._feeds = result.feeds
            for problem in result.feeds.problems:
                logger.warning("feed not published: %s", problem)
            return result

    def find(self, name: str, token: str | None) -> Feed | None:
        """The feed at this name, if the token (or its absence) is right for it."""
        feed = self._feeds.get(name)
        if not self.tokens_required:
            return feed if token is None else None
        if token is None or self._tokens is None:
            return None
        expected = self._tokens.current().get(name)
        # Compare even when the feed is unknown, so timing does not tell feeds apart.
        valid = hmac.compare_digest(token.encode(), (expected or "").encode())
        return feed if valid and expected else None


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
    """The path for logs, without the secret token."""
    return _TOKEN_IN_PATH.sub("/calendar/***/", path) if path.count("/") >= 3 else path


class FeedApp:
    """The WSGI application. Every exception becomes a logged 500; no traceback leaves."""

    def __init__(self, store: FeedStore, routes: Mapping[str, Route] | None = None) -> None:
        self.store = store
        self.routes = dict(routes or {})

    def __call__(
        self, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
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


def _path(environ: Environ) -> str:
    return str(environ.get("PATH_INFO", ""))


# --- the server -----------------------------------------------------------------------------


class _Handler(ServerHandler):
    server_software = "notifier"

    def log_exception(self, exc_info: Any) -> None:
        logger.error("response failed", exc_info=exc_info)


class _RequestHandler(WSGIRequestHandler):
    """wsgiref's handler with tighter limits and logs through ``logging``."""

    server_version = "notifier"
    timeout = SOCKET_TIMEOUT  # a silent client gives up its thread after this
    # Answer even unparsable requests with a status line (the stdlib default, HTTP/0.9,
    # would send a bare HTML page that no client can read as an error).
    default_request_version = "HTTP/1.0"

    def version_string(self) -> str:
        return self.server_version

    def handle(self) -> None:
        line = self.rfile.readline(MAX_REQUEST_LINE + 1)
        # RFC 9112 2.2: empty lines before the request line are ignored (a few of them).
        for _ in range(MAX_EMPTY_LINES):
            if line not in (b"\r\n", b"\n"):
                break
            line = self.rfile.readline(MAX_REQUEST_LINE + 1)
        self.raw_requestline = line
        if not line:
            return  # the client left without asking anything
        self.requestline, self.request_version, self.command = "", "HTTP/1.0", ""
        if len(line) > MAX_REQUEST_LINE:
            self.send_error(414)
            return
        if len(str(line, "iso-8859-1").split()) != 3:
            # Blank, HTTP/0.9 ("GET /path", no version) or garbage: refused at once, before
            # any header is read, so such a client gets an answer instead of a wait. The
            # stdlib would go silent on a blank line and serve HTTP/0.9 without headers.
            self.send_error(400, "Bad request line")
            return
        if not self.parse_request():  # stdlib sent 400/431/505 already
            return
        if self.request_version == "HTTP/0.9":
            # "GET / HTTP/0.9": the stdlib and wsgiref would answer with a bare body, without
            # a status line; HTTP/0.9 never named its version, so this is no 0.9 client anyway.
            self.request_version = "HTTP/1.0"
            self.send_error(505)
            return
        size = sum(len(k) + len(v) + 4 for k, v in self.headers.items())
        if size > MAX_HEADER_BYTES:
            self.close_connection = True
            self.send_error(431)
            return
        handler = _Handler(
            self.rfile, self.wfile, self.get_stderr(), self.get_environ(), multithread=True
        )
        handler.request_handler = self
        handler.run(self.server.get_app())  # type: ignore[attr-defined]

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        pass  # FeedApp logs each request, with the token masked

    def log_error(self, format: str, *args: Any) -> None:
        logger.info("bad request %s", fields(client=self.client_address[0], error=format % args))


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a stuck client never delays shutdown
    allow_reuse_address = True
    # socketserver's default of 5 drops the SYNs of a burst of clients (calendar clients
    # polling at the full hour, a scanner) while the accepting thread waits for the GIL;
    # each dropped one then waits a second or more for its retry.
    request_queue_size = 128

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name (getfqdn), which can stall on DNS.
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)
        self.setup_environ()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Resets and timeouts of clients are routine; never print a traceback to stderr.
        logger.debug("connection from %s failed", client_address[0], exc_info=True)


class _ThreadingServer6(_ThreadingServer):
    address_family = socket.AF_INET6


class FeedServer:
    """The threaded HTTP server in a background thread: start(), port, stop()."""

    def __init__(self, app: FeedApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.requested_port = port
        self._server: _ThreadingServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> FeedServer:
        cls = _ThreadingServer6 if ":" in self.host else _ThreadingServer
        try:
            server = cls((self.host, self.requested_port), _RequestHandler)
        except OSError as error:
            raise UserError(
                [f"cannot listen on {self.host}:{self.requested_port}: {error.strerror}"],
                hint="Set server.host and server.port in config.toml to a free address.",
            ) from None
        server.set_app(self.app)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="feed-server"
        )
        self._thread.daemon = True
        self._thread.start()
        logger.info("serving feeds %s", fields(url=self.url))
        return self

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("server not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(
    settings: Settings,
    store: FeedStore,
    stop: threading.Event,
    routes: Mapping[str, Route] | None = None,
) -> None:
    """Serve until ``stop`` is set (the daemon runs this in a thread, `notifier serve` inline)."""
    server = FeedServer(FeedApp(store, routes), settings.server.host, settings.server.port)
    server.start()
    try:
        stop.wait()
    finally:
        server.stop()
