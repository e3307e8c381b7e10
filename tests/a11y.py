"""Accessibility checks of a page open in a real browser, with nothing from the internet.

The pages notifier serves must meet WCAG 2.1 AA (the Swedish accessibility law applies to the
public bodies that use it), and they run on intranets, so the checker cannot fetch axe or any
other script. It reads the rendered page through WebDriver and judges in Python:

- ``html[lang]`` is the expected language and the page has a title;
- every form control has a label (``<label>``, ``aria-label`` or ``aria-labelledby``) and
  every button an accessible name; every image an ``alt``; no id is used twice;
- headings start at ``h1`` and never skip a level on the way down;
- text contrast (WCAG relative luminance) is at least 4.5:1, or 3:1 for large text, against
  the background the text is actually drawn on (the ancestors' colours composited, and every
  colour stop of a gradient);
- the keyboard: TAB reaches every link, form control and button, in document order (a radio
  group is one stop), and the focused one shows an indicator (outline or box-shadow) that it
  did not show unfocused, with an outline of at least 3:1 against what is around it;
- no horizontal scrolling at the current window width.

Only the colours the browser computed are used: the checker sees what a visitor sees, whatever
the stylesheet says. It knows nothing of notifier's pages and runs on any of them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

Rgba = tuple[float, float, float, float]

TEXT_CONTRAST = 4.5
LARGE_TEXT_CONTRAST = 3.0
NON_TEXT_CONTRAST = 3.0
# WCAG's large text: 18 pt, or 14 pt bold (1 pt = 4/3 px).
LARGE_PX = 24.0
LARGE_BOLD_PX = 14 * 4 / 3
WHITE: Rgba = (255.0, 255.0, 255.0, 1.0)


@dataclass(frozen=True)
class Problem:
    rule: str
    where: str
    detail: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.where}: {self.detail}"


@dataclass
class Audit:
    """What was found, and how much was looked at (so an empty page cannot pass unnoticed)."""

    problems: list[Problem] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)

    def rules(self) -> set[str]:
        return {problem.rule for problem in self.problems}

    def __str__(self) -> str:
        return "\n".join(str(problem) for problem in self.problems) or "no problems"


# --- what the page says about itself ------------------------------------------------------

# A short description of an element for the messages: tag#id.class "text".
_DESCRIBE = r"""
const describe = (el) => {
  if (!el || el.nodeType !== 1) return String(el);
  let d = el.tagName.toLowerCase();
  if (el.id) d += '#' + el.id;
  if (el.classList && el.classList.length) d += '.' + Array.from(el.classList).join('.');
  if (el.tagName === 'INPUT') d += '[type=' + el.type + ']';
  const text = (el.innerText || el.value || '').replace(/\s+/g, ' ').trim().slice(0, 40);
  return text ? d + ' "' + text + '"' : d;
};
const shown = (el) => el.checkVisibility({opacityProperty: true, visibilityProperty: true})
  && el.getClientRects().length > 0;
const textOf = (ids) => ids.split(/\s+/).filter(Boolean)
  .map((id) => document.getElementById(id))
  .map((el) => (el ? (el.innerText || el.textContent || '') : '')).join(' ').trim();
const accessibleName = (el) => {
  const by = el.getAttribute('aria-labelledby');
  if (by && textOf(by)) return textOf(by);
  const aria = (el.getAttribute('aria-label') || '').trim();
  if (aria) return aria;
  if (el.tagName === 'INPUT' && ['submit', 'reset', 'button', 'image'].includes(el.type)) {
    return (el.value || el.alt || '').trim();
  }
  if (el.labels && el.labels.length) {
    return Array.from(el.labels).map((l) => (l.innerText || l.textContent || '').trim())
      .join(' ').trim();
  }
  if (['BUTTON', 'A', 'SUMMARY'].includes(el.tagName) || el.getAttribute('role') === 'button') {
    const alts = Array.from(el.querySelectorAll('img[alt]')).map((i) => i.alt).join(' ');
    return ((el.innerText || el.textContent || '') + ' ' + alts).trim();
  }
  return '';
};
"""

_STRUCTURE = (
    _DESCRIBE
    + r"""
const controls = Array.from(document.querySelectorAll('input, select, textarea'))
  .filter((el) => el.type !== 'hidden')
  .filter((el) => !['submit', 'reset', 'button', 'image'].includes(el.type))
  .map((el) => ({where: describe(el), name: accessibleName(el)}));
const buttons = Array.from(document.querySelectorAll(
    'button, input[type=submit], input[type=reset], input[type=button], input[type=image],'
    + ' [role=button]'))
  .map((el) => ({where: describe(el), name: accessibleName(el)}));
const links = Array.from(document.querySelectorAll('a[href]'))
  .map((el) => ({where: describe(el), name: accessibleName(el)}));
const headings = Array.from(document.querySelectorAll('h1, h2, h3, h4, h5, h6, [role=heading]'))
  .filter(shown)
  .map((el) => ({
    where: describe(el),
    level: /^H[1-6]$/.test(el.tagName) ? Number(el.tagName[1])
      : Number(el.getAttribute('aria-level') || 2),
    text: (el.innerText || '').trim(),
  }));
const ids = {};
for (const el of document.querySelectorAll('[id]')) ids[el.id] = (ids[el.id] || 0) + 1;
return {
  lang: document.documentElement.getAttribute('lang') || '',
  title: (document.title || '').trim(),
  controls, buttons, links, headings,
  duplicateIds: Object.keys(ids).filter((id) => ids[id] > 1),
  imagesWithoutAlt: Array.from(document.querySelectorAll('img:not([alt])')).map(describe),
  positiveTabindex: Array.from(document.querySelectorAll('[tabindex]'))
    .filter((el) => el.tabIndex > 0).map(describe),
};
"""
)

# Colours go through a canvas, so any CSS colour syntax comes back as sRGB bytes; ``layers``
# lists an element's background and those of its ancestors, innermost first, with the colour
# stops of any gradient.
_COLOURS = r"""
const canvas = document.createElement('canvas');
canvas.width = canvas.height = 1;
const ctx = canvas.getContext('2d', {willReadFrequently: true});
const rgba = (css) => {
  ctx.clearRect(0, 0, 1, 1);
  ctx.fillStyle = 'rgba(0, 0, 0, 0)';
  ctx.fillStyle = css;
  ctx.fillRect(0, 0, 1, 1);
  const [r, g, b, a] = ctx.getImageData(0, 0, 1, 1).data;
  return [r, g, b, a / 255];
};
const layers = (el) => {
  const out = [];
  for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
    const style = getComputedStyle(node);
    const image = style.backgroundImage;
    const stops = image && image !== 'none'
      ? (image.match(/(rgba?|hsla?|hwb|lab|lch|oklab|oklch|color)\([^()]*\)|#[0-9a-f]{3,8}\b/gi)
         || []).map(rgba)
      : [];
    out.push({
      color: rgba(style.backgroundColor),
      stops,
      url: /url\(/.test(image || ''),
    });
  }
  return out;
};
"""

# Every element that draws text of its own (a text node child, or a form control's value or
# placeholder), with its colour and the colours of everything behind it.
_TEXTS = (
    _DESCRIBE
    + _COLOURS
    + r"""
const items = [];
const add = (el, color, text) => {
  const style = getComputedStyle(el);
  items.push({
    where: describe(el),
    text: text.replace(/\s+/g, ' ').trim().slice(0, 60),
    color: rgba(color),
    size: parseFloat(style.fontSize),
    weight: Number(style.fontWeight) || (style.fontWeight === 'bold' ? 700 : 400),
    layers: layers(el),
  });
};
for (const el of document.body.querySelectorAll('*')) {
  if (['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE'].includes(el.tagName)) continue;
  if (!shown(el)) continue;
  const rect = el.getBoundingClientRect();
  if (rect.width <= 1 || rect.height <= 1) continue;  // visually hidden, for screen readers
  const own = Array.from(el.childNodes)
    .filter((n) => n.nodeType === 3).map((n) => n.textContent).join('');
  if (own.trim()) add(el, getComputedStyle(el).color, own);
  if (['INPUT', 'SELECT', 'TEXTAREA'].includes(el.tagName)
      && !['hidden', 'radio', 'checkbox', 'range', 'color', 'file', 'image'].includes(el.type)) {
    add(el, getComputedStyle(el).color, el.value || el.type);
    if (el.placeholder) {
      add(el, getComputedStyle(el, '::placeholder').color, el.placeholder);
    }
  }
}
return items;
"""
)


# --- colour arithmetic (WCAG 2.1, 1.4.3 and 1.4.11) -----------------------------------------


def rgba(values: Sequence[float]) -> Rgba:
    """A colour as the page scripts return it: ``[r, g, b, alpha]``."""
    r, g, b, a = (float(value) for value in values)
    return (r, g, b, a)


def over(top: Rgba, below: Rgba) -> Rgba:
    """``top`` painted over the opaque ``below`` (source-over)."""
    alpha = top[3]
    mixed = tuple(top[i] * alpha + below[i] * (1 - alpha) for i in range(3))
    return (mixed[0], mixed[1], mixed[2], 1.0)


def luminance(colour: Rgba) -> float:
    def channel(value: float) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(colour[i]) for i in range(3))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(one: Rgba, other: Rgba) -> float:
    light, dark = sorted((luminance(one), luminance(other)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def backgrounds(layers: Sequence[dict[str, Any]]) -> tuple[list[Rgba], bool]:
    """Every opaque colour the text may stand on, and whether an image lies behind it (which
    no colour arithmetic can judge). ``layers`` go from the element out to ``<html>``."""
    under: list[Rgba] = [WHITE]  # the canvas, when nothing paints a background
    image = False
    for layer in reversed(layers):
        colour = rgba(layer["color"])
        under = [over(colour, below) for below in under]
        stops = [rgba(stop) for stop in layer["stops"]]
        if stops:  # a gradient, painted over the colour: the text may stand on any stop
            under = [over(stop, below) for stop in stops for below in under]
        image = image or bool(layer["url"])
    return under, image


def _is_large(size: float, weight: float) -> bool:
    return size >= LARGE_PX - 0.01 or (size >= LARGE_BOLD_PX - 0.01 and weight >= 700)


def _rgb(colour: Rgba) -> str:
    return "#" + "".join(f"{round(c):02x}" for c in colour[:3])


# --- the checks ---------------------------------------------------------------------------


def audit(driver: WebDriver, *, lang: str = "sv", keyboard: bool = True) -> Audit:
    """Every check on the page as it is now. The keyboard check presses TAB through the page
    and leaves nothing focused; it changes no form value."""
    result = Audit()
    _structure(driver, lang, result)
    _contrast(driver, result)
    _overflow(driver, result)
    if keyboard:
        _keyboard(driver, result)
    return result


def _structure(driver: WebDriver, lang: str, result: Audit) -> None:
    page = driver.execute_script(_STRUCTURE)
    problems = result.problems
    if page["lang"].split("-")[0].lower() != lang:
        problems.append(Problem("lang", "html", f"lang is {page['lang']!r}, not {lang!r}"))
    if not page["title"]:
        problems.append(Problem("title", "head", "the page has no title"))
    for control in page["controls"]:
        if not control["name"]:
            problems.append(Problem("label", control["where"], "form control without a label"))
    for button in page["buttons"]:
        if not button["name"]:
            problems.append(Problem("name", button["where"], "button without an accessible name"))
    for link in page["links"]:
        if not link["name"]:
            problems.append(Problem("name", link["where"], "link without an accessible name"))
    for where in page["imagesWithoutAlt"]:
        problems.append(Problem("alt", where, "image without alt"))
    for ident in page["duplicateIds"]:
        problems.append(Problem("id", f"#{ident}", "id used more than once"))
    for where in page["positiveTabindex"]:
        problems.append(Problem("keyboard", where, "positive tabindex breaks the reading order"))
    previous = 0
    for heading in page["headings"]:
        level = int(heading["level"])
        if not heading["text"]:
            problems.append(Problem("headings", heading["where"], "empty heading"))
        if previous == 0 and level != 1:
            problems.append(Problem("headings", heading["where"], f"first heading is h{level}"))
        elif level > previous + 1 and previous:
            problems.append(Problem("headings", heading["where"], f"h{level} follows h{previous}"))
        previous = level
    if not any(int(h["level"]) == 1 for h in page["headings"]):
        problems.append(Problem("headings", "body", "no h1"))
    result.checked["controls"] = len(page["controls"])
    result.checked["buttons"] = len(page["buttons"])
    result.checked["links"] = len(page["links"])
    result.checked["headings"] = len(page["headings"])


def _contrast(driver: WebDriver, result: Audit) -> None:
    items = driver.execute_script(_TEXTS)
    for item in items:
        under, image = backgrounds(item["layers"])
        if image:
            result.problems.append(
                Problem("contrast", item["where"], "text over a background image: not measurable")
            )
            continue
        large = _is_large(float(item["size"]), float(item["weight"]))
        needed = LARGE_TEXT_CONTRAST if large else TEXT_CONTRAST
        colour = rgba(item["color"])
        worst = min(((contrast(over(colour, bg), bg), bg) for bg in under), key=lambda p: p[0])
        if worst[0] < needed - 1e-9:
            result.problems.append(
                Problem(
                    "contrast",
                    item["where"],
                    f"{worst[0]:.2f}:1 ({_rgb(colour)} on {_rgb(worst[1])}, "
                    f"{item['size']:g}px, needs {needed}:1) {item['text']!r}",
                )
            )
    result.checked["texts"] = len(items)


def _overflow(driver: WebDriver, result: Audit) -> None:
    scroll, width, wide = driver.execute_script(
        _DESCRIBE
        + r"""
const width = window.innerWidth;
// Whether a box is clipped sideways by a scrolling (or clipping) box it belongs to: such a
// box, a wide table in its own scroll region, does not widen the page. An absolutely
// positioned box belongs to its nearest positioned ancestor, not to its parent.
const clipped = (el) => {
  let node = el;
  while (node && node !== document.body) {
    const position = getComputedStyle(node).position;
    if (position === 'fixed') return false;
    let next = node.parentElement;
    if (position === 'absolute') {
      while (next && next !== document.body && getComputedStyle(next).position === 'static') {
        next = next.parentElement;
      }
    }
    if (next && next !== document.body && getComputedStyle(next).overflowX !== 'visible') {
      return true;
    }
    node = next;
  }
  return false;
};
// Boxes that stick out, and text that runs out of its box (a long address that cannot wrap).
const boxes = Array.from(document.body.querySelectorAll('*'))
  .filter((el) => el.getBoundingClientRect().right > width + 0.5 && !clipped(el));
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
const range = document.createRange();
const texts = [];
for (let node = walker.nextNode(); node; node = walker.nextNode()) {
  range.selectNodeContents(node);
  if (range.getBoundingClientRect().right > width + 0.5 && !clipped(node.parentElement)) {
    texts.push(node.parentElement);
  }
}
const all = Array.from(new Set([...boxes, ...texts]));
const wide = all.slice(0, 5).map(describe).concat(all.length > 5 ? [`${all.length - 5} more`] : []);
return [document.documentElement.scrollWidth, width, wide];
"""
    )
    if scroll > width:
        result.problems.append(
            Problem(
                "reflow",
                f"{width}px wide window",
                f"the page is {scroll}px wide and scrolls sideways; too wide: {', '.join(wide)}",
            )
        )


# Everything TAB should reach, in document order; a radio group is one stop (the checked
# radio, else the first), as browsers move inside a group with the arrow keys.
_TAB_STOPS = (
    _DESCRIBE
    + r"""
const candidates = Array.from(document.querySelectorAll(
  'a[href], area[href], button, input, select, textarea, summary, iframe, [tabindex],'
  + ' [contenteditable=""], [contenteditable=true]'));
const groups = new Set();
const stops = [];
for (const el of candidates) {
  if (el.disabled || el.type === 'hidden' || el.closest('[inert]') || !shown(el)) continue;
  if (el.hasAttribute('tabindex') && el.tabIndex < 0) {
    if (el.matches('a[href], button, input, select, textarea, summary')) {
      stops.push({el, where: describe(el), skipped: true});
    }
    continue;
  }
  if (el.type === 'radio' && el.name) {
    const key = (el.form ? 'f' : 'd') + ':' + el.name;
    if (groups.has(key)) continue;
    groups.add(key);
    const scope = el.form || document;
    const group = Array.from(scope.querySelectorAll('input[type=radio]'))
      .filter((r) => r.name === el.name && !r.disabled);
    const stop = group.find((r) => r.checked) || group[0];
    stops.push({el: stop, where: 'radio group ' + el.name, skipped: false});
    continue;
  }
  stops.push({el, where: describe(el), skipped: false});
}
return stops;
"""
)

_FOCUS_STYLE = r"""
const el = arguments[0];
const s = getComputedStyle(el);
return {
  outlineStyle: s.outlineStyle,
  outlineWidth: parseFloat(s.outlineWidth) || 0,
  outlineColor: s.outlineColor,
  boxShadow: s.boxShadow,
};
"""

_PARENT_LAYERS = (
    _COLOURS
    + r"""
const el = arguments[0];
const outline = rgba(arguments[1]);
return {outline, layers: el.parentElement ? layers(el.parentElement) : []};
"""
)


def _keyboard(driver: WebDriver, result: Audit) -> None:
    stops = driver.execute_script(_TAB_STOPS)
    for stop in stops:
        if stop["skipped"]:
            result.problems.append(
                Problem("keyboard", stop["where"], "taken out of the TAB order (tabindex=-1)")
            )
    stops = [stop for stop in stops if not stop["skipped"]]
    elements: list[WebElement] = [stop["el"] for stop in stops]
    result.checked["tab stops"] = len(elements)
    if not elements:
        return
    driver.execute_script("if (document.activeElement) document.activeElement.blur();")
    plain = [driver.execute_script(_FOCUS_STYLE, el) for el in elements]
    _start_at_the_top(driver)

    reached: list[int] = []
    for _ in range(4 * len(elements) + 10):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        index, on_body = driver.execute_script(
            "const a = document.activeElement;"
            "return [arguments[0].indexOf(a), !a || a === document.body];",
            elements,
        )
        if on_body and reached:
            break  # past the last stop: focus left the page
        if index < 0:
            continue  # something the list does not know, such as a scrollable region
        if reached and index == reached[-1]:
            continue  # still inside one control: a date field TABs through day, month, year
        if index in reached:
            break  # came round again
        reached.append(index)
        _indicator(driver, elements[index], stops[index]["where"], plain[index], result)
    driver.execute_script("if (document.activeElement) document.activeElement.blur();")

    for index, stop in enumerate(stops):
        if index not in reached:
            result.problems.append(Problem("keyboard", stop["where"], "TAB never reaches it"))
    if reached != sorted(reached):
        order = ", ".join(stops[i]["where"] for i in reached)
        result.problems.append(
            Problem("keyboard", "page", f"TAB order differs from the page's order: {order}")
        )


def _start_at_the_top(driver: WebDriver) -> None:
    """Make the next TAB go to the first stop: a click on the page's top-left corner moves the
    browser's starting point for sequential focus there, as a visitor's click would. Where
    something clickable sits in that corner, the page itself is focused instead."""
    free = driver.execute_script(
        "window.scrollTo(0, 0);"
        "const el = document.elementFromPoint(0, 0);"
        "return !el || !el.closest('a, button, input, select, textarea, label, summary,"
        " [onclick], [role=button], [tabindex]');"
    )
    if free:
        corner = ActionBuilder(driver)
        corner.pointer_action.move_to_location(0, 0).click()
        corner.perform()
    else:
        driver.execute_script(
            "const body = document.body; body.tabIndex = -1; body.focus();"
            "body.removeAttribute('tabindex');"
        )
    driver.execute_script("if (document.activeElement) document.activeElement.blur();")


def _indicator(
    driver: WebDriver, element: WebElement, where: str, plain: dict[str, Any], result: Audit
) -> None:
    focused = driver.execute_script(_FOCUS_STYLE, element)
    outline = focused["outlineStyle"] != "none" and focused["outlineWidth"] >= 1
    outline_changed = outline and (
        plain["outlineStyle"] == "none"
        or plain["outlineWidth"] < 1
        or (plain["outlineColor"], plain["outlineWidth"])
        != (focused["outlineColor"], focused["outlineWidth"])
    )
    shadow_changed = focused["boxShadow"] not in ("none", plain["boxShadow"])
    if not (outline_changed or shadow_changed):
        result.problems.append(
            Problem("focus", where, "no visible focus indicator (outline or box-shadow)")
        )
        return
    if outline_changed:
        found = driver.execute_script(_PARENT_LAYERS, element, focused["outlineColor"])
        under, _ = backgrounds(found["layers"])
        colour = rgba(found["outline"])
        ratio = min(contrast(over(colour, bg), bg) for bg in under)
        if ratio < NON_TEXT_CONTRAST and not shadow_changed:
            result.problems.append(
                Problem(
                    "focus",
                    where,
                    f"focus outline {_rgb(colour)} has only {ratio:.2f}:1 against its surroundings",
                )
            )


# --- finding things as a visitor does ---------------------------------------------------


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def control_labelled(driver: WebDriver, label: str) -> WebElement:
    """The one form control whose accessible name is ``label``."""
    found = driver.execute_script(
        _DESCRIBE
        + r"""
return Array.from(document.querySelectorAll('input, select, textarea'))
  .filter((el) => el.type !== 'hidden' && shown(el))
  .filter((el) => accessibleName(el).replace(/\s+/g, ' ').trim() === arguments[0]);
""",
        _normal(label),
    )
    assert len(found) == 1, f"{len(found)} controls labelled {label!r}"
    return found[0]


def button_named(driver: WebDriver, name: str) -> WebElement:
    """The one button whose accessible name is ``name``."""
    found = driver.execute_script(
        _DESCRIBE
        + r"""
return Array.from(document.querySelectorAll(
    'button, input[type=submit], input[type=button], [role=button]'))
  .filter(shown)
  .filter((el) => accessibleName(el).replace(/\s+/g, ' ').trim() === arguments[0]);
""",
        _normal(name),
    )
    assert len(found) == 1, f"{len(found)} buttons named {name!r}"
    return found[0]


def links_naming(driver: WebDriver, text: str) -> list[WebElement]:
    """Shown links whose accessible name contains ``text``."""
    found: list[WebElement] = driver.execute_script(
        _DESCRIBE
        + r"""
return Array.from(document.querySelectorAll('a[href]')).filter(shown)
  .filter((el) => accessibleName(el).replace(/\s+/g, ' ').includes(arguments[0]));
""",
        _normal(text),
    )
    return found


def name_of(driver: WebDriver, element: WebElement) -> str:
    """The element's accessible name, as the checks above compute it."""
    return _normal(
        str(driver.execute_script(_DESCRIBE + "return accessibleName(arguments[0]);", element))
    )


def by_role(driver: WebDriver, role: str) -> list[WebElement]:
    """Shown elements with this explicit role (``status``, ``alert`` …)."""
    found: list[WebElement] = driver.execute_script(
        _DESCRIBE + "return Array.from(document.querySelectorAll('[role=' + arguments[0] + ']'))"
        ".filter(shown);",
        role,
    )
    return found
