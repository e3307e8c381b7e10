"""What `validate` and `when` show: the same facts as text for people and as JSON for tools."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from notifier.catalog import Catalog, PlanSpan, plan_spans
from notifier.model import Milestone, Problem, Reading


def milestone_json(milestone: Milestone) -> dict[str, Any]:
    return {
        "label": milestone.label,
        "start": _iso(milestone.start),
        "end": milestone.end.isoformat(),
        "due": milestone.due.isoformat(),
        "tentative": milestone.tentative,
    }


def reading_json(reading: Reading) -> dict[str, Any]:
    return {
        "milestones": [milestone_json(m) for m in reading.milestones],
        "unparseable": not reading.readable,
        "reason": reading.reason,
    }


def describe_milestone(milestone: Milestone) -> str:
    window = f"{milestone.start} – {milestone.end}" if milestone.start else f"by {milestone.end}"
    label = f"{milestone.label}: " if milestone.label else ""
    tentative = ", tentative" if milestone.tentative else ""
    return f"{label}{window}, due {milestone.due}{tentative}"


def reading_text(reading: Reading) -> str:
    if not reading.readable:
        return f"cannot read: {reading.reason}"
    return "\n".join(describe_milestone(m) for m in reading.milestones)


def problem_json(problem: Problem) -> dict[str, Any]:
    return {
        "file": str(problem.location.file),
        "line": problem.location.line,
        "where": problem.where,
        "message": problem.message,
        "hint": problem.hint,
        "kind": problem.kind,
        "text": str(problem),
    }


def over_note(span: PlanSpan) -> str:
    """Why a plan whose dates are all past sends nothing, and how to see its email anyway."""
    first, last = date(span.first_due.year, 1, 1), date(span.last_due.year, 12, 31)
    what = "a year of its email" if first.year == last.year else "its email"
    return (
        f"the last milestone of {span.plan.id} was due {span.last_due}; no reminders are left "
        f"to send for it (to see {what}: notifier simulate --from {first} --to {last} "
        "--outbox out/)"
    )


def over_notes(catalog: Catalog, now: datetime) -> list[str]:
    """One note per plan whose every milestone lies before today (in the plan's zone)."""
    return [over_note(span) for span in plan_spans(catalog) if span.over(now)]


def catalog_json(catalog: Catalog, now: datetime) -> dict[str, Any]:
    spans = {span.plan.id: span for span in plan_spans(catalog)}
    return {
        "plans": [
            {
                "id": plan.id,
                "title": plan.title,
                "date": plan.date.isoformat(),
                "year": plan.year,
                "timezone": plan.timezone,
                "file": str(plan.source),
                "actions": len(plan.actions),
                "first_due": _iso(span.first_due if span else None),
                "last_due": _iso(span.last_due if span else None),
                "over": span.over(now) if span else False,
            }
            for plan in catalog.plans
            for span in [spans.get(plan.id)]
        ],
        "refused_actions": [
            {
                "plan_id": plan.id,
                "id": refused.id,
                "number": refused.number,
                "file": str(refused.location.file),
                "line": refused.location.line,
            }
            for plan, refused in catalog.refused
        ],
        "actions": [
            {
                "plan_id": view.plan.id,
                "id": view.action.id,
                "when": action.when,
                "who": action.who,
                "line": action.location.line if action.location else None,
                "reading": reading_json(view.reading),
                "explicit_milestones": action.explicit_milestones is not None,
                "organisations": [
                    {"name": o.name, "slug": o.slug, "emails": list(o.emails)}
                    for o in view.organisations
                ],
                "unknown_organisations": list(view.unknown),
            }
            for view in catalog.actions
            for action in [view.action]
        ],
        "milestones": [
            {
                "key": planned.key,
                "plan_id": planned.plan.id,
                "action_id": planned.action.id,
                **milestone_json(planned.milestone),
                "organisations": [o.name for o in planned.organisations],
            }
            for planned in catalog.milestones
        ],
        "problems": [problem_json(p) for p in catalog.problems],
        "notes": over_notes(catalog, now),
    }


def catalog_text(catalog: Catalog, now: datetime) -> str:
    lines: list[str] = []
    for plan in catalog.plans:
        lines.append(f"Plan {plan.id}: {plan.title}")
        lines.append(f"  file {plan.source}, dated {plan.date}, year {plan.year}, {plan.timezone}")
        lines.extend(
            f"  ✗ {refused} is not loaded: see the problems below"
            for candidate, refused in catalog.refused
            if candidate is plan
        )
        for view in (v for v in catalog.actions if v.plan is plan):
            action = view.action
            where = f"line {action.location.line}" if action.location else ""
            lines.append("")
            lines.append(f"  {action.id} ({where})")
            lines.append(f"    När?  {action.when or '(empty)'}")
            if action.explicit_milestones is not None:
                lines.append("      milestones given explicitly in the plan:")
                lines.extend(f"      → {describe_milestone(m)}" for m in action.explicit_milestones)
            elif view.reading.readable:
                lines.extend(f"      → {describe_milestone(m)}" for m in view.reading.milestones)
            else:
                lines.append(f"      ✗ cannot read: {view.reading.reason}")
            lines.append(f"    Vem?  {action.who}")
            for organisation in view.organisations:
                emails = ", ".join(organisation.emails) or "NO ADDRESS (goes to the coordinator)"
                lines.append(f"      → {organisation.name}: {emails}")
            lines.extend(f"      ✗ unknown: {name}" for name in view.unknown)
        lines.append("")
    organisations = len(catalog.organisations)
    lines.append(
        f"{len(catalog.plans)} plan(s), {len(catalog.actions)} actions, "
        f"{len(catalog.milestones)} milestones, {organisations} organisations."
    )
    if catalog.problems:
        lines.append(f"{len(catalog.problems)} problem(s):")
        lines.extend(f"  - {problem}" for problem in catalog.problems)
    else:
        lines.append("No problems.")
    # Last, where it is read: a plan that is over explains why nothing is being sent.
    lines.extend(f"Note: {note}" for note in over_notes(catalog, now))
    return "\n".join(lines)


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None
