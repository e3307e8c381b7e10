"""Prometheus metrics and the health answer, as routes for the HTTP server."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from notifier.responses import NOT_FOUND, Environ, Response, StartResponse, WsgiApp

# How far past its moment the next wake may be before /healthz calls it lost: a step takes
# seconds, and the scheduler fires within one.
WAKE_GRACE = timedelta(minutes=1)


class Metrics:
    """One registry per daemon, so tests and several daemons in one process stay apart."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.sent = Counter(
            "notifier_messages_sent",
            "Messages delivered, by kind",
            ["kind"],
            registry=self.registry,
        )
        self.failed = Counter(
            "notifier_messages_failed",
            "Failed deliveries, by kind and permanence",
            ["kind", "permanent"],
            registry=self.registry,
        )
        self.skipped = Counter(
            "notifier_messages_skipped",
            "Messages recorded as skipped after downtime",
            registry=self.registry,
        )
        self.last_sweep = Gauge(
            "notifier_last_successful_sweep_timestamp_seconds",
            "When the last send step finished without error",
            registry=self.registry,
        )
        self.next_due = Gauge(
            "notifier_next_wake_timestamp_seconds",
            "When the daemon next wakes to send",
            registry=self.registry,
        )
        self.plan_load_errors = Counter(
            "notifier_plan_load_errors",
            "Reloads refused because of bad input",
            registry=self.registry,
        )
        self.plan_problems = Gauge(
            "notifier_plan_problems",
            "Problems in the plans being served",
            registry=self.registry,
        )
        self.milestones = Gauge(
            "notifier_milestones", "Milestones in the plans being served", registry=self.registry
        )
        self.feed_requests = Counter(
            "notifier_feed_requests",
            "HTTP requests, by status",
            ["status"],
            registry=self.registry,
        )

    def route(self, environ: Environ) -> Response:
        """The metrics, to this host only: the public port answers feeds and pages. A
        Prometheus on another host scrapes through a front that allows it (nginx `allow`)."""
        if not _from_this_host(environ):
            return NOT_FOUND
        body = generate_latest(self.registry)
        return (
            "200 OK",
            [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(body)))],
            body,
        )

    def counting(self, app: WsgiApp) -> WsgiApp:
        """WSGI middleware counting responses by status code."""

        def counted(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
            def start(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
                self.feed_requests.labels(status.split(" ", 1)[0]).inc()
                return start_response(status, headers, *rest)

            return app(environ, start)

        return counted


@dataclass
class Health:
    """What /healthz reports; the daemon keeps it current."""

    plans: int = 0
    milestones: int = 0
    ledger_ok: bool = False
    ledger_error: str | None = None  # why the last send step could not use the ledger
    next_wake: datetime | None = None
    last_sweep: datetime | None = None
    problems: list[str] = field(default_factory=list)
    reload_error: str | None = None
    waiting: bool = False  # started with a plan file it could not read; sends nothing yet
    smtp_error: str | None = None  # the login refused: nothing can be sent until it is fixed
    # The daemon's clock, to tell a lost wake-up; None (the app on its own) checks nothing.
    clock: Callable[[], datetime] | None = None
    sending_since: datetime | None = None  # a send step is running: the wake was not lost

    def late_wake(self) -> str | None:
        """Why the next wake looks lost, or None: its moment is over a minute past and no
        send step has started, so due messages wait for the sweep."""
        if self.clock is None or self.next_wake is None or self.sending_since is not None:
            return None
        late = self.clock() - self.next_wake
        if late <= WAKE_GRACE:
            return None
        return (
            f"the wake due at {self.next_wake.isoformat()} has not run "
            f"({int(late.total_seconds() // 60)} min late); due messages wait for the next sweep"
        )

    @property
    def healthy(self) -> bool:
        return (
            self.plans > 0
            and self.ledger_ok
            and not self.waiting
            and not self.smtp_error
            and not self.late_wake()
        )

    @property
    def state(self) -> str:
        if self.waiting:
            return "waiting"
        if not (self.plans > 0 and self.ledger_ok):
            return "unavailable"
        # Feeds still work, but no mail goes: a monitor must see it, hence 503 as well.
        return "degraded" if self.smtp_error or self.late_wake() else "ok"

    def route(self, environ: Environ) -> Response:
        """The status word and code for anyone; the details only to a request from this host.

        The port also serves the public feeds, and the details hold absolute paths and error
        texts. The operator and a local monitor ask on loopback; nginx answers 404 for
        /healthz from outside, so what it proxies never asks for it.
        """
        data: dict[str, Any] = {"status": self.state}
        if _from_this_host(environ):
            data.update(self.details())
        body = (json.dumps(data, ensure_ascii=False) + "\n").encode("utf-8")
        status = "200 OK" if self.healthy else "503 Service Unavailable"
        return (
            status,
            [
                ("Content-Type", "application/json"),
                ("Cache-Control", "no-store"),
                ("Content-Length", str(len(body))),
            ],
            body,
        )

    def details(self) -> dict[str, Any]:
        ledger = "ok" if self.ledger_ok else self.ledger_error or "not writable"
        return {
            "plans": self.plans,
            "milestones": self.milestones,
            "ledger": ledger,
            "next_wake": self.next_wake.isoformat() if self.next_wake else None,
            "last_sweep": self.last_sweep.isoformat() if self.last_sweep else None,
            "problems": len(self.problems),
            "reload_error": self.reload_error,
            "smtp": self.smtp_error or "ok",
            "wake": self.late_wake() or "ok",
        }


def _from_this_host(environ: Environ) -> bool:
    try:
        address = ipaddress.ip_address(str(environ.get("REMOTE_ADDR", "")).split("%", 1)[0])
    except ValueError:
        return False  # no address (a Unix socket front): tell nothing
    mapped = getattr(address, "ipv4_mapped", None)
    return bool((mapped or address).is_loopback)
