"""Loaded by every Python process of a test run under libfaketime (see ../moments.py).

libfaketime 0.9.10 (Debian bookworm) shifts the absolute CLOCK_MONOTONIC deadline that
Python's ``time.sleep`` passes to ``clock_nanosleep`` even when it is told not to fake the
monotonic clock, so every sleep fails with EINVAL. A relative wait on ``select`` is not
affected; it stands in for ``time.sleep`` in these runs only. Nothing else is changed.
"""

import os
import select
import time

if os.environ.get("FAKETIME") and os.environ.get("FAKETIME_DONT_FAKE_MONOTONIC") == "1":

    def _sleep(seconds: float) -> None:
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            select.select([], [], [], left)

    time.sleep = _sleep
