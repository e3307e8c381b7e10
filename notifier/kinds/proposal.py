"""New-date proposals: the coordinator hears at once that an organisation needs more time. Pure.

An organisation answers "Behöver ny tid" with a date through its status link; the ledger
records it (``needs-new-date``). This kind turns each such entry into one notice to the
coordinator, due the moment it was recorded, with the proposal and a link to a page where one
button accepts it (``acceptpage``). Only the latest proposal of a milestone goes out after a
stop (one group per milestone), and a proposal answered before its notice left (the
milestone done, reopened, proposed again or moved) is not sent: the coordinator would act on
something no longer asked.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage

from notifier.catalog import milestones_by_key
from notifier.due import Outgoing
from notifier.kinds.base import (
    Context,
    Kind,
    MessageComposer,
    Sources,
    Span,
    about,
    by_time,
    milestone_summary,
)
from notifier.kinds.views import milestone_context, sample_milestone_contexts
from notifier.links import accept_url
from notifier.model import PlannedMilestone, Recipient
from notifier.progress import who_swedish
from notifier.records import StatusEntry
from notifier.schedule import coordinator, zone
from notifier.settings import Settings
from notifier.swedish import swedish_date

NAME = "proposal"
# Why a proposal's notice is not sent once something newer was said about the milestone.
ANSWERED = "proposal answered"
SAMPLE_ACCEPT_URL = "https://notifier.exempel.invalid/accept/exempel"

Proposal = Outgoing[StatusEntry]


def proposal_key(planned: PlannedMilestone, entry: StatusEntry) -> str:
    return f"proposal/{planned.key}/{entry.seq}"


def proposals(sources: Sources) -> list[Proposal]:
    """One notice per needs-new-date entry about a milestone of the plans."""
    by_key = milestones_by_key(sources.catalog)
    notices: list[Proposal] = []
    for entry in sources.status_history:
        # The last milestone of a key, as a dict of every milestone by key would hold.
        planned = by_key.get(entry.milestone_key, (None,))[-1]
        if entry.state != "needs-new-date" or entry.proposed_due is None or planned is None:
            continue
        notices.append(
            Outgoing(
                key=proposal_key(planned, entry),
                kind=NAME,
                group=f"proposal/{planned.key}",
                send_at=entry.at,
                expires_at=None,
                recipients=(coordinator(sources.settings),),
                payload=entry,
                about=planned,
            )
        )
    return by_time(notices)


def _answered(item: Proposal, sources: Sources) -> str | None:
    current = sources.statuses.get(about(item).key)
    if current is None or current.seq != item.payload.seq:
        return ANSWERED
    return None


def proposal_context(
    planned: PlannedMilestone,
    entry: StatusEntry,
    recipient: Recipient,
    now: datetime,
    settings: Settings,
    link: str,
) -> Context:
    context = milestone_context(planned, recipient, now, settings)
    proposed = entry.proposed_due or planned.milestone.due
    said = entry.at.astimezone(zone(settings))
    context["proposal"] = {
        "who": who_swedish(entry),
        "address": entry.address or "",
        "proposed": swedish_date(proposed),
        "later_days": (proposed - planned.milestone.due).days,
        "said": f"{swedish_date(said.date())} kl. {said:%H.%M}",
        "comment": entry.comment or "",
    }
    context["accept_url"] = link
    return context


class ProposalKind(Kind[StatusEntry]):
    name = NAME
    label = "proposal"
    nouns = ("new-date proposal", "new-date proposals")

    def messages(self, sources: Sources, span: Span) -> list[Proposal]:
        return proposals(sources)

    def silenced(self, item: Proposal, sources: Sources) -> str | None:
        return _answered(item, sources)

    def withheld(self, item: Proposal, sources: Sources) -> str | None:
        return _answered(item, sources)

    def compose(
        self,
        item: Proposal,
        recipient: Recipient,
        now: datetime,
        sources: Sources,
        composer: MessageComposer,
    ) -> EmailMessage:
        planned, settings = about(item), sources.settings
        link = accept_url(planned, item.payload, settings)
        context = proposal_context(planned, item.payload, recipient, now, settings, link)
        return composer.message(NAME, context, recipient, key=item.key, now=now, settings=settings)

    def summary(self, item: Proposal, sources: Sources) -> str:
        proposed = item.payload.proposed_due
        return milestone_summary(about(item), f"new date {proposed} asked by {item.payload.who}")

    def details(self, item: Proposal, sources: Sources) -> dict[str, object]:
        proposed = item.payload.proposed_due
        return {
            "proposed_due": proposed.isoformat() if proposed else None,
            "by": item.payload.organisation,
        }

    def sample_contexts(self, settings: Settings) -> Sequence[Context]:
        contexts = []
        for number, sample in enumerate(sample_milestone_contexts(settings)):
            context = dict(sample)
            context.pop("status_url", None)
            context["proposal"] = {
                "who": "Polisen" if number == 0 else "samordnaren",
                "address": "polisen@exempel.invalid" if number == 0 else "",
                "proposed": "30 september 2024",
                "later_days": 92,
                "said": "3 juni 2024 kl. 09.15",
                "comment": "Utbildningen flyttas till hösten." if number == 0 else "",
            }
            context["accept_url"] = SAMPLE_ACCEPT_URL if number == 0 else ""
            contexts.append(context)
        return contexts


PROPOSAL = ProposalKind()
