"""The sd_notify protocol: tell systemd we are ready, reloading, stopping, alive.

A dozen lines of socket code, so no library: a datagram to $NOTIFY_SOCKET. Without the
variable (not started by systemd) every call is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket

logger = logging.getLogger(__name__)


# How long a notice may wait for room in the notify socket's queue.
NOTIFY_TIMEOUT = 1.0


class Notifier:
    def __init__(self, address: str | None = None) -> None:
        address = address if address is not None else os.environ.get("NOTIFY_SOCKET", "")
        # A leading '@' names a socket in the abstract namespace.
        self._address = "\0" + address[1:] if address.startswith("@") else address

    @property
    def enabled(self) -> bool:
        return bool(self._address)

    def notify(self, *fields: str) -> None:
        if not self._address:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                # A reader that stopped reading fills the socket's queue: then a notice is
                # dropped (logged), never the daemon stopped in the middle of its work.
                sock.settimeout(NOTIFY_TIMEOUT)
                sock.connect(self._address)
                sock.sendall("\n".join(fields).encode("utf-8"))
        except OSError as error:
            logger.warning("sd_notify failed: %s", error)

    def ready(self, status: str) -> None:
        self.notify("READY=1", f"STATUS={status}")

    def reloading(self, monotonic_usec: int) -> None:
        self.notify("RELOADING=1", f"MONOTONIC_USEC={monotonic_usec}")

    def status(self, status: str) -> None:
        self.notify(f"STATUS={status}")

    def stopping(self) -> None:
        self.notify("STOPPING=1")

    def watchdog(self) -> None:
        self.notify("WATCHDOG=1")


def watchdog_interval() -> float | None:
    """Half of WatchdogSec, as systemd recommends, or None when no watchdog is set."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 2_000_000
    except ValueError:
        return None
