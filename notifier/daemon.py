"""The long-running process: serve feeds, send what is due, reload on change, stop cleanly.

Level-triggered: APScheduler only decides *when* to wake. At each wake ``send_due_once``
computes from plans, configuration and ledger what is due now and sends what the ledger has
not recorded, so a missed wake, a clock jump, a reload or a restart loses nothing.

Threads: the main thread handles signals, reloads and the systemd watchdog
(``runner.run_until_stopped``); APScheduler's worker runs the send step (one at a time); the
HTTP server answers in its own threads.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler

from notifier import logs
from notifier.config import password_origin
from notifier.errors import NotifierError, UserError
from notifier.feedstate import FeedStore, feed_state, publish
from notifier.kinds.problem import problem_key
from notifier.ledger import Ledger, open_ledger
from notifier.ledger_identity import DatabaseIdentity, Identity, check_at_start
from notifier.ledger_url import shown_url
from notifier.links import state_with_secret
from notifier.logs import fields
from notifier.mail import describe, mailer_for
from notifier.metrics import Health, Metrics
from notifier.nodes import make_state_folder, same_secret_as_every_node
from notifier.records import StatusEntry
from notifier.reloads import milestone_changes, refused_action_lines
from notifier.report import over_notes
from notifier.runner import run_until_stopped
from notifier.sender import LOGIN_RETRY, SendReport, send_due_once
from notifier.server import FeedServer
from notifier.settings import Settings, SmtpSettings
from notifier.signals import Signals
from notifier.state import LoadedState, fingerprint, load_state, watched_files
from notifier.systemd import Notifier
from notifier.wsgi import build_app

logger = logging.getLogger(__name__)

SWEEP_INTERVAL = timedelta(minutes=15)
RETRY_AFTER_ERROR = timedelta(minutes=1)
WATCH_INTERVAL = 5.0
# How often to look for a milestone status recorded by another process (`notifier done`, a
# link): one small query, so a feed shows it within seconds rather than at the next sweep.
STATUS_POLL = timedelta(seconds=3)
# Where problem notices were remembered before the ledger kept them.
REPORTED_FILE = "reported-problems.json"
PROBLEMS_ONLY = frozenset({"problem"})

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Daemon:
    def __init__(
        self,
        config: Path,
        *,
        clock: Clock = utc_now,
        notifier: Notifier | None = None,
        watch_interval: float = WATCH_INTERVAL,
        new_ledger: bool = False,
    ) -> None:
        self.config = config
        self.new_ledger = new_ledger
        self.clock = clock
        self.systemd = notifier or Notifier()
        self.watch_interval = watch_interval
        self.metrics = Metrics()
        self.health = Health(clock=clock)
        self._stop = threading.Event()
        self._signals = Signals()
        self._send_lock = threading.Lock()
        self._announced: datetime | None = None
        self._due_again = False  # a step found its successor due already: ``wake`` loops
        self._ledger_unreachable = False  # seen by the status poll: a step once it answers
        # Until when sending rests after a refused login, and the SMTP settings refused.
        self._login_refused: tuple[datetime, SmtpSettings] | None = None
        self._scheduler = BackgroundScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )

    # --- start and stop ---------------------------------------------------------------------

    def run(self) -> int:
        self.state = load_state(self.config)
        settings = self.state.settings
        logs.setup(settings.logging.level, settings.logging.format, self._secrets())
        self._log_start()
        if settings.ledger.url:
            make_state_folder(settings.ledger.path.parent)  # this node's own: secret, marker
        else:
            check_at_start(settings.ledger.path, new_ledger=self.new_ledger)
        self.ledger: Ledger = open_ledger(settings.ledger)
        self.state = state_with_secret(self.state)  # its folder exists now: links can be signed
        settings = self.state.settings
        self.identity: Identity | DatabaseIdentity = (
            DatabaseIdentity.taken(
                settings.ledger.path.parent, self.ledger, new_ledger=self.new_ledger
            )
            if settings.ledger.url
            else Identity.taken(settings.ledger.path, self.ledger)
        )
        if settings.ledger.url:
            same_secret_as_every_node(self.ledger, settings)
        self.health.ledger_ok = True
        self.history, self.tokens = feed_state(settings)
        self.store = FeedStore(settings, self.history.load(), self.tokens)
        self.store.keep_statuses(self._statuses_now() or {})
        if self.state.blocking:
            self._wait_for_fix()
        else:
            publish(
                self.store,
                self.state.catalog,
                self.clock(),
                settings,
                self.tokens,
                None,
                self.history,
            )
        self._note_catalog(self.state)
        self.server = FeedServer(
            build_app(self.store, self.health, self.metrics, self.ledger, self.clock),
            settings.server.host,
            settings.server.port,
        )
        self._fingerprint = fingerprint(watched_files(settings))
        try:
            run_until_stopped(
                self.server,
                self.reload,
                self.systemd,
                signals=self._signals,
                on_ready=self._ready,
                on_stop=self._shutdown,
            )
        finally:
            self.ledger.close()
            logger.info("stopped")
        return 0

    def _ready(self) -> str:
        """The server listens: start waking, and say so; the STATUS line for READY=1."""
        self._start_scheduler()
        logger.info("ready %s", fields(feeds=self.server.url + "/calendar.ics"))
        return self._status()

    def _start_scheduler(self) -> None:
        self._scheduler.start()
        self._add_wake("wake", self.clock())
        self._scheduler.add_job(
            self.wake, "interval", seconds=SWEEP_INTERVAL.total_seconds(), id="sweep"
        )
        self._scheduler.add_job(
            self._watch_statuses, "interval", seconds=STATUS_POLL.total_seconds(), id="statuses"
        )
        if self.watch_interval > 0:
            self._scheduler.add_job(
                self._check_files, "interval", seconds=self.watch_interval, id="watch"
            )

    def stop(self) -> None:
        self._stop.set()
        self._signals.stop()

    def request_reload(self) -> None:
        self._signals.reload()

    def _shutdown(self) -> None:
        """Before the server stops: no new send step, and the one in progress ends after its
        current message (``should_stop``); the scheduler waits for it."""
        self._stop.set()
        logger.info("stopping: finishing the message in flight")
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)

    # --- sending ------------------------------------------------------------------------------

    def wake(self) -> SendReport | None:
        """Send steps until the next moment something falls due lies ahead; the report of the
        last one.

        A step that schedules its successor for a moment already passed (a slow step, a burst
        of retries one minute apart) runs again here at once: a job of APScheduler cannot run
        while the same job is still running, so such a moment given to the scheduler would
        be dropped and wait for the sweep.
        """
        report: SendReport | None = None
        self._due_again = True
        while self._due_again and not self._stop.is_set():
            self._due_again = False
            self.health.sending_since = self.clock()
            try:
                report = self._step()
            finally:
                self.health.sending_since = None
        return report

    def _step(self) -> SendReport | None:
        """One send step; then schedule the next wake from what the ledger and plan say.

        While a plan file is unreadable at start, only problem notices go out: the
        coordinator must hear of it, and nothing else may be sent from a partial plan.
        """
        with self._send_lock:
            if self._stop.is_set():
                return None
            now = self.clock()
            state = self.state
            held = self._login_held(now, state.settings)
            if held is not None:
                self._schedule_wake(held)
                return SendReport(next_wake=held)
            mailer = mailer_for(state.settings)
            report: SendReport | None = None
            try:
                # A step with nothing to write would not notice a ledger gone read-only;
                # /healthz must, before the next message is due.
                self.ledger.check_writable()
                self.identity.check()  # deleted or replaced under us
                report = send_due_once(
                    now,
                    state.catalog,
                    state.settings,
                    self.ledger,
                    mailer,
                    state.composer,
                    lease=state.settings.ledger.lease,
                    should_stop=self._stop.is_set,
                    clock=self.clock,
                    kinds=PROBLEMS_ONLY if self.health.waiting else None,
                )
            except NotifierError as error:
                self.health.ledger_ok, self.health.ledger_error = False, str(error)
                logger.error("send step failed: %s", error)
            except Exception:
                self.health.ledger_ok = False
                logger.exception("send step failed")
            finally:
                mailer.close()
            if report is None:
                self._schedule_wake(now + RETRY_AFTER_ERROR)
                return None
            self.health.ledger_ok, self.health.ledger_error = True, None
            self._account(report, now)
            self._republish_on_status_change(report.statuses)
            self._note_login(report, now, state.settings)
            if report.next_wake != self._announced:
                self._announced = report.next_wake
                when = f"{report.next_wake:%Y-%m-%d %H:%M %Z}" if report.next_wake else "none"
                logger.info("next message due %s", fields(at=when))
            upcoming = now + SWEEP_INTERVAL
            self._schedule_wake(min(report.next_wake, upcoming) if report.next_wake else upcoming)
            return report

    def _account(self, report: SendReport, now: datetime) -> None:
        for outcome in report.sent:
            self.metrics.sent.labels(outcome.kind).inc()
        for outcome in report.failed:
            self.metrics.failed.labels(outcome.kind, str(outcome.permanent).lower()).inc()
        self.metrics.skipped.inc(report.skipped)
        self.metrics.last_sweep.set(now.timestamp())
        self.health.last_sweep = now
        if report.sent or report.failed or report.skipped:
            logger.info(
                "send step %s",
                fields(sent=len(report.sent), failed=len(report.failed), skipped=report.skipped),
            )

    def _login_held(self, now: datetime, settings: Settings) -> datetime | None:
        """Until when not to send after a refused login: every message would be refused the
        same way, and repeated logins can lock the account. A reload with other SMTP
        settings (a new password) ends the pause at once."""
        if self._login_refused is None:
            return None
        until, refused = self._login_refused
        if now >= until or settings.smtp != refused:
            self._login_refused = None
            return None
        return until

    def _note_login(self, report: SendReport, now: datetime, settings: Settings) -> None:
        if report.login_refused is None:
            if report.sent:
                self.health.smtp_error = None
            return
        until = now + LOGIN_RETRY
        self._login_refused = (until, settings.smtp)
        refusal = report.login_refused
        for secret in self._secrets():
            refusal = refusal.replace(secret, "********")
        self.health.smtp_error = f"authentication refused: {refusal}"
        logger.error(
            "the SMTP server refused the login; nothing is sent until %s or a reload with "
            "other SMTP settings: %s (password from %s)",
            f"{until:%Y-%m-%d %H:%M %Z}",
            refusal,
            password_origin(settings),
        )
        # Stable lines: one notice per refusal, however many hours it lasts. It waits in the
        # ledger and goes with the first message once the login works.
        self._tell_coordinator(
            [
                f"The SMTP server refused notifier's login: {refusal}",
                "Nothing is sent until the login works; the messages wait and go then "
                "(tried again every hour, and at once after a reload with new settings).",
            ]
        )

    def _schedule_wake(self, when: datetime) -> None:
        if self._stop.is_set():
            return
        self.health.next_wake = when
        self.metrics.next_due.set(when.timestamp())
        if when <= self.clock() and self._send_lock.locked():
            # Called from a step in progress: ``wake`` runs the next one as soon as it ends.
            self._due_again = True
        else:
            self._add_wake("wake", when)
        self.systemd.status(self._status())

    def _add_wake(self, job_id: str, when: datetime) -> None:
        """Run ``wake`` at ``when`` (at once if it has passed). A second instance may start
        while the first still runs: it waits for the send lock and then takes a fresh look,
        so a moment that passes before the running step returns is not dropped as
        "maximum number of running instances reached"."""
        self._scheduler.add_job(
            self.wake, "date", run_date=when, id=job_id, replace_existing=True, max_instances=2
        )

    # --- milestone status in the feeds --------------------------------------------------------

    def _statuses_now(self) -> dict[str, StatusEntry] | None:
        """The current statuses, or None while the ledger cannot be read: the send step
        reports that, and the next look after it is readable again republishes."""
        try:
            mark, statuses = self.ledger.status_mark(), self.ledger.statuses()
        except NotifierError as error:
            logger.debug("milestone status not read: %s", error)
            self._status_mark = -1
            return None
        self._status_mark = mark
        return statuses

    def _watch_statuses(self) -> None:
        """Also the ledger's pulse between steps: a database gone away shows on /healthz
        within seconds, and once it answers again a step runs at once."""
        try:
            changed = self.ledger.status_mark() != self._status_mark
        except NotifierError as error:
            if not self._ledger_unreachable:
                logger.error("ledger unreachable, nothing is sent: %s", error)
            self._ledger_unreachable = True
            self.health.ledger_ok, self.health.ledger_error = False, str(error)
            return
        if self._ledger_unreachable and not self._stop.is_set():
            self._ledger_unreachable = False
            logger.info("ledger reachable again: sending resumes")
            self._schedule_wake(self.clock())
        statuses = self._statuses_now() if changed and not self._stop.is_set() else None
        if statuses is not None:
            self._republish_on_status_change(statuses)
            # A status may call for a message at once (the coordinator hears of a new date
            # asked for) or silence one: a step now, not at the next sweep.
            self._schedule_wake(self.clock())

    def _republish_on_status_change(self, statuses: Mapping[str, StatusEntry]) -> None:
        """A milestone marked done shows in the feeds without a reload. Not while waiting
        for a plan to be fixed: no feeds are published from a partial plan."""
        if self.health.waiting or statuses == self.store.statuses:
            return
        try:
            # The store's own catalog: a reload in between has already put in the new one.
            publish(
                self.store,
                None,
                self.clock(),
                self.store.settings,
                self.tokens,
                statuses,
                self.history,
            )
        except Exception:  # the feeds stay as they were; the next change tries again
            logger.exception("feeds not republished after a milestone status change")
            return
        logger.info("milestone status changed: feeds republished")

    # --- reloading ------------------------------------------------------------------------------

    def _check_files(self) -> None:
        current = fingerprint(watched_files(self.state.settings))
        if current != self._fingerprint:
            self._fingerprint = current
            logger.info("a watched file changed: reloading")
            self.request_reload()

    def reload(self) -> bool:
        """Load everything again; swap it in only if it is fit, else keep the last good state."""
        self.systemd.reloading(time.monotonic_ns() // 1000)
        try:
            new = load_state(self.config, self.state)
            if new.blocking:
                return self._refuse("\n".join(str(p) for p in new.blocking))
            # Feeds first: an edit they cannot be built from is refused like any other.
            publish(
                self.store, new.catalog, self.clock(), new.settings, self.tokens, None, self.history
            )
        except UserError as error:
            return self._refuse(error.message)
        except Exception as error:  # a defect must not take the running service down
            logger.exception("reload failed unexpectedly")
            return self._refuse(f"unexpected error while loading: {type(error).__name__}: {error}")
        finally:
            self._fingerprint = fingerprint(watched_files(self.state.settings))
        old = self.state
        # No lock: a send step in progress keeps the state it began with (it reads
        # ``self.state`` once), and the main thread must stay free for the watchdog.
        self.state = new
        self.health.waiting = False
        for line in milestone_changes(old.catalog, new.catalog):
            logger.info("%s", line)
        self._note_catalog(new)
        self.health.reload_error = None
        self.systemd.ready(self._status())
        self._schedule_wake(self.clock())
        logger.info(
            "reloaded %s",
            fields(plans=len(new.catalog.plans), milestones=len(new.catalog.milestones)),
        )
        return True

    def _wait_for_fix(self) -> None:
        """A plan file is unreadable at start: without it its reminders would be skipped for
        good and its events dropped from every subscriber's calendar. So send nothing and
        publish nothing (feed files already written stay as they are) until an edit or SIGHUP
        brings a state that loads; /healthz says 503 meanwhile."""
        self.health.waiting = True
        message = "\n".join(str(p) for p in self.state.blocking)
        self.metrics.plan_load_errors.inc()
        self.health.reload_error = message
        logger.error(
            "a plan file cannot be read; sending nothing and serving no feeds until it is "
            "fixed (the change is picked up without a restart):\n%s",
            message,
        )
        self._tell_coordinator(message.splitlines())

    def _refuse(self, message: str) -> bool:
        self.metrics.plan_load_errors.inc()
        self.health.reload_error = message
        logger.error("reload refused, keeping the last good plan:\n%s", message)
        self.systemd.ready(self._status())
        self._tell_coordinator(message.splitlines())
        return False

    def _tell_coordinator(self, problems: list[str]) -> None:
        """Record a refused edit in the ledger and wake: the send step turns it into a problem
        notice to the coordinator, sent once per distinct set of problems and retried like
        every other message."""
        key = problem_key(problems)
        try:
            self._import_reported_problems()
            new = self.ledger.record_problem(key, problems, self.clock())
        except NotifierError as error:
            logger.error("could not record the problem for the coordinator: %s", error)
            return
        if not new:
            logger.info("the coordinator knows of this problem already %s", fields(key=key))
            return
        logger.info(
            "the coordinator will be told %s",
            fields(to=self.state.settings.coordinator.email, key=key),
        )
        if self._scheduler.running:
            # A job of its own: the "wake" job of a step in progress would be replaced by the
            # next wake that step schedules, which may be a sweep away.
            self._add_wake("problem", self.clock())

    def _import_reported_problems(self) -> None:
        """Problem notices sent before the ledger kept them are listed in REPORTED_FILE: record
        them as sent, so nobody is told twice, and remove the file."""
        settings = self.state.settings
        path = settings.ledger.path.parent / REPORTED_FILE
        try:
            keys = json.loads(path.read_text(encoding="utf-8"))
            told_at = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        except FileNotFoundError:
            return
        except (OSError, ValueError) as error:
            logger.warning("%s: cannot read it (%s); its problems may be told again", path, error)
            return
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            logger.warning("%s: not a list of problem keys; its problems may be told again", path)
            return
        added = self.ledger.record_told_problems(keys, settings.coordinator.email, told_at)
        logger.info(
            "moved problem notices sent earlier into the ledger %s",
            fields(file=path, notices=added),
        )
        try:
            path.unlink()
        except OSError as error:
            logger.warning("%s: cannot remove it after moving it into the ledger: %s", path, error)

    # --- reporting ------------------------------------------------------------------------------

    def _note_catalog(self, state: LoadedState) -> None:
        catalog = state.catalog
        self.health.plans = len(catalog.plans)
        self.health.milestones = len(catalog.milestones)
        self.health.problems = [str(p) for p in catalog.problems]
        self.metrics.milestones.set(len(catalog.milestones))
        self.metrics.plan_problems.set(len(catalog.problems))
        for problem in catalog.problems:
            logger.warning("plan problem: %s", problem)
        for note in over_notes(catalog, self.clock()):
            logger.info("%s", note)
        self._note_refused_actions(state)

    def _note_refused_actions(self, state: LoadedState) -> None:
        """A refused action does not stop its plan loading, but the coordinator must hear of
        it as of any refused edit: until it is fixed its own edits are not followed."""
        outcomes = refused_action_lines(state.catalog)
        for line in outcomes:
            logger.warning("%s", line)
        if outcomes:
            self._tell_coordinator([str(p) for p in state.refused_actions] + outcomes)

    def _status(self) -> str:
        wake = self.health.next_wake
        text = f"{self.health.plans} plan(s), {self.health.milestones} milestones"
        if wake:
            text += f"; next wake {wake.astimezone(UTC):%Y-%m-%d %H:%M}Z"
        if self.health.waiting:
            text += "; a plan file cannot be read, sending nothing until it is fixed"
        elif self.health.reload_error:
            text += "; last reload refused"
        return text

    def _log_start(self) -> None:
        settings = self.state.settings
        logger.info("starting %s", fields(pid=os.getpid(), config=settings.source or "defaults"))
        logger.info(
            "plans loaded %s",
            fields(
                dir=settings.plans.dir,
                plans=len(self.state.catalog.plans),
                milestones=len(self.state.catalog.milestones),
            ),
        )
        logger.info("mail goes to %s", describe(mailer_for(settings)))
        if settings.smtp.host:
            logger.info("smtp password from %s", password_origin(settings))
        if settings.ledger.url:
            logger.info(
                "ledger shared by every node %s",
                fields(database=shown_url(settings.ledger.url), state=settings.ledger.path.parent),
            )
        else:
            logger.info("ledger %s", fields(file=settings.ledger.path))

    def _secrets(self) -> list[str]:
        settings = self.state.settings
        passwords = (settings.smtp.password, settings.ledger.password)
        return [password.get_secret_value() for password in passwords if password]
