"""The coordinator's page that accepts a proposed new date: ``/accept/<token>``.

The proposal notice (``kinds/proposal``) links here. GET shows the milestone, its date now,
the date proposed, by whom and why, and one button; it changes nothing (mail scanners open
every link). POST, from that button, records the move in the ledger as the coordinator's
(``DueMove``): from then on the milestone is due on the new date everywhere, and its
reminders are planned from it (``moves``). Only the proposal the token names can be accepted,
and only while it is the milestone's latest word: once it is done, reopened, proposed again or
moved, the page says so and offers nothing to press. Every bad token gets the status page's
one 404 page.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from notifier.feedstate import FeedStore
from notifier.kinds.views import milestone_view
from notifier.ledger import Ledger
from notifier.links import ACCEPT_ROUTE, Proposal, signer_for
from notifier.logs import fields
from notifier.model import PlannedMilestone
from notifier.records import COORDINATOR, DueMove, StatusEntry
from notifier.responses import Environ, Response
from notifier.schedule import local_date
from notifier.statuspage import (
    GONE,
    NOT_ALLOWED,
    STATE_TEXT,
    current_milestone,
    history_rows,
    html_page,
    posted_form,
    web_templates,
)
from notifier.swedish import swedish_date

logger = logging.getLogger(__name__)

_TOKEN = re.compile(r"^[A-Za-z0-9_.-]{1,1024}$")


class AcceptPage:
    """The route: reads the catalog the feeds were built from, and the ledger."""

    def __init__(self, store: FeedStore, ledger: Ledger, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.ledger = ledger
        self.clock = clock
        self.templates = web_templates(store.settings.templates.dir)

    def __call__(self, environ: Environ) -> Response:
        method = environ.get("REQUEST_METHOD")
        if method not in ("GET", "HEAD", "POST"):
            return NOT_ALLOWED
        token = str(environ.get("PATH_INFO", ""))[len(ACCEPT_ROUTE) :]
        now = self.clock()
        settings = self.store.settings
        today = local_date(now, settings)
        signer = signer_for(settings)
        proposal = signer.read_accept(token, today) if signer and _TOKEN.match(token) else None
        planned = self._base(proposal)
        if proposal is None or planned is None:
            return GONE
        if method != "POST":
            return self._page(planned, proposal, token, today)
        form = posted_form(environ, token)
        if not isinstance(form, dict):
            return form
        if not self._open(proposal):
            return self._page(planned, proposal, token, today)
        entry = StatusEntry(
            milestone_key=planned.key,
            state="open",
            organisation=COORDINATOR,
            at=now,
            how="link",
            moved=DueMove(replaces=planned.milestone.due, due=proposal.proposed_due),
        )
        recorded = self.ledger.record_status(entry)
        logger.info(
            "new due date accepted %s",
            fields(milestone=planned.key, due=proposal.proposed_due.isoformat(), how="link"),
        )
        return self._page(planned, proposal, token, today, recorded=recorded)

    def _base(self, proposal: Proposal | None) -> PlannedMilestone | None:
        """The milestone as the plan dates it: a move replaces the plan's date, not another
        move's."""
        catalog = self.store.catalog
        if proposal is None or catalog is None:
            return None
        return next((p for p in catalog.milestones if p.key == proposal.milestone_key), None)

    def _open(self, proposal: Proposal) -> bool:
        """Whether the proposal is still the milestone's latest word."""
        current = self.ledger.statuses().get(proposal.milestone_key)
        return current is not None and current.seq == proposal.seq

    def _page(
        self,
        base: PlannedMilestone,
        proposal: Proposal,
        token: str,
        today: date,
        *,
        recorded: StatusEntry | None = None,
    ) -> Response:
        planned = current_milestone(self.store, self.ledger, base.key) or base
        history = self.ledger.status_history(planned.key)
        asked = next((e for e in history if e.seq == proposal.seq), None)
        current = history[-1] if history else None
        context: dict[str, Any] = {
            "m": milestone_view(planned, today),
            "token": token,
            "proposed": swedish_date(proposal.proposed_due),
            "asked": history_rows([asked], self.store.settings)[0] if asked else None,
            "open": recorded is None and self._open(proposal),
            "recorded": recorded,
            "current": STATE_TEXT[current.state] if current else STATE_TEXT["open"],
            "history": history_rows(history, self.store.settings),
        }
        body = self.templates.get_template("accept.html").render(context).encode()
        return html_page("200 OK", body)
