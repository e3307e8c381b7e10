"""Command line: parse arguments, run one subcommand, map every error to a message and exit code.

This is the only module that prints for the user or chooses an exit code.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from notifier.commands import (
    feeds,
    ledger,
    mailing,
    milestones,
    overview,
    plans,
    reminders,
    service,
)
from notifier.commands.base import EXIT_PROBLEMS, EXIT_USAGE, Context
from notifier.config import ENV_CONFIG, config_path
from notifier.errors import ConfigError, DeliveryError, UserError

SUBCOMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    plans.add_validate,
    plans.add_when,
    plans.add_import,
    feeds.add_serve,
    feeds.add_feed,
    feeds.add_feeds,
    mailing.add_send_test,
    reminders.add_schedule,
    reminders.add_simulate,
    service.add_run,
    service.add_status,
    milestones.add_milestones,
    milestones.add_done,
    milestones.add_reopen,
    milestones.add_report,
    overview.add_overview_url,
    ledger.add_ledger,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="notifier",
        description="Reminders and calendar feeds for an action plan.",
    )
    parser.add_argument(
        "--config",
        type=Path,
        help="config file (default: $NOTIFIER_CONFIG, else ./config.toml)",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in SUBCOMMANDS:
        add(sub)
    return parser


def _now() -> datetime:
    return datetime.now(UTC)


def main(
    argv: Sequence[str] | None = None,
    stdout: TextIO | None = None,
    stdin: TextIO | None = None,
    clock: Callable[[], datetime] = _now,
) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    out = stdout or sys.stdout
    context = Context(config_path(args.config), out, stdin or sys.stdin, clock)
    if (args.config or os.environ.get(ENV_CONFIG)) and not context.config.is_file():
        # Defaults in place of a file someone named would run with the wrong plan and mail.
        origin = "--config" if args.config else f"${ENV_CONFIG}"
        print(
            f"notifier: configuration error:\n{context.config}: no such config file "
            f"(named by {origin}). Check the path, or leave it out to use ./config.toml.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.handler(args, context))
    except ConfigError as error:
        print(f"notifier: configuration error:\n{error.message}", file=sys.stderr)
        return EXIT_USAGE
    except UserError as error:
        print(f"notifier: {error.message}", file=sys.stderr)
        return EXIT_PROBLEMS
    except DeliveryError as error:
        code = f" (SMTP {error.code})" if error.code else ""
        print(f"notifier: sending failed{code}: {error}", file=sys.stderr)
        return EXIT_PROBLEMS
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`notifier when - | head`): stop quietly, as Unix tools do.
        sys.stderr.close()
        return 141
    except Exception as error:  # the last line of defence: one line, not a traceback
        if args.debug:
            raise
        print(
            f"notifier: unexpected error: {type(error).__name__}: {error}\n"
            "Run again with --debug for the traceback.",
            file=sys.stderr,
        )
        return EXIT_PROBLEMS


if __name__ == "__main__":
    sys.exit(main())
