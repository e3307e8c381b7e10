"""The kinds of message: a registry of modules, and a new kind needs nothing but its own.

The example kind below ("started": the organisations hear that a milestone's window has
begun) is defined here, with its templates written to a copy of the template folder, and is
given to the composer and the send step for one test only: no module of notifier changes.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from datetime import date, datetime, time
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from notifier.catalog import Catalog
from notifier.compose import Composer
from notifier.due import Outgoing
from notifier.errors import UserError
from notifier.kinds import KINDS, names
from notifier.kinds.base import PARTS, Context, Kind, MessageComposer, Sources, Span, about
from notifier.kinds.samples import samples
from notifier.kinds.views import milestone_context
from notifier.ledger import SqliteLedger
from notifier.mail import OutboxMailer
from notifier.model import Action, Milestone, Organisation, Plan, PlannedMilestone, Recipient
from notifier.schedule import recipients_for, send_time, start_of_day
from notifier.sender import messages_between, send_due_once
from notifier.settings import Settings
from notifier.workdays import next_working_day

ROOT = Path(__file__).resolve().parent.parent.parent
TEMPLATES = ROOT / "templates"
STOCKHOLM = ZoneInfo("Europe/Stockholm")
SETTINGS = Settings()


# --- The example kind, whole: generator, key, catch-up rule, composing, samples -----------


class StartedKind(Kind[date]):
    """To the organisations on the first working day of a milestone's window."""

    name = "started"
    label = "started"
    nouns = ("start notice", "start notices")

    def messages(self, sources: Sources, span: Span) -> list[Outgoing[date]]:
        items: list[Outgoing[date]] = []
        for planned in sources.catalog.milestones:
            start = planned.milestone.start
            if start is None or start == planned.milestone.due:
                continue
            key = f"started/{planned.key}/{start.isoformat()}"
            items.append(
                Outgoing(
                    key=key,
                    kind=self.name,
                    group=key,
                    send_at=send_time(next_working_day(start), sources.settings),
                    expires_at=start_of_day(planned.milestone.due, sources.settings),
                    recipients=recipients_for(planned, sources.settings),
                    payload=start,
                    about=planned,
                )
            )
        return items

    def compose(
        self,
        item: Outgoing[date],
        recipient: Recipient,
        now: datetime,
        sources: Sources,
        composer: MessageComposer,
    ) -> EmailMessage:
        planned = about(item)
        context = milestone_context(planned, recipient, now, sources.settings)
        return composer.message(
            self.name, context, recipient, key=item.key, now=now, settings=sources.settings
        )

    def sample_contexts(self, settings: Settings) -> Sequence[Context]:
        return [milestone_context(s.planned, s.recipient, s.now, settings) for s in samples()]


STARTED = StartedKind()
WITH_STARTED: tuple[Kind[Any], ...] = (*KINDS, STARTED)
STARTED_TEMPLATES = {
    "started.subject.txt": "Nu börjar perioden: {{ m.topic_short }}\n",
    "started.txt": "Hej {{ recipient.organisation }}!\n\n{{ m.measure }}\nPeriod: {{ m.window }}\n",
    "started.html": "<p>Hej {{ recipient.organisation }}!</p>\n<p>{{ m.measure }}</p>\n",
}


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    folder = tmp_path / "templates"
    shutil.copytree(TEMPLATES, folder)
    for name, text in STARTED_TEMPLATES.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def plans() -> Catalog:
    action = Action("a", "Våld", "Område", "Problem", "Orsak", "Mål", "Trygghetsvandringar", "", "")
    plan = Plan("p", "Plan", date(2024, 1, 1), 2024, "Europe/Stockholm", ())
    # Window Monday 2 September to Monday 30 September.
    milestone = Milestone("Klart", date(2024, 9, 2), date(2024, 9, 30), date(2024, 9, 30))
    police = Organisation("Polisen", "polisen", emails=("polisen@example.se",))
    return Catalog(milestones=(PlannedMilestone(plan, action, "1", milestone, (police,)),))


def local(day: date, hour: int = 8) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=STOCKHOLM)


# --- The registry --------------------------------------------------------------------------


def test_the_registry_lists_each_kind_once_with_its_three_shipped_templates() -> None:
    assert names() == (
        "reminder",
        "due",
        "escalation",
        "proposal",
        "changed",
        "digest",
        "problem",
        "held",
    )
    for kind in KINDS:
        assert kind.template_names == tuple(f"{kind.name}.{part}" for part in PARTS)
        assert all((TEMPLATES / name).is_file() for name in kind.template_names)


def test_every_kind_gives_sample_contexts_its_templates_render_with() -> None:
    composer = Composer.load(TEMPLATES)
    for kind in KINDS:
        for context in kind.sample_contexts(SETTINGS):
            for name in kind.template_names:
                assert composer._render(name, context).strip()


# --- A new kind, end to end ---------------------------------------------------------------


def test_a_new_kind_is_listed_sent_recorded_and_written_with_no_other_module_changed(
    templates: Path, tmp_path: Path
) -> None:
    key = "started/p/a/1/2024-09-02"
    listed = messages_between(
        plans(), SETTINGS, {}, date(2024, 9, 1), date(2024, 9, 3), registry=WITH_STARTED
    )
    assert [(i.kind, i.key) for i in listed] == [
        ("digest", "digest/2024-09-02/2024-09-29"),
        ("started", key),
    ]
    composer = Composer.load(templates, kinds=WITH_STARTED)
    outbox = tmp_path / "outbox"
    with SqliteLedger(tmp_path / "ledger.sqlite3") as ledger:
        report = send_due_once(
            local(date(2024, 9, 2)),
            plans(),
            SETTINGS,
            ledger,
            OutboxMailer(outbox),
            composer,
            registry=WITH_STARTED,
        )
        row = ledger.entry(key, "polisen@example.se")
    assert row is not None and (row.kind, row.state) == ("started", "sent")
    # Beside it the 30d reminder (Friday 30 August) comes late; the digest has no news.
    assert {(o.kind, o.key) for o in report.sent} == {
        ("reminder", "p/a/1@2024-09-30-30d"),
        ("started", key),
    }
    subjects = {
        str(message_from_bytes(path.read_bytes(), policy=default_policy)["Subject"])
        for path in outbox.glob("*.eml")
    }
    assert "Nu börjar perioden: Trygghetsvandringar" in subjects


def test_a_new_kinds_missing_template_is_named_when_the_templates_load(templates: Path) -> None:
    (templates / "started.html").unlink()
    with pytest.raises(UserError, match=r"started\.html: missing"):
        Composer.load(templates, kinds=WITH_STARTED)
    assert Composer.load(templates).folder == templates  # the shipped kinds need none of it


def test_a_new_kinds_misspelt_variable_fails_when_the_templates_load(templates: Path) -> None:
    (templates / "started.txt").write_text("{{ m.mesure }}\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"started\.txt:1: .*mesure"):
        Composer.load(templates, kinds=WITH_STARTED)
