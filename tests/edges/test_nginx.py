"""The shipped nginx front (deploy/nginx/notifier.conf) with a real nginx and real TLS.

nginx serves the feed files that `notifier run` writes into feeds.dir and proxies the rest to
it; the test changes only the addresses, ports and paths of the shipped file (and asserts that
each one it changes is there, so the shipped file cannot drift from what is tested). The
certificate comes from a throw-away CA (trustme) that the client trusts, so TLS is checked
for real.
"""

from __future__ import annotations

import http.client
import io
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from nginx_front import free_port, issue_certificate, main_config, nginx_binary, site_config, start

from notifier.cli import main

DEADLINE = 20.0


def nginx() -> str:
    found = nginx_binary()
    if found is None:
        message = "nginx is not installed (Debian: apt-get install nginx; .ci/run does it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


@dataclass
class Front:
    https_port: int
    http_port: int
    app_port: int
    feeds: Path
    context: ssl.SSLContext
    access_log: Path | None = None

    def request(
        self,
        path: str,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPSConnection(
            "localhost", self.https_port, context=self.context, timeout=10
        )
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            headers = {k.lower(): v for k, v in response.getheaders()}
            return response.status, headers, response.read()
        finally:
            connection.close()

    def from_app(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.app_port}{path}", timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()


def _configure_notifier(project: Path, app_port: int, https_port: int, tokens: bool) -> Path:
    config = project / "config.toml"
    text = config.read_text(encoding="utf-8")
    text = _config_set(text, "server", "port", str(app_port))
    text = _config_set(text, "feeds", "base_url", f'"https://localhost:{https_port}"')
    text = _config_set(text, "feeds", "tokens", "true" if tokens else "false")
    text = _config_set(text, "feeds", "dir", f'"{project / "feeds"}"')
    config.write_text(text, encoding="utf-8")
    return config


def _config_set(text: str, section: str, key: str, value: str) -> str:
    """Set ``key`` in ``[section]`` of the shipped config.toml, whether it is set or commented."""
    lines = text.splitlines()
    start = lines.index(f"[{section}]")
    for number in range(start + 1, len(lines)):
        line = lines[number]
        if line.startswith("["):
            break
        bare = line.lstrip("# ")
        if bare.startswith(f"{key} =") or bare.startswith(f"{key}="):
            lines[number] = f"{key} = {value}"
            return "\n".join(lines) + "\n"
    lines.insert(start + 1, f"{key} = {value}")
    return "\n".join(lines) + "\n"


def _wait_until(check: Callable[[], bool], what: str, log: Callable[[], str] = str) -> None:
    end = time.monotonic() + DEADLINE
    while not check():
        assert time.monotonic() < end, f"timed out waiting for {what}\n{log()}"
        time.sleep(0.05)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@contextmanager
def front(
    project: Path, tmp_path: Path, *, tokens: bool = False, access_log: bool = False
) -> Iterator[Front]:
    binary = nginx()
    certificate = issue_certificate(tmp_path)
    setup = Front(free_port(), free_port(), free_port(), project / "feeds", certificate.client)
    config = _configure_notifier(project, setup.app_port, setup.https_port, tokens)
    served = subprocess.Popen(
        [sys.executable, "-m", "notifier", "--config", str(config), "run"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    folder = tmp_path / "nginx"
    folder.mkdir()
    server: subprocess.Popen[bytes] | None = None

    def served_log() -> str:
        if served.poll() is None or served.stderr is None:
            return "(notifier run is still running)"
        return served.stderr.read().decode("utf-8", "replace")

    try:
        _wait_until(lambda: _answers(setup.app_port), "notifier run", served_log)
        _wait_until(lambda: (setup.feeds / "calendar").is_dir(), "the feed files", served_log)
        site = site_config(
            https_port=setup.https_port,
            http_port=setup.http_port,
            app_port=setup.app_port,
            feeds=setup.feeds,
            certificate=certificate,
        )
        config = main_config(folder, site)
        if access_log:
            # Debian's nginx.conf logs every request; the shipped site must keep tokens out.
            setup.access_log = folder / "access.log"
            text = config.read_text(encoding="utf-8")
            assert "access_log off;" in text
            config.write_text(
                text.replace("access_log off;", f"access_log {setup.access_log};"),
                encoding="utf-8",
            )
        server = start(binary, config)
        _wait_until(
            lambda: _answers(setup.https_port),
            "nginx",
            lambda: (folder / "error.log").read_text(errors="replace"),
        )
        yield setup
    finally:
        for process in (server, served):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=DEADLINE)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def test_feeds_come_from_the_files_over_https_with_etag_304_and_never_gzip(
    project: Path, tmp_path: Path
) -> None:
    with front(project, tmp_path) as site:
        on_disk = (site.feeds / "calendar.ics").read_bytes()
        status, headers, body = site.request("/calendar.ics", headers={"Accept-Encoding": "gzip"})
        assert status == 200 and body == on_disk
        assert body == site.from_app("/calendar.ics")[1]  # the same bytes notifier serves
        assert headers["content-type"] == "text/calendar; charset=utf-8"
        assert "content-encoding" not in headers
        assert headers["cache-control"] == "no-cache, no-transform"
        etag = headers["etag"]
        status, _, body = site.request("/calendar.ics", headers={"If-None-Match": etag})
        assert status == 304 and body == b""
        status, headers, body = site.request(
            "/calendar/polisen.ics", headers={"Accept-Encoding": "gzip, deflate"}
        )
        assert status == 200 and body == (site.feeds / "calendar" / "polisen.ics").read_bytes()
        assert "content-encoding" not in headers
        status, _, body = site.request("/calendar/polisen.ics", method="HEAD")
        assert status == 200 and body == b""


def test_a_feed_file_replaced_by_notifier_is_served_within_two_seconds(
    project: Path, tmp_path: Path
) -> None:
    """nginx caches the feed files' descriptors for a second; a new file, renamed over the
    old one as notifier writes it, is served after that."""
    with front(project, tmp_path) as site:
        old_etag = site.request("/calendar.ics")[1]["etag"]
        path = site.feeds / "calendar.ics"
        new = path.read_bytes().replace(b"END:VCALENDAR", b"X-CHANGED:1\r\nEND:VCALENDAR")
        staged = path.with_suffix(".new")
        staged.write_bytes(new)
        replaced = time.monotonic()
        os.replace(staged, path)
        _wait_until(lambda: site.request("/calendar.ics")[2] == new, "the new feed file")
        assert time.monotonic() - replaced < 2
        status, headers, body = site.request("/calendar.ics", headers={"If-None-Match": old_etag})
        assert status == 200 and body == new and headers["etag"] != old_etag


def test_no_listing_no_other_files_and_only_get_on_feeds(project: Path, tmp_path: Path) -> None:
    with front(project, tmp_path) as site:
        (site.feeds / "notes.txt").write_text("not a feed", encoding="utf-8")
        for path in (
            "/calendar/",
            "/calendar",
            "/calendar/nope.ics",
            "/calendar/../notes.txt",
            "/calendarx.ics",
        ):
            status, _, body = site.request(path)
            assert status in (400, 404), path
            assert b"polisen" not in body and b"not a feed" not in body, path
        assert site.request("/calendar.ics", method="POST", body=b"x")[0] == 403


def test_health_and_metrics_are_not_public_but_answer_on_the_loopback_port(
    project: Path, tmp_path: Path
) -> None:
    with front(project, tmp_path) as site:
        for path in ("/healthz", "/metrics", "/healthz?x=1"):
            status, _, body = site.request(path)
            assert status == 404, path
            assert b"status" not in body and b"notifier_" not in body, path
        assert site.from_app("/healthz")[0] == 200


def test_the_rest_is_proxied_to_notifier_and_oversized_requests_are_refused(
    project: Path, tmp_path: Path
) -> None:
    with front(project, tmp_path) as site:
        status, _, body = site.request("/some/page")
        proxied = site.from_app("/some/page")
        assert (status, body) == proxied  # notifier's own answer, not nginx's
        assert site.request("/some/page", method="POST", body=b"x" * 32_000)[0] == 413
        huge = {"X-Filler": "y" * 20_000}
        assert site.request("/calendar.ics", headers=huge)[0] in (400, 431, 494)


def test_plain_http_is_sent_to_https(project: Path, tmp_path: Path) -> None:
    with front(project, tmp_path) as site:
        connection = http.client.HTTPConnection("127.0.0.1", site.http_port, timeout=10)
        try:
            connection.request("GET", "/calendar.ics", headers={"Host": "plan.example.se"})
            response = connection.getresponse()
            assert response.status == 301
            assert response.getheader("Location") == "https://plan.example.se/calendar.ics"
        finally:
            connection.close()


def test_a_token_feed_is_served_under_its_token_only(project: Path, tmp_path: Path) -> None:
    with front(project, tmp_path, tokens=True) as site:
        # One secret per feed: the folder that holds Polisen's feed is its token.
        [token_folder] = [p.parent for p in (site.feeds / "calendar").glob("*/polisen.ics")]
        assert len(token_folder.name) >= 16
        status, _, body = site.request(f"/calendar/{token_folder.name}/polisen.ics")
        assert status == 200 and body == (token_folder / "polisen.ics").read_bytes()
        assert site.request("/calendar/polisen.ics")[0] == 404
        assert site.request("/calendar.ics")[0] == 404
        wrong = "A" * len(token_folder.name)
        assert site.request(f"/calendar/{wrong}/polisen.ics")[0] == 404


def test_the_pages_opened_by_a_token_are_notifiers_answer_and_stay_out_of_the_access_log(
    project: Path, tmp_path: Path
) -> None:
    with front(project, tmp_path, access_log=True) as site:
        out = io.StringIO()
        assert main(["--config", str(project / "config.toml"), "overview-url"], out) == 0
        url = out.getvalue().strip()
        assert url.startswith(f"https://localhost:{site.https_port}/overview/")
        path = urlsplit(url).path
        token = path.rsplit("/", 1)[1]
        status, headers, body = site.request(f"{path}?org=polisen")
        assert status == 200 and b'<html lang="sv">' in body and b"Polisen" in body
        assert (status, body) == site.from_app(f"{path}?org=polisen")
        assert headers["x-frame-options"] == "DENY"
        assert headers["cache-control"] == "no-store"
        assert "script" not in headers["content-security-policy"]
        assert "content-encoding" not in headers
        # GET only, answered by notifier (405), not refused by nginx.
        assert site.request(path, method="POST", body=b"state=done")[0] == 405
        gone = site.from_app("/status/not-a-token")
        for wrong in (f"/overview/{'A' * len(token)}", "/overview", "/overview/"):
            assert (site.request(wrong)[0], site.request(wrong)[2]) == gone, wrong
        secret = "S3cretT0ken" * 4
        for page in ("/status/", "/accept/"):  # the links in the mail, answered by notifier
            assert (site.request(page + secret)[0], site.request(page + secret)[2]) == gone
        site.request("/some/page")
        assert site.access_log is not None
        _wait_until(lambda: "/some/page" in site.access_log.read_text(), "the access log")
        logged = site.access_log.read_text(encoding="utf-8")
        assert token not in logged and "/overview/" not in logged
        assert secret not in logged and "/status/" not in logged and "/accept/" not in logged
