"""The coordinator's commands about where the milestones stand: milestones, done, reopen,
report. What they record goes into the ledger's milestone status history; the daemon reads
it at its next step (no more reminders about a done milestone) and shows it in the feeds.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from notifier.catalog import Catalog, load_catalog
from notifier.commands.base import EXIT_OK, EXIT_USAGE, Context
from notifier.commands.reminders import UsageError, milestone_filter, read_ledger
from notifier.ledger import open_ledger
from notifier.model import PlannedMilestone
from notifier.moves import with_moved_dates
from notifier.progress import is_overdue, state_of
from notifier.records import COORDINATOR, MilestoneState, StatusEntry, Statuses

STATUS_CHOICES = ("open", "done", "overdue", "needs-new-date")
# How many candidates an unknown or ambiguous reference lists.
_CANDIDATES = 12
# One row per history entry: the report to the politicians is about what happened when, and
# a spreadsheet filters the current status out of the column ``current``. A milestone nothing
# was said about still gets one row, with the history columns empty, so none goes missing.
CSV_COLUMNS = (
    "milestone",
    "plan",
    "action",
    "label",
    "due",
    "current",
    "overdue",
    "entry",
    "state",
    "at",
    "by",
    "address",
    "how",
    "comment",
    "proposed_due",
    "measure",
    "organisations",
)


def _local(moment: datetime, planned: PlannedMilestone) -> str:
    return moment.astimezone(ZoneInfo(planned.plan.timezone)).isoformat(timespec="minutes")


def resolve(catalog: Catalog, ref: str) -> PlannedMilestone:
    """The milestone ``ref`` names: its key, or a prefix of exactly one key."""
    by_key = {m.key: m for m in catalog.milestones}
    if ref in by_key:
        return by_key[ref]
    matches = [key for key in sorted(by_key) if key.startswith(ref)]
    if len(matches) == 1:
        return by_key[matches[0]]
    if matches:
        raise UsageError(
            f"'{ref}' matches {len(matches)} milestones; name one of them: " + _listed(matches)
        )
    words = [part for part in ref.replace("/", " ").split() if part]
    near = [key for key in sorted(by_key) if any(w in key for w in words)] or sorted(by_key)
    raise UsageError(
        f"'{ref}' is no milestone key. Keys are plan/action/slot (`notifier milestones` lists "
        f"them); for example: {_listed(near)}"
    )


def _listed(keys: Sequence[str]) -> str:
    shown = ", ".join(keys[:_CANDIDATES])
    return shown + (f" … and {len(keys) - _CANDIDATES} more" if len(keys) > _CANDIDATES else "")


def _wanted(planned: PlannedMilestone, statuses: Statuses, now: datetime, status: str) -> bool:
    if status == "overdue":
        return is_overdue(planned, statuses, now)
    state = state_of(statuses, planned.key)
    return state == status or (status == "open" and state == "reopened")


# --- milestones ---------------------------------------------------------------------------


def add_milestones(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "milestones",
        help="every milestone with its due date and status (open, done, needs a new date)",
        description="List every milestone of the plans with its due date, its status and who "
        "said so when. Overdue: past its due date in its plan's time zone and not done. Reads "
        "the ledger, never writes it.",
    )
    parser.add_argument("--plan", metavar="ID", help="only this plan's milestones")
    parser.add_argument("--org", metavar="NAME", help="only this organisation's milestones")
    parser.add_argument("--status", choices=STATUS_CHOICES, help="only milestones in this state")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=milestones_command)


def milestones_command(args: argparse.Namespace, context: Context) -> int:
    settings = context.settings()
    catalog = load_catalog(settings.plans.dir)
    try:
        matches = milestone_filter(catalog, args.org, args.plan)
    except UsageError as error:
        print(f"notifier: {error}", file=sys.stderr)
        return EXIT_USAGE
    now = context.clock()
    statuses = read_ledger(settings).statuses
    catalog = with_moved_dates(catalog, statuses)
    chosen = [
        m
        for m in sorted(catalog.milestones, key=lambda m: (m.milestone.due, m.key))
        if (matches is None or matches(m))
        and (args.status is None or _wanted(m, statuses, now, args.status))
    ]
    rows = [_row(m, statuses, now) for m in chosen]
    if args.json:
        json.dump({"milestones": rows}, context.stdout, ensure_ascii=False, indent=2)
        context.stdout.write("\n")
        return EXIT_OK
    context.stdout.write(f"Milestones: {len(rows)}\n")
    for row in rows:
        state = row["status"] + (", overdue" if row["overdue"] else "")
        if row["proposed_due"]:
            state += f", asks for {row['proposed_due']}"
        said = f"  ({row['by']}, {row['at']})" if row["at"] else ""
        context.stdout.write(f"{row['due']}  {state:<24} {row['key']}{said}\n")
    return EXIT_OK


def _row(planned: PlannedMilestone, statuses: Statuses, now: datetime) -> dict[str, Any]:
    entry = statuses.get(planned.key)
    move = (
        entry.moved if entry and entry.moved and entry.moved.due == planned.milestone.due else None
    )
    return {
        "key": planned.key,
        "plan": planned.plan.id,
        "action": planned.action.id,
        "label": planned.milestone.label,
        "due": planned.milestone.due.isoformat(),
        "status": state_of(statuses, planned.key),
        "overdue": is_overdue(planned, statuses, now),
        "organisations": [o.name for o in planned.organisations],
        "by": entry.organisation if entry else None,
        "address": entry.address if entry else None,
        "at": _local(entry.at, planned) if entry else None,
        "how": entry.how if entry else None,
        "comment": entry.comment if entry else None,
        "proposed_due": entry.proposed_due.isoformat() if entry and entry.proposed_due else None,
        # The plan's date, when the coordinator accepted another one (``due``).
        "plan_due": move.replaces.isoformat() if move else None,
    }


# --- done and reopen ----------------------------------------------------------------------


def add_done(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "done",
        help="record a milestone as done: no more reminders, 'Klart' in the calendar",
        description="Record in the ledger that a milestone is done. The running daemon sends "
        "no more reminders or due notice about it, and its calendar event says 'Klart'. "
        "REF is a milestone key (plan/action/slot, see `notifier milestones`) or a prefix of "
        "exactly one.",
    )
    parser.add_argument("ref", metavar="REF", help="milestone key, or a unique prefix of one")
    parser.add_argument(
        "--by",
        metavar="ORG",
        help="the organisation that reports it done (one responsible for the milestone); "
        "without it, the coordinator",
    )
    parser.add_argument("--comment", metavar="TEXT", help="a note kept with the entry")
    parser.set_defaults(handler=done_command, state="done")


def add_reopen(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "reopen",
        help="reopen a milestone recorded as done: reminders still ahead go out again",
        description="Record in the ledger that a done milestone is open again, by the "
        "coordinator. Reminders whose time has not come go out again; the calendar event "
        "loses its 'Klart'.",
    )
    parser.add_argument("ref", metavar="REF", help="milestone key, or a unique prefix of one")
    parser.add_argument("--comment", metavar="TEXT", help="a note kept with the entry")
    parser.set_defaults(handler=done_command, state="reopened", by=None)


def done_command(args: argparse.Namespace, context: Context) -> int:
    settings = context.settings()
    catalog = load_catalog(settings.plans.dir)
    try:
        planned = resolve(catalog, args.ref)
        organisation, address = _reporter(catalog, planned, args.by)
    except UsageError as error:
        print(f"notifier: {error}", file=sys.stderr)
        return EXIT_USAGE
    state: MilestoneState = args.state
    with open_ledger(settings.ledger) as ledger:
        before = ledger.statuses().get(planned.key)
        current = before.state if before else "open"
        if state == "done" and current == "done":
            assert before is not None
            context.stdout.write(
                f"{planned.key} is done already ({before.organisation}, "
                f"{_local(before.at, planned)}): nothing recorded\n"
            )
            return EXIT_OK
        if state == "reopened" and current != "done":
            context.stdout.write(f"{planned.key} is {current}, not done: nothing to reopen\n")
            return EXIT_OK
        entry = ledger.record_status(
            StatusEntry(
                planned.key,
                state,
                organisation,
                context.clock(),
                "cli",
                address=address,
                comment=args.comment or None,
            )
        )
    effect = (
        "no more reminders about it; the calendar shows it as done"
        if state == "done"
        else "reminders still ahead go out again; the calendar shows it open"
    )
    context.stdout.write(
        f"{planned.key}: {state} ({entry.organisation}, {_local(entry.at, planned)}); {effect} "
        "from the daemon's next step\n"
    )
    return EXIT_OK


def _reporter(
    catalog: Catalog, planned: PlannedMilestone, by: str | None
) -> tuple[str, str | None]:
    """Who reports it: ``--by``'s organisation, which must answer for the milestone."""
    if by is None:
        return COORDINATOR, None
    responsible = ", ".join(o.name for o in planned.organisations) or "none named"
    found = catalog.directory.find(by)
    if found is None or all(o.slug != found.slug for o in planned.organisations):
        what = "no such organisation" if found is None else f"{found.name} does not answer for it"
        raise UsageError(
            f"--by '{by}': {what}. Responsible for {planned.key}: {responsible}; leave --by "
            "out to record it as the coordinator."
        )
    return found.name, found.emails[0] if found.emails else None


# --- report -------------------------------------------------------------------------------


def add_report(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "report",
        help="every milestone with its status and full history, as CSV or JSON",
        description="For the follow-up report: every milestone, its status and every entry "
        "of its history. CSV (UTF-8, with a header) has one row per history entry (one row "
        "with empty history columns for a milestone nothing was said about); JSON has one "
        "object per milestone with its history. Reads the ledger, never writes it.",
    )
    parser.add_argument("--format", choices=("csv", "json"), default="csv")
    parser.add_argument("--plan", metavar="ID", help="only this plan's milestones")
    parser.set_defaults(handler=report_command)


def report_command(args: argparse.Namespace, context: Context) -> int:
    settings = context.settings()
    catalog = load_catalog(settings.plans.dir)
    try:
        matches = milestone_filter(catalog, None, args.plan)
    except UsageError as error:
        print(f"notifier: {error}", file=sys.stderr)
        return EXIT_USAGE
    now = context.clock()
    view = read_ledger(settings)
    catalog = with_moved_dates(catalog, view.statuses)
    chosen = sorted(
        (m for m in catalog.milestones if matches is None or matches(m)),
        key=lambda m: (m.plan.id, m.milestone.due, m.key),
    )
    histories: dict[str, list[StatusEntry]] = {}
    for entry in view.history:
        histories.setdefault(entry.milestone_key, []).append(entry)
    if args.format == "json":
        milestones = []
        for planned in chosen:
            row = _row(planned, view.statuses, now)
            row["measure"] = planned.action.measure
            row["history"] = [_entry_json(e, planned) for e in histories.get(planned.key, [])]
            milestones.append(row)
        data = {"generated": now.isoformat(timespec="seconds"), "milestones": milestones}
        json.dump(data, context.stdout, ensure_ascii=False, indent=2)
        context.stdout.write("\n")
        return EXIT_OK
    writer = csv.writer(context.stdout, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for planned in chosen:
        entries: Sequence[StatusEntry | None] = histories.get(planned.key) or [None]
        for number, entry in enumerate(entries, 1):
            writer.writerow(_csv_row(planned, view.statuses, now, entry, number))
    return EXIT_OK


def _entry_json(entry: StatusEntry, planned: PlannedMilestone) -> dict[str, Any]:
    return {
        "state": entry.state,
        "at": _local(entry.at, planned),
        "by": entry.organisation,
        "address": entry.address,
        "how": entry.how,
        "comment": entry.comment,
        "proposed_due": entry.proposed_due.isoformat() if entry.proposed_due else None,
    }


def _csv_row(
    planned: PlannedMilestone,
    statuses: Statuses,
    now: datetime,
    entry: StatusEntry | None,
    number: int,
) -> list[str]:
    said = _entry_json(entry, planned) if entry else {}
    return [
        planned.key,
        planned.plan.id,
        planned.action.id,
        planned.milestone.label or "",
        planned.milestone.due.isoformat(),
        state_of(statuses, planned.key),
        "yes" if is_overdue(planned, statuses, now) else "no",
        str(number) if entry else "",
        *(str(said.get(k) or "") for k in ("state", "at", "by", "address", "how", "comment")),
        str(said.get("proposed_due") or ""),
        planned.action.measure,
        "; ".join(o.name for o in planned.organisations),
    ]
