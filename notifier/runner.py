"""The main thread of a long-running command: serve, sleep until a signal, reload, stop.

``notifier run`` and ``notifier serve`` both run here, so they stop (SIGTERM, SIGINT: exit 0),
reload (SIGHUP) and talk to systemd the same way. The HTTP server is anything with
``start``, ``url`` and ``stop``; what a reload does is the caller's ``on_reload``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from notifier.signals import Signals
from notifier.systemd import Notifier, watchdog_interval


class Server(Protocol):
    """What the runner needs of an HTTP server (``server.FeedServer``)."""

    @property
    def url(self) -> str: ...

    def start(self) -> object: ...

    def stop(self) -> None: ...


def _nothing() -> None:
    return None


def run_until_stopped(
    server: Server,
    on_reload: Callable[[], object],
    systemd: Notifier | None = None,
    *,
    signals: Signals | None = None,
    on_ready: Callable[[], str] = lambda: "serving",
    on_stop: Callable[[], None] = _nothing,
) -> None:
    """Start ``server``, then wait for signals until asked to stop; stop the server last.

    ``on_ready`` runs once the server listens and returns the STATUS line for READY=1;
    ``on_reload`` runs on each SIGHUP (or ``signals.reload()``) and itself tells systemd
    whatever a reload should; ``on_stop`` runs before the server stops (the daemon lets the
    message in flight finish there). Without ``systemd`` nothing is notified.
    """
    signals = signals or Signals()
    systemd = systemd or Notifier(address="")
    with signals.installed():
        server.start()
        try:
            systemd.ready(on_ready())
            interval = watchdog_interval()
            while True:
                signals.wait(timeout=interval)
                if signals.stopping:
                    break
                if signals.take_reload():
                    on_reload()
                if interval:
                    systemd.watchdog()
        finally:
            systemd.stopping()
            try:
                on_stop()
            finally:
                server.stop()
