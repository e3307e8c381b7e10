"""A real SMTP server on loopback for tests: aiosmtpd with trustme certificates.

``SmtpServer`` runs an aiosmtpd ``Controller`` on 127.0.0.1 on a free port and records what
it receives. It can speak plain SMTP, STARTTLS or implicit TLS with a certificate issued by
a throw-away ``trustme`` CA (clients verify it for real), require AUTH, and answer chosen
recipients with a temporary (451) or permanent (550) refusal.

For fault tests it can also be slow (``handler.reply_delay``: the message is taken in, then the
250 comes late), hold one message's reply until told (``handler.hold``), answer every new
connection with 421 (``handler.greeting = BUSY``), and be stopped and started again on the
same port. A 421 answer closes the connection, as RFC 5321 says it does.

    with SmtpServer(security="starttls", ca=ca) as server:
        ...  # point SmtpSettings at server.host, server.port, ca_file=server.ca_file
        assert server.handler.received[0].rcpt_tos == ["a@example.se"]
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

HOST = "127.0.0.1"
TEMPORARY = "451 4.3.0 Mailbox temporarily unavailable"
PERMANENT = "550 5.1.1 No such user here"
BUSY = "421 4.3.2 Service not available, closing transmission channel"


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    peer: Any


@dataclass
class RecordingHandler:
    """Accepts mail, except for the addresses in ``answers``; counts TCP connections.

    ``rcpt_seen``: every RCPT address asked for, accepted or not (to see what was retried).
    ``reply_delay``: seconds between taking a message in (it is in ``received``) and the 250.
    ``greeting``: answer new connections with this instead of 220 (e.g. ``BUSY``).
    """

    answers: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    peers: set[Any] = field(default_factory=set)
    logins: list[str] = field(default_factory=list)
    rcpt_seen: list[str] = field(default_factory=list)
    data_answer: str | None = None
    reply_delay: float = 0.0
    greeting: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    _hold_at: int | None = None
    _held: threading.Event = field(default_factory=threading.Event)
    _released: threading.Event = field(default_factory=threading.Event)

    def refuse(self, address: str, answer: str) -> None:
        self.answers[address.casefold()] = answer

    def hold(self, count: int) -> threading.Event:
        """Take message number ``count`` in, then keep its 250 back until ``release``.

        The event returned is set once that message is in ``received``: a client killed
        then has delivered a message whose acceptance it never heard.
        """
        self._hold_at = count
        self._held.clear()
        self._released.clear()
        return self._held

    def release(self) -> None:
        self._hold_at = None
        self._released.set()

    @property
    def connections(self) -> int:
        """TCP connections that began a transaction; the controller's start-up probe never does."""
        with self.lock:
            return len(self.peers)

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        with self.lock:
            # The peer (address, port) is one per TCP connection, STARTTLS or not.
            self.peers.add(session.peer)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self.lock:
            self.rcpt_seen.append(address)
        answer = self.answers.get(address.casefold())
        if answer:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_answer:
            return self.data_answer
        with self.lock:
            self.received.append(
                Received(
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    envelope.original_content,
                    session.peer,
                )
            )
            held = self._hold_at is not None and len(self.received) == self._hold_at
        if held:
            self._held.set()
            while not self._released.is_set():
                await asyncio.sleep(0.01)
        if self.reply_delay:
            await asyncio.sleep(self.reply_delay)
        return "250 Message accepted for delivery"


class _Smtp(SMTP):
    """aiosmtpd's server, plus: a greeting other than 220, and 421 closing the connection."""

    async def push(self, status: Any) -> None:
        handler = self.event_handler
        first = not getattr(self, "_greeted", False)
        self._greeted = True
        if first and handler.greeting:
            status = handler.greeting
        await super().push(status)
        text = status.decode("ascii", "replace") if isinstance(status, bytes) else status
        if text.startswith("421") and self.transport is not None:
            self.transport.close()


class _FreePortController(Controller):
    """A Controller on port 0: reads back the port the OS chose before probing it."""

    def factory(self) -> SMTP:
        return _Smtp(self.handler, **self.SMTP_kwargs)

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


def new_ca() -> trustme.CA:
    return trustme.CA()


class SmtpServer:
    """Context manager around one running server; see the module docstring."""

    def __init__(
        self,
        *,
        security: Literal["none", "starttls", "tls"] = "none",
        ca: trustme.CA | None = None,
        credentials: tuple[str, str] | None = None,
        ca_dir: Path | None = None,
        idle_timeout: float | None = None,
    ) -> None:
        self.security = security
        self.ca = ca or new_ca()
        self.credentials = credentials
        self.handler = RecordingHandler()
        self.host = HOST
        self.port = 0
        self._ca_dir = ca_dir
        self._idle_timeout = idle_timeout
        self._controller: _FreePortController | None = None
        self.ca_file: Path | None = None

    def __enter__(self) -> SmtpServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start listening: on a free port the first time, on the same port after ``stop``."""
        context = self._server_context() if self.security != "none" else None
        options: dict[str, Any] = {}
        if self._idle_timeout is not None:
            # The server closes a connection idle this long, as real servers do after minutes.
            options["timeout"] = self._idle_timeout
        if self.security == "starttls":
            options.update(tls_context=context, require_starttls=True)
        if self.credentials:
            # aiosmtpd 1.4 counts only STARTTLS as TLS, so with implicit TLS (or none) AUTH is
            # offered but not required; ``handler.logins`` shows whether the client logged in.
            options.update(
                authenticator=self._authenticate,
                auth_required=self.security == "starttls",
                auth_require_tls=self.security == "starttls",
            )
        self._controller = _FreePortController(
            self.handler,
            hostname=HOST,
            port=self.port,
            ssl_context=context if self.security == "tls" else None,
            **options,
        )
        self._controller.start()
        self.port = self._controller.port
        if self._ca_dir is not None:
            self.ca_file = self._ca_dir / "smtp-test-ca.pem"
            self.ca.cert_pem.write_to_path(str(self.ca_file))

    def stop(self) -> None:
        """Stop listening (clients get 'connection refused'); ``start`` reopens the same port."""
        self.handler.release()
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def _server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert(HOST, "localhost").configure_cert(context)
        return context

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        assert self.credentials is not None
        user, password = self.credentials
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        if ok:
            self.handler.logins.append(user)
        # handled=False: let aiosmtpd answer "535" itself when the credentials are wrong.
        return AuthResult(success=ok, handled=False)
