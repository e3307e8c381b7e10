"""What is due now: the catch-up rule, per recipient, retries and leases."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.due import (
    DEFAULT_LEASE,
    EXPIRED,
    DuePlan,
    LedgerEntry,
    Snapshot,
    backoff,
    due_items,
)
from notifier.kinds.digest import digests
from notifier.kinds.problem import problem_notices
from notifier.kinds.reminder import Reminder, lead_label, reminders
from notifier.model import Action, Milestone, Organisation, Plan, PlannedMilestone, Problem
from notifier.records import RecordedProblem
from notifier.settings import ReminderSettings, Settings

STOCKHOLM = ZoneInfo("Europe/Stockholm")
POLISEN = Organisation("Polisen", "polisen", emails=("polisen@example.se",))
SKOLAN = Organisation("Skolan", "skolan", emails=("skolan@example.se",))
JUNE_30 = date(2024, 6, 30)  # "Klart juni 2024": 30d 31 May, 7d 20 June, 1d 28 June


@dataclass
class Plans:
    milestones: tuple[PlannedMilestone, ...]
    problems: list[Problem] = field(default_factory=list)


def planned(due_date: date, action: str = "a") -> PlannedMilestone:
    act = Action(action, "Våld", "Område", "Problem", "Orsak", "Mål", "Åtgärd", "Polisen", "x")
    plan = Plan("p", "Plan", date(2024, 1, 1), 2024, "Europe/Stockholm", ())
    milestone = Milestone("Klart", None, due_date, due_date)
    return PlannedMilestone(plan, act, "1", milestone, (POLISEN, SKOLAN))


def schedule(*dues: date, leads: tuple[str, ...] = ("30d", "7d", "1d")) -> list[Reminder]:
    milestones = tuple(planned(d, f"a{i}") for i, d in enumerate(dues))
    return reminders(Plans(milestones), Settings(reminders=ReminderSettings(leads=leads)))


def due(
    found: list[Reminder], state: Snapshot, now: datetime, lease: timedelta = DEFAULT_LEASE
) -> DuePlan:
    return due_items(found, state, now, lease)


def local(day: date, hour: int = 8, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=STOCKHOLM)


def by_lead(found: list[Reminder]) -> dict[str, Reminder]:
    return {lead_label(r.payload): r for r in found}


def entry(reminder: Reminder, address: str, state: str, **fields: object) -> LedgerEntry:
    return LedgerEntry(reminder.key, address, "reminder", state, **fields)  # type: ignore[arg-type]


def snapshot(*entries: LedgerEntry) -> Snapshot:
    return {(e.key, e.recipient): e for e in entries}


def all_sent(*found: Reminder) -> Snapshot:
    return snapshot(*(entry(r, a.address, "sent") for r in found for a in r.recipients))


def sent_pairs(plan_send: list) -> list[tuple[str, str]]:
    return [(d.key, d.address) for d in plan_send]


# --- On time ------------------------------------------------------------------------------


def test_reminder_is_due_from_its_send_time_for_every_recipient() -> None:
    leads = by_lead(schedule(JUNE_30))
    thirty = leads["30d"]
    assert due(list(leads.values()), {}, thirty.send_at - timedelta(seconds=1)).send == []
    plan = due(list(leads.values()), {}, thirty.send_at)
    assert sent_pairs(plan.send) == [
        (thirty.key, "polisen@example.se"),
        (thirty.key, "skolan@example.se"),
    ]
    assert plan.skip == []


def test_a_reminder_sent_to_everyone_is_not_due_again() -> None:
    leads = by_lead(schedule(JUNE_30))
    plan = due(list(leads.values()), all_sent(leads["30d"]), leads["30d"].send_at + timedelta(1))
    assert plan.send == [] and plan.skip == []
    assert plan.next_at == leads["7d"].send_at


def test_in_normal_operation_nothing_is_skipped() -> None:
    found = schedule(JUNE_30)
    leads = by_lead(found)
    plan = due(found, all_sent(leads["30d"]), leads["7d"].send_at)
    assert {d.key for d in plan.send} == {leads["7d"].key}
    assert plan.skip == []


# --- Catch-up -----------------------------------------------------------------------------


def test_after_a_week_of_downtime_only_the_latest_missed_reminder_is_sent() -> None:
    found = schedule(JUNE_30)
    leads = by_lead(found)
    # Down from 19 June to 28 June 09:00: the 7d (20 June) and 1d (28 June 08:00) were missed.
    plan = due(found, all_sent(leads["30d"]), local(date(2024, 6, 28), 9))
    assert {d.key for d in plan.send} == {leads["1d"].key}
    assert {(s.key, s.reason) for s in plan.skip} == {
        (leads["7d"].key, "superseded by the 1d reminder")
    }
    assert len(plan.skip) == 2  # both recipients


def test_missed_reminders_of_a_milestone_already_due_are_all_skipped_saying_why() -> None:
    found = schedule(JUNE_30)
    leads = by_lead(found)
    plan = due(found, {}, local(date(2024, 7, 2), 9))
    assert plan.send == []
    # The earlier ones name the reminder that replaced them, and that it never went out either.
    superseded = "superseded by the 1d reminder, which was itself too late: the milestone fell due"
    assert {(s.key, s.reason) for s in plan.skip} == {
        (leads["30d"].key, superseded),
        (leads["7d"].key, superseded),
        (leads["1d"].key, EXPIRED),
    }


def test_a_reminder_is_not_sent_once_its_due_date_has_begun() -> None:
    (reminder,) = schedule(JUNE_30, leads=("1d",))
    plan = due([reminder], {}, local(JUNE_30, 0))
    assert plan.send == []
    assert {s.reason for s in plan.skip} == {EXPIRED}
    assert due([reminder], {}, local(JUNE_30, 0) - timedelta(seconds=1)).send != []


def test_catch_up_is_decided_per_milestone() -> None:
    found = schedule(JUNE_30, date(2024, 7, 15))
    now = local(date(2024, 6, 29), 9)
    plan = due(found, {}, now)
    sent = {d.key for d in plan.send}
    assert sent == {
        next(r.key for r in found if r.due == JUNE_30 and r.payload == timedelta(days=1)),
        next(r.key for r in found if r.due == date(2024, 7, 15) and r.payload == timedelta(30)),
    }


def test_only_recipients_not_yet_sent_are_due() -> None:
    thirty = by_lead(schedule(JUNE_30))["30d"]
    state = snapshot(entry(thirty, "polisen@example.se", "sent"))
    plan = due([thirty], state, thirty.send_at + timedelta(minutes=5))
    assert sent_pairs(plan.send) == [(thirty.key, "skolan@example.se")]


def test_a_superseded_reminder_still_failing_is_skipped_but_a_sent_one_is_left_alone() -> None:
    found = schedule(JUNE_30)
    leads = by_lead(found)
    state = snapshot(
        entry(leads["30d"], "polisen@example.se", "sent"),
        entry(leads["30d"], "skolan@example.se", "failed", next_attempt_at=local(JUNE_30)),
    )
    plan = due(found, state, leads["7d"].send_at)
    assert [(s.key, s.address) for s in plan.skip] == [(leads["30d"].key, "skolan@example.se")]


# --- Retries and leases -------------------------------------------------------------------


MINUTE = timedelta(minutes=1)
NEVER = None


@pytest.mark.parametrize(
    ("state", "permanent", "retry_in", "claimed", "later", "sent"),
    [
        pytest.param("due", False, NEVER, False, timedelta(0), True, id="recorded due: send"),
        pytest.param("sent", False, NEVER, False, timedelta(0), False, id="sent: never again"),
        pytest.param("skipped", False, NEVER, False, timedelta(0), False, id="skipped: never"),
        pytest.param(
            "failed", True, NEVER, False, timedelta(days=1), False, id="failed for good: never"
        ),
        pytest.param(
            "failed", False, 2 * MINUTE, False, MINUTE, False, id="temporary: not before retry"
        ),
        pytest.param(
            "failed", False, 2 * MINUTE, False, 2 * MINUTE, True, id="temporary: retried at time"
        ),
        pytest.param(
            "sending",
            False,
            NEVER,
            True,
            DEFAULT_LEASE - timedelta(seconds=1),
            False,
            id="sending within the lease: someone is at it",
        ),
        pytest.param(
            "sending",
            False,
            NEVER,
            True,
            DEFAULT_LEASE,
            True,
            id="sending past the lease: the sender died, send again",
        ),
    ],
)
def test_ledger_state_decides_whether_a_recipient_is_due(
    state: str,
    permanent: bool,
    retry_in: timedelta | None,
    claimed: bool,
    later: timedelta,
    sent: bool,
) -> None:
    thirty = by_lead(schedule(JUNE_30))["30d"]
    start = thirty.send_at
    recorded = entry(
        thirty,
        "polisen@example.se",
        state,
        permanent=permanent,
        next_attempt_at=start + retry_in if retry_in else None,
        claimed_at=start if claimed else None,
    )
    plan = due([thirty], snapshot(recorded), start + later)
    # Skolan has no record yet and is due either way; only Polisen's record is under test.
    assert ("polisen@example.se" in [d.address for d in plan.send]) is sent
    assert plan.skip == []


def test_next_wake_is_the_earliest_retry_or_send_time() -> None:
    found = schedule(JUNE_30)
    leads = by_lead(found)
    retry = leads["30d"].send_at + timedelta(minutes=4)
    state = snapshot(
        entry(leads["30d"], "polisen@example.se", "sent"),
        entry(leads["30d"], "skolan@example.se", "failed", next_attempt_at=retry),
    )
    plan = due(found, state, leads["30d"].send_at + timedelta(minutes=1))
    assert plan.send == []
    assert plan.next_at == retry


@pytest.mark.parametrize(
    ("attempts", "wait"),
    [(1, 1), (2, 2), (3, 4), (4, 8), (6, 32), (7, 60), (8, 60), (1000, 60)],
)
def test_retries_back_off_doubling_from_one_minute_to_at_most_an_hour(
    attempts: int, wait: int
) -> None:
    assert backoff(attempts) == timedelta(minutes=wait)


# --- Digests ------------------------------------------------------------------------------


def test_only_the_latest_missed_digest_is_sent() -> None:
    items = digests(Settings(), local(date(2024, 6, 1), 0), local(date(2024, 6, 20), 0))
    plan = due_items(items, {}, local(date(2024, 6, 18), 12))
    assert [d.key for d in plan.send] == ["digest/2024-06-17/2024-07-14"]
    assert [(s.key, s.reason) for s in plan.skip] == [
        ("digest/2024-06-03/2024-06-30", "superseded by a later digest (2024-06-17)"),
        ("digest/2024-06-10/2024-07-07", "superseded by a later digest (2024-06-17)"),
    ]


# --- Problem notices ----------------------------------------------------------------------


def test_each_refused_edit_is_told_at_once_and_none_replaces_another() -> None:
    seen = local(date(2024, 6, 15), 14, 3)  # a Saturday afternoon: no waiting for Monday
    recorded = [
        RecordedProblem("problem/a", ("plan/x.toml:3: not valid TOML",), seen),
        RecordedProblem("problem/b", ("plan/x.toml:9: unknown key",), seen + timedelta(hours=1)),
    ]
    items = problem_notices(recorded, Settings())
    assert due_items(items, {}, seen - timedelta(seconds=1)).send == []
    plan = due_items(items, {}, seen + timedelta(hours=2))
    assert [(d.key, d.address) for d in plan.send] == [
        ("problem/a", Settings().coordinator.email),
        ("problem/b", Settings().coordinator.email),
    ]
    assert plan.skip == []


def test_a_problem_notice_that_could_not_go_out_for_a_week_is_dropped_as_stale() -> None:
    seen = local(date(2024, 6, 14), 10)
    (item,) = problem_notices([RecordedProblem("problem/a", ("x",), seen)], Settings())
    failing = entry_for(item.key, "failed", next_attempt_at=seen + timedelta(minutes=1))
    assert due_items([item], failing, seen + timedelta(days=6)).send != []
    plan = due_items([item], failing, seen + timedelta(days=7))
    assert plan.send == []
    assert [(s.key, s.reason) for s in plan.skip] == [("problem/a", EXPIRED)]


def entry_for(key: str, state: str, **fields: object) -> Snapshot:
    address = Settings().coordinator.email
    return snapshot(LedgerEntry(key, address, "problem", state, **fields))  # type: ignore[arg-type]


# --- A property: any pattern of wake-ups ---------------------------------------------------

START = local(date(2024, 5, 1), 0)
END = local(date(2024, 7, 10), 0)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.integers(min_value=0, max_value=int((END - START).total_seconds() // 60)),
        min_size=1,
        max_size=40,
    )
)
def test_any_wake_pattern_sends_each_milestone_at_most_once_per_wake_and_never_late(
    minutes: list[int],
) -> None:
    found = schedule(JUNE_30, date(2024, 6, 3))
    by_key = {r.key: r for r in found}
    state: dict[tuple[str, str], LedgerEntry] = {}
    for wake in sorted({START + timedelta(minutes=m) for m in minutes}):
        plan = due(found, state, wake)
        milestones_sent = [by_key[d.key].milestone_key for d in plan.send]
        assert len({d.key for d in plan.send}) == len(set(milestones_sent))
        for delivery in plan.send:
            reminder = by_key[delivery.key]
            assert reminder.send_at <= wake < reminder.expires_at
            state[(delivery.key, delivery.address)] = entry(reminder, delivery.address, "sent")
        for skip in plan.skip:
            assert (skip.key, skip.address) not in state
            state[(skip.key, skip.address)] = entry(by_key[skip.key], skip.address, "skipped")
    final = due(found, state, END)
    for skip in final.skip:
        state[(skip.key, skip.address)] = entry(by_key[skip.key], skip.address, "skipped")
    assert final.send == []
    # In the end every reminder is settled, once, for every recipient.
    assert set(state) == {(r.key, a.address) for r in found for a in r.recipients}
