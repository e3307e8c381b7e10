"""What the tests of the running daemon share."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[socket.socket]:
    """An sd_notify socket the daemon under test reports READY=1, RELOADING=1 … to."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    yield sock
    sock.close()
