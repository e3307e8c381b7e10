"""The HTTP server that runs the WSGI app: granian (Rust, hyper), inside this process.

Swappable: ``notifier run`` and ``notifier serve`` need only ``start()``, ``url`` and
``stop()`` of it (``runner.Server``), and the app (``wsgi``) knows nothing of it.

Why granian: HTTP is parsed and connections are held by Rust (tokio and hyper) without the
GIL, so a slow or silent client costs a socket and a timer, never a Python thread, and the
feeds are served at a rate no pure-Python server reaches here (bench/front.py). What it is
set to do:

- bounded connections: at most ``connection_limit`` at once (granian's backpressure is a
  permit per connection, taken before ``accept``), at most half the file descriptors, so
  sending, reloading and the ledger always have descriptors left; past the cap new
  connections wait in the listen backlog (back-pressure), they are not refused;
- a deadline for a whole request head: a connection that has not sent a complete request
  line and headers within ``REQUEST_DEADLINE`` of opening (or of the answer before, when
  kept alive) is closed: hyper's header_read_timeout, one timer for the whole head, not per
  ``recv``, so it also closes an idle keep-alive connection. No body is waited for: the app
  answers methods other than GET and HEAD with 405 unread, and the connection is closed;
- keep-alive over HTTP/1.1; HTTP/2 is not offered (the reverse proxy speaks it outside);
- malformed requests get a status line from hyper (400, 414, 431), never a bare page.

The WSGI calls run in ``THREADS`` Python threads; the app answers from memory, so they are
short. granian is embedded through its worker API (``WSGIWorker``), which its own servers
use; pyproject.toml pins the minor version this was written against.
"""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import logging
import os
import resource
import socket
import sys
import threading
import time
from typing import Any

from granian._futures import _new_cbscheduler
from granian._granian import MetricsAggregator, SocketHolder, WorkerSignal, WSGIWorker
from granian.http import HTTP1Settings

from notifier.errors import UserError
from notifier.logs import fields
from notifier.responses import WsgiApp

logger = logging.getLogger(__name__)

# A request head (request line and headers) must arrive whole within this many seconds of the
# connection opening or of the answer before it; so an idle keep-alive connection is closed
# after as long.
REQUEST_DEADLINE = 10.0
MAX_HEADER_BYTES = 16384
# At most this many connections, and never more than half the file descriptors: the other
# half stays with the ledger, SMTP, the plan files and the feed files.
MAX_CONNECTIONS = 8192
MIN_CONNECTIONS = 16
THREADS = 2  # Python threads calling the app
BACKLOG = 4096
MAX_FILE_LIMIT = 1 << 20  # what an unlimited RLIMIT_NOFILE is raised to
SERVER = ("Server", "notifier")
STOP_WITHIN = 10.0  # seconds for granian's threads to end at stop


def raise_file_limit() -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard limit; return (soft, hard) in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = MAX_FILE_LIMIT if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as error:
            logger.warning("cannot raise the file limit %s", fields(soft=soft, error=str(error)))
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft, hard


def _address(host: str) -> str:
    """``host`` as an IP address, which says the socket's family: a name is resolved once,
    to its first address, as the standard library's server did."""
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as error:
        raise UserError(
            [f"cannot listen on {host}: {error.strerror or error}"],
            hint="Set server.host in config.toml to an address of this machine.",
        ) from None
    return str(found[0][4][0])


def _threads() -> set[int]:
    """The ids of this process's threads (granian's own are none of Python's)."""
    try:
        return {int(name) for name in os.listdir("/proc/self/task")}
    except OSError:  # no /proc: nothing to wait for
        return set()


def _reason(error: OSError) -> str:
    return os.strerror(error.errno) if error.errno else str(error)


def connection_limit(file_limit: int) -> int:
    """The connection cap for a soft RLIMIT_NOFILE of ``file_limit``: at most half of it."""
    if file_limit == resource.RLIM_INFINITY:
        file_limit = MAX_FILE_LIMIT
    return max(MIN_CONNECTIONS, min(MAX_CONNECTIONS, file_limit // 2))


class _StartResponse:
    __slots__ = ("headers", "status")

    def __init__(self) -> None:
        self.status = 500
        self.headers: list[tuple[str, str]] = []

    def __call__(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        self.status = int(status.split(" ", 1)[0])
        self.headers = headers


class _Body:
    """The app's iterable as granian's response_iter wants it (``__next__`` and ``close``)."""

    __slots__ = ("__next__", "inner")

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.__next__ = iter(inner).__next__

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()


def _callback(app: WsgiApp, host: str, port: int) -> Any:
    """What granian calls for each request: the WSGI environ, the app, the response.

    The environ is granian's request scope on a fixed base, without a copy of
    ``os.environ`` (granian's own wrapper adds one: secrets in the environment have no
    business in every request)."""
    base: dict[str, Any] = {
        "GATEWAY_INTERFACE": "CGI/1.1",
        "SCRIPT_NAME": "",
        "SERVER_NAME": host,
        "SERVER_PORT": str(port),
        "SERVER_SOFTWARE": "notifier",
        "wsgi.errors": sys.stderr,
        "wsgi.input_terminated": True,
        "wsgi.multiprocess": False,
        "wsgi.multithread": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }

    def call(proto: Any, scope: Any) -> int:
        respond = _StartResponse()
        result = app(base | scope, respond)
        headers = respond.headers
        if not any(name.lower() == "server" for name, _ in headers):
            headers = [*headers, SERVER]  # instead of granian's name and version
        if isinstance(result, list):
            proto.response_bytes(respond.status, headers, b"".join(result))
        else:
            proto.response_iter(respond.status, headers, _Body(result))
        return respond.status

    return call


class FeedServer:
    """granian serving ``app`` from threads of this process: start(), url, port, stop()."""

    def __init__(
        self,
        app: WsgiApp,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        threads: int = THREADS,
        connections: int | None = None,
        deadline: float = REQUEST_DEADLINE,
    ) -> None:
        self.app = app
        self.host = host
        self.requested_port = port
        self.threads = threads
        self.connections = connections
        self.deadline = deadline
        self._port: int | None = None
        self._signal: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._threads_before: set[int] = set()

    def start(self) -> FeedServer:
        soft, hard = raise_file_limit()
        limit = self.connections or connection_limit(soft)
        address = _address(self.host)
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        try:
            # Bound here, not by granian: its listeners share a port (SO_REUSEPORT), so a
            # second daemon on a port in use would start without a word.
            listener = socket.create_server(
                (address, self.requested_port), family=family, backlog=BACKLOG
            )
        except OSError as error:
            raise UserError(
                [f"cannot listen on {self.host}:{self.requested_port}: {_reason(error)}"],
                hint="Set server.host and server.port in config.toml to a free address.",
            ) from None
        self._port = int(listener.getsockname()[1])
        holder = SocketHolder(listener.detach(), False, BACKLOG)  # granian closes it at stop
        self._threads_before = _threads()
        self._signal = WorkerSignal()
        self._loop = asyncio.new_event_loop()  # granian wants one; WSGI calls never use it
        worker = WSGIWorker(
            1,  # worker id
            (None, holder),
            None,
            1,  # Rust threads: HTTP is cheap, Python is the work
            512,  # Rust blocking threads (file I/O; unused)
            self.threads,
            30,  # seconds an idle Python thread is kept
            limit,  # backpressure: a permit per connection
            "1",  # HTTP/1.1 only
            HTTP1Settings(
                header_read_timeout=int(self.deadline * 1000),
                keep_alive=True,
                max_buffer_size=MAX_HEADER_BYTES + 4096,
                pipeline_flush=False,
            ),
            None,
            None,  # no static files
            False, None, None, None, "tls1.3", None, [], False,  # no TLS: the proxy's part
            (None, MetricsAggregator(1)),
        )  # fmt: skip
        scheduler = _new_cbscheduler(
            self._loop, _callback(self.app, self.host, self._port), impl_asyncio=False
        )
        worker.serve_mtr(scheduler, self._loop, self._signal)
        logger.info(
            "serving feeds %s",
            fields(
                url=self.url,
                connections=limit,
                threads=self.threads,
                open_files=soft,
                open_files_hard=hard,
            ),
        )
        return self

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("server not started")
        return self._port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def stop(self) -> None:
        """Stop serving, and return once granian's threads have ended: one still running
        when the interpreter exits aborts the process (SIGABRT, exit 134, not 0)."""
        if self._signal is None:
            return
        self._signal.set()
        # A request's objects can be kept alive by a reference cycle that only the collector
        # frees (an exception's traceback holds the frames it passed through, and they hold
        # the server's request objects): granian's threads end only once those are released,
        # and an idle process may not run the collector for a long while.
        gc.collect()
        python = {t.native_id for t in threading.enumerate() if not t.name.startswith("Dummy")}
        ours = _threads() - self._threads_before - python
        end = time.monotonic() + STOP_WITHIN
        while ours and time.monotonic() < end:
            time.sleep(0.01)
            ours &= _threads()
        if ours:
            logger.warning("the feed server's threads did not end %s", fields(left=len(ours)))
        if self._loop is not None:
            self._loop.close()
        self._signal = self._loop = self._port = None

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
