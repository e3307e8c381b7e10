"""Sending benchmark: messages per second through notifier's send path, against plain smtplib.

    .venv/bin/python bench/send.py [--copies 60] [--rounds 3]

The plan is the seed's actions repeated ``--copies`` times (bench/synthetic.py). At
2024-11-29 08:00 (Europe/Stockholm) many reminders fall due at once: the 30-day reminders of
every milestone due 31 December (1 December is a Sunday, so they move to Friday) and the
1-day reminders of those due Saturday 30 November. The ledger is prepared as for a daemon
that has been running all along: every message of an earlier send time is already recorded
(as skipped), so the catch-up rule has nothing to catch up and exactly the messages of this
send time go out: 16 per copy of the seed's actions (one email per recipient address).

1. notifier: one ``send_due_once`` step at that moment with the real ``Composer`` (templates/),
   the real ``SqliteLedger`` (a file, WAL, synchronous=FULL, as configured in production) and
   the real ``SmtpMailer`` (one connection, reused), logging at INFO as the daemon does (to
   /dev/null). The step's own work counts: listing what the plan implies, the catch-up rule,
   the ledger's write-ahead rows, then claim -> compose -> send -> mark_sent per message.
2. Reference: plain smtplib sending the same messages, pre-rendered to bytes
   (``as_bytes(policy=SMTP)`` of the very EmailMessages notifier sent), over one connection.

Then each stage of notifier's path is timed on its own (list + catch-up rule, compose,
serialise, ledger), which says where the time goes when the target is missed.

Both deliver to the same local SMTP sink: an aiosmtpd Controller on 127.0.0.1 whose handler
accepts every message. It runs in a child process, as a real mail server would, so it does
not compete with the sender for this interpreter's GIL. Each side is timed over ``--rounds``
rounds (a fresh ledger each round), alternating, and the best round of each is compared.
Target: notifier at least half plain smtplib's rate (ratio >= 0.50).
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import smtplib
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.synthetic import synthetic_plan  # noqa: E402
from notifier import logs  # noqa: E402
from notifier.catalog import Catalog, load_catalog  # noqa: E402
from notifier.compose import Composer  # noqa: E402
from notifier.due import Delivery, Skip, due_items  # noqa: E402
from notifier.kinds.reminder import compose_reminder  # noqa: E402
from notifier.ledger import SqliteLedger  # noqa: E402
from notifier.mail import SendResult, SmtpMailer, message_bytes  # noqa: E402
from notifier.schedule import zone  # noqa: E402
from notifier.sender import planned_messages, send_due_once  # noqa: E402
from notifier.settings import LedgerSettings, MailSettings, Settings, SmtpSettings, TemplateSettings  # noqa: E402

if TYPE_CHECKING:
    from aiosmtpd.smtp import Envelope

NOW = datetime(2024, 11, 29, 8, 0, tzinfo=ZoneInfo("Europe/Stockholm"))
COPIES = 60
TARGET = 0.5
BEFORE = "sent before the measured send time"


# --- The sink -----------------------------------------------------------------------------


class _Accept:
    """aiosmtpd handler: accept every message, remember only how many and how large."""

    def __init__(self) -> None:
        self.messages = 0
        self.octets = 0

    async def handle_DATA(self, server: object, session: object, envelope: Envelope) -> str:
        self.messages += 1
        self.octets += len(envelope.content or b"")
        return "250 OK"


def _sink(port: int, pipe: Connection) -> None:
    """Child process: run the SMTP sink until the parent asks for the count."""
    from aiosmtpd.controller import Controller

    handler = _Accept()
    # A message of a few tens of kB must fit; the default limit (32 MiB) already does.
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    pipe.send("ready")
    while pipe.recv() == "count":
        pipe.send((handler.messages, handler.octets))
    controller.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Sink:
    """The SMTP sink in a child process; ``count()`` asks it how much it has received."""

    def __init__(self) -> None:
        self.port = free_port()
        self._pipe, child = multiprocessing.Pipe()
        self._process = multiprocessing.Process(target=_sink, args=(self.port, child))

    def __enter__(self) -> Sink:
        self._process.start()
        if not self._pipe.poll(30) or self._pipe.recv() != "ready":
            raise RuntimeError("the SMTP sink did not start")
        return self

    def count(self) -> tuple[int, int]:
        self._pipe.send("count")
        messages, octets = self._pipe.recv()
        return int(messages), int(octets)

    def __exit__(self, *exc: object) -> None:
        self._pipe.send("stop")
        self._process.join(10)
        if self._process.is_alive():
            self._process.terminate()


# --- notifier's side ----------------------------------------------------------------------


class Recording:
    """Mailer that keeps every message it passes on, for the reference to resend."""

    def __init__(self, inner: SmtpMailer) -> None:
        self.inner = inner
        self.sent: list[tuple[EmailMessage, str]] = []

    def send(self, message: EmailMessage, recipients: Sequence[str]) -> list[SendResult]:
        results = self.inner.send(message, recipients)
        self.sent.extend((message, r.address) for r in results if r.ok)
        return results

    def close(self) -> None:
        self.inner.close()


def settings_for(port: int, state: Path) -> Settings:
    return Settings(
        smtp=SmtpSettings(host="127.0.0.1", port=port, security="none", timeout=30.0),
        mail=MailSettings(outbox=state / "outbox"),
        ledger=LedgerSettings(path=state / "ledger.sqlite3"),
        templates=TemplateSettings(dir=ROOT / "templates"),
    )


def prepared_ledger(path: Path, catalog: Catalog, settings: Settings) -> SqliteLedger:
    """A ledger as a daemon running all along leaves it: everything earlier is done."""
    ledger = SqliteLedger(path)
    ledger.record_due_dates({m.key: m.milestone.due for m in catalog.milestones}, NOW)
    earlier = [
        Skip(item, recipient, BEFORE)
        for item in planned_messages(catalog, settings, {}, NOW)
        if item.send_at < NOW
        for recipient in item.recipients
    ]
    ledger.mark_skipped(earlier, NOW)
    return ledger


def notifier_round(
    catalog: Catalog, settings: Settings, composer: Composer, folder: Path, record: bool
) -> tuple[int, float, list[tuple[EmailMessage, str]]]:
    """One send step into a fresh ledger: (messages sent, seconds, messages if recorded)."""
    folder.mkdir(parents=True)
    ledger = prepared_ledger(folder / "ledger.sqlite3", catalog, settings)
    smtp = SmtpMailer(settings.smtp, settings.mail.from_address)
    mailer = Recording(smtp) if record else smtp
    try:
        start = time.perf_counter()
        report = send_due_once(NOW, catalog, settings, ledger, mailer, composer)
        mailer.close()  # QUIT belongs to the round, as in the reference
        seconds = time.perf_counter() - start
    finally:
        ledger.close()
    if report.failed:
        first = report.failed[0]
        raise RuntimeError(f"{len(report.failed)} failed, e.g. {first.key}: {first.error}")
    if smtp.connections_opened != 1:
        raise RuntimeError(f"expected one SMTP connection, got {smtp.connections_opened}")
    sent = mailer.sent if isinstance(mailer, Recording) else []
    return len(report.sent), seconds, sent


def breakdown(
    catalog: Catalog, settings: Settings, composer: Composer, folder: Path
) -> dict[str, float]:
    """Seconds per message for each stage of the send path, each timed on its own.

    Not the measurement itself: it says where notifier's time goes, so that a missed target
    points at a stage. SMTP is left out: the reference measures that stage.
    """
    folder.mkdir(parents=True)
    ledger = prepared_ledger(folder / "ledger.sqlite3", catalog, settings)
    try:
        start = time.perf_counter()
        items = planned_messages(catalog, settings, ledger.known_due_dates(), NOW)
        deliveries: list[Delivery] = due_items(items, ledger.snapshot(), NOW).send
        planning = time.perf_counter() - start
        local_now = NOW.astimezone(zone(settings))
        composing = serialising = 0.0
        # One message at a time, not kept: a pile of live MIME trees would make the garbage
        # collector, not the stage, the cost being measured.
        for delivery in deliveries:
            if delivery.item.kind != "reminder":
                raise RuntimeError(f"expected only reminders, got {delivery.item.kind}")
            start = time.perf_counter()
            message = compose_reminder(
                composer, delivery.item, delivery.recipient, local_now, settings
            )
            middle = time.perf_counter()
            message_bytes(message)
            composing += middle - start
            serialising += time.perf_counter() - middle
        start = time.perf_counter()
        ledger.record_due(deliveries, NOW)
        for delivery in deliveries:
            claim = ledger.claim(delivery.key, delivery.address, "<bench@example>", NOW)
            if claim is None or not ledger.mark_sent(delivery.key, delivery.address, NOW):
                raise RuntimeError(f"ledger refused {delivery.key} to {delivery.address}")
        recording = time.perf_counter() - start
    finally:
        ledger.close()
    count = len(deliveries)
    return {
        "list messages + catch-up rule (per step)": planning / count,
        "compose (templates, MIME tree, .ics)": composing / count,
        "serialise (as_bytes, SMTP policy)": serialising / count,
        "ledger (write-ahead, claim, mark_sent)": recording / count,
    }


# --- The reference ------------------------------------------------------------------------


def smtplib_round(port: int, sender: str, messages: Sequence[tuple[bytes, str]]) -> float:
    start = time.perf_counter()
    connection = smtplib.SMTP("127.0.0.1", port, timeout=30)
    connection.ehlo()
    for data, address in messages:
        refused = connection.sendmail(sender, [address], data)
        if refused:
            raise RuntimeError(f"refused: {refused}")
    connection.quit()
    return time.perf_counter() - start


# --- Report -------------------------------------------------------------------------------


def quiet_info_logging() -> None:
    """Log as the daemon does (INFO, one line per message sent), into /dev/null."""
    logs.setup("INFO")
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=COPIES, help="copies of the seed's actions")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per side")
    args = parser.parse_args()
    try:
        import aiosmtpd  # noqa: F401
    except ImportError:
        sys.exit("bench/send.py needs aiosmtpd, a test dependency: pip install -e '.[test]'")
    started = time.perf_counter()
    quiet_info_logging()
    with tempfile.TemporaryDirectory() as tmp, Sink() as sink:
        work = Path(tmp)
        settings = settings_for(sink.port, work / "state")
        catalog = load_catalog(synthetic_plan(work / "plan", args.copies))
        composer = Composer.load(settings.templates.dir)
        print(
            f"Plan: the seed's actions x {args.copies} ({len(catalog.milestones)} milestones); "
            f"send time {NOW:%Y-%m-%d %H:%M %Z}"
        )

        # Warm-up (not counted): fills template and zone caches, and records the messages
        # notifier sends, which the reference then sends as bytes.
        count, _, recorded = notifier_round(catalog, settings, composer, work / "warm", True)
        if count == 0:
            raise RuntimeError("nothing was due: check NOW against the plan")
        payload = [(message_bytes(message), address) for message, address in recorded]
        octets = sum(len(data) for data, _ in payload)
        print(
            f"Messages due at that moment: {count} (one per recipient), "
            f"{octets / count / 1e3:.1f} kB each on average"
        )
        smtplib_round(sink.port, settings.mail.from_address, payload)  # warm-up

        ours: list[float] = []
        theirs: list[float] = []
        for number in range(args.rounds):
            sent, seconds, _ = notifier_round(
                catalog, settings, composer, work / f"round{number}", False
            )
            if sent != count:
                raise RuntimeError(f"round {number}: sent {sent}, expected {count}")
            ours.append(seconds)
            theirs.append(smtplib_round(sink.port, settings.mail.from_address, payload))
        received, _ = sink.count()
        # Best of as many rounds as the measurement, so both sides of the sum are alike.
        runs = [
            breakdown(catalog, settings, composer, work / f"stages{number}")
            for number in range(args.rounds)
        ]
        stages = {label: min(run[label] for run in runs) for label in runs[0]}
    expected = count * (2 + 2 * args.rounds)
    if received != expected:
        raise RuntimeError(f"the sink received {received} messages, expected {expected}")

    ours_rate = count / min(ours)
    theirs_rate = count / min(theirs)
    ratio = ours_rate / theirs_rate
    print(f"\n{count} messages per round, best of {args.rounds} rounds (median in brackets)")
    print(f"  {'sender':<44} {'msg/s':>8} {'ms/msg':>8}")
    for label, times in (
        ("notifier (send_due_once, SQLite ledger, SMTP)", ours),
        ("plain smtplib, same bytes, one connection", theirs),
    ):
        best, middle = count / min(times), count / statistics.median(times)
        print(f"  {label:<44} {best:8.0f} {1000 / best:8.2f}   ({middle:.0f} msg/s)")
    verdict = "met" if ratio >= TARGET else "missed"
    print(f"  {'ratio notifier / smtplib':<44} {ratio:8.2f}   target >= {TARGET:.2f}: {verdict}")

    print("\nWhere notifier's time goes (each stage timed alone, best round, ms per message)")
    for label, seconds in stages.items():
        print(f"  {label:<44} {seconds * 1000:8.2f}")
    smtp = min(theirs) / count
    print(f"  {'SMTP transaction (the reference, above)':<44} {smtp * 1000:8.2f}")
    rest = min(ours) / count - sum(stages.values()) - smtp
    print(f"  {'rest (due dates, logging, bookkeeping)':<44} {rest * 1000:8.2f}")
    total = time.perf_counter() - started
    print(f"\nThe sink received {received} messages in all. Total {total:.1f} s")


if __name__ == "__main__":
    main()
