"""Personal signed links: one milestone, one recipient, answered without a login.

A token carries the milestone key, the recipient's address and organisation and the last day
it is good for, signed with HMAC (itsdangerous). It holds no timestamp of its making, so the
same inputs give the same token: a message resent after a crash carries the same link and the
same bytes. Expiry is checked against the ``today`` the caller passes in.

The secret is the systemd credential ``link-secret`` when ``$CREDENTIALS_DIRECTORY`` holds one,
else ``link-secret`` beside the ledger, made (mode 0600) when the settings are loaded and
the ledger's folder exists (the daemon loads them again once it has made it). It travels in
the settings (never in config.toml), so composing stays pure.
"""

from __future__ import annotations

import dataclasses
import hmac
import ipaddress
import logging
import os
import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from itsdangerous import BadData, URLSafeSerializer
from pydantic import SecretStr

from notifier.errors import UserError
from notifier.model import PlannedMilestone, Recipient
from notifier.records import StatusEntry

if TYPE_CHECKING:
    # config.py reads the secret through this module when it loads the settings.
    from notifier.settings import Settings

logger = logging.getLogger(__name__)

S = TypeVar("S", bound=Any)
SECRET_NAME = "link-secret"
# Separates these signatures from any other use of the same secret.
SALT = "notifier.status-link"
ROUTE = "/status/"
# The coordinator's one-button page that accepts a proposed new date.
ACCEPT_SALT = "notifier.accept-link"
ACCEPT_ROUTE = "/accept/"
MIN_SECRET = 16


@dataclass(frozen=True)
class Claim:
    """What a valid token says: who may answer about which milestone, until when."""

    milestone_key: str
    address: str
    organisation: str
    expires: date


@dataclass(frozen=True)
class Proposal:
    """What a valid accept token says: which proposal (the status entry's ``seq``) of which
    milestone, for which date, until when."""

    milestone_key: str
    seq: int
    proposed_due: date
    expires: date


class LinkSigner:
    def __init__(self, secret: bytes) -> None:
        self._serializer = URLSafeSerializer(secret, salt=SALT)
        self._accepting = URLSafeSerializer(secret, salt=ACCEPT_SALT)

    def accept_token(self, milestone_key: str, seq: int, proposed: date, expires: date) -> str:
        payload = [milestone_key, str(seq), proposed.isoformat(), expires.isoformat()]
        return str(self._accepting.dumps(payload))

    def read_accept(self, token: str, today: date) -> Proposal | None:
        """The proposal of a genuine accept token still valid on ``today``; None otherwise."""
        payload = _genuine(self._accepting, token)
        if payload is None:
            return None
        key, seq, proposed, expires = payload
        try:
            proposal = Proposal(
                key, int(seq), date.fromisoformat(proposed), date.fromisoformat(expires)
            )
        except ValueError:
            return None
        return None if today > proposal.expires else proposal

    def token(self, milestone_key: str, recipient: Recipient, expires: date) -> str:
        payload = [milestone_key, recipient.address, recipient.organisation, expires.isoformat()]
        return str(self._serializer.dumps(payload))

    def read(self, token: str, today: date) -> Claim | None:
        """The claim of a genuine token still valid on ``today``; None for anything else."""
        payload = _genuine(self._serializer, token)
        if payload is None:
            return None
        key, address, organisation, expires_text = payload
        try:
            expires = date.fromisoformat(expires_text)
        except ValueError:
            return None
        if today > expires:
            return None
        return Claim(key, address, organisation, expires)


def _genuine(serializer: URLSafeSerializer, token: str) -> list[str] | None:
    """The four strings a token of ``serializer`` signs, if it is one of its own making.

    Signatures and the token's spelling are compared in constant time.
    """
    try:
        payload = serializer.loads(token)
    except BadData:
        return None
    if not (
        isinstance(payload, list)
        and len(payload) == 4
        and all(isinstance(part, str) for part in payload)
    ):
        return None
    # Base64 lets a last character differ in bits it does not use; only the one spelling
    # this signer makes is the link, so an altered character is always a wrong link.
    if not hmac.compare_digest(str(serializer.dumps(payload)), token):
        return None
    return payload


def secret_path(settings: Settings) -> Path:
    return settings.ledger.path.parent / SECRET_NAME


def _credential() -> Path | None:
    folder = os.environ.get("CREDENTIALS_DIRECTORY")
    if not folder:
        return None
    path = Path(folder) / SECRET_NAME
    return path if path.exists() else None


def _read_secret(path: Path, origin: str) -> bytes:
    try:
        secret = path.read_bytes().strip()
    except OSError as error:
        raise UserError(
            [f"{origin}: cannot read the link secret: {error.strerror}"],
            hint="Make the file readable by the service user, or remove it to have a new one made.",
        ) from None
    if len(secret) < MIN_SECRET:
        raise UserError(
            [f"{origin}: the link secret is shorter than {MIN_SECRET} bytes"],
            hint="Put at least 32 random characters in it (e.g. from `openssl rand -hex 32`).",
        )
    return secret


def _made_secret(path: Path) -> bytes:
    """A new random secret at ``path``, readable by the owner only; another process's if it
    made one first."""
    secret = secrets.token_urlsafe(48).encode("ascii")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_secret(path, str(path))
    with os.fdopen(fd, "wb") as file:
        file.write(secret + b"\n")
        file.flush()
        os.fsync(file.fileno())
    logger.info("made a new link secret at %s", path)
    return secret


def with_secret(settings: Settings) -> Settings:
    """``settings`` with the link secret, read (or made) where the docstring above says.

    A credential that is named but unreadable is an error; a state folder where no secret can
    be made only leaves the links out (logged), as nothing else depends on it.
    """
    credential = _credential()
    if credential is not None:
        secret = _read_secret(credential, f"$CREDENTIALS_DIRECTORY/{SECRET_NAME}")
    else:
        path = secret_path(settings)
        if not path.parent.is_dir():
            # Made once the ledger's folder is: a command that only reads makes nothing.
            return settings
        try:
            secret = _read_secret(path, str(path)) if path.exists() else _made_secret(path)
        except OSError as error:
            logger.warning("no link secret at %s (%s): mail goes without status links", path, error)
            return settings
    links = settings.links.model_copy(update={"secret": SecretStr(secret.decode("latin-1"))})
    return settings.model_copy(update={"links": links})


def state_with_secret(state: S) -> S:
    """``state`` (a dataclass with ``settings``) with the secret, once the ledger's folder is
    made: so a first start's mail carries links too."""
    return dataclasses.replace(state, settings=with_secret(state.settings))


def signer_for(settings: Settings) -> LinkSigner | None:
    """The installation's signer; None when the settings carry no secret (made by hand, in
    tests and template checks, or a state folder where none could be made)."""
    secret = settings.links.secret
    return None if secret is None else LinkSigner(secret.get_secret_value().encode("latin-1"))


def link_problem(settings: Settings) -> str | None:
    """Why links in real mail would not work for the people who get them, if they would not."""
    if not settings.smtp.host:
        return None  # the outbox: the coordinator tries the links on this machine
    base = settings.feeds.base_url
    parts = urlsplit(base)
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parts.scheme != "https" or loopback:
        return (
            f"'{base}' cannot be opened by the people the mail goes to, so reminders and due "
            "notices are sent without their personal status link"
        )
    return None


LINK_HINT = (
    "Set feeds.base_url to the public https address behind the proxy "
    "(e.g. https://notifier.example.se)."
)


def expiry(planned: PlannedMilestone, settings: Settings) -> date:
    return planned.milestone.due + timedelta(days=settings.links.expiry_days)


def status_url(planned: PlannedMilestone, recipient: Recipient, settings: Settings) -> str:
    """The recipient's personal link to the milestone's status page; empty when no link would
    work (see ``link_problem``) or the secret cannot be had (logged)."""
    signer = signer_for(settings)
    if signer is None or link_problem(settings):
        return ""
    token = signer.token(planned.key, recipient, expiry(planned, settings))
    return f"{settings.feeds.base_url.rstrip('/')}{ROUTE}{token}"


def accept_url(planned: PlannedMilestone, proposal: StatusEntry, settings: Settings) -> str:
    """The coordinator's link to accept ``proposal`` (a recorded needs-new-date entry) with
    one button; empty when no link would work. It expires as the status links do, counted
    from the date proposed."""
    signer = signer_for(settings)
    if signer is None or link_problem(settings) or proposal.proposed_due is None:
        return ""
    expires = proposal.proposed_due + timedelta(days=settings.links.expiry_days)
    token = signer.accept_token(planned.key, proposal.seq, proposal.proposed_due, expires)
    return f"{settings.feeds.base_url.rstrip('/')}{ACCEPT_ROUTE}{token}"


def secret_fingerprint(settings: Settings) -> str:
    """A value that tells two link secrets apart without revealing either: nodes sharing one
    ledger compare it (``ledger_pg.PostgresLedger.agree``); 'none' without a secret."""
    secret = settings.links.secret
    if secret is None:
        return "none"
    digest = hmac.new(secret.get_secret_value().encode("latin-1"), b"notifier node", "sha256")
    return digest.hexdigest()[:32]
