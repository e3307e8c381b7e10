"""When messages go out, and to whom: local send times, the working-day rule, recipients.
Pure: no clock, no I/O.

Each kind of message (``notifier.kinds``) decides which messages the plan implies; the rules
they share stand here. Messages are sent at ``reminders.send_time`` local time on working
days. Local times are built in ``reminders.timezone`` with zoneinfo, so 08:00 stays 08:00
across daylight-saving changes. A milestone's messages reach every address of every
responsible organisation, and the coordinator for an organisation without an address.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from notifier.model import Organisation, PlannedMilestone, Recipient
from notifier.settings import Settings
from notifier.workdays import next_working_day

DAY = timedelta(days=1)
WEEK = timedelta(days=7)
# A due notice or digest that could not go out for this long is no longer news: the next
# digest lists what is overdue anyway.
STALE_AFTER = WEEK


# --- Time helpers -------------------------------------------------------------------------


def zone(settings: Settings) -> ZoneInfo:
    return ZoneInfo(settings.reminders.timezone)


def local_time(day: date, at: time, settings: Settings) -> datetime:
    """``day`` at wall-clock ``at`` in the configured zone.

    The round trip through UTC normalises a wall time that does not exist (inside the spring
    DST gap) to a real instant; 08:00 is never affected.
    """
    return _local_time(day, at, settings.reminders.timezone)


# Memoised: every message of a large plan asks for one of a few hundred send days.
@lru_cache(maxsize=1 << 12)
def _local_time(day: date, at: time, timezone: str) -> datetime:
    local = ZoneInfo(timezone)
    return datetime.combine(day, at, tzinfo=local).astimezone(UTC).astimezone(local)


def start_of_day(day: date, settings: Settings) -> datetime:
    """Local midnight that begins ``day``: a milestone is due from this moment."""
    return local_time(day, time(0), settings)


def send_time(day: date, settings: Settings) -> datetime:
    return local_time(day, settings.reminders.send_time, settings)


def next_send_slot(moment: datetime, settings: Settings) -> datetime:
    """The first send time on a working day at or after ``moment``."""
    day = moment.astimezone(zone(settings)).date()
    slot = send_time(next_working_day(day), settings)
    if slot < moment:
        slot = send_time(next_working_day(day + DAY), settings)
    return slot


def local_date(moment: datetime, settings: Settings) -> date:
    return moment.astimezone(zone(settings)).date()


# --- Recipients ---------------------------------------------------------------------------


def coordinator(settings: Settings) -> Recipient:
    return Recipient(settings.coordinator.email, settings.coordinator.name)


def recipients_for(planned: PlannedMilestone, settings: Settings) -> tuple[Recipient, ...]:
    """Every address of every organisation, once each, in plan order.

    An organisation without an address is reached through the coordinator. Several such
    organisations share one message to the coordinator naming all of them. When the
    coordinator's address is also an organisation's own address, that direct message wins.
    """
    return _recipients(planned.organisations, settings.coordinator.email)


# Memoised: a large plan has thousands of milestones but few distinct lists of organisations.
@lru_cache(maxsize=1 << 12)
def _recipients(
    organisations: tuple[Organisation, ...], coordinator_email: str
) -> tuple[Recipient, ...]:
    direct: dict[str, list[str]] = {}
    stand_in: dict[str, list[str]] = {}
    for organisation in organisations:
        if organisation.emails:
            for address in organisation.emails:
                _add(direct, address, organisation.name)
        else:
            _add(stand_in, coordinator_email, organisation.name)
    recipients = [Recipient(a, ", ".join(names)) for a, names in direct.items()]
    recipients += [
        Recipient(a, ", ".join(names), via_coordinator=True)
        for a, names in stand_in.items()
        if _fold(a) not in {_fold(d) for d in direct}
    ]
    return tuple(recipients)


def _add(into: dict[str, list[str]], address: str, name: str) -> None:
    address = address.strip()
    existing = next((a for a in into if _fold(a) == _fold(address)), address)
    names = into.setdefault(existing, [])
    if name not in names:
        names.append(name)


def _fold(address: str) -> str:
    return address.strip().casefold()
