"""Scale benchmark: time and memory of loading, scheduling and feeds; the idle daemon.

    .venv/bin/python bench/scale.py [--idle-seconds 60]

1. For the seed plan (plan/) and the synthetic plan 1,000 times its size (bench/synthetic.py:
   9,000 actions), each in a fresh child process so that one size's memory does not show in
   the other's figures:
   - load: ``load_catalog`` (TOML, validation, reading every "När?", organisations), and,
     timed on their own, its two main parts: parsing and validating the files, and reading
     the "När?" texts;
   - schedule: every reminder, due notice and weekly digest of the plan's year, and one
     daemon wake-up (every message the plan implies, through the catch-up rule);
   - feeds: building every feed the first time;
   - memory: the tracemalloc peak (a second, traced pass of the same work) and the process's
     maximum RSS (``resource.getrusage``), read after the imports, after load + schedule, and
     after the feeds.
   The reference is Python's tomllib parsing the same files, in the same process: the load
   time is also shown as a multiple of it. The last column is synthetic ÷ seed.
   Target: the 1,000x plan loaded and scheduled in under 2 s, with under 300 MB.
2. The daemon at rest: the real ``notifier run`` on a temporary copy of plan/, templates/ and
   config.toml (own port, ledger and outbox inside the copy). Once it answers /healthz and a
   few seconds have passed for its first send step (``--settle-seconds``), its CPU time
   (/proc/<pid>/stat utime + stime) and VmRSS are sampled every second for ``--idle-seconds``,
   next to a bare sleeping Python interpreter as the reference; then it gets SIGTERM and
   must exit cleanly.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.synthetic import COPIES, synthetic_plan  # noqa: E402
from notifier.catalog import Catalog, load_catalog  # noqa: E402
from notifier.directory import load_directory  # noqa: E402
from notifier.due import due_items  # noqa: E402
from notifier.feed import History, refresh  # noqa: E402
from notifier.kinds.digest import digests  # noqa: E402
from notifier.kinds.due import due_notices  # noqa: E402
from notifier.kinds.reminder import reminders  # noqa: E402
from notifier.plan import DIRECTORY_FILE, load_plan, plan_paths  # noqa: E402
from notifier.sender import planned_messages  # noqa: E402
from notifier.settings import Settings  # noqa: E402
from notifier.when import read_when  # noqa: E402

# A wake-up inside the seed plan's year, as in bench/feed.py.
NOW = datetime(2024, 5, 6, 12, 0, tzinfo=UTC)
YEAR_START = datetime(2024, 1, 1, tzinfo=UTC)
YEAR_END = datetime(2025, 1, 1, tzinfo=UTC)
TARGET_SECONDS = 2.0
TARGET_MB = 300.0
PYTHON = sys.executable


# --- One size, in a child process ---------------------------------------------------------


def max_rss_mb() -> float:
    # Linux reports ru_maxrss in kilobytes.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(work: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = work()
    return result, time.perf_counter() - start


def schedule_year(catalog: Catalog, settings: Settings) -> int:
    """Every message of the year the plan implies: reminders, due notices, weekly digests."""
    return (
        len(reminders(catalog, settings))
        + len(due_notices(catalog, settings))
        + len(digests(settings, YEAR_START, YEAR_END))
    )


def one_wake(catalog: Catalog, settings: Settings) -> int:
    """What the daemon computes at each wake-up, with an empty ledger."""
    items = planned_messages(catalog, settings, {}, NOW)
    plan = due_items(items, {}, NOW)
    return len(items) + len(plan.send) + len(plan.skip)


def measure(folder: Path, rss_imports: float) -> dict[str, Any]:
    """All figures for one plan folder; run in a process of its own."""
    settings = Settings()
    figures: dict[str, Any] = {"rss_imports": rss_imports}
    paths = [folder / DIRECTORY_FILE, *plan_paths(folder)]
    raw = [path.read_bytes() for path in paths]

    # The reference: the TOML parser alone, on bytes already read (as load_catalog's files
    # are warm in the page cache too).
    def parse_toml() -> None:
        for data in raw:
            tomllib.loads(data.decode("utf-8"))

    _, figures["toml"] = timed(parse_toml)

    # The measured pass, untraced: its times and the process's RSS are the real ones.
    catalog, figures["load"] = timed(lambda: load_catalog(folder))
    assert isinstance(catalog, Catalog)
    figures["actions"] = sum(len(plan.actions) for plan in catalog.plans)
    figures["milestones"] = len(catalog.milestones)
    # The first call pays one-off set-ups (the holiday calendar); the second shows the rest.
    figures["messages_year"], figures["schedule"] = timed(lambda: schedule_year(catalog, settings))
    _, figures["schedule_again"] = timed(lambda: schedule_year(catalog, settings))
    _, figures["wake"] = timed(lambda: one_wake(catalog, settings))
    figures["rss_scheduled"] = max_rss_mb()
    result, figures["feeds"] = timed(lambda: refresh(catalog, settings, History(), NOW))
    figures["feed_count"] = len(result.feeds)
    figures["rss_feeds"] = max_rss_mb()
    del result

    # load_catalog's parts, each on its own, after the RSS readings so as not to add to them.
    def parse_files() -> list[Any]:
        directory = load_directory(folder / DIRECTORY_FILE)
        return [directory, *(load_plan(path) for path in plan_paths(folder))]

    _, figures["parse"] = timed(parse_files)
    texts = [(action.when, plan.year) for plan in catalog.plans for action in plan.actions]
    _, figures["read"] = timed(lambda: [read_when(text, year) for text, year in texts])
    del catalog
    gc.collect()

    # The traced pass: same work again; tracemalloc slows it, so it is not timed.
    tracemalloc.start()
    catalog = load_catalog(folder)
    schedule_year(catalog, settings)
    one_wake(catalog, settings)
    figures["traced_scheduled"] = tracemalloc.get_traced_memory()[1] / 2**20
    refresh(catalog, settings, History(), NOW)
    figures["traced_feeds"] = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return figures


def child(size: str) -> None:
    """Entry point of the child process: print one JSON object."""
    # Before writing the synthetic plan, whose text would otherwise count as "imports".
    rss_imports = max_rss_mb()
    if size == "seed":
        figures = measure(ROOT / "plan", rss_imports)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            figures = measure(synthetic_plan(Path(tmp) / "plan"), rss_imports)
    json.dump(figures, sys.stdout)


def run_child(size: str) -> dict[str, Any]:
    done = subprocess.run(
        [PYTHON, __file__, "--child", size], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"the {size} child failed:\n{done.stderr}")
    return dict(json.loads(done.stdout))


def print_sizes(seed: dict[str, Any], large: dict[str, Any]) -> None:
    def row(label: str, key: str, unit: str = "ms", scale: float = 1000.0) -> None:
        a, b = seed[key] * scale, large[key] * scale
        ratio = "" if not a else f"{b / a:9.1f}x" if b / a < 10 else f"{b / a:9.0f}x"
        print(f"  {label:<46} {a:10.2f} {unit:<3}{b:11.1f} {unit:<3}{ratio}")

    def text_row(label: str, a: str, b: str, c: str = "") -> None:
        # Right-aligned with the numbers of ``row``; units and ratio columns left blank.
        print(f"  {label:<46} {a:>10}    {b:>11}    {c:>10}")

    print()
    text_row("", "seed plan", f"{COPIES:,}x plan", "1,000x/seed")
    text_row(
        "actions / milestones",
        f"{seed['actions']} / {seed['milestones']}",
        f"{large['actions']} / {large['milestones']}",
    )
    text_row(
        "messages in the year (reminders, due, digests)",
        str(seed["messages_year"]),
        str(large["messages_year"]),
    )
    row("reference: tomllib parse of the same files", "toml")
    row("load (load_catalog)", "load")
    row("  of it, alone: parse + validate files", "parse")
    row("  of it, alone: read every 'När?'", "read")
    for figures in (seed, large):
        figures["load_x"] = figures["load"] / figures["toml"]
    text_row("load ÷ tomllib parse (ratio)", f"{seed['load_x']:.1f}x", f"{large['load_x']:.1f}x")
    row("schedule the year (first call)", "schedule")
    row("schedule the year, again", "schedule_again")
    row("one daemon wake (messages + catch-up rule)", "wake")
    for figures in (seed, large):
        figures["loaded_scheduled"] = figures["load"] + figures["schedule"]
        figures["with_wake"] = figures["loaded_scheduled"] + figures["wake"]
    row("load + schedule the year", "loaded_scheduled")
    row("load + schedule the year + one wake", "with_wake")
    row(f"build all feeds, first time ({large['feed_count']} feeds)", "feeds")
    row("tracemalloc peak, load + schedule + wake", "traced_scheduled", "MB", 1.0)
    row("tracemalloc peak, and the feeds", "traced_feeds", "MB", 1.0)
    row("max RSS after the imports", "rss_imports", "MB", 1.0)
    row("max RSS after load + schedule + wake", "rss_scheduled", "MB", 1.0)
    row("max RSS after the feeds too", "rss_feeds", "MB", 1.0)

    seconds, megabytes = large["loaded_scheduled"], large["rss_scheduled"]
    verdict = "met" if seconds < TARGET_SECONDS and megabytes < TARGET_MB else "missed"
    print(
        f"\n  Target, {COPIES:,}x plan loaded and scheduled: {seconds:.2f} s "
        f"(< {TARGET_SECONDS:g} s), max RSS {megabytes:.0f} MB (< {TARGET_MB:g} MB): {verdict}"
    )
    print(
        f"  Adding one daemon wake-up: {large['with_wake']:.2f} s; and the first feed build "
        f"(as at the daemon's start): {large['with_wake'] + large['feeds']:.2f} s, "
        f"max RSS {large['rss_feeds']:.0f} MB"
    )


# --- The daemon at rest -------------------------------------------------------------------


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process; the command name may hold spaces, so split after ')'."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    # Fields 14 and 15 of proc(5); after the name, the first field is number 3.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mb(pid: int) -> float:
    match = re.search(r"^VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    if match is None:
        raise RuntimeError(f"no VmRSS for process {pid}")
    return int(match.group(1)) / 1024


def healthy(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            connection.request("GET", "/healthz")
            return connection.getresponse().status == 200
        finally:
            connection.close()
    except OSError:
        return False


def daemon_folder(tmp: Path, port: int) -> Path:
    """plan/, templates/ and config.toml copied, the server moved to ``port``.

    Relative paths in config.toml are relative to its folder, so the ledger and the outbox
    (state/…) land inside the copy too.
    """
    shutil.copytree(ROOT / "plan", tmp / "plan")
    shutil.copytree(ROOT / "templates", tmp / "templates")
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    text, servers = re.subn(r"(?m)^port = 8080$", f"port = {port}", text)
    text = re.sub(r'(?m)^base_url = ".*"$', f'base_url = "http://127.0.0.1:{port}"', text)
    if servers != 1:
        raise RuntimeError("config.toml: cannot find the [server] port to change")
    config = tmp / "config.toml"
    config.write_text(text, encoding="utf-8")
    return config


@dataclass
class Usage:
    cpu_seconds: float
    cpu_percent: float
    rss_first: float
    rss_last: float
    rss_max: float


def sample(pids: dict[str, int], seconds: float) -> dict[str, Usage]:
    """CPU share and RSS of each process over the same ``seconds``, sampled every second."""
    rss: dict[str, list[float]] = {name: [rss_mb(pid)] for name, pid in pids.items()}
    cpu = {name: cpu_seconds(pid) for name, pid in pids.items()}
    wall_start = time.monotonic()
    while (left := seconds - (time.monotonic() - wall_start)) > 0:
        time.sleep(min(1.0, left))
        for name, pid in pids.items():
            rss[name].append(rss_mb(pid))
    wall = time.monotonic() - wall_start
    return {
        name: Usage(
            cpu_seconds(pid) - cpu[name],
            100 * (cpu_seconds(pid) - cpu[name]) / wall,
            rss[name][0],
            rss[name][-1],
            max(rss[name]),
        )
        for name, pid in pids.items()
    }


def bench_daemon(idle_seconds: float, settle_seconds: float) -> None:
    print(
        f"\nThe daemon at rest (seed plan): {idle_seconds:g} s sampled every second, "
        f"from {settle_seconds:g} s after its first /healthz answer"
    )
    # A clean environment: no NOTIFIER_* override from the caller's shell reaches the daemon.
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFIER_")}
    env.pop("JOURNAL_STREAM", None)
    env.pop("NOTIFY_SOCKET", None)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        port = free_port()
        config = daemon_folder(tmp, port)
        log = (tmp / "daemon.log").open("wb")
        command = [PYTHON, "-m", "notifier", "--config", str(config), "run"]
        started = time.monotonic()
        daemon = subprocess.Popen(command, cwd=tmp, env=env, stdout=log, stderr=log)
        bare = subprocess.Popen([PYTHON, "-c", "import time; time.sleep(3600)"], env=env)
        try:
            while not healthy(port):
                if daemon.poll() is not None or time.monotonic() - started > 60:
                    log.flush()
                    tail = (tmp / "daemon.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"the daemon did not answer /healthz:\n{tail}")
                time.sleep(0.05)
            ready = time.monotonic() - started
            cpu_at_ready = cpu_seconds(daemon.pid)
            # Right after "ready" the daemon runs its first send step (catch-up, digest):
            # start-up work, not rest, so the window opens a little later.
            time.sleep(settle_seconds)
            cpu_at_start = cpu_seconds(daemon.pid)
            usage = sample({"daemon": daemon.pid, "bare": bare.pid}, idle_seconds)
            stop_start = time.monotonic()
            daemon.send_signal(signal.SIGTERM)
            code = daemon.wait(30)
            stopped = time.monotonic() - stop_start
        finally:
            for process in (daemon, bare):
                if process.poll() is None:
                    process.kill()
                    process.wait()
            log.close()
        errors = [
            line
            for line in (tmp / "daemon.log").read_text(errors="replace").splitlines()
            if " ERROR " in line or "Traceback" in line
        ]
    d, b = usage["daemon"], usage["bare"]
    print(f"  {'':<40} {'daemon':>10} {'bare python':>12} {'ratio':>7}")
    # /proc counts CPU time in clock ticks (usually 10 ms): short windows read as 0.
    print(f"  {'CPU seconds in the window':<40} {d.cpu_seconds:10.2f} {b.cpu_seconds:12.2f}")
    print(f"  {'CPU while idle, % of one core':<40} {d.cpu_percent:10.3f} {b.cpu_percent:12.3f}")
    print(
        f"  {'RSS at the start of the window, MB':<40} {d.rss_first:10.1f} {b.rss_first:12.1f} "
        f"{d.rss_first / b.rss_first:7.1f}"
    )
    print(
        f"  {'RSS at the end of the window, MB':<40} {d.rss_last:10.1f} {b.rss_last:12.1f} "
        f"{d.rss_last / b.rss_last:7.1f}"
    )
    print(
        f"  {'RSS, highest sample, MB':<40} {d.rss_max:10.1f} {b.rss_max:12.1f} "
        f"{d.rss_max / b.rss_max:7.1f}"
    )
    print(
        f"  Start to first /healthz answer: {ready:.2f} s, using {cpu_at_ready:.2f} s of CPU; "
        f"{cpu_at_start:.2f} s of CPU when the window opened"
    )
    print(f"  SIGTERM to exit: {stopped:.2f} s, exit code {code}")
    if code != 0:
        raise RuntimeError(f"the daemon exited with {code} on SIGTERM")
    for line in errors[:5]:
        print(f"  daemon log: {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idle-seconds", type=float, default=60.0, help="sampling window")
    parser.add_argument(
        "--settle-seconds",
        type=float,
        default=5.0,
        help="wait after the first /healthz answer, for the first send step to finish",
    )
    parser.add_argument("--child", choices=("seed", "synthetic"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    started = time.perf_counter()
    print("Load, schedule and feeds, each plan in a fresh process")
    seed = run_child("seed")
    large = run_child("synthetic")
    print_sizes(seed, large)
    bench_daemon(args.idle_seconds, args.settle_seconds)
    print(f"\nTotal {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
