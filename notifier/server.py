"""The HTTP server that runs the WSGI app: the standard library's, threaded and hardened.

Swappable: ``notifier run`` and ``notifier serve`` need only ``start()``, ``url`` and
``stop()`` of it (``runner.Server``), and the app (``wsgi``) knows nothing of it. Requests
are read with tight limits (request line, headers, a socket timeout for silent clients) and
anything unparsable gets a status line, never a bare page or a traceback.
"""

from __future__ import annotations

import logging
import socket
import threading
from socketserver import TCPServer, ThreadingMixIn
from typing import Any
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

from notifier.errors import UserError
from notifier.logs import fields
from notifier.responses import WsgiApp

logger = logging.getLogger(__name__)

MAX_REQUEST_LINE = 8192
MAX_EMPTY_LINES = 8
MAX_HEADER_BYTES = 16384
SOCKET_TIMEOUT = 30.0


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
        pass  # the app logs each request, with the token masked

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

    def __init__(self, app: WsgiApp, host: str = "127.0.0.1", port: int = 0) -> None:
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
