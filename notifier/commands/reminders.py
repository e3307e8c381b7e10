"""Coordinator commands about the reminders: schedule (what goes out when) and simulate."""

from __future__ import annotations

import argparse
import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from notifier.catalog import Catalog, load_catalog
from notifier.commands.base import EXIT_OK, Context
from notifier.compose import Composer
from notifier.config import Settings
from notifier.due import LedgerEntry, Skip
from notifier.errors import UserError
from notifier.ledger import SqliteLedger
from notifier.mail import OutboxMailer
from notifier.schedule import Reminder, lead_label, reminders, start_of_day, zone
from notifier.sender import Outcome, planned_messages, send_due_once

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


def add_schedule(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "schedule",
        help="list every reminder with its send time, recipients and ledger state",
        description="List the reminders whose send day lies in the window (default: from today "
        "on), with send time, milestone, lead, recipients and what the ledger recorded for each "
        "recipient. Reads the ledger, never writes it.",
    )
    parser.add_argument("--from", dest="start", type=_date, help="first send day (YYYY-MM-DD)")
    parser.add_argument("--to", dest="end", type=_date, help="last send day, inclusive")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=schedule_command)


def schedule_command(args: argparse.Namespace, context: Context) -> int:
    settings = context.settings()
    catalog = load_catalog(settings.plans.dir)
    now = context.clock().astimezone(zone(settings))
    start: date = args.start or now.date()
    end: date | None = args.end
    if end is not None and end < start:
        raise UserError([f"--to {end} is before --from {start}"])
    chosen = [
        r
        for r in reminders(catalog, settings)
        if start <= r.send_at.date() and (end is None or r.send_at.date() <= end)
    ]
    state = ledger_state(settings)
    if args.json:
        data = {
            "from": start.isoformat(),
            "to": end.isoformat() if end else None,
            "timezone": settings.reminders.timezone,
            "ledger": str(settings.ledger.path),
            "reminders": [_reminder_json(r, state, now) for r in chosen],
        }
        json.dump(data, context.stdout, ensure_ascii=False, indent=2)
        context.stdout.write("\n")
        return EXIT_OK
    until = f"to {end}" if end else "on"
    context.stdout.write(
        f"Reminders from {start} {until} ({settings.reminders.timezone}): {len(chosen)}\n"
    )
    for reminder in chosen:
        context.stdout.write(_reminder_text(reminder, state, now))
    if not state:
        context.stdout.write(f"(no ledger at {settings.ledger.path} yet: nothing sent so far)\n")
    return EXIT_OK


def ledger_state(settings: Settings) -> dict[tuple[str, str], LedgerEntry]:
    """The ledger's rows, without creating a ledger where there is none."""
    path = Path(settings.ledger.path)
    if not path.exists():
        return {}
    with SqliteLedger(path) as ledger:
        return ledger.snapshot()


def _state_text(entry: LedgerEntry | None, send_at: datetime, now: datetime) -> str:
    if entry is None:
        return "planned" if send_at > now else "not recorded"
    if entry.state == "failed":
        if entry.permanent:
            return f"failed for good: {entry.last_error}"
        retry = entry.next_attempt_at.isoformat() if entry.next_attempt_at else "next wake-up"
        return f"failed ({entry.attempts} attempts), retry at {retry}: {entry.last_error}"
    if entry.state == "skipped" and entry.note:
        return f"skipped ({entry.note})"
    return entry.state


def _reminder_text(
    reminder: Reminder, state: dict[tuple[str, str], LedgerEntry], now: datetime
) -> str:
    when = reminder.send_at
    milestone = reminder.planned.milestone
    tentative = ", tentative" if milestone.tentative else ""
    label = f"{milestone.label} " if milestone.label else ""
    lines = [
        f"\n{when:%Y-%m-%d} {_WEEKDAYS[when.weekday()]} {when:%H:%M}  "
        f"{lead_label(reminder.lead):>4} before  {reminder.planned.key}",
        f"    {label}due {milestone.due}{tentative}: {reminder.planned.action.measure}",
    ]
    for recipient in reminder.recipients:
        entry = state.get((reminder.key, recipient.address))
        who = (
            f"for {recipient.organisation}, via the coordinator"
            if recipient.via_coordinator
            else recipient.organisation
        )
        lines.append(
            f"    → {recipient.address} ({who}): {_state_text(entry, reminder.send_at, now)}"
        )
    return "\n".join(lines) + "\n"


def _reminder_json(
    reminder: Reminder, state: dict[tuple[str, str], LedgerEntry], now: datetime
) -> dict[str, Any]:
    milestone = reminder.planned.milestone
    recipients = []
    for recipient in reminder.recipients:
        entry = state.get((reminder.key, recipient.address))
        recipients.append(
            {
                "address": recipient.address,
                "organisation": recipient.organisation,
                "via_coordinator": recipient.via_coordinator,
                "state": entry.state if entry else None,
                "summary": _state_text(entry, reminder.send_at, now),
                "attempts": entry.attempts if entry else 0,
                "last_error": entry.last_error if entry else None,
                "message_id": entry.message_id if entry else None,
            }
        )
    return {
        "key": reminder.key,
        "send_at": reminder.send_at.isoformat(),
        "lead": lead_label(reminder.lead),
        "milestone": {
            "key": reminder.planned.key,
            "plan_id": reminder.planned.plan.id,
            "action_id": reminder.planned.action.id,
            "label": milestone.label,
            "due": milestone.due.isoformat(),
            "tentative": milestone.tentative,
        },
        "recipients": recipients,
    }


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
