"""The simulated 2024 year, answered in a real browser: a reminder `notifier simulate` wrote is
opened in headless Chromium against the daemon running at that moment of 2024 (libfaketime),
marked "Klart", and from then on the schedule has nothing more to send about its milestone,
the feed says "Klart:", and Monday's digest counts it done, after a restart."""

from __future__ import annotations

import email
import json
import os
import shutil
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from email import policy
from email.message import EmailMessage
from pathlib import Path

import icalendar
import pytest
from nginx_front import free_port
from selenium.webdriver import Chrome

from .conftest import base_url
from .pages import status_link, text_of
from .steps import POLISEN, answer_klart, eventually

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent.parent
MILESTONE = "gotland-2024/krogar-mot-knark/utbildning"  # "Utbildning maj 2024": due 31 May
SEVEN_DAYS_BEFORE = "2024-05-24 09:00:00"  # the Friday its 7-day reminder went out
MONDAY_AFTER = "2024-05-27 08:05:00"  # the next digest, sent at 08:00


def libfaketime() -> Path:
    for folder in ("/usr/lib/x86_64-linux-gnu/faketime", "/usr/lib/aarch64-linux-gnu/faketime"):
        candidate = Path(folder) / "libfaketimeMT.so.1"
        if candidate.exists():
            return candidate
    message = "libfaketime not installed (apt-get install faketime)"
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def at(moment: str) -> dict[str, str]:
    """The environment of a process whose clock starts at ``moment`` (local) and runs on."""
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "JOURNAL_STREAM")}
    env.update(
        LD_PRELOAD=str(libfaketime()),
        FAKETIME=f"@{moment}",
        FAKETIME_DONT_FAKE_MONOTONIC="1",
        TZ="Europe/Stockholm",
        PYTHONPATH=os.pathsep.join(
            filter(None, [str(ROOT / ".ci" / "faketime"), os.environ.get("PYTHONPATH")])
        ),
    )
    return env


def notifier(project: Path, moment: str, *argv: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "notifier", "--config", str(project / "config.toml"), *argv]
    return subprocess.run(
        command, env=at(moment), capture_output=True, text=True, timeout=60, check=False
    )


@contextmanager
def running(project: Path, moment: str, port: int) -> Iterator[subprocess.Popen[bytes]]:
    config = str(project / "config.toml")
    log = (project / f"daemon-{moment[:10]}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "notifier", "--config", config, "run", "--watch-interval", "0"],
        env=at(moment),
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        eventually(lambda: answers(port), "the daemon's feed")
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def get(port: int, path: str) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return bytes(response.read())


def messages(folder: Path) -> list[EmailMessage]:
    return [
        email.message_from_bytes(p.read_bytes(), policy=policy.default)  # type: ignore[misc]
        for p in sorted(folder.glob("*.eml"))
    ]


def test_a_reminder_of_the_simulated_year_answered_klart_in_chromium(
    project: Path, browser: Chrome
) -> None:
    port = free_port()
    config = project / "config.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace("port = 8080", f"port = {port}").replace(
            'base_url = "http://127.0.0.1:8080"', f'base_url = "{base_url(port)}"'
        ),
        encoding="utf-8",
    )
    (project / "state").mkdir()  # where the link secret is made: the year's mail has links
    simulated = project / "simulated"
    made = notifier(
        project,
        SEVEN_DAYS_BEFORE,
        "simulate",
        "--from",
        "2024-01-01",
        "--to",
        "2024-12-31",
        "--outbox",
        str(simulated),
    )
    assert made.returncode == 0, made.stderr
    [reminder] = [
        m
        for m in messages(simulated)
        if POLISEN in str(m["To"])
        and str(m["Subject"]).startswith("Påminnelse")
        and "Utbildning" in str(m["Subject"])
        and "31 maj 2024" in text_of(m)
        and str(m["Date"]).startswith("Fri, 24 May 2024")
    ]
    link = status_link(reminder, base_url(port))

    with running(project, SEVEN_DAYS_BEFORE, port):
        browser.get(link)
        answer_klart(browser)
        schedule = notifier(project, SEVEN_DAYS_BEFORE, "schedule", "--json")
        assert schedule.returncode == 0, schedule.stderr
        about = [
            m
            for m in json.loads(schedule.stdout)["messages"]
            if (m.get("milestone") or {}).get("key") == MILESTONE
        ]
        assert about, "the schedule lists the milestone's messages still ahead"
        for message in about:
            for recipient in message["recipients"]:
                assert recipient["withheld"] == "milestone done" or recipient["state"] in (
                    "sent",
                    "skipped",
                ), message

        def klart_in_feed() -> bool:
            feed = icalendar.Calendar.from_ical(get(port, "/calendar.ics"))
            return any(
                str(event["SUMMARY"]).startswith("Klart: Utbildning")
                and str(event["DTSTART"].dt) == "2024-05-31"
                for event in feed.walk("VEVENT")
            )

        eventually(klart_in_feed, "Klart: in the feed")

    outbox = project / "state" / "outbox"
    shutil.rmtree(outbox, ignore_errors=True)
    with running(project, MONDAY_AFTER, port):

        def digests() -> list[EmailMessage]:
            return [m for m in messages(outbox) if str(m["Subject"]).startswith("Veckoöversikt")]

        [digest] = eventually(digests, "Monday's digest")
    body = " ".join(text_of(digest).split())
    assert "1 klar" in body, body[:2000]
