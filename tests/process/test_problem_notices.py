"""Problem notices: a refused edit reaches the coordinator through the ledger, exactly once.

The real daemon, a real SMTP server on loopback and the ledger file: in process with its clock
in the test's hands where retries are timed, as a subprocess where a restart is the point.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any, TypeVar

import pytest
from smtp_server import TEMPORARY, SmtpServer

from notifier.daemon import REPORTED_FILE, Daemon
from notifier.kinds.problem import problem_key
from notifier.ledger import SENT_BEFORE_LEDGER
from notifier.state import load_state
from notifier.systemd import Notifier

pytestmark = pytest.mark.slow

DEADLINE = 30.0
COORDINATOR = "samordnare@gotland.example"
T = TypeVar("T")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _configure(project: Path, smtp: SmtpServer, port: int = 0) -> Path:
    config = project / "config.toml"
    config.write_text(
        config.read_text(encoding="utf-8")
        .replace('host = ""', f'host = "{smtp.host}"')
        .replace("port = 587", f"port = {smtp.port}")
        .replace('security = "starttls"', 'security = "none"')
        .replace("port = 8080", f"port = {port or _free_port()}"),
        encoding="utf-8",
    )
    return config


def _break(plan: Path) -> None:
    """An edit that cannot be read at all: the last good plan must keep running."""
    text = plan.read_text(encoding="utf-8")
    plan.write_text(text.replace('id = "gotland-2024"', 'id = "gotland-2024', 1), "utf-8")


def _eventually(check: Callable[[], bool], what: str) -> None:
    """Poll an outside observation (the daemon works at its own pace) for a bounded time."""
    end = time.monotonic() + DEADLINE
    while not check():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.05)


def _rows(project: Path, kind: str) -> list[dict[str, Any]]:
    """The ledger's rows of one kind, read with plain sqlite3."""
    with closing(sqlite3.connect(project / "state" / "ledger.sqlite3", timeout=10)) as db:
        db.row_factory = sqlite3.Row
        rows = db.execute("SELECT * FROM deliveries WHERE kind = ?", (kind,)).fetchall()
    return [dict(row) for row in rows]


def _plain_text(data: bytes) -> str:
    message = BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(message, EmailMessage)
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def _received(smtp: SmtpServer, message_id: str) -> list[bytes]:
    with smtp.handler.lock:
        return [r.data for r in smtp.handler.received if message_id.encode() in r.data]


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


# --- In process, the clock in the test's hands -----------------------------------------------


class Clock:
    """The daemon's clock: it reads ``now``, the test moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def run_daemon(config: Path, clock: Clock, tmp_path: Path, script: Callable[[Daemon], T]) -> T:
    """``Daemon.run()`` on this (the main) thread, as signal handlers need; ``script`` drives
    it from another thread once it is ready, then stops it.

    The clock stands a month ahead of the real one, so the daemon's own scheduled wakes never
    come due during the test: every send step is one the script asks for.
    """
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(tmp_path / "notify.sock"))
    daemon = Daemon(config, clock=clock, notifier=Notifier(str(listener.getsockname())))
    outcome: dict[str, Any] = {}

    def drive() -> None:
        try:
            listener.settimeout(DEADLINE)
            while "READY=1" not in listener.recv(4096).decode().split("\n"):
                pass
            outcome["value"] = script(daemon)
        except BaseException as error:
            outcome["error"] = error
        finally:
            daemon.stop()

    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    root = logging.getLogger()
    root_handlers, root_level = list(root.handlers), root.level
    driver = threading.Thread(target=drive, daemon=True)
    driver.start()
    watchdog = threading.Timer(DEADLINE, daemon.stop)
    watchdog.start()
    try:
        assert daemon.run() == 0
    finally:
        watchdog.cancel()
        daemon.stop()
        driver.join(DEADLINE)
        listener.close()
        for number, handler in handlers.items():
            signal.signal(number, handler)
        root.handlers[:] = root_handlers
        root.setLevel(root_level)
    if "error" in outcome:
        raise outcome["error"]
    assert "value" in outcome, "the script did not finish"
    return outcome["value"]


def test_a_refused_reload_whose_first_attempt_fails_is_retried_and_delivered_once(
    project: Path, smtp: SmtpServer, tmp_path: Path
) -> None:
    config = _configure(project, smtp)
    plan = project / "plan" / "gotland-2024.toml"
    clock = Clock(datetime.now(UTC).replace(microsecond=0) + timedelta(days=30))
    smtp.handler.refuse(COORDINATOR, TEMPORARY)

    def script(daemon: Daemon) -> dict[str, Any]:
        _break(plan)
        assert daemon.reload() is False
        first = daemon.wake()
        del smtp.handler.answers[COORDINATOR.casefold()]  # the server is over its trouble
        clock.now += timedelta(seconds=59)
        early = daemon.wake()
        clock.now += timedelta(seconds=1)
        retried = daemon.wake()
        # The same broken file, reloaded an hour later: the same problem, not news.
        clock.now += timedelta(hours=1)
        assert daemon.reload() is False
        again = daemon.wake()
        return {"first": first, "early": early, "retried": retried, "again": again}

    steps = run_daemon(config, clock, tmp_path, script)

    def problems(step: str, outcome: str) -> list[tuple[str, str]]:
        return [(o.key, o.address) for o in getattr(steps[step], outcome) if o.kind == "problem"]

    [(key, address)] = problems("first", "failed")
    assert address == COORDINATOR
    [failure] = [o for o in steps["first"].failed if o.kind == "problem"]
    assert not failure.permanent and failure.code == 451
    assert problems("early", "sent") == problems("early", "failed") == []
    assert problems("retried", "sent") == [(key, COORDINATOR)]
    assert problems("again", "sent") == problems("again", "failed") == []

    [row] = _rows(project, "problem")
    assert (row["key"], row["state"], row["attempts"]) == (key, "sent", 2)
    [delivered] = _received(smtp, row["message_id"])
    text = _plain_text(delivered)
    assert "not valid TOML" in text and str(plan) in text


# --- The daemon as a process: restarts -------------------------------------------------------


class Process:
    """``python -m notifier run``; stderr to a file the test reads."""

    def __init__(self, config: Path, notify: socket.socket, port: int) -> None:
        self.log = config.parent / f"daemon-{time.monotonic_ns()}.log"
        self.port = port
        env = {**os.environ, "NOTIFY_SOCKET": str(notify.getsockname())}
        env.pop("JOURNAL_STREAM", None)
        argv = [sys.executable, "-m", "notifier", "--config", str(config)]
        self.proc = subprocess.Popen(
            [*argv, "run", "--watch-interval", "0"],
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("wb"),
            env=env,
        )

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_log(self, text: str) -> None:
        _eventually(lambda: text in self.text(), f"{text!r} in the log")

    def wait_for_a_send_step(self) -> None:
        """Until /healthz says a send step has run (it answers 503 while the plan is broken)."""

        def swept() -> bool:
            url = f"http://127.0.0.1:{self.port}/healthz"
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    body = response.read()
            except urllib.error.HTTPError as error:
                body = error.read()
            except OSError:
                return False
            return json.loads(body)["last_sweep"] is not None

        _eventually(swept, "a send step")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=DEADLINE) == 0, self.text()


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in started:
        if process.proc.poll() is None:
            process.proc.kill()
            process.proc.wait(timeout=10)


def test_a_restart_with_the_plan_still_broken_does_not_tell_the_coordinator_again(
    project: Path, smtp: SmtpServer, notify: socket.socket, processes: list[Process]
) -> None:
    port = _free_port()
    config = _configure(project, smtp, port)
    _break(project / "plan" / "gotland-2024.toml")
    first = Process(config, notify, port)
    processes.append(first)
    _eventually(lambda: len(smtp.handler.received) == 1, "the problem notice")
    first.wait_log("sent problem problem/")
    first.stop()

    second = Process(config, notify, port)
    processes.append(second)
    second.wait_log("the coordinator knows of this problem already")
    second.wait_for_a_send_step()
    second.stop()
    assert len(smtp.handler.received) == 1
    assert smtp.handler.received[0].rcpt_tos == [COORDINATOR]
    [row] = _rows(project, "problem")
    assert (row["state"], row["attempts"]) == ("sent", 1)


def test_problems_told_before_the_ledger_kept_them_are_not_told_again(
    project: Path, smtp: SmtpServer, notify: socket.socket, processes: list[Process]
) -> None:
    port = _free_port()
    config = _configure(project, smtp, port)
    plan = project / "plan" / "gotland-2024.toml"
    _break(plan)
    # What an earlier notifier wrote after telling the coordinator of this very problem.
    blocking = load_state(config).blocking
    key = problem_key("\n".join(str(p) for p in blocking).splitlines())
    reported = project / "state" / REPORTED_FILE
    reported.parent.mkdir()
    reported.write_text(json.dumps(["problem/0123456789abcdef", key]), encoding="utf-8")

    process = Process(config, notify, port)
    processes.append(process)
    process.wait_log("moved problem notices sent earlier into the ledger")
    process.wait_log("the coordinator knows of this problem already")
    process.wait_for_a_send_step()
    process.stop()
    assert smtp.handler.received == []
    assert not reported.exists()
    rows = {row["key"]: row for row in _rows(project, "problem")}
    assert set(rows) == {"problem/0123456789abcdef", key}
    assert {(r["state"], r["note"], r["recipient"]) for r in rows.values()} == {
        ("sent", SENT_BEFORE_LEDGER, COORDINATOR)
    }
