"""What every subcommand module shares: the context built from the global options."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TextIO

from notifier.config import load_settings
from notifier.settings import Settings

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2


@dataclass
class Context:
    """The global options, and the one clock the command line reads."""

    config: Path
    stdout: TextIO
    stdin: TextIO
    clock: Callable[[], datetime]

    def settings(self, *, required: bool = False) -> Settings:
        return load_settings(self.config, required=required)


Handler = Callable[[argparse.Namespace, Context], int]
