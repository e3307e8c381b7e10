"""A status link answered on the running daemon's page: recorded in its ledger, and its feed
follows without a restart or reload."""

from __future__ import annotations

import http.client
import json
from datetime import date, timedelta
from urllib.parse import urlencode

import pytest
from smtp_server import SmtpServer
from test_daemon import Process, _eventually, daemon, smtp
from test_done_in_the_running_daemon import cli, event

from notifier.config import load_settings
from notifier.links import signer_for
from notifier.model import Recipient

pytestmark = pytest.mark.slow
__all__ = ["daemon", "smtp"]  # fixtures the tests below use


def request(process: Process, method: str, path: str, body: bytes | None = None) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", process.port, timeout=10)
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if body is not None else {}
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8")
    finally:
        connection.close()


def test_klart_on_the_page_of_the_running_daemon_shows_in_its_feed(
    daemon: Process, smtp: SmtpServer
) -> None:
    daemon.wait_for("READY=1")
    rows = json.loads(cli(daemon, "milestones", "--json").stdout)["milestones"]
    due = date.today() + timedelta(days=10)
    [key] = [r["key"] for r in rows if r["due"] == due.isoformat()]
    # The daemon made the secret at start; sign as its mail would (its base_url is plain
    # http with real SMTP configured, so its mail carries no link to copy).
    signer = signer_for(load_settings(daemon.project / "config.toml"))
    assert signer is not None
    token = signer.token(key, Recipient("kontakt@polisen.example", "Polisen"), due + timedelta(60))

    status, page = request(daemon, "GET", f"/status/{token}")
    assert status == 200 and "Behöver ny tid" in page
    form = urlencode({"token": token, "state": "done", "comment": "Klart i tid"}).encode()
    status, page = request(daemon, "POST", f"/status/{token}", form)
    assert status == 200 and "Tack! Delmålet är markerat som klart." in page

    def shows_done() -> bool:
        after = event(daemon, key)
        return after is not None and str(after["SUMMARY"]).startswith("Klart: ")

    _eventually(shows_done)
    after = event(daemon, key)
    assert after is not None and "Polisen" in str(after["DESCRIPTION"])
    daemon.wait_log("milestone status changed: feeds republished")
    assert daemon.proc.poll() is None, "still the same process"
