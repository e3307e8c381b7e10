"""Which kind of document a file is, from its first bytes rather than its name."""

from __future__ import annotations

import enum
import zipfile
from pathlib import Path

from notifier.errors import PlanError

# A plan is a few pages; a larger file is refused before any parser allocates for it.
MAX_BYTES = 32 * 1024 * 1024
# A .docx or .xlsx is a zip archive: what it unpacks to is bounded too (a "zip bomb").
MAX_UNPACKED = 256 * 1024 * 1024
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


class Kind(enum.Enum):
    TEXT = "text"
    DOCX = "docx"
    PDF = "pdf"
    XLSX = "xlsx"


def detect(path: Path) -> Kind:
    try:
        size = path.stat().st_size
        with path.open("rb") as stream:
            head = stream.read(1024)
    except OSError as error:
        raise PlanError([f"{path}: cannot read: {error.strerror}"]) from None
    if size > MAX_BYTES:
        raise PlanError(
            [
                f"{path}: {size / 1024 / 1024:.0f} MB is too large for a plan document "
                f"(at most {MAX_BYTES // 1024 // 1024} MB); it was not read"
            ],
            hint="Save the plan without pictures, or export only its tables.",
        )
    if b"%PDF-" in head:
        return Kind.PDF
    if head.startswith(_OLE):
        raise _compound(path)
    if head.startswith(b"PK\x03\x04"):
        return _office(path)
    if b"\x00" in head:
        raise PlanError(
            [f"{path}: neither text nor a Word, PDF or Excel document"],
            hint="Import a .docx, .pdf, .xlsx or the tables pasted as tab-separated text.",
        )
    return Kind.TEXT


def _compound(path: Path) -> PlanError:
    """Word and Excel keep an encrypted .docx/.xlsx, and the old .doc/.xls, in an OLE file."""
    data = path.read_bytes()  # at most MAX_BYTES
    if "EncryptionInfo".encode("utf-16-le") in data:
        return PlanError(
            [f"{path}: the file is protected by a password: notifier cannot read it"],
            hint="Open it, remove the password, save it and import that file.",
        )
    return PlanError(
        [f"{path}: an old Word or Excel file (.doc/.xls): notifier reads .docx and .xlsx"],
        hint="Open it and save it as .docx (Word) or .xlsx (Excel), then import that file.",
    )


def _office(path: Path) -> Kind:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError):
        raise PlanError(
            [f"{path}: a damaged Word or Excel file (not a readable zip archive)"],
            hint="Open it in the word processor, save it again and import the new file.",
        ) from None
    if unpacked > MAX_UNPACKED:
        raise PlanError(
            [
                f"{path}: unpacks to {unpacked / 1024 / 1024:.0f} MB, too large for a plan "
                f"document (at most {MAX_UNPACKED // 1024 // 1024} MB); it was not read"
            ],
            hint="Save the plan without pictures, or export only its tables.",
        )
    if "word/document.xml" in names:
        return Kind.DOCX
    if "xl/workbook.xml" in names:
        return Kind.XLSX
    raise PlanError(
        [f"{path}: a zip archive, but neither a Word (.docx) nor an Excel (.xlsx) document"],
        hint="Import a .docx, .pdf, .xlsx or the tables pasted as tab-separated text.",
    )
