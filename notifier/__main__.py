import sys

from notifier.cli import command_line

sys.exit(command_line())
