"""The kinds of message notifier sends, one module each; this registry lists them.

A new kind: a module here with a ``Kind`` (see ``base``), its three templates
(``<name>.subject.txt``, ``<name>.txt``, ``<name>.html``), its tests, and a line below. The
order is the order in which ``notifier schedule`` counts them.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from notifier.kinds.base import Kind
from notifier.kinds.changed import CHANGE_NOTICE
from notifier.kinds.digest import DIGEST
from notifier.kinds.due import DUE_NOTICE
from notifier.kinds.escalation import ESCALATION
from notifier.kinds.held import HELD_NOTICE
from notifier.kinds.problem import PROBLEM_NOTICE
from notifier.kinds.proposal import PROPOSAL
from notifier.kinds.reminder import REMINDER

KINDS: tuple[Kind[Any], ...] = (
    REMINDER,
    DUE_NOTICE,
    ESCALATION,
    PROPOSAL,
    CHANGE_NOTICE,
    DIGEST,
    PROBLEM_NOTICE,
    HELD_NOTICE,
)


def names(kinds: Sequence[Kind[Any]] = KINDS) -> tuple[str, ...]:
    return tuple(kind.name for kind in kinds)


def chosen(
    wanted: Collection[str] | None, kinds: Sequence[Kind[Any]] = KINDS
) -> tuple[Kind[Any], ...]:
    """The kinds named in ``wanted`` (None: all), in registry order."""
    return tuple(kind for kind in kinds if wanted is None or kind.name in wanted)


def by_name(kinds: Sequence[Kind[Any]] = KINDS) -> dict[str, Kind[Any]]:
    return {kind.name: kind for kind in kinds}
