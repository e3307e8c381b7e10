"""How the reader refuses a text: the exception that carries the reason, and the quoting every
reason uses, so that each one shows the fragment as the coordinator wrote it."""

from __future__ import annotations

# Reasons quote the text; a pasted page must not become a page-long reason.
MAX_QUOTE = 80


class Unreadable(Exception):
    """The text cannot be read; ``reason`` says which fragment and why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def quote(text: str, start: int, end: int) -> str:
    """The fragment as written, on one line and cut short if long, for a reason."""
    fragment = " ".join(text[start:end].split())
    if len(fragment) > MAX_QUOTE:
        fragment = fragment[: MAX_QUOTE - 1] + "…"
    return fragment
