"""Coordinator commands about the plan itself: validate, when, import."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import tomli as tomllib

from notifier.catalog import load_catalog
from notifier.commands.base import EXIT_OK, EXIT_PROBLEMS, Context
from notifier.compose import Composer
from notifier.errors import UserError
from notifier.files import atomic_write
from notifier.links import LINK_HINT, link_problem
from notifier.model import Location, Problem
from notifier.plan import dump_plan, is_valid_id
from notifier.report import catalog_json, catalog_text, reading_json, reading_text
from notifier.when import explain, read_when


def _year(text: str) -> int:
    try:
        year = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a year, e.g. 2024") from None
    if not 1900 <= year <= 2200:
        raise argparse.ArgumentTypeError(f"{year} is not a plan year (1900-2200)")
    return year


def _plan_id(text: str) -> str:
    if not is_valid_id(text):
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a valid id: use lower-case letters a-z, digits and '-', "
            "e.g. 'gotland-2025'"
        )
    return text


def add_validate(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "validate",
        help="check config, plans and directory; show how every 'När?' was read",
        description="Load the configuration and every plan; print each action's 'När?' as read "
        "and its organisations; list every problem, and note each plan whose milestones all lie "
        "in the past. Exit 0 when clean (notes included), 1 with problems.",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=validate)


def validate(args: argparse.Namespace, context: Context) -> int:
    settings = context.settings()
    catalog = load_catalog(settings.plans.dir)
    problems = catalog.problems
    try:
        Composer.load(settings.templates.dir)
    except UserError as error:
        problems.extend(
            Problem(Location(settings.templates.dir), "templates", line, kind="template")
            for line in error.problems
        )
    link = link_problem(settings)
    if link:
        where = Location(settings.source or Path("config.toml"))
        problems.append(Problem(where, "feeds.base_url", link, hint=LINK_HINT, kind="config"))
    now = context.clock()
    if args.json:
        json.dump(catalog_json(catalog, now), context.stdout, ensure_ascii=False, indent=2)
        context.stdout.write("\n")
    else:
        context.stdout.write(catalog_text(catalog, now) + "\n")
    return EXIT_PROBLEMS if problems else EXIT_OK


def add_when(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "when",
        help="show how one 'När?' text is read",
        description="Read one 'När?' text into milestones. With TEXT '-', read one text per "
        "line from standard input and print one JSON object per line.",
    )
    parser.add_argument("text", help="the text, e.g. 'Klart juni 2024', or - for stdin")
    parser.add_argument(
        "--year", type=_year, help="year for texts that name none (default: this year)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument(
        "--explain", action="store_true", help="say which words made each part of a milestone"
    )
    parser.set_defaults(handler=when)


def when(args: argparse.Namespace, context: Context) -> int:
    year = args.year if args.year is not None else context.clock().year
    if args.text == "-":
        status = EXIT_OK
        for line in context.stdin:
            reading = read_when(line.rstrip("\r\n"), year)
            status = status if reading.readable else EXIT_PROBLEMS
            context.stdout.write(json.dumps(reading_json(reading), ensure_ascii=False) + "\n")
        return status
    reading = read_when(args.text, year)
    if args.explain and reading.readable:
        context.stdout.write(reading_text(reading) + "\n" + _explanation(args.text, year) + "\n")
        return EXIT_OK
    if args.json:
        context.stdout.write(json.dumps(reading_json(reading), ensure_ascii=False) + "\n")
    else:
        context.stdout.write(reading_text(reading) + "\n")
    return EXIT_OK if reading.readable else EXIT_PROBLEMS


def _explanation(text: str, year: int) -> str:
    explained = explain(text, year)
    if isinstance(explained, str):
        return explained
    lines = []
    for number, part in enumerate(explained, 1):
        milestone = part.milestone
        lines.append(f"milestone {number} ({milestone.label or 'no label'}, due {milestone.due}):")
        lines.append(f"  time: '{part.time}' at character {part.time_at}")
        if part.deadline:
            lines.append(f"  deadline: {part.deadline}")
        if part.starts:
            lines.append("  due on the window's first day: a start word")
        if part.tentative_by:
            lines.append(f"  tentative: by {part.tentative_by}")
    return "\n".join(lines)


def add_import(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "import",
        help="turn a plan document (Word, PDF, Excel or pasted text) into a plan file",
        description="Read a plan document - .docx, .pdf with text, .xlsx, or tables pasted as "
        "tab-separated text, told by content - with its title, 'daterad YYYY-MM-DD', headings "
        "and tables with Orsak/Mål/Åtgärd/Vem?/När? (or Insats/Ansvarig/Tidplan and the like), "
        "and write the TOML plan file. With --into, revise an existing plan file instead: "
        "every action keeps its id, and what changed is shown.",
    )
    parser.add_argument("file", type=Path, help="the plan document")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("-o", "--output", type=Path, help="plan file to write (default: stdout)")
    target.add_argument(
        "--into",
        type=Path,
        metavar="PLAN",
        help="an existing plan file to revise: actions keep their ids, explicit milestones "
        "and added keys; prints what changed, then writes PLAN",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="with --into: print what would change, write nothing"
    )
    parser.add_argument("--id", type=_plan_id, help="plan id (default: from the title)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")
    parser.set_defaults(handler=import_command)


def import_command(args: argparse.Namespace, context: Context) -> int:
    if args.into is not None:
        return _revise(args, context)
    if args.dry_run:
        raise UserError(
            ["--dry-run shows what a revision changes: it needs --into PLAN"],
            hint="e.g. notifier import ny-plan.docx --into plan/gotland-2024.toml --dry-run",
        )
    from notifier.importer import import_file

    data = import_file(args.file, plan_id=args.id)
    text = dump_plan(data)
    if args.output is None:
        context.stdout.write(text)
        return EXIT_OK
    if args.output.exists() and not args.force:
        raise UserError(
            [f"{args.output}: exists already"],
            hint="Choose another name, add --into to revise it keeping its ids, or --force to "
            "replace it (its ids are then lost).",
        )
    atomic_write(args.output, text.encode("utf-8"))
    context.stdout.write(
        f"Wrote {args.output}: {len(data['action'])} actions. Check it with: notifier validate\n"
    )
    return EXIT_OK


def _revise(args: argparse.Namespace, context: Context) -> int:
    # Loaded here: every command pays for what the CLI imports at start.
    from notifier.revision import revise, summary, write_text

    try:
        old_text = args.into.read_text(encoding="utf-8")
        old = tomllib.loads(old_text)
    except OSError as error:
        raise UserError([f"{args.into}: cannot read: {error.strerror}"]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise UserError(
            [f"{args.into}: not a readable plan file: {error}"],
            hint="Fix it first (notifier validate names the line), then import again.",
        ) from None
    if args.id and old.get("id") not in (None, args.id):
        raise UserError(
            [f"{args.into}: its id is '{old['id']}'; --id {args.id} would change it"],
            hint="A revision keeps the plan's id; leave out --id, or import into a new file.",
        )
    from notifier.importer import import_file

    revision = revise(old, import_file(args.file, plan_id=args.id or old.get("id")))
    context.stdout.write("\n".join(summary(revision, str(args.file), str(args.into))) + "\n")
    if args.dry_run:
        context.stdout.write(f"Nothing written (--dry-run); without it {args.into} is rewritten.\n")
        return EXIT_OK
    text, dropped = write_text(revision, old_text)
    atomic_write(args.into, text.encode("utf-8"))
    note = f"; {dropped} end-of-line comments could not be kept" if dropped else ""
    context.stdout.write(f"Wrote {args.into}{note}. Check it with: notifier validate\n")
    return EXIT_OK
