"""What every node sharing one ledger database must hold the same, checked at start."""

from __future__ import annotations

from pathlib import Path

from notifier.errors import UserError
from notifier.files import make_folder
from notifier.ledger import Ledger
from notifier.links import SECRET_NAME, secret_fingerprint, secret_path
from notifier.settings import Settings


def same_secret_as_every_node(ledger: Ledger, settings: Settings) -> None:
    """A status link one node mails must open on every node behind the same address."""
    mine = secret_fingerprint(settings)
    agreed = ledger.agree("link-secret", mine)
    if agreed != mine:
        raise UserError(
            [
                f"this node's link secret ({secret_path(settings)} or the credential "
                f"{SECRET_NAME}) differs from the one the other nodes of ledger.url use"
            ],
            hint=f"Give every node the same secret: the systemd credential {SECRET_NAME} "
            "with the same content on each (deploy/README.md, 'Two nodes').",
        )


def make_state_folder(folder: Path) -> None:
    """The folder of ``ledger.path``, which with a shared ledger holds this node's own state
    (link secret, the marker naming the database it sent from, the outbox)."""
    try:
        make_folder(folder)
    except OSError as error:
        raise UserError(
            [f"{folder}: cannot create this node's state folder: {error.strerror or error}"],
            hint="Set ledger.path to a file in a folder the service may write to "
            "(StateDirectory= in the systemd unit).",
        ) from None
