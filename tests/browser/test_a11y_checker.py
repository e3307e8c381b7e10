"""The accessibility checker (tests/a11y.py) finds each defect it is meant to, on small pages
made to have exactly that defect, and passes a page that has none: a checker that never
complains would let every page through."""

from __future__ import annotations

from pathlib import Path

import a11y
import pytest
from selenium.webdriver import Chrome

from .pages import DESKTOP, HEIGHTS, PHONE, set_viewport

STYLE = """
body{margin:0;padding:16px;font:17px/1.5 Arial,sans-serif;color:#1a1a1a;background:#fff}
:focus{outline:3px solid #b34700;outline-offset:2px}
button{color:#fff;background:#0b3d6b;border:0;padding:.5rem 1rem}
"""

GOOD = """
<h1>Rubrik</h1>
<p>Text med <a href="#mer">en länk</a>.</p>
<h2>Formulär</h2>
<form>
<fieldset><legend>Välj</legend>
<input type="radio" id="a" name="val" value="a"><label for="a">Klart</label>
<input type="radio" id="b" name="val" value="b"><label for="b">Inte klart</label>
</fieldset>
<label for="datum">Datum</label><input type="date" id="datum">
<label>Kommentar <textarea></textarea></label>
<input type="text" aria-label="Sök">
<button type="submit">Skicka</button>
</form>
<h3 id="mer">Mer</h3>
<p style="background:linear-gradient(#ffffff,#eeeeee)">Text på en svag gradient.</p>
<p style="font-size:24px;color:#767676">Stor text behöver 3:1.</p>
"""

# Each: what to change in the good page, and the one rule that must then complain.
DEFECTS = {
    "no Swedish": ('lang="sv"', 'lang="en"', "lang"),
    "unlabelled input": (
        '<input type="text" aria-label="Sök">',
        '<input type="text" placeholder="Sök">',
        "label",
    ),
    "nameless button": ('<button type="submit">Skicka</button>', "<button></button>", "name"),
    "skipped heading": ('<h3 id="mer">Mer</h3>', '<h4 id="mer">Mer</h4>', "headings"),
    "pale text": ("<p>Text med", '<p style="color:#999999">Text med', "contrast"),
    "pale large text": ("color:#767676", "color:#aaaaaa", "contrast"),
    "text on a dark gradient stop": ("#eeeeee)", "#222222)", "contrast"),
    "no focus outline": (
        "button{color:#fff;",
        "button:focus{outline:none}button{color:#fff;",
        "focus",
    ),
    "faint focus outline": ("3px solid #b34700", "3px solid #dddddd", "focus"),
    "out of the TAB order": (
        '<button type="submit">',
        '<button type="submit" tabindex="-1">',
        "keyboard",
    ),
    "TAB order against the page": (
        '<input type="text" aria-label="Sök">',
        '<input type="text" aria-label="Sök" tabindex="1">',
        "keyboard",
    ),
    "too wide for a phone": (
        "<h1>Rubrik</h1>",
        '<h1>Rubrik</h1><div style="width:500px">x</div>',
        "reflow",
    ),
}


def page(tmp_path: Path, body: str, style: str = STYLE, lang: str = 'lang="sv"') -> str:
    path = tmp_path / "page.html"
    path.write_text(
        f'<!DOCTYPE html><html {lang}><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Prov</title><style>{style}</style></head><body><main>{body}</main></body></html>",
        encoding="utf-8",
    )
    return path.as_uri()


def test_a_page_without_defects_passes_at_desktop_and_phone_width(
    browser: Chrome, tmp_path: Path
) -> None:
    browser.get(page(tmp_path, GOOD))
    for width in (DESKTOP, PHONE):
        set_viewport(browser, width, HEIGHTS[width])
        audit = a11y.audit(browser)
        assert not audit.problems, f"at {width}px:\n{audit}"
        # A radio group is one stop; the link, date, comment, search and button the others.
        assert audit.checked["tab stops"] == 6
        assert audit.checked["controls"] == 5 and audit.checked["buttons"] == 1
        assert audit.checked["texts"] >= 10

    # A skip link in the top-left corner, where the keyboard check would otherwise click to
    # start from the top: it is the first stop, and nothing is clicked.
    corner = '<a href="#mer" style="position:absolute;left:0;top:0">Till innehållet</a>'
    browser.get(page(tmp_path, corner + GOOD))
    audit = a11y.audit(browser)
    assert not audit.problems, str(audit)
    assert audit.checked["tab stops"] == 7
    assert browser.current_url.endswith("page.html")


def test_each_defect_is_found(browser: Chrome, tmp_path: Path) -> None:
    set_viewport(browser, PHONE, HEIGHTS[PHONE])
    missed = {}
    for name, (old, new, rule) in DEFECTS.items():
        style, body, lang = STYLE, GOOD, 'lang="sv"'
        if old in lang:
            lang = lang.replace(old, new)
        elif old in style:
            style = style.replace(old, new)
        else:
            assert old in body, name
            body = body.replace(old, new)
        browser.get(page(tmp_path, body, style, lang))
        audit = a11y.audit(browser)
        if audit.rules() != {rule}:
            missed[name] = str(audit)
    assert not missed, missed


def test_contrast_follows_the_wcag_formula() -> None:
    black, white = (0.0, 0.0, 0.0, 1.0), (255.0, 255.0, 255.0, 1.0)
    assert a11y.contrast(black, white) == pytest.approx(21.0)
    assert a11y.contrast(white, white) == pytest.approx(1.0)
    # #767676 on white is the palest grey that passes 4.5:1.
    grey = (118.0, 118.0, 118.0, 1.0)
    assert a11y.contrast(grey, white) == pytest.approx(4.54, abs=0.01)
    # Half-transparent black over white is a mid grey.
    assert a11y.over((0.0, 0.0, 0.0, 0.5), white)[:3] == (127.5, 127.5, 127.5)
