"""What the browser tests do with a page and with the daemon's outbox."""

from __future__ import annotations

import email
import email.message
import email.policy
import re
import struct
from html.parser import HTMLParser
from pathlib import Path

from selenium.webdriver import Chrome

ROOT = Path(__file__).resolve().parent.parent.parent
# Kept by CI as artefacts; see the README there.
SCREENSHOTS = ROOT / ".ci" / "screenshots"

# Phone-sized and desktop windows, in CSS pixels.
PHONE = 390
DESKTOP = 1280
HEIGHTS = {PHONE: 844, DESKTOP: 800}


def set_viewport(driver: Chrome, width: int, height: int) -> None:
    """Make the page's viewport (the window as the page sees it) exactly ``width`` × ``height``.

    Through Chromium's device metrics rather than the window's size: a resized window reaches
    the page a moment after the command returns, and its frame takes a share that varies, while
    this applies at once and stays across navigations.
    """
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )
    inner = driver.execute_script("return [window.innerWidth, window.innerHeight];")
    assert inner == [width, height], f"viewport {inner}, wanted {width}×{height}"


def screenshot(driver: Chrome, name: str, width: int) -> Path:
    """The whole page at ``width`` as ``.ci/screenshots/<name>-<width>.png``: the viewport is
    made as tall as the document, so nothing is cut off below the fold, and every scrolled
    region (TAB moves a wide table's) is back at its start, as the page first shows."""
    driver.execute_script(
        "if (document.activeElement) document.activeElement.blur();"
        "for (const el of document.querySelectorAll('*')) { el.scrollLeft = 0; el.scrollTop = 0; }"
        "window.scrollTo(0, 0);"
    )
    # Measured in a short window: the document is never shorter than the window it is in.
    set_viewport(driver, width, 200)
    height = int(driver.execute_script("return document.documentElement.scrollHeight;"))
    set_viewport(driver, width, height)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}-{width}.png"
    assert driver.get_screenshot_as_file(str(path)), f"no screenshot written to {path}"
    assert png_size(path) == (width, height), f"{path} is {png_size(path)}"
    set_viewport(driver, width, HEIGHTS.get(width, 800))
    return path


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", head[16:24])
    return int(width), int(height)


# --- the outbox ---------------------------------------------------------------------------


def outbox(folder: Path) -> list[email.message.EmailMessage]:
    """Every message the daemon wrote, parsed as a mail client would."""
    messages = []
    for path in sorted(folder.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, email.message.EmailMessage)
        messages.append(message)
    return messages


def text_of(message: email.message.EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None, f"no text part in {message['Subject']}"
    return str(body.get_content())


def status_link(message: email.message.EmailMessage, base_url: str) -> str:
    """The one personal status link in the message's text part."""
    pattern = re.escape(base_url.rstrip("/")) + r"/status/[A-Za-z0-9_.\-]+"
    found = re.findall(pattern, text_of(message))
    assert len(found) == 1, f"{len(found)} status links in {message['Subject']!r}"
    return str(found[0])


class _Hrefs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.hrefs.append(value)


def links(message: email.message.EmailMessage) -> list[str]:
    """Every http(s) address in the message's text and HTML parts (not in attachments), in
    the order they appear, each once."""
    found: list[str] = []
    for part in message.walk():
        if part.is_multipart() or part.get_content_disposition() == "attachment":
            continue
        kind = part.get_content_type()
        if kind == "text/plain":
            found += re.findall(r"https?://[^\s<>\"')]+", str(part.get_content()))
        elif kind == "text/html":
            parser = _Hrefs()
            parser.feed(str(part.get_content()))
            found += [href for href in parser.hrefs if re.match(r"https?://", href)]
    return list(dict.fromkeys(link.rstrip(".,;") for link in found))
