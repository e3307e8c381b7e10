"""Delivery of finished messages: SMTP, or .eml files in an outbox folder.

The only module that imports ``smtplib``. Both transports take the same ``EmailMessage``
and send the same bytes (``message_bytes``), and both answer with one ``SendResult`` per
recipient instead of raising: a delivery failure is data for the ledger, which retries
what is temporary and reports what is permanent.
"""

from __future__ import annotations

import logging
import re
import smtplib
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Protocol

from notifier import mimepolicy
from notifier.checks import UNENCRYPTED_HINT, unencrypted_smtp_problems
from notifier.errors import ConfigError
from notifier.files import atomic_write
from notifier.settings import Settings, SmtpSettings

logger = logging.getLogger(__name__)

_ACCEPTED = (250, 251)
# Errors after which the connection is in an unknown state and must not be reused.
_BROKEN = (smtplib.SMTPServerDisconnected, OSError)
# What a server that silently dropped an idle connection looks like on the next command.
_DROPPED = (smtplib.SMTPServerDisconnected, ConnectionResetError, BrokenPipeError)


@dataclass(frozen=True)
class SendResult:
    """The outcome for one recipient; ``permanent`` says a retry cannot help.

    ``login_refused``: the server refused the account (535, 534, 530, no AUTH), so every
    other message would fail the same way until someone fixes the credentials.
    """

    address: str
    ok: bool
    permanent: bool
    code: int | None
    error: str | None
    login_refused: bool = False


class Mailer(Protocol):
    def send(self, message: EmailMessage, recipients: Sequence[str]) -> list[SendResult]: ...

    def close(self) -> None: ...


def message_bytes(message: EmailMessage) -> bytes:
    """The wire form: CRLF line ends, headers folded and RFC 2047-encoded."""
    return message.as_bytes(policy=mimepolicy.SMTP)


def mailer_for(settings: Settings) -> Mailer:
    """SMTP when a host is configured, else the outbox folder (the default on a fresh machine)."""
    if settings.smtp.host.strip():
        return SmtpMailer(settings.smtp, settings.mail.from_address)
    return OutboxMailer(settings.mail.outbox)


def describe(mailer: Mailer) -> str:
    """Where a mailer delivers, for logs and the command line."""
    if isinstance(mailer, SmtpMailer):
        return mailer.target
    if isinstance(mailer, OutboxMailer):
        return f"outbox {mailer.folder}"
    return type(mailer).__name__


# --- Outbox -------------------------------------------------------------------------------


class OutboxMailer:
    """Writes each message as ``<outbox>/<UTC time>-<message id>.eml``, atomically.

    A resend of the same message overwrites its own file, so retries leave no duplicates.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def path_for(self, message: EmailMessage) -> Path:
        return self.folder / f"{_timestamp(message)}-{_safe(message.get('Message-ID', ''))}.eml"

    def send(self, message: EmailMessage, recipients: Sequence[str]) -> list[SendResult]:
        if not recipients:
            return []
        path = self.path_for(message)
        try:
            # Not world-readable: the files hold people's addresses.
            atomic_write(path, message_bytes(message), mode=0o600)
        except OSError as error:
            text = f"cannot write {path}: {error.strerror or error}"
            return [SendResult(address, False, False, None, text) for address in recipients]
        logger.debug("wrote %s for %s", path, ", ".join(recipients))
        return [SendResult(address, True, False, None, None) for address in recipients]

    def close(self) -> None:
        """Nothing to release; here to satisfy the Mailer protocol."""


def _timestamp(message: EmailMessage) -> str:
    """From the Date header, so a simulated run names its files by when they would be sent."""
    try:
        when = parsedate_to_datetime(str(message["Date"]))
    except (TypeError, ValueError):
        when = None
    if when is None or when.tzinfo is None:
        when = datetime.now(UTC)
    return when.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _safe(message_id: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", message_id.strip().strip("<>")).strip("._")
    return stem[:100] or "message"


# --- SMTP ---------------------------------------------------------------------------------


class SmtpMailer:
    """One SMTP connection, opened on the first send and reused until ``close``.

    TLS is always verified against the system CAs, plus ``smtp.ca_file`` for a private CA.
    """

    def __init__(self, smtp: SmtpSettings, sender: str) -> None:
        self._smtp = smtp
        self._sender = sender
        self._context = tls_context(smtp)
        self._connection: smtplib.SMTP | None = None
        self.connections_opened = 0

    @property
    def target(self) -> str:
        security = {"starttls": "STARTTLS", "tls": "implicit TLS", "none": "no TLS"}
        return f"{self._smtp.host}:{self._smtp.port} ({security[self._smtp.security]})"

    def __enter__(self) -> SmtpMailer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, message: EmailMessage, recipients: Sequence[str]) -> list[SendResult]:
        recipients = list(recipients)
        if not recipients:
            return []
        data = message_bytes(message)
        for attempt in (1, 2):
            reused = self._connection is not None
            try:
                connection = self._connection or self._open()
            except (smtplib.SMTPException, OSError) as error:
                return self._failed(recipients, error)
            try:
                return self._transaction(connection, data, recipients)
            except _DROPPED as error:
                self._drop()
                # A server may close an idle connection between batches; one fresh try.
                if reused and attempt == 1:
                    logger.debug("%s dropped the connection; reconnecting", self.target)
                    continue
                return self._failed(recipients, error)
            except smtplib.SMTPResponseException as error:
                self._reset()
                return self._failed(recipients, error)
            except _BROKEN as error:
                self._drop()
                return self._failed(recipients, error)
        raise AssertionError("unreachable: the second attempt always returns")

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.quit()
        except (smtplib.SMTPException, OSError):
            connection.close()

    # -- connection --

    def _open(self) -> smtplib.SMTP:
        smtp = self._smtp
        # The configuration refuses these settings already; this keeps any other way of
        # building them (a test, a future command) from sending a password in clear text.
        secret = "the settings" if smtp.password is not None else None
        unsafe = unencrypted_smtp_problems(smtp.host, smtp.security, smtp.username, secret)
        if unsafe:
            raise _Unencrypted("; ".join(unsafe))
        # The host goes to the constructor: smtplib checks the certificate against the host
        # given there, and connect() alone would leave it empty.
        connection: smtplib.SMTP
        if smtp.security == "tls":
            connection = smtplib.SMTP_SSL(
                smtp.host, smtp.port, timeout=smtp.timeout, context=self._context
            )
        else:
            connection = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
        try:
            connection.ehlo()
            if smtp.security == "starttls":
                if not connection.has_extn("starttls"):
                    raise _Misconfigured("the server does not offer STARTTLS")
                connection.starttls(context=self._context)
                connection.ehlo()
            if smtp.username:
                if not isinstance(connection.sock, ssl.SSLSocket):
                    raise _Unencrypted("refusing to log in over a connection without TLS")
                password = smtp.password.get_secret_value() if smtp.password else ""
                try:
                    connection.login(smtp.username, password)
                except smtplib.SMTPNotSupportedError as error:
                    raise _NoAuth(
                        f"the server offers no login (AUTH: {error}); remove smtp.username "
                        "if it needs none"
                    ) from None
                except UnicodeEncodeError:
                    # smtplib sends the credentials as ASCII only.
                    raise _NoAuth(
                        "smtp.username or the password holds a character outside ASCII "
                        "(å, ä, ö …), which an SMTP login cannot carry"
                    ) from None
        except BaseException:
            connection.close()
            raise
        self.connections_opened += 1
        self._connection = connection
        logger.debug("connected to %s", self.target)
        return connection

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def _reset(self) -> None:
        """RSET after a refused transaction, so the connection stays usable for the next one."""
        if self._connection is None:
            return
        try:
            self._connection.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    # -- one message --

    def _transaction(
        self, connection: smtplib.SMTP, data: bytes, recipients: list[str]
    ) -> list[SendResult]:
        # MAIL, RCPT and DATA one by one rather than sendmail(): sendmail() forgets which
        # recipients were refused when DATA then fails, and we owe a result per recipient.
        code, reply = connection.mail(self._sender)
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, reply, self._sender)
        results: dict[str, SendResult] = {}
        for address in recipients:
            envelope = _ascii_address(address)
            if envelope is None:
                results[address] = SendResult(
                    address, False, True, None, "address is not ASCII and cannot be sent here"
                )
                continue
            code, reply = connection.rcpt(envelope)
            if code not in _ACCEPTED:
                results[address] = _refused(address, code, reply)
        accepted = [address for address in recipients if address not in results]
        if accepted:
            try:
                code, reply = connection.data(data)
            except smtplib.SMTPDataError as error:  # DATA itself refused, before the content
                code, reply = error.smtp_code, error.smtp_error
            for address in accepted:
                results[address] = (
                    SendResult(address, True, False, code, None)
                    if code == 250
                    else _refused(address, code, reply, stage="message")
                )
            if code != 250:
                self._reset()
        else:
            self._reset()
        return [results[address] for address in recipients]

    def _failed(self, recipients: list[str], error: BaseException) -> list[SendResult]:
        permanent, code, text = classify(error, self._smtp)
        refused = login_refused(error)
        logger.debug("sending via %s failed: %s", self.target, text)
        return [
            SendResult(address, False, permanent, code, text, refused) for address in recipients
        ]


class _Misconfigured(smtplib.SMTPException):
    """The server does not offer what the configuration asks for."""


class _Unencrypted(smtplib.SMTPException):
    """The settings would send mail or a login over the network without TLS."""


class _NoAuth(smtplib.SMTPException):
    """The login cannot be made: the server offers no AUTH, or the credentials are not ASCII."""


LOGIN_HINT = "check smtp.username and the SMTP password credential"


def login_refused(error: BaseException) -> bool:
    """Whether the server refused the account rather than one message: a 5xx answer to AUTH,
    530 (authentication required) to any command, or no AUTH at all. A 4xx answer to AUTH
    (454, a temporary failure at the server) is retried like any other."""
    if isinstance(error, _NoAuth):
        return True
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return error.smtp_code >= 500
    return isinstance(error, smtplib.SMTPResponseException) and error.smtp_code == 530


def tls_context(smtp: SmtpSettings) -> ssl.SSLContext:
    """Certificate and host name verification on, as ssl.create_default_context sets it."""
    context = ssl.create_default_context()
    if smtp.ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(smtp.ca_file))
        except (OSError, ssl.SSLError) as error:
            reason = getattr(error, "strerror", None) or str(error)
            raise ConfigError(
                [f"smtp.ca_file: cannot load CA certificates from {smtp.ca_file}: {reason}"],
                hint="Point smtp.ca_file at a readable PEM file, or remove it to use system CAs.",
            ) from None
    return context


def _ascii_address(address: str) -> str | None:
    """The envelope form: an internationalised domain in IDNA ('gävle.se' -> 'xn--gvle-loa.se').

    A non-ASCII local part would need SMTPUTF8 end to end; None marks it as undeliverable.
    """
    local, _, domain = address.strip().rpartition("@")
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    return f"{local}@{domain}" if local.isascii() else None


def _refused(address: str, code: int, reply: bytes, stage: str = "recipient") -> SendResult:
    """5xx: the server will not take it for this recipient, now or later; 4xx: try again."""
    text = f"{stage} refused by the server: {code} {_text(reply)}"
    if code == 530:
        # Not about this recipient: the server wants a login first.
        return SendResult(address, False, False, code, f"{text}; {LOGIN_HINT}", True)
    return SendResult(address, False, code >= 500, code, text)


def classify(error: BaseException, smtp: SmtpSettings) -> tuple[bool, int | None, str]:
    """(permanent, SMTP code, message naming what failed) for a failure of a whole transaction.

    Only a refusal of the message itself is permanent. A refused login, a refused sender or a
    server without STARTTLS is a configuration problem: once it is fixed, the same message
    can go, so the ledger keeps retrying rather than dropping it.
    """
    where = f"{smtp.host}:{smtp.port}"
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return (
            False,
            error.smtp_code,
            (
                f"authentication failed at {where} for user '{smtp.username}': "
                f"{error.smtp_code} {_text(error.smtp_error)}; {LOGIN_HINT}"
            ),
        )
    if isinstance(error, smtplib.SMTPResponseException) and error.smtp_code == 530:
        return (
            False,
            530,
            f"{where} requires a login: 530 {_text(error.smtp_error)}; {LOGIN_HINT}",
        )
    if isinstance(error, smtplib.SMTPSenderRefused):
        return (
            False,
            error.smtp_code,
            (
                f"sender {error.sender} refused by {where}: {error.smtp_code} "
                f"{_text(error.smtp_error)}; check mail.from_address and the account's send rights"
            ),
        )
    if isinstance(error, smtplib.SMTPDataError):
        return (
            error.smtp_code >= 500,
            error.smtp_code,
            (f"message refused by {where}: {error.smtp_code} {_text(error.smtp_error)}"),
        )
    if isinstance(error, smtplib.SMTPResponseException):
        return (
            False,
            error.smtp_code,
            (f"{where} answered {error.smtp_code} {_text(error.smtp_error)}"),
        )
    if isinstance(error, _Unencrypted):
        return False, None, f"{where}: {error}. {UNENCRYPTED_HINT}"
    if isinstance(error, _NoAuth):
        return (
            False,
            None,
            f"cannot log in to {where} as '{smtp.username}': {error}; {LOGIN_HINT}",
        )
    if isinstance(error, _Misconfigured):
        hint = 'set smtp.security = "tls", or "none" for a loopback relay'
        return False, None, f"{where}: {error}; {hint}"
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return False, None, f"{where}: {error}"
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return False, None, f"{where} closed the connection: {error or 'no reason given'}"
    if isinstance(error, ssl.SSLCertVerificationError):
        return (
            False,
            None,
            (
                f"TLS certificate verification failed for {where}: {error.verify_message}; "
                "if the server uses a private CA, set smtp.ca_file"
            ),
        )
    if isinstance(error, ssl.SSLError):
        return False, None, f"TLS handshake with {where} failed: {error.reason or error}"
    if isinstance(error, ConnectionRefusedError):
        return False, None, f"connection refused by {where}: is the SMTP server running?"
    if isinstance(error, TimeoutError):
        return False, None, f"no answer from {where} within {smtp.timeout:g} s"
    if isinstance(error, socket.gaierror):
        return False, None, f"cannot resolve SMTP host '{smtp.host}': {error.strerror}"
    if isinstance(error, OSError):
        return False, None, f"cannot talk to {where}: {error.strerror or error}"
    return False, None, f"{where}: {type(error).__name__}: {error}"


def _text(reply: bytes | str) -> str:
    if isinstance(reply, bytes):
        reply = reply.decode("utf-8", "replace")
    return " ".join(reply.split())
