"""The ledger's identity and the modes of the files notifier writes, on real files."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest

from notifier.feed import FeedSet
from notifier.feedstate import write_feed_files
from notifier.ledger import SCHEMA_VERSION, SqliteLedger
from notifier.ledger_identity import Identity, LedgerMissing, check_at_start, marker_path
from notifier.mail import OutboxMailer

NOW = datetime(2024, 5, 6, 9, 30, tzinfo=UTC)


@pytest.fixture
def common_umask() -> Iterator[None]:
    """A umask that leaves files world-readable, as on many machines outside systemd."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def started(path: Path) -> tuple[SqliteLedger, Identity]:
    """A ledger opened as the daemon opens it: its identity taken, the marker written."""
    ledger = SqliteLedger(path)
    return ledger, Identity.taken(path, ledger)


# --- modes ----------------------------------------------------------------------------------


def test_the_ledger_its_wal_and_shm_and_its_folder_are_private(
    tmp_path: Path, common_umask: None
) -> None:
    path = tmp_path / "state" / "ledger.sqlite3"
    ledger, _ = started(path)
    try:
        ledger.record_problem("p", ["a problem"], NOW)  # a write: the -wal file has content
        files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
        assert [mode(f) for f in files] == [0o600] * 3
        assert mode(path.parent) == 0o700
        assert mode(marker_path(path)) == 0o600
    finally:
        ledger.close()


def test_outbox_messages_are_private(tmp_path: Path, common_umask: None) -> None:
    message = EmailMessage()
    message["From"] = "notifier@gotland.example"
    message["To"] = "polisen@example.se"
    message["Subject"] = "Påminnelse"
    message["Message-ID"] = "<1@gotland.example>"
    message.set_content("Hej!")
    outbox = tmp_path / "state" / "outbox"
    [result] = OutboxMailer(outbox).send(message, ["polisen@example.se"])
    assert result.ok
    [written] = outbox.glob("*.eml")
    assert mode(written) == 0o600
    assert mode(outbox) == 0o700


def test_feed_files_stay_readable_by_the_web_server_whatever_the_umask(tmp_path: Path) -> None:
    from notifier.catalog import load_catalog
    from notifier.feedstate import FeedStore
    from notifier.settings import Settings

    root = Path(__file__).resolve().parent.parent.parent
    store = FeedStore(Settings())
    store.update(load_catalog(root / "plan"), NOW)
    feeds: FeedSet = store.feeds
    old = os.umask(0o077)  # as in the systemd unit
    try:
        written = write_feed_files(feeds, tmp_path / "feeds")
    finally:
        os.umask(old)
    assert written and all(mode(path) == 0o644 for path in written)
    assert mode(tmp_path / "feeds") == 0o755
    assert mode(tmp_path / "feeds" / "calendar") == 0o755


# --- identity while running -----------------------------------------------------------------


def test_a_deleted_ledger_is_noticed(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    ledger, identity = started(path)
    identity.check()
    for file in tmp_path.glob("ledger.sqlite3*"):
        file.unlink()
    ledger.check_writable()  # SQLite alone sees nothing wrong
    with pytest.raises(LedgerMissing) as error:
        identity.check()
    ledger.close()
    assert f"the ledger file {path} was deleted while notifier ran" in error.value.message
    assert "restore the ledger from a backup" in error.value.message
    assert "notifier run --new-ledger" in error.value.message


def test_a_ledger_replaced_by_another_file_is_noticed(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    ledger, identity = started(path)
    SqliteLedger(tmp_path / "other.sqlite3").close()
    os.replace(tmp_path / "other.sqlite3", path)
    with pytest.raises(LedgerMissing, match="was replaced by another file"):
        identity.check()
    ledger.close()


def test_a_ledger_overwritten_in_place_with_another_is_noticed(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    ledger, identity = started(path)
    SqliteLedger(tmp_path / "other.sqlite3").close()
    shutil.copyfile(tmp_path / "other.sqlite3", path)  # same inode, other content
    with pytest.raises(LedgerMissing, match="was overwritten with another ledger"):
        identity.check()
    ledger.close()


# --- identity at start ----------------------------------------------------------------------


def test_a_fresh_install_starts(tmp_path: Path) -> None:
    check_at_start(tmp_path / "state" / "ledger.sqlite3")


def test_a_missing_ledger_with_earlier_sends_is_refused_unless_asked_for(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    started(path)[0].close()
    for file in tmp_path.glob("ledger.sqlite3*"):
        file.unlink()
    with pytest.raises(LedgerMissing) as error:
        check_at_start(path)
    assert error.value.problems[0].startswith(f"{path}: the ledger is missing")
    assert "notifier run --new-ledger" in error.value.hint
    check_at_start(path, new_ledger=True)
    # Afresh: the new ledger's id goes into the marker, and the next start is an ordinary one.
    started(path)[0].close()
    check_at_start(path)


def test_another_ledger_in_its_place_is_refused_and_a_restored_backup_starts(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ledger.sqlite3"
    started(path)[0].close()
    shutil.copyfile(path, tmp_path / "backup.sqlite3")
    path.unlink()
    SqliteLedger(path).close()  # e.g. `notifier done` made a new one meanwhile
    with pytest.raises(LedgerMissing, match="is another ledger"):
        check_at_start(path)
    shutil.copyfile(tmp_path / "backup.sqlite3", path)
    check_at_start(path)


def test_a_ledger_from_before_ids_gets_one_and_keeps_its_rows_and_version(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    with SqliteLedger(path) as ledger:
        ledger.record_problem("p", ["a problem"], NOW)
    with closing(sqlite3.connect(path)) as db:
        db.execute("DROP TABLE ledger_identity")
        db.commit()
    with SqliteLedger(path, readonly=True) as ledger:
        assert ledger.identity() is None  # read-only: read as it is
    with SqliteLedger(path) as ledger:
        assert ledger.identity() is not None
        assert [p.key for p in ledger.problems()] == ["p"]
        assert ledger.schema_version == SCHEMA_VERSION
