"""Run tests with the system clock set to moments where date logic tends to break.

Each moment is a wall-clock time in Europe/Stockholm. The tests run under libfaketime with the
clock shifted by a fixed offset (``FAKETIME="+N"``), so the parent, the daemons it starts and
every other child see the same time, and the time keeps running from the moment on: a run
that starts at 07:59 on a Monday crosses 08:00 while it runs, as a real one would.

Usage: python .ci/moments.py [--only NAME] [--jobs N] [pytest args...]   (default: the
clock-sensitive tests, two moments at a time)
Exit status: 0 when every moment passed; otherwise 1, after naming each moment that failed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

STOCKHOLM = ZoneInfo("Europe/Stockholm")
_PRINTING = threading.Lock()

# name -> local wall-clock start
MOMENTS: dict[str, datetime] = {
    "Monday 07:59": datetime(2026, 12, 7, 7, 59, tzinfo=STOCKHOLM),
    "Monday 08:01": datetime(2026, 12, 7, 8, 1, tzinfo=STOCKHOLM),
    "spring DST night (01:58, clocks jump 02:00->03:00)": datetime(
        2027, 3, 28, 1, 58, tzinfo=STOCKHOLM
    ),
    "autumn DST night (02:58 CEST, clocks fall 03:00->02:00)": datetime(
        2026, 10, 25, 2, 58, tzinfo=STOCKHOLM, fold=0
    ),
    "31 December 23:59": datetime(2026, 12, 31, 23, 59, tzinfo=STOCKHOLM),
    "29 February 08:01": datetime(2028, 2, 29, 8, 1, tzinfo=STOCKHOLM),
    "midsommarafton 08:01": datetime(2027, 6, 25, 8, 1, tzinfo=STOCKHOLM),
}

CLOCK_SENSITIVE = [
    "tests/process/test_daemon.py",
    "tests/process/test_faults.py",
    "tests/process/test_problem_notices.py",
    "tests/process/test_done_in_the_running_daemon.py",
    "tests/process/test_wakeups.py",
    "tests/core/test_schedule.py",
    "tests/edges/test_cli.py",
    "tests/edges/test_sender.py",
    "tests/edges/test_server.py",
]

LIBRARY_DIRS = (
    "/usr/lib/x86_64-linux-gnu/faketime",
    "/usr/lib/aarch64-linux-gnu/faketime",
    "/usr/lib/faketime",
)


def libfaketime() -> str:
    for folder in LIBRARY_DIRS:
        candidate = Path(folder) / "libfaketimeMT.so.1"
        if candidate.exists():
            return str(candidate)
    sys.exit("libfaketime not found: install Debian's 'faketime' (apt-get install faketime)")


def run_at(name: str, moment: datetime, pytest_args: list[str]) -> bool:
    offset = round(moment.timestamp() - time.time())
    env = dict(os.environ)
    env.update(
        LD_PRELOAD=libfaketime(),
        FAKETIME=f"{offset:+d}",
        # Timeouts and sleeps keep real time; only the calendar moves.
        FAKETIME_DONT_FAKE_MONOTONIC="1",
        PYTHONPATH=os.pathsep.join(
            filter(None, [str(Path(__file__).parent / "faketime"), os.environ.get("PYTHONPATH")])
        ),
    )
    started = time.monotonic()
    # Moments run side by side: each one's output is printed whole once it is over.
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *pytest_args],
        env=env,
        check=False,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    with _PRINTING:
        print(f"== at {name}: {moment.isoformat()} (offset {offset:+d} s)", flush=True)
        print(result.stdout, end="", flush=True)
        took = time.monotonic() - started
        print(f"== at {name}: exit {result.returncode} in {took:.0f} s", flush=True)
    return result.returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(MOMENTS), help="one moment only")
    parser.add_argument(
        "--jobs", type=int, default=2, help="moments run at once (default 2: the tests mostly wait)"
    )
    args, pytest_args = parser.parse_known_args()
    chosen = {args.only: MOMENTS[args.only]} if args.only else MOMENTS
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        passed = pool.map(
            lambda item: run_at(item[0], item[1], pytest_args or CLOCK_SENSITIVE), chosen.items()
        )
        failed = [name for name, ok in zip(chosen, passed, strict=True) if not ok]
    for name in failed:
        print(f"FAILED at moment: {name} ({chosen[name].isoformat()})", flush=True)
    if not failed:
        print(f"all {len(chosen)} moments passed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
