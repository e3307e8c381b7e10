"""The synthetic plan the benchmarks share: the seed's actions repeated under new ids.

``synthetic_plan(folder)`` writes plan/organisations.toml and one plan file holding every
action of plan/gotland-2024.toml ``copies`` times (1,000 by default: 9,000 actions, 11,000
milestones). The "När?" texts, organisations and wording stay the seed's, so the plan reads,
schedules and renders like a real one of that size, not like a uniform stress pattern.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED_PLAN = ROOT / "plan"
SEED_FILE = SEED_PLAN / "gotland-2024.toml"
COPIES = 1000
PLAN_ID = "syntetisk-2024"


def synthetic_plan(
    folder: Path,
    copies: int = COPIES,
    *,
    plan_id: str = PLAN_ID,
    leads: Sequence[str] | None = None,
) -> Path:
    """Write the seed plan with every action repeated ``copies`` times under new ids.

    ``leads`` sets the plan's own lead times (``leads = [...]`` in the plan file); None keeps
    the configured ones.
    """
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(SEED_PLAN / "organisations.toml", folder / "organisations.toml")
    text = SEED_FILE.read_text(encoding="utf-8")
    head, *actions = text.split("\n[[action]]\n")
    head = head.replace('id = "gotland-2024"', f'id = "{plan_id}"', 1)
    if leads is not None:
        # Top-level keys must come before the first table: put it right after the id line.
        listed = ", ".join(f'"{lead}"' for lead in leads)
        head = head.replace(f'id = "{plan_id}"', f'id = "{plan_id}"\nleads = [{listed}]', 1)
    parts = [head]
    for copy in range(copies):
        for action in actions:
            # Each [[action]] table starts with its id line.
            parts.append(action.replace('id = "', f'id = "k{copy:04d}-', 1))
    (folder / f"{plan_id}.toml").write_text("\n[[action]]\n".join(parts), encoding="utf-8")
    return folder


def seed_action_count() -> int:
    """Actions in the seed plan: the synthetic plan has ``copies`` times as many."""
    return SEED_FILE.read_text(encoding="utf-8").count("\n[[action]]\n")
