"""The running daemon and `notifier done` in another process: the feed follows without a
restart or reload."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta

import icalendar
import pytest
from smtp_server import SmtpServer
from test_daemon import DEADLINE, Process, _eventually, daemon, smtp

pytestmark = pytest.mark.slow
__all__ = ["daemon", "smtp"]  # fixtures the tests below use


def cli(process: Process, *argv: str) -> subprocess.CompletedProcess[str]:
    config = str(process.project / "config.toml")
    return subprocess.run(
        [sys.executable, "-m", "notifier", "--config", config, *argv],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )


def event(process: Process, key: str) -> icalendar.Event | None:
    """The event of ``key`` in the whole-plan feed, found by its due date and action."""
    status, body = process.get("/calendar.ics")
    assert status == 200
    rows = json.loads(cli(process, "milestones", "--json").stdout)["milestones"]
    [row] = [r for r in rows if r["key"] == key]
    due = date.fromisoformat(row["due"])
    for item in icalendar.Calendar.from_ical(body).walk("VEVENT"):
        if item["DTSTART"].dt == due and row["action"] in str(item["UID"]):
            return item
    return None


def test_a_milestone_done_on_the_command_line_shows_in_the_running_daemons_feed(
    daemon: Process, smtp: SmtpServer
) -> None:
    daemon.wait_for("READY=1")
    rows = json.loads(cli(daemon, "milestones", "--json").stdout)["milestones"]
    ahead = (date.today() + timedelta(days=10)).isoformat()
    [key] = [r["key"] for r in rows if r["due"] == ahead]
    before = event(daemon, key)
    assert before is not None and not str(before["SUMMARY"]).startswith("Klart: ")

    done = cli(daemon, "done", key, "--comment", "Uppföljningen är gjord")
    assert done.returncode == 0, done.stderr

    def shows_done() -> bool:
        after = event(daemon, key)
        return after is not None and str(after["SUMMARY"]).startswith("Klart: ")

    _eventually(shows_done)
    after = event(daemon, key)
    assert after is not None
    assert str(after["UID"]) == str(before["UID"])
    assert int(after["SEQUENCE"]) == int(before["SEQUENCE"]) + 1
    assert "samordnaren" in str(after["DESCRIPTION"])
    daemon.wait_log("milestone status changed: feeds republished")
    assert "reloading" not in daemon.log.read_text(encoding="utf-8").lower()
    assert daemon.proc.poll() is None, "still the same process"
