"""The ledger's identity: notice a ledger that is deleted or replaced, at start and while running.

A deleted ledger is not an error SQLite reports: the open connection keeps writing into the
unlinked file, and the next start makes an empty one and sends everything again. So:

- every ledger carries a random id (the ``ledger_identity`` table, made when the file is
  made, or added to an older file the first time it is opened for writing);
- a marker file beside it (``.<ledger name>.id``, hidden, so ``rm ledger.sqlite3*`` leaves it)
  holds the id of the ledger this state folder belongs to. It is the evidence of earlier
  sends: the feed history and tokens are also written by ``notifier serve``, which sends
  nothing, and an empty outbox says nothing. A first start on a fresh install has no
  marker and simply starts;
- while running, each send step compares the file at ``ledger.path`` (device, inode) and the
  id read through the daemon's own connection with what they were at start.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from notifier.errors import NotifierError, UserError
from notifier.files import atomic_write

logger = logging.getLogger(__name__)

# Not part of the schema version: an extra table older notifier versions simply ignore.
_TABLE = "CREATE TABLE IF NOT EXISTS ledger_identity (id TEXT NOT NULL)"
MEMORY = ":memory:"
NEW_LEDGER_FLAG = "notifier run --new-ledger"


class HasIdentity(Protocol):
    def identity(self) -> str | None: ...


class LedgerMissing(UserError):
    """The ledger this state folder belongs to is not at ``ledger.path``."""


def ensure_id(db: sqlite3.Connection) -> None:
    """Give the ledger an id if it has none; call inside the write transaction that makes or
    migrates it. Table and id are made together, so only the schema is looked at: a read
    of a damaged table would fail the transaction, and the send step reports the damage."""
    if not _has_table(db):
        db.execute(_TABLE)
        db.execute("INSERT INTO ledger_identity (id) VALUES (?)", (secrets.token_hex(16),))


def _has_table(db: sqlite3.Connection) -> bool:
    return bool(
        db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ledger_identity'"
        ).fetchone()
    )


def read_id(db: sqlite3.Connection) -> str | None:
    """The ledger's id; None for a file without one (read-only, written by an older version).
    Any other error is raised: an id that could not be read is not another ledger."""
    if not _has_table(db):
        return None
    row = db.execute("SELECT id FROM ledger_identity LIMIT 1").fetchone()
    return None if row is None else str(row[0])


def create_private(path: Path) -> None:
    """Make an empty file only its owner can read, unless it exists: SQLite gives the -wal and
    -shm files the mode of the database file, and the ledger holds every recipient's address."""
    # There already, or not allowed: opening it then names the problem.
    with contextlib.suppress(OSError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def marker_path(ledger: Path) -> Path:
    return ledger.parent / f".{ledger.name}.id"


def _read_marker(marker: Path) -> str | None:
    try:
        return marker.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def check_at_start(ledger: Path, *, new_ledger: bool = False) -> None:
    """Refuse to start when the state folder shows earlier sends but the ledger they were
    recorded in is gone: a new empty ledger would send every reminder again. ``new_ledger``:
    the operator starts afresh on purpose."""
    if new_ledger or str(ledger) == MEMORY:
        if new_ledger:
            logger.warning(
                "%s: starting with %s as asked; the marker %s now names it",
                ledger,
                "the ledger found there" if ledger.exists() else "a new, empty ledger",
                marker_path(ledger),
            )
        return
    expected = _read_marker(marker_path(ledger))
    if expected is None:
        return
    if not ledger.exists():
        found = "is missing"
    else:
        current = _peek_id(ledger)
        if current is None or current == expected:
            return
        found = f"is another ledger (id {current}, not {expected})"
    raise LedgerMissing(
        [
            f"{ledger}: the ledger {found}, but {marker_path(ledger)} shows that messages were "
            "sent and recorded here before; starting with a new ledger would send them again"
        ],
        hint=f"Restore {ledger} from a backup and start again; or, to start afresh on purpose "
        f"(only the latest missed reminder of each milestone goes out, as after downtime), "
        f"run: {NEW_LEDGER_FLAG}",
    )


def _peek_id(ledger: Path) -> str | None:
    """The id of the ledger file at ``ledger``, read afresh; None if it has none or cannot
    be read (opening it for use names the problem)."""
    try:
        return _read_id_at(ledger)
    except sqlite3.Error:
        return None


def _read_id_at(ledger: Path) -> str | None:
    """Through a connection of its own: the daemon's would answer from its page cache, which
    SQLite in WAL mode keeps even when another file is copied over the ledger in place."""
    db = sqlite3.connect(f"{ledger.absolute().as_uri()}?mode=ro", uri=True, timeout=10.0)
    try:
        return read_id(db)
    finally:
        db.close()


def _checkpoint(ledger: Path) -> None:
    """Move the id's page from the -wal file into the ledger file itself, where it then
    stays (it is never written again): a file copied over the ledger in place shows its own
    id to ``_read_id_at`` instead of the one the -wal file still holds."""
    try:
        db = sqlite3.connect(ledger, timeout=10.0)
    except sqlite3.Error:
        return
    try:
        db.execute("PRAGMA wal_checkpoint(PASSIVE)")
    except sqlite3.Error:
        pass  # busy: the id is still compared, as soon as a later checkpoint moved it
    finally:
        db.close()


@dataclass(frozen=True)
class Identity:
    """What the ledger was when the daemon opened it."""

    path: Path
    device: int
    inode: int
    id: str | None

    @classmethod
    def taken(cls, path: Path, ledger: HasIdentity) -> Identity:
        """Remember the open ledger, and write the marker that ties the state folder to it."""
        try:
            ledger_id = ledger.identity()
        except NotifierError:
            ledger_id = None  # damaged: the send step reports it, and sends nothing
        if str(path) == MEMORY:
            return cls(path, 0, 0, ledger_id)
        stat = path.stat()
        _checkpoint(path)
        marker = marker_path(path)
        try:
            if ledger_id is not None:
                atomic_write(marker, f"{ledger_id}\n".encode(), mode=0o600)
        except OSError as error:
            logger.warning(
                "%s: cannot write it (%s); a ledger deleted before the next start would not "
                "be noticed then. Make the ledger's folder writable by the service.",
                marker,
                error.strerror or error,
            )
        return cls(path, stat.st_dev, stat.st_ino, ledger_id)

    def check(self) -> None:
        """Raise LedgerMissing if the ledger in use is no longer the one at ``path``."""
        reason = self.lost()
        if reason is not None:
            raise LedgerMissing([reason], hint=WHAT_TO_DO)

    def lost(self) -> str | None:
        """Why the ledger in use is no longer the one at ``path``, or None."""
        if str(self.path) == MEMORY:
            return None
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return f"the ledger file {self.path} was deleted while notifier ran"
        except OSError as error:
            return f"the ledger file {self.path} cannot be looked at: {error.strerror or error}"
        if (stat.st_dev, stat.st_ino) != (self.device, self.inode):
            return f"the ledger file {self.path} was replaced by another file while notifier ran"
        if self.id is None:
            return None  # unreadable at start: the send step reports that
        try:
            current = _read_id_at(self.path)
        except sqlite3.Error:
            return None  # busy or damaged: not evidence of another ledger; writes report it
        if current != self.id:
            return f"the ledger file {self.path} was overwritten with another ledger"
        return None


WHAT_TO_DO = (
    "nothing is sent until notifier is restarted: restore the ledger from a backup and restart "
    f"it (systemctl restart notifier), or start afresh on purpose with `{NEW_LEDGER_FLAG}`"
)


# --- a shared database ----------------------------------------------------------------------

DATABASE_MARKER = ".ledger-database.id"


@dataclass(frozen=True)
class DatabaseIdentity:
    """What ``Identity`` is for a file, for the shared database at ``ledger.url``: the state
    folder's marker names the database this node sent from, so a node pointed at another,
    empty database (a typo in the URL, a restore gone wrong) refuses to send everything
    again; and each send step checks that the database is still that one."""

    marker: Path
    id: str | None
    ledger: HasIdentity

    @classmethod
    def taken(
        cls, state: Path, ledger: HasIdentity, *, new_ledger: bool = False
    ) -> DatabaseIdentity:
        marker = state / DATABASE_MARKER
        current = ledger.identity()
        expected = _read_marker(marker)
        if expected is not None and current != expected and not new_ledger:
            raise LedgerMissing(
                [
                    f"the ledger database is another ledger (id {current}, not {expected}), but "
                    f"{marker} shows that this node sent and recorded messages in that one; "
                    "starting with it would send them again"
                ],
                hint="Check ledger.url. To start afresh on purpose (only the latest missed "
                f"reminder of each milestone goes out, as after downtime), run: {NEW_LEDGER_FLAG}",
            )
        if current is not None and current != expected:
            try:
                atomic_write(marker, f"{current}\n".encode(), mode=0o600)
            except OSError as error:
                logger.warning("%s: cannot write it (%s)", marker, error.strerror or error)
        return cls(marker, current, ledger)

    def check(self) -> None:
        """Raise LedgerMissing if the database now holds another ledger."""
        current = self.ledger.identity()
        if self.id is not None and current != self.id:
            raise LedgerMissing(
                [
                    f"the ledger database was replaced by another ledger (id {current}) while "
                    "notifier ran"
                ],
                hint=WHAT_TO_DO,
            )
