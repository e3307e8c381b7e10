""" "Behöver ny tid" in headless Chromium, as the organisation and then the coordinator do it:
the date asked for on the reminder's page, the coordinator's notice in the outbox, its accept
link opened and its one button pressed; the milestone is then due on the new date. The accept
page at a desktop and a phone width, with screenshots for CI and the accessibility checks."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta

import a11y
import pytest
from selenium.webdriver import Chrome
from selenium.webdriver.support.ui import WebDriverWait

from .conftest import base_url
from .pages import DESKTOP, HEIGHTS, PHONE, outbox, screenshot, set_viewport, status_link, text_of
from .steps import POLISEN, Process, cli, eventually, field, pinned, reminder_to, statuses

pytestmark = pytest.mark.slow

COORDINATOR = "samordnare@gotland.example"


def test_a_new_date_asked_for_in_the_browser_is_accepted_by_the_coordinator_with_one_button(
    daemon: Process, browser: Chrome
) -> None:
    row = pinned(daemon)
    key = row["key"]
    wanted = date.fromisoformat(row["due"]) + timedelta(days=30)
    browser.get(status_link(reminder_to(daemon, POLISEN, row), base_url(daemon.port)))
    a11y.control_labelled(browser, "Behöver ny tid").click()
    # Chromium's date field takes the digits in its locale's order (Debian ships en-US).
    a11y.control_labelled(browser, "Nytt datum, om det behövs ny tid (ÅÅÅÅ-MM-DD)").send_keys(
        wanted.strftime("%m%d%Y")
    )
    a11y.button_named(browser, "Skicka").click()
    WebDriverWait(browser, 20).until(lambda d: a11y.by_role(d, "status"))
    [reported] = [r for r in statuses(daemon) if r["key"] == key]
    assert reported["status"] == "needs-new-date"
    assert reported["proposed_due"] == wanted.isoformat()

    def notice() -> list[str]:
        return [
            text_of(m)
            for m in outbox(daemon.project / "state" / "outbox")
            if str(m["Subject"]).startswith("Ny tid föreslås") and COORDINATOR in str(m["To"])
        ]

    [text] = eventually(notice, "the coordinator's proposal notice")
    pattern = re.escape(base_url(daemon.port)) + r"/accept/[A-Za-z0-9_.\-]+"
    [accept] = re.findall(pattern, text)

    audits: dict[tuple[str, int], a11y.Audit] = {}

    def check(name: str) -> None:
        for width in (DESKTOP, PHONE):
            set_viewport(browser, width, HEIGHTS[width])
            audit = a11y.audit(browser)
            assert audit.checked["texts"] >= 8 and audit.checked["headings"] >= 2
            audits[name, width] = audit
            screenshot(browser, name, width)

    browser.get(accept)
    check("accept-before")
    assert [s for s in statuses(daemon) if s["key"] == key] == [reported], "GET changes nothing"
    a11y.button_named(browser, f"Godkänn ny tid: {field_date(wanted)}").click()
    WebDriverWait(browser, 20).until(lambda d: a11y.by_role(d, "status"))
    check("accept-after")
    assert field(browser, "Datum").endswith(field_date(wanted))

    milestones = json.loads(cli(daemon, "milestones", "--json").stdout)["milestones"]
    [moved] = [m for m in milestones if m["key"] == key]
    assert (moved["due"], moved["plan_due"]) == (wanted.isoformat(), row["due"])
    problems = {place: audit.rules() for place, audit in audits.items() if audit.problems}
    assert problems == {}, "\n".join(str(a) for a in audits.values() if a.problems)


def field_date(day: date) -> str:
    """'14 januari 2027', as the pages write a date."""
    months = [
        "januari",
        "februari",
        "mars",
        "april",
        "maj",
        "juni",
        "juli",
        "augusti",
        "september",
        "oktober",
        "november",
        "december",
    ]
    return f"{day.day} {months[day.month - 1]} {day.year}"
