"""Wake-ups that cannot be lost, and plan edits that cannot flood anyone.

The daemon runs in this process (``run_daemon`` from test_faults: its real scheduler, HTTP
server, SQLite ledger) with a clock the test drives, against an aiosmtpd server on loopback.
The clock lies in the future of the real one, so the daemon's own scheduler never fires
during a test: every wake is the test's, and what one wake does is what the test sees.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from smtp_server import TEMPORARY, SmtpServer
from test_faults import (
    OPERATOR,
    Clock,
    Milestone,
    future_monday,
    run_daemon,
    write_project,
)

from notifier.daemon import Daemon
from notifier.feed import WHOLE

pytestmark = pytest.mark.slow

FLAKY = "org0@example.se"


class SlowClock(Clock):
    """A slow step: every reading of the clock is ``pace`` later than the one before, so
    each retry a step schedules (1, 2, 4 … minutes on) is due again before the step ends."""

    def __init__(self, now: datetime, pace: timedelta) -> None:
        super().__init__(now)
        self.pace = pace
        self.running = False

    def __call__(self) -> datetime:
        if self.running:
            self.now += self.pace
        return self.now


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


def _health(daemon: Daemon) -> tuple[str, dict[str, Any]]:
    status, _, body = daemon.health.route(OPERATOR)
    return status, json.loads(body)


def test_a_burst_of_retries_already_due_is_sent_in_the_same_wake_not_at_the_next_sweep(
    project: Path, tmp_path: Path, smtp: SmtpServer
) -> None:
    base = future_monday()
    due = base.date() + timedelta(days=2)
    plan = [Milestone(f"a{n}", due, (FLAKY, "org1@example.se")) for n in range(3)]
    config = write_project(project, smtp, plan, ["1d"])
    # Tuesday 10:00 in Stockholm: the 1-day reminders (Tuesday 08:00) are due.
    clock = SlowClock(base + timedelta(days=1, hours=-4), pace=timedelta(minutes=5))
    smtp.handler.refuse(FLAKY, TEMPORARY)

    def script(daemon: Daemon) -> dict[str, Any]:
        clock.running = True
        first = daemon.wake()
        clock.running = False
        seen: dict[str, Any] = {"first": first, "refused": smtp.handler.rcpt_seen.count(FLAKY)}
        # Nothing due is left behind: the next wake lies ahead of the clock.
        seen["next_after_first"] = (daemon.health.next_wake, clock.now)
        # The mailbox works again: the retries due in the slow step go out in one wake.
        del smtp.handler.answers[FLAKY]
        clock.running = True
        seen["second"] = daemon.wake()
        clock.running = False
        seen["health"] = _health(daemon)
        seen["now"] = clock.now
        return seen

    code, seen = run_daemon(config, clock, tmp_path / "inproc.sock", script)

    assert code == 0
    # The first wake did not stop at one step: each retry was due again before its step
    # ended, so it ran again at once, as often as the mailbox refused.
    assert seen["refused"] > 3 * 2
    next_wake, now = seen["next_after_first"]
    assert next_wake is not None and next_wake > now
    for address in (FLAKY, "org1@example.se"):
        # One reminder per milestone, none left for the sweep.
        assert len([r for r in smtp.handler.received if address in r.rcpt_tos]) == 3
    last = seen["second"]
    assert last is not None and last.failed == []
    assert last.next_wake is None or last.next_wake > seen["now"]
    status, body = seen["health"]
    assert status == "200 OK" and body["status"] == "ok" and body["wake"] == "ok"


def test_healthz_is_degraded_when_the_next_wake_is_over_a_minute_past(
    project: Path, tmp_path: Path, smtp: SmtpServer
) -> None:
    base = future_monday()
    plan = [Milestone("a0", base.date() + timedelta(days=30), ("org1@example.se",))]
    config = write_project(project, smtp, plan, ["1d"])
    clock = Clock(base)

    def script(daemon: Daemon) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        daemon.wake()
        wake = daemon.health.next_wake
        assert wake is not None and wake > clock.now
        clock.now = wake + timedelta(seconds=59)
        seen["in_time"] = _health(daemon)
        clock.now = wake + timedelta(minutes=3)  # the scheduler never woke the daemon
        seen["lost"] = _health(daemon)
        seen["wake"] = wake
        daemon.wake()
        seen["after"] = _health(daemon)
        return seen

    code, seen = run_daemon(config, clock, tmp_path / "inproc.sock", script)

    assert code == 0
    assert seen["in_time"][0] == "200 OK" and seen["in_time"][1]["status"] == "ok"
    status, body = seen["lost"]
    assert status == "503 Service Unavailable" and body["status"] == "degraded"
    assert body["wake"] == (
        f"the wake due at {seen['wake'].isoformat()} has not run (3 min late); due messages "
        "wait for the next sweep"
    )
    assert body["next_wake"] == seen["wake"].isoformat()
    assert seen["after"][0] == "200 OK" and seen["after"][1]["wake"] == "ok"


def test_a_flood_of_milestones_in_one_när_is_refused_and_the_action_keeps_its_last_state(
    project: Path, tmp_path: Path, smtp: SmtpServer
) -> None:
    base = future_monday()
    due = base.date() + timedelta(days=30)
    plan = [Milestone(f"a{n}", due, ("org1@example.se",)) for n in range(2)]
    config = write_project(project, smtp, plan, ["1d"])
    clock = Clock(base)
    path = project / "plan" / "fault.toml"
    text = path.read_text(encoding="utf-8")
    flood = "Klart maj 2024" + " och juni 2027" * 7500  # 105 KB: 7,501 milestones
    edited = text.replace('"när" = "se delmål"', f'"när" = "{flood}"', 1)
    edited = edited.replace("[[action.milestone]]", "", 1).replace(
        f'label = "Klart"\ndue = {due.isoformat()}\n', "", 1
    )
    line = edited.splitlines().index(f'"när" = "{flood}"') + 1

    def script(daemon: Daemon) -> dict[str, Any]:
        before = [m.key for m in daemon.state.catalog.milestones]
        feed = daemon.store.feeds[WHOLE].body
        path.write_text(edited, encoding="utf-8")
        clock.now += timedelta(minutes=1)
        reloaded = daemon.reload()
        return {
            "reloaded": reloaded,
            "before": before,
            "after": [m.key for m in daemon.state.catalog.milestones],
            "feed_before": feed,
            "feed_after": daemon.store.feeds[WHOLE].body,
            "problems": [p.lines for p in daemon.ledger.problems()],
            "health": _health(daemon),
        }

    code, seen = run_daemon(config, clock, tmp_path / "inproc.sock", script)

    assert code == 0
    # The plan loads; the flooded action keeps the one milestone it had.
    assert seen["reloaded"] is True
    assert seen["after"] == seen["before"] == ["fault/a0/klart", "fault/a1/klart"]
    assert seen["feed_after"].count(b"BEGIN:VEVENT") == 2
    assert len(seen["feed_after"]) < 2 * len(seen["feed_before"])
    [lines] = seen["problems"]
    assert lines[0] == (
        f"{path}:{line}: action 1 ('a0'), field när: {len(flood)} characters; a 'När?' may "
        "have at most 400. Shorten it, or give the milestones under [[action.milestone]]"
    )
    assert any("keeps the 1 milestone(s) it last loaded with" in line for line in lines)
