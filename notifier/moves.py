"""New due dates the coordinator accepted, applied to the plan's milestones. Pure.

An organisation asks for more time through its status link ("Behöver ny tid"); the
coordinator accepts with one button, and the ledger records the move (``DueMove``). From then
on every part of notifier that reads a milestone's due date (reminders, due notices,
escalations, feeds, digests, the pages and the commands) reads the moved one, because each
takes its catalog through ``with_moved_dates``. The plan file is not rewritten: the
coordinator's own document stays theirs. Should the coordinator later change that
milestone's date in the plan, the plan's new date wins (the move only holds while the plan
still says the date it replaced).
"""

from __future__ import annotations

from dataclasses import replace

from notifier.catalog import Catalog
from notifier.model import PlannedMilestone
from notifier.records import DueMove, Statuses


def holding_move(planned: PlannedMilestone, statuses: Statuses) -> DueMove | None:
    """The accepted move of ``planned``'s due date that still holds, if any."""
    entry = statuses.get(planned.key)
    move = entry.moved if entry is not None else None
    if move is None or move.replaces != planned.milestone.due:
        return None
    return move


def moved(planned: PlannedMilestone, move: DueMove) -> PlannedMilestone:
    """``planned`` due on the moved date; a window that ended on its due date ends there too."""
    milestone = planned.milestone
    end = move.due if milestone.end == milestone.due else milestone.end
    start = milestone.start if milestone.start is None or milestone.start <= end else None
    return replace(planned, milestone=replace(milestone, start=start, end=end, due=move.due))


def with_moved_dates(catalog: Catalog, statuses: Statuses) -> Catalog:
    """``catalog`` with every accepted move that still holds; the same object when none does,
    so the common case costs nothing and compares equal."""
    changed = False
    milestones = []
    for planned in catalog.milestones:
        move = holding_move(planned, statuses)
        if move is not None:
            planned, changed = moved(planned, move), True
        milestones.append(planned)
    if not changed:
        return catalog
    return replace(catalog, milestones=tuple(milestones))


# The last few catalogs moved, newest first, kept by reference (see ``moved_catalog``).
_MOVED: list[tuple[Catalog, tuple[tuple[str, DueMove], ...], Catalog]] = []
_MOVED_KEPT = 2


def moved_catalog(catalog: Catalog, statuses: Statuses) -> Catalog:
    """``with_moved_dates``, and the same object again for the same moves: what a daemon's
    wake-ups keep per catalog (``planner``) then holds from one wake-up to the next."""
    moves = tuple(
        sorted((key, entry.moved) for key, entry in statuses.items() if entry.moved is not None)
    )
    if not moves:
        return catalog
    for known, seen, result in list(_MOVED):
        if known is catalog and seen == moves:
            return result
    result = with_moved_dates(catalog, statuses)
    _MOVED[:] = [(catalog, moves, result), *_MOVED[: _MOVED_KEPT - 1]]
    return result
