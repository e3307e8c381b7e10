"""A status link answered on the running daemon's page: recorded in its ledger, and its feed
follows without a restart or reload."""

from __future__ import annotations

import http.client
import json
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
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


def _token(daemon: Process, key: str, organisation: str, address: str, due: date) -> str:
    signer = signer_for(load_settings(daemon.project / "config.toml"))
    assert signer is not None
    return signer.token(key, Recipient(address, organisation), due + timedelta(60))


def _the_milestone_due_in_ten_days(daemon: Process) -> tuple[str, date]:
    rows = json.loads(cli(daemon, "milestones", "--json").stdout)["milestones"]
    due = date.today() + timedelta(days=10)
    [key] = [r["key"] for r in rows if r["due"] == due.isoformat()]
    return key, due


def _post(daemon: Process, token: str, **form: str) -> tuple[int, str]:
    body = urlencode({"token": token, **form}).encode()
    return request(daemon, "POST", f"/status/{token}", body)


def _history(daemon: Process, key: str) -> list[dict[str, object]]:
    report = json.loads(cli(daemon, "report", "--format", "json").stdout)
    [row] = [m for m in report["milestones"] if m["key"] == key]
    return list(row["history"])


def test_two_recipients_answering_at_once_are_both_recorded(
    daemon: Process, smtp: SmtpServer
) -> None:
    daemon.wait_for("READY=1")
    key, due = _the_milestone_due_in_ten_days(daemon)
    later = (due + timedelta(days=30)).isoformat()
    answers = [
        ("Polisen", "kontakt@polisen.example", {"state": "done"}),
        ("Socialtjänsten", "soc@gotland.example", {"state": "needs-new-date", "new_due": later}),
    ] * 4
    tokens = [_token(daemon, key, org, address, due) for org, address, _ in answers]
    start = threading.Barrier(len(answers))

    def answer(index: int) -> tuple[int, str]:
        start.wait()
        return _post(daemon, tokens[index], **answers[index][2])

    with ThreadPoolExecutor(len(answers)) as pool:
        results = list(pool.map(answer, range(len(answers))))
    assert [status for status, _ in results] == [200] * len(answers)
    history = _history(daemon, key)
    assert sorted((h["by"], h["state"]) for h in history) == sorted(
        (org, form["state"]) for org, _, form in answers
    )


def test_a_status_posted_while_the_daemon_reloads_is_recorded_and_kept(
    daemon: Process, smtp: SmtpServer
) -> None:
    daemon.wait_for("READY=1")
    key, due = _the_milestone_due_in_ten_days(daemon)
    token = _token(daemon, key, "Polisen", "kontakt@polisen.example", due)
    posted = 0
    for round_ in range(5):
        daemon.proc.send_signal(signal.SIGHUP)  # the reload runs while the answers come in
        for _ in range(3):
            state = "done" if (posted % 2 == 0) else "needs-new-date"
            extra = {"new_due": (due + timedelta(days=7 + round_)).isoformat()}
            status, page = _post(daemon, token, state=state, **(extra if state != "done" else {}))
            assert status == 200, page
            posted += 1
    daemon.wait_for("READY=1")
    assert len(_history(daemon, key)) == posted
    assert daemon.proc.poll() is None


def test_a_restart_keeps_every_status_and_the_feed_shows_it(
    daemon: Process, smtp: SmtpServer
) -> None:
    daemon.wait_for("READY=1")
    key, due = _the_milestone_due_in_ten_days(daemon)
    token = _token(daemon, key, "Polisen", "kontakt@polisen.example", due)
    assert _post(daemon, token, state="done", comment="Klart före jul")[0] == 200
    before = _history(daemon, key)
    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.proc.wait(timeout=30) == 0

    again = Process(daemon.project, daemon.notify, daemon.port)
    daemon.proc = again.proc
    again.wait_for("READY=1")
    assert _history(again, key) == before
    after = event(again, key)
    assert after is not None and str(after["SUMMARY"]).startswith("Klart: ")
    status, page = request(again, "GET", f"/status/{token}")
    assert status == 200 and "Klart före jul" in page
