"""Two nodes stepping at the same moment on one PostgreSQL ledger send each message once.

The seed plan on a Monday at 08:00 in May 2024, when the weekly digest to the coordinator and
a reminder fall due together: two send steps run at once, each with its own connection to
the same database (as two nodes do), through the real SMTP client to aiosmtpd. Whatever
order they meet in, every message goes out once: the digest once, not once per node.
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
from postgres_server import Database
from smtp_server import SmtpServer

from notifier.ledger_pg import PostgresLedger, migrate
from notifier.mail import mailer_for
from notifier.sender import SendReport, send_due_once
from notifier.state import load_state

pytestmark = pytest.mark.slow

MONDAY_0800 = datetime(2024, 5, 6, 8, 0, tzinfo=ZoneInfo("Europe/Stockholm"))


def test_two_nodes_stepping_at_once_send_the_digest_and_every_reminder_once(
    project: Path, postgres_database: Database
) -> None:
    shared = database_settings(postgres_database)
    migrate(shared)
    with SmtpServer() as smtp:
        config = project / "config.toml"
        text = config.read_text(encoding="utf-8")
        for old, new in (
            ('host = ""', f'host = "{smtp.host}"'),
            ("port = 587", f"port = {smtp.port}"),
            ('security = "starttls"', 'security = "none"'),
        ):
            text = text.replace(old, new, 1)
        config.write_text(text, encoding="utf-8")
        state = load_state(config)
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
