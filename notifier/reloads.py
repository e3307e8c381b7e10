"""What a reload changed, in words: the log's lines about milestones, and what became of each
action its file refused. Pure."""

from __future__ import annotations

from notifier.catalog import Catalog


def milestone_changes(old: Catalog, new: Catalog) -> list[str]:
    """'added/changed/removed milestone …' lines for the log after a reload."""
    before = {m.key: m.milestone for m in old.milestones}
    after = {m.key: m.milestone for m in new.milestones}
    lines = [f"added milestone {key} due {after[key].due}" for key in after if key not in before]
    lines += [
        f"changed milestone {key}: due {before[key].due} -> {after[key].due}"
        if before[key].due != after[key].due
        else f"changed milestone {key}"
        for key in after
        if key in before and before[key] != after[key]
    ]
    lines += [f"removed milestone {key}" for key in before if key not in after]
    return lines


def refused_action_lines(catalog: Catalog) -> list[str]:
    """What became of each action refused in its file: kept as it last loaded, or left out."""
    kept = set(catalog.kept)
    lines = []
    for plan, refused in catalog.refused:
        key = f"{plan.id}/{refused.id}"
        if key in kept:
            count = sum(1 for m in catalog.milestones if m.key.startswith(f"{key}/"))
            lines.append(
                f"action {key} was not accepted: it keeps the {count} milestone(s) it last "
                "loaded with until it is fixed; the other actions follow the edit"
            )
        elif refused.id is None:
            lines.append(
                f"{refused} of {plan.id} was not accepted and left out: without a readable id "
                "it cannot be matched with a version that loaded, so nothing is sent for it "
                "until it is fixed; the other actions load"
            )
        else:
            lines.append(
                f"action {key} was not accepted and left out: no good version of it has loaded "
                "since the service started, so nothing is sent for it until it is fixed; the "
                "other actions load"
            )
    return lines
