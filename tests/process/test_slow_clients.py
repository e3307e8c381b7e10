"""Slow clients cannot starve the feeds, and never take mail down with them.

The real daemon (``python -m notifier run``) under the unit's LimitNOFILE, an aiosmtpd server,
and 2,000 connections that send a header byte a second or nothing at all (reconnecting when
the server closes them) while 500 reminders fall due: every reminder goes out at its moment
in one step, and the feed is answered within a second throughout.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import resource
import selectors
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from smtp_server import SmtpServer
from test_faults import (
    Milestone,
    Process,
    ledger_file,
    ledger_rows,
    local_today,
    start_of_day,
    utc,
    write_project,
)

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent.parent
UNIT = ROOT / "deploy" / "notifier.service"
SLOW_CLIENTS = 2000
# From now until the reminders fall due: the daemon starts and the attack is established, then
# the attack runs for longer than the server's request deadline (10 s) before the moment.
LEAD_IN = 16.0
# All 500 go out in the step at their moment: to aiosmtpd on loopback that takes a few
# seconds; this bounds it generously for a loaded 2-core machine.
SEND_WITHIN = 20.0
ANSWER_WITHIN = 1.0
HEADER = b"GET /calendar.ics HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 4096


def _unit_file_limit() -> int:
    found = re.search(r"^LimitNOFILE=(\d+)$", UNIT.read_text(encoding="utf-8"), re.M)
    assert found, "deploy/notifier.service sets no LimitNOFILE"
    return int(found.group(1))


@pytest.fixture
def descriptors() -> Iterator[None]:
    """Enough open files in this process for the slow clients (soft limit, as a user may)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = SLOW_CLIENTS + 1024
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"the hard RLIMIT_NOFILE ({hard}) is below the {wanted} this test needs")
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


class SlowClients(threading.Thread):
    """``count`` connections from one selector loop: every other one sends one byte of an
    endless header each second, the rest send nothing. A connection the server closes (or
    answers) is opened again at once, so the pressure lasts until ``stop``."""

    def __init__(self, port: int, count: int) -> None:
        super().__init__(name="slow-clients", daemon=True)
        self.port = port
        self.count = count
        self.selector = selectors.DefaultSelector()
        self.sockets: dict[socket.socket, int] = {}  # -> bytes of the header sent so far
        self.trickling: set[socket.socket] = set()
        self.reopened = 0
        self.bytes_sent = 0
        self.failures: list[str] = []
        self.established = threading.Event()
        self._halt = threading.Event()

    def _open(self, trickle: bool) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        code = sock.connect_ex(("127.0.0.1", self.port))
        if code not in (0, errno.EINPROGRESS):
            sock.close()
            self.failures.append(os.strerror(code))
            return
        self.sockets[sock] = 0
        if trickle:
            self.trickling.add(sock)
        self.selector.register(sock, selectors.EVENT_READ)

    def _close(self, sock: socket.socket) -> bool:
        trickle = sock in self.trickling
        self.selector.unregister(sock)
        self.trickling.discard(sock)
        del self.sockets[sock]
        sock.close()
        return trickle

    def run(self) -> None:
        for number in range(self.count):
            self._open(trickle=number % 2 == 0)
        self.established.set()
        tick = time.monotonic()
        while not self._halt.is_set():
            for key, _ in self.selector.select(timeout=max(0.0, tick - time.monotonic())):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    sock.recv(65536)  # an answer (a 400 or 408) or the close: either ends it
                except BlockingIOError:
                    continue
                except OSError:
                    pass
                trickle = self._close(sock)
                self.reopened += 1
                self._open(trickle)
            if time.monotonic() >= tick:
                tick += 1.0
                for sock in list(self.trickling):
                    sent = self.sockets[sock]
                    try:
                        self.sockets[sock] += sock.send(HEADER[sent : sent + 1])
                        self.bytes_sent += 1
                    except OSError:
                        pass  # not connected yet, or closed: the selector sees to it
        for sock in list(self.sockets):
            self._close(sock)
        self.selector.close()

    def stop(self) -> None:
        self._halt.set()
        if self.ident is not None:
            self.join(timeout=30)


class FeedProbe(threading.Thread):
    """GET /calendar.ics every 0.2 s on a fresh connection, as a calendar client polls."""

    def __init__(self, port: int, pid: int) -> None:
        super().__init__(name="feed-probe", daemon=True)
        self.url = f"http://127.0.0.1:{port}/calendar.ics"
        self.pid = pid
        self.answers: list[tuple[datetime, float, int | str]] = []  # when, seconds, status
        self.daemon_files: list[int] = []  # the daemon's open descriptors, as sampled
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            began, when = time.monotonic(), datetime.now(UTC)
            try:
                with urllib.request.urlopen(self.url, timeout=10) as response:
                    response.read()
                    status: int | str = response.status
            except OSError as error:
                status = repr(error)
            self.answers.append((when, time.monotonic() - began, status))
            with contextlib.suppress(OSError):
                self.daemon_files.append(len(os.listdir(f"/proc/{self.pid}/fd")))
            self._halt.wait(0.2)

    def stop(self) -> None:
        self._halt.set()
        if self.ident is not None:
            self.join(timeout=30)


def test_2000_slow_clients_while_500_reminders_fall_due(
    project: Path, notify: socket.socket, descriptors: None
) -> None:
    # 100 milestones, five organisations each, one lead that is no whole number of days: an
    # exact moment LEAD_IN seconds from now, whatever the weekday or the hour.
    due = local_today() + timedelta(days=3)
    start = start_of_day(due).astimezone(UTC)
    lead = int((start - datetime.now(UTC)).total_seconds() - LEAD_IN)
    if lead % 60 == 0:
        lead -= 1  # written in seconds, so the key shows it ("…-259183s")
    moment = start - timedelta(seconds=lead)
    addresses = tuple(f"org{n}@example.se" for n in range(5))
    plan = [Milestone(f"a{n:03d}", due, addresses) for n in range(100)]
    file_limit = _unit_file_limit()
    with SmtpServer() as smtp:
        config = write_project(project, smtp, plan, [f"{lead}s"])
        # 100 reminders to each address at once: no daily cap holds them for the coordinator.
        text = re.sub(r"(?m)^daily_cap = \d+$", "daily_cap = 0", config.read_text("utf-8"))
        assert "daily_cap = 0" in text
        config.write_text(text, encoding="utf-8")
        # As under systemd: the unit's LimitNOFILE, soft and hard.
        daemon = Process(
            config, notify, launcher=("prlimit", f"--nofile={file_limit}:{file_limit}", "--")
        )
        attack = SlowClients(daemon.port, SLOW_CLIENTS)
        probe = FeedProbe(daemon.port, daemon.proc.pid)
        try:
            daemon.wait_for("READY=1")
            attack.start()
            assert attack.established.wait(30)
            probe.start()

            def sent() -> int:
                with smtp.handler.lock:
                    return sum(len(r.rcpt_tos) for r in smtp.handler.received)

            end = moment + timedelta(seconds=SEND_WITHIN + 10)
            while sent() < 500 and datetime.now(UTC) < end:
                assert daemon.proc.poll() is None, daemon.log
                time.sleep(0.1)
            finished = datetime.now(UTC)
            time.sleep(1)  # the feed is still probed, and the attack still on, after the step
            connected_at_end = len(attack.sockets)
            probe.stop()
            attack.stop()
            rows = ledger_rows(ledger_file(project))
            log = daemon.log
            assert daemon.stop() == 0, log
        finally:
            if daemon.proc.poll() is None:
                daemon.proc.kill()
                daemon.proc.wait(timeout=30)
            probe.stop()
            attack.stop()

    # The attack was on: 2,000 connections all along, the slow ones cut at the deadline and
    # back at once, and the daemon held them (its descriptors, sampled during the sending).
    assert attack.failures == []
    assert connected_at_end >= SLOW_CLIENTS - 10  # a few may be between a close and reopening
    assert attack.reopened >= SLOW_CLIENTS, "the server never closed a slow client"
    assert max(probe.daemon_files) > SLOW_CLIENTS, probe.daemon_files
    assert f"open_files={file_limit}" in log and "connections=8192" in log, log

    # Every reminder went out at its moment, in one step, on its first attempt.
    reminders = {k: r for k, r in rows.items() if r["kind"] == "reminder"}
    assert len(reminders) == 500
    assert {r["state"] for r in reminders.values()} == {"sent"}, log
    assert {r["attempts"] for r in reminders.values()} == {1}
    times = sorted(utc(r["sent_at"]) for r in reminders.values())
    assert times[0] >= moment - timedelta(seconds=1)
    assert times[0] - moment < timedelta(seconds=3), (times[0], moment)
    assert times[-1] - moment < timedelta(seconds=SEND_WITHIN), (times[-1], moment)
    assert "Too many open files" not in log and "Traceback" not in log, log

    # The feed was answered within a second throughout, while the step sent.
    assert probe.answers
    slow = [answer for answer in probe.answers if answer[1] > ANSWER_WITHIN]
    assert slow == [], slow
    assert {status for _, _, status in probe.answers} == {200}
    during = [a for a in probe.answers if moment <= a[0] <= times[-1]]
    assert len(during) >= 2 or times[-1] - moment < timedelta(seconds=1), probe.answers
    assert finished <= end
    print(
        f"\n{SLOW_CLIENTS} slow clients, reopened {attack.reopened}, daemon descriptors up to "
        f"{max(probe.daemon_files)}; 500 reminders sent {(times[0] - moment).total_seconds():.2f}"
        f"-{(times[-1] - moment).total_seconds():.2f} s after their moment; "
        f"{len(probe.answers)} feed requests, slowest {max(a[1] for a in probe.answers):.3f} s"
    )
