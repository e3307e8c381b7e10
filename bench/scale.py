"""Scale benchmark: a plan 1,000 times the seed's, against the targets of a daemon's life.

    .venv/bin/python bench/scale.py [--idle-seconds 60] [--wakes 7] [--validate-runs 15]

Targets (the 1,000x plan: bench/synthetic.py, 9,000 actions, 11,000 milestones):

- start under 2 s: load the catalog, schedule (list every reminder and due notice the plan
  implies, as the daemon's first wake-up does, ``planner.plan_index``), build every feed the
  first time (``feed.refresh``): the median of ``--starts`` fresh processes, each timing only
  that, since one run on a shared machine can be a third slower than the next;
- a wake-up under 0.2 s: the median of several ``sender.send_due_once`` steps, as the daemon
  calls them, on a SQLite ledger in a temporary folder, at 2024-10-15 10:00 (a Tuesday after
  the morning's messages: most milestones of the year are due or overdue, with escalations
  running, many reminders are still ahead) with the ledger holding every earlier message
  (recorded as skipped, as bench/send.py does); the first step after the start reads the
  whole ledger and is shown on its own;
- ``notifier validate`` on the seed plan (plan/, config.toml) within 1.5x the import time of
  its own dependencies: the median wall time of fresh ``python -m notifier --config
  config.toml validate`` runs against the median of fresh ``python -c "import ..."`` runs of
  the third-party packages validate needs (``scale_parts.VALIDATE_NEEDS``: configuration, templates,
  Swedish dates, links, plan files), alternating, in the same run. The reference also loads
  Babel's Swedish locale data, which any reading of a Swedish month name through Babel needs,
  and exits as the notifier command does, its objects frozen out of the interpreter's last
  collection (``cli.command_line``), so that the ratio is notifier's own modules and work, not
  the exits'. The same imports with Python's usual exit are shown beside it. A package
  validate imports beyond that list is named: it would be a cost the reference does not carry.

The parts, in order:

1. For the seed plan (plan/) and the synthetic plan, each in a fresh child process so that
   one size's memory does not show in the other's figures:
   - load: ``load_catalog`` (TOML, validation, reading every "När?", organisations), and,
     timed on their own, its two main parts: parsing and validating the files, and reading
     the "När?" texts;
   - schedule: the plan index the daemon builds once per plan (every reminder and due
     notice), and for reference every message of the plan's year listed from scratch;
   - feeds: building every feed the first time;
   - memory: the tracemalloc peak (a second, traced pass of the same work) and the process's
     maximum RSS (``resource.getrusage``), read after the imports, after load + schedule, and
     after the feeds.
   The reference is Python's tomllib parsing the same files, in the same process: the load
   time is also shown as a multiple of it. The last column is synthetic ÷ seed.
   Then the start of the synthetic plan alone, in ``--starts`` more fresh processes: the
   target is read on their median.
2. Wake-ups of the synthetic plan, in a child process (see above).
3. ``notifier validate`` against its dependencies' import time (see above).
4. The daemon at rest: the real ``notifier run`` on a temporary copy of plan/, templates/ and
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
import statistics
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

from bench.scale_parts import (  # noqa: E402
    VALIDATE_NEEDS,
    WAKE_AT,
    measure_validate,
    measure_wakes,
)
from bench.synthetic import COPIES, synthetic_plan  # noqa: E402
from notifier.catalog import Catalog, load_catalog  # noqa: E402
from notifier.directory import load_directory  # noqa: E402
from notifier.feed import History, refresh  # noqa: E402
from notifier.kinds import KINDS  # noqa: E402
from notifier.kinds.digest import digests  # noqa: E402
from notifier.kinds.due import due_notices  # noqa: E402
from notifier.kinds.reminder import reminders  # noqa: E402
from notifier.plan import DIRECTORY_FILE, load_plan, plan_paths  # noqa: E402
from notifier.planner import plan_index  # noqa: E402
from notifier.settings import Settings  # noqa: E402
from notifier.when import read_when  # noqa: E402

# The feeds are built at a moment inside the seed plan's year, as in bench/feed.py.
NOW = datetime(2024, 5, 6, 12, 0, tzinfo=UTC)
YEAR_START = datetime(2024, 1, 1, tzinfo=UTC)
YEAR_END = datetime(2025, 1, 1, tzinfo=UTC)
TARGET_SECONDS = 2.0
TARGET_MB = 300.0
TARGET_WAKE = 0.2
TARGET_VALIDATE = 1.5
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
    """Every message of the year the plan implies, from scratch: reminders, due notices,
    weekly digests."""
    return (
        len(reminders(catalog, settings))
        + len(due_notices(catalog, settings))
        + len(digests(settings, YEAR_START, YEAR_END))
    )


def schedule_once(catalog: Catalog, settings: Settings) -> int:
    """What the daemon lists once per plan (its first wake-up): every reminder and due notice."""
    index = plan_index(catalog, settings, KINDS)
    return sum(len(items) for items in index.by_kind.values())


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
    figures["messages_plan"], figures["schedule"] = timed(lambda: schedule_once(catalog, settings))
    figures["rss_scheduled"] = max_rss_mb()
    result, figures["feeds"] = timed(lambda: refresh(catalog, settings, History(), NOW))
    figures["feed_count"] = len(result.feeds)
    figures["rss_feeds"] = max_rss_mb()
    del result
    figures["start"] = figures["load"] + figures["schedule"] + figures["feeds"]
    figures["messages_year"], figures["schedule_year"] = timed(
        lambda: schedule_year(catalog, settings)
    )

    # load_catalog's parts, each on its own, after the RSS readings so as not to add to them.
    # Readings are memoised by text: the reading pass is timed cold, as load_catalog ran it.
    read_when.cache_clear()

    def parse_files() -> list[Any]:
        directory = load_directory(folder / DIRECTORY_FILE)
        return [directory, *(load_plan(path) for path in plan_paths(folder))]

    _, figures["parse"] = timed(parse_files)
    read_when.cache_clear()
    texts = [(action.when, plan.year) for plan in catalog.plans for action in plan.actions]
    _, figures["read"] = timed(lambda: [read_when(text, year) for text, year in texts])
    del catalog
    gc.collect()

    # The traced pass: same work again; tracemalloc slows it, so it is not timed.
    read_when.cache_clear()
    tracemalloc.start()
    catalog = load_catalog(folder)
    schedule_once(catalog, settings)
    figures["traced_scheduled"] = tracemalloc.get_traced_memory()[1] / 2**20
    refresh(catalog, settings, History(), NOW)
    figures["traced_feeds"] = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return figures


# --- Children and printing ----------------------------------------------------------------


def measure_start(folder: Path) -> dict[str, Any]:
    """The start alone, as the daemon's: load, schedule, first feed build."""
    settings = Settings()
    catalog, load = timed(lambda: load_catalog(folder))
    _, schedule = timed(lambda: schedule_once(catalog, settings))
    _, feeds = timed(lambda: refresh(catalog, settings, History(), NOW))
    return {"start": load + schedule + feeds, "load": load, "schedule": schedule, "feeds": feeds}


def child(size: str, count: int) -> None:
    """Entry point of the child process: print one JSON object."""
    # Before writing the synthetic plan, whose text would otherwise count as "imports".
    rss_imports = max_rss_mb()
    if size == "start":
        with tempfile.TemporaryDirectory() as tmp:
            figures = measure_start(synthetic_plan(Path(tmp) / "plan"))
    elif size == "seed":
        figures = measure(ROOT / "plan", rss_imports)
    elif size == "wakes":
        with tempfile.TemporaryDirectory() as tmp:
            folder = synthetic_plan(Path(tmp) / "plan")
            figures = measure_wakes(folder, Path(tmp) / "state" / "ledger.sqlite3", count)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            figures = measure(synthetic_plan(Path(tmp) / "plan"), rss_imports)
    json.dump(figures, sys.stdout)


def run_child(size: str, count: int = 0) -> dict[str, Any]:
    done = subprocess.run(
        [PYTHON, __file__, "--child", size, "--wakes", str(count)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the {size} child failed:\n{done.stderr}")
    return dict(json.loads(done.stdout))


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


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
        "reminders and due notices of the plan",
        str(seed["messages_plan"]),
        str(large["messages_plan"]),
    )
    row("reference: tomllib parse of the same files", "toml")
    row("load (load_catalog)", "load")
    row("  of it, alone: parse + validate files", "parse")
    row("  of it, alone: read every 'När?'", "read")
    for figures in (seed, large):
        figures["load_x"] = figures["load"] / figures["toml"]
    text_row("load ÷ tomllib parse (ratio)", f"{seed['load_x']:.1f}x", f"{large['load_x']:.1f}x")
    row("schedule: the plan's messages, once per plan", "schedule")
    row(f"build all feeds, first time ({large['feed_count']} feeds)", "feeds")
    row("start: load + schedule + feeds", "start")
    row("for reference: the year's messages from scratch", "schedule_year")
    row("tracemalloc peak, load + schedule", "traced_scheduled", "MB", 1.0)
    row("tracemalloc peak, and the feeds", "traced_feeds", "MB", 1.0)
    row("max RSS after the imports", "rss_imports", "MB", 1.0)
    row("max RSS after load + schedule", "rss_scheduled", "MB", 1.0)
    row("max RSS after the feeds too", "rss_feeds", "MB", 1.0)


def print_starts(starts: list[dict[str, Any]], large: dict[str, Any]) -> None:
    def seconds(key: str) -> str:
        return ", ".join(f"{figures[key]:.2f}" for figures in starts)

    print(f"\nThe {COPIES:,}x plan started in {len(starts)} more fresh processes, s")
    for key, label in (("load", "load"), ("schedule", "schedule"), ("feeds", "feeds")):
        print(f"  {label:<10} {seconds(key)}")
    print(f"  {'start':<10} {seconds('start')}")
    median, megabytes = statistics.median(f["start"] for f in starts), large["rss_feeds"]
    met = median < TARGET_SECONDS and megabytes < TARGET_MB
    print(
        f"\n  Target, {COPIES:,}x plan started (load + schedule + first feed build): median "
        f"{median:.2f} s (< {TARGET_SECONDS:g} s), max RSS {megabytes:.0f} MB "
        f"(< {TARGET_MB:g} MB): {verdict(met)}"
    )


def print_wakes(wakes: dict[str, Any]) -> None:
    times = ", ".join(f"{t * 1000:.0f}" for t in wakes["wakes"])
    print(
        f"\nWake-ups of the {COPIES:,}x plan at {WAKE_AT:%Y-%m-%d %H:%M %Z}, the ledger holding "
        f"{wakes['ledger_rows']:,} earlier messages (SQLite, temporary folder)"
    )
    print(f"  first step after the start (reads the whole ledger): {wakes['first_wake']:.2f} s")
    print(f"  the next {len(wakes['wakes'])} steps, ms: {times}")
    print(f"  (nothing to send; the next message is due {wakes['next_wake']})")
    print(
        f"  Target, a wake-up: median {wakes['wake'] * 1000:.0f} ms "
        f"(< {TARGET_WAKE * 1000:.0f} ms): {verdict(wakes['wake'] < TARGET_WAKE)}"
    )


def print_validate(figures: dict[str, Any]) -> None:
    limit = TARGET_VALIDATE * figures["needs"]
    print(
        f"\nnotifier validate on the seed plan, median of {figures['runs']} fresh runs each, "
        "alternating"
    )
    print(f"  bare interpreter (python -c pass): {figures['bare']:.3f} s")
    print(
        f"  reference, importing what validate needs ({', '.join(VALIDATE_NEEDS)}) and "
        f"loading Babel's Swedish locale data, exiting as notifier does: {figures['needs']:.3f} s"
    )
    print(f"  (the same imports with Python's usual exit: {figures['plain']:.3f} s)")
    print(
        f"  notifier validate: {figures['validate']:.3f} s "
        f"({figures['validate'] / figures['needs']:.2f}x the reference)"
    )
    print(
        f"  CPU time (user + system), medians: validate {figures['cpu_validate']:.3f} s, "
        f"reference {figures['cpu_needs']:.3f} s "
        f"({figures['cpu_validate'] / figures['cpu_needs']:.2f}x)"
    )
    if figures["extra"]:
        print(f"  imported beyond the reference: {', '.join(figures['extra'])}")
    if figures["unused"]:
        print(f"  in the reference but not imported by validate: {', '.join(figures['unused'])}")
    print(
        f"  Target, validate within {TARGET_VALIDATE:g}x its dependencies' import time: "
        f"{figures['validate']:.2f} s (< {limit:.2f} s): {verdict(figures['validate'] < limit)}"
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
    parser.add_argument("--wakes", type=int, default=7, help="wake-ups measured after the first")
    parser.add_argument("--validate-runs", type=int, default=15, help="runs of each, validate")
    parser.add_argument(
        "--starts", type=int, default=5, help="fresh processes timing the start alone"
    )
    parser.add_argument(
        "--child", choices=("seed", "synthetic", "wakes", "start"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        child(args.child, args.wakes)
        return
    started = time.perf_counter()
    print("Load, schedule and feeds, each plan in a fresh process")
    seed = run_child("seed")
    large = run_child("synthetic")
    print_sizes(seed, large)
    print_starts([run_child("start") for _ in range(args.starts)], large)
    print_wakes(run_child("wakes", args.wakes))
    print_validate(measure_validate(args.validate_runs))
    bench_daemon(args.idle_seconds, args.settle_seconds)
    print(f"\nTotal {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
