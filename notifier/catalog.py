"""Plans + directory -> every milestone in context, and every problem the coordinator must fix.

``build_catalog`` is pure; ``load_catalog`` is the thin file-reading edge around it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo

from notifier.bulk import bulk_build
from notifier.directory import Directory, Resolution, load_directory
from notifier.errors import PlanError
from notifier.limits import merge_repeats
from notifier.model import (
    Action,
    Location,
    Milestone,
    Organisation,
    Plan,
    PlannedMilestone,
    Problem,
    Reading,
)
from notifier.plan import DIRECTORY_FILE, PlanFile, RefusedAction, load_plan, plan_paths
from notifier.slugs import slugify
from notifier.when import read_when


@dataclass(frozen=True)
class ActionView:
    """How one action was understood: its reading, its organisations."""

    plan: Plan
    action: Action
    reading: Reading
    organisations: tuple[Organisation, ...]
    unknown: tuple[str, ...]


@dataclass
class Catalog:
    """Every plan that loaded, its milestones with who answers for them, and the problems
    the coordinator must fix."""

    plans: tuple[Plan, ...] = ()
    directory: Directory = field(default_factory=Directory)
    milestones: tuple[PlannedMilestone, ...] = ()
    actions: tuple[ActionView, ...] = ()
    problems: list[Problem] = field(default_factory=list)
    # Actions left out of their plan because of errors (their problems say which), and the
    # 'plan-id/action-id' of those among them kept as they last loaded.
    refused: tuple[tuple[Plan, RefusedAction], ...] = ()
    kept: tuple[str, ...] = ()

    @property
    def organisations(self) -> tuple[Organisation, ...]:
        """Organisations that answer for at least one milestone, in directory order."""
        used = {o.slug for m in self.milestones for o in m.organisations}
        return tuple(o for o in self.directory.organisations if o.slug in used)

    def plan(self, plan_id: str) -> Plan | None:
        return next((p for p in self.plans if p.id == plan_id), None)

    @cached_property
    def by_key(self) -> dict[str, tuple[PlannedMilestone, ...]]:
        """The milestones of each key, in plan order. Made once: a catalog is not changed
        after it is built (a reload builds a new one)."""
        return group_by_key(self.milestones)


def group_by_key(
    milestones: Sequence[PlannedMilestone],
) -> dict[str, tuple[PlannedMilestone, ...]]:
    found: dict[str, list[PlannedMilestone]] = {}
    for planned in milestones:
        found.setdefault(planned.key, []).append(planned)
    return {key: tuple(same) for key, same in found.items()}


def milestones_by_key(catalog: Catalog) -> dict[str, tuple[PlannedMilestone, ...]]:
    """``Catalog.by_key``, also of anything else that holds milestones (as tests pass)."""
    if isinstance(catalog, Catalog):
        return catalog.by_key
    return group_by_key(catalog.milestones)


@dataclass(frozen=True)
class PlanSpan:
    """The first and the last due date among a plan's milestones."""

    plan: Plan
    first_due: date
    last_due: date

    def over(self, now: datetime) -> bool:
        """Whether every due date lies before today in the plan's time zone.

        Then no reminder of the plan is left: reminders go out before their due date. Only the
        coordinator's notice of the last due date (the working day after it) may still follow.
        """
        return self.last_due < now.astimezone(ZoneInfo(self.plan.timezone)).date()


def plan_spans(catalog: Catalog) -> list[PlanSpan]:
    """One span per plan that has milestones, in plan order."""
    dues: dict[str, list[date]] = {}
    for planned in catalog.milestones:
        dues.setdefault(planned.plan.id, []).append(planned.milestone.due)
    return [
        PlanSpan(plan, min(dues[plan.id]), max(dues[plan.id]))
        for plan in catalog.plans
        if plan.id in dues
    ]


def build_catalog(plan_files: list[PlanFile], directory: Directory) -> Catalog:
    problems: list[Problem] = list(directory.problems)
    plans: list[Plan] = []
    milestones: list[PlannedMilestone] = []
    views: list[ActionView] = []
    without_address: dict[str, Location] = {}
    seen_plans: dict[str, Path | None] = {}
    refused: list[tuple[Plan, RefusedAction]] = []
    kept: list[str] = []
    resolutions: dict[str, Resolution] = {}
    suggestions: dict[str, str | None] = {}
    for plan_file in plan_files:
        plan = plan_file.plan
        if plan.id in seen_plans:
            problems.append(
                Problem(
                    Location(plan.source or Path("?")),
                    f"plan '{plan.id}'",
                    f"duplicate plan id; {seen_plans[plan.id]} has it already",
                    "Give each plan file an id of its own.",
                )
            )
            continue
        seen_plans[plan.id] = plan.source
        plans.append(plan)
        problems.extend(plan_file.problems)
        refused.extend((plan, action) for action in plan_file.refused)
        kept.extend(f"{plan.id}/{action_id}" for action_id in plan_file.kept)
        for number, action in enumerate(plan.actions, start=1):
            where = f"action {number} ('{action.id}')"
            location = action.when_location or action.location or Location(Path("?"))
            reading = read_when(action.when, plan.year)
            if action.explicit_milestones is not None:
                dated = action.explicit_milestones
            elif reading.readable and reading.milestones:
                dated = reading.milestones
            else:
                dated = ()
                reason = reading.reason or "names no time"
                problems.append(
                    Problem(
                        location,
                        f"{where}, field när",
                        f"'{action.when}': {reason}",
                        f"Write it as e.g. 'Klart juni {plan.year}', or give the milestones "
                        "explicitly under [[action.milestone]] (label, due).",
                    )
                )
            dated, repeats = merge_repeats(dated)
            if repeats:
                problems.append(_repeats_note(action, where, location, repeats))
            # A large plan names the same few organisations over and over.
            resolution = resolutions.get(action.who)
            if resolution is None:
                resolution = resolutions[action.who] = directory.resolve(action.who)
            for name in resolution.unknown:
                if name not in suggestions:
                    suggestions[name] = directory.suggestion(name)
                suggestion = suggestions[name]
                hint = (
                    f"Did you mean '{suggestion}'? Add '{name}' to its aliases in {DIRECTORY_FILE}."
                    if suggestion
                    else f"Add it, with its email addresses, to {DIRECTORY_FILE}."
                )
                problems.append(
                    Problem(
                        action.location or location,
                        f"{where}, field vem",
                        f"unknown organisation '{name}'; its reminders go to the coordinator",
                        hint,
                    )
                )
            if not resolution.organisations and not resolution.unknown:
                problems.append(
                    Problem(
                        action.location or location,
                        f"{where}, field vem",
                        "names no organisation",
                        "Write who answers for the action, e.g. 'Polisen, Socialtjänsten'.",
                    )
                )
            for organisation in resolution.organisations:
                if not organisation.emails:
                    without_address.setdefault(organisation.name, action.location or location)
            views.append(
                ActionView(plan, action, reading, resolution.organisations, resolution.unknown)
            )
            responsible = resolution.organisations + tuple(
                Organisation(name=name, slug="", listed=False) for name in resolution.unknown
            )
            milestones.extend(
                PlannedMilestone(plan, action, slot, milestone, responsible)
                for slot, milestone in zip(milestone_slots(dated), dated, strict=True)
            )
    for name, location in without_address.items():
        problems.append(
            Problem(
                (directory.source and Location(directory.source)) or location,
                f"organisation '{name}'",
                "has no email address; its reminders go to the coordinator instead",
                f'Add emails = ["…"] to it in {DIRECTORY_FILE}.',
                kind="directory",
            )
        )
    return Catalog(
        tuple(plans),
        directory,
        tuple(milestones),
        tuple(views),
        problems,
        tuple(refused),
        tuple(kept),
    )


def _repeats_note(action: Action, where: str, location: Location, repeats: int) -> Problem:
    explicit = action.explicit_milestones is not None
    return Problem(
        action.location or location if explicit else location,
        f"{where}, field {'milestone' if explicit else 'när'}",
        f"{repeats} milestone(s) repeat another with the same label and due date; each is "
        "kept once, so its reminders go out once",
        "Remove the repeats.",
    )


def keep_last_good(plan_file: PlanFile, previous: Catalog) -> PlanFile:
    """Put each refused action of the file back as it was in ``previous``, with the
    milestones it had there, so that one broken action neither loses its reminders nor holds
    up the edits of the others. An action ``previous`` lacks stays out: it never loaded."""
    old_plan = previous.plan(plan_file.plan.id)
    if old_plan is None or not plan_file.refused:
        return plan_file
    old_actions = {action.id: action for action in old_plan.actions}
    actions = list(plan_file.plan.actions)
    loaded = {action.id for action in actions}
    kept: list[str] = []
    # From the last: inserting one never moves the place of those before it.
    for refused in reversed(plan_file.refused):
        old = old_actions.get(refused.id) if refused.id else None
        if old is None or old.id in loaded:
            continue
        actions.insert(refused.position, _as_it_was(old, refused, previous, old_plan))
        kept.insert(0, old.id)
    plan = replace(plan_file.plan, actions=tuple(actions))
    return replace(plan_file, plan=plan, kept=kept)


def _as_it_was(old: Action, refused: RefusedAction, previous: Catalog, plan: Plan) -> Action:
    # Its milestones are fixed as they were read then: a plan year changed in the same edit
    # must not move the dates of an action whose new text was not accepted.
    had = tuple(
        m.milestone for m in previous.milestones if m.plan is plan and m.action.id == old.id
    )
    return replace(
        old,
        explicit_milestones=had,
        location=refused.location,
        when_location=refused.location,
    )


def milestone_slots(milestones: Sequence[Milestone]) -> list[str]:
    """Names for an action's milestones that survive the edits coordinators make.

    A labelled milestone is named by its label ('Utbildning' -> 'utbildning'), so adding,
    removing or reordering other milestones of the action leaves it, its calendar event and
    its reminders alone. Unlabelled ones are numbered among themselves: '1', '2'. A repeated
    name gets '-2', '-3'.
    """
    slots: list[str] = []
    taken: set[str] = set()
    repeats: dict[str, int] = {}
    unlabelled = 0
    for milestone in milestones:
        if milestone.label and milestone.label.strip():
            base = slugify(milestone.label, max_words=4)
        else:
            unlabelled += 1
            base = str(unlabelled)
        slot, count = base, repeats.get(base, 1)
        while slot in taken:
            count += 1
            slot = f"{base}-{count}"
        repeats[base] = count
        taken.add(slot)
        slots.append(slot)
    return slots


@bulk_build
def load_catalog(folder: Path, previous: Catalog | None = None) -> Catalog:
    """Read every plan in the folder and the directory; a broken file becomes a problem.

    With ``previous`` (the running service's last good catalog), a refused action keeps the
    version it had there (``keep_last_good``).
    """
    directory_problems: list[Problem] = []
    try:
        directory = load_directory(folder / DIRECTORY_FILE)
    except PlanError as error:
        directory = Directory()
        directory_problems = [_unreadable(folder / DIRECTORY_FILE, line) for line in error.problems]
    plan_files: list[PlanFile] = []
    file_problems: list[Problem] = []
    for path in plan_paths(folder):
        try:
            plan_files.append(load_plan(path))
        except PlanError as error:
            file_problems.extend(_unreadable(path, line) for line in error.problems)
    if not plan_paths(folder):
        file_problems.append(
            Problem(
                Location(folder),
                "plans",
                "no plan file (*.toml) here",
                "Import one with: notifier import PLAN.txt",
            )
        )
    if previous is not None:
        plan_files = [keep_last_good(plan_file, previous) for plan_file in plan_files]
    catalog = build_catalog(plan_files, directory)
    catalog.problems[:0] = directory_problems + file_problems
    return catalog


class _Verbatim(Problem):
    def __str__(self) -> str:
        return self.message


def _unreadable(path: Path, message: str) -> Problem:
    """A whole-file error whose message already names the file and line."""
    return _Verbatim(Location(path), "file", message, kind="file")
