"""Subcommands, grouped by what they serve; ``cli.py`` lists them explicitly."""
