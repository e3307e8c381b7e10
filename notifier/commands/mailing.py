"""Operator commands about email delivery: send-test."""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta
from email.errors import HeaderParseError
from email.headerregistry import Address
from zoneinfo import ZoneInfo

from notifier.catalog import load_catalog
from notifier.commands.base import EXIT_OK, Context
from notifier.compose import Composer
from notifier.errors import DeliveryError, PlanError, UserError
from notifier.kinds.reminder import compose_reminder, sample_reminder
from notifier.kinds.samples import sample_planned
from notifier.mail import OutboxMailer, describe, mailer_for
from notifier.model import PlannedMilestone
from notifier.settings import Settings


def add_send_test(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "send-test",
        help="send one sample reminder to ADDRESS through the configured transport",
        description="Compose a reminder for the first coming milestone of the plans (or sample "
        "data when there is none) and send it to ADDRESS by SMTP, or write it to the outbox "
        "when no SMTP host is set. Says where it went, or exactly what failed (exit 1).",
    )
    parser.add_argument("address", help="where to send it, e.g. you@example.se")
    parser.set_defaults(handler=send_test)


def send_test(args: argparse.Namespace, context: Context) -> int:
    settings = context.settings()
    address = _checked_address(args.address)
    composer = Composer.load(settings.templates.dir)
    now = context.clock().astimezone(ZoneInfo(settings.reminders.timezone))
    reminder = sample_reminder(_sample_milestone(settings, now), address, now)
    message = compose_reminder(composer, reminder, reminder.recipients[0], now, settings)
    mailer = mailer_for(settings)
    try:
        result = mailer.send(message, [address])[0]
    finally:
        mailer.close()
    if not result.ok:
        retry = "permanent" if result.permanent else "temporary: a retry may succeed"
        raise DeliveryError(
            f"{address} via {describe(mailer)}: {result.error} ({retry})",
            permanent=result.permanent,
            code=result.code,
        )
    if isinstance(mailer, OutboxMailer):
        done = f"Wrote a sample reminder to {address} as {mailer.path_for(message)}\n"
        done += "(no smtp.host is set, so mail goes to the outbox folder)\n"
    else:
        done = f"Sent a sample reminder to {address} via {describe(mailer)}\n"
    context.stdout.write(
        f"{done}Subject: {message['Subject']}\nMessage-ID: {message['Message-ID']}\n"
    )
    return EXIT_OK


def _checked_address(text: str) -> str:
    try:
        address = Address(addr_spec=text.strip())
    except (HeaderParseError, ValueError, IndexError) as error:
        raise UserError([f"'{text}' is not an email address: {error}"]) from None
    if not address.domain:
        raise UserError([f"'{text}' is not an email address: it has no domain"])
    return address.addr_spec


def _sample_milestone(settings: Settings, now: datetime) -> PlannedMilestone:
    """The first milestone still ahead in the plans, else the first one, else sample data."""
    try:
        milestones = load_catalog(settings.plans.dir).milestones
    except PlanError:
        milestones = ()
    if not milestones:
        return sample_planned(now.date() + timedelta(days=7))
    ahead = [m for m in milestones if m.milestone.due >= now.date()]
    return min(ahead or milestones, key=lambda m: m.milestone.due)
