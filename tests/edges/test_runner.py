"""The one main loop of `notifier run` and `notifier serve`: signals in, systemd told, in order."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from notifier.runner import run_until_stopped
from notifier.server import FeedServer
from notifier.systemd import Notifier

DEADLINE = 10.0


def _hello(environ: object, start_response: Callable[..., object]) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
    return [b"hi\n"]


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.settimeout(DEADLINE)
    try:
        yield sock
    finally:
        sock.close()


def _later(*steps: Callable[[], object]) -> threading.Thread:
    """Run the steps in order from another thread, each once the main thread had time to sleep.

    Started from ``on_ready``: the handlers are installed by then, so no signal can reach the
    process's default handler (which would end the test run).
    """

    def run() -> None:
        for step in steps:
            time.sleep(0.2)
            step()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _messages(sock: socket.socket) -> list[str]:
    sock.setblocking(False)
    found = []
    try:
        while True:
            found += sock.recv(4096).decode().split("\n")
    except BlockingIOError:
        return found


def test_sighup_reloads_sigterm_stops_and_systemd_hears_each_step(
    notify_socket: socket.socket,
) -> None:
    server = FeedServer(_hello, "127.0.0.1", 0)
    events: list[str] = []
    served: list[bytes] = []
    senders: list[threading.Thread] = []
    pid = os.getpid()

    def ready() -> str:
        with urllib.request.urlopen(server.url, timeout=DEADLINE) as response:
            served.append(response.read())
        events.append("ready")
        senders.append(
            _later(lambda: os.kill(pid, signal.SIGHUP), lambda: os.kill(pid, signal.SIGTERM))
        )
        return "serving 1 feed"

    def stop() -> None:
        events.append("stop")
        # The server still answers while the message in flight finishes.
        with urllib.request.urlopen(server.url, timeout=DEADLINE) as response:
            served.append(response.read())

    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    run_until_stopped(
        server,
        lambda: events.append("reload"),
        Notifier(notify_socket.getsockname()),
        on_ready=ready,
        on_stop=stop,
    )
    senders[0].join(DEADLINE)
    assert events == ["ready", "reload", "stop"]
    assert served == [b"hi\n", b"hi\n"]
    messages = _messages(notify_socket)
    assert messages.index("READY=1") < messages.index("STOPPING=1")
    assert "STATUS=serving 1 feed" in messages
    with pytest.raises(RuntimeError):
        server.port  # noqa: B018 - stopped, so it has none
    assert {s: signal.getsignal(s) for s in handlers} == handlers  # put back


def test_the_server_stops_even_when_stopping_fails() -> None:
    server = FeedServer(_hello, "127.0.0.1", 0)

    senders: list[threading.Thread] = []

    def ready() -> str:
        senders.append(_later(lambda: os.kill(os.getpid(), signal.SIGINT)))
        return "serving"

    def broken_stop() -> None:
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        run_until_stopped(server, lambda: None, on_ready=ready, on_stop=broken_stop)
    senders[0].join(DEADLINE)
    with pytest.raises(RuntimeError):
        server.port  # noqa: B018 - stopped, so it has none


def test_a_notify_socket_nobody_reads_drops_notices_instead_of_stopping_the_daemon(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(path))
        notifier = Notifier(str(path))
        started = time.monotonic()
        # Linux queues so many datagrams on a socket nobody reads; three more wait a second each.
        queued = int(Path("/proc/sys/net/unix/max_dgram_qlen").read_text())
        for number in range(queued + 3):
            notifier.status(f"step {number}")
        assert time.monotonic() - started < 8, "each notice waits a second at most"
        assert "sd_notify failed" in caplog.text
        listener.settimeout(1)
        assert listener.recv(4096).startswith(b"STATUS=step 0")
