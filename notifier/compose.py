"""A kind's templates and context -> a finished ``EmailMessage``. Pure, given the templates.

Every kind of email is a triple of Jinja2 templates in the templates folder
(``<kind>.subject.txt``, ``<kind>.txt``, ``<kind>.html``), loaded and checked once by
``Composer.load`` (see ``templating``). Each kind (``notifier.kinds``) builds its context and
asks ``Composer.message`` for the message; everything every message shares is done here:
headers, the deterministic Message-ID, text and HTML parts, the calendar attachment. The same
inputs give the same bytes, so a resend after a crash is recognisable as the same message.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import jinja2

from notifier.kinds import KINDS
from notifier.kinds.base import Kind
from notifier.kinds.views import attachment_name
from notifier.model import PlannedMilestone, Recipient
from notifier.schedule import zone
from notifier.settings import Settings
from notifier.swedish import header_text, shorten
from notifier.templating import loaded_environment

_SUBJECT_MAX = 150

CalendarFunction = Callable[[PlannedMilestone, Settings], bytes]


# --- Identity -----------------------------------------------------------------------------


def message_id(key: str, address: str, settings: Settings) -> str:
    """'<hash@domain of the From address>', the same for the same message to the same person."""
    digest = hashlib.sha256(f"{key}\n{address.strip().casefold()}".encode()).hexdigest()[:32]
    return f"<{digest}@{_domain(settings.mail.from_address)}>"


def recipient_identity(recipient: Recipient) -> str:
    """What tells two recipients of one message apart.

    The coordinator may stand in for several organisations without address on the same
    milestone; each of those messages says a different thing, so each needs its own id.
    """
    if recipient.via_coordinator:
        return f"{recipient.address}#{recipient.organisation}"
    return recipient.address


def _domain(address: str) -> str:
    domain = address.rpartition("@")[2].strip().lower()
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return "notifier.invalid"
    return domain if re.fullmatch(r"[a-z0-9.-]+\.[a-z0-9-]+", domain) else "notifier.invalid"


# --- The calendar attachment --------------------------------------------------------------


def _calendar_attachment(planned: PlannedMilestone, settings: Settings) -> bytes:
    """The milestone as a one-event calendar, with the same UID as in the feed."""
    # Imported here: the feed module pulls in the plan catalog, and composing must stay
    # importable (templates checkable) without it.
    from notifier.feed import milestone_calendar

    return milestone_calendar(planned, settings, None)


# --- Composer -----------------------------------------------------------------------------


class Composer:
    """Renders the template triples into messages; built once by ``load``."""

    def __init__(
        self,
        environment: jinja2.Environment,
        folder: Path,
        calendar: CalendarFunction = _calendar_attachment,
    ) -> None:
        self._environment = environment
        self.folder = folder
        self._calendar = calendar
        # The attachment of the milestone last composed: every recipient of one reminder
        # gets the same one, and building it is the costliest step after the MIME tree.
        self._last_calendar: tuple[PlannedMilestone, Settings, bytes] | None = None

    @classmethod
    def load(
        cls,
        folder: Path,
        calendar: CalendarFunction | None = None,
        kinds: Sequence[Kind[Any]] = KINDS,
    ) -> Composer:
        """Read and sample-render the templates of every kind; raise UserError naming each
        faulty file."""
        folder = Path(folder)
        return cls(loaded_environment(folder, kinds), folder, calendar or _calendar_attachment)

    def _calendar_bytes(self, planned: PlannedMilestone, settings: Settings) -> bytes:
        last = self._last_calendar
        if last is not None and last[0] is planned and last[1] is settings:
            return last[2]
        data = self._calendar(planned, settings)
        self._last_calendar = (planned, settings, data)
        return data

    def _render(self, name: str, context: Mapping[str, Any]) -> str:
        return self._environment.get_template(name).render(context)

    def message(
        self,
        kind: str,
        context: Mapping[str, Any],
        recipient: Recipient,
        *,
        key: str,
        now: datetime,
        settings: Settings,
        calendar: PlannedMilestone | None = None,
    ) -> EmailMessage:
        """The templates of ``kind`` rendered with ``context``, to ``recipient``; ``key`` is
        the message's identity, ``calendar`` the milestone to attach as an event."""
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("now must be timezone-aware: the Date header needs an offset")
        # Imported here: checking templates (notifier validate) renders them but builds no
        # message, and the email header machinery is a tenth of that command's own imports.
        from notifier import mimepolicy

        message = EmailMessage(policy=mimepolicy.BUILD)
        message["Subject"] = shorten(self._render(f"{kind}.subject.txt", context), _SUBJECT_MAX)
        message["From"] = _mailbox(settings.mail.from_name, settings.mail.from_address)
        message["To"] = _to_address(recipient, settings)
        message["Reply-To"] = _reply_to(settings)
        # Local time whatever zone the caller's clock gives: readers compare it with the
        # dates in the text, and every message of one kind should look the same.
        message["Date"] = format_datetime(now.astimezone(zone(settings)))
        message["Message-ID"] = message_id(key, recipient_identity(recipient), settings)
        # RFC 3834: an automatic message; no auto-replies, no out-of-office loops.
        message["Auto-Submitted"] = "auto-generated"
        # Outlook and Exchange honour only this one for out-of-office and read receipts.
        message["X-Auto-Response-Suppress"] = "All"
        # Quoted-printable keeps every part 7-bit, so no relay needs 8BITMIME.
        message.set_content(
            self._render(f"{kind}.txt", context), charset="utf-8", cte="quoted-printable"
        )
        message.add_alternative(
            self._render(f"{kind}.html", context),
            subtype="html",
            charset="utf-8",
            cte="quoted-printable",
        )
        if calendar is not None:
            message.add_attachment(
                self._calendar_bytes(calendar, settings),
                maintype="text",
                subtype="calendar",
                filename=attachment_name(calendar),
                params={"method": "PUBLISH", "charset": "UTF-8"},
            )
        # Last: set_content and add_attachment move or drop Content-* headers set earlier.
        message["Content-Language"] = "sv"
        _fix_boundaries(message)
        return message


def _fix_boundaries(message: EmailMessage) -> None:
    """Boundaries derived from the content instead of random ones: the same message gives
    the same bytes, so an outbox file or a resend after a crash is identical to the first."""
    parts = [part for part in message.walk() if part.is_multipart()]
    # Every leaf is quoted-printable or base64, where '=_' cannot occur: the boundary is safe
    # whatever the hash; hashing the encoded payloads only makes it repeatable.
    leaves = "".join(str(p.get_payload()) for p in message.walk() if not p.is_multipart())
    seed = hashlib.sha256(f"{message['Message-ID']}\n{leaves}".encode()).hexdigest()[:24]
    for number, part in enumerate(parts):
        part.set_boundary(f"=_notifier_{seed}_{number}")


def _to_address(recipient: Recipient, settings: Settings) -> str:
    address = recipient.address.strip()
    if recipient.via_coordinator or address == settings.coordinator.email:
        name = settings.coordinator.name
    else:
        name = recipient.organisation
    return _mailbox(name, address)


def _reply_to(settings: Settings) -> str:
    if settings.mail.reply_to:
        return _mailbox("", settings.mail.reply_to)
    return _mailbox(settings.coordinator.name, settings.coordinator.email)


@functools.lru_cache(maxsize=1024)
def _mailbox(name: str, address: str) -> str:
    """'"Name" <address>' as text: ``Address`` checks and quotes it once per pair, and as
    text the header is parsed and folded once per value (``mimepolicy``)."""
    from email.headerregistry import Address  # with mimepolicy: only messages need it

    return str(Address(header_text(name), addr_spec=address))
