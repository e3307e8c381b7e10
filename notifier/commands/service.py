"""The operator's commands: run the daemon, and show its state."""

from __future__ import annotations

import argparse
from collections import Counter
from datetime import timedelta
from typing import Any

from notifier.catalog import load_catalog
from notifier.commands.base import EXIT_OK, Context
from notifier.commands.reminders import read_ledger
from notifier.daemon import Daemon
from notifier.due import Outgoing, due_items
from notifier.kinds import by_name
from notifier.kinds.base import Sources
from notifier.mail import describe, mailer_for
from notifier.moves import with_moved_dates
from notifier.progress import is_overdue, plan_today, state_of
from notifier.schedule import zone
from notifier.sender import planned_messages


def add_run(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "run",
        help="run the daemon: serve feeds and send due reminders until stopped",
        description="Serve the calendar feeds, send what is due and keep the ledger. SIGHUP, or a "
        "change to the config, a plan or a template, reloads; a broken edit keeps the last good "
        "state. SIGTERM or Ctrl-C finishes the message in flight and exits 0.",
    )
    parser.add_argument(
        "--watch-interval",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="how often to look for changed files (0 turns it off; SIGHUP still reloads)",
    )
    parser.add_argument(
        "--new-ledger",
        action="store_true",
        help="start even though the ledger that recorded earlier sends is missing or another "
        "one: a new ledger is made, and only the latest missed reminder of each milestone is "
        "sent, as after downtime. Restoring the ledger from a backup is usually better.",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, context: Context) -> int:
    return Daemon(
        context.config,
        clock=context.clock,
        watch_interval=args.watch_interval,
        new_ledger=args.new_ledger,
    ).run()


def add_status(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "status",
        help="plans loaded, next messages, recent sends and failures, overdue open milestones",
        description="A read-only overview from the plans and the ledger, for the operator and "
        "the coordinator. Creates nothing; works while the daemon runs.",
    )
    parser.add_argument("--next", type=int, default=10, metavar="N", help="messages to list")
    parser.add_argument("--days", type=int, default=7, help="look back this many days")
    parser.set_defaults(handler=status)


def status(args: argparse.Namespace, context: Context) -> int:
    settings = context.settings()
    catalog = load_catalog(settings.plans.dir)
    now = context.clock().astimezone(zone(settings))
    view = read_ledger(settings)
    catalog = with_moved_dates(catalog, view.statuses)
    state = view.snapshot
    out: list[str] = []
    for plan in catalog.plans:
        count = sum(1 for m in catalog.milestones if m.plan is plan)
        out.append(f"Plan {plan.id}: {plan.title} ({count} milestones, {plan.source})")
    out.append(f"Problems in the plans: {len(catalog.problems)} (details: notifier validate)")
    out.append(f"Mail goes to: {describe(mailer_for(settings))}")
    counts = Counter(entry.state for entry in state.values())
    out.append(
        f"Ledger {settings.ledger.path}: "
        + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "nothing recorded yet")
    )

    sources = Sources(
        catalog, settings, now, view.known, view.problems, state, view.statuses, view.history
    )
    kinds = by_name()
    # What will not go out as things stand (a milestone done, an escalation too late to
    # start) is not "next": `schedule` lists it with the reason.
    items = [
        item
        for item in planned_messages(
            catalog, settings, view.known, now, view.problems, history=view.history
        )
        if kinds[item.kind].withheld(item, sources) is None
    ]
    # Due already but not yet sent (a change notice, a problem notice, anything the daemon
    # has not got to), then what is still ahead.
    ready = due_items(items, state, now).send
    pending = {d.key: [x.address for x in ready if x.key == d.key] for d in ready}
    upcoming = sorted(
        (item for item in items if item.key in pending or item.send_at > now),
        key=lambda item: (item.send_at > now, item.send_at, item.key),
    )
    out.append(f"\nNext messages ({min(args.next, len(upcoming))} of {len(upcoming)}):")
    out.extend(_next_line(item, pending.get(item.key)) for item in upcoming[: args.next])

    since = now - timedelta(days=args.days)
    recent = [e for e in state.values() if e.updated_at and e.updated_at >= since]
    sent = [e for e in recent if e.state == "sent"]
    failed = [e for e in recent if e.state == "failed"]
    out.append(f"\nLast {args.days} days: {len(sent)} sent, {len(failed)} failed")
    for entry in sorted(failed, key=lambda e: (e.key, e.recipient)):
        kind = "for good" if entry.permanent else f"retrying, {entry.attempts} attempts"
        out.append(f"  failed {entry.key} → {entry.recipient} ({kind}): {entry.last_error}")

    overdue = sorted(
        (m for m in catalog.milestones if is_overdue(m, view.statuses, now)),
        key=lambda m: m.milestone.due,
        reverse=True,
    )
    out.append(f"\nOverdue, not done ({len(overdue)}; `notifier done REF` when finished):")
    for planned in overdue[: args.next]:
        days = (plan_today(planned, now) - planned.milestone.due).days
        state = state_of(view.statuses, planned.key)
        note = "" if state == "open" else f"  [{state}]"
        out.append(f"  {planned.milestone.due} ({days} days ago)  {planned.key}{note}")
    if len(overdue) > args.next:
        out.append(f"  … and {len(overdue) - args.next} more")
    context.stdout.write("\n".join(out) + "\n")
    return EXIT_OK


def _next_line(item: Outgoing[Any], pending: list[str] | None) -> str:
    """One message ahead; ``pending``: the addresses it is due to now but not yet sent to."""
    addresses = ", ".join(pending if pending else [r.address for r in item.recipients])
    late = "  (due, not sent yet)" if pending else ""
    return f"  {item.send_at:%Y-%m-%d %H:%M}  {item.kind:<8} {item.key} → {addresses}{late}"
