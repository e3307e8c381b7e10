"""The coordinator's overview page in headless Chromium, after an organisation answered
"Klart" through its reminder's link: the milestone shows as done wherever it stands, its
history page says who answered and how; both pages at a desktop and a phone width, with
screenshots for CI and the accessibility checks."""

from __future__ import annotations

import a11y
import pytest
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By

from .conftest import base_url
from .pages import DESKTOP, HEIGHTS, PHONE, screenshot, set_viewport, status_link
from .steps import POLISEN, Process, answer_klart, cli, field, pinned, reminder_to, statuses

pytestmark = pytest.mark.slow

# Accessibility defects known and not yet fixed, per page and width: none.
KNOWN: dict[tuple[str, int], set[str]] = {}


def test_the_overview_shows_a_milestone_answered_klart_as_done_with_its_history(
    daemon: Process, browser: Chrome
) -> None:
    row = pinned(daemon)
    [reported] = [r for r in statuses(daemon) if r["key"] == row["key"]]
    browser.get(status_link(reminder_to(daemon, POLISEN, row), base_url(daemon.port)))
    answer_klart(browser)

    address = cli(daemon, "overview-url")
    assert address.returncode == 0, address.stderr
    url = address.stdout.strip()
    assert url.startswith(f"{base_url(daemon.port)}/overview/"), url
    browser.get(url)
    audits: dict[tuple[str, int], a11y.Audit] = {}

    def check(name: str) -> None:
        for width in (DESKTOP, PHONE):
            set_viewport(browser, width, HEIGHTS[width])
            audit = a11y.audit(browser)
            assert audit.checked["texts"] > 10 and audit.checked["headings"] >= 2
            audits[name, width] = audit
            screenshot(browser, name, width)

    # One chip per responsible organisation, each saying "klar" in words, not by colour only.
    chips = a11y.links_naming(browser, reported["measure"])
    assert len(chips) == len(row["organisations"]) == 2
    for chip in chips:
        name = a11y.name_of(browser, chip)
        assert "klar: " in name and row["label"] in name, name
        assert "done" in str(chip.get_attribute("class")).split()
    legend = [li.text for li in browser.find_elements(By.CSS_SELECTOR, ".legend li")]
    assert any(text.endswith("klar 1 st") for text in legend), legend
    check("overview")

    chips[0].click()
    assert browser.find_element(By.TAG_NAME, "h1").text == row["label"]
    assert field(browser, "Status").endswith("klar")
    [entry] = browser.find_elements(By.CSS_SELECTOR, "ol li")
    assert entry.text.split("\n")[0] == "klar", entry.text
    assert f"Polisen ({POLISEN})" in entry.text and "länk" in entry.text
    check("overview-milestone")

    found = {place: audit.rules() for place, audit in audits.items()}
    expected = {place: KNOWN.get(place, set()) for place in audits}
    report = "\n".join(
        f"{name} at {width}px:\n{audit}"
        for (name, width), audit in audits.items()
        if audit.problems
    )
    assert found == expected, report
