"""Shared fixtures: the shipped plan and config, copied so a test may edit them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT.parent / "shared" / "seed" / "000_4a22664a4fb74c03.txt"
SHIPPED_SEED = ROOT / "tests" / "data" / "seed.txt"


@pytest.fixture
def seed_text() -> str:
    """The seed plan as pasted from the word processor (a copy ships with the tests)."""
    return SHIPPED_SEED.read_text(encoding="utf-8")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of plan/, templates/ and config.toml in a temp folder, state kept inside it."""
    for name in ("plan", "templates"):
        shutil.copytree(ROOT / name, tmp_path / name)
    shutil.copy(ROOT / "config.toml", tmp_path / "config.toml")
    return tmp_path
