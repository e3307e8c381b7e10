"""Start-up benchmark: wall time of `notifier validate` against starting Python and importing.

    .venv/bin/python bench/startup.py [--runs 10]

Runs, alternating, each ``--runs`` times after one warm-up run (so the files are in the page
cache for both):

- ``.venv/bin/notifier validate`` in the repository, on the shipped config.toml and plan/
  (exit code 0, or 1 when the plan has problems: both are normal answers);
- the reference, ``.venv/bin/python -c "import notifier"``: the interpreter starting and
  importing the (empty) package, the least any notifier command can cost.

Prints the median and the spread of each and the ratio of the medians, then, from one run
with ``python -X importtime``, how long `notifier validate` spends importing: the packages
that cost most as a whole, and the modules whose own import-time work is largest.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PYTHON = str(BIN / "python")
NOTIFIER = str(BIN / "notifier")
ACCEPTED = (0, 1)  # validate: 0 valid, 1 problems found


def wall(command: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
    )
    seconds = time.perf_counter() - start
    if done.returncode not in ACCEPTED:
        stderr = done.stderr.decode(errors="replace")
        raise RuntimeError(f"{' '.join(command)} exited with {done.returncode}:\n{stderr}")
    return seconds


@dataclass(frozen=True)
class Imported:
    name: str
    depth: int
    own: float  # seconds spent in the module itself
    cumulative: float  # with everything it imported first


def imports_of_validate() -> list[Imported]:
    """Every module `notifier validate` imports, from one run with ``-X importtime``."""
    script = "import sys; from notifier.cli import main; sys.exit(main(['validate']))"
    done = subprocess.run(
        [PYTHON, "-X", "importtime", "-c", script],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    modules = []
    for line in done.stderr.splitlines():
        # "import time: self [us] | cumulative | imported package", nesting as indentation.
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        own, cumulative, name = line.removeprefix("import time:").split("|")
        depth = (len(name) - len(name.lstrip()) - 1) // 2
        modules.append(Imported(name.strip(), depth, int(own) / 1e6, int(cumulative) / 1e6))
    return modules


def print_imports(modules: list[Imported], count: int) -> None:
    cli = next((m for m in modules if m.name == "notifier.cli"), None)
    if cli is not None:
        print(f"\nImporting notifier.cli (every command's modules): {cli.cumulative * 1000:.1f} ms")
    # Own times summed per top-level package: adds up to the whole import, no double counting.
    per_package: dict[str, float] = {}
    for module in modules:
        root = module.name.split(".")[0]
        per_package[root] = per_package.get(root, 0.0) + module.own
    print(f"  {'package (own times of its modules)':<34} {'ms':>7}")
    for name, seconds in sorted(per_package.items(), key=lambda i: i[1], reverse=True)[:count]:
        print(f"  {name:<34} {seconds * 1000:7.1f}")
    # Single modules; module-level work (regexes compiled at import) shows here.
    print(f"  {'module (own time)':<34} {'ms':>7}")
    for module in sorted(modules, key=lambda m: m.own, reverse=True)[:count]:
        print(f"  {module.name:<34} {module.own * 1000:7.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    commands = {
        "notifier validate": [NOTIFIER, "validate"],
        'python -c "import notifier"': [PYTHON, "-c", "import notifier"],
    }
    times: dict[str, list[float]] = {label: [] for label in commands}
    for command in commands.values():
        wall(command)  # warm-up: page cache, .pyc files
    for _ in range(args.runs):
        for label, command in commands.items():
            times[label].append(wall(command))

    print(f"Wall time, {args.runs} runs each, alternating (ms)")
    print(f"  {'command':<30} {'median':>8} {'min':>8} {'max':>8}")
    for label, values in times.items():
        print(
            f"  {label:<30} {statistics.median(values) * 1000:8.1f} "
            f"{min(values) * 1000:8.1f} {max(values) * 1000:8.1f}"
        )
    ours, reference = (statistics.median(v) for v in times.values())
    print(f"  {'ratio validate / import':<30} {ours / reference:8.1f}")

    print_imports(imports_of_validate(), 8)


if __name__ == "__main__":
    main()
