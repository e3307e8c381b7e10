"""Exceptions that carry a message fit for the user, and the place it is about."""

from __future__ import annotations

from collections.abc import Iterable

from notifier.model import Problem


class NotifierError(Exception):
    """Base of every error notifier raises on purpose."""


class UserError(NotifierError):
    """Bad input from a user-edited file or the command line; lists every problem at once."""

    def __init__(self, problems: Iterable[str | Problem], hint: str = "") -> None:
        self.problems = [str(p) for p in problems]
        self.hint = hint
        super().__init__(self.message)

    @property
    def message(self) -> str:
        lines = list(self.problems)
        if self.hint:
            lines.append(self.hint)
        return "\n".join(lines)


class ConfigError(UserError):
    """The configuration (file, environment or secrets) is invalid."""


class PlanError(UserError):
    """A plan or directory file cannot be read at all."""


class DeliveryError(NotifierError):
    """Sending to one recipient failed; ``permanent`` says whether a retry can help."""

    def __init__(self, message: str, *, permanent: bool, code: int | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.code = code
