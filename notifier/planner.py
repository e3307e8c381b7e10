"""What a daemon's wake-ups keep from one to the next, so that each decides as a fresh look
at everything would, but looks at little.

A send step must decide exactly what ``due.due_items`` decides over every message the plan
implies and the whole ledger. For a large plan, listing every message and reading every
ledger row at each wake-up costs most of a second, while almost nothing changes in between.
Two things are kept instead, both exact:

- ``PlanIndex``: the messages of the kinds that follow from the plan and the settings alone
  (``Kind.plan_only``: reminders, due notices), listed, grouped and ordered once per catalog
  and settings object (both immutable; a reload brings new ones and so a new index).
- ``LedgerMemory``: the ledger rows this process has seen settled for good (sent, failed for
  good, skipped for any reason but "too late"). The ledger never changes such a row again
  (only due, failed-for-now, in-flight and too-late rows can be claimed or skipped), so the
  catch-up rule would find it the same at every later look. A group of messages all of whose
  rows are settled can never send, skip or wake anything again and is passed over.

Everything else (a row not settled, every message of the other kinds) is read afresh at each
wake-up, one row at a time through ``Ledger.entry``. When that look finds something to send,
the step reads the whole ledger after all (the cap, digests and escalations judge from all of
it) and decides again from that, as it always did.
"""

from __future__ import annotations

import threading
import weakref
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from heapq import merge
from typing import TYPE_CHECKING, Any

from notifier.bulk import bulk_build
from notifier.due import EXPIRED, Outgoing
from notifier.kinds.base import Kind, Sources, Span
from notifier.records import LedgerEntry, Snapshot
from notifier.settings import Settings

if TYPE_CHECKING:
    from notifier.catalog import Catalog
    from notifier.ledger import Ledger

Pair = tuple[str, str]
_NEVER = datetime.max.replace(tzinfo=UTC)
_SOON = datetime.min.replace(tzinfo=UTC)
# Plans and settings kept, newest first: the daemon's current one and the one before a reload.
_KEPT = 2


def settled(entry: LedgerEntry | None) -> bool:
    """Whether the ledger will never change this row again (see the module docstring)."""
    if entry is None:
        return False
    if entry.state == "sent":
        return True
    if entry.state == "failed":
        return entry.permanent
    return entry.state == "skipped" and entry.note != EXPIRED


@dataclass(eq=False)
class PlanIndex:
    """The plan-only kinds' messages of one catalog under one settings, ready for each wake."""

    catalog: Catalog
    settings: Settings
    kinds: tuple[Kind[Any], ...]
    by_kind: dict[str, list[Outgoing[Any]]]
    groups: dict[str, list[Outgoing[Any]]]
    # The messages of each group by send time.
    timed: dict[str, list[Outgoing[Any]]]
    # Group names in order of their first send time, and those times.
    order: list[str]
    firsts: list[datetime]
    # Every message in order of send time, and those times.
    timeline: list[Outgoing[Any]]
    times: list[datetime]

    def started(self, now: datetime) -> int:
        """How many groups (the first of ``order``) have a message due by ``now``."""
        return bisect_right(self.firsts, now)

    def ahead(self, now: datetime) -> list[Outgoing[Any]]:
        """The messages not yet due at ``now``, by send time."""
        return self.timeline[bisect_right(self.times, now) :]


_INDEXES: list[PlanIndex] = []
_LOCK = threading.Lock()


@bulk_build
def plan_index(catalog: Catalog, settings: Settings, kinds: Sequence[Kind[Any]]) -> PlanIndex:
    """The index of ``catalog`` under ``settings`` for the plan-only ``kinds``; built once.

    Kept by reference (not by id): an object of a later reload can never be taken for an
    earlier one that happened to live at the same address.
    """
    wanted = tuple(kind for kind in kinds if kind.plan_only)
    with _LOCK:
        for index in _INDEXES:
            if index.catalog is catalog and index.settings is settings and index.kinds == wanted:
                return index
    index = _build(catalog, settings, wanted)
    with _LOCK:
        _INDEXES[:] = [index, *_INDEXES[: _KEPT - 1]]
    return index


def _build(catalog: Catalog, settings: Settings, kinds: tuple[Kind[Any], ...]) -> PlanIndex:
    # Plan-only kinds read neither the moment nor the span: any will do.
    moment = datetime(2000, 1, 1, tzinfo=UTC)
    sources = Sources(catalog, settings, moment)
    span = Span(moment, moment)
    by_kind = {kind.name: kind.messages(sources, span) for kind in kinds}
    groups: dict[str, list[Outgoing[Any]]] = {}
    for items in by_kind.values():
        for item in items:
            groups.setdefault(item.group, []).append(item)
    timed = {
        name: members if len(members) == 1 else sorted(members, key=_send_at)
        for name, members in groups.items()
    }
    firsts = {name: members[0].send_at for name, members in timed.items()}
    order = sorted(groups, key=lambda name: firsts[name])
    timeline = sorted((i for items in by_kind.values() for i in items), key=_send_at)
    return PlanIndex(
        catalog,
        settings,
        kinds,
        by_kind,
        groups,
        timed,
        order,
        [firsts[name] for name in order],
        timeline,
        [item.send_at for item in timeline],
    )


# --- The ledger ------------------------------------------------------------------------------


@dataclass
class LedgerMemory:
    """The settled rows of one ledger, as this process has seen them."""

    identity: str | None
    rows: dict[Pair, LedgerEntry] = field(default_factory=dict)
    # Whether every row has been seen once (a whole snapshot): until then a row not kept
    # here may be settled all the same, so nothing can be passed over.
    complete: bool = False
    # Per plan index: what of it can do nothing any more.
    quiet: weakref.WeakKeyDictionary[PlanIndex, Quiet] = field(
        default_factory=weakref.WeakKeyDictionary
    )

    def learn(self, snapshot: Snapshot) -> None:
        for pair, entry in snapshot.items():
            if settled(entry):
                self.rows[pair] = entry
        self.complete = True


_MEMORY: weakref.WeakKeyDictionary[Any, LedgerMemory] = weakref.WeakKeyDictionary()


def ledger_memory(ledger: Ledger) -> LedgerMemory | None:
    """What this process remembers of ``ledger``; None when it cannot remember (a ledger that
    reads no single rows, or cannot be referred to weakly): the step reads it whole."""
    if not callable(getattr(ledger, "entry", None)):
        return None
    identity = ledger.identity()
    try:
        memory = _MEMORY.get(ledger)
        if memory is None or memory.identity != identity:
            # Another database behind the same object (or a first look): start again.
            memory = _MEMORY[ledger] = LedgerMemory(identity)
    except TypeError:
        return None
    return memory


class Reader:
    """The ledger one row at a time, for one step: settled rows from memory, the rest read
    once each; what it read is the step's (partial) snapshot."""

    def __init__(self, ledger: Ledger, memory: LedgerMemory) -> None:
        self._entry: Callable[[str, str], LedgerEntry | None] = ledger.entry  # type: ignore[attr-defined]
        self.memory = memory
        self.seen: dict[Pair, LedgerEntry | None] = {}

    def __call__(self, pair: Pair) -> LedgerEntry | None:
        known = self.memory.rows.get(pair)
        if known is not None:
            return known
        if pair in self.seen:
            return self.seen[pair]
        entry = self.seen[pair] = self._entry(*pair)
        if entry is not None and settled(entry):
            self.memory.rows[pair] = entry
        return entry

    def snapshot(self) -> dict[Pair, LedgerEntry]:
        return {pair: entry for pair, entry in self.seen.items() if entry is not None}


def all_settled(members: Sequence[Outgoing[Any]], memory: LedgerMemory) -> bool:
    rows = memory.rows
    return all((item.key, r.address) in rows for item in members for r in item.recipients)


@dataclass
class Quiet:
    """What of one plan index can no longer send, skip or wake anything, given one ledger's
    settled rows.

    A plan-only group judged once waits here with the send time of its first message whose
    rows are not all settled (its "until"): before that moment every message of the group
    that is due is settled, so the group can do nothing but wake, which ``ahead`` covers. A
    group all of whose rows are settled leaves for good. Rows only ever become settled, so a
    remembered "until" can only be early, never late: at worst a group is judged once more.
    Messages of the other kinds are remembered one by one (kept alive here, so that their
    ids stay theirs) once every row of theirs is settled.
    """

    # Judged groups not all settled, by "until", and those moments.
    names: list[str] = field(default_factory=list)
    times: list[datetime] = field(default_factory=list)
    # How many groups of ``PlanIndex.order`` have been judged at least once.
    seen: int = 0
    items: dict[int, Outgoing[Any]] = field(default_factory=dict)
    # Each other kind's messages as last arranged (see ``arranged``).
    lists: dict[str, Arranged] = field(default_factory=dict)

    def note(self, index: PlanIndex, view: WakeView, memory: LedgerMemory) -> None:
        """After a step that sent nothing: remember what it found settled."""
        del self.names[: view.waiting]
        del self.times[: view.waiting]
        for name in view.judged:
            until = next(
                (i.send_at for i in index.timed[name] if not all_settled((i,), memory)), None
            )
            if until is not None:
                at = bisect_right(self.times, until)
                self.names.insert(at, name)
                self.times.insert(at, until)
        self.seen = max(self.seen, view.started)
        for item in view.loose:
            if id(item) not in self.items and all_settled((item,), memory):
                self.items[id(item)] = item

    def arranged(self, kind: str, found: list[Outgoing[Any]]) -> Arranged:
        """``found`` (the messages of ``kind``) grouped and ordered; the same again for the
        same list object, which a kind may return while its messages stay the same."""
        last = self.lists.get(kind)
        if last is not None and last.found is found:
            return last
        arranged = self.lists[kind] = Arranged.of(found)
        return arranged


def _send_at(item: Outgoing[Any]) -> datetime:
    return item.send_at


@dataclass
class Arranged:
    """One kind's messages by group, and all of them by send time."""

    found: list[Outgoing[Any]]
    groups: dict[str, list[Outgoing[Any]]]
    timeline: list[Outgoing[Any]]
    times: list[datetime]

    @classmethod
    def of(cls, found: list[Outgoing[Any]]) -> Arranged:
        groups: dict[str, list[Outgoing[Any]]] = {}
        for item in found:
            groups.setdefault(item.group, []).append(item)
        timeline = sorted(found, key=_send_at)
        return cls(found, groups, timeline, [item.send_at for item in timeline])

    def ahead(self, now: datetime) -> list[Outgoing[Any]]:
        return self.timeline[bisect_right(self.times, now) :]


def quiet_of(memory: LedgerMemory, index: PlanIndex) -> Quiet:
    quiet = memory.quiet.get(index)
    if quiet is None:
        quiet = memory.quiet[index] = Quiet()
    return quiet


@dataclass
class WakeView:
    """One step's messages, arranged for ``due.decide``."""

    groups: list[Sequence[Outgoing[Any]]]  # the groups to judge
    ahead: Iterator[Outgoing[Any]]  # every message not yet due, by send time
    judged: list[str]  # the plan-only groups looked at
    loose: list[Outgoing[Any]]  # the other kinds' messages among ``groups``
    waiting: int  # how many of ``Quiet.names`` are among ``judged``
    started: int  # how many groups of ``PlanIndex.order`` have started


def wake_view(
    index: PlanIndex, others: dict[str, list[Outgoing[Any]]], now: datetime, quiet: Quiet
) -> WakeView:
    """The plan-only messages of ``index`` and the other kinds' ``others`` (by kind name) at
    ``now``, leaving out the groups ``quiet`` knows can do nothing."""
    loose: dict[str, list[Outgoing[Any]]] = {}
    later: list[Outgoing[Any]] = []
    for kind, found in others.items():
        arranged = quiet.arranged(kind, found)
        for name, members in arranged.groups.items():
            if name in loose:
                loose[name] = [*loose[name], *members]
            else:
                loose[name] = members
        later = list(merge(later, arranged.ahead(now), key=_send_at))
    waiting = bisect_right(quiet.times, now)
    started = index.started(now)
    # Groups whose "until" has come, then those never judged that have started since.
    due = [*quiet.names[:waiting], *index.order[quiet.seen : started]]
    groups: list[Sequence[Outgoing[Any]]] = []
    judged = []
    for name in due:
        # A group shared with the other kinds is judged below, whole; its "until" here still
        # speaks of its plan-only messages alone.
        if name not in loose:
            groups.append(index.groups[name])
        judged.append(name)
    looked: list[Outgoing[Any]] = []
    for name, members in loose.items():
        shared = index.groups.get(name)
        if shared:
            # A group shared with plan-only messages is judged whole, as one group.
            groups.append([*shared, *members])
        elif any(i.send_at <= now and id(i) not in quiet.items for i in members):
            groups.append(members)
        else:
            continue
        looked += members
    ahead = merge(index.ahead(now), later, key=_send_at)
    return WakeView(groups, ahead, judged, looked, waiting, started)


def all_items(
    index: PlanIndex, kinds: Sequence[Kind[Any]], others: dict[str, list[Outgoing[Any]]]
) -> list[Outgoing[Any]]:
    """Every message, in the kinds' order: what ``planned_messages`` lists."""
    return [
        item
        for kind in kinds
        for item in (index.by_kind[kind.name] if kind.plan_only else others.get(kind.name, []))
    ]
