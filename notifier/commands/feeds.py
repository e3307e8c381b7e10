"""Commands about the calendar feeds: serve, feed (one to a file), feeds (the URLs, tokens)."""

from __future__ import annotations

import argparse
from pathlib import Path

from notifier.catalog import Catalog, load_catalog
from notifier.commands.base import EXIT_OK, Context
from notifier.errors import UserError
from notifier.feed import WHOLE, Feed, FeedSpec, feed_path, feed_specs, refresh
from notifier.feedstate import PublishedFeeds, feed_state
from notifier.files import atomic_write
from notifier.runner import run_until_stopped
from notifier.server import FeedServer
from notifier.wsgi import build_app

# --- serve ----------------------------------------------------------------------------------


def add_serve(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "serve",
        help="serve the calendar feeds over HTTP (no reminders)",
        description="Build every feed and serve it on server.host:server.port until Ctrl-C or "
        "SIGTERM (exit 0). SIGHUP reloads the plans; a plan file that cannot be read keeps "
        "the feeds as they were. Also writes the feed files when feeds.dir is set.",
    )
    parser.set_defaults(handler=serve_command)


def serve_command(args: argparse.Namespace, context: Context) -> int:
    settings = context.settings()
    feeds = PublishedFeeds(settings, context.clock())
    server = FeedServer(build_app(feeds.store), settings.server.host, settings.server.port)

    def ready() -> str:
        count = len(feeds.store.feeds)
        context.stdout.write(
            f"Serving {count} feeds at {server.url}/calendar.ics "
            "(Ctrl-C stops, SIGHUP reloads the plans)\n"
        )
        context.stdout.flush()
        return f"serving {count} feeds"

    run_until_stopped(server, lambda: feeds.reload(context.clock()), on_ready=ready)
    return EXIT_OK


# --- feed -----------------------------------------------------------------------------------


def add_feed(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "feed",
        help="write one calendar feed (.ics) to a file",
        description="Build one feed: every plan (default), one plan (--plan) or one "
        "organisation (--org) and write it atomically to FILE, or to standard output with -o -.",
    )
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--plan", metavar="ID", help="one plan, by its id")
    choice.add_argument("--org", metavar="NAME", help="one organisation, by name, alias or slug")
    parser.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="file to write, or - for stdout"
    )
    parser.set_defaults(handler=feed_command)


def _feed_name(catalog: Catalog, plan: str | None, organisation: str | None) -> str:
    if plan is not None:
        if catalog.plan(plan) is None:
            known = ", ".join(p.id for p in catalog.plans) or "none"
            raise UserError([f"no plan with id '{plan}' (plans: {known})"])
        return plan
    if organisation is not None:
        found = catalog.directory.find(organisation)
        if found is None:
            suggestion = catalog.directory.suggestion(organisation)
            known = ", ".join(o.name for o in catalog.organisations)
            hint = f"Did you mean '{suggestion}'?" if suggestion else f"Organisations: {known}."
            raise UserError([f"no organisation called '{organisation}'"], hint=hint)
        return found.slug
    return WHOLE


def feed_command(args: argparse.Namespace, context: Context) -> int:
    settings = context.settings()
    catalog = load_catalog(settings.plans.dir)
    name = _feed_name(catalog, args.plan, args.org)
    history, _tokens = feed_state(settings)
    with history.updating() as saving:
        latest = saving.latest if saving.latest is not None else history.load()
        result = refresh(catalog, settings, latest, context.clock())
        feed = result.feeds.get(name)
        if feed is None:
            problems = [p for p in result.feeds.problems if f"'{name}'" in p]
            raise UserError(
                problems or [f"'{args.org or name}' answers for no milestone, so it has no feed"]
            )
        saving.save(result.history)
    _write(feed, args.output, context)
    return EXIT_OK


def _write(feed: Feed, output: str, context: Context) -> None:
    if output == "-":
        buffer = getattr(context.stdout, "buffer", None)
        if buffer is not None:
            # Bytes as built: CRLF line ends must reach the file untouched.
            context.stdout.flush()
            buffer.write(feed.body)
            buffer.flush()
        else:
            context.stdout.write(feed.body.decode("utf-8"))
        return
    atomic_write(Path(output), feed.body, mode=0o644)
    print(
        f"Wrote {output}: {feed.title} ({feed.body.count(b'BEGIN:VEVENT')} events)",
        file=context.stdout,
    )


# --- feeds ----------------------------------------------------------------------------------


def add_feeds(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "feeds",
        help="list every feed's subscription URL; rotate secret tokens",
        description="Print the URL of every feed (from feeds.base_url), with its secret token "
        "when feeds.tokens = true. --rotate gives one feed a new token (its old URL stops "
        "working at once, also on the running server); --rotate-all does so for every feed.",
    )
    rotation = parser.add_mutually_exclusive_group()
    rotation.add_argument(
        "--rotate", metavar="NAME", help="feed name, plan id or organisation name"
    )
    rotation.add_argument("--rotate-all", action="store_true", help="new tokens for every feed")
    parser.set_defaults(handler=feeds_command)


def _rotation_target(catalog: Catalog, specs: list[FeedSpec], wanted: str) -> str:
    names = {spec.name for spec in specs}
    if wanted in names:
        return wanted
    found = catalog.directory.find(wanted)
    if found is not None and found.slug in names:
        return found.slug
    raise UserError([f"no feed called '{wanted}'"], hint=f"Feeds: {', '.join(sorted(names))}.")


def feeds_command(args: argparse.Namespace, context: Context) -> int:
    settings = context.settings()
    catalog = load_catalog(settings.plans.dir)
    specs, problems = feed_specs(catalog, settings)
    rotated: set[str] = set()
    tokens: dict[str, str] | None = None
    if settings.feeds.tokens:
        token_file = feed_state(settings)[1]
        names = [spec.name for spec in specs]
        if args.rotate:
            rotated = {_rotation_target(catalog, specs, args.rotate)}
            token_file.rotate(rotated)
        elif args.rotate_all:
            rotated = set(names) | set(token_file.current())
            token_file.rotate(sorted(rotated))
        tokens = dict(token_file.ensure(names))
    elif args.rotate or args.rotate_all:
        raise UserError(
            ["feeds.tokens is false: the feeds have no tokens to rotate"],
            hint="Set tokens = true under [feeds] in config.toml to serve feeds under secret URLs.",
        )
    base = settings.feeds.base_url.rstrip("/")
    width = max(len(spec.name) for spec in specs)
    for spec in specs:
        token = tokens[spec.name] if tokens is not None else None
        mark = "  (new token)" if spec.name in rotated else ""
        line = f"{spec.name:<{width}}  {base}/{feed_path(spec.name, token)}{mark}"
        context.stdout.write(line + "\n")
    for problem in problems:
        context.stdout.write(f"Not published: {problem}\n")
    if not base.startswith("https://"):
        context.stdout.write(
            "\nNote: feeds.base_url is not https. Outlook on the web and Google Calendar fetch "
            "feeds from their own servers and need a public https address.\n"
        )
    if rotated:
        context.stdout.write(
            "The old URL of a rotated feed stops working now; hand out the new one.\n"
        )
    return EXIT_OK
