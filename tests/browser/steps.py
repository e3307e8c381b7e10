"""What the browser tests do with the running daemon, as the people it mails and the
coordinator would: find a reminder in the outbox, answer it on its page, ask the command line
what the ledger and the schedule say."""

from __future__ import annotations

import email.message
import json
import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any, TypeVar

import a11y
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait
from test_daemon import DEADLINE, Process
from test_done_in_the_running_daemon import cli

from .pages import outbox

POLISEN = "brottsforebyggande.gotland@polisen.example"
CONFIRMATION = "Tack! Delmålet är markerat som klart."

T = TypeVar("T")


def eventually(check: Callable[[], T], what: str) -> T:
    """Poll an outside observation (the daemon works at its own pace) for a bounded time."""
    end = time.monotonic() + DEADLINE
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.1)


def pinned(daemon: Process) -> dict[str, Any]:
    """The milestone the fixture pinned ten days ahead, as `notifier milestones` lists it."""
    daemon.wait_for("READY=1")
    rows = json.loads(cli(daemon, "milestones", "--json").stdout)["milestones"]
    # A day either way: the fixture may have read the date just before midnight.
    ahead = {(date.today() + timedelta(days=days)).isoformat() for days in (9, 10, 11)}
    [row] = [r for r in rows if r["due"] in ahead]
    return dict(row)


def reminder_to(daemon: Process, address: str, row: dict[str, Any]) -> email.message.Message:
    """The reminder about ``row`` that the daemon wrote for ``address``, once it is written."""

    def written() -> list[email.message.EmailMessage]:
        return [
            message
            for message in outbox(daemon.project / "state" / "outbox")
            if str(message["Subject"]).startswith("Påminnelse")
            and address in str(message["To"])
            and row["label"] in str(message["Subject"])
        ]

    [message] = eventually(written, f"the reminder to {address}")
    return message


def statuses(daemon: Process) -> list[dict[str, Any]]:
    """Every milestone's status and full history, as the coordinator's report has them."""
    report = cli(daemon, "report", "--format", "json")
    assert report.returncode == 0, report.stderr
    return list(json.loads(report.stdout)["milestones"])


def messages_about(daemon: Process, key: str) -> list[dict[str, Any]]:
    """Every message `notifier schedule` lists about milestone ``key`` from today on."""
    schedule = cli(daemon, "schedule", "--json")
    assert schedule.returncode == 0, schedule.stderr
    return [
        message
        for message in json.loads(schedule.stdout)["messages"]
        if message.get("milestone", {}).get("key") == key
    ]


def field(driver: WebDriver, term: str) -> str:
    """The text the page gives for ``term`` in its description list (Status, Datum …)."""
    for dt in driver.find_elements(By.CSS_SELECTOR, "dl dt"):
        if dt.text.strip() == term:
            return str(dt.find_element(By.XPATH, "following-sibling::dd[1]").text.strip())
    raise AssertionError(f"the page shows no {term!r}")


def answer_klart(driver: WebDriver) -> None:
    """Choose "Klart" and send the form, by the labels a visitor reads."""
    choice = a11y.control_labelled(driver, "Klart")
    choice.click()
    assert choice.is_selected()
    a11y.button_named(driver, "Skicka").click()
    WebDriverWait(driver, DEADLINE).until(lambda d: a11y.by_role(d, "status"))
