"""The shipped systemd unit: valid, and hardened to 'OK' or better."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
UNIT = ROOT / "deploy" / "notifier.service"
ANALYZE = shutil.which("systemd-analyze")
# In CI a missing component is a failure (.ci/run installs it), never a skip.
needs_systemd = pytest.mark.skipif(
    ANALYZE is None and os.environ.get("CI") != "true",
    reason="systemd-analyze is not installed (Debian: apt-get install systemd)",
)


def analyze() -> str:
    assert ANALYZE is not None, "systemd-analyze is not installed (Debian: apt-get install systemd)"
    return ANALYZE


def _unit_with_existing_binary(tmp_path: Path) -> Path:
    """The unit as shipped, with ExecStart pointing at a file that exists here."""
    binary = tmp_path / "notifier"
    binary.write_text("#!/bin/sh\n", encoding="utf-8")
    binary.chmod(0o755)
    unit = tmp_path / "notifier.service"
    unit.write_text(
        UNIT.read_text(encoding="utf-8").replace("/opt/notifier/.venv/bin/notifier", str(binary)),
        encoding="utf-8",
    )
    return unit


@needs_systemd
def test_the_unit_file_verifies(tmp_path: Path) -> None:
    unit = _unit_with_existing_binary(tmp_path)
    result = subprocess.run(
        [analyze(), "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    relevant = [line for line in result.stderr.splitlines() if "notifier.service" in line]
    assert relevant == [], result.stderr


@needs_systemd
def test_the_unit_scores_two_or_lower_on_systemd_security(tmp_path: Path) -> None:
    result = subprocess.run(
        [analyze(), "security", "--offline=yes", str(UNIT)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= 2.0


def test_the_unit_is_notify_type_with_reload_and_credentials() -> None:
    text = UNIT.read_text(encoding="utf-8")
    for line in (
        "Type=notify",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "LoadCredential=smtp-password:",
        "StateDirectory=notifier",
    ):
        assert line in text


def test_the_unit_makes_every_file_private_to_the_service() -> None:
    # The ledger, outbox and tokens hold addresses and secrets; notifier gives them 0600
    # itself, the umask covers what SQLite or a library creates on its own.
    text = UNIT.read_text(encoding="utf-8")
    assert re.search(r"(?m)^UMask=0077$", text)


def test_the_unit_keeps_file_descriptors_for_sending_beyond_the_feed_servers_cap() -> None:
    from notifier.server import MAX_CONNECTIONS, connection_limit

    found = re.search(r"^LimitNOFILE=(\d+)$", UNIT.read_text(encoding="utf-8"), re.M)
    assert found, "the unit sets no LimitNOFILE"
    limit = int(found.group(1))
    # The server takes at most half; the cap it computes from the unit's limit is its maximum.
    assert connection_limit(limit) == MAX_CONNECTIONS
    assert limit - MAX_CONNECTIONS >= 4096
