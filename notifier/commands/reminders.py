"""Coordinator commands about the messages: schedule (what goes out when) and simulate."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from notifier.catalog import Catalog, load_catalog
from notifier.commands.base import EXIT_OK, EXIT_USAGE, Context
from notifier.compose import Composer
from notifier.due import Outgoing, Skip, is_open
from notifier.errors import UserError
from notifier.kinds import KINDS, by_name, names
from notifier.kinds.base import Sources
from notifier.ledger import SqliteLedger, open_reader
from notifier.mail import OutboxMailer
from notifier.model import PlannedMilestone, Recipient
from notifier.moves import with_moved_dates
from notifier.records import KnownDue, LedgerEntry, RecordedProblem, StatusEntry
from notifier.schedule import start_of_day, zone
from notifier.sender import Outcome, messages_between, planned_messages, send_due_once
from notifier.settings import Settings

_KINDS = by_name()
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
BEFORE_WINDOW = "before the simulated window"
# A simulated year has a few hundred send times; this only stops a runaway loop.
_MAX_STEPS = 100_000


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date; write YYYY-MM-DD") from None


# --- schedule -----------------------------------------------------------------------------


def _kinds(text: str) -> list[str]:
    """'--kind due,digest': one or several kinds, each checked."""
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    known = ", ".join(names())
    for kind in kinds:
        if kind not in names():
            raise argparse.ArgumentTypeError(
                f"'{kind}' is not a kind of message; choose from {known}"
            )
    if not kinds:
        raise argparse.ArgumentTypeError(f"name a kind of message: {known}")
    return kinds


def add_schedule(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "schedule",
        help="list every message with its send time, recipients and ledger state",
        description="List every message whose send day lies in the window (default: from today "
        "on): reminders, due notices, change notices waiting to go out, weekly digests and "
        "problem notices, each with send time, what it is about, recipients and what the ledger "
        "recorded for each recipient. Without --to, digests are listed up to the last other "
        "message, and at least the next one. Reads the ledger, never writes it.",
    )
    parser.add_argument("--from", dest="start", type=_date, help="first send day (YYYY-MM-DD)")
    parser.add_argument("--to", dest="end", type=_date, help="last send day, inclusive")
    parser.add_argument(
        "--kind",
        dest="kinds",
        type=_kinds,
        action="append",
        metavar="KIND",
        help=f"only these kinds ({', '.join(names())}); repeat it or separate with commas",
    )
    parser.add_argument(
        "--org",
        metavar="NAME",
        help="only messages about this organisation's milestones (name, alias or slug): its "
        "reminders and change notices, also through the coordinator, and the due notices "
        "the coordinator gets about them; digests and problem notices concern no one "
        "organisation and are left out",
    )
    parser.add_argument(
        "--plan",
        metavar="ID",
        help="only messages about this plan's milestones; digests and problem notices, which "
        "cover every plan, are left out",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=schedule_command)


@dataclass(frozen=True)
class LedgerView:
    """What the ledger holds, read without changing it; empty where there is no ledger."""

    exists: bool = False
    snapshot: Mapping[tuple[str, str], LedgerEntry] = field(default_factory=dict)
    known: Mapping[str, KnownDue] = field(default_factory=dict)
    problems: tuple[RecordedProblem, ...] = ()
    statuses: Mapping[str, StatusEntry] = field(default_factory=dict)
    history: tuple[StatusEntry, ...] = ()


def read_ledger(settings: Settings) -> LedgerView:
    """The ledger's rows, due dates, problems and milestone statuses, without creating or
    migrating a ledger (an older file has no statuses: every milestone is open)."""
    ledger = open_reader(settings.ledger)
    if ledger is None:
        return LedgerView()
    with ledger:
        return LedgerView(
            True,
            ledger.snapshot(),
            ledger.known_due_dates(),
            tuple(ledger.problems()),
            ledger.statuses(),
            tuple(ledger.status_entries()),
        )


class UsageError(Exception):
    """A filter names nothing there is: the command line is wrong (exit 2)."""


def schedule_command(args: argparse.Namespace, context: Context) -> int:
    settings = context.settings()
    catalog = load_catalog(settings.plans.dir)
    now = context.clock().astimezone(zone(settings))
    start: date = args.start or now.date()
    end: date | None = args.end
    if end is not None and end < start:
        raise UserError([f"--to {end} is before --from {start}"])
    kinds = tuple(k for group in args.kinds for k in group) if args.kinds else None
    try:
        about = _about_filter(catalog, args.org, args.plan)
    except UsageError as error:
        print(f"notifier: {error}", file=sys.stderr)
        return EXIT_USAGE
    view = read_ledger(settings)
    catalog = with_moved_dates(catalog, view.statuses)
    sources = Sources(
        catalog,
        settings,
        now,
        view.known,
        view.problems,
        view.snapshot,
        view.statuses,
        view.history,
    )
    chosen = [
        item
        for item in messages_between(
            catalog, settings, view.known, start, end, view.problems, kinds, history=view.history
        )
        if about is None or about(item)
    ]
    if args.json:
        data = {
            "from": start.isoformat(),
            "to": end.isoformat() if end else None,
            "timezone": settings.reminders.timezone,
            "ledger": str(settings.ledger.path),
            "kinds": list(kinds or names()),
            "org": args.org,
            "plan": args.plan,
            "counts": dict(Counter(item.kind for item in chosen)),
            "messages": [_message_json(i, view, sources) for i in chosen],
        }
        json.dump(data, context.stdout, ensure_ascii=False, indent=2)
        context.stdout.write("\n")
    else:
        _schedule_text(context, chosen, view, sources, start, end)
    return EXIT_OK


def _schedule_text(
    context: Context,
    chosen: Sequence[Outgoing[Any]],
    view: LedgerView,
    sources: Sources,
    start: date,
    end: date | None,
) -> None:
    settings = sources.settings
    until = f"to {end}" if end else "on"
    context.stdout.write(
        f"Messages from {start} {until} ({settings.reminders.timezone}): {len(chosen)}"
        f"{_counts_text(chosen)}\n"
    )
    for item in chosen:
        context.stdout.write(_message_text(item, view, sources))
    if not view.exists:
        context.stdout.write(f"(no ledger at {settings.ledger.path} yet: nothing sent so far)\n")


def _about_filter(
    catalog: Catalog, org: str | None, plan: str | None
) -> Callable[[Outgoing[Any]], bool] | None:
    """The test for --org and --plan, or None when neither is given."""
    matches = milestone_filter(catalog, org, plan)
    if matches is None:
        return None
    return lambda item: item.about is not None and matches(item.about)


def milestone_filter(
    catalog: Catalog, org: str | None, plan: str | None
) -> Callable[[PlannedMilestone], bool] | None:
    """Whether a milestone is of plan ``plan`` and organisation ``org`` (None: any), or None
    when neither is given; UsageError when either names nothing there is."""
    if org is None and plan is None:
        return None
    slug = None
    if org is not None:
        found = catalog.directory.find(org)
        if found is None:
            suggestion = catalog.directory.suggestion(org)
            known = ", ".join(f"{o.name} ({o.slug})" for o in catalog.directory.organisations)
            hint = f"Did you mean '{suggestion}'? " if suggestion else ""
            raise UsageError(f"--org '{org}': no such organisation. {hint}Organisations: {known}.")
        slug = found.slug
    if plan is not None and catalog.plan(plan) is None:
        known = ", ".join(p.id for p in catalog.plans) or "none"
        raise UsageError(f"--plan '{plan}': no plan with that id. Plans: {known}.")

    def matches(planned: PlannedMilestone) -> bool:
        if plan is not None and planned.plan.id != plan:
            return False
        return slug is None or any(o.slug == slug for o in planned.organisations)

    return matches


def _counts_text(items: Sequence[Outgoing[Any]]) -> str:
    counts = Counter(item.kind for item in items)
    if not counts:
        return ""
    parts = [f"{counts[k.name]} {k.nouns[counts[k.name] != 1]}" for k in KINDS if counts[k.name]]
    return f" ({', '.join(parts)})"


def _state_text(
    entry: LedgerEntry | None, send_at: datetime, now: datetime, withheld: str | None = None
) -> str:
    if withheld is not None and is_open(entry):
        # Recorded so once its time comes; shown so now, as the daemon will decide.
        return f"skipped ({withheld})"
    if entry is None:
        return "planned" if send_at > now else "not recorded"
    if entry.state == "failed":
        if entry.permanent:
            return f"failed for good: {entry.last_error}"
        retry = entry.next_attempt_at.isoformat() if entry.next_attempt_at else "next wake-up"
        return f"failed ({entry.attempts} attempts), retry at {retry}: {entry.last_error}"
    if entry.note:
        return f"{entry.state} ({entry.note})"
    return entry.state


def _who(recipient: Recipient) -> str:
    if recipient.via_coordinator:
        return f"for {recipient.organisation}, via the coordinator"
    return recipient.organisation


def _message_text(item: Outgoing[Any], view: LedgerView, sources: Sources) -> str:
    kind, when, now = _KINDS[item.kind], item.send_at, sources.now
    withheld = kind.withheld(item, sources)
    lines = [
        f"\n{when:%Y-%m-%d} {_WEEKDAYS[when.weekday()]} {when:%H:%M}  {kind.headline(item)}",
        f"    {kind.summary(item, sources)}",
    ]
    for recipient in item.recipients:
        entry = view.snapshot.get((item.key, recipient.address))
        lines.append(
            f"    → {recipient.address} ({_who(recipient)}): "
            f"{_state_text(entry, item.send_at, now, withheld)}"
        )
    return "\n".join(lines) + "\n"


def _message_json(item: Outgoing[Any], view: LedgerView, sources: Sources) -> dict[str, Any]:
    kind, now = _KINDS[item.kind], sources.now
    withheld = kind.withheld(item, sources)
    recipients = []
    for recipient in item.recipients:
        entry = view.snapshot.get((item.key, recipient.address))
        recipients.append(
            {
                "address": recipient.address,
                "organisation": recipient.organisation,
                "via_coordinator": recipient.via_coordinator,
                "state": entry.state if entry else None,
                "note": entry.note if entry else None,
                "summary": _state_text(entry, item.send_at, now, withheld),
                "withheld": withheld if is_open(entry) else None,
                "attempts": entry.attempts if entry else 0,
                "last_error": entry.last_error if entry else None,
                "message_id": entry.message_id if entry else None,
            }
        )
    data: dict[str, Any] = {
        "key": item.key,
        "kind": item.kind,
        "send_at": item.send_at.isoformat(),
        "summary": kind.summary(item, sources),
    }
    planned = item.about
    if planned is not None:
        milestone = planned.milestone
        data["milestone"] = {
            "key": planned.key,
            "plan_id": planned.plan.id,
            "action_id": planned.action.id,
            "label": milestone.label,
            "due": milestone.due.isoformat(),
            "tentative": milestone.tentative,
        }
    data.update(kind.details(item, sources))
    data["recipients"] = recipients
    return data


# --- simulate -----------------------------------------------------------------------------


def add_simulate(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "simulate",
        help="write every message of a period as .eml files, without sending anything",
        description="Walk the clock from send time to send time through the period and write "
        "every message the daemon would send (reminders, due notices, digests), each dated "
        "when it would go out. Uses a ledger in memory: the real ledger is not touched. "
        "Messages due before --from count as already sent, as for a daemon that has been "
        "running all along; --fresh shows instead what a first start on --from would send.",
    )
    parser.add_argument("--from", dest="start", type=_date, required=True, help="first day")
    parser.add_argument("--to", dest="end", type=_date, required=True, help="last day, inclusive")
    parser.add_argument("--outbox", type=Path, required=True, help="folder for the .eml files")
    parser.add_argument(
        "--fresh", action="store_true", help="start with an empty ledger, as a first start would"
    )
    parser.set_defaults(handler=simulate_command)


def simulate_command(args: argparse.Namespace, context: Context) -> int:
    if args.end < args.start:
        raise UserError([f"--to {args.end} is before --from {args.start}"])
    settings = context.settings()
    catalog = load_catalog(settings.plans.dir)
    composer = Composer.load(settings.templates.dir)
    mailer = OutboxMailer(args.outbox)
    results = simulate(catalog, settings, composer, mailer, args.start, args.end, fresh=args.fresh)
    for when, outcome in results:
        context.stdout.write(
            f"{when:%Y-%m-%d} {_WEEKDAYS[when.weekday()]} {when:%H:%M}  "
            f"{outcome.kind:8}  {outcome.key} → {outcome.address}\n"
        )
    failed = [o for _, o in results if not o.ok]
    if failed:
        raise UserError(
            [f"{o.key} to {o.address}: {o.error}" for o in failed],
            hint=f"Check that {args.outbox} is a writable folder.",
        )
    context.stdout.write(f"Wrote {len(results)} messages to {args.outbox}\n")
    return EXIT_OK


def simulate(
    catalog: Catalog,
    settings: Settings,
    composer: Composer,
    mailer: OutboxMailer,
    first: date,
    last: date,
    *,
    fresh: bool = False,
) -> list[tuple[datetime, Outcome]]:
    """Run the sender from send time to send time over [first, last] with a ledger in memory.

    A failure stops the walk: in a simulation, retrying an unwritable outbox helps nobody.
    """
    start = start_of_day(first, settings)
    end = start_of_day(last + timedelta(days=1), settings)
    results: list[tuple[datetime, Outcome]] = []
    with SqliteLedger(":memory:") as ledger:
        # The plan as it stands is what the daemon knew all along: no change notices.
        ledger.record_due_dates({m.key: m.milestone.due for m in catalog.milestones}, start)
        if not fresh:
            earlier = [
                Skip(item, recipient, BEFORE_WINDOW)
                for item in planned_messages(catalog, settings, {}, start)
                if item.send_at < start
                for recipient in item.recipients
            ]
            ledger.mark_skipped(earlier, start)
        now: datetime | None = start
        for _ in range(_MAX_STEPS):
            if now is None or now >= end:
                break
            report = send_due_once(now, catalog, settings, ledger, mailer, composer)
            moment = now.astimezone(zone(settings))
            results.extend((moment, outcome) for outcome in report.sent + report.failed)
            if report.failed or report.next_wake is None or report.next_wake <= now:
                break
            now = report.next_wake
    return results
