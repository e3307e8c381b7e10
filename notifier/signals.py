"""Stop and reload requests for the main thread of a long-running command (``runner``).

SIGTERM and SIGINT ask it to stop, SIGHUP to reload. It sleeps in ``select`` on a socket that
Python's signal machinery writes to (``signal.set_wakeup_fd``), and that ``stop``/``reload``
write to from other threads. A plain ``Event.wait()`` is not enough: a signal the kernel hands
to another thread (the scheduler's, a server thread's) does not interrupt the main thread's
wait, so its handler, and with it the stop or the reload, would wait until something else
happened to wake the main thread.
"""

from __future__ import annotations

import contextlib
import logging
import select
import signal
import socket
from collections.abc import Iterator
from types import FrameType
from typing import Any

logger = logging.getLogger(__name__)


class Signals:
    """Stop and reload requests, from signals or from other threads."""

    def __init__(self) -> None:
        self.stopping = False
        self._reload = False
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)

    def stop(self) -> None:
        self.stopping = True
        self._poke()

    def reload(self) -> None:
        self._reload = True
        self._poke()

    def take_reload(self) -> bool:
        """True once per request (several requests before it is taken count as one)."""
        wanted, self._reload = self._reload, False
        return wanted

    def wait(self, timeout: float | None = None) -> None:
        """Sleep until a signal, ``stop``, ``reload`` or ``timeout`` seconds."""
        if self.stopping or self._reload:
            return
        with contextlib.suppress(OSError, ValueError):  # closed: nothing left to wait for
            select.select([self._reader], [], [], timeout)
            self._drain()

    def close(self) -> None:
        self._reader.close()
        self._writer.close()

    @contextlib.contextmanager
    def installed(self) -> Iterator[Signals]:
        """Handle SIGTERM, SIGINT and SIGHUP while inside; restore what was there after.

        Outside the main thread signals cannot be handled: the caller then stops and
        reloads through ``stop`` and ``reload``.
        """
        handlers = {
            signal.SIGTERM: self._on_stop,
            signal.SIGINT: self._on_stop,
            signal.SIGHUP: self._on_reload,
        }
        previous: dict[int, Any] = {}
        previous_fd: int | None = None
        try:
            previous_fd = signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
            for number, handler in handlers.items():
                previous[number] = signal.signal(number, handler)
        except ValueError:  # not the main thread
            pass
        try:
            yield self
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
            if previous_fd is not None:
                signal.set_wakeup_fd(previous_fd)
            self.close()

    def _on_stop(self, number: int, frame: FrameType | None) -> None:
        logger.info("received %s", signal.Signals(number).name)
        self.stop()

    def _on_reload(self, number: int, frame: FrameType | None) -> None:
        logger.info("received SIGHUP: reloading")
        self.reload()

    def _poke(self) -> None:
        with contextlib.suppress(OSError):  # full (a wake is pending anyway) or closed
            self._writer.send(b"\0")

    def _drain(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while self._reader.recv(4096):
                pass
