"""Command line: parse arguments, run one subcommand, map every error to a message and exit code.

This is the only module that prints for the user or chooses an exit code.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn, TextIO

from notifier.commands.base import EXIT_PROBLEMS, EXIT_USAGE, Context
from notifier.config import ENV_CONFIG, config_path
from notifier.errors import ConfigError, DeliveryError, UserError

# Every subcommand: the module of notifier.commands that defines it and the function there that
# adds its parser. A run imports only the module of its own command (each pulls in libraries
# of its own: the web server, the scheduler, iCalendar, the document readers); the full list
# is built for the help and for a command line the short look cannot place.
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("plans", "add_validate"),
    "when": ("plans", "add_when"),
    "import": ("plans", "add_import"),
    "serve": ("feeds", "add_serve"),
    "feed": ("feeds", "add_feed"),
    "feeds": ("feeds", "add_feeds"),
    "send-test": ("mailing", "add_send_test"),
    "schedule": ("reminders", "add_schedule"),
    "simulate": ("reminders", "add_simulate"),
    "run": ("service", "add_run"),
    "status": ("service", "add_status"),
    "milestones": ("milestones", "add_milestones"),
    "done": ("milestones", "add_done"),
    "reopen": ("milestones", "add_reopen"),
    "report": ("milestones", "add_report"),
    "overview-url": ("overview", "add_overview_url"),
    "ledger": ("ledger", "add_ledger"),
}


def _adder(name: str) -> Callable[[argparse._SubParsersAction], None]:
    module, function = COMMANDS[name]
    adder: Callable[[argparse._SubParsersAction], None] = getattr(
        importlib.import_module(f"notifier.commands.{module}"), function
    )
    return adder


class _Refused(Exception):
    """The short look at the command line could not make sense of it."""


class _GlobalOptions(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _Refused(message)


def command_named(argv: Sequence[str]) -> str | None:
    """The subcommand ``argv`` runs, read past the global options; None when that takes the
    full parser (help, a mistake, no command)."""
    options = _GlobalOptions(add_help=False)
    options.add_argument("--config")
    options.add_argument("--debug", action="store_true")
    try:
        _, rest = options.parse_known_args(list(argv))
    except _Refused:
        return None
    return rest[0] if rest and rest[0] in COMMANDS else None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser; with ``only``, knowing that one subcommand alone."""
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
    for name in COMMANDS:
        if only is None or name == only:
            _adder(name)(sub)
    return parser


def _now() -> datetime:
    return datetime.now(UTC)


def main(
    argv: Sequence[str] | None = None,
    stdout: TextIO | None = None,
    stdin: TextIO | None = None,
    clock: Callable[[], datetime] = _now,
) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(command_named(words))
    try:
        args = parser.parse_args(words)
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


def command_line() -> int:
    """The ``notifier`` command and ``python -m notifier``: ``main``, then a quick exit."""
    code = main()
    _spare_the_final_collection()
    return code


def _spare_the_final_collection() -> None:
    """At exit the interpreter walks every object the process holds (pydantic's models,
    Jinja's templates, the plan) for reference cycles to free, a moment before the process
    ends and the system takes all its memory back anyway: for ``notifier validate`` that was
    a fifth of its run. What a command writes is written with ``with`` and is closed by now,
    and exit handlers (logging's flush) still run, so the objects are frozen out of the
    collector's reach instead; the standard streams are flushed first all the same."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    gc.freeze()
