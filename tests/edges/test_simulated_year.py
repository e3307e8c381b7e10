"""The simulated 2024 year of the seed plan, byte for byte.

Every message `notifier simulate --from 2024-01-01 --to 2024-12-31` writes for the shipped plan,
config and templates is compared with a recorded SHA-256 per file. A change of structure must
leave every byte alone; a change of wording or format changes the record on purpose:
rewrite it with `.venv/bin/python tests/edges/test_simulated_year.py` and say why in the commit.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
RECORD = ROOT / "tests" / "data" / "simulated-2024.sha256"
LINK_SECRET = "simulated-2024-link-secret-not-for-use\n"


def simulated_year(project: Path) -> dict[str, str]:
    """File name -> SHA-256 of every message of the simulated year."""
    from notifier.cli import main

    # A fixed link secret: the status links, and so the bytes, are the same on every run.
    (project / "state").mkdir(exist_ok=True)
    (project / "state" / "link-secret").write_text(LINK_SECRET, encoding="ascii")
    outbox = project / "simulated"
    argv = ["--config", str(project / "config.toml"), "simulate"]
    argv += ["--from", "2024-01-01", "--to", "2024-12-31", "--outbox", str(outbox)]
    assert main(argv, stdout=io.StringIO()) == 0
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in outbox.glob("*.eml")}


def recorded() -> dict[str, str]:
    lines = RECORD.read_text(encoding="ascii").splitlines()
    return {name: digest for digest, name in (line.split("  ", 1) for line in lines)}


def test_the_simulated_year_is_byte_identical_to_the_record(project: Path) -> None:
    got = simulated_year(project)
    want = recorded()
    assert sorted(got) == sorted(want), "other messages, or other send times, than recorded"
    changed = sorted(name for name in got if got[name] != want[name])
    assert not changed, f"{len(changed)} of {len(got)} messages differ, e.g. {changed[:3]}"


def _rewrite_record() -> None:
    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder)
        for name in ("config.toml", "plan", "templates"):
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(source, project / name)
            else:
                shutil.copy(source, project / name)
        digests = simulated_year(project)
    RECORD.write_text(
        "".join(f"{digests[name]}  {name}\n" for name in sorted(digests)), encoding="ascii"
    )
    print(f"recorded {len(digests)} messages in {RECORD}", file=sys.stderr)


if __name__ == "__main__":
    _rewrite_record()
