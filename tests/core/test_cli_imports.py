"""The command line imports only what the command being run needs: ``notifier validate`` on a
coordinator's laptop starts without the web server, the scheduler, iCalendar or the document
readers."""

from __future__ import annotations

import argparse
import gc
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from notifier.cli import COMMANDS, build_parser, command_named, main

ROOT = Path(__file__).resolve().parents[2]
HEAVY = (
    "icalendar",
    "granian",
    "apscheduler",
    "prometheus_client",
    "docx",
    "pdfplumber",
    "openpyxl",
    "tomli_w",
    "notifier.daemon",
    "notifier.feed",
    "notifier.importer",
    "notifier.wsgi",
    # Only for building messages and for suggesting a name when one is unknown.
    "notifier.mimepolicy",
    "email.headerregistry",
    "difflib",
)
PROBE = """
import io, sys
from notifier.cli import main
code = main(sys.argv[1:], stdout=io.StringIO())
print(code, " ".join(sorted(sys.modules)))
"""


def imported_by(*argv: str) -> tuple[int, set[str]]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, check=True, cwd=ROOT
    )
    code, modules = done.stdout.split(" ", 1)
    return int(code), set(modules.split())


def test_validate_runs_without_the_heavy_libraries() -> None:
    code, modules = imported_by("--config", str(ROOT / "config.toml"), "validate")
    assert code == 0
    assert not [name for name in HEAVY if name in modules]


def test_when_runs_without_the_heavy_libraries() -> None:
    code, modules = imported_by("when", "Klart juni 2024", "--year", "2024")
    assert code == 0
    assert not [name for name in HEAVY if name in modules]


def test_a_command_imported_on_demand_still_runs() -> None:
    out = io.StringIO()
    assert main(["--config", str(ROOT / "config.toml"), "feed", "--help"], stdout=out) == 0


def test_the_command_table_names_every_command_the_full_parser_knows() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert list(sub.choices) == list(COMMANDS)


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["validate"], "validate"),
        (["--config", "x.toml", "run"], "run"),
        (["--config=x.toml", "--debug", "status"], "status"),
        (["--config", "validate", "feeds"], "feeds"),
        (["--debug"], None),
        (["-h"], None),
        (["--help", "validate"], None),
        (["bogus"], None),
        (["--config"], None),
        ([], None),
    ],
)
def test_the_command_is_told_past_the_global_options(argv: list[str], named: str | None) -> None:
    assert command_named(argv) == named


def test_a_mistake_before_the_command_gets_the_full_parser(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--bogus", "validate"]) == 2
    assert "unrecognized arguments" in capsys.readouterr().err


def test_the_command_ends_with_all_its_output_written(tmp_path: Path) -> None:
    # The command spares itself the interpreter's last collection at exit; what it printed,
    # to a pipe or to a file, must all be there, and its exit code must be main's.
    command = [sys.executable, "-m", "notifier", "--config", str(ROOT / "config.toml")]
    piped = subprocess.run([*command, "validate", "--json"], capture_output=True, cwd=ROOT)
    assert piped.returncode == 0, piped.stderr
    report = json.loads(piped.stdout)
    assert [plan["id"] for plan in report["plans"]] == ["gotland-2024"]
    with (tmp_path / "out.json").open("wb") as out:
        written = subprocess.run([*command, "validate", "--json"], stdout=out, cwd=ROOT)
    assert written.returncode == 0
    assert json.loads((tmp_path / "out.json").read_bytes()) == report
    refused = subprocess.run([*command, "when", "Löpande"], capture_output=True, cwd=ROOT)
    assert refused.returncode == 1
    assert refused.stdout.strip()


def test_main_called_in_a_process_that_goes_on_freezes_nothing() -> None:
    before = gc.get_freeze_count()
    assert main(["--config", str(ROOT / "config.toml"), "validate"], stdout=io.StringIO()) == 0
    assert gc.get_freeze_count() == before
