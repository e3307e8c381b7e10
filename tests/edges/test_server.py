"""The feed server over a real socket on loopback, and the feed commands."""

from __future__ import annotations

import http.client
import io
import json
import logging
import os
import queue
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import icalendar
import pytest

from notifier.catalog import load_catalog
from notifier.cli import main
from notifier.errors import UserError
from notifier.feed import WHOLE, feed_path
from notifier.feedstate import FeedStore, TokenFile
from notifier.metrics import Health
from notifier.server import MAX_CONNECTIONS, FeedServer, connection_limit, raise_file_limit
from notifier.settings import FeedSettings, Settings
from notifier.wsgi import FeedApp, build_app

ROOT = Path(__file__).resolve().parent.parent.parent
BUILT = datetime(2024, 5, 6, 9, 30, tzinfo=UTC)
REBUILT = datetime(2024, 6, 1, 7, 0, tzinfo=UTC)
BUILT_HTTP = "Mon, 06 May 2024 09:30:00 GMT"


class Client:
    """One fresh connection per request, as calendar clients poll."""

    def __init__(self, port: int) -> None:
        self.port = port

    def request(
        self, path: str, method: str = "GET", headers: dict[str, str] | None = None
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(method, path, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.headers, response.read()
        finally:
            connection.close()

    def raw(self, data: bytes) -> bytes:
        """Send bytes as they are (for requests http.client refuses to make)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(data)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)


def _store(settings: Settings, tokens: TokenFile | None = None) -> FeedStore:
    store = FeedStore(settings, tokens=tokens)
    store.update(load_catalog(ROOT / "plan"), BUILT)
    return store


def _boom(environ: object) -> tuple[str, list[tuple[str, str]], bytes]:
    raise RuntimeError("secret detail that must not leak")


@pytest.fixture
def store() -> FeedStore:
    return _store(Settings())


@pytest.fixture
def client(store: FeedStore) -> Iterator[Client]:
    routes = {
        "/healthz": lambda environ: ("200 OK", [("Content-Type", "text/plain")], b"ok\n"),
        "/boom": _boom,
    }
    with FeedServer(FeedApp(store, routes), "127.0.0.1", 0) as server:
        yield Client(server.port)


@pytest.fixture
def token_setup(tmp_path: Path) -> Iterator[tuple[Client, FeedStore, TokenFile]]:
    tokens = TokenFile(tmp_path / "feed-tokens.json")
    store = _store(Settings(feeds=FeedSettings(tokens=True)), tokens)
    with FeedServer(FeedApp(store), "127.0.0.1", 0) as server:
        yield Client(server.port), store, tokens


# --- 200, 304, HEAD ---------------------------------------------------------------------------


def test_whole_feed_is_served_as_an_uncompressed_utf8_calendar(client, store) -> None:
    status, headers, body = client.request(
        "/calendar.ics", headers={"Accept-Encoding": "gzip, deflate, br"}
    )
    assert status == 200
    assert headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert headers["Content-Encoding"] is None
    assert "no-transform" in headers["Cache-Control"]
    assert headers["ETag"] == store.feeds[WHOLE].etag
    assert headers["ETag"].startswith('"')  # strong
    assert headers["Last-Modified"] == BUILT_HTTP
    assert int(headers["Content-Length"]) == len(body)
    assert body == store.feeds[WHOLE].body
    assert len(icalendar.Calendar.from_ical(body).walk("VEVENT")) == 11


def test_plan_and_organisation_feeds_are_served(client, store) -> None:
    for name in ("gotland-2024", "polisen", "wisbygymnasiet"):
        status, _, body = client.request(f"/calendar/{name}.ics")
        assert status == 200
        assert body == store.feeds[name].body
    _, _, body = client.request("/calendar/polisen.ics")
    assert len(icalendar.Calendar.from_ical(body).walk("VEVENT")) == 8


def test_if_none_match_gives_304_without_a_body(client, store) -> None:
    etag = store.feeds["polisen"].etag
    status, headers, body = client.request("/calendar/polisen.ics", headers={"If-None-Match": etag})
    assert (status, body) == (304, b"")
    assert headers["ETag"] == etag
    assert headers["Content-Length"] is None
    status, _, _ = client.request(
        "/calendar/polisen.ics", headers={"If-None-Match": f'"other", W/{etag}'}
    )
    assert status == 304


def test_if_modified_since_gives_304_only_when_nothing_changed_since(client) -> None:
    status, _, body = client.request("/calendar.ics", headers={"If-Modified-Since": BUILT_HTTP})
    assert (status, body) == (304, b"")
    earlier = format_datetime(datetime(2024, 5, 6, 9, 29, 59, tzinfo=UTC), usegmt=True)
    status, _, body = client.request("/calendar.ics", headers={"If-Modified-Since": earlier})
    assert status == 200 and body
    status, _, _ = client.request("/calendar.ics", headers={"If-Modified-Since": "yesterday"})
    assert status == 200


def test_a_stale_etag_wins_over_a_fresh_date(client) -> None:
    status, _, _ = client.request(
        "/calendar.ics", headers={"If-None-Match": '"stale"', "If-Modified-Since": BUILT_HTTP}
    )
    assert status == 200


def test_head_sends_the_headers_of_get_and_no_body(client, store) -> None:
    status, headers, body = client.request("/calendar/polisen.ics", method="HEAD")
    assert status == 200
    assert body == b""
    assert int(headers["Content-Length"]) == len(store.feeds["polisen"].body)
    assert headers["ETag"] == store.feeds["polisen"].etag
    raw = client.raw(b"HEAD /calendar.ics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert raw.endswith(b"\r\n\r\n")  # nothing after the headers


def test_a_plan_update_changes_the_etag_and_the_old_one_gets_the_new_feed(
    client, store, tmp_path
) -> None:
    old = store.feeds[WHOLE].etag
    plan = tmp_path / "plan"
    shutil.copytree(ROOT / "plan", plan)
    path = plan / "gotland-2024.toml"
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "Implementera metoden Krogar mot knark.", "Inför metoden Krogar mot knark."
        ),
        encoding="utf-8",
    )
    store.update(load_catalog(plan), REBUILT)
    status, headers, body = client.request("/calendar.ics", headers={"If-None-Match": old})
    assert status == 200
    assert headers["ETag"] != old
    assert headers["Last-Modified"] == "Sat, 01 Jun 2024 07:00:00 GMT"
    assert "Inför metoden Krogar mot knark" in body.decode()
    status, _, _ = client.request(
        "/calendar/grundskolan.ics", headers={"If-Modified-Since": BUILT_HTTP}
    )
    assert status == 304  # its feed did not change


# --- what is not a feed -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/calendar/nobody.ics",
        "/calendar/polisen",
        "/calendar/polisen.ics/",
        "/calendar",
        "/",
        "/calendar/Polisen.ics",
        "/favicon.ico",
        "/calendar/x/polisen.ics",
    ],
)
def test_unknown_paths_get_the_same_404(client, path: str) -> None:
    status, headers, body = client.request(path)
    assert status == 404
    assert body == b"Not found\n"
    assert headers["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize(
    "path",
    [
        "/../plan/organisations.toml",
        "/calendar/..%2f..%2fetc/passwd.ics",
        "/calendar/%2e%2e/polisen.ics",
        "/calendar//polisen.ics",
        "/calendar\\polisen.ics",
        "/calendar/%00.ics",
        "/calendar/%C3%A5.ics",
    ],
)
def test_odd_paths_get_400(client, path: str) -> None:
    status, _, body = client.request(path)
    assert status == 400
    assert b"Traceback" not in body


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PROPFIND", "OPTIONS", "BREW"])
def test_other_methods_get_405_with_allow(client, method: str) -> None:
    status, headers, _ = client.request("/calendar.ics", method=method)
    assert status == 405
    assert headers["Allow"] == "GET, HEAD"


def test_an_overlong_request_line_gets_414(client) -> None:
    # The app answers this one, on a connection kept alive unless the client says otherwise.
    reply = client.raw(
        b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert reply.startswith(b"HTTP/1.1 414")


def test_huge_headers_get_431(client) -> None:
    headers = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"v" * 900) for i in range(30))
    reply = client.raw(b"GET /calendar.ics HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    assert reply.startswith(b"HTTP/1.1 431")


def test_a_garbled_request_gets_400_and_no_traceback(client) -> None:
    reply = client.raw(b"\x16\x03\x01garbage\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 400")
    assert b"Traceback" not in reply


def test_an_exception_becomes_a_logged_500_without_details(client, caplog) -> None:
    with caplog.at_level(logging.ERROR, logger="notifier.wsgi"):
        status, _, body = client.request("/boom")
    assert status == 500
    assert body == b"Internal server error\n"
    assert "secret detail" in caplog.text  # in the log, for the operator
    assert "Traceback" in caplog.text
    # The kept record's traceback holds the request's frames, and with them granian's
    # objects: its threads would wait for them until the server's stop gives up (10 s).
    caplog.clear()


def test_the_server_stops_at_once_after_a_request_whose_objects_a_cycle_holds() -> None:
    # A route that leaves its request's frames in a reference cycle, as a caught exception's
    # traceback can: the stop must not wait for the collector to come by on its own.
    def cyclic(environ: object) -> tuple[str, list[tuple[str, str]], bytes]:
        try:
            raise ValueError("caught")
        except ValueError as error:
            holder: dict[str, object] = {"error": error}
            holder["self"] = holder  # the cycle: error -> traceback -> this frame -> holder
        return "200 OK", [("Content-Type", "text/plain")], b"ok\n"

    store = _store(Settings())
    server = FeedServer(FeedApp(store, {"/cyclic": cyclic}), "127.0.0.1", 0).start()
    try:
        assert Client(server.port).request("/cyclic")[0] == 200
    finally:
        started = time.monotonic()
        server.stop()
    assert time.monotonic() - started < 5


def test_extra_routes_are_served(client) -> None:
    status, _, body = client.request("/healthz")
    assert (status, body) == (200, b"ok\n")


def test_a_silent_client_does_not_block_others(client) -> None:
    with socket.create_connection(("127.0.0.1", client.port), timeout=10) as slow:
        slow.sendall(b"GET /calendar.ics HTTP/1.1\r\nHo")  # and then nothing
        status, _, _ = client.request("/calendar/polisen.ics")
        assert status == 200


# --- tokens -----------------------------------------------------------------------------------


def test_with_tokens_a_feed_is_reachable_only_under_its_token(token_setup) -> None:
    client, store, tokens = token_setup
    secret = tokens.current()
    assert set(secret) == {feed.name for feed in store.feeds}
    status, _, body = client.request("/" + feed_path("polisen", secret["polisen"]))
    assert status == 200 and body == store.feeds["polisen"].body
    status, _, _ = client.request("/" + feed_path(WHOLE, secret[WHOLE]))
    assert status == 200
    not_found = client.request("/calendar/nobody.ics")[2]
    for path in (
        "/calendar.ics",  # no token
        "/calendar/polisen.ics",  # no token
        "/" + feed_path("polisen", "A" * 32),  # wrong token
        "/" + feed_path("polisen", secret["lansstyrelsen"]),  # another feed's token
        "/" + feed_path("nobody", secret["polisen"]),  # unknown feed
    ):
        status, _, body = client.request(path)
        assert (status, body) == (404, not_found), path


def test_rotating_a_token_stops_the_old_url_at_once(token_setup) -> None:
    client, _, tokens = token_setup
    old = tokens.current()
    # Another process (notifier feeds --rotate) rewrites the file; the server follows it.
    TokenFile(tokens.path).rotate(["polisen"])
    new = tokens.current()
    assert new["polisen"] != old["polisen"]
    assert new["lansstyrelsen"] == old["lansstyrelsen"]
    assert client.request("/" + feed_path("polisen", old["polisen"]))[0] == 404
    assert client.request("/" + feed_path("polisen", new["polisen"]))[0] == 200
    assert client.request("/" + feed_path("lansstyrelsen", old["lansstyrelsen"]))[0] == 200


def test_a_damaged_token_file_is_an_error_not_new_tokens(tmp_path) -> None:
    path = tmp_path / "feed-tokens.json"
    path.write_text('{"version": 1, "tokens": {"polisen": "short"}}')
    with pytest.raises(Exception, match="cannot read the feed tokens"):
        TokenFile(path).current()


# --- the commands -----------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A config and a copy of plan/, with state and feed files inside tmp_path."""
    shutil.copytree(ROOT / "plan", tmp_path / "plan")
    (tmp_path / "config.toml").write_text(
        '[plans]\ndir = "plan"\n'
        '[ledger]\npath = "state/ledger.sqlite3"\n'
        '[feeds]\nbase_url = "https://kalender.example.se/notifier"\ndir = "www"\n'
        '[server]\nhost = "127.0.0.1"\nport = 0\n',
        encoding="utf-8",
    )
    return tmp_path


def run(project: Path, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(["--config", str(project / "config.toml"), *argv], stdout=out, clock=lambda: BUILT)
    return code, out.getvalue()


def test_feed_command_writes_one_feed_atomically(project) -> None:
    code, out = run(
        project, "feed", "--org", "Polisområde Gotland", "-o", str(project / "polisen.ics")
    )
    assert code == 0, out
    body = (project / "polisen.ics").read_bytes()
    assert len(icalendar.Calendar.from_ical(body).walk("VEVENT")) == 8
    assert "Polisen" in out and "8 events" in out
    assert (project / "state" / "feed-history.json").exists()
    code, _ = run(project, "feed", "--plan", "gotland-2024", "-o", str(project / "plan.ics"))
    assert code == 0
    code, _ = run(project, "feed", "-o", str(project / "all.ics"))
    assert code == 0
    # With one plan, the whole feed and the plan's feed are the same calendar.
    assert (project / "all.ics").read_bytes() == (project / "plan.ics").read_bytes()


def test_feed_command_writes_crlf_bytes_to_stdout(project) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "notifier",
            "--config",
            str(project / "config.toml"),
            "feed",
            "--org",
            "wisbygymnasiet",
            "-o",
            "-",
        ],
        capture_output=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.startswith(b"BEGIN:VCALENDAR\r\n")
    assert result.stdout.count(b"BEGIN:VEVENT") == 1


def test_feed_command_names_unknown_plans_and_organisations(project, capsys) -> None:
    code, _ = run(project, "feed", "--org", "Polisn", "-o", "-")
    assert code == 1
    assert "no organisation called 'Polisn'" in capsys.readouterr().err
    code, _ = run(project, "feed", "--plan", "gotland-2025", "-o", "-")
    assert code == 1
    assert "gotland-2024" in capsys.readouterr().err


def test_feeds_command_prints_every_url_from_the_base_url(project) -> None:
    code, out = run(project, "feeds")
    assert code == 0
    assert "https://kalender.example.se/notifier/calendar.ics" in out
    assert "https://kalender.example.se/notifier/calendar/gotland-2024.ics" in out
    assert "https://kalender.example.se/notifier/calendar/polisen.ics" in out
    assert out.count("https://") == 13
    code, _ = run(project, "feeds", "--rotate", "polisen")
    assert code == 1  # no tokens to rotate


def test_feeds_command_with_tokens_prints_and_rotates_secret_urls(project) -> None:
    config = project / "config.toml"
    config.write_text(config.read_text().replace("[feeds]\n", "[feeds]\ntokens = true\n"))
    code, out = run(project, "feeds")
    assert code == 0
    tokens = TokenFile(project / "state" / "feed-tokens.json").current()
    assert f"/calendar/{tokens['polisen']}/polisen.ics" in out
    assert (project / "state" / "feed-tokens.json").stat().st_mode & 0o777 == 0o600
    code, out = run(project, "feeds", "--rotate", "Polisen")
    assert code == 0
    rotated = TokenFile(project / "state" / "feed-tokens.json").current()
    assert rotated["polisen"] != tokens["polisen"]
    assert rotated["skolan"] == tokens["skolan"]
    assert f"/calendar/{rotated['polisen']}/polisen.ics  (new token)" in out
    code, _ = run(project, "feeds", "--rotate-all")
    assert code == 0
    again = TokenFile(project / "state" / "feed-tokens.json").current()
    assert all(again[name] != rotated[name] for name in rotated)


class Served:
    """`notifier serve` as a subprocess, its log lines collected as they come."""

    def __init__(self, project: Path) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "notifier",
                "--debug",
                "--config",
                str(project / "config.toml"),
                "serve",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.log: queue.Queue[str] = queue.Queue()
        assert self.process.stderr is not None
        threading.Thread(
            target=lambda: [self.log.put(line) for line in self.process.stderr], daemon=True
        ).start()
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # printed once the server listens
        assert "Serving 13 feeds at http://127.0.0.1:" in line, line
        self.url = line.split(" at ", 1)[1].split(" ", 1)[0]

    def wait_for_log(self, text: str) -> str:
        while True:
            line = self.log.get(timeout=30)
            if text in line:
                return line

    def get(self) -> bytes:
        with urllib.request.urlopen(self.url, timeout=10) as response:
            assert response.status == 200
            return response.read()

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def test_serve_serves_feeds_writes_files_and_exits_0_on_sigterm(project) -> None:
    served = Served(project)
    try:
        assert served.get() == (project / "www" / "calendar.ics").read_bytes()
        assert (project / "www" / "calendar" / "polisen.ics").exists()
        assert served.stop() == 0
    finally:
        served.kill()


def test_serve_reloads_on_sighup_and_keeps_the_last_good_feeds(project) -> None:
    served = Served(project)
    plan = project / "plan" / "gotland-2024.toml"
    try:
        plan.write_text(
            plan.read_text(encoding="utf-8").replace(
                "Implementera metoden Krogar mot knark.", "Inför metoden Krogar mot knark."
            ),
            encoding="utf-8",
        )
        served.process.send_signal(signal.SIGHUP)
        served.wait_for_log("reloaded plans")
        edited = served.get()
        assert "Inför metoden Krogar mot knark" in edited.decode()
        plan.write_text("this is [not toml", encoding="utf-8")
        served.process.send_signal(signal.SIGHUP)
        served.wait_for_log("reload refused")
        assert served.get() == edited  # the broken plan did not empty the feed
        assert served.stop() == 0
    finally:
        served.kill()


# --- what strangers learn ---------------------------------------------------------------------


def _outward_address() -> str | None:
    """An address of this host that is not loopback (none on a machine without a network)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def _troubled_health() -> Health:
    return Health(
        plans=1,
        milestones=3,
        ledger_ok=False,
        ledger_error="/var/lib/notifier/ledger.sqlite3: the ledger file was deleted",
        reload_error="/etc/notifier/plan/gotland.toml, line 3: unknown key 'datum'",
        problems=["/etc/notifier/plan/gotland.toml: a problem"],
        smtp_error="authentication refused: 535 bad password for samordnare@gotland.example",
    )


def test_healthz_gives_a_stranger_only_the_status_and_the_operator_the_details(
    store: FeedStore,
) -> None:
    outward = _outward_address()
    if outward is None:
        pytest.skip("this host has no address but loopback")
    app = build_app(store, _troubled_health())
    with FeedServer(app, "0.0.0.0", 0) as server:
        # From another address, as a stranger on the public port would come.
        connection = http.client.HTTPConnection(outward, server.port, timeout=10)
        try:
            connection.request("GET", "/healthz")
            response = connection.getresponse()
            stranger = (response.status, response.read())
        finally:
            connection.close()
        operator = Client(server.port).request("/healthz")
    assert stranger[0] == 503
    assert json.loads(stranger[1]) == {"status": "unavailable"}
    for secret in (b"/var/lib", b"/etc/notifier", b"535", b"datum", b"deleted"):
        assert secret not in stranger[1]
    assert operator[0] == 503
    details = json.loads(operator[2])
    assert details["status"] == "unavailable"
    assert "deleted" in details["ledger"] and "/var/lib/notifier" in details["ledger"]
    assert "datum" in details["reload_error"] and "535" in details["smtp"]
    assert details["problems"] == 1


def test_a_token_in_a_path_is_never_logged(token_setup, caplog) -> None:
    client, _, tokens = token_setup
    token = tokens.current()["polisen"]
    with caplog.at_level(logging.INFO, logger="notifier.wsgi"):
        for path in (
            f"/calendar/{token}",  # the feed's name left out
            f"/calendar/{token}/",
            f"/calendar/{token}/polisen.ics",
            f"/feeds/{token}/polisen.ics",  # pasted under another path
        ):
            client.request(path)
    assert token not in caplog.text
    assert "path=/calendar/***" in caplog.text and "path=/feeds/***/polisen.ics" in caplog.text


# --- limits of the server itself ---------------------------------------------------------------


def _ok(environ: object, start_response: Callable[..., object]) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
    return [b"ok\n"]


def test_a_port_in_use_is_an_error_not_a_second_listener() -> None:
    with FeedServer(_ok, "127.0.0.1", 0) as first:
        with pytest.raises(UserError, match="Address already in use"):
            FeedServer(_ok, "127.0.0.1", first.port).start()
        assert Client(first.port).request("/")[0] == 200


def test_connections_are_capped_and_a_slow_head_is_cut_at_the_deadline() -> None:
    with FeedServer(_ok, "127.0.0.1", 0, connections=4, deadline=1.0) as server:
        slow = []
        try:
            for _ in range(4):
                sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
                sock.sendall(b"GET / HTTP/1.1\r\nHo")  # and then a byte now and then
                slow.append(sock)
            began = time.monotonic()
            # The fifth waits in the backlog until the deadline frees a place: back-pressure.
            assert Client(server.port).request("/")[0] == 200
            waited = time.monotonic() - began
            assert 0.5 < waited < 5, waited
            for sock in slow:  # cut, however the bytes trickled
                assert sock.recv(100) in (b"", b"HTTP/1.1 408 Request Timeout\r\n")
        finally:
            for sock in slow:
                sock.close()


def test_an_idle_kept_alive_connection_is_closed_after_the_deadline() -> None:
    with FeedServer(_ok, "127.0.0.1", 0, deadline=1.0) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        try:
            for _ in range(3):  # kept alive between requests
                connection.request("GET", "/")
                assert connection.getresponse().read() == b"ok\n"
            sock = connection.sock
            assert sock is not None
            began = time.monotonic()
            assert sock.recv(100) == b""
            assert 0.5 < time.monotonic() - began < 5
        finally:
            connection.close()


def test_the_connection_cap_is_half_the_open_files_and_the_soft_limit_is_raised() -> None:
    assert connection_limit(1024) == 512
    assert connection_limit(16384) == MAX_CONNECTIONS
    assert connection_limit(20) == 16
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, hard), hard))
        assert raise_file_limit() == (hard, hard)
        assert resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_answers_name_no_server_software_version(client) -> None:
    _, headers, _ = client.request("/calendar.ics")
    assert headers.get_all("Server") == ["notifier"]
