"""The real daemon as a subprocess: ready over sd_notify, feeds, mail, reload, stop."""

from __future__ import annotations

import email
import email.message
import email.policy
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from smtp_server import SmtpServer

pytestmark = pytest.mark.slow

DEADLINE = 30.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Process:
    def __init__(self, project: Path, notify: socket.socket, port: int) -> None:
        self.project = project
        self.notify = notify
        self.port = port
        self.log = project / "daemon.log"
        env = {**os.environ, "NOTIFY_SOCKET": notify.getsockname()}
        env.pop("JOURNAL_STREAM", None)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "notifier",
                "--config",
                str(project / "config.toml"),
                "run",
                "--watch-interval",
                "0",
            ],
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("wb"),
            env=env,
        )

    def messages(self, timeout: float = DEADLINE) -> Iterator[str]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.notify.settimeout(max(0.05, end - time.monotonic()))
            try:
                yield self.notify.recv(4096).decode()
            except TimeoutError:
                return

    def wait_for(self, field: str) -> str:
        for message in self.messages():
            if field in message.split("\n"):
                return message
        raise AssertionError(f"no {field} from the daemon; log:\n{self.log.read_text()}")

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def wait_log(self, text: str) -> None:
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            if text in self.log.read_text(encoding="utf-8", errors="replace"):
                return
            time.sleep(0.1)
        raise AssertionError(f"log never said {text!r}:\n{self.log.read_text()}")


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


def _configure(project: Path, smtp: SmtpServer, port: int) -> None:
    config = project / "config.toml"
    config.write_text(
        config.read_text(encoding="utf-8")
        .replace('host = ""', f'host = "{smtp.host}"')
        .replace("port = 587", f"port = {smtp.port}")
        .replace('security = "starttls"', 'security = "none"')
        .replace("port = 8080", f"port = {port}"),
        encoding="utf-8",
    )


@pytest.fixture
def daemon(project: Path, smtp: SmtpServer, tmp_path: Path) -> Iterator[Process]:
    port = _free_port()
    due = date.today() + timedelta(days=10)
    plan = project / "plan" / "gotland-2024.toml"
    text = plan.read_text(encoding="utf-8")
    plan.write_text(
        text.replace(
            '"när" = "Uppföljning december 2024"',
            f'"när" = "Uppföljning december 2024"\n\n[[action.milestone]]\n'
            f'label = "Uppföljning"\ndue = {due.isoformat()}',
        ),
        encoding="utf-8",
    )
    _configure(project, smtp, port)
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    process = Process(project, notify, port)
    try:
        yield process
    finally:
        if process.proc.poll() is None:
            process.proc.kill()
            process.proc.wait(timeout=10)
        notify.close()


def _eventually(check: Callable[[], bool]) -> None:
    """Poll an outside observation (the process works at its own pace) for a bounded time."""
    end = time.monotonic() + DEADLINE
    while not check():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.1)


def _received_for(smtp: SmtpServer, address: str, text: bytes = b"") -> list[bytes]:
    return [r.data for r in smtp.handler.received if address in r.rcpt_tos and text in r.data]


def test_daemon_starts_serves_feeds_sends_due_mail_and_stops_on_sigterm(
    daemon: Process, smtp: SmtpServer
) -> None:
    ready = daemon.wait_for("READY=1")
    assert any(line.startswith("STATUS=1 plan(s), 11 milestones") for line in ready.split("\n"))

    status, body = daemon.get("/calendar.ics")
    assert status == 200
    assert body.count(b"BEGIN:VEVENT") == 11

    # The milestone due in ten days missed its 30-day reminder: it goes out late, once,
    # to both organisations of the action.
    sent = b'notifier_messages_sent_total{kind="reminder"} 2.0'
    _eventually(lambda: sent in daemon.get("/metrics")[1])
    [message] = _received_for(smtp, "socialtjansten@gotland.example")
    assert b"Auto-Submitted: auto-generated" in message
    assert len(_received_for(smtp, "brottsforebyggande.gotland@polisen.example")) == 1

    status, health = daemon.get("/healthz")
    assert status == 200 and b'"status": "ok"' in health

    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.proc.wait(timeout=DEADLINE) == 0
    assert "stopped" in daemon.log.read_text()


def test_sighup_applies_a_valid_plan_and_keeps_the_last_good_one_when_broken(
    daemon: Process, smtp: SmtpServer
) -> None:
    daemon.wait_for("READY=1")
    plan = daemon.project / "plan" / "gotland-2024.toml"
    plan.write_text(
        plan.read_text(encoding="utf-8").replace(
            '"när" = "Klart juni 2024"', '"när" = "Klart augusti 2024"', 1
        ),
        encoding="utf-8",
    )
    daemon.proc.send_signal(signal.SIGHUP)
    daemon.wait_for("RELOADING=1")
    daemon.wait_for("READY=1")
    daemon.wait_log("changed milestone gotland-2024/utbildning-ansvarsfull-alkoholservice/klart")
    _, body = daemon.get("/calendar.ics")
    assert b"20240831" in body

    plan.write_text("id = \n", encoding="utf-8")
    daemon.proc.send_signal(signal.SIGHUP)
    daemon.wait_for("RELOADING=1")
    daemon.wait_log("reload refused, keeping the last good plan")
    status, body = daemon.get("/calendar.ics")
    assert status == 200 and body.count(b"BEGIN:VEVENT") == 11
    _, health = daemon.get("/healthz")
    assert b"reload_error" in health and b"not valid TOML" in health

    # The coordinator hears of the broken edit once, however often it is reloaded.
    _eventually(
        lambda: len(_received_for(smtp, "samordnare@gotland.example", b"notifier validate")) == 1
    )
    daemon.proc.send_signal(signal.SIGHUP)
    daemon.wait_for("RELOADING=1")
    daemon.wait_for("READY=1")
    assert len(_received_for(smtp, "samordnare@gotland.example", b"notifier validate")) == 1

    daemon.proc.send_signal(signal.SIGINT)
    assert daemon.proc.wait(timeout=DEADLINE) == 0


def test_a_restart_sends_nothing_twice(daemon: Process, smtp: SmtpServer) -> None:
    daemon.wait_for("READY=1")
    _eventually(lambda: b'kind="reminder"} 2.0' in daemon.get("/metrics")[1])
    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.proc.wait(timeout=DEADLINE) == 0
    before = len(smtp.handler.received)

    again = Process(daemon.project, daemon.notify, daemon.port)
    daemon.proc = again.proc
    again.wait_for("READY=1")
    again.wait_log("ready")
    time.sleep(1.0)  # give a wrongly repeated send the chance to show; the logic never sleeps
    assert len(smtp.handler.received) == before
    again.proc.send_signal(signal.SIGTERM)
    assert again.proc.wait(timeout=DEADLINE) == 0


def test_an_unreadable_plan_at_start_holds_sending_until_it_is_fixed(
    project: Path, smtp: SmtpServer, tmp_path: Path
) -> None:
    port = _free_port()
    _configure(project, smtp, port)
    plan = project / "plan" / "gotland-2024.toml"
    good = plan.read_text(encoding="utf-8")
    plan.write_text(good.replace('id = "gotland-2024"', 'id = "gotland-2024', 1), "utf-8")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    daemon = Process(project, notify, port)
    try:
        ready = daemon.wait_for("READY=1")
        assert "sending nothing until it is fixed" in ready
        status, health = daemon.get("/healthz")
        assert status == 503 and b'"status": "waiting"' in health
        assert daemon.get("/calendar.ics")[0] == 404
        # Only the coordinator hears, about the broken file; no reminder goes out.
        _eventually(lambda: len(smtp.handler.received) == 1)
        assert smtp.handler.received[0].rcpt_tos == ["samordnare@gotland.example"]

        plan.write_text(good, "utf-8")
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.wait_for("READY=1")
        _eventually(lambda: daemon.get("/healthz")[0] == 200)
        status, body = daemon.get("/calendar.ics")
        assert status == 200 and body.count(b"BEGIN:VEVENT") == 11
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(timeout=DEADLINE) == 0
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.wait(timeout=10)
        notify.close()


# --- plans that are over, and actions refused on their own ----------------------------------


def _text_of(data: bytes) -> str:
    """The plain-text part of a received message, decoded."""
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def _to_coordinator(smtp: SmtpServer, text: str) -> list[str]:
    bodies = [_text_of(data) for data in _received_for(smtp, "samordnare@gotland.example")]
    return [body for body in bodies if text in body]


def _last_sweep(process: Process) -> str | None:
    """When the daemon last ran a send step, as /healthz says."""
    sweep = json.loads(process.get("/healthz")[1])["last_sweep"]
    return str(sweep) if sweep else None


def _start(project: Path, smtp: SmtpServer, tmp_path: Path) -> tuple[Process, socket.socket]:
    port = _free_port()
    _configure(project, smtp, port)
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    return Process(project, notify, port), notify


def _stop(process: Process, notify: socket.socket) -> None:
    if process.proc.poll() is None:
        process.proc.kill()
        process.proc.wait(timeout=10)
    notify.close()


def test_the_log_says_when_a_plans_last_milestone_is_past_at_start_and_after_a_reload(
    project: Path, smtp: SmtpServer, tmp_path: Path
) -> None:
    last = date.today() - timedelta(days=20)  # past in any zone, whatever the hour
    for old in (project / "plan").glob("gotland-*.toml"):
        old.unlink()
    (project / "plan" / "avslutad.toml").write_text(
        'id = "avslutad"\ntitle = "Avslutad plan"\ndate = 2020-01-10\n'
        f"year = {last.year}\n\n"
        '[[action]]\nid = "klar"\n"åtgärd" = "Något"\nvem = "Polisen"\n\n'
        f'[[action.milestone]]\nlabel = "Klart"\ndue = {last.isoformat()}\n',
        encoding="utf-8",
    )
    note = (
        f"the last milestone of avslutad was due {last}; no reminders are left to send for it "
        f"(to see a year of its email: notifier simulate --from {last.year}-01-01 "
        f"--to {last.year}-12-31 --outbox out/)"
    )
    daemon, notify = _start(project, smtp, tmp_path)
    try:
        daemon.wait_for("READY=1")
        daemon.wait_log(note)
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.wait_for("RELOADING=1")
        daemon.wait_for("READY=1")
        _eventually(lambda: daemon.log.read_text(encoding="utf-8").count(note) == 2)
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(timeout=DEADLINE) == 0
    finally:
        _stop(daemon, notify)


def test_a_refused_action_keeps_its_last_good_milestone_while_the_others_follow_the_edit(
    daemon: Process, smtp: SmtpServer
) -> None:
    daemon.wait_for("READY=1")
    # The milestone due in ten days got its late reminder, to both its organisations.
    _eventually(
        lambda: b'notifier_messages_sent_total{kind="reminder"} 2.0' in daemon.get("/metrics")[1]
    )
    swept = _last_sweep(daemon)
    plan = daemon.project / "plan" / "gotland-2024.toml"
    text = plan.read_text(encoding="utf-8")
    due = text.split('label = "Uppföljning"\ndue = ', 1)[1].split("\n", 1)[0]
    edited = text.replace('"när" = "Klart juni 2024"', '"när" = "Klart augusti 2024"', 1).replace(
        f'label = "Uppföljning"\ndue = {due}', f'label = "Uppföljning"\ndatum = {due}'
    )
    plan.write_text(edited, encoding="utf-8")
    line = edited.splitlines().index(f"datum = {due}") + 1

    daemon.proc.send_signal(signal.SIGHUP)
    daemon.wait_for("RELOADING=1")
    daemon.wait_for("READY=1")

    daemon.wait_log("changed milestone gotland-2024/utbildning-ansvarsfull-alkoholservice/klart")
    problem = (
        f"{plan}:{line}: action 9 ('lilla-islandsmodellen'), field milestone[1].datum: unknown "
        "key 'datum' in [[action.milestone]]; allowed: label, due, start, end, tentative. "
        "Did you mean 'due'?"
    )
    daemon.wait_log(problem)
    daemon.wait_log(
        "action gotland-2024/lilla-islandsmodellen was not accepted: it keeps the 1 "
        "milestone(s) it last loaded with until it is fixed"
    )
    assert "reload refused" not in daemon.log.read_text(encoding="utf-8")
    status, body = daemon.get("/calendar.ics")
    assert status == 200 and body.count(b"BEGIN:VEVENT") == 11
    assert b"DTSTART;VALUE=DATE:20240831" in body
    assert f"DTSTART;VALUE=DATE:{due.replace('-', '')}".encode() in body
    assert daemon.get("/healthz")[0] == 200

    _eventually(lambda: len(_to_coordinator(smtp, "unknown key 'datum'")) == 1)
    [notice] = _to_coordinator(smtp, "unknown key 'datum'")
    assert str(plan) in notice and str(line) in notice and "'due'" in notice
    # Kept as it was: its reminder already sent is not sent again, nothing is removed.
    _eventually(lambda: _last_sweep(daemon) != swept)
    assert "removed milestone" not in daemon.log.read_text(encoding="utf-8")
    assert len(_received_for(smtp, "socialtjansten@gotland.example")) == 1

    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.proc.wait(timeout=DEADLINE) == 0


def test_an_action_refused_at_start_sends_nothing_until_it_is_fixed(
    project: Path, smtp: SmtpServer, tmp_path: Path
) -> None:
    due = date.today() + timedelta(days=10)
    plan = project / "plan" / "gotland-2024.toml"
    good = plan.read_text(encoding="utf-8").replace(
        '"när" = "Uppföljning december 2024"',
        '"när" = "Löpande"\n\n[[action.milestone]]\n'
        f'label = "Uppföljning"\ndue = {due.isoformat()}',
    )
    plan.write_text(good.replace(f"due = {due}", f"datum = {due}"), encoding="utf-8")
    daemon, notify = _start(project, smtp, tmp_path)
    try:
        daemon.wait_for("READY=1")
        daemon.wait_log("action gotland-2024/lilla-islandsmodellen was not accepted and left out")
        _eventually(lambda: len(_to_coordinator(smtp, "unknown key 'datum'")) == 1)
        _eventually(lambda: _last_sweep(daemon) is not None)
        assert _received_for(smtp, "socialtjansten@gotland.example") == []
        assert daemon.get("/healthz")[0] == 200

        plan.write_text(good, encoding="utf-8")
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.wait_log("added milestone gotland-2024/lilla-islandsmodellen/uppfoljning")
        _eventually(lambda: len(_received_for(smtp, "socialtjansten@gotland.example")) == 1)
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(timeout=DEADLINE) == 0
    finally:
        _stop(daemon, notify)
