"""The coordinator's overview page: ``overview-url`` prints its secret address."""

from __future__ import annotations

import argparse
import sys

from notifier.commands.base import EXIT_OK, Context
from notifier.errors import UserError
from notifier.links import SECRET_NAME, secret_path
from notifier.overview_access import overview_url


def add_overview_url(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "overview-url",
        help="print the address of the coordinator's overview page",
        description="Print the secret address of the overview page (every plan's milestones "
        "by organisation and month, with their status and history), on feeds.base_url. "
        "Anyone who has it can read the page: give it to the coordinator only. It is signed "
        "with the link secret and changes only when that does. Run it as the service user, "
        "who can read the secret.",
    )
    parser.set_defaults(handler=overview_url_command)


def overview_url_command(args: argparse.Namespace, context: Context) -> int:
    settings = context.settings()
    url = overview_url(settings)
    if url is None:
        # Made by the service at its first start; a file made here by another user could
        # leave the service unable to read it.
        raise UserError(
            [f"no link secret yet ({secret_path(settings)})"],
            hint=f"Start the service once (`notifier run`), which makes it, or give it the "
            f"systemd credential {SECRET_NAME}; then run this again.",
        )
    context.stdout.write(url + "\n")
    print(
        "Keep this address to the coordinator: it shows every plan's status without a login.",
        file=sys.stderr,
    )
    return EXIT_OK
