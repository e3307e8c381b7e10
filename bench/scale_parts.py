"""bench/scale.py's wake-ups and its ``notifier validate`` timing (see its docstring)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from notifier.catalog import load_catalog
from notifier.due import Skip
from notifier.ledger import SqliteLedger
from notifier.mail import SendResult
from notifier.model import PlannedMilestone, Recipient
from notifier.sender import planned_messages, send_due_once
from notifier.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
# The wake-ups: see bench/scale.py's docstring.
WAKE_AT = datetime(2024, 10, 15, 10, 0, tzinfo=ZoneInfo("Europe/Stockholm"))
# What ``notifier validate`` needs besides Python: pydantic(-settings) and python-dotenv for the
# configuration, Jinja2 to check the templates, Babel for Swedish month and day names,
# itsdangerous for the status links, tomli for the plan files.
VALIDATE_NEEDS = (
    "pydantic",
    "pydantic_settings",
    "dotenv",
    "jinja2",
    "babel.dates",
    "itsdangerous",
    "tomli",
)


# --- Wake-ups -----------------------------------------------------------------------------


class _Composer:
    """A minimal message of any kind: the wake-ups measured send nothing, and one that does
    is timed for its decision, not for rendering templates."""

    def message(
        self,
        kind: str,
        context: Any,
        recipient: Recipient,
        *,
        key: str,
        now: datetime,
        settings: Settings,
        calendar: PlannedMilestone | None = None,
    ) -> EmailMessage:
        message = EmailMessage()
        message["Subject"] = f"{kind} {key}"
        message.set_content(kind)
        return message


class _Mailer:
    def send(self, message: EmailMessage, recipients: list[str]) -> list[SendResult]:
        return [SendResult(address, True, False, 250, None) for address in recipients]

    def close(self) -> None:
        """Nothing to release."""


def measure_wakes(folder: Path, ledger_path: Path, count: int) -> dict[str, Any]:
    """The daemon's wake-ups on the synthetic plan; see the module docstring."""
    settings = Settings()
    catalog = load_catalog(folder)
    figures: dict[str, Any] = {}
    with SqliteLedger(ledger_path) as ledger:
        # As a daemon running all along leaves the ledger: every earlier message recorded.
        ledger.record_due_dates({m.key: m.milestone.due for m in catalog.milestones}, WAKE_AT)
        earlier = [
            Skip(item, recipient, "sent before the measured wake-ups")
            for item in planned_messages(catalog, settings, {}, WAKE_AT)
            if item.send_at < WAKE_AT
            for recipient in item.recipients
        ]
        ledger.mark_skipped(earlier, WAKE_AT)
        figures["ledger_rows"] = len(earlier)

        def wake(moment: datetime) -> float:
            start = time.perf_counter()
            report = send_due_once(moment, catalog, settings, ledger, _Mailer(), _Composer())
            seconds = time.perf_counter() - start
            if report.sent or report.failed:
                raise RuntimeError(f"a measured wake-up sent {len(report.sent)} message(s)")
            figures["next_wake"] = report.next_wake.isoformat() if report.next_wake else None
            return seconds

        # The first step after the start lists the plan's messages and reads the whole ledger.
        figures["first_wake"] = wake(WAKE_AT)
        # Then the daemon's rhythm: a sweep every 15 minutes, a status look now and then.
        times = [wake(WAKE_AT + timedelta(minutes=3 + 7 * n)) for n in range(count)]
    figures["wakes"] = times
    figures["wake"] = statistics.median(times)
    return figures


# --- notifier validate --------------------------------------------------------------------


def _wall(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one run of ``command``."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as errors:
        child = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=errors, cwd=ROOT, env=env
        )
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) not in (0, 1):
            errors.seek(0)
            raise RuntimeError(f"{' '.join(command)} failed:\n{errors.read().decode()[-2000:]}")
    return seconds, usage.ru_utime + usage.ru_stime


_IMPORTED = """
import io, sys
from notifier.cli import main
main(["--config", sys.argv[1], "validate"], stdout=io.StringIO())
names = {m.split(".")[0] for m in sys.modules}
print(" ".join(sorted(n for n in names if n not in sys.stdlib_module_names)))
"""


# Reading any "När?" needs Swedish month names, which Babel loads from its CLDR data on first
# use (a quarter of a megabyte of pickles): the same cost for any program that reads a Swedish
# month name through Babel, so the reference pays it too.
SWEDISH = "; babel.dates.get_month_names('wide', locale='sv')"


def measure_validate(runs: int) -> dict[str, Any]:
    config = str(ROOT / "config.toml")
    validate = [PYTHON, "-m", "notifier", "--config", config, "validate"]
    # The reference exits as the notifier command does, sparing the interpreter's last
    # collection (``cli.command_line``): otherwise a third of its time would be that exit,
    # which notifier skips, and the ratio would flatter notifier. The plain import is shown.
    plain = [PYTHON, "-c", "import " + ", ".join(VALIDATE_NEEDS)]
    needs = [
        PYTHON,
        "-c",
        "import " + ", ".join(VALIDATE_NEEDS) + SWEDISH + "; import gc; gc.freeze()",
    ]
    bare = [PYTHON, "-c", "pass"]
    # Warm the page cache and the .pyc files. An installed package has its .pyc files (pip
    # compiles them); a checkout gets them on its first run, unless the environment says not
    # to write them (PYTHONDONTWRITEBYTECODE), which would leave notifier's modules compiled
    # from source on every run while its dependencies load from site-packages' .pyc files.
    writes_bytecode = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for command in (validate, needs):
        _wall(command, env=writes_bytecode)
    commands = {"validate": validate, "needs": needs, "plain": plain, "bare": bare}
    times: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            wall, used = _wall(command)
            times[name].append(wall)
            cpu[name].append(used)
    done = subprocess.run(
        [PYTHON, "-c", _IMPORTED, config], capture_output=True, text=True, check=True, cwd=ROOT
    )
    allowed = {name.split(".")[0] for name in VALIDATE_NEEDS}
    # What the needed packages bring along themselves is theirs, not an extra of validate's.
    along = subprocess.run(
        [PYTHON, "-c", f"import sys, {', '.join(VALIDATE_NEEDS)}; print(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    allowed |= {name.split(".")[0] for name in along}
    extra = [
        name
        for name in done.stdout.split()
        if name not in allowed and not name.startswith(("_", "notifier"))
    ]
    # And the reference holds nothing validate does without: that would flatter the ratio.
    imported = set(done.stdout.split())
    unused = [name for name in VALIDATE_NEEDS if name.split(".")[0] not in imported]
    return {
        "unused": unused,
        "validate": statistics.median(times["validate"]),
        "needs": statistics.median(times["needs"]),
        "plain": statistics.median(times["plain"]),
        "bare": statistics.median(times["bare"]),
        "cpu_validate": statistics.median(cpu["validate"]),
        "cpu_needs": statistics.median(cpu["needs"]),
        "runs": runs,
        "extra": extra,
    }
