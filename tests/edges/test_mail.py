"""Transports against a real SMTP server on loopback, and the outbox folder.

One contract runs against both transports: the same message in gives the same bytes out and
the same per-recipient results. The SMTP tier then covers what only SMTP has: TLS with real
certificate checks, login, refusals per recipient, lost and reused connections.
"""

from __future__ import annotations

import io
import os
import socket
import stat
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import pytest
from smtp_server import PERMANENT, TEMPORARY, SmtpServer, new_ca

from notifier import mimepolicy
from notifier.errors import ConfigError
from notifier.mail import (
    Mailer,
    OutboxMailer,
    SendResult,
    SmtpMailer,
    mailer_for,
    message_bytes,
)
from notifier.settings import MailSettings, Settings, SmtpSettings

ROOT = Path(__file__).resolve().parent.parent.parent
SENDER = "notifier@gotland.example"
POLICE = "polisen@gotland.example"
SOCIAL = "social@gotland.example"
SCHOOL = "skolan@gotland.example"


def swedish_message(message_id: str = "<abc123@gotland.example>") -> EmailMessage:
    """A small message shaped like every real one: text + HTML + attachment, Swedish text."""
    message = EmailMessage()
    message["Subject"] = "Påminnelse: Klart om 7 dagar – Trygghetsvandringar"
    message["From"] = f"Åtgärdsplanen <{SENDER}>"
    message["To"] = POLICE
    message["Date"] = "Sun, 23 Jun 2024 08:00:00 +0200"
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(
        "Klart om 7 dagar.\n.En rad som börjar med punkt.\nÅ Ä Ö\n", cte="quoted-printable"
    )
    message.add_alternative("<p>Klart om 7 dagar. Å Ä Ö</p>\n", subtype="html")
    message.add_attachment(
        b"BEGIN:VCALENDAR\r\nMETHOD:PUBLISH\r\nEND:VCALENDAR\r\n",
        maintype="text",
        subtype="calendar",
        filename="delmal.ics",
        params={"method": "PUBLISH"},
    )
    return message


def smtp_settings(server: SmtpServer, **changes: object) -> SmtpSettings:
    values: dict[str, object] = {
        "host": server.host,
        "port": server.port,
        "security": server.security,
        "ca_file": server.ca_file,
        "timeout": 5.0,
    }
    values.update(changes)
    return SmtpSettings(**values)


def delivered(*addresses: str, code: int | None = 250) -> list[SendResult]:
    return [SendResult(address, True, False, code, None) for address in addresses]


@pytest.fixture(scope="module")
def ca():
    return new_ca()


@pytest.fixture
def plain_server(tmp_path: Path) -> Iterator[SmtpServer]:
    with SmtpServer(security="none", ca_dir=tmp_path) as server:
        yield server


# --- one contract, two transports ------------------------------------------------------------


class MailerContract:
    """What every Mailer promises; ``transport`` gives (mailer, the bytes that arrived)."""

    @pytest.fixture
    def transport(self) -> tuple[Mailer, Callable[[], list[bytes]]]:
        raise NotImplementedError

    def test_it_reports_each_recipient_delivered_in_the_order_given(self, transport):
        mailer, _ = transport
        results = mailer.send(swedish_message(), [SOCIAL, POLICE, SCHOOL])
        assert [r.address for r in results] == [SOCIAL, POLICE, SCHOOL]
        assert all(r.ok and not r.permanent and r.error is None for r in results)

    def test_what_arrives_is_exactly_the_bytes_of_the_message(self, transport):
        mailer, arrived = transport
        message = swedish_message()
        mailer.send(message, [POLICE])
        assert arrived() == [message_bytes(message)]

    def test_what_arrives_parses_back_to_the_same_message(self, transport):
        mailer, arrived = transport
        message = swedish_message()
        mailer.send(message, [POLICE])
        received = message_from_bytes(arrived()[0], policy=default_policy)
        assert isinstance(received, EmailMessage)
        assert received["Subject"] == message["Subject"]
        assert received["Message-ID"] == message["Message-ID"]
        for mine, theirs in zip(message.walk(), received.walk(), strict=True):
            assert mine.get_content_type() == theirs.get_content_type()
            if not mine.is_multipart():
                assert _payload(mine) == _payload(theirs)

    def test_a_long_swedish_subject_arrives_exactly_as_written(self, transport):
        # Folded where a space follows an encoded word: the space must not be lost.
        mailer, arrived = transport
        subject = 'Påminnelse: Uppföljning om 32 dagar – Uppföljning "Lilla islandsmodellen"'
        composed = EmailMessage(policy=mimepolicy.BUILD)
        composed["Subject"] = subject
        composed["From"] = SENDER
        composed["To"] = POLICE
        composed["Message-ID"] = "<long-subject@gotland.example>"
        composed.set_content("Hej!\n", charset="utf-8", cte="quoted-printable")
        mailer.send(composed, [POLICE])
        [raw] = arrived()
        assert b"\r\n =?utf-8?" in raw.split(b"\r\n\r\n", 1)[0], "folded"
        assert str(message_from_bytes(raw, policy=default_policy)["Subject"]) == subject

    def test_no_recipients_means_nothing_is_sent(self, transport):
        mailer, arrived = transport
        assert mailer.send(swedish_message(), []) == []
        assert arrived() == []

    def test_close_can_be_called_twice_and_sending_goes_on_after_it(self, transport):
        mailer, arrived = transport
        mailer.close()
        mailer.close()
        assert mailer.send(swedish_message(), [POLICE])[0].ok
        mailer.close()
        assert len(arrived()) == 1


def _payload(part: EmailMessage) -> bytes:
    """Decoded content; text line ends as on the wire (CRLF), binary parts byte for byte."""
    data = part.get_payload(decode=True)
    if part.get_content_maintype() == "text" and part.get("Content-Transfer-Encoding") != "base64":
        data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return data


class TestOutboxMailer(MailerContract):
    @pytest.fixture
    def transport(self, tmp_path: Path):
        outbox = tmp_path / "outbox"
        return OutboxMailer(outbox), lambda: [p.read_bytes() for p in sorted(outbox.glob("*.eml"))]


class TestSmtpMailer(MailerContract):
    @pytest.fixture
    def transport(self, plain_server: SmtpServer):
        mailer = SmtpMailer(smtp_settings(plain_server), SENDER)
        yield mailer, lambda: [r.data for r in plain_server.handler.received]
        mailer.close()


# --- the outbox ------------------------------------------------------------------------------


def test_an_outbox_file_is_named_by_its_utc_send_time_and_message_id(tmp_path):
    mailer = OutboxMailer(tmp_path)
    mailer.send(swedish_message("<abc123@gotland.example>"), [POLICE])
    assert [p.name for p in tmp_path.iterdir()] == ["20240623T060000Z-abc123_gotland.example.eml"]


def test_sending_the_same_message_again_leaves_one_outbox_file(tmp_path):
    mailer = OutboxMailer(tmp_path)
    for _ in range(3):
        assert mailer.send(swedish_message(), [POLICE])[0].ok
    assert len(list(tmp_path.iterdir())) == 1


def test_outbox_files_are_not_readable_by_everyone_and_leave_no_temp_files(tmp_path):
    OutboxMailer(tmp_path).send(swedish_message(), [POLICE])
    (path,) = tmp_path.iterdir()
    assert not stat.S_IMODE(path.stat().st_mode) & stat.S_IROTH


def test_an_outbox_that_cannot_be_written_gives_temporary_failures_not_an_exception(tmp_path):
    blocker = tmp_path / "outbox"
    blocker.write_text("a file where the folder should be")
    results = OutboxMailer(blocker).send(swedish_message(), [POLICE, SOCIAL])
    assert [(r.ok, r.permanent) for r in results] == [(False, False), (False, False)]
    assert str(blocker) in (results[0].error or "")


# --- choosing the transport ------------------------------------------------------------------


def test_without_an_smtp_host_mail_goes_to_the_outbox(tmp_path):
    settings = Settings.model_construct(mail=MailSettings(outbox=tmp_path))
    mailer = mailer_for(settings)
    assert isinstance(mailer, OutboxMailer) and mailer.folder == tmp_path


def test_with_an_smtp_host_mail_goes_by_smtp(plain_server):
    settings = Settings.model_construct(smtp=smtp_settings(plain_server))
    mailer = mailer_for(settings)
    assert isinstance(mailer, SmtpMailer)
    assert mailer.send(swedish_message(), [POLICE]) == delivered(POLICE)
    assert plain_server.handler.received[0].mail_from == "notifier@gotland.example"


def test_an_unreadable_ca_file_is_a_configuration_error_naming_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"smtp\.ca_file: cannot load CA certificates"):
        SmtpMailer(SmtpSettings(host="x", ca_file=tmp_path / "missing.pem"), SENDER)


# --- TLS and login ---------------------------------------------------------------------------


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_tls_delivers_when_the_certificate_verifies(tmp_path, ca, security):
    with SmtpServer(security=security, ca=ca, ca_dir=tmp_path) as server:
        with SmtpMailer(smtp_settings(server), SENDER) as mailer:
            assert mailer.send(swedish_message(), [POLICE]) == delivered(POLICE)
        assert len(server.handler.received) == 1


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_a_certificate_from_an_unknown_ca_is_a_temporary_tls_failure(tmp_path, ca, security):
    with SmtpServer(security=security, ca=ca, ca_dir=tmp_path) as server:
        other = tmp_path / "other-ca.pem"
        new_ca().cert_pem.write_to_path(str(other))
        with SmtpMailer(smtp_settings(server, ca_file=other), SENDER) as mailer:
            (result,) = mailer.send(swedish_message(), [POLICE])
        assert (result.ok, result.permanent, result.code) == (False, False, None)
        assert "TLS certificate verification failed" in (result.error or "")
        assert server.handler.received == []


def test_starttls_required_but_not_offered_is_a_clear_temporary_failure(plain_server):
    with SmtpMailer(smtp_settings(plain_server, security="starttls"), SENDER) as mailer:
        (result,) = mailer.send(swedish_message(), [POLICE])
    assert not result.ok and not result.permanent
    assert "does not offer STARTTLS" in (result.error or "")


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_it_logs_in_when_a_username_is_set(tmp_path, ca, security):
    with SmtpServer(
        security=security, ca=ca, ca_dir=tmp_path, credentials=("notifier", "hemligt")
    ) as server:
        settings = smtp_settings(server, username="notifier", password="hemligt")
        with SmtpMailer(settings, SENDER) as mailer:
            assert mailer.send(swedish_message(), [POLICE]) == delivered(POLICE)
        assert server.handler.logins == ["notifier"]


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_a_refused_login_is_kept_for_a_retry_and_marked_as_refused_naming_the_user(
    tmp_path, ca, security
):
    with SmtpServer(
        security=security, ca=ca, ca_dir=tmp_path, credentials=("notifier", "hemligt")
    ) as server:
        settings = smtp_settings(server, username="notifier", password="fel")
        with SmtpMailer(settings, SENDER) as mailer:
            results = mailer.send(swedish_message(), [POLICE, SOCIAL])
    # Not permanent: the message itself is fine and goes once the login works.
    assert [(r.ok, r.permanent, r.code, r.login_refused) for r in results] == [
        (False, False, 535, True)
    ] * 2
    error = results[0].error or ""
    assert "authentication failed" in error and "'notifier'" in error
    assert "check smtp.username and the SMTP password" in error
    assert server.handler.received == []


def test_a_server_that_requires_a_login_is_a_refused_login_not_a_refused_message(tmp_path, ca):
    # aiosmtpd answers MAIL with 530 when AUTH is required and the client did not log in.
    with (
        SmtpServer(
            security="starttls", ca=ca, ca_dir=tmp_path, credentials=("notifier", "hemligt")
        ) as server,
        SmtpMailer(smtp_settings(server), SENDER) as mailer,
    ):
        (result,) = mailer.send(swedish_message(), [POLICE])
    assert (result.ok, result.permanent, result.code, result.login_refused) == (
        False,
        False,
        530,
        True,
    )
    assert "requires a login" in (result.error or "")
    assert server.handler.received == []


def test_a_username_for_a_server_without_auth_is_a_refused_login(tmp_path, ca):
    with SmtpServer(security="tls", ca=ca, ca_dir=tmp_path) as server:
        settings = smtp_settings(server, username="notifier", password="hemligt")
        with SmtpMailer(settings, SENDER) as mailer:
            (result,) = mailer.send(swedish_message(), [POLICE])
    assert (result.ok, result.permanent, result.login_refused) == (False, False, True)
    assert "cannot log in to" in (result.error or "")
    assert "offers no login (AUTH" in (result.error or "")


def test_a_password_outside_ascii_is_a_refused_login_that_says_why(tmp_path, ca):
    with SmtpServer(
        security="tls", ca=ca, ca_dir=tmp_path, credentials=("notifier", "hemligt")
    ) as server:
        settings = smtp_settings(server, username="notifier", password="hemlig-sjö")
        with SmtpMailer(settings, SENDER) as mailer:
            (result,) = mailer.send(swedish_message(), [POLICE])
    assert (result.ok, result.permanent, result.login_refused) == (False, False, True)
    assert "outside ASCII" in (result.error or "") and "sjö" not in (result.error or "")


@pytest.mark.parametrize(
    ("host", "login"),
    [("127.0.0.1", {"username": "notifier", "password": "hemligt"}), ("192.0.2.25", {})],
)
def test_settings_that_would_send_in_clear_text_never_reach_the_network(plain_server, host, login):
    # The configuration refuses these; settings built any other way are refused here too,
    # before a connection is opened, so AUTH never goes out without TLS.
    port = plain_server.port if host == "127.0.0.1" else 25
    settings = smtp_settings(plain_server, host=host, port=port, **login)
    with SmtpMailer(settings, SENDER) as mailer:
        (result,) = mailer.send(swedish_message(), [POLICE])
        assert mailer.connections_opened == 0
    assert not result.ok and not result.permanent
    assert 'smtp.security = "none"' in (result.error or "")
    assert "hemligt" not in (result.error or "")
    assert plain_server.handler.rcpt_seen == [] and plain_server.handler.logins == []


# --- refusals and failures -------------------------------------------------------------------


def test_451_for_a_recipient_is_temporary(plain_server):
    plain_server.handler.refuse(POLICE, TEMPORARY)
    with SmtpMailer(smtp_settings(plain_server), SENDER) as mailer:
        (result,) = mailer.send(swedish_message(), [POLICE])
    assert (result.ok, result.permanent, result.code) == (False, False, 451)
    assert "451" in (result.error or "")


def test_550_for_one_of_three_recipients_still_delivers_to_the_other_two(plain_server):
    plain_server.handler.refuse(SOCIAL, PERMANENT)
    with SmtpMailer(smtp_settings(plain_server), SENDER) as mailer:
        results = mailer.send(swedish_message(), [POLICE, SOCIAL, SCHOOL])
    assert results[0] == delivered(POLICE)[0]
    assert (results[1].ok, results[1].permanent, results[1].code) == (False, True, 550)
    assert "No such user" in (results[1].error or "")
    assert results[2] == delivered(SCHOOL)[0]
    (received,) = plain_server.handler.received
    assert received.rcpt_tos == [POLICE, SCHOOL]


def test_when_every_recipient_is_refused_each_gets_its_own_answer(plain_server):
    plain_server.handler.refuse(POLICE, PERMANENT)
    plain_server.handler.refuse(SOCIAL, TEMPORARY)
    with SmtpMailer(smtp_settings(plain_server), SENDER) as mailer:
        results = mailer.send(swedish_message(), [POLICE, SOCIAL])
        assert [(r.permanent, r.code) for r in results] == [(True, 550), (False, 451)]
        # The refused transaction was reset: the connection still works.
        assert mailer.send(swedish_message(), [SCHOOL]) == delivered(SCHOOL)
    assert plain_server.handler.connections == 1


def test_a_message_refused_after_data_is_permanent_for_every_accepted_recipient(plain_server):
    plain_server.handler.data_answer = "554 5.6.0 Message content rejected"
    plain_server.handler.refuse(SOCIAL, TEMPORARY)
    with SmtpMailer(smtp_settings(plain_server), SENDER) as mailer:
        results = mailer.send(swedish_message(), [POLICE, SOCIAL])
    assert [(r.ok, r.permanent, r.code) for r in results] == [
        (False, True, 554),
        (False, False, 451),
    ]
    assert "content rejected" in (results[0].error or "")


def test_an_internationalised_domain_goes_out_in_idna_and_a_non_ascii_mailbox_is_refused(
    plain_server,
):
    with SmtpMailer(smtp_settings(plain_server), SENDER) as mailer:
        results = mailer.send(swedish_message(), ["info@gävle.example", "åsa@gotland.example"])
    assert results[0] == delivered("info@gävle.example")[0]
    assert (results[1].ok, results[1].permanent) == (False, True)
    assert plain_server.handler.received[0].rcpt_tos == ["info@xn--gvle-loa.example"]


def test_a_refused_connection_gives_temporary_results_for_everyone():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = SmtpSettings(host="127.0.0.1", port=port, security="none", timeout=5)
    with SmtpMailer(settings, SENDER) as mailer:
        results = mailer.send(swedish_message(), [POLICE, SOCIAL])
    assert [(r.ok, r.permanent, r.code) for r in results] == [(False, False, None)] * 2
    assert f"connection refused by 127.0.0.1:{port}" in (results[0].error or "")


# --- one connection per batch ----------------------------------------------------------------


def test_several_sends_share_one_connection_until_close(plain_server):
    with SmtpMailer(smtp_settings(plain_server), SENDER) as mailer:
        for number in range(5):
            message = swedish_message(f"<m{number}@gotland.example>")
            assert mailer.send(message, [POLICE, SOCIAL]) == delivered(POLICE, SOCIAL)
        assert mailer.connections_opened == 1
    assert plain_server.handler.connections == 1
    assert len(plain_server.handler.received) == 5
    with SmtpMailer(smtp_settings(plain_server), SENDER) as mailer:
        mailer.send(swedish_message(), [POLICE])
    assert plain_server.handler.connections == 2


def test_a_connection_the_server_dropped_is_reopened_once(tmp_path):
    with SmtpServer(idle_timeout=0.3, ca_dir=tmp_path) as server:
        with SmtpMailer(smtp_settings(server), SENDER) as mailer:
            assert mailer.send(swedish_message(), [POLICE])[0].ok
            time.sleep(0.8)  # the server closes the idle connection meanwhile
            assert mailer.send(swedish_message(), [POLICE]) == delivered(POLICE)
            assert mailer.connections_opened == 2
        assert len(server.handler.received) == 2


# --- notifier send-test ----------------------------------------------------------------------


CLOCK = datetime(2024, 6, 20, 9, 0, tzinfo=UTC)


def write_config(folder: Path, smtp: dict[str, object] | None = None) -> Path:
    lines = [
        "[plans]",
        f'dir = "{folder / "plan"}"',
        "[templates]",
        f'dir = "{ROOT / "templates"}"',
        "[mail]",
        f'outbox = "{folder / "outbox"}"',
    ]
    if smtp:
        lines.append("[smtp]")
        lines += [f"{key} = {value!r}".replace("'", '"') for key, value in smtp.items()]
    (folder / "plan").mkdir(exist_ok=True)
    path = folder / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def send_test(config: Path, address: str) -> tuple[int, str]:
    from notifier.cli import main

    out = io.StringIO()
    code = main(["--config", str(config), "send-test", address], stdout=out, clock=lambda: CLOCK)
    return code, out.getvalue()


@pytest.fixture
def clean_environment(monkeypatch):
    for name in list(os.environ):
        if name.startswith("NOTIFIER_"):
            monkeypatch.delenv(name)


def test_send_test_writes_to_the_outbox_and_says_where(tmp_path, clean_environment):
    code, out = send_test(write_config(tmp_path), "test@gotland.example")
    assert code == 0
    (path,) = (tmp_path / "outbox").glob("*.eml")
    assert str(path) in out
    received = message_from_bytes(path.read_bytes(), policy=default_policy)
    assert received["To"].addresses[0].addr_spec == "test@gotland.example"
    assert received["Auto-Submitted"] == "auto-generated"


def test_send_test_delivers_by_smtp_and_names_the_server(tmp_path, plain_server, clean_environment):
    config = write_config(
        tmp_path, {"host": plain_server.host, "port": plain_server.port, "security": "none"}
    )
    code, out = send_test(config, "test@gotland.example")
    assert code == 0
    assert f"{plain_server.host}:{plain_server.port}" in out
    assert plain_server.handler.received[0].rcpt_tos == ["test@gotland.example"]


def test_send_test_reports_a_refused_recipient_with_its_code(
    tmp_path, plain_server, capsys, clean_environment
):
    plain_server.handler.refuse("test@gotland.example", PERMANENT)
    config = write_config(
        tmp_path, {"host": plain_server.host, "port": plain_server.port, "security": "none"}
    )
    code, _ = send_test(config, "test@gotland.example")
    assert code == 1
    error = capsys.readouterr().err
    assert "SMTP 550" in error and "recipient refused" in error and "permanent" in error


def test_send_test_reports_a_refused_connection(tmp_path, capsys, clean_environment):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = write_config(tmp_path, {"host": "127.0.0.1", "port": port, "security": "none"})
    code, _ = send_test(config, "test@gotland.example")
    assert code == 1
    assert "connection refused" in capsys.readouterr().err


def test_send_test_refuses_something_that_is_not_an_address(tmp_path, capsys, clean_environment):
    code, _ = send_test(write_config(tmp_path), "inte en adress")
    assert code == 1
    assert "is not an email address" in capsys.readouterr().err
