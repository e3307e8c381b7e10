"""The reminder schedule: which reminders, at what moment, to whom."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from notifier.errors import UserError
from notifier.kinds.changed import change_notices
from notifier.kinds.digest import digest_times, digests
from notifier.kinds.due import due_notices
from notifier.kinds.reminder import lead_label, reminders
from notifier.model import (
    Action,
    Milestone,
    Organisation,
    Plan,
    PlannedMilestone,
    Problem,
    Recipient,
)
from notifier.records import KnownDue
from notifier.settings import DigestSettings, ReminderSettings, Settings

STOCKHOLM = ZoneInfo("Europe/Stockholm")
ROOT = Path(__file__).resolve().parent.parent.parent
COORDINATOR = Settings().coordinator.email

POLISEN = Organisation("Polisen", "polisen", emails=("polisen@example.se",))
SKOLAN = Organisation("Skolan", "skolan", emails=("skolan@example.se", "rektor@example.se"))
NO_ADDRESS = Organisation("Föreningen", "foreningen")
ALSO_NO_ADDRESS = Organisation("Klubben", "klubben")


@dataclass
class Plans:
    """The part of a Catalog the schedule reads."""

    milestones: tuple[PlannedMilestone, ...]
    problems: list[Problem] = field(default_factory=list)


def plan(leads: tuple[str, ...] | None = None) -> Plan:
    return Plan("p", "Plan", date(2024, 1, 1), 2024, "Europe/Stockholm", (), lead_times=leads)


def planned(
    due: date,
    organisations: tuple[Organisation, ...] = (POLISEN,),
    *,
    action: str = "a",
    leads: tuple[str, ...] | None = None,
) -> PlannedMilestone:
    act = Action(action, "Våld", "Område", "Problem", "Orsak", "Mål", "Åtgärd", "Polisen", "x")
    return PlannedMilestone(
        plan(leads), act, "1", Milestone("Klart", None, due, due), organisations
    )


def settings(*leads: str) -> Settings:
    return Settings(reminders=ReminderSettings(leads=leads or ("30d", "7d", "1d")))


def local(day: date, hour: int = 8, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=STOCKHOLM)


def send_times(due: date, *leads: str) -> dict[str, datetime]:
    found = reminders(Plans((planned(due),)), settings(*leads))
    return {lead_label(r.payload): r.send_at for r in found}


# --- The seed plan ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seed_reminders() -> dict[str, datetime]:
    from notifier.catalog import load_catalog

    catalog = load_catalog(ROOT / "plan")
    return {r.key: r.send_at for r in reminders(catalog, Settings())}


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        pytest.param(
            "gotland-2024/utbildning-ansvarsfull-alkoholservice/klart@2024-06-30-30d",
            local(date(2024, 5, 31)),
            id="Klart juni 2024, 30d: Friday 31 May",
        ),
        pytest.param(
            "gotland-2024/utbildning-ansvarsfull-alkoholservice/klart@2024-06-30-7d",
            local(date(2024, 6, 20)),
            id="Klart juni 2024, 7d: Sunday 23 June -> Thursday 20 (midsommarafton off)",
        ),
        pytest.param(
            "gotland-2024/utbildning-ansvarsfull-alkoholservice/klart@2024-06-30-1d",
            local(date(2024, 6, 28)),
            id="Klart juni 2024, 1d: Saturday 29 June -> Friday 28",
        ),
        pytest.param(
            "gotland-2024/sig/klart-for-start@2024-11-01-30d",
            local(date(2024, 10, 2)),
            id="Klart för start november 2024, 30d: Wednesday 2 October",
        ),
        pytest.param(
            "gotland-2024/sig/klart-for-start@2024-11-01-7d",
            local(date(2024, 10, 25)),
            id="Klart för start november 2024, 7d: Friday 25 October (CEST)",
        ),
        pytest.param(
            "gotland-2024/sig/klart-for-start@2024-11-01-1d",
            local(date(2024, 10, 31)),
            id="Klart för start november 2024, 1d: Thursday 31 October (CET)",
        ),
        pytest.param(
            "gotland-2024/krogar-mot-knark/diplomeringsklart@2024-12-31-7d",
            local(date(2024, 12, 23)),
            id="Diplomeringsklart december 2024, 7d: julafton -> 23 December",
        ),
        pytest.param(
            "gotland-2024/krogar-mot-knark/diplomeringsklart@2024-12-31-30d",
            local(date(2024, 11, 29)),
            id="Diplomeringsklart december 2024, 30d: Sunday 1 December -> Friday 29 November",
        ),
    ],
)
def test_seed_plan_reminders_go_out_at_eight_on_the_right_working_day(
    seed_reminders: dict[str, datetime], key: str, expected: datetime
) -> None:
    assert seed_reminders[key] == expected


def test_every_seed_reminder_goes_out_at_eight_local_on_a_working_day(
    seed_reminders: dict[str, datetime],
) -> None:
    from notifier.workdays import is_working_day

    assert len(seed_reminders) >= 30
    for key, moment in seed_reminders.items():
        assert moment.astimezone(STOCKHOLM).time() == time(8, 0), key
        assert is_working_day(moment.astimezone(STOCKHOLM).date()), key


# --- Working days and time zones ----------------------------------------------------------


@pytest.mark.parametrize(
    ("due", "lead", "expected"),
    [
        pytest.param(date(2024, 6, 28), "7d", local(date(2024, 6, 20)), id="midsommarafton"),
        pytest.param(date(2024, 12, 31), "7d", local(date(2024, 12, 23)), id="julafton"),
        pytest.param(date(2025, 1, 7), "7d", local(date(2024, 12, 30)), id="nyårsafton"),
        pytest.param(date(2024, 4, 2), "1d", local(date(2024, 3, 28)), id="annandag påsk"),
        pytest.param(date(2024, 6, 10), "1d", local(date(2024, 6, 7)), id="a Sunday"),
        pytest.param(date(2024, 6, 12), "1d", local(date(2024, 6, 11)), id="a working day"),
    ],
)
def test_reminder_falling_on_a_day_off_moves_to_the_previous_working_day(
    due: date, lead: str, expected: datetime
) -> None:
    assert send_times(due, lead)[lead] == expected


def test_reminder_falling_on_midsummer_eve_moves_to_previous_working_day() -> None:
    assert send_times(date(2024, 6, 28), "7d")["7d"] == local(date(2024, 6, 20))


@pytest.mark.parametrize(
    ("due", "expected_local", "expected_utc"),
    [
        pytest.param(
            date(2025, 3, 29),
            local(date(2025, 3, 28)),
            datetime(2025, 3, 28, 7, 0, tzinfo=UTC),
            id="Friday before spring DST change: 08:00 CET",
        ),
        pytest.param(
            date(2025, 4, 1),
            local(date(2025, 3, 31)),
            datetime(2025, 3, 31, 6, 0, tzinfo=UTC),
            id="Monday after spring DST change: 08:00 CEST",
        ),
        pytest.param(
            date(2025, 10, 25),
            local(date(2025, 10, 24)),
            datetime(2025, 10, 24, 6, 0, tzinfo=UTC),
            id="Friday before autumn DST change: 08:00 CEST",
        ),
        pytest.param(
            date(2025, 10, 28),
            local(date(2025, 10, 27)),
            datetime(2025, 10, 27, 7, 0, tzinfo=UTC),
            id="Monday after autumn DST change: 08:00 CET",
        ),
    ],
)
def test_reminders_stay_at_eight_local_across_daylight_saving_changes(
    due: date, expected_local: datetime, expected_utc: datetime
) -> None:
    sent = send_times(due, "1d")["1d"]
    assert sent == expected_local == expected_utc
    assert sent.astimezone(STOCKHOLM).hour == 8


def test_sub_day_leads_are_exact_durations_before_the_start_of_the_due_date() -> None:
    times = send_times(date(2024, 6, 22), "90m", "2h")  # a Saturday: no working-day move
    assert times["90m"] == local(date(2024, 6, 21), 22, 30)
    assert times["2h"] == local(date(2024, 6, 21), 22, 0)


def test_sub_day_lead_across_a_dst_change_counts_elapsed_time() -> None:
    # Midnight CEST on 31 March 2025 is 22:00 UTC on the 30th; 25 hours before that is
    # 21:00 UTC on the 29th, which is 22:00 CET (the wall clock lost an hour in between).
    sent = send_times(date(2025, 3, 31), "25h")["25h"]
    assert sent == datetime(2025, 3, 29, 21, 0, tzinfo=UTC)
    assert sent.astimezone(STOCKHOLM).hour == 22


def test_send_time_and_zone_come_from_settings() -> None:
    custom = Settings(reminders=ReminderSettings(leads=("1d",), send_time=time(9, 30)))
    (reminder,) = reminders(Plans((planned(date(2024, 6, 12)),)), custom)
    assert reminder.send_at == local(date(2024, 6, 11), 9, 30)


# --- Leads and keys -----------------------------------------------------------------------


def test_default_leads_are_30_7_and_1_days_in_send_order() -> None:
    found = reminders(Plans((planned(date(2024, 9, 16)),)), Settings())
    assert [lead_label(r.payload) for r in found] == ["30d", "7d", "1d"]
    assert [r.send_at for r in found] == sorted(r.send_at for r in found)


def test_a_plan_may_set_its_own_leads() -> None:
    found = reminders(Plans((planned(date(2024, 9, 16), leads=("14d", "2d")),)), Settings())
    assert [lead_label(r.payload) for r in found] == ["14d", "2d"]


def test_an_unreadable_plan_lead_is_a_user_error_naming_the_plan() -> None:
    with pytest.raises(UserError, match="plan 'p': leads: '2w' is not a duration"):
        reminders(Plans((planned(date(2024, 9, 16), leads=("2w",)),)), Settings())


def test_reminder_key_names_milestone_due_date_and_lead() -> None:
    (reminder,) = reminders(Plans((planned(date(2024, 11, 1), action="sig"),)), settings("7d"))
    assert reminder.key == "p/sig/1@2024-11-01-7d"
    assert reminder.milestone_key == "p/sig/1"
    assert reminder.expires_at == local(date(2024, 11, 1), 0)  # when the milestone is due


def test_leads_that_land_on_the_same_moment_give_one_reminder_with_the_shorter_lead() -> None:
    # Due Monday 3 June: 1d is Sunday and 2d is Saturday, both moved to Friday 31 May.
    found = reminders(Plans((planned(date(2024, 6, 3)),)), settings("2d", "1d"))
    assert [(lead_label(r.payload), r.send_at) for r in found] == [("1d", local(date(2024, 5, 31)))]


def test_a_lead_of_zero_is_refused_where_it_is_written() -> None:
    # A reminder at the due moment itself is no reminder: say so rather than drop it.
    with pytest.raises(ValueError, match="'0d' is no lead time"):
        settings("0d", "1d")


# --- Recipients ---------------------------------------------------------------------------


def recipients_of(*organisations: Organisation) -> tuple[Recipient, ...]:
    milestone = planned(date(2024, 6, 12), organisations)
    (reminder,) = reminders(Plans((milestone,)), settings("1d"))
    return reminder.recipients


def test_every_address_of_every_organisation_gets_the_reminder() -> None:
    assert recipients_of(POLISEN, SKOLAN) == (
        Recipient("polisen@example.se", "Polisen"),
        Recipient("skolan@example.se", "Skolan"),
        Recipient("rektor@example.se", "Skolan"),
    )


def test_an_organisation_without_address_is_reached_through_the_coordinator() -> None:
    assert recipients_of(POLISEN, NO_ADDRESS) == (
        Recipient("polisen@example.se", "Polisen"),
        Recipient(COORDINATOR, "Föreningen", via_coordinator=True),
    )


def test_several_organisations_without_address_share_one_message_to_the_coordinator() -> None:
    assert recipients_of(NO_ADDRESS, ALSO_NO_ADDRESS) == (
        Recipient(COORDINATOR, "Föreningen, Klubben", via_coordinator=True),
    )


def test_an_address_shared_by_two_organisations_gets_one_message() -> None:
    shared = Organisation("Polisområdet", "po", emails=("POLISEN@example.se",))
    assert recipients_of(POLISEN, shared) == (
        Recipient("polisen@example.se", "Polisen, Polisområdet"),
    )


# --- Due notices, change notices, digests -------------------------------------------------


@pytest.mark.parametrize(
    ("due", "expected"),
    [
        pytest.param(date(2024, 6, 12), local(date(2024, 6, 13)), id="Wednesday -> Thursday"),
        pytest.param(date(2024, 6, 30), local(date(2024, 7, 1)), id="Sunday -> Monday"),
        pytest.param(date(2024, 12, 23), local(date(2024, 12, 27)), id="23 Dec -> 27 Dec"),
        pytest.param(date(2024, 6, 20), local(date(2024, 6, 24)), id="before midsommar -> Mon"),
    ],
)
def test_due_notice_goes_to_the_coordinator_on_the_next_working_day(
    due: date, expected: datetime
) -> None:
    (notice,) = due_notices(Plans((planned(due),)), Settings())
    assert notice.send_at == expected
    assert notice.recipients == (Recipient(COORDINATOR, Settings().coordinator.name),)
    assert notice.key == f"due/p/a/1/{due.isoformat()}"


def test_change_notice_goes_to_the_organisations_at_the_next_send_time() -> None:
    milestone = planned(date(2024, 10, 31), (POLISEN, NO_ADDRESS))
    saturday_noon = local(date(2024, 6, 15), 12)
    known = {"p/a/1": KnownDue(date(2024, 10, 31), date(2024, 9, 30), saturday_noon)}
    (notice,) = change_notices(Plans((milestone,)), Settings(), known)
    assert notice.key == "changed/p/a/1/2024-09-30/2024-10-31"
    assert notice.payload == date(2024, 9, 30)  # the due date it had before
    assert notice.send_at == local(date(2024, 6, 17))
    assert [r.address for r in notice.recipients] == ["polisen@example.se", COORDINATOR]


def test_change_seen_before_send_time_on_a_working_day_goes_out_the_same_morning() -> None:
    milestone = planned(date(2024, 10, 31))
    early = local(date(2024, 6, 17), 6)
    known = {"p/a/1": KnownDue(date(2024, 10, 31), date(2024, 9, 30), early)}
    (notice,) = change_notices(Plans((milestone,)), Settings(), known)
    assert notice.send_at == local(date(2024, 6, 17))


def test_no_change_notice_without_a_recorded_change_or_when_the_plan_moved_on() -> None:
    milestone = planned(date(2024, 10, 31))
    moment = local(date(2024, 6, 17), 6)
    assert change_notices(Plans((milestone,)), Settings(), {}) == []
    unchanged = {"p/a/1": KnownDue(date(2024, 10, 31))}
    assert change_notices(Plans((milestone,)), Settings(), unchanged) == []
    stale = {"p/a/1": KnownDue(date(2024, 11, 30), date(2024, 9, 30), moment)}
    assert change_notices(Plans((milestone,)), Settings(), stale) == []


def test_weekly_digest_is_on_the_configured_day_and_a_holiday_moves_it_to_the_next_day() -> None:
    start, end = local(date(2024, 3, 25), 0), local(date(2024, 4, 9), 0)
    assert digest_times(Settings(), start, end) == [
        local(date(2024, 3, 25)),
        local(date(2024, 4, 2)),  # Monday 1 April is annandag påsk
        local(date(2024, 4, 8)),
    ]


def test_digest_weekday_time_and_reach_come_from_settings() -> None:
    custom = Settings(digest=DigestSettings(weekday="friday", time=time(7, 15), weeks_ahead=2))
    start, end = local(date(2024, 6, 1), 0), local(date(2024, 6, 15), 0)
    slots = digests(custom, start, end)
    assert [s.send_at for s in slots] == [
        local(date(2024, 6, 7), 7, 15),
        local(date(2024, 6, 14), 7, 15),
    ]
    assert (slots[0].payload.start, slots[0].payload.end) == (date(2024, 6, 7), date(2024, 6, 20))
    assert slots[0].key == "digest/2024-06-07/2024-06-20"


def test_digest_window_is_half_open() -> None:
    monday = local(date(2024, 6, 3))
    assert digest_times(Settings(), monday, monday + timedelta(days=7)) == [monday]
    assert digest_times(Settings(), monday + timedelta(seconds=1), monday + timedelta(days=7)) == []
