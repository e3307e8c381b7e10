"""Headless Chromium through Selenium, and the real daemon it talks to.

Chromium and chromedriver are Debian's (``apt-get install chromium chromium-driver``; .ci/run
installs them). In CI a missing browser fails the tests, as a skipped test would let a
broken page pass; elsewhere they are skipped with the reason.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from nginx_front import free_port
from selenium import webdriver
from selenium.webdriver import Chrome
from selenium.webdriver.chrome.service import Service

from .pages import DESKTOP, HEIGHTS, ROOT, set_viewport

# The running daemon as the process tests start it (they import it by its module name).
sys.path.insert(0, str(ROOT / "tests" / "process"))
from test_daemon import Process

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
INSTALL = "Debian: apt-get install chromium chromium-driver; .ci/run installs them"

# Headless, and nothing the tests did not ask for: no first-run pages, no calls home, no
# extensions. The sandbox needs user namespaces, which CI containers (running as root) do not
# give; the pages opened are the project's own. A scale factor of 1 makes a screenshot's
# pixels CSS pixels, and hidden scrollbars take no width, as on a phone.
ARGUMENTS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--force-device-scale-factor=1",
    "--hide-scrollbars",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--mute-audio",
    # A Swedish visitor's Accept-Language. (The date field keeps Chromium's own locale, en-US
    # unless Debian's chromium-l10n is installed.)
    "--accept-lang=sv-SE,sv",
)


def chromium_missing() -> str | None:
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    return f"{' and '.join(missing)} not installed ({INSTALL})" if missing else None


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Chrome]:
    """A fresh headless Chromium (its own empty profile), quit after the test. Downloads,
    such as a feed opened from a mail, land in ``tmp_path/downloads``."""
    missing = chromium_missing()
    if missing is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(missing, pytrace=False)
        pytest.skip(missing)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ARGUMENTS:
        options.add_argument(argument)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options.add_experimental_option(
        "prefs",
        {
            "download.default_directory": str(downloads),
            "download.prompt_for_download": False,
        },
    )
    # With both paths given, Selenium starts them as they are and looks nothing up online.
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        driver.set_page_load_timeout(20)
        set_viewport(driver, DESKTOP, HEIGHTS[DESKTOP])
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def daemon(project: Path, tmp_path: Path) -> Iterator[Process]:
    """``notifier run`` as a subprocess, with mail into its outbox (no SMTP host) and its
    public base URL its own loopback address, so the mail's links open the daemon itself.

    As in the process tests, one milestone is pinned ten days ahead: its 30-day reminder is
    missed and goes out at start, and the rest of its messages are still to come, whatever
    the date and hour the tests run at.
    """
    port = free_port()
    due = date.today() + timedelta(days=10)
    plan = project / "plan" / "gotland-2024.toml"
    _replace(
        plan,
        '"när" = "Uppföljning december 2024"',
        f'"när" = "Uppföljning december 2024"\n\n[[action.milestone]]\n'
        f'label = "Uppföljning"\ndue = {due.isoformat()}',
    )
    config = project / "config.toml"
    _replace(config, "port = 8080", f"port = {port}")
    _replace(config, 'base_url = "http://127.0.0.1:8080"', f'base_url = "{base_url(port)}"')
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    process = Process(project, notify, port)
    try:
        yield process
    finally:
        if process.proc.poll() is None:
            process.proc.kill()
            process.proc.wait(timeout=10)
        notify.close()


def base_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def _replace(path: Path, old: str, new: str) -> None:
    """Edit a shipped file, failing when the text to change is gone (so the test cannot
    silently run with the shipped value)."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{path.name} no longer has {old!r} once"
    path.write_text(text.replace(old, new), encoding="utf-8")
