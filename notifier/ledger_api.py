"""What every ledger backend offers: the interface the rest of notifier uses.

``ledger.SqliteLedger`` keeps it in one SQLite file (one server, the default);
``ledger_pg.PostgresLedger`` in a PostgreSQL database that several nodes share
(``ledger.url``). ``open_ledger`` picks one from the settings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

from notifier.due import DEFAULT_LEASE, Delivery, Skip
from notifier.records import KnownDue, LedgerEntry, RecordedProblem, Snapshot, StatusEntry


@dataclass(frozen=True)
class Claim:
    """A successful claim: send with ``message_id``; ``attempts`` counts this one."""

    message_id: str
    attempts: int
    reclaimed: bool  # the previous holder's lease ran out: this may be a resend


@dataclass(frozen=True)
class DueChange:
    milestone_key: str
    old_due: date
    new_due: date


class Ledger(Protocol):
    def check_writable(self) -> None: ...

    def identity(self) -> str | None: ...

    def snapshot(self) -> Snapshot: ...

    def record_due(self, deliveries: Iterable[Delivery], now: datetime) -> None: ...

    def claim(
        self,
        key: str,
        recipient: str,
        message_id: str,
        now: datetime,
        lease: timedelta = DEFAULT_LEASE,
    ) -> Claim | None: ...

    def mark_sent(self, key: str, recipient: str, now: datetime) -> bool: ...

    def mark_failed(
        self,
        key: str,
        recipient: str,
        now: datetime,
        *,
        permanent: bool,
        error: str,
        next_attempt_at: datetime | None,
    ) -> bool: ...

    def mark_skipped(self, skips: Iterable[Skip], now: datetime) -> int: ...

    def failures(self, since: datetime) -> list[LedgerEntry]: ...

    def known_due_dates(self) -> dict[str, KnownDue]: ...

    def record_due_dates(self, dates: Mapping[str, date], now: datetime) -> list[DueChange]: ...

    def record_problem(self, key: str, lines: Sequence[str], now: datetime) -> bool: ...

    def problems(self) -> list[RecordedProblem]: ...

    def record_told_problems(
        self, keys: Iterable[str], recipient: str, told_at: datetime
    ) -> int: ...

    def record_status(self, entry: StatusEntry) -> StatusEntry: ...

    def statuses(self) -> dict[str, StatusEntry]: ...

    def status_entries(self) -> list[StatusEntry]: ...

    def close(self) -> None: ...

    def entry(self, key: str, recipient: str) -> LedgerEntry | None: ...

    def agree(self, name: str, value: str) -> str: ...

    def status_history(self, milestone_key: str) -> list[StatusEntry]: ...

    def status_mark(self) -> int: ...

    def __enter__(self) -> Ledger: ...

    def __exit__(self, *exc: object) -> None: ...
