"""Two nodes, one truth: two real daemons on two state folders and one PostgreSQL ledger.

Each node is ``python -m notifier run`` with its own config, port and state folder, both
pointed at the same database (a throw-away server the tests start) and the same aiosmtpd sink.
500 reminders fall due at once, and the coordinator has a problem notice waiting:

- killed with SIGKILL in the middle of the burst, one node leaves the message it was sending
  claimed; the other sends everything else, then, once the lease has run out, that message
  too, under the same Message-ID. Nothing else arrives twice, the coordinator is told once;
  and a third node with a link secret of its own refuses to start;
- with the database away for a minute mid-burst, both nodes stop sending and say 503 on
  /healthz while the feeds stay up, and once it is back they finish: nothing lost, nothing
  twice (a message whose 250 came back while the database could not record it is recorded
  once it can be).
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path

import psycopg
import pytest
from postgres_server import Database, PostgresServer
from smtp_server import SmtpServer
from test_faults import DEADLINE, Milestone, Process, local_today, write_project

from notifier.cli import main

pytestmark = pytest.mark.slow

LEASE_SECONDS = 5
ADDRESSES = tuple(f"org{n}@example.se" for n in range(5))
COORDINATOR = "samordnare@gotland.example"
OUTAGE_SECONDS = 60.0


def _eventually(check: Callable[[], bool], what: str, logs: Callable[[], str] = str) -> None:
    end = time.monotonic() + DEADLINE * 3
    while not check():
        assert time.monotonic() < end, f"timed out waiting for {what}\n{logs()}"
        time.sleep(0.05)


def node_project(
    base: Path, name: str, smtp: SmtpServer, database: Database, lease: float = LEASE_SECONDS
) -> Path:
    """A node: the shipped project in a folder of its own, its plan 100 milestones due in
    three days (one 95-hour lead: every reminder is due now) and an action that cannot be
    read (its "Åtgärd" a number: a problem notice for the coordinator), its ledger ``database``."""
    project = base / name
    root = Path(__file__).resolve().parents[2]
    for folder in ("plan", "templates"):
        shutil.copytree(root / folder, project / folder)
    shutil.copy(root / "config.toml", project / "config.toml")
    due = local_today() + timedelta(days=3)
    plan = [Milestone(f"a{n:03d}", due, ADDRESSES) for n in range(100)]
    config = write_project(project, smtp, plan, ["95h"])
    with (project / "plan" / "fault.toml").open("a", encoding="utf-8") as toml:
        toml.write(
            '[[action]]\nid = "trasig"\n"åtgärd" = 5\n'
            f'vem = "Org {ADDRESSES[0].split("@")[0]}"\n"när" = "Klart juni 2024"\n'
        )
    secret = project / "ledger-password"
    secret.write_text(database.password, encoding="utf-8")
    secret.chmod(0o600)
    text = config.read_text(encoding="utf-8")
    settings = {
        "url": database.url,
        "password_file": str(secret),
        "lease_seconds": lease,
        "connect_timeout": 2,
    }
    lines = [
        line
        for line in text.splitlines()
        if not re.match(r"(url|lease_seconds|connect_timeout) = ", line)
    ]
    at = lines.index("[ledger]") + 1
    lines[at:at] = [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    # Mail carries status links only with an https address to send people to.
    lines = [
        'base_url = "https://plan.example.se"' if line.startswith("base_url = ") else line
        for line in lines
    ]
    # Every node reads the same plan files at the same path (synced to each, as deploy/
    # README.md says): the first node's.
    shared_plan = (base / "a" / "plan").resolve()
    at = lines.index("[plans]") + 1
    lines = [line for line in lines if not line.startswith('dir = "plan"')]
    lines[at:at] = [f"dir = {json.dumps(str(shared_plan))}"]
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


@pytest.fixture
def nodes(
    tmp_path: Path, postgres_database: Database, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., tuple[list[Path], list[Process]]]]:
    """Start two nodes on one freshly migrated database, with the same link secret (the
    credential, as deploy/README.md says); both are killed at the end."""
    started: list[Process] = []
    sockets: list[socket.socket] = []
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "link-secret").write_text("s" * 40, encoding="utf-8")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))

    def start(smtp: SmtpServer, lease: float = LEASE_SECONDS) -> tuple[list[Path], list[Process]]:
        configs = [node_project(tmp_path, name, smtp, postgres_database, lease) for name in "ab"]
        assert main(["--config", str(configs[0]), "ledger", "migrate"]) == 0
        for n, config in enumerate(configs):
            notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            notify.bind(str(tmp_path / f"notify-{n}.sock"))
            sockets.append(notify)
            started.append(Process(config, notify))
        return configs, started

    yield start
    for process in started:
        if process.proc.poll() is None:
            process.proc.kill()
            process.proc.wait(timeout=DEADLINE)
    for notify in sockets:
        notify.close()


def rows(database: Database) -> dict[tuple[str, str], dict[str, object]]:
    with psycopg.connect(database.url, password=database.password) as db:
        cursor = db.execute("SELECT * FROM deliveries")
        names = [column.name for column in cursor.description or ()]
        return {(r[0], r[1]): dict(zip(names, r, strict=True)) for r in cursor.fetchall()}


def received(smtp: SmtpServer) -> Counter[tuple[str, str]]:
    """How often each recipient got each Message-ID."""
    with smtp.handler.lock:
        items = list(smtp.handler.received)
    counts: Counter[tuple[str, str]] = Counter()
    for item in items:
        message = BytesParser(policy=policy.default).parsebytes(item.data)
        for rcpt in item.rcpt_tos:
            counts[(rcpt, str(message["Message-ID"]))] += 1
    return counts


def status_link(smtp: SmtpServer) -> str:
    """The path of the status link in the first message received."""
    with smtp.handler.lock:
        data = smtp.handler.received[0].data
    message = BytesParser(policy=policy.default).parsebytes(data)
    text = "".join(
        part.get_content() for part in message.walk() if part.get_content_type() == "text/plain"
    )
    found = re.search(r"/status/[A-Za-z0-9_.-]+", text)
    assert found, text
    return found.group(0)


def logs(processes: list[Process]) -> Callable[[], str]:
    return lambda: "\n".join(f"--- node {n}\n{p.log[-6000:]}" for n, p in enumerate(processes))


def all_reminders_sent(database: Database) -> bool:
    reminders = [r for r in rows(database).values() if r["kind"] == "reminder"]
    return len(reminders) == 500 and all(r["state"] == "sent" for r in reminders)


def check_delivered_once(
    database: Database, smtp: SmtpServer, in_flight: set[tuple[str, str]]
) -> None:
    """Every reminder and the problem notice recorded as sent and received; each (recipient,
    Message-ID) once, but the messages ``in_flight`` (recipient, Message-ID) at a fault,
    which may have come twice, under the same Message-ID."""
    ledger = rows(database)
    reminders = {k: r for k, r in ledger.items() if r["kind"] == "reminder"}
    assert {(k[0].split("/")[1], k[1]) for k in reminders} == {
        (f"a{n:03d}", a) for n in range(100) for a in ADDRESSES
    }
    problems = [r for r in ledger.values() if r["kind"] == "problem"]
    assert [(p["recipient"], p["state"]) for p in problems] == [(COORDINATOR, "sent")]
    got = received(smtp)
    sent = {(str(k[1]), str(r["message_id"])) for k, r in ledger.items() if r["state"] == "sent"}
    assert set(got) == sent
    twice = {key for key, count in got.items() if count > 1}
    assert twice <= in_flight, f"sent twice: {sorted(twice - in_flight)}"
    assert max(got.values()) <= 2


def test_a_node_killed_mid_burst_leaves_its_message_to_the_other_after_the_lease(
    nodes: Callable[..., tuple[list[Path], list[Process]]],
    postgres_database: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with SmtpServer() as smtp:
        smtp.handler.reply_delay = 0.005  # a slow sink: both nodes are still busy at 150
        held = smtp.handler.hold(150)
        _configs, processes = nodes(smtp)
        assert held.wait(DEADLINE * 2), logs(processes)()

        # The node whose message number 150 is in the server, its 250 held back: kill it.
        with smtp.handler.lock:
            message = BytesParser(policy=policy.default).parsebytes(smtp.handler.received[149].data)
        message_id = str(message["Message-ID"])
        (holder,) = [r for r in rows(postgres_database).values() if r["message_id"] == message_id]
        assert holder["state"] == "sending"
        pid = int(str(holder["claimed_by"]).rsplit(":", 1)[1])
        killed = next(p for p in processes if p.proc.pid == pid)
        survivor = next(p for p in processes if p is not killed)
        killed.proc.send_signal(signal.SIGKILL)
        assert killed.proc.wait(timeout=DEADLINE) == -signal.SIGKILL
        smtp.handler.release()

        # The survivor sends the rest, then, after the lease, the killed node's message.
        _eventually(
            lambda: all_reminders_sent(postgres_database), "every reminder sent", logs(processes)
        )
        _eventually(
            lambda: all(
                r["state"] == "sent"
                for r in rows(postgres_database).values()
                if r["kind"] == "problem"
            ),
            "the problem notice",
            logs(processes),
        )
        resent = rows(postgres_database)[(holder["key"], holder["recipient"])]
        assert resent["message_id"] == message_id and resent["attempts"] == 2
        assert f"sending again as {message_id}" in survivor.log
        claimers = {
            str(r["claimed_by"]).rsplit(":", 1)[1]
            for r in rows(postgres_database).values()
            if r["claimed_by"]
        }
        assert str(killed.proc.pid) in claimers and str(survivor.proc.pid) in claimers
        check_delivered_once(postgres_database, smtp, {(str(holder["recipient"]), message_id)})

        # A third node with a link secret of its own refuses to start: the links the others
        # mailed would not open on it, nor its links on them.
        other = tmp_path / "other-credentials"
        other.mkdir()
        (other / "link-secret").write_text("t" * 40, encoding="utf-8")
        monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(other))
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
            notify.bind(str(tmp_path / "notify-c.sock"))
            third = Process(node_project(tmp_path, "c", smtp, postgres_database), notify)
            assert third.exit_code() != 0
        assert "differs from the one the other nodes of ledger.url use" in third.log
        assert "Give every node the same secret" in third.log
        assert survivor.stop() == 0


def test_the_database_away_for_a_minute_stops_both_nodes_and_they_resume_losing_nothing(
    nodes: Callable[..., tuple[list[Path], list[Process]]],
    postgres_server: PostgresServer,
    postgres_database: Database,
) -> None:
    with SmtpServer() as smtp:
        smtp.handler.reply_delay = 0.01
        # A lease longer than the outage, as the default 10 minutes is longer than a minute:
        # a message sent but not recorded meanwhile is recorded by its node, not sent again
        # by the other once the lease is over.
        _configs, processes = nodes(smtp, OUTAGE_SECONDS * 2)
        show = logs(processes)
        _eventually(lambda: len(smtp.handler.received) >= 100, "100 messages", show)
        postgres_server.stop()
        stopped_at = time.monotonic()
        for process in processes:
            _eventually(lambda p=process: p.get("/healthz")[0] == 503, "503 from /healthz", show)
        # Each node may finish the message it had in the server; then nothing more goes out.
        before = len(smtp.handler.received)
        time.sleep(3)
        during = len(smtp.handler.received)
        assert during == before, f"{during - before} messages sent with the database away"
        for process in processes:
            status, body = process.get("/calendar.ics")
            assert status == 200 and body.startswith(b"BEGIN:VCALENDAR")  # feeds stay up
        # A status link asks to come back later, in Swedish, rather than fail.
        link = status_link(smtp)
        status, body = processes[1].get(link)
        assert status == 503 and "Försök igen om en stund" in body.decode()
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - stopped_at)))
        for process in processes:
            assert process.get("/healthz")[0] == 503
        postgres_server.start()

        _eventually(lambda: all_reminders_sent(postgres_database), "every reminder sent", show)
        for process in processes:
            _eventually(lambda p=process: p.get("/healthz")[0] == 200, "200 from /healthz", show)
            assert "ledger reachable again: sending resumes" in process.log
            assert process.get(link)[0] == 200
        # A message whose 250 came while the database was away was recorded once it was back,
        # not sent again: nothing arrived twice.
        check_delivered_once(postgres_database, smtp, set())
        # Behind one address, either node answers a subscriber with the same bytes.
        feeds = [process.get("/calendar.ics") for process in processes]
        assert feeds[0] == feeds[1] and feeds[0][0] == 200
        for process in processes:
            assert process.stop() == 0
