"""Atomic file output, so a web server or a reader never sees half a file."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> bool:
    """Write ``data`` to ``path`` via a temp file in the same folder, fsync and rename.

    Folders it makes on the way are 0755 for a file others may read (a feed for the web
    server), else 0700, whatever the umask.

    Returns False without touching the file when it already holds exactly these bytes,
    so unchanged feeds keep their modification time.
    """
    path = Path(path)
    try:
        if path.read_bytes() == data:
            return False
    except OSError:
        pass
    make_folder(path.parent, 0o755 if mode & 0o044 else 0o700)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates 0600; published files must be readable by the web server.
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _fsync_dir(path.parent)
    return True


def make_folder(folder: Path, mode: int = 0o700) -> None:
    """Make ``folder`` and its missing parents with ``mode``; folders already there are left
    as they are (the operator, or systemd's StateDirectoryMode, decided those)."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        if folder.parent == folder:
            break
        folder = folder.parent
    for new in reversed(missing):
        try:
            new.mkdir(mode=mode)
        except FileExistsError:
            continue  # made at the same moment by another process
        # The umask may have taken bits away (UMask=0077 in the unit): a feed folder must
        # stay searchable by the web server.
        os.chmod(new, mode)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
