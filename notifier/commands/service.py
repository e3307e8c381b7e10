"""The operator's command: run the daemon."""

from __future__ import annotations

import argparse

from notifier.commands.base import Context
from notifier.daemon import Daemon


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
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, context: Context) -> int:
    return Daemon(context.config, watch_interval=args.watch_interval).run()
