"""Faults with real parts: kill -9, SMTP outages and refusals, a broken ledger, clock jumps.

Everything here is real: the daemon (a subprocess, or ``Daemon`` in this process with a clock
the test sets), an aiosmtpd server on loopback (``smtp_server.py``), SQLite ledger files. The
assertions are about what users rely on: the messages the SMTP server received (one copy per
recipient, a duplicate only for a message in flight at a crash, and then with the same
Message-ID), the ledger's rows, exit codes, /healthz and the log.

Backoff, leases and catch-up are minutes to days long, so tests that need time to pass drive
the daemon through its clock boundary: ``Daemon(clock=...)`` in this process, with ``wake()``
called at the moments the daemon itself asks to be woken (``SendReport.next_wake``). Those
moments lie in the future of the real clock, so the daemon's own scheduler never fires during
a test and every wake is the test's.
"""

from __future__ import annotations

import json
import logging
import os
import re
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import tomllib
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from email import policy
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
from smtp_server import BUSY, PERMANENT, TEMPORARY, SmtpServer

from notifier.daemon import Daemon
from notifier.due import DEFAULT_LEASE, EXPIRED, SUPERSEDED
from notifier.ledger import SCHEMA_VERSION, SqliteLedger
from notifier.sender import SendReport
from notifier.systemd import Notifier

pytestmark = pytest.mark.slow

DEADLINE = 30.0
STOCKHOLM = ZoneInfo("Europe/Stockholm")
# /healthz gives its details to a request from this host only: the operator's view.
OPERATOR = {"REMOTE_ADDR": "127.0.0.1"}
COORDINATOR = "samordnare@gotland.example"
T = TypeVar("T")


# --- The project: a plan built for the fault, the shipped templates and config ------------


@dataclass(frozen=True)
class Milestone:
    action: str
    due: date
    organisations: tuple[str, ...]  # addresses; each organisation has one


def write_project(
    project: Path,
    smtp: SmtpServer,
    milestones: list[Milestone],
    leads: list[str],
) -> Path:
    """Replace the shipped plans with one plan ("fault") of explicit milestones; point the
    config at ``smtp`` (no TLS) and a free HTTP port. Returns the config file."""
    plans = project / "plan"
    for old in plans.glob("*.toml"):
        old.unlink()
    addresses = sorted({a for m in milestones for a in m.organisations})
    (plans / "organisations.toml").write_text(
        "".join(f'[[organisation]]\nname = "{_org(a)}"\nemails = ["{a}"]\n\n' for a in addresses),
        encoding="utf-8",
    )
    actions = [
        f'[[action]]\nid = "{m.action}"\n"åtgärd" = "Åtgärd {m.action}"\n'
        f'vem = "{", ".join(_org(a) for a in m.organisations)}"\n"när" = "se delmål"\n\n'
        f'[[action.milestone]]\nlabel = "Klart"\ndue = {m.due.isoformat()}\n\n'
        for m in milestones
    ]
    (plans / "fault.toml").write_text(
        'id = "fault"\ntitle = "Felplan"\ndate = 2024-01-01\nyear = 2024\n'
        f"leads = {json.dumps(leads)}\n\n" + "".join(actions),
        encoding="utf-8",
    )
    config = project / "config.toml"
    text = config.read_text(encoding="utf-8")
    for old, new in (
        ('host = ""', f'host = "{smtp.host}"'),
        ("port = 587", f"port = {smtp.port}"),
        ('security = "starttls"', 'security = "none"'),
        ("port = 8080", f"port = {_free_port()}"),
        ("timeout = 30.0", "timeout = 5.0"),
        # A hundred reminders to each address at once, on purpose: no cap holds them.
        ("daily_cap = 20", "daily_cap = 0"),
    ):
        assert old in text, f"config.toml no longer has {old!r}"
        text = text.replace(old, new, 1)
    config.write_text(text, encoding="utf-8")
    return config


def _org(address: str) -> str:
    return "Org " + address.split("@")[0]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_port(config: Path) -> int:
    return int(tomllib.loads(config.read_text(encoding="utf-8"))["server"]["port"])


def ledger_file(project: Path) -> Path:
    return project / "state" / "ledger.sqlite3"


def start_of_day(day: date) -> datetime:
    return datetime.combine(day, clock_time(0), tzinfo=STOCKHOLM)


def local_today() -> date:
    return datetime.now(STOCKHOLM).date()


def future_monday(days: int = 40) -> datetime:
    """Monday 12:00 UTC at least ``days`` ahead of the real clock (see the module docstring)."""
    day = date.today() + timedelta(days=days)
    day += timedelta(days=(7 - day.weekday()) % 7)
    return datetime.combine(day, clock_time(12), tzinfo=UTC)


# --- What the SMTP server received, and what the ledger says ------------------------------


@dataclass(frozen=True)
class Copy:
    """One message as one recipient got it."""

    rcpt: str
    message_id: str
    uid: str | None  # the attached milestone's UID: which milestone, whatever the Message-ID
    date: datetime
    text: str


def copies(smtp: SmtpServer) -> list[Copy]:
    with smtp.handler.lock:
        received = list(smtp.handler.received)
    result = []
    for item in received:
        message = BytesParser(policy=policy.default).parsebytes(item.data)
        uid = None
        texts = []
        for part in message.walk():
            if part.get_content_type() == "text/calendar":
                found = re.search(r"^UID:(.+?)\r?$", part.get_content(), re.M)
                uid = found.group(1) if found else None
            elif part.get_content_type() == "text/plain":
                texts.append(part.get_content())
        date_ = parsedate_to_datetime(str(message["Date"]))
        for rcpt in item.rcpt_tos:
            result.append(Copy(rcpt, str(message["Message-ID"]), uid, date_, "\n".join(texts)))
    return result


def ledger_rows(path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """Every row of the ledger, read with plain sqlite3 (not through notifier)."""
    with closing(sqlite3.connect(path, timeout=10)) as db:
        db.row_factory = sqlite3.Row
        rows = db.execute("SELECT * FROM deliveries").fetchall()
    return {(r["key"], r["recipient"]): dict(r) for r in rows}


def action_of(key: str) -> str:
    """The action id in a message key ('fault/a017/…@2026-11-28-95h' -> 'a017')."""
    return key.split("/")[1]


def utc(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def next_message_due(log: str) -> datetime:
    """The last 'next message due at="…"' moment the daemon announced, as an aware time."""
    found = re.findall(r'next message due at="(\d{4}-\d\d-\d\d \d\d:\d\d) (\w+)"', log)
    assert found, log
    text, zone_name = found[-1]
    zone = UTC if zone_name == "UTC" else STOCKHOLM
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=zone)


def _eventually(check: Callable[[], bool], what: str, log: Callable[[], str] = str) -> None:
    end = time.monotonic() + DEADLINE
    while not check():
        assert time.monotonic() < end, f"timed out waiting for {what}\n{log()}"
        time.sleep(0.01)


# --- The daemon as a subprocess -----------------------------------------------------------


class Process:
    """``python -m notifier run``, with sd_notify on ``notify``; stderr kept in memory."""

    def __init__(
        self,
        config: Path,
        notify: socket.socket,
        *,
        args: tuple[str, ...] = (),
        launcher: tuple[str, ...] = (),
        umask: int = -1,
    ) -> None:
        self.config = config
        self.notify = notify
        self.port = http_port(config)
        env = {**os.environ, "NOTIFY_SOCKET": notify.getsockname()}
        env.pop("JOURNAL_STREAM", None)
        argv = [sys.executable, "-m", "notifier", "--config", str(config), "run"]
        self.proc = subprocess.Popen(
            [*launcher, *argv, "--watch-interval", "0", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            umask=umask,
        )
        self._err = bytearray()
        assert self.proc.stderr is not None
        stream = self.proc.stderr
        self._reader = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._reader.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self._err.extend(line)

    @property
    def log(self) -> str:
        return self._err.decode("utf-8", "replace")

    def wait_for(self, field: str) -> None:
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            self.notify.settimeout(0.1)
            try:
                message = self.notify.recv(4096).decode()
            except TimeoutError:
                assert self.proc.poll() is None, f"the daemon exited:\n{self.log}"
                continue
            if field in message.split("\n"):
                return
        raise AssertionError(f"no {field} from the daemon; log:\n{self.log}")

    def wait_log(self, text: str, after: int = 0) -> None:
        _eventually(lambda: text in self.log[after:], repr(text), lambda: self.log)

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def kill9(self) -> None:
        self.proc.kill()
        assert self.proc.wait(timeout=DEADLINE) == -signal.SIGKILL

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=DEADLINE)
        self._reader.join(timeout=DEADLINE)
        return code

    def exit_code(self) -> int:
        code = self.proc.wait(timeout=DEADLINE)
        self._reader.join(timeout=DEADLINE)
        return code


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    """Every subprocess a test starts, killed at the end whatever happened."""
    started: list[Process] = []
    yield started
    for process in started:
        if process.proc.poll() is None:
            process.proc.kill()
            process.proc.wait(timeout=DEADLINE)


# --- The daemon in this process, with the test's clock ------------------------------------


class Clock:
    """The daemon's clock boundary: it reads ``now``, the test sets it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def run_daemon(
    config: Path, clock: Clock, notify_path: Path, script: Callable[[Daemon], T]
) -> tuple[int, T]:
    """Run ``Daemon.run()`` here (it installs signal handlers, so it must be the main thread)
    while ``script(daemon)`` drives it from another thread once it said READY=1; then stop it.

    The daemon logs to ``sys.stderr`` (the test reads it with capsys), as it does in service.
    """
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(notify_path))
    daemon = Daemon(config, clock=clock, notifier=Notifier(str(notify_path)), watch_interval=0)
    finished = threading.Event()
    outcome: dict[str, Any] = {}

    def drain() -> None:
        while not finished.is_set():
            try:
                listener.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return

    def drive() -> None:
        try:
            end = time.monotonic() + DEADLINE
            listener.settimeout(0.1)
            while True:
                assert not finished.is_set(), "the daemon stopped before it was ready"
                assert time.monotonic() < end, "no READY=1 from the daemon"
                try:
                    if "READY=1" in listener.recv(4096).decode().split("\n"):
                        break
                except TimeoutError:
                    continue
            # Keep reading, as systemd does: a full queue would hold each notice a second.
            threading.Thread(target=drain, daemon=True).start()
            outcome["value"] = script(daemon)
        except BaseException as error:
            outcome["error"] = error
        finally:
            daemon.stop()

    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    root = RootLogging()
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    driver = threading.Thread(target=drive, daemon=True)
    driver.start()
    watchdog = threading.Timer(DEADLINE, daemon.stop)  # a script that hangs ends the run
    watchdog.start()
    try:
        code = daemon.run()
    finally:
        watchdog.cancel()
        finished.set()
        daemon.stop()
        driver.join(DEADLINE)
        listener.close()
        for number, handler in handlers.items():
            signal.signal(number, handler)
        root.restore()
    if "error" in outcome:
        raise outcome["error"]
    assert "value" in outcome, f"the test's script did not finish within {DEADLINE} s"
    return code, outcome["value"]


class RootLogging:
    """The root logger's handlers and level, to put back after the daemon set up its own."""

    def __init__(self) -> None:
        self._root = logging.getLogger()
        self._handlers = list(self._root.handlers)
        self._level = self._root.level
        self._smtpd = logging.getLogger("mail.log")  # aiosmtpd's, in this process
        self._smtpd_level = self._smtpd.level

    def restore(self) -> None:
        self._root.handlers[:] = self._handlers
        self._root.setLevel(self._level)
        self._smtpd.setLevel(self._smtpd_level)


def walk(daemon: Daemon, clock: Clock, until: datetime) -> list[SendReport]:
    """Wake at every moment the daemon asks for, up to ``until``."""
    reports = []
    while True:
        report = daemon.wake()
        assert report is not None, "the send step failed"
        reports.append(report)
        if report.next_wake is None or report.next_wake > until:
            return reports
        assert report.next_wake > clock.now, "the daemon asked to be woken in the past"
        clock.now = report.next_wake


# --- a) kill -9 in the middle of 500 reminders ---------------------------------------------


def test_kill_9_mid_batch_of_500_loses_nothing_and_duplicates_only_the_message_in_flight(
    project: Path,
    notify: socket.socket,
    processes: list[Process],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # 100 milestones due in three days, five organisations each, one 95-hour lead (not whole
    # days: exactly 95 h before the due date, so every reminder is due right now).
    due = local_today() + timedelta(days=3)
    addresses = tuple(f"org{n}@example.se" for n in range(5))
    plan = [Milestone(f"a{n:03d}", due, addresses) for n in range(100)]
    expected = {(f"a{n:03d}", a) for n in range(100) for a in addresses}
    with SmtpServer() as smtp:
        config = write_project(project, smtp, plan, ["95h"])
        ledger = ledger_file(project)
        smtp.handler.reply_delay = 0.002  # a slow sink: the kill lands mid-batch

        # Kill 1: message 150 is in the server, its 250 not yet back (the worst moment).
        held = smtp.handler.hold(150)
        first = Process(config, notify)
        processes.append(first)
        assert held.wait(DEADLINE), first.log
        first.kill9()
        smtp.handler.release()
        in_flight = {k: r for k, r in ledger_rows(ledger).items() if r["state"] == "sending"}
        assert len(in_flight) == 1
        received = Counter((c.rcpt, c.message_id) for c in copies(smtp))
        [(key, rcpt)] = in_flight
        assert received[(rcpt, in_flight[(key, rcpt)]["message_id"])] == 1

        # Kill 2: wherever the batch happens to be once 350 are in.
        second = Process(config, notify)
        processes.append(second)
        _eventually(lambda: len(smtp.handler.received) >= 350, "350 messages", lambda: second.log)
        second.kill9()
        rows = ledger_rows(ledger)
        in_flight = {k: r for k, r in rows.items() if r["state"] == "sending"}
        assert 1 <= len(in_flight) <= 2  # the first one still holds its lease; one per kill
        received = Counter((c.rcpt, c.message_id) for c in copies(smtp))
        # A duplicate can only be a message in flight that the server already has.
        doubtful = {k for k, r in in_flight.items() if received[(k[1], r["message_id"])]}

        # Restart: everything else goes out; the messages in flight wait out their lease.
        third = Process(config, notify)
        processes.append(third)
        third.wait_log("next message due")
        lease_end = min(utc(r["claimed_at"]) for r in in_flight.values()) + DEFAULT_LEASE
        # The daemon wakes when the lease runs out, or sooner when a digest falls due first
        # (the suite may run at 07:59 on a Monday).
        assert next_message_due(third.log) <= lease_end, third.log
        rows = ledger_rows(ledger)
        assert {k for k, r in rows.items() if r["state"] == "sending"} == set(in_flight)
        assert {
            (action_of(k[0]), k[1]) for k, r in rows.items() if r["kind"] == "reminder"
        } == expected
        # Reminders are what this test is about; a digest may fall due or be superseded at
        # whatever moment the suite runs, so it is only held to "never twice" below.
        assert {
            r["state"] for k, r in rows.items() if k not in in_flight and r["kind"] == "reminder"
        } == {"sent"}
        now = Counter((c.rcpt, c.message_id) for c in copies(smtp))
        for (key, rcpt), row in in_flight.items():
            assert now[(rcpt, row["message_id"])] == received[(rcpt, row["message_id"])], key
        assert third.stop() == 0

        # Ten minutes later (the lease), a wake sends the messages in flight again.
        clock = Clock(max(utc(r["claimed_at"]) for r in in_flight.values()) + DEFAULT_LEASE)
        code, report = run_daemon(config, clock, tmp_path / "inproc.sock", lambda d: d.wake())
        assert code == 0 and report is not None
        resent = [o for o in report.sent if o.kind == "reminder"]
        assert {(o.key, o.address) for o in resent} == set(in_flight)
        assert all(o.resend for o in resent)
        log = capsys.readouterr().err
        for key, rcpt in in_flight:
            assert (
                f"{key} to {rcpt}: an earlier attempt ended without a result; sending again as "
                f"{in_flight[(key, rcpt)]['message_id']}"
            ) in log

        got = copies(smtp)
        rows = ledger_rows(ledger)

    reminders = {k: r for k, r in rows.items() if r["kind"] == "reminder"}
    assert {(action_of(k[0]), k[1]) for k in reminders} == expected
    assert all(k[0].endswith(f"@{due.isoformat()}-95h") for k in reminders)
    assert {r["state"] for r in reminders.values()} == {"sent"}
    # One milestone (UID) to one recipient is one message: every copy has the same Message-ID,
    # the one the ledger holds.
    by_milestone: dict[tuple[str, str | None], list[str]] = {}
    for copy in (c for c in got if c.uid is not None):  # digests carry no milestone
        by_milestone.setdefault((copy.rcpt, copy.uid), []).append(copy.message_id)
    for (rcpt, _uid), ids in by_milestone.items():
        assert len(set(ids)) == 1, f"{rcpt} got one milestone under {len(set(ids))} Message-IDs"
    assert {(c.rcpt, c.message_id) for c in got} == {
        (k[1], r["message_id"]) for k, r in rows.items() if r["state"] != "skipped"
    }
    counts = Counter((c.rcpt, c.message_id) for c in got)
    duplicates = {k for k, r in rows.items() if counts[(k[1], r["message_id"])] > 1}
    assert all(n <= 2 for n in counts.values())
    assert duplicates == doubtful
    assert len(duplicates) <= 2  # at most one per killed connection
    assert len([c for c in got if c.uid]) == len(expected) + len(duplicates)


# --- b) the SMTP server down for a stretch, then up ----------------------------------------


def test_an_smtp_outage_is_retried_with_growing_pauses_and_delivered_once_after_it(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = future_monday()
    due = base.astimezone(STOCKHOLM).date() + timedelta(days=3)
    addresses = ("org0@example.se", "org1@example.se")
    plan = [Milestone(f"a{n}", due, addresses) for n in range(3)]
    smtp = SmtpServer()
    smtp.start()
    try:
        config = write_project(project, smtp, plan, ["95h"])
        smtp.stop()  # down: nothing listens on the port
        clock = Clock(base)
        steps: list[tuple[str, datetime, SendReport]] = []

        def script(daemon: Daemon) -> SendReport:
            for phase in ("refused", "refused", "busy", "busy"):
                if phase == "busy" and not smtp.handler.greeting:
                    # Up again on the same port, but answering every connection with 421.
                    smtp.handler.greeting = BUSY
                    smtp.start()
                report = daemon.wake()
                assert report is not None and report.next_wake is not None
                steps.append((phase, clock.now, report))
                # What the daemon tells its scheduler: wake at the earliest retry.
                assert daemon.health.next_wake == report.next_wake
                clock.now = report.next_wake
            smtp.handler.greeting = None
            recovered = daemon.wake()
            assert recovered is not None
            clock.now += timedelta(hours=1)
            later = daemon.wake()
            assert later is not None and later.sent == [] and later.failed == []
            return recovered

        code, recovered = run_daemon(config, clock, tmp_path / "inproc.sock", script)
        got = copies(smtp)
    finally:
        smtp.stop()
    assert code == 0
    log = capsys.readouterr().err
    rows = ledger_rows(ledger_file(project))
    retries = [report.next_wake for _, _, report in steps]
    assert [r - at for r, (_, at, _) in zip(retries, steps, strict=True) if r] == [
        timedelta(minutes=m) for m in (1, 2, 4, 8)
    ]

    outstanding = {(o.key, o.address) for o in steps[0][2].failed}
    assert len([k for k in outstanding if rows[k]["kind"] == "reminder"]) == 6
    where = f"{smtp.host}:{smtp.port}"
    for (phase, _, report), retry in zip(steps, retries, strict=True):
        assert report.sent == []
        assert {(o.key, o.address) for o in report.failed} == outstanding
        assert not any(o.permanent for o in report.failed)
        reason = (
            f"connection refused by {where}: is the SMTP server running?"
            if phase == "refused"
            else f"{where} answered {BUSY}"
        )
        # One log line per message and attempt, saying why and when it is tried again.
        assert log.count(f"{reason}; retry after {retry}") == len(outstanding), (phase, log)
        assert f'next message due at="{retry:%Y-%m-%d %H:%M} UTC"' in log

    assert {(o.key, o.address) for o in recovered.sent} == outstanding
    assert recovered.failed == []
    # Delivered once each, after the outage, with the Message-ID the ledger holds.
    assert sorted((c.rcpt, c.message_id) for c in got) == sorted(
        (address, rows[(key, address)]["message_id"]) for key, address in outstanding
    )
    assert all(c.date == retries[-1] for c in got)
    assert {(rows[k]["state"], rows[k]["attempts"]) for k in outstanding} == {("sent", 5)}


# --- c) temporary and permanent refusals of chosen recipients -------------------------------


def test_temporary_refusals_are_retried_permanent_ones_recorded_and_others_unaffected(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = future_monday()
    due = base.astimezone(STOCKHOLM).date() + timedelta(days=3)
    ok = ("a-ok@example.se", "e-ok@example.se")
    busy, gone, later = "b-busy@example.se", "c-gone@example.se", "d-later@example.se"
    # Sent in address order: the 421 (which closes the connection) comes second.
    addresses = (ok[0], busy, gone, later, ok[1])
    plan = [Milestone(f"a{n}", due, addresses) for n in range(2)]
    with SmtpServer() as smtp:
        config = write_project(project, smtp, plan, ["95h"])
        smtp.handler.refuse(busy, BUSY)
        smtp.handler.refuse(gone, PERMANENT)
        smtp.handler.refuse(later, TEMPORARY)
        clock = Clock(base)
        ledger = ledger_file(project)

        def script(daemon: Daemon) -> dict[str, Any]:
            first = daemon.wake()
            assert first is not None and first.next_wake is not None
            after_first = ledger_rows(ledger)
            # The server gets over its temporary trouble; the unknown user stays unknown.
            del smtp.handler.answers[busy], smtp.handler.answers[later]
            clock.now = first.next_wake
            second = daemon.wake()
            # A week on: due notices, the next weekly digest; never the refused one again.
            rest = walk(daemon, clock, base + timedelta(days=8))
            return {"first": first, "rows": after_first, "second": second, "rest": rest}

        code, seen = run_daemon(config, clock, tmp_path / "inproc.sock", script)
        got = copies(smtp)
        rcpt_seen = Counter(smtp.handler.rcpt_seen)
    assert code == 0
    log = capsys.readouterr().err
    first, second = seen["first"], seen["second"]
    reminder_sent = [(action_of(o.key), o.address) for o in first.sent if o.kind == "reminder"]
    assert sorted(reminder_sent) == sorted((f"a{n}", a) for n in range(2) for a in ok)
    failed = {(action_of(o.key), o.address): o for o in first.failed}
    assert set(failed) == {(f"a{n}", a) for n in range(2) for a in (busy, gone, later)}
    assert {(a, o.permanent, o.code) for (_, a), o in failed.items()} == {
        (busy, False, 421),
        (gone, True, 550),
        (later, False, 451),
    }
    assert first.next_wake == base + timedelta(minutes=1)

    # The ledger after the first step: the error, and whether and when it is tried again.
    rows = {k: r for k, r in seen["rows"].items() if r["kind"] == "reminder"}
    for (_, address), row in rows.items():
        if address in ok:
            assert (row["state"], row["attempts"]) == ("sent", 1)
        elif address == gone:
            assert (row["state"], row["permanent"], row["next_attempt_at"]) == ("failed", 1, None)
            assert "550 5.1.1 No such user here" in row["last_error"]
        else:
            assert (row["state"], row["permanent"]) == ("failed", 0)
            assert utc(row["next_attempt_at"]) == base + timedelta(minutes=1)
            assert (BUSY if address == busy else TEMPORARY) in row["last_error"]

    assert second is not None and second.failed == []
    assert sorted((action_of(o.key), o.address) for o in second.sent) == sorted(
        (f"a{n}", a) for n in range(2) for a in (busy, later)
    )
    assert not [o for r in seen["rest"] for o in r.sent + r.failed if o.kind == "reminder"]

    # What the recipients got: one reminder per milestone each, none for the unknown user,
    # who was asked for once per message and never again.
    reminders = Counter(c.rcpt for c in got if c.uid)
    assert reminders == {a: 2 for a in (*ok, busy, later)}
    assert len({(c.rcpt, c.message_id) for c in got}) == len(got)
    assert rcpt_seen[gone] == 2
    assert rcpt_seen[busy] == rcpt_seen[later] == 4

    final = ledger_rows(ledger_file(project))
    for key, row in final.items():
        if row["kind"] == "reminder" and key[1] == gone:
            assert (row["state"], row["permanent"], row["attempts"]) == ("failed", 1, 1)
        elif row["kind"] == "reminder":
            assert row["state"] == "sent"
    refused = [line for line in log.splitlines() if f" to {gone} in " in line]
    assert len(refused) == 2  # one per message, never a retry
    for line in refused:
        assert line.endswith(
            f"SMTP 550: recipient refused by the server: {PERMANENT}; permanent, reported in "
            "the digest"
        )
    # The coordinator hears of it in the next weekly digest; of the retried ones, no more.
    digest_ids = {r["message_id"] for r in final.values() if r["kind"] == "digest"}
    weekly = [c for c in got if c.message_id in digest_ids and c.date > base]
    last = max(weekly, key=lambda c: c.date).text
    assert last.count(f"{gone} (") == 2
    assert last.count(PERMANENT) == 2
    assert busy not in last and later not in last


# --- d) a ledger that cannot be used: read-only, full, corrupt, another schema version ------

NOT_A_LEDGER_HINT = "Point ledger.path at a notifier ledger, or at a new file to start one."


def service_user() -> tuple[str, ...]:
    """A launcher that lets file modes bind the daemon even when the tests run as root.

    The service runs as its own user; root ignores modes through CAP_DAC_OVERRIDE, which
    util-linux's setpriv drops from the bounding set (Linux) before it execs the daemon. A
    launcher, not preexec_fn: Python code in a forked child of a threaded parent can deadlock
    (it did under libfaketime).
    """
    if os.geteuid() != 0:
        return ()
    return ("setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--")


@pytest.fixture
def modes_bind(tmp_path: Path) -> None:
    """Skip unless a read-only folder keeps a process started with ``service_user`` out."""
    folder = tmp_path / "read-only-probe"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        probe = subprocess.run(
            [*service_user(), sys.executable, "-c", f"open({str(folder / 'x')!r}, 'w')"],
            capture_output=True,
            timeout=DEADLINE,
        )
    except (OSError, subprocess.SubprocessError) as error:
        pytest.skip(f"cannot run a process that file modes bind here: {error}")
    finally:
        folder.chmod(0o755)
    if probe.returncode == 0:
        pytest.skip("file modes do not bind this user here (root, and modes cannot be enforced)")


def one_due_reminder(project: Path, smtp: SmtpServer) -> Path:
    """A plan with reminders due right now, so 'nothing sent' means something."""
    due = local_today() + timedelta(days=3)
    plan = [Milestone("a0", due, ("org0@example.se", "org1@example.se"))]
    return write_project(project, smtp, plan, ["95h"])


def new_ledger(path: Path, user_version: int | None = None) -> bytes:
    """A ledger as notifier makes it (optionally with another schema version); its bytes."""
    SqliteLedger(path).close()
    if user_version is not None:
        with closing(sqlite3.connect(path)) as db:
            db.execute(f"PRAGMA user_version = {user_version}")
    return path.read_bytes()


def damage_pages(path: Path) -> bytes:
    """Keep the header page (the file still opens as SQLite), overwrite every table page."""
    data = bytearray(path.read_bytes())
    data[4096:] = (b"\xde\xad\xbe\xef" * len(data))[: len(data) - 4096]
    path.write_bytes(bytes(data))
    return bytes(data)


def notified(sock: socket.socket) -> list[str]:
    sock.settimeout(0.05)
    messages = []
    while True:
        try:
            messages.extend(sock.recv(4096).decode().split("\n"))
        except TimeoutError:
            return messages


@pytest.mark.parametrize(
    ("case", "says"),
    [
        ("garbage", ["not a usable ledger: file is not a database", NOT_A_LEDGER_HINT]),
        ("newer schema", [f"schema version {SCHEMA_VERSION + 1} is newer", "upgrade notifier"]),
        ("older schema", ["not a notifier ledger (schema version 0", NOT_A_LEDGER_HINT]),
        ("read-only folder", ["cannot open the ledger"]),
    ],
    ids=["garbage", "newer schema", "older schema", "read-only folder"],
)
def test_a_ledger_that_cannot_be_used_stops_the_daemon_naming_the_file_and_sends_nothing(
    case: str,
    says: list[str],
    project: Path,
    notify: socket.socket,
    processes: list[Process],
    request: pytest.FixtureRequest,
) -> None:
    ledger = ledger_file(project)
    ledger.parent.mkdir()
    before: bytes | None = None
    launcher: tuple[str, ...] = ()
    if case == "garbage":
        before = b"This is not SQLite, it is a text file someone saved here.\n" * 100
        ledger.write_bytes(before)
    elif case == "newer schema":
        before = new_ledger(ledger, user_version=SCHEMA_VERSION + 1)
    elif case == "older schema":
        before = new_ledger(ledger, user_version=0)
    else:
        request.getfixturevalue("modes_bind")
        ledger.parent.chmod(0o555)
        launcher = service_user()
    try:
        with SmtpServer() as smtp:
            process = Process(one_due_reminder(project, smtp), notify, launcher=launcher)
            processes.append(process)
            code = process.exit_code()
            assert smtp.handler.received == []
    finally:
        ledger.parent.chmod(0o755)
    assert code == 1, process.log
    error = process.log.split("notifier: ", 1)[-1]
    assert error.startswith(f"{ledger}: "), process.log
    for text in says:
        assert text in error
    assert "Traceback" not in process.log
    assert "READY=1" not in notified(notify)
    if before is not None:
        assert ledger.read_bytes() == before  # never "repaired" or overwritten


@pytest.mark.parametrize("ledger_exists", [False, True], ids=["no ledger yet", "ledger exists"])
def test_a_read_only_ledger_folder_is_reported_as_one_that_must_be_made_writable(
    ledger_exists: bool,
    project: Path,
    notify: socket.socket,
    processes: list[Process],
    modes_bind: None,
) -> None:
    ledger = ledger_file(project)
    ledger.parent.mkdir()
    if ledger_exists:
        new_ledger(ledger)
    ledger.parent.chmod(0o555)
    try:
        with SmtpServer() as smtp:
            config = one_due_reminder(project, smtp)
            process = Process(config, notify, launcher=service_user())
            processes.append(process)
            code = process.exit_code()
            assert smtp.handler.received == []
    finally:
        ledger.parent.chmod(0o755)
    assert code == 1
    error = process.log.split("notifier: ", 1)[-1]
    assert str(ledger) in error
    assert re.search(r"\bwritable\b|may write to|permission", error), error


def break_ledger_under_a_daemon(
    case: str, project: Path, request: pytest.FixtureRequest
) -> tuple[Path, bytes, tuple[str, ...]]:
    """A ledger that opens but fails at the first send step: read-only file, damaged pages."""
    ledger = ledger_file(project)
    ledger.parent.mkdir()
    before = new_ledger(ledger)
    if case == "read-only file":
        request.getfixturevalue("modes_bind")
        ledger.chmod(0o444)
        return ledger, before, service_user()
    return ledger, damage_pages(ledger), ()


@pytest.mark.parametrize("case", ["read-only file", "damaged pages"])
def test_a_ledger_that_fails_under_a_running_daemon_gives_503_names_it_and_sends_nothing(
    case: str,
    project: Path,
    notify: socket.socket,
    processes: list[Process],
    request: pytest.FixtureRequest,
) -> None:
    ledger, before, launcher = break_ledger_under_a_daemon(case, project, request)
    with SmtpServer() as smtp:
        process = Process(one_due_reminder(project, smtp), notify, launcher=launcher)
        processes.append(process)
        process.wait_for("READY=1")
        process.wait_log("send step failed")
        # The step logs its failure, then schedules the next try: read after both.
        _eventually(
            lambda: json.loads(process.get("/healthz")[1])["next_wake"] is not None,
            "the retry scheduled",
            lambda: process.log,
        )
        status, body = process.get("/healthz")
        assert status == 503
        health = json.loads(body)
        assert health["status"] != "ok" and health["ledger"] != "ok"
        # It tries again by itself within a minute; meanwhile the feeds are served.
        retry = datetime.fromisoformat(health["next_wake"])
        assert retry <= datetime.now(UTC) + timedelta(seconds=61)
        assert process.get("/calendar.ics")[0] == 200
        assert process.stop() == 0
        assert smtp.handler.received == []
    assert ledger.read_bytes() == before
    # The log names the ledger file and says what to do, without a traceback.
    [line] = [line for line in process.log.splitlines() if "send step failed" in line]
    assert str(ledger) in line, process.log
    assert "Traceback" not in process.log


@pytest.mark.skipif(not hasattr(resource, "prlimit"), reason="needs prlimit (Linux)")
def test_a_full_disk_stops_sending_with_503_and_the_rest_goes_once_when_space_is_back(
    project: Path, notify: socket.socket, processes: list[Process]
) -> None:
    # "Disk full" without root: a file size limit on the daemon alone (RLIMIT_FSIZE; Python
    # ignores SIGXFSZ, so a write past it fails like one on a full disk). Its soft limit can
    # be raised again from outside, as freeing space would.
    limit = 400_000
    unlimited = (resource.RLIM_INFINITY, resource.RLIM_INFINITY)

    due = local_today() + timedelta(days=3)
    addresses = tuple(f"org{n}@example.se" for n in range(5))
    plan = [Milestone(f"a{n:02d}", due, addresses) for n in range(40)]
    with SmtpServer() as smtp:
        config = write_project(project, smtp, plan, ["95h"])
        # util-linux's prlimit, not preexec_fn: Python code in a forked child of a threaded
        # parent can deadlock (it did under libfaketime), a plain exec cannot.
        fsize = f"--fsize={limit}:unlimited"
        process = Process(config, notify, launcher=("prlimit", fsize, "--"))
        processes.append(process)
        process.wait_for("READY=1")
        process.wait_log("send step failed")
        # The retry is scheduled just after the failure is logged: wait for /healthz to show it.
        _eventually(
            lambda: json.loads(process.get("/healthz")[1]).get("next_wake") is not None,
            "the retry in /healthz",
            lambda: process.log,
        )
        status, body = process.get("/healthz")
        assert status == 503 and json.loads(body)["ledger"] != "ok"
        retry = datetime.fromisoformat(json.loads(body)["next_wake"])
        assert retry <= datetime.now(UTC) + timedelta(seconds=61)
        during = copies(smtp)
        assert len(during) < len(plan) * len(addresses)

        resource.prlimit(process.proc.pid, resource.RLIMIT_FSIZE, unlimited)
        mark = len(process.log)
        process.proc.send_signal(signal.SIGHUP)  # rather than wait the minute for the retry
        process.wait_log("reloaded", after=mark)
        process.wait_log("next message due", after=mark)
        assert process.get("/healthz")[0] == 200
        assert process.stop() == 0
        got = copies(smtp)
    rows = ledger_rows(ledger_file(project))
    reminders = {k: r for k, r in rows.items() if r["kind"] == "reminder"}
    assert {(action_of(k[0]), k[1]) for k in reminders} == {
        (m.action, a) for m in plan for a in addresses
    }
    counts = Counter((c.rcpt, c.message_id) for c in got)
    assert max(counts.values()) == 1  # nothing twice
    in_flight = [k for k, r in rows.items() if r["state"] == "sending"]
    assert len(in_flight) <= 1  # a claim whose result could not be written: its lease resends
    for key, row in rows.items():
        sent = counts[(key[1], row["message_id"])]
        # A digest superseded by a later one (the suite may run on any day) is skipped; one
        # that fell due as the daemon was told to stop is recorded, for the next start.
        allowed = {("sent", 1), ("sending", 0), ("sending", 1), ("skipped", 0), ("due", 0)}
        assert (row["state"], sent) in allowed, key
        assert row["state"] not in ("skipped", "due") or row["kind"] == "digest", key


# --- e) the clock jumps a week forward, then a day back -------------------------------------

LEADS = {"73h": timedelta(hours=73), "25h": timedelta(hours=25)}  # exact, not working days


def jumping_clock_plan(base: datetime, days: list[int]) -> list[Milestone]:
    start = base.astimezone(STOCKHOLM).date()
    return [
        Milestone(f"m{k:02d}", start + timedelta(days=k), ("x@example.se", "y@example.se"))
        for k in days
    ]


def jump_around(
    daemon: Daemon, clock: Clock, base: datetime, end: datetime
) -> dict[str, list[SendReport]]:
    """Run normally for two days, jump a week ahead, come back a day, run on to ``end``."""
    before = walk(daemon, clock, base + timedelta(days=2))
    clock.now = base + timedelta(days=9)
    ahead = daemon.wake()
    clock.now = base + timedelta(days=8)
    back = daemon.wake()
    assert ahead is not None and back is not None and back.next_wake is not None
    after = []
    if back.next_wake <= end:
        clock.now = back.next_wake
        after = walk(daemon, clock, end)
    return {"before": before, "ahead": [ahead], "back": [back], "after": after}


def test_a_clock_jumping_a_week_ahead_and_a_day_back_loses_and_doubles_nothing(
    project: Path, tmp_path: Path
) -> None:
    base = future_monday()
    ahead, back, end = (base + timedelta(days=d) for d in (9, 8, 18))
    # Milestones due on each of the next twelve days, but none on the day the clock was
    # ahead of time (see the next test for that one).
    start = base.astimezone(STOCKHOLM).date()
    days = [k for k in range(1, 13) if not back < start_of_day(start + timedelta(k)) <= ahead]
    assert len(days) == 11
    plan = jumping_clock_plan(base, days)
    with SmtpServer() as smtp:
        config = write_project(project, smtp, plan, list(LEADS))
        clock = Clock(base)
        code, steps = run_daemon(
            config, clock, tmp_path / "inproc.sock", lambda d: jump_around(d, clock, base, end)
        )
        got = copies(smtp)
    assert code == 0
    rows = ledger_rows(ledger_file(project))

    # What the catch-up rule says must happen to each reminder: on time when the clock passed
    # its send time while running; of those the jump (or the start) passed over, only the
    # latest per milestone, and only while the milestone is not yet due.
    expected: dict[tuple[str, str], tuple[str, datetime | None]] = {}
    for milestone in plan:
        due_at = start_of_day(milestone.due).astimezone(UTC)
        times = {lead: due_at - length for lead, length in LEADS.items()}
        for wake_at, window in ((base, (None, base)), (ahead, (base + timedelta(2), ahead))):
            passed = [lead for lead, at in times.items() if _within(at, window)]
            latest = max(passed, key=lambda lead: times[lead], default=None)
            for lead in passed:
                if lead != latest:
                    reason = f"{SUPERSEDED} the {latest} reminder"
                    if wake_at >= due_at:
                        reason += ", which was itself too late: the milestone fell due"
                    expected[(milestone.action, lead)] = (reason, None)
                elif wake_at < due_at:
                    expected[(milestone.action, lead)] = ("sent", wake_at)
                else:
                    expected[(milestone.action, lead)] = (EXPIRED, None)
        for lead, at in times.items():
            if _within(at, (base, base + timedelta(2))) or _within(at, (ahead, end)):
                expected[(milestone.action, lead)] = ("sent", at)

    reminders = {k: r for k, r in rows.items() if r["kind"] == "reminder"}
    outcome = {}
    for (key, rcpt), row in reminders.items():
        lead = key.rsplit("-", 1)[1]
        state = row["state"] if row["state"] == "sent" else row["note"]
        outcome[(action_of(key), lead, rcpt)] = state
    assert outcome == {
        (action, lead, rcpt): state
        for (action, lead), (state, _) in expected.items()
        for rcpt in ("x@example.se", "y@example.se")
    }
    # Every reminder sent arrived once, at the moment the rule says (the Date header).
    by_id = {(k[1], r["message_id"]): k for k, r in reminders.items()}
    arrived = Counter((c.rcpt, c.message_id) for c in got)
    assert max(arrived.values()) == 1
    for copy in got:
        if (copy.rcpt, copy.message_id) in by_id:
            key, rcpt = by_id[(copy.rcpt, copy.message_id)]
            _, at = expected[(action_of(key), key.rsplit("-", 1)[1])]
            assert copy.date == at, key
    # Due notices and digests too: once each, ledger and server agree, nothing left open.
    assert {r["state"] for r in rows.values()} <= {"sent", "skipped"}
    assert set(arrived) == {
        (k[1], r["message_id"]) for k, r in rows.items() if r["state"] == "sent"
    }
    due_notices = Counter(r["milestone_key"] for r in rows.values() if r["kind"] == "due")
    assert len(due_notices) == len(plan) and set(due_notices.values()) == {1}
    # Coming back a day sends nothing: all of it was dealt with while the clock was ahead.
    [back_report] = steps["back"]
    assert back_report.sent == [] and back_report.skipped == 0
    assert back_report.next_wake is not None and back_report.next_wake > ahead


def _within(moment: datetime, window: tuple[datetime | None, datetime]) -> bool:
    """In (first, last]; no first: anything up to last."""
    first, last = window
    return (first is None or first < moment) and moment <= last


def test_a_milestone_due_while_the_clock_was_ahead_still_gets_its_reminder_when_it_comes_back(
    project: Path, tmp_path: Path
) -> None:
    base = future_monday()
    ahead, back = base + timedelta(days=9), base + timedelta(days=8)
    plan = jumping_clock_plan(base, [9])
    due_at = start_of_day(plan[0].due)
    assert back < due_at <= ahead  # due inside the day the clock was wrongly ahead
    with SmtpServer() as smtp:
        config = write_project(project, smtp, plan, list(LEADS))
        clock = Clock(base)
        code, _ = run_daemon(
            config,
            clock,
            tmp_path / "inproc.sock",
            lambda d: jump_around(d, clock, base, due_at.astimezone(UTC) - timedelta(minutes=1)),
        )
        got = copies(smtp)
    assert code == 0
    # Back at the right time, the milestone is due in some ten hours and both of its
    # reminders were missed: the catch-up rule sends the latest one, late.
    assert Counter(c.rcpt for c in got if c.uid) == {"x@example.se": 1, "y@example.se": 1}


# --- SMTP logins: never in clear text, and a refused one is not retried for ever ------------


def _cli(config: Path, command: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "notifier", "--config", str(config), command],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize(
    ("host", "env", "named"),
    [
        ("mail.gotland.example", {}, "smtp.host = 'mail.gotland.example' with smtp.security"),
        ("127.0.0.1", {"NOTIFIER_SMTP__PASSWORD": "hemligt"}, "a password (from $NOTIFIER_"),
    ],
)
def test_smtp_without_tls_to_another_host_or_with_a_password_is_refused_at_start(
    project: Path, host: str, env: dict[str, str], named: str
) -> None:
    with SmtpServer() as smtp:
        config = write_project(project, smtp, [], ["1d"])
        text = config.read_text(encoding="utf-8")
        config.write_text(text.replace(f'host = "{smtp.host}"', f'host = "{host}"'), "utf-8")
        validated = _cli(config, "validate", **env)
        started = _cli(config, "run", **env)
        assert smtp.handler.rcpt_seen == [] and smtp.handler.connections == 0
    for result in (validated, started):
        assert result.returncode == 2, result.stderr  # as for every configuration error
        assert "configuration error" in result.stderr and named in result.stderr
        assert 'smtp.security = "starttls"' in result.stderr
        assert "hemligt" not in result.stderr
    assert not ledger_file(project).exists()  # refused before anything was opened


class CountingLogins(SmtpServer):
    """The test server, counting every AUTH attempt, refused ones included."""

    attempts = 0

    def _authenticate(self, *args: Any) -> Any:
        self.attempts += 1
        return super()._authenticate(*args)


def test_a_refused_login_stops_sending_for_an_hour_and_the_coordinator_hears_once_it_works(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    base = future_monday()
    due = base.astimezone(STOCKHOLM).date() + timedelta(days=3)
    addresses = ("org0@example.se", "org1@example.se")
    plan = [Milestone(f"a{n}", due, addresses) for n in range(3)]
    password = tmp_path / "smtp-password"
    password.write_text("gammalt-losen\n", encoding="utf-8")
    monkeypatch.setenv("NOTIFIER_SMTP__PASSWORD_FILE", str(password))
    with CountingLogins(security="tls", ca_dir=tmp_path, credentials=("notifier", "nytt")) as smtp:
        config = write_project(project, smtp, plan, ["95h"])
        text = config.read_text(encoding="utf-8")
        for old, new in (
            ('security = "none"', 'security = "tls"'),
            ('username = ""', 'username = "notifier"'),
            ('# ca_file = "/etc/notifier/smtp-ca.pem"', f'ca_file = "{smtp.ca_file}"'),
        ):
            assert old in text
            text = text.replace(old, new, 1)
        config.write_text(text, encoding="utf-8")
        clock = Clock(base)

        def script(daemon: Daemon) -> dict[str, Any]:
            seen: dict[str, Any] = {"first": daemon.wake()}
            seen["health"] = daemon.health.route(OPERATOR)
            seen["problems"] = [p.lines for p in daemon.ledger.problems()]
            seen["attempts"] = smtp.attempts
            # Within the hour nothing is tried.
            clock.now = base + timedelta(minutes=30)
            seen["held"] = daemon.wake()
            seen["attempts_in_the_hour"] = smtp.attempts
            seen["rcpt_in_the_hour"] = list(smtp.handler.rcpt_seen)
            # After it, one more try: refused again, the same notice (not a second one).
            clock.now = base + timedelta(hours=1)
            seen["again"] = daemon.wake()
            seen["notices"] = len(daemon.ledger.problems())
            # The password is fixed; a reload takes it and tries at once.
            password.write_text("nytt\n", encoding="utf-8")
            clock.now = base + timedelta(minutes=70)
            assert daemon.reload()
            seen["after"] = walk(daemon, clock, base + timedelta(hours=3))
            seen["health_after"] = daemon.health.route(OPERATOR)
            return seen

        code, seen = run_daemon(config, clock, tmp_path / "inproc.sock", script)
        got = copies(smtp)
    assert code == 0
    log = capsys.readouterr().err
    first = seen["first"]
    # One attempt, then the step stops: every other message would be refused the same way.
    # (smtplib tries each AUTH mechanism the server offers: one login, one or two attempts.)
    assert first.sent == [] and len(first.failed) == 1 and 1 <= seen["attempts"] <= 2
    (refused,) = first.failed
    assert refused.code == 535 and not refused.permanent
    assert refused.retry_at == base + timedelta(hours=1)
    assert first.login_refused and "535" in first.login_refused

    status, _, body = seen["health"]
    health = json.loads(body)
    assert status.startswith("503") and health["status"] == "degraded"
    assert health["smtp"].startswith("authentication refused: ") and "535" in health["smtp"]
    assert "losen" not in body.decode("utf-8") and "nytt" not in body.decode("utf-8")

    # The coordinator's notice waits in the ledger; SMTP is its only way out.
    assert any("refused notifier's login" in line for lines in seen["problems"] for line in lines)
    assert "check smtp.username and the SMTP password" in log
    assert f"password from {password}" in log
    assert "gammalt-losen" not in log

    held = seen["held"]
    assert held.sent == [] and held.failed == [] and held.next_wake == base + timedelta(hours=1)
    assert seen["attempts_in_the_hour"] == seen["attempts"]
    assert seen["rcpt_in_the_hour"] == []
    again = seen["again"]
    assert again.sent == [] and len(again.failed) == 1 and again.login_refused
    assert seen["notices"] == 1

    after = seen["after"]
    assert [o for report in after for o in report.failed] == []
    sent = [o for report in after for o in report.sent]
    assert after[0].sent  # at once after the reload
    outstanding = {(f"a{n}", a) for n in range(3) for a in addresses}
    assert {(action_of(o.key), o.address) for o in sent if o.kind == "reminder"} == outstanding
    told = [c for c in got if c.rcpt == COORDINATOR and "refused notifier's login" in c.text]
    assert len(told) == 1
    status, _, body = seen["health_after"]
    assert status.startswith("200") and json.loads(body)["smtp"] == "ok"


# --- The ledger's identity ------------------------------------------------------------------


def add_milestone(config: Path, action: str, due: date, address: str) -> None:
    """One more action in the plan write_project made, as a coordinator's edit would add it."""
    plan = config.parent / "plan" / "fault.toml"
    with plan.open("a", encoding="utf-8") as handle:
        handle.write(
            f'[[action]]\nid = "{action}"\n"åtgärd" = "Åtgärd {action}"\n'
            f'vem = "{_org(address)}"\n"när" = "se delmål"\n\n'
            f'[[action.milestone]]\nlabel = "Klart"\ndue = {due.isoformat()}\n\n'
        )


def test_a_ledger_deleted_under_the_running_daemon_stops_sending_and_a_restart_is_refused(
    project: Path, notify: socket.socket, processes: list[Process]
) -> None:
    ledger = ledger_file(project)
    due = local_today() + timedelta(days=3)
    with SmtpServer() as smtp:
        config = one_due_reminder(project, smtp)
        process = Process(config, notify)
        processes.append(process)
        process.wait_for("READY=1")
        process.wait_log("next message due")  # the first step is over
        assert len(reminders(smtp)) == 2
        digests = len(copies(smtp)) - 2  # one, or none on a day without

        # Deleted as in the review: the daemon's connection would go on writing into the
        # unlinked file, and the next start would send everything again.
        for path in ledger.parent.glob(ledger.name + "*"):
            path.unlink()
        add_milestone(config, "b0", due, "org0@example.se")  # a reminder due at once
        mark = len(process.log)
        process.proc.send_signal(signal.SIGHUP)
        process.wait_log("send step failed", after=mark)
        status, body = process.get("/healthz")
        assert status == 503
        health = json.loads(body)
        assert health["status"] == "unavailable"
        assert f"the ledger file {ledger} was deleted" in health["ledger"]
        assert process.get("/calendar.ics")[0] == 200  # the feeds are still served
        assert process.stop() == 0
        assert len(reminders(smtp)) == 2  # b0's reminder was not sent into a lost ledger
        [line] = [x for x in process.log.splitlines() if "send step failed" in x]
        assert f"the ledger file {ledger} was deleted while notifier ran" in line
        assert "restore the ledger from a backup" in process.log
        assert "notifier run --new-ledger" in process.log
        assert "Traceback" not in process.log

        sent_before = len(copies(smtp))
        refused = Process(config, notify)
        processes.append(refused)
        assert refused.exit_code() == 1
        assert len(copies(smtp)) == sent_before
        error = refused.log.split("notifier: ", 1)[-1]
        assert error.startswith(f"{ledger}: the ledger is missing"), refused.log
        assert f"Restore {ledger} from a backup" in error
        assert "notifier run --new-ledger" in error
        assert not ledger.exists()  # refusing made no empty ledger

        # Afresh on purpose: the catch-up rule, as after downtime. The latest reminder of
        # each milestone still ahead goes out again (a0's to both, b0's for the first time).
        fresh = Process(config, notify, args=("--new-ledger",))
        processes.append(fresh)
        fresh.wait_for("READY=1")
        fresh.wait_log("next message due")
        assert fresh.get("/healthz")[0] == 200
        assert fresh.stop() == 0
        got = sorted(copy.rcpt for copy in reminders(smtp)[2:])
        assert len(copies(smtp)) == sent_before + 3 + digests  # the period's digest again
    assert got == ["org0@example.se", "org0@example.se", "org1@example.se"]
    rows = ledger_rows(ledger)
    assert sorted(r["state"] for (key, _), r in rows.items() if "/klart@" in key) == ["sent"] * 3


def reminders(smtp: SmtpServer) -> list[Copy]:
    """What the organisations got (the coordinator's digest depends on the day)."""
    return [copy for copy in copies(smtp) if copy.rcpt != COORDINATOR]


def test_a_fresh_install_starts_and_keeps_addresses_and_secrets_private(
    project: Path, notify: socket.socket, processes: list[Process]
) -> None:
    ledger = ledger_file(project)
    assert not ledger.parent.exists()
    with SmtpServer() as smtp:
        # A common umask: without notifier's own modes, every file below would be 0644.
        process = Process(one_due_reminder(project, smtp), notify, umask=0o022)
        processes.append(process)
        process.wait_for("READY=1")
        process.wait_log("next message due")
        assert len(reminders(smtp)) == 2
        assert process.get("/healthz")[0] == 200
        modes = {
            path.name: path.stat().st_mode & 0o777
            for path in [ledger.parent, *ledger.parent.iterdir()]
            if path.is_file() or path == ledger.parent
        }
        assert process.stop() == 0
    assert modes.pop("state") == 0o700
    for name in (ledger.name, ledger.name + "-wal", ledger.name + "-shm", ".ledger.sqlite3.id"):
        assert modes.pop(name) == 0o600, name
    assert modes.pop("feed-history.json") == 0o600
    assert all(mode == 0o600 for mode in modes.values()), modes
