"""Everything a user edits, loaded and validated together: config, plans, directory, templates.

The daemon swaps a new ``LoadedState`` in only when it loads without a blocking problem, so a
broken edit never replaces the last good state. A broken action is smaller than that: the
rest of its plan is swapped in, and it keeps the version of the last good state.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from notifier.catalog import Catalog, load_catalog
from notifier.compose import Composer
from notifier.config import load_settings
from notifier.model import Problem
from notifier.plan import DIRECTORY_FILE
from notifier.settings import Settings


@dataclass(frozen=True)
class LoadedState:
    settings: Settings
    catalog: Catalog
    composer: Composer

    @property
    def blocking(self) -> list[Problem]:
        """Problems that make this state unfit to replace a good one: a file that could not be
        read at all (its plan would vanish and its reminders with it)."""
        return [p for p in self.catalog.problems if p.kind == "file"]

    @property
    def refused_actions(self) -> list[Problem]:
        """Problems that left an action out of its plan (or kept it as it last loaded)."""
        return [p for p in self.catalog.problems if p.kind == "action"]


def load_state(config: Path, previous: LoadedState | None = None) -> LoadedState:
    """Raise ConfigError/UserError for a bad config or templates; plan problems are kept.

    An action refused in its plan file keeps the version it had in ``previous``.
    """
    settings = load_settings(config)
    catalog = load_catalog(settings.plans.dir, previous.catalog if previous else None)
    composer = Composer.load(settings.templates.dir)
    return LoadedState(settings, catalog, composer)


def watched_files(settings: Settings) -> list[Path]:
    """The files whose change triggers a reload: config, plans, directory, templates."""
    paths: list[Path] = []
    if settings.source is not None:
        paths.append(settings.source)
    for folder, pattern in ((settings.plans.dir, "*.toml"), (settings.templates.dir, "*")):
        if folder.is_dir():
            paths.extend(sorted(folder.glob(pattern)))
    directory = settings.plans.dir / DIRECTORY_FILE
    if directory not in paths:
        paths.append(directory)
    return paths


def fingerprint(paths: list[Path]) -> tuple[tuple[str, int, int], ...]:
    """Cheap change detection: name, size and mtime of each file (missing files count)."""
    marks = []
    for path in paths:
        try:
            stat = path.stat()
            marks.append((str(path), stat.st_size, stat.st_mtime_ns))
        except OSError:
            marks.append((str(path), -1, -1))
    return tuple(marks)
