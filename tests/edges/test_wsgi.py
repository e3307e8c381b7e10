"""The WSGI app on its own: importable without starting anything, run by another server."""

from __future__ import annotations

import http.client
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from wsgiref.simple_server import WSGIServer, make_server

import icalendar
import pytest

from notifier.errors import ConfigError
from notifier.feedstate import FeedStore
from notifier.metrics import Metrics
from notifier.settings import Settings
from notifier.wsgi import build_app, create_app, mask_path

ROOT = Path(__file__).resolve().parent.parent.parent
BUILT = datetime(2024, 5, 6, 9, 30, tzinfo=UTC)

# What README tells an operator to run, with the port left to the test.
STDLIB_COMMAND = (
    "from wsgiref.simple_server import make_server; from notifier.wsgi import create_app; "
    "make_server('127.0.0.1', {port}, create_app('{config}')).serve_forever()"
)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A config and a copy of plan/, every state file inside tmp_path."""
    shutil.copytree(ROOT / "plan", tmp_path / "plan")
    path = tmp_path / "config.toml"
    path.write_text(
        '[plans]\ndir = "plan"\n[ledger]\npath = "state/ledger.sqlite3"\n', encoding="utf-8"
    )
    return path


@pytest.fixture
def stdlib_server(config: Path) -> Iterator[WSGIServer]:
    server = make_server("127.0.0.1", 0, create_app(config, clock=lambda: BUILT))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def fetch(
    port: int, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.headers), response.read()
    finally:
        connection.close()


def test_the_standard_librarys_wsgi_server_serves_the_feeds(stdlib_server: WSGIServer) -> None:
    port = stdlib_server.server_port
    status, headers, body = fetch(port, "/calendar.ics")
    assert status == 200
    assert headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert headers["Last-Modified"] == "Mon, 06 May 2024 09:30:00 GMT"
    assert len(icalendar.Calendar.from_ical(body).walk("VEVENT")) == 11
    status, _, body = fetch(port, "/calendar.ics", {"If-None-Match": headers["ETag"]})
    assert (status, body) == (304, b"")
    status, _, body = fetch(port, "/calendar/polisen.ics")
    assert status == 200 and len(icalendar.Calendar.from_ical(body).walk("VEVENT")) == 8
    assert fetch(port, "/calendar/nobody.ics")[0] == 404
    # As under `notifier serve`: health and metrics belong to the process that sends.
    assert fetch(port, "/healthz")[0] == 404


def test_create_app_publishes_what_serve_publishes(config: Path, tmp_path: Path) -> None:
    create_app(config, clock=lambda: BUILT)
    assert (tmp_path / "state" / "feed-history.json").is_file()


def test_a_named_config_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        create_app(tmp_path / "missing.toml")


def _python(code: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFIER_")}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env={**environment, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_importing_the_module_starts_and_writes_nothing(tmp_path: Path) -> None:
    result = _python(
        "import threading, notifier.wsgi as w\n"
        "assert threading.active_count() == 1, threading.enumerate()\n"
        "assert 'application' not in vars(w)\n",
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert list(tmp_path.iterdir()) == []  # no state folder, no feed history


def test_application_is_built_from_notifier_config_when_first_looked_up(
    config: Path, tmp_path: Path
) -> None:
    result = _python(
        "from wsgiref.util import setup_testing_defaults\n"
        "from notifier.wsgi import application\n"
        "environ = {'PATH_INFO': '/calendar.ics'}\n"
        "setup_testing_defaults(environ)\n"
        "answers = []\n"
        "body = b''.join(application(environ, lambda s, h: answers.append(s)))\n"
        "print(answers[0], body.count(b'BEGIN:VEVENT'))\n",
        tmp_path / "plan",  # anywhere but beside the config
        NOTIFIER_CONFIG=str(config),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["200", "OK", "11"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_readme_command_serves_the_feeds_without_notifier_serve(
    config: Path, tmp_path: Path
) -> None:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", STDLIB_COMMAND.format(port=port, config=config)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, _, body = fetch(port, "/calendar.ics")
                break
            except ConnectionRefusedError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "the server did not start listening"
                time.sleep(0.1)
        assert status == 200
        assert body.count(b"BEGIN:VEVENT") == 11
    finally:
        process.kill()
        process.wait(10)


def test_a_token_pasted_as_a_feeds_name_is_masked_and_a_feeds_name_is_not() -> None:
    for _ in range(200):
        token = secrets.token_urlsafe(24)
        masked = mask_path(f"/calendar/{token}.ics")
        if any(c.isupper() or c == "_" for c in token):
            assert masked == "/calendar/***.ics"
    for name in ("polisen", "gotland-2024", "gotland-2024-socialtjansten-och-skolan"):
        assert mask_path(f"/calendar/{name}.ics") == f"/calendar/{name}.ics"


def test_metrics_answer_this_host_only_the_public_port_answers_feeds() -> None:
    app = build_app(FeedStore(Settings()), metrics=Metrics())

    def get(address: str) -> tuple[str, bytes]:
        answer: list[str] = []
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/metrics", "REMOTE_ADDR": address}
        body = b"".join(app(environ, lambda status, headers, *_: answer.append(status)))
        return answer[0], body

    for address in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):
        status, body = get(address)
        assert status.startswith("200") and b"notifier_feed_requests" in body, address
    for address in ("192.0.2.7", "2001:db8::7", ""):
        status, body = get(address)
        assert status.startswith("404") and b"notifier_" not in body, address
