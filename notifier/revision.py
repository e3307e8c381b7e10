"""A revised plan document over an existing plan file: every action keeps its id.

Calendar events and the reminder ledger hang on an action's id, so a revision never gives an
existing action a new one. Actions are matched in three passes: the same "Åtgärd" text; then
the most similar texts (the action weighs most, cause and goal after it), best pair first;
then, among the rest, the same place (section and order within it) when some text is shared.
An action left unmatched is added with a new id that no action of the old file had, and an
old action left unmatched is reported removed.

Writing keeps, for every matched action, the keys the import does not produce (explicit
``[[action.milestone]]`` entries, lead times, anything the coordinator added) and the plan's
own keys the import does not produce; whole-line comments inside an action's block are put
back at the top of that block, and whole-line comments of the file's head after its standard
header. Comments at the end of a line are not kept: the result says how many were dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any

import tomli_w

from notifier.importer import KEYS, action_id
from notifier.plan import dump_plan, header

_FIELDS = (("section", "Avsnitt"), ("problem", "Problem"), ("orsak", "Orsak"), ("mål", "Mål"))
_FIELDS += (("åtgärd", "Åtgärd"), ("vem", "Vem?"), ("när", "När?"))
_SIMILAR = 0.6  # a pair this alike in text is the same action reworded
_PLACED = 0.35  # at the same place, this much shared text is enough


@dataclass
class Revision:
    """What a new document changes in a plan file, and the plan data to write."""

    data: dict[str, Any]
    kept: list[str] = field(default_factory=list)
    changed: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)
    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    milestones_kept: list[str] = field(default_factory=list)


def revise(old: dict[str, Any], new: dict[str, Any]) -> Revision:
    """``new`` (from the importer) with the ids, milestones and extra keys of ``old``."""
    before: list[dict[str, Any]] = list(old.get("action", []))
    after: list[dict[str, Any]] = new["action"]
    pairs = _match(before, after)
    used = {action["id"] for action in before}
    revision = Revision(data={})
    actions = []
    for index, action in enumerate(after):
        if index not in pairs:
            fresh = dict(action, id=_unique(action_id(action["åtgärd"]), used))
            revision.added.append(fresh)
            actions.append(fresh)
            continue
        previous = before[pairs[index]]
        merged = {**action, **{k: v for k, v in previous.items() if k not in action}}
        merged["id"] = previous["id"]
        differences = [
            (label, str(previous.get(key, "")), str(action[key]))
            for key, label in _FIELDS
            if str(previous.get(key, "")) != str(action[key])
        ]
        if differences:
            revision.changed[merged["id"]] = differences
        else:
            revision.kept.append(merged["id"])
        if "milestone" in previous:
            revision.milestones_kept.append(merged["id"])
        actions.append(_ordered(merged))
    matched = set(pairs.values())
    revision.removed = [a for i, a in enumerate(before) if i not in matched]
    plan = {**new, **{k: v for k, v in old.items() if k not in new}}
    plan["id"] = old.get("id", new["id"])
    plan["action"] = actions
    revision.data = plan
    return revision


def _match(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> dict[int, int]:
    """New action index -> old action index."""
    pairs: dict[int, int] = {}
    free = set(range(len(before)))
    for j, action in enumerate(after):
        same = [
            i for i in sorted(free) if _norm(before[i].get("åtgärd")) == _norm(action["åtgärd"])
        ]
        # The same text in two problem areas: the one in the same section first.
        same.sort(key=lambda i: str(before[i].get("section", "")) != str(action["section"]))
        if same:
            pairs[j] = same[0]
            free.discard(same[0])
    scored = sorted(
        (
            (_similarity(before[i], after[j]), i, j)
            for j in range(len(after))
            if j not in pairs
            for i in free
        ),
        reverse=True,
    )
    for score, i, j in scored:
        if score >= _SIMILAR and i in free and j not in pairs:
            pairs[j] = i
            free.discard(i)
    for j, action in enumerate(after):
        if j in pairs:
            continue
        place = _place(after, j)
        for i in sorted(free):
            if _place(before, i) == place and _similarity(before[i], action) >= _PLACED:
                pairs[j] = i
                free.discard(i)
                break
    return pairs


def _similarity(old: dict[str, Any], new: dict[str, Any]) -> float:
    """0 to 1; a column empty on both sides says nothing, so it does not count."""
    weighed = [
        (weight, SequenceMatcher(None, _norm(old.get(key)), _norm(new.get(key))).ratio())
        for key, weight in (("åtgärd", 0.6), ("orsak", 0.2), ("mål", 0.2))
        if _norm(old.get(key)) or _norm(new.get(key))
    ]
    total = sum(weight for weight, _ in weighed)
    return sum(weight * ratio for weight, ratio in weighed) / total if total else 0.0


def _place(actions: list[dict[str, Any]], index: int) -> tuple[str, int]:
    section = str(actions[index].get("section", ""))
    order = sum(1 for a in actions[:index] if str(a.get("section", "")) == section)
    return section, order


def _norm(text: object) -> str:
    return " ".join(str(text or "").replace("\u00ad", "").split()).casefold()


def _unique(ident: str, used: set[str]) -> str:
    candidate, n = ident, 2
    while candidate in used:
        candidate, n = f"{ident}-{n}", n + 1
    used.add(candidate)
    return candidate


def _ordered(action: dict[str, Any]) -> dict[str, Any]:
    first = ("id", "section", "problem", *KEYS)
    return {**{k: action[k] for k in first if k in action}, **action}


def summary(revision: Revision, source: str, target: str) -> list[str]:
    """The changes, one line each, in the order a coordinator checks them."""
    lines = [
        f"{source} over {target}: {len(revision.kept)} unchanged, {len(revision.changed)} "
        f"changed, {len(revision.added)} added, {len(revision.removed)} removed"
    ]
    for ident, differences in revision.changed.items():
        for label, was, now in differences:
            lines.append(f"  changed {ident}: {label} {was!r} -> {now!r}")
    for action in revision.added:
        lines.append(
            f"  added   {action['id']}: {action['åtgärd']!r}; Vem? {action['vem']!r}; "
            f"När? {action['när']!r}"
        )
    for action in revision.removed:
        milestones = " (and its explicit milestones)" if "milestone" in action else ""
        lines.append(f"  removed {action['id']}: {action.get('åtgärd', '')!r}{milestones}")
    for ident in revision.milestones_kept:
        note = "; its När? changed: check them" if _when_changed(revision, ident) else ""
        lines.append(f"  kept    {ident}: its explicit milestones{note}")
    return lines


def _when_changed(revision: Revision, ident: str) -> bool:
    return any(label == "När?" for label, _, _ in revision.changed.get(ident, []))


def write_text(revision: Revision, old_text: str) -> tuple[str, int]:
    """The revised plan file's text, and how many end-of-line comments could not be kept."""
    # tomli-w writes an array of tables inside an array of tables inline; the plan files
    # write each explicit milestone as its own [[action.milestone]] table, as the README shows.
    milestones = {a["id"]: a["milestone"] for a in revision.data["action"] if "milestone" in a}
    plain = [{k: v for k, v in a.items() if k != "milestone"} for a in revision.data["action"]]
    text = dump_plan({**revision.data, "action": plain})
    for ident, entries in milestones.items():
        text = _with_milestones(text, ident, entries)
    head, blocks, trailing = _comments(old_text, revision.data["year"])
    if head:
        standard = header(revision.data["year"])
        text = standard + "\n".join(head) + "\n" + text[len(standard) :]
    for ident, comments in blocks.items():
        marker = re.search(rf'^\[\[action\]\]\nid = "{re.escape(ident)}"$', text, re.MULTILINE)
        if marker and comments:
            at = marker.start() + len("[[action]]\n")
            text = text[:at] + "\n".join(comments) + "\n" + text[at:]
    return text, trailing


def _with_milestones(text: str, ident: str, entries: list[dict[str, Any]]) -> str:
    marker = re.search(rf'^\[\[action\]\]\nid = "{re.escape(ident)}"$', text, re.MULTILINE)
    if marker is None:
        return text
    end = text.find("\n[[action]]", marker.end())
    end = len(text) if end == -1 else end + 1
    tables = "".join(f"\n[[action.milestone]]\n{tomli_w.dumps(entry)}" for entry in entries)
    block = text[:end].rstrip("\n") + "\n" + tables
    return block + ("\n" + text[end:] if end < len(text) else "")


def _comments(old_text: str, year: int) -> tuple[list[str], dict[str, list[str]], int]:
    """Whole-line comments of the head (past the standard header) and of each action block,
    and the count of end-of-line comments."""
    standard = set(header(year).splitlines())
    head: list[str] = []
    blocks: dict[str, list[str]] = {}
    current: list[str] | None = None
    trailing = 0
    for line in old_text.splitlines():
        stripped = line.strip()
        if stripped == "[[action]]":
            current = []
            continue
        ident = re.match(r'^id\s*=\s*"([^"]+)"', stripped)
        if ident and current is not None:
            blocks.setdefault(ident.group(1), current)
        if stripped.startswith("#"):
            if current is None:
                if line not in standard:
                    head.append(line)
            else:
                current.append(line)
        elif re.search(r"""^[^"'#]*(?:"[^"]*"|'[^']*')*[^"'#]*#""", stripped):
            trailing += 1
    return head, blocks, trailing
