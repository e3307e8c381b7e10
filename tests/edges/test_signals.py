"""The main thread wakes for a signal whichever thread the kernel hands it to."""

from __future__ import annotations

import signal
import threading
import time

from notifier.signals import Signals


def _signal_from_another_thread(number: int) -> threading.Thread:
    # pthread_kill to the sending thread itself: the kernel delivers the signal there, not to
    # the main thread, as it may do with a SIGHUP from systemctl while a scheduler thread runs.
    # The pause lets the main thread fall asleep first (a signal that comes before the wait
    # is handled before it anyway).
    def send() -> None:
        time.sleep(0.2)
        signal.pthread_kill(threading.get_ident(), number)

    thread = threading.Thread(target=send)
    thread.start()
    return thread


def test_a_sighup_delivered_to_another_thread_wakes_the_main_thread_at_once() -> None:
    with Signals().installed() as signals:
        sender = _signal_from_another_thread(signal.SIGHUP)
        began = time.monotonic()
        signals.wait(timeout=10)
        waited = time.monotonic() - began
        sender.join()
        assert waited < 5, "the main thread slept through the signal"
        assert signals.take_reload()
        assert not signals.take_reload()  # one request, taken once
        assert not signals.stopping


def test_a_sigterm_delivered_to_another_thread_stops_the_main_loop() -> None:
    with Signals().installed() as signals:
        sender = _signal_from_another_thread(signal.SIGTERM)
        deadline = time.monotonic() + 5
        while not signals.stopping and time.monotonic() < deadline:
            signals.wait(timeout=10)
        sender.join()
        assert signals.stopping


def test_handlers_are_restored_when_the_loop_ends() -> None:
    before = signal.getsignal(signal.SIGHUP)
    with Signals().installed():
        assert signal.getsignal(signal.SIGHUP) is not before
    assert signal.getsignal(signal.SIGHUP) is before


def test_a_request_from_another_thread_wakes_the_main_thread() -> None:
    with Signals().installed() as signals:
        threading.Timer(0.05, signals.reload).start()
        began = time.monotonic()
        signals.wait(timeout=10)
        assert time.monotonic() - began < 5
        assert signals.take_reload()
