"""How much one plan may ask for, so that one cell cannot flood the organisations.

Pure. Every milestone becomes a calendar event in several feeds and a reminder per lead time
to every address of every responsible organisation, so the limits multiply: an action at
the limits yields at most MAX_MILESTONES × MAX_LEADS reminders per address.
"""

from __future__ import annotations

from collections.abc import Sequence

from notifier.model import Milestone

# The seed plan's longest "När?" is about 60 characters ("Utbildning maj 2024,
# Diplomeringsklart december 2024" is typical); a cell naming a dozen labelled milestones
# with their months still stays under 400. Longer text is pasted by mistake, not planned.
MAX_WHEN_CHARS = 400
# A monthly milestone across a three-year plan period is 36; more than that from one action
# is not a plan of work but a list someone should split into actions.
MAX_MILESTONES = 40
# 30, 14, 7, 3, 2 and 1 days before is already a lot of mail; ten leaves room for
# hour-sized leads while keeping each milestone's reminders few.
MAX_LEADS = 10


def when_too_long(text: str) -> str | None:
    """Why a "När?" text is too long to read, or None."""
    if len(text) <= MAX_WHEN_CHARS:
        return None
    return (
        f"{len(text)} characters; a 'När?' may have at most {MAX_WHEN_CHARS}. Shorten it, or "
        "give the milestones under [[action.milestone]]"
    )


def too_many_milestones(count: int) -> str | None:
    """Why an action with ``count`` distinct milestones is refused, or None."""
    if count <= MAX_MILESTONES:
        return None
    return (
        f"{count} milestones; an action may have at most {MAX_MILESTONES}. Split it into "
        "several actions, or give fewer milestones"
    )


def merge_repeats(milestones: Sequence[Milestone]) -> tuple[tuple[Milestone, ...], int]:
    """The milestones with each repeat of a label and due date left out, and how many were.

    The first one stands: a repeat would send every reminder twice and put the event twice
    in every calendar.
    """
    seen: set[tuple[str, object]] = set()
    kept: list[Milestone] = []
    for milestone in milestones:
        identity = ((milestone.label or "").strip().casefold(), milestone.due)
        if identity in seen:
            continue
        seen.add(identity)
        kept.append(milestone)
    return tuple(kept), len(milestones) - len(kept)
