"""Email policies that parse and fold each distinct header value once.

The standard library's header machinery is slow for non-ASCII text: folding one From header
with a Swedish display name ("Åtgärdsplanen – påminnelser") costs about a millisecond, and
every message of a batch repeats the same From, Reply-To, most To values and the MIME
headers of its parts. Parsing and folding are pure functions of the header's name, its text
and the policy's settings, so their results are kept and reused; the bytes on the wire are
exactly those the standard policies give.
"""

from __future__ import annotations

from email.headerregistry import BaseHeader
from email.policy import EmailPolicy
from typing import Any

# Bounded so that a long run with ever-new subjects cannot grow without limit; values seen
# in every message (From, Reply-To, MIME headers) are stored first and stay.
_LIMIT = 20_000
_PARSED: dict[tuple[Any, ...], tuple[str, Any]] = {}
_FOLDED: dict[tuple[Any, ...], bytes] = {}


class CachingPolicy(EmailPolicy):
    def _settings(self) -> tuple[Any, ...]:
        return (self.linesep, self.max_line_length, self.utf8, self.cte_type, self.refold_source)

    def header_store_parse(self, name: str, value: Any) -> tuple[str, Any]:
        if isinstance(value, BaseHeader) or not isinstance(value, str):
            # Objects (Address, header instances) are parsed as given: their text alone
            # need not say everything about them.
            return super().header_store_parse(name, value)
        key = (name.lower(), value, self._settings())
        stored = _PARSED.get(key)
        if stored is None:
            stored = super().header_store_parse(name, value)
            if len(_PARSED) < _LIMIT:
                _PARSED[key] = stored
        return stored

    def fold_binary(self, name: str, value: Any) -> bytes:
        key = (name.lower(), type(value).__name__, str(value), self._settings())
        folded = _FOLDED.get(key)
        if folded is None:
            folded = super().fold_binary(name, value)
            if len(_FOLDED) < _LIMIT:
                _FOLDED[key] = folded
        return folded


BUILD = CachingPolicy()
"""For composing: the standard ``email.policy.default`` settings."""

SMTP = CachingPolicy(linesep="\r\n")
"""For the wire: the standard ``email.policy.SMTP`` settings (CRLF line ends)."""
