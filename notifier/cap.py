"""At most so many messages to one address in any 24 hours; the rest wait. Pure.

A plan edit that turns one action into dozens of milestones, or a restart after a long stop,
could otherwise send one organisation a flood in a morning. Past ``mail.daily_cap``
messages to an address within 24 hours, further messages to it are held: not sent, not
recorded, so they stay due and go out, oldest first, as the window frees up (24 hours after
the messages that filled it, so at the hour mail usually goes out) unless they were
superseded or done meanwhile. The coordinator hears of it at once, once per address and day,
through a problem notice: if the plan is right, raising the cap in config.toml sends them at
the next step; if not, fixing the plan drops what is no longer due.

The coordinator's own address is never capped: the notices about the cap go there.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

from notifier.due import Delivery
from notifier.records import Snapshot
from notifier.schedule import zone
from notifier.settings import Settings

WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class Held:
    """Messages to one address held back at one moment, and when the window frees up."""

    address: str
    organisation: str
    deliveries: tuple[Delivery, ...]
    sent_in_window: int
    free_at: datetime


@dataclass(frozen=True)
class Capped:
    """Deliveries that may go now, and those held back by the daily cap."""

    send: list[Delivery]
    held: list[Held] = field(default_factory=list)

    @property
    def next_free(self) -> datetime | None:
        return min((h.free_at for h in self.held), default=None)


def apply_cap(
    sends: Sequence[Delivery], snapshot: Snapshot, now: datetime, settings: Settings
) -> Capped:
    """``sends`` split into what goes out now and what the cap holds back."""
    cap = settings.mail.daily_cap
    if cap <= 0:
        return Capped(list(sends))
    since = now - WINDOW
    sent_at: dict[str, list[datetime]] = {}
    for (_, address), entry in snapshot.items():
        if entry.state == "sent" and entry.updated_at is not None and entry.updated_at > since:
            sent_at.setdefault(address, []).append(entry.updated_at)
    exempt = settings.coordinator.email.lower()
    taken: Counter[str] = Counter()
    send: list[Delivery] = []
    held: dict[str, list[Delivery]] = {}
    # The most urgent first: a message that soon expires (a reminder the day before) goes
    # before one that can wait (a month ahead).
    for delivery in sorted(sends, key=_urgency):
        address = delivery.address
        in_flight = snapshot.get((delivery.key, address))
        if (
            address.lower() == exempt
            or (in_flight is not None and in_flight.state == "sending")
            or len(sent_at.get(address, ())) + taken[address] < cap
        ):
            send.append(delivery)
            taken[address] += 1
        else:
            held.setdefault(address, []).append(delivery)
    return Capped(
        send,
        [
            Held(
                address,
                deliveries[0].recipient.organisation,
                tuple(deliveries),
                len(sent_at.get(address, ())) + taken[address],
                _free_at(sent_at.get(address, []), taken[address], cap, now),
            )
            for address, deliveries in held.items()
        ],
    )


def _urgency(delivery: Delivery) -> tuple[datetime, datetime, str]:
    item = delivery.item
    return (item.expires_at or _NEVER, item.send_at, item.key)


_NEVER = datetime.max.replace(tzinfo=UTC)


def _free_at(sent: list[datetime], taken_now: int, cap: int, now: datetime) -> datetime:
    """When the next message may go: once enough of the window's messages have left it.
    Those sent in this step leave it last, 24 hours from now."""
    times = sorted(sent) + [now] * taken_now
    overflow = len(times) - cap  # how many must leave the window before one more fits
    return times[overflow] + WINDOW if 0 <= overflow < len(times) else now + WINDOW


HELD_PREFIX = "held/"


def held_key(held: Held, now: datetime, settings: Settings) -> str:
    """One notice per address and local day."""
    return f"{HELD_PREFIX}{now.astimezone(zone(settings)).date().isoformat()}/{held.address}"


@dataclass(frozen=True)
class HeldReport:
    """What the coordinator is told of one hold, as kept in the ledger's problems."""

    address: str
    organisation: str
    held: int
    sent_in_window: int
    cap: int
    free_at: datetime
    first: str

    def lines(self) -> list[str]:
        return [json.dumps({**asdict(self), "free_at": self.free_at.isoformat()})]

    @classmethod
    def of(cls, held: Held, settings: Settings) -> HeldReport:
        return cls(
            held.address,
            held.organisation,
            len(held.deliveries),
            held.sent_in_window,
            settings.mail.daily_cap,
            held.free_at,
            held.deliveries[0].key,
        )

    @classmethod
    def read(cls, lines: Sequence[str]) -> HeldReport | None:
        """The report kept as ``lines``; None for lines that are not one."""
        try:
            data = json.loads(lines[0])
            return cls(**{**data, "free_at": datetime.fromisoformat(data["free_at"])})
        except (IndexError, TypeError, KeyError, ValueError):
            return None
