"""The plan pasted from a word processor: tab-separated text, one row a line."""

from __future__ import annotations

from pathlib import Path

from notifier.documents.rows import Row
from notifier.errors import PlanError


def text_rows(text: str) -> list[Row]:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    rows = []
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\t ").strip("\ufeff")
        if line.strip():
            rows.append(Row(tuple(cell.strip() for cell in line.split("\t")), f":{number}"))
    return rows


def read_source(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        # Word processors on Windows still save "text" as cp1252.
        return path.read_bytes().decode("cp1252")
    except OSError as error:
        raise PlanError([f"{path}: cannot read: {error.strerror}"]) from None


def read_text_rows(path: Path) -> list[Row]:
    return text_rows(read_source(path))
