"""``notifier ledger migrate``: bring the ledger's schema up to date, and move a server's
SQLite ledger into the shared database when it becomes one of several nodes."""

from __future__ import annotations

import argparse
from pathlib import Path

from notifier.commands.base import EXIT_OK, Context
from notifier.errors import UserError


def add_ledger(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "ledger",
        help="set up or upgrade the ledger (the record of every message sent)",
        description="Work on the ledger itself. With ledger.url set (PostgreSQL), run "
        "`notifier ledger migrate` once before the first start and after every upgrade: "
        "no node migrates a shared database by itself.",
    )
    actions = parser.add_subparsers(dest="ledger_command", metavar="ACTION", required=True)
    migrate = actions.add_parser(
        "migrate",
        help="create the ledger's tables, or bring them to this version's schema",
        description="Create the ledger's tables in the database at ledger.url, or migrate "
        "them to this notifier's schema version, keeping every row; refuses a schema newer "
        "than this notifier knows. Safe to run again, and from several nodes at once. Without "
        "ledger.url, migrates the SQLite file at ledger.path (the daemon also does that "
        "itself).",
    )
    migrate.add_argument(
        "--from-sqlite",
        type=Path,
        metavar="FILE",
        help="also copy every row of this SQLite ledger (the single server's "
        "state/ledger.sqlite3) into the database, so nothing sent is sent again. Only into "
        "an empty ledger; stop the daemon that uses FILE first.",
    )
    migrate.set_defaults(handler=migrate_command)


def migrate_command(args: argparse.Namespace, context: Context) -> int:
    settings = context.settings().ledger
    if not settings.url:
        if args.from_sqlite is not None:
            raise UserError(
                ["--from-sqlite copies into a PostgreSQL ledger, and ledger.url is not set"],
                hint="Set ledger.url (and ledger.password_file) to the shared database first.",
            )
        from notifier.ledger import SqliteLedger

        with SqliteLedger(settings.path) as ledger:
            version = ledger.schema_version
        context.stdout.write(f"{settings.path}: ledger schema version {version}, up to date\n")
        return EXIT_OK
    from notifier.ledger_copy import copy_sqlite_ledger
    from notifier.ledger_pg import migrate, shown_url

    done = migrate(settings)
    where = shown_url(settings.url)
    if done.before == done.after:
        context.stdout.write(f"{where}: ledger schema version {done.after}, up to date\n")
    else:
        context.stdout.write(
            f"{where}: ledger schema migrated from version {done.before} to {done.after}\n"
        )
    if args.from_sqlite is not None:
        counts = copy_sqlite_ledger(args.from_sqlite, settings)
        listed = ", ".join(f"{count} {what}" for what, count in counts.items())
        context.stdout.write(f"copied from {args.from_sqlite}: {listed}\n")
    return EXIT_OK
