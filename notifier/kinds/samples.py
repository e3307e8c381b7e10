"""Sample data for checking templates, and for ``notifier send-test``. Pure.

Each kind builds its sample contexts from these, adding what only it has (a digest's lists,
a problem's lines), so that a template's misspelt variable fails when the templates load.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from notifier.model import Action, Milestone, Organisation, Plan, PlannedMilestone, Recipient

SAMPLE_PLAN = Plan(
    id="exempelplan",
    title="Åtgärdsplan 2024 – brottsförebyggande insatser",
    date=date(2024, 5, 6),
    year=2024,
    timezone="Europe/Stockholm",
    actions=(),
)

SAMPLE_ACTION = Action(
    id="trygghetsvandringar",
    area="Våld",
    problem_area="Våld kopplat till krogmiljö och hög berusningsgrad",
    problem="Personer med alltför hög berusningsgrad i krogmiljö orsakar problem.",
    cause="Otrygghet i centrala Visby sena kvällar under sommaren.",
    goal="Ökad trygghet och färre våldsbrott i krogmiljön.",
    measure="Trygghetsvandringar i Visby innerstad tillsammans med krögare och föreningar.",
    who="Polisen, Regionstyrelseförvaltningen",
    when="Klart juni 2024 (preliminärt)",
)

SAMPLE_ORGANISATIONS = (
    Organisation("Polisen", "polisen", emails=("polisen@exempel.invalid",)),
    Organisation("Regionstyrelseförvaltningen", "regionstyrelseforvaltningen"),
)


def sample_planned(due: date = date(2024, 6, 30), tentative: bool = True) -> PlannedMilestone:
    milestone = Milestone("Klart", due.replace(day=1), due, due, tentative, SAMPLE_ACTION.when)
    return PlannedMilestone(SAMPLE_PLAN, SAMPLE_ACTION, "klart", milestone, SAMPLE_ORGANISATIONS)


@dataclass(frozen=True)
class Sample:
    """One message's circumstances; ``full`` takes every optional branch, the other none."""

    planned: PlannedMilestone
    recipient: Recipient
    now: datetime
    full: bool


def samples() -> tuple[Sample, Sample]:
    now = datetime(2024, 6, 23, 8, 0, tzinfo=ZoneInfo("Europe/Stockholm"))
    full = Sample(
        planned=sample_planned(tentative=True),
        recipient=Recipient("samordnare@exempel.invalid", "Regionstyrelseförvaltningen", True),
        now=now,
        full=True,
    )
    plain = Sample(
        planned=sample_planned(tentative=False),
        recipient=Recipient("polisen@exempel.invalid", "Polisen", False),
        now=now,
        full=False,
    )
    return full, plain
