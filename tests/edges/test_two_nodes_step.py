"""Two nodes stepping at the same moment on one PostgreSQL ledger send each message once.

The seed plan on a Monday at 08:00 in May 2024, when the weekly digest to the coordinator and
a reminder fall due together: two send steps run at once, each with its own connection to
the same database (as two nodes do), through the real SMTP client to aiosmtpd. Whatever
order they meet in, every message goes out once: the digest once, not once per node.

And a message the SMTP server took while the database went away is recorded as sent at the
next step, not left claimed to be sent again once its lease is over.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime
from email import policy
from email.parser import BytesParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from ledgers import database_settings
from postgres_server import Database, PostgresServer
from smtp_server import SmtpServer

from notifier.ledger import LedgerError
from notifier.ledger_pg import PostgresLedger, migrate
from notifier.mail import mailer_for
from notifier.sender import SendReport, send_due_once
from notifier.state import load_state

pytestmark = pytest.mark.slow

MONDAY_0800 = datetime(2024, 5, 6, 8, 0, tzinfo=ZoneInfo("Europe/Stockholm"))


def smtp_config(project: Path, smtp: SmtpServer) -> Path:
    """The shipped config, sending to ``smtp`` on loopback."""
    config = project / "config.toml"
    text = config.read_text(encoding="utf-8")
    for old, new in (
        ('host = ""', f'host = "{smtp.host}"'),
        ("port = 587", f"port = {smtp.port}"),
        ('security = "starttls"', 'security = "none"'),
    ):
        assert old in text
        text = text.replace(old, new, 1)
    config.write_text(text, encoding="utf-8")
    return config


def test_two_nodes_stepping_at_once_send_the_digest_and_every_reminder_once(
    project: Path, postgres_database: Database
) -> None:
    shared = database_settings(postgres_database)
    migrate(shared)
    with SmtpServer() as smtp:
        state = load_state(smtp_config(project, smtp))
        smtp.handler.reply_delay = 0.01  # long enough for the two steps to overlap
        reports: list[SendReport] = []
        together = threading.Barrier(2)

        def node() -> None:
            mailer = mailer_for(state.settings)
            with PostgresLedger(shared) as ledger:
                together.wait()
                try:
                    reports.append(
                        send_due_once(
                            MONDAY_0800,
                            state.catalog,
                            state.settings,
                            ledger,
                            mailer,
                            state.composer,
                        )
                    )
                finally:
                    mailer.close()

        threads = [threading.Thread(target=node) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with smtp.handler.lock:
            received = list(smtp.handler.received)

    sent = [outcome for report in reports for outcome in report.sent]
    kinds = Counter(outcome.kind for outcome in sent)
    assert kinds["digest"] == 1, kinds
    assert kinds["reminder"] >= 1, kinds
    assert len({(o.key, o.address) for o in sent}) == len(sent)  # no message by both nodes
    copies = Counter(
        (rcpt, str(BytesParser(policy=policy.default).parsebytes(item.data)["Message-ID"]))
        for item in received
        for rcpt in item.rcpt_tos
    )
    assert sum(copies.values()) == len(sent) and max(copies.values()) == 1
    with PostgresLedger(shared) as ledger:
        rows = ledger.snapshot()
    assert {(o.key, o.address) for o in sent} == {k for k, r in rows.items() if r.state == "sent"}


def test_a_message_the_server_took_while_the_database_was_away_is_recorded_not_resent(
    project: Path, postgres_server: PostgresServer, postgres_database: Database
) -> None:
    shared = database_settings(postgres_database, connect_timeout=2.0)
    migrate(shared)
    with SmtpServer() as smtp, PostgresLedger(shared) as ledger:
        state = load_state(smtp_config(project, smtp))
        held = smtp.handler.hold(1)  # the first message in, its 250 kept back

        def step() -> SendReport:
            mailer = mailer_for(state.settings)
            try:
                return send_due_once(
                    MONDAY_0800, state.catalog, state.settings, ledger, mailer, state.composer
                )
            finally:
                mailer.close()

        failed: list[BaseException] = []

        def first_step() -> None:
            try:
                step()
            except LedgerError as error:
                failed.append(error)

        sending = threading.Thread(target=first_step)
        sending.start()
        assert held.wait(30)
        postgres_server.stop()  # the database goes away while the server has the message
        smtp.handler.release()
        sending.join(30)
        assert failed and "Check that the PostgreSQL server" in failed[0].message  # type: ignore[attr-defined]
        with smtp.handler.lock:
            first = smtp.handler.received[0]
        message_id = str(BytesParser(policy=policy.default).parsebytes(first.data)["Message-ID"])

        postgres_server.start()
        report = step()
        with smtp.handler.lock:
            received = list(smtp.handler.received)
        rows = ledger.snapshot()

    ids = Counter(
        str(BytesParser(policy=policy.default).parsebytes(item.data)["Message-ID"])
        for item in received
    )
    assert ids[message_id] == 1  # not sent again
    (row,) = [r for r in rows.values() if r.message_id == message_id]
    assert (row.state, row.attempts) == ("sent", 1)
    assert message_id not in {o.message_id for o in report.sent}
    assert max(ids.values()) == 1
