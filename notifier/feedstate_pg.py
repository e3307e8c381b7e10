"""The feeds' shared state in the ledger database, so that every node serves the same bytes.

With one server, the feed history and tokens are files beside the ledger (``feedstate``).
With several nodes on one database they live in it, and a node builds its feeds from the
history as the database holds it, under a lock: the first node to see a change stamps it
(SEQUENCE, LAST-MODIFIED), every other finds those stamps and renders the same bytes, so a
subscriber gets the same ETag from any node behind the load balancer.

Each keeps a connection of its own: building the feeds of a large plan takes a while, and the
ledger's connection must stay free for sending meanwhile.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType

import psycopg

from notifier.errors import UserError
from notifier.feed import History
from notifier.ledger_pg import Reconnecting, Row
from notifier.settings import LedgerSettings

logger = logging.getLogger(__name__)

# pg_advisory_xact_lock key: one node at a time builds feeds from the shared history.
FEED_LOCK = 0x66656564
# How stale a node's copy of the tokens may be: a rotation reaches every node within this.
TOKENS_FRESH_FOR = 2.0


class SharedHistory:
    """The feed history in the database (``HistoryKeeper``)."""

    def __init__(self, settings: LedgerSettings) -> None:
        self._connection = Reconnecting(settings)

    def load(self) -> History:
        with self._connection.use("cannot read the feed history") as db:
            row = db.execute("SELECT data FROM feed_history").fetchone()
        return _history(row)

    @contextmanager
    def updating(self) -> Iterator[HistoryUpdate]:
        """The latest history, under the lock every node takes to build feeds; what is
        saved within is committed when the block ends, and nothing if it raises."""
        with (
            self._connection.use("cannot update the feed history") as db,
            db.transaction(),
        ):
            db.execute("SELECT pg_advisory_xact_lock(%s)", (FEED_LOCK,))
            row = db.execute("SELECT data FROM feed_history").fetchone()
            update = HistoryUpdate(_history(row), db)
            yield update

    def close(self) -> None:
        self._connection.close()


class HistoryUpdate:
    def __init__(self, latest: History, db: psycopg.Connection[Row]) -> None:
        self.latest: History | None = latest
        self._db = db

    def save(self, history: History) -> bool:
        if history == self.latest:
            return False
        text = json.dumps(history.to_json(), ensure_ascii=False, sort_keys=True)
        self._db.execute(
            "INSERT INTO feed_history (data, updated_at) VALUES (%s::jsonb, now()) "
            "ON CONFLICT (one) DO UPDATE SET data = excluded.data, updated_at = now()",
            (text,),
        )
        return True


def _history(row: Row | None) -> History:
    if row is None:
        return History()
    try:
        return History.from_json(row["data"])
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        logger.warning("feed history in the database unreadable (%s); events restamped", error)
        return History()


class SharedTokens:
    """The per-feed secret tokens in the database (``TokenSource``).

    ``current()`` answers from memory, refreshed at most every ``TOKENS_FRESH_FOR`` seconds;
    while the database is away it keeps answering with the tokens it last read, so feeds go
    on being served.
    """

    def __init__(self, settings: LedgerSettings) -> None:
        self._connection = Reconnecting(settings)
        self._tokens: Mapping[str, str] = MappingProxyType({})
        self._read_at = float("-inf")
        self._lock = threading.Lock()

    def current(self) -> Mapping[str, str]:
        with self._lock:
            if time.monotonic() - self._read_at < TOKENS_FRESH_FOR:
                return self._tokens
            try:
                self._refresh()
            except UserError as error:
                self._read_at = time.monotonic()  # not again at every request
                logger.warning("feed tokens not refreshed, the last ones kept: %s", error)
            return self._tokens

    def _refresh(self) -> None:
        with self._connection.use("cannot read the feed tokens") as db:
            rows = db.execute("SELECT name, token FROM feed_tokens").fetchall()
        self._tokens = MappingProxyType({row["name"]: row["token"] for row in rows})
        self._read_at = time.monotonic()

    def ensure(self, names: Iterable[str]) -> Mapping[str, str]:
        from notifier.feedstate import new_token

        wanted = sorted(set(names))
        with self._connection.use("cannot write the feed tokens") as db, db.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO feed_tokens (name, token) VALUES (%s, %s) "
                "ON CONFLICT (name) DO NOTHING",
                [(name, new_token()) for name in wanted],
            )
            if cursor.rowcount > 0:
                logger.info("created feed tokens for %d feed(s)", cursor.rowcount)
        with self._lock:
            self._refresh()
            return self._tokens

    def rotate(self, names: Iterable[str]) -> Mapping[str, str]:
        from notifier.feedstate import new_token

        chosen = list(names)
        with self._connection.use("cannot write the feed tokens") as db, db.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO feed_tokens (name, token) VALUES (%s, %s) "
                "ON CONFLICT (name) DO UPDATE SET token = excluded.token, created_at = now()",
                [(name, new_token()) for name in chosen],
            )
        logger.warning("rotated feed tokens for %s", ", ".join(chosen) or "no feed")
        with self._lock:
            self._refresh()
            return self._tokens

    def close(self) -> None:
        self._connection.close()
