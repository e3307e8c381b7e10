"""Logging for the journal and for an operator: one line per event, key=value details.

Under systemd ($JOURNAL_STREAM set) lines carry no timestamp (the journal adds one) and start
with a syslog priority prefix ("<3>") so `journalctl -p err` works. `format = "json"` gives
one JSON object per line instead. Secrets are masked wherever they would appear.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterable

_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


def fields(**values: object) -> str:
    """'key=value key2="two words"' for the end of a log line."""
    parts = []
    for key, value in values.items():
        text = str(value)
        if not text or any(c in text for c in ' "=') or not text.isprintable():
            # Quoted and escaped: a value from a request or a plan must not be able to move
            # the cursor, clear the operator's terminal or start a log line of its own.
            text = "".join(
                c if c.isprintable() else f"\\u{ord(c):04x}"
                for c in json.dumps(text, ensure_ascii=False)
            )
        parts.append(f"{key}={text}")
    return " ".join(parts)


class _Masking(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets:
            message = record.getMessage()
            for secret in self._secrets:
                message = message.replace(secret, "***")
            record.msg, record.args = message, None
        return True


class _JournalFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{_PRIORITY.get(record.levelno, 6)}>"
        text = f"{prefix}{record.levelname.lower()} {record.name}: {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def setup(level: str = "INFO", fmt: str = "text", secrets: Iterable[str] = ()) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    elif os.environ.get("JOURNAL_STREAM"):
        handler.setFormatter(_JournalFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
        )
    handler.addFilter(_Masking(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # APScheduler logs every job run at INFO; the daemon logs what matters itself.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
